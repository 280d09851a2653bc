"""Enrollment with de-duplication, and the supervisor's queue of held enrollments."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from station.api.context import actor, get_station, requires
from station.api.requests import (
    card_input,
    face_input,
    finger_input,
    flag_field,
    request_fields,
    text_field,
)
from station.records import PersonFields
from station.security.roles import Permission
from station.workflows import decide_hold, enroll, list_holds

blueprint = Blueprint("enrollments", __name__)


@blueprint.post("/enrollments")
@requires(Permission.ENROLL)
def enrollment() -> tuple[Response, int]:
    """``consent=true``, the card (``mrz``) or the typed fields, the face (``image`` or
    ``capture=true``), fingers (``finger_<position>`` files or ``scan_fingers``)."""
    fields = request_fields()
    card = card_input(fields, required=False)
    if card is not None:  # the card's fields win; typed ones only add the special category
        person = PersonFields.from_mapping({**fields, "name": fields.get("name") or "-"})
    else:
        person = PersonFields.from_mapping(fields)
    face = face_input(fields)
    assert face is not None
    result = enroll(
        get_station(),
        face,
        finger_input(fields),
        fields=person,
        card=card,
        consent=flag_field(fields, "consent"),
        purpose=fields.get("purpose"),
        actor=actor(),
    )
    return jsonify(result.to_json(actor())), 201


@blueprint.get("/holds")
@requires(Permission.DECIDE)
def holds() -> Response:
    """Enrollments held as likely duplicates, with why (``purpose`` defaults to the station's)."""
    station = get_station()
    purpose = station.purpose(request.args.get("purpose"))
    return jsonify({"purpose": purpose, "holds": list_holds(station, purpose, actor=actor())})


@blueprint.post("/records/<record_id:record_id>/decision")
@requires(Permission.DECIDE)
def decision(record_id: int) -> Response:
    """``{"decision": "accept"|"reject"|"dispute", "reason": "..."}`` on a held enrollment."""
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
