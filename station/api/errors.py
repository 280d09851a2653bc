"""Every error leaves the API as JSON: ``{"error": {"code": ..., "message": ...}}``.

Codes are stable (clients branch on them); messages are for the person at the station.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from drivers.errors import DriverError
from matcher.errors import MatcherError
from station.errors import CaptureRefusedError, InvalidInputError, StationError

log = logging.getLogger(__name__)

# HTTP status for errors raised below the station layer, by their stable code.
STATUS_BY_CODE = {
    "no_face": 422,
    "multiple_faces": 422,
    "invalid_template": 400,
    "device_not_found": 503,
    "device_timeout": 504,
    "camera_error": 503,
}


def error_response(status: int, code: str, message: str, **extra: object) -> tuple[Response, int]:
    body: dict[str, object] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return jsonify({"error": body}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(StationError)
    def station_error(exc: StationError) -> tuple[Response, int]:
        field = exc.field if isinstance(exc, InvalidInputError) else None
        reasons = exc.reason_codes if isinstance(exc, CaptureRefusedError) else None
        response, status = error_response(
            exc.http_status, exc.code, str(exc), field=field, reasons=reasons
        )
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response, status

    @app.errorhandler(MatcherError)
    def matcher_error(exc: MatcherError) -> tuple[Response, int]:
        return error_response(STATUS_BY_CODE.get(exc.code, 422), exc.code, str(exc))

    @app.errorhandler(DriverError)
    def driver_error(exc: DriverError) -> tuple[Response, int]:
        log.warning("device error: %s", exc)
        return error_response(STATUS_BY_CODE.get(exc.code, 503), exc.code, str(exc))

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> tuple[Response, int]:
        limit = app.config.get("MAX_CONTENT_LENGTH") or 0
        return error_response(
            413,
            "request_too_large",
            f"the request is larger than the station accepts ({limit // (1024 * 1024)} MiB): "
            "send a smaller photo",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_")
        response, status = error_response(status, code, exc.description or exc.name or "error")
        for name, value in exc.get_headers():  # Allow on a 405, WWW-Authenticate, ...
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unexpected error")
        return error_response(
            500,
            "internal_error",
            "the station hit an unexpected error; nothing was stored. Try again, and report it "
            "if it repeats (details are in the station log)",
        )
