"""The station's core: what a running station owns while its data directory is open.

A :class:`Station` holds the data directory (one process at a time), the SQLite records sealed
with the key from outside the database, the audit trail, the operator accounts and sessions, the
face and fingerprint galleries built in memory from the records, the face encoder and the devices.
It decides nothing about people: the jobs (enroll, verify at intake, identify, correct, block,
delete, export...) are functions in :mod:`station.workflows`, each taking a station and the acting
operator. The core offers them what they share: ``writing()`` for a change and its audit row in
one transaction, ``working()`` to bound the heavy computations, ``allow()`` to check a role.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from sqlite3 import Connection
from types import TracebackType
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from drivers.camera import Camera
from matcher.face import MODEL_OF, FaceEncoder, FaceTemplate, face_encoder
from matcher.face.quality import FaceQualityChecker
from matcher.fusion import FACE_MODELS, FusionParams
from station.audit import AuditLog
from station.config import FIELDS, Settings, load_secrets
from station.datadir import DataDirectoryLock
from station.devices import Devices
from station.errors import InvalidInputError, StationBusyError
from station.face_migration import FaceMigration, reencode_faces
from station.galleries import Galleries
from station.images import decode_image, finger_limit_words
from station.records import ROLL_PURPOSE, parse_purpose
from station.security.keyring import open_storage
from station.security.operators import Operators
from station.security.roles import SYSTEM, Actor, Permission
from station.security.sessions import Sessions
from station.security.throttle import SignInThrottle
from station.storage import Storage, face_format

log = logging.getLogger(__name__)

# Settings whose change at a start is not audited (``config_change``): where the station runs and
# which devices it opens come and go with each command; every other setting is a decision or a
# safeguard, and its change is audited.
UNAUDITED_SETTINGS = frozenset(
    {
        "data_dir",
        "datasets_dir",
        "host",
        "port",
        "camera_url",
        "scanner_url",
        "card_reader_url",
        "log_level",
    }
)
AUDITED_SETTINGS = tuple(sorted(set(FIELDS) - UNAUDITED_SETTINGS))


T = TypeVar("T")


def _opened(part: T | None) -> T:
    if part is None:
        raise RuntimeError("the station is not open")
    return part


class Station:
    """Open with ``with Station(settings) as station:``; holds the data directory until closed."""

    def __init__(
        self,
        settings: Settings,
        encoder: FaceEncoder | None = None,
        camera: Camera | None = None,
    ) -> None:
        self.settings = settings
        self.encoder = encoder or face_encoder(
            settings.face_encoder,
            max_detection_side=settings.max_detection_side,
            refine_landmarks=settings.face_landmarks_68,
        )
        if self.encoder.model != MODEL_OF[settings.face_encoder]:
            raise ValueError(
                f"the encoder given makes {self.encoder.model} templates, the settings say "
                f"face_encoder={settings.face_encoder}: thresholds and fusion would not fit"
            )
        self.quality = FaceQualityChecker(encoder=self.encoder)
        self.devices = Devices(settings, camera)
        self.sessions = Sessions(settings.session_idle_seconds, settings.session_max_seconds)
        self._env_key = load_secrets().key
        self._lock = DataDirectoryLock(settings.data_dir)
        self._storage: Storage | None = None
        self._galleries: Galleries | None = None
        self._audit: AuditLog | None = None
        self._operators: Operators | None = None
        self._write_lock = threading.Lock()
        self.face_migration: FaceMigration | None = None  # what the last open re-encoded
        self._work = threading.BoundedSemaphore(settings.max_parallel_work)
        self.started_at = time.time()

    # -- life cycle ---------------------------------------------------------------------------

    def open(self) -> Station:
        self._lock.acquire()
        try:
            self.settings.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._storage = open_storage(self.settings, self._env_key)
            self._storage.face_format = face_format(self.encoder.model)
            self._audit = AuditLog(self._storage, self.settings.station_id)
            self._operators = Operators(
                self._storage,
                self._audit,
                self.settings.kdf,
                self.settings.lockout_failures,
                self.settings.lockout_seconds,
                answer_seconds=self.settings.login_answer_seconds,
                throttle=SignInThrottle(
                    max_in_flight=self.settings.login_parallel_per_client,
                    max_failures=self.settings.login_failures_per_client,
                    window=self.settings.lockout_seconds,
                ),
            )
            if self._storage.triggers_were_missing:
                log.error("the audit table had lost its append-only triggers: restored")
                self._audit.append(SYSTEM.login, "tamper_detected", detail={"what": "triggers"})
            self._audit_settings_change()
            self.face_migration = reencode_faces(self._storage, self.encoder, self._audit)
            self._galleries = self._build_galleries(self._storage)
            warning = self.calibration_warning()
            if warning:
                log.warning("%s", warning)
        except BaseException:
            if self._storage is not None:
                self._storage.close()
                self._storage = None
            self._lock.release()
            raise
        log.info(
            "station open: data %s, %d records searchable",
            self.settings.data_dir,
            len(self.galleries),
        )
        return self

    def close(self) -> None:
        try:
            if self._galleries is not None:
                self._galleries.close()
            if self._storage is not None:
                self._storage.close()
        finally:
            self._storage = None
            self._galleries = None
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

    def _audit_settings_change(self) -> None:
        """Log a ``config_change`` row naming the decision and security settings that differ
        from the last start (device URLs and log level come and go with each command)."""
        current = {name: str(getattr(self.settings, name)) for name in AUDITED_SETTINGS}
        with self.storage.transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'settings'").fetchone()
            before = json.loads(row[0]) if row else {}
            changed = sorted(name for name in current if current[name] != before.get(name))
            if not changed:
                return
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('settings', ?)",
                (json.dumps(current, sort_keys=True),),
            )
            self.audit.append(
                SYSTEM.login,
                "config_change",
                outcome="first_start" if not before else "ok",
                detail={"changed": len(changed), **{name: True for name in changed[:20]}},
            )

    def _build_galleries(self, storage: Storage) -> Galleries:
        """The galleries in memory, from the active records: templates never sit on disk in clear.

        A face rebuild takes about 0.75 s at 100,000 templates; fingers are prepared in the
        background (README). Gallery files of station 0.1 hold plaintext templates: removed.
        """
        legacy = self.settings.data_dir / "gallery"
        if legacy.is_dir():
            shutil.rmtree(legacy)
            log.warning("removed %s: the gallery now lives in memory only", legacy)
        started = time.perf_counter()
        galleries = Galleries.build(storage, background=True)
        log.info(
            "face galleries built in %.2f s; fingerprint galleries %s",
            time.perf_counter() - started,
            "ready" if galleries.fingers_ready else "building in the background",
        )
        return galleries

    # -- what the station owns ----------------------------------------------------------------

    @property
    def storage(self) -> Storage:
        return _opened(self._storage)

    @property
    def galleries(self) -> Galleries:
        return _opened(self._galleries)

    @property
    def audit(self) -> AuditLog:
        return _opened(self._audit)

    @property
    def operators(self) -> Operators:
        return _opened(self._operators)

    @property
    def env_key(self) -> str | None:
        """The key from ``STATION_KEY``, if the station was given one that way."""
        return self._env_key

    @property
    def camera(self) -> Camera | None:
        return self.devices.camera

    @property
    def fusion(self) -> FusionParams:
        return FusionParams(
            face=FACE_MODELS[self.settings.face_encoder],
            verify_threshold=self.settings.fusion_verify_threshold,
            identify_threshold=self.settings.fusion_identify_threshold,
        )

    # -- what every job shares ----------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One change at a time, in one transaction with its audit rows: the records, the
        galleries and the trail move together or not at all."""
        with self._write_lock, self.storage.transaction() as db:
            yield db

    @contextmanager
    def writes_paused(self) -> Iterator[None]:
        """No change starts until this ends (a consistent copy of the database)."""
        with self._write_lock:
            yield

    @contextmanager
    def working(self) -> Iterator[None]:
        """Hold one of the ``max_parallel_work`` slots for a heavy computation (decoding an
        image, encoding a face, extracting minutiae: up to about 1 GB and seconds each), waiting
        at most ``busy_seconds`` for it (then :class:`StationBusyError`)."""
        if not self._work.acquire(timeout=self.settings.busy_seconds):
            raise StationBusyError(self.settings.busy_seconds)
        try:
            yield
        finally:
            self._work.release()

    def allow(self, actor: Actor, permission: Permission, target: object = None) -> None:
        """Check a permission; a refusal is audited too."""
        if not actor.may(permission):
            self.audit.append(
                actor.login,
                "denied",
                target=None if target is None else str(target),
                outcome="denied",
                detail={"permission": permission.value},
            )
        actor.require(permission)

    def purpose(self, value: object) -> str:
        """The purpose a request names (or the default), which must have a retention period
        (never the precinct rolls': the centre's voters, kept until their roll expires)."""
        chosen = parse_purpose(value, self.settings.default_purpose)
        if chosen == ROLL_PURPOSE:
            raise InvalidInputError(
                f"{ROLL_PURPOSE} holds the voters of the centre's precinct rolls: the station "
                "enrols, verifies and keeps nothing of its own there",
                field="purpose",
            )
        if chosen not in self.settings.retention_periods:
            raise InvalidInputError(
                f"purpose {chosen} has no retention period on this station: data is collected "
                f"only for {', '.join(sorted(self.settings.retention_periods))}",
                field="purpose",
            )
        return chosen

    def decode(self, data: bytes) -> NDArray[np.uint8]:
        """The pixels of an uploaded photo (scaled down to ``max_photo_side``)."""
        with self.working():
            return decode_image(
                data, self.settings.max_image_pixels, max_side=self.settings.max_photo_side
            )

    def decode_finger(self, data: bytes, dpi: float) -> NDArray[np.uint8]:
        """The pixels of an uploaded finger image, refused from its header when it holds more
        than ``max_finger_pixels`` once brought to 500 dpi."""
        limit = self.settings.max_finger_pixels
        with self.working():
            return decode_image(
                data,
                int(limit * (dpi / 500) ** 2),
                what="finger image",
                limit_words=finger_limit_words(limit, dpi),
            )

    def encode(self, pixels: NDArray[np.uint8]) -> FaceTemplate:
        with self.working():
            return self.encoder.encode(pixels)

    def ensure_admin(self, password: str | None) -> str | None:
        """Create the first admin account ``admin`` when there is none.

        With ``password`` (``STATION_ADMIN_PASSWORD``) that is the password; without it a
        one-time password is made, returned for the console, and must be changed at first login.
        Returns the one-time password, or None.
        """
        if self.operators.count():
            return None
        _, generated = self.operators.create(SYSTEM, "admin", "admin", password)
        return generated

    # -- its state ----------------------------------------------------------------------------

    def calibration_warning(self) -> str | None:
        """Say so when the face gallery has outgrown the size its 1:N threshold was calibrated
        for (the false-positive rate of a search grows with the gallery)."""
        calibrated = self.settings.calibrated_gallery_size
        size = len(self.galleries)
        if not calibrated or size <= self.settings.calibration_growth_warning * calibrated:
            return None
        return (
            f"face 1:N threshold {self.settings.face_identify_threshold:g} was calibrated for "
            f"{calibrated:,} people; the gallery holds {size:,}: run `station calibrate face` "
            "again with --gallery-size to keep the false-positive rate"
        )

    def status(self) -> dict[str, Any]:
        """What a signed-in operator or technician may see of the running station."""
        return {
            "status": "ok",
            "station_id": self.settings.station_id,
            "calibration": {
                "file": str(self.settings.calibration_file or "") or None,
                "warning": self.calibration_warning(),
            },
            "records": self.storage.count(),  # its own: the rolls' voters are the centre's
            "roll_voters": sum(int(r["voters"]) for r in self.storage.rolls()),
            "gallery_size": len(self.galleries),
            "fingerprint_gallery": "ready" if self.galleries.fingers_ready else "building",
            "face_verify_threshold": self.settings.face_verify_threshold,
            "face_identify_threshold": self.settings.face_identify_threshold,
            "face": {
                "encoder": self.settings.face_encoder,
                "model": self.encoder.model,
                # Records whose face template is of another model: they need a new capture.
                "need_recapture": self.storage.records_with_other_face_format(),
            },
            "devices": self.devices.urls(),
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }

    def server_file(self) -> Path:
        """Where a running server writes its address, for commands run beside it."""
        return self.settings.data_dir / "server.json"
