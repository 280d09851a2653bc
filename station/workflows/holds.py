"""Enrollments held as likely duplicates: the list a supervisor works through, and the decision on
each: ``accept`` (a different person: the record becomes active and searchable), ``reject`` (a
duplicate: the new record is deleted), or ``dispute`` (kept blocked for an investigation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from station.errors import InvalidInputError, StationError
from station.records import Record, RecordStatus
from station.security.roles import SYSTEM, Actor, Permission
from station.workflows.records import check_reason

if TYPE_CHECKING:
    from station.core import Station

DECISIONS = ("accept", "reject", "dispute")


class NotHeldError(StationError):
    code = "not_held"

    def __init__(self, record_id: int) -> None:
        super().__init__(f"record {record_id} is not held for a decision")


def list_holds(
    station: Station, purpose: str | None = None, actor: Actor = SYSTEM
) -> list[dict[str, Any]]:
    """The held enrollments of one purpose, oldest first, with why each is held and the
    candidates it resembles (record ids and scores). Audited (``holds_read``)."""
    station.allow(actor, Permission.DECIDE)
    chosen = station.purpose(purpose)
    storage = station.storage
    found = [
        {"record_id": rid, "purpose": chosen, **(storage.get_hold(rid) or {})}
        for rid in storage.held_records(chosen)
    ]
    station.audit.append(
        actor.login, "holds_read", detail={"holds": [h["record_id"] for h in found]}
    )
    return found


def decide_hold(
    station: Station, record_id: int, decision: str, reason: str, actor: Actor = SYSTEM
) -> Record | None:
    """A supervisor's decision on a held enrollment; returns the record, None when deleted."""
    station.allow(actor, Permission.DECIDE, record_id)
    if decision not in DECISIONS:
        raise InvalidInputError(f"decision is one of {', '.join(DECISIONS)}", field="decision")
    reason = check_reason(reason)
    with station.writing():
        record = station.storage.get_record(record_id)
        if not record.held:
            raise NotHeldError(record_id)
        station.audit.append(actor.login, "hold_decision", target=record_id, outcome=decision)
        if decision == "reject":
            station.storage.delete_record(record_id)
            return None
        station.storage.delete_hold(record_id)
        if decision == "dispute":
            station.storage.set_status(record_id, RecordStatus.BLOCKED, reason, actor.login)
        else:
            station.storage.set_status(record_id, RecordStatus.ACTIVE, reason, actor.login)
            station.galleries.add_from_storage(station.storage, record_id)
    return station.storage.get_record(record_id)
