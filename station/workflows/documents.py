"""An ID card's machine-readable zone read from a photo of it, instead of typed: the access key
its chip opens with (BAC/PACE). The photo comes from the station's camera (the person holds the
card up) or an upload; the reading is accepted only when every check digit passes, never
guessed (:mod:`drivers.idcard.mrz_reader`); a refusal says what to do, and typing stays the
fallback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from drivers.idcard.mrz_reader import MRZReading, UnreadableImageError, read_mrz
from station.errors import InvalidImageError
from station.security.roles import SYSTEM, Actor, Permission
from station.workflows.inputs import one_source

if TYPE_CHECKING:
    from station.core import Station

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentInput:
    """Where the photo of the card comes from: an upload (bytes), pixels already decoded, or
    the station's camera (``capture``: one frame of the card the person holds up). Exactly one."""

    upload: bytes | None = None
    pixels: NDArray[np.uint8] | None = field(default=None, repr=False)
    capture: bool = False

    @property
    def source(self) -> str:
        return "camera" if self.capture else "upload" if self.upload is not None else "pixels"

    def check(self) -> DocumentInput:
        one_source(
            self.upload, self.pixels, self.capture, "send one photo of the card, or capture=true"
        )
        return self

    def acquire(self, station: Station) -> NDArray[np.uint8]:
        if self.pixels is not None:
            return self.pixels
        if self.upload is not None:
            return station.decode(self.upload)
        return station.devices.capture_document().pixels


def read_card_mrz(station: Station, document: DocumentInput, actor: Actor = SYSTEM) -> MRZReading:
    """Read the MRZ of the card in the photo (one of ``max_parallel_work`` slots: about 1.5 s of
    OCR), audited as ``mrz_read`` with its outcome, never with what it read."""
    station.allow(actor, Permission.READ_CARD)
    document.check()
    pixels = document.acquire(station)
    try:
        with station.working():
            reading = read_mrz(pixels)
    except UnreadableImageError as exc:
        raise InvalidImageError(f"{exc}: take the photo of the card again") from None
    station.audit.append(
        actor.login,
        "mrz_read",
        outcome=reading.outcome,
        detail={
            "source": document.source,
            "format": reading.format,
            "failed_checks": len(reading.failed_checks),
            "seconds": round(reading.seconds, 2),
        },
    )
    log.info("MRZ from the %s: %s in %.2f s", document.source, reading.outcome, reading.seconds)
    return reading
