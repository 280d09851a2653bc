"""Who is calling: every request but the public ones carries a live session (bearer token).

The check runs before any endpoint (``before_request``), so a new endpoint is protected unless it
is added to :data:`PUBLIC_ENDPOINTS`; each workflow then checks the role's permission itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, request

from station.api.app import API_PREFIX, get_station
from station.security.roles import Actor, Permission
from station.security.sessions import (
    PasswordChangeRequiredError,
    Session,
    SessionRequiredError,
)
from station.service import Station

View = TypeVar("View", bound=Callable[..., Any])
PUBLIC_ENDPOINTS = frozenset({"health.health", "auth.login"})
# Allowed with a one-time password still unchanged.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.change_password", "auth.logout", "auth.me"})


def token_of(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def bearer_token() -> str | None:
    return token_of(request.headers.get("Authorization", ""))


def front_door(station: Station) -> Callable[[str, str, dict[str, str]], bool]:
    """For the server: whether a request's body may be read before the application sees it.
    A request under the API that needs a session and has no live token is refused at once."""
    public = {f"{API_PREFIX}/health", f"{API_PREFIX}/auth/login"}

    def may_send_body(method: str, path: str, headers: dict[str, str]) -> bool:
        if not path.startswith(API_PREFIX + "/") or path in public:
            return True
        token = token_of(headers.get("AUTHORIZATION", ""))
        return token is not None and station.sessions.is_live(token)

    return may_send_body


def require_session() -> None:
    """``before_request``: refuse a request without a live session (401) or, while the
    one-time password is unchanged, anything but changing it (403)."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.routing_exception is not None:
        return  # public, or no such route or method: its 404/405 says so, signed in or not
    token = bearer_token()
    if token is None:
        raise SessionRequiredError()
    session = get_station().sessions.get(token)
    if session.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        raise PasswordChangeRequiredError()
    g.session = session
    g.token = token


def current_session() -> Session:
    session = g.get("session")
    if not isinstance(session, Session):
        raise SessionRequiredError()
    return session


def actor() -> Actor:
    """The signed-in operator of this request."""
    return current_session().actor


def requires(permission: Permission) -> Callable[[View], View]:
    """Check the caller's role before the endpoint reads anything (a refusal is audited)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            get_station().allow(actor(), permission, kwargs.get("record_id", kwargs.get("login")))
            return view(*args, **kwargs)

        return cast(View, checked)

    return decorate
