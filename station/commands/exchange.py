"""``station identity --out FILE`` and ``station centre trust FILE``: the key exchange with the
centre, carried on a USB stick by a supervisor (see README, "From the field to the centre");
``station packets ...`` to the centre, ``station roll ...`` from it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from station.commands.client import HttpTransport, StationClient, server_address
from station.commands.common import (
    data_options,
    open_station,
    operator_option,
    password_for,
    reported_errors,
    signed_in,
)
from station.commands.output import echo_json
from station.core import Station
from station.errors import DataDirectoryInUseError, StationError
from station.security.roles import Actor
from station.workflows.exchange import station_identity, trust_centre_keys
from station.workflows.packets import export_packets, packet_status
from station.workflows.rolls import import_roll, roll_status

ca_option = click.option(
    "--ca",
    "ca_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The centre's TLS certificate (its DATA/tls/cert.pem), when not a public one.",
)


@click.command(name="identity")
@data_options
@operator_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def identity(data_dir: Path | None, config_file: Path | None, operator: str, out: Path) -> None:
    """Write the station's id and public signing key to OUT, for `central stations add OUT`."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        document = station_identity(station, signed_in(station, operator))
    out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    click.echo(f"station {document['station_id']}: identity written to {out}")


@click.group(name="centre")
def centre() -> None:
    """The centre this station hands its packets to."""


@centre.command(name="trust")
@data_options
@operator_option
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def trust(data_dir: Path | None, config_file: Path | None, operator: str, document: Path) -> None:
    """Trust the centre of DOCUMENT (from `central identity --out DOCUMENT`)."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        keys = trust_centre_keys(station, document, signed_in(station, operator))
    click.echo(f"centre {keys.centre_id} trusted: packets will be encrypted to it")


@centre.command(name="join")
@data_options
@operator_option
@click.option("--centre", "centre_url", required=True, help="The centre's https:// address.")
@click.option("--code", required=True, help="The enrolment code the centre's admin made.")
@ca_option
def join(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    centre_url: str,
    code: str,
    ca_file: Path | None,
) -> None:
    """Register this station at the centre with an enrolment code and trust it (admin)."""
    from station.workflows.sync import join_centre

    with reported_errors(), open_station(data_dir, config_file) as station:
        keys = join_centre(station, centre_url, code, ca_file, signed_in(station, operator))
    click.echo(f"registered at centre {keys.centre_id}, trusted: packets will be encrypted to it")


@click.group(name="packets")
def packets() -> None:
    """Packets for the centre: what waits, and writing them to a stick."""


@packets.command(name="export")
@data_options
@operator_option
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def export_command(
    data_dir: Path | None, config_file: Path | None, operator: str, folder: Path, as_json: bool
) -> None:
    """Write every packet the centre has not acknowledged to FOLDER (supervisor)."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        export = export_packets(station, folder, signed_in(station, operator))
    if as_json:
        echo_json(export.to_json())
    else:
        click.echo(f"{len(export.written)} packets written to {folder}")


@packets.command(name="status")
@data_options
@operator_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status_command(
    data_dir: Path | None, config_file: Path | None, operator: str, as_json: bool
) -> None:
    """Every packet and its state: pending, exported, acknowledged, rejected (supervisor)."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        status = packet_status(station, signed_in(station, operator))
    if as_json:
        echo_json(status)
        return
    counts = ", ".join(f"{n} {state}" for state, n in sorted(status["counts"].items())) or "none"
    click.echo(f"packets: {counts}; records waiting for a packet: {status['waiting_for_a_packet']}")
    if status["centre"] is None:
        click.echo("no centre trusted yet: `station centre trust FILE`")


@click.command(name="sync")
@data_options
@operator_option
@click.option("--centre", "centre_url", required=True, help="The centre's https:// address.")
@ca_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def sync_command(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    centre_url: str,
    ca_file: Path | None,
    as_json: bool,
) -> None:
    """Send the packets the centre has not taken over the network (supervisor); exit 3 when the
    sync stopped early or the centre refused a packet."""
    from station.workflows.sync import sync_packets

    with reported_errors(), open_station(data_dir, config_file) as station:
        result = sync_packets(station, centre_url, ca_file, signed_in(station, operator))
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(
            f"{result.sent} packets sent: {result.acknowledged} acknowledged, "
            f"{result.held_at_centre} held at the centre, {len(result.rejected)} refused"
        )
        for refused in result.rejected:
            click.echo(f"  refused {refused['packet']}: {refused['reason']}")
        if result.stopped:
            click.echo(f"stopped: {result.stopped}")
    if result.stopped or result.rejected:
        raise SystemExit(3)


def on_station(
    data_dir: Path | None,
    config_file: Path | None,
    operator: str,
    local: Callable[[Station, Actor], dict[str, Any]],
    remote: Callable[[StationClient], Any],
) -> dict[str, Any]:
    """Do a job on the station opened here (its data directory's lock taken), or through the
    API of the running server that holds it (whose galleries then follow at once)."""
    with reported_errors():
        station = open_station(data_dir, config_file)
        try:
            station.open()
        except DataDirectoryInUseError as held:
            address = server_address(station.settings)
            if address is None:
                raise StationError(
                    f"{held} — and it serves no API this command could use: wait for it to end"
                ) from None
            client = StationClient(HttpTransport(address))
            client.sign_in(operator, password_for(operator))
            try:
                return dict(remote(client))
            finally:
                client.sign_out()
        try:
            return local(station, signed_in(station, operator))
        finally:
            station.close()


@click.group(name="roll")
def roll() -> None:
    """Precinct rolls from the centre: the voters intake verifies against."""


@roll.command(name="import")
@data_options
@operator_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def roll_import_command(
    data_dir: Path | None, config_file: Path | None, operator: str, file: Path, as_json: bool
) -> None:
    """Import the precinct roll in FILE (from `central roll make`), replacing an older version
    of its precinct (supervisor). The same version again changes nothing."""
    done = on_station(
        data_dir,
        config_file,
        operator,
        lambda station, actor: import_roll(station, file, actor).to_json(),
        lambda client: client.call("POST", "/rolls", data=file.read_bytes()),
    )
    if as_json:
        echo_json(done)
    else:
        click.echo(done["message"])


@roll.command(name="status")
@data_options
@operator_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def roll_status_command(
    data_dir: Path | None, config_file: Path | None, operator: str, as_json: bool
) -> None:
    """The precinct rolls held: precinct, version, voters, valid until (supervisor)."""
    status = on_station(
        data_dir,
        config_file,
        operator,
        lambda station, actor: roll_status(station, actor),
        lambda client: client.call("GET", "/rolls"),
    )
    if as_json:
        echo_json(status)
        return
    for held in status["rolls"]:
        expired = " (expired: the next purge deletes it)" if held["expired"] else ""
        click.echo(
            f"precinct {held['precinct']}: version {held['version']}, {held['voters']} voters, "
            f"valid until {held['valid_until']}{expired}"
        )
    if not status["rolls"]:
        click.echo("no precinct roll held")
    if status["centre"] is None:
        click.echo("no centre trusted yet: `station centre trust FILE`")
