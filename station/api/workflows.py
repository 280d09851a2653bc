"""The desk workflows over HTTP: enrolment with de-duplication and holds, verification at
application intake with receipts, and identification without a card (face and fingers fused).

Fingers come as uploaded images ``finger_<ISO position>`` (500 dpi unless ``dpi`` says
otherwise), or from the station's scanner with ``scan_fingers=2,7`` (positions, one capture
each, in that order). The ID card is read from the station's reader with ``mrz`` (the access key
printed on the card). The face is ``image`` or ``capture=true``, as everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.datastructures import FileStorage

from drivers.idcard import AccessKey, MRZError
from matcher.fingerprint import FingerprintTemplate
from matcher.fingerprint.image import MAX_DPI, MIN_DPI
from station.api.app import get_station
from station.api.requests import (
    flag_field,
    int_field,
    number_field,
    probe_pixels,
    request_fields,
    text_field,
)
from station.api.security import actor, requires
from station.errors import ImageRequiredError, InvalidInputError
from station.records import PersonFields
from station.security.roles import Permission
from station.service import Station
from station.workflows import (
    application_status,
    decide_hold,
    enroll_person,
    finger_template,
    identify_person,
    read_card,
    require_consent,
    scan_finger,
    verify_application,
)

blueprint = Blueprint("workflows", __name__)


FINGER_FILE = re.compile(r"finger_(10|[1-9])")


@dataclass(frozen=True)
class FingerPlan:
    """Which fingers a request brings: uploaded files by ISO position, positions to scan, dpi.

    Made (and checked) before any device is driven or any image decoded."""

    uploads: dict[int, FileStorage]
    scans: list[int]
    dpi: float

    def __bool__(self) -> bool:
        return bool(self.uploads or self.scans)


def finger_plan(fields: dict[str, Any]) -> FingerPlan:
    """Uploads ``finger_<ISO position 1-10>`` and scanner positions ``scan_fingers=2,7``."""
    dpi = number_field(fields, "dpi", 500, MIN_DPI, MAX_DPI)
    uploads: dict[int, FileStorage] = {}
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
        uploads[int(match.group(1))] = request.files[name]
    wanted = str(fields.get("scan_fingers") or "").strip()
    scans: list[int] = []
    for part in wanted.split(",") if wanted else []:
        part = part.strip()
        if not (part.isascii() and part.isdigit() and 1 <= int(part) <= 10):
            raise InvalidInputError(
                "scan_fingers lists ISO finger positions 1-10 such as 2,7", field="scan_fingers"
            )
        if int(part) in uploads or int(part) in scans:
            raise InvalidInputError(f"finger {part} given twice", field="scan_fingers")
        scans.append(int(part))
    return FingerPlan(uploads, scans, dpi)


def acquire_fingers(station: Station, plan: FingerPlan) -> dict[int, FingerprintTemplate]:
    """The templates of a checked plan: uploads decoded one at a time, then the scans."""
    out: dict[int, FingerprintTemplate] = {}
    for position, upload in sorted(plan.uploads.items()):
        try:
            data = upload.read()
        finally:
            upload.close()
        pixels = station.decode_finger(data, plan.dpi)
        out[position] = finger_template(station, position, pixels, plan.dpi)
    for position in plan.scans:
        out[position] = scan_finger(station, position)
    return out


def access_key(fields: dict[str, Any], required: bool) -> AccessKey | None:
    """The chip's access key from the ``mrz`` the operator typed or scanned."""
    mrz = fields.get("mrz")
    if not mrz:
        if required:
            raise InvalidInputError(
                "mrz is required: the card's machine-readable zone", field="mrz"
            )
        return None
    if not isinstance(mrz, str):
        raise InvalidInputError("mrz is the text of the machine-readable zone", field="mrz")
    try:
        return AccessKey.from_mrz(mrz.replace("\\n", "\n"))
    except (MRZError, ValueError) as exc:
        raise InvalidInputError(f"mrz: {exc}", field="mrz") from None


def face_wanted(fields: dict[str, Any]) -> bool:
    """Whether the request brings a face (an ``image`` upload or ``capture=true``)."""
    return "image" in request.files or flag_field(fields, "capture")


@blueprint.post("/enrollments")
@requires(Permission.ENROLL)
def enroll() -> tuple[Response, int]:
    """Card (``mrz``, optional), face, fingers, ``consent=true``; typed fields without a card."""
    station = get_station()
    fields = request_fields()
    consent = flag_field(fields, "consent")
    require_consent(consent)  # before any capture
    station.purpose(fields.get("purpose"))
    if "mrz" in fields:  # the card's fields win; typed ones only add the special category
        person = PersonFields.from_mapping({**fields, "name": fields.get("name") or "-"})
    else:
        person = PersonFields.from_mapping(fields)
    key = access_key(fields, required=False)
    plan = finger_plan(fields)
    if not face_wanted(fields):
        raise ImageRequiredError()
    card = read_card(station, key) if key is not None else None
    face = probe_pixels(station, fields)
    fingers = acquire_fingers(station, plan)
    result = enroll_person(
        station,
        face,
        fingers,
        fields=person,
        card=card,
        consent=consent,
        purpose=fields.get("purpose"),
        actor=actor(),
    )
    return jsonify(result.to_json(special=actor().may(Permission.VIEW_SPECIAL))), 201


@blueprint.get("/holds")
@requires(Permission.DECIDE)
def holds() -> Response:
    """Enrolments held as likely duplicates, with why (``purpose`` defaults to the station's)."""
    station = get_station()
    purpose = station.purpose(request.args.get("purpose"))
    return jsonify(
        {
            "purpose": purpose,
            "holds": [
                {"record_id": rid, **(station.storage.get_hold(rid) or {})}
                for rid in station.storage.held_records(purpose)
            ],
        }
    )


@blueprint.post("/records/<record_id:record_id>/decision")
@requires(Permission.DECIDE)
def decision(record_id: int) -> Response:
    """``{"decision": "accept"|"reject"|"dispute", "reason": "..."}`` on a held enrolment."""
    body = request_fields()
    record = decide_hold(
        get_station(),
        record_id,
        text_field(body, "decision", 20),
        text_field(body, "reason", 500),
        actor=actor(),
    )
    return jsonify(
        {"record_id": record_id, "status": "deleted" if record is None else record.status.value}
    )


@blueprint.post("/applications")
@requires(Permission.VERIFY)
def application() -> tuple[Response, int]:
    """Verification at intake: ``mrz`` (card), face, fingers; answers the decision, reasons and
    the receipt (application number and status code, shown this once)."""
    station = get_station()
    fields = request_fields()
    key = access_key(fields, required=True)
    assert key is not None
    plan = finger_plan(fields)
    if not plan:
        raise InvalidInputError("verify at least one finger", field="fingers")
    if not face_wanted(fields):
        raise ImageRequiredError()
    card = read_card(station, key)
    face = probe_pixels(station, fields)
    fingers = acquire_fingers(station, plan)
    result = verify_application(
        station, face, fingers, card, purpose=fields.get("purpose"), actor=actor()
    )
    return jsonify(result.to_json()), 201


@blueprint.post("/applications/status")
@requires(Permission.VERIFY)
def status() -> Response:
    """``{"number", "code"}`` from a receipt: the application's decision and date."""
    body = request_fields()
    return jsonify(
        application_status(
            get_station(), text_field(body, "number", 40), text_field(body, "code", 40), actor()
        )
    )


@blueprint.post("/identify/person")
@requires(Permission.IDENTIFY)
def identify() -> Response:
    """1:N without a card: face and/or fingers, fused; names of candidates for supervisors."""
    station = get_station()
    fields = request_fields()
    top_k = int_field(fields, "top_k", None, minimum=1, maximum=100)
    plan = finger_plan(fields)
    wants_face = face_wanted(fields)
    if not (wants_face or plan):
        raise InvalidInputError("send a face, fingers, or both", field="image")
    result = identify_person(
        station,
        probe_pixels(station, fields) if wants_face else None,
        acquire_fingers(station, plan),
        purpose=fields.get("purpose"),
        top_k=top_k,
        actor=actor(),
    )
    return jsonify(result.to_json(names=actor().may(Permission.VIEW_SPECIAL)))


@blueprint.post("/operators/<login>/document")
@requires(Permission.MANAGE_OPERATORS)
def operator_document(login: str) -> Response:
    """``{"document_number": "..."}`` (null forgets it): the operator's own ID document, kept as
    a keyed hash, so they cannot enrol or verify themselves."""
    body = request_fields()
    number = body.get("document_number")
    if number is not None and not isinstance(number, str):
        raise InvalidInputError("document_number is text or null", field="document_number")
    get_station().operators.set_document(actor(), login, number)
    return jsonify({"login": login, "document": number is not None})
