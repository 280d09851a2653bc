"""Encrypted backups: the database and its key, sealed under a passphrase.

File layout: ``MAGIC | header length (4) | header JSON | chunks``. The header names the scrypt
parameters and salt that turn the passphrase into an AES-256-GCM key. The payload is a tar stream
(``station.sqlite3``, a consistent snapshot whose fields stay sealed with the station key, and
``station.key``) cut into 1 MiB chunks; each chunk's associated data is the header's hash, its
index and whether it is the last, so an edited, reordered or cut-short backup does not open.
Memory use is one chunk, whatever the size of the database.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from station.errors import InvalidInputError, StationError
from station.security.passwords import KdfParams
from station.storage import utc_now

MAGIC = b"STATION-BACKUP\x00\x01"
CHUNK = 1024 * 1024
MIN_PASSPHRASE = 12
DB_NAME = "station.sqlite3"
KEY_NAME = "station.key"


class BackupError(StationError):
    code = "backup_error"


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise InvalidInputError(
            f"a backup passphrase has at least {MIN_PASSPHRASE} characters (a few words is good)",
            field="passphrase",
        )


def _derive(passphrase: str, salt: bytes, kdf: KdfParams) -> AESGCM:
    key = hashlib.scrypt(
        passphrase.encode(),
        salt=salt,
        n=kdf.n,
        r=kdf.r,
        p=kdf.p,
        maxmem=kdf.memory + 16 * 1024 * 1024,
        dklen=32,
    )
    return AESGCM(key)


def _aad(header_hash: bytes, index: int, last: bool) -> bytes:
    return header_hash + struct.pack(">Q?", index, last)


class _SealingWriter(io.RawIOBase):
    """A write-only stream that seals what it gets in chunks onto ``out``."""

    def __init__(self, out: IO[bytes], aead: AESGCM, header_hash: bytes) -> None:
        self._out, self._aead, self._hash = out, aead, header_hash
        self._buffer = bytearray()
        self._index = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer.extend(data)
        while len(self._buffer) > CHUNK:
            self._emit(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def finish(self) -> None:
        self._emit(bytes(self._buffer), last=True)
        self._buffer.clear()

    def _emit(self, plain: bytes, last: bool) -> None:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, plain, _aad(self._hash, self._index, last))
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._index += 1


class _OpeningReader(io.RawIOBase):
    """A read-only stream of the plaintext of a sealed chunk sequence."""

    def __init__(self, source: IO[bytes], aead: AESGCM, header_hash: bytes) -> None:
        self._in, self._aead, self._hash = source, aead, header_hash
        self._buffer = b""
        self._index = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer and not self._done:
            self._next_chunk()
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size

    def _next_chunk(self) -> None:
        length = self._in.read(4)
        if len(length) < 4:
            raise BackupError("the backup is cut short: copy it again from where it was made")
        sealed = self._in.read(struct.unpack(">I", length)[0])
        nonce, body = sealed[:12], sealed[12:]
        for last in (False, True):
            try:
                self._buffer = self._aead.decrypt(nonce, body, _aad(self._hash, self._index, last))
            except InvalidTag:
                continue
            self._done = last
            self._index += 1
            return
        if self._index == 0:
            raise BackupError("wrong passphrase, or the backup is damaged")
        raise BackupError("the backup is damaged or was altered: it cannot be restored")


@dataclass(frozen=True)
class BackupInfo:
    created_at: str
    station_id: str
    key_id: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "created_at": self.created_at,
            "station_id": self.station_id,
            "key_id": self.key_id,
            "bytes": self.size,
        }


def write_backup(
    out: Path,
    snapshot: Path,
    key: bytes,
    passphrase: str,
    station_id: str,
    key_id: str,
    kdf: KdfParams,
) -> BackupInfo:
    """Write ``snapshot`` and ``key`` to ``out`` (atomically: a temporary file, then rename)."""
    check_passphrase(passphrase)
    salt = os.urandom(16)
    header = json.dumps(
        {
            "format": 1,
            "created_at": utc_now(),
            "station_id": station_id,
            "key_id": key_id,
            "kdf": {"name": "scrypt", "n": kdf.n, "r": kdf.r, "p": kdf.p},
            "salt": base64.b64encode(salt).decode(),
            "cipher": "AES-256-GCM",
        }
    ).encode()
    aead = _derive(passphrase, salt, kdf)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(MAGIC + struct.pack(">I", len(header)) + header)
        writer = _SealingWriter(handle, aead, hashlib.sha256(header).digest())
        with tarfile.open(fileobj=writer, mode="w|") as archive:
            archive.add(snapshot, arcname=DB_NAME)
            info = tarfile.TarInfo(KEY_NAME)
            info.size = len(key)
            archive.addfile(info, io.BytesIO(key))
        writer.finish()
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, out)
    meta = json.loads(header)
    return BackupInfo(meta["created_at"], station_id, key_id, out.stat().st_size)


def read_backup(source: Path, passphrase: str, database_out: Path) -> tuple[bytes, BackupInfo]:
    """Check and unpack a backup: the database to ``database_out``; return the key."""
    with open(source, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise BackupError(f"{source} is not a station backup")
        (length,) = struct.unpack(">I", handle.read(4))
        header = handle.read(length)
        meta = json.loads(header)
        kdf = KdfParams(meta["kdf"]["n"], meta["kdf"]["r"], meta["kdf"]["p"])
        aead = _derive(passphrase, base64.b64decode(meta["salt"]), kdf)
        reader = io.BufferedReader(_OpeningReader(handle, aead, hashlib.sha256(header).digest()))
        key = b""
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            for member in archive:
                content = archive.extractfile(member) if member.isfile() else None
                if content is None:
                    continue
                if member.name == DB_NAME:
                    with open(database_out, "wb") as db:
                        while block := content.read(CHUNK):
                            db.write(block)
                        db.flush()
                        os.fsync(db.fileno())
                elif member.name == KEY_NAME:
                    key = content.read()
        while reader.read(CHUNK):  # reach the final chunk: a cut-short file is refused
            pass
    if not key or not database_out.exists():
        raise BackupError(f"{source} lacks the database or its key")
    info = BackupInfo(meta["created_at"], meta["station_id"], meta["key_id"], source.stat().st_size)
    return key, info


def restore_backup(
    source: Path, passphrase: str, database: Path, key_file: Path, env_key: str | None = None
) -> BackupInfo:
    """Unpack a backup into a data directory that has no database yet, and its key beside.

    The caller holds the data directory's lock. A key file that already holds another key is
    left alone and the restore refused, so no key is ever overwritten.
    """
    from station.security.crypto import load_key, write_key_file

    if database.exists():
        raise BackupError(
            f"{database} exists: restore into an empty data directory (move this one aside first)"
        )
    tmp = database.with_name(database.name + ".restore")
    try:
        key, info = read_backup(source, passphrase, tmp)
        existing = load_key(key_file, env_key)
        if existing is not None and existing.key != key:
            raise BackupError(
                f"{existing.source} holds another key than the backup's: move it aside, or set "
                "key_file to a new path for the restored station"
            )
        if existing is None:
            write_key_file(key_file, key)
        os.replace(tmp, database)
    finally:
        tmp.unlink(missing_ok=True)
    return info
