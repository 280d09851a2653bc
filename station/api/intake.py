"""Verification at application intake, with a receipt; and a receipt's status."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.context import actor, get_station, requires
from station.api.requests import card_input, face_input, finger_input, request_fields, text_field
from station.security.roles import Permission
from station.workflows import application_status, verify_at_intake

blueprint = Blueprint("intake", __name__)


@blueprint.post("/applications")
@requires(Permission.VERIFY)
def application() -> tuple[Response, int]:
    """``mrz`` (card), face, fingers: the decision, reasons and the receipt (application number
    and status code, shown this once)."""
    fields = request_fields()
    card = card_input(fields, required=True)
    face = face_input(fields)
    assert card is not None and face is not None
    result = verify_at_intake(
        get_station(),
        card,
        face,
        finger_input(fields),
        purpose=fields.get("purpose"),
        actor=actor(),
    )
    return jsonify(result.to_json()), 201


@blueprint.post("/applications/status")
@requires(Permission.CHECK_RECEIPT)
def status() -> Response:
    """``{"number", "code"}`` from a receipt: the application's decision and date."""
    body = request_fields()
    return jsonify(
        application_status(
            get_station(),
            text_field(body, "number", 40),
            text_field(body, "code", 40),
            actor=actor(),
        )
    )
