"""Face detection with YuNet and 128-d templates with SFace, both run by OpenCV's DNN module.

``cv2.FaceDetectorYN`` finds faces with five landmarks; ``cv2.FaceRecognizerSF.alignCrop`` cuts a
112 x 112 crop aligned on those landmarks and ``.feature`` turns it into 128 values. The station
stores them scaled to unit length, so the Euclidean distance between two templates is
``sqrt(2 - 2 cos)``: the same "lower is more alike" measure, FAISS index and code as dlib's
templates (cosine similarity = 1 - distance^2 / 2).

Both networks are fed BGR pixels, as OpenCV Zoo's demos read them (``FaceRecognizerSF.feature``
swaps the channels itself, so the network sees RGB). Measured on LFW dev (first photo of each of
444 people enrolled, the second as probe): FNMR at FMR 0.1% is 1.4% with the crop of the BGR
picture and 2.0% with the crop of the RGB one, the mistake some wrappers make.

Each thread gets its own detector and recognizer: OpenCV's objects hold the input size and
buffers, so one shared instance would need a lock and serialize all face work.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from matcher.errors import MatcherError
from matcher.face.dlib_encoder import landmarks_68_in_yunet_box, mean_eye_aspect_ratio
from matcher.face.encoder import (
    Box,
    FaceEncoder,
    FoundFace,
    MultipleFacePolicy,
    box_area,
    check_rgb,
    subjects,
)
from matcher.face.models import SFACE, YUNET, model_path
from matcher.face.templates import Vector, as_template


@dataclass(frozen=True)
class Detection:
    """One face YuNet found, in full-resolution pixel coordinates.

    ``points`` are five (x, y) landmarks: the eye on the image's left (the person's right eye),
    the eye on the image's right, the nose tip, the mouth corner on the image's left, the other
    mouth corner.
    """

    box: Box
    points: NDArray[np.float64]
    score: float

    @property
    def row(self) -> NDArray[np.float32]:
        """The 15 values (x, y, w, h, ten landmark coordinates, score) alignCrop takes."""
        top, right, bottom, left = self.box
        head = [left, top, right - left, bottom - top]
        return np.array([*head, *self.points.reshape(-1), self.score], dtype=np.float32)


class YuNetDetector:
    """Faces with five landmarks, largest first.

    ``max_detection_side`` bounds the picture the network sees (speed does not depend on the
    camera's resolution); pictures smaller than ``min_detection_side`` are enlarged to it (YuNet
    finds faces from about 20 px; enlarging LFW's 250 px photos to 320 px cost accuracy, so only
    tiny pictures are). ``score_threshold`` is the network's
    face confidence below which a detection is dropped.
    """

    def __init__(
        self,
        max_detection_side: int = 640,
        min_detection_side: int = 160,
        score_threshold: float = 0.7,
    ) -> None:
        if max_detection_side < 64 or min_detection_side > max_detection_side:
            raise ValueError("need 64 <= min_detection_side <= max_detection_side")
        if not 0.0 < score_threshold < 1.0:
            raise ValueError("score_threshold lies between 0 and 1")
        self.max_detection_side = max_detection_side
        self.min_detection_side = min_detection_side
        self.score_threshold = score_threshold
        self._local = threading.local()

    def _network(self, width: int, height: int) -> object:
        import cv2

        detector = getattr(self._local, "detector", None)
        if detector is None:
            detector = cv2.FaceDetectorYN.create(
                str(model_path(YUNET)), "", (width, height), self.score_threshold, 0.3, 50
            )
            self._local.detector = detector
        detector.setInputSize((width, height))
        return detector

    def detect(self, pixels: NDArray[np.uint8]) -> list[Detection]:
        """Every face found in RGB pixels, largest box first."""
        image = check_rgb(pixels)
        height, width = image.shape[:2]
        longest = max(height, width)
        scale = min(self.max_detection_side / longest, max(1.0, self.min_detection_side / longest))
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            resample = Image.Resampling.BILINEAR if scale < 1 else Image.Resampling.BICUBIC
            seen = np.asarray(Image.fromarray(image).resize(size, resample))
        else:
            seen = image
        bgr = np.ascontiguousarray(seen[:, :, ::-1])
        detector = self._network(bgr.shape[1], bgr.shape[0])
        _, rows = detector.detect(bgr)  # type: ignore[attr-defined]
        found = [] if rows is None else [_detection(row, scale, width, height) for row in rows]
        return sorted(found, key=lambda d: box_area(d.box), reverse=True)


class SFaceRecognizer:
    """The 128-d SFace template of a detected face, scaled to unit length."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _network(self) -> object:
        import cv2

        recognizer = getattr(self._local, "recognizer", None)
        if recognizer is None:
            recognizer = cv2.FaceRecognizerSF.create(str(model_path(SFACE)), "")
            self._local.recognizer = recognizer
        return recognizer

    def aligned(self, pixels: NDArray[np.uint8], detection: Detection) -> NDArray[np.uint8]:
        """The 112 x 112 RGB crop SFace reads, aligned on the five landmarks."""
        return np.ascontiguousarray(self._aligned_bgr(pixels, detection)[:, :, ::-1])

    def _aligned_bgr(self, pixels: NDArray[np.uint8], detection: Detection) -> NDArray[np.uint8]:
        bgr = np.ascontiguousarray(check_rgb(pixels)[:, :, ::-1])
        crop = self._network().alignCrop(bgr, detection.row)  # type: ignore[attr-defined]
        return np.ascontiguousarray(crop, dtype=np.uint8)

    def feature(self, pixels: NDArray[np.uint8], detection: Detection) -> NDArray[np.float32]:
        """The unit-length template of the face at ``detection`` in RGB pixels."""
        crop = self._aligned_bgr(pixels, detection)
        values = self._network().feature(crop)  # type: ignore[attr-defined]
        vector = np.asarray(values, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not math.isfinite(norm) or norm < 1e-6:
            raise MatcherError("the face recognizer gave an empty template for this face")
        return vector / norm


def _detection(row: NDArray[np.float32], scale: float, width: int, height: int) -> Detection:
    x, y, w, h = (float(v) / scale for v in row[:4])
    box = (
        max(0, round(y)),
        min(width, round(x + w)),
        min(height, round(y + h)),
        max(0, round(x)),
    )
    points = np.asarray(row[4:14], dtype=np.float64).reshape(5, 2) / scale
    return Detection(box=box, points=points, score=float(row[14]))


class SFaceEncoder(FaceEncoder):
    """YuNet finds the faces and their five landmarks, SFace makes the templates.

    ``refine_landmarks``: whether the landmarks the capture quality check reads (pose, tilt, eyes
    open, the portrait's eyes) come from dlib's 68-point model placed on YuNet's box
    (:func:`matcher.face.dlib_encoder.landmarks_68_in_yunet_box`). YuNet's own five follow a tilt
    poorly (a photo turned by 20 degrees read as turned by 2 to 14 on twelve LFW photos) and say
    nothing of the eyes; without refining, the station ships no model trained on iBUG 300-W data
    in its face path, and the quality check judges pose roughly and eyes not at all. Templates
    are the same either way: SFace aligns on YuNet's five.
    """

    model = "sface-2021dec-int8bq"

    def __init__(
        self,
        max_detection_side: int = 640,
        multiple_faces: MultipleFacePolicy = "reject",
        refine_landmarks: bool = True,
    ) -> None:
        super().__init__(multiple_faces)
        self.detector = YuNetDetector(max_detection_side=max_detection_side)
        self.recognizer = SFaceRecognizer()
        self.refine_landmarks = refine_landmarks

    def find(self, pixels: NDArray[np.uint8]) -> list[FoundFace]:
        """The faces, largest first; only the largest (the one measured and matched) gets the
        68-point refinement, the others keep YuNet's five points."""
        image = check_rgb(pixels)
        found = [FoundFace(d.box, d.points, alignment=d.points) for d in self._subjects(image)]
        if found and self.refine_landmarks:
            first = found[0]
            refined = landmarks_68_in_yunet_box(image, first.box)
            found[0] = FoundFace(first.box, refined, alignment=first.alignment)
        return found

    def detect(self, pixels: NDArray[np.uint8]) -> list[Box]:
        """Face boxes, largest first (no landmark refinement: boxes are all that is asked)."""
        return [d.box for d in self._subjects(check_rgb(pixels))]

    def _subjects(self, image: NDArray[np.uint8]) -> list[Detection]:
        """YuNet's faces, largest first, without the ones far behind (see ``subjects``)."""
        detections = self.detector.detect(image)
        return [detections[i] for i in subjects([d.box for d in detections])]

    def vector(self, pixels: NDArray[np.uint8], face: FoundFace) -> Vector:
        points = face.alignment if face.alignment is not None else _five_points(face.landmarks)
        return as_template(self.recognizer.feature(pixels, Detection(face.box, points, 1.0)))

    def eye_openness(self, pixels: NDArray[np.uint8], face: FoundFace) -> float | None:
        if face.landmarks.shape != (68, 2):
            return None
        return mean_eye_aspect_ratio(face.landmarks)

    def faces_to_match(self, pixels: NDArray[np.uint8]) -> list[FoundFace]:
        # Matching needs no landmarks beyond YuNet's: no 68-point refinement.
        return [FoundFace(d.box, d.points, alignment=d.points) for d in self._subjects(pixels)]


def _five_points(landmarks: NDArray[np.float64]) -> NDArray[np.float64]:
    """YuNet's five points from 68 landmarks: eye centres, nose tip, mouth corners."""
    if landmarks.shape == (5, 2):
        return landmarks
    return np.array(
        [
            landmarks[36:42].mean(axis=0),
            landmarks[42:48].mean(axis=0),
            landmarks[30],
            landmarks[48],
            landmarks[54],
        ]
    )
