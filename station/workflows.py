"""The three desk workflows, independent of HTTP: enrolment with de-duplication, verification at
application intake with a receipt, and identification without a card.

Every workflow scores candidates the same way (:func:`score_record`): the probe's face distance
to the record's face and each probe finger's MCC similarity to the record's finger at the same
ISO position, fused into one log-likelihood ratio (:mod:`matcher.fusion`). Candidates come from
the purpose's face gallery and fingerprint gallery (the union of both shortlists), and are then
scored exactly, so a record found by one modality is still judged on all of them.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from drivers.idcard import AccessKey, ChipDocument
from matcher.face.templates import face_distance
from matcher.fingerprint import FingerprintTemplate, mcc
from matcher.fingerprint.image import MAX_DPI, MIN_DPI
from matcher.fusion import FusedScore, decide, fuse, identify_threshold
from station.errors import ImageTooLargeError, InvalidInputError, StationError
from station.images import finger_limit_words
from station.records import PersonFields, Record, RecordStatus
from station.security.roles import SYSTEM, Actor, Permission
from station.storage import Biometric, utc_now

if TYPE_CHECKING:
    from station.service import Station

log = logging.getLogger(__name__)

CONSENT_VERSION = "1"
RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud, typed back
DECISIONS = ("accept", "reject", "dispute")


class FingerRefusedError(StationError):
    """A finger image too poor to enrol or compare."""

    code = "finger_refused"
    http_status = 422

    def __init__(self, position: int, message: str, reasons: list[str]) -> None:
        self.position = position
        self.reason_codes = reasons
        super().__init__(f"finger {position}: {message}: place the finger again, flat and dry")


class SelfEnrollmentError(StationError):
    """An operator may not enrol, or verify, themselves."""

    code = "self_enrollment"
    http_status = 403

    def __init__(self) -> None:
        super().__init__(
            "the applicant holds the operator's own ID document: another operator must serve "
            "this person"
        )


class NotHeldError(StationError):
    code = "not_held"
    http_status = 409

    def __init__(self, record_id: int) -> None:
        super().__init__(f"record {record_id} is not held for a decision")


class ApplicationNotFoundError(StationError):
    code = "application_not_found"
    http_status = 404

    def __init__(self) -> None:
        super().__init__("no application with this number and code: check both on the receipt")


# -- inputs ------------------------------------------------------------------------------------


def finger_template(
    station: Station, position: int, pixels: NDArray[Any], dpi: float = 500
) -> FingerprintTemplate:
    """The template of one finger image, refused when too poor to rely on."""
    from matcher.fingerprint import extract

    if not 1 <= position <= 10:
        raise InvalidInputError(
            f"finger position {position} is not an ISO position 1-10 (1 right thumb, 2 right "
            "index, ... 6 left thumb, 7 left index, ...)",
            field=f"finger_{position}",
        )
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise InvalidInputError(f"dpi is a number from {MIN_DPI} to {MAX_DPI}", field="dpi")
    settings = station.settings
    height, width = pixels.shape[:2]
    if height * width * (500 / dpi) ** 2 > settings.max_finger_pixels:
        raise ImageTooLargeError(
            f"the finger image is {width}x{height} pixels at {dpi:g} dpi; the station accepts "
            f"at most {finger_limit_words(settings.max_finger_pixels, dpi)}: send the finger "
            "alone, cropped to the print"
        )
    with station.working():
        template = extract.extract(pixels, dpi)
    reasons = []
    if template.quality < settings.fingerprint_min_quality:
        reasons.append("low_quality")
    if template.count < settings.fingerprint_min_minutiae:
        reasons.append("few_minutiae")
    if reasons:
        raise FingerRefusedError(
            position,
            f"quality {template.quality:.0f} with {template.count} minutiae is not enough "
            f"(at least {settings.fingerprint_min_quality} and "
            f"{settings.fingerprint_min_minutiae})",
            reasons,
        )
    return template


def scan_finger(station: Station, position: int) -> FingerprintTemplate:
    """One finger from the station's scanner, opened for this capture only."""
    image = station.scan_finger_image()
    return finger_template(station, position, image.pixels, image.dpi)


def read_card(station: Station, access: AccessKey) -> ChipDocument:
    """The ID card on the station's reader (its chip opened with the MRZ's access key)."""
    if station.card_reader is None:
        raise StationError("this station has no ID-card reader configured (card_reader_url)")
    with station._card_lock:
        return station.card_reader.read_document(access, timeout=station.settings.card_timeout)


def card_fields(card: ChipDocument) -> PersonFields:
    """The person's fields as the chip holds them (DG1)."""
    m = card.mrz

    def date(yymmdd: str) -> str | None:
        if not yymmdd.isdigit():
            return None
        year = int(yymmdd[:2])
        century = 2000 if 2000 + year <= time.gmtime().tm_year else 1900
        return f"{century + year:04d}-{yymmdd[2:4]}-{yymmdd[4:6]}"

    return PersonFields.from_mapping(
        {
            "name": f"{m.given_names} {m.surname}".strip(),
            "document_type": {"I": "ID card", "P": "passport"}.get(m.document_code[:1], "document"),
            "document_number": m.document_number,
            "nationality": m.nationality,
            "birth_date": date(m.birth_date),
            "sex": m.sex if m.sex in {"M", "F"} else "X",
        }
    )


def card_summary(card: ChipDocument) -> dict[str, Any]:
    """What the station keeps of a card read: the data groups and the checks, not the raw files."""
    m = card.mrz
    return {
        "document_code": m.document_code,
        "issuing_state": m.issuing_state,
        "document_number": m.document_number,
        "expiry_date": m.expiry_date,
        "data_groups": [f"DG{n}" for n in card.data_groups],
        "access_protocol": card.access_protocol,
        "passive_auth_passed": card.passive_auth.passed,
        "passive_auth": card.passive_auth.summary(),
        "read_at": utc_now(),
    }


def jpeg(pixels: NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


# -- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """What was captured of the person at the desk."""

    face: NDArray[np.float32] | None
    fingers: Mapping[int, FingerprintTemplate] = field(default_factory=dict)
    face_box: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class Scored:
    record: Record
    face_distance: float | None
    finger_scores: dict[int, float]
    fused: FusedScore

    def to_json(self, names: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "record_id": self.record.id,
            "llr": round(self.fused.llr, 3),
            "face_distance": None if self.face_distance is None else round(self.face_distance, 4),
            "finger_scores": {str(p): round(s, 4) for p, s in sorted(self.finger_scores.items())},
            **self.fused.to_json(),
        }
        if names:
            out["name"] = self.record.fields.name
            out["document_number"] = self.record.fields.document_number
        return out


def score_record(station: Station, probe: Probe, record: Record) -> Scored:
    """Compare the probe with every modality the record holds; fuse."""
    distance = None
    if probe.face is not None:
        try:
            distance = face_distance(probe.face, station.storage.get_template(record.id))
        except StationError:  # the record has no face
            distance = None
    scores: dict[int, float] = {}
    if probe.fingers:
        enrolled = station.storage.record_fingers(record.id)
        for position, template in probe.fingers.items():
            if position in enrolled:
                scores[position] = mcc.similarity(
                    mcc.prepare(template),
                    mcc.prepare(FingerprintTemplate.from_bytes(enrolled[position])),
                )
    return Scored(record, distance, scores, fuse(distance, scores, station.fusion))


def search(station: Station, probe: Probe, purpose: str, limit: int) -> list[Scored]:
    """Active records of one purpose most likely to be the probe's person, best fused first."""
    ids: list[int] = []
    if probe.face is not None:
        ids += [r.record_id for r in station.galleries.face(purpose).search_one(probe.face, limit)]
    if probe.fingers:
        found = station.galleries.finger(purpose).search(dict(probe.fingers), limit=limit)
        ids += [int(c.record_id) for c in found]
    records = station.storage.get_records(list(dict.fromkeys(ids)), purpose=purpose)
    scored = [score_record(station, probe, r) for r in records.values() if r.active]
    scored.sort(key=lambda s: -s.fused.llr)
    return scored[:limit]


# -- enrolment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrollment:
    record: Record
    candidates: list[Scored]
    reasons: list[
        str
    ]  # why the record is held: likely_duplicate, same_document, card_face_mismatch
    chip_face_distance: float | None
    seconds: float

    @property
    def held(self) -> bool:
        return self.record.held

    def to_json(self, special: bool = False) -> dict[str, Any]:
        return {
            "status": self.record.status.value,
            "record": self.record.to_json(special=special),
            "reasons": self.reasons,
            "duplicates": [c.to_json(names=False) for c in self.candidates],
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


def _check_not_the_operator(station: Station, actor: Actor, document_number: str | None) -> None:
    """Refuse when the document is the acting operator's own (set by an admin)."""
    own = station.operators.document_index_of(actor.login)
    if own is not None and own == station.storage.document_index(document_number):
        station.audit.append(actor.login, "denied", outcome="self_enrollment")
        raise SelfEnrollmentError()


def enroll_person(
    station: Station,
    face_pixels: NDArray[np.uint8],
    fingers: Mapping[int, FingerprintTemplate],
    fields: PersonFields | None = None,
    card: ChipDocument | None = None,
    consent: bool = False,
    purpose: str | None = None,
    actor: Actor = SYSTEM,
) -> Enrollment:
    """Enrol a person: card (optional), face, at least ``enroll_min_fingers`` fingers, consent.

    The person is compared 1:N (face and fingers fused) with the purpose's gallery, and by
    document number; a likely duplicate is stored *held*: kept, never matched, until a
    supervisor decides (:func:`decide_hold`). An operator cannot enrol their own document. The
    record, its templates, photos, consent, card summary, hold and audit rows are one
    transaction; nothing is stored when a step fails.
    """
    started = time.perf_counter()
    station.allow(actor, Permission.ENROLL)
    chosen = station.purpose(purpose)
    require_consent(consent)
    minimum = station.settings.enroll_min_fingers
    if len(fingers) < minimum:
        raise InvalidInputError(
            f"enrolment needs at least {minimum} fingers, got {len(fingers)}", field="fingers"
        )
    person = card_fields(card) if card is not None else fields
    if person is None:
        raise InvalidInputError("name is required: the person's full name", field="name")
    if card is not None and fields is not None:  # typed special-category fields complete the card
        person = person.corrected({"health": fields.health, "disability": fields.disability})
    _check_not_the_operator(station, actor, person.document_number)
    face = station.encode(face_pixels)
    probe = Probe(face.vector, dict(fingers), face.box)
    chip_distance = None
    reasons: list[str] = []
    if card is not None:
        chip_distance = face_distance(face.vector, station.encode(card.photo).vector)
        if chip_distance > station.settings.face_verify_threshold:
            reasons.append("card_face_mismatch")
    with station._write_lock:
        # a duplicate needs the same evidence as a 1:N match, at the duplicate threshold
        threshold = station.settings.duplicate_threshold + math.log(
            max(1, station.galleries.size(chosen))
        )
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
            _check_not_the_operator(station, actor, c.record.fields.document_number)
        status = RecordStatus.HELD if reasons else RecordStatus.ACTIVE
        biometrics = [Biometric.face(face.vector, face.box)] + [
            Biometric.finger(p, t.to_bytes(), float(t.quality)) for p, t in sorted(fingers.items())
        ]
        consent_record = {
            "given": True,
            "notice_version": CONSENT_VERSION,
            "at": utc_now(),
            "recorded_by": actor.login,
            "purpose": chosen,
        }
        record: Record | None = None
        try:
            with station.storage.transaction():
                record = station.storage.add_record(
                    person,
                    biometrics,
                    chosen,
                    consent=consent_record,
                    card_summary=card_summary(card) if card is not None else None,
                    status=status,
                )
                station.storage.put_photo(record.id, "portrait", "image/jpeg", jpeg(face_pixels))
                if card is not None:
                    station.storage.put_photo(
                        record.id, "document", card.photo_mime, card.photo_bytes
                    )
                ids = sorted({c.record.id for c in candidates} | set(same_document))
                station.audit.append(
                    actor.login,
                    "enroll",
                    target=record.id,
                    outcome="held" if reasons else "ok",
                    detail={"fingers": len(fingers), "card": card is not None, "candidates": ids},
                )
                if reasons:
                    station.storage.put_hold(
                        record.id,
                        {
                            "reasons": reasons,
                            "candidates": [c.to_json(names=False) for c in candidates],
                            "same_document": same_document,
                            "chip_face_distance": chip_distance,
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
                    station.galleries.add(record.id, chosen, face.vector, fingers)
        except BaseException:
            if record is not None:
                station.galleries.remove(record.id)
            raise
    log.info("enrolled record %d (%s)", record.id, status.value)
    return Enrollment(record, candidates, reasons, chip_distance, time.perf_counter() - started)


def decide_hold(
    station: Station, record_id: int, decision: str, reason: str, actor: Actor = SYSTEM
) -> Record | None:
    """A supervisor's decision on a held enrolment: ``accept`` (a different person: the record
    becomes active and searchable), ``reject`` (a duplicate: the new record is deleted), or
    ``dispute`` (kept blocked for an investigation). Returns the record, None when deleted."""
    station.allow(actor, Permission.DECIDE, record_id)
    if decision not in DECISIONS:
        raise InvalidInputError(f"decision is one of {', '.join(DECISIONS)}", field="decision")
    reason = " ".join(reason.split())
    if not 3 <= len(reason) <= 500:
        raise InvalidInputError("say why (3-500 characters)", field="reason")
    with station._write_lock, station.storage.transaction():
        record = station.storage.get_record(record_id)
        if not record.held:
            raise NotHeldError(record_id)
        station.audit.append(actor.login, "hold_decision", target=record_id, outcome=decision)
        if decision == "reject":
            station.storage.delete_record(record_id)
            return None
        station.storage.delete_hold(record_id)
        if decision == "dispute":
            station.storage.set_status(record_id, RecordStatus.BLOCKED)
        else:
            station.storage.set_status(record_id, RecordStatus.ACTIVE)
            station.galleries.add_from_storage(station.storage, record_id)
    return station.storage.get_record(record_id)


# -- verification at application intake ---------------------------------------------------------


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
            "check": "POST /api/v1/applications/status with the number and the code",
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


def verify_application(
    station: Station,
    face_pixels: NDArray[np.uint8],
    fingers: Mapping[int, FingerprintTemplate],
    card: ChipDocument,
    purpose: str | None = None,
    actor: Actor = SYSTEM,
) -> Intake:
    """Check an applicant against their card and their enrolled record, decide, issue a receipt.

    Checks, each a reason in the answer: the chip is authentic (passive authentication); the
    live face matches the chip photo; the card's document is enrolled (in this purpose) and
    active; the live face and fingers match the enrolled record (fused); at least one finger
    matches on its own (``fingerprint_verify_threshold``). Accepted when all pass; refused when
    the face contradicts the chip or the fused score says another person; referred to a
    supervisor otherwise. Stored (sealed) with a receipt: an application number and a status
    code, kept as a keyed hash only.
    """
    started = time.perf_counter()
    station.allow(actor, Permission.VERIFY)
    chosen = station.purpose(purpose)
    settings = station.settings
    if not fingers:
        raise InvalidInputError("verify at least one finger", field="fingers")
    _check_not_the_operator(station, actor, card.mrz.document_number)
    face = station.encode(face_pixels)
    reasons: list[Reason] = []
    authentic = card.passive_auth.passed
    reasons.append(
        Reason(
            "chip_authentic",
            authentic,
            "the chip's data is signed by its issuer"
            if authentic
            else f"passive authentication failed: {card.passive_auth.summary()}",
        )
    )
    chip_distance = face_distance(face.vector, station.encode(card.photo).vector)
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
        station.storage.find_by_document(card.mrz.document_number, chosen), purpose=chosen
    )
    # the active record if there is one (a held or blocked namesake does not hide it)
    record = next(
        (r for r in sorted(found.values(), key=lambda r: r.id) if r.active),
        max(found.values(), key=lambda r: r.id, default=None),
    )
    fused_ok = finger_ok = False
    if record is None:
        reasons.append(Reason("enrolled", False, "no enrolled record holds this document"))
    elif not record.active:
        reasons.append(
            Reason("enrolled", False, f"the enrolled record {record.id} is {record.status.value}")
        )
    else:
        reasons.append(Reason("enrolled", True, f"enrolled as record {record.id}"))
        scored = score_record(station, Probe(face.vector, dict(fingers)), record)
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
        "card": card_summary(card),
    }
    with station._write_lock, station.storage.transaction():
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
    station.allow(actor, Permission.VERIFY)
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


# -- identification without a card --------------------------------------------------------------


@dataclass(frozen=True)
class PersonIdentification:
    candidates: list[Scored]
    threshold: float
    gallery_size: int
    seconds: float

    @property
    def match(self) -> Scored | None:
        top = self.candidates[0] if self.candidates else None
        return top if top is not None and decide(top.fused, self.threshold) else None

    def to_json(self, names: bool) -> dict[str, Any]:
        best = self.match
        return {
            "decision": "match" if best else "no_match",
            "match": None if best is None else best.to_json(names),
            "candidates": [
                {"rank": i, **c.to_json(names), "match": decide(c.fused, self.threshold)}
                for i, c in enumerate(self.candidates, start=1)
            ],
            "threshold": round(self.threshold, 3),
            "gallery_size": self.gallery_size,
            "seconds": round(self.seconds, 4),
        }


def identify_person(
    station: Station,
    face_pixels: NDArray[np.uint8] | None,
    fingers: Mapping[int, FingerprintTemplate],
    purpose: str | None = None,
    top_k: int | None = None,
    actor: Actor = SYSTEM,
) -> PersonIdentification:
    """1:N with the fused score: the top candidates of one purpose, best first, for a
    supervisor to look at; a match when the best reaches the 1:N threshold (the 1:1 odds plus
    the gallery's size)."""
    started = time.perf_counter()
    station.allow(actor, Permission.IDENTIFY)
    chosen = station.purpose(purpose)
    k = station.settings.top_k if top_k is None else top_k
    if not 1 <= k <= 100:
        raise InvalidInputError("top_k must lie between 1 and 100", field="top_k")
    if face_pixels is None and not fingers:
        raise InvalidInputError("send a face, fingers, or both", field="image")
    face = station.encode(face_pixels) if face_pixels is not None else None
    probe = Probe(None if face is None else face.vector, dict(fingers))
    candidates = search(station, probe, chosen, k)
    size = station.galleries.size(chosen)
    result = PersonIdentification(
        candidates, identify_threshold(station.fusion, size), size, time.perf_counter() - started
    )
    best = result.match
    station.audit.append(
        actor.login,
        "identify",
        target=None if best is None else best.record.id,
        outcome="match" if best else "no_match",
        detail={
            "candidates": [c.record.id for c in candidates],
            "fingers": len(fingers),
            "fused": True,
        },
    )
    return result
