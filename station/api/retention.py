"""Retention: the periods, what is due, and the purge."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from station.api.context import actor, get_station, requires
from station.api.requests import json_body
from station.errors import InvalidInputError
from station.security.roles import Permission
from station.workflows import purge_expired

blueprint = Blueprint("retention", __name__)


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
    return jsonify(purge_expired(get_station(), actor(), dry_run=body["dry_run"]).to_json())
