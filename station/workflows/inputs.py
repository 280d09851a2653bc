"""What a job takes from the person at the desk: a face, fingers, an ID card. Each input is checked
whole before any device is driven or any image decoded (a wrong finger position must not make the
scanner ask for a finger first), then acquired: decoded, captured, scanned or read.

Every door builds the same inputs: the API from a multipart or JSON request, the CLI from files
and flags, Python callers from pixels and templates they already hold.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from drivers.idcard import AccessKey, ChipDocument, MRZError
from matcher.fingerprint import FingerprintTemplate
from matcher.fingerprint.image import MAX_DPI, MIN_DPI
from station.errors import ImageRequiredError, ImageTooLargeError, InvalidInputError, StationError
from station.images import finger_limit_words
from station.records import PersonFields
from station.security.roles import SYSTEM, Actor
from station.storage import utc_now

if TYPE_CHECKING:
    from station.core import Station

FINGER_POSITIONS = range(1, 11)  # ISO/IEC 19794-2: 1 right thumb ... 6 left thumb ... 10
# Why a finger could not be taken (a biometric exception, approved by a supervisor).
EXCEPTION_REASONS = ("missing", "injured", "bandaged", "unreadable")


class FingerRefusedError(StationError):
    """A finger image too poor to enroll or compare."""

    code = "finger_refused"

    def __init__(self, position: int, message: str, reasons: list[str]) -> None:
        self.position = position
        self.reason_codes = reasons
        super().__init__(f"finger {position}: {message}: place the finger again, flat and dry")


def check_position(position: object, field_name: str) -> int:
    if (
        not isinstance(position, int)
        or isinstance(position, bool)
        or position not in FINGER_POSITIONS
    ):
        raise InvalidInputError(
            f"finger position {position} is not an ISO position 1-10 (1 right thumb, 2 right "
            "index, ... 6 left thumb, 7 left index, ...)",
            field=field_name,
        )
    return position


def check_dpi(dpi: object) -> float:
    if (
        isinstance(dpi, bool)
        or not isinstance(dpi, int | float)
        or not MIN_DPI <= float(dpi) <= MAX_DPI
    ):
        raise InvalidInputError(f"dpi is a number from {MIN_DPI} to {MAX_DPI}", field="dpi")
    return float(dpi)


# -- the face ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceInput:
    """Where the face comes from: an uploaded photo (``upload``, bytes), pixels already decoded
    (``pixels``), or the station's camera (``capture``). Exactly one."""

    upload: bytes | None = None
    pixels: NDArray[np.uint8] | None = field(default=None, repr=False)
    capture: bool = False

    @classmethod
    def of(cls, pixels: NDArray[np.uint8]) -> FaceInput:
        return cls(pixels=pixels)

    def check(self) -> FaceInput:
        one_source(
            self.upload, self.pixels, self.capture, "send one face: a photo, or capture=true"
        )
        return self

    def acquire(self, station: Station, actor: Actor = SYSTEM) -> NDArray[np.uint8]:
        if self.pixels is not None:
            return self.pixels
        if self.upload is not None:
            return station.decode(self.upload)
        if station.settings.liveness == "challenge":
            from station.workflows.liveness import live_face

            return live_face(station, actor)
        return station.devices.capture_face(station.quality)


# -- fingers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FingerImage:
    """A finger image as captured (grey or RGB pixels) and its resolution."""

    pixels: NDArray[np.uint8] = field(repr=False)
    dpi: float = 500


@dataclass(frozen=True)
class FingerInput:
    """Fingers by ISO position: uploaded image files (bytes, at ``dpi``), decoded images,
    templates already extracted, and positions to take from the scanner, in that order; and
    the fingers that could not be taken, with why (``exceptions``: position -> one of
    :data:`EXCEPTION_REASONS`), which a supervisor must approve."""

    uploads: Mapping[int, bytes] = field(default_factory=dict)
    images: Mapping[int, FingerImage] = field(default_factory=dict, repr=False)
    templates: Mapping[int, FingerprintTemplate] = field(default_factory=dict, repr=False)
    scans: Sequence[int] = ()
    dpi: float = 500
    exceptions: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, templates: Mapping[int, FingerprintTemplate]) -> FingerInput:
        return cls(templates=dict(templates))

    @property
    def positions(self) -> list[int]:
        return [*self.uploads, *self.images, *self.templates, *self.scans]

    def __len__(self) -> int:
        return len(self.positions)

    def check(self) -> FingerInput:
        check_dpi(self.dpi)
        seen: set[int] = set()
        for source, positions in (
            ("finger", list(self.uploads) + list(self.images) + list(self.templates)),
            ("scan_fingers", list(self.scans)),
            ("exceptions", list(self.exceptions)),
        ):
            for position in positions:
                name = f"finger_{position}" if source == "finger" else source
                check_position(position, name)
                if position in seen:
                    raise InvalidInputError(f"finger {position} given twice", field=name)
                seen.add(position)
        for position, reason in self.exceptions.items():
            if reason not in EXCEPTION_REASONS:
                raise InvalidInputError(
                    f"finger {position}: an exception is one of {', '.join(EXCEPTION_REASONS)}",
                    field="exceptions",
                )
        return self

    def acquire(self, station: Station) -> dict[int, FingerprintTemplate]:
        """The templates: uploads decoded and extracted one at a time, then the scans."""
        return self.acquire_with_images(station)[0]

    def acquire_with_images(
        self, station: Station
    ) -> tuple[dict[int, FingerprintTemplate], dict[int, FingerImage]]:
        """The templates, and the images they were made from (to keep with an enrollment)."""
        templates: dict[int, FingerprintTemplate] = dict(self.templates)
        images: dict[int, FingerImage] = {}
        for position, data in sorted(self.uploads.items()):
            images[position] = FingerImage(station.decode_finger(data, self.dpi), self.dpi)
            templates[position] = finger_template(
                station, position, images[position].pixels, self.dpi
            )
        for position, image in sorted(self.images.items()):
            images[position] = image
            templates[position] = finger_template(station, position, image.pixels, image.dpi)
        for position in self.scans:
            scanned = station.devices.scan_finger(position)
            images[position] = FingerImage(scanned.pixels, scanned.dpi)
            templates[position] = finger_template(station, position, scanned.pixels, scanned.dpi)
        return templates, images


def finger_template(
    station: Station, position: int, pixels: NDArray[Any], dpi: float = 500
) -> FingerprintTemplate:
    """The template of one finger image, refused when too large to work on or too poor to
    rely on."""
    from matcher.fingerprint import extract

    check_position(position, f"finger_{position}")
    dpi = check_dpi(dpi)
    settings = station.settings
    height, width = pixels.shape[:2]
    if height * width * (500 / dpi) ** 2 > settings.max_finger_pixels:
        raise ImageTooLargeError(
            f"the finger image is {width}x{height} pixels at {dpi:g} dpi; the station accepts "
            f"at most {finger_limit_words(settings.max_finger_pixels, dpi)}: send the finger "
            "alone, cropped to the print"
        )
    with station.working():
        template = extract.extract(pixels, dpi)
    reasons = []
    if template.quality < settings.fingerprint_min_quality:
        reasons.append("low_quality")
    if template.count < settings.fingerprint_min_minutiae:
        reasons.append("few_minutiae")
    if reasons:
        raise FingerRefusedError(
            position,
            f"quality {template.quality:.0f} with {template.count} minutiae is not enough "
            f"(at least {settings.fingerprint_min_quality} and "
            f"{settings.fingerprint_min_minutiae})",
            reasons,
        )
    return template


# -- the ID card -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardInput:
    """The ID card on the station's reader, opened with the access key from its MRZ (typed by
    the operator or read from the card by the camera); or a card already read (``document``)."""

    mrz: str | None = None
    document: ChipDocument | None = field(default=None, repr=False)

    @classmethod
    def of(cls, document: ChipDocument) -> CardInput:
        return cls(document=document)

    def check(self) -> AccessKey | None:
        if self.document is not None:
            return None
        if not self.mrz:
            raise InvalidInputError(
                "mrz is required: the card's machine-readable zone", field="mrz"
            )
        try:
            return AccessKey.from_mrz(self.mrz.replace("\\n", "\n"))
        except (MRZError, ValueError) as exc:
            raise InvalidInputError(f"mrz: {exc}", field="mrz") from None

    def acquire(self, station: Station) -> ChipDocument:
        if self.document is not None:
            return self.document
        key = self.check()
        assert key is not None
        return station.devices.read_card(key)


def card_fields(card: ChipDocument) -> PersonFields:
    """The person's fields as the chip holds them (DG1)."""
    m = card.mrz

    def date(yymmdd: str) -> str | None:
        if not yymmdd.isdigit():
            return None
        year = int(yymmdd[:2])
        century = 2000 if 2000 + year <= time.gmtime().tm_year else 1900
        return f"{century + year:04d}-{yymmdd[2:4]}-{yymmdd[4:6]}"

    return PersonFields.from_mapping(
        {
            "name": f"{m.given_names} {m.surname}".strip(),
            "document_type": {"I": "ID card", "P": "passport"}.get(m.document_code[:1], "document"),
            "document_number": m.document_number,
            "nationality": m.nationality,
            "birth_date": date(m.birth_date),
            "sex": m.sex if m.sex in {"M", "F"} else "X",
        }
    )


def card_summary(card: ChipDocument) -> dict[str, Any]:
    """What the station keeps of a card read: the data groups and the checks, not the raw files."""
    m = card.mrz
    return {
        "document_code": m.document_code,
        "issuing_state": m.issuing_state,
        "document_number": m.document_number,
        "expiry_date": m.expiry_date,
        "data_groups": [f"DG{n}" for n in card.data_groups],
        "access_protocol": card.access_protocol,
        "passive_auth_passed": card.passive_auth.passed,
        "passive_auth": card.passive_auth.summary(),
        "read_at": utc_now(),
    }


def one_source(
    upload: bytes | None, pixels: NDArray[np.uint8] | None, capture: bool, words: str
) -> None:
    """Exactly one of an uploaded image, pixels or a capture, or an error a client can fix."""
    given = sum((upload is not None, pixels is not None, capture))
    if given == 0:
        raise ImageRequiredError()
    if given > 1:
        raise InvalidInputError(words, field="image")


def jpeg(pixels: NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png(pixels: NDArray[np.uint8], dpi: float | None = None) -> bytes:
    """Lossless, for finger images (the centre may extract them again with its own algorithm);
    the resolution goes in the file's pHYs chunk."""
    buffer = io.BytesIO()
    extra = {"dpi": (dpi, dpi)} if dpi else {}
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=True, **extra)
    return buffer.getvalue()
