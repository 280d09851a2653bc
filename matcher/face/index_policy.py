"""How the face gallery chooses its index: exact below a size, approximate plus re-rank above.

Everything tunable about face search lives here. Index types are FAISS factory strings
(https://github.com/facebookresearch/faiss/wiki/The-index-factory) and their search-time settings
FAISS ``ParameterSpace`` strings (``"efSearch=128"``, ``"nprobe=64,quantizer_efSearch=128"``).
The numbers behind the defaults are in README ("Face search at scale").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from matcher.face.templates import TEMPLATE_DIM


def faiss_module() -> Any:
    """FAISS, imported when first needed and untyped (its stubs miss the search parameters)."""
    import faiss

    return faiss


@dataclass(frozen=True)
class ApproximateIndex:
    """One approximate index type: a FAISS factory string, its search-time parameters, how many
    candidates it proposes for the exact re-rank, and the largest gallery it is meant for."""

    factory: str
    search_params: str = ""
    rerank: int = 256
    up_to: int | None = None

    def __post_init__(self) -> None:
        if not self.factory or "IDMap" in self.factory:
            raise ValueError(
                f"approximate factory {self.factory!r}: give the index itself (e.g. 'HNSW32'); "
                "the gallery maps record ids on its own"
            )
        if self.rerank < 1:
            raise ValueError("rerank must be at least 1")
        if self.up_to is not None and self.up_to < 1:
            raise ValueError("up_to must be a gallery size, or None for any size")


@dataclass(frozen=True)
class FaceIndexPolicy:
    """The gallery's index choice (defaults measured on 2 cores, see README).

    - ``exact_below``: galleries smaller than this are searched exactly (a flat scan).
    - ``approximate``: index types for larger galleries, in order of preference. At a build the
      gallery takes, among the types whose ``up_to`` admits its size, the first whose estimated
      memory (with the float templates) fits ``memory_budget_mb``, else the smallest; the last
      type must admit any size. The index is trained on the gallery itself (at most
      ``max_train`` templates, drawn at random); its shortlist of ``rerank`` candidates per query
      is ordered by exact distances from the stored float templates.
    - ``retrain_factor``: an approximate index is rebuilt (and retrained) once the gallery holds
      this many times the templates it was built on, or once a quarter of its entries are
      removed ones; a gallery that shrank below ``exact_below / 2`` goes back to exact search.
    - ``threads``: FAISS threads for batch searches and builds (0: one per core); single queries
      run on ``single_query_threads`` (1: a single query is too little work to share).
    """

    exact_below: int = 20_000
    approximate: tuple[ApproximateIndex, ...] = field(
        default_factory=lambda: (
            ApproximateIndex("OPQ32,IVF512,PQ32x4fs", "nprobe=112", rerank=320, up_to=500_000),
            ApproximateIndex("OPQ32,IVF4096,PQ32x4fs", "nprobe=768", rerank=1500),
        )
    )
    retrain_factor: float = 2.0
    max_train: int = 200_000
    memory_budget_mb: float | None = None
    threads: int = 0
    single_query_threads: int = 1

    def __post_init__(self) -> None:
        if self.exact_below < 0:
            raise ValueError("exact_below must be 0 or more (0: always approximate)")
        if not self.approximate:
            raise ValueError("give at least one approximate index type")
        if self.approximate[-1].up_to is not None:
            raise ValueError("the last approximate index type must serve any size (up_to=None)")
        if self.retrain_factor <= 1.0:
            raise ValueError("retrain_factor must be above 1 (e.g. 2: retrain on doubling)")
        if self.max_train < 1_000:
            raise ValueError("max_train must be at least 1000")
        if self.memory_budget_mb is not None and self.memory_budget_mb <= 0:
            raise ValueError("memory_budget_mb must be positive, or None for no budget")
        if self.threads < 0 or self.single_query_threads < 0:
            raise ValueError("thread counts must be 0 (one per core) or more")

    def candidates(self, size: int) -> tuple[ApproximateIndex, ...]:
        """The approximate index types meant for a gallery of ``size``, in order of preference."""
        return tuple(a for a in self.approximate if a.up_to is None or size <= a.up_to)

    @classmethod
    def exact(cls) -> FaceIndexPolicy:
        """Exact search at every size (the brute-force reference)."""
        return cls(exact_below=2**62)

    def to_json(self) -> dict[str, object]:
        return {
            "exact_below": self.exact_below,
            "approximate": [dataclasses.asdict(a) for a in self.approximate],
            "retrain_factor": self.retrain_factor,
            "max_train": self.max_train,
            "memory_budget_mb": self.memory_budget_mb,
            "threads": self.threads,
            "single_query_threads": self.single_query_threads,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FaceIndexPolicy:
        approximate = data.get("approximate")
        if not isinstance(approximate, list):
            raise ValueError("policy 'approximate' must be a list of index types")
        kwargs = {k: v for k, v in data.items() if k != "approximate"}
        return cls(
            approximate=tuple(ApproximateIndex(**a) for a in approximate),
            **kwargs,  # type: ignore[arg-type]
        )


def float_store_bytes(n: int) -> int:
    """Memory of the float templates kept for exact search and re-rank, and their ids."""
    return n * (TEMPLATE_DIM * 4 + 8 + 16)


def index_bytes(factory: str, n: int) -> int:
    """Estimated memory of a FAISS index of ``n`` templates built from ``factory``."""
    faiss = faiss_module()
    index = faiss.index_factory(TEMPLATE_DIM, factory)  # owns the C++ objects: keep it alive
    return _bytes(index, n)


def _bytes(owner: Any, n: int) -> int:
    faiss = faiss_module()
    index = faiss.downcast_index(owner)
    if isinstance(index, faiss.IndexPreTransform):
        return _bytes(index.index, n) + 4 * TEMPLATE_DIM * TEMPLATE_DIM
    if isinstance(index, faiss.IndexHNSW):
        m = int(index.hnsw.nb_neighbors(1))
        # level 0 has 2M links, upper levels M each, a node reaches level l with p = (1/M)^l
        links = 4 * (2 * m + m / (m - 1))
        return _bytes(index.storage, n) + int(n * (links + 8 + 4))
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return int(n * (ivf.code_size + 8) + _bytes(ivf.quantizer, ivf.nlist))
    code_size = getattr(index, "code_size", TEMPLATE_DIM * 4)
    return int(n * code_size)
