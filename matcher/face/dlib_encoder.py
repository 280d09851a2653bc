"""Face detection, 68 landmarks and 128-d templates with face_recognition (dlib).

The HOG detector runs on a copy scaled to a bounded size (speed does not depend on the camera's
resolution); the template is computed on the full-resolution pixels. dlib's 68-point landmark
model was trained on iBUG 300-W, whose terms exclude commercial use (see the README's licences).

:func:`landmarks_68_in_yunet_box` is what the SFace encoder uses for the landmarks the capture
quality check reads: YuNet's five follow a tilt poorly and say nothing of the eyes.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from matcher.face.encoder import (
    Box,
    FaceEncoder,
    FaceNotFoundError,
    FoundFace,
    MultipleFacePolicy,
    box_area,
    check_rgb,
    overlap,
    subjects,
)
from matcher.face.templates import Vector, as_template

log = logging.getLogger(__name__)

# dlib's models are shared module state in face_recognition: one caller at a time.
_dlib_lock = threading.Lock()


class DlibEncoder(FaceEncoder):
    """face_recognition's HOG detector, 68-point landmarks and ResNet templates.

    ``max_detection_side`` bounds the picture the detector sees; small pictures are upsampled
    (dlib's HOG detector finds faces of about 80 px and larger) so low-resolution sources work.
    """

    model = "dlib-resnet-v1"

    def __init__(
        self,
        max_detection_side: int = 800,
        num_jitters: int = 1,
        multiple_faces: MultipleFacePolicy = "reject",
    ) -> None:
        super().__init__(multiple_faces)
        if max_detection_side < 64:
            raise ValueError("max_detection_side must be at least 64 pixels")
        self.max_detection_side = max_detection_side
        self.num_jitters = num_jitters

    def detect(self, pixels: NDArray[np.uint8]) -> list[Box]:
        """Face boxes in full-resolution coordinates, largest first (no landmarks)."""
        face_recognition = _face_recognition()

        image = check_rgb(pixels)
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
        with _dlib_lock:
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
        boxes.sort(key=box_area, reverse=True)
        return [boxes[i] for i in subjects(boxes)]

    def find(self, pixels: NDArray[np.uint8]) -> list[FoundFace]:
        image = check_rgb(pixels)
        return [FoundFace(box, landmarks_68(image, box)) for box in self.detect(image)]

    def vector(self, pixels: NDArray[np.uint8], face: FoundFace) -> Vector:
        face_recognition = _face_recognition()
        with _dlib_lock:
            encodings = face_recognition.face_encodings(
                check_rgb(pixels),
                known_face_locations=[face.box],
                num_jitters=self.num_jitters,
                model="small",
            )
        if not encodings:
            raise FaceNotFoundError()
        return as_template(encodings[0])

    def eye_openness(self, pixels: NDArray[np.uint8], face: FoundFace) -> float | None:
        return mean_eye_aspect_ratio(face.landmarks)

    def landmarks(self, pixels: NDArray[np.uint8], box: Box) -> NDArray[np.float64]:
        """The 68 landmarks of the face in ``box`` (see :func:`landmarks_68`)."""
        return landmarks_68(check_rgb(pixels), box)


def landmarks_68(image: NDArray[np.uint8], box: Box) -> NDArray[np.float64]:
    """The 68 iBUG 300-W landmarks (x, y) of the face in ``box``, full-resolution pixels.

    Order as dlib's 68-point model: jaw 0-16, brows 17-26, nose 27-35, the eye on the image's
    left 36-41, the other eye 42-47, mouth 48-67.
    """
    face_recognition = _face_recognition()
    import dlib

    top, right, bottom, left = box
    with _dlib_lock:
        shape = face_recognition.api.pose_predictor_68_point(
            image, dlib.rectangle(int(left), int(top), int(right), int(bottom))
        )
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def eye_aspect_ratio(eye: NDArray[np.float64]) -> float:
    """EAR of one eye's six landmarks (corner, two upper, corner, two lower)."""
    p1, p2, p3, p4, p5, p6 = eye
    width = float(np.linalg.norm(p1 - p4))
    if width < 1e-6:
        return 0.0
    return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width))


def mean_eye_aspect_ratio(landmarks: NDArray[np.float64]) -> float:
    """The mean EAR of both eyes of 68 landmarks (Soukupova and Cech 2016)."""
    return (eye_aspect_ratio(landmarks[36:42]) + eye_aspect_ratio(landmarks[42:48])) / 2


# Where dlib's HOG detector puts its box relative to YuNet's, in YuNet box widths and heights
# (medians of 200 LFW dev photos): left edge 0.105 of a width further left, top 0.116 of a height
# lower, 1.137 widths wide and 0.843 heights high. The 68-point model was trained on HOG boxes;
# on a box placed so, it follows a 20 degree tilt within 3 degrees and reads closed eyes as closed.
_HOG_FROM_YUNET = (-0.105, 0.116, 1.137, 0.843)


def landmarks_68_in_yunet_box(image: NDArray[np.uint8], box: Box) -> NDArray[np.float64]:
    """The 68 landmarks of the face YuNet found in ``box``.

    The 68-point model places its points well only on a box like the HOG detector's: a turned
    head on a box merely derived from YuNet's reads as turned the other way (LFW: +35 degrees
    read as -14), closed eyes as open. So the HOG detector looks again, at the region around the
    face only (scaled so the face is about 120 px: a few milliseconds), and its box is used; when
    it finds nothing there, the box is derived from YuNet's (:data:`_HOG_FROM_YUNET`).
    """
    image = check_rgb(image)
    return landmarks_68(image, _hog_box_near(image, box) or _hog_box_from_yunet(box))


def _hog_box_from_yunet(box: Box) -> Box:
    top, right, bottom, left = box
    width, height = right - left, bottom - top
    left_off, top_off, wide, high = _HOG_FROM_YUNET
    x, y = left + left_off * width, top + top_off * height
    return (round(y), round(x + wide * width), round(y + high * height), round(x))


_HOG_FACE_SIDE = 160  # px: the face's width in the region the HOG detector looks at again


def _hog_box_near(image: NDArray[np.uint8], box: Box) -> Box | None:
    """The HOG detector's box of the face YuNet found in ``box``, or None."""
    top, right, bottom, left = box
    width, height = max(1, right - left), max(1, bottom - top)
    rows, cols = image.shape[:2]
    y0, y1 = max(0, top - height // 2), min(rows, bottom + height // 2)
    x0, x1 = max(0, left - width // 2), min(cols, right + width // 2)
    if y1 - y0 < 8 or x1 - x0 < 8:
        return None
    scale = _HOG_FACE_SIDE / width
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    region = np.asarray(
        Image.fromarray(image[y0:y1, x0:x1]).resize(size, Image.Resampling.BILINEAR)
    )
    face_recognition = _face_recognition()
    with _dlib_lock:
        found = face_recognition.face_locations(region, number_of_times_to_upsample=0, model="hog")
    best, best_overlap = None, 0.3  # a HOG box must overlap YuNet's this much to be the same face
    for t, r, b, lft in found:
        candidate = (
            round(y0 + t / scale),
            round(x0 + r / scale),
            round(y0 + b / scale),
            round(x0 + lft / scale),
        )
        overlap_ = overlap(candidate, box)
        if overlap_ > best_overlap:
            best, best_overlap = candidate, overlap_
    return best


def _face_recognition() -> Any:
    """Import face_recognition, undoing its global switch that makes Pillow accept cut-short files."""
    import face_recognition
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return face_recognition
