"""The station's workflows, independent of HTTP: the API and the CLI call the same code.

A :class:`Station` owns the data directory while open: the SQLite records, the face gallery kept
in step with them, the face encoder and the camera.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from drivers.camera import Camera, camera_for_url
from drivers.errors import DriverError
from drivers.fingerprint import FingerprintScanner, scanner_for_url
from drivers.idcard import CardReader, card_reader_for_url
from matcher.face import FaceEncoder, FaceGallery, FaceTemplate
from matcher.face.gallery import GalleryError
from matcher.face.quality import FaceQualityChecker
from station.capture import capture_face
from station.config import Settings
from station.datadir import DataDirectoryLock
from station.errors import CaptureRefusedError, InvalidInputError, NoCameraError
from station.images import decode_image
from station.records import PersonFields, Record
from station.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """A gallery record close to the probe face."""

    rank: int
    record: Record
    distance: float
    match: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "record_id": self.record.id,
            "name": self.record.fields.name,
            "document_number": self.record.fields.document_number,
            "distance": round(self.distance, 4),
            "match": self.match,
        }


@dataclass(frozen=True)
class Identification:
    """The answer to 1:N: candidates nearest first, and the decision at the threshold."""

    candidates: list[Candidate]
    threshold: float
    face_box: tuple[int, int, int, int]
    gallery_size: int
    seconds: float

    @property
    def match(self) -> Candidate | None:
        top = self.candidates[0] if self.candidates else None
        return top if top is not None and top.match else None

    def to_json(self) -> dict[str, Any]:
        best = self.match
        return {
            "decision": "match" if best else "no_match",
            "match": best.to_json() if best else None,
            "candidates": [c.to_json() for c in self.candidates],
            "threshold": self.threshold,
            "gallery_size": self.gallery_size,
            "face_box": list(self.face_box),
            "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class Verification:
    """The answer to 1:1: is the probe the person of this record?"""

    record: Record
    distance: float
    threshold: float
    face_box: tuple[int, int, int, int]

    @property
    def match(self) -> bool:
        return self.distance <= self.threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": "match" if self.match else "no_match",
            "match": self.match,
            "record_id": self.record.id,
            "distance": round(self.distance, 4),
            "threshold": self.threshold,
            "face_box": list(self.face_box),
        }


class Station:
    """Open with ``with Station(settings) as station:``; holds the data directory until closed."""

    def __init__(
        self,
        settings: Settings,
        encoder: FaceEncoder | None = None,
        camera: Camera | None = None,
    ) -> None:
        self.settings = settings
        self.encoder = encoder or FaceEncoder(max_detection_side=settings.max_detection_side)
        self.quality = FaceQualityChecker(encoder=self.encoder)
        if camera is None and settings.camera_url:
            camera = camera_for_url(settings.camera_url)
        self.camera = camera
        self.scanner: FingerprintScanner | None = (
            scanner_for_url(settings.scanner_url) if settings.scanner_url else None
        )
        self.card_reader: CardReader | None = (
            card_reader_for_url(settings.card_reader_url) if settings.card_reader_url else None
        )
        self._lock = DataDirectoryLock(settings.data_dir)
        self._storage: Storage | None = None
        self._gallery: FaceGallery | None = None
        self._camera_lock = threading.Lock()
        self._scanner_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._unsaved_changes = 0
        self.started_at = time.time()

    # -- life cycle ---------------------------------------------------------------------------

    def open(self) -> Station:
        self._lock.acquire()
        try:
            for folder in (self.settings.gallery_dir, self.settings.log_dir):
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._storage = Storage(self.settings.database_path)
            self._gallery = self._load_gallery(self._storage)
        except BaseException:
            self._lock.release()
            raise
        log.info(
            "station open: data %s, %d records, camera %s",
            self.settings.data_dir,
            len(self._gallery),
            self.settings.camera_url or "none",
        )
        return self

    def close(self) -> None:
        try:
            if self._gallery is not None and self._unsaved_changes:
                self._gallery.save(self.settings.gallery_dir)
            if self._storage is not None:
                self._storage.close()
        finally:
            self._storage = None
            self._gallery = None
            self._lock.release()

    def __enter__(self) -> Station:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            raise RuntimeError("the station is not open")
        return self._storage

    @property
    def gallery(self) -> FaceGallery:
        if self._gallery is None:
            raise RuntimeError("the station is not open")
        return self._gallery

    def _load_gallery(self, storage: Storage) -> FaceGallery:
        """Load the saved gallery and bring it in step with the database (the source of truth)."""
        folder = self.settings.gallery_dir
        gallery: FaceGallery | None = None
        if (folder / "face.json").exists():
            try:
                gallery = FaceGallery.load(folder)
            except GalleryError as exc:
                log.warning("saved face gallery unusable (%s): rebuilding from the database", exc)
        if gallery is None:
            gallery = FaceGallery()
        in_db = storage.record_ids()
        in_gallery = gallery.ids()
        stale = np.setdiff1d(in_gallery, in_db)
        missing = np.setdiff1d(in_db, in_gallery)
        if stale.size:
            gallery.remove(stale)
        if missing.size:
            gallery.add(missing, storage.templates(missing))
        if stale.size or missing.size:
            log.info("face gallery reconciled: %d added, %d removed", missing.size, stale.size)
            gallery.save(folder)
        return gallery

    def _changed(self) -> None:
        self._unsaved_changes += 1
        if self._unsaved_changes >= self.settings.gallery_save_every:
            self.gallery.save(self.settings.gallery_dir)
            self._unsaved_changes = 0

    # -- inputs ---------------------------------------------------------------------------------

    def decode(self, data: bytes) -> NDArray[np.uint8]:
        return decode_image(data, self.settings.max_image_pixels)

    def capture(self) -> NDArray[np.uint8]:
        """A face photo from the configured camera, opened for this capture only.

        Frames are checked for quality until one passes (one face, large, sharp, well exposed,
        frontal, eyes open) or the camera timeout ends; the result is the accepted frame's token
        portrait (eyes level at a fixed distance), which is what gets matched.
        """
        if self.camera is None:
            raise NoCameraError()
        with self._camera_lock:
            result = capture_face(self.camera, self.quality, timeout=self.settings.camera_timeout)
        if not result.accepted or result.portrait is None:
            reasons = result.report.reasons
            raise CaptureRefusedError([r.message for r in reasons], [r.code for r in reasons])
        return result.portrait

    def encode(self, pixels: NDArray[np.uint8]) -> FaceTemplate:
        return self.encoder.encode(pixels)

    # -- workflows ------------------------------------------------------------------------------

    def enroll(self, pixels: NDArray[np.uint8], fields: PersonFields) -> Record:
        """Store a new person with the face in this photo; nothing is stored if any step fails."""
        face = self.encode(pixels)
        with self._write_lock:
            record = self.storage.add_record(fields, face.vector, face.box)
            try:
                self.gallery.add_one(record.id, face.vector)
            except BaseException:
                self.storage.delete_record(record.id)
                raise
            self._changed()
        log.info("enrolled record %d", record.id)
        return record

    def identify(self, pixels: NDArray[np.uint8], top_k: int | None = None) -> Identification:
        """1:N: the nearest enrolled faces and whether the nearest is close enough to be a match."""
        k = self.settings.top_k if top_k is None else top_k
        if not 1 <= k <= 100:
            raise InvalidInputError("top_k must lie between 1 and 100", field="top_k")
        started = time.perf_counter()
        face = self.encode(pixels)
        results = self.gallery.search_one(face.vector, k)
        records = self.storage.get_records([r.record_id for r in results])
        threshold = self.settings.face_identify_threshold
        candidates = [
            Candidate(
                rank=rank,
                record=records[r.record_id],
                distance=r.distance,
                match=r.distance <= threshold,
            )
            for rank, r in enumerate((r for r in results if r.record_id in records), start=1)
        ]
        elapsed = time.perf_counter() - started
        log.info(
            "identify: %d candidates, decision %s",
            len(candidates),
            "match" if candidates and candidates[0].match else "no_match",
        )
        return Identification(
            candidates=candidates,
            threshold=threshold,
            face_box=face.box,
            gallery_size=len(self.gallery),
            seconds=elapsed,
        )

    def verify(self, record_id: int, pixels: NDArray[np.uint8]) -> Verification:
        """1:1: is the face in this photo the person of this record?"""
        record = self.storage.get_record(record_id)
        enrolled = self.storage.get_template(record_id)
        face = self.encode(pixels)
        distance = float(np.linalg.norm(face.vector - enrolled))
        log.info("verify record %d: distance %.4f", record_id, distance)
        return Verification(
            record=record,
            distance=distance,
            threshold=self.settings.face_verify_threshold,
            face_box=face.box,
        )

    def get_record(self, record_id: int) -> Record:
        return self.storage.get_record(record_id)

    def delete_record(self, record_id: int) -> None:
        with self._write_lock:
            self.storage.delete_record(record_id)
            self.gallery.remove([record_id])
            self._changed()
        log.info("deleted record %d", record_id)

    def check_devices(self) -> dict[str, Any]:
        """Open each configured device briefly and say whether it answers (for technicians)."""
        report: dict[str, Any] = {}

        def probe(name: str, url: str, check: Any) -> None:
            if not url:
                report[name] = {"configured": False}
                return
            try:
                report[name] = {"configured": True, "url": url, "ok": True, **check()}
            except (DriverError, OSError, ValueError) as exc:
                report[name] = {"configured": True, "url": url, "ok": False, "error": str(exc)}

        def camera_info() -> dict[str, Any]:
            assert self.camera is not None
            with self._camera_lock, self.camera as camera:
                return {"description": camera.info().description}

        def scanner_info() -> dict[str, Any]:
            assert self.scanner is not None
            with self._scanner_lock, self.scanner as scanner:
                return {"info": scanner.info().to_json()}

        def card_reader_info() -> dict[str, Any]:
            assert self.card_reader is not None
            return {"readers": self.card_reader.list_readers()}

        probe("camera", self.settings.camera_url, camera_info)
        probe("scanner", self.settings.scanner_url, scanner_info)
        probe("card_reader", self.settings.card_reader_url, card_reader_info)
        return report

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "records": self.storage.count(),
            "gallery_size": len(self.gallery),
            "face_verify_threshold": self.settings.face_verify_threshold,
            "face_identify_threshold": self.settings.face_identify_threshold,
            "devices": {
                "camera": self.settings.camera_url or None,
                "scanner": self.settings.scanner_url or None,
                "card_reader": self.settings.card_reader_url or None,
            },
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }
