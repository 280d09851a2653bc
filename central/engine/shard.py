"""One shard of the national galleries: the face and fingerprint galleries of the persons it owns.

A plain class, so it runs and is tested without Ray; :mod:`central.engine.national` makes it a Ray
actor. Searches answer with exact scores (face: Euclidean distance of the stored templates; finger:
the MCC similarity fused over the probe's fingers), so candidates of different shards compare and
the merged top-k equals a single gallery's.
"""

from __future__ import annotations

import functools
import math
import os
import resource
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from matcher.face.gallery import FaceGallery
from matcher.face.index_policy import FaceIndexPolicy
from matcher.fingerprint import FingerprintTemplate, mcc
from matcher.fingerprint.compact import (
    CompactFingerprintGallery,
    CompactPolicy,
    FingerCodec,
    Shortlisted,
    merge_votes,
)
from matcher.fingerprint.index import FingerprintGallery, IndexPolicy


@dataclass(frozen=True)
class PersonTemplates:
    """What the engine holds of one person: a face template and finger templates by position."""

    person_id: int
    face: NDArray[np.float32] | None = None
    fingers: Mapping[int, bytes] = field(default_factory=dict)
    codes: Mapping[int, bytes] = field(default_factory=dict)  # the shared codec's, where stored


Scored = tuple[int, float | None, dict[int, float]]  # person, face distance, finger scores
T = TypeVar("T")
PROBES_KEPT = 16  # probe fingers kept prepared, for the steps of the enrolments in flight
FaceAnswer = tuple[
    NDArray[np.float32], NDArray[np.int64]
]  # (distances, ids), as FaceGallery.search


def nearest_of(answers: Iterable[FaceAnswer], k: int) -> FaceAnswer:
    """The top-k over several galleries' face answers for the same probes: nearest first, ties
    by the smaller id, as one gallery holding them all orders them."""
    listed = list(answers)
    distances = np.concatenate([a[0] for a in listed], axis=1)
    ids = np.concatenate([a[1] for a in listed], axis=1)
    order = np.lexsort((np.where(ids < 0, np.iinfo(np.int64).max, ids), distances), axis=1)
    order = order[:, :k]
    return np.take_along_axis(distances, order, 1), np.take_along_axis(ids, order, 1)


@dataclass(frozen=True)
class FirstStep:
    """A shard's first answer for one enrolment (:meth:`GalleryShard.first_step`): its face
    top-k, and its best-voted fingers for each probe finger (compact galleries; None for full
    ones, which keep their own share of the shortlist)."""

    face: FaceAnswer | None
    votes: dict[int, Shortlisted] | None


@dataclass
class Searching:
    """The time a shard has spent on searches: ``wall_s`` from each call's start to its end,
    ``cpu_s`` of that on a core (less than ``wall_s`` when the node's cores are contended)."""

    calls: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0


def _timed(method: Callable[..., T]) -> Callable[..., T]:
    """A shard's search method, its time added to the shard's :class:`Searching`."""

    @functools.wraps(method)
    def timed(self: GalleryShard, *args: Any, **kwargs: Any) -> T:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return method(self, *args, **kwargs)
        finally:
            self.searching.calls += 1
            self.searching.wall_s += time.perf_counter() - wall
            self.searching.cpu_s += time.thread_time() - cpu

    return timed


@dataclass(frozen=True)
class FingerHit:
    person_id: int
    score: float
    finger_scores: dict[int, float]


class GalleryShard:
    """The galleries of one shard; ``index`` of ``count`` shards. Given the finger ``codec`` every
    shard shares (:meth:`FingerCodec.to_bytes`), its fingers are held in a
    :class:`CompactFingerprintGallery` (about 1.5 KB a finger, for national sizes); without one,
    in a :class:`FingerprintGallery` (about 30 KB a finger, its codes trained on itself)."""

    def __init__(
        self,
        index: int,
        count: int,
        face_policy: FaceIndexPolicy | None = None,
        finger_policy: IndexPolicy | None = None,
        codec: bytes | None = None,
        compact_policy: CompactPolicy | None = None,
        threads: int | None = None,
    ) -> None:
        """``threads``: FAISS's threads in this process (one per shard in an actor: the shards
        are the parallelism, and more would fight over the node's cores). Faces are searched
        exhaustively by default: 9 ms a probe at 500,000 faces on one core, beside the finger
        scan's 0.5-1 s, and nothing to train (an approximate index retrained as a shard grew
        cost 141 s of a 100,000-person shard's build)."""
        if threads is not None:
            import faiss

            faiss.omp_set_num_threads(threads)
        self.index, self.count = index, count
        self.searching = Searching()
        self._probes: dict[bytes, tuple[mcc.PreparedTemplate, mcc.ExpandedTemplate]] = {}
        self.faces = FaceGallery(face_policy or FaceIndexPolicy.exact())
        self.fingers: FingerprintGallery | CompactFingerprintGallery
        if codec is None:
            self.fingers = FingerprintGallery(finger_policy)
        else:
            policy = replace(compact_policy or CompactPolicy(), shards=count)
            self.fingers = CompactFingerprintGallery(FingerCodec.from_bytes(codec), policy)

    def owns(self, person_id: int) -> bool:
        return person_id % self.count == self.index

    def add(self, persons: Iterable[PersonTemplates]) -> int:
        """Add persons (all must be this shard's); how many."""
        ids, vectors, prints, codes = [], [], {}, {}
        added = 0
        for person in persons:
            if not self.owns(person.person_id):
                raise ValueError(f"person {person.person_id} is not shard {self.index}'s")
            if person.face is not None:
                ids.append(person.person_id)
                vectors.append(person.face)
            if person.fingers:
                prints[str(person.person_id)] = {
                    position: FingerprintTemplate.from_bytes(data)
                    for position, data in person.fingers.items()
                }
                if person.codes:
                    codes[str(person.person_id)] = person.codes
            added += 1
        if ids:
            self.faces.add(np.asarray(ids, np.int64), np.asarray(vectors, np.float32))
        if prints and isinstance(self.fingers, CompactFingerprintGallery):
            self.fingers.add_many(prints, codes)
        elif prints:
            self.fingers.add_many(prints)
        return added

    def codes_of(self, person_ids: Iterable[int]) -> dict[int, dict[int, bytes]]:
        """The finger codes of these persons (compact galleries only; {} otherwise): what the
        register stores so that the next load prepares nothing."""
        if not isinstance(self.fingers, CompactFingerprintGallery):
            return {}
        return {p: self.fingers.codes_of(str(p)) for p in person_ids if str(p) in self.fingers}

    def remove(self, person_ids: Iterable[int]) -> int:
        removed = 0
        for person_id in person_ids:
            removed += self.faces.remove([person_id]) > 0
            removed += self.fingers.remove(str(person_id))
        return removed

    def search_face(
        self, probes: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        return self.faces.search(probes, k)

    def search_fingers(
        self, probe: Mapping[int, bytes], limit: int, exhaustive: bool = False
    ) -> list[FingerHit]:
        templates = {p: FingerprintTemplate.from_bytes(d) for p, d in probe.items()}
        shortlist = max(1, self.fingers.fingers) if exhaustive else self.shortlist()
        return [
            FingerHit(int(c.record_id), c.score, c.finger_scores)
            for c in self.fingers.search(templates, shortlist=shortlist, limit=limit)
        ]

    def shortlist(self) -> int:
        """Fingers this shard re-ranks per probe finger: its share of the whole gallery's
        shortlist, so that more shards do not mean more re-ranking. Persons fall to shards by a
        hash, so the gallery's best-voted ``n`` fingers split binomially: the share is the
        expected ``n / shards`` plus one standard deviation of that split (55 of 100 on 2
        shards, 30 of 100 on 4). Used by :meth:`search_fingers` alone and by full galleries'
        candidates; compact shards' candidates share out the merged shortlist exactly
        (:meth:`candidates_after`)."""
        if isinstance(self.fingers, CompactFingerprintGallery):
            floor, share = self.fingers.policy.shortlist, 0
        else:
            policy = self.fingers.policy
            floor = policy.min_shortlist
            share = math.ceil(policy.penetration * self.fingers.fingers)
        if self.count == 1:
            return max(floor, share)
        expected = floor / self.count
        spread = math.sqrt(floor * (1 / self.count) * (1 - 1 / self.count))
        return max(math.ceil(expected + spread), share, 1)

    def score(
        self,
        person_ids: Iterable[int],
        face: NDArray[np.float32] | None,
        probe: Mapping[int, bytes],
        known: Mapping[int, Mapping[int, float]] | None = None,
    ) -> list[Scored]:
        """Exact scores of the probe against the persons of this shard among ``person_ids``:
        (person, face distance or None, MCC similarity by finger position). ``known``: finger
        scores already computed by a search (person -> position -> score), not computed again
        (preparing an enrolled finger is most of a score's cost)."""
        prepared: dict[int, mcc.ExpandedTemplate] = {}
        out = []
        for person_id in person_ids:
            if not self.owns(person_id):
                continue
            distance = None
            if face is not None and person_id in self.faces:
                distance = float(np.linalg.norm(self.faces.template(person_id) - face))
            record = str(person_id)
            held = self.fingers.positions(record)
            scores = {
                p: float(score)
                for p, score in (known or {}).get(person_id, {}).items()
                if p in held and p in probe
            }
            missing = [p for p in probe if p in held and p not in scores]
            for position, enrolled in self.fingers.prepared_of(record, missing).items():
                if position not in prepared:
                    prepared[position] = self._probe(probe[position])[1]
                scores[position] = float(mcc.similarity(prepared[position], enrolled))
            if distance is not None or scores:
                out.append((person_id, distance, scores))
        return out

    def candidates(
        self,
        face: NDArray[np.float32] | None,
        probe: Mapping[int, bytes],
        face_k: int = 10,
        finger_k: int = 10,
        face_ids: Iterable[int] | None = None,
    ) -> list[Scored]:
        """This shard's face top-k (or, given ``face_ids``, the persons of them it holds: the
        global face top-k) and finger top-k for one enrolment, each scored exactly on both
        modalities. The finger search's own scores are reused."""
        ids: set[int] = set()
        if face_ids is not None:
            ids.update(int(i) for i in face_ids if i >= 0 and self.owns(int(i)))
        elif face is not None and len(self.faces):
            found = self.faces.search(face[None, :], face_k)[1][0]
            ids.update(int(i) for i in found if i >= 0)
        known: dict[int, dict[int, float]] = {}
        if probe and len(self.fingers):
            hits = self.search_fingers(probe, finger_k)
            known = {h.person_id: dict(h.finger_scores) for h in hits}
            ids.update(known)
        return self.score(ids, face, probe, known) if ids else []

    def _probe(self, data: bytes) -> tuple[mcc.PreparedTemplate, mcc.ExpandedTemplate]:
        """A probe finger prepared and expanded, once for the steps of an enrolment (the last
        few kept)."""
        known = self._probes.get(data)
        if known is None:
            prepared = mcc.prepare(FingerprintTemplate.from_bytes(data))
            known = self._probes[data] = (prepared, prepared.expand())
            while len(self._probes) > PROBES_KEPT:
                del self._probes[next(iter(self._probes))]
        return known

    @_timed
    def first_step(
        self, face: NDArray[np.float32] | None, probe: Mapping[int, bytes], face_k: int
    ) -> FirstStep:
        """What every shard needs of this one before scoring an enrolment's candidates: the
        face top-k here, and (compact galleries) the best-voted fingers here for each probe
        finger, as many as the whole gallery's shortlist holds, so that the merged answers
        give the whole gallery's shortlist (:func:`merge_votes`)."""
        found = None if face is None else self.faces.search(face[None, :], face_k)
        votes = None
        if isinstance(self.fingers, CompactFingerprintGallery):
            prepared = {p: self._probe(data)[0] for p, data in probe.items()}
            votes = self.fingers.votes(prepared, self.fingers.policy.shortlist)
        return FirstStep(found, votes)

    @_timed
    def candidates_after(
        self,
        face: NDArray[np.float32] | None,
        probe: Mapping[int, bytes],
        face_k: int,
        finger_k: int,
        *firsts: FirstStep,
    ) -> list[Scored]:
        """:meth:`candidates` given every shard's :meth:`first_step` (a Ray actor is handed the
        other shards' answers as they come: no round trip through the caller). The global face
        top-k is merged from theirs; with compact galleries, so is the whole gallery's
        shortlist, and this shard re-ranks the fingers of it that it holds: the shortlist is
        shared out exactly, where :meth:`shortlist` must allow for an uneven split."""
        faces = [f.face for f in firsts if f.face is not None]
        face_ids = None
        if face is not None and faces:
            face_ids = [int(i) for i in nearest_of(faces, face_k)[1][0] if i >= 0]
        votes = [f.votes for f in firsts if f.votes is not None]
        if len(votes) < len(firsts) or not probe:  # full galleries keep their own share
            return self.candidates(face, probe, face_k, finger_k, face_ids)
        assert isinstance(self.fingers, CompactFingerprintGallery)
        ours = {
            position: [v for v in voted if self.owns(int(v.record_id))]
            for position, voted in merge_votes(votes).items()
        }
        expanded = {p: self._probe(data)[1] for p, data in probe.items()}
        hits = self.fingers.rerank(expanded, ours, finger_k)
        known = {int(h.record_id): dict(h.finger_scores) for h in hits}
        ids = set(known)
        ids.update(i for i in face_ids or [] if self.owns(i))
        return self.score(ids, face, probe, known) if ids else []

    def describe(self) -> dict[str, object]:
        node = ""
        try:
            import ray

            if ray.is_initialized():
                node = ray.get_runtime_context().get_node_id()
        except ImportError:  # pragma: no cover - ray is a dependency
            pass
        return {
            "shard": self.index,
            "faces": len(self.faces),
            "finger_records": len(self.fingers),
            "finger_index": "compact"
            if isinstance(self.fingers, CompactFingerprintGallery)
            else "full",
            "node": node,
            "pid": os.getpid(),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "searches": self.searching.calls,
            "search_wall_s": self.searching.wall_s,
            "search_cpu_s": self.searching.cpu_s,
        }
