"""The FAISS face gallery agrees with the numpy brute-force oracle and keeps its ids straight."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.errors import TemplateError
from matcher.face import FaceGallery, brute_force_search
from matcher.face.gallery import GalleryError


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
    (tmp_path / "face.faiss").write_bytes(b"not an index")
    with pytest.raises(GalleryError, match="cannot read gallery index"):
        FaceGallery.load(tmp_path)
