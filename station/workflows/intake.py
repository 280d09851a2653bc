"""Verification at application intake (a voter asks to correct the voter list): the card's chip,
the live face against the chip photo, the enrolled record (face and fingers fused), at least one
finger on its own; a decision with its reasons in words, and a receipt.

The enrolled record is the centre's when the document is on a precinct roll the station holds
for the intake's purpose (its register), valid today: the voter is verified against the roll's
templates, and the reasons say which roll. Otherwise it is the station's own enrolment.

Accepted when every check passes; refused when the face contradicts the chip or the fused score
says another person; referred to a supervisor otherwise. The application is stored (sealed) with
a receipt: an application number and a status code, kept only as a keyed hash. Anyone holding the
receipt can check the decision (:func:`application_status`), and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from matcher.face.templates import face_distance
from matcher.fusion import decide
from station.errors import InvalidInputError, StationError
from station.records import Record
from station.security.roles import SYSTEM, Actor, Permission
from station.storage import utc_now
from station.workflows.enrollment import check_not_the_operator
from station.workflows.inputs import CardInput, FaceInput, FingerInput, card_summary
from station.workflows.scoring import Probe, score_record

if TYPE_CHECKING:
    from station.core import Station

log = logging.getLogger(__name__)

RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed back


class ApplicationNotFoundError(StationError):
    code = "application_not_found"

    def __init__(self) -> None:
        super().__init__("no application with this number and code: check both on the receipt")


@dataclass(frozen=True)
class Reason:
    code: str
    ok: bool
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "ok": self.ok, "message": self.message}


@dataclass(frozen=True)
class Intake:
    decision: str  # accepted, refused, referred
    reasons: list[Reason]
    record_id: int | None
    application_number: str
    status_code: str  # shown once, on the receipt
    issued_at: str
    scores: dict[str, Any]
    seconds: float
    roll: dict[str, Any] | None = None  # precinct, version, voter: when verified on a roll

    def receipt(self) -> dict[str, Any]:
        return {
            "application_number": self.application_number,
            "status_code": self.status_code,
            "decision": self.decision,
            "issued_at": self.issued_at,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": [r.to_json() for r in self.reasons],
            "record_id": self.record_id,
            "scores": self.scores,
            "receipt": self.receipt(),
            "roll": self.roll,
            "seconds": round(self.seconds, 3),
        }


def _code_hash(station: Station, code: str) -> str:
    return hmac.new(station.storage.index_key, code.encode(), hashlib.sha256).hexdigest()


def verify_at_intake(
    station: Station,
    card: CardInput,
    face: FaceInput,
    fingers: FingerInput,
    purpose: str | None = None,
    actor: Actor = SYSTEM,
) -> Intake:
    """Check an applicant against their card and their enrolled record, decide, issue a receipt."""
    started = time.perf_counter()
    station.allow(actor, Permission.VERIFY)
    chosen = station.purpose(purpose)
    settings = station.settings
    fingers.check()
    if not len(fingers):
        raise InvalidInputError("verify at least one finger", field="fingers")
    face.check()
    card.check()
    chip = card.acquire(station)
    check_not_the_operator(station, actor, chip.mrz.document_number)
    pixels = face.acquire(station, actor)
    templates = fingers.acquire(station)
    encoded = station.encode(pixels)
    reasons: list[Reason] = []
    authentic = chip.passive_auth.passed
    reasons.append(
        Reason(
            "chip_authentic",
            authentic,
            "the chip's data is signed by its issuer"
            if authentic
            else f"passive authentication failed: {chip.passive_auth.summary()}",
        )
    )
    chip_distance = face_distance(encoded.vector, station.encode(chip.photo).vector)
    chip_ok = chip_distance <= settings.face_verify_threshold
    reasons.append(
        Reason(
            "face_matches_chip",
            chip_ok,
            f"face against the chip photo: distance {chip_distance:.3f} "
            f"({'within' if chip_ok else 'beyond'} {settings.face_verify_threshold})",
        )
    )
    scores: dict[str, Any] = {"chip_face_distance": round(chip_distance, 4)}
    record, roll = _enrolled(station, chip.mrz.document_number, chosen)
    fused_ok = compared = False
    if record is None:
        reasons.append(Reason("enrolled", False, "no enrolled record holds this document"))
    elif not record.active:
        reasons.append(
            Reason("enrolled", False, f"the enrolled record {record.id} is {record.status.value}")
        )
    else:
        reasons.append(
            Reason(
                "enrolled",
                True,
                f"on the roll of precinct {roll['precinct']} (version {roll['version']}) as "
                f"voter {roll['voter']}"
                if roll is not None
                else f"enrolled as record {record.id}",
            )
        )
        scored = score_record(station, Probe(encoded.vector, templates), record)
        fused_ok = decide(scored.fused, station.fusion.verify_threshold)
        compared = scored.face_distance is not None or bool(scored.finger_scores)
        against = (
            "the centre's enrolment on the roll" if roll is not None else "the enrolled record"
        )
        reasons.append(
            Reason(
                "matches_record",
                fused_ok,
                f"face and fingers against {against}: fused LLR {scored.fused.llr:.1f} "
                f"({'at least' if fused_ok else 'below'} {station.fusion.verify_threshold:.1f})"
                if compared
                else f"nothing of {against} compares with this face and these fingers",
            )
        )
        best = max(scored.finger_scores.values(), default=0.0)
        finger_ok = best >= settings.fingerprint_verify_threshold
        reasons.append(
            Reason(
                "finger_matches",
                finger_ok,
                f"best finger similarity {best:.3f} "
                f"({'at least' if finger_ok else 'below'} {settings.fingerprint_verify_threshold})"
                if scored.finger_scores
                else "none of these fingers is enrolled",
            )
        )
        scores.update(scored.to_json(names=False))
    if all(r.ok for r in reasons):
        decision = "accepted"
    elif not chip_ok or (record is not None and record.active and compared and not fused_ok):
        decision = "refused"
    else:
        decision = "referred"
    code = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(10))
    result = {
        "reasons": [r.to_json() for r in reasons],
        "scores": scores,
        "card": card_summary(chip),
        "roll": roll,
    }
    with station.writing():
        application_id, number = station.storage.add_application(
            chosen,
            record.id if record is not None else None,
            decision,
            result,
            _code_hash(station, code),
            actor.login,
        )
        station.audit.append(
            actor.login,
            "application",
            target=record.id if record is not None else None,
            outcome=decision,
            detail={"application": application_id, **{r.code: r.ok for r in reasons}},
        )
    log.info("application %s: %s", number, decision)
    return Intake(
        decision,
        reasons,
        record.id if record is not None else None,
        number,
        code,
        utc_now(),
        scores,
        time.perf_counter() - started,
        roll,
    )


def _enrolled(
    station: Station, document_number: str, purpose: str
) -> tuple[Record | None, dict[str, Any] | None]:
    """The record to verify the applicant against, and where it comes from when it is the
    centre's: the voter of a roll of this purpose, valid today, holding the document; else the
    station's own active record (a held or blocked namesake does not hide it), else its latest."""
    storage = station.storage
    today = datetime.now(UTC).date().isoformat()
    on_roll = storage.get_records(storage.find_on_rolls(document_number, purpose, today))
    if on_roll:
        voter = min(on_roll.values(), key=lambda r: r.id)
        entry = storage.roll_entry(voter.id)
        if entry is not None:
            return voter, {k: entry[k] for k in ("precinct", "version", "voter")}
    found = storage.get_records(storage.find_by_document(document_number, purpose), purpose=purpose)
    record = next(
        (r for r in sorted(found.values(), key=lambda r: r.id) if r.active),
        max(found.values(), key=lambda r: r.id, default=None),
    )
    return record, None


def application_status(
    station: Station, number: str, code: str, actor: Actor = SYSTEM
) -> dict[str, Any]:
    """An application's decision, for the number and status code on its receipt (nothing more:
    no name, no scores). A wrong code and an unknown number get the same answer."""
    station.allow(actor, Permission.CHECK_RECEIPT)
    found = station.storage.get_application(number.strip().upper())
    ok = found is not None and hmac.compare_digest(
        found["code_hash"], _code_hash(station, code.strip().upper())
    )
    station.audit.append(
        actor.login,
        "receipt_check",
        target=None if found is None else f"application:{found['id']}",
        outcome="ok" if ok else "not_found",
    )
    if found is None or not ok:
        raise ApplicationNotFoundError()
    return {
        "application_number": found["number"],
        "decision": found["decision"],
        "issued_at": found["created_at"],
    }
