"""The stations the centre trusts: registered from their identity documents, revocable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jwcrypto import jwk

from central.register import Register
from station.exchange.identity import STATION_FORMAT, check_document, public_key, read_document


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


class StationRegistry:
    """Register, revoke, list stations, and give the key a packet's signature is checked with.
    Kept in the register's ``stations`` table; a revoked station stays with when it was revoked,
    so its packets are refused with that reason, never forgotten."""

    def __init__(self, register: Register) -> None:
        self.register = register

    @staticmethod
    def _station(row: dict[str, Any]) -> RegisteredStation:
        return RegisteredStation(
            row["station_id"],
            row["signing_key"],
            row["thumbprint"],
            _iso(row["registered"]),
            None if row["revoked"] is None else _iso(row["revoked"]),
            row["encryption_key"],
        )

    def get(self, station_id: str) -> RegisteredStation | None:
        row = self.register.station(station_id)
        return None if row is None else self._station(row)

    def add(self, source: Path | dict[str, Any]) -> RegisteredStation:
        """Register the station of an identity document (a file, or one received with an
        enrolment code); the same document again changes nothing; another key for a registered
        id, or a revoked station, is refused."""
        if isinstance(source, Path):
            document = read_document(source, STATION_FORMAT)
        else:
            document = check_document(source, STATION_FORMAT, "the station's document")
        station_id = document.get("station_id")
        if not isinstance(station_id, str) or not station_id:
            raise StationRegistryError(f"{source} names no station_id")
        key = public_key(document, "signing_key", "Ed25519")
        receiving = public_key(document, "encryption_key", "X25519")
        with self.register.transaction():
            known = self.get(station_id)
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
            self.register.add_station(
                station_id,
                json.loads(key.export_public()),
                json.loads(receiving.export_public()),
                key.thumbprint(),
            )
        registered = self.get(station_id)
        assert registered is not None
        return registered

    def revoke(self, station_id: str) -> RegisteredStation:
        if self.get(station_id) is None:
            raise StationRegistryError(f"no station {station_id} is registered")
        self.register.revoke_station(station_id)
        revoked = self.get(station_id)
        assert revoked is not None
        return revoked

    def list(self) -> list[RegisteredStation]:
        return [self._station(row) for row in self.register.stations()]

    def key_for(self, station_id: str) -> jwk.JWK | None:
        """The key to check a packet of this station with; None if unknown or revoked."""
        known = self.get(station_id)
        if known is None or known.revoked:
            return None
        return jwk.JWK(**known.signing_key)

    def encryption_key_for(self, station_id: str) -> jwk.JWK:
        """The key a roll for this station is encrypted to."""
        known = self.get(station_id)
        if known is None or known.revoked:
            raise StationRegistryError(f"station {station_id} is not registered (or was revoked)")
        if known.encryption_key is None:
            raise StationRegistryError(
                f"station {station_id} was registered without an encryption key: register its "
                "current `station identity` document again"
            )
        return jwk.JWK(**known.encryption_key)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()
