"""One person's record, for supervisors: read, correct (with history), block and unblock (with a
reason), delete, and export everything held about the person (subject access)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from station.api.context import actor, get_station, requires
from station.api.requests import request_fields, text_field
from station.errors import InvalidInputError
from station.records import Record
from station.security.roles import Permission
from station.workflows import (
    EXPORT_FORMATS,
    correct_record,
    delete_record,
    export_record,
    record_history,
    render_text,
    set_blocked,
    view_record,
)

blueprint = Blueprint("records", __name__)


def record_json(record: Record) -> dict[str, Any]:
    """The record as the caller may see it: special-category fields for supervisors only."""
    return record.to_json(special=actor().may(Permission.VIEW_SPECIAL))


@blueprint.get("/records/<record_id:record_id>")
@requires(Permission.VIEW)
def get_record(record_id: int) -> Response:
    return jsonify(record_json(view_record(get_station(), record_id, actor=actor())))


@blueprint.patch("/records/<record_id:record_id>")
@requires(Permission.CORRECT)
def correct(record_id: int) -> Response:
    """JSON ``{"fields": {...changed fields...}, "reason": "..."}``."""
    body = request_fields()
    changes = body.get("fields")
    if not isinstance(changes, dict) or not changes:
        raise InvalidInputError("fields is an object of the fields to change", field="fields")
    record = correct_record(
        get_station(), record_id, changes, text_field(body, "reason", 500), actor=actor()
    )
    return jsonify(record_json(record))


@blueprint.get("/records/<record_id:record_id>/history")
@requires(Permission.CORRECT)
def history(record_id: int) -> Response:
    return jsonify(record_history(get_station(), record_id, actor=actor()))


@blueprint.post("/records/<record_id:record_id>/block")
@requires(Permission.BLOCK)
def block(record_id: int) -> Response:
    """``{"reason": "..."}``: why the record is under dispute."""
    reason = text_field(request_fields(), "reason", 500)
    return jsonify(record_json(set_blocked(get_station(), record_id, True, reason, actor())))


@blueprint.post("/records/<record_id:record_id>/unblock")
@requires(Permission.BLOCK)
def unblock(record_id: int) -> Response:
    """``{"reason": "..."}``: why the dispute is over."""
    reason = text_field(request_fields(), "reason", 500)
    return jsonify(record_json(set_blocked(get_station(), record_id, False, reason, actor())))


@blueprint.delete("/records/<record_id:record_id>")
@requires(Permission.DELETE)
def delete(record_id: int) -> tuple[str, int]:
    delete_record(get_station(), record_id, actor=actor())
    return "", 204


@blueprint.get("/records/<record_id:record_id>/export")
@requires(Permission.EXPORT)
def export(record_id: int) -> Response:
    """Everything held about the person of a record: ``format=json`` (default) or ``text``."""
    fmt = request.args.get("format", "json")
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(f"format is one of {', '.join(EXPORT_FORMATS)}", field="format")
    data = export_record(get_station(), record_id, actor=actor())
    if fmt == "text":
        response = Response(render_text(data), mimetype="text/plain")
    else:
        response = jsonify(data)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="record-{record_id}.{"txt" if fmt == "text" else "json"}"'
    )
    return response
