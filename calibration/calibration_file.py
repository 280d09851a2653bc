"""The versioned calibration file (``calibration.json``) a station loads at start.

Layout (format ``biometric-station-calibration``, version 1)::

    {"format": "biometric-station-calibration", "version": 1, "created": "<UTC ISO 8601>",
     "software": "biometric-station 0.1.0",
     "modalities": {
       "face":        {"score": "distance", "verify": {...}, "identify": {...}, ...},
       "fingerprint": {"score": "similarity", "verify": {...}, "identify": {...},
                       "quality": {"min_quality": 35, ...}, ...},
       "fused":       null},
     "devices": {"camera": {...}, "capture": {...}}}

An operating point (``verify`` or ``identify``) holds ``threshold``, ``target`` (``metric`` fmr or
fpir and ``value``), ``measured`` rates as ``{"value", "ci": [low, high]}``, and for 1:N the
``gallery_size`` the threshold was chosen for and ``method`` (measured or extrapolated). Each
modality also says which ``dataset`` and ``bootstrap`` it was measured with. ``fused`` is the
place of the fused score's thresholds: score fusion is not built yet, so it is written as null
and a section there is read like any other (similarity scores).

Every calibrate command updates its own modality or device in an existing file and keeps the
rest. :func:`load_calibration` checks everything and raises :class:`CalibrationError` saying
where the file is wrong and what to do.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from calibration.bootstrap import Interval
from calibration.defaults import CalibrationError
from calibration.error_rates import Polarity

log = logging.getLogger(__name__)

FORMAT = "biometric-station-calibration"
FORMAT_VERSION = 1
FILE_NAME = "calibration.json"
# modality -> (score polarity, lowest and highest sensible threshold)
MODALITIES: dict[str, tuple[Polarity, float, float]] = {
    "face": ("distance", 0.0, 4.0),  # Euclidean distance of unit-scale 128-d templates
    "fingerprint": ("similarity", 0.0, 1.0),  # MCC similarity
    "fused": ("similarity", -math.inf, math.inf),  # not built yet: any finite number
}
DEVICES = ("camera", "capture")
TASKS = {"verify": "fmr", "identify": "fpir"}
DEFAULT_GROWTH_FACTOR = 2.0


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def software() -> str:
    try:
        return f"biometric-station {metadata.version('biometric-station')}"
    except metadata.PackageNotFoundError:
        return "biometric-station"


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold and what it was chosen for: ``target_metric`` (fmr or fpir) at ``target``,
    with the rates measured at it. ``gallery_size`` and ``method`` for 1:N only."""

    threshold: float
    target_metric: str
    target: float
    measured: dict[str, Interval]
    gallery_size: int | None = None
    method: str | None = None


@dataclass(frozen=True)
class ModalityCalibration:
    name: str
    polarity: Polarity
    verify: OperatingPoint | None
    identify: OperatingPoint | None
    min_quality: float | None  # fingerprint image quality (0-100) an enrollment must reach
    section: dict[str, Any] = field(repr=False)  # everything as written, for reports


@dataclass(frozen=True)
class CameraCalibration:
    """Camera intrinsics: 3x3 matrix, distortion coefficients (OpenCV order), image size."""

    matrix: list[list[float]]
    distortion: list[float]
    image_size: tuple[int, int]
    reprojection_error: float


@dataclass(frozen=True)
class Calibration:
    """A loaded calibration file. Thresholds are None where the file does not calibrate them
    (the station then keeps its default and should say so)."""

    version: int
    created: str
    modalities: dict[str, ModalityCalibration]
    camera: CameraCalibration | None
    document: dict[str, Any] = field(repr=False)
    path: Path | None = None

    def point(self, modality: str, task: str) -> OperatingPoint | None:
        section = self.modalities.get(modality)
        if section is None:
            return None
        return section.verify if task == "verify" else section.identify

    def threshold(self, modality: str, task: str) -> float | None:
        point = self.point(modality, task)
        return None if point is None else point.threshold

    @property
    def face_verify_threshold(self) -> float | None:
        return self.threshold("face", "verify")

    @property
    def face_identify_threshold(self) -> float | None:
        return self.threshold("face", "identify")

    @property
    def face_encoder(self) -> str | None:
        """The face encoder the face thresholds were measured with; files written before the
        encoder was recorded were all measured with dlib's."""
        section = self.modalities.get("face")
        return None if section is None else str(section.section.get("encoder", "dlib"))

    @property
    def fingerprint_verify_threshold(self) -> float | None:
        return self.threshold("fingerprint", "verify")

    @property
    def fingerprint_identify_threshold(self) -> float | None:
        return self.threshold("fingerprint", "identify")

    @property
    def fused_verify_threshold(self) -> float | None:
        return self.threshold("fused", "verify")

    @property
    def fingerprint_min_quality(self) -> float | None:
        section = self.modalities.get("fingerprint")
        return None if section is None else section.min_quality

    @property
    def identify_gallery_size(self) -> int | None:
        """The gallery size the face 1:N threshold was calibrated for (the station's gallery)."""
        return self.calibrated_gallery_size("face")

    def calibrated_gallery_size(self, modality: str) -> int | None:
        """The gallery size a modality's 1:N threshold was calibrated for."""
        point = self.point(modality, "identify")
        return None if point is None else point.gallery_size


# ---------------------------------------------------------------- checking


class _Checker:
    """Reads values out of the parsed JSON, raising errors that name the file and the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> CalibrationError:
        return CalibrationError(
            f"calibration file {self.source}: {where} {problem}; re-run `station calibrate` "
            "to write a new one, or remove the file to use the defaults"
        )

    def table(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be an object, got {type(value).__name__}")
        return value

    def get(self, table: dict[str, Any], key: str, where: str) -> Any:
        if key not in table:
            raise self.fail(f"{where}.{key}" if where else key, "is missing")
        return table[key]

    def number(
        self, value: Any, where: str, low: float = -math.inf, high: float = math.inf
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise self.fail(where, f"must be a finite number, got {value!r}")
        if not low <= number <= high:
            raise self.fail(where, f"must lie from {low:g} to {high:g}, got {value!r}")
        return number

    def integer(self, value: Any, where: str, low: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be a whole number, got {value!r}")
        if value < low:
            raise self.fail(where, f"must be at least {low}, got {value}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"must be non-empty text, got {value!r}")
        return value

    def interval(self, value: Any, where: str) -> Interval:
        table = self.table(value, where)
        measured = self.number(self.get(table, "value", where), f"{where}.value", 0, 1)
        ci = self.get(table, "ci", where)
        if not isinstance(ci, list) or len(ci) != 2:
            raise self.fail(f"{where}.ci", f"must be [low, high], got {ci!r}")
        low = self.number(ci[0], f"{where}.ci[0]", 0, 1)
        high = self.number(ci[1], f"{where}.ci[1]", 0, 1)
        if not low <= measured <= high:
            raise self.fail(f"{where}.ci", f"[{low}, {high}] must contain the value {measured}")
        return Interval(measured, low, high)


def _point(c: _Checker, value: Any, modality: str, task: str) -> OperatingPoint | None:
    where = f"modalities.{modality}.{task}"
    if value is None:
        return None
    table = c.table(value, where)
    _, low, high = MODALITIES[modality]
    threshold = c.number(c.get(table, "threshold", where), f"{where}.threshold", low, high)
    target = c.table(c.get(table, "target", where), f"{where}.target")
    metric = c.get(target, "metric", f"{where}.target")
    if metric != TASKS[task]:
        raise c.fail(f"{where}.target.metric", f"must be {TASKS[task]!r}, got {metric!r}")
    rate = c.number(c.get(target, "value", f"{where}.target"), f"{where}.target.value", 0, 1)
    measured_table = c.table(c.get(table, "measured", where), f"{where}.measured")
    measured = {
        name: c.interval(item, f"{where}.measured.{name}") for name, item in measured_table.items()
    }
    if metric not in measured:
        raise c.fail(f"{where}.measured.{metric}", "is missing")
    gallery_size = method = None
    if task == "identify":
        gallery_size = c.integer(
            c.get(table, "gallery_size", where), f"{where}.gallery_size", low=1
        )
        method = c.get(table, "method", where)
        if method not in ("measured", "extrapolated"):
            raise c.fail(f"{where}.method", f"must be 'measured' or 'extrapolated', got {method!r}")
    return OperatingPoint(threshold, metric, rate, measured, gallery_size, method)


def _modality(c: _Checker, name: str, value: Any) -> ModalityCalibration:
    where = f"modalities.{name}"
    table = c.table(value, where)
    polarity, _, _ = MODALITIES[name]
    score = c.get(table, "score", where)
    if score != polarity:
        raise c.fail(f"{where}.score", f"must be {polarity!r} for {name}, got {score!r}")
    verify = _point(c, table.get("verify"), name, "verify")
    identify = _point(c, table.get("identify"), name, "identify")
    if verify is None and identify is None:
        raise c.fail(where, "holds neither a verify nor an identify threshold")
    min_quality = None
    quality = table.get("quality")
    if quality is not None and "min_quality" in c.table(quality, f"{where}.quality"):
        min_quality = c.number(quality["min_quality"], f"{where}.quality.min_quality", 0, 100)
    return ModalityCalibration(name, polarity, verify, identify, min_quality, table)


def _camera(c: _Checker, value: Any) -> CameraCalibration:
    where = "devices.camera"
    table = c.table(value, where)
    matrix = c.get(table, "matrix", where)
    if not (isinstance(matrix, list) and len(matrix) == 3):
        raise c.fail(f"{where}.matrix", "must be 3 rows of 3 numbers")
    rows = []
    for i, row in enumerate(matrix):
        if not (isinstance(row, list) and len(row) == 3):
            raise c.fail(f"{where}.matrix", "must be 3 rows of 3 numbers")
        rows.append([c.number(v, f"{where}.matrix[{i}][{j}]") for j, v in enumerate(row)])
    distortion = c.get(table, "distortion", where)
    if not isinstance(distortion, list) or not 4 <= len(distortion) <= 14:
        raise c.fail(f"{where}.distortion", "must be a list of 4 to 14 numbers")
    size = c.get(table, "image_size", where)
    if not (isinstance(size, list) and len(size) == 2):
        raise c.fail(f"{where}.image_size", "must be [width, height]")
    return CameraCalibration(
        rows,
        [c.number(v, f"{where}.distortion[{i}]") for i, v in enumerate(distortion)],
        (
            c.integer(size[0], f"{where}.image_size[0]", 1),
            c.integer(size[1], f"{where}.image_size[1]", 1),
        ),
        c.number(c.get(table, "reprojection_error", where), f"{where}.reprojection_error", 0),
    )


def parse_calibration(document: Any, source: str = "<memory>") -> Calibration:
    """Check a parsed calibration document and return it as a :class:`Calibration`."""
    c = _Checker(source)
    top = c.table(document, "the top level")
    if top.get("format") != FORMAT:
        raise c.fail(
            "format", f"must be {FORMAT!r} (is this a calibration file?), got {top.get('format')!r}"
        )
    version = c.integer(c.get(top, "version", ""), "version", low=1)
    if version > FORMAT_VERSION:
        raise CalibrationError(
            f"calibration file {source} has format version {version}, this station reads up to "
            f"{FORMAT_VERSION}: upgrade the station, or re-run `station calibrate` with this one"
        )
    created = c.text(c.get(top, "created", ""), "created")
    sections = c.table(c.get(top, "modalities", ""), "modalities")
    unknown = sorted(set(sections) - set(MODALITIES))
    if unknown:
        raise c.fail(
            "modalities",
            f"names unknown modality {', '.join(unknown)}; valid: {', '.join(MODALITIES)}",
        )
    modalities = {
        name: _modality(c, name, value) for name, value in sections.items() if value is not None
    }
    devices = c.table(top.get("devices") or {}, "devices")
    unknown = sorted(set(devices) - set(DEVICES))
    if unknown:
        raise c.fail(
            "devices", f"names unknown device {', '.join(unknown)}; valid: {', '.join(DEVICES)}"
        )
    camera = _camera(c, devices["camera"]) if devices.get("camera") is not None else None
    if devices.get("capture") is not None:
        c.table(devices["capture"], "devices.capture")
    if not modalities and camera is None and not devices.get("capture"):
        raise c.fail("modalities", "calibrates nothing")
    return Calibration(version, created, modalities, camera, top)


def load_calibration(path: Path) -> Calibration:
    """Read and check a calibration file; :class:`CalibrationError` says what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalibrationError(
            f"calibration file {path} not found: run `station calibrate face|fingerprint DIR --out "
            f"{path.parent}` to make one"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"cannot read calibration file {path}: {exc}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(
            f"calibration file {path} is not valid JSON ({exc}): re-run `station calibrate`"
        ) from exc
    calibration = parse_calibration(document, str(path))
    return Calibration(
        calibration.version,
        calibration.created,
        calibration.modalities,
        calibration.camera,
        calibration.document,
        path,
    )


# ---------------------------------------------------------------- writing


def empty_document() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created": utc_now(),
        "software": software(),
        "modalities": {"fused": None},
        "devices": {},
    }


def update_calibration(
    path: Path, *, modality: str | None = None, device: str | None = None, section: dict[str, Any]
) -> Calibration:
    """Write one modality's or device's section into the file at ``path``, keeping the other
    sections of an existing file (which must itself be valid), checked before it is written."""
    if (modality is None) == (device is None):
        raise ValueError("give either a modality or a device")
    if path.exists():
        document = dict(load_calibration(path).document)
        if document.get("version") != FORMAT_VERSION:
            document["version"] = FORMAT_VERSION
    else:
        document = empty_document()
    document["created"] = utc_now()
    document["software"] = software()
    if modality is not None:
        document["modalities"] = {**document.get("modalities", {}), modality: section}
        document["modalities"].setdefault("fused", None)
    else:
        assert device is not None
        document["devices"] = {**(document.get("devices") or {}), device: section}
    calibration = parse_calibration(document, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)
    log.info("calibration written to %s", path)
    return Calibration(
        calibration.version,
        calibration.created,
        calibration.modalities,
        calibration.camera,
        document,
        path,
    )


def check_gallery_size(
    calibration: Calibration,
    current_size: int,
    factor: float = DEFAULT_GROWTH_FACTOR,
    modality: str | None = None,
) -> str | None:
    """A warning when the gallery holds more than ``factor`` times the people a 1:N threshold was
    calibrated for (FPIR grows with the gallery), else None. Every calibrated modality is
    checked unless one is named (the station's face gallery: ``modality="face"``)."""
    if not factor >= 1:
        raise ValueError(f"growth factor {factor} must be at least 1")
    names = [modality] if modality else list(calibration.modalities)
    over = []
    for name in names:
        point = calibration.point(name, "identify")
        if point is None or point.gallery_size is None:
            continue
        if current_size > factor * point.gallery_size:
            over.append((name, point))
    if not over:
        return None
    parts = [
        f"{name} 1:N threshold {point.threshold:g} was calibrated for {point.gallery_size:,} "
        f"(FPIR {point.target:.2%})"
        for name, point in over
    ]
    rerun = " and ".join(
        f"`station calibrate {name} DIR --gallery-size {current_size}`" for name, _ in over
    )
    return (
        f"the gallery holds {current_size:,} people, more than {factor:g} times what its "
        f"thresholds were calibrated for: {'; '.join(parts)}. False matches grow with the "
        f"gallery: re-run {rerun}"
    )
