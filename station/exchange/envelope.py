"""The packet envelope: signed by its station, encrypted to the centre, in standard JOSE.

A packet is a JWS (RFC 7515, compact form, EdDSA with the station's Ed25519 key, RFC 8037) whose
protected header names the station (``kid``), the packet id, the manifest version and the kind of
event, nested in a JWE (RFC 7516, compact form, ``ECDH-ES+A256KW`` with the centre's X25519 key and
``A256GCM`` content encryption). Sign first, then encrypt: only the centre can read a packet, and
what it reads carries the station's signature over the whole payload and header, so a packet
copied, changed or replayed from another station is refused. jwcrypto (on ``cryptography``) does
the cryptography; nothing here is a home-made construction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jwcrypto import jwe, jwk, jws
from jwcrypto.common import JWException

MANIFEST_VERSION = 1
SIGNATURE_ALG = "EdDSA"
KEY_WRAP_ALG = "ECDH-ES+A256KW"
CONTENT_ALG = "A256GCM"
MAX_PACKET_BYTES = 64 * 1024 * 1024  # a packet holds ten finger images and a portrait at most


class PacketError(Exception):
    """A packet that cannot be opened or trusted, with the reason the centre records."""

    code = "packet_refused"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class OpenedPacket:
    """What a valid packet holds, once decrypted and its signature checked."""

    packet_id: str
    station_id: str
    kind: str
    manifest_version: int
    payload: bytes


def seal_packet(
    payload: bytes,
    *,
    kind: str,
    station_id: str,
    signing_key: jwk.JWK,
    centre_key: jwk.JWK,
    packet_id: str | None = None,
) -> tuple[str, bytes]:
    """(packet id, the packet's bytes): ``payload`` signed by the station, encrypted to the
    centre's public key."""
    packet_id = packet_id or str(uuid.uuid4())
    header = {
        "alg": SIGNATURE_ALG,
        "kid": station_id,
        "packet": packet_id,
        "kind": kind,
        "manifest": MANIFEST_VERSION,
    }
    signed = jws.JWS(payload)
    signed.add_signature(signing_key, alg=SIGNATURE_ALG, protected=_compact(header))
    inner = signed.serialize(compact=True)
    envelope = jwe.JWE(
        inner.encode(),
        protected=_compact(
            {"alg": KEY_WRAP_ALG, "enc": CONTENT_ALG, "cty": "JWS", "kid": centre_key.thumbprint()}
        ),
    )
    envelope.add_recipient(centre_key.public() if centre_key.has_private else centre_key)
    return packet_id, envelope.serialize(compact=True).encode()


def open_packet(
    data: bytes,
    *,
    centre_key: jwk.JWK,
    station_key: Callable[[str], jwk.JWK | None],
) -> OpenedPacket:
    """Decrypt with the centre's private key and check the signature with the key of the station
    the packet names (``station_key(station_id)``, None: not registered). Every refusal is a
    :class:`PacketError` saying why."""
    if len(data) > MAX_PACKET_BYTES:
        raise PacketError(f"the packet is larger than {MAX_PACKET_BYTES // (1024 * 1024)} MiB")
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise PacketError("not a packet: not a JOSE compact serialization") from None
    envelope = jwe.JWE()
    try:
        envelope.deserialize(token)
    except (JWException, ValueError):
        raise PacketError("not a packet: not a JOSE compact serialization") from None
    header = _json(envelope.jose_header)
    if header.get("alg") != KEY_WRAP_ALG or header.get("enc") != CONTENT_ALG:
        raise PacketError(f"not encrypted as packets are ({KEY_WRAP_ALG}, {CONTENT_ALG})")
    if header.get("kid") != centre_key.thumbprint():
        raise PacketError("encrypted to another centre's key")
    try:
        envelope.decrypt(centre_key)
    except (JWException, ValueError):
        raise PacketError("the packet does not decrypt: damaged or changed on the way") from None
    signed = jws.JWS()
    try:
        signed.deserialize(envelope.payload.decode("ascii"))
    except (JWException, ValueError, UnicodeDecodeError):
        raise PacketError("the packet holds no signed content") from None
    inner = _json(signed.jose_header)
    station_id = inner.get("kid")
    if not isinstance(station_id, str) or not station_id:
        raise PacketError("the packet names no station")
    key = station_key(station_id)
    if key is None:
        raise PacketError(f"station {station_id} is not registered (or was revoked)")
    if inner.get("alg") != SIGNATURE_ALG:
        raise PacketError(f"not signed as packets are ({SIGNATURE_ALG})")
    try:
        signed.verify(key, alg=SIGNATURE_ALG)
    except (JWException, ValueError):
        raise PacketError(f"the signature of station {station_id} does not hold") from None
    packet_id, kind, version = inner.get("packet"), inner.get("kind"), inner.get("manifest")
    if not isinstance(packet_id, str) or not isinstance(kind, str):
        raise PacketError("the packet has no id or kind")
    if version != MANIFEST_VERSION:
        raise PacketError(f"manifest version {version!r}: this centre reads {MANIFEST_VERSION}")
    return OpenedPacket(packet_id, station_id, kind, version, signed.payload)


def _compact(header: Mapping[str, Any]) -> str:
    return json.dumps(header, separators=(",", ":"), sort_keys=True)


def _json(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, Mapping) else {}
