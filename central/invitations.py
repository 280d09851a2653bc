"""Enrolment codes: a station registers at first contact instead of carrying a file.

An admin makes a code (``central stations invite``: ten characters, one use, valid some hours,
kept only as a keyed hash) and reads it to the kit's supervisor; the station sends its identity
document with the code over HTTPS to ``central serve`` (``station centre join``), whose TLS
certificate the station already trusts (``--ca``), and gets the centre's identity document back in
the same answer. A wrong, used or expired code is refused, and each try is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from central.register import Register
from central.stations import RegisteredStation, StationRegistry
from station.errors import StationError

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # read aloud and typed: no 0/O, 1/I
SCHEMA = """
CREATE TABLE IF NOT EXISTS invitations (
    code_hash text PRIMARY KEY,
    made_by text NOT NULL,
    made_at timestamptz NOT NULL DEFAULT now(),
    expires timestamptz NOT NULL,
    used_by text,
    used_at timestamptz
);
"""


class InvitationError(StationError):
    code = "invitation_refused"


def _hash(register: Register, code: str) -> str:
    normal = code.strip().upper().replace("-", "").replace(" ", "")
    return hmac.new(register.secret("invitation_key"), normal.encode(), hashlib.sha256).hexdigest()


def invite(register: Register, made_by: str, hours: int = 24) -> str:
    """A new one-time code, valid ``hours``; shown once, kept only as its hash."""
    register.db.execute(SCHEMA)
    code = "".join(secrets.choice(ALPHABET) for _ in range(10))
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)
    register.db.execute(
        "INSERT INTO invitations (code_hash, made_by, expires) VALUES (%s, %s, %s)",
        (_hash(register, code), made_by, expires),
    )
    return f"{code[:5]}-{code[5:]}"


def join(register: Register, code: str, document: Any) -> RegisteredStation:
    """Register the station of ``document`` if ``code`` is a valid unused invitation."""
    register.db.execute(SCHEMA)
    if not isinstance(code, str) or not code.strip():
        raise InvitationError("give the enrolment code the centre's admin made for this station")
    station_id = document.get("station_id") if isinstance(document, dict) else None
    with register.transaction() as db:
        row = db.execute(
            "SELECT expires, used_by FROM invitations WHERE code_hash = %s FOR UPDATE",
            (_hash(register, code),),
        ).fetchone()
        if row is None:
            raise InvitationError("this enrolment code is not one the centre made")
        if row["used_by"] is not None:
            raise InvitationError(f"this enrolment code was used already (by {row['used_by']})")
        if row["expires"] < dt.datetime.now(dt.UTC):
            raise InvitationError("this enrolment code has expired: ask for a new one")
        registered = StationRegistry(register).add(document)
        db.execute(
            "UPDATE invitations SET used_by = %s, used_at = now() WHERE code_hash = %s",
            (station_id, _hash(register, code)),
        )
    return registered
