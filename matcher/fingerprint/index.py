"""1:N search: a FAISS prefilter over fixed-length cylinder descriptors, re-ranked by MCC.

Every valid cylinder of every enrolled finger becomes a fixed-length vector (the cylinder
average-pooled 2x2 over space, 8 x 8 cells x 6 sections = 384 floats, L2-normalised) in a FAISS
index. A probe's cylinders each fetch their ``k`` nearest gallery cylinders; every finger collects,
per probe cylinder, the best inner product among its fetched cylinders (MCC indexing by voting,
after Cappelli, Ferrara, Maltoni, "Fingerprint indexing based on Minutia Cylinder-Code", TPAMI
2011). The best-voted fingers (the shortlist) are re-ranked by the 1:1 matcher, and a record's
fingers are fused by the mean of their scores (the sum rule).

Only templates are saved; descriptors, cylinders and the index are rebuilt on load.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
GALLERY_VERSION = 1
POOL = 2


def descriptors(prepared: mcc.PreparedTemplate, p: Params = PARAMS) -> NDArray[np.float32]:
    """(valid cylinders, 384) float32 contiguous, L2-normalised rows."""
    n, ns, nd = prepared.count, p.mcc_ns, p.mcc_nd
    cyl = prepared.values.reshape(n, ns // POOL, POOL, ns // POOL, POOL, nd).mean(axis=(2, 4))
    flat = cyl.reshape(n, (ns // POOL) ** 2 * nd).astype(np.float32)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.ascontiguousarray(flat / np.maximum(norms, 1e-6), dtype=np.float32)


def vote(
    similarities: NDArray[np.float32],
    cylinder_ids: NDArray[np.int64],
    owner: NDArray[np.int64],
    size: int,
) -> NDArray[np.float64]:
    """Votes per finger slot from (probe cylinders, k) neighbour lists: per probe cylinder, each
    slot counts its best similarity once. ``owner[cylinder id]`` is the slot, -1 if removed."""
    q, k = cylinder_ids.shape
    valid = cylinder_ids >= 0
    slots = np.where(valid, owner[np.maximum(cylinder_ids, 0)], -1)
    valid &= slots >= 0
    rows = np.repeat(np.arange(q), k).reshape(q, k)[valid]
    s, sim = slots[valid], similarities[valid].astype(np.float64)
    order = np.argsort(-sim, kind="stable")
    key = rows[order] * np.int64(size) + s[order]
    _, first = np.unique(key, return_index=True)
    chosen = order[first]
    return np.bincount(s[chosen], weights=np.maximum(sim[chosen], 0.0), minlength=size).astype(
        np.float64
    )


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

    def __init__(self, factory: str = "Flat", p: Params = PARAMS) -> None:
        import faiss

        self.factory = factory
        self.params = p
        dim = (p.mcc_ns // POOL) ** 2 * p.mcc_nd
        inner = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        if not inner.is_trained:
            raise MatcherError(f"index {factory!r} needs training; use a flat or HNSW factory")
        self._index: Any = faiss.IndexIDMap2(inner)
        self._owner = np.full(1024, -1, dtype=np.int64)  # cylinder id -> slot (grows x2)
        self._next_id = 0
        self._slots: list[tuple[str, int] | None] = []  # slot -> (record, finger position)
        self._prepared: dict[int, mcc.PreparedTemplate] = {}
        self._cylinders: dict[int, NDArray[np.int64]] = {}
        self._records: dict[str, dict[int, int]] = {}  # record -> finger position -> slot

    def __len__(self) -> int:
        return len(self._records)

    @property
    def fingers(self) -> int:
        return len(self._prepared)

    def add(self, record_id: str, fingers: Mapping[int, FingerprintTemplate]) -> None:
        """Enroll (or replace) a record: finger position (ISO code, 0 unknown) -> template."""
        if not fingers:
            raise MatcherError("a record needs at least one finger")
        self.remove(record_id)
        slots: dict[int, int] = {}
        for position, template in fingers.items():
            template.validate()
            prepared = mcc.prepare(template, self.params)
            slot = len(self._slots)
            self._slots.append((record_id, int(position)))
            self._prepared[slot] = prepared
            desc = descriptors(prepared, self.params)
            start, end = self._next_id, self._next_id + desc.shape[0]
            if end > self._owner.shape[0]:
                grown = np.full(max(end, 2 * self._owner.shape[0]), -1, dtype=np.int64)
                grown[:start] = self._owner[:start]
                self._owner = grown
            ids = np.arange(start, end, dtype=np.int64)
            self._owner[start:end] = slot
            self._next_id = end
            if desc.shape[0]:
                self._index.add_with_ids(desc, ids)
            self._cylinders[slot] = ids
            slots[int(position)] = slot
        self._records[record_id] = slots

    def remove(self, record_id: str) -> bool:
        """Forget a record; True if it was enrolled."""
        slots = self._records.pop(record_id, None)
        if slots is None:
            return False
        for slot in slots.values():
            ids = self._cylinders.pop(slot)
            if ids.size:
                self._index.remove_ids(ids)
            self._owner[ids] = -1
            self._prepared.pop(slot)
            self._slots[slot] = None
        return True

    def prefilter(
        self, probe: mcc.PreparedTemplate, *, shortlist: int, k: int = 64
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """(votes, slots) of the ``shortlist`` best-voted fingers, best first (FAISS style)."""
        desc = descriptors(probe, self.params)
        if desc.shape[0] == 0 or self._index.ntotal == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        sims, ids = self._index.search(desc, min(k, int(self._index.ntotal)))
        votes = vote(sims, ids, self._owner, len(self._slots))
        live = np.flatnonzero(votes > 0)
        top = live[np.argsort(-votes[live], kind="stable")[:shortlist]]
        return votes[top], top.astype(np.int64)

    def search(
        self,
        probe: Mapping[int, FingerprintTemplate],
        *,
        penetration: float = 0.05,
        min_shortlist: int = 20,
        k: int = 64,
        limit: int = 10,
    ) -> list[Candidate]:
        """Records most likely to hold the probe's fingers, by fused 1:1 score, best first."""
        shortlist = max(min_shortlist, math.ceil(penetration * max(self.fingers, 1)))
        scores: dict[str, dict[int, float]] = {}
        for position, template in probe.items():
            prepared = mcc.prepare(template, self.params)
            _, slots = self.prefilter(prepared, shortlist=shortlist, k=k)
            for slot in slots:
                entry = self._slots[int(slot)]
                if entry is None:
                    continue
                record_id, finger = entry
                if position and finger and position != finger:
                    continue
                score = mcc.similarity(prepared, self._prepared[int(slot)], self.params)
                best = scores.setdefault(record_id, {})
                best[position] = max(best.get(position, 0.0), score)
        fused = [
            Candidate(record, sum(per.values()) / len(probe), per) for record, per in scores.items()
        ]
        fused.sort(key=lambda c: -c.score)
        return fused[:limit]

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
            "factory": self.factory,
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
        gallery = cls(str(meta["factory"]), p)
        for record_id, entry in meta["records"].items():
            fingers = {
                int(position): FingerprintTemplate.from_bytes(blob[start : start + size])
                for position, (start, size) in entry.items()
            }
            gallery.add(record_id, fingers)
        return gallery

    def records(self) -> Sequence[str]:
        return list(self._records)
