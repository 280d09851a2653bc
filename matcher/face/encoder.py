"""What every face encoder does: find faces with their landmarks, and make one face's template.

Two encoders ship (:mod:`matcher.face.engines` makes either by name):

- ``sface`` (:mod:`matcher.face.sface`, the default): OpenCV's YuNet detector (five landmarks) and
  SFace recognizer.
- ``dlib`` (:mod:`matcher.face.dlib_encoder`): face_recognition's HOG detector, 68 landmarks and
  ResNet recognizer, kept for comparison and for stations still holding its templates.

Both give 128 float32 values compared by Euclidean distance (lower is more alike), but the values
of one model mean nothing to the other: every template is stored with :attr:`FaceEncoder.model`
and compared only with templates of the same model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from matcher.errors import MatcherError
from matcher.face.templates import Vector

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
class FoundFace:
    """A face a detector found: its box and its landmarks in full-resolution pixels.

    ``landmarks`` are dlib's 68 iBUG 300-W points (68 x 2) or YuNet's five (5 x 2: the eye on the
    image's left, the other eye, the nose tip, the two mouth corners, left first);
    :mod:`matcher.face.portrait` and :mod:`matcher.face.quality` read either. ``alignment`` are
    the points the recognizer aligns its crop on, when they are not the landmarks (SFace aligns on
    YuNet's five, as it was trained).
    """

    box: Box
    landmarks: NDArray[np.float64]
    alignment: NDArray[np.float64] | None = None


@dataclass(frozen=True)
class FaceTemplate:
    """A face's template, the model that made it, and where the face was found."""

    vector: Vector
    box: Box
    faces_found: int
    model: str

    @property
    def face_width(self) -> int:
        _, right, _, left = self.box
        return right - left


def box_area(box: Box) -> int:
    top, right, bottom, left = box
    return max(0, bottom - top) * max(0, right - left)


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two (top, right, bottom, left) boxes."""
    height = min(a[2], b[2]) - max(a[0], b[0])
    width = min(a[1], b[1]) - max(a[3], b[3])
    inter = max(0, height) * max(0, width)
    union = box_area(a) + box_area(b) - inter
    return inter / union if union else 0.0


# A face narrower than this share of the largest one is someone further back (a queue, a poster),
# not a second person at the desk. YuNet finds faces from about 20 px: without this, a station in
# a crowded room would refuse every frame. Faces beside the subject (LFW's press photos: 0.55-1.07
# of the subject's width) still count.
BACKGROUND_FACE_RATIO = 0.5


def subjects(boxes: list[Box], ratio: float = BACKGROUND_FACE_RATIO) -> list[int]:
    """Indexes of the boxes (largest first) at least ``ratio`` as wide as the largest."""
    if not boxes:
        return []
    widest = max(right - left for _, right, _, left in boxes)
    return [i for i, (_, right, _, left) in enumerate(boxes) if right - left >= ratio * widest]


class FaceEncoder(ABC):
    """Turns RGB pixels into one face template.

    ``multiple_faces`` says what to do when several faces are found: ``"reject"`` for a live
    capture (only the person served may be in front of the camera), ``"largest"`` for curated
    photo collections where the subject is the main face.
    """

    model: ClassVar[str]  # stored with every template this encoder makes

    def __init__(self, multiple_faces: MultipleFacePolicy = "reject") -> None:
        self.multiple_faces: MultipleFacePolicy = multiple_faces

    @abstractmethod
    def find(self, pixels: NDArray[np.uint8]) -> list[FoundFace]:
        """Every face in the picture with its landmarks, largest first."""

    @abstractmethod
    def vector(self, pixels: NDArray[np.uint8], face: FoundFace) -> Vector:
        """The template of one found face."""

    @abstractmethod
    def eye_openness(self, pixels: NDArray[np.uint8], face: FoundFace) -> float | None:
        """The eye aspect ratio of the face (about 0.3 open, below 0.15 closed), or None when
        this encoder does not measure it."""

    def detect(self, pixels: NDArray[np.uint8]) -> list[Box]:
        """Face boxes in full-resolution coordinates, largest first."""
        return [face.box for face in self.find(pixels)]

    def faces_to_match(self, pixels: NDArray[np.uint8]) -> list[FoundFace]:
        """The faces :meth:`encode` chooses from: :meth:`find`'s, unless an encoder needs fewer
        landmarks to match than to judge quality."""
        return self.find(pixels)

    def encode(self, pixels: NDArray[np.uint8]) -> FaceTemplate:
        """The template of the one face in the picture (or the largest, per the policy)."""
        image = check_rgb(pixels)
        faces = self.faces_to_match(image)
        if not faces:
            raise FaceNotFoundError()
        if len(faces) > 1 and self.multiple_faces == "reject":
            raise MultipleFacesError(len(faces), [face.box for face in faces])
        vector = self.vector(image, faces[0])
        return FaceTemplate(vector, faces[0].box, len(faces), self.model)


def check_rgb(pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """RGB uint8 pixels as a contiguous array, or :class:`MatcherError` saying what was given."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise MatcherError(
            f"expected RGB uint8 pixels (height x width x 3), got {pixels.dtype} {pixels.shape}"
        )
    return np.ascontiguousarray(pixels)
