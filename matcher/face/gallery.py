"""The face gallery: templates under integer record ids, searched with FAISS.

Exact search (``IDMap2,Flat``, Euclidean) for now; the index is described by a FAISS factory
string so approximate indexes can replace it without changing callers. Saved as two files in a
folder: ``face.faiss`` (the index) and ``face.json`` (format version, size and parameters).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from matcher.errors import MatcherError
from matcher.face.templates import TEMPLATE_DIM, as_template, as_template_batch

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
INDEX_FILE = "face.faiss"
META_FILE = "face.json"


class GalleryError(MatcherError):
    """The gallery cannot do what was asked (duplicate id, damaged files)."""

    code = "gallery_error"


@dataclass(frozen=True)
class SearchResult:
    """One candidate from a search: the record id and its Euclidean distance to the probe."""

    record_id: int
    distance: float


class FaceGallery:
    """Face templates keyed by record id, with exact top-k search. Thread-safe."""

    def __init__(self, factory: str = "IDMap2,Flat") -> None:
        import faiss

        self.factory = factory
        self._index = faiss.index_factory(TEMPLATE_DIM, factory, faiss.METRIC_L2)
        self._ids: set[int] = set()
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._ids

    def ids(self) -> NDArray[np.int64]:
        """Every record id in the gallery, sorted."""
        with self._lock:
            return np.array(sorted(self._ids), dtype=np.int64)

    def add(self, record_ids: ArrayLike, templates: ArrayLike) -> None:
        """Add templates under new record ids; an id already present is an error."""
        ids = np.ascontiguousarray(record_ids, dtype=np.int64).reshape(-1)
        vectors = as_template_batch(templates)
        if ids.shape[0] != vectors.shape[0]:
            raise GalleryError(f"{ids.shape[0]} ids for {vectors.shape[0]} templates")
        if len(np.unique(ids)) != len(ids):
            raise GalleryError("the same record id appears twice in one add")
        with self._lock:
            present = [int(i) for i in ids if int(i) in self._ids]
            if present:
                raise GalleryError(f"record id(s) already in the gallery: {present[:10]}")
            self._index.add_with_ids(vectors, ids)
            self._ids.update(int(i) for i in ids)

    def add_one(self, record_id: int, template: ArrayLike) -> None:
        self.add([record_id], as_template(template)[None, :])

    def remove(self, record_ids: ArrayLike) -> int:
        """Remove these record ids (absent ones are ignored); return how many were removed."""
        import faiss

        ids = np.ascontiguousarray(record_ids, dtype=np.int64).reshape(-1)
        with self._lock:
            wanted = np.array([i for i in ids if int(i) in self._ids], dtype=np.int64)
            if wanted.size == 0:
                return 0
            removed = int(self._index.remove_ids(faiss.IDSelectorBatch(wanted)))
            self._ids.difference_update(int(i) for i in wanted)
            if removed != wanted.size:
                raise GalleryError(
                    f"index removed {removed} of {wanted.size} ids: rebuild the gallery"
                )
            return removed

    def search(self, queries: ArrayLike, k: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
        """Top-k for each query: ``(distances, ids)``, (n, k), nearest first, Euclidean.

        Missing neighbours are ``inf`` with id ``-1``. Ties are ordered by the smaller id.
        """
        if k < 1:
            raise ValueError("k must be at least 1")
        probes = as_template_batch(queries)
        with self._lock:
            squared, ids = self._index.search(probes, k)
        distances = np.sqrt(np.maximum(squared, 0.0)).astype(np.float32)
        distances[ids < 0] = np.inf
        # FAISS may order exact ties arbitrarily; make the order deterministic.
        for row in range(distances.shape[0]):
            order = np.lexsort((ids[row], distances[row]))
            distances[row], ids[row] = distances[row, order], ids[row, order]
        return distances, ids.astype(np.int64)

    def search_one(self, query: ArrayLike, k: int) -> list[SearchResult]:
        """Top-k candidates for one probe template."""
        distances, ids = self.search(as_template(query)[None, :], k)
        return [
            SearchResult(record_id=int(i), distance=float(d))
            for d, i in zip(distances[0], ids[0], strict=True)
            if i >= 0
        ]

    def save(self, folder: Path) -> None:
        """Write the index and its metadata atomically (temporary files, then rename)."""
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            meta = {
                "format_version": FORMAT_VERSION,
                "factory": self.factory,
                "dim": TEMPLATE_DIM,
                "metric": "l2",
                "size": len(self._ids),
                "saved_at": time.time(),
            }
            index_tmp = folder / (INDEX_FILE + ".tmp")
            meta_tmp = folder / (META_FILE + ".tmp")
            faiss.write_index(self._index, str(index_tmp))
            meta_tmp.write_text(json.dumps(meta, indent=2))
            for tmp in (index_tmp, meta_tmp):
                with open(tmp, "rb") as handle:
                    os.fsync(handle.fileno())
            os.replace(index_tmp, folder / INDEX_FILE)
            os.replace(meta_tmp, folder / META_FILE)
        log.info("face gallery of %d saved to %s", meta["size"], folder)

    @classmethod
    def load(cls, folder: Path) -> FaceGallery:
        """Read a gallery written by :meth:`save`; damaged or foreign files raise GalleryError."""
        import faiss

        meta_path, index_path = folder / META_FILE, folder / INDEX_FILE
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise GalleryError(f"cannot read gallery metadata {meta_path}: {exc}") from exc
        if meta.get("format_version") != FORMAT_VERSION or meta.get("dim") != TEMPLATE_DIM:
            raise GalleryError(f"gallery in {folder} has an unknown format: {meta}")
        try:
            index = faiss.read_index(str(index_path))
        except RuntimeError as exc:
            raise GalleryError(f"cannot read gallery index {index_path}: {exc}") from exc
        if index.ntotal != meta.get("size") or index.d != TEMPLATE_DIM:
            raise GalleryError(f"gallery index {index_path} does not match its metadata")
        gallery = cls(factory=str(meta["factory"]))
        gallery._index = index
        if not hasattr(index, "id_map"):
            raise GalleryError(f"gallery index {index_path} does not map record ids")
        id_map = index.id_map
        gallery._ids = {int(i) for i in faiss.vector_to_array(id_map)}
        if len(gallery._ids) != index.ntotal:
            raise GalleryError(f"gallery index {index_path} holds repeated ids")
        return gallery
