"""Every error leaves the API as JSON: ``{"error": {"code": ..., "message": ...}}``.

Codes are stable (clients branch on them); messages are for the person at the station. What a
code means in HTTP is decided here and nowhere else: :data:`STATUS_BY_CODE` lists every code the
station, its drivers and its matcher raise (a test keeps it complete). A device that says what
the person at the desk can fix (no finger on the glass, the card taken away, the wrong MRZ) is a
4xx; a device that does not answer is a 503 or 504.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from drivers.errors import DriverError
from matcher.errors import MatcherError
from station.errors import CaptureRefusedError, InvalidInputError, StationError
from station.workflows.inputs import FingerRefusedError

log = logging.getLogger(__name__)

STATUS_BY_CODE: dict[str, int] = {
    # the request itself
    "station_error": 400,
    "invalid_input": 400,
    "image_required": 400,
    "empty_image": 400,
    "invalid_image": 400,
    "invalid_template": 400,
    "backup_error": 400,
    "stale_form": 400,
    "image_too_large": 413,
    "request_too_large": 413,
    # who is asking
    "session_required": 401,
    "session_expired": 401,
    "login_failed": 401,
    "permission_denied": 403,
    "password_change_required": 403,
    "account_disabled": 403,
    "self_enrollment": 403,
    "too_many_attempts": 429,
    # what it is about
    "record_not_found": 404,
    "application_not_found": 404,
    "operator_not_found": 404,
    "record_blocked": 409,
    "no_centre": 409,  # packets wait until an admin trusts the centre's keys
    "centre_unreachable": 502,  # station sync: the centre did not answer
    "cluster_error": 503,  # the centre's own PostgreSQL did not start
    "invitation_refused": 403,  # central serve: a wrong, used or expired enrolment code
    "review_error": 409,  # central review: not waiting, a bad decision or merge target
    "roll_refused": 422,  # a precinct roll that does not open, is not this station's, expired
    "roll_outdated": 409,  # older than the roll held for its precinct
    "roll_record_read_only": 409,  # a voter of a precinct roll: corrections go to the centre
    "identity_error": 422,  # an identity document that is not one (or carries a private key)
    "not_held": 409,
    "data_directory_in_use": 409,
    "no_camera": 409,
    "no_scanner": 409,
    "no_card_reader": 409,
    # the person at the desk can act: another photo, the finger again, the card back
    "no_face": 422,
    "multiple_faces": 422,
    "capture_refused": 422,
    "liveness_failed": 422,
    "finger_refused": 422,
    "matcher_error": 422,
    "no_finger": 422,
    "finger_not_removed": 422,
    "poor_fingerprint_image": 422,
    "capture_cancelled": 409,
    "card_absent": 422,
    "card_removed": 422,
    "card_access_denied": 422,
    # a device that does not answer, or answers wrongly: a technician's matter
    "device_error": 503,
    "device_not_found": 503,
    "camera_error": 503,
    "scanner_error": 503,
    "scanner_disconnected": 503,
    "scanner_protocol_error": 503,
    "scanner_corrupt_packet": 503,
    "scanner_wrong_password": 503,
    "scanner_module_error": 503,
    "scanner_not_supported": 503,
    "card_error": 503,
    "card_secure_messaging": 503,
    "card_reader_not_found": 503,
    "device_timeout": 504,
    "scanner_timeout": 504,
    "station_busy": 503,
    # the station itself
    "key_error": 500,
    "tampered_data": 500,
    "gallery_error": 500,
    "config_error": 500,
    "calibration_error": 500,
    "face_model_missing": 500,
}


def status_of(code: str) -> int:
    return STATUS_BY_CODE.get(code, 500)


def error_response(status: int, code: str, message: str, **extra: object) -> tuple[Response, int]:
    body: dict[str, object] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return jsonify({"error": body}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(StationError)
    def station_error(exc: StationError) -> tuple[Response, int]:
        field = exc.field if isinstance(exc, InvalidInputError) else None
        reasons = (
            exc.reason_codes if isinstance(exc, CaptureRefusedError | FingerRefusedError) else None
        )
        response, status = error_response(
            status_of(exc.code), exc.code, str(exc), field=field, reasons=reasons
        )
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response, status

    @app.errorhandler(MatcherError)
    def matcher_error(exc: MatcherError) -> tuple[Response, int]:
        return error_response(status_of(exc.code), exc.code, str(exc))

    @app.errorhandler(DriverError)
    def driver_error(exc: DriverError) -> tuple[Response, int]:
        log.warning("device error: %s", exc)
        return error_response(status_of(exc.code), exc.code, str(exc))

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
