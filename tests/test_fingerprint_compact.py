"""The compact fingerprint gallery of the national shards: codes trained once and shared, one
Hamming index per finger position, templates prepared when shortlisted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matcher.errors import MatcherError
from matcher.fingerprint import FingerprintTemplate
from matcher.fingerprint.compact import CompactFingerprintGallery, CompactPolicy, FingerCodec
from matcher.fingerprint.index import FingerprintGallery
from tests.test_fingerprint_index import perturbed, random_finger

RIGHT_INDEX, LEFT_INDEX = 2, 7


@pytest.fixture(scope="module")
def enrolled() -> dict[str, dict[int, FingerprintTemplate]]:
    rng = np.random.default_rng(11)
    return {
        f"r{n}": {RIGHT_INDEX: random_finger(rng), LEFT_INDEX: random_finger(rng)}
        for n in range(300)
    }


@pytest.fixture(scope="module")
def codec(enrolled: dict[str, dict[int, FingerprintTemplate]]) -> FingerCodec:
    return FingerCodec.train(t for fingers in enrolled.values() for t in fingers.values())


@pytest.fixture(scope="module")
def codes(
    codec: FingerCodec, enrolled: dict[str, dict[int, FingerprintTemplate]]
) -> dict[str, dict[int, bytes]]:
    """The enrolled fingers' codes, made once: a gallery given them prepares nothing."""
    return {
        record: {position: codec.code(t) for position, t in fingers.items()}
        for record, fingers in enrolled.items()
    }


@pytest.fixture()
def compact(
    codec: FingerCodec,
    enrolled: dict[str, dict[int, FingerprintTemplate]],
    codes: dict[str, dict[int, bytes]],
) -> CompactFingerprintGallery:
    gallery = CompactFingerprintGallery(codec)
    gallery.add_many(enrolled, codes)
    return gallery


@pytest.fixture(scope="module")
def full(enrolled: dict[str, dict[int, FingerprintTemplate]]) -> FingerprintGallery:
    """The same records in the full gallery (searched only, never changed)."""
    gallery = FingerprintGallery()
    gallery.add_many(enrolled)
    return gallery


def test_a_distorted_second_impression_finds_its_record_first_as_the_full_gallery_does(
    compact: CompactFingerprintGallery,
    full: FingerprintGallery,
    enrolled: dict[str, dict[int, FingerprintTemplate]],
) -> None:
    rng = np.random.default_rng(3)
    for record in ("r5", "r77", "r250"):
        probe = {p: perturbed(t, rng) for p, t in enrolled[record].items()}
        found = compact.search(probe, limit=3)
        assert found[0].record_id == record
        assert found[0].score == pytest.approx(full.search(probe, limit=1)[0].score)
        assert set(found[0].finger_scores) == {RIGHT_INDEX, LEFT_INDEX}


def test_a_finger_is_searched_only_among_fingers_of_its_position_and_of_unknown_ones(
    codec: FingerCodec, enrolled: dict[str, dict[int, FingerprintTemplate]]
) -> None:
    gallery = CompactFingerprintGallery(codec)
    finger = enrolled["r9"][RIGHT_INDEX]
    gallery.add_many({"as-left": {LEFT_INDEX: finger}})
    rng = np.random.default_rng(4)
    probe = perturbed(finger, rng)
    assert gallery.search({RIGHT_INDEX: probe}) == []
    assert gallery.search({LEFT_INDEX: probe})[0].record_id == "as-left"
    assert gallery.search({0: probe})[0].record_id == "as-left"  # unknown: every position
    gallery.add_many({"unknown": {0: finger}})
    assert [c.record_id for c in gallery.search({RIGHT_INDEX: probe})] == ["unknown"]


def test_removed_and_replaced_records_are_never_returned_with_their_old_fingers(
    compact: CompactFingerprintGallery, enrolled: dict[str, dict[int, FingerprintTemplate]]
) -> None:
    rng = np.random.default_rng(5)
    probe = {RIGHT_INDEX: perturbed(enrolled["r12"][RIGHT_INDEX], rng)}
    assert compact.remove("r12") and not compact.remove("r12")
    assert all(c.record_id != "r12" for c in compact.search(probe))
    assert len(compact) == 299 and compact.fingers == 598
    compact.add_many({"r13": {RIGHT_INDEX: enrolled["r12"][RIGHT_INDEX]}})  # replaced
    assert compact.search(probe)[0].record_id == "r13"
    assert list(compact.prepared_of("r13")) == [RIGHT_INDEX]
    assert compact.prepared_of("r12") == {}


def test_the_codec_travels_as_bytes_and_codes_the_same() -> None:
    rng = np.random.default_rng(6)
    fingers = [random_finger(rng) for _ in range(40)]
    codec = FingerCodec.train(fingers)
    again = FingerCodec.from_bytes(codec.to_bytes())
    from matcher.fingerprint import mcc
    from matcher.fingerprint.index import descriptors

    desc = descriptors(mcc.prepare(fingers[0]))
    assert again.bits == 256
    assert np.array_equal(again.encode(desc), codec.encode(desc))
    with pytest.raises(MatcherError, match="at least 256 cylinders"):
        FingerCodec.train(fingers[:2])


def test_when_removed_fingers_outnumber_the_living_their_codes_are_dropped_and_search_holds(
    compact: CompactFingerprintGallery, enrolled: dict[str, dict[int, FingerprintTemplate]]
) -> None:
    kept = {f"r{n}" for n in range(0, 300, 3)}
    before = {record: compact.codes_of(record) for record in kept}
    cylinders = compact.cylinders
    for record in enrolled:
        if record not in kept:
            compact.remove(record)
    assert compact.cylinders < 0.6 * cylinders  # rebuilt, not only disowned
    assert {record: compact.codes_of(record) for record in kept} == before
    rng = np.random.default_rng(8)
    for record in ("r0", "r150", "r297"):
        probe = {p: perturbed(t, rng) for p, t in enrolled[record].items()}
        assert compact.search(probe, limit=1)[0].record_id == record
    compact.add_many({"new": {LEFT_INDEX: enrolled["r1"][LEFT_INDEX]}})
    probe = {LEFT_INDEX: perturbed(enrolled["r1"][LEFT_INDEX], rng)}
    assert compact.search(probe, limit=1)[0].record_id == "new"


def test_shards_share_out_the_neighbours_one_gallery_of_them_all_would_keep() -> None:
    whole = CompactPolicy()
    for cylinders in (10_000, 4_000_000, 50_000_000):  # the floor, the rule, the cap
        for shards in (2, 4):
            share = CompactPolicy(shards=shards).neighbours(cylinders // shards)
            assert share == math.ceil(whole.neighbours(cylinders) / shards)


def test_a_small_print_re_ranks_a_longer_shortlist_in_proportion_up_to_a_cap() -> None:
    policy = CompactPolicy(small_print=24, small_print_factor=4.0)
    assert policy.shortlist_for(100, 40) == 100  # a full print keeps the shortlist
    assert policy.shortlist_for(100, 12) == 200
    assert policy.shortlist_for(100, 3) == 400 == policy.shortlist_for(100, 0)
    assert CompactPolicy(small_print_factor=1.0).shortlist_for(100, 3) == 100


def test_a_probe_finger_of_few_cylinders_has_more_fingers_scored_than_a_full_one(
    compact: CompactFingerprintGallery, enrolled: dict[str, dict[int, FingerprintTemplate]]
) -> None:
    full = enrolled["r5"][RIGHT_INDEX]
    centre = np.argsort(np.hypot(full.x - full.x.mean(), full.y - full.y.mean()))[:14]
    small = FingerprintTemplate.from_columns(
        full.x[centre],
        full.y[centre],
        full.direction[centre],
        full.kind[centre],
        full.minutia_quality[centre],
        width=full.width,
        height=full.height,
        quality=full.quality,
    )
    scored_full = compact.search({RIGHT_INDEX: full}, shortlist=20, limit=1000)
    scored_small = compact.search({RIGHT_INDEX: small}, shortlist=20, limit=1000)
    assert len(scored_full) == 20
    assert 20 < len(scored_small) <= compact.policy.shortlist_for(20, 14)
    assert scored_small[0].record_id == "r5"


def test_shards_votes_merge_into_the_best_voted_of_all_as_many_as_the_shortlist_holds() -> None:
    from matcher.fingerprint.compact import Shortlisted, Voted, merge_votes

    first = {
        RIGHT_INDEX: Shortlisted(3, [Voted(9.0, "4", 2), Voted(5.0, "2", 2), Voted(1.0, "6", 0)])
    }
    second = {
        RIGHT_INDEX: Shortlisted(3, [Voted(7.0, "1", 2), Voted(5.0, "1", 0), Voted(4.0, "3", 2)]),
        LEFT_INDEX: Shortlisted(2, [Voted(2.0, "5", 7)]),
    }
    merged = merge_votes([first, second])
    assert [(v.record_id, v.position) for v in merged[RIGHT_INDEX]] == [
        ("4", 2),
        ("1", 2),
        ("1", 0),
    ]
    assert [v.record_id for v in merged[LEFT_INDEX]] == ["5"]  # fewer got a vote
    # equal votes: the smaller record id first, whichever shard answered first
    tie = {RIGHT_INDEX: Shortlisted(1, [Voted(5.0, "2", 2)])}
    assert merge_votes([tie, second])[RIGHT_INDEX][0].record_id == "1"
    assert merge_votes([second, tie])[RIGHT_INDEX][0].record_id == "1"


def test_votes_then_rerank_find_the_record_with_the_full_gallerys_score(
    compact: CompactFingerprintGallery,
    full: FingerprintGallery,
    enrolled: dict[str, dict[int, FingerprintTemplate]],
) -> None:
    from matcher.fingerprint import mcc

    rng = np.random.default_rng(9)
    probe = {p: perturbed(t, rng) for p, t in enrolled["r40"].items()}
    prepared = {p: mcc.prepare(t) for p, t in probe.items()}
    voted = compact.votes(prepared)
    for position, shortlisted in voted.items():
        assert shortlisted.size == 100 and 0 < len(shortlisted.fingers) <= 100
        assert [v.votes for v in shortlisted.fingers] == sorted(
            (v.votes for v in shortlisted.fingers), reverse=True
        )
        assert {v.position for v in shortlisted.fingers} <= {position, 0}  # its own or unknown
    expanded = {p: t.expand() for p, t in prepared.items()}
    found = compact.rerank(expanded, {p: v.fingers for p, v in voted.items()}, 5)
    assert found[0].record_id == "r40"
    assert found[0].score == pytest.approx(full.search(probe, limit=1)[0].score)
    only_others = {p: [f for f in s.fingers if f.record_id != "r40"] for p, s in voted.items()}
    assert "r40" not in {c.record_id for c in compact.rerank(expanded, only_others, 5)}
