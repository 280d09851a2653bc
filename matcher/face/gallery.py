"""The face gallery: templates under integer record ids, searched exactly or approximately.

The float templates are always kept, one per *slot*. A gallery smaller than
``policy.exact_below`` is searched exactly (a flat scan of those templates: precinct scale).
From that size on, an approximate FAISS index over the same slots (a factory string from the
policy, chosen by gallery size and a memory budget, trained on the gallery itself) proposes its
``rerank`` candidates per query, and their exact distances, recomputed from the float templates, give the
answer: the distances returned are always exact, only a true neighbour the index failed to
propose can be missed. The index is rebuilt when the gallery grows past ``retrain_factor`` times
the size it was trained on, or when a quarter of its entries are removed ones.

Adding appends slots (and adds them to the index); removing frees the record id at once. In
exact mode the last slot moves into the hole; in approximate mode the slot stays in the index as
a tombstone that a selector keeps out of every answer until the next rebuild.

Saved as files in a folder: ``face.json`` (format version, size, mode, factory, policy),
``face.templates.npy`` and ``face.ids.npy`` (slots), ``face.faiss`` (the approximate index, if
any). Galleries saved by format 1 (one ``IDMap2,Flat`` index) still load.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from matcher.errors import MatcherError
from matcher.face.index_policy import (
    ApproximateIndex,
    FaceIndexPolicy,
    faiss_module,
    float_store_bytes,
    index_bytes,
)
from matcher.face.templates import TEMPLATE_DIM, as_template, as_template_batch

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
META_FILE = "face.json"
INDEX_FILE = "face.faiss"
TEMPLATES_FILE = "face.templates.npy"
IDS_FILE = "face.ids.npy"
# A rebuild compacts the approximate index once this share of its entries are removed ones.
DEAD_SHARE_REBUILD = 0.25
# Queries re-ranked per chunk: bounds the memory of a large batch search.
QUERY_CHUNK = 4096


class GalleryError(MatcherError):
    """The gallery cannot do what was asked (duplicate id, damaged files)."""

    code = "gallery_error"


@dataclass(frozen=True)
class SearchResult:
    """One candidate from a search: the record id and its Euclidean distance to the probe."""

    record_id: int
    distance: float


class _IdMap:
    """Record id -> slot for millions of ids without a Python object per id.

    A large pair of arrays sorted by id, where removed entries keep their key with slot -1, and
    a small sorted pair for recent inserts; the small one is merged in (and the removed dropped)
    once it grows past :attr:`MERGE` entries or the removed make a quarter of the large one.
    """

    MERGE = 65_536

    def __init__(self) -> None:
        empty = np.zeros(0, np.int64)
        self._keys, self._slots = empty, empty
        self._new_keys, self._new_slots = empty, empty
        self._removed = 0

    def __len__(self) -> int:
        return self._keys.size - self._removed + self._new_keys.size

    @staticmethod
    def _find(keys: NDArray[np.int64], ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Position of each id in sorted ``keys``, -1 where absent."""
        pos = np.searchsorted(keys, ids)
        found = pos < keys.size
        found[found] = keys[pos[found]] == ids[found]
        return np.where(found, pos, -1)

    def lookup(self, ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """The slot of each id, -1 where absent."""
        out = np.full(ids.shape, -1, np.int64)
        pos = self._find(self._keys, ids)
        out[pos >= 0] = self._slots[pos[pos >= 0]]
        new = self._find(self._new_keys, ids)
        out[new >= 0] = self._new_slots[new[new >= 0]]
        return out

    def insert(self, ids: NDArray[np.int64], slots: NDArray[np.int64]) -> None:
        """Map new (absent, distinct) ids to slots."""
        pos = self._find(self._keys, ids)
        again = pos >= 0  # ids removed earlier keep their key in the large arrays
        self._slots[pos[again]] = slots[again]
        self._removed -= int(again.sum())
        keys = np.concatenate([self._new_keys, ids[~again]])
        values = np.concatenate([self._new_slots, slots[~again]])
        order = np.argsort(keys, kind="stable")
        self._new_keys, self._new_slots = keys[order], values[order]
        if self._new_keys.size > self.MERGE:
            self._merge()

    def remove(self, ids: NDArray[np.int64]) -> None:
        """Forget these (present) ids."""
        pos = self._find(self._keys, ids)
        hit = pos[pos >= 0]
        self._slots[hit] = -1
        self._removed += hit.size
        new = self._find(self._new_keys, ids)
        if (new >= 0).any():
            keep = np.ones(self._new_keys.size, bool)
            keep[new[new >= 0]] = False
            self._new_keys, self._new_slots = self._new_keys[keep], self._new_slots[keep]
        if self._removed > self._keys.size // 4:
            self._merge()

    def move(self, record_id: int, slot: int) -> None:
        """Point a present id at another slot."""
        ids = np.array([record_id], np.int64)
        pos = self._find(self._keys, ids)[0]
        if pos >= 0 and self._slots[pos] >= 0:
            self._slots[pos] = slot
        else:
            self._new_slots[self._find(self._new_keys, ids)[0]] = slot

    def items(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Every (id, slot), sorted by id."""
        self._merge()
        return self._keys, self._slots

    def _merge(self) -> None:
        live = self._slots >= 0
        keys = np.concatenate([self._keys[live], self._new_keys])
        slots = np.concatenate([self._slots[live], self._new_slots])
        order = np.argsort(keys, kind="stable")
        self._keys, self._slots = keys[order], slots[order]
        self._new_keys, self._new_slots = np.zeros(0, np.int64), np.zeros(0, np.int64)
        self._removed = 0

    @classmethod
    def of(cls, ids: NDArray[np.int64], slots: NDArray[np.int64]) -> _IdMap:
        out = cls()
        order = np.argsort(ids, kind="stable")
        out._keys, out._slots = ids[order], slots[order]
        return out


@contextmanager
def _faiss_threads(count: int) -> Iterator[None]:
    """Run FAISS on ``count`` threads (0: one per core), then restore the previous setting.

    OpenMP's setting is process-wide: callers hold the gallery's lock.
    """
    faiss = faiss_module()
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count or os.cpu_count() or 1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _search_parameters(index: Any, selector: Any) -> Any:
    """Search parameters for ``index`` that keep its tuned settings and add ``selector``."""
    faiss = faiss_module()
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexPreTransform):
        inner = _search_parameters(index.index, selector)
        return faiss.SearchParametersPreTransform(index_params=inner)
    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(efSearch=index.hnsw.efSearch, sel=selector)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return faiss.SearchParametersIVF(nprobe=ivf.nprobe, max_codes=ivf.max_codes, sel=selector)
    return faiss.SearchParameters(sel=selector)


class FaceGallery:
    """Face templates keyed by record id, with top-k search; exact below the policy's size
    threshold, approximate with exact re-rank above it. Thread-safe."""

    def __init__(self, policy: FaceIndexPolicy | None = None) -> None:
        self.policy = policy or FaceIndexPolicy()
        self._vectors = np.zeros((0, TEMPLATE_DIM), np.float32)  # by slot; rows >= _used free
        self._slot_ids = np.zeros(0, np.int64)  # record id by slot, -1 for a removed one
        self._alive = np.zeros(0, np.uint8)  # bit per slot, FAISS IDSelectorBitmap order
        self._used = 0
        self._map = _IdMap()
        self._index: Any = None  # the approximate index over slots [0, _used), or None
        self._choice: ApproximateIndex | None = None
        self._trained_size = 0
        self._builds = 0  # approximate indexes built so far
        self._lock = threading.RLock()

    # -- what is in it --------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._lock:
            return len(self._map)

    def __contains__(self, record_id: object) -> bool:
        if not isinstance(record_id, int | np.integer):
            return False
        with self._lock:
            return bool(self._map.lookup(np.array([record_id], np.int64))[0] >= 0)

    def ids(self) -> NDArray[np.int64]:
        """Every record id in the gallery, sorted."""
        with self._lock:
            return self._map.items()[0].copy()

    @property
    def mode(self) -> str:
        """``"exact"`` or ``"approximate"``."""
        return "exact" if self._index is None else "approximate"

    def describe(self) -> dict[str, Any]:
        """Size, mode and index parameters (what ``face.json`` records)."""
        with self._lock:
            return {
                "format_version": FORMAT_VERSION,
                "dim": TEMPLATE_DIM,
                "metric": "l2",
                "size": len(self._map),
                "slots": self._used,
                "mode": self.mode,
                "factory": self._choice.factory if self._choice else "Flat",
                "search_params": self._choice.search_params if self._choice else "",
                "rerank": self._choice.rerank if self._choice else 0,
                "trained_size": self._trained_size,
                "builds": self._builds,
                "policy": self.policy.to_json(),
            }

    def memory_bytes(self) -> int:
        """Estimated memory of the templates, ids and index."""
        with self._lock:
            size = float_store_bytes(self._vectors.shape[0])
            if self._choice is not None:
                size += index_bytes(self._choice.factory, self._used)
            return size

    # -- changes --------------------------------------------------------------------------------

    def add(self, record_ids: ArrayLike, templates: ArrayLike) -> None:
        """Add templates under new record ids; an id already present is an error."""
        ids = np.ascontiguousarray(record_ids, dtype=np.int64).reshape(-1)
        vectors = as_template_batch(templates)
        if ids.shape[0] != vectors.shape[0]:
            raise GalleryError(f"{ids.shape[0]} ids for {vectors.shape[0]} templates")
        if len(np.unique(ids)) != len(ids):
            raise GalleryError("the same record id appears twice in one add")
        if (ids < 0).any():
            raise GalleryError("record ids must be 0 or more")
        with self._lock:
            present = ids[self._map.lookup(ids) >= 0]
            if present.size:
                raise GalleryError(f"record id(s) already in the gallery: {present[:10].tolist()}")
            if ids.size == 0:
                return
            start = self._append(ids, vectors)
            if self._index is not None:
                if self._index.ntotal != start:  # FAISS numbers entries in order of addition
                    raise GalleryError("the face index is out of step with its slots: rebuild it")
                with _faiss_threads(self.policy.threads):
                    self._index.add(self._vectors[start : self._used])
            self._maybe_rebuild()

    def template(self, record_id: int) -> NDArray[np.float32]:
        """The stored template of ``record_id`` (a copy); KeyError if it is not in the gallery."""
        with self._lock:
            slot = int(self._map.lookup(np.asarray([record_id], np.int64))[0])
            if slot < 0:
                raise KeyError(record_id)
            copy: NDArray[np.float32] = self._vectors[slot].copy()
            return copy

    def add_one(self, record_id: int, template: ArrayLike) -> None:
        self.add([record_id], as_template(template)[None, :])

    def remove(self, record_ids: ArrayLike) -> int:
        """Remove these record ids (absent ones are ignored); return how many were removed."""
        ids = np.unique(np.ascontiguousarray(record_ids, dtype=np.int64).reshape(-1))
        with self._lock:
            slots = self._map.lookup(ids)
            ids, slots = ids[slots >= 0], slots[slots >= 0]
            if ids.size == 0:
                return 0
            self._map.remove(ids)
            if self._index is None:
                self._swap_remove(slots)
            else:
                self._slot_ids[slots] = -1
                np.bitwise_and.at(self._alive, slots >> 3, ~(1 << (slots & 7)).astype(np.uint8))
            self._maybe_rebuild()
            return int(ids.size)

    def _append(self, ids: NDArray[np.int64], vectors: NDArray[np.float32]) -> int:
        start, stop = self._used, self._used + ids.size
        if stop > self._vectors.shape[0]:
            capacity = max(stop, int(self._vectors.shape[0] * 1.25) + 1024)
            grown = np.empty((capacity, TEMPLATE_DIM), np.float32)
            grown[:start] = self._vectors[:start]
            self._vectors = grown
            self._slot_ids = np.concatenate(
                [self._slot_ids[:start], np.full(capacity - start, -1, np.int64)]
            )
            self._alive = np.concatenate(
                [self._alive, np.zeros((capacity + 7) // 8 - self._alive.size, np.uint8)]
            )
        self._vectors[start:stop] = vectors
        self._slot_ids[start:stop] = ids
        slots = np.arange(start, stop, dtype=np.int64)
        np.bitwise_or.at(self._alive, slots >> 3, (1 << (slots & 7)).astype(np.uint8))
        self._map.insert(ids, slots)
        self._used = stop
        return start

    def _swap_remove(self, slots: NDArray[np.int64]) -> None:
        """Exact mode: fill each hole with the last slot, so the slots stay dense."""
        for slot in np.sort(slots)[::-1]:
            last = self._used - 1
            if slot != last:
                self._vectors[slot] = self._vectors[last]
                moved = int(self._slot_ids[last])
                self._slot_ids[slot] = moved
                self._map.move(moved, int(slot))
            self._slot_ids[last] = -1
            self._alive[last >> 3] &= np.uint8(~(1 << (last & 7)) & 0xFF)
            self._used = last

    def _maybe_rebuild(self) -> None:
        live, policy = len(self._map), self.policy
        if self._index is None:
            if live >= max(1, policy.exact_below):
                self._rebuild()
        elif (
            live < policy.exact_below / 2
            or live >= policy.retrain_factor * self._trained_size
            or self._used - live > DEAD_SHARE_REBUILD * self._used
        ):
            self._rebuild()

    def _compact(self) -> None:
        live = np.flatnonzero(self._slot_ids[: self._used] >= 0)
        if live.size == self._used:
            return
        self._vectors = np.ascontiguousarray(self._vectors[live])
        self._slot_ids = self._slot_ids[live]
        self._used = live.size
        self._alive = np.packbits(np.ones(live.size, bool), bitorder="little")
        self._map = _IdMap.of(self._slot_ids.copy(), np.arange(live.size, dtype=np.int64))

    def _choose(self, size: int) -> ApproximateIndex:
        """The first type meant for this size that fits the memory budget, else the smallest."""
        candidates = self.policy.candidates(size)
        budget = self.policy.memory_budget_mb
        if budget is None:
            return candidates[0]
        needs = [float_store_bytes(size) + index_bytes(a.factory, size) for a in candidates]
        for choice, need in zip(candidates, needs, strict=True):
            if need <= budget * 2**20:
                return choice
        smallest = candidates[int(np.argmin(needs))]
        log.warning(
            "no face index type fits %.0f MB at %d templates: using %s (about %.0f MB); "
            "raise memory_budget_mb or add a smaller type to the policy",
            budget,
            size,
            smallest.factory,
            min(needs) / 2**20,
        )
        return smallest

    def _rebuild(self) -> None:
        faiss = faiss_module()
        self._compact()
        live = self._used
        if live < max(1, self.policy.exact_below):
            if self._index is not None:
                log.info("face gallery of %d back to exact search", live)
            self._index, self._choice, self._trained_size = None, None, 0
            return
        choice = self._choose(live)
        started = time.perf_counter()
        index = faiss.index_factory(TEMPLATE_DIM, choice.factory, faiss.METRIC_L2)
        with _faiss_threads(self.policy.threads):
            if not index.is_trained:
                sample = self._vectors[:live]
                if live > self.policy.max_train:
                    rng = np.random.default_rng(0)
                    sample = sample[np.sort(rng.choice(live, self.policy.max_train, replace=False))]
                index.train(sample)
            for start in range(0, live, 262_144):
                index.add(self._vectors[start : min(live, start + 262_144)])
        if choice.search_params:
            faiss.ParameterSpace().set_index_parameters(index, choice.search_params)
        self._index, self._choice, self._trained_size = index, choice, live
        self._builds += 1
        log.info(
            "face index %s built over %d templates in %.1f s",
            choice.factory,
            live,
            time.perf_counter() - started,
        )

    # -- search ---------------------------------------------------------------------------------

    def search(self, queries: ArrayLike, k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Top-k for each query: ``(distances, ids)``, (n, k), nearest first, Euclidean.

        Missing neighbours are ``inf`` with id ``-1``. Ties are ordered by the smaller id. A
        batch runs on ``policy.threads`` threads, a single query on ``single_query_threads``.
        """
        if k < 1:
            raise ValueError("k must be at least 1")
        probes = as_template_batch(queries)
        n = probes.shape[0]
        distances = np.full((n, k), np.inf, np.float32)
        found = np.full((n, k), -1, np.int64)
        with self._lock:
            if self._used == 0 or n == 0:
                return distances, found
            threads = self.policy.single_query_threads if n == 1 else self.policy.threads
            with _faiss_threads(threads):
                for start in range(0, n, QUERY_CHUNK):
                    stop = min(n, start + QUERY_CHUNK)
                    d, i = self._search(probes[start:stop], k)
                    distances[start:stop, : d.shape[1]], found[start:stop, : i.shape[1]] = d, i
        return distances, found

    def _search(
        self, probes: NDArray[np.float32], k: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Candidate slots (exact scan or index), then their exact distances, ordered."""
        faiss = faiss_module()
        if self._index is None:
            wanted = min(self._used, k + 8)
            _, slots = faiss.knn(probes, self._vectors[: self._used], wanted)
        else:
            assert self._choice is not None
            wanted = min(self._used, max(k, self._choice.rerank))
            selector = params = None
            if self._used > len(self._map):
                selector = faiss.IDSelectorBitmap(self._alive)
                params = _search_parameters(self._index, selector)
            _, slots = self._index.search(probes, wanted, params=params)
        slots = np.ascontiguousarray(slots, dtype=np.int64)
        squared = np.full(slots.shape, np.inf, np.float32)
        faiss.fvec_L2sqr_by_idx(
            faiss.swig_ptr(squared),
            faiss.swig_ptr(probes),
            faiss.swig_ptr(self._vectors),
            faiss.swig_ptr(slots),
            TEMPLATE_DIM,
            probes.shape[0],
            slots.shape[1],
        )
        rows = np.arange(slots.shape[0])[:, None]
        keep = k + 8  # ties at the k-th place still go to the smaller id
        if slots.shape[1] > keep:  # look up ids (random reads) for the nearest few only
            nearest = np.argpartition(squared, keep - 1, axis=1)[:, :keep]
            slots, squared = slots[rows, nearest], squared[rows, nearest]
        ids = self._slot_ids[slots]
        ids[slots < 0] = -1
        missing = ids < 0
        if missing.any():
            squared[missing] = np.inf
            ids[missing] = np.iinfo(np.int64).max  # sorts missing neighbours last
        order = np.lexsort((ids, squared), axis=1)[:, :k]
        squared, ids = squared[rows, order], ids[rows, order]
        if missing.any():
            ids[~np.isfinite(squared)] = -1
        return np.sqrt(squared), ids

    def search_one(self, query: ArrayLike, k: int) -> list[SearchResult]:
        """Top-k candidates for one probe template."""
        distances, ids = self.search(as_template(query)[None, :], k)
        return [
            SearchResult(record_id=int(i), distance=float(d))
            for d, i in zip(distances[0], ids[0], strict=True)
            if i >= 0
        ]

    def neighbours(
        self, record_ids: ArrayLike, k: int
    ) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Top-k *other* records for records of the gallery (a de-duplication pass), as
        :meth:`search`; an id not in the gallery is an error."""
        ids = np.ascontiguousarray(record_ids, dtype=np.int64).reshape(-1)
        with self._lock:
            slots = self._map.lookup(ids)
            if (slots < 0).any():
                raise GalleryError(
                    f"record id(s) not in the gallery: {ids[slots < 0][:10].tolist()}"
                )
            distances, found = self.search(self._vectors[slots], k + 1)
        self_match = found == ids[:, None]
        keep = np.where(self_match.any(axis=1)[:, None], ~self_match, np.arange(k + 1) < k)
        return (
            distances[keep].reshape(-1, k),
            found[keep].reshape(-1, k),
        )

    # -- files ----------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write templates, ids, index and metadata atomically (temporary files, then rename)."""
        faiss = faiss_module()
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            meta = {**self.describe(), "saved_at": time.time()}
            files: list[tuple[Path, Path]] = []

            def temporary(name: str) -> Path:
                files.append((folder / (name + ".tmp"), folder / name))
                return files[-1][0]

            with open(temporary(TEMPLATES_FILE), "wb") as out:
                np.save(out, self._vectors[: self._used])
            with open(temporary(IDS_FILE), "wb") as out:
                np.save(out, self._slot_ids[: self._used])
            if self._index is not None:
                faiss.write_index(self._index, str(temporary(INDEX_FILE)))
            temporary(META_FILE).write_text(json.dumps(meta, indent=2))
            for tmp, _ in files:
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
            for tmp, final in files:  # the metadata last: it names what the folder holds
                os.replace(tmp, final)
            if self._index is None:
                (folder / INDEX_FILE).unlink(missing_ok=True)
        log.info("face gallery of %d saved to %s", meta["size"], folder)

    @classmethod
    def load(cls, folder: Path, policy: FaceIndexPolicy | None = None) -> FaceGallery:
        """Read a gallery written by :meth:`save`; damaged or foreign files raise GalleryError.

        ``policy`` replaces the saved one (the index is rebuilt if it then calls for another).
        """
        meta_path = folder / META_FILE
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise GalleryError(f"cannot read gallery metadata {meta_path}: {exc}") from exc
        if meta.get("format_version") == 1 and meta.get("dim") == TEMPLATE_DIM:
            return cls._load_format_1(folder, meta, policy)
        if meta.get("format_version") != FORMAT_VERSION or meta.get("dim") != TEMPLATE_DIM:
            raise GalleryError(f"gallery in {folder} has an unknown format: {meta}")
        try:
            saved_policy = FaceIndexPolicy.from_json(meta["policy"])
            vectors = np.load(folder / TEMPLATES_FILE)
            slot_ids = np.load(folder / IDS_FILE)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GalleryError(
                f"cannot read the gallery in {folder}: {exc}: save it again"
            ) from exc
        slots = int(meta.get("slots", -1))
        if (
            vectors.dtype != np.float32
            or vectors.shape != (slots, TEMPLATE_DIM)
            or slot_ids.dtype != np.int64
            or slot_ids.shape != (slots,)
        ):
            raise GalleryError(f"gallery files in {folder} do not match their metadata")
        live = slot_ids >= 0
        if int(live.sum()) != meta.get("size") or np.unique(slot_ids[live]).size != live.sum():
            raise GalleryError(f"gallery ids in {folder} do not match their metadata")
        gallery = cls(policy or saved_policy)
        gallery._vectors, gallery._slot_ids, gallery._used = vectors, slot_ids, slots
        gallery._alive = np.packbits(live, bitorder="little")
        gallery._map = _IdMap.of(slot_ids[live], np.flatnonzero(live).astype(np.int64))
        if meta.get("mode") == "approximate":
            gallery._index = cls._read_index(folder / INDEX_FILE, slots)
            gallery._choice = ApproximateIndex(
                str(meta["factory"]), str(meta["search_params"]), int(meta["rerank"])
            )
            gallery._trained_size = int(meta["trained_size"])
            if gallery._choice.search_params:
                faiss = faiss_module()
                faiss.ParameterSpace().set_index_parameters(
                    gallery._index, gallery._choice.search_params
                )
        elif gallery.mode == "exact" and slots != live.sum():
            gallery._compact()
        if policy is not None and policy != saved_policy:
            gallery._rebuild()
        else:
            gallery._maybe_rebuild()
        return gallery

    @staticmethod
    def _read_index(path: Path, slots: int) -> Any:
        faiss = faiss_module()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise GalleryError(f"cannot read gallery index {path}: {exc}") from exc
        if index.ntotal != slots or index.d != TEMPLATE_DIM:
            raise GalleryError(f"gallery index {path} does not match its metadata")
        return index

    @classmethod
    def _load_format_1(
        cls, folder: Path, meta: dict[str, Any], policy: FaceIndexPolicy | None
    ) -> FaceGallery:
        """A gallery saved by format 1: one ``IDMap2,Flat`` index holding ids and templates."""
        faiss = faiss_module()
        index = cls._read_index(folder / INDEX_FILE, int(meta.get("size", -1)))
        if not hasattr(index, "id_map"):
            raise GalleryError(f"gallery index {folder / INDEX_FILE} does not map record ids")
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        vectors = faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal)
        if np.unique(ids).size != ids.size:
            raise GalleryError(f"gallery index {folder / INDEX_FILE} holds repeated ids")
        gallery = cls(policy)
        gallery.add(ids, vectors)
        return gallery
