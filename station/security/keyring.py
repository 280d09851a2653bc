"""The station's encryption key on disk: made at the first start, found again (also where stations
before 0.3 kept it), a rotation that a crash interrupted finished or undone."""

from __future__ import annotations

import logging
from pathlib import Path

from station.config import Settings, legacy_key_file
from station.security.crypto import (
    KeyProblemError,
    LoadedKey,
    Sealer,
    generate_key,
    load_key,
    pending_key_path,
    read_key_file,
    write_key_file,
)
from station.storage import Storage

log = logging.getLogger(__name__)


def open_storage(settings: Settings, env_key: str | None) -> Storage:
    """The database opened with its key; a new data directory gets a new key; a key rotation
    cut short by a crash (``<key_file>.new`` left behind) is finished or undone."""
    key_file, database = settings.key_file, settings.database_path
    loaded = load_key(key_file, env_key)
    if loaded is None and database.exists() and settings.key_file_is_default:
        loaded = _adopt_legacy_key(key_file, database)
    if loaded is None:
        if database.exists():
            raise KeyProblemError(
                f"the key file {key_file} is missing and {database} holds sealed data: "
                "restore the key file from its copy, or set STATION_KEY"
            )
        write_key_file(key_file, generate_key())
        log.warning("new encryption key written to %s: keep a copy away from this laptop", key_file)
        loaded = load_key(key_file, env_key)
        assert loaded is not None
    pending = pending_key_path(key_file)
    try:
        storage = Storage(database, Sealer(loaded.key))
    except KeyProblemError:
        if not (loaded.from_file and pending.exists()):
            raise
        storage = Storage(database, Sealer(read_key_file(pending)))
        pending.replace(key_file)
        log.warning("finished a key rotation interrupted by a crash: %s is the new key", key_file)
        return storage
    pending.unlink(missing_ok=True)  # a rotation that never committed
    return storage


def _adopt_legacy_key(key_file: Path, database: Path) -> LoadedKey | None:
    """The key a station made before the default followed its data directory, copied to the
    new default when it opens this database (the old file may serve another station)."""
    legacy = legacy_key_file()
    if not legacy.is_file():
        return None
    key = read_key_file(legacy)
    try:
        Storage(database, Sealer(key)).close()
    except KeyProblemError:
        return None  # another station's key
    write_key_file(key_file, key)
    log.warning(
        "this station's key was the shared %s: copied to %s, its own from now on; remove the "
        "old file once no other station on this machine uses it",
        legacy,
        key_file,
    )
    return load_key(key_file, None)


def current_key(settings: Settings, env_key: str | None, storage: Storage) -> LoadedKey:
    """The key the open station was sealed with, as found now (for a backup or a rotation)."""
    loaded = load_key(settings.key_file, env_key)
    if loaded is None or Sealer(loaded.key).key_id != storage.sealer.key_id:
        raise KeyProblemError("the key file no longer holds this station's key: restart it")
    return loaded
