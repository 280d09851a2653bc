"""How the face gallery chooses its index: exact below a size, approximate plus re-rank above.

Everything tunable about face search lives here. Index types are FAISS factory strings
(https://github.com/facebookresearch/faiss/wiki/The-index-factory) and their search-time settings
FAISS ``ParameterSpace`` strings (``"efSearch=128"``, ``"nprobe=64,quantizer_efSearch=128"``).
The numbers behind the defaults are in README ("Face search at scale").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from matcher.face.templates import TEMPLATE_DIM


def faiss_module() -> Any:
    """FAISS, imported when first needed and untyped (its stubs miss the search parameters)."""
    import faiss

    return faiss


@dataclass(frozen=True)
class ApproximateIndex:
    """One approximate index type: a factory string and its search-time parameters."""

    factory: str
    search_params: str = ""

    def __post_init__(self) -> None:
        if not self.factory or "IDMap" in self.factory:
            raise ValueError(
                f"approximate factory {self.factory!r}: give the index itself (e.g. 'HNSW32'); "
                "the gallery maps record ids on its own"
            )


@dataclass(frozen=True)
class FaceIndexPolicy:
    """The gallery's index choice (defaults measured on 2 cores, see README).

    - ``exact_below``: galleries smaller than this are searched exactly (flat scan); from this
      size on the first of ``approximate`` whose estimated memory fits ``memory_budget_mb``
      (all of them over budget: the smallest) is built, trained on the gallery itself.
    - ``rerank``: the approximate index proposes this many candidates per query; their exact
      distances, from the stored float templates, decide the order.
    - ``retrain_factor``: an approximate index is rebuilt (and retrained) once the gallery holds
      this many times the templates it was trained on, or once a quarter of its entries are
      removed ones; a gallery that shrank below ``exact_below / 2`` goes back to exact search.
    - ``max_train``: training sees at most this many templates, drawn at random (seeded).
    - ``threads``: FAISS threads for batch searches and builds (0: FAISS's default, one per
      core); single queries run on ``single_query_threads`` (1 is fastest for small work).
    """

    exact_below: int = 20_000
    approximate: tuple[ApproximateIndex, ...] = field(
        default_factory=lambda: (
            ApproximateIndex("HNSW32,Flat", "efSearch=256"),
            ApproximateIndex("IVF16384_HNSW32,PQ32x4fs", "nprobe=256,quantizer_efSearch=512"),
        )
    )
    rerank: int = 256
    retrain_factor: float = 2.0
    max_train: int = 300_000
    memory_budget_mb: float | None = None
    threads: int = 0
    single_query_threads: int = 1

    def __post_init__(self) -> None:
        if self.exact_below < 0:
            raise ValueError("exact_below must be 0 or more (0: always approximate)")
        if not self.approximate:
            raise ValueError("give at least one approximate index type")
        if self.rerank < 1:
            raise ValueError("rerank must be at least 1")
        if self.retrain_factor <= 1.0:
            raise ValueError("retrain_factor must be above 1 (e.g. 2: retrain on doubling)")
        if self.max_train < 1_000:
            raise ValueError("max_train must be at least 1000")
        if self.memory_budget_mb is not None and self.memory_budget_mb <= 0:
            raise ValueError("memory_budget_mb must be positive, or None for no budget")
        if self.threads < 0 or self.single_query_threads < 0:
            raise ValueError("thread counts must be 0 (FAISS default) or more")

    @classmethod
    def exact(cls) -> FaceIndexPolicy:
        """Exact search at every size (the brute-force reference)."""
        return cls(exact_below=2**62)

    def to_json(self) -> dict[str, object]:
        return {
            "exact_below": self.exact_below,
            "approximate": [
                {"factory": a.factory, "search_params": a.search_params} for a in self.approximate
            ],
            "rerank": self.rerank,
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
            raise ValueError("policy 'approximate' must be a list of {factory, search_params}")
        kwargs = {k: v for k, v in data.items() if k != "approximate"}
        return cls(
            approximate=tuple(
                ApproximateIndex(str(a["factory"]), str(a.get("search_params", "")))
                for a in approximate
            ),
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
