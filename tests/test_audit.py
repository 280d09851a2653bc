"""The audit trail: every action with operator, time, station and target; no personal data;
append-only; and `station audit verify` catches any edit of the SQLite file made behind the
station's back, naming the first broken row and the kind of break."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from matcher.face import FaceEncoder
from station.api import create_app
from station.audit import AuditDetailError
from station.cli import main
from station.core import Station
from station.security.roles import SYSTEM
from station.storage import SCHEMA
from tests.conftest import TEST_PASSWORD, make_settings, photos_of, sign_in
from tests.test_api import upload

NAME, DOCUMENT = "Aaron Peirsol", "AN1234567"


@pytest.fixture(scope="module")
def history(
    tmp_path_factory: pytest.TempPathFactory, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> tuple[Path, list[dict]]:
    """A station that lived a working day through the API; its data directory and audit rows."""
    data = tmp_path_factory.mktemp("day") / "data"
    with Station(make_settings(data), encoder=shared_encoder) as station:
        app = create_app(station=station)
        station.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
        station.operators.create(SYSTEM, "chief", "supervisor", TEST_PASSWORD)
        app.test_client().post("/api/v1/auth/login", json={"login": "clerk", "password": "No-1a"})
        clerk, chief = sign_in(app, "clerk"), sign_in(app, "chief")
        person = lfw_people[0]
        record = clerk.post(
            "/api/v1/enrollments",
            data={
                "name": NAME,
                "document_number": DOCUMENT,
                "consent": "true",
                "image": upload(photos_of(person)[0]),
            },
        ).json["record"]
        rid = record["id"]
        chief.get(f"/api/v1/records/{rid}")
        found = clerk.post("/api/v1/identifications", data={"image": upload(photos_of(person)[1])})
        assert found.json["match"]["record_id"] == rid
        chief.patch(f"/api/v1/records/{rid}", json={"fields": {"sex": "M"}, "reason": "form"})
        chief.post(f"/api/v1/records/{rid}/block", json={"reason": "disputed"})
        chief.post(f"/api/v1/records/{rid}/unblock", json={"reason": "settled"})
        chief.delete(f"/api/v1/records/{rid}")
        clerk.post("/api/v1/auth/logout")
        rows = station.audit.rows(limit=1000)
    return data, rows


def copy_of(history: tuple[Path, list[dict]], tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(history[0], data)
    shutil.copy2(history[0].with_name("data.key"), tmp_path / "data.key")
    return data


def audit_verify(data: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(
        main,
        ["audit", "verify", "--data", str(data), "--json"],
        env={"STATION_KEY_FILE": str(data.with_name("data.key")), "STATION_LOG_LEVEL": "ERROR"},
    )
    return result.exit_code, json.loads(result.output)


def test_every_action_is_logged_with_operator_time_station_and_target(
    history: tuple[Path, list[dict]],
) -> None:
    rows = history[1]
    steps = [(r["operator"], r["action"], r["outcome"]) for r in rows]
    assert steps == [
        ("system", "config_change", "first_start"),
        ("system", "operator_create", "ok"),
        ("system", "operator_create", "ok"),
        ("clerk", "login_failed", "wrong_password"),
        ("clerk", "login", "ok"),
        ("chief", "login", "ok"),
        ("clerk", "enroll", "ok"),
        ("chief", "view", "ok"),
        ("clerk", "identify", "match"),
        ("chief", "correct", "ok"),
        ("chief", "block", "ok"),
        ("chief", "unblock", "ok"),
        ("chief", "delete", "ok"),
        ("clerk", "logout", "ok"),
    ]
    enrolled = rows[6]["target"]
    assert all(r["target"] == enrolled for r in rows[6:13])
    assert all(r["station"] == "test-station" for r in rows)
    assert all(r["at"].endswith("Z") for r in rows)
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))


def test_a_changed_setting_is_logged_at_the_next_start(
    history: tuple[Path, list[dict]], tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    data = copy_of(history, tmp_path)
    for _ in range(2):  # the second start changes nothing: no row
        with Station(
            make_settings(data, face_identify_threshold=0.45), encoder=shared_encoder
        ) as station:
            changes = station.audit.rows(after=len(history[1]))
    assert [r["action"] for r in changes] == ["config_change"]
    # The copy's key file moved too.
    assert changes[0]["detail"] == {"changed": 2, "face_identify_threshold": True, "key_file": True}


def test_the_log_holds_no_personal_fields_and_no_biometric_data(
    history: tuple[Path, list[dict]],
) -> None:
    text = json.dumps(history[1])
    for personal in (NAME, "Aaron", DOCUMENT, "form", "disputed", "settled"):
        assert personal not in text


def test_free_text_cannot_enter_the_log(station: Station) -> None:
    with pytest.raises(AuditDetailError, match="no free text"):
        station.audit.append("system", "view", detail={"note": "Aaron Peirsol asked"})


def test_the_station_refuses_to_update_or_delete_audit_rows(station: Station) -> None:
    station.audit.append("system", "config_change")
    with station.storage.reading() as db:
        for statement in ("UPDATE audit SET operator = 'nobody'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(statement)
    assert station.audit.verify().intact


def test_an_untouched_chain_verifies(history: tuple[Path, list[dict]], tmp_path: Path) -> None:
    status, report = audit_verify(copy_of(history, tmp_path))
    assert status == 0
    assert report["intact"] is True
    assert report["rows"] == report["head_seq"] == len(history[1])


def tamper(data: Path, *statements: str) -> None:
    """Edit the database file with SQLite, as someone with the laptop could: drop the triggers,
    change rows, put the triggers back."""
    with closing(sqlite3.connect(data / "station.sqlite3")) as db:
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("DROP TRIGGER audit_no_delete")
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.executescript(SCHEMA)


SHIFT_FROM_3 = (
    "UPDATE audit SET id = id + 1000 WHERE id >= 3",
    "UPDATE audit SET id = id - 999 WHERE id >= 1003",
)


@pytest.mark.parametrize(
    ("statements", "kind", "row"),
    [
        (["UPDATE audit SET target = '99' WHERE id = 6"], "edited", 6),
        (["UPDATE audit SET operator = 'chief' WHERE id = 9"], "edited", 9),
        (["UPDATE audit SET at = '2020-01-01T00:00:00.000Z' WHERE id = 2"], "edited", 2),
        (["DELETE FROM audit WHERE id = 7"], "deleted", 8),
        (["DELETE FROM audit WHERE id = (SELECT MAX(id) FROM audit)"], "deleted", None),
        (
            [
                *SHIFT_FROM_3,
                "INSERT INTO audit SELECT 3, 3, at, station, 'ghost', 'delete', '1', 'ok', "
                "detail, prev_hash, hash FROM audit WHERE id = 2",
            ],
            "inserted",
            3,
        ),
        (
            [
                "INSERT INTO audit SELECT 100, seq + 1, at, station, 'ghost', 'export', NULL, "
                "'ok', detail, hash, hash FROM audit WHERE id = (SELECT MAX(id) FROM audit)"
            ],
            "inserted",
            100,
        ),
        (
            [
                "UPDATE audit SET id = -5 WHERE id = 5",
                "UPDATE audit SET id = 5 WHERE id = 6",
                "UPDATE audit SET id = 6 WHERE id = -5",
            ],
            "reordered",
            5,
        ),
    ],
    ids=[
        "target",
        "operator",
        "time",
        "deleted",
        "deleted-last",
        "inserted",
        "appended",
        "reordered",
    ],
)
def test_audit_verify_names_the_first_broken_row_and_the_kind(
    history: tuple[Path, list[dict]],
    tmp_path: Path,
    statements: list[str],
    kind: str,
    row: int | None,
) -> None:
    data = copy_of(history, tmp_path)
    tamper(data, *statements)
    status, report = audit_verify(data)
    assert status == 1
    assert report["intact"] is False
    assert report["first_break"]["kind"] == kind, report
    assert report["first_break"]["row"] == row, report


def test_a_byte_changed_in_the_file_is_caught(
    history: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    data = copy_of(history, tmp_path)
    database = data / "station.sqlite3"
    raw = database.read_bytes()
    original = history[1][9]["hash"].encode()  # row 10: the correction
    assert raw.count(original) >= 1
    forged = original[:-1] + (b"0" if original[-1:] != b"0" else b"1")
    database.write_bytes(raw.replace(original, forged, 1))
    status, report = audit_verify(data)
    assert status == 1
    assert report["first_break"]["kind"] == "edited"
    assert report["first_break"]["row"] in (10, 11)


def test_dropped_triggers_are_reported_and_restored_at_the_next_start(
    history: tuple[Path, list[dict]], tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    data = copy_of(history, tmp_path)
    with closing(sqlite3.connect(data / "station.sqlite3")) as db:
        db.execute("DROP TRIGGER audit_no_delete")
    status, report = audit_verify(data)
    assert status == 1
    assert report["first_break"]["kind"] == "protection_removed"
    with Station(make_settings(data), encoder=shared_encoder) as station:
        assert station.audit.rows(after=len(history[1]))[0]["action"] == "tamper_detected"
        assert station.audit.verify().intact


def test_the_human_report_says_what_broke(history: tuple[Path, list[dict]], tmp_path: Path) -> None:
    data = copy_of(history, tmp_path)
    tamper(data, "DELETE FROM audit WHERE id = 4")
    result = CliRunner().invoke(
        main,
        ["audit", "verify", "--data", str(data)],
        env={"STATION_KEY_FILE": str(tmp_path / "data.key")},
    )
    assert result.exit_code == 1
    assert (
        "audit chain BROKEN: first break: deleted: row 5: seq 4 missing before it" in result.output
    )


def test_auditors_read_and_verify_the_trail_over_the_api(app, station: Station) -> None:
    from tests.conftest import client_as

    auditor = client_as(app, station, "auditor")
    first = auditor.get("/api/v1/audit?limit=2").json
    assert [r["seq"] for r in first["rows"]] == [1, 2]
    rest = auditor.get(f"/api/v1/audit?after={first['next_after']}").json
    assert rest["rows"][0]["seq"] == 3
    assert auditor.get("/api/v1/audit/verify").json["intact"] is True


def test_verify_beside_a_running_station_that_keeps_writing_sees_an_intact_chain(
    station: Station,
) -> None:
    """The check reads one consistent snapshot: rows written while it reads are no false alarm."""
    import threading
    import time

    from station.audit import verify_chain
    from station.security.crypto import Sealer, load_key
    from station.storage import Storage

    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            station.audit.append("system", "view", target=1)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        loaded = load_key(station.settings.key_file)
        assert loaded is not None
        reader = Storage(station.settings.database_path, Sealer(loaded.key), read_only=True)
        try:
            reports = []
            while len(reports) < 15 or reports[-1].rows < reports[0].rows + 100:
                time.sleep(0.002)  # let the writer in between the checks
                with reader.consistent_read() as db:
                    reports.append(verify_chain(db, reader.audit_key))
        finally:
            reader.close()
    finally:
        stop.set()
        writer.join()
    assert [r.breaks for r in reports] == [[]] * len(reports)
    assert reports[-1].rows > reports[0].rows  # the station did write meanwhile
