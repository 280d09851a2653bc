"""The ``station`` command: run the daemon, enroll and identify from files, evaluate accuracy."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import click

from matcher.imageio import read_rgb
from station.commands.audit import audit
from station.commands.backup import backup
from station.commands.calibrate import calibrate
from station.commands.camera import camera, eval_quality
from station.commands.card import card
from station.commands.common import (
    EXPECTED_ERRORS,
    data_options,
    open_station,
    operator_option,
    reported_errors,
    settings_from,
    signed_in,
)
from station.commands.eval_fingerprint import fingerprint
from station.commands.key import key
from station.commands.operator import operator as operator_group
from station.commands.output import echo_json, fail
from station.commands.privacy import export, purge
from station.commands.scanner import scanner
from station.commands.workflows import decide, holds, identify_person_command
from station.logsetup import close_logging, configure_logging
from station.records import PersonFields
from station.service import Station

__all__ = [
    "EXPECTED_ERRORS",
    "data_options",
    "main",
    "open_station",
    "reported_errors",
    "settings_from",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="biometric-station")
def main() -> None:
    """Biometric capture and identification station."""
    click.get_current_context().call_on_close(close_logging)


@main.command()
@data_options
@click.option("--host", help="Address to listen on (default 127.0.0.1: this machine only).")
@click.option("--port", type=int, help="Port to listen on (default 8470).")
@click.option("--camera", "camera_url", help="Camera URL, e.g. sim://?dir=PATH.")
@click.option(
    "--scanner", "scanner_url", help="Fingerprint scanner URL, e.g. serial:///dev/ttyUSB0."
)
@click.option("--card-reader", "card_reader_url", help="ID-card reader URL, e.g. pcsc://.")
@click.option("--sim", is_flag=True, help="Simulate every device not otherwise configured.")
@click.option("--threads", "server_threads", type=int, help="Request worker threads (default 8).")
def serve(
    data_dir: Path | None,
    config_file: Path | None,
    host: str | None,
    port: int | None,
    sim: bool,
    server_threads: int | None,
    **device_urls: str | None,
) -> None:
    """Run the station's HTTP API until stopped (Ctrl-C or SIGTERM)."""
    from station.api import create_app
    from station.api.security import front_door
    from station.api.server import ServerLimits, make_server
    from station.simulation import simulated_device_urls

    settings = settings_from(
        data_dir, config_file, host=host, port=port, server_threads=server_threads, **device_urls
    )
    if sim:
        with reported_errors():
            simulated = simulated_device_urls(settings.datasets_dir, settings.data_dir / "sim-csca")
        unset = {name: url for name, url in simulated.items() if not getattr(settings, name)}
        settings = settings_from(
            data_dir,
            config_file,
            host=host,
            port=port,
            server_threads=server_threads,
            **{**device_urls, **unset},
        )
    configure_logging(settings.log_level, settings.log_dir)
    with reported_errors():
        station = Station(settings).open()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with reported_errors():
            one_time = station.ensure_admin(os.environ.get("STATION_ADMIN_PASSWORD") or None)
        if one_time:
            # On the console only, never in the log file.
            click.echo(
                f"first start: created the account 'admin' with the one-time password {one_time}\n"
                "sign in with it (POST /api/v1/auth/login) and choose a new password; then create "
                "the operators' accounts",
                err=True,
            )
        app = create_app(station=station)
        limits = ServerLimits(
            max_body_bytes=settings.max_upload_bytes + 1024 * 1024,  # the app's 413 says more
            header_seconds=settings.request_header_seconds,
            body_seconds=settings.request_body_seconds,
            connection_limit=settings.connection_limit,
            threads=settings.server_threads,
        )
        try:
            server = make_server(app, settings.host, settings.port, limits, front_door(station))
        except OSError as exc:
            fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
        click.echo(
            f"station listening on http://{settings.host}:{settings.port}/api/v1 "
            f"(data {settings.data_dir}; camera {settings.camera_url or 'none'}; "
            f"scanner {settings.scanner_url or 'none'}; card reader {settings.card_reader_url or 'none'})",
            err=True,
        )
        server.run()
    finally:
        station.close()


def read_photo(path: Path) -> Any:
    with reported_errors():
        return read_rgb(path)


@main.command()
@data_options
@operator_option
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The person's full name.")
@click.option("--document-number", help="ID document number.")
@click.option("--document-type", help="ID document type (for example 'ID card', 'passport').")
@click.option("--nationality", help="3-letter ICAO code, for example KGZ.")
@click.option("--birth-date", help="YYYY-MM-DD.")
@click.option("--sex", type=click.Choice(["M", "F", "X"], case_sensitive=False))
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def enroll(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    image: Path,
    as_json: bool,
    **fields: Any,
) -> None:
    """Enroll the person in IMAGE."""
    pixels = read_photo(image)
    with reported_errors(), open_station(data_dir, config_file) as station:
        actor = signed_in(station, operator)
        record = station.enroll(pixels, PersonFields.from_mapping(fields), actor=actor)
    if as_json:
        echo_json(record.to_json())
    else:
        click.echo(f"enrolled record {record.id}: {record.fields.name}")


@main.command()
@data_options
@operator_option
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--top-k", type=int, help="How many candidates to list (default from settings).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def identify(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    image: Path,
    top_k: int | None,
    as_json: bool,
) -> None:
    """Search the gallery for the person in IMAGE (1:N). Exit status 0 on a match, 3 on none."""
    pixels = read_photo(image)
    with reported_errors(), open_station(data_dir, config_file) as station:
        result = station.identify(pixels, top_k=top_k, actor=signed_in(station, operator))
    if as_json:
        echo_json(result.to_json())
    else:
        verdict = f"MATCH record {result.match.record.id}" if result.match else "NO MATCH"
        click.echo(f"{verdict} (threshold {result.threshold}, gallery {result.gallery_size})")
        for c in result.candidates:
            flag = "*" if c.match else " "
            click.echo(
                f"{flag} {c.rank:>2}  record {c.record.id:<8} {c.distance:.4f}  {c.record.fields.name}"
            )
    sys.exit(0 if result.match else 3)


@main.command()
@data_options
@operator_option
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--record", "record_id", type=int, required=True, help="The record to verify against."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    image: Path,
    record_id: int,
    as_json: bool,
) -> None:
    """Check whether IMAGE shows the person of a record (1:1). Exit status 0 on a match, 3 if not."""
    pixels = read_photo(image)
    with reported_errors(), open_station(data_dir, config_file) as station:
        result = station.verify(record_id, pixels, actor=signed_in(station, operator))
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(
            f"{'MATCH' if result.match else 'NO MATCH'}: distance {result.distance:.4f} "
            f"(threshold {result.threshold})"
        )
    sys.exit(0 if result.match else 3)


@main.command()
@data_options
@operator_option
@click.argument("record_id", type=int)
def show(data_dir: Path | None, config_file: Path | None, operator: str, record_id: int) -> None:
    """Print one record as JSON (special-category fields for supervisors)."""
    from station.security.roles import Permission

    with reported_errors(), open_station(data_dir, config_file) as station:
        actor = signed_in(station, operator)
        record = station.get_record(record_id, actor=actor)
        echo_json(record.to_json(special=actor.may(Permission.VIEW_SPECIAL)))


@main.group(name="eval")
def evaluate() -> None:
    """Measure accuracy on labelled data."""


@evaluate.command(name="face")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--threshold", type=float, help="Decision threshold (default: the station's setting)."
)
@click.option(
    "--holdout",
    type=float,
    default=0.2,
    show_default=True,
    help="Fraction of people never enrolled (for FPIR).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the enrolled/held-out split."
)
@click.option("--limit", type=int, help="Use at most this many people.")
@click.option("--workers", type=int, default=0, help="Worker processes (default: one per core).")
@click.option(
    "--portrait", is_flag=True, help="Match token portraits (aligned crops), not the raw photos."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_face(
    folder: Path,
    threshold: float | None,
    holdout: float,
    seed: int,
    limit: int | None,
    workers: int,
    portrait: bool,
    as_json: bool,
) -> None:
    """Open-set identification on FOLDER/<person>/<photos> (the LFW layout)."""
    from calibration.face_eval import evaluate_face_identification
    from calibration.sample_cache import default_cache_root

    settings = settings_from(None, None)
    configure_logging("WARNING", None)
    with reported_errors():
        result = evaluate_face_identification(
            folder,
            threshold=threshold if threshold is not None else settings.face_identify_threshold,
            holdout=holdout,
            seed=seed,
            limit=limit,
            workers=workers,
            portrait=portrait,
            cache_root=default_cache_root(),
        )
    if as_json:
        echo_json(result.to_json())
        return
    click.echo(
        f"rank-1 identification rate  {result.rank1:.4f}  ({result.mated_probes} mated probes)\n"
        f"FNIR at threshold {result.threshold}   {result.fnir:.4f}\n"
        f"FPIR at threshold {result.threshold}   {result.fpir:.4f}  "
        f"({result.nonmated_probes} probes of {result.held_out_people} never-enrolled people)\n"
        f"gallery {result.gallery}, probes {result.probes}, images {result.images}, "
        f"no face found {result.failures_to_acquire}, {result.seconds:.1f} s"
    )


main.add_command(scanner)
main.add_command(card)
main.add_command(camera)
main.add_command(operator_group)
main.add_command(audit)
main.add_command(key)
main.add_command(backup)
main.add_command(export)
main.add_command(purge)
main.add_command(holds)
main.add_command(decide)
main.add_command(identify_person_command)
evaluate.add_command(eval_quality)
evaluate.add_command(fingerprint)
main.add_command(calibrate)
