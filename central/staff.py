"""The centre's staff: unique logins, strong passwords, roles, as on the station.

Every ``central`` command names who runs it (``--operator LOGIN`` or ``$CENTRAL_OPERATOR``) and
signs in with that login's password (``$CENTRAL_PASSWORD`` or a prompt); the audit trail records
the login. Passwords follow the station's policy (8+ characters, upper, lower, digit, special)
and are kept as scrypt hashes; five wrong passwords in a row lock the account for 15 minutes. A
new account gets a one-time password it must change before anything else. The first account of a
new centre is its admin, made by whoever installed it (``central staff add LOGIN --role admin``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from central.register import Register
from station.errors import StationError
from station.security.passwords import (
    KdfParams,
    check_policy,
    hash_password,
    one_time_password,
    verify_password,
)

LOCK_AFTER = 5
LOCK_MINUTES = 15
SCHEMA = """
CREATE TABLE IF NOT EXISTS staff (
    login text PRIMARY KEY,
    role text NOT NULL,
    password text NOT NULL,
    must_change boolean NOT NULL DEFAULT true,
    disabled boolean NOT NULL DEFAULT false,
    failures int NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL
);
"""


class StaffRole(StrEnum):
    REGISTRAR = "registrar"  # imports packets, makes rolls, runs the server
    REVIEWER = "reviewer"  # decides on held records and likely duplicates
    AUDITOR = "auditor"  # reads and verifies the audit trail
    ADMIN = "admin"  # stations and staff


class Duty(StrEnum):
    IMPORT = "import"
    DEDUP = "dedup"
    ROLLS = "rolls"
    SERVE = "serve"
    STATUS = "status"
    REVIEW = "review"
    AUDIT = "audit"
    STATIONS = "stations"
    STAFF = "staff"


DUTIES: dict[StaffRole, frozenset[Duty]] = {
    StaffRole.REGISTRAR: frozenset({Duty.IMPORT, Duty.DEDUP, Duty.ROLLS, Duty.SERVE, Duty.STATUS}),
    StaffRole.REVIEWER: frozenset({Duty.REVIEW, Duty.STATUS}),
    StaffRole.AUDITOR: frozenset({Duty.AUDIT, Duty.STATUS}),
    StaffRole.ADMIN: frozenset({Duty.STATIONS, Duty.STAFF, Duty.STATUS, Duty.SERVE}),
}


class SignInError(StationError):
    """A sign-in refused; one message for unknown, wrong and locked, as on the station."""

    code = "login_failed"

    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "the login or password is wrong, or the account is locked for a while"
            + (f" ({detail})" if detail else "")
        )


class NotAllowedError(StationError):
    code = "permission_denied"


@dataclass(frozen=True)
class StaffMember:
    login: str
    role: StaffRole
    must_change: bool

    def may(self, duty: Duty) -> bool:
        return duty in DUTIES[self.role]


class Staff:
    def __init__(self, register: Register, kdf: KdfParams | None = None) -> None:
        self.register = register
        self.kdf = kdf or KdfParams()
        self._decoy_hash: str | None = None
        register.db.execute(SCHEMA)

    def _decoy(self) -> str:
        if self._decoy_hash is None:
            self._decoy_hash = hash_password(one_time_password(), self.kdf)
        return self._decoy_hash

    def count(self) -> int:
        row = self.register.db.execute("SELECT count(*) AS n FROM staff").fetchone()
        return int(row["n"]) if row else 0

    def add(
        self,
        login: str,
        role: StaffRole,
        created_by: str,
        password: str | None = None,
        must_change: bool = True,
    ) -> str:
        """Make an account; its password (``password`` if given, checked against the policy,
        else a one-time one) is returned to hand to the person, who changes it first (unless
        ``must_change`` is False: the installer's own admin with the password they chose)."""
        if not login or not login.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise StationError("a login is letters, digits, '.', '-' or '_'")
        chosen = password or one_time_password()
        check_policy(chosen, login)
        exists = self.register.db.execute(
            "SELECT 1 FROM staff WHERE login = %s", (login,)
        ).fetchone()
        if exists:
            raise StationError(f"the login {login} is taken: logins are unique")
        self.register.db.execute(
            "INSERT INTO staff (login, role, password, created_by, must_change) "
            "VALUES (%s, %s, %s, %s, %s)",
            (login, role.value, hash_password(chosen, self.kdf), created_by, must_change),
        )
        return chosen

    def sign_in(self, login: str, password: str) -> StaffMember:
        db = self.register.db
        row = db.execute("SELECT * FROM staff WHERE login = %s", (login,)).fetchone()
        now = dt.datetime.now(dt.UTC)
        if row is None or row["disabled"] or (row["locked_until"] and row["locked_until"] > now):
            verify_password(password, self._decoy())  # one hash, as a real check takes
            raise SignInError()
        if not verify_password(password, row["password"]):
            failures = int(row["failures"]) + 1
            locked = now + dt.timedelta(minutes=LOCK_MINUTES) if failures >= LOCK_AFTER else None
            db.execute(
                "UPDATE staff SET failures = %s, locked_until = %s WHERE login = %s",
                (0 if locked else failures, locked, login),
            )
            raise SignInError()
        db.execute("UPDATE staff SET failures = 0, locked_until = NULL WHERE login = %s", (login,))
        return StaffMember(login, StaffRole(row["role"]), bool(row["must_change"]))

    def change_password(self, login: str, old: str, new: str) -> None:
        member = self.sign_in(login, old)
        check_policy(new, login, field="new password")
        if new == old:
            raise StationError("the new password must differ from the old one")
        self.register.db.execute(
            "UPDATE staff SET password = %s, must_change = false WHERE login = %s",
            (hash_password(new, self.kdf), member.login),
        )

    def disable(self, login: str) -> None:
        changed = self.register.db.execute(
            "UPDATE staff SET disabled = true WHERE login = %s", (login,)
        ).rowcount
        if not changed:
            raise StationError(f"no staff member {login}")

    def list(self) -> list[dict[str, object]]:
        return self.register.db.execute(
            "SELECT login, role, must_change, disabled, created_at, created_by FROM staff "
            "ORDER BY login"
        ).fetchall()


def require(member: StaffMember, duty: Duty) -> None:
    if member.must_change:
        raise NotAllowedError(
            f"{member.login} must change the one-time password first: "
            f"`central staff password --operator {member.login}`"
        )
    if not member.may(duty):
        raise NotAllowedError(
            f"{member.login} ({member.role.value}) may not do this ({duty.value})"
        )
