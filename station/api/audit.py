"""The audit trail, for auditors: read rows, verify the chain, list anomaly alerts."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, jsonify, request

from station.api.context import actor, get_station, requires
from station.api.requests import int_field
from station.errors import InvalidInputError
from station.security.roles import Permission
from station.workflows import audit_alerts, read_audit, verify_audit

blueprint = Blueprint("audit", __name__)


@blueprint.get("/audit")
@requires(Permission.AUDIT_READ)
def rows() -> Response:
    """Rows after sequence number ``after`` (default 0), at most ``limit`` (default 100)."""
    page = read_audit(
        get_station(),
        after=int_field({}, "after", 0) or 0,
        limit=int_field({}, "limit", 100, minimum=1, maximum=1000) or 100,
        target=request.args.get("target"),
        actor=actor(),
    )
    return jsonify(page.to_json())


@blueprint.get("/audit/alerts")
@requires(Permission.AUDIT_READ)
def alerts() -> Response:
    """Anomalies in the audit rows since ``since`` (ISO 8601; default the last 7 days)."""
    raw = request.args.get("since")
    since = None
    if raw is not None:
        try:
            since = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                "since is an ISO 8601 time such as 2026-01-31T08:00:00Z", field="since"
            ) from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    return jsonify(audit_alerts(get_station(), since=since, actor=actor()).to_json())


@blueprint.get("/audit/verify")
@requires(Permission.AUDIT_READ)
def verify() -> Response:
    return jsonify(verify_audit(get_station(), actor()).to_json())
