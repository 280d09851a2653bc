"""The auditor's jobs: read the audit trail page by page, check its chain, look for anomalies.

Reading the trail is itself audited; the row a read writes is never handed back to the pager as
news (``next_after`` skips it), so paging "until empty" ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from station.alerts import AlertReport, find_alerts
from station.audit import ChainReport
from station.errors import InvalidInputError
from station.security.roles import SYSTEM, Actor, Permission

if TYPE_CHECKING:
    from station.core import Station


@dataclass(frozen=True)
class AuditPage:
    rows: list[dict[str, Any]]
    next_after: int  # give this as ``after`` for the next page

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "next_after": self.next_after}


def read_audit(
    station: Station,
    after: int = 0,
    limit: int = 100,
    target: str | None = None,
    actor: Actor = SYSTEM,
    operator: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> AuditPage:
    """Rows with a sequence number above ``after``, oldest first, at most ``limit``; filtered by
    target (a record id or login), operator, action and time (ISO 8601, UTC) when given."""
    station.allow(actor, Permission.AUDIT_READ)
    if not 1 <= limit <= 1000:
        raise InvalidInputError("limit must lie between 1 and 1000", field="limit")
    if after < 0:
        raise InvalidInputError("after is a sequence number, 0 or more", field="after")
    rows = station.audit.rows(
        after=after,
        limit=limit,
        target=target,
        operator=operator,
        action=action,
        since=since,
        until=until,
    )
    own = station.audit.append(
        actor.login, "audit_read", detail={"after": after, "rows": len(rows)}
    )
    last = rows[-1]["seq"] if rows else after
    # a full page may have more after it; a short one reached the end, this read's row included
    return AuditPage(rows, last if len(rows) == limit else max(last, own))


def verify_audit(station: Station, actor: Actor = SYSTEM) -> ChainReport:
    """The chain check on one consistent snapshot (see :func:`station.audit.verify_chain`)."""
    station.allow(actor, Permission.AUDIT_READ)
    report = station.audit.verify()
    station.audit.append(
        actor.login,
        "audit_verify",
        outcome="intact" if report.intact else "broken",
        detail={"rows": report.rows, "breaks": len(report.breaks)},
    )
    return report


def audit_alerts(
    station: Station,
    since: datetime | None = None,
    now: datetime | None = None,
    actor: Actor = SYSTEM,
) -> AlertReport:
    """Alerts over the audit rows since ``since`` (default: the last seven days), and the whole
    chain's breaks. Audited as ``alerts``."""
    station.allow(actor, Permission.AUDIT_READ)
    moment = now or datetime.now(UTC)
    start = since or moment - timedelta(days=7)
    start_text = start.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    rows = station.audit.rows_since(start_text)
    chain = station.audit.verify()
    alerts = find_alerts(rows, station.settings, chain)
    station.audit.append(
        actor.login,
        "alerts",
        outcome="alerts" if alerts else "none",
        detail={"rows": len(rows), "alerts": len(alerts)},
    )
    return AlertReport(start_text, len(rows), alerts)
