"""Identification without a card: face and/or fingers against one purpose, fused."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.context import actor, get_station, requires
from station.api.requests import face_input, finger_input, int_field, request_fields
from station.security.roles import Permission
from station.workflows import identify

blueprint = Blueprint("identification", __name__)


@blueprint.post("/identifications")
@requires(Permission.IDENTIFY)
def identification() -> Response:
    """Candidates best first; names and document numbers only for supervisors."""
    fields = request_fields()
    result = identify(
        get_station(),
        face_input(fields, required=False),
        finger_input(fields),
        purpose=fields.get("purpose"),
        top_k=int_field(fields, "top_k", None, minimum=1, maximum=100),
        actor=actor(),
    )
    return jsonify(result.to_json(actor()))
