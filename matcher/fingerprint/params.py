"""Every tuning constant of the fingerprint matcher, in one place (SourceAFIS style).

The MCC values follow Cappelli, Ferrara and Maltoni, "Minutia Cylinder-Code: a new representation
and matching technique for fingerprint recognition", IEEE TPAMI 32(12), 2010, unless noted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Params:
    # Images
    working_dpi: int = 500
    # Extraction (LEADER network, run through onnxruntime)
    leader_quality_threshold: float = 0.55  # NMS'd quality map threshold for a detection
    leader_type_threshold: float = 0.5  # >= ending, < bifurcation
    max_minutiae: int = 120
    segmentation_block: int = 16
    segmentation_min_std: float = 10.0  # grey-level std of a foreground block
    border_margin: int = 8  # drop minutiae this close (pixels) to the background
    # Quality (logistic mid-points and widths of each feature)
    # fitted by hand on the dev sets (in-sample) for Spearman with the mean genuine score
    quality_area_mid: float = 20000.0  # foreground pixels at 500 dpi (about 0.8 cm2)
    quality_area_width: float = 6000.0
    quality_area_weight: float = 0.5
    quality_coherence_mid: float = 0.30
    quality_coherence_width: float = 0.06
    quality_coherence_weight: float = 0.5
    quality_minutiae_mid: float = 12.0
    quality_minutiae_width: float = 4.0
    quality_minutiae_weight: float = 1.0
    quality_confidence_mid: float = 88.0  # mean LEADER confidence of the minutiae, 0-100
    quality_confidence_width: float = 3.0
    quality_confidence_weight: float = 2.0
    # MCC cylinders
    mcc_radius: float = 70.0
    mcc_ns: int = 16  # cells per side
    mcc_nd: int = 6  # direction sections
    mcc_sigma_s: float = 28.0 / 3.0
    mcc_sigma_d: float = 2.0 * math.pi / 9.0
    mcc_mu_psi: float = 0.01
    mcc_omega: float = 50.0  # hull dilation (pixels) for valid cells
    mcc_min_valid_cells: float = 0.75  # of the cells inside the radius
    mcc_min_neighbours: int = 2
    mcc_min_common_cells: float = 0.6  # of the cells inside the radius, for a matchable pair
    # Consolidation: LSS with relaxation
    np_min: int = 4
    np_max: int = 12
    np_mu: float = 20.0
    np_tau: float = 0.4
    relax_iterations: int = 5
    relax_weight: float = 0.5
    relax_mu1: float = 5.0
    relax_tau1: float = -8.0 / 5.0
    relax_mu2: float = math.pi / 12.0
    relax_tau2: float = -30.0
    relax_mu3: float = math.pi / 12.0
    relax_tau3: float = -30.0
    lssr_candidates_factor: float = 1.0  # n_R = factor * min(nA, nB) pairs enter relaxation


PARAMS = Params()
