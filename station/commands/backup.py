"""``station backup``: encrypted backup and restore of a station."""

from __future__ import annotations

from pathlib import Path

import click

from station.backup import restore_backup
from station.commands.common import (
    data_options,
    open_station,
    operator_option,
    reported_errors,
    secret,
    settings_from,
    signed_in,
)
from station.commands.output import echo_json
from station.config import load_secrets
from station.datadir import DataDirectoryLock
from station.security.roles import SYSTEM
from station.workflows import create_backup


@click.group()
def backup() -> None:
    """Encrypted backups: the database and its key, under a passphrase."""


@backup.command()
@data_options
@operator_option
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def create(
    data_dir: Path | None, config_file: Path | None, operator: str, out: Path, as_json: bool
) -> None:
    """Write an encrypted backup to OUT (admin). The passphrase comes from
    $STATION_BACKUP_PASSPHRASE or is asked for twice; keep it apart from the backup."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        actor = signed_in(station, operator)
        passphrase = secret(load_secrets().backup_passphrase, "backup passphrase", confirm=True)
        info = create_backup(station, out, passphrase, actor=actor)
    if as_json:
        echo_json({**info.to_json(), "file": str(out)})
    else:
        click.echo(f"backup written to {out} ({info.size} bytes, key {info.key_id})")


@backup.command()
@data_options
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def restore(data_dir: Path | None, config_file: Path | None, source: Path, as_json: bool) -> None:
    """Restore SOURCE into an empty data directory, with its key (to key_file), then check the
    audit chain. The passphrase comes from $STATION_BACKUP_PASSPHRASE or is asked for."""
    settings = settings_from(data_dir, config_file)
    with reported_errors():
        passphrase = secret(load_secrets().backup_passphrase, "backup passphrase")
        lock = DataDirectoryLock(settings.data_dir)
        lock.acquire()
        try:
            info = restore_backup(
                source,
                passphrase,
                settings.database_path,
                settings.key_file,
                load_secrets().key,
            )
        finally:
            lock.release()
    with reported_errors(), open_station(data_dir, config_file, create=True) as station:
        station.audit.append(SYSTEM.login, "restore", detail={"key_id": info.key_id})
        report = station.audit.verify()
    if as_json:
        echo_json({**info.to_json(), "audit_intact": report.intact})
    else:
        click.echo(
            f"restored the backup of {info.created_at} into {settings.data_dir}; audit chain "
            f"{'intact' if report.intact else 'BROKEN: run station audit verify'}"
        )
