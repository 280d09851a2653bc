"""The auditor's pages: the audit log with filters, the chain check, the anomaly alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import render_template, request

from station.api.context import get_station
from station.audit import ACTIONS
from station.console import session
from station.console.blueprint import blueprint
from station.console.messages import error_words
from station.errors import StationError
from station.security.roles import Permission
from station.workflows import audit_alerts, read_audit, verify_audit

PAGE = 50


def _iso(day: str, end: bool = False) -> str | None:
    """A date typed in the filter (YYYY-MM-DD) as the start or end of that day, UTC."""
    if not day:
        return None
    moment = datetime.fromisoformat(day).replace(tzinfo=UTC)
    if end:
        moment += timedelta(days=1) - timedelta(milliseconds=1)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@blueprint.get("/audit")
@session.page(Permission.AUDIT_READ)
def audit_log() -> Any:
    args = request.args
    filters = {
        "operator": args.get("operator") or None,
        "action": args.get("action") or None,
        "target": args.get("target") or None,
    }
    error = None
    page = None
    try:
        after = int(args.get("after") or 0)
        page = read_audit(
            get_station(),
            after=max(0, after),
            limit=PAGE,
            actor=session.visit().actor,
            since=_iso(args.get("from", "")),
            until=_iso(args.get("to", ""), end=True),
            **filters,
        )
    except (StationError, ValueError) as exc:
        error = error_words(exc) if isinstance(exc, StationError) else str(exc)
    return render_template(
        "audit/log.html",
        page=page,
        actions=sorted(ACTIONS),
        args=args,
        error=error,
        full=page is not None and len(page.rows) == PAGE,
    )


@blueprint.get("/audit/chain")
@session.page(Permission.AUDIT_READ)
def audit_chain() -> str:
    report = verify_audit(get_station(), actor=session.visit().actor)
    return render_template("audit/chain.html", report=report)


@blueprint.get("/audit/alerts")
@session.page(Permission.AUDIT_READ)
def audit_alert_page() -> str:
    report = audit_alerts(get_station(), actor=session.visit().actor)
    return render_template("audit/alerts.html", report=report)
