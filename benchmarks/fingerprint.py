"""Speed of the fingerprint matcher: ``python -m benchmarks fingerprint [--json]``.

Prints extraction time per image, 1:1 comparisons per second on one core, and for galleries of
several sizes the 1:N latency, the search's rank-1 rate and the prefilter's hit rate against its
penetration rate.

Data: the real dev sets (``--datasets``, default the station's ``datasets_dir`` setting), in two
folds so that every set serves once as mates and once as distractor sources:

- fold A: impression 1 of each FVC2002 DB1_B and DB2_B finger is enrolled, impressions 2-8 are the
  probes (140); distractors are made from DB3_B and UPEK;
- fold B: the same with DB3_B and UPEK as mates (182 probes), distractors made from DB1_B and DB2_B.

Distractors are chimeras of two other fingers, warped, thinned and salted
(:mod:`benchmarks.fingerprint_distractors` says how); never copies of a probe's own finger.
Templates come from the fingerprint pipeline (:mod:`calibration.fingerprint_pipeline`), cached on
disk as for ``station calibrate fingerprint``; extraction time is measured on fresh extractions of
``--timed-images`` images.
"""

from __future__ import annotations

import json
import math
import resource
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.common import datasets_dir, datasets_option, parse_sizes
from benchmarks.fingerprint_distractors import make_distractors
from calibration.fingerprint_pipeline import extract_templates, read_gray
from calibration.sample_cache import default_cache_root
from matcher.fingerprint import extract, mcc
from matcher.fingerprint.index import FingerprintGallery, IndexPolicy
from matcher.fingerprint.template import FingerprintTemplate

SETS = {"fvc2002_b/DB1_B": 500, "fvc2002_b/DB2_B": 569, "fvc2002_b/DB3_B": 500, "upek": 500}
FOLDS = {
    "A": (("fvc2002_b/DB1_B", "fvc2002_b/DB2_B"), ("fvc2002_b/DB3_B", "upek")),
    "B": (("fvc2002_b/DB3_B", "upek"), ("fvc2002_b/DB1_B", "fvc2002_b/DB2_B")),
}
PENETRATIONS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.05)
Row = tuple[str, int, FingerprintTemplate]


def _images(root: Path) -> list[tuple[str, Path]]:
    return [
        (name, path)
        for name in SETS
        for path in sorted((root / "fingerprints" / name).glob("*_*.png"))
    ]


def load_templates(root: Path) -> dict[str, list[Row]]:
    """Every dev-set template by set, through the pipeline's cache."""
    images = _images(root)
    if not images:
        raise FileNotFoundError(
            f"no fingerprint images under {root}/fingerprints: set --datasets or STATION_DATASETS"
        )
    out: dict[str, list[Row]] = {name: [] for name in SETS}
    for name, dpi in SETS.items():
        paths = [path for set_name, path in images if set_name == name]
        templates = extract_templates(paths, dpi, workers=1, cache_root=default_cache_root())
        for path, template in zip(paths, templates, strict=True):
            finger, impression = path.stem.split("_")
            out[name].append((finger, int(impression), template))
    return out


def extraction_seconds(root: Path, count: int) -> list[float]:
    images = _images(root)
    picked = [images[i] for i in np.linspace(0, len(images) - 1, count).astype(int)]
    times = []
    for name, path in picked:
        gray = read_gray(path)
        started = time.perf_counter()
        extract.extract(gray, SETS[name])
        times.append(time.perf_counter() - started)
    return times


def one_to_one(rows: list[Row], pairs: int = 2000) -> dict[str, float]:
    """Preparation time per template and comparisons per second on one core."""
    started = time.perf_counter()
    prepared = [mcc.prepare(row[2]) for row in rows]
    prepare_seconds = (time.perf_counter() - started) / len(rows)
    expanded = [p.expand() for p in prepared]
    chosen = [(i, j) for i in range(len(rows)) for j in range(len(rows)) if i != j][:pairs]
    started = time.perf_counter()
    for i, j in chosen:
        mcc.similarity(expanded[i], prepared[j])
    return {
        "prepare_seconds_mean": prepare_seconds,
        "comparisons_per_second_per_core": len(chosen) / (time.perf_counter() - started),
    }


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_fold(
    data: dict[str, list[Row]],
    fold: str,
    sizes: list[int],
    queries: int,
    seed: int,
    policy: IndexPolicy | None = None,
) -> list[dict[str, Any]]:
    mate_sets, source_sets = FOLDS[fold]
    mates = [(f"{name}:{finger}", imp, t) for name in mate_sets for finger, imp, t in data[name]]
    enrolled = {key: t for key, imp, t in mates if imp == 1}
    probes = [(key, t) for key, imp, t in mates if imp != 1]
    rng = np.random.default_rng(seed)
    probes = [probes[i] for i in rng.permutation(len(probes))[:queries]]
    sources = [(f"{name}:{finger}", t) for name in source_sets for finger, _, t in data[name]]
    gallery = FingerprintGallery(policy or IndexPolicy())
    gallery.add_many({key: {0: t} for key, t in enrolled.items()})
    results = []
    made = 0
    for size in sorted(sizes):
        started = time.perf_counter()
        wanted = max(0, size - gallery.fingers)
        distractors = make_distractors(sources, wanted, seed=seed * 1_000_003 + made)
        gallery.add_many({f"d{made + i}": {0: t} for i, t in enumerate(distractors)})
        made += wanted
        build = time.perf_counter() - started
        ranks, latencies, first = [], [], []
        for key, template in probes:
            _, slots = gallery.prefilter(mcc.prepare(template), shortlist=gallery.fingers)
            keys = [entry[0] if entry else "" for entry in (gallery._slots[s] for s in slots)]
            ranks.append(keys.index(key) + 1 if key in keys else math.inf)
            started = time.perf_counter()
            found = gallery.search({0: template}, limit=1)
            latencies.append(time.perf_counter() - started)
            first.append(bool(found) and found[0].record_id == key)
        fingers = gallery.fingers
        results.append(
            {
                "fold": fold,
                "fingers": fingers,
                "cylinders": gallery.cylinders,
                "prefilter": gallery.kind,  # flat, ivf-pq or hamming
                "build_seconds": build,
                "max_rss_mb": _rss_mb(),
                "probes": len(probes),
                "shortlist": gallery.shortlist_size(),
                "search_seconds_p50": float(np.median(latencies)),
                "search_seconds_p95": float(np.percentile(latencies, 95)),
                "search_rank1": float(np.mean(first)),
                "prefilter_hit_rate": {
                    str(p): float(np.mean([r <= max(1, math.ceil(p * fingers)) for r in ranks]))
                    for p in PENETRATIONS
                },
                "prefilter_worst_rank": float(max(ranks)),
            }
        )
        print(_gallery_line(results[-1]), flush=True)
    return results


def _gallery_line(g: dict[str, Any]) -> str:
    hits = ", ".join(f"{float(p):.2%}: {h:.3f}" for p, h in g["prefilter_hit_rate"].items())
    return (
        f"fold {g['fold']} {g['fingers']:>7} fingers ({g['prefilter']}, built in "
        f"{g['build_seconds']:.0f} s, max RSS {g['max_rss_mb']:.0f} MB): search p50 "
        f"{g['search_seconds_p50']:.3f} s, p95 {g['search_seconds_p95']:.3f} s, shortlist "
        f"{g['shortlist']}, rank-1 {g['search_rank1']:.3f}; prefilter hit rate by penetration "
        f"{hits}; worst mate rank {g['prefilter_worst_rank']:.0f}"
    )


def run(
    root: Path,
    sizes: list[int],
    queries: int,
    folds: list[str],
    timed: int,
    seed: int = 0,
    policy: IndexPolicy | None = None,
) -> dict[str, Any]:
    data = load_templates(root)
    times = extraction_seconds(root, timed)
    result: dict[str, Any] = {
        "extraction_seconds_median": float(np.median(times)),
        "extraction_seconds_mean": float(np.mean(times)),
        "images_timed": len(times),
        **one_to_one(data["fvc2002_b/DB1_B"]),
    }
    print(
        f"extraction per image: median {result['extraction_seconds_median']:.3f} s "
        f"({len(times)} images); cylinders per template "
        f"{result['prepare_seconds_mean'] * 1000:.1f} ms; 1:1 comparisons per second on one "
        f"core: {result['comparisons_per_second_per_core']:.0f}",
        flush=True,
    )
    result["galleries"] = [
        g for fold in folds for g in run_fold(data, fold, sizes, queries, seed, policy)
    ]
    return result


@click.command()
@datasets_option
@click.option(
    "--sizes",
    default="1000,10000,100000",
    show_default=True,
    callback=parse_sizes,
    help="Gallery sizes in fingers.",
)
@click.option("--queries", default=200, show_default=True, help="Mated probes per fold at most.")
@click.option("--folds", default="A,B", show_default=True, help="Which folds to run (A, B or A,B).")
@click.option(
    "--timed-images", default=40, show_default=True, help="Images whose extraction is timed."
)
@click.option(
    "--prefilter",
    type=click.Choice(["hamming", "ivf"]),
    default="hamming",
    show_default=True,
    help="hamming: the default policy; ivf: IndexPolicy.ivf_pq() (flat, then IVF-PQ).",
)
@click.option("--json", "as_json", is_flag=True, help="Also print one JSON object at the end.")
def fingerprint(
    datasets: Path | None,
    sizes: list[int],
    queries: int,
    folds: str,
    timed_images: int,
    prefilter: str,
    as_json: bool,
) -> None:
    """1:N fingerprint search speed, rank-1 and the prefilter's hit rate on two folds of the dev
    sets with chimeric distractors; extraction time and 1:1 comparisons per second."""
    chosen = [f for f in folds.split(",") if f]
    unknown = set(chosen) - set(FOLDS)
    if unknown:
        raise click.BadParameter(f"unknown folds {sorted(unknown)}: use A, B or A,B")
    try:
        with mcc.single_threaded_blas():
            policy = IndexPolicy.ivf_pq() if prefilter == "ivf" else IndexPolicy()
            result = run(
                datasets_dir(datasets), sizes, queries, chosen, timed_images, policy=policy
            )
    except OSError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        print(json.dumps(result, indent=2))
