"""Records handed to the centre: two stations enrol (one person at both), write their packets to a
folder, and the centre imports every packet once into its PostgreSQL register, refusing a changed
one, one from a revoked station, and one sent to another centre; its acknowledgement goes back
on the stick."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest

from central.centre import Centre
from central.intake import import_folder
from central.keys import centre_keys
from station.core import Station
from station.exchange.envelope import open_packet
from station.workflows.exchange import station_identity, trust_centre_keys
from station.workflows.packets import NoCentreError, export_packets, packet_status
from tests.conftest import central_env, enroll_face, make_settings, photos_of


def station_with(tmp_path: Path, station_id: str, people: list[Path], centre: Centre) -> Station:
    settings = make_settings(tmp_path / station_id, station_id=station_id, precinct="P-0417")
    station = Station(settings).open()
    for person in people:
        enroll_face(station, photos_of(person)[0], person.name.replace("_", " "))
    trust_centre_keys(station, tmp_path / "centre.json")
    document = tmp_path / f"{station_id}.json"
    document.write_text(json.dumps(station_identity(station)))
    centre.stations.add(document)
    return station


def test_two_stations_hand_their_records_over_and_the_centre_imports_each_packet_once(
    tmp_path: Path, lfw_people: list[Path], centre: Centre
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

        imported = [import_folder(centre, tmp_path / s) for s in ("stick-north", "stick-south")]
        assert [(r.imported, r.already_had, r.rejected) for r in imported] == [
            (3, 0, []),
            (2, 0, []),
        ]
        twice = [import_folder(centre, tmp_path / s) for s in ("stick-north", "stick-south")]
        assert [(r.imported, r.already_had) for r in twice] == [(0, 3), (0, 2)]
        counts = centre.register.counts()
        assert counts["persons"] == {"voter_registration": {"queued": 5}}  # waiting for de-dup
        assert counts["packets"] == {"stored": 5} and counts["refusals"] == 0

        # the stick comes back: the station reads the centre's acknowledgement and stops sending
        back = export_packets(north, tmp_path / "stick-north")
        assert back.acknowledged == 3 and back.written == []
        assert packet_status(north)["counts"] == {"acknowledged": 3}
    finally:
        north.close()
        south.close()

    rows = centre.register.db.execute(
        "SELECT id FROM persons WHERE station_id = 'kit-north' ORDER BY station_record"
    ).fetchall()
    person = centre.register.person(rows[0]["id"])
    assert person is not None and person.fields["name"] == shared.name.replace("_", " ")
    assert person.fields["consent"]["given"] is True and person.precinct == "P-0417"
    templates = centre.register.templates_of(person.id)
    assert [(t["modality"], t["format"]) for t in templates] == [("face", "face-sface128/1")]
    portrait = centre.register.image(person.id, "portrait")
    assert portrait is not None and portrait[:2] == b"\xff\xd8"  # the JPEG to re-extract from
    actions = [r["action"] for r in centre.audit.rows(limit=100)]
    assert actions.count("packet_import") == 5 and centre.audit.verify().intact


def test_the_register_keeps_personal_data_sealed_in_the_database(
    tmp_path: Path, lfw_people: list[Path], centre: Centre, centre_db: str
) -> None:
    station = station_with(tmp_path, "kit-sealed", [lfw_people[44]], centre)
    try:
        export_packets(station, tmp_path / "stick")
    finally:
        station.close()
    import_folder(centre, tmp_path / "stick")
    name = lfw_people[44].name.replace("_", " ").encode()
    with psycopg.connect(centre_db) as raw:  # what a copy of the server's files would show
        dumped = b"".join(
            bytes(value)
            for table in ("persons", "templates", "images")
            for row in raw.execute(f"SELECT * FROM {table}").fetchall()
            for value in row
            if isinstance(value, (bytes, memoryview))
        )
    assert dumped and name not in dumped and b"\xff\xd8\xff" not in dumped


def test_a_changed_packet_and_a_revoked_stations_packets_are_refused(
    tmp_path: Path, lfw_people: list[Path], centre: Centre
) -> None:
    station = station_with(tmp_path, "kit-east", lfw_people[45:47], centre)
    try:
        written = export_packets(station, tmp_path / "stick").written
    finally:
        station.close()
    changed = tmp_path / "stick" / f"{written[0]}.packet"
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] = ord("A") if data[len(data) // 2] != ord("A") else ord("B")
    changed.write_bytes(bytes(data))
    result = import_folder(centre, tmp_path / "stick")
    assert result.imported == 1 and len(result.rejected) == 1
    assert result.rejected[0]["packet"] == written[0] and "decrypt" in result.rejected[0]["reason"]
    assert centre.register.refusals()[0]["reason"] == result.rejected[0]["reason"]  # logged
    assert "packet_refused" in [r["action"] for r in centre.audit.rows(limit=50)]  # and audited

    centre.stations.revoke("kit-east")
    revoked = import_folder(centre, tmp_path / "stick")
    assert revoked.imported == 0 and revoked.already_had == 0
    reasons = {r["packet"]: r["reason"] for r in revoked.rejected}  # files come in name order
    assert "kit-east is not registered (or was revoked)" in reasons[written[1]]
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
    tmp_path: Path, lfw_people: list[Path], centre: Centre
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
    assert import_folder(centre, tmp_path / "stick").imported == 2


def test_the_import_command_prints_its_counts_and_exits_3_when_it_refuses_a_packet(
    tmp_path: Path, lfw_people: list[Path], centre: Centre, centre_db: str
) -> None:
    station = station_with(tmp_path, "kit-cli", lfw_people[49:51], centre)
    try:
        written = export_packets(station, tmp_path / "stick").written
    finally:
        station.close()
    (tmp_path / "stick" / f"{written[1]}.packet").write_bytes(b"not a packet")
    env = central_env(tmp_path / "centre", centre_db, role="registrar")
    run = subprocess.run(
        [sys.executable, "-m", "central", "import", str(tmp_path / "stick"), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 3, run.stderr
    printed = json.loads(run.stdout)
    assert (printed["imported"], printed["already_had"]) == (1, 0)
    assert printed["rejected"] == [
        {"packet": written[1], "reason": printed["rejected"][0]["reason"]}
    ]
    status = subprocess.run(
        [sys.executable, "-m", "central", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(status.stdout)["persons"] == {"voter_registration": {"queued": 1}}


def test_without_a_database_the_centre_runs_its_own_cluster_only_while_a_command_runs() -> None:
    root = Path(tempfile.mkdtemp(prefix="central-own-"))
    root.chmod(0o755)  # the postgres user must reach the data directory's folder
    try:
        env = central_env(root / "centre", None)
        env.pop("CENTRAL_DB", None)
        run = subprocess.run(
            [sys.executable, "-m", "central", "status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout) == {"persons": {}, "packets": {}, "refusals": 0}
        cluster = root / "centre" / "postgres" / "cluster"
        assert (cluster / "PG_VERSION").is_file()  # made inside the data directory
        assert not (cluster / "postmaster.pid").exists()  # and stopped again
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


def test_the_audit_trail_refuses_changes_and_verify_finds_a_row_changed_underneath(
    centre: Centre, centre_db: str
) -> None:
    for n in range(3):
        centre.audit.append("registrar", "status", detail={"n": n})
    assert centre.audit.verify().intact
    with psycopg.connect(centre_db, autocommit=True) as raw:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            raw.execute("DELETE FROM audit")
        raw.execute("SET session_replication_role = replica")  # a superuser past the trigger
        raw.execute("UPDATE audit SET actor = 'someone-else' WHERE seq = 2")
    checked = centre.audit.verify()
    assert not checked.intact and checked.broken_at == 2 and "changed" in str(checked.problem)


def test_corrections_blocks_and_deletions_follow_the_enrolment_to_the_centre(
    tmp_path: Path, lfw_people: list[Path], centre: Centre
) -> None:
    from station.workflows.records import correct_record, delete_record, set_blocked

    station = station_with(tmp_path, "kit-events", lfw_people[51:54], centre)
    stick = tmp_path / "stick"
    try:
        ids = station.storage.records_without_packet("enrollment")  # the three enrolled
        delete_record(station, ids[2])  # deleted before it ever left: nothing to tell the centre
        assert len(export_packets(station, stick).written) == 2
        import_folder(centre, stick)
        correct_record(station, ids[0], {"name": "Corrected Name"}, "typed wrongly at enrolment")
        set_blocked(station, ids[1], True, "the voter disputes the record")
        export = export_packets(station, stick)  # reads the acknowledgement, writes the events
        assert export.acknowledged == 2 and len(export.written) == 2
        kinds = {p["kind"]: p["state"] for p in packet_status(station)["packets"]}
        assert kinds == {
            "enrollment": "acknowledged",
            "correction": "exported",
            "block": "exported",
        }
        events = import_folder(centre, stick)
        assert (events.imported, events.already_had, events.rejected) == (2, 2, [])
        set_blocked(station, ids[1], False, "dispute settled")
        delete_record(station, ids[1])
        export_packets(station, stick)
        assert import_folder(centre, stick).imported == 2  # the unblock, then the deletion
    finally:
        station.close()
    register = centre.register
    first = register.person_of_station_record("kit-events", ids[0])
    second = register.person_of_station_record("kit-events", ids[1])
    assert first is not None and second is not None
    assert first.fields["name"] == "Corrected Name" and first.version == 2
    assert second.status == "deleted" and second.fields == {}
    assert register.templates_of(second.id) == [] and register.image_kinds(second.id) == []
    assert register.person_of_station_record("kit-events", ids[2]) is None


def test_a_kit_set_to_keep_nothing_after_handover_deletes_what_the_centre_acknowledged(
    tmp_path: Path, lfw_people: list[Path], centre: Centre
) -> None:
    from station.workflows.privacy import parse_time, purge_expired

    settings = make_settings(
        tmp_path / "kit-light", station_id="kit-light", keep_after_handover_days=0
    )
    station = Station(settings).open()
    try:
        for person in lfw_people[54:56]:
            enroll_face(station, photos_of(person)[0], person.name.replace("_", " "))
        trust_centre_keys(station, tmp_path / "centre.json")
        (tmp_path / "light.json").write_text(json.dumps(station_identity(station)))
        centre.stations.add(tmp_path / "light.json")
        export_packets(station, tmp_path / "stick")
        assert purge_expired(station).purged == []  # not acknowledged yet: kept
        import_folder(centre, tmp_path / "stick")
        export_packets(station, tmp_path / "stick")  # the acknowledgement comes back
        with station.storage.reading() as db:
            (last,) = db.execute("SELECT max(settled_at) FROM packets").fetchone()
        # purged in the very millisecond the last acknowledgement came (it once missed one)
        report = purge_expired(station, now=parse_time(last))
        assert [p["reason"] for p in report.purged] == ["handed_over", "handed_over"]
        assert station.storage.count() == 0
        assert export_packets(station, tmp_path / "stick").written == []  # no deletion packets
    finally:
        station.close()
    assert centre.register.counts()["persons"] == {"voter_registration": {"queued": 2}}
