"""Personal-data duties over HTTP: subject access export, retention and purge."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from station.api.app import get_station
from station.api.requests import json_body
from station.api.security import actor, requires
from station.errors import InvalidInputError
from station.privacy import EXPORT_FORMATS, export_subject, purge_expired, render_text
from station.security.roles import Permission

blueprint = Blueprint("privacy", __name__)


@blueprint.get("/records/<record_id:record_id>/export")
@requires(Permission.EXPORT)
def export(record_id: int) -> Response:
    """Everything held about the person of a record: ``format=json`` (default) or ``text``."""
    fmt = request.args.get("format", "json")
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(f"format is one of {', '.join(EXPORT_FORMATS)}", field="format")
    data = export_subject(get_station(), record_id, actor=actor())
    if fmt == "text":
        response = Response(render_text(data), mimetype="text/plain; charset=utf-8")
    else:
        response = jsonify(data)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="record-{record_id}.{"txt" if fmt == "text" else "json"}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/retention")
@requires(Permission.PURGE)
def retention() -> Response:
    """The retention periods, and what a purge would delete now (a dry run)."""
    station = get_station()
    report = purge_expired(station, actor(), dry_run=True)
    return jsonify(
        {
            "periods_days": station.settings.retention_periods,
            "receipt_days": station.settings.receipt_retention_days,
            "due": report.to_json(),
        }
    )


@blueprint.post("/retention/purge")
@requires(Permission.PURGE)
def purge() -> Response:
    """Delete what has outlived its retention period: ``{"dry_run": false}`` deletes,
    ``{"dry_run": true}`` only reports; anything else is refused (a 400), never taken as a yes."""
    explain = 'send JSON {"dry_run": true} to see what would go, or {"dry_run": false} to delete it'
    body = json_body() if request.is_json else None
    if not isinstance(body, dict):
        raise InvalidInputError(explain, field="dry_run")
    if not isinstance(body.get("dry_run"), bool):
        raise InvalidInputError(f"dry_run is true or false: {explain}", field="dry_run")
    report = purge_expired(get_station(), actor(), dry_run=body["dry_run"])
    return jsonify(report.to_json())
