"""1:N search: a prefilter over fixed-length cylinder descriptors, re-ranked by MCC.

Every valid cylinder of every enrolled finger becomes a fixed-length vector (the bit cylinder
average-pooled 2x2 over space, 6 sections x 8 x 8 cells = 384 floats, L2-normalised). A probe's
cylinders each find their ``k`` nearest gallery cylinders; every finger collects, per probe
cylinder, the best similarity among its found cylinders, less the ``k``-th neighbour's (with
``relative_vote``) and less ``vote_floor`` (MCC indexing by voting, after Cappelli, Ferrara, Maltoni,
"Fingerprint indexing based on Minutia Cylinder-Code", TPAMI 2011). The best-voted fingers (the
shortlist) are re-ranked by the 1:1 matcher, and a record's fingers are fused by the mean of their
scores (the sum rule).

How the neighbours are found (:class:`IndexPolicy`):

- by default, an exhaustive search of 256-bit codes (FAISS ``IndexLSH``: a random rotation, bits
  thresholded at their medians, trained on the gallery) proposes ``candidates_factor * k``
  cylinders, re-scored exactly on 8-bit copies of their descriptors; ``k`` grows with the gallery
  (:meth:`IndexPolicy.neighbours`). The weak matches (similarity about 0.5) that small,
  barely-overlapping prints rely on stay in reach; the cost is a scan of every code (about 0.2 s a
  probe at 100k fingers) and 416 bytes a cylinder;
- :meth:`IndexPolicy.ivf_pq`: exact (``Flat``) float search while the gallery is small, an
  inverted file with 4-bit fast-scan product quantisation above ``exact_below`` cylinders. Faster
  at scale, but an inverted file loses those weak matches.

Codes and indexes are trained on the gallery itself and retrained when it has grown past
``retrain_factor`` times its training size. Only templates are saved; descriptors, cylinders and
the index are rebuilt on load.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher.errors import MatcherError, TemplateError
from matcher.fingerprint import mcc
from matcher.fingerprint.params import PARAMS, Params
from matcher.fingerprint.template import FingerprintTemplate

log = logging.getLogger(__name__)

GALLERY_FORMAT = "biometric-station/fingerprint-gallery"
GALLERY_VERSION = 2
POOL = 2


@dataclass(frozen=True)
class IndexPolicy:
    """How the cylinder index is built and searched (FAISS factory strings, inner product)."""

    exact_factory: str = "Flat"
    exact_below: int = 200_000  # cylinders (about 5,000 fingers): exact search below
    approximate_factory: str = "IVF{nlist},PQ96x4fs"  # {nlist} from the training size
    cylinders_per_list: int = 1000  # nlist = training cylinders / this, a power of two, 16-65536
    nprobe: int = 16
    retrain_factor: float = 2.0  # retrain when the index holds this many times its training set
    training_sample: int = 200_000  # cylinders sampled to train the quantisers
    k: int = 256  # gallery cylinders kept per probe cylinder, at least...
    k_per_cylinders: int = 3500  # ...and with Hamming codes one per this many gallery cylinders...
    k_max: int = 4096  # ...up to this
    vote_floor: float = 0.0  # a fetched cylinder votes its similarity above this
    relative_vote: bool = True  # vote the similarity less the k-th neighbour's
    penetration: float = 0.002  # share of the fingers re-ranked by the 1:1 matcher...
    min_shortlist: int = 100  # ...but never fewer than this
    hamming_bits: int = 256  # > 0: exhaustive search on LSH bit codes; 0: the float index
    candidates_factor: int = 4  # Hamming candidates per kept neighbour, re-scored exactly

    @classmethod
    def ivf_pq(cls, **changes: Any) -> IndexPolicy:
        """The float index instead of Hamming codes: exact below ``exact_below`` cylinders,
        IVF-PQ above, 32 neighbours, absolute votes. Faster past 100k fingers, but it loses the
        weak cylinder matches of small prints (fold B of the benchmark: 96.2% against 100%)."""
        return cls(**{"hamming_bits": 0, "k": 32, "relative_vote": False, **changes})

    def neighbours(self, cylinders: int) -> int:
        """Gallery cylinders kept per probe cylinder for a gallery of ``cylinders``: with Hamming
        codes it grows with the gallery (256 at 20k fingers, 1,024 at 100k), so that the weak
        matches of a small print stay in reach as distractors crowd them."""
        if not self.hamming_bits:
            return self.k
        return int(min(self.k_max, max(self.k, math.ceil(cylinders / self.k_per_cylinders))))

    def nlist(self, cylinders: int) -> int:
        wanted = max(1, cylinders // self.cylinders_per_list)
        nlist = min(65536, max(16, 2 ** round(math.log2(wanted))))
        # k-means wants about 40 training points per list
        while nlist > 16 and 40 * nlist > min(cylinders, self.training_sample):
            nlist //= 2
        return int(nlist)


@cache
def _pooling(ns: int) -> NDArray[np.float32]:
    """(ns * ns cells, (ns / POOL)^2 pooled cells): 1 where a cell falls in a POOL x POOL block."""
    rows, cols = np.divmod(np.arange(ns * ns), ns)
    block = (rows // POOL) * (ns // POOL) + cols // POOL
    pool = np.zeros((ns * ns, (ns // POOL) ** 2), dtype=np.float32)
    pool[np.arange(ns * ns), block] = 1.0
    return pool


def descriptors(prepared: mcc.PreparedTemplate, p: Params = PARAMS) -> NDArray[np.float32]:
    """(valid cylinders, 384) float32 contiguous, L2-normalised rows: each section's cells
    pooled POOL x POOL (one matrix product: a 6-d mean cost a fifth of a gallery's build)."""
    n, ns, nd = prepared.count, p.mcc_ns, p.mcc_nd
    bits = np.unpackbits(prepared.bits, axis=1, count=ns * ns * nd).astype(np.float32)
    flat = (bits.reshape(n * nd, ns * ns) @ _pooling(ns)).reshape(n, nd * (ns // POOL) ** 2)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.ascontiguousarray(flat / np.maximum(norms, 1e-6), dtype=np.float32)


def vote(
    similarities: NDArray[np.float32],
    cylinder_ids: NDArray[np.int64],
    owner: NDArray[np.signedinteger[Any]],
    size: int,
    floor: float = 0.0,
) -> NDArray[np.float64]:
    """Votes per finger slot from (probe cylinders, k) neighbour lists: per probe cylinder, each
    slot counts its best similarity, less ``floor``, once. ``owner[cylinder id]`` is the slot, -1
    if removed."""
    q, k = cylinder_ids.shape
    valid = (cylinder_ids >= 0) & (similarities > floor)
    slots = np.where(valid, owner[np.maximum(cylinder_ids, 0)], -1)
    valid &= slots >= 0
    rows = np.repeat(np.arange(q), k).reshape(q, k)[valid]
    s, sim = slots[valid], similarities[valid].astype(np.float64) - floor
    order = np.argsort(-sim, kind="stable")
    key = rows[order] * np.int64(size) + s[order]
    _, first = np.unique(key, return_index=True)
    chosen = order[first]
    return np.bincount(s[chosen], weights=sim[chosen], minlength=size).astype(np.float64)


def relative_to_kth(
    similarities: NDArray[np.float32], cylinder_ids: NDArray[np.int64]
) -> NDArray[np.float32]:
    """Each neighbour's similarity less the k-th (the last found) neighbour's, 0 for none."""
    found = cylinder_ids >= 0
    kth = np.where(found, similarities, np.inf).min(axis=1, keepdims=True)
    return np.where(found, np.maximum(similarities - kth, 0.0), 0.0).astype(np.float32)


def fuse_records(
    scores: Mapping[str, Mapping[int, float]], probe_fingers: int, limit: int
) -> list[Candidate]:
    """Records by the mean of their best 1:1 score per probe finger (the sum rule), best first."""
    fused = [
        Candidate(record, sum(per.values()) / probe_fingers, dict(per))
        for record, per in scores.items()
    ]
    fused.sort(key=lambda c: -c.score)
    return fused[:limit]


def brute_force_neighbours(
    queries: NDArray[np.float32], base: NDArray[np.float32], k: int
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Exact inner-product k-NN (the oracle of the FAISS index): (similarities, row ids)."""
    sims = queries @ base.T
    k = min(k, base.shape[0])
    idx = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, idx, axis=1).astype(np.float32), idx.astype(np.int64)


@dataclass(frozen=True)
class Candidate:
    record_id: str
    score: float  # fused 1:1 similarity, 0-1
    finger_scores: dict[int, float]


class FingerprintGallery:
    """Enrolled records (several fingers each), searchable 1:N; add and remove at any time."""

    def __init__(self, policy: IndexPolicy | None = None, p: Params = PARAMS) -> None:
        self.policy = policy or IndexPolicy()
        self.params = p
        self.dim = (p.mcc_ns // POOL) ** 2 * p.mcc_nd
        self._index: Any = self._empty_exact_index()
        self._trained_on = 0  # cylinders the approximate index was trained on; 0 while exact
        self._owner = np.full(1024, -1, dtype=np.int64)  # cylinder id -> slot (grows x2)
        self._next_id = 0
        self._slots: list[tuple[str, int] | None] = []  # slot -> (record, finger position)
        self._prepared: dict[int, mcc.PreparedTemplate] = {}
        self._cylinders: dict[int, NDArray[np.int64]] = {}
        self._records: dict[str, dict[int, int]] = {}  # record -> finger position -> slot
        self._desc8 = np.zeros((0, self.dim), dtype=np.uint8)  # cylinder id -> 8-bit descriptor

    def __len__(self) -> int:
        return len(self._records)

    @property
    def fingers(self) -> int:
        return len(self._prepared)

    @property
    def cylinders(self) -> int:
        return int(self._index.ntotal)

    @property
    def exact(self) -> bool:
        """True while the index is a flat (exhaustive) one."""
        return self._trained_on == 0

    @property
    def kind(self) -> str:
        """``flat``, ``ivf-pq`` or ``hamming``: what answers the prefilter's neighbour queries."""
        if self.exact:
            return "flat"
        return "hamming" if self.policy.hamming_bits else "ivf-pq"

    def add(self, record_id: str, fingers: Mapping[int, FingerprintTemplate]) -> None:
        """Enroll (or replace) a record: finger position (ISO code, 0 unknown) -> template."""
        self.add_many({record_id: fingers})

    def add_many(self, records: Mapping[str, Mapping[int, FingerprintTemplate]]) -> None:
        """Enroll (or replace) many records, rebuilding the index at most once."""
        prepared: dict[str, dict[int, mcc.PreparedTemplate]] = {}
        for record_id, fingers in records.items():
            if not fingers:
                raise MatcherError(f"record {record_id!r} needs at least one finger")
            for template in fingers.values():
                template.validate()
            prepared[record_id] = {
                int(position): mcc.prepare(template, self.params)
                for position, template in fingers.items()
            }
        for record_id, fingers_prepared in prepared.items():
            self.remove(record_id)
            self._records[record_id] = {
                position: self._new_slot(record_id, position, finger)
                for position, finger in fingers_prepared.items()
            }
        pending = [slot for slot in self._prepared if slot not in self._cylinders]
        if self._needs_rebuild(self.cylinders + sum(self._prepared[s].count for s in pending)):
            self._rebuild()
        else:
            self._index_slots(pending)

    def _new_slot(self, record_id: str, position: int, prepared: mcc.PreparedTemplate) -> int:
        slot = len(self._slots)
        self._slots.append((record_id, position))
        self._prepared[slot] = prepared
        return slot

    def _needs_rebuild(self, cylinders: int) -> bool:
        policy = self.policy
        if policy.hamming_bits and self.exact:
            return cylinders > 0
        if self.exact:
            return cylinders >= policy.exact_below
        return cylinders > policy.retrain_factor * self._trained_on

    def _index_slots(self, slots: Sequence[int]) -> None:
        """Give the slots' cylinders ids and add their descriptors to the index."""
        for chunk_start in range(0, len(slots), 2048):
            chunk = slots[chunk_start : chunk_start + 2048]
            descs = [descriptors(self._prepared[slot], self.params) for slot in chunk]
            total = sum(d.shape[0] for d in descs)
            start = self._next_id
            if start + total > self._owner.shape[0]:
                grown = np.full(max(start + total, 2 * self._owner.shape[0]), -1, dtype=np.int64)
                grown[:start] = self._owner[:start]
                self._owner = grown
            if self.policy.hamming_bits and start + total > self._desc8.shape[0]:
                wider = np.zeros((self._owner.shape[0], self.dim), dtype=np.uint8)
                wider[:start] = self._desc8[:start]
                self._desc8 = wider
            for slot, desc in zip(chunk, descs, strict=True):
                ids = np.arange(self._next_id, self._next_id + desc.shape[0], dtype=np.int64)
                self._owner[ids] = slot
                if self.policy.hamming_bits:
                    self._desc8[ids] = np.rint(desc * 255.0).astype(np.uint8)
                self._next_id += desc.shape[0]
                self._cylinders[slot] = ids
            if total:
                self._index.add_with_ids(
                    np.concatenate(descs), np.arange(start, start + total, dtype=np.int64)
                )

    def _empty_exact_index(self) -> Any:
        import faiss

        inner = faiss.index_factory(self.dim, self.policy.exact_factory, faiss.METRIC_INNER_PRODUCT)
        if not inner.is_trained:
            raise MatcherError(
                f"exact_factory {self.policy.exact_factory!r} needs training: use Flat"
            )
        return faiss.IndexIDMap2(inner)

    def _rebuild(self) -> None:
        """Build the index anew over every live finger: exact or, past the policy's size,
        approximate and trained on a sample of the gallery's own cylinders."""
        import faiss

        slots = sorted(self._prepared)
        total = sum(self._prepared[s].count for s in slots)
        self._cylinders.clear()
        self._owner[:] = -1
        self._next_id = 0
        if self.policy.hamming_bits and total:
            lsh = faiss.IndexLSH(self.dim, self.policy.hamming_bits, True, True)
            lsh.train(self._training_sample(slots, total))
            self._index, self._trained_on = faiss.IndexIDMap2(lsh), total
            log.info("fingerprint index: %d-bit codes for %d cylinders", lsh.nbits, total)
        elif self.policy.hamming_bits or total < self.policy.exact_below:
            self._index, self._trained_on = self._empty_exact_index(), 0
        else:
            factory = self.policy.approximate_factory.format(nlist=self.policy.nlist(total))
            index = faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT)
            index.train(self._training_sample(slots, total))
            faiss.extract_index_ivf(index).nprobe = self.policy.nprobe
            self._index, self._trained_on = index, total
            log.info("fingerprint index %s trained on %d cylinders", factory, total)
        self._index_slots(slots)

    def _training_sample(self, slots: Sequence[int], total: int) -> NDArray[np.float32]:
        rng = np.random.default_rng(0)
        share = min(1.0, self.policy.training_sample / max(total, 1))
        picked = [s for s in slots if rng.random() < share] or list(slots)
        return np.ascontiguousarray(
            np.concatenate([descriptors(self._prepared[s], self.params) for s in picked])
        )

    def remove(self, record_id: str) -> bool:
        """Forget a record; True if it was enrolled."""
        slots = self._records.pop(record_id, None)
        if slots is None:
            return False
        for slot in slots.values():
            ids = self._cylinders.pop(slot, np.zeros(0, dtype=np.int64))
            if ids.size:
                self._index.remove_ids(ids)
            self._owner[ids] = -1
            self._prepared.pop(slot)
            self._slots[slot] = None
        return True

    def prefilter(
        self, probe: mcc.PreparedTemplate, *, shortlist: int, k: int | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """(votes, slots) of the ``shortlist`` best-voted fingers, best first (FAISS style)."""
        desc = descriptors(probe, self.params)
        if desc.shape[0] == 0 or self._index.ntotal == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        k = min(k or self.policy.neighbours(self.cylinders), int(self._index.ntotal))
        if self.kind == "hamming":
            sims, ids = self._rescored_neighbours(desc, k)
        else:
            sims, ids = self._index.search(desc, k)
        if self.policy.relative_vote:
            sims = relative_to_kth(sims, ids)
        votes = vote(sims, ids, self._owner, len(self._slots), self.policy.vote_floor)
        live = np.flatnonzero(votes > 0)
        top = live[np.argsort(-votes[live], kind="stable")[:shortlist]]
        return votes[top], top.astype(np.int64)

    def _rescored_neighbours(
        self, desc: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """The ``candidates_factor * k`` nearest codes of each probe cylinder, re-scored by inner
        product with their 8-bit descriptors; the best ``k`` of them, best first."""
        fetch = min(self.policy.candidates_factor * k, int(self._index.ntotal))
        _, ids = self._index.search(desc, fetch)
        sims = np.full(ids.shape, -np.inf, dtype=np.float32)
        for row in range(ids.shape[0]):
            found = ids[row] >= 0
            codes = self._desc8[ids[row, found]].astype(np.float32)
            sims[row, found] = codes @ desc[row] / 255.0
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        best_sims = np.take_along_axis(sims, order, axis=1)
        best_ids = np.take_along_axis(ids, order, axis=1)
        best_ids[~np.isfinite(best_sims)] = -1
        return np.where(np.isfinite(best_sims), best_sims, 0.0).astype(np.float32), best_ids

    def shortlist_size(self) -> int:
        """How many fingers a search re-ranks per probe finger, by the policy."""
        return max(self.policy.min_shortlist, math.ceil(self.policy.penetration * self.fingers))

    def search(
        self,
        probe: Mapping[int, FingerprintTemplate],
        *,
        shortlist: int | None = None,
        limit: int = 10,
    ) -> list[Candidate]:
        """Records most likely to hold the probe's fingers, by fused 1:1 score, best first."""
        size = shortlist or self.shortlist_size()
        scores: dict[str, dict[int, float]] = {}
        for position, template in probe.items():
            prepared = mcc.prepare(template, self.params)
            expanded = prepared.expand(self.params)
            _, slots = self.prefilter(prepared, shortlist=size)
            for slot in slots:
                entry = self._slots[int(slot)]
                if entry is None:
                    continue
                record_id, finger = entry
                if position and finger and position != finger:
                    continue
                score = mcc.similarity(expanded, self._prepared[int(slot)], self.params)
                best = scores.setdefault(record_id, {})
                best[position] = max(best.get(position, 0.0), score)
        return fuse_records(scores, len(probe), limit)

    # --- persistence: templates only, everything else rebuilt ------------------------------------

    def save(self, folder: Path) -> None:
        """Write ``gallery.json`` (metadata) and ``templates.bin`` into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        blob = bytearray()
        records: dict[str, dict[str, list[int]]] = {}
        for record_id, slots in self._records.items():
            entry = {}
            for position, slot in slots.items():
                data = self._prepared[slot].template.to_bytes()
                entry[str(position)] = [len(blob), len(data)]
                blob += data
            records[record_id] = entry
        meta: dict[str, Any] = {
            "format": GALLERY_FORMAT,
            "version": GALLERY_VERSION,
            "policy": asdict(self.policy),
            "records": records,
        }
        (folder / "templates.bin").write_bytes(bytes(blob))
        (folder / "gallery.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: Path, p: Params = PARAMS) -> FingerprintGallery:
        """Read a saved gallery and rebuild its search structures."""
        try:
            meta = json.loads((folder / "gallery.json").read_text())
            blob = (folder / "templates.bin").read_bytes()
        except (OSError, ValueError) as exc:
            raise TemplateError(f"cannot read the gallery in {folder}: {exc}") from exc
        if meta.get("format") != GALLERY_FORMAT or meta.get("version") != GALLERY_VERSION:
            raise TemplateError("not a fingerprint gallery of a supported version")
        try:
            policy = IndexPolicy(**meta["policy"])
        except (KeyError, TypeError) as exc:
            raise TemplateError(
                f"the gallery in {folder} has no valid index policy: {exc}"
            ) from exc
        gallery = cls(policy, p)
        gallery.add_many(
            {
                record_id: {
                    int(position): FingerprintTemplate.from_bytes(blob[start : start + size])
                    for position, (start, size) in entry.items()
                }
                for record_id, entry in meta["records"].items()
            }
        )
        return gallery

    def positions(self, record_id: str) -> set[int]:
        """The finger positions the record holds (none if not enrolled)."""
        return set(self._records.get(record_id, {}))

    def prepared_of(
        self, record_id: str, positions: Iterable[int] | None = None
    ) -> dict[int, mcc.PreparedTemplate]:
        """The prepared templates of one record (of ``positions`` only, if given) by finger
        position ({} if not enrolled)."""
        slots = self._records.get(record_id, {})
        wanted = slots if positions is None else [p for p in positions if p in slots]
        return {position: self._prepared[slots[position]] for position in wanted}

    def records(self) -> Sequence[str]:
        return list(self._records)
