"""``station identity --out FILE`` and ``station centre trust FILE``: the key exchange with the
centre, carried on a USB stick by a supervisor (see README, "From the field to the centre")."""

from __future__ import annotations

import json
from pathlib import Path

import click

from station.commands.common import (
    data_options,
    open_station,
    operator_option,
    reported_errors,
    signed_in,
)
from station.workflows.exchange import station_identity, trust_centre_keys


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
