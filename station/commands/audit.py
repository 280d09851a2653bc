"""``station audit``: check the chain, read the rows."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from station.audit import verify_chain
from station.commands.common import (
    data_options,
    open_station,
    operator_option,
    reported_errors,
    settings_from,
    signed_in,
)
from station.commands.output import echo_json
from station.config import load_secrets
from station.security.crypto import KeyProblemError, Sealer, load_key
from station.storage import Storage
from station.workflows import audit_alerts, read_audit


@click.group()
def audit() -> None:
    """The audit trail: verify its chain, show its rows."""


@audit.command()
@data_options
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(data_dir: Path | None, config_file: Path | None, as_json: bool) -> None:
    """Check the audit chain: exit status 0 only when it is intact.

    Reads the database without taking it from a running station; needs the station key (the
    chain's MAC key is sealed with it).
    """
    settings = settings_from(data_dir, config_file)
    with reported_errors():
        loaded = load_key(settings.key_file, load_secrets().key)
        if loaded is None:
            raise KeyProblemError(f"no key at {settings.key_file}: set key_file or STATION_KEY")
        storage = Storage(settings.database_path, Sealer(loaded.key), read_only=True)
        try:
            with storage.consistent_read() as db:  # a station may be writing beside us
                report = verify_chain(db, storage.audit_key)
        finally:
            storage.close()
    if as_json:
        echo_json(report.to_json())
    elif report.intact:
        click.echo(f"audit chain intact: {report.rows} rows")
    else:
        first = report.breaks[0]
        click.echo(f"audit chain BROKEN: first break: {first.kind}: {first.message}")
        for more in report.breaks[1:]:
            click.echo(f"  then {more.kind}: {more.message}")
    sys.exit(0 if report.intact else 1)


@audit.command()
@data_options
@operator_option
@click.option("--after", type=int, default=0, show_default=True, help="Rows after this seq.")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--target", help="Only rows about this record id or login.")
@click.option("--json", "as_json", is_flag=True)
def show(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    after: int,
    limit: int,
    target: str | None,
    as_json: bool,
) -> None:
    """Print audit rows, oldest first (auditor)."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        rows = read_audit(station, after, limit, target, actor=signed_in(station, operator)).rows
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['seq']:>6} {row['at']} {row['operator']:<16} {row['action']:<15} "
            f"{row['target'] or '-':<10} {row['outcome']}"
        )


@audit.command()
@data_options
@operator_option
@click.option("--since", help="From this time (ISO 8601, UTC); default the last 7 days.")
@click.option("--json", "as_json", is_flag=True)
def alerts(
    data_dir: Path | None, config_file: Path | None, operator: str, since: str | None, as_json: bool
) -> None:
    """Anomalies in the audit trail (auditor). Exit status 0 when there are none, 3 if any."""
    start = None
    with reported_errors():
        if since:
            start = datetime.fromisoformat(since.replace("Z", "+00:00"))
            if start.tzinfo is None:
                start = start.replace(tzinfo=UTC)
    with reported_errors(), open_station(data_dir, config_file) as station:
        report = audit_alerts(station, since=start, actor=signed_in(station, operator))
    if as_json:
        echo_json(report.to_json())
    elif not report.alerts:
        click.echo(f"no alerts in {report.rows} rows since {report.since}")
    else:
        click.echo(f"{len(report.alerts)} alert(s) in {report.rows} rows since {report.since}:")
        for alert in report.alerts:
            click.echo(f"  {alert.kind:<18} {alert.message}")
    sys.exit(3 if report.alerts else 0)
