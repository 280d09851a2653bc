"""A station proves who it is to the centre's server with its signing key.

Each request carries ``Authorization: Station TOKEN``, TOKEN a compact JWS (EdDSA, RFC 8037) by
the station's Ed25519 key over ``{"aud": centre id, "iat": seconds, "nonce": random}``, ``kid`` its
station id. The centre checks the signature with the key it registered, the audience and the time
(within :data:`MAX_SKEW_SECONDS`): no password, no shared secret, nothing a stolen request can be
reused for beyond minutes (and every upload is idempotent anyway).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable

from jwcrypto import jwk, jws
from jwcrypto.common import JWException

SCHEME = "Station"
MAX_SKEW_SECONDS = 300


class TokenError(Exception):
    """A request whose station cannot be trusted, with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def station_token(station_id: str, key: jwk.JWK, centre_id: str, now: float | None = None) -> str:
    claims = {"aud": centre_id, "iat": int(now or time.time()), "nonce": secrets.token_hex(8)}
    signed = jws.JWS(json.dumps(claims).encode())
    signed.add_signature(
        key, alg="EdDSA", protected=json.dumps({"alg": "EdDSA", "kid": station_id})
    )
    return signed.serialize(compact=True)


def check_token(
    header: str | None,
    centre_id: str,
    station_key: Callable[[str], jwk.JWK | None],
    now: float | None = None,
) -> str:
    """The station id an ``Authorization`` header proves, or :class:`TokenError`."""
    if not header or not header.startswith(f"{SCHEME} "):
        raise TokenError(f"sign the request: Authorization: {SCHEME} <token>")
    token = header[len(SCHEME) + 1 :].strip()
    signed = jws.JWS()
    try:
        signed.deserialize(token)
        protected = signed.jose_header
        if isinstance(protected, str):
            protected = json.loads(protected)
        if not isinstance(protected, dict):
            raise ValueError("no protected header")
    except (JWException, ValueError, KeyError, TypeError):
        raise TokenError("the station token is not a JWS with a station id") from None
    station_id = protected.get("kid")
    if not isinstance(station_id, str) or not station_id:
        raise TokenError("the station token names no station")
    key = station_key(station_id)
    if key is None:
        raise TokenError(f"station {station_id} is not registered (or was revoked)")
    try:
        signed.verify(key, alg="EdDSA")
        claims = json.loads(signed.payload)
    except (JWException, ValueError):
        raise TokenError(f"the token is not signed by station {station_id}'s key") from None
    if claims.get("aud") != centre_id:
        raise TokenError("the token is for another centre")
    issued = claims.get("iat")
    if not isinstance(issued, int) or abs((now or time.time()) - issued) > MAX_SKEW_SECONDS:
        raise TokenError("the token is too old or from the future: check the station's clock")
    return station_id
