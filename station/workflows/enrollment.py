"""Enroll a person: consent, purpose, the ID card (optional), the face, at least
``enroll_min_fingers`` fingers (0 on a station without a scanner: faces only), de-duplication
against the whole purpose (face and fingers fused, and the document number), and a hold for a
supervisor when the person looks enrolled already (:mod:`station.workflows.holds`).

A finger that cannot be taken (missing, injured, bandaged, unreadable after several tries) is
recorded as an exception with its reason, and counts towards the minimum; the enrollment is then
held until a supervisor approves the exceptions (a person with no usable finger is enrolled face
only that way). The finger images are kept with the templates (the centre can extract them
again with its own algorithm).

An operator may not enroll their own document. The record, its templates, photos, consent, card
summary, hold and audit rows are one transaction; nothing is stored when a step fails.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drivers.idcard import ChipDocument
from matcher.face.templates import face_distance
from matcher.fingerprint import FingerprintTemplate
from matcher.fusion import decide
from station.errors import InvalidInputError, StationError
from station.records import PersonFields, Record, RecordStatus
from station.security.roles import SYSTEM, Actor, Permission
from station.storage import Biometric, utc_now
from station.workflows.inputs import (
    CardInput,
    FaceInput,
    FingerImage,
    FingerInput,
    card_fields,
    card_summary,
    jpeg,
    png,
)
from station.workflows.scoring import Probe, Scored, search, shows_identities

if TYPE_CHECKING:
    from station.core import Station

log = logging.getLogger(__name__)

# What an enrolment keeps of the chip beside its summary: EF.SOD and the data groups it signs that
# were read (DG1 the MRZ data, DG2 the photo), sealed like the photos.
CHIP_FILES_KEPT = ("SOD", "DG1", "DG2")
CHIP_FILE_MEDIA = "application/octet-stream"

CONSENT_VERSION = "1"


class SelfEnrollmentError(StationError):
    """An operator may not enroll, or verify, themselves."""

    code = "self_enrollment"

    def __init__(self) -> None:
        super().__init__(
            "the applicant holds the operator's own ID document: another operator must serve "
            "this person"
        )


@dataclass(frozen=True)
class Enrollment:
    record: Record
    candidates: list[Scored]
    # why it is held: likely_duplicate, same_document, card_face_mismatch, finger_exception
    reasons: list[str]
    chip_face_distance: float | None
    seconds: float

    @property
    def held(self) -> bool:
        return self.record.held

    def to_json(self, viewer: Actor) -> dict[str, Any]:
        return {
            "status": self.record.status.value,
            "record": self.record.to_json(special=viewer.may(Permission.VIEW_SPECIAL)),
            "reasons": self.reasons,
            "duplicates": [c.to_json(names=shows_identities(viewer)) for c in self.candidates],
            "chip_face_distance": None
            if self.chip_face_distance is None
            else round(self.chip_face_distance, 4),
            "seconds": round(self.seconds, 3),
        }


def require_consent(consent: bool) -> None:
    if not consent:
        raise InvalidInputError(
            "the person's consent is required: read them the notice, then send consent=true",
            field="consent",
        )


def check_not_the_operator(station: Station, actor: Actor, document_number: str | None) -> None:
    """Refuse when the document is the acting operator's own (recorded by an admin)."""
    own = station.operators.document_index_of(actor.login)
    if own is not None and own == station.storage.document_index(document_number):
        station.audit.append(actor.login, "denied", outcome="self_enrollment")
        raise SelfEnrollmentError()


def enroll(
    station: Station,
    face: FaceInput,
    fingers: FingerInput | None = None,
    fields: PersonFields | None = None,
    card: CardInput | None = None,
    consent: bool = False,
    purpose: str | None = None,
    actor: Actor = SYSTEM,
) -> Enrollment:
    """Enroll one person (see the module's description). Every input is checked before the
    card is read, the camera opened or the scanner driven."""
    started = time.perf_counter()
    station.allow(actor, Permission.ENROLL)
    chosen = station.purpose(purpose)
    require_consent(consent)
    fingers = (fingers if fingers is not None else FingerInput()).check()
    minimum = station.settings.enroll_min_fingers
    if len(fingers) + len(fingers.exceptions) < minimum:
        raise InvalidInputError(
            f"enrollment needs at least {minimum} fingers (taken, or each marked as an "
            f"exception with its reason), got {len(fingers) + len(fingers.exceptions)}",
            field="fingers",
        )
    face.check()
    if card is not None:
        card.check()
    elif fields is None:
        raise InvalidInputError("name is required: the person's full name", field="name")
    else:
        check_not_the_operator(station, actor, fields.document_number)

    chip = card.acquire(station) if card is not None else None
    person = card_fields(chip) if chip is not None else fields
    assert person is not None
    if chip is not None and fields is not None:  # typed special-category fields complete it
        person = person.corrected({"health": fields.health, "disability": fields.disability})
    check_not_the_operator(station, actor, person.document_number)
    pixels = face.acquire(station, actor)
    templates, images = fingers.acquire_with_images(station)
    encoded = station.encode(pixels)
    chip_distance = None
    reasons: list[str] = ["finger_exception"] if fingers.exceptions else []
    if chip is not None:
        chip_distance = face_distance(encoded.vector, station.encode(chip.photo).vector)
        if chip_distance > station.settings.face_verify_threshold:
            reasons.append("card_face_mismatch")
    with station.writing():
        # a duplicate needs the same evidence as a 1:N match, at the duplicate threshold
        threshold = station.settings.duplicate_threshold + math.log(
            max(1, station.galleries.size(chosen))
        )
        probe = Probe(encoded.vector, templates)
        candidates = [
            c
            for c in search(station, probe, chosen, station.settings.top_k)
            if decide(c.fused, threshold)
        ]
        if candidates:
            reasons.append("likely_duplicate")
        same_document = (
            station.storage.find_by_document(person.document_number, chosen)
            if person.document_number
            else []
        )
        if same_document:
            reasons.append("same_document")
        for c in candidates:  # the operator's own enrolled record, found by face and fingers
            check_not_the_operator(station, actor, c.record.fields.document_number)
        record = _store(
            station,
            person,
            encoded,
            pixels,
            Captured(templates, images, dict(fingers.exceptions)),
            chip,
            chosen,
            reasons,
            actor,
            candidates=candidates,
            same_document=same_document,
            chip_distance=chip_distance,
        )
    log.info("enrolled record %d (%s)", record.id, record.status.value)
    return Enrollment(record, candidates, reasons, chip_distance, time.perf_counter() - started)


@dataclass(frozen=True)
class Captured:
    """The fingers an enrollment took (templates and images) and those it could not."""

    templates: dict[int, FingerprintTemplate]
    images: dict[int, FingerImage]
    exceptions: dict[int, str]


def _store(
    station: Station,
    person: PersonFields,
    encoded: Any,
    pixels: Any,
    fingers: Captured,
    chip: ChipDocument | None,
    purpose: str,
    reasons: list[str],
    actor: Actor,
    *,
    candidates: list[Scored],
    same_document: list[int],
    chip_distance: float | None,
) -> Record:
    """Write the record, its biometrics, photos, consent, hold and audit rows (the caller holds
    the write transaction); the galleries learn an active record and forget it on failure."""
    templates = fingers.templates
    biometrics = [Biometric.face(encoded.vector, encoded.box, encoded.model)] + [
        Biometric.finger(p, t.to_bytes(), float(t.quality)) for p, t in sorted(templates.items())
    ]
    exceptions = {
        str(position): {"reason": reason, "recorded_by": actor.login, "at": utc_now()}
        for position, reason in sorted(fingers.exceptions.items())
    }
    consent = {
        "given": True,
        "notice_version": CONSENT_VERSION,
        "at": utc_now(),
        "recorded_by": actor.login,
        "purpose": purpose,
    }
    storage = station.storage
    record: Record | None = None
    try:
        record = storage.add_record(
            person,
            biometrics,
            purpose,
            consent=consent,
            card_summary=card_summary(chip) if chip is not None else None,
            status=RecordStatus.HELD if reasons else RecordStatus.ACTIVE,
            finger_exceptions=exceptions or None,
        )
        storage.put_photo(record.id, "portrait", "image/jpeg", jpeg(pixels))
        for position, image in sorted(fingers.images.items()):
            storage.put_photo(
                record.id, f"finger_{position}", "image/png", png(image.pixels, image.dpi)
            )
        if chip is not None:
            storage.put_photo(record.id, "document", chip.photo_mime, chip.photo_bytes)
            # The chip's files as read, so the centre can check passive authentication itself.
            for name in CHIP_FILES_KEPT:
                if name in chip.files:
                    storage.put_photo(
                        record.id, f"chip_{name.lower()}", CHIP_FILE_MEDIA, chip.files[name]
                    )
        ids = sorted({c.record.id for c in candidates} | set(same_document))
        station.audit.append(
            actor.login,
            "enroll",
            target=record.id,
            outcome="held" if reasons else "ok",
            detail={
                "fingers": len(templates),
                "exceptions": len(exceptions),
                "card": chip is not None,
                "candidates": ids,
            },
        )
        if reasons:
            storage.put_hold(
                record.id,
                {
                    "reasons": reasons,
                    "candidates": [c.to_json(names=False) for c in candidates],
                    "same_document": same_document,
                    "chip_face_distance": chip_distance,
                    "finger_exceptions": sorted(int(p) for p in exceptions),
                },
                actor.login,
            )
            station.audit.append(
                actor.login,
                "hold",
                target=record.id,
                detail={"candidates": ids, **{r: True for r in reasons}},
            )
        else:
            station.galleries.add(record.id, purpose, encoded.vector, templates)
    except BaseException:
        if record is not None:
            station.galleries.remove(record.id)
        raise
    return record
