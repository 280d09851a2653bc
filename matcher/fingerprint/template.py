"""The extracted fingerprint template, its versioned binary form and ISO/IEC 19794-2 records.

Only features are stored (minutiae at the working resolution, image size, quality); the search
form (MCC cylinders) is rebuilt from them on load, as SourceAFIS does.

Conventions: x to the right and y downwards in pixels at 500 dpi; ``direction`` in radians in
[0, 2*pi), measured counter-clockwise as the image is seen (the ISO/IEC 19794-2 convention), i.e.
``atan2(-dy, dx)`` in pixel coordinates; ``kind`` 1 ridge ending, 2 bifurcation, 0 other (the ISO
codes); ``quality`` 0-100.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from matcher.errors import TemplateError

MAGIC = b"BSFP"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<4sHHHHBH")  # magic, version, width, height, dpi, quality, count
_ROW = np.dtype([("x", "<f4"), ("y", "<f4"), ("d", "<f4"), ("k", "u1"), ("q", "u1")])
MAX_MINUTIAE = 255  # what ISO/IEC 19794-2 can carry in one finger view

KIND_OTHER = 0
KIND_ENDING = 1
KIND_BIFURCATION = 2


@dataclass(frozen=True)
class FingerprintTemplate:
    """Minutiae of one finger impression; columns are plain numpy arrays of equal length."""

    x: NDArray[np.float32]
    y: NDArray[np.float32]
    direction: NDArray[np.float32]
    kind: NDArray[np.uint8]
    minutia_quality: NDArray[np.uint8]
    width: int
    height: int
    quality: int = 0  # image quality 0-100 (NFIQ2-like), 0 when unknown
    dpi: int = 500

    @classmethod
    def from_columns(
        cls,
        x: NDArray[np.generic],
        y: NDArray[np.generic],
        direction: NDArray[np.generic],
        kind: NDArray[np.generic],
        minutia_quality: NDArray[np.generic],
        *,
        width: int,
        height: int,
        quality: int = 0,
        dpi: int = 500,
    ) -> FingerprintTemplate:
        """Build and validate a template, normalising dtypes and wrapping directions."""
        template = cls(
            np.ascontiguousarray(x, dtype=np.float32),
            np.ascontiguousarray(y, dtype=np.float32),
            np.ascontiguousarray(np.mod(direction, 2 * math.pi), dtype=np.float32)
            % np.float32(2 * math.pi),
            np.ascontiguousarray(kind, dtype=np.uint8),
            np.ascontiguousarray(np.clip(minutia_quality, 0, 100), dtype=np.uint8),
            int(width),
            int(height),
            int(quality),
            int(dpi),
        )
        template.validate()
        return template

    @property
    def count(self) -> int:
        return int(self.x.shape[0])

    def validate(self) -> None:
        """Raise :class:`TemplateError` unless every field is consistent and in range."""
        n = self.x.shape[0] if isinstance(self.x, np.ndarray) else -1
        columns = (self.x, self.y, self.direction, self.kind, self.minutia_quality)
        dtypes = (np.float32, np.float32, np.float32, np.uint8, np.uint8)
        for column, dtype in zip(columns, dtypes, strict=True):
            if not isinstance(column, np.ndarray) or column.dtype != dtype:
                raise TemplateError("template columns must be numpy arrays of the documented dtype")
            if column.ndim != 1 or column.shape[0] != n:
                raise TemplateError("template columns must be 1-D and of equal length")
        if n > MAX_MINUTIAE:
            raise TemplateError(f"at most {MAX_MINUTIAE} minutiae, got {n}")
        if not (0 < self.width <= 4096 and 0 < self.height <= 4096):
            raise TemplateError(f"image size {self.width}x{self.height} is out of range")
        if not 0 <= self.quality <= 100:
            raise TemplateError(f"quality {self.quality} is outside 0-100")
        if self.dpi != 500:
            raise TemplateError(f"templates are stored at 500 dpi, got {self.dpi}")
        if n:
            floats = np.concatenate([self.x, self.y, self.direction])
            if not np.all(np.isfinite(floats)):
                raise TemplateError("minutiae must be finite")
            if self.x.min() < 0 or self.x.max() >= self.width:
                raise TemplateError("a minutia lies outside the image width")
            if self.y.min() < 0 or self.y.max() >= self.height:
                raise TemplateError("a minutia lies outside the image height")
            if self.direction.min() < 0 or self.direction.max() >= 2 * math.pi + 1e-6:
                raise TemplateError("directions must lie in [0, 2*pi)")
            if self.kind.max() > 2:
                raise TemplateError("minutia kinds are 0 (other), 1 (ending), 2 (bifurcation)")
            if self.minutia_quality.max() > 100:
                raise TemplateError("minutia quality must lie in 0-100")

    # --- our versioned binary form -------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Versioned little-endian form: header, then one 14-byte row per minutia."""
        self.validate()
        rows = np.empty(self.count, dtype=_ROW)
        rows["x"], rows["y"], rows["d"] = self.x, self.y, self.direction
        rows["k"], rows["q"] = self.kind, self.minutia_quality
        header = _HEADER.pack(
            MAGIC, FORMAT_VERSION, self.width, self.height, self.dpi, self.quality, self.count
        )
        return header + rows.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> FingerprintTemplate:
        """Parse and validate :meth:`to_bytes` output; corrupt data raises TemplateError."""
        if len(data) < _HEADER.size:
            raise TemplateError("template data is truncated")
        magic, version, width, height, dpi, quality, count = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise TemplateError("not a fingerprint template (bad magic)")
        if version != FORMAT_VERSION:
            raise TemplateError(f"unsupported template version {version}")
        if len(data) != _HEADER.size + count * _ROW.itemsize:
            raise TemplateError("template length does not match its minutia count")
        rows = np.frombuffer(data, dtype=_ROW, count=count, offset=_HEADER.size)
        template = cls(
            np.ascontiguousarray(rows["x"]),
            np.ascontiguousarray(rows["y"]),
            np.ascontiguousarray(rows["d"]),
            np.ascontiguousarray(rows["k"]),
            np.ascontiguousarray(rows["q"]),
            width,
            height,
            quality,
            dpi,
        )
        template.validate()
        return template

    # --- ISO/IEC 19794-2:2005 finger minutiae record -------------------------------------------

    def to_iso19794_2(self, finger_position: int = 0) -> bytes:
        """One-view ISO/IEC 19794-2:2005 record ("FMR", " 20"); resolution in pixels per cm."""
        self.validate()
        ppcm = round(self.dpi / 2.54)
        body = bytearray()
        body += struct.pack(">BBBB", finger_position, 0, self.quality, self.count)
        for i in range(self.count):
            x = min(round(float(self.x[i])), 0x3FFF)
            y = min(round(float(self.y[i])), 0x3FFF)
            angle = round(float(self.direction[i]) * 256 / (2 * math.pi)) % 256
            body += struct.pack(
                ">HHBB",
                (int(self.kind[i]) & 0x3) << 14 | x,
                y,
                angle,
                int(self.minutia_quality[i]),
            )
        body += struct.pack(">H", 0)  # no extended data
        length = 24 + len(body)
        header = (
            b"FMR\x00"
            + b" 20\x00"
            + struct.pack(">IHHHHHBB", length, 0, self.width, self.height, ppcm, ppcm, 1, 0)
        )
        return header + bytes(body)

    @classmethod
    def from_iso19794_2(cls, data: bytes) -> FingerprintTemplate:
        """Read the first finger view of an ISO/IEC 19794-2:2005 record (rescaled to 500 dpi)."""
        if len(data) < 28 or data[:4] != b"FMR\x00" or data[4:8] != b" 20\x00":
            raise TemplateError("not an ISO/IEC 19794-2:2005 finger minutiae record")
        length, _device, width, height, xres, yres, views, _ = struct.unpack_from(
            ">IHHHHHBB", data, 8
        )
        if length != len(data) or views < 1 or xres == 0 or yres == 0:
            raise TemplateError("inconsistent ISO/IEC 19794-2 header")
        _position, _view, quality, count = struct.unpack_from(">BBBB", data, 24)
        if len(data) < 28 + 6 * count + 2:
            raise TemplateError("ISO/IEC 19794-2 record is truncated")
        raw = np.frombuffer(data, dtype=">u2,>u2,u1,u1", count=count, offset=28)
        first = raw["f0"].astype(np.int32)
        # 197 pixels/cm is how 500 dpi is written: keep it exact
        sx = 1.0 if xres == round(500 / 2.54) else 500 / (xres * 2.54)
        sy = 1.0 if yres == round(500 / 2.54) else 500 / (yres * 2.54)
        x = (first & 0x3FFF) * sx
        y = (raw["f1"].astype(np.int32) & 0x3FFF) * sy
        out_w, out_h = max(1, round(width * sx)), max(1, round(height * sy))
        x = np.minimum(x, out_w - 1)
        y = np.minimum(y, out_h - 1)
        return cls.from_columns(
            x,
            y,
            raw["f2"].astype(np.float64) * (2 * math.pi / 256),
            (first >> 14).astype(np.uint8),
            np.minimum(raw["f3"], 100),
            width=out_w,
            height=out_h,
            quality=min(int(quality), 100),
        )
