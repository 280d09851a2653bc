"""A fingerprint 1:N gallery for national sizes: about 1.5 KB a finger instead of about 30 KB.

:class:`~matcher.fingerprint.index.FingerprintGallery` keeps every finger's prepared cylinders
(about 6 KB) and an 8-bit copy of every cylinder's descriptor (about 10 KB) in memory, so two
million fingers would need some 60 GB. This gallery keeps only what a search needs to find the
shortlist:

- one 256-bit code per cylinder (32 bytes), made by a :class:`FingerCodec` trained once and shared
  by every shard (FAISS ``IndexLSH``: a random rotation, bits thresholded at their medians);
- one exhaustive Hamming index (FAISS ``IndexBinaryFlat``) per finger position, so a right index
  is searched only among right indexes (and among fingers of unknown position);
- the finger's template as bytes (about 400): the shortlist is prepared and scored by the 1:1
  matcher when it is searched (1.3 ms to prepare, 0.25 ms to compare a finger).

Votes are as the full gallery's (per probe cylinder, each finger's best similarity less the
``k``-th neighbour's), with the similarity estimated from the Hamming distance
(``cos(pi * h / bits)``) instead of re-scored on the 8-bit descriptors. Removing a record leaves
its codes in the index, owned by nobody, until they outnumber the live ones (the index of that
position is then rebuilt).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher.errors import MatcherError
from matcher.fingerprint import mcc
from matcher.fingerprint.index import (
    Candidate,
    descriptors,
    fuse_records,
    relative_to_kth,
    vote,
)
from matcher.fingerprint.params import PARAMS, Params
from matcher.fingerprint.template import FingerprintTemplate

UNKNOWN_POSITION = 0


@dataclass(frozen=True)
class CompactPolicy:
    """How the compact gallery searches."""

    k: int = 256  # gallery cylinders kept per probe cylinder, at least...
    k_per_cylinders: int = 3500  # ...and one per this many cylinders of the searched index...
    k_max: int = 4096  # ...up to this
    shortlist: int = 100  # fingers per probe finger prepared and scored by the 1:1 matcher...
    small_print: int = 24  # ...times small_print / cylinders for a probe finger with fewer...
    small_print_factor: float = 4.0  # ...valid cylinders, up to this many times
    shards: int = 1  # this gallery is one of so many equal shards (split by a hash of the record)

    def shortlist_for(self, shortlist: int, cylinders: int) -> int:
        """The fingers re-ranked for a probe finger of ``cylinders`` valid cylinders. A small
        or barely overlapping print casts few votes, so its mate stands less far above the
        chance votes of strangers (fold B at 10,000 fingers: the shortlisted-too-late mates of
        probes with 3-14 cylinders ranked 120-1,000). Such a probe's shortlist grows in proportion (6 cylinders or fewer: 4
        times); most real prints have more than 24 and keep ``shortlist`` (fold A re-ranks 103 a
        finger on average, fold B 115)."""
        factor = min(self.small_print_factor, max(1.0, self.small_print / max(cylinders, 1)))
        return math.ceil(shortlist * factor)

    def neighbours(self, cylinders: int) -> int:
        """Neighbours kept per probe cylinder in an index of ``cylinders``: as many as one
        gallery of all the shards would keep, shared out between them (each shard's k-th
        neighbour is then about the whole gallery's, so the relative votes are the same, and
        more shards do not mean more neighbours in all)."""
        whole = cylinders * self.shards
        kept = min(self.k_max, max(self.k, math.ceil(whole / self.k_per_cylinders)))
        return math.ceil(kept / self.shards)


@dataclass(frozen=True)
class Voted:
    """A finger the prefilter voted for: its votes, its record and the position it is held at."""

    votes: float
    record_id: str
    position: int


@dataclass(frozen=True)
class Shortlisted:
    """A probe finger's shortlist from one gallery: its length and the fingers in it, best
    first (fewer where fewer got a vote)."""

    size: int
    fingers: list[Voted]


def merge_votes(answers: Iterable[Mapping[int, Shortlisted]]) -> dict[int, list[Voted]]:
    """The whole gallery's shortlist per probe finger position from its shards' answers to
    :meth:`CompactFingerprintGallery.votes`: the best-voted of all (ties by the record's id),
    as many as the shortlist holds. Each shard answered with its own best that many, so none
    of the whole gallery's best is missing."""
    merged: dict[int, list[Voted]] = {}
    sizes: dict[int, int] = {}
    for answer in answers:
        for position, shortlisted in answer.items():
            merged.setdefault(position, []).extend(shortlisted.fingers)
            sizes[position] = max(sizes.get(position, 0), shortlisted.size)
    return {
        position: sorted(fingers, key=lambda f: (-f.votes, f.record_id))[: sizes[position]]
        for position, fingers in merged.items()
    }


class FingerCodec:
    """Cylinder descriptor -> 256-bit code; trained on a sample, then the same for every shard."""

    def __init__(self, lsh: Any) -> None:
        self._lsh = lsh

    @property
    def bits(self) -> int:
        return int(self._lsh.nbits)

    @classmethod
    def train(
        cls,
        templates: Iterable[FingerprintTemplate],
        bits: int = 256,
        sample: int = 200_000,
        p: Params = PARAMS,
    ) -> FingerCodec:
        """Train on the cylinders of ``templates`` (at most ``sample`` of them)."""
        import faiss

        rows: list[NDArray[np.float32]] = []
        total = 0
        for template in templates:
            desc = descriptors(mcc.prepare(template, p), p)
            rows.append(desc)
            total += desc.shape[0]
            if total >= sample:
                break
        if total < bits:
            raise MatcherError(f"training the finger codes needs at least {bits} cylinders")
        lsh = faiss.IndexLSH(rows[0].shape[1], bits, True, True)
        lsh.train(np.ascontiguousarray(np.concatenate(rows)))
        return cls(lsh)

    def to_bytes(self) -> bytes:
        import faiss

        return bytes(faiss.serialize_index(self._lsh))

    @classmethod
    def from_bytes(cls, data: bytes) -> FingerCodec:
        import faiss

        lsh = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if not isinstance(lsh, faiss.IndexLSH):
            raise MatcherError("not a finger codec")
        return cls(lsh)

    @property
    def id(self) -> str:
        """A short digest naming this codec: stored codes are only used with the codec that
        made them."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:16]

    def encode(self, desc: NDArray[np.float32]) -> NDArray[np.uint8]:
        codes: NDArray[np.uint8] = self._lsh.sa_encode(desc)
        return codes

    def code(self, template: FingerprintTemplate, p: Params = PARAMS) -> bytes:
        """The codes of a template's cylinders, concatenated (what a register stores, so that a
        shard loads without preparing the finger again)."""
        return self.encode(descriptors(mcc.prepare(template, p), p)).tobytes()

    def codes_from_bytes(self, data: bytes) -> NDArray[np.uint8]:
        width = self.bits // 8
        if len(data) % width:
            raise MatcherError(f"finger codes of {len(data)} bytes are not {width}-byte codes")
        return np.frombuffer(data, dtype=np.uint8).reshape(-1, width)


class _PositionIndex:
    """The codes of the fingers of one position, and which slot owns each code."""

    def __init__(self, bits: int) -> None:
        import faiss

        self.codes = faiss.IndexBinaryFlat(bits)
        self.owner = np.full(1024, -1, dtype=np.int32)
        self.dead = 0  # codes of removed fingers still in the index

    @property
    def size(self) -> int:
        return int(self.codes.ntotal)

    def add(self, codes: NDArray[np.uint8], slot: int) -> range:
        start = self.size
        if start + codes.shape[0] > self.owner.shape[0]:
            grown = np.full(max(start + codes.shape[0], 2 * self.owner.shape[0]), -1, np.int32)
            grown[:start] = self.owner[:start]
            self.owner = grown
        self.codes.add(np.ascontiguousarray(codes))
        self.owner[start : start + codes.shape[0]] = slot
        return range(start, start + codes.shape[0])


class CompactFingerprintGallery:
    """Records of several fingers, searchable 1:N, in little memory (see the module)."""

    def __init__(
        self, codec: FingerCodec, policy: CompactPolicy | None = None, p: Params = PARAMS
    ) -> None:
        self.codec = codec
        self.policy = policy or CompactPolicy()
        self.params = p
        self._indexes: dict[int, _PositionIndex] = {}
        self._slots: list[tuple[str, int] | None] = []  # slot -> (record, position)
        self._templates: list[bytes | None] = []  # slot -> template bytes
        self._codes_of: dict[int, tuple[int, range]] = {}  # slot -> (position, its code ids)
        self._records: dict[str, dict[int, int]] = {}  # record -> position -> slot

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._records

    @property
    def fingers(self) -> int:
        return len(self._codes_of)

    @property
    def cylinders(self) -> int:
        return sum(index.size for index in self._indexes.values())

    def add_many(
        self,
        records: Mapping[str, Mapping[int, FingerprintTemplate]],
        codes: Mapping[str, Mapping[int, bytes]] | None = None,
    ) -> None:
        """Enroll (or replace) records: finger position (ISO code, 0 unknown) -> template.
        ``codes``: the fingers' codes as :meth:`FingerCodec.code` made them with this codec, where
        known (those fingers are not prepared again)."""
        coded: dict[str, dict[int, tuple[bytes, NDArray[np.uint8]]]] = {}
        for record_id, fingers in records.items():
            if not fingers:
                raise MatcherError(f"record {record_id!r} needs at least one finger")
            known = (codes or {}).get(record_id, {})
            coded[record_id] = {}
            for position, template in fingers.items():
                template.validate()
                if position in known:
                    found = self.codec.codes_from_bytes(known[position])
                else:
                    found = self.codec.codes_from_bytes(self.codec.code(template, self.params))
                coded[record_id][int(position)] = (template.to_bytes(), found)
        for record_id, fingers_coded in coded.items():
            self.remove(record_id)
            slots = {}
            for position, (data, finger_codes) in fingers_coded.items():
                slot = len(self._slots)
                self._slots.append((record_id, position))
                self._templates.append(data)
                index = self._indexes.get(position)
                if index is None:
                    index = self._indexes[position] = _PositionIndex(self.codec.bits)
                self._codes_of[slot] = (position, index.add(finger_codes, slot))
                slots[position] = slot
            self._records[record_id] = slots

    def codes_of(self, record_id: str) -> dict[int, bytes]:
        """The record's codes by finger position, as :meth:`FingerCodec.code` makes them."""
        out = {}
        for position, slot in self._records.get(record_id, {}).items():
            _, ids = self._codes_of[slot]
            index = self._indexes[position].codes
            out[position] = b"".join(index.reconstruct(i).tobytes() for i in ids)
        return out

    def remove(self, record_id: str) -> bool:
        """Forget a record; True if it was enrolled. Its codes stay in the index, owned by
        nobody, until dead codes outnumber live ones in that position's index, which is then
        rebuilt from the live ones (:meth:`_compact`): a search never scans more than twice what
        it needs, and a burst of removals costs one copy."""
        slots = self._records.pop(record_id, None)
        if slots is None:
            return False
        for slot in slots.values():
            position, ids = self._codes_of.pop(slot)
            index = self._indexes[position]
            index.owner[ids.start : ids.stop] = -1
            index.dead += len(ids)
            self._slots[slot] = None
            self._templates[slot] = None
            if index.dead > index.size - index.dead:
                self._compact(position)
        return True

    def _compact(self, position: int) -> None:
        """Rebuild one position's index from its live codes, in their order."""
        old = self._indexes[position]
        codes = old.codes.reconstruct_n(0, old.size)
        fresh = _PositionIndex(self.codec.bits)
        live = sorted(
            (ids.start, slot, ids)
            for slot, (known, ids) in self._codes_of.items()
            if known == position
        )
        for _, slot, ids in live:
            self._codes_of[slot] = (position, fresh.add(codes[ids.start : ids.stop], slot))
        self._indexes[position] = fresh

    def _searched(self, position: int) -> list[_PositionIndex]:
        """The indexes a probe finger of ``position`` is searched in."""
        if position == UNKNOWN_POSITION:
            return list(self._indexes.values())
        return [
            index for known, index in self._indexes.items() if known in (position, UNKNOWN_POSITION)
        ]

    def prefilter(self, probe: mcc.PreparedTemplate, position: int, shortlist: int) -> list[int]:
        """The ``shortlist`` best-voted slots for one probe finger, best first."""
        return [slot for _, slot in self._voted(probe, position, shortlist)]

    def _voted(
        self, probe: mcc.PreparedTemplate, position: int, shortlist: int
    ) -> list[tuple[float, int]]:
        """(votes, slot) of the ``shortlist`` best-voted slots for one probe finger, best first."""
        desc = descriptors(probe, self.params)
        if desc.shape[0] == 0:
            return []
        codes = self.codec.encode(desc)
        votes = np.zeros(len(self._slots), dtype=np.float64)
        bits = self.codec.bits
        for index in self._searched(position):
            if index.size == 0:
                continue
            k = min(self.policy.neighbours(index.size), index.size)
            distances, ids = index.codes.search(codes, k)
            sims = np.cos(np.pi * np.minimum(distances, bits // 2) / bits).astype(np.float32)
            votes += vote(relative_to_kth(sims, ids), ids, index.owner, len(self._slots))
        live = np.flatnonzero(votes > 0)
        best = live[np.argsort(-votes[live], kind="stable")[:shortlist]]
        return [(float(votes[s]), int(s)) for s in best]

    def template(self, slot: int) -> FingerprintTemplate:
        data = self._templates[slot]
        if data is None:
            raise KeyError(slot)
        return FingerprintTemplate.from_bytes(data)

    def votes(
        self, probe: Mapping[int, mcc.PreparedTemplate], shortlist: int | None = None
    ) -> dict[int, Shortlisted]:
        """The first step of :meth:`search`: per probe finger position, how many fingers its
        shortlist holds (:meth:`CompactPolicy.shortlist_for` of ``shortlist``) and the best-voted
        fingers of this gallery, at most that many, best first. Galleries that are shards of one
        (same codec and policy) answer with votes that compare, so the whole gallery's shortlist
        is the best of their answers merged (:func:`merge_votes`)."""
        size = shortlist or self.policy.shortlist
        out: dict[int, Shortlisted] = {}
        for position, prepared in probe.items():
            kept = self.policy.shortlist_for(size, prepared.count)
            voted = []
            for votes, slot in self._voted(prepared, int(position), kept):
                entry = self._slots[slot]
                if entry is not None:
                    voted.append(Voted(votes, entry[0], entry[1]))
            out[int(position)] = Shortlisted(kept, voted)
        return out

    def rerank(
        self,
        probe: Mapping[int, mcc.ExpandedTemplate],
        chosen: Mapping[int, Iterable[Voted]],
        limit: int = 10,
    ) -> list[Candidate]:
        """The second step of :meth:`search`: the ``chosen`` fingers of each probe finger
        position that this gallery holds, scored by the 1:1 matcher and fused by record."""
        scores: dict[str, dict[int, float]] = {}
        for position, fingers in chosen.items():
            expanded = probe[position]
            for finger in fingers:
                slot = self._records.get(finger.record_id, {}).get(finger.position)
                if slot is None:
                    continue
                enrolled = mcc.prepare(self.template(slot), self.params)
                score = mcc.similarity(expanded, enrolled, self.params)
                best = scores.setdefault(finger.record_id, {})
                best[position] = max(best.get(position, 0.0), score)
        return fuse_records(scores, len(probe), limit)

    def search(
        self,
        probe: Mapping[int, FingerprintTemplate],
        *,
        shortlist: int | None = None,
        limit: int = 10,
    ) -> list[Candidate]:
        """Records most likely to hold the probe's fingers, by fused 1:1 score, best first."""
        prepared = {int(p): mcc.prepare(t, self.params) for p, t in probe.items()}
        expanded = {p: t.expand(self.params) for p, t in prepared.items()}
        voted = self.votes(prepared, shortlist)
        return self.rerank(expanded, {p: v.fingers for p, v in voted.items()}, limit)

    def positions(self, record_id: str) -> set[int]:
        """The finger positions the record holds (none if not enrolled)."""
        return set(self._records.get(record_id, {}))

    def prepared_of(
        self, record_id: str, positions: Iterable[int] | None = None
    ) -> dict[int, mcc.PreparedTemplate]:
        """The record's fingers (of ``positions`` only, if given) prepared now, by position ({}
        if not enrolled)."""
        slots = self._records.get(record_id, {})
        wanted = slots if positions is None else [p for p in positions if p in slots]
        return {
            position: mcc.prepare(self.template(slots[position]), self.params)
            for position in wanted
        }

    def records(self) -> list[str]:
        return list(self._records)
