"""Verification at application intake (a voter asks to correct the voter list): the card's chip,
the live face against the chip photo, the enrolled record (face and fingers fused), at least one
finger on its own; a decision with its reasons in words, and a receipt.

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
from typing import TYPE_CHECKING, Any

from matcher.face.templates import face_distance
from matcher.fusion import decide
from station.errors import InvalidInputError, StationError
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
    found = station.storage.get_records(
        station.storage.find_by_document(chip.mrz.document_number, chosen), purpose=chosen
    )
    # the active record if there is one (a held or blocked namesake does not hide it)
    record = next(
        (r for r in sorted(found.values(), key=lambda r: r.id) if r.active),
        max(found.values(), key=lambda r: r.id, default=None),
    )
    fused_ok = False
    if record is None:
        reasons.append(Reason("enrolled", False, "no enrolled record holds this document"))
    elif not record.active:
        reasons.append(
            Reason("enrolled", False, f"the enrolled record {record.id} is {record.status.value}")
        )
    else:
        reasons.append(Reason("enrolled", True, f"enrolled as record {record.id}"))
        scored = score_record(station, Probe(encoded.vector, templates), record)
        fused_ok = decide(scored.fused, station.fusion.verify_threshold)
        reasons.append(
            Reason(
                "matches_record",
                fused_ok,
                f"face and fingers against the enrolled record: fused LLR {scored.fused.llr:.1f} "
                f"({'at least' if fused_ok else 'below'} {station.fusion.verify_threshold:.1f})",
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
    elif not chip_ok or (record is not None and record.active and not fused_ok):
        decision = "refused"
    else:
        decision = "referred"
    code = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(10))
    result = {
        "reasons": [r.to_json() for r in reasons],
        "scores": scores,
        "card": card_summary(chip),
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
    )


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
