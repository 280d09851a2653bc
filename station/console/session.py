"""Who is at the console: the station's own session, carried by a cookie; CSRF tokens on every
form; the checks every page runs before it answers.

The cookie holds the session's bearer token (HttpOnly: no script reads it; SameSite=Strict: no
other site's page sends it; Secure over HTTPS). A form's CSRF token is an HMAC of the session
token (or, before signing in, of a random form cookie) under a key this process made at start:
a form from another site, or from an older session, is refused.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Response, abort, g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from station.api.context import get_station
from station.errors import StationError
from station.security.roles import Actor, Permission
from station.security.sessions import Session, SessionExpiredError, SessionRequiredError

COOKIE = "station_console"
FORM_COOKIE = "station_form"
_KEY = secrets.token_bytes(32)
View = TypeVar("View", bound=Callable[..., Any])


class StaleFormError(StationError):
    code = "stale_form"

    def __init__(self) -> None:
        super().__init__("this form is out of date: go back, reload the page and try again")


@dataclass(frozen=True)
class Visit:
    """The signed-in operator of this request."""

    token: str
    session: Session

    @property
    def actor(self) -> Actor:
        return self.session.actor

    def may(self, permission: Permission) -> bool:
        return self.actor.may(permission)


def _mac(value: str) -> str:
    return hmac.new(_KEY, value.encode(), hashlib.sha256).hexdigest()[:40]


def csrf_token() -> str:
    """The token every form of this page carries (a hidden ``csrf`` field)."""
    visit = current()
    if visit is not None:
        return _mac("session:" + visit.token)
    form_secret = g.get("form_secret") or request.cookies.get(FORM_COOKIE)
    if not form_secret:
        form_secret = g.form_secret = secrets.token_urlsafe(24)
    return _mac("form:" + form_secret)


def check_csrf() -> None:
    """Refuse a POST whose form does not carry this page's token."""
    sent = request.form.get("csrf", "")
    expected = csrf_token()
    if not sent or not hmac.compare_digest(sent, expected):
        raise StaleFormError()


def load_visit() -> None:
    """``before_request``: the session of the console cookie, if it is still live."""
    g.visit = None
    token = request.cookies.get(COOKIE)
    if not token:
        return
    station = get_station()
    try:
        session = station.sessions.get(token)
    except SessionExpiredError:
        g.expired = True
        return
    except SessionRequiredError:
        return
    g.visit = Visit(token, session)
    g.language = station.operators.language_of(session.actor.login)


def current() -> Visit | None:
    visit = g.get("visit")
    return visit if isinstance(visit, Visit) else None


def visit() -> Visit:
    found = current()
    if found is None:
        abort(401)
    return found


def seconds_left(found: Visit) -> int:
    """Seconds until the session ends unless something happens (the idle warning's clock)."""
    return max(0, int(found.session.expires_at - get_station().sessions.clock()))


def page(permission: Permission | None = None) -> Callable[[View], View]:
    """A page for a signed-in operator (with ``permission``, for the roles that have it)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            found = current()
            if found is None:
                if g.get("expired"):
                    return redirect(url_for("console.sign_in", ended="idle"))
                return redirect(url_for("console.sign_in"))
            if found.session.must_change_password and view.__name__ != "password":
                return redirect(url_for("console.password"))
            if permission is not None:
                get_station().allow(found.actor, permission, kwargs.get("record_id"))
            return view(*args, **kwargs)

        return cast(View, checked)

    return decorate


def set_cookies(response: Response) -> Response:
    """``after_request``: the form cookie a page's anonymous forms rely on."""
    secret = g.get("form_secret")
    if secret:
        response.set_cookie(
            FORM_COOKIE, secret, httponly=True, samesite="Strict", secure=request.is_secure
        )
    return response


def start(response: BaseResponse, token: str) -> BaseResponse:
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, path="/"
    )
    return response


def end(response: BaseResponse) -> BaseResponse:
    response.delete_cookie(COOKIE, path="/", samesite="Strict")
    return response
