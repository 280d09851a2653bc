"""Minutia Cylinder-Code local descriptors and LSS-R global consolidation, vectorised with numpy.

``prepare()`` turns a :class:`FingerprintTemplate` into the immutable search form (cylinders,
validity masks and the geometry the relaxation needs); ``similarity()`` compares two prepared
templates and returns a score in [0, 1]. Algorithm: Cappelli, Ferrara, Maltoni, TPAMI 2010.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.special import erf, expit
from threadpoolctl import ThreadpoolController

from matcher.fingerprint.params import PARAMS, Params
from matcher.fingerprint.template import FingerprintTemplate

F32 = np.float32
TWO_PI = 2.0 * math.pi


@cache
def _blas() -> ThreadpoolController:
    return ThreadpoolController()


def single_threaded_blas() -> Any:
    """Context keeping OpenBLAS on one thread: its threads make these small products 100x slower
    on a busy machine (measured: 0.9 ms against 60-300 ms per comparison)."""
    return _blas().limit(limits=1, user_api="blas")


@dataclass(frozen=True)
class PreparedTemplate:
    """The search form of a template: rebuilt from the features, never stored."""

    xy: NDArray[np.float64]  # (n, 2) valid-cylinder minutiae, pixel coordinates
    theta: NDArray[np.float64]  # (n,) directions in pixel coordinates (radians, y down)
    values: NDArray[np.float32]  # (n, C) cylinder values masked by validity
    mask: NDArray[np.float32]  # (n, C) 1 where a cell is valid
    squares: NDArray[np.float32]  # (n, C) values ** 2
    template: FingerprintTemplate

    @property
    def count(self) -> int:
        return int(self.xy.shape[0])


def angle_diff(a: NDArray[Any], b: NDArray[Any]) -> NDArray[np.float64]:
    """Signed difference a - b wrapped into [-pi, pi)."""
    return np.asarray((a - b + math.pi) % TWO_PI - math.pi)


@cache
def _cell_offsets(p: Params) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Cell-centre offsets (cells, 2) of a cylinder pointing along +x, and which lie within R."""
    delta = 2.0 * p.mcc_radius / p.mcc_ns
    idx = (np.arange(p.mcc_ns) - (p.mcc_ns - 1) / 2.0) * delta
    gx, gy = np.meshgrid(idx, idx, indexing="xy")
    offsets = np.stack([gx.ravel(), gy.ravel()], axis=1)
    inside = np.hypot(offsets[:, 0], offsets[:, 1]) <= p.mcc_radius
    return offsets, inside


def _hull_mask(xy: NDArray[np.float64], width: int, height: int, omega: float) -> NDArray[np.bool_]:
    """Convex hull of the minutiae dilated by omega, as an image-size boolean mask."""
    pad = int(omega) + 1
    canvas = np.zeros((height + 2 * pad, width + 2 * pad), dtype=np.uint8)
    if xy.shape[0] >= 3:
        hull = cv2.convexHull(np.round(xy + pad).astype(np.int32).reshape(-1, 1, 2))
        cv2.fillConvexPoly(canvas, hull, 1)
    else:
        for px, py in np.round(xy + pad).astype(np.int32):
            canvas[py, px] = 1
    # distance to the hull instead of a dilation with a 101-pixel disc: 100x faster
    outside = cv2.distanceTransform((1 - canvas).astype(np.uint8), cv2.DIST_L2, 3)
    return np.asarray(outside <= omega)


def prepare(template: FingerprintTemplate, p: Params = PARAMS) -> PreparedTemplate:
    """Build the MCC cylinders of a template (vectorised over minutiae, cells and sections)."""
    n = template.count
    xy = np.stack([template.x, template.y], axis=1).astype(np.float64)
    # pixel-coordinate angle (y down) of the ISO counter-clockwise direction
    theta = (-template.direction.astype(np.float64)) % TWO_PI
    offsets, inside = _cell_offsets(p)
    ncells = offsets.shape[0]
    if n == 0:
        empty = np.zeros((0, ncells * p.mcc_nd), dtype=F32)
        return PreparedTemplate(np.zeros((0, 2)), np.zeros(0), empty, empty, empty, template)
    cos, sin = np.cos(theta), np.sin(theta)
    # cell centres (n, cells, 2): rotate the offsets by each minutia's direction
    cx = xy[:, None, 0] + cos[:, None] * offsets[None, :, 0] - sin[:, None] * offsets[None, :, 1]
    cy = xy[:, None, 1] + sin[:, None] * offsets[None, :, 0] + cos[:, None] * offsets[None, :, 1]
    # spatial contribution of every minutia t to every cell of cylinder i: (n, cells, n)
    dx = cx[:, :, None] - xy[None, None, :, 0]
    dy = cy[:, :, None] - xy[None, None, :, 1]
    d2 = dx * dx + dy * dy
    sig_s = p.mcc_sigma_s
    spatial = np.exp(-d2 / (2 * sig_s * sig_s)) / (sig_s * math.sqrt(TWO_PI))
    spatial[d2 > (3 * sig_s) ** 2] = 0.0
    spatial[np.arange(n), :, np.arange(n)] = 0.0
    # directional contribution (n, n, nd): integral of a Gaussian over each angular section
    dtheta = angle_diff(theta[None, :], theta[:, None])  # direction of t relative to i
    delta_d = TWO_PI / p.mcc_nd
    centres = -math.pi + (np.arange(p.mcc_nd) + 0.5) * delta_d
    diff = angle_diff(centres[None, None, :], dtheta[:, :, None])
    scale = 1.0 / (p.mcc_sigma_d * math.sqrt(2.0))
    directional = 0.5 * (erf((diff + delta_d / 2) * scale) - erf((diff - delta_d / 2) * scale))
    raw = np.einsum("ict,itk->ick", spatial, directional)  # (n, cells, nd)
    values = expit(p.mcc_tau_psi * (raw - p.mcc_mu_psi))
    values[values < 1e-4] = 0.0  # no float32 denormals: they make the products 1000x slower
    # validity: cell within R of the centre and inside the dilated hull of the minutiae
    hull = _hull_mask(xy, template.width, template.height, p.mcc_omega)
    pad = int(p.mcc_omega) + 1
    ix = np.clip(np.round(cx).astype(np.int64) + pad, 0, hull.shape[1] - 1)
    iy = np.clip(np.round(cy).astype(np.int64) + pad, 0, hull.shape[0] - 1)
    valid = hull[iy, ix] & inside[None, :]
    neighbours = (d2.min(axis=1) <= (p.mcc_radius + 3 * sig_s) ** 2).sum(axis=1) - 1
    keep = (valid.sum(axis=1) >= p.mcc_min_valid_cells * inside.sum()) & (
        neighbours >= p.mcc_min_neighbours
    )
    mask = np.repeat(valid[:, :, None], p.mcc_nd, axis=2).reshape(n, -1)[keep].astype(F32)
    vals = (values.reshape(n, -1)[keep] * mask).astype(F32)
    return PreparedTemplate(
        np.ascontiguousarray(xy[keep]),
        np.ascontiguousarray(theta[keep]),
        np.ascontiguousarray(vals),
        np.ascontiguousarray(mask),
        np.ascontiguousarray(vals * vals),
        template,
    )


def _sigmoid(v: NDArray[np.float64] | float, mu: float, tau: float) -> NDArray[np.float64]:
    return np.asarray(expit(tau * (np.asarray(v, dtype=np.float64) - mu)))


def local_similarities(
    a: PreparedTemplate, b: PreparedTemplate, p: Params = PARAMS
) -> NDArray[np.float64]:
    """The (na, nb) matrix of cylinder similarities (0 where a pair is not matchable)."""
    na_b = a.squares @ b.mask.T  # ||ca restricted to common cells||^2
    nb_a = a.mask @ b.squares.T
    cross = a.values @ b.values.T
    common = a.mask @ b.mask.T
    dist = np.sqrt(np.maximum(na_b + nb_a - 2.0 * cross, 0.0))
    norm = np.sqrt(na_b) + np.sqrt(nb_a)
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(norm > 0, 1.0 - dist / norm, 0.0)
    _, inside = _cell_offsets(p)
    min_common = p.mcc_min_common_cells * inside.sum() * p.mcc_nd
    directions_ok = np.abs(angle_diff(a.theta[:, None], b.theta[None, :])) <= math.pi / 2
    return np.asarray(np.where((common >= min_common) & directions_ok, sim, 0.0), dtype=np.float64)


def similarity(a: PreparedTemplate, b: PreparedTemplate, p: Params = PARAMS) -> float:
    """MCC with LSS-R: a score in [0, 1], higher meaning the same finger."""
    if a.count < 2 or b.count < 2:
        return 0.0
    with single_threaded_blas():
        gamma = local_similarities(a, b, p)
    n_min = min(a.count, b.count)
    n_p = p.np_min + round(float(_sigmoid(n_min, p.np_mu, p.np_tau)) * (p.np_max - p.np_min))
    n_r = max(n_p, min(int(p.lssr_candidates_factor * n_min), gamma.size))
    flat = np.argpartition(-gamma, n_r - 1, axis=None)[:n_r]
    flat = flat[np.argsort(-gamma.ravel()[flat], kind="stable")]
    ia, ib = np.unravel_index(flat, gamma.shape)
    lam0 = gamma[ia, ib]
    if not np.any(lam0 > 0):
        return 0.0
    # pairwise compatibility of the candidate pairs (n_r, n_r)
    pa, pb = a.xy[ia], b.xy[ib]
    ta, tb = a.theta[ia], b.theta[ib]
    da = np.hypot(pa[:, None, 0] - pa[None, :, 0], pa[:, None, 1] - pa[None, :, 1])
    db = np.hypot(pb[:, None, 0] - pb[None, :, 0], pb[:, None, 1] - pb[None, :, 1])
    dtha = angle_diff(ta[:, None], ta[None, :])
    dthb = angle_diff(tb[:, None], tb[None, :])
    ra = angle_diff(
        ta[:, None], np.arctan2(pa[:, None, 1] - pa[None, :, 1], pa[:, None, 0] - pa[None, :, 0])
    )
    rb = angle_diff(
        tb[:, None], np.arctan2(pb[:, None, 1] - pb[None, :, 1], pb[:, None, 0] - pb[None, :, 0])
    )
    rho = (
        _sigmoid(np.abs(da - db), p.relax_mu1, p.relax_tau1)
        * _sigmoid(np.abs(angle_diff(dtha, dthb)), p.relax_mu2, p.relax_tau2)
        * _sigmoid(np.abs(angle_diff(ra, rb)), p.relax_mu3, p.relax_tau3)
    )
    # a minutia may take part in one pair only: pairs sharing a minutia are incompatible
    rho[(ia[:, None] == ia[None, :]) | (ib[:, None] == ib[None, :])] = 0.0
    lam = lam0.copy()
    w = p.relax_weight
    for _ in range(p.relax_iterations):
        lam = w * lam + (1.0 - w) * (rho @ lam) / max(n_r - 1, 1)
    efficiency = np.where(lam0 > 0, lam / np.maximum(lam0, 1e-12), 0.0)
    # greedy one-to-one selection of the n_p most efficient pairs
    order = np.argsort(-efficiency, kind="stable")
    used_a: set[int] = set()
    used_b: set[int] = set()
    chosen: list[int] = []
    for k in order:
        i, j = int(ia[k]), int(ib[k])
        if i in used_a or j in used_b:
            continue
        used_a.add(i)
        used_b.add(j)
        chosen.append(int(k))
        if len(chosen) == n_p:
            break
    return float(lam[chosen].sum() / n_p)
