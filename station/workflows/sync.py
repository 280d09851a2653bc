"""``station sync --centre URL``: the packets sent over the network when there is one.

Each packet the centre has not taken yet goes in its own HTTPS request (it may hold megabytes of
images), signed as this station (:mod:`station.exchange.tokens`); the centre's answer marks it at
once (acknowledged, held at the centre, or rejected with the reason), so a line that drops halfway
loses nothing: the next sync sends only what was not answered. A request that fails for the
network or the centre's load is retried with back-off (1, 2, 4... seconds); when the centre stays
out of reach the sync stops and says so, and the packets wait. Afterwards the station fetches its
acknowledgement, which also settles what went on sticks.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jwcrypto import jwk

from station.errors import StationError
from station.exchange.envelope import PacketError
from station.exchange.identity import TrustedCentre, signing_key
from station.exchange.tokens import SCHEME, station_token
from station.security.roles import SYSTEM, Actor, Permission
from station.workflows.packets import apply_acknowledgement, centre_or_fail, sealed_packets

if TYPE_CHECKING:
    from station.core import Station

RETRIED_STATUSES = {408, 429, 500, 502, 503, 504}


class CentreUnreachableError(StationError):
    code = "centre_unreachable"


@dataclass
class SyncResult:
    centre_url: str
    sent: int = 0
    acknowledged: int = 0
    held_at_centre: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    stopped: str | None = None  # why the sync stopped before the end (the rest waits)
    settled_by_acknowledgement: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "centre": self.centre_url,
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "held_at_centre": self.held_at_centre,
            "rejected": self.rejected,
            "stopped": self.stopped,
            "settled_by_acknowledgement": self.settled_by_acknowledgement,
        }


@dataclass
class _Client:
    base: str
    context: ssl.SSLContext
    station: Station
    centre: TrustedCentre
    attempts: int
    backoff: float
    timeout: float
    key: jwk.JWK  # the station's signing key, read once

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """(status, body); retried with back-off; CentreUnreachableError when it never answers."""
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            token = station_token(self.station.settings.station_id, self.key, self.centre.centre_id)
            request = urllib.request.Request(
                self.base + path,
                data=body,
                method=method,
                headers={
                    "Authorization": f"{SCHEME} {token}",
                    "Content-Type": "application/jose",
                },
            )
            try:
                with urllib.request.urlopen(
                    request, timeout=self.timeout, context=self.context
                ) as answer:
                    return int(answer.status), answer.read()
            except urllib.error.HTTPError as exc:
                if exc.code not in RETRIED_STATUSES:
                    return int(exc.code), exc.read()
                problem = f"the centre answered {exc.code}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
                problem = str(getattr(exc, "reason", exc))
        raise CentreUnreachableError(
            f"the centre at {self.base} did not answer after {self.attempts} attempts "
            f"({problem}): the packets wait; sync again later or hand them over on a stick"
        )


def _context(ca_file: Path | None) -> ssl.SSLContext:
    if not ca_file:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise StationError(f"cannot use {ca_file} as the centre's certificate: {exc}") from exc


def _message(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def sync_packets(
    station: Station,
    centre_url: str,
    ca_file: Path | None = None,
    actor: Actor = SYSTEM,
    *,
    attempts: int = 5,
    backoff: float = 1.0,
    timeout: float = 120.0,
) -> SyncResult:
    """Send every packet the centre has not taken to ``centre_url`` (https://host:port)."""
    station.allow(actor, Permission.HAND_OVER)
    centre = centre_or_fail(station)
    if not centre_url.startswith("https://"):
        raise StationError("the centre's address starts with https:// (packets travel over TLS)")
    with station.writing():
        key = signing_key(station.storage)
    client = _Client(
        centre_url.rstrip("/"), _context(ca_file), station, centre, attempts, backoff, timeout, key
    )
    result = SyncResult(centre_url)
    storage = station.storage
    try:
        for packet_id, data in sealed_packets(station, centre):
            status, body = client.request("POST", "/api/v1/packets", data)
            answer = _message(body)
            if status == 401:
                raise CentreUnreachableError(
                    f"the centre refuses this station: {answer.get('message', status)}"
                )
            result.sent += 1
            with station.writing():
                if status == 200 and answer.get("state") == "held":
                    storage.acknowledge_packet(packet_id, "held", answer.get("reason"))
                    result.held_at_centre += 1
                elif status == 200:
                    storage.acknowledge_packet(packet_id, "acknowledged", None)
                    result.acknowledged += 1
                else:
                    reason = str(answer.get("reason") or answer.get("message") or status)
                    storage.acknowledge_packet(packet_id, "rejected", reason)
                    result.rejected.append({"packet": packet_id, "reason": reason})
        status, body = client.request("GET", "/api/v1/acknowledgement")
        if status == 200:
            with station.writing():
                try:
                    settled = apply_acknowledgement(station, centre, body)
                    result.settled_by_acknowledgement = sum(settled)
                except PacketError as exc:
                    result.stopped = f"the acknowledgement did not open: {exc.reason}"
    except CentreUnreachableError as exc:
        result.stopped = str(exc)
    station.audit.append(
        actor.login,
        "packets_sync",
        outcome="stopped" if result.stopped else "ok",
        detail={
            "sent": result.sent,
            "acknowledged": result.acknowledged,
            "rejected": len(result.rejected),
        },
    )
    return result


def join_centre(
    station: Station, centre_url: str, code: str, ca_file: Path | None = None, actor: Actor = SYSTEM
) -> TrustedCentre:
    """Register this station at the centre with an enrolment code, over HTTPS, and trust the
    centre that answers (its TLS certificate, ``ca_file``, vouches for it)."""
    from station.exchange.identity import encryption_key, identity_document, trust_centre

    station.allow(actor, Permission.MAINTAIN)
    if not centre_url.startswith("https://"):
        raise StationError(
            "the centre's address starts with https:// (its identity comes over TLS)"
        )
    with station.writing():
        document = identity_document(
            station.settings.station_id,
            signing_key(station.storage),
            encryption_key(station.storage),
        )
    request = urllib.request.Request(
        centre_url.rstrip("/") + "/api/v1/stations",
        data=json.dumps({"code": code, "document": document}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60, context=_context(ca_file)) as answer:
            body = _message(answer.read())
    except urllib.error.HTTPError as exc:
        message = _message(exc.read()).get("message") or exc.code
        raise StationError(f"the centre refused to register this station: {message}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, ssl.SSLError) as exc:
        raise CentreUnreachableError(
            f"the centre at {centre_url} did not answer: {getattr(exc, 'reason', exc)}"
        ) from None
    with station.writing():
        answered = body.get("centre")
        if not isinstance(answered, dict):
            raise StationError("the centre's answer holds no identity document")
        keys = trust_centre(station.settings.data_dir, answered)
        station.audit.append(
            actor.login,
            "centre_trust",
            detail={"centre": keys.centre_id, "by": "enrolment_code"},
        )
    return keys
