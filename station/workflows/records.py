"""One person's record, for supervisors: read it, correct it (the old version kept with who, when
and why), read its history, block it while under dispute and unblock it (with a reason), delete it.

A blocked record is kept and readable but never matched, verified, corrected or deleted until a
supervisor unblocks it. A voter of a precinct roll is the centre's record: readable, never
corrected, blocked or deleted here (:class:`~station.workflows.rolls.RollRecordReadOnlyError`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from station.errors import InvalidInputError
from station.records import Record, RecordBlockedError, RecordStatus
from station.security.roles import SYSTEM, Actor, Permission
from station.text import printable
from station.workflows.rolls import check_not_on_a_roll

if TYPE_CHECKING:
    from station.core import Station

log = logging.getLogger(__name__)


def check_reason(reason: str) -> str:
    """A reason a supervisor gives for a change: 3-500 printable characters."""
    cleaned = " ".join(printable(reason, "reason").split())
    if not 3 <= len(cleaned) <= 500:
        raise InvalidInputError("say why (3-500 characters)", field="reason")
    return cleaned


def view_record(station: Station, record_id: int, actor: Actor = SYSTEM) -> Record:
    """The record (audited ``view``)."""
    station.allow(actor, Permission.VIEW, record_id)
    record = station.storage.get_record(record_id)
    station.audit.append(actor.login, "view", target=record_id)
    return record


def correct_record(
    station: Station,
    record_id: int,
    changes: Mapping[str, Any],
    reason: str,
    actor: Actor = SYSTEM,
) -> Record:
    """Change a record's fields; the previous version is kept in its history with the reason."""
    station.allow(actor, Permission.CORRECT, record_id)
    reason = check_reason(reason)
    if not changes:
        raise InvalidInputError("name the fields to change", field="fields")
    with station.writing():
        record = station.storage.get_record(record_id)
        check_not_on_a_roll(station, record)
        if record.blocked:
            raise RecordBlockedError(record_id)
        fields = record.fields.corrected(changes)
        if fields == record.fields:
            raise InvalidInputError("the correction changes nothing", field="fields")
        corrected = station.storage.correct_record(record, fields, reason, actor.login)
        station.audit.append(
            actor.login,
            "correct",
            target=record_id,
            detail={"version": corrected.version, "fields": len(changes)},
        )
    return corrected


def record_history(station: Station, record_id: int, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Earlier versions of a record's fields (who replaced them, when, why) and its status
    changes (blocked, unblocked, decided, with the reason)."""
    station.allow(actor, Permission.CORRECT, record_id)
    station.storage.get_record(record_id)
    station.audit.append(actor.login, "history", target=record_id)
    return {
        "record_id": record_id,
        "versions": station.storage.history(record_id),
        "status_changes": station.storage.status_changes(record_id),
    }


def set_blocked(
    station: Station, record_id: int, blocked: bool, reason: str, actor: Actor = SYSTEM
) -> Record:
    """Block a disputed record (kept, never matched, never changed) or unblock it, saying why."""
    station.allow(actor, Permission.BLOCK, record_id)
    reason = check_reason(reason)
    status = RecordStatus.BLOCKED if blocked else RecordStatus.ACTIVE
    with station.writing():
        record = station.storage.get_record(record_id)
        check_not_on_a_roll(station, record)
        if record.status is status:
            raise InvalidInputError(f"record {record_id} is already {status.value}")
        if record.held:
            raise InvalidInputError(
                f"record {record_id} is held as a likely duplicate: decide on it instead"
            )
        station.storage.set_status(record_id, status, reason, actor.login)
        station.audit.append(actor.login, "block" if blocked else "unblock", target=record_id)
        if blocked:
            station.galleries.remove(record_id)
        else:
            station.galleries.add_from_storage(station.storage, record_id)
    return station.storage.get_record(record_id)


def delete_record(station: Station, record_id: int, actor: Actor = SYSTEM) -> None:
    """Delete a record with everything it holds; a blocked record must be unblocked first."""
    station.allow(actor, Permission.DELETE, record_id)
    with station.writing():
        record = station.storage.get_record(record_id)
        check_not_on_a_roll(station, record)
        if record.blocked:
            raise RecordBlockedError(record_id)
        station.storage.delete_record(record_id)
        station.audit.append(actor.login, "delete", target=record_id)
        station.galleries.remove(record_id)
    log.info("deleted record %d", record_id)
