"""1:N past the exact size: the approximate (IVF-PQ) index, its retraining, and the distractors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks.fingerprint_distractors import chimera, make_distractors, perturb
from matcher.fingerprint.index import FingerprintGallery, IndexPolicy
from matcher.fingerprint.template import FingerprintTemplate
from tests.test_fingerprint_index import one_finger_gallery, perturbed, random_finger

SMALL = IndexPolicy.ivf_pq(exact_below=3000, training_sample=20_000, cylinders_per_list=40)


@pytest.fixture(scope="module")
def records() -> list[FingerprintTemplate]:
    rng = np.random.default_rng(11)
    return [random_finger(rng) for _ in range(200)]


@pytest.fixture(scope="module")
def approximate(records: list[FingerprintTemplate]) -> FingerprintGallery:
    g = one_finger_gallery(SMALL, records)
    return g


def test_a_small_gallery_is_searched_exactly_and_a_large_one_approximately(
    records: list[FingerprintTemplate], approximate: FingerprintGallery
) -> None:
    small = one_finger_gallery(SMALL, records[:20])
    assert small.exact and small.cylinders < SMALL.exact_below
    assert not approximate.exact and approximate.cylinders >= SMALL.exact_below


def test_the_approximate_index_still_finds_every_mate_first(
    records: list[FingerprintTemplate], approximate: FingerprintGallery
) -> None:
    rng = np.random.default_rng(12)
    for i in range(0, 200, 10):
        found = approximate.search({1: perturbed(records[i], rng)}, limit=1)
        assert found[0].record_id == f"r{i}"


def test_the_index_is_retrained_when_it_outgrows_its_training_set(
    records: list[FingerprintTemplate],
) -> None:
    g = one_finger_gallery(SMALL, records[:80])
    trained = g._trained_on
    assert not g.exact and trained >= SMALL.exact_below
    rng = np.random.default_rng(13)
    for i in range(80, 200):
        g.add(f"r{i}", {1: records[i]})
        assert g.cylinders <= SMALL.retrain_factor * g._trained_on
    assert g._trained_on > trained
    assert g.search({1: perturbed(records[190], rng)}, limit=1)[0].record_id == "r190"


def test_records_removed_from_the_approximate_index_never_return(
    records: list[FingerprintTemplate], tmp_path: Path
) -> None:
    g = one_finger_gallery(SMALL, records)
    rng = np.random.default_rng(14)
    probe = {1: perturbed(records[33], rng)}
    assert g.remove("r33")
    assert all(c.record_id != "r33" for c in g.search(probe, limit=200))
    g.save(tmp_path)
    loaded = FingerprintGallery.load(tmp_path)
    assert loaded.policy == SMALL and not loaded.exact
    assert sorted(loaded.records()) == sorted(g.records())


def test_distractors_are_new_fingers_not_copies_of_their_sources(
    records: list[FingerprintTemplate],
) -> None:
    from matcher.fingerprint import mcc

    sources = [(f"f{i}", t) for i, t in enumerate(records[:10])]
    made = make_distractors(sources, 30, seed=1)
    assert len(made) == 30
    np.testing.assert_array_equal(make_distractors(sources, 3, seed=1)[0].x, made[0].x)
    source_forms = [mcc.prepare(t) for _, t in sources]
    for distractor in made[:10]:
        prepared = mcc.prepare(distractor)
        best = max(mcc.similarity(prepared, s) for s in source_forms)
        assert best < 0.5  # a chimera is half of two fingers, turned: no source matches it whole
    with pytest.raises(ValueError):
        make_distractors(sources[:1], 1)


def test_a_perturbed_copy_stays_inside_the_image_and_keeps_most_minutiae(
    records: list[FingerprintTemplate],
) -> None:
    rng = np.random.default_rng(15)
    for t in records[:20]:
        p = perturb(t, rng)
        assert 0.5 * t.count <= p.count <= 1.2 * t.count
        assert np.all((p.x >= 0) & (p.x < t.width) & (p.y >= 0) & (p.y < t.height))
        c = chimera(t, records[-1], rng)
        assert 0 < c.count <= t.count + records[-1].count
        assert np.all(np.abs(c.direction) <= 2 * math.pi)
