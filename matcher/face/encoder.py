"""Face detection and 128-d templates with face_recognition (dlib HOG detector + ResNet encoder).

Detection runs on a copy scaled to a bounded size (speed does not depend on the camera's
resolution); the template is computed on the full-resolution pixels.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from matcher.errors import MatcherError
from matcher.face.templates import Vector, as_template

log = logging.getLogger(__name__)

# (top, right, bottom, left) in pixels, face_recognition's convention.
Box = tuple[int, int, int, int]
MultipleFacePolicy = Literal["reject", "largest"]


class FaceNotFoundError(MatcherError):
    """No face was found in the image."""

    code = "no_face"

    def __init__(self) -> None:
        super().__init__(
            "no face found in the image: the person should face the camera, close enough and well lit"
        )


class MultipleFacesError(MatcherError):
    """More than one face was found where exactly one person must be."""

    code = "multiple_faces"

    def __init__(self, count: int, boxes: list[Box]) -> None:
        self.count = count
        self.boxes = boxes
        super().__init__(
            f"{count} faces found in the image: only the person being served may be in the picture"
        )


@dataclass(frozen=True)
class FaceTemplate:
    """A face's template and where it was found."""

    vector: Vector
    box: Box
    faces_found: int

    @property
    def face_width(self) -> int:
        _, right, _, left = self.box
        return right - left


def _box_area(box: Box) -> int:
    top, right, bottom, left = box
    return max(0, bottom - top) * max(0, right - left)


class FaceEncoder:
    """Turns RGB pixels into one face template.

    ``max_detection_side`` bounds the picture the detector sees; small pictures are upsampled
    (dlib's HOG detector finds faces of about 80 px and larger) so low-resolution sources work.
    ``multiple_faces`` says what to do when several faces are found: ``"reject"`` for a live
    capture (only the person served may be in front of the camera), ``"largest"`` for curated
    photo collections where the subject is the main face.
    """

    def __init__(
        self,
        max_detection_side: int = 800,
        num_jitters: int = 1,
        multiple_faces: MultipleFacePolicy = "reject",
    ) -> None:
        if max_detection_side < 64:
            raise ValueError("max_detection_side must be at least 64 pixels")
        self.max_detection_side = max_detection_side
        self.num_jitters = num_jitters
        self.multiple_faces: MultipleFacePolicy = multiple_faces
        # dlib's models are shared module state in face_recognition: one caller at a time.
        self._lock = threading.Lock()

    def detect(self, pixels: NDArray[np.uint8]) -> list[Box]:
        """Face boxes in full-resolution coordinates, largest first."""
        face_recognition = _face_recognition()

        image = _check_rgb(pixels)
        height, width = image.shape[:2]
        scale = min(1.0, self.max_detection_side / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        else:
            small = image
        # HOG finds faces of about 80 px and up: upsample small pictures so a face filling a
        # third of the frame is still found (a 250 px portrait once, a 112 px one twice).
        longest = max(small.shape[:2])
        upsample = 0 if longest >= 480 else 1 if longest >= 160 else 2
        with self._lock:
            found = face_recognition.face_locations(
                small, number_of_times_to_upsample=upsample, model="hog"
            )
        boxes = [
            (
                max(0, round(top / scale)),
                min(width, round(right / scale)),
                min(height, round(bottom / scale)),
                max(0, round(left / scale)),
            )
            for top, right, bottom, left in found
        ]
        return sorted(boxes, key=_box_area, reverse=True)

    def encode(self, pixels: NDArray[np.uint8]) -> FaceTemplate:
        """The template of the one face in the picture (or the largest, per the policy)."""
        face_recognition = _face_recognition()

        image = _check_rgb(pixels)
        boxes = self.detect(image)
        if not boxes:
            raise FaceNotFoundError()
        if len(boxes) > 1 and self.multiple_faces == "reject":
            raise MultipleFacesError(len(boxes), boxes)
        box = boxes[0]
        with self._lock:
            encodings = face_recognition.face_encodings(
                image, known_face_locations=[box], num_jitters=self.num_jitters, model="small"
            )
        if not encodings:
            raise FaceNotFoundError()
        return FaceTemplate(vector=as_template(encodings[0]), box=box, faces_found=len(boxes))

    def landmarks(self, pixels: NDArray[np.uint8], box: Box) -> NDArray[np.float64]:
        """The 68 iBUG 300-W landmarks (x, y) of the face in ``box``, full-resolution pixels.

        Order as dlib's 68-point model: jaw 0-16, brows 17-26, nose 27-35, the eye on the image's
        left 36-41, the other eye 42-47, mouth 48-67.
        """
        face_recognition = _face_recognition()
        import dlib

        image = _check_rgb(pixels)
        top, right, bottom, left = box
        with self._lock:
            shape = face_recognition.api.pose_predictor_68_point(
                image, dlib.rectangle(int(left), int(top), int(right), int(bottom))
            )
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _face_recognition() -> Any:
    """Import face_recognition, undoing its global switch that makes Pillow accept cut-short files."""
    import face_recognition
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return face_recognition


def _check_rgb(pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise MatcherError(
            f"expected RGB uint8 pixels (height x width x 3), got {pixels.dtype} {pixels.shape}"
        )
    return np.ascontiguousarray(pixels)
