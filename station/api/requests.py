"""Read what a request carries: form or JSON fields, checked strictly, and the workflow inputs
(face, fingers, card) built from its files and fields.

Every reader raises :class:`InvalidInputError` naming the field, so a malformed request is a 400
that says what to send; nothing here guesses (a yes/no field takes only yes/no words, a number
only a number in range). Nothing here decodes an image or drives a device: the workflow checks
its inputs whole first, then acquires them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import request

from matcher.fingerprint.image import MAX_DPI, MIN_DPI
from station.errors import InvalidInputError
from station.workflows import CardInput, FaceInput, FingerInput

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


FINGER_FILE = re.compile(r"finger_(10|[1-9])")


def read_upload(name: str) -> bytes | None:
    """The bytes of the uploaded file ``name``, its temporary file released at once."""
    upload = request.files.get(name)
    if upload is None:
        return None
    try:
        return bytes(upload.read())
    finally:
        upload.close()


def face_input(fields: dict[str, Any], required: bool = True) -> FaceInput | None:
    """The face: the uploaded ``image`` file, or ``capture=true`` for the station's camera."""
    capture = flag_field(fields, "capture")
    if "image" not in request.files and not capture and not required:
        return None
    return FaceInput(upload=read_upload("image"), capture=capture)


def finger_input(fields: dict[str, Any]) -> FingerInput:
    """Fingers: uploads ``finger_<ISO position 1-10>`` and scanner positions ``scan_fingers=2,7``,
    at ``dpi`` (500 unless said)."""
    uploads: dict[int, bytes] = {}
    for name in sorted(request.files):
        if not name.startswith("finger"):
            continue
        match = FINGER_FILE.fullmatch(name)
        if match is None:
            raise InvalidInputError(
                f"{name}: name finger files finger_1 ... finger_10 (ISO positions: 1 right "
                "thumb, 2 right index, ... 6 left thumb, 7 left index, ...)",
                field=name,
            )
        uploads[int(match.group(1))] = read_upload(name) or b""
    raw = fields.get("scan_fingers")
    if raw is not None and not isinstance(raw, str):
        raise InvalidInputError(
            "scan_fingers lists ISO finger positions 1-10 such as 2,7", field="scan_fingers"
        )
    wanted = (raw or "").strip()
    scans: list[int] = []
    for part in wanted.split(",") if wanted else []:
        part = part.strip()
        if not (part.isascii() and part.isdigit() and len(part) <= 2):
            raise InvalidInputError(
                "scan_fingers lists ISO finger positions 1-10 such as 2,7", field="scan_fingers"
            )
        scans.append(int(part))
    dpi = number_field(fields, "dpi", 500, MIN_DPI, MAX_DPI)
    return FingerInput(uploads=uploads, scans=scans, dpi=dpi)


def card_input(fields: dict[str, Any], required: bool) -> CardInput | None:
    """The card on the reader, opened with the ``mrz`` the operator typed or the camera read."""
    mrz = fields.get("mrz")
    if mrz is None or mrz == "":
        if required:
            raise InvalidInputError(
                "mrz is required: the card's machine-readable zone", field="mrz"
            )
        return None
    if not isinstance(mrz, str) or len(mrz) > 200:
        raise InvalidInputError("mrz is the text of the machine-readable zone", field="mrz")
    return CardInput(mrz)


def int_field(
    fields: dict[str, Any],
    name: str,
    default: int | None,
    minimum: int = 0,
    maximum: int = LARGEST_INTEGER,
) -> int | None:
    """A whole number between ``minimum`` and ``maximum``: a JSON number in a JSON body, digits
    in a form field or the query string."""
    if request.is_json and name in fields:
        raw: Any = fields[name]
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise InvalidInputError(f"{name} must be a whole number", field=name)
        text = str(raw)
    else:
        raw = fields.get(name, request.args.get(name))
        if raw is None:
            return default
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
    """A finite number between ``minimum`` and ``maximum`` (a JSON number in a JSON body)."""
    raw = fields.get(name, default)
    value = math.nan
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str) and not request.is_json:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
    if not (math.isfinite(value) and minimum <= value <= maximum):
        raise InvalidInputError(f"{name} is a number from {minimum:g} to {maximum:g}", field=name)
    return value


def text_field(fields: dict[str, Any], name: str, max_length: int = 1000) -> str:
    """A required text field."""
    raw = fields.get(name)
    if not isinstance(raw, str) or not raw:
        raise InvalidInputError(f"{name} is required", field=name)
    if len(raw) > max_length:
        raise InvalidInputError(f"{name} is longer than {max_length} characters", field=name)
    return raw
