"""Read what a request carries: form or JSON fields, and the photo (uploaded or captured)."""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import request
from numpy.typing import NDArray

from station.errors import ImageRequiredError, InvalidInputError
from station.service import Station

TRUE_WORDS = {"1", "true", "yes", "on"}


def request_fields() -> dict[str, Any]:
    """Form fields of a multipart/urlencoded request, or the object of a JSON one."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInputError("the JSON body must be an object")
        return body
    return request.form.to_dict()


def wants_flag(fields: dict[str, Any], name: str) -> bool:
    """A yes/no field: JSON true/false, or 1/true/yes/on in a form."""
    raw = fields.get(name, False)
    if isinstance(raw, bool):
        return raw
    return str(raw).strip().lower() in TRUE_WORDS


def wants_capture(fields: dict[str, Any]) -> bool:
    return wants_flag(fields, "capture")


def probe_pixels(station: Station, fields: dict[str, Any]) -> NDArray[np.uint8]:
    """The photo to work on: the uploaded ``image`` file, or a capture from the camera."""
    upload = request.files.get("image")
    if upload is not None:
        try:
            data = upload.read()
        finally:
            upload.close()  # a large upload is spooled to a temporary file: release it now
        return station.decode(data)
    if wants_capture(fields):
        return station.capture()
    raise ImageRequiredError()


def int_field(fields: dict[str, Any], name: str, default: int | None) -> int | None:
    raw = fields.get(name, request.args.get(name))
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a whole number", field=name) from None


def text_field(fields: dict[str, Any], name: str, max_length: int = 1000) -> str:
    """A required text field."""
    raw = fields.get(name)
    if not isinstance(raw, str) or not raw:
        raise InvalidInputError(f"{name} is required", field=name)
    if len(raw) > max_length:
        raise InvalidInputError(f"{name} is longer than {max_length} characters", field=name)
    return raw
