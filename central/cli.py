"""``central``: the centre's commands. Keys and trust for now: ``central identity --out FILE``,
``central stations add FILE``, ``central stations revoke STATION_ID``, ``central stations list``.

State lives under ``--data DIR`` (or ``$CENTRAL_DATA``, default ``central-data/`` in the checkout).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from central.keys import CentreKeyError, centre_keys, identity_document
from central.stations import StationRegistry, StationRegistryError
from station.exchange.identity import IdentityError

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "central-data"


def data_dir(given: Path | None) -> Path:
    chosen = given or Path(os.environ.get("CENTRAL_DATA") or DEFAULT_DATA)
    chosen.mkdir(parents=True, exist_ok=True, mode=0o700)
    return chosen


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


data_option = click.option(
    "--data",
    "data",
    type=click.Path(file_okay=False, path_type=Path),
    help="The centre's data directory (default: $CENTRAL_DATA, else central-data/ in the checkout).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The central register: the stations it trusts and (coming) the packets they send."""


@main.command()
@data_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def identity(data: Path | None, out: Path) -> None:
    """Write the centre's public keys to OUT, for `station centre trust OUT` at each station."""
    try:
        keys = centre_keys(data_dir(data))
    except CentreKeyError as exc:
        _fail(str(exc))
    out.write_text(json.dumps(identity_document(keys), indent=1) + "\n", encoding="utf-8")
    click.echo(f"centre {keys.centre_id}: public keys written to {out}")


@main.group()
def stations() -> None:
    """The stations whose packets the centre accepts."""


@stations.command(name="add")
@data_option
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def stations_add(data: Path | None, document: Path) -> None:
    """Register the station of DOCUMENT (from `station identity --out DOCUMENT`)."""
    try:
        registered = StationRegistry(data_dir(data)).add(document)
    except (IdentityError, StationRegistryError) as exc:
        _fail(str(exc))
    click.echo(f"station {registered.station_id} registered (key {registered.thumbprint})")


@stations.command(name="revoke")
@data_option
@click.argument("station_id")
def stations_revoke(data: Path | None, station_id: str) -> None:
    """Refuse every packet of STATION_ID from now on."""
    try:
        revoked = StationRegistry(data_dir(data)).revoke(station_id)
    except StationRegistryError as exc:
        _fail(str(exc))
    click.echo(f"station {revoked.station_id} revoked on {revoked.revoked}")


@stations.command(name="list")
@data_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stations_list(data: Path | None, as_json: bool) -> None:
    """The registered stations, revoked ones too."""
    listed = StationRegistry(data_dir(data)).list()
    if as_json:
        click.echo(json.dumps({"stations": [s.to_json() for s in listed]}, indent=1))
        return
    for station in listed:
        state = f"revoked {station.revoked}" if station.revoked else "active"
        click.echo(f"{station.station_id}  {state}  registered {station.registered}")
    if not listed:
        click.echo("no station registered: `central stations add FILE`")


@main.group()
def packets() -> None:
    """Packets brought from stations."""


@packets.command(name="check")
@data_option
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def packets_check(data: Path | None, folder: Path, as_json: bool) -> None:
    """Open every packet under FOLDER: which the centre would take, and why it refuses others."""
    from central.intake import check_folder

    chosen = data_dir(data)
    try:
        checked = check_folder(folder, centre_keys(chosen), StationRegistry(chosen))
    except CentreKeyError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(checked.to_json(), indent=1))
    else:
        click.echo(f"{len(checked.valid)} packets valid, {len(checked.rejected)} refused")
        for refused in checked.rejected:
            click.echo(f"  {refused['packet']}: {refused['reason']}")
    if checked.rejected:
        sys.exit(3)
