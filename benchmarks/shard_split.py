"""``python -m benchmarks shard-split``: does a shard's fingerprint work halve on two shards?

The national fingerprint search of one enrolment (two fingers) on a compact gallery, in the
phases a shard runs (:class:`central.engine.shard.GalleryShard`): ``prepare`` (the probe's
fingers), ``votes`` (the Hamming scan of every cylinder code, and the vote) and ``rerank`` (the
shortlisted fingers prepared and scored by the 1:1 matcher: 100 a probe finger in all, half on
each of two shards). Timed on a core (``time.thread_time``), each shard in its own process, in
four layouts one after the other:

- the whole gallery on one shard alone;
- its two halves searching at once (what two shards give: the whole's wall time over theirs);
- one half alone (against the halves at once: what the two cores cost each other);
- the whole alone again (against the first row: how far the machine's speed drifted meanwhile).

No Ray and no driver: the shards' work alone. The gallery's fingers are distractors made from
UPEK prints as the dedup bench makes them (a pool of 1,000, reused); the first 1,000 persons carry
their fingers' real codes, the others random codes of as many cylinders (a scan costs the same
whatever the codes hold). Probes are distorted copies of pool fingers.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from benchmarks.common import datasets_dir, datasets_option, echo_json
from benchmarks.fingerprint_distractors import make_distractors, perturb
from matcher.fingerprint import FingerprintTemplate, mcc
from matcher.fingerprint.compact import CompactFingerprintGallery, CompactPolicy, FingerCodec

POOL = 1000  # distinct fingers; the gallery's persons reuse them, each with its own codes
SHORTLIST = 100
RIGHT_INDEX, LEFT_INDEX = 2, 7
LAYOUTS = (  # (name, shards, of which searching at once)
    ("whole, alone", 1, 1),
    ("halves, at once", 2, 2),
    ("half, alone", 2, 1),
    ("whole, alone again", 1, 1),
)


@dataclass(frozen=True)
class Pool:
    """The fingers the gallery is made of, as bytes (handed to the shards' processes)."""

    codec: bytes
    fingers: list[bytes]
    codes: list[bytes]

    @classmethod
    def of(cls, fingers: list[FingerprintTemplate]) -> Pool:
        codec = FingerCodec.train(fingers)
        return cls(
            codec.to_bytes(), [f.to_bytes() for f in fingers], [codec.code(f) for f in fingers]
        )


def build_shard(pool: Pool, persons: int, shards: int, index: int) -> CompactFingerprintGallery:
    """Shard ``index`` of ``shards`` of a gallery of ``persons``, two fingers each."""
    gallery = CompactFingerprintGallery(
        FingerCodec.from_bytes(pool.codec), CompactPolicy(shards=shards)
    )
    templates = [FingerprintTemplate.from_bytes(f) for f in pool.fingers]
    rng = np.random.default_rng(100 + index)
    mine = range(index, persons, shards)
    for start in range(0, len(mine), 20_000):
        records, codes = {}, {}
        for person in mine[start : start + 20_000]:
            right, left = (2 * person) % len(templates), (2 * person + 1) % len(templates)
            known = [pool.codes[right], pool.codes[left]]
            if person >= len(templates):
                known = [rng.bytes(len(c)) for c in known]
            records[str(person)] = {RIGHT_INDEX: templates[right], LEFT_INDEX: templates[left]}
            codes[str(person)] = {RIGHT_INDEX: known[0], LEFT_INDEX: known[1]}
        gallery.add_many(records, codes)
    return gallery


def probes_of(pool: Pool, count: int) -> list[dict[int, FingerprintTemplate]]:
    """``count`` enrolments of two fingers: distorted copies of pool fingers."""
    rng = np.random.default_rng(7)
    fingers = [FingerprintTemplate.from_bytes(f) for f in pool.fingers]
    return [
        {
            RIGHT_INDEX: perturb(fingers[(2 * i) % len(fingers)], rng),
            LEFT_INDEX: perturb(fingers[(2 * i + 1) % len(fingers)], rng),
        }
        for i in range(count)
    ]


def search_timed(
    gallery: CompactFingerprintGallery, probes: list[dict[int, FingerprintTemplate]], shards: int
) -> dict[str, float]:
    """Core seconds of each phase per enrolment, and wall seconds per enrolment."""
    spent = {"prepare_s": 0.0, "votes_s": 0.0, "rerank_s": 0.0}
    wall = time.perf_counter()
    for probe in probes:
        start = time.thread_time()
        prepared = {p: mcc.prepare(t) for p, t in probe.items()}
        expanded = {p: t.expand() for p, t in prepared.items()}
        prepared_at = time.thread_time()
        voted = gallery.votes(prepared, SHORTLIST)
        voted_at = time.thread_time()
        ours = {p: v.fingers[: math.ceil(len(v.fingers) / shards)] for p, v in voted.items()}
        gallery.rerank(expanded, ours, 10)
        spent["prepare_s"] += prepared_at - start
        spent["votes_s"] += voted_at - prepared_at
        spent["rerank_s"] += time.thread_time() - voted_at
    spent["wall_s"] = time.perf_counter() - wall
    return {phase: round(seconds / len(probes), 4) for phase, seconds in spent.items()}


def _shard_process(
    pool: Pool, persons: int, shards: int, index: int, probes: int, start: Any, out: Any
) -> None:
    """One shard: built, then searched once every shard of the layout is built."""
    gallery = build_shard(pool, persons, shards, index)
    searched = probes_of(pool, probes)
    start.wait()
    out.put((index, search_timed(gallery, searched, shards)))


def run_layout(
    pool: Pool, persons: int, probes: int, shards: int, at_once: int
) -> list[dict[str, Any]]:
    """Shards 0 to ``at_once`` - 1 of ``shards``, each in its own (fresh) process, searching at
    the same time; their figures by shard."""
    context = multiprocessing.get_context("spawn")  # no FAISS or OpenMP state carried over
    start, out = context.Barrier(at_once), context.Queue()
    processes = [
        context.Process(target=_shard_process, args=(pool, persons, shards, i, probes, start, out))
        for i in range(at_once)
    ]
    for process in processes:
        process.start()
    try:
        answers = sorted(out.get(timeout=24 * 3600) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    return [{"shard": index, **figures} for index, figures in answers]


def run_layouts(pool: Pool, persons: int, probes: int) -> list[dict[str, Any]]:
    return [
        {"layout": name, "persons": persons, **row}
        for name, shards, at_once in LAYOUTS
        for row in run_layout(pool, persons, probes, shards, at_once)
    ]


@click.command("shard-split")
@datasets_option
@click.option("--persons", default=100_000, show_default=True, help="persons, two fingers each")
@click.option("--probes", default=12, show_default=True, help="enrolments searched per layout")
@click.option("--json", "as_json", is_flag=True, help="print the rows as JSON")
def shard_split(datasets: Path | None, persons: int, probes: int, as_json: bool) -> None:
    """A shard's fingerprint search work: whole, halved on two at once, halved alone, whole."""
    from benchmarks.dedup import _fingers

    sources = [
        (label, t)
        for label, ts in _fingers(datasets_dir(datasets), "upek", 500).items()
        for t in ts
    ]
    rows = run_layouts(Pool.of(make_distractors(sources, POOL, seed=1)), persons, probes)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['layout']:18} shard {row['shard']}: prepare {row['prepare_s']:.3f}, votes "
            f"{row['votes_s']:.3f}, rerank {row['rerank_s']:.3f} core s an enrolment; "
            f"wall {row['wall_s']:.3f} s"
        )
    whole = [r["wall_s"] for r in rows if r["layout"].startswith("whole")]
    halves = max(r["wall_s"] for r in rows if r["layout"] == "halves, at once")
    click.echo(
        f"two shards at once: {min(whole) / halves:.2f}-{max(whole) / halves:.2f}x one "
        "shard's throughput (against the first and the last whole row)"
    )
