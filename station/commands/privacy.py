"""``station export`` (subject access) and ``station purge`` (retention)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from station.commands.common import (
    data_options,
    open_station,
    operator_option,
    reported_errors,
    signed_in,
)
from station.commands.output import echo_json
from station.workflows import export_record, purge_expired, render_text


@click.command(name="export")
@data_options
@operator_option
@click.argument("record_id", type=int)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "text"]),
    default="json",
    show_default=True,
    help="json for a machine, text for the person.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (created with mode 0600) instead of printing.",
)
def export(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    record_id: int,
    fmt: str,
    out: Path | None,
) -> None:
    """Everything held about the person of RECORD_ID (subject access; supervisor)."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        data = export_record(station, record_id, actor=signed_in(station, operator))
    text = render_text(data) if fmt == "text" else json.dumps(data, indent=2, ensure_ascii=False)
    if out is None:
        click.echo(text, nl=fmt == "json")
        return
    with reported_errors():
        if out.exists():
            raise ValueError(f"{out} exists: choose a new file")
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text if fmt == "text" else text + "\n")
    click.echo(f"record {record_id} exported to {out}", err=True)


@click.command()
@data_options
@operator_option
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def purge(
    data_dir: Path | None, config_file: Path | None, operator: str, dry_run: bool, as_json: bool
) -> None:
    """Delete records and receipts past their retention period (supervisor or admin).

    Blocked records are kept while under dispute; every deletion is audited.
    """
    with reported_errors(), open_station(data_dir, config_file) as station:
        report = purge_expired(station, signed_in(station, operator), dry_run=dry_run)
    if as_json:
        echo_json(report.to_json())
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {len(report.purged)} record(s) and {report.receipts_purged} receipt(s) past "
        "their retention period"
    )
    for item in report.purged:
        click.echo(
            f"  record {item['record_id']:<8} {item['purpose']:<20} enrolled {item['created_at']} "
            f"({item['age_days']} days)"
        )
    if report.kept_blocked:
        click.echo(
            "kept while blocked (under dispute): " + ", ".join(str(i) for i in report.kept_blocked)
        )
    for purpose, count in report.no_period.items():
        click.echo(f"kept: {count} record(s) of {purpose}, which has no retention period set")
