"""Who is calling: every request but the public ones carries a live session (bearer token).

The check runs before any endpoint (``before_request``), so a new endpoint is protected unless it
is added to :data:`PUBLIC_ENDPOINTS`; each workflow then checks the role's permission itself. The
server's front door (:func:`front_door`) refuses an anonymous body before reading it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from flask import g, request

from station.api.context import API_PREFIX, get_station
from station.api.openapi import query_parameters
from station.core import Station
from station.errors import InvalidInputError
from station.security.sessions import PasswordChangeRequiredError, SessionRequiredError

PUBLIC_ENDPOINTS = frozenset({"status.health", "auth.login", "openapi.spec"})
PUBLIC_PATHS = frozenset(
    {f"{API_PREFIX}/health", f"{API_PREFIX}/auth/login", f"{API_PREFIX}/openapi.json"}
)
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
    if not request.path.startswith(API_PREFIX + "/"):
        return  # the console has its own sessions (station.console.session)
    if request.routing_exception is not None:
        return  # no such route or method: its 404/405 says so, signed in or not
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    token = bearer_token()
    if token is None:
        raise SessionRequiredError()
    session = get_station().sessions.get(token)
    if session.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        raise PasswordChangeRequiredError()
    g.session = session
    g.token = token


def refuse_unknown_query() -> None:
    """``before_request``: a query parameter the operation does not take is an error, not
    silently ignored (a typo such as ?limt=5 would otherwise look like it worked)."""
    if (
        request.url_rule is None
        or not request.query_string
        or not request.path.startswith(API_PREFIX)
    ):
        return
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", request.url_rule.rule).removeprefix(API_PREFIX)
    sent = {
        name
        for name, _ in parse_qsl(
            request.query_string.decode("utf-8", "replace"), keep_blank_values=True
        )
    }
    unknown = sorted(sent - query_parameters(path, request.method))
    if unknown:
        valid = ", ".join(sorted(query_parameters(path, request.method))) or "none"
        shown = ", ".join(repr(name) for name in unknown)
        raise InvalidInputError(
            f"unknown query parameter(s) {shown}; valid here: {valid}", field=unknown[0] or None
        )


def front_door(station: Station) -> Callable[[str, str, dict[str, str]], bool]:
    """For the server: whether a request's body may be read before the application sees it.
    A request under the API that needs a session and has no live token is refused at once."""

    def may_send_body(method: str, path: str, headers: dict[str, str]) -> bool:
        if not path.startswith(API_PREFIX + "/") or path in PUBLIC_PATHS:
            return True
        token = token_of(headers.get("AUTHORIZATION", ""))
        return token is not None and station.sessions.is_live(token)

    return may_send_body
