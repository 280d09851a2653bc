"""Face search at scale: our gallery beside face_recognition's linear compare and numpy brute force.

    python -m benchmarks face [--sizes 10000,100000] [--queries 1000] [--json] ...

For each gallery size, on the same gallery and the same queries:

- **ours**: :class:`FaceGallery` with its policy (exact below ``exact_below``, above it an
  approximate FAISS index whose shortlist is re-ranked exactly from the float templates);
- **face_recognition**: ``face_recognition.face_distance(known, probe)`` over the whole gallery
  (the library's own linear compare, given one (n, 128) array, its fastest input), then the k
  smallest;
- **numpy**: brute force with a BLAS product (``|x|^2 - 2 x.q``, norms computed once) and
  ``argpartition``, in row chunks.

Data. Real: LFW dev templates (the face pipeline of :mod:`calibration.face_pipeline`, cached on
disk as for ``station calibrate face``); a seeded 20% of the people are held out; every other
person's first photo is enrolled and their other photos are mated probes; the held-out people's
photos are non-mated probes. Synthetic distractors fill the gallery up to its size: a two-level
Gaussian fitted to all the LFW templates (:mod:`benchmarks.synthetic_faces`: identity ~ N(mean,
between-person covariance), photo = identity + N(0, within-person covariance)); half the synthetic
queries are another photo of a gallery identity (mated), half are new identities.

Measured: p50 and p95 latency per query, single queries and in batches; throughput; recall@1 (the
top candidate is the exact nearest neighbour, from a float64 re-check of the numpy top 10); rank-1
identification of the real mated probes; build time; memory (the gallery's templates, ids and
index, as :meth:`FaceGallery.memory_bytes` counts them; the resident memory the build added is
reported beside it).
The linear baselines are timed on as many queries as fit in ``baseline_seconds`` (at least 5).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from benchmarks.common import datasets_dir, datasets_option, echo_json, parse_sizes
from benchmarks.synthetic_faces import TemplateModel
from calibration.defaults import CalibrationError
from calibration.face_pipeline import face_templates, list_people
from calibration.sample_cache import default_cache_root
from matcher.errors import MatcherError
from matcher.face.gallery import FaceGallery
from matcher.face.index_policy import ApproximateIndex, FaceIndexPolicy
from matcher.face.templates import TEMPLATE_DIM

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
ROW_CHUNK = 1 << 18  # gallery rows per numpy product


@dataclass(frozen=True)
class RealFaces:
    """LFW templates split into enrolled faces and probes (see the module docstring)."""

    enrolled: NDArray[np.float32]  # one per enrolled person
    probes: NDArray[np.float32]
    probe_person: NDArray[np.int64]  # row of ``enrolled`` of the probe's person, -1 if held out
    model: TemplateModel
    people: int
    photos: int


def load_real_faces(
    folder: Path,
    people: int | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    workers: int = 0,
    progress: Progress | None = None,
) -> RealFaces:
    """Templates of ``folder/<person>/*.jpg`` (the first ``people`` folders by name), split."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} is not a folder of per-person photo folders (LFW): set --datasets or STATION_DATASETS"
        )
    listed = list_people(folder)
    photos = {name: listed[name] for name in sorted(listed)[:people]}
    paths = [path for name in sorted(photos) for path in photos[name]]
    names = [name for name in sorted(photos) for _ in photos[name]]
    if progress:
        progress(f"real faces: {len(paths)} photos of {len(photos)} people in {folder}")
    vectors = face_templates(paths, workers=workers, cache_root=default_cache_root())
    kept = [n for n, v in enumerate(vectors) if v is not None]
    templates = np.stack([v for v in vectors if v is not None]).astype(np.float32)
    labels = [names[n] for n in kept]
    model = TemplateModel.fit(templates, labels)
    order = sorted(set(labels))
    rng = np.random.default_rng(seed)
    held_out = set(rng.permutation(order)[: round(holdout * len(order))].tolist())
    enrolled_rows: list[int] = []
    enrolled_of: dict[str, int] = {}
    probe_rows: list[int] = []
    probe_person: list[int] = []
    for row, name in enumerate(labels):
        if name not in held_out and name not in enrolled_of:
            enrolled_of[name] = len(enrolled_rows)
            enrolled_rows.append(row)
        else:
            probe_rows.append(row)
            probe_person.append(enrolled_of.get(name, -1))
    return RealFaces(
        enrolled=templates[enrolled_rows],
        probes=templates[probe_rows],
        probe_person=np.array(probe_person, np.int64),
        model=model,
        people=len(order),
        photos=len(paths),
    )


class NumpyBruteForce:
    """Exact search in numpy: squared norms once, then a BLAS product per chunk of rows."""

    def __init__(self, vectors: NDArray[np.float32]) -> None:
        self.vectors = vectors
        self.norms = np.einsum("ij,ij->i", vectors, vectors)

    def search(self, queries: NDArray[np.float32], k: int) -> tuple[NDArray[Any], NDArray[Any]]:
        """``(distances, rows)`` of the k nearest, nearest first."""
        best_d = np.full((queries.shape[0], 0), np.inf, np.float32)
        best_i = np.zeros((queries.shape[0], 0), np.int64)
        for start in range(0, self.vectors.shape[0], ROW_CHUNK):
            chunk = self.vectors[start : start + ROW_CHUNK]
            d = self.norms[start : start + chunk.shape[0]] - 2.0 * (queries @ chunk.T)
            take = min(k, d.shape[1])
            part = np.argpartition(d, take - 1, axis=1)[:, :take]
            best_d = np.concatenate([best_d, np.take_along_axis(d, part, axis=1)], axis=1)
            best_i = np.concatenate([best_i, part + start], axis=1)
        order = np.argsort(best_d, axis=1)[:, :k]
        squared = (
            np.take_along_axis(best_d, order, axis=1)
            + np.einsum("ij,ij->i", queries, queries)[:, None]
        )
        return np.sqrt(np.maximum(squared, 0.0)), np.take_along_axis(best_i, order, axis=1)


def face_recognition_search(
    known: NDArray[np.float32], query: NDArray[np.float32], k: int
) -> NDArray[np.int64]:
    """face_recognition's linear compare over the whole gallery, then the k nearest rows."""
    import face_recognition

    distances: NDArray[np.float32] = face_recognition.face_distance(known, query)
    top = np.argpartition(distances, min(k, distances.size) - 1)[:k]
    return top[np.argsort(distances[top])].astype(np.int64)


@dataclass(frozen=True)
class MethodResult:
    """Speed and accuracy of one search method at one gallery size."""

    build_s: float
    memory_mb: float
    p50_ms: float
    p95_ms: float
    batch_p50_ms: float | None
    batch_p95_ms: float | None
    throughput_qps: float
    recall_at_1: float
    rank1_lfw: float
    queries: int


@dataclass(frozen=True)
class SizeResult:
    """One gallery size: ours, face_recognition and numpy side by side."""

    size: int
    real_enrolled: int
    synthetic: int
    queries_real: int
    queries_synthetic: int
    ours: MethodResult
    face_recognition: MethodResult
    numpy: MethodResult
    index: dict[str, Any]
    recall_at_1_real: float
    recall_at_1_synthetic: float
    rank1_lfw_exact: float
    k: int
    notes: list[str] = field(default_factory=list)

    @property
    def speedup_vs_face_recognition(self) -> float:
        return self.face_recognition.p50_ms / self.ours.p50_ms

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        return {
            "size": self.size,
            "p50_ms": self.ours.p50_ms,
            "p95_ms": self.ours.p95_ms,
            "recall_at_1": self.ours.recall_at_1,
            "speedup_vs_face_recognition": self.speedup_vs_face_recognition,
            "memory_mb": self.ours.memory_mb,
            **{key: value for key, value in out.items() if key != "size"},
        }


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000.0
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def _timed(
    run: Callable[[int], NDArray[np.int64]], count: int, budget: float
) -> tuple[list[float], NDArray[np.int64]]:
    """Time ``run(i)`` for queries 0.., stopping after ``budget`` seconds (at least 5 queries)."""
    times, tops = [], []
    spent = 0.0
    for i in range(count):
        started = time.perf_counter()
        tops.append(run(i))
        times.append(time.perf_counter() - started)
        spent += times[-1]
        if spent > budget and i >= 4:
            break
    return times, np.stack(tops)


@dataclass(frozen=True)
class Workload:
    """One size's gallery and queries (real LFW probes first), with the exact answers."""

    vectors: NDArray[np.float32]
    queries: NDArray[np.float32]
    real_queries: int
    real_truth: NDArray[np.int64]  # gallery row of each real probe's own photo, -1 if none
    n_real: int
    exact_top: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


def make_workload(size: int, real: RealFaces, queries: int, seed: int) -> Workload:
    """Synthetic distractors then the real enrolled faces; half the queries LFW probes."""
    n_real = min(len(real.enrolled), size)
    n_synthetic = size - n_real
    vectors = np.empty((size, TEMPLATE_DIM), np.float32)
    real.model.gallery(n_synthetic, seed=seed, out=vectors[:n_synthetic])
    vectors[n_synthetic:] = real.enrolled[:n_real]  # person p is row n_synthetic + p
    rng = np.random.default_rng(seed + 1)
    usable = np.flatnonzero(real.probe_person < n_real)
    real_rows = rng.permutation(usable)[: queries // 2]
    person = real.probe_person[real_rows]
    n_syn_q = queries - real_rows.size
    parts = [real.probes[real_rows]]
    if n_synthetic and n_syn_q:
        mates = rng.choice(n_synthetic, n_syn_q // 2, replace=n_syn_q // 2 > n_synthetic)
        parts.append(real.model.mated(vectors[mates], seed=seed + 2))
        parts.append(real.model.gallery(n_syn_q - n_syn_q // 2, seed=seed + 3))
    return Workload(
        vectors=vectors,
        queries=np.ascontiguousarray(np.concatenate(parts), dtype=np.float32),
        real_queries=real_rows.size,
        real_truth=np.where(person >= 0, person + n_synthetic, -1),
        n_real=n_real,
    )


def _bench_numpy(w: Workload, k: int, batch: int, budget: float) -> tuple[MethodResult, Workload]:
    """numpy brute force; its batch answers, re-checked in float64, are the exact reference."""
    started = time.perf_counter()
    brute = NumpyBruteForce(w.vectors)
    build = time.perf_counter() - started
    n, depth = w.queries.shape[0], min(10, w.vectors.shape[0])
    batch_times = []
    rows = np.empty((n, depth), np.int64)
    for start in range(0, n, batch):
        started = time.perf_counter()
        _, found = brute.search(w.queries[start : start + batch], depth)
        batch_times.append((time.perf_counter() - started) / found.shape[0])
        rows[start : start + batch] = found
    w = dataclasses.replace(w, exact_top=_exact_first(w.vectors, w.queries, rows))
    # one BLAS thread for a single query, as ours: a helper thread waiting for a core that
    # another process holds costs a scheduler time slice (8 ms seen at 10k on the shared machine)
    with threadpool_limits(1, user_api="blas"):
        single, top = _timed(lambda i: brute.search(w.queries[i : i + 1], k)[1][0], n, budget)
    memory = (w.vectors.nbytes + brute.norms.nbytes) / 2**20
    return _method(w, build, memory, single, batch_times, top[:, 0]), w


def _bench_face_recognition(w: Workload, k: int, budget: float) -> MethodResult:
    import face_recognition  # noqa: F401  (loads dlib's models before timing)

    single, top = _timed(
        lambda i: face_recognition_search(w.vectors, w.queries[i], k), w.queries.shape[0], budget
    )
    return _method(w, 0.0, w.vectors.nbytes / 2**20, single, None, top[:, 0])


def _bench_ours(
    w: Workload, k: int, batch: int, policy: FaceIndexPolicy | None, say: Progress
) -> tuple[MethodResult, NDArray[np.int64], dict[str, Any]]:
    gc.collect()
    rss = _rss_mb()
    started = time.perf_counter()
    gallery = FaceGallery(policy)
    gallery.add(np.arange(w.vectors.shape[0], dtype=np.int64), w.vectors)
    build = time.perf_counter() - started
    rss_added = _rss_mb() - rss
    memory = gallery.memory_bytes() / 2**20
    described = gallery.describe() | {"rss_added_mb": rss_added}
    say(f"  our gallery: {described['mode']} {described['factory']}, built in {build:.1f} s")
    n = w.queries.shape[0]
    gallery.search(w.queries[:batch], k)  # warm up
    single, top = _timed(lambda i: gallery.search(w.queries[i : i + 1], k)[1][0], n, np.inf)
    batch_times = []
    for start in range(0, n, batch):
        started = time.perf_counter()
        _, found = gallery.search(w.queries[start : start + batch], k)
        batch_times.append((time.perf_counter() - started) / found.shape[0])
    return _method(w, build, memory, single, batch_times, top[:, 0]), top[:, 0], described


def bench_size(
    size: int,
    real: RealFaces,
    queries: int = 1000,
    k: int = 5,
    batch: int = 64,
    policy: FaceIndexPolicy | None = None,
    baseline_seconds: float = 20.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> SizeResult:
    """Build a gallery of ``size`` templates and measure the three methods on it."""
    say = progress or (lambda _: None)
    say(f"size {size:,}: drawing the gallery and queries")
    w = make_workload(size, real, queries, seed)
    n = w.queries.shape[0]
    say(f"size {size:,}: numpy brute force ({n} queries)")
    numpy_result, w = _bench_numpy(w, k, batch, baseline_seconds)
    say(f"size {size:,}: face_recognition.face_distance")
    fr_result = _bench_face_recognition(w, k, baseline_seconds)
    say(f"size {size:,}: our gallery")
    ours, top, described = _bench_ours(w, k, batch, policy, say)
    notes = []
    if fr_result.queries < n or numpy_result.queries < n:
        notes.append(
            f"single-query timings of the linear baselines on the first {fr_result.queries} "
            f"(face_recognition) and {numpy_result.queries} (numpy) of {n} queries "
            f"({baseline_seconds:g} s budget each); numpy batches on all"
        )
    agree = top == w.exact_top
    r = w.real_queries
    return SizeResult(
        size=size,
        real_enrolled=w.n_real,
        synthetic=size - w.n_real,
        queries_real=r,
        queries_synthetic=n - r,
        ours=ours,
        face_recognition=fr_result,
        numpy=numpy_result,
        index={
            key: described[key]
            for key in ("mode", "factory", "search_params", "rerank", "rss_added_mb")
        },
        recall_at_1_real=float(agree[:r].mean()) if r else float("nan"),
        recall_at_1_synthetic=float(agree[r:].mean()) if n > r else float("nan"),
        rank1_lfw_exact=_rank1(w.exact_top, w.real_truth),
        k=k,
        notes=notes,
    )


def _exact_first(
    vectors: NDArray[np.float32], queries: NDArray[np.float32], rows: NDArray[np.int64]
) -> NDArray[np.int64]:
    """The exact nearest row: the float32 top 10 re-checked in float64."""
    d = np.linalg.norm(vectors[rows].astype(np.float64) - queries[:, None, :], axis=2)
    best: NDArray[np.int64] = rows[np.arange(rows.shape[0]), np.argmin(d, axis=1)]
    return best


def _rank1(top: NDArray[np.int64], real_truth: NDArray[np.int64]) -> float:
    """Share of the real mated probes (among those answered) whose top candidate is their own
    enrolled photo."""
    n = min(top.size, real_truth.size)
    mated = real_truth[:n] >= 0
    if not mated.any():
        return float("nan")
    return float((top[:n][mated] == real_truth[:n][mated]).mean())


def _method(
    w: Workload,
    build_s: float,
    memory_mb: float,
    single: list[float],
    batches: list[float] | None,
    top: NDArray[np.int64],
) -> MethodResult:
    """A method's figures; recall over the queries it answered (the first ``top.size``), rank-1
    over all when those answers are exact search's (the linear baselines)."""
    p50, p95 = _percentiles(single)
    batch_p50, batch_p95 = _percentiles(batches) if batches else (None, None)
    throughput = 1.0 / float(np.mean(batches)) if batches else 1.0 / float(np.mean(single))
    n = top.size
    exact = bool((top == w.exact_top[:n]).all())  # then its rank-1 is exact search's, on all
    return MethodResult(
        build_s=build_s,
        memory_mb=memory_mb,
        p50_ms=p50,
        p95_ms=p95,
        batch_p50_ms=batch_p50,
        batch_p95_ms=batch_p95,
        throughput_qps=throughput,
        recall_at_1=float((top == w.exact_top[:n]).mean()),
        rank1_lfw=_rank1(w.exact_top if exact else top, w.real_truth),
        queries=n,
    )


def run_face_bench(
    sizes: Sequence[int],
    lfw_folder: Path,
    queries: int = 1000,
    k: int = 5,
    batch: int = 64,
    people: int | None = None,
    policy: FaceIndexPolicy | None = None,
    baseline_seconds: float = 20.0,
    seed: int = 0,
    workers: int = 0,
    progress: Progress | None = None,
) -> list[SizeResult]:
    """The benchmark at each size (smallest first), on LFW faces from ``lfw_folder``."""
    if not sizes or min(sizes) < 1:
        raise ValueError("give one or more gallery sizes of at least 1")
    if queries < 2:
        raise ValueError("give at least 2 queries")
    real = load_real_faces(lfw_folder, people=people, seed=seed, workers=workers, progress=progress)
    return [
        bench_size(
            size,
            real,
            queries=queries,
            k=k,
            batch=batch,
            policy=policy,
            baseline_seconds=baseline_seconds,
            seed=seed,
            progress=progress,
        )
        for size in sorted(sizes)
    ]


def _describe_index(index: dict[str, Any]) -> str:
    if index["mode"] == "exact":
        return "exact (flat scan)"
    return (
        f"{index['factory']} {index['search_params']}, exact re-rank of {index['rerank']}; "
        f"resident memory added {index['rss_added_mb']:.0f} MB"
    )


def format_table(results: Sequence[SizeResult]) -> str:
    """The results as a text table, one block per size."""
    lines = [
        "Synthetic distractors: two-level Gaussian fitted to the LFW templates "
        "(identity ~ N(mean, between-person cov), photo = identity + N(0, within-person cov)).",
        "recall@1: top candidate = exact nearest neighbour; rank-1 LFW: real mated probes "
        "whose top candidate is their own enrolled photo.",
    ]
    header = (
        f"{'method':<18}{'build s':>9}{'mem MB':>9}{'p50 ms':>9}{'p95 ms':>9}{'batch p50':>11}"
        f"{'batch p95':>11}{'q/s':>9}{'recall@1':>10}{'rank-1 LFW':>12}{'queries':>9}"
    )
    for r in results:
        lines += [
            "",
            f"gallery {r.size:,} ({r.synthetic:,} synthetic + {r.real_enrolled:,} LFW), "
            f"{r.queries_real + r.queries_synthetic} queries ({r.queries_real} LFW probes, "
            f"{r.queries_synthetic} synthetic), top {r.k}; ours: {_describe_index(r.index)}",
            header,
        ]
        for name, m in (
            ("ours", r.ours),
            ("face_recognition", r.face_recognition),
            ("numpy", r.numpy),
        ):
            batch_p50 = f"{m.batch_p50_ms:.3f}" if m.batch_p50_ms is not None else "-"
            batch_p95 = f"{m.batch_p95_ms:.3f}" if m.batch_p95_ms is not None else "-"
            lines.append(
                f"{name:<18}{m.build_s:>9.1f}{m.memory_mb:>9.0f}{m.p50_ms:>9.3f}{m.p95_ms:>9.3f}"
                f"{batch_p50:>11}{batch_p95:>11}{m.throughput_qps:>9.0f}{m.recall_at_1:>10.4f}"
                f"{m.rank1_lfw:>12.4f}{m.queries:>9}"
            )
        lines.append(
            f"ours vs face_recognition: {r.speedup_vs_face_recognition:.0f}x faster (p50); "
            f"recall@1 LFW probes {r.recall_at_1_real:.4f}, synthetic {r.recall_at_1_synthetic:.4f}"
        )
        lines += [f"note: {note}" for note in r.notes]
    return "\n".join(lines)


@click.command()
@click.option(
    "--sizes",
    default="10000,100000",
    show_default=True,
    callback=parse_sizes,
    help="Gallery sizes, comma-separated.",
)
@click.option(
    "--queries", default=1000, show_default=True, help="Queries: half LFW, half synthetic."
)
@click.option("--top-k", "k", default=5, show_default=True, help="Candidates per query.")
@click.option("--batch", default=64, show_default=True, help="Queries per batch search.")
@click.option("--people", type=int, help="Use the first N LFW people only (default: all).")
@datasets_option
@click.option(
    "--lfw",
    type=click.Path(file_okay=False, path_type=Path),
    help="LFW-layout folder of real faces. Default: <datasets>/faces/lfw_dev/images.",
)
@click.option("--exact-below", type=int, help="Policy: exact search below this gallery size.")
@click.option(
    "--factory", help="Policy: one approximate index for every size, a FAISS factory string."
)
@click.option("--search-params", help="Policy: FAISS search parameters, e.g. nprobe=512.")
@click.option("--rerank", type=int, help="Policy: candidates re-ranked exactly per query.")
@click.option("--threads", type=int, help="Policy: FAISS threads for batches and builds.")
@click.option(
    "--baseline-seconds",
    default=20.0,
    show_default=True,
    help="Time budget per size for the single-query timings of each linear baseline.",
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--workers", default=0, help="Processes encoding uncached LFW photos (default: one per core)."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per size.")
def face(
    sizes: list[int],
    queries: int,
    k: int,
    batch: int,
    people: int | None,
    datasets: Path | None,
    lfw: Path | None,
    exact_below: int | None,
    factory: str | None,
    search_params: str | None,
    rerank: int | None,
    threads: int | None,
    baseline_seconds: float,
    seed: int,
    workers: int,
    as_json: bool,
) -> None:
    """Our face search beside face_recognition's face_distance and numpy brute force.

    Galleries are LFW dev faces plus synthetic distractors drawn from a Gaussian fitted to LFW;
    LFW templates are encoded once and cached in ~/.cache/biometric-station/calibration.
    """
    try:
        policy = FaceIndexPolicy()
        if factory is not None or search_params is not None:
            first = policy.approximate[-1]
            chosen = ApproximateIndex(
                factory if factory is not None else first.factory,
                search_params if search_params is not None else first.search_params,
                first.rerank,
            )
            policy = dataclasses.replace(policy, approximate=(chosen,))
        if rerank is not None:
            types = tuple(dataclasses.replace(a, rerank=rerank) for a in policy.approximate)
            policy = dataclasses.replace(policy, approximate=types)
        changes: dict[str, Any] = {"exact_below": exact_below, "threads": threads}
        policy = dataclasses.replace(
            policy, **{name: value for name, value in changes.items() if value is not None}
        )
        folder = lfw or datasets_dir(datasets) / "faces" / "lfw_dev" / "images"
        results = run_face_bench(
            sizes,
            folder,
            queries=queries,
            k=k,
            batch=batch,
            people=people,
            policy=policy,
            baseline_seconds=baseline_seconds,
            seed=seed,
            workers=workers,
            progress=lambda message: click.echo(message, err=True),
        )
    except (ValueError, OSError, MatcherError, CalibrationError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        echo_json([r.to_json() for r in results])
    else:
        click.echo(format_table(results))
