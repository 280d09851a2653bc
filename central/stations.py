"""The stations the centre trusts: registered from their identity documents, revocable.

Kept as one JSON file in the centre's data directory for now (written whole, atomically); it
moves into the centre's PostgreSQL database with packet intake. A revoked station stays listed
with when it was revoked, so its packets are refused with that reason, never forgotten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jwcrypto import jwk

from station.exchange.identity import STATION_FORMAT, public_key, read_document
from station.security.crypto import write_private_file

REGISTRY_FILE = "stations.json"


class StationRegistryError(Exception):
    """A registration that cannot be made as asked; the message says why."""

    code = "station_registry_error"


@dataclass(frozen=True)
class RegisteredStation:
    station_id: str
    signing_key: dict[str, Any]
    thumbprint: str
    registered: str
    revoked: str | None = None
    encryption_key: dict[str, Any] | None = None  # X25519: the centre encrypts rolls to it

    def to_json(self) -> dict[str, Any]:
        return {
            "station_id": self.station_id,
            "thumbprint": self.thumbprint,
            "registered": self.registered,
            "revoked": self.revoked,
        }


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


class StationRegistry:
    """Register, revoke, list stations, and give the key a packet's signature is checked with."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / REGISTRY_FILE

    def _load(self) -> dict[str, RegisteredStation]:
        if not self.path.is_file():
            return {}
        kept = json.loads(self.path.read_text(encoding="utf-8"))
        return {s["station_id"]: RegisteredStation(**s) for s in kept["stations"]}

    def _save(self, stations: dict[str, RegisteredStation]) -> None:
        ordered = sorted(stations.values(), key=lambda s: s.station_id)
        document = {"stations": [vars(s) for s in ordered]}
        write_private_file(self.path, json.dumps(document, indent=1).encode())

    def add(self, document_path: Path) -> RegisteredStation:
        """Register the station of an identity document; the same document again changes
        nothing; another key for a registered id, or a revoked station, is refused."""
        document = read_document(document_path, STATION_FORMAT)
        station_id = document.get("station_id")
        if not isinstance(station_id, str) or not station_id:
            raise StationRegistryError(f"{document_path} names no station_id")
        key = public_key(document, "signing_key", "Ed25519")
        receiving = public_key(document, "encryption_key", "X25519")
        stations = self._load()
        known = stations.get(station_id)
        if known is not None:
            if known.revoked:
                raise StationRegistryError(
                    f"station {station_id} was revoked on {known.revoked}: it cannot come back"
                )
            if known.thumbprint != key.thumbprint():
                raise StationRegistryError(
                    f"station {station_id} is registered with another key: revoke it first"
                )
            return known
        registered = RegisteredStation(
            station_id,
            json.loads(key.export_public()),
            key.thumbprint(),
            _now(),
            encryption_key=json.loads(receiving.export_public()),
        )
        stations[station_id] = registered
        self._save(stations)
        return registered

    def revoke(self, station_id: str) -> RegisteredStation:
        stations = self._load()
        known = stations.get(station_id)
        if known is None:
            raise StationRegistryError(f"no station {station_id} is registered")
        if known.revoked:
            return known
        revoked = RegisteredStation(**{**vars(known), "revoked": _now()})
        stations[station_id] = revoked
        self._save(stations)
        return revoked

    def list(self) -> list[RegisteredStation]:
        return sorted(self._load().values(), key=lambda s: s.station_id)

    def key_for(self, station_id: str) -> jwk.JWK | None:
        """The key to check a packet of this station with; None if unknown or revoked."""
        known = self._load().get(station_id)
        if known is None or known.revoked:
            return None
        return jwk.JWK(**known.signing_key)

    def encryption_key_for(self, station_id: str) -> jwk.JWK:
        """The key a roll for this station is encrypted to."""
        known = self._load().get(station_id)
        if known is None or known.revoked:
            raise StationRegistryError(f"station {station_id} is not registered (or was revoked)")
        if known.encryption_key is None:
            raise StationRegistryError(
                f"station {station_id} was registered without an encryption key: register its "
                "current `station identity` document again"
            )
        return jwk.JWK(**known.encryption_key)
