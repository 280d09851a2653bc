"""Anomaly alerts for the auditor, read from the audit trail.

Each rule looks at a sliding window of audit rows and raises an alert when a count goes past its
setting:

- ``record_changes``: one record changed (corrected, blocked, unblocked, decided on, deleted,
  purged) more than ``alert_record_changes`` times within ``alert_window_seconds``;
- ``record_operators``: one record changed by more than ``alert_record_operators`` different
  operators within the window;
- ``bulk_reads``: one operator viewing, exporting or reading the history of more than
  ``alert_bulk_reads`` records within the window (a bulk view or export);
- ``failed_logins``: more than ``alert_failed_logins`` failed sign-ins, station-wide, within
  ``alert_failed_login_seconds`` (a burst: guessing, or a stolen list of logins);
- ``chain_<kind>``: the audit chain is broken (a row edited, deleted, inserted, reordered, or the
  protection removed), one alert per break;
- ``clock_backwards``: a row is dated more than a minute before the row written before it (the
  station's clock was set back, or rows were forged with the key).

:func:`find_alerts` is a pure function of rows, so each rule is tested on rows alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from station.audit import ChainReport

if TYPE_CHECKING:
    from station.config import Settings

CHANGE_ACTIONS = frozenset({"correct", "block", "unblock", "delete", "purge", "hold_decision"})
READ_ACTIONS = frozenset({"view", "export", "history"})
CLOCK_TOLERANCE_SECONDS = 60.0
MAX_SEQS = 50  # rows named per alert


@dataclass(frozen=True)
class Alert:
    kind: str
    subject: str | None  # a record id, an operator login, or None (station-wide)
    count: int
    limit: int
    first_at: str | None
    last_at: str | None
    message: str
    seqs: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "count": self.count,
            "limit": self.limit,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "message": self.message,
            "seqs": self.seqs,
        }


@dataclass(frozen=True)
class AlertReport:
    since: str
    rows: int
    alerts: list[Alert]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "rows_scanned": self.rows,
            "alerts": [a.to_json() for a in self.alerts],
        }


def _seconds(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


def densest_window(rows: Sequence[dict[str, Any]], window: float) -> tuple[int, int, int]:
    """(count, first, last index) of the window of ``window`` seconds holding the most rows;
    rows in time order."""
    best = (0, 0, -1)
    start = 0
    times = [_seconds(r["at"]) for r in rows]
    for end in range(len(rows)):
        while times[end] - times[start] > window:
            start += 1
        if end - start + 1 > best[0]:
            best = (end - start + 1, start, end)
    return best


def _grouped(
    rows: Iterable[dict[str, Any]], actions: frozenset[str], key: str
) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["action"] in actions and row["outcome"] != "denied" and row[key]:
            groups.setdefault(str(row[key]), []).append(row)
    return groups


def _distinct_operators_window(
    rows: Sequence[dict[str, Any]], window: float
) -> tuple[int, int, int]:
    """The window with the most distinct operators: (count, first, last index)."""
    best = (0, 0, -1)
    times = [_seconds(r["at"]) for r in rows]
    for start in range(len(rows)):
        seen: set[str] = set()
        end = start
        while end < len(rows) and times[end] - times[start] <= window:
            seen.add(rows[end]["operator"])
            end += 1
        if len(seen) > best[0]:
            best = (len(seen), start, end - 1)
    return best


def _alert(
    kind: str,
    subject: str | None,
    rows: Sequence[dict[str, Any]],
    count: int,
    limit: int,
    message: str,
) -> Alert:
    return Alert(
        kind,
        subject,
        count,
        limit,
        rows[0]["at"] if rows else None,
        rows[-1]["at"] if rows else None,
        message,
        [int(r["seq"]) for r in rows[:MAX_SEQS]],
    )


def find_alerts(
    rows: Sequence[dict[str, Any]], settings: Settings, chain: ChainReport | None = None
) -> list[Alert]:
    """Every alert the rows (audit rows, oldest first) and the chain report give rise to."""
    alerts: list[Alert] = []
    window = float(settings.alert_window_seconds)
    hours = settings.alert_window_seconds / 3600
    for record, changes in sorted(_grouped(rows, CHANGE_ACTIONS, "target").items()):
        count, first, last = densest_window(changes, window)
        if count > settings.alert_record_changes:
            alerts.append(
                _alert(
                    "record_changes",
                    record,
                    changes[first : last + 1],
                    count,
                    settings.alert_record_changes,
                    f"record {record} was changed {count} times within {hours:g} h "
                    f"(more than {settings.alert_record_changes})",
                )
            )
        count, first, last = _distinct_operators_window(changes, window)
        if count > settings.alert_record_operators:
            alerts.append(
                _alert(
                    "record_operators",
                    record,
                    changes[first : last + 1],
                    count,
                    settings.alert_record_operators,
                    f"record {record} was changed by {count} different operators within "
                    f"{hours:g} h (more than {settings.alert_record_operators})",
                )
            )
    for operator, reads in sorted(_grouped(rows, READ_ACTIONS, "operator").items()):
        count, first, last = densest_window(reads, window)
        if count > settings.alert_bulk_reads:
            alerts.append(
                _alert(
                    "bulk_reads",
                    operator,
                    reads[first : last + 1],
                    count,
                    settings.alert_bulk_reads,
                    f"{operator} viewed or exported {count} records within {hours:g} h "
                    f"(more than {settings.alert_bulk_reads})",
                )
            )
    failed = [r for r in rows if r["action"] == "login_failed"]
    count, first, last = densest_window(failed, float(settings.alert_failed_login_seconds))
    if count > settings.alert_failed_logins:
        burst = failed[first : last + 1]
        logins = len({r["target"] for r in burst})
        alerts.append(
            _alert(
                "failed_logins",
                None,
                burst,
                count,
                settings.alert_failed_logins,
                f"{count} failed sign-ins to {logins} account(s) within "
                f"{settings.alert_failed_login_seconds} s (more than "
                f"{settings.alert_failed_logins})",
            )
        )
    for previous, row in pairwise(rows):
        if _seconds(row["at"]) < _seconds(previous["at"]) - CLOCK_TOLERANCE_SECONDS:
            alerts.append(
                _alert(
                    "clock_backwards",
                    None,
                    [previous, row],
                    1,
                    0,
                    f"row {row['seq']} is dated {row['at']}, before row {previous['seq']} "
                    f"({previous['at']}): the clock was set back, or rows were forged",
                )
            )
    for item in chain.breaks if chain is not None else []:
        alerts.append(
            Alert(
                f"chain_{item.kind}",
                None,
                1,
                0,
                None,
                None,
                f"the audit chain is broken: {item.message}",
                [] if item.seq is None else [item.seq],
            )
        )
    return alerts
