"""Records: enroll, read, correct (with history), block and unblock, delete, and 1:1 verify."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from station.api.app import get_station
from station.api.requests import probe_pixels, request_fields, text_field
from station.api.security import actor, requires
from station.errors import InvalidInputError
from station.records import PersonFields, Record
from station.security.roles import Permission

blueprint = Blueprint("records", __name__)


def record_json(record: Record) -> dict[str, Any]:
    """The record as the caller may see it: special-category fields for supervisors only."""
    return record.to_json(special=actor().may(Permission.VIEW_SPECIAL))


@blueprint.post("/records")
@requires(Permission.ENROLL)
def enroll() -> tuple[Response, int]:
    station = get_station()
    fields = request_fields()
    person = PersonFields.from_mapping(fields)
    record = station.enroll(
        probe_pixels(station, fields), person, actor=actor(), purpose=fields.get("purpose")
    )
    return jsonify(record_json(record)), 201


@blueprint.get("/records/<record_id:record_id>")
@requires(Permission.VIEW)
def get_record(record_id: int) -> Response:
    return jsonify(record_json(get_station().get_record(record_id, actor=actor())))


@blueprint.patch("/records/<record_id:record_id>")
@requires(Permission.CORRECT)
def correct(record_id: int) -> Response:
    """JSON ``{"fields": {...changed fields...}, "reason": "..."}``."""
    body = request_fields()
    changes = body.get("fields")
    if not isinstance(changes, dict) or not changes:
        raise InvalidInputError("fields is an object of the fields to change", field="fields")
    record = get_station().correct_record(
        record_id, changes, text_field(body, "reason", 500), actor=actor()
    )
    return jsonify(record_json(record))


@blueprint.get("/records/<record_id:record_id>/history")
@requires(Permission.CORRECT)
def history(record_id: int) -> Response:
    return jsonify(
        {"record_id": record_id, "versions": get_station().record_history(record_id, actor=actor())}
    )


@blueprint.post("/records/<record_id:record_id>/block")
@requires(Permission.BLOCK)
def block(record_id: int) -> Response:
    return jsonify(record_json(get_station().set_blocked(record_id, True, actor=actor())))


@blueprint.post("/records/<record_id:record_id>/unblock")
@requires(Permission.BLOCK)
def unblock(record_id: int) -> Response:
    return jsonify(record_json(get_station().set_blocked(record_id, False, actor=actor())))


@blueprint.delete("/records/<record_id:record_id>")
@requires(Permission.DELETE)
def delete_record(record_id: int) -> tuple[str, int]:
    get_station().delete_record(record_id, actor=actor())
    return "", 204


@blueprint.post("/records/<record_id:record_id>/verify")
@requires(Permission.VERIFY)
def verify(record_id: int) -> Response:
    station = get_station()
    station.storage.get_record(record_id)  # 404 before any image work
    result = station.verify(record_id, probe_pixels(station, request_fields()), actor=actor())
    return jsonify(result.to_json())
