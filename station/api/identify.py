"""POST /identify: 1:N search of the face gallery."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.app import get_station
from station.api.requests import int_field, probe_pixels, request_fields
from station.api.security import actor, requires
from station.security.roles import Permission

blueprint = Blueprint("identify", __name__)


@blueprint.post("/identify")
@requires(Permission.IDENTIFY)
def identify() -> Response:
    station = get_station()
    fields = request_fields()
    top_k = int_field(fields, "top_k", None)
    result = station.identify(probe_pixels(station, fields), top_k=top_k, actor=actor())
    return jsonify(result.to_json())
