"""The station's side of the key exchange with the centre: its identity out, the centre's in.

Both are a supervisor's job with a USB stick (``Permission.MAINTAIN``: admins), audited.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.exchange.identity import (
    TrustedCentre,
    encryption_key,
    identity_document,
    signing_key,
    trust_centre,
)
from station.security.roles import SYSTEM, Actor, Permission

if TYPE_CHECKING:
    from station.core import Station


def station_identity(station: Station, actor: Actor = SYSTEM) -> dict[str, Any]:
    """The station's identity document (its id and public keys, made on first use)."""
    station.allow(actor, Permission.MAINTAIN)
    with station.writing():
        document = identity_document(
            station.settings.station_id,
            signing_key(station.storage),
            encryption_key(station.storage),
        )
        station.audit.append(
            actor.login, "identity_export", detail={"thumbprint": document["thumbprint"]}
        )
    return document


def trust_centre_keys(station: Station, document: Path, actor: Actor = SYSTEM) -> TrustedCentre:
    """Trust the centre of ``document`` (``central identity --out``): packets are encrypted to
    its key from now on, and what it signs is checked with its other key."""
    station.allow(actor, Permission.MAINTAIN)
    with station.writing():
        keys = trust_centre(station.settings.data_dir, document)
        station.audit.append(
            actor.login,
            "centre_trust",
            detail={"centre": keys.centre_id, "thumbprint": keys.encryption_key.thumbprint()},
        )
    return keys
