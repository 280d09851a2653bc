"""Personal-data duties: retention and purge, subject access export, purpose separation.

Each test is one rule. Time passing is simulated by dating records back in the database, the way
they would look after years of service.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from matcher.face import MODEL_OF, FaceEncoder
from matcher.face.templates import template_to_bytes
from matcher.imageio import read_rgb
from station.cli import main
from station.config import ConfigError
from station.core import Station
from station.records import PersonFields
from station.security.roles import SYSTEM
from station.storage import Biometric
from station.workflows import (
    correct_record,
    export_record,
    identify,
    purge_expired,
    render_text,
    set_blocked,
    view_record,
)
from station.workflows.inputs import FaceInput
from tests.conftest import (
    TEST_PASSWORD,
    cli_env,
    client_as,
    enroll_face,
    make_settings,
    photos_of,
)
from tests.test_api import upload

PERIODS = "voter_registration=3650,census=30"


@pytest.fixture
def two_purposes(tmp_path: Path, shared_encoder: FaceEncoder) -> Iterator[Station]:
    """A station collecting for voter registration (10 years) and a census (30 days)."""
    settings = make_settings(tmp_path / "data", retention_days=PERIODS)
    with Station(settings, encoder=shared_encoder) as opened:
        yield opened


def enroll(station: Station, person: Path, purpose: str | None = None, **fields: str) -> int:
    name = person.name.replace("_", " ")
    return int(enroll_face(station, photos_of(person)[0], name, purpose, **fields).record.id)


def age(station: Station, record_id: int, days: int) -> None:
    """Date a record's enrollment ``days`` back."""
    with station.storage.transaction() as db:
        db.execute(
            "UPDATE records SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) WHERE id = ?",
            (f"-{days} days", record_id),
        )


def purge_rows(station: Station) -> list[dict]:
    return [r for r in station.audit.rows(limit=10_000) if r["action"] == "purge"]


# -- retention ---------------------------------------------------------------------------------


def test_a_record_past_its_retention_period_is_purged_and_each_deletion_is_audited(
    two_purposes: Station, lfw_people: list[Path]
) -> None:
    station = two_purposes
    old = enroll(station, lfw_people[0], "census")
    fresh = enroll(station, lfw_people[1], "census")
    voter = enroll(station, lfw_people[2])
    age(station, old, 31)
    age(station, voter, 31)  # within voter registration's ten years

    report = purge_expired(station)

    assert [p["record_id"] for p in report.purged] == [old]
    assert station.storage.get_records([old, fresh, voter]).keys() == {fresh, voter}
    assert old not in station.galleries and fresh in station.galleries
    rows = purge_rows(station)
    assert rows[0]["target"] == str(old)
    assert rows[0]["detail"] == {"purpose": "census", "age_days": 31, "period_days": 30}
    assert rows[-1]["target"] is None and rows[-1]["detail"]["records"] == 1


def test_a_dry_run_says_what_would_go_and_deletes_nothing(
    two_purposes: Station, lfw_people: list[Path]
) -> None:
    station = two_purposes
    old = enroll(station, lfw_people[0], "census")
    age(station, old, 40)
    report = purge_expired(station, dry_run=True)
    assert [p["record_id"] for p in report.purged] == [old]
    assert station.storage.get_record(old).id == old
    assert old in station.galleries
    assert purge_rows(station)[-1]["outcome"] == "dry_run"


def test_a_blocked_record_is_kept_past_its_retention_period(
    two_purposes: Station, lfw_people: list[Path]
) -> None:
    station = two_purposes
    disputed = enroll(station, lfw_people[0], "census")
    set_blocked(station, disputed, True, "a complaint is open")
    age(station, disputed, 400)
    report = purge_expired(station)
    assert report.purged == [] and report.kept_blocked == [disputed]
    assert station.storage.get_record(disputed).blocked


def test_records_of_a_purpose_without_a_period_are_kept_and_reported(
    two_purposes: Station,
) -> None:
    station = two_purposes
    legacy = station.storage.add_record(PersonFields(name="Old Survey"), [], "old_survey")
    age(station, legacy.id, 5000)
    report = purge_expired(station)
    assert report.no_period == {"old_survey": 1}
    assert station.storage.get_record(legacy.id).purpose == "old_survey"


def test_nothing_is_collected_for_a_purpose_without_a_retention_period(
    client: FlaskClient, station: Station, lfw_people: list[Path]
) -> None:
    response = client.post(
        "/api/v1/enrollments",
        data={
            "name": "A Person",
            "consent": "true",
            "purpose": "marketing",
            "image": upload(photos_of(lfw_people[0])[0]),
        },
    )
    assert response.status_code == 400
    assert response.json["error"]["field"] == "purpose"
    assert "retention" in response.json["error"]["message"]
    assert station.storage.count() == 0


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("voter_registration", "purpose=days"),
        ("voter_registration=0", "at least 1 day"),
        ("Voter=10", "purpose=days"),
        ("census=30", "default_purpose"),
    ],
)
def test_a_malformed_retention_setting_is_refused(tmp_path: Path, value: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        make_settings(tmp_path / "data", retention_days=value)


def test_retention_periods_can_be_written_as_a_toml_table(tmp_path: Path) -> None:
    (tmp_path / "station.toml").write_text(
        "[station.retention_days]\nvoter_registration = 3650\ncensus = 30\n"
    )
    from station.config import load_settings

    settings = load_settings(config_file=tmp_path / "station.toml", environ={})
    assert settings.retention_periods == {"voter_registration": 3650, "census": 30}


def test_supervisors_and_admins_purge_over_the_api_operators_may_not(
    app: Flask, station: Station, lfw_people: list[Path]
) -> None:
    old = enroll(station, lfw_people[0])
    age(station, old, 3651)
    operator = client_as(app, station, "operator")
    assert operator.post("/api/v1/retention/purge", json={}).status_code == 403
    admin = client_as(app, station, "admin")
    due = admin.get("/api/v1/retention").json
    assert due["periods_days"] == {"voter_registration": 3650}
    assert [p["record_id"] for p in due["due"]["purged"]] == [old]
    assert station.storage.count() == 1
    done = admin.post("/api/v1/retention/purge", json={"dry_run": False}).json
    assert done["purged_count"] == 1 and station.storage.count() == 0


def test_the_purge_command_deletes_what_has_expired(
    tmp_path: Path, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data")
    with Station(settings, encoder=shared_encoder) as station:
        old = enroll(station, lfw_people[0])
        age(station, old, 4000)
        station.operators.create(SYSTEM, "chief", "supervisor", TEST_PASSWORD)
    env = cli_env(settings, "chief")
    dry = CliRunner().invoke(main, ["purge", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would delete 1 record(s)" in dry.output
    done = CliRunner().invoke(main, ["purge", "--json"], env=env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["purged"][0]["record_id"] == old
    with Station(settings, encoder=shared_encoder) as station:
        assert station.storage.count() == 0


# -- subject access --------------------------------------------------------------------------


def test_the_export_holds_everything_about_the_person(
    station: Station, lfw_people: list[Path]
) -> None:
    rid = enroll(station, lfw_people[0], document_number="AN1234567", health="asthma")
    station.storage.put_photo(rid, "portrait", "image/jpeg", b"\xff\xd8portrait")
    correct_record(station, rid, {"sex": "M"}, "form checked")
    view_record(station, rid)

    export = export_record(station, rid)

    assert export["format"] == "biometric-station/subject-access"
    assert export["record"]["health"] == "asthma"  # the person sees their special fields
    assert export["record"]["sex"] == "M"
    assert export["purpose"] == "voter_registration"
    assert export["retention"]["days"] == 3650 and export["retention"]["until"] > "20"
    face = export["biometrics"][0]
    assert face["modality"] == "face"
    stored = template_to_bytes(station.storage.get_template(rid))
    assert base64.b64decode(face["template_base64"]) == stored
    assert base64.b64decode(export["photos"][0]["image_base64"]) == b"\xff\xd8portrait"
    assert export["history"][0]["reason"] == "form checked"
    assert [p["action"] for p in export["processing"]] == ["enroll", "correct", "view"]
    json.dumps(export)  # machine-readable as it is
    assert station.audit.rows(limit=1000)[-1]["action"] == "export"


def test_the_human_readable_export_is_plain_text_without_template_bytes(
    station: Station, lfw_people: list[Path]
) -> None:
    rid = enroll(station, lfw_people[0], document_number="AN1234567")
    export = export_record(station, rid)
    text = render_text(export)
    assert "PERSONAL DATA HELD ABOUT YOU" in text
    assert "AN1234567" in text and "voter registration" in text
    assert "Who processed your data" in text and "enroll" in text
    assert export["biometrics"][0]["template_base64"] not in text


def test_only_supervisors_export_and_over_the_api_both_formats_come_back(
    app: Flask, station: Station, lfw_people: list[Path]
) -> None:
    rid = enroll(station, lfw_people[0])
    operator = client_as(app, station, "operator")
    assert operator.get(f"/api/v1/records/{rid}/export").status_code == 403
    supervisor = client_as(app, station, "supervisor")
    as_json = supervisor.get(f"/api/v1/records/{rid}/export")
    assert as_json.status_code == 200 and as_json.json["record"]["id"] == rid
    assert "attachment" in as_json.headers["Content-Disposition"]
    as_text = supervisor.get(f"/api/v1/records/{rid}/export?format=text")
    assert as_text.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert b"PERSONAL DATA" in as_text.data and b"True" not in as_text.data
    bad = supervisor.get(f"/api/v1/records/{rid}/export?format=pdf")
    assert bad.status_code == 400 and bad.json["error"]["field"] == "format"
    assert supervisor.get("/api/v1/records/999/export").status_code == 404


def test_the_export_command_writes_a_private_file(
    tmp_path: Path, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data")
    with Station(settings, encoder=shared_encoder) as station:
        rid = enroll(station, lfw_people[0])
        station.operators.create(SYSTEM, "chief", "supervisor", TEST_PASSWORD)
    env = cli_env(settings, "chief")
    out = tmp_path / "subject.txt"
    result = CliRunner().invoke(
        main, ["export", str(rid), "--format", "text", "--out", str(out)], env=env
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("PERSONAL DATA HELD ABOUT YOU")
    assert os.stat(out).st_mode & 0o077 == 0
    again = CliRunner().invoke(main, ["export", str(rid), "--out", str(out)], env=env)
    assert again.exit_code == 1 and "exists" in again.output


# -- purpose separation ------------------------------------------------------------------------


def test_identification_searches_only_the_records_of_one_purpose(
    two_purposes: Station, lfw_people: list[Path]
) -> None:
    station = two_purposes
    person = lfw_people[0]
    voter = enroll(station, person)
    census = enroll(station, person, "census")
    probe = read_rgb(photos_of(person)[1])
    as_voter = identify(station, FaceInput.of(probe))
    assert [c.record.id for c in as_voter.candidates] == [voter]
    assert as_voter.gallery_size == 1
    in_census = identify(station, FaceInput.of(probe), purpose="census")
    assert [c.record.id for c in in_census.candidates] == [census]


def test_a_lookup_for_one_purpose_never_returns_records_of_another(
    two_purposes: Station,
) -> None:
    storage = two_purposes.storage
    face = Biometric.face(np.full(128, 0.1, dtype=np.float32), None, MODEL_OF["sface"])
    a = storage.add_record(PersonFields(name="A", document_number="X1"), [face], "census")
    b = storage.add_record(PersonFields(name="B", document_number="X1"), [], "voter_registration")
    assert storage.get_records([a.id, b.id], purpose="census").keys() == {a.id}
    assert storage.find_by_document("X1", "voter_registration") == [b.id]
    ids, _ = storage.face_templates("voter_registration")
    assert a.id not in ids.tolist()
