"""The console joined to the station's Flask app: pages, headers, languages, error pages."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from flask_babel import format_datetime, format_decimal, get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from drivers.errors import DriverError
from matcher.errors import MatcherError
from station.api.errors import status_of
from station.console import (  # noqa: F401 - the page modules register their views
    pages_admin,
    pages_audit,
    pages_auth,
    pages_desk,
    pages_public,
    pages_review,
    pages_sim,
)
from station.console.blueprint import blueprint
from station.console.common import error_page
from station.console.drafts import Drafts
from station.console.i18n import LANGUAGES, setup_babel
from station.console.messages import (
    DECISIONS,
    EXCEPTIONS,
    FINGERS,
    HOLD_REASONS,
    INTAKE_CHECKS,
    ROLES,
    error_words,
)
from station.console.session import (
    check_csrf,
    csrf_token,
    current,
    load_visit,
    seconds_left,
    set_cookies,
)
from station.errors import StationError
from station.security.roles import Permission

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def register_console(app: Flask) -> None:
    """Serve the console at ``/`` beside the API."""
    station = get_station_of(app)
    setup_babel(app, station.settings.console_language)
    app.extensions["console_drafts"] = Drafts()
    app.register_blueprint(blueprint)
    app.jinja_env.globals.update(
        csrf_token=csrf_token,
        get_locale=lambda: str(get_locale() or "en"),
        visit=current,
        languages=LANGUAGES,
        role_words=ROLES,
        finger_words=FINGERS,
        exception_words=EXCEPTIONS,
        hold_words=HOLD_REASONS,
        decision_words=DECISIONS,
        check_words=INTAKE_CHECKS,
        Permission=Permission,
        seconds_left=seconds_left,
        simulated_desk=pages_sim.simulated_desk,
        when=lambda text: format_datetime(_parse(text), "medium") if text else "—",
        number=format_decimal,
    )


def get_station_of(app: Flask) -> Any:
    return app.extensions["station"]


def _parse(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _console_path() -> bool:
    return not request.path.startswith("/api/")


@blueprint.before_app_request
def before() -> None:
    """Every console request (its pages, and pages not found): who is signed in; a form's
    token."""
    if _console_path():
        load_visit()
        if request.method == "POST" and request.blueprint == blueprint.name:
            check_csrf()


@blueprint.after_app_request
def headers(response: Response) -> Response:
    if not _console_path():
        return response
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return set_cookies(response)


@blueprint.app_errorhandler(404)
def not_found(exc: HTTPException) -> Any:
    if request.path.startswith("/api/"):
        from station.api.errors import error_response

        return error_response(404, "not_found", exc.description or "not found")
    return error_page(_("There is no such page."), 404)


@blueprint.errorhandler(StationError)
def station_error(exc: StationError) -> tuple[str, int]:
    status = status_of(exc.code)
    if status >= 500:
        log.warning("console: %s", exc)
    return error_page(error_words(exc), status, detail=str(exc))


@blueprint.errorhandler(DriverError)
def driver_error(exc: DriverError) -> tuple[str, int]:
    log.warning("console: device error: %s", exc)
    return error_page(error_words(exc), status_of(exc.code), detail=str(exc))


@blueprint.errorhandler(MatcherError)
def matcher_error(exc: MatcherError) -> tuple[str, int]:
    return error_page(error_words(exc), status_of(exc.code), detail=str(exc))


__all__ = ["register_console"]
