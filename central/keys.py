"""The centre's own keys and its identity document for stations.

Two key pairs, JOSE JWKs: X25519 (stations encrypt packets to it) and Ed25519 (the centre signs
precinct rolls with it). Made by the first ``central`` command that needs them and kept in the
data directory, 0600 in a 0700 folder. ``identity_document`` is what a supervisor carries to each
station (``central identity --out FILE`` -> ``station centre trust FILE``): public keys only.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jwcrypto import jwk
from jwcrypto.common import JWException

from station.exchange.identity import CENTRE_FORMAT, FORMAT_VERSION
from station.security.crypto import write_private_file

KEYS_FILE = "keys/centre-keys.json"


class CentreKeyError(Exception):
    """The centre's key file is damaged or unreadable."""

    code = "centre_key_error"


@dataclass(frozen=True)
class CentreKeys:
    centre_id: str
    encryption_key: jwk.JWK  # X25519, private
    signing_key: jwk.JWK  # Ed25519, private


def centre_keys(data_dir: Path) -> CentreKeys:
    """The centre's keys, made on first use."""
    path = data_dir / KEYS_FILE
    if path.is_file():
        try:
            kept = json.loads(path.read_text(encoding="utf-8"))
            return CentreKeys(
                str(kept["centre_id"]),
                jwk.JWK(**kept["encryption_key"]),
                jwk.JWK(**kept["signing_key"]),
            )
        except (OSError, KeyError, TypeError, ValueError, JWException) as exc:
            raise CentreKeyError(
                f"the centre's keys in {path} do not load ({exc}): restore the file from its copy"
            ) from exc
    keys = CentreKeys(
        f"centre-{uuid.uuid4().hex[:12]}",
        jwk.JWK.generate(kty="OKP", crv="X25519"),
        jwk.JWK.generate(kty="OKP", crv="Ed25519"),
    )
    document = {
        "centre_id": keys.centre_id,
        "encryption_key": json.loads(keys.encryption_key.export_private()),
        "signing_key": json.loads(keys.signing_key.export_private()),
    }
    write_private_file(path, json.dumps(document).encode())
    return keys


def identity_document(keys: CentreKeys) -> dict[str, Any]:
    """What a station trusts: the centre's id and public keys."""
    return {
        "format": CENTRE_FORMAT,
        "version": FORMAT_VERSION,
        "centre_id": keys.centre_id,
        "encryption_key": json.loads(keys.encryption_key.export_public()),
        "signing_key": json.loads(keys.signing_key.export_public()),
        "written": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
