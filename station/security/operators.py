"""Operator accounts: unique logins, scrypt passwords, a forced change at first login, lockout.

Every sign-in, failure and account change is written to the audit trail in the same transaction
as the change. A wrong login and a wrong password get the same answer in the same time.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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
from station.storage import Storage, utc_now

log = logging.getLogger(__name__)

_LOGIN = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
_COLUMNS = (
    "id, login, role, password_hash, must_change_password, failed_logins, locked_until, "
    "disabled, created_at, password_changed_at"
)


class LoginFailedError(StationError):
    code = "login_failed"
    http_status = 401

    def __init__(self) -> None:
        super().__init__("wrong login or password")


class AccountLockedError(StationError):
    code = "account_locked"
    http_status = 403

    def __init__(self, until: float) -> None:
        self.until = until
        moment = datetime.fromtimestamp(until, UTC).strftime("%H:%M UTC")
        super().__init__(
            f"this account is locked after repeated wrong passwords until {moment}: wait, or ask "
            "a supervisor or admin to unlock it"
        )


class AccountDisabledError(StationError):
    code = "account_disabled"
    http_status = 403

    def __init__(self) -> None:
        super().__init__("this account is disabled: ask an admin")


class OperatorNotFoundError(StationError):
    code = "operator_not_found"
    http_status = 404

    def __init__(self, login: str) -> None:
        super().__init__(f"no operator with login {login!r}")


@dataclass(frozen=True)
class Operator:
    id: int
    login: str
    role: Role
    password_hash: str
    must_change_password: bool
    failed_logins: int
    locked_until: float | None
    disabled: bool
    created_at: str
    password_changed_at: str

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
    ) -> None:
        self.storage = storage
        self.audit = audit
        self.kdf = kdf
        self.lockout_failures = lockout_failures
        self.lockout_seconds = lockout_seconds
        self.clock: Callable[[], float] = time.time
        self._dummy_hash: str | None = None

    # -- reading ------------------------------------------------------------------------------

    def _find(self, login: str) -> Operator | None:
        with self.storage.reading() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM operators WHERE login = ?", (login,)
            ).fetchone()
        if row is None:
            return None
        (oid, name, role, phash, must, failed, locked, disabled, created, changed) = row
        return Operator(
            oid,
            name,
            Role(role),
            phash,
            bool(must),
            failed,
            locked,
            bool(disabled),
            created,
            changed,
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
                failed_logins=0,
                locked_until=None,
                password_changed_at=utc_now(),
            )
            self.audit.append(actor.login, "operator_reset", target=target.login)
        return password

    def unlock(self, actor: Actor, login: str) -> None:
        actor.require(Permission.UNLOCK_OPERATORS)
        target = self.get(login)
        with self.storage.transaction():
            self._update(target.login, failed_logins=0, locked_until=None)
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
        refuse to let them enrol or verify themselves; None forgets it."""
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

    def document_index_of(self, login: str) -> str | None:
        """The keyed hash of the operator's own document number, if an admin recorded it."""
        with self.storage.reading() as db:
            row = db.execute(
                "SELECT document_index FROM operators WHERE login = ?", (login,)
            ).fetchone()
        return None if row is None else row[0]

    # -- signing in ---------------------------------------------------------------------------

    def authenticate(self, login: str, password: str, channel: str = "api") -> Operator:
        """The operator if the password is right; counts failures and locks the account after
        ``lockout_failures`` in a row. Every outcome is audited."""
        found = self._check_password(login, password, channel)
        with self.storage.transaction():
            self._update(found.login, failed_logins=0, locked_until=None)
            if needs_rehash(found.password_hash, self.kdf):
                self._update(found.login, password_hash=hash_password(password, self.kdf))
            self.audit.append(found.login, "login", detail={"via": channel})
        return self.get(found.login)

    def change_password(self, login: str, current: str, new: str, channel: str = "api") -> Operator:
        """Change one's own password; the current one is checked like a sign-in (lockout)."""
        found = self._check_password(login, current, channel)
        check_policy(new, found.login)
        if verify_password(new, found.password_hash):
            raise InvalidInputError(
                "the new password must differ from the current one", field="password"
            )
        with self.storage.transaction():
            self._update(
                found.login,
                password_hash=hash_password(new, self.kdf),
                must_change_password=0,
                failed_logins=0,
                password_changed_at=utc_now(),
            )
            self.audit.append(found.login, "password_change", target=found.login)
        return self.get(found.login)

    def _check_password(self, login: str, password: str, channel: str) -> Operator:
        """The account if it exists, is not locked or disabled, and the password is right; each
        refusal is audited, and wrong passwords count towards a lockout."""
        name = login.strip().lower()
        valid = _LOGIN.match(name) is not None
        shown = name if valid else "invalid-login"
        found = self._find(name) if valid else None
        now = self.clock()
        if found is None:
            verify_password(password, self._dummy())  # the same time as a real check
            self.audit.append(
                shown, "login_failed", outcome="unknown_login", detail={"via": channel}
            )
            raise LoginFailedError()
        if found.locked_until is not None and found.locked_until > now:
            self.audit.append(shown, "login_failed", outcome="locked", detail={"via": channel})
            raise AccountLockedError(found.locked_until)
        if not verify_password(password, found.password_hash):
            failures = found.failed_logins + 1
            locked = now + self.lockout_seconds if failures >= self.lockout_failures else None
            with self.storage.transaction():
                self._update(
                    found.login, failed_logins=0 if locked else failures, locked_until=locked
                )
                self.audit.append(
                    shown,
                    "login_failed",
                    outcome="locked" if locked else "wrong_password",
                    detail={"via": channel, "failures": failures},
                )
            if locked:
                raise AccountLockedError(locked)
            raise LoginFailedError()
        if found.disabled:
            self.audit.append(shown, "login_failed", outcome="disabled", detail={"via": channel})
            raise AccountDisabledError()
        return found

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = hash_password(one_time_password(), self.kdf)
        return self._dummy_hash
