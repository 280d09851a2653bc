"""The desk workflows over HTTP: enrolment with de-duplication and holds, verification at
application intake with receipts, and identification without a card (face and fingers fused).

Fingers come as uploaded images ``finger_<ISO position>`` (500 dpi unless ``dpi`` says
otherwise), or from the station's scanner with ``scan_fingers=2,7`` (positions, one capture
each, in that order). The ID card is read from the station's reader with ``mrz`` (the access key
printed on the card). The face is ``image`` or ``capture=true``, as everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, Response, jsonify, request
from numpy.typing import NDArray

from drivers.idcard import AccessKey, ChipDocument, MRZError
from matcher.fingerprint import FingerprintTemplate
from station.api.app import get_station
from station.api.requests import int_field, probe_pixels, request_fields, text_field, wants_flag
from station.api.security import actor, requires
from station.errors import InvalidInputError
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


def probe_fingers(station: Station, fields: dict[str, Any]) -> dict[int, FingerprintTemplate]:
    """Finger templates from uploads ``finger_<position>`` and/or the scanner (``scan_fingers``)."""
    raw_dpi = fields.get("dpi", 500)
    try:
        dpi = float(raw_dpi)
    except (TypeError, ValueError):
        raise InvalidInputError("dpi must be a number", field="dpi") from None
    out: dict[int, FingerprintTemplate] = {}
    for name in sorted(request.files):
        if not name.startswith("finger_"):
            continue
        suffix = name.removeprefix("finger_")
        if not suffix.isdigit():
            raise InvalidInputError(f"{name}: name finger files finger_1 ... finger_10", field=name)
        upload = request.files[name]
        try:
            data = upload.read()
        finally:
            upload.close()
        out[int(suffix)] = finger_template(station, int(suffix), station.decode(data), dpi)
    wanted = str(fields.get("scan_fingers") or "").strip()
    if wanted:
        try:
            positions = [int(p) for p in wanted.split(",")]
        except ValueError:
            raise InvalidInputError(
                "scan_fingers lists ISO positions such as 2,7", field="scan_fingers"
            ) from None
        for position in positions:
            if position in out:
                raise InvalidInputError(f"finger {position} given twice", field="scan_fingers")
            out[position] = scan_finger(station, position)
    return out


def probe_card(station: Station, fields: dict[str, Any], required: bool) -> ChipDocument | None:
    """The card on the reader, opened with the ``mrz`` the operator typed or scanned."""
    mrz = fields.get("mrz")
    if not mrz:
        if required:
            raise InvalidInputError(
                "mrz is required: the card's machine-readable zone", field="mrz"
            )
        return None
    try:
        access = AccessKey.from_mrz(str(mrz).replace("\\n", "\n"))
    except (MRZError, ValueError) as exc:
        raise InvalidInputError(f"mrz: {exc}", field="mrz") from None
    return read_card(station, access)


def optional_face(station: Station, fields: dict[str, Any]) -> NDArray[np.uint8] | None:
    if "image" in request.files or wants_flag(fields, "capture"):
        return probe_pixels(station, fields)
    return None


@blueprint.post("/enrollments")
@requires(Permission.ENROLL)
def enroll() -> tuple[Response, int]:
    """Card (``mrz``, optional), face, fingers, ``consent=true``; typed fields without a card."""
    station = get_station()
    fields = request_fields()
    require_consent(wants_flag(fields, "consent"))  # before any capture
    station.purpose(fields.get("purpose"))
    if "mrz" in fields:  # the card's fields win; typed ones only add the special category
        person = PersonFields.from_mapping({**fields, "name": fields.get("name") or "-"})
    else:
        person = PersonFields.from_mapping(fields)
    card = probe_card(station, fields, required=False)
    face = probe_pixels(station, fields)
    fingers = probe_fingers(station, fields)
    result = enroll_person(
        station,
        face,
        fingers,
        fields=person,
        card=card,
        consent=wants_flag(fields, "consent"),
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


@blueprint.post("/records/<int:record_id>/decision")
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
    card = probe_card(station, fields, required=True)
    assert card is not None
    face = probe_pixels(station, fields)
    fingers = probe_fingers(station, fields)
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
    result = identify_person(
        station,
        optional_face(station, fields),
        probe_fingers(station, fields),
        purpose=fields.get("purpose"),
        top_k=int_field(fields, "top_k", None),
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
