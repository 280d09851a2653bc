"""``station holds``, ``station decide`` and ``station identify-person``: the supervisor's side of
the workflows from the command line (the desk itself uses the API)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from matcher.imageio import read_rgb
from station.commands.common import (
    data_options,
    open_station,
    operator_option,
    reported_errors,
    signed_in,
)
from station.commands.output import echo_json
from station.security.roles import Permission
from station.workflows import decide_hold, finger_template, identify_person


@click.command()
@data_options
@operator_option
@click.option("--purpose", help="The purpose whose holds to list (default: the station's).")
@click.option("--json", "as_json", is_flag=True)
def holds(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    purpose: str | None,
    as_json: bool,
) -> None:
    """Enrolments held as likely duplicates, waiting for a decision (supervisor)."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        actor = signed_in(station, operator)
        station.allow(actor, Permission.DECIDE)
        chosen = station.purpose(purpose)
        found = [
            {"record_id": rid, **(station.storage.get_hold(rid) or {})}
            for rid in station.storage.held_records(chosen)
        ]
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo(f"no enrolment of {chosen} is held")
    for hold in found:
        others = ", ".join(str(c["record_id"]) for c in hold.get("candidates", []))
        click.echo(
            f"record {hold['record_id']:<8} held {hold.get('held_at')} by {hold.get('held_by')}: "
            f"{', '.join(hold.get('reasons', []))}" + (f" (like {others})" if others else "")
        )


@click.command()
@data_options
@operator_option
@click.argument("record_id", type=int)
@click.argument("decision", type=click.Choice(["accept", "reject", "dispute"]))
@click.option("--reason", required=True, help="Why (kept in the audit trail's record).")
def decide(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    record_id: int,
    decision: str,
    reason: str,
) -> None:
    """Decide on a held enrolment: accept (active), reject (deleted) or dispute (blocked)."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        record = decide_hold(station, record_id, decision, reason, signed_in(station, operator))
    click.echo(f"record {record_id}: {'deleted' if record is None else record.status.value}")


def _finger(value: str) -> tuple[int, Path]:
    position, sep, path = value.partition("=")
    if not sep or not position.isdigit():
        raise click.BadParameter("write POSITION=FILE, such as 2=right_index.png")
    return int(position), Path(path)


@click.command(name="identify-person")
@data_options
@operator_option
@click.option("--photo", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--finger", "fingers", multiple=True, help="POSITION=FILE (ISO 1-10), repeatable.")
@click.option("--dpi", type=float, default=500, show_default=True)
@click.option("--purpose")
@click.option("--top-k", type=int)
@click.option("--json", "as_json", is_flag=True)
def identify_person_command(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    photo: Path | None,
    fingers: tuple[str, ...],
    dpi: float,
    purpose: str | None,
    top_k: int | None,
    as_json: bool,
) -> None:
    """1:N without a card, face and fingers fused. Exit status 0 on a match, 3 on none."""
    parsed = [_finger(f) for f in fingers]
    with reported_errors(), open_station(data_dir, config_file) as station:
        actor = signed_in(station, operator)
        templates: dict[int, Any] = {
            position: finger_template(station, position, read_rgb(path), dpi)
            for position, path in parsed
        }
        result = identify_person(
            station,
            None if photo is None else read_rgb(photo),
            templates,
            purpose=purpose,
            top_k=top_k,
            actor=actor,
        )
    names = actor.may(Permission.VIEW_SPECIAL)
    if as_json:
        echo_json(result.to_json(names))
    else:
        best = result.match
        click.echo(
            (f"MATCH record {best.record.id}" if best else "NO MATCH")
            + f" (threshold {result.threshold:.1f}, gallery {result.gallery_size})"
        )
        for rank, c in enumerate(result.candidates, start=1):
            name = f"  {c.record.fields.name}" if names else ""
            click.echo(f"  {rank:>2}  record {c.record.id:<8} LLR {c.fused.llr:6.1f}{name}")
    sys.exit(0 if result.match else 3)
