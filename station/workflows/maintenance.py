"""The admin's jobs on the station itself: rotate the encryption key, make an encrypted backup,
check the devices."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.backup import BackupInfo, check_passphrase, write_backup
from station.errors import StationError
from station.security.crypto import Sealer, generate_key, load_key, pending_key_path, write_key_file
from station.security.keyring import current_key
from station.security.roles import SYSTEM, Actor, Permission

if TYPE_CHECKING:
    from station.core import Station

log = logging.getLogger(__name__)


def rotate_key(station: Station, out: Path | None = None, actor: Actor = SYSTEM) -> int:
    """Re-encrypt everything under a new key in one transaction; return the values resealed.

    The new key is written (and synced) before the commit: to ``<key_file>.new``, renamed over
    the key file after the commit, or to ``out`` when the key comes from STATION_KEY. A crash in
    between is finished at the next open (:func:`station.security.keyring.open_storage`).
    """
    station.allow(actor, Permission.MAINTAIN)
    settings = station.settings
    loaded = load_key(settings.key_file, station.env_key)
    from_file = loaded is not None and loaded.from_file
    if not from_file and out is None:
        raise StationError(
            "the key comes from STATION_KEY: name a file for the new key (--out FILE), "
            "then set STATION_KEY to its content"
        )
    target = out if out is not None else pending_key_path(settings.key_file)
    if out is not None and out.exists():
        raise StationError(f"{out} exists: choose a new file for the new key")
    new_key = generate_key()
    write_key_file(target, new_key)
    with station.writing():
        count = station.storage.reseal(Sealer(new_key))
        station.audit.append(actor.login, "key_rotate", detail={"values": count})
    if out is None:
        target.replace(settings.key_file)
    log.info("key rotated: %d values resealed", count)
    return count


def create_backup(
    station: Station, out: Path, passphrase: str, actor: Actor = SYSTEM
) -> BackupInfo:
    """An encrypted backup of the database and its key (see :mod:`station.backup`)."""
    station.allow(actor, Permission.MAINTAIN)
    check_passphrase(passphrase)
    loaded = current_key(station.settings, station.env_key, station.storage)
    snapshot = station.settings.data_dir / "backup-snapshot.tmp"
    with station.writes_paused():
        station.audit.append(actor.login, "backup")  # the backup holds its own audit row
        station.storage.snapshot(snapshot)
    try:
        return write_backup(
            out,
            snapshot,
            loaded.key,
            passphrase,
            station.settings.station_id,
            station.storage.sealer.key_id,
            station.settings.kdf,
        )
    finally:
        snapshot.unlink(missing_ok=True)


def check_devices(station: Station, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Open each configured device briefly and say whether it answers (for technicians)."""
    station.allow(actor, Permission.DEVICES)
    return station.devices.check()
