"""Operator accounts: unique logins, scrypt passwords, a forced change at first login, lockout.

Every sign-in, failure and account change is written to the audit trail in the same transaction
as the change. An unknown login, a wrong password and a locked account get the same answer
(``login_failed``) in the same time: every answer waits until at least ``answer_seconds`` (and
1.5 times the time a password check takes) have passed, and an unknown or locked login computes
no hash at all. Wrong passwords lock the account *for the client that sent them*
(``lockout_failures`` in a row, for ``lockout_seconds``): someone on another computer cannot lock
the real operator out. A flood from one client is refused by :mod:`station.security.throttle`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from station.audit import AuditLog
from station.errors import InvalidInputError, StationError
from station.security.passwords import (
    KdfParams,
    check_policy,
    hash_password,
    needs_rehash,
    one_time_password,
    verify_password,
)
from station.security.roles import LOGIN_ROLES, Actor, Permission, Role
from station.security.throttle import SignInThrottle
from station.storage import Storage, utc_now

log = logging.getLogger(__name__)

_LOGIN = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
_COLUMNS = (
    "id, login, role, password_hash, must_change_password, disabled, created_at, "
    "password_changed_at"
)
UNKNOWN_LOGIN = "unknown"  # the audit row's operator for a login that names no account


class LoginFailedError(StationError):
    """An unknown login, a wrong password or an account locked for this client: one answer."""

    code = "login_failed"

    def __init__(self) -> None:
        super().__init__(
            "wrong login or password (after several wrong passwords the account is locked for "
            "a while on this computer: wait, or ask a supervisor or admin to unlock it)"
        )


class AccountDisabledError(StationError):
    code = "account_disabled"

    def __init__(self) -> None:
        super().__init__("this account is disabled: ask an admin")


class OperatorNotFoundError(StationError):
    code = "operator_not_found"

    def __init__(self, login: str) -> None:
        super().__init__(f"no operator with login {login!r}")


@dataclass(frozen=True)
class Operator:
    id: int
    login: str
    role: Role
    password_hash: str
    must_change_password: bool
    disabled: bool
    created_at: str
    password_changed_at: str
    failed_logins: int = 0  # wrong passwords in a row, summed over the clients that sent them
    locked_until: float | None = None  # the latest lock still running, on any client

    @property
    def actor(self) -> Actor:
        return Actor(self.login, self.role)

    def to_json(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "role": self.role.value,
            "must_change_password": self.must_change_password,
            "failed_logins": self.failed_logins,
            "locked_until": self.locked_until,
            "disabled": self.disabled,
            "created_at": self.created_at,
            "password_changed_at": self.password_changed_at,
        }


def check_login(login: str) -> str:
    cleaned = login.strip().lower()
    if not _LOGIN.match(cleaned):
        raise InvalidInputError(
            "a login is 2-32 characters: lower-case letters, digits, '.', '_' or '-', starting "
            "with a letter",
            field="login",
        )
    return cleaned


def parse_role(value: str) -> Role:
    try:
        role = Role(value)
    except ValueError:
        role = Role.SYSTEM
    if role not in LOGIN_ROLES:
        raise InvalidInputError(
            f"role is one of {', '.join(r.value for r in LOGIN_ROLES)}", field="role"
        )
    return role


class Operators:
    """The accounts table, with the sign-in rules."""

    def __init__(
        self,
        storage: Storage,
        audit: AuditLog,
        kdf: KdfParams,
        lockout_failures: int,
        lockout_seconds: float,
        answer_seconds: float = 0.0,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self.storage = storage
        self.audit = audit
        self.kdf = kdf
        self.lockout_failures = lockout_failures
        self.lockout_seconds = lockout_seconds
        self.answer_seconds = answer_seconds
        self.throttle = throttle or SignInThrottle()
        self.clock: Callable[[], float] = time.time
        self.sleep: Callable[[float], None] = time.sleep
        self._dummy_hash: str | None = None
        self._check_seconds = 0.0  # a running estimate of one password check

    # -- reading ------------------------------------------------------------------------------

    def _find(self, login: str) -> Operator | None:
        with self.storage.reading() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM operators WHERE login = ?", (login,)
            ).fetchone()
            if row is None:
                return None
            failures, locked = db.execute(
                "SELECT COALESCE(SUM(failures), 0), MAX(locked_until) FROM login_failures "
                "WHERE login = ? AND (locked_until IS NULL OR locked_until > ?)",
                (row[1], self.clock()),
            ).fetchone()
        (oid, name, role, phash, must, disabled, created, changed) = row
        return Operator(
            oid,
            name,
            Role(role),
            phash,
            bool(must),
            bool(disabled),
            created,
            changed,
            failed_logins=int(failures),
            locked_until=locked,
        )

    def get(self, login: str) -> Operator:
        found = self._find(login.strip().lower())
        if found is None:
            raise OperatorNotFoundError(login)
        return found

    def count(self) -> int:
        with self.storage.reading() as db:
            return int(db.execute("SELECT COUNT(*) FROM operators").fetchone()[0])

    def list(self, actor: Actor) -> list[Operator]:
        actor.require(Permission.MANAGE_OPERATORS)
        with self.storage.reading() as db:
            logins = [r[0] for r in db.execute("SELECT login FROM operators ORDER BY login")]
        return [self.get(login) for login in logins]

    # -- accounts -----------------------------------------------------------------------------

    def create(
        self, actor: Actor, login: str, role: str, password: str | None = None
    ) -> tuple[Operator, str | None]:
        """A new account. Without ``password`` a one-time password is made and returned; either
        way the new operator must change it at first login, unless the system creates the first
        admin with a password its holder chose."""
        actor.require(Permission.MANAGE_OPERATORS)
        login = check_login(login)
        chosen_role = parse_role(role)
        generated = None
        if password is None:
            password = generated = one_time_password()
        else:
            check_policy(password, login)
        must_change = generated is not None or actor.role is not Role.SYSTEM
        phash = hash_password(password, self.kdf)
        now = utc_now()
        with self.storage.transaction() as db:
            if self._find(login) is not None:
                raise InvalidInputError(f"the login {login!r} is taken", field="login")
            db.execute(
                "INSERT INTO operators (login, role, password_hash, must_change_password, "
                "created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                (login, chosen_role.value, phash, int(must_change), now, now),
            )
            self.audit.append(
                actor.login, "operator_create", target=login, detail={"role": chosen_role.value}
            )
        log.info("operator %s created with role %s by %s", login, chosen_role, actor.login)
        return self.get(login), generated

    def _update(self, login: str, **values: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self.storage.transaction() as db:
            db.execute(
                f"UPDATE operators SET {assignments} WHERE login = ?", (*values.values(), login)
            )

    def reset_password(self, actor: Actor, login: str) -> str:
        """A new one-time password (to be changed at next login); also lifts a lockout."""
        actor.require(Permission.MANAGE_OPERATORS)
        target = self.get(login)
        password = one_time_password()
        with self.storage.transaction():
            self._update(
                target.login,
                password_hash=hash_password(password, self.kdf),
                must_change_password=1,
                password_changed_at=utc_now(),
            )
            self._clear_failures(target.login)
            self.audit.append(actor.login, "operator_reset", target=target.login)
        return password

    def unlock(self, actor: Actor, login: str) -> None:
        actor.require(Permission.UNLOCK_OPERATORS)
        target = self.get(login)
        with self.storage.transaction():
            self._clear_failures(target.login)
            self.audit.append(actor.login, "operator_unlock", target=target.login)

    def set_disabled(self, actor: Actor, login: str, disabled: bool) -> None:
        actor.require(Permission.MANAGE_OPERATORS)
        target = self.get(login)
        if disabled and target.login == actor.login:
            raise InvalidInputError("an admin cannot disable their own account", field="login")
        with self.storage.transaction():
            self._update(target.login, disabled=int(disabled))
            self.audit.append(
                actor.login, "operator_disable", target=target.login, detail={"disabled": disabled}
            )

    def set_document(self, actor: Actor, login: str, document_number: str | None) -> None:
        """Record the operator's own ID document (as a keyed hash only), so the station can
        refuse to let them enroll or verify themselves; None forgets it."""
        actor.require(Permission.MANAGE_OPERATORS)
        target = self.get(login)
        number = None if document_number is None else document_number.strip().upper()
        if number is not None and not re.fullmatch(r"[A-Z0-9<]{1,20}", number):
            raise InvalidInputError(
                "document_number takes up to 20 letters A-Z and digits", field="document_number"
            )
        with self.storage.transaction():
            self._update(target.login, document_index=self.storage.document_index(number))
            self.audit.append(
                actor.login,
                "operator_update",
                target=target.login,
                detail={"document": bool(number)},
            )

    def language_of(self, login: str) -> str | None:
        """The console language the operator chose at their last sign-in, if any."""
        with self.storage.reading() as db:
            row = db.execute("SELECT language FROM operators WHERE login = ?", (login,)).fetchone()
        return None if row is None else row[0]

    def set_language(self, login: str, language: str) -> None:
        with self.storage.transaction():
            self._update(login, language=language)

    def document_index_of(self, login: str) -> str | None:
        """The keyed hash of the operator's own document number, if an admin recorded it."""
        with self.storage.reading() as db:
            row = db.execute(
                "SELECT document_index FROM operators WHERE login = ?", (login,)
            ).fetchone()
        return None if row is None else row[0]

    # -- signing in ---------------------------------------------------------------------------

    def authenticate(
        self, login: str, password: str, channel: str = "api", client: str = "local"
    ) -> Operator:
        """The operator if the password is right; every outcome is audited, every failure is the
        same :class:`LoginFailedError` at the same time (a disabled account, once the password
        is proved right, says so)."""
        found = self._check_password(login, password, channel, client)
        with self.storage.transaction():
            if needs_rehash(found.password_hash, self.kdf):
                self._update(found.login, password_hash=hash_password(password, self.kdf))
            self.audit.append(found.login, "login", detail={"via": channel})
        return self.get(found.login)

    def change_password(
        self, login: str, current: str, new: str, channel: str = "api", client: str = "local"
    ) -> Operator:
        """Change one's own password; the current one is checked like a sign-in (lockout)."""
        found = self._check_password(login, current, channel, client)
        check_policy(new, found.login, field="new_password")
        if verify_password(new, found.password_hash):
            raise InvalidInputError(
                "the new password must differ from the current one", field="new_password"
            )
        with self.storage.transaction():
            self._update(
                found.login,
                password_hash=hash_password(new, self.kdf),
                must_change_password=0,
                password_changed_at=utc_now(),
            )
            self.audit.append(found.login, "password_change", target=found.login)
        return self.get(found.login)

    def _check_password(self, login: str, password: str, channel: str, client: str) -> Operator:
        """The account if it exists, is not locked for this client, the password is right and
        the account is enabled. Each refusal is audited; the answer comes no sooner than the
        floor, whichever way it went."""
        with self.throttle.attempt(client):
            started = time.monotonic()
            try:
                return self._judge(login, password, channel, client)
            except LoginFailedError:
                self.throttle.failed(client)
                raise
            finally:
                self.sleep(max(0.0, started + self._floor() - time.monotonic()))

    def _judge(self, login: str, password: str, channel: str, client: str) -> Operator:
        name = login.strip().lower()
        found = self._find(name) if _LOGIN.match(name) else None
        via = {"via": channel}
        if found is None:
            self.audit.append(
                UNKNOWN_LOGIN,
                "login_failed",
                outcome="unknown_login",
                detail={**via, "login_hash": self._login_hash(login)},
            )
            raise LoginFailedError()
        now = self.clock()
        failures, locked_until = self._failures(found.login, client)
        if locked_until is not None and locked_until > now:
            self.audit.append(found.login, "login_failed", outcome="locked", detail=via)
            raise LoginFailedError()
        if not self._timed_verify(password, found.password_hash):
            failures += 1
            locked = now + self.lockout_seconds if failures >= self.lockout_failures else None
            with self.storage.transaction():
                self._set_failures(found.login, client, 0 if locked else failures, locked)
                self.audit.append(
                    found.login,
                    "login_failed",
                    outcome="locked" if locked else "wrong_password",
                    detail={**via, "failures": failures},
                )
            raise LoginFailedError()
        if found.disabled:
            self.audit.append(found.login, "login_failed", outcome="disabled", detail=via)
            raise AccountDisabledError()
        with self.storage.transaction():
            self._set_failures(found.login, client, 0, None)
        return found

    def _timed_verify(self, password: str, stored: str) -> bool:
        started = time.monotonic()
        try:
            return verify_password(password, stored)
        finally:
            took = time.monotonic() - started
            self._check_seconds = (
                took if not self._check_seconds else (0.8 * self._check_seconds + 0.2 * took)
            )

    def _floor(self) -> float:
        """How long every answer takes at least: the setting, or 1.5 checks if longer."""
        if not self._check_seconds:
            self._timed_verify("", self._dummy())
        return max(self.answer_seconds, 1.5 * self._check_seconds)

    def _login_hash(self, login: str) -> str:
        """8 hex digits of a keyed hash of what was typed: repeated tries of one name can be told
        apart in the audit trail, and a password typed into the login field is not kept."""
        digest = hmac.new(self.storage.index_key, b"login:" + login.encode(), hashlib.sha256)
        return digest.hexdigest()[:8]

    # -- failures by client -------------------------------------------------------------------

    def _failures(self, login: str, client: str) -> tuple[int, float | None]:
        with self.storage.reading() as db:
            row = db.execute(
                "SELECT failures, locked_until FROM login_failures WHERE login = ? AND client = ?",
                (login, client),
            ).fetchone()
        return (0, None) if row is None else (int(row[0]), row[1])

    def _set_failures(
        self, login: str, client: str, failures: int, locked_until: float | None
    ) -> None:
        with self.storage.transaction() as db:
            if not failures and locked_until is None:
                db.execute(
                    "DELETE FROM login_failures WHERE login = ? AND client = ?", (login, client)
                )
                return
            db.execute(
                "INSERT OR REPLACE INTO login_failures (login, client, failures, locked_until, "
                "updated_at) VALUES (?, ?, ?, ?, ?)",
                (login, client, failures, locked_until, self.clock()),
            )
            db.execute(  # forget what is long over
                "DELETE FROM login_failures WHERE updated_at < ? AND "
                "(locked_until IS NULL OR locked_until < ?)",
                (self.clock() - 7 * 86400, self.clock()),
            )

    def _clear_failures(self, login: str) -> None:
        with self.storage.transaction() as db:
            db.execute("DELETE FROM login_failures WHERE login = ?", (login,))

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = hash_password(one_time_password(), self.kdf)
        return self._dummy_hash
