"""Personal-data duties: retention and purge, and subject access (everything held about a person).

Retention: every purpose has a period (``retention_days``, counted from enrollment); a record of a
purpose with no period cannot be collected. :func:`purge_expired` deletes what has outlived its
period, each deletion audited (``purge``, with the purpose and age), except blocked records: a
record under dispute is kept until a supervisor unblocks it. Intake receipts are kept
``receipt_retention_days``. A precinct roll is kept until its own ``valid_until`` (the centre's
decision, carried by the roll) and deleted by the first purge after it, its voters with it
(``roll_purge``).

Subject access: :func:`export_record` gathers one record with everything attached to it (fields
including special-category ones, consent, the ID-card summary, templates, photos, corrections,
a pending hold, intake applications, and who processed it when, from the audit trail), for a
machine (JSON) and a person (:func:`render_text`). One record is one purpose: the export never
joins records collected for different purposes.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from station.records import ROLL_PURPOSE, SPECIAL_FIELDS
from station.security.roles import SYSTEM, Actor, Permission
from station.workflows.rolls import purge_expired_rolls

if TYPE_CHECKING:
    from station.core import Station

log = logging.getLogger(__name__)

EXPORT_FORMAT = "biometric-station/subject-access"
EXPORT_VERSION = 1
EXPORT_FORMATS = ("json", "text")
FINGER_NAMES = {
    1: "right thumb",
    2: "right index",
    3: "right middle",
    4: "right ring",
    5: "right little",
    6: "left thumb",
    7: "left index",
    8: "left middle",
    9: "left ring",
    10: "left little",
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class PurgeReport:
    """What a purge deleted (or, in a dry run, would delete) and what it kept, and why."""

    as_of: str
    dry_run: bool
    purged: list[dict[str, Any]] = field(default_factory=list)  # record_id, purpose, created_at
    kept_blocked: list[int] = field(default_factory=list)
    no_period: dict[str, int] = field(default_factory=dict)  # purpose -> records kept
    receipts_purged: int = 0
    rolls_purged: list[dict[str, Any]] = field(default_factory=list)  # precinct, version, voters

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "dry_run": self.dry_run,
            "purged": self.purged,
            "purged_count": len(self.purged),
            "kept_blocked": self.kept_blocked,
            "no_period": self.no_period,
            "receipts_purged": self.receipts_purged,
            "rolls_purged": self.rolls_purged,
        }


def retention_until(created_at: str, days: int | None) -> str | None:
    return None if days is None else iso(parse_time(created_at) + timedelta(days=days))


def purge_expired(
    station: Station, actor: Actor = SYSTEM, dry_run: bool = False, now: datetime | None = None
) -> PurgeReport:
    """Delete every record older than its purpose's retention period, the records the centre
    acknowledged ``keep_after_handover_days`` ago or earlier (when set; 0: at once), old receipts, and the
    precinct rolls whose ``valid_until`` has passed.

    Blocked records are kept (under dispute); records of a purpose that no longer has a period
    are kept and reported, for an admin to decide (set a period, or delete them). One
    transaction: each deletion, its audit row and the summary row commit together.
    """
    station.allow(actor, Permission.PURGE)
    moment = now or datetime.now(UTC)
    periods = station.settings.retention_periods
    storage = station.storage
    purged: list[dict[str, Any]] = []
    kept: list[int] = []
    no_period: dict[str, int] = {}
    with station.writes_paused():
        with storage.transaction():
            for purpose, count in sorted(storage.record_purposes().items()):
                if purpose == ROLL_PURPOSE:  # kept until their roll's valid_until: below
                    continue
                if purpose not in periods:
                    no_period[purpose] = count
                    continue
                cutoff = iso(moment - timedelta(days=periods[purpose]))
                for record_id, status, created_at in storage.records_created_before(
                    purpose, cutoff
                ):
                    if status == "blocked":
                        kept.append(record_id)
                        continue
                    age = (moment - parse_time(created_at)).days
                    purged.append(
                        {
                            "record_id": record_id,
                            "purpose": purpose,
                            "created_at": created_at,
                            "age_days": age,
                            "reason": "retention",
                        }
                    )
                    if not dry_run:
                        storage.delete_record(record_id, tell_centre=False)
                        station.audit.append(
                            actor.login,
                            "purge",
                            target=record_id,
                            detail={
                                "purpose": purpose,
                                "age_days": age,
                                "period_days": periods[purpose],
                            },
                        )
            handed_over = _handed_over(station, moment, {i["record_id"] for i in purged})
            for item in handed_over:
                purged.append(item)
                if not dry_run:
                    storage.delete_record(item["record_id"], tell_centre=False)
                    station.audit.append(
                        actor.login,
                        "purge",
                        target=item["record_id"],
                        outcome="handed_over",
                        detail={"purpose": item["purpose"], "age_days": item["age_days"]},
                    )
            receipt_cutoff = iso(moment - timedelta(days=station.settings.receipt_retention_days))
            receipts = storage.applications_created_before(receipt_cutoff)
            if not dry_run:
                for application_id in receipts:
                    storage.delete_application(application_id)
            rolls = purge_expired_rolls(station, actor, moment.date(), dry_run)
            station.audit.append(
                actor.login,
                "purge",
                outcome="dry_run" if dry_run else "ok",
                detail={
                    "records": len(purged),
                    "kept_blocked": len(kept),
                    "no_period": sum(no_period.values()),
                    "receipts": len(receipts),
                    "rolls": len(rolls),
                },
            )
        # After the commit (a rollback keeps them searchable), before the next change.
        for item in [] if dry_run else purged:
            station.galleries.remove(item["record_id"])
        if rolls and not dry_run:
            station.galleries.rebuild(storage, ROLL_PURPOSE, background=True)
    log.info(
        "purge%s: %d records, %d receipts; %d blocked kept",
        " (dry run)" if dry_run else "",
        len(purged),
        len(receipts),
        len(kept),
    )
    return PurgeReport(iso(moment), dry_run, purged, kept, no_period, len(receipts), rolls)


def _handed_over(station: Station, moment: datetime, already: set[int]) -> list[dict[str, Any]]:
    """Records the centre acknowledged ``keep_after_handover_days`` ago or earlier (0: a record
    acknowledged in the very millisecond of the purge is due too)."""
    days = station.settings.keep_after_handover_days
    if days < 0:
        return []
    cutoff = iso(moment - timedelta(days=days))
    return [
        {
            "record_id": record_id,
            "purpose": purpose,
            "created_at": created_at,
            "age_days": (moment - parse_time(created_at)).days,
            "reason": "handed_over",
        }
        for record_id, purpose, created_at in station.storage.records_handed_over_by(cutoff)
        if record_id not in already
    ]


def export_record(station: Station, record_id: int, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Everything held about the person of one record, as one JSON-ready object.

    The person has the right to all of it, so special-category fields, templates and photos are
    included (base64). Only the record's own purpose is touched. Audited as ``export``.
    """
    station.allow(actor, Permission.EXPORT, record_id)
    storage = station.storage
    record = storage.get_record(record_id)
    days = station.settings.retention_periods.get(record.purpose)
    processing = [
        {
            "at": row["at"],
            "operator": row["operator"],
            "action": row["action"],
            "outcome": row["outcome"],
            "station": row["station"],
        }
        for row in station.audit.rows(target=str(record_id), limit=100_000)
    ]
    applications = [
        {
            "number": a["number"],
            "decision": a["decision"],
            "created_at": a["created_at"],
            "created_by": a["created_by"],
            "result": a["result"],
        }
        for a in storage.applications_of(record_id)
        if a["purpose"] == record.purpose
    ]
    export: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": iso(datetime.now(UTC)),
        "station": station.settings.station_id,
        "record": record.to_json(special=True),
        "purpose": record.purpose,
        "retention": {"days": days, "until": retention_until(record.created_at, days)},
        "consent": record.consent,
        "finger_exceptions": storage.finger_exceptions(record_id),
        "card_summary": record.card_summary,
        "biometrics": [
            {
                "modality": b["modality"],
                "position": b["position"],
                "finger": FINGER_NAMES.get(b["position"]) if b["modality"] == "finger" else None,
                "format": b["format"],
                "quality": b["quality"],
                "box": b["box"],
                "created_at": b["created_at"],
                "template_base64": base64.b64encode(b["template"]).decode(),
            }
            for b in storage.biometrics_of(record_id)
        ],
        "photos": [
            {
                "kind": kind,
                "media_type": media,
                "created_at": created,
                "image_base64": base64.b64encode(image).decode(),
            }
            for kind, media, image, created in storage.photos_of(record_id)
        ],
        "history": storage.history(record_id),
        "status_changes": storage.status_changes(record_id),
        "hold": storage.get_hold(record_id),
        "applications": applications,
        "processing": processing,
    }
    station.audit.append(
        actor.login, "export", target=record_id, detail={"purpose": record.purpose}
    )
    return export


def _words(value: object) -> str:
    """A value as a person reads it: yes/no for flags, a dash for nothing."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_words(v) for v in value) or "-"
    return str(value)


def _line(label: str, value: object) -> str:
    return f"  {label.replace('_', ' '):<22} {_words(value)}"


def render_text(export: dict[str, Any]) -> str:
    """The export for the person it is about: plain text, sections in the order of the JSON."""
    record = export["record"]
    out = [
        "PERSONAL DATA HELD ABOUT YOU",
        f"Station {export['station']}, record {record['id']}, produced {export['generated_at']}",
        "",
        "Why we hold it",
        _line("purpose", export["purpose"].replace("_", " ")),
        _line("kept for (days)", export["retention"]["days"]),
        _line("kept until", export["retention"]["until"]),
        _line("status", record["status"]),
        "",
        "Your details",
    ]
    for key in (
        "name",
        "document_type",
        "document_number",
        "nationality",
        "birth_date",
        "sex",
        *SPECIAL_FIELDS,
    ):
        out.append(_line(key.replace("_", " "), record.get(key)))
    out += [
        _line("recorded", record["created_at"]),
        _line("last changed", record["updated_at"]),
        _line("version", record["version"]),
        "",
        "Consent",
    ]
    consent = export["consent"] or {}
    out += [_line(str(k), v) for k, v in consent.items()] or ["  none recorded"]
    out += ["", "Read from your ID card"]
    card = export["card_summary"] or {}
    out += [_line(str(k), v) for k, v in card.items()] or ["  nothing"]
    out += ["", "Biometric data (the templates themselves are in the machine-readable export)"]
    for b in export["biometrics"]:
        what = "face" if b["modality"] == "face" else f"finger: {b['finger']}"
        quality = "" if b["quality"] is None else f", quality {b['quality']:.0f}"
        size = len(base64.b64decode(b["template_base64"]))
        out.append(f"  {what:<22} {b['format']}, {size} bytes{quality}, taken {b['created_at']}")
    if not export["biometrics"]:
        out.append("  none")
    exceptions = export.get("finger_exceptions") or {}
    if exceptions:
        out += ["", "Fingers not taken"]
        for position, item in sorted(exceptions.items(), key=lambda kv: int(kv[0])):
            out.append(_line(FINGER_NAMES.get(int(position), position), item.get("reason")))
    out += ["", "Photos"]
    for p in export["photos"]:
        size = len(base64.b64decode(p["image_base64"]))
        out.append(f"  {p['kind']:<22} {p['media_type']}, {size} bytes, taken {p['created_at']}")
    if not export["photos"]:
        out.append("  none")
    out += ["", "Corrections (earlier versions of your details)"]
    for h in export["history"]:
        changed = ", ".join(f"{k}={v}" for k, v in h["fields"].items() if v is not None)
        out.append(
            f"  version {h['version']} replaced {h['replaced_at']} by {h['replaced_by']}: "
            f"{h['reason']}"
        )
        out.append(f"    was: {changed}")
    if not export["history"]:
        out.append("  none")
    out += ["", "Blocked, unblocked or decided"]
    for change in export["status_changes"]:
        out.append(
            f"  {change['changed_at']}  {change['status']} by {change['changed_by']}: "
            f"{change['reason']}"
        )
    if not export["status_changes"]:
        out.append("  never")
    if export["hold"]:
        out += ["", "Held for a supervisor's decision", _line("since", export["hold"]["held_at"])]
    out += ["", "Applications"]
    for a in export["applications"]:
        out.append(f"  {a['number']:<22} {a['decision']}, {a['created_at']}")
    if not export["applications"]:
        out.append("  none")
    out += ["", "Who processed your data, and when"]
    for row in export["processing"]:
        out.append(f"  {row['at']}  {row['operator']:<16} {row['action']:<14} {row['outcome']}")
    return "\n".join(out) + "\n"
