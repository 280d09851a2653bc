"""What every endpoint reaches for: the open station, the request's session and operator, and the
role check before an endpoint reads anything. Kept apart from the app factory, so blueprints and
the factory never import each other."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g

from station.core import Station
from station.security.roles import Actor, Permission
from station.security.sessions import Session, SessionRequiredError

API_PREFIX = "/api/v1"
View = TypeVar("View", bound=Callable[..., Any])


def get_station() -> Station:
    station = current_app.extensions["station"]
    assert isinstance(station, Station)
    return station


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
