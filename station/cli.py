"""The ``station`` command: run the station's server; the desk's jobs for technicians and scripts
(through the running server's API, or on the station directly when none runs); devices, accounts,
audit, keys, backups, personal-data duties; calibration and evaluation."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from station.commands.audit import audit
from station.commands.backup import backup
from station.commands.calibrate import calibrate
from station.commands.camera import camera, eval_quality
from station.commands.card import card
from station.commands.client import write_server_address
from station.commands.common import (
    EXPECTED_ERRORS,
    data_options,
    open_station,
    reported_errors,
    settings_from,
)
from station.commands.eval_face import eval_face
from station.commands.eval_fingerprint import fingerprint
from station.commands.exchange import centre, identity, packets, roll, sync_command
from station.commands.key import key
from station.commands.operator import operator as operator_group
from station.commands.output import fail
from station.commands.privacy import export, purge
from station.commands.scanner import scanner
from station.commands.workflows import decide, enroll, holds, identify, intake, show
from station.config import load_secrets
from station.core import Station
from station.logsetup import close_logging, configure_logging

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
    from station.simulation import Population, SimulatedDesk, simulated_device_urls

    settings = settings_from(
        data_dir, config_file, host=host, port=port, server_threads=server_threads, **device_urls
    )
    population: Population | None = None
    unset: dict[str, str] = {}  # the devices --sim simulates
    if sim:
        with reported_errors():
            simulated = simulated_device_urls(settings.datasets_dir, settings.data_dir / "sim-csca")
            population = Population.from_datasets(settings.datasets_dir)
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
    desk = None
    if population is not None and unset:  # the simulated people who come to the station
        desk = SimulatedDesk.attach(station.devices, population)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    address: Path | None = None
    try:
        with reported_errors():
            one_time = station.ensure_admin(load_secrets().admin_password)
        if one_time:
            # On the console only, never in the log file.
            click.echo(
                f"first start: created the account 'admin' with the one-time password {one_time}\n"
                f"sign in with it at http://{settings.host}:{settings.port}/ (the console) and "
                "choose a new password; then create the operators' accounts",
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
        address = write_server_address(settings, settings.host, settings.port)
        click.echo(
            f"station listening on http://{settings.host}:{settings.port}/ (console; API at "
            "/api/v1) "
            f"(data {settings.data_dir}; camera {settings.camera_url or 'none'}; "
            f"scanner {settings.scanner_url or 'none'}; card reader {settings.card_reader_url or 'none'})",
            err=True,
        )
        if desk is not None:
            citizens = desk.citizens
            click.echo(
                f"simulated desk: {len(citizens)} citizens ({citizens[0].id}-{citizens[-1].id}) "
                "from the datasets; nobody at the station until one is chosen in the console's "
                "simulation bar",
                err=True,
            )
        server.run()
    finally:
        if address is not None:
            address.unlink(missing_ok=True)
        station.close()


@main.group(name="eval")
def evaluate() -> None:
    """Measure accuracy on labelled data."""


main.add_command(scanner)
main.add_command(card)
main.add_command(camera)
main.add_command(operator_group)
main.add_command(audit)
main.add_command(key)
main.add_command(identity)
main.add_command(centre)
main.add_command(packets)
main.add_command(sync_command)
main.add_command(roll)
main.add_command(backup)
main.add_command(export)
main.add_command(purge)
for job in (enroll, intake, identify, holds, decide, show):
    main.add_command(job)
evaluate.add_command(eval_quality)
evaluate.add_command(eval_face)
evaluate.add_command(fingerprint)
main.add_command(calibrate)
