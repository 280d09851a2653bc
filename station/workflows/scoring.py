"""How every job compares a person with the records: the probe's face distance to the record's
face and each probe finger's MCC similarity to the record's finger at the same ISO position, fused
into one log-likelihood ratio (:mod:`matcher.fusion`). Candidates come from the purpose's face and
fingerprint galleries (the union of both shortlists) and are then scored exactly, so a record
found by one modality is still judged on all of them.

Who may see a candidate's name and document number is decided here, once: those who may view
people's records (supervisors). Others see record ids and scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from matcher.face.templates import face_distance
from matcher.fingerprint import FingerprintTemplate, mcc
from matcher.fusion import FusedScore, fuse
from station.errors import RecordNotFoundError
from station.records import Record
from station.security.roles import Actor, Permission

if TYPE_CHECKING:
    from station.core import Station


def shows_identities(actor: Actor) -> bool:
    """Whether ``actor`` may see the names and document numbers of people found by a search."""
    return actor.may(Permission.VIEW)


@dataclass(frozen=True)
class Probe:
    """What was captured of the person at the desk."""

    face: NDArray[np.float32] | None
    fingers: Mapping[int, FingerprintTemplate] = field(default_factory=dict)


@dataclass(frozen=True)
class Scored:
    record: Record
    face_distance: float | None
    finger_scores: dict[int, float]
    fused: FusedScore

    def to_json(self, names: bool) -> dict[str, Any]:
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
        except RecordNotFoundError:  # the record has no face
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
