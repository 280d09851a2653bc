"""Signing in and out, one's own password, and the operator accounts an admin manages.

The rules live in :mod:`station.security.operators` (passwords, lockout per client, one answer
for every failure) and :mod:`station.security.sessions`; these jobs join them: a password reset,
a change or a disabled account ends the operator's other sessions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from station.security.operators import Operator
from station.security.roles import SYSTEM, Actor, Permission
from station.security.sessions import PasswordChangeRequiredError, Session

if TYPE_CHECKING:
    from station.core import Station


def sign_in(
    station: Station, login: str, password: str, client: str = "local"
) -> tuple[str, Session]:
    """A new session (its bearer token and the session) for the operator; ``client`` is where
    the attempt came from (lockout and throttling are per client)."""
    operator = station.operators.authenticate(login, password, channel="api", client=client)
    return station.sessions.start(operator.actor, operator.must_change_password)


def sign_out(station: Station, token: str) -> None:
    session = station.sessions.end(token)
    if session is not None:
        station.audit.append(session.actor.login, "logout")


def authenticate(station: Station, login: str, password: str) -> Actor:
    """Who a one-shot command acts as (the CLI on an open station): the same rules and audit as
    a sign-in, no session."""
    operator = station.operators.authenticate(login, password, channel="cli", client="cli")
    if operator.must_change_password:
        raise PasswordChangeRequiredError()
    return operator.actor


def change_password(
    station: Station, token: str, current: str, new: str, client: str = "local"
) -> Session:
    """Change the session holder's password; their other sessions end."""
    session = station.sessions.get(token)
    login = session.actor.login
    station.operators.change_password(login, current, new, channel="api", client=client)
    station.sessions.end_all(login, keep=token)
    station.sessions.password_changed(token)
    return station.sessions.get(token)


def list_operators(station: Station, actor: Actor = SYSTEM) -> list[Operator]:
    station.allow(actor, Permission.MANAGE_OPERATORS)
    return station.operators.list(actor)


def create_operator(
    station: Station, login: str, role: str, actor: Actor = SYSTEM, password: str | None = None
) -> tuple[Operator, str | None]:
    """A new account; without ``password`` a one-time password to hand over is returned."""
    station.allow(actor, Permission.MANAGE_OPERATORS)
    return station.operators.create(actor, login, role, password)


def reset_password(station: Station, login: str, actor: Actor = SYSTEM) -> str:
    """A new one-time password; the operator is signed out everywhere."""
    station.allow(actor, Permission.MANAGE_OPERATORS, login)
    password = station.operators.reset_password(actor, login)
    station.sessions.end_all(station.operators.get(login).login)
    return password


def unlock_operator(station: Station, login: str, actor: Actor = SYSTEM) -> Operator:
    station.allow(actor, Permission.UNLOCK_OPERATORS, login)
    station.operators.unlock(actor, login)
    return station.operators.get(login)


def set_operator_disabled(
    station: Station, login: str, disabled: bool, actor: Actor = SYSTEM
) -> Operator:
    """Disable (the operator is signed out everywhere) or enable an account."""
    station.allow(actor, Permission.MANAGE_OPERATORS, login)
    station.operators.set_disabled(actor, login, disabled)
    operator = station.operators.get(login)
    if disabled:
        station.sessions.end_all(operator.login)
    return operator


def set_operator_document(
    station: Station, login: str, document_number: str | None, actor: Actor = SYSTEM
) -> None:
    """Record the operator's own ID document (a keyed hash only), so they cannot enroll or
    verify themselves; None forgets it."""
    station.allow(actor, Permission.MANAGE_OPERATORS, login)
    station.operators.set_document(actor, login, document_number)
