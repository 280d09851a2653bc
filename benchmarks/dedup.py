"""``python -m benchmarks dedup`` (also ``central bench dedup``): national de-duplication timed.

A synthetic national gallery of N persons (a face and two fingers each) on W shards (Ray actors on
a local Ray with W CPUs): faces drawn from a two-level Gaussian fitted on real LFW dev templates
(benchmarks/synthetic_faces.py), fingers made from UPEK prints as the fingerprint bench makes its
distractors (benchmarks/fingerprint_distractors.py). Planted in it: persons whose face is a real
LFW photo and whose two fingers are real impressions of FVC2002 DB1_B and DB2_B fingers.
Probes, decided as ``central dedup`` decides them (:func:`central.dedup.judge`):

- planted duplicates: the same people again, another photo and the next impressions; recall is
  the share held with the planted person among the candidates;
- unique enrolments: LFW people not in the gallery with real DB3_B fingers nobody enrolled; a false
  hold is one of them reaching the threshold.

The probes are judged twice: one at a time (p50/p95: an enrolment's latency when nothing else is
queued) and as ``central dedup`` works its queue, the next enrolment's search queued on the shards
while one is decided (enrolments per hour: the queue's count over its wall time; the two passes
must hold the same candidates). Every worker count's galleries stay loaded side by side in one
Ray, and their queue passes take turns ``--rounds`` times, so that the machine's drift falls on
each count alike; the queue's core seconds are shared out between the shards, the driver and the
rest of the machine.

The real sets are small: 20 DB1_B/DB2_B fingers make 10 finger pairs, each planted with four
impression pairs (1-2, 3-4, 5-6, 7-8; the later ones distorted and partial), so at most 40 planted
persons, and recall and false holds are coarse at that; the times are what the sizes measure.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.common import datasets_dir, datasets_option, echo_json, parse_sizes
from benchmarks.fingerprint_distractors import make_distractors
from benchmarks.synthetic_faces import TemplateModel
from calibration.face_pipeline import face_templates, list_people
from calibration.fingerprint_pipeline import extract_templates, list_impressions
from calibration.sample_cache import default_cache_root
from central.engine.shard import GalleryShard, PersonTemplates
from matcher.fingerprint import FingerprintTemplate
from matcher.fusion import FACE_MODELS, FusionParams, dedup_params

PLANTED_BASE = 10_000_000  # person ids of the planted persons; distractors below
RIGHT_INDEX, LEFT_INDEX = 2, 7


def _fingers(data: Path, name: str, dpi: float) -> dict[str, list[FingerprintTemplate]]:
    """Finger label -> its impressions in order, extracted (cached)."""
    listed = list_impressions(data / "fingerprints" / name)
    templates = extract_templates(
        [p for _, _, p in listed], dpi, workers=1, cache_root=default_cache_root()
    )
    out: dict[str, list[FingerprintTemplate]] = {}
    for (finger, _, _), template in zip(listed, templates, strict=True):
        out.setdefault(f"{name}:{finger}", []).append(template)
    return out


def _faces(data: Path, people: int) -> tuple[list[list[np.ndarray]], TemplateModel]:
    """The first two photos' templates of ``people`` LFW dev people with two photos or more,
    and the face model fitted on all their photos' templates."""
    listed = list_people(data / "faces" / "lfw_dev" / "images")
    chosen = [name for name in sorted(listed) if len(listed[name]) >= 2][:people]
    paths = [p for name in chosen for p in listed[name][:4]]
    labels = [name for name in chosen for _ in listed[name][:4]]
    vectors = face_templates(paths, workers=1, cache_root=default_cache_root())
    by_person: dict[str, list[np.ndarray]] = {}
    kept, kept_labels = [], []
    for label, vector in zip(labels, vectors, strict=True):
        if vector is not None:
            by_person.setdefault(label, []).append(np.asarray(vector, np.float32))
            kept.append(vector)
            kept_labels.append(label)
    model = TemplateModel.fit(np.stack(kept), kept_labels)
    return [v for v in by_person.values() if len(v) >= 2], model


def _build(
    persons: list[PersonTemplates],
    workers: int,
    index: str,
    stored: dict[int, dict[int, bytes]],
    codec: bytes | None,
) -> tuple[Any, float]:
    """The national galleries of ``persons`` on ``workers`` shards, timed. Compact shards load
    the codes in ``stored`` (as from the register, codec given) and add the ones they make to it,
    as :func:`central.engine.loader.store_codes` keeps them."""
    from central.engine.national import NationalGallery, train_codec

    def loader(shard: int, shards: int) -> Iterator[PersonTemplates]:
        return (
            replace(p, codes=stored.get(p.person_id, {}))
            for p in persons
            if p.person_id % shards == shard
        )

    started = time.perf_counter()
    if index == "compact" and codec is None:
        codec = train_codec(loader(0, 1))
    national = NationalGallery(workers, loader, codec=codec, on_codes=stored.update)
    return national, time.perf_counter() - started


Decisions = list[tuple[list[dict[str, Any]], float]]  # per probe: (likely, seconds)


def _held(decisions: Decisions) -> list[list[int]]:
    return [sorted(int(c["person"]) for c in likely) for likely, _ in decisions]


def _one_at_a_time(
    national: Any, probes: list[PersonTemplates], params: FusionParams, size: int
) -> Decisions:
    """Each probe judged alone (:func:`central.dedup.judge`), timed: an enrolment's latency
    when nothing else is queued."""
    from central.dedup import judge

    batch = GalleryShard(0, 1)
    out: Decisions = []
    for probe in probes:
        started = time.perf_counter()
        likely, _ = judge(national, batch, probe, params, size)
        out.append((likely, time.perf_counter() - started))
    return out


def _as_a_queue(
    national: Any, probes: list[PersonTemplates], params: FusionParams, size: int
) -> Decisions:
    """The probes judged as ``central dedup`` works its queue (:func:`central.dedup.judged`:
    the next enrolment's search queued on the shards while one is decided); each one's
    seconds from its search starting."""
    from central.dedup import judged

    batch = GalleryShard(0, 1)  # probes are never registered: the planted must stay findable
    return [(j.likely, j.seconds) for j in judged(national, batch, probes, params, lambda: size)]


def _searching(
    before: list[dict[str, Any]], after: list[dict[str, Any]], seconds: float, count: int
) -> dict[str, float]:
    """Where the queue's time went on the shards: the share of its wall time the busiest and
    the idlest shard spent searching, the share of that searching spent on a core (below 1:
    the node's cores were contended), and the shards' core seconds per enrolment in all (more
    than with fewer shards: work each shard repeats, or a slower core)."""

    def spent(key: str) -> list[float]:
        return [float(a[key]) - float(b[key]) for b, a in zip(before, after, strict=True)]

    wall, cpu = spent("search_wall_s"), spent("search_cpu_s")
    return {
        "shard_busy_max": round(max(wall) / seconds, 3),
        "shard_busy_min": round(min(wall) / seconds, 3),
        "shard_on_core": round(sum(cpu) / max(sum(wall), 1e-9), 3),
        "shard_core_s_per_enrolment": round(sum(cpu) / count, 4),
    }


def _process_core_s(pid: int) -> float:
    """The core seconds process ``pid`` has used, all its threads (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _host_core_s() -> float:
    """The core seconds the whole machine has been busy (Linux's /proc/stat: all but idle and
    iowait)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


CORE_KEYS = ("driver", "shards", "host")


def _core_s(shard_pids: list[int]) -> dict[str, float]:
    """Core seconds so far: this driver's process, the shards' processes (every thread:
    their searches and Ray's own in them), and the whole machine."""
    return {
        "driver": _process_core_s(os.getpid()),
        "shards": sum(_process_core_s(pid) for pid in shard_pids),
        "host": _host_core_s(),
    }


def _where_cores_went(spent_s: dict[str, float], count: int) -> dict[str, float]:
    """Core seconds per enrolment of the queue, from ``spent_s`` over ``count`` enrolments
    (:func:`_core_s`'s keys): the driver's, the shards' processes' and the rest of the
    machine's (Ray's raylet and GCS, anything else running)."""
    spent = {key: value / count for key, value in spent_s.items()}
    return {
        "driver_core_s_per_enrolment": round(spent["driver"], 4),
        "shard_processes_core_s_per_enrolment": round(spent["shards"], 4),
        "rest_core_s_per_enrolment": round(
            max(0.0, spent["host"] - spent["driver"] - spent["shards"]), 4
        ),
    }


@dataclass
class _Queued:
    """One worker count's galleries and what its queue passes measured, summed over rounds."""

    workers: int
    national: Any
    build_s: float
    built_from: str
    alone: Decisions
    before: list[dict[str, Any]]  # the shards' describe() before the first pass
    queue: Decisions = field(default_factory=list)  # the last pass's
    passes_per_hour: list[int] = field(default_factory=list)
    seconds: float = 0.0
    count: int = 0
    cores: dict[str, float] = field(default_factory=lambda: dict.fromkeys(CORE_KEYS, 0.0))

    def pass_once(self, probes: list[PersonTemplates], params: FusionParams, size: int) -> None:
        """One pass of the probes as a queue, its time and core seconds added."""
        pids = [int(s["pid"]) for s in self.before]
        cores = _core_s(pids)
        started = time.perf_counter()
        queue = _as_a_queue(self.national, probes, params, size)
        seconds = time.perf_counter() - started
        after = _core_s(pids)
        if _held(self.alone) != _held(queue):
            raise click.ClickException("the queue decided otherwise than one at a time")
        for key in CORE_KEYS:
            self.cores[key] += after[key] - cores[key]
        self.queue = queue
        self.seconds += seconds
        self.count += len(queue)
        self.passes_per_hour.append(round(3600 * len(queue) / seconds))


def _measure_size(
    gallery: list[PersonTemplates],
    planted: list[tuple[PersonTemplates, PersonTemplates]],
    uniques: list[PersonTemplates],
    size: int,
    worker_counts: list[int],
    rounds: int,
    index: str,
    as_json: bool,
) -> list[dict[str, Any]]:
    """The rows of one gallery size. Every worker count's galleries are built in turn (the
    first from the templates, the later ones from the codes it made, as a restarted centre
    loads them) and kept side by side in one Ray; then the queue passes take turns, ``rounds``
    times over, so that the machine's drift falls on every worker count alike."""
    import ray

    probes = [probe for _, probe in planted] + uniques
    params = dedup_params(FusionParams(face=FACE_MODELS["sface"]))
    stored: dict[int, dict[int, bytes]] = {}
    codec = None
    runs: list[_Queued] = []
    ray.init(num_cpus=max(worker_counts), include_dashboard=False, log_to_driver=False)
    try:
        for workers in worker_counts:  # in the order given
            built_from = "stored codes" if stored else "templates"
            national, build_s = _build(gallery, workers, index, stored, codec)
            codec = national.codec
            alone = _one_at_a_time(national, probes, params, size)
            runs.append(_Queued(workers, national, build_s, built_from, alone, national.describe()))
        for _ in range(rounds):
            for run in runs:
                run.pass_once(probes, params, size)
        described = [run.national.describe() for run in runs]
        for run in runs:
            run.national.close()
    finally:
        ray.shutdown()
    rows = []
    for run, shards in zip(runs, described, strict=True):
        seconds = [s for _, s in run.alone]
        found = sum(
            any(c["person"] == enrolled.person_id for c in likely)
            for (enrolled, _), (likely, _) in zip(planted, run.queue, strict=False)
        )
        holds = sum(bool(likely) for likely, _ in run.queue[len(planted) :])
        ordered = sorted(seconds)
        rows.append(
            {
                "persons": size,
                "workers": run.workers,
                "finger_index": index,
                "enrolments_per_hour": round(3600 * run.count / run.seconds),
                "queue_passes_per_hour": run.passes_per_hour,
                "one_at_a_time_per_hour": round(3600 / (sum(seconds) / len(seconds))),
                "p50_s": round(ordered[len(ordered) // 2], 4),
                "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 4),
                "queued_p50_s": round(sorted(s for _, s in run.queue)[len(run.queue) // 2], 4),
                "recall": round(found / len(planted), 4),
                "planted": len(planted),
                "false_holds_per_1000": round(1000 * holds / len(uniques), 1),
                "unique_probes": len(uniques),
                "build_s": round(run.build_s, 1),
                "built_from": run.built_from,
                "memory_mb_per_shard": round(max(float(s["rss_mb"]) for s in shards), 1),
                **_searching(run.before, shards, run.seconds, run.count),
                **_where_cores_went(run.cores, run.count),
                "driver_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
        click.echo(rows[-1], err=as_json)
    return rows


@click.command()
@datasets_option
@click.option("--persons", "sizes", default="1000,10000", show_default=True, callback=parse_sizes)
@click.option("--workers", "worker_counts", default="1,2", show_default=True, callback=parse_sizes)
@click.option(
    "--planted",
    "planted_count",
    type=click.IntRange(1, 40),
    default=40,
    show_default=True,
    help="Planted duplicates: up to 40 (10 finger pairs of DB1_B/DB2_B x 4 impression pairs).",
)
@click.option("--unique", type=click.IntRange(1, 200), default=40, show_default=True)
@click.option(
    "--rounds",
    type=click.IntRange(1, 20),
    default=2,
    show_default=True,
    help="Queue passes per worker count, taking turns with the other counts' (the machine's "
    "drift then falls on each alike).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--index",
    type=click.Choice(["compact", "full"]),
    default="compact",
    show_default=True,
    help="The shards' finger galleries: compact (codes and templates, about 1.5 KB a finger) "
    "or full (prepared cylinders and 8-bit descriptors, about 30 KB a finger).",
)
@click.option("--json", "as_json", is_flag=True)
def dedup(
    datasets: Path | None,
    sizes: list[int],
    worker_counts: list[int],
    planted_count: int,
    unique: int,
    rounds: int,
    seed: int,
    index: str,
    as_json: bool,
) -> None:
    """Enrolments de-duplicated per hour against N persons on W workers, recall, false holds."""
    data = datasets_dir(datasets)
    mates = {**_fingers(data, "fvc2002_b/DB1_B", 500), **_fingers(data, "fvc2002_b/DB2_B", 569)}
    loners = _fingers(data, "fvc2002_b/DB3_B", 500)
    sources = [(label, t) for label, ts in _fingers(data, "upek", 500).items() for t in ts]
    faces, model = _faces(data, planted_count + unique + 40)
    mate_labels = sorted(mates)
    pairs = len(mate_labels) // 2

    def impressions(n: int) -> tuple[PersonTemplates, PersonTemplates]:
        """Planted person ``n``: finger pair ``n mod pairs``, enrolled with impression
        2 (n // pairs) and probed with the next one (FVC2002 impressions 3-8 are the
        distorted and partial ones)."""
        right, left = mates[mate_labels[2 * (n % pairs)]], mates[mate_labels[2 * (n % pairs) + 1]]
        first = 2 * (n // pairs)
        enrolled, probe = [
            {RIGHT_INDEX: right[i].to_bytes(), LEFT_INDEX: left[i].to_bytes()}
            for i in (first, first + 1)
        ]
        return (
            PersonTemplates(PLANTED_BASE + n, faces[n][0], enrolled),
            PersonTemplates(-1, faces[n][1], probe),
        )

    planted = [impressions(n) for n in range(min(planted_count, 4 * pairs, len(faces)))]
    loner_labels = sorted(loners)
    uniques = [
        PersonTemplates(
            -1,
            faces[len(planted) + n][0],
            {
                RIGHT_INDEX: loners[loner_labels[(2 * n) % len(loner_labels)]][n % 8].to_bytes(),
                LEFT_INDEX: loners[loner_labels[(2 * n + 1) % len(loner_labels)]][n % 8].to_bytes(),
            },
        )
        for n in range(min(unique, len(faces) - len(planted)))
    ]
    rows: list[dict[str, Any]] = []
    biggest = max(sizes)
    distractor_faces = model.gallery(biggest, seed=seed)
    distractor_fingers = make_distractors(sources, 2 * biggest, seed=seed)
    distractors = [
        PersonTemplates(
            i,
            distractor_faces[i],
            {
                RIGHT_INDEX: distractor_fingers[2 * i].to_bytes(),
                LEFT_INDEX: distractor_fingers[2 * i + 1].to_bytes(),
            },
        )
        for i in range(biggest)
    ]
    for size in sorted(sizes):
        gallery = [p for p, _ in planted] + distractors[: max(0, size - len(planted))]
        rows.extend(
            _measure_size(gallery, planted, uniques, size, worker_counts, rounds, index, as_json)
        )
    if as_json:
        echo_json(rows)
