"""``station key``: make a key, rotate the station's key."""

from __future__ import annotations

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
from station.security.crypto import encode_key, generate_key, key_id, write_key_file
from station.workflows import rotate_key


@click.group()
def key() -> None:
    """The encryption key (outside the database: key_file or $STATION_KEY)."""


@key.command()
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), help="Write a key file (0600)."
)
def generate(out: Path | None) -> None:
    """A new random key: printed (for $STATION_KEY), or written to a new key file."""
    new = generate_key()
    if out is None:
        click.echo(encode_key(new))
        return
    if out.exists():
        raise click.UsageError(f"{out} exists: choose a new file")
    write_key_file(out, new)
    click.echo(f"key {key_id(new)} written to {out}")


@key.command()
@data_options
@operator_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the new key when the current one comes from $STATION_KEY.",
)
@click.option("--json", "as_json", is_flag=True)
def rotate(
    data_dir: Path | None, config_file: Path | None, operator: str, out: Path | None, as_json: bool
) -> None:
    """Re-encrypt everything under a new key, in one transaction (admin)."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        count = rotate_key(station, out=out, actor=signed_in(station, operator))
        new_id = station.storage.sealer.key_id
        where = out or station.settings.key_file
    if as_json:
        echo_json({"values": count, "key_id": new_id, "key_file": str(where)})
    else:
        click.echo(f"{count} values re-encrypted under key {new_id}, now in {where}")
