"""``python -m benchmarks face``: our search beside face_recognition and numpy, on LFW plus
distractors."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks.__main__ import main
from benchmarks.face import (
    NumpyBruteForce,
    face_recognition_search,
    load_real_faces,
    make_workload,
)
from matcher.face import brute_force_search

PEOPLE = "25"  # the first 25 LFW people: about 150 photos, encoded once and cached


def run(*args: str) -> CliRunner:
    return CliRunner().invoke(main, ["face", *args], catch_exceptions=False)


def test_json_compares_the_three_methods_at_each_size(lfw: Path) -> None:
    result = run(
        "--sizes", "3000,1500", "--queries", "40", "--people", PEOPLE, "--lfw", str(lfw),
        "--baseline-seconds", "1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["size"] for r in rows] == [1500, 3000]
    for row in rows:
        assert {"size", "p50_ms", "p95_ms", "recall_at_1", "speedup_vs_face_recognition"} <= set(
            row
        )
        assert row["memory_mb"] >= 0
        assert row["index"]["mode"] == "exact"  # below the default threshold: exact
        assert row["recall_at_1"] == 1.0
        assert row["face_recognition"]["recall_at_1"] == row["numpy"]["recall_at_1"] == 1.0
        assert row["queries_real"] == 20 and row["queries_synthetic"] == 20
        assert 0 < row["p50_ms"] <= row["p95_ms"]
        assert row["speedup_vs_face_recognition"] > 1.0
        assert row["ours"]["rank1_lfw"] == row["rank1_lfw_exact"]


def test_the_approximate_index_is_measured_against_exact_search(lfw: Path) -> None:
    result = run(
        "--sizes", "4000", "--queries", "60", "--people", PEOPLE, "--lfw", str(lfw),
        "--exact-below", "1000", "--factory", "IVF16,Flat", "--search-params", "nprobe=4",
        "--rerank", "32", "--threads", "1", "--baseline-seconds", "1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["index"] | {"rss_added_mb": 0} == {
        "mode": "approximate",
        "factory": "IVF16,Flat",
        "search_params": "nprobe=4",
        "rerank": 32,
        "rss_added_mb": 0,
    }
    assert 0.5 < row["recall_at_1"] <= 1.0  # a quarter of the lists: good, not perfect
    assert row["ours"]["build_s"] > 0


def test_the_text_table_shows_the_methods_side_by_side(lfw: Path) -> None:
    result = run(
        "--sizes", "1000", "--queries", "20", "--people", PEOPLE, "--lfw", str(lfw),
        "--baseline-seconds", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for text in ("gallery 1,000", "ours", "face_recognition", "numpy", "recall@1", "faster"):
        assert text in result.stdout
    assert "two-level Gaussian" in result.stdout


def test_bad_sizes_and_missing_faces_are_reported(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["face", "--sizes", "10k"])
    assert result.exit_code == 2 and "10000,100000" in result.output
    result = run("--sizes", "100", "--lfw", str(tmp_path / "nowhere"))
    assert result.exit_code == 1 and "STATION_DATASETS" in result.output


def test_the_baselines_agree_with_the_oracle() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(0, 0.09, (5_000, 128)).astype(np.float32)
    queries = rng.normal(0, 0.09, (7, 128)).astype(np.float32)
    _, want = brute_force_search(vectors, np.arange(5_000), queries, 5)
    distances, rows = NumpyBruteForce(vectors).search(queries, 5)
    np.testing.assert_array_equal(rows, want)
    assert np.all(np.diff(distances, axis=1) >= 0)
    for query, expected in zip(queries, want, strict=True):
        np.testing.assert_array_equal(face_recognition_search(vectors, query, 5), expected)


def test_the_workload_puts_real_faces_where_their_probes_expect_them(lfw: Path) -> None:
    real = load_real_faces(lfw, people=int(PEOPLE))
    w = make_workload(2_000, real, queries=30, seed=0)
    assert w.vectors.shape == (2_000, 128) and w.queries.shape == (30, 128)
    assert w.real_queries == 15
    mated = w.real_truth >= 0
    assert mated.any()
    # a mated probe is nearer its own enrolled photo than a typical impostor is
    own = np.linalg.norm(
        w.vectors[w.real_truth[mated]] - w.queries[: w.real_queries][mated], axis=1
    )
    assert np.median(own) < 1.0  # SFace: genuine median 0.81, impostor 1.35 on LFW dev
    with pytest.raises(FileNotFoundError, match="STATION_DATASETS"):
        load_real_faces(lfw / "no-such-folder")
