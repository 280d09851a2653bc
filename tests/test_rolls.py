"""Precinct rolls at the station (issue #18): the centre's voters of one precinct, signed by the
centre and encrypted to one station. The station imports a roll meant for itself, verifies a voter
on it at intake against the centre's enrolment, refuses another station's roll, a changed one, an
older version, keeps the same version once, replaces an older version whole, deletes an expired
roll at the retention purge, and never hands the roll's voters back to the centre or changes them.

Faces are LFW photos, fingers FVC2002 DB1_B impressions, the card the simulated chip of
tests/test_workflows.py (the cardholder's photo on it).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from central.keys import CentreKeys, centre_keys
from central.keys import identity_document as centre_document
from drivers.idcard.personalise import DEFAULT_MRZ
from matcher.face import FaceEncoder
from matcher.face.templates import template_to_bytes
from matcher.imageio import read_rgb
from station.api import create_app
from station.cli import main
from station.core import Station
from station.errors import InvalidInputError
from station.exchange.envelope import seal_packet
from station.exchange.identity import encryption_key
from station.exchange.rolls import ROLL_KIND, Roll, RollTemplate, RollVoter
from station.records import ROLL_PURPOSE
from station.storage import FACE_FORMAT, FACE_FORMATS, FINGER_FORMAT
from station.workflows import (
    CardInput,
    FaceInput,
    FingerInput,
    correct_record,
    delete_record,
    identify,
    purge_expired,
    set_blocked,
    verify_at_intake,
)
from station.workflows.exchange import trust_centre_keys
from station.workflows.packets import NoCentreError, export_packets
from station.workflows.rolls import (
    RollOutdatedError,
    RollRecordReadOnlyError,
    RollRefusedError,
    import_roll,
    roll_status,
)
from tests.conftest import cli_env, client_as, enroll_face, make_settings, photos_of
from tests.test_workflows import LEFT_INDEX, RIGHT_INDEX, card_url, templates

DOCUMENT = "AN1234567"  # the test card's (DEFAULT_MRZ)
PRECINCT = "Bishkek 12"


@pytest.fixture(scope="module")
def cardholder(lfw_people: list[Path]) -> Path:
    """The LFW person on the test card: photo 3 is the chip's, 0 the centre's enrolment, 1 the
    live face at intake."""
    return next(p for p in lfw_people if len(photos_of(p)) >= 4)


@pytest.fixture
def centre(tmp_path: Path) -> CentreKeys:
    return centre_keys(tmp_path / "centre")


@pytest.fixture
def desk(
    tmp_path: Path, lfw: Path, cardholder: Path, shared_encoder: FaceEncoder, centre: CentreKeys
) -> Iterator[Station]:
    """A station with the cardholder's card in its simulated reader, trusting the centre."""
    settings = make_settings(
        tmp_path / "data",
        lfw,
        camera_timeout=1.0,
        card_reader_url=card_url(photos_of(cardholder)[3], tmp_path / "csca"),
        station_id="kit-0001",
    )
    with Station(settings, encoder=shared_encoder) as opened:
        trust(opened, centre, tmp_path)
        yield opened


def trust(station: Station, centre: CentreKeys, folder: Path) -> None:
    document = folder / "centre.json"
    document.write_text(json.dumps(centre_document(centre)))
    trust_centre_keys(station, document)


def face_template(
    encoder: FaceEncoder, photo: Path, model_format: str = FACE_FORMAT
) -> RollTemplate:
    vector = encoder.encode(read_rgb(photo)).vector
    return RollTemplate("face", None, model_format, None, template_to_bytes(vector))


def finger_templates(fvc_template: Any, right: str, left: str) -> list[RollTemplate]:
    return [
        RollTemplate("finger", RIGHT_INDEX, FINGER_FORMAT, 60.0, fvc_template(right).to_bytes()),
        RollTemplate("finger", LEFT_INDEX, FINGER_FORMAT, 60.0, fvc_template(left).to_bytes()),
    ]


def the_cardholder(encoder: FaceEncoder, cardholder: Path, fvc_template: Any) -> RollVoter:
    """The cardholder as the centre enrolled them: face, two fingers, and a template of a model
    this station does not run (skipped)."""
    other = FACE_FORMATS["dlib-resnet-v1"]
    return RollVoter(
        "V-0001",
        "TESTOVA AIZADA",
        DOCUMENT,
        "1990-01-01",
        photos_of(cardholder)[0].read_bytes(),
        [
            face_template(encoder, photos_of(cardholder)[0]),
            RollTemplate("face", None, other, None, bytes(512)),
            *finger_templates(fvc_template, "101_1", "102_1"),
        ],
    )


def neighbours(count: int, seed: int = 0, prefix: str = "N") -> list[RollVoter]:
    """Other voters of the precinct: synthetic faces, no fingers."""
    rng = np.random.default_rng(seed)
    voters = []
    for i in range(count):
        vector = rng.normal(size=128).astype(np.float32)
        vector /= np.linalg.norm(vector)
        voters.append(
            RollVoter(
                f"{prefix}-{i:04d}",
                f"Voter {prefix} {i}",
                f"{prefix}{i:07d}",
                None,
                None,
                [RollTemplate("face", None, FACE_FORMAT, None, template_to_bytes(vector))],
            )
        )
    return voters


def roll_file(
    folder: Path,
    station: Station,
    centre: CentreKeys,
    voters: list[RollVoter],
    version: int = 1,
    station_id: str | None = None,
    valid_until: date | None = None,
    precinct: str = PRECINCT,
) -> Path:
    """The file `central roll make` writes: the roll signed by the centre, encrypted to the
    station's X25519 key."""
    roll = Roll(
        str(uuid.uuid4()),
        centre.centre_id,
        station_id or station.settings.station_id,
        precinct,
        "voter_registration",
        version,
        datetime.now(UTC).isoformat(timespec="seconds"),
        (valid_until or date.today() + timedelta(days=30)).isoformat(),
        voters,
    )
    _, data = seal_packet(
        roll.to_bytes(),
        kind=ROLL_KIND,
        sender_id=centre.centre_id,
        signing_key=centre.signing_key,
        recipient_key=encryption_key(station.storage),
        packet_id=roll.roll_id,
    )
    path = folder / f"roll-{precinct.replace(' ', '_')}-v{version}-{roll.roll_id[:8]}.jwe"
    path.write_bytes(data)
    return path


def at_intake(desk: Station, photo: Path, fvc_template: Any, right: str) -> Any:
    return verify_at_intake(
        desk,
        CardInput(DEFAULT_MRZ),
        FaceInput.of(read_rgb(photo)),
        FingerInput.of(templates(fvc_template, right)),
    )


def voter_records(station: Station) -> list[int]:
    with station.storage.reading() as db:
        return [
            r[0]
            for r in db.execute(
                "SELECT id FROM records WHERE purpose = ? ORDER BY id", (ROLL_PURPOSE,)
            )
        ]


# -- import and intake --------------------------------------------------------------------------


def test_a_roll_for_this_station_is_imported_and_its_voter_verified_at_intake_against_it(
    desk: Station,
    centre: CentreKeys,
    tmp_path: Path,
    cardholder: Path,
    shared_encoder: FaceEncoder,
    fvc_template: Any,
) -> None:
    voters = [the_cardholder(shared_encoder, cardholder, fvc_template), *neighbours(3)]
    done = import_roll(desk, roll_file(tmp_path, desk, centre, voters))
    assert (done.outcome, done.precinct, done.version, done.voters) == ("imported", PRECINCT, 1, 4)
    assert done.templates == 6 and done.skipped == {FACE_FORMATS["dlib-resnet-v1"]: 1}
    assert "1 templates skipped, of formats this station cannot compare" in done.message()
    audited = [r for r in desk.audit.rows(limit=1000) if r["action"] == "roll_import"][-1]
    assert audited["outcome"] == "imported" and audited["target"] == f"precinct:{PRECINCT}"
    assert audited["detail"]["voters"] == 4

    result = at_intake(desk, photos_of(cardholder)[1], fvc_template, "101_2")
    assert result.decision == "accepted", [r.message for r in result.reasons]
    enrolled = next(r for r in result.reasons if r.code == "enrolled")
    assert enrolled.message == f"on the roll of precinct {PRECINCT} (version 1) as voter V-0001"
    assert "against the centre's enrolment on the roll" in next(
        r.message for r in result.reasons if r.code == "matches_record"
    )
    assert result.roll == {"precinct": PRECINCT, "version": 1, "voter": "V-0001"}
    assert result.record_id in voter_records(desk)

    status = roll_status(desk)
    assert status["voters"] == 4 and status["centre"] == centre.centre_id
    (held,) = status["rolls"]
    assert (held["precinct"], held["version"], held["voters"], held["expired"]) == (
        PRECINCT,
        1,
        4,
        False,
    )
    assert desk.status()["records"] == 0 and desk.status()["roll_voters"] == 4


def test_another_finger_on_the_roll_voters_card_is_refused(
    desk: Station,
    centre: CentreKeys,
    tmp_path: Path,
    cardholder: Path,
    shared_encoder: FaceEncoder,
    fvc_template: Any,
) -> None:
    voters = [the_cardholder(shared_encoder, cardholder, fvc_template)]
    import_roll(desk, roll_file(tmp_path, desk, centre, voters))
    result = at_intake(desk, photos_of(cardholder)[1], fvc_template, "105_1")  # not V-0001's
    assert result.decision in {"refused", "referred"}
    assert not next(r for r in result.reasons if r.code == "finger_matches").ok


def test_the_stations_own_enrolment_remains_the_fallback_for_a_card_on_no_roll(
    desk: Station, centre: CentreKeys, tmp_path: Path, cardholder: Path, fvc_template: Any
) -> None:
    from station.workflows import enroll

    own = enroll(
        desk,
        FaceInput.of(read_rgb(photos_of(cardholder)[0])),
        FingerInput.of(templates(fvc_template, "101_1", "102_1")),
        card=CardInput(DEFAULT_MRZ),
        consent=True,
    ).record
    import_roll(desk, roll_file(tmp_path, desk, centre, neighbours(2)))
    result = at_intake(desk, photos_of(cardholder)[1], fvc_template, "101_2")
    assert result.decision == "accepted" and result.record_id == own.id and result.roll is None
    assert next(r for r in result.reasons if r.code == "enrolled").message == (
        f"enrolled as record {own.id}"
    )


def test_identification_searches_the_roll_only_when_asked_for_its_purpose(
    desk: Station,
    centre: CentreKeys,
    tmp_path: Path,
    cardholder: Path,
    shared_encoder: FaceEncoder,
    fvc_template: Any,
) -> None:
    voters = [the_cardholder(shared_encoder, cardholder, fvc_template), *neighbours(3)]
    import_roll(desk, roll_file(tmp_path, desk, centre, voters))
    probe = FingerInput.of(templates(fvc_template, "101_2"))
    face = FaceInput.of(read_rgb(photos_of(cardholder)[2]))
    found = identify(desk, face, probe, purpose=ROLL_PURPOSE)
    assert found.match is not None and found.match.record.id in voter_records(desk)
    assert found.gallery_size == 4
    own = identify(desk, FaceInput.of(read_rgb(photos_of(cardholder)[2])), probe)
    assert own.match is None and own.gallery_size == 0  # the station's own purpose: empty


# -- refusals -------------------------------------------------------------------------------------


def test_a_roll_for_another_station_is_refused(
    desk: Station, centre: CentreKeys, tmp_path: Path
) -> None:
    path = roll_file(tmp_path, desk, centre, neighbours(2), station_id="kit-0002")
    with pytest.raises(RollRefusedError, match="for station kit-0002, this is station kit-0001"):
        import_roll(desk, path)
    assert roll_status(desk)["rolls"] == [] and voter_records(desk) == []
    refused = [r for r in desk.audit.rows(limit=1000) if r["action"] == "roll_import"]
    assert refused[-1]["outcome"] == "refused"


def test_a_changed_roll_and_one_signed_by_another_centre_are_refused(
    desk: Station, centre: CentreKeys, tmp_path: Path
) -> None:
    path = roll_file(tmp_path, desk, centre, neighbours(2))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] = ord("A") if data[len(data) // 2] != ord("A") else ord("B")
    changed = tmp_path / "changed.jwe"
    changed.write_bytes(bytes(data))
    with pytest.raises(RollRefusedError, match="does not decrypt"):
        import_roll(desk, changed)
    impostor = centre_keys(tmp_path / "impostor")
    forged = roll_file(tmp_path, desk, impostor, neighbours(2))
    with pytest.raises(RollRefusedError, match=f"centre {impostor.centre_id} is not registered"):
        import_roll(desk, forged)
    garbage = tmp_path / "garbage.jwe"
    garbage.write_bytes(b"not a roll at all")
    with pytest.raises(RollRefusedError, match="not a JOSE compact serialization"):
        import_roll(desk, garbage)
    assert voter_records(desk) == []


def test_a_station_that_trusts_no_centre_refuses_every_roll(
    tmp_path: Path, shared_encoder: FaceEncoder, centre: CentreKeys
) -> None:
    with Station(make_settings(tmp_path / "lone"), encoder=shared_encoder) as station:
        path = roll_file(tmp_path, station, centre, neighbours(1))
        with pytest.raises(NoCentreError, match="station centre trust FILE"):
            import_roll(station, path)


def test_an_expired_roll_is_refused(desk: Station, centre: CentreKeys, tmp_path: Path) -> None:
    path = roll_file(
        tmp_path, desk, centre, neighbours(1), valid_until=date.today() - timedelta(days=1)
    )
    with pytest.raises(RollRefusedError, match="expired"):
        import_roll(desk, path)


# -- versions ------------------------------------------------------------------------------------


def test_an_older_version_is_refused_and_the_same_version_is_already_held(
    desk: Station, centre: CentreKeys, tmp_path: Path
) -> None:
    second = roll_file(tmp_path, desk, centre, neighbours(3), version=2)
    assert import_roll(desk, second).outcome == "imported"
    held = voter_records(desk)
    again = import_roll(desk, second)
    assert again.outcome == "already_held" and "nothing changed" in again.message()
    assert voter_records(desk) == held
    older = roll_file(tmp_path, desk, centre, neighbours(5), version=1)
    with pytest.raises(RollOutdatedError, match="version 1 of precinct Bishkek 12 is older"):
        import_roll(desk, older)
    other = roll_file(tmp_path, desk, centre, neighbours(4), version=2)  # a different roll, v2
    with pytest.raises(RollOutdatedError, match="with version 2 is held already"):
        import_roll(desk, other)
    assert voter_records(desk) == held and roll_status(desk)["rolls"][0]["version"] == 2


def test_a_newer_version_replaces_the_older_roll_whole(
    desk: Station, centre: CentreKeys, tmp_path: Path
) -> None:
    import_roll(desk, roll_file(tmp_path, desk, centre, neighbours(3, prefix="OLD")))
    old = voter_records(desk)
    other_precinct = import_roll(
        desk, roll_file(tmp_path, desk, centre, neighbours(2, prefix="ELS"), precinct="Osh 3")
    )
    assert other_precinct.outcome == "imported"
    kept = sorted(set(voter_records(desk)) - set(old))
    done = import_roll(
        desk, roll_file(tmp_path, desk, centre, neighbours(2, seed=1, prefix="NEW"), version=2)
    )
    assert (done.outcome, done.previous_version, done.voters) == ("replaced", 1, 2)
    now = voter_records(desk)
    assert not set(old) & set(now) and set(kept) <= set(now) and len(now) == 4
    names = sorted(r.fields.name for r in desk.storage.get_records(now).values())
    assert names == ["Voter ELS 0", "Voter ELS 1", "Voter NEW 0", "Voter NEW 1"]
    desk.galleries.wait(ROLL_PURPOSE)
    assert desk.galleries.size(ROLL_PURPOSE) == 4 and not any(i in desk.galleries for i in old)
    assert [(r["precinct"], r["version"]) for r in roll_status(desk)["rolls"]] == [
        (PRECINCT, 2),
        ("Osh 3", 1),
    ]


# -- retention -----------------------------------------------------------------------------------


def test_an_expired_roll_is_deleted_by_the_retention_purge(
    desk: Station, centre: CentreKeys, tmp_path: Path
) -> None:
    until = date.today() + timedelta(days=2)
    import_roll(desk, roll_file(tmp_path, desk, centre, neighbours(3), valid_until=until))
    assert purge_expired(desk).rolls_purged == []  # still valid
    later = datetime.now(UTC) + timedelta(days=3)
    dry = purge_expired(desk, dry_run=True, now=later)
    assert [r["precinct"] for r in dry.rolls_purged] == [PRECINCT] and len(voter_records(desk)) == 3
    report = purge_expired(desk, now=later)
    assert report.rolls_purged == [
        {"precinct": PRECINCT, "version": 1, "voters": 3, "valid_until": until.isoformat()}
    ]
    assert report.no_period == {} and voter_records(desk) == []
    assert roll_status(desk)["rolls"] == []
    desk.galleries.wait(ROLL_PURPOSE)
    assert desk.galleries.size(ROLL_PURPOSE) == 0
    purged = [r for r in desk.audit.rows(limit=1000) if r["action"] == "roll_purge"]
    assert len(purged) == 1 and purged[0]["target"] == f"precinct:{PRECINCT}"


# -- the roll stays the centre's ----------------------------------------------------------------


def test_roll_voters_never_go_into_packets_and_are_read_only_at_the_station(
    desk: Station, centre: CentreKeys, tmp_path: Path, lfw_people: list[Path]
) -> None:
    own = enroll_face(desk, photos_of(lfw_people[3])[0], "Own Enrolment").record
    import_roll(desk, roll_file(tmp_path, desk, centre, neighbours(3)))
    export = export_packets(desk, tmp_path / "stick")
    assert [p["record_id"] for p in desk.storage.packets()] == [own.id]
    assert len(export.written) == 1
    voter = voter_records(desk)[0]
    with pytest.raises(RollRecordReadOnlyError, match="Send the correction to the centre"):
        correct_record(desk, voter, {"name": "Someone Else"}, "typo on the roll")
    with pytest.raises(RollRecordReadOnlyError, match=f"roll of precinct {PRECINCT}"):
        delete_record(desk, voter)
    with pytest.raises(RollRecordReadOnlyError):
        set_blocked(desk, voter, True, "disputed at the desk")
    with pytest.raises(InvalidInputError, match="precinct_roll holds the voters"):
        enroll_face(desk, photos_of(lfw_people[4])[0], "Sneaky", purpose=ROLL_PURPOSE)
    assert desk.status()["records"] == 1


def test_a_key_rotation_reseals_the_rolls_voters_with_their_link_to_the_centre(
    desk: Station,
    centre: CentreKeys,
    tmp_path: Path,
    cardholder: Path,
    shared_encoder: FaceEncoder,
    fvc_template: Any,
) -> None:
    from station.workflows import rotate_key

    voters = [the_cardholder(shared_encoder, cardholder, fvc_template), *neighbours(2)]
    import_roll(desk, roll_file(tmp_path, desk, centre, voters))
    rotate_key(desk)
    entries = [desk.storage.roll_entry(i) for i in voter_records(desk)]
    assert sorted(e["voter"] for e in entries if e) == ["N-0000", "N-0001", "V-0001"]
    result = at_intake(desk, photos_of(cardholder)[1], fvc_template, "101_2")
    assert result.decision == "accepted" and result.roll is not None


def test_a_database_from_before_rolls_gets_their_tables(
    tmp_path: Path, shared_encoder: FaceEncoder, centre: CentreKeys
) -> None:
    settings = make_settings(tmp_path / "old")
    with Station(settings, encoder=shared_encoder):
        pass
    with sqlite3.connect(settings.database_path) as db:
        db.execute("DROP TABLE roll_voters")
        db.execute("DROP TABLE rolls")
    with Station(settings, encoder=shared_encoder) as station:
        trust(station, centre, tmp_path)
        done = import_roll(station, roll_file(tmp_path, station, centre, neighbours(2)))
        assert done.outcome == "imported" and roll_status(station)["voters"] == 2


# -- the doors: API and CLI -------------------------------------------------------------------


def test_a_supervisor_imports_a_roll_over_the_api_and_from_the_command_line(
    desk: Station, centre: CentreKeys, tmp_path: Path
) -> None:
    app = create_app(station=desk)
    first = roll_file(tmp_path, desk, centre, neighbours(2))
    body = first.read_bytes()
    operator = client_as(app, desk, "operator")
    octets = {"content_type": "application/octet-stream"}
    assert operator.post("/api/v1/rolls", data=body, **octets).status_code == 403
    supervisor = client_as(app, desk, "supervisor")
    created = supervisor.post("/api/v1/rolls", data=body, **octets)
    assert created.status_code == 201 and created.json["outcome"] == "imported"
    again = supervisor.post("/api/v1/rolls", data=body, **octets)
    assert again.status_code == 200 and again.json["outcome"] == "already_held"
    refused = supervisor.post("/api/v1/rolls", data=b"junk", **octets)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "roll_refused"
    listed = supervisor.get("/api/v1/rolls").json
    assert [(r["precinct"], r["version"]) for r in listed["rolls"]] == [(PRECINCT, 1)]

    second = roll_file(tmp_path, desk, centre, neighbours(3), version=2)
    settings = desk.settings
    desk.close()  # the command opens the station itself
    try:
        env = {**cli_env(settings, "supervisor1"), "STATION_STATION_ID": "kit-0001"}
        runner = CliRunner()
        done = runner.invoke(main, ["roll", "import", str(second), "--json"], env=env)
        assert done.exit_code == 0, done.output
        assert json.loads(done.output)["outcome"] == "replaced"
        older = runner.invoke(main, ["roll", "import", str(first)], env=env)
        assert older.exit_code == 1 and "already held" not in older.output
        status = runner.invoke(main, ["roll", "status"], env=env)
        assert status.exit_code == 0
        assert f"precinct {PRECINCT}: version 2, 3 voters" in status.output
    finally:
        desk.open()


def _call(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    """One JSON request to a running server's API."""
    import urllib.request

    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read() or b"{}"))


def test_the_command_sends_the_roll_to_the_running_server_holding_the_station(
    tmp_path: Path, shared_encoder: FaceEncoder, centre: CentreKeys
) -> None:
    from tests.browser import start_server

    settings = make_settings(
        tmp_path / "data", key_file=tmp_path / "station.key", station_id="kit-0001"
    )
    with Station(settings, encoder=shared_encoder) as station:
        trust(station, centre, tmp_path)
        path = roll_file(tmp_path, station, centre, neighbours(3))
    server = start_server(tmp_path, env={"STATION_STATION_ID": "kit-0001"})
    try:
        api = f"{server.url}/api/v1"
        token = _call(f"{api}/auth/login", {"login": "admin", "password": server.one_time_password})
        _call(
            f"{api}/auth/password",
            {"current_password": server.one_time_password, "new_password": "Bench-chief-42!"},
            token["token"],
        )
        admin = _call(f"{api}/auth/login", {"login": "admin", "password": "Bench-chief-42!"})
        made = _call(f"{api}/operators", {"login": "chief", "role": "supervisor"}, admin["token"])
        first = _call(
            f"{api}/auth/login", {"login": "chief", "password": made["one_time_password"]}
        )
        _call(
            f"{api}/auth/password",
            {"current_password": made["one_time_password"], "new_password": "Roll-desk-42!xyz"},
            first["token"],
        )
        env = {
            **cli_env(settings, "chief"),
            "STATION_STATION_ID": "kit-0001",
            "STATION_PASSWORD": "Roll-desk-42!xyz",
        }
        done = CliRunner().invoke(main, ["roll", "import", str(path), "--json"], env=env)
        assert done.exit_code == 0, done.output
        assert json.loads(done.output)["outcome"] == "imported"
        status = CliRunner().invoke(main, ["roll", "status", "--json"], env=env)
        assert json.loads(status.output)["voters"] == 3
    finally:
        assert server.stop() == 0
