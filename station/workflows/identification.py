"""Identification without a card (1:N): the face and/or fingers against every active record of one
purpose, fused; the top candidates, best first, and a match when the best reaches the 1:N
threshold (the 1:1 odds plus the gallery's size). Candidates' names only for those who may see
people's records (:func:`station.workflows.scoring.shows_identities`).

The voters of the precinct rolls the station holds are searched when asked for by their purpose,
``purpose="precinct_roll"`` (:data:`~station.records.ROLL_PURPOSE`), and only then: a search of
the station's own purposes never finds the centre's voters, and one of the rolls never finds the
station's own enrolments."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from matcher.fusion import decide, identify_threshold
from station.errors import InvalidInputError
from station.records import ROLL_PURPOSE
from station.security.roles import SYSTEM, Actor, Permission
from station.workflows.inputs import FaceInput, FingerInput
from station.workflows.scoring import Probe, Scored, search, shows_identities

if TYPE_CHECKING:
    from station.core import Station


@dataclass(frozen=True)
class Identification:
    candidates: list[Scored]
    threshold: float
    gallery_size: int
    seconds: float

    @property
    def match(self) -> Scored | None:
        top = self.candidates[0] if self.candidates else None
        return top if top is not None and decide(top.fused, self.threshold) else None

    def to_json(self, viewer: Actor) -> dict[str, Any]:
        names = shows_identities(viewer)
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


def identify(
    station: Station,
    face: FaceInput | None = None,
    fingers: FingerInput | None = None,
    purpose: str | None = None,
    top_k: int | None = None,
    actor: Actor = SYSTEM,
) -> Identification:
    """Search one purpose (or the precinct rolls held, ``purpose="precinct_roll"``) for the
    person with this face and/or these fingers."""
    started = time.perf_counter()
    station.allow(actor, Permission.IDENTIFY)
    chosen = ROLL_PURPOSE if purpose == ROLL_PURPOSE else station.purpose(purpose)
    k = station.settings.top_k if top_k is None else top_k
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 100:
        raise InvalidInputError("top_k must lie between 1 and 100", field="top_k")
    fingers = (fingers if fingers is not None else FingerInput()).check()
    if face is None and not len(fingers):
        raise InvalidInputError("send a face, fingers, or both", field="image")
    if face is not None:
        face.check()
    encoded = station.encode(face.acquire(station, actor)) if face is not None else None
    probe = Probe(None if encoded is None else encoded.vector, fingers.acquire(station))
    candidates = search(station, probe, chosen, k)
    size = station.galleries.size(chosen)
    result = Identification(
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
            "fingers": len(probe.fingers),
            "face": encoded is not None,
        },
    )
    return result
