"""The audit trail, for auditors: read rows, and verify the chain."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request

from station.alerts import station_alerts
from station.api.app import get_station
from station.api.requests import int_field
from station.api.security import actor, requires
from station.errors import InvalidInputError
from station.security.roles import Permission

blueprint = Blueprint("audit", __name__)


@blueprint.get("/audit")
@requires(Permission.AUDIT_READ)
def rows() -> Response:
    """Rows after sequence number ``after`` (default 0), at most ``limit`` (default 100)."""
    after = int_field({}, "after", 0) or 0
    limit = int_field({}, "limit", 100, minimum=1, maximum=1000) or 100
    found = get_station().audit_rows(actor(), after, limit, request.args.get("target"))
    return jsonify({"rows": found, "next_after": found[-1]["seq"] if found else after})


@blueprint.get("/audit/alerts")
@requires(Permission.AUDIT_READ)
def alerts() -> Response:
    """Anomalies in the audit rows since ``since`` (ISO 8601; default the last 7 days)."""
    raw = request.args.get("since")
    since = None
    if raw:
        try:
            since = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                "since is an ISO 8601 time such as 2026-01-31T08:00:00Z", field="since"
            ) from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    return jsonify(station_alerts(get_station(), actor(), since=since).to_json())


@blueprint.get("/audit/verify")
@requires(Permission.AUDIT_READ)
def verify() -> Response:
    return jsonify(get_station().verify_audit(actor()).to_json())
