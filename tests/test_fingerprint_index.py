"""1:N: the FAISS prefilter against its brute-force oracle, search, fusion, add/remove, save/load."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from matcher.errors import TemplateError
from matcher.fingerprint import mcc
from matcher.fingerprint.index import (
    FingerprintGallery,
    IndexPolicy,
    brute_force_neighbours,
    descriptors,
    vote,
)
from matcher.fingerprint.template import FingerprintTemplate


def random_finger(rng: np.random.Generator, n: int = 40) -> FingerprintTemplate:
    """A synthetic minutia set spread like a real print (300x300 at 500 dpi)."""
    return FingerprintTemplate.from_columns(
        rng.uniform(40, 260, n),
        rng.uniform(40, 260, n),
        rng.uniform(0, 2 * math.pi, n),
        rng.integers(1, 3, n),
        rng.integers(40, 100, n),
        width=300,
        height=300,
    )


def perturbed(t: FingerprintTemplate, rng: np.random.Generator) -> FingerprintTemplate:
    """The same finger seen again: rotated, shifted, jittered, 15% of its minutiae lost."""
    angle = rng.uniform(-0.3, 0.3)
    c, s = math.cos(angle), math.sin(angle)
    dx, dy = t.x - 150, t.y - 150
    x = 150 + c * dx + s * dy + rng.normal(0, 1.5, t.count) + rng.uniform(-15, 15)
    y = 150 - s * dx + c * dy + rng.normal(0, 1.5, t.count) + rng.uniform(-15, 15)
    keep = (rng.random(t.count) > 0.15) & (x >= 0) & (x < 300) & (y >= 0) & (y < 300)
    return FingerprintTemplate.from_columns(
        x[keep],
        y[keep],
        t.direction[keep] + angle + rng.normal(0, 0.05, t.count)[keep],
        t.kind[keep],
        t.minutia_quality[keep],
        width=300,
        height=300,
    )


def one_finger_gallery(
    policy: IndexPolicy, templates: list[FingerprintTemplate]
) -> FingerprintGallery:
    """Records r0, r1, ... with one finger (position 1) each."""
    g = FingerprintGallery(policy)
    g.add_many({f"r{i}": {1: t} for i, t in enumerate(templates)})
    return g


@pytest.fixture(scope="module")
def gallery() -> tuple[FingerprintGallery, list[dict[int, FingerprintTemplate]]]:
    rng = np.random.default_rng(7)
    records = [{2: random_finger(rng), 7: random_finger(rng)} for _ in range(60)]
    g = FingerprintGallery()
    for i, fingers in enumerate(records):
        g.add(f"r{i}", fingers)
    return g, records


def test_the_exact_float_prefilter_agrees_with_brute_force(gallery: tuple) -> None:
    _, records = gallery
    g = FingerprintGallery(IndexPolicy.ivf_pq())
    for i, fingers in enumerate(records):
        g.add(f"r{i}", fingers)
    assert g.kind == "flat"
    rng = np.random.default_rng(1)
    slots = sorted(g._prepared)
    base = np.concatenate([descriptors(g._prepared[s]) for s in slots])
    owner = np.concatenate([np.full(g._prepared[s].count, s) for s in slots]).astype(np.int64)
    for record in records[:10]:
        probe = mcc.prepare(perturbed(record[2], rng))
        votes, top = g.prefilter(probe, shortlist=10, k=32)
        sims, rows = brute_force_neighbours(descriptors(probe), base, 32)
        oracle = vote(sims, rows, owner, len(g._slots))
        expected = np.argsort(-oracle, kind="stable")[:10]
        np.testing.assert_allclose(votes, oracle[expected], rtol=1e-4)
        assert set(top[:5].tolist()) == set(expected[:5].tolist())


def test_a_perturbed_finger_finds_its_record_first(gallery: tuple) -> None:
    g, records = gallery
    rng = np.random.default_rng(2)
    for i in range(0, 60, 6):
        found = g.search({2: perturbed(records[i][2], rng)}, limit=3)
        assert found[0].record_id == f"r{i}"
        assert found[0].score > 2 * (found[1].score if len(found) > 1 else 0.0)


def test_two_fingers_fuse_into_a_higher_margin_than_one(gallery: tuple) -> None:
    g, records = gallery
    rng = np.random.default_rng(3)
    probe = {2: perturbed(records[5][2], rng), 7: perturbed(records[5][7], rng)}
    found = g.search(probe, limit=2)
    assert found[0].record_id == "r5"
    assert set(found[0].finger_scores) == {2, 7}


def test_removed_records_are_never_returned_and_re_adding_works(gallery: tuple) -> None:
    g, records = gallery
    rng = np.random.default_rng(4)
    probe = {2: perturbed(records[11][2], rng)}
    assert g.remove("r11") and not g.remove("r11")
    assert all(c.record_id != "r11" for c in g.search(probe, limit=60))
    g.add("r11", records[11])
    assert g.search(probe, limit=1)[0].record_id == "r11"


def test_a_saved_gallery_loads_with_the_same_answers(gallery: tuple, tmp_path: Path) -> None:
    g, records = gallery
    g.save(tmp_path)
    loaded = FingerprintGallery.load(tmp_path)
    assert sorted(loaded.records()) == sorted(g.records())
    rng = np.random.default_rng(5)
    probe = {7: perturbed(records[20][7], rng)}
    a, b = g.search(probe, limit=5), loaded.search(probe, limit=5)
    assert [c.record_id for c in a] == [c.record_id for c in b]
    np.testing.assert_allclose([c.score for c in a], [c.score for c in b])


def test_a_gallery_of_another_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gallery.json").write_text('{"format": "other", "version": 1}')
    (tmp_path / "templates.bin").write_bytes(b"")
    with pytest.raises(TemplateError):
        FingerprintGallery.load(tmp_path)


def test_a_finger_without_usable_minutiae_can_be_enrolled_and_searched() -> None:
    empty = FingerprintTemplate.from_columns([], [], [], [], [], width=300, height=300)
    g = FingerprintGallery()
    g.add("blank", {1: empty})
    g.add("real", {1: random_finger(np.random.default_rng(9))})
    assert g.search({1: empty}) == []
    assert g.search({1: g._prepared[1].template})[0].record_id == "real"
