"""The envelope of everything stations and the centre exchange, in standard JOSE.

A packet (station -> centre) or a precinct roll (centre -> station) is a JWS (RFC 7515, compact
form, EdDSA with the sender's Ed25519 key, RFC 8037) whose protected header names the sender
(``kid``), the packet id, the manifest version and the kind, nested in a JWE (RFC 7516, compact
form, ``ECDH-ES+A256KW`` with the recipient's X25519 key and ``A256GCM`` content encryption). Sign
first, then encrypt: only the recipient can read it, and what it reads carries the sender's
signature over the whole payload and header, so a packet copied, changed or replayed under another
sender's name is refused. jwcrypto (on ``cryptography``) does the cryptography; nothing here is a
home-made construction.
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
MAX_PACKET_BYTES = 64 * 1024 * 1024  # ten finger images and a portrait; a precinct's templates


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
    sender_id: str  # the station of a packet, the centre of a roll
    kind: str
    manifest_version: int
    payload: bytes


def seal_packet(
    payload: bytes,
    *,
    kind: str,
    sender_id: str,
    signing_key: jwk.JWK,
    recipient_key: jwk.JWK,
    packet_id: str | None = None,
) -> tuple[str, bytes]:
    """(packet id, the packet's bytes): ``payload`` signed by the sender, encrypted to the
    recipient's public X25519 key."""
    packet_id = packet_id or str(uuid.uuid4())
    header = {
        "alg": SIGNATURE_ALG,
        "kid": sender_id,
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
            {
                "alg": KEY_WRAP_ALG,
                "enc": CONTENT_ALG,
                "cty": "JWS",
                "kid": recipient_key.thumbprint(),
            }
        ),
    )
    envelope.add_recipient(recipient_key.public() if recipient_key.has_private else recipient_key)
    return packet_id, envelope.serialize(compact=True).encode()


def open_packet(
    data: bytes,
    *,
    recipient_key: jwk.JWK,
    sender_key: Callable[[str], jwk.JWK | None],
    sender_role: str = "station",
) -> OpenedPacket:
    """Decrypt with the recipient's private key and check the signature with the key of the
    sender the packet names (``sender_key(sender_id)``, None: not registered or revoked); the
    ``sender_role`` ("station", "centre") names it in refusals. Every refusal is a
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
    if header.get("kid") != recipient_key.thumbprint():
        raise PacketError("encrypted to another recipient's key")
    try:
        envelope.decrypt(recipient_key)
    except (JWException, ValueError):
        raise PacketError("the packet does not decrypt: damaged or changed on the way") from None
    signed = jws.JWS()
    try:
        signed.deserialize(envelope.payload.decode("ascii"))
    except (JWException, ValueError, UnicodeDecodeError):
        raise PacketError("the packet holds no signed content") from None
    inner = _json(signed.jose_header)
    sender_id = inner.get("kid")
    if not isinstance(sender_id, str) or not sender_id:
        raise PacketError(f"the packet names no {sender_role}")
    key = sender_key(sender_id)
    if key is None:
        raise PacketError(f"{sender_role} {sender_id} is not registered (or was revoked)")
    if inner.get("alg") != SIGNATURE_ALG:
        raise PacketError(f"not signed as packets are ({SIGNATURE_ALG})")
    try:
        signed.verify(key, alg=SIGNATURE_ALG)
    except (JWException, ValueError):
        raise PacketError(f"the signature of {sender_role} {sender_id} does not hold") from None
    packet_id, kind, version = inner.get("packet"), inner.get("kind"), inner.get("manifest")
    if not isinstance(packet_id, str) or not isinstance(kind, str):
        raise PacketError("the packet has no id or kind")
    if version != MANIFEST_VERSION:
        raise PacketError(f"manifest version {version!r}: this centre reads {MANIFEST_VERSION}")
    return OpenedPacket(packet_id, sender_id, kind, version, signed.payload)


def _compact(header: Mapping[str, Any]) -> str:
    return json.dumps(header, separators=(",", ":"), sort_keys=True)


def _json(value: Any) -> Mapping[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, Mapping) else {}
