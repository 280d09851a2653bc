"""Anomaly alerts for the auditor: each rule on audit rows alone, then through the station, the
API and `station audit alerts`."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from matcher.face import FaceEncoder
from station.alerts import find_alerts
from station.audit import Break, ChainReport
from station.cli import main
from station.config import Settings
from station.core import Station
from station.security.roles import SYSTEM
from tests.conftest import TEST_PASSWORD, cli_env, client_as, make_settings

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SETTINGS = Settings(
    alert_window_seconds=3600,
    alert_record_changes=3,
    alert_record_operators=2,
    alert_bulk_reads=5,
    alert_failed_logins=4,
    alert_failed_login_seconds=60,
)


def rows(*events: tuple[float, str, str, str | None]) -> list[dict[str, Any]]:
    """Audit rows from (minutes after START, operator, action, target)."""
    return [
        {
            "seq": i,
            "at": (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
            "operator": operator,
            "action": action,
            "target": target,
            "outcome": "ok",
        }
        for i, (minutes, operator, action, target) in enumerate(events, start=1)
    ]


def kinds(found: list) -> list[str]:
    return [a.kind for a in found]


def test_a_record_changed_more_than_n_times_in_the_window_raises_an_alert() -> None:
    often = rows(*[(m, "chief", "correct", "7") for m in (0, 10, 20, 30)])
    found = find_alerts(often, SETTINGS)
    assert kinds(found) == ["record_changes"]
    assert found[0].subject == "7" and found[0].count == 4 and found[0].seqs == [1, 2, 3, 4]


def test_the_same_changes_spread_beyond_the_window_raise_nothing() -> None:
    spread = rows(*[(m, "chief", "correct", "7") for m in (0, 50, 100, 150)])
    assert find_alerts(spread, SETTINGS) == []


def test_a_record_changed_by_more_than_m_operators_raises_an_alert() -> None:
    many = rows((0, "ann", "correct", "9"), (5, "bob", "block", "9"), (9, "cat", "unblock", "9"))
    found = find_alerts(many, SETTINGS)
    assert kinds(found) == ["record_operators"]
    assert found[0].count == 3


def test_bulk_views_or_exports_by_one_operator_raise_an_alert() -> None:
    reads = rows(*[(i, "clerk", "view" if i % 2 else "export", str(i)) for i in range(6)])
    found = find_alerts(reads, SETTINGS)
    assert kinds(found) == ["bulk_reads"] and found[0].subject == "clerk"
    few = rows(*[(i, "clerk", "view", str(i)) for i in range(5)])
    assert find_alerts(few, SETTINGS) == []


def test_a_burst_of_failed_sign_ins_raises_an_alert() -> None:
    burst = rows(*[(i * 0.1, "-", "login_failed", f"user{i}") for i in range(5)])
    found = find_alerts(burst, SETTINGS)
    assert kinds(found) == ["failed_logins"]
    assert "5 failed sign-ins to 5 account(s)" in found[0].message
    slow = rows(*[(i * 2, "-", "login_failed", "user") for i in range(5)])
    assert find_alerts(slow, SETTINGS) == []


def test_a_break_in_the_audit_chain_raises_an_alert() -> None:
    chain = ChainReport(10, 10, [Break("deleted", 5, 6, "row 5: seq 4 missing before it")])
    found = find_alerts([], SETTINGS, chain)
    assert kinds(found) == ["chain_deleted"] and found[0].seqs == [6]


def test_a_clock_set_back_raises_an_alert() -> None:
    back = rows((30, "clerk", "view", "1"), (0, "clerk", "view", "2"))
    assert kinds(find_alerts(back, SETTINGS)) == ["clock_backwards"]


def test_refusals_are_not_counted_as_changes() -> None:
    refused = rows(*[(m, "clerk", "correct", "7") for m in (0, 1, 2, 3)])
    for row in refused:
        row["outcome"] = "denied"
    assert find_alerts(refused, SETTINGS) == []


def test_auditors_read_alerts_over_the_api_and_reading_them_is_audited(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data", alert_failed_logins=3)
    with Station(settings, encoder=shared_encoder) as station:
        app = create(station)
        for _ in range(4):
            app.test_client().post(
                "/api/v1/auth/login", json={"login": "nobody", "password": "Wrong-pass-1"}
            )
        auditor = client_as(app, station, "auditor")
        report = auditor.get("/api/v1/audit/alerts").json
        assert [a["kind"] for a in report["alerts"]] == ["failed_logins"]
        assert station.audit.rows(limit=1000)[-1]["action"] == "alerts"
        operator = client_as(app, station, "operator")
        assert operator.get("/api/v1/audit/alerts").status_code == 403
        bad = auditor.get("/api/v1/audit/alerts?since=yesterday")
        assert bad.status_code == 400 and bad.json["error"]["field"] == "since"


def create(station: Station) -> Flask:
    from station.api import create_app

    return create_app(station=station)


def test_the_alerts_command_exits_3_and_names_a_broken_chain(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data")
    with Station(settings, encoder=shared_encoder) as station:
        station.operators.create(SYSTEM, "eve", "auditor", TEST_PASSWORD)
    env = cli_env(settings, "eve")
    clean = CliRunner().invoke(main, ["audit", "alerts"], env=env)
    assert clean.exit_code == 0, clean.output
    assert "no alerts" in clean.output
    with closing(sqlite3.connect(settings.database_path)) as db:  # edited behind its back
        db.execute("DROP TRIGGER audit_no_update")
        db.execute("UPDATE audit SET outcome = 'forged' WHERE seq = 2")
        db.commit()
    broken = CliRunner().invoke(main, ["audit", "alerts"], env=env)
    assert broken.exit_code == 3, broken.output
    assert "chain_edited" in broken.output


@pytest.mark.parametrize("window", [0, -5])
def test_alert_settings_must_be_positive(tmp_path: Path, window: int) -> None:
    from station.config import ConfigError

    with pytest.raises(ConfigError, match="alert_window_seconds"):
        make_settings(tmp_path / "data", alert_window_seconds=window)
