"""Records handed to the centre: two stations enrol (one person at both), write their packets to a
folder, and the centre opens every packet once per packet, refusing a changed one, one from a
revoked station, and one sent to another centre."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from central.intake import check_folder
from central.keys import centre_keys
from central.keys import identity_document as centre_document
from central.stations import StationRegistry
from station.core import Station
from station.exchange.envelope import open_packet
from station.workflows.exchange import station_identity, trust_centre_keys
from station.workflows.packets import NoCentreError, export_packets, packet_status
from tests.conftest import enroll_face, make_settings, photos_of


@pytest.fixture()
def centre(tmp_path: Path) -> Path:
    folder = tmp_path / "centre"
    (tmp_path / "centre.json").write_text(json.dumps(centre_document(centre_keys(folder))))
    return folder


def station_with(tmp_path: Path, station_id: str, people: list[Path], centre: Path) -> Station:
    settings = make_settings(tmp_path / station_id, station_id=station_id)
    station = Station(settings).open()
    for person in people:
        enroll_face(station, photos_of(person)[0], person.name.replace("_", " "))
    trust_centre_keys(station, tmp_path / "centre.json")
    document = tmp_path / f"{station_id}.json"
    document.write_text(json.dumps(station_identity(station)))
    StationRegistry(centre).add(document)
    return station


def test_two_stations_hand_their_records_over_and_the_centre_opens_each_packet_once(
    tmp_path: Path, lfw_people: list[Path], centre: Path
) -> None:
    shared = lfw_people[40]  # enrolled at both stations: two packets, one per enrolment
    north = station_with(tmp_path, "kit-north", [shared, *lfw_people[41:43]], centre)
    south = station_with(tmp_path, "kit-south", [shared, lfw_people[43]], centre)
    try:
        first = export_packets(north, tmp_path / "stick-north")
        again = export_packets(north, tmp_path / "stick-north")  # not acknowledged: written again
        assert len(first.written) == 3 and sorted(again.written) == sorted(first.written)
        assert len(export_packets(south, tmp_path / "stick-south").written) == 2
        status = packet_status(north)
        assert status["counts"] == {"exported": 3} and status["waiting_for_a_packet"] == 0
        assert "packets_export" in [r["action"] for r in north.audit.rows(limit=1000)]
    finally:
        north.close()
        south.close()

    keys, registry = centre_keys(centre), StationRegistry(centre)
    opened = [check_folder(tmp_path / s, keys, registry) for s in ("stick-north", "stick-south")]
    assert [len(c.valid) for c in opened] == [3, 2] and not any(c.rejected for c in opened)
    packets = [p for c in opened for p in c.valid]
    assert len({p.packet_id for p in packets}) == 5  # every enrolment once, the shared person twice
    manifest = json.loads(packets[0].payload)
    assert manifest["kind"] == "enrollment" and manifest["record"]["consent"]["given"] is True
    assert {t["format"] for t in manifest["templates"]} == {"face-sface128/1"}
    portrait = next(i for i in manifest["images"] if i["kind"] == "portrait")
    assert base64.b64decode(portrait["data"])[:2] == b"\xff\xd8"  # the JPEG the centre can re-use
    assert manifest["audit"] and all(len(h) == 64 for h in manifest["audit"])
    names = sorted(json.loads(p.payload)["record"]["name"] for p in packets)
    assert names.count(shared.name.replace("_", " ")) == 2


def test_a_changed_packet_and_a_revoked_stations_packets_are_refused(
    tmp_path: Path, lfw_people: list[Path], centre: Path
) -> None:
    station = station_with(tmp_path, "kit-east", lfw_people[44:46], centre)
    try:
        written = export_packets(station, tmp_path / "stick").written
    finally:
        station.close()
    keys, registry = centre_keys(centre), StationRegistry(centre)
    changed = tmp_path / "stick" / f"{written[0]}.packet"
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] = ord("A") if data[len(data) // 2] != ord("A") else ord("B")
    changed.write_bytes(bytes(data))
    checked = check_folder(tmp_path / "stick", keys, registry)
    assert len(checked.valid) == 1
    assert (
        checked.rejected == [{"packet": written[0], "reason": checked.rejected[0]["reason"]}]
        and "decrypt" in checked.rejected[0]["reason"]
    )
    registry.revoke("kit-east")
    revoked = check_folder(tmp_path / "stick", keys, registry)
    assert not revoked.valid
    assert "kit-east is not registered (or was revoked)" in revoked.rejected[1]["reason"]
    other_centre = centre_keys(tmp_path / "other-centre")
    untouched = tmp_path / "stick" / f"{written[1]}.packet"
    with pytest.raises(Exception, match="another recipient"):
        open_packet(
            untouched.read_bytes(),
            recipient_key=other_centre.encryption_key,
            sender_key=lambda s: None,
        )


def test_a_station_that_trusts_no_centre_keeps_its_packets_waiting(
    tmp_path: Path, lfw_people: list[Path]
) -> None:
    with Station(make_settings(tmp_path / "lone")) as station:
        enroll_face(station, photos_of(lfw_people[46])[0], "Someone")
        with pytest.raises(NoCentreError, match="station centre trust FILE"):
            export_packets(station, tmp_path / "stick")
        assert packet_status(station)["waiting_for_a_packet"] == 1
    assert not (tmp_path / "stick").exists()


def test_the_supervisor_sees_what_waits_and_writes_it_to_a_stick_from_the_console(
    tmp_path: Path, lfw_people: list[Path], centre: Path
) -> None:
    from station.api import create_app
    from tests.test_console import signed_in

    station = station_with(tmp_path, "kit-west", lfw_people[47:49], centre)
    try:
        app = create_app(station=station)
        operator = signed_in(app, station, "operator")
        assert operator.get("/handover").status_code == 403  # the desk does not hand over
        supervisor = signed_in(app, station, "supervisor")
        page = supervisor.open("/handover")
        assert "2 records wait for their first packet" in page
        refused = supervisor.post("/handover", folder="stick")
        assert refused.status_code == 400 and "/media/stick" in supervisor.text(refused)
        written = supervisor.follow(supervisor.post("/handover", folder=str(tmp_path / "stick")))
        assert "2 packets written to" in written
        assert "written to a stick, not yet acknowledged: 2" in written
    finally:
        station.close()
    checked = check_folder(tmp_path / "stick", centre_keys(centre), StationRegistry(centre))
    assert len(checked.valid) == 2 and not checked.rejected
