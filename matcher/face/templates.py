"""The face template: a 128-d float32 vector; distance is Euclidean (lower is more alike).

Shapes and dtypes are checked here, once, at the boundary (as FAISS contrib does).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from matcher.errors import TemplateError

TEMPLATE_DIM = 128
Vector = NDArray[np.float32]


def as_template(values: ArrayLike) -> Vector:
    """One template as a contiguous float32 vector of length 128, or :class:`TemplateError`."""
    array = np.ascontiguousarray(values, dtype=np.float32)
    if array.shape != (TEMPLATE_DIM,):
        raise TemplateError(f"a face template has {TEMPLATE_DIM} values, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise TemplateError("a face template holds NaN or infinite values")
    return array


def as_template_batch(values: ArrayLike) -> NDArray[np.float32]:
    """Templates as a contiguous float32 (n, 128) matrix, or :class:`TemplateError`."""
    array = np.ascontiguousarray(values, dtype=np.float32)
    if array.ndim == 1 and array.size == 0:
        array = array.reshape(0, TEMPLATE_DIM)
    if array.ndim != 2 or array.shape[1] != TEMPLATE_DIM:
        raise TemplateError(f"face templates form an (n, {TEMPLATE_DIM}) matrix, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise TemplateError("face templates hold NaN or infinite values")
    return array


def template_to_bytes(template: ArrayLike) -> bytes:
    """Serialize one template (little-endian float32) for storage."""
    return as_template(template).astype("<f4").tobytes()


def template_from_bytes(blob: bytes) -> Vector:
    """Read a template written by :func:`template_to_bytes`."""
    if len(blob) != TEMPLATE_DIM * 4:
        raise TemplateError(f"a stored face template is {TEMPLATE_DIM * 4} bytes, got {len(blob)}")
    return as_template(np.frombuffer(blob, dtype="<f4"))


def face_distance(a: ArrayLike, b: ArrayLike) -> float:
    """Euclidean distance between two templates (face_recognition's measure)."""
    return float(np.linalg.norm(as_template(a) - as_template(b)))
