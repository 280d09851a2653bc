"""The FAISS face gallery agrees with the numpy brute-force oracle and keeps its ids straight:
exactly below the policy's size threshold, approximately (with exact re-rank) above it."""

import dataclasses
import json
from pathlib import Path

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.synthetic_faces import TemplateModel
from matcher.errors import TemplateError
from matcher.face import FaceGallery, brute_force_search
from matcher.face.gallery import GalleryError, _IdMap
from matcher.face.index_policy import (
    ApproximateIndex,
    FaceIndexPolicy,
    float_store_bytes,
    index_bytes,
)


def random_templates(rng: np.random.Generator, n: int) -> np.ndarray:
    """Vectors spread like dlib templates: entries around 0 with spread ~0.09, norm near 1."""
    return rng.normal(0.0, 0.09, size=(n, 128)).astype(np.float32)


def assert_same_search(
    gallery: FaceGallery, vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int
) -> None:
    got_d, got_ids = gallery.search(queries, k)
    want_d, want_ids = brute_force_search(vectors, ids, queries, k)
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_allclose(got_d, want_d, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_search_agrees_with_the_oracle_on_random_galleries(seed: int) -> None:
    rng = np.random.default_rng(seed)
    vectors = random_templates(rng, 500)
    ids = rng.choice(10**9, size=500, replace=False).astype(np.int64)
    gallery = FaceGallery()
    gallery.add(ids, vectors)
    queries = np.concatenate(
        [vectors[:20] + rng.normal(0, 0.02, (20, 128)), random_templates(rng, 20)]
    )
    assert_same_search(gallery, vectors, ids, queries.astype(np.float32), k=10)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=60),
    k=st.integers(min_value=1, max_value=80),
    removed=st.sets(st.integers(min_value=0, max_value=59), max_size=30),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_search_agrees_with_the_oracle_after_any_removals(
    n: int, k: int, removed: set[int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    vectors = random_templates(rng, n)
    ids = np.arange(n, dtype=np.int64) * 7 + 3
    gallery = FaceGallery()
    gallery.add(ids, vectors)
    gone = [i for i in removed if i < n]
    assert gallery.remove(ids[gone]) == len(gone)
    keep = np.setdiff1d(np.arange(n), gone)
    assert len(gallery) == keep.size
    queries = random_templates(rng, 5)
    assert_same_search(gallery, vectors[keep], ids[keep], queries, k)


def test_search_agrees_with_the_oracle_on_real_templates(
    lfw_templates: tuple[np.ndarray, list[str]],
) -> None:
    vectors, _ = lfw_templates
    ids = np.arange(len(vectors), dtype=np.int64)
    gallery = FaceGallery()
    gallery.add(ids[10:], vectors[10:])
    assert_same_search(gallery, vectors[10:], ids[10:], vectors[:10], k=5)


def test_missing_neighbours_are_minus_one_at_infinite_distance() -> None:
    gallery = FaceGallery()
    vectors = np.zeros((2, 128), np.float32)
    vectors[1, 0] = 0.1
    gallery.add([4, 9], vectors)
    distances, ids = gallery.search(np.zeros((1, 128), np.float32), 4)
    assert ids.tolist() == [[4, 9, -1, -1]]
    assert np.isinf(distances[0, 2:]).all()
    assert gallery.search_one(np.zeros(128, np.float32), 4)[1].record_id == 9


def test_an_id_can_only_be_added_once() -> None:
    gallery = FaceGallery()
    gallery.add_one(1, np.zeros(128, np.float32))
    with pytest.raises(GalleryError, match="already in the gallery"):
        gallery.add_one(1, np.ones(128, np.float32))
    assert len(gallery) == 1


def test_bad_templates_are_refused_at_the_boundary() -> None:
    gallery = FaceGallery()
    with pytest.raises(TemplateError, match="128"):
        gallery.add([1], np.zeros((1, 64), np.float32))
    with pytest.raises(TemplateError, match="NaN"):
        gallery.add([1], np.full((1, 128), np.nan, np.float32))
    assert len(gallery) == 0


def test_save_and_load_give_the_same_answers(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    vectors = random_templates(rng, 300)
    ids = np.arange(1000, 1300, dtype=np.int64)
    gallery = FaceGallery()
    gallery.add(ids, vectors)
    gallery.remove(ids[:50])
    gallery.save(tmp_path)
    loaded = FaceGallery.load(tmp_path)
    assert len(loaded) == 250
    assert 1000 not in loaded and 1299 in loaded
    queries = random_templates(rng, 10)
    for got, want in zip(loaded.search(queries, 5), gallery.search(queries, 5), strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_damaged_gallery_file_is_reported(tmp_path: Path) -> None:
    gallery = FaceGallery()
    gallery.add_one(1, np.zeros(128, np.float32))
    gallery.save(tmp_path)
    (tmp_path / "face.templates.npy").write_bytes(b"not templates")
    with pytest.raises(GalleryError, match="cannot read the gallery"):
        FaceGallery.load(tmp_path)
    (tmp_path / "face.json").write_text("{")
    with pytest.raises(GalleryError, match="cannot read gallery metadata"):
        FaceGallery.load(tmp_path)


def test_small_galleries_are_exact_and_say_so() -> None:
    gallery = FaceGallery()
    gallery.add(np.arange(100), random_templates(np.random.default_rng(0), 100))
    assert gallery.mode == "exact"
    assert gallery.describe()["factory"] == "Flat"


def test_a_format_1_gallery_still_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors, ids = random_templates(rng, 50), np.arange(10, 60, dtype=np.int64)
    index = faiss.index_factory(128, "IDMap2,Flat")
    index.add_with_ids(vectors, ids)
    faiss.write_index(index, str(tmp_path / "face.faiss"))
    meta = {"format_version": 1, "factory": "IDMap2,Flat", "dim": 128, "size": 50}
    (tmp_path / "face.json").write_text(json.dumps(meta))
    loaded = FaceGallery.load(tmp_path)
    assert_same_search(loaded, vectors, ids, random_templates(rng, 5), k=7)


# -- approximate mode --------------------------------------------------------------------------


def face_like_model() -> TemplateModel:
    """A two-level Gaussian with a decaying spectrum and LFW-like distances (impostor ~0.8,
    genuine ~0.45), so tests need no encoded photos."""
    rng = np.random.default_rng(42)
    basis, _ = np.linalg.qr(rng.normal(size=(128, 128)))
    spectrum = np.exp(-np.arange(128) / 20.0)
    between = (basis * (spectrum * 0.18 / spectrum.sum())) @ basis.T
    within = (basis * (spectrum * 0.10 / spectrum.sum())) @ basis.T
    return TemplateModel(mean=rng.normal(0, 0.1, 128), between=between, within=within)


MODEL = face_like_model()
IVF = FaceIndexPolicy(
    exact_below=1_000,
    approximate=(ApproximateIndex("IVF32,PQ32x4fs", "nprobe=24", rerank=128),),
    threads=1,
)
HNSW = FaceIndexPolicy(
    exact_below=1_000,
    approximate=(ApproximateIndex("HNSW16", "efSearch=64", rerank=64),),
    threads=1,
)


def synthetic_gallery(policy: FaceIndexPolicy, n: int) -> tuple[FaceGallery, np.ndarray]:
    vectors = MODEL.gallery(n, seed=n)
    gallery = FaceGallery(policy)
    gallery.add(np.arange(n) * 3 + 1, vectors)
    return gallery, vectors


def queries_for(vectors: np.ndarray, n: int) -> np.ndarray:
    """Half mated probes (another photo of a gallery identity), half new identities."""
    rng = np.random.default_rng(n)
    mated = MODEL.mated(vectors[rng.choice(len(vectors), n // 2, replace=False)])
    return np.concatenate([mated, MODEL.gallery(n - n // 2, seed=999)])


def test_the_model_draws_templates_with_face_like_distances() -> None:
    vectors = MODEL.gallery(4_000, seed=1)
    impostor = np.linalg.norm(vectors[:2000] - vectors[2000:], axis=1)
    genuine = np.linalg.norm(vectors[:2000] - MODEL.mated(vectors[:2000]), axis=1)
    assert 0.7 < np.median(impostor) < 0.9
    assert 0.35 < np.median(genuine) < 0.55


def test_fitting_the_model_recovers_its_parameters() -> None:
    people = MODEL.gallery(5_000, seed=2)  # photos of 5000 people, then another photo of each
    photos = np.concatenate([people, MODEL.mated(people, seed=3)])
    fitted = TemplateModel.fit(photos, list(range(5_000)) * 2)
    assert np.trace(fitted.within) == pytest.approx(np.trace(MODEL.within), rel=0.1)
    assert np.trace(fitted.between) == pytest.approx(np.trace(MODEL.between), rel=0.2)


@pytest.mark.parametrize("policy", [IVF, HNSW], ids=["ivf-pq", "hnsw"])
def test_approximate_search_finds_the_exact_nearest_neighbour(policy: FaceIndexPolicy) -> None:
    gallery, vectors = synthetic_gallery(policy, 4_000)
    assert gallery.mode == "approximate"
    ids = np.arange(4_000) * 3 + 1
    queries = queries_for(vectors, 300)
    got_d, got_ids = gallery.search(queries, 5)
    want_d, want_ids = brute_force_search(vectors, ids, queries, 5)
    agree = got_ids[:, 0] == want_ids[:, 0]
    assert agree.mean() >= 0.97
    # distances are always exact: re-ranked from the stored float templates
    true = np.linalg.norm(vectors[(got_ids - 1) // 3] - queries[:, None, :], axis=2)
    np.testing.assert_allclose(got_d, true, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_d[agree, 0], want_d[agree, 0], rtol=1e-4)


def test_the_gallery_becomes_approximate_at_the_threshold_and_retrains_on_growth() -> None:
    gallery, _ = synthetic_gallery(IVF, 999)
    assert gallery.mode == "exact"
    gallery.add_one(10**6, MODEL.gallery(1, seed=7)[0])
    assert gallery.mode == "approximate"
    described = gallery.describe()
    assert (described["factory"], described["trained_size"], described["builds"]) == (
        "IVF32,PQ32x4fs",
        1_000,
        1,
    )
    more = MODEL.gallery(1_000, seed=8)
    gallery.add(np.arange(10**7, 10**7 + 999), more[:999])  # 1999: below 2 x 1000
    assert gallery.describe()["builds"] == 1
    gallery.add_one(2 * 10**7, more[999])  # 2000: retrained on the grown gallery
    assert (gallery.describe()["builds"], gallery.describe()["trained_size"]) == (2, 2_000)


def test_adds_and_removes_are_incremental_and_removed_ids_never_come_back() -> None:
    gallery, vectors = synthetic_gallery(IVF, 3_000)
    ids = np.arange(3_000) * 3 + 1
    gone = ids[::7]  # 429 of 3000: below the quarter that triggers a compaction
    assert gallery.remove(gone) == gone.size
    assert gallery.remove(gone) == 0
    new = MODEL.gallery(200, seed=77)
    gallery.add(np.arange(200) + 50_000, new)
    assert gallery.describe()["builds"] == 1  # no rebuild
    assert len(gallery) == 3_000 - gone.size + 200
    assert not np.isin(gone, gallery.ids()).any()
    # the removed templates themselves, as probes, find everything but themselves
    _, found = gallery.search(vectors[::7], 20)
    assert not np.isin(found, gone).any()
    # the new ones are found at distance 0
    d, found = gallery.search(new[:20], 1)
    assert found[:, 0].tolist() == list(range(50_000, 50_020))
    assert np.allclose(d[:, 0], 0.0, atol=1e-3)
    # an id can come back after removal, with a new template
    gallery.add_one(int(gone[0]), new[0] + 0.01)
    assert int(gone[0]) in gallery


def test_many_removals_compact_the_index_and_a_small_gallery_goes_back_to_exact() -> None:
    gallery, vectors = synthetic_gallery(IVF, 3_000)
    ids = np.arange(3_000) * 3 + 1
    gallery.remove(ids[:1_000])  # a third removed: compacted
    assert gallery.describe()["builds"] == 2
    assert gallery.describe()["slots"] == 2_000
    gallery.remove(ids[1_000:2_600])  # 400 left, below half the threshold: exact again
    assert gallery.mode == "exact"
    queries = queries_for(vectors, 20)
    assert_same_search(gallery, vectors[2_600:], ids[2_600:], queries, k=10)


def test_batch_search_equals_single_searches() -> None:
    gallery, vectors = synthetic_gallery(dataclasses.replace(IVF, threads=2), 3_000)
    gallery.remove(np.arange(0, 3_000, 11) * 3 + 1)
    queries = queries_for(vectors, 40)
    batch_d, batch_ids = gallery.search(queries, 10)
    for row, query in enumerate(queries):
        d, found = gallery.search(query[None, :], 10)
        np.testing.assert_array_equal(found[0], batch_ids[row])
        np.testing.assert_allclose(d[0], batch_d[row], rtol=1e-6)


def test_an_approximate_gallery_saves_and_loads(tmp_path: Path) -> None:
    gallery, vectors = synthetic_gallery(IVF, 3_000)
    gallery.remove(np.arange(0, 3_000, 5) * 3 + 1)
    gallery.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {
        "face.json",
        "face.faiss",
        "face.templates.npy",
        "face.ids.npy",
    }
    meta = json.loads((tmp_path / "face.json").read_text())
    assert meta["format_version"] == 2 and meta["size"] == 2_400 and meta["slots"] == 3_000
    assert (meta["mode"], meta["factory"], meta["search_params"]) == (
        "approximate",
        "IVF32,PQ32x4fs",
        "nprobe=24",
    )
    assert meta["rerank"] == 128 and meta["trained_size"] == 3_000
    loaded = FaceGallery.load(tmp_path)
    assert loaded.policy == IVF and loaded.mode == "approximate" and len(loaded) == 2_400
    queries = queries_for(vectors, 30)
    for got, want in zip(loaded.search(queries, 5), gallery.search(queries, 5), strict=True):
        np.testing.assert_array_equal(got, want)
    assert 1 not in loaded and 4 in loaded
    loaded.add_one(1, vectors[0])
    assert loaded.search(vectors[:1], 1)[1][0, 0] == 1
    (tmp_path / "face.faiss").write_bytes(b"not an index")
    with pytest.raises(GalleryError, match="cannot read gallery index"):
        FaceGallery.load(tmp_path)


def test_loading_with_another_policy_rebuilds(tmp_path: Path) -> None:
    gallery, vectors = synthetic_gallery(IVF, 2_000)
    gallery.save(tmp_path)
    loaded = FaceGallery.load(tmp_path, FaceIndexPolicy())  # exact up to 20,000
    assert loaded.mode == "exact"
    ids = np.arange(2_000) * 3 + 1
    assert_same_search(loaded, vectors, ids, queries_for(vectors, 10), k=3)


def test_neighbours_leave_out_the_record_itself() -> None:
    gallery, vectors = synthetic_gallery(IVF, 2_000)
    ids = np.arange(2_000) * 3 + 1
    _, found = gallery.neighbours(ids[:50], 4)
    assert found.shape == (50, 4) and not (found == ids[:50, None]).any()
    _, want_ids = brute_force_search(vectors[1:], ids[1:], vectors[:1], 4)
    np.testing.assert_array_equal(found[0], want_ids[0])
    with pytest.raises(GalleryError, match="not in the gallery"):
        gallery.neighbours([2], 4)


def test_the_index_type_follows_the_gallery_size() -> None:
    policy = FaceIndexPolicy(
        exact_below=1_000,
        approximate=(
            ApproximateIndex("IVF8,Flat", "nprobe=8", rerank=20, up_to=1_500),
            ApproximateIndex("IVF16,PQ16x4fs", "nprobe=16", rerank=50),
        ),
        threads=1,
    )
    gallery = FaceGallery(policy)
    gallery.add(np.arange(1_000), MODEL.gallery(1_000, seed=1))
    assert (gallery.describe()["factory"], gallery.describe()["rerank"]) == ("IVF8,Flat", 20)
    gallery.add(np.arange(1_000, 2_000), MODEL.gallery(1_000, seed=2))  # retrained at 2 x 1000
    assert (gallery.describe()["factory"], gallery.describe()["rerank"]) == ("IVF16,PQ16x4fs", 50)


def test_the_memory_budget_chooses_a_smaller_index() -> None:
    types = (ApproximateIndex("HNSW32,Flat", "efSearch=64"), ApproximateIndex("IVF32,PQ16x4fs"))
    n = 3_000
    big = (index_bytes(types[0].factory, n) + n * 536) / 2**20
    small_policy = FaceIndexPolicy(
        exact_below=1_000, approximate=types, memory_budget_mb=big * 0.9, threads=1
    )
    gallery = FaceGallery(small_policy)
    gallery.add(np.arange(n), MODEL.gallery(n, seed=1))
    assert gallery.describe()["factory"] == "IVF32,PQ16x4fs"
    roomy = FaceIndexPolicy(
        exact_below=1_000, approximate=types, memory_budget_mb=big * 1.1, threads=1
    )
    gallery = FaceGallery(roomy)
    gallery.add(np.arange(n), MODEL.gallery(n, seed=1))
    assert gallery.describe()["factory"] == "HNSW32,Flat"
    assert gallery.memory_bytes() > n * 128 * 4 * 2


def test_policies_refuse_nonsense_and_round_trip_through_json() -> None:
    with pytest.raises(ValueError, match="gallery maps record ids"):
        ApproximateIndex("IDMap2,HNSW32")
    with pytest.raises(ValueError, match="retrain_factor"):
        FaceIndexPolicy(retrain_factor=1.0)
    with pytest.raises(ValueError, match="at least one"):
        FaceIndexPolicy(approximate=())
    with pytest.raises(ValueError, match="must serve any size"):
        FaceIndexPolicy(approximate=(ApproximateIndex("HNSW32", up_to=10),))
    assert FaceIndexPolicy.from_json(json.loads(json.dumps(IVF.to_json()))) == IVF


@settings(max_examples=25, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.booleans(), st.integers(min_value=1, max_value=80)), min_size=1, max_size=12
    ),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_sequence_of_adds_and_removes_keeps_ids_and_distances_right(
    steps: list[tuple[bool, int]], seed: int
) -> None:
    """Across the exact/approximate switch, compactions and retrains: every answer is a live
    record at its true distance, and the gallery holds exactly the live records."""
    rng = np.random.default_rng(seed)
    policy = FaceIndexPolicy(
        exact_below=60,
        approximate=(ApproximateIndex("IVF4,Flat", "nprobe=2", rerank=16),),
        threads=1,
    )
    gallery = FaceGallery(policy)
    live: dict[int, np.ndarray] = {}
    next_id = 0
    for adding, count in steps:
        if adding or not live:
            new = MODEL.gallery(count, seed=int(rng.integers(2**31)))
            gallery.add(np.arange(next_id, next_id + count), new)
            live.update(zip(range(next_id, next_id + count), new, strict=True))
            next_id += count
        else:
            gone = rng.choice(sorted(live), size=min(count, len(live)), replace=False)
            assert gallery.remove(gone) == gone.size
            for i in gone:
                del live[int(i)]
        assert gallery.ids().tolist() == sorted(live)
        queries = MODEL.gallery(3, seed=int(rng.integers(2**31)))
        d, found = gallery.search(queries, 5)
        for row in range(3):
            for dist, i in zip(d[row], found[row], strict=True):
                if i < 0:
                    assert np.isinf(dist)
                    continue
                assert int(i) in live
                assert dist == pytest.approx(np.linalg.norm(live[int(i)] - queries[row]), abs=1e-5)


def test_the_id_map_agrees_with_a_dict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_IdMap, "MERGE", 8)
    rng = np.random.default_rng(0)
    mapping, want = _IdMap(), {}
    for step in range(300):
        if step % 3 and want:
            gone = rng.choice(
                sorted(want), size=min(len(want), int(rng.integers(1, 6))), replace=False
            )
            mapping.remove(gone)
            for i in gone:
                del want[int(i)]
        else:
            ids = rng.choice(500, size=5, replace=False)
            ids = np.array([i for i in ids if int(i) not in want], np.int64)
            slots = rng.integers(0, 10**6, ids.size)
            mapping.insert(ids, slots)
            want.update(zip(ids.tolist(), slots.tolist(), strict=True))
        probe = np.arange(500, dtype=np.int64)
        assert mapping.lookup(probe).tolist() == [want.get(i, -1) for i in range(500)]
        assert len(mapping) == len(want)
    keys, slots = mapping.items()
    assert dict(zip(keys.tolist(), slots.tolist(), strict=True)) == want


def test_the_default_index_types_build_and_take_their_search_parameters() -> None:
    """The shipped policy's factory strings and parameters are valid FAISS, so a gallery that
    grows past ``exact_below`` can build its index (training is too slow for a unit test)."""
    import faiss

    policy = FaceIndexPolicy()
    assert policy.exact_below == 20_000
    for choice in policy.approximate:
        index = faiss.index_factory(128, choice.factory)
        faiss.ParameterSpace().set_index_parameters(index, choice.search_params)
        assert choice.rerank >= 256
        assert index_bytes(choice.factory, 1_000_000) < float_store_bytes(1_000_000)
