"""What a console page keeps between its steps: one draft per job under way at one console
session (an enrollment collecting consent, card, face and fingers; an intake; an
identification). Drafts live in memory only (they hold biometric data), end with the session
(sign-out, expiry) and after ``DRAFT_SECONDS``; each has a random id, so no personal data ever
appears in a URL."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from drivers.idcard import ChipDocument
from matcher.fingerprint import FingerprintTemplate
from station.devices import LiveCapture
from station.workflows.inputs import FingerImage

DRAFT_SECONDS = 3600


@dataclass
class Finger:
    template: FingerprintTemplate
    preview: bytes  # PNG to show
    pixels: NDArray[np.uint8] = field(repr=False)
    dpi: float = 500


@dataclass
class Draft:
    """One job under way. ``kind`` is enroll, intake or identify."""

    kind: str
    owner: str  # the console session's token digest
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    started: float = field(default_factory=time.monotonic)
    consent: bool = False
    purpose: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    card: ChipDocument | None = field(default=None, repr=False)
    mrz: str = field(default="", repr=False)  # as typed, or as the camera read it
    face: NDArray[np.uint8] | None = field(default=None, repr=False)
    live: LiveCapture | None = field(default=None, repr=False)
    preview: bytes | None = field(default=None, repr=False)  # the last live frame
    fingers: dict[int, Finger] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)
    exceptions: dict[int, str] = field(default_factory=dict)
    result: Any = None  # the workflow's answer once saved
    error: str | None = None

    def finger_images(self) -> dict[int, FingerImage]:
        """The scanned prints, as a workflow's ``FingerInput`` takes them."""
        return {p: FingerImage(f.pixels, f.dpi) for p, f in self.fingers.items()}

    def close_camera(self) -> None:
        if self.live is not None:
            self.live.close()
            self.live = None


class Drafts:
    """Drafts by id, each bound to the console session that made it. Thread-safe."""

    def __init__(self) -> None:
        self._drafts: dict[str, Draft] = {}
        self._lock = threading.Lock()

    def new(self, kind: str, owner: str) -> Draft:
        draft = Draft(kind, owner)
        with self._lock:
            self._prune()
            for other in [d for d in self._drafts.values() if d.owner == owner and d.kind == kind]:
                other.close_camera()
                del self._drafts[other.id]
            self._drafts[draft.id] = draft
        return draft

    def get(self, draft_id: str, owner: str, kind: str | None = None) -> Draft | None:
        with self._lock:
            draft = self._drafts.get(draft_id)
        if draft is None or draft.owner != owner or (kind is not None and draft.kind != kind):
            return None
        return draft

    def drop(self, draft_id: str) -> None:
        with self._lock:
            draft = self._drafts.pop(draft_id, None)
        if draft is not None:
            draft.close_camera()

    def end_session(self, owner: str) -> None:
        with self._lock:
            mine = [d for d in self._drafts.values() if d.owner == owner]
            for draft in mine:
                del self._drafts[draft.id]
        for draft in mine:
            draft.close_camera()

    def _prune(self) -> None:
        cutoff = time.monotonic() - DRAFT_SECONDS
        for old in [d for d in self._drafts.values() if d.started < cutoff]:
            old.close_camera()
            del self._drafts[old.id]
