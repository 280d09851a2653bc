"""The station's key pairs, its identity document for the centre, and the centre it trusts.

- Two key pairs (JOSE JWKs): Ed25519 signs its packets, X25519 receives what the centre encrypts
  to it (its precinct's roll). Each is made the first time it is needed and kept in the station's
  database sealed with its data key, as the records are (a key rotation re-seals them, a backup
  carries them): a stolen laptop without its key file reveals neither. ``identity_document`` is
  what a supervisor carries to the centre (``station identity --out FILE`` -> ``central stations
  add FILE``): the public keys and the id.
- ``trust_centre`` keeps the centre's identity document (``central identity --out FILE`` ->
  ``station centre trust FILE``): its X25519 key that packets are encrypted to, and its Ed25519
  key that checks what the centre signs (precinct rolls). A station without it still enrols; its
  packets wait.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jwcrypto import jwk
from jwcrypto.common import JWException

from station.errors import StationError
from station.security.crypto import write_private_file
from station.storage import Storage

STATION_FORMAT = "biometric-station-identity"
CENTRE_FORMAT = "biometric-centre-identity"
FORMAT_VERSION = 1
SIGNING_KEY = "exchange/signing-key"
ENCRYPTION_KEY = "exchange/encryption-key"
CENTRE_FILE = "exchange/centre.json"


class IdentityError(StationError):
    """An identity document that is not one, or a key that does not load."""

    code = "identity_error"


@dataclass(frozen=True)
class TrustedCentre:
    """The public keys of the centre a station trusts."""

    centre_id: str
    encryption_key: jwk.JWK  # X25519: packets are encrypted to it
    signing_key: jwk.JWK  # Ed25519: checks the centre's signatures


def _kept_key(storage: Storage, name: str, curve: str) -> jwk.JWK:
    kept = storage.secret(name)
    if kept is not None:
        try:
            return jwk.JWK.from_json(kept.decode())
        except (JWException, ValueError) as exc:
            raise IdentityError(f"the station's key {name} does not load: {exc}") from exc
    key = jwk.JWK.generate(kty="OKP", crv=curve)
    storage.put_secret(name, key.export_private().encode())
    return key


def signing_key(storage: Storage) -> jwk.JWK:
    """The station's Ed25519 signing key, made (and sealed into the database) on first use."""
    return _kept_key(storage, SIGNING_KEY, "Ed25519")


def encryption_key(storage: Storage) -> jwk.JWK:
    """The station's X25519 key that rolls are encrypted to, made on first use."""
    return _kept_key(storage, ENCRYPTION_KEY, "X25519")


def identity_document(station_id: str, key: jwk.JWK, receiving: jwk.JWK) -> dict[str, Any]:
    """What the centre registers: the station's id, its public signing key (``thumbprint`` is
    that key's) and the public key the centre encrypts to the station with."""
    return {
        "format": STATION_FORMAT,
        "version": FORMAT_VERSION,
        "station_id": station_id,
        "signing_key": json.loads(key.export_public()),
        "encryption_key": json.loads(receiving.export_public()),
        "thumbprint": key.thumbprint(),
        "written": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }


def public_key(document: Any, name: str, curve: str) -> jwk.JWK:
    """One public OKP key of an identity document, or :class:`IdentityError` saying what is
    wrong; a private key in the document is refused (it must never travel)."""
    value = document.get(name) if isinstance(document, dict) else None
    if not isinstance(value, dict) or value.get("kty") != "OKP" or value.get("crv") != curve:
        raise IdentityError(f"the document's {name} is not an {curve} public key")
    if "d" in value:
        raise IdentityError(f"the document's {name} holds a private key: never send one")
    try:
        return jwk.JWK(**value)
    except (JWException, ValueError, TypeError) as exc:
        raise IdentityError(f"the document's {name} does not load: {exc}") from exc


def read_document(path: Path, expected_format: str) -> dict[str, Any]:
    """A JSON identity document of ``expected_format`` version 1, or :class:`IdentityError`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IdentityError(f"{path} is not a readable identity document: {exc}") from exc
    return check_document(document, expected_format, str(path))


def check_document(document: Any, expected_format: str, source: str) -> dict[str, Any]:
    """``document`` if it is an identity document of ``expected_format`` version 1."""
    if not isinstance(document, dict) or document.get("format") != expected_format:
        raise IdentityError(f"{source} is not a {expected_format} document")
    if document.get("version") != FORMAT_VERSION:
        raise IdentityError(f"{source}: version {document.get('version')!r}, expected 1")
    return document


def trust_centre(data_dir: Path, source: Path | dict[str, Any]) -> TrustedCentre:
    """Keep the centre's identity document (a file, or one received over TLS at first contact;
    replacing an earlier one) and return its keys."""
    if isinstance(source, Path):
        document = read_document(source, CENTRE_FORMAT)
    else:
        document = check_document(source, CENTRE_FORMAT, "the centre's answer")
    keys = _centre_keys(document)
    write_private_file(data_dir / CENTRE_FILE, json.dumps(document, indent=1).encode())
    return keys


def trusted_centre(data_dir: Path) -> TrustedCentre | None:
    """The centre this station trusts, or None when no centre's keys were given yet."""
    path = data_dir / CENTRE_FILE
    if not path.is_file():
        return None
    return _centre_keys(read_document(path, CENTRE_FORMAT))


def _centre_keys(document: dict[str, Any]) -> TrustedCentre:
    centre_id = document.get("centre_id")
    if not isinstance(centre_id, str) or not centre_id:
        raise IdentityError("the centre's document names no centre_id")
    return TrustedCentre(
        centre_id,
        public_key(document, "encryption_key", "X25519"),
        public_key(document, "signing_key", "Ed25519"),
    )
