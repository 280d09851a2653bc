"""Read what a request carries: form or JSON fields, checked strictly, and the photo.

Every reader raises :class:`InvalidInputError` naming the field, so a malformed request is a 400
that says what to send; nothing here guesses (a yes/no field takes only yes/no words, a number
only a number in range).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from flask import request
from numpy.typing import NDArray

from station.errors import ImageRequiredError, InvalidInputError
from station.service import Station

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})
MAX_JSON_DEPTH = 32
LARGEST_INTEGER = 2**63 - 1  # SQLite's


def _depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests lists and objects, counting no further than ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def json_body() -> Any:
    """The request's JSON document; a malformed or absurdly nested one is a 400."""
    raw = request.get_data(cache=True)
    try:
        body = json.loads(raw)
    except RecursionError:
        raise InvalidInputError(
            f"the JSON body nests too deeply (at most {MAX_JSON_DEPTH} levels)"
        ) from None
    except ValueError as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}") from None
    if _depth(body, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise InvalidInputError(f"the JSON body nests too deeply (at most {MAX_JSON_DEPTH} levels)")
    return body


def request_fields() -> dict[str, Any]:
    """Form fields of a multipart/urlencoded request, or the object of a JSON one."""
    if request.is_json:
        body = json_body()
        if not isinstance(body, dict):
            raise InvalidInputError("the JSON body must be an object")
        return body
    return request.form.to_dict()


def flag_field(fields: dict[str, Any], name: str, default: bool | None = False) -> bool:
    """A yes/no field: JSON true/false in a JSON body; true/false, yes/no, on/off, 1/0 in a form.

    Anything else is refused rather than read as "no"; with ``default`` None the field is
    required (a destructive call must say what it wants)."""
    raw = fields.get(name)
    if raw is None and name not in fields and default is not None:
        return default
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and not request.is_json:  # JSON says true or false itself
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise InvalidInputError(
        f"{name} is true or false" + ("" if default is not None else f": send {name} explicitly"),
        field=name,
    )


def wants_capture(fields: dict[str, Any]) -> bool:
    return flag_field(fields, "capture")


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


def int_field(
    fields: dict[str, Any],
    name: str,
    default: int | None,
    minimum: int = 0,
    maximum: int = LARGEST_INTEGER,
) -> int | None:
    """A whole number between ``minimum`` and ``maximum``, from the body or the query string."""
    raw = fields.get(name, request.args.get(name))
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise InvalidInputError(f"{name} must be a whole number", field=name)
    text = str(raw).strip()
    if not text.lstrip("-").isascii() or not text.lstrip("-").isdigit() or len(text) > 20:
        raise InvalidInputError(f"{name} must be a whole number", field=name)
    value = int(text)
    if not minimum <= value <= maximum:
        raise InvalidInputError(f"{name} must lie between {minimum} and {maximum}", field=name)
    return value


def number_field(
    fields: dict[str, Any], name: str, default: float, minimum: float, maximum: float
) -> float:
    """A finite number between ``minimum`` and ``maximum``."""
    raw = fields.get(name, default)
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and minimum <= value <= maximum):
        raise InvalidInputError(
            f"{name} is a number from {minimum:g} to {maximum:g}", field=name
        ) from None
    return value


def text_field(fields: dict[str, Any], name: str, max_length: int = 1000) -> str:
    """A required text field."""
    raw = fields.get(name)
    if not isinstance(raw, str) or not raw:
        raise InvalidInputError(f"{name} is required", field=name)
    if len(raw) > max_length:
        raise InvalidInputError(f"{name} is longer than {max_length} characters", field=name)
    return raw
