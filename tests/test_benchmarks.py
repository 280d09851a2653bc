"""The benchmarks live beside the packages, never inside them: ``python -m benchmarks``."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from benchmarks.__main__ import main
from benchmarks.dedup import _core_s, _searching, _where_cores_went
from benchmarks.prefilter import crop, distort
from benchmarks.shard_split import LAYOUTS, Pool, run_layouts
from matcher.fingerprint import mcc
from tests.test_fingerprint_index import random_finger

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("station", "drivers", "matcher", "calibration")


def test_every_benchmark_is_a_command_of_python_m_benchmarks() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    names = ("face", "fingerprint", "scanner", "liveness", "roll", "handover", "dedup", "prefilter")
    for name in names:
        assert name in result.output
    for name in names:
        help_text = CliRunner().invoke(main, [name, "--help"]).output
        assert "--datasets" in help_text and "--json" in help_text


def test_no_installed_package_imports_the_benchmarks() -> None:
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                offenders += [
                    f"{path.relative_to(ROOT)}: {n}"
                    for n in names
                    if n.split(".")[0] == "benchmarks"
                ]
    assert offenders == []


def test_the_fingerprint_bench_refuses_an_unknown_fold() -> None:
    result = CliRunner().invoke(main, ["fingerprint", "--folds", "A,C"])
    assert result.exit_code == 2 and "use A, B or A,B" in result.output


def test_a_distorted_copy_is_moved_but_still_the_same_finger_to_the_matcher() -> None:
    rng = np.random.default_rng(3)
    original = random_finger(rng, 45)
    stranger = random_finger(rng, 45)
    copy = distort(original, rng)
    assert copy.count == original.count  # pressed and dragged, not cut (all stay in frame)
    moved = np.hypot(copy.x - original.x, copy.y - original.y)
    assert np.median(moved) > 5
    same = mcc.similarity(mcc.prepare(copy), mcc.prepare(original))
    other = mcc.similarity(mcc.prepare(stranger), mcc.prepare(original))
    assert same > 0.1 > other


def test_a_partial_copy_keeps_only_the_minutiae_of_a_window_of_half_the_print() -> None:
    rng = np.random.default_rng(5)
    original = random_finger(rng, 60)
    part = crop(original, rng, share=0.5)
    assert 0.2 * original.count < part.count < 0.8 * original.count
    kept = {(round(float(x), 2), round(float(y), 2)) for x, y in zip(part.x, part.y, strict=True)}
    every = {
        (round(float(x), 2), round(float(y), 2))
        for x, y in zip(original.x, original.y, strict=True)
    }
    assert kept <= every
    area = np.ptp(part.x) * np.ptp(part.y)
    assert area <= 0.5 * np.ptp(original.x) * np.ptp(original.y) + 1e-6


def test_the_dedup_bench_reports_the_queues_share_of_each_shards_time_from_their_counters() -> None:
    before = [
        {"search_wall_s": 10.0, "search_cpu_s": 9.0},
        {"search_wall_s": 4.0, "search_cpu_s": 4.0},
    ]
    after = [
        {"search_wall_s": 28.0, "search_cpu_s": 27.0},  # 18 s searching, 18 on a core
        {"search_wall_s": 16.0, "search_cpu_s": 10.0},  # 12 s searching, 6 on a core
    ]
    figures = _searching(before, after, seconds=20.0, count=8)
    assert figures == {
        "shard_busy_max": 0.9,
        "shard_busy_min": 0.6,
        "shard_on_core": 0.8,  # 24 of 30 s
        "shard_core_s_per_enrolment": 3.0,  # 24 core seconds over 8 enrolments
    }


def test_the_dedup_bench_shares_the_queues_core_seconds_out_per_enrolment() -> None:
    spent = {"driver": 2.0, "shards": 30.0, "host": 40.0}
    assert _where_cores_went(spent, count=10) == {
        "driver_core_s_per_enrolment": 0.2,
        "shard_processes_core_s_per_enrolment": 3.0,
        "rest_core_s_per_enrolment": 0.8,  # what the host spent beyond both
    }
    # the host's clock ticks coarser than the processes' can leave it short: no negative rest
    short = _where_cores_went({"driver": 1.0, "shards": 9.0, "host": 9.9}, count=1)
    assert short["rest_core_s_per_enrolment"] == 0.0


def test_the_dedup_bench_reads_core_seconds_of_this_process_and_of_the_machine() -> None:
    before = _core_s([os.getpid()])
    ends = time.process_time() + 0.3
    while time.process_time() < ends:  # a third of a core second burnt here
        pass
    after = _core_s([os.getpid()])
    driver = after["driver"] - before["driver"]
    assert driver >= 0.25
    assert after["shards"] - before["shards"] == driver  # the same process, counted as a shard
    assert after["host"] - before["host"] >= driver - 0.05


def test_the_shard_split_bench_times_every_phase_of_every_shard_in_each_layout() -> None:
    rng = np.random.default_rng(3)
    pool = Pool.of([random_finger(rng) for _ in range(40)])
    rows = run_layouts(pool, persons=60, probes=1)
    assert [(r["layout"], r["shard"]) for r in rows] == [
        (name, shard) for name, _, at_once in LAYOUTS for shard in range(at_once)
    ]
    for row in rows:
        assert row["persons"] == 60
        assert row["votes_s"] > 0 and row["rerank_s"] > 0
        assert row["prepare_s"] + row["votes_s"] + row["rerank_s"] <= row["wall_s"] * 1.05
