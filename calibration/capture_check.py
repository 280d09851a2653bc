"""Check a camera's settings (face size, exposure, focus) on photos it took at the station.

Photos of a few people taken as the station will take them are measured by the capture quality
check (:class:`matcher.face.quality.FaceQualityChecker`) and judged against its thresholds. Each
setting passes when at most ``max_share`` of the photos are refused for it; pose and closed eyes
depend on the person, not the camera, and are only counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from calibration.defaults import CalibrationError
from matcher.face.quality import FaceMeasures, FaceQualityChecker, QualityThresholds

DEFAULT_MAX_SHARE = 0.05
# setting -> (reason codes it is refused for, what to change when too many are)
SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "face_found": (
        ("no_face", "multiple_faces"),
        "place the camera so one person faces it, at eye height, with a plain background",
    ),
    "face_size": (
        ("too_small", "low_resolution"),
        "raise the camera's resolution or bring people closer (or zoom in)",
    ),
    "framing": (
        ("too_close", "off_centre"),
        "widen the view or mark where people stand so the head and shoulders are in the middle",
    ),
    "exposure": (
        ("too_dark", "too_bright"),
        "change the light on the face or the camera's exposure (see the brightness figures)",
    ),
    "focus": (
        ("blurred",),
        "focus the camera at the distance people stand, and ask them to hold still",
    ),
}
PERSON = ("not_frontal", "tilted", "eyes_closed")


@dataclass(frozen=True)
class SettingCheck:
    name: str
    ok: bool
    refused: int  # photos refused for this setting
    share: float
    advice: str  # empty when ok

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "refused": self.refused, "share": self.share, "advice": self.advice}


@dataclass(frozen=True)
class CaptureCheck:
    photos: int
    checks: list[SettingCheck]
    person_reasons: dict[str, int]
    figures: dict[str, dict[str, float]]  # measure -> p5, median, p95
    thresholds: dict[str, float]
    max_share: float

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "photos": self.photos,
            "max_share": self.max_share,
            "checks": {c.name: c.to_json() for c in self.checks},
            "person_reasons": self.person_reasons,
            "figures": self.figures,
            "thresholds": self.thresholds,
        }


def _figures(measures: Sequence[FaceMeasures]) -> dict[str, dict[str, float]]:
    out = {}
    for name in (
        "eye_distance",
        "highlight",
        "brightness",
        "dark_fraction",
        "bright_fraction",
        "sharpness",
    ):
        values = np.array(
            [v for m in measures if (v := getattr(m, name)) is not None], dtype=np.float64
        )
        if values.size:
            p5, p50, p95 = np.percentile(values, [5, 50, 95])
            out[name] = {
                "p5": round(float(p5), 4),
                "median": round(float(p50), 4),
                "p95": round(float(p95), 4),
            }
    return out


def check_capture_settings(
    measures: Sequence[FaceMeasures],
    thresholds: QualityThresholds | None = None,
    max_share: float = DEFAULT_MAX_SHARE,
) -> CaptureCheck:
    """Judge the camera's settings from the quality measures of photos it took."""
    if not measures:
        raise CalibrationError("no photos to check the camera's settings on")
    limits = thresholds or QualityThresholds()
    checker = FaceQualityChecker(limits)
    codes = [{r.code for r in checker.reasons(m)} for m in measures]
    checks = []
    figures = _figures(measures)
    for name, (reasons, advice) in SETTINGS.items():
        refused = sum(1 for found in codes if found & set(reasons))
        share = refused / len(measures)
        ok = share <= max_share
        detail = ""
        if not ok:
            detail = advice
            if name == "face_size" and "eye_distance" in figures:
                detail += (
                    f": median eye distance {figures['eye_distance']['median']:.0f} px, "
                    f"the check needs {limits.min_eye_distance:g}"
                )
            if name == "exposure" and "brightness" in figures:
                detail += (
                    f": face brightness median {figures['brightness']['median']:.0f} (0-255), "
                    f"highlight p5 {figures.get('highlight', {}).get('p5', 0):.0f} "
                    f"(needs {limits.min_highlight:g} and up)"
                )
        checks.append(SettingCheck(name, ok, refused, share, detail))
    person = {code: sum(code in found for found in codes) for code in PERSON}
    return CaptureCheck(len(measures), checks, person, figures, limits.to_json(), max_share)
