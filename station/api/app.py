"""Flask application factory; the open :class:`Station` is attached as an extension."""

from __future__ import annotations

import atexit
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response

from station.api import (
    audit,
    auth,
    cards,
    enrollments,
    identification,
    intake,
    openapi,
    operators,
    records,
    retention,
    rolls,
    status,
)
from station.api.context import API_PREFIX
from station.api.converters import RecordIdConverter
from station.api.errors import register_error_handlers
from station.api.security import refuse_unknown_query, require_session
from station.config import load_settings
from station.core import Station

BLUEPRINTS = (
    status,
    auth,
    enrollments,
    intake,
    identification,
    cards,
    records,
    retention,
    rolls,
    operators,
    audit,
    openapi,
)


def create_app(
    overrides: Mapping[str, Any] | None = None,
    station: Station | None = None,
    console: bool = True,
) -> Flask:
    """Build the API (and the operator's console, at ``/``) around an open station (opened here
    from settings when not given).

    ``overrides`` are station settings applied over the file and environment layers.
    """
    if station is None:
        station = Station(load_settings(overrides=overrides)).open()
        atexit.register(station.close)
    app = Flask(__name__, static_folder=None)
    app.secret_key = secrets.token_bytes(32)  # the console's one-time messages; per process
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    app.config["MAX_CONTENT_LENGTH"] = station.settings.max_upload_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["station"] = station
    app.url_map.converters["record_id"] = RecordIdConverter
    for module in BLUEPRINTS:
        app.register_blueprint(module.blueprint, url_prefix=API_PREFIX)
    app.before_request(require_session)
    app.before_request(refuse_unknown_query)
    app.after_request(never_cache)
    register_error_handlers(app)
    if console:
        from station.console import register_console

        register_console(app)
    return app


def never_cache(response: Response) -> Response:
    """Every answer holds a token, personal data or the station's state: no cache keeps it."""
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
