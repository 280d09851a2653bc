"""Who is calling: every request but the public ones carries a live session (bearer token).

The check runs before any endpoint (``before_request``), so a new endpoint is protected unless it
is added to :data:`PUBLIC_ENDPOINTS`; each workflow then checks the role's permission itself. The
server's front door (:func:`front_door`) refuses an anonymous body before reading it.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import g, request

from station.api.context import API_PREFIX, get_station
from station.core import Station
from station.security.sessions import PasswordChangeRequiredError, SessionRequiredError

PUBLIC_ENDPOINTS = frozenset({"status.health", "auth.login"})
PUBLIC_PATHS = frozenset({f"{API_PREFIX}/health", f"{API_PREFIX}/auth/login"})
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


def front_door(station: Station) -> Callable[[str, str, dict[str, str]], bool]:
    """For the server: whether a request's body may be read before the application sees it.
    A request under the API that needs a session and has no live token is refused at once."""

    def may_send_body(method: str, path: str, headers: dict[str, str]) -> bool:
        if not path.startswith(API_PREFIX + "/") or path in PUBLIC_PATHS:
            return True
        token = token_of(headers.get("AUTHORIZATION", ""))
        return token is not None and station.sessions.is_live(token)

    return may_send_body
