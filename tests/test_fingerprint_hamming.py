"""The default prefilter: exhaustive Hamming search on bit codes, re-scored on 8-bit descriptors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.fingerprint import mcc
from matcher.fingerprint.index import (
    FingerprintGallery,
    IndexPolicy,
    brute_force_neighbours,
    descriptors,
    vote,
)
from matcher.fingerprint.template import FingerprintTemplate
from tests.test_fingerprint_index import one_finger_gallery, perturbed, random_finger

HAMMING = IndexPolicy()


@pytest.fixture(scope="module")
def records() -> list[FingerprintTemplate]:
    rng = np.random.default_rng(21)
    return [random_finger(rng) for _ in range(120)]


@pytest.fixture(scope="module")
def gallery(records: list[FingerprintTemplate]) -> FingerprintGallery:
    g = one_finger_gallery(HAMMING, records)
    return g


def test_the_gallery_answers_with_bit_codes_from_its_first_finger(
    records: list[FingerprintTemplate], gallery: FingerprintGallery
) -> None:
    one = FingerprintGallery(HAMMING)
    assert one.kind == "flat"
    one.add("r0", {1: records[0]})
    assert one.kind == "hamming" and gallery.kind == "hamming"
    assert gallery.cylinders == sum(mcc.prepare(t).count for t in records)


def test_every_perturbed_mate_is_found_first(
    records: list[FingerprintTemplate], gallery: FingerprintGallery
) -> None:
    rng = np.random.default_rng(22)
    for i in range(0, 120, 8):
        found = gallery.search({1: perturbed(records[i], rng)}, limit=1)
        assert found[0].record_id == f"r{i}"


def test_rescored_similarities_are_the_descriptors_inner_products(
    records: list[FingerprintTemplate], gallery: FingerprintGallery
) -> None:
    probe = descriptors(mcc.prepare(records[5]))
    sims, ids = gallery._rescored_neighbours(probe, 16)
    assert (ids >= 0).all() and (np.diff(sims, axis=1) <= 1e-6).all()
    own = gallery._cylinders[gallery._records["r5"][1]]
    # a cylinder's best neighbour is itself, up to the 8-bit rounding of the stored descriptor
    assert np.isin(ids[:, 0], own).mean() > 0.9
    assert np.allclose(sims[:, 0], (probe * probe).sum(axis=1), atol=0.02)


def test_removed_records_never_return_and_the_policy_survives_save_and_load(
    records: list[FingerprintTemplate], tmp_path: Path
) -> None:
    g = one_finger_gallery(HAMMING, records[:40])
    rng = np.random.default_rng(23)
    probe = {1: perturbed(records[7], rng)}
    assert g.remove("r7")
    assert all(c.record_id != "r7" for c in g.search(probe, limit=40))
    g.save(tmp_path)
    loaded = FingerprintGallery.load(tmp_path)
    assert loaded.policy == HAMMING and loaded.kind == "hamming"
    assert loaded.search({1: perturbed(records[9], rng)}, limit=1)[0].record_id == "r9"


def test_the_codes_are_retrained_when_the_gallery_doubles(
    records: list[FingerprintTemplate],
) -> None:
    g = one_finger_gallery(HAMMING, records[:10])
    first = g._trained_on
    for i in range(10, 60):
        g.add(f"r{i}", {1: records[i]})
        assert g.cylinders <= HAMMING.retrain_factor * g._trained_on
    assert g._trained_on > first


def test_the_neighbours_kept_grow_with_the_gallery() -> None:
    policy = IndexPolicy()
    assert policy.neighbours(0) == policy.neighbours(700_000) == 256
    assert 900 <= policy.neighbours(3_500_000) <= 1100
    assert policy.neighbours(10**9) == policy.k_max
    assert IndexPolicy.ivf_pq().neighbours(10**9) == 32


def test_with_every_code_a_candidate_the_votes_are_the_brute_force_relative_votes(
    records: list[FingerprintTemplate],
) -> None:
    """The codes only choose candidates: when they choose all, what remains is exact (up to the
    8-bit rounding of the stored descriptors)."""
    policy = IndexPolicy(candidates_factor=10**6)
    g = one_finger_gallery(policy, records[:30])
    slots = sorted(g._prepared)
    base = np.concatenate([descriptors(g._prepared[s]) for s in slots])
    owner = np.concatenate([np.full(g._prepared[s].count, s) for s in slots]).astype(np.int64)
    rng = np.random.default_rng(24)
    for record in records[:5]:
        probe = mcc.prepare(perturbed(record, rng))
        votes, top = g.prefilter(probe, shortlist=5, k=64)
        sims, rows = brute_force_neighbours(descriptors(probe), base, 64)
        relative = np.maximum(sims - sims[:, -1:], 0).astype(np.float32)
        oracle = vote(relative, rows, owner, len(g._slots))
        expected = np.argsort(-oracle, kind="stable")[:5]
        assert top[0] == expected[0]
        np.testing.assert_allclose(votes, oracle[expected], atol=0.05 * probe.count)
