"""Encryption at rest: AES-256-GCM, each value bound to where it belongs.

A sealed value is ``version (1 byte) | nonce (12) | ciphertext and tag``. The associated data is
the value's place, such as ``records/42/fields``: a ciphertext copied to another record or column
fails to open, as does any edited byte. The 32-byte key lives outside the database, in a key file
(mode 0600) or the ``STATION_KEY`` environment variable, both base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from station.errors import StationError

log = logging.getLogger(__name__)

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = b"\x01"
KEY_ENV = "STATION_KEY"


class KeyProblemError(StationError):
    """The encryption key is missing, malformed, exposed or not the one the data was sealed with."""

    code = "key_error"


class TamperedDataError(StationError):
    """A sealed value does not open: it was edited, moved, or sealed with another key."""

    code = "tampered_data"

    def __init__(self, context: str) -> None:
        self.context = context
        super().__init__(
            f"the stored value {context} fails its integrity check (edited, moved or sealed with "
            "another key): restore the data directory from a backup"
        )


def key_id(key: bytes) -> str:
    """A public name for a key (reveals nothing about it): tells keys apart in messages."""
    return hmac.new(key, b"biometric-station key id", hashlib.sha256).hexdigest()[:16]


class Sealer:
    """Seal and open values with one key; ``context`` is the associated data."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyProblemError(f"an encryption key is {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = key_id(key)

    def seal(self, plaintext: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return FORMAT + nonce + self._aead.encrypt(nonce, plaintext, context.encode())

    def open(self, sealed: bytes, context: str) -> bytes:
        if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != FORMAT:
            raise TamperedDataError(context)
        nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context.encode())
        except InvalidTag:
            raise TamperedDataError(context) from None


def generate_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyProblemError(
            f"{source} does not hold a key: expected {KEY_BYTES} bytes in base64 "
            "(as written by `station key generate`)"
        )
    return key


@dataclass(frozen=True)
class LoadedKey:
    key: bytes
    source: str  # "environment" or the key file's path

    @property
    def from_file(self) -> bool:
        return self.source != "environment"


def read_key_file(path: Path) -> bytes:
    """The key in ``path``; a file others can read is refused (a copy may already have leaked)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except FileNotFoundError:
        raise KeyProblemError(
            f"the key file {path} is missing: restore it from where you keep its copy, or set "
            f"{KEY_ENV}"
        ) from None
    except OSError as exc:
        raise KeyProblemError(f"cannot read the key file {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyProblemError(
            f"the key file {path} is readable by other users: run `chmod 600 {path}` (and "
            "rotate the key if someone may have copied it)"
        )
    return decode_key(text, f"the key file {path}")


def load_key(key_file: Path, env_key: str | None = None) -> LoadedKey | None:
    """The key from ``env_key`` (``STATION_KEY``, read by :mod:`station.config`) or else the key
    file; None when neither exists yet."""
    if env_key:
        return LoadedKey(decode_key(env_key, KEY_ENV), "environment")
    if not key_file.exists():
        return None
    return LoadedKey(read_key_file(key_file), str(key_file))


def write_private_file(path: Path, data: bytes) -> None:
    """Write a file atomically, mode 0600 from its first byte (its folder 0700 if made), and
    sync it to disk: keys, identities, registries."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    sync_directory(path.parent)


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key file atomically, mode 0600 from its first byte, and sync it to disk."""
    write_private_file(path, (encode_key(key) + "\n").encode())
    log.info("key %s written to %s", key_id(key), path)


def sync_directory(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def pending_key_path(key_file: Path) -> Path:
    """Where a rotation writes the new key before its commit (``<key_file>.new``)."""
    return key_file.with_name(key_file.name + ".new")
