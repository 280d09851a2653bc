"""The desk's jobs from the command line, for technicians and scripts: ``station enroll``,
``station intake``, ``station identify``, ``station holds``, ``station decide``, ``station show``.

Each command makes the API request the console or a client would make (:mod:`client`): to the
running server when one holds the data directory, else to the station opened here. The rules are
the workflows' own: consent, de-duplication and holds, who may see names.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from station.commands.client import StationClient, connected
from station.commands.common import (
    data_options,
    operator_option,
    password_for,
    reported_errors,
    require_station,
    settings_from,
)
from station.commands.output import echo_json
from station.logsetup import configure_logging


def _finger(value: str) -> tuple[int, Path]:
    position, sep, path = value.partition("=")
    if not sep or not position.isdigit():
        raise click.BadParameter("write POSITION=FILE, such as 2=right_index.png")
    file = Path(path)
    if not file.is_file():
        raise click.BadParameter(f"{path}: no such file")
    return int(position), file


@dataclass(frozen=True)
class Capture:
    """What a command brings of the person: the face (a photo file, else the camera) and the
    fingers (files and/or the scanner), and the purpose."""

    photo: Path | None
    fingers: tuple[str, ...]
    scan: str | None
    dpi: float | None
    purpose: str | None
    as_json: bool

    def request(
        self, face: bool = True, **fields: object
    ) -> tuple[dict[str, str], dict[str, Path]]:
        """The form fields and files of the workflow request."""
        files: dict[str, Path] = {}
        for value in self.fingers:
            position, path = _finger(value)
            files[f"finger_{position}"] = path
        if self.photo is not None:
            files["image"] = self.photo
        form = {name: str(value) for name, value in fields.items() if value not in (None, False)}
        if face and self.photo is None:
            form["capture"] = "true"
        extra: dict[str, object] = {
            "scan_fingers": self.scan,
            "dpi": self.dpi,
            "purpose": self.purpose,
        }
        form.update({name: str(value) for name, value in extra.items() if value is not None})
        return form, files


def capture_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of a :class:`Capture`, handed to the command as ``capture``."""

    @functools.wraps(command)
    def with_capture(
        photo: Path | None,
        fingers: tuple[str, ...],
        scan: str | None,
        dpi: float | None,
        purpose: str | None,
        as_json: bool,
        **rest: Any,
    ) -> Any:
        return command(capture=Capture(photo, fingers, scan, dpi, purpose, as_json), **rest)

    options = [
        click.option(
            "--photo",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="The face from this photo (default: the station's camera).",
        ),
        click.option(
            "--finger",
            "fingers",
            multiple=True,
            help="POSITION=FILE, a finger image at its ISO position (2 right index, 7 left "
            "index, ...); repeat for each finger.",
        ),
        click.option("--scan", help="Take these ISO positions from the scanner, e.g. 2,7."),
        click.option("--dpi", type=float, help="Resolution of the finger files (default 500)."),
        click.option("--purpose", help="The purpose (default: the station's)."),
        click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON."),
    ]
    decorated: Callable[..., Any] = with_capture
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def run(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    job: Callable[[StationClient], Any],
) -> Any:
    """Sign in to the station's API as ``operator`` and do ``job``; errors as one line."""
    settings = settings_from(data_dir, config_file)
    with reported_errors():
        require_station(settings)
        configure_logging(settings.log_level, settings.log_dir, stderr_level="WARNING")
        with connected(settings, operator, password_for(operator)) as client:
            return job(client)


def post(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    path: str,
    form: dict[str, str],
    files: dict[str, Path],
) -> Any:
    """A workflow request with its fields and files, and the station's answer."""
    return run(
        data_dir, config_file, operator, lambda c: c.call("POST", path, fields=form, files=files)
    )


@click.command()
@data_options
@operator_option
@capture_options
@click.option("--mrz", help="The card's MRZ: its chip is read on the station's card reader.")
@click.option("--name", help="The person's full name (without a card).")
@click.option("--document-number", help="ID document number (without a card).")
@click.option("--document-type", help="ID document type, e.g. 'ID card' (without a card).")
@click.option("--nationality", help="3-letter ICAO code, e.g. KGZ (without a card).")
@click.option("--birth-date", help="YYYY-MM-DD (without a card).")
@click.option("--sex", type=click.Choice(["M", "F", "X"], case_sensitive=False))
@click.option("--consent", is_flag=True, help="The person heard the notice and agreed.")
def enroll(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    capture: Capture,
    consent: bool,
    **person: str | None,
) -> None:
    """Enroll a person: card or typed fields, face, fingers, consent. A likely duplicate is held
    for a supervisor (exit status 4); enrolled, 0."""
    form, files = capture.request(True, **person)
    if consent:
        form["consent"] = "true"
    answer = post(data_dir, config_file, operator, "/enrollments", form, files)
    if capture.as_json:
        echo_json(answer)
    else:
        record = answer["record"]
        click.echo(f"record {record['id']}: {answer['status']} ({record['name']})")
        for reason in answer["reasons"]:
            click.echo(f"  held: {reason}")
        for candidate in answer["duplicates"]:
            click.echo(f"  looks like record {candidate['record_id']} (LLR {candidate['llr']})")
    sys.exit(4 if answer["status"] == "held" else 0)


@click.command()
@data_options
@operator_option
@capture_options
@click.option("--mrz", required=True, help="The card's MRZ: its chip is read on the reader.")
def intake(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    capture: Capture,
    mrz: str,
) -> None:
    """Verify an applicant at intake: card, live face, a finger; the decision and the receipt.
    Exit status 0 accepted, 3 refused, 4 referred to a supervisor."""
    form, files = capture.request(mrz=mrz)
    answer = post(data_dir, config_file, operator, "/applications", form, files)
    if capture.as_json:
        echo_json(answer)
    else:
        receipt = answer["receipt"]
        click.echo(f"{answer['decision'].upper()}: application {receipt['application_number']}")
        for reason in answer["reasons"]:
            click.echo(f"  [{'x' if reason['ok'] else ' '}] {reason['message']}")
        click.echo(f"receipt code (shown once): {receipt['status_code']}")
    sys.exit({"accepted": 0, "refused": 3}.get(answer["decision"], 4))


@click.command()
@data_options
@operator_option
@capture_options
@click.option("--top-k", type=int, help="How many candidates to list (default from settings).")
@click.option("--no-face", is_flag=True, help="Fingers only: no photo, no camera.")
def identify(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    capture: Capture,
    top_k: int | None,
    no_face: bool,
) -> None:
    """Identify a person without a card (1:N, face and fingers fused). Exit status 0 on a
    match, 3 on none. Names of candidates for supervisors only."""
    form, files = capture.request(face=not no_face, top_k=top_k)
    answer = post(data_dir, config_file, operator, "/identifications", form, files)
    if capture.as_json:
        echo_json(answer)
    else:
        best = answer["match"]
        click.echo(
            (f"MATCH record {best['record_id']}" if best else "NO MATCH")
            + f" (threshold {answer['threshold']:.1f}, gallery {answer['gallery_size']})"
        )
        for c in answer["candidates"]:
            name = f"  {c['name']}" if "name" in c else ""
            click.echo(f"  {c['rank']:>2}  record {c['record_id']:<8} LLR {c['llr']:6.1f}{name}")
    sys.exit(0 if answer["match"] else 3)


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
    """Enrollments held as likely duplicates, waiting for a decision (supervisor)."""
    query = f"?purpose={purpose}" if purpose else ""
    answer = run(data_dir, config_file, operator, lambda c: c.call("GET", f"/holds{query}"))
    if as_json:
        echo_json(answer["holds"])
        return
    if not answer["holds"]:
        click.echo(f"no enrollment of {answer['purpose']} is held")
    for hold in answer["holds"]:
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
@click.option("--reason", required=True, help="Why (kept with the record's status changes).")
def decide(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    record_id: int,
    decision: str,
    reason: str,
) -> None:
    """Decide on a held enrollment: accept (active), reject (deleted) or dispute (blocked)."""
    body = {"decision": decision, "reason": reason}
    answer = run(
        data_dir,
        config_file,
        operator,
        lambda c: c.call("POST", f"/records/{record_id}/decision", body),
    )
    click.echo(f"record {record_id}: {answer['status']}")


@click.command()
@data_options
@operator_option
@click.argument("record_id", type=int)
def show(data_dir: Path | None, config_file: Path | None, operator: str, record_id: int) -> None:
    """Print one record as JSON (supervisor; special-category fields included)."""
    echo_json(
        run(data_dir, config_file, operator, lambda c: c.call("GET", f"/records/{record_id}"))
    )
