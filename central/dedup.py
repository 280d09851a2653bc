"""National de-duplication of the import queue: each queued enrolment against the register.

For each enrolment of a register's queue, oldest first: its face and fingers are searched in the
national galleries (:class:`~central.engine.national.NationalGallery`, Ray actors) and among the
enrolments of the same run decided unique before it; every candidate either modality finds is
scored exactly on both (face distance, MCC similarity per finger) and fused into one LLR
(:mod:`matcher.fusion`, the same models as the stations', with
:func:`~matcher.fusion.dedup_params`: a disagreeing face does not clear matching fingers).
Reaching the 1:N threshold for the register's size makes the enrolment a likely duplicate: it
goes to the review queue with its candidates (``central review``). Otherwise it is registered,
and searchable for the next ones. The next enrolment's national search runs on the shards while
one is decided (:func:`judged`), so that a shard finishing early never waits for the others.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from central.engine.loader import (
    SEARCHABLE,
    codes_format,
    face_format,
    person_templates,
    register_templates,
)
from central.engine.shard import GalleryShard, PersonTemplates, Scored
from central.review import send_to_review
from matcher.errors import MatcherError
from matcher.fingerprint import FingerprintTemplate
from matcher.fingerprint.compact import FingerCodec
from matcher.fusion import (
    FACE_MODELS,
    FusionParams,
    decide,
    dedup_params,
    fuse,
    identify_threshold,
)

if TYPE_CHECKING:
    from central.centre import Centre
    from central.engine.national import NationalGallery

FACE_K = 10
FINGER_K = 10
AHEAD = 1  # enrolments whose national search is queued while one is decided
CODEC_PERSONS = 5_000  # persons whose fingers train a register's finger codec


@dataclass
class DedupResult:
    checked: int = 0
    registered: int = 0
    to_review: list[dict[str, Any]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        ordered = sorted(self.seconds)
        return {
            "checked": self.checked,
            "registered": self.registered,
            "to_review": self.to_review,
            "p50_s": round(ordered[len(ordered) // 2], 4) if ordered else None,
            "max_s": round(ordered[-1], 4) if ordered else None,
        }


def queued(
    centre: Centre, register: str, face_format: str, limit: int | None
) -> list[PersonTemplates]:
    """The queue of ``register``, oldest first, with the templates of each person."""
    rows = centre.register.db.execute(
        "SELECT id FROM persons WHERE register = %s AND status = 'queued' "
        "ORDER BY enrolled_at NULLS LAST, id LIMIT %s",
        (register, limit),
    ).fetchall()
    return [person_templates(centre.register, int(r["id"]), face_format) for r in rows]


def judge(
    national: NationalGallery,
    batch: GalleryShard,
    person: PersonTemplates,
    params: FusionParams,
    register_size: int,
) -> tuple[list[dict[str, Any]], float]:
    """(candidates at or above the 1:N threshold, best first; the threshold) for one enrolment,
    searched in the national galleries (every shard at once) and in ``batch``: this run's newly
    registered enrolments."""
    found = national.candidates(person.face, person.fingers, FACE_K, FINGER_K)
    return _likely(found + _in_batch(batch, person), params, register_size)


@dataclass(frozen=True)
class Judged:
    person: PersonTemplates
    likely: list[dict[str, Any]]  # as :func:`judge`'s
    threshold: float
    seconds: float  # from its search starting to its judgement


def judged(
    national: NationalGallery,
    batch: GalleryShard,
    persons: Iterable[PersonTemplates],
    params: FusionParams,
    register_size: Callable[[], int],
    ahead: int = AHEAD,
) -> Iterator[Judged]:
    """:func:`judge` for each of ``persons`` in turn, with the national searches of the next
    ``ahead`` already queued on the shards (:meth:`NationalGallery.candidates_of_each`): while
    one enrolment is judged and decided, the shards work on the next (the national galleries do
    not change during a run). The search in ``batch`` and the threshold wait until the caller
    has decided the enrolments before: the generator resumes after the caller's loop body has
    added the registered to ``batch``."""
    for person, started, found in national.candidates_of_each(persons, FACE_K, FINGER_K, ahead):
        likely, threshold = _likely(found + _in_batch(batch, person), params, register_size())
        yield Judged(person, likely, threshold, time.perf_counter() - started)


def _in_batch(batch: GalleryShard, person: PersonTemplates) -> list[Scored]:
    return batch.candidates(person.face, person.fingers, FACE_K, FINGER_K)


def _likely(
    candidates: Iterable[Scored],
    params: FusionParams,
    register_size: int,
) -> tuple[list[dict[str, Any]], float]:
    """The exactly scored ``candidates`` fused, those reaching the 1:N threshold for
    ``register_size`` kept, best first; and the threshold."""
    threshold = identify_threshold(params, max(1, register_size))
    likely: list[dict[str, Any]] = []
    for candidate, distance, fingers in candidates:
        fused = fuse(distance, fingers, params)
        if decide(fused, threshold):
            likely.append(
                {
                    "person": candidate,
                    "llr": round(fused.llr, 3),
                    "face_distance": None if distance is None else round(distance, 4),
                    "finger_scores": {str(p): round(s, 4) for p, s in fingers.items()},
                }
            )
    likely.sort(key=lambda c: -float(c["llr"]))
    return likely, threshold


def finger_codec(centre: Centre, register: str, persons: int = CODEC_PERSONS) -> bytes | None:
    """The finger codec of ``register``'s compact shards, kept sealed in the register: trained
    on the fingers of its first ``persons`` searchable or queued persons the first time (None
    while they hold too few cylinders to train on: the shards keep full galleries)."""
    name = f"finger_codec:{register}"
    kept = centre.register.sealed_value(name)
    if kept is not None:
        return kept
    persons_seen = itertools.islice(
        register_templates(centre.register, register, "", 0, 1, SEARCHABLE), persons
    )
    fingers = (
        FingerprintTemplate.from_bytes(data) for p in persons_seen for data in p.fingers.values()
    )
    try:
        trained = FingerCodec.train(fingers).to_bytes()
    except MatcherError:
        return None
    return centre.register.put_sealed_value(name, trained)


def _store_codes(centre: Centre, codec: FingerCodec, chosen: str, person: PersonTemplates) -> None:
    """A newly registered person's finger codes (format ``chosen``), so that the next load
    prepares nothing."""
    for position, data in person.fingers.items():
        code = codec.code(FingerprintTemplate.from_bytes(data))
        centre.register.put_template(person.person_id, "finger", position, chosen, None, code)


def deduplicate(
    centre: Centre,
    national: NationalGallery,
    *,
    register: str = "voter_registration",
    face_model: str = "sface",
    limit: int | None = None,
) -> DedupResult:
    """Decide the queued enrolments of ``register`` (at most ``limit``); see the module."""
    params = dedup_params(FusionParams(face=FACE_MODELS[face_model]))
    codec = None if national.codec is None else FingerCodec.from_bytes(national.codec)
    chosen = "" if national.codec is None else codes_format(national.codec)
    result = DedupResult()
    batch = GalleryShard(0, 1)  # this run's newly registered, until the next run loads them
    before = _registered(centre, register)
    persons = queued(centre, register, face_format(face_model), limit)
    for outcome in judged(national, batch, persons, params, lambda: before + result.registered):
        person, likely = outcome.person, outcome.likely
        with centre.register.transaction():
            if likely:
                send_to_review(centre, person.person_id, likely, outcome.threshold)
                result.to_review.append({"person": person.person_id, "candidates": likely})
            else:
                centre.register.update_person(person.person_id, status="registered")
                if codec is not None and person.fingers:
                    _store_codes(centre, codec, chosen, person)
                centre.audit.append(
                    centre.actor, "dedup", target=person.person_id, outcome="registered"
                )
                result.registered += 1
        if not likely and (person.face is not None or person.fingers):
            batch.add([person])
        result.checked += 1
        result.seconds.append(outcome.seconds)
    return result


def _registered(centre: Centre, register: str) -> int:
    row = centre.register.db.execute(
        "SELECT count(*) AS n FROM persons WHERE register = %s AND status = 'registered'",
        (register,),
    ).fetchone()
    return int(row["n"]) if row else 0


def national_loader(
    centre: Centre, register: str, face_model: str, codec: bytes | None = None
) -> Any:
    """The loader of :class:`NationalGallery` over the registered persons of ``register``, with
    their finger codes of ``codec`` where stored."""
    chosen = face_format(face_model)
    codes = None if codec is None else codes_format(codec)

    def load(shard: int, shards: int) -> Iterator[PersonTemplates]:
        return register_templates(
            centre.register, register, chosen, shard, shards, ("registered",), codes
        )

    return load
