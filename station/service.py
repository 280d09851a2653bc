"""The station's workflows, independent of HTTP: the API and the CLI call the same code.

A :class:`Station` owns the data directory while open: the SQLite records (sealed with the key
from outside the database), the audit trail, the operator accounts and sessions, the face gallery
built in memory from the records, the face encoder and the camera.

Every workflow takes the acting operator (``actor``), checks the role's permission, and writes
its audit row in the same transaction as its change. In-process callers that pass no actor (tests,
benchmarks) act as the local ``system`` account, which is audited like anyone else.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calibration import Calibration, check_gallery_size, load_calibration
from drivers.camera import Camera, camera_for_url
from drivers.errors import DriverError
from drivers.fingerprint import FingerprintImage, FingerprintScanner, scanner_for_url
from drivers.idcard import CardReader, card_reader_for_url
from drivers.urls import redacted
from matcher.face import FaceEncoder, FaceGallery, FaceTemplate
from matcher.face.quality import FaceQualityChecker
from matcher.fusion import FusionParams
from station.audit import AuditLog, ChainReport
from station.backup import BackupInfo, check_passphrase, write_backup
from station.capture import capture_face
from station.config import Settings, legacy_key_file
from station.datadir import DataDirectoryLock
from station.errors import (
    CaptureRefusedError,
    InvalidInputError,
    NoCameraError,
    NoScannerError,
    StationBusyError,
    StationError,
)
from station.galleries import Galleries
from station.images import decode_image, finger_limit_words
from station.records import (
    PersonFields,
    Record,
    RecordBlockedError,
    RecordStatus,
    parse_purpose,
)
from station.security.crypto import (
    KeyProblemError,
    LoadedKey,
    Sealer,
    generate_key,
    load_key,
    pending_key_path,
    read_key_file,
    write_key_file,
)
from station.security.operators import Operator, Operators
from station.security.roles import SYSTEM, Actor, Permission
from station.security.sessions import PasswordChangeRequiredError, Session, Sessions
from station.security.throttle import SignInThrottle
from station.storage import Biometric, Storage

log = logging.getLogger(__name__)

# Settings whose change at a start is audited (``config_change``).
AUDITED_SETTINGS = (
    "face_verify_threshold",
    "face_identify_threshold",
    "top_k",
    "max_upload_bytes",
    "max_image_pixels",
    "key_file",
    "station_id",
    "default_purpose",
    "password_kdf_n",
    "password_kdf_r",
    "password_kdf_p",
    "lockout_failures",
    "lockout_seconds",
    "session_idle_seconds",
    "session_max_seconds",
    "retention_days",
    "receipt_retention_days",
    "fingerprint_verify_threshold",
    "fingerprint_min_quality",
    "fingerprint_min_minutiae",
    "enroll_min_fingers",
    "fusion_verify_threshold",
    "fusion_identify_threshold",
    "duplicate_threshold",
    "alert_window_seconds",
    "alert_record_changes",
    "alert_record_operators",
    "alert_bulk_reads",
    "alert_failed_logins",
    "alert_failed_login_seconds",
)


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
        self._galleries: Galleries | None = None
        self._calibration: Calibration | None = None
        self._audit: AuditLog | None = None
        self._operators: Operators | None = None
        self.sessions = Sessions(settings.session_idle_seconds, settings.session_max_seconds)
        self._camera_lock = threading.Lock()
        self._scanner_lock = threading.Lock()
        self._card_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._work = threading.BoundedSemaphore(settings.max_parallel_work)
        self.started_at = time.time()

    # -- life cycle ---------------------------------------------------------------------------

    def open(self) -> Station:
        self._lock.acquire()
        try:
            self.settings.log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._storage = self._open_storage()
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
            self._galleries = self._build_galleries(self._storage)
            self._calibration = (
                load_calibration(self.settings.calibration_file)
                if self.settings.calibration_file is not None
                else None
            )
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
            "station open: data %s, %d records, camera %s",
            self.settings.data_dir,
            len(self._galleries),
            self.settings.camera_url or "none",
        )
        return self

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

    def _open_storage(self) -> Storage:
        """Open the database with the key; make the key for a new data directory; finish or
        undo a key rotation that a crash interrupted (``<key_file>.new`` left behind)."""
        key_file, database = self.settings.key_file, self.settings.database_path
        loaded = load_key(key_file)
        if loaded is None and database.exists() and self.settings.key_file_is_default:
            loaded = self._adopt_legacy_key(key_file, database)
        if loaded is None:
            if database.exists():
                raise KeyProblemError(
                    f"the key file {key_file} is missing and {database} holds sealed data: "
                    "restore the key file from its copy, or set STATION_KEY"
                )
            write_key_file(key_file, generate_key())
            log.warning(
                "new encryption key written to %s: keep a copy away from this laptop", key_file
            )
            loaded = load_key(key_file)
            assert loaded is not None
        pending = pending_key_path(key_file)
        try:
            storage = Storage(database, Sealer(loaded.key))
        except KeyProblemError:
            if not (loaded.from_file and pending.exists()):
                raise
            storage = Storage(database, Sealer(read_key_file(pending)))
            pending.replace(key_file)
            log.warning(
                "finished a key rotation interrupted by a crash: %s is the new key", key_file
            )
            return storage
        pending.unlink(missing_ok=True)  # a rotation that never committed
        return storage

    @staticmethod
    def _adopt_legacy_key(key_file: Path, database: Path) -> LoadedKey | None:
        """The key a station made before the default followed its data directory, copied to the
        new default when it opens this database (the old file may serve another station)."""
        legacy = legacy_key_file()
        if not legacy.is_file():
            return None
        key = read_key_file(legacy)
        try:
            Storage(database, Sealer(key)).close()
        except KeyProblemError:
            return None  # another station's key
        write_key_file(key_file, key)
        log.warning(
            "this station's key was the shared %s: copied to %s, its own from now on; remove "
            "the old file once no other station on this machine uses it",
            legacy,
            key_file,
        )
        return load_key(key_file)

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

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            raise RuntimeError("the station is not open")
        return self._storage

    @property
    def galleries(self) -> Galleries:
        if self._galleries is None:
            raise RuntimeError("the station is not open")
        return self._galleries

    @property
    def gallery(self) -> FaceGallery:
        """The face gallery of the default purpose."""
        return self.galleries.face(self.settings.default_purpose)

    @property
    def fusion(self) -> FusionParams:
        return FusionParams(
            verify_threshold=self.settings.fusion_verify_threshold,
            identify_threshold=self.settings.fusion_identify_threshold,
        )

    def purpose(self, value: object) -> str:
        """The purpose a request names (or the default), which must have a retention period."""
        chosen = parse_purpose(value, self.settings.default_purpose)
        if chosen not in self.settings.retention_periods:
            raise InvalidInputError(
                f"purpose {chosen} has no retention period on this station: data is collected "
                f"only for {', '.join(sorted(self.settings.retention_periods))}",
                field="purpose",
            )
        return chosen

    @property
    def audit(self) -> AuditLog:
        if self._audit is None:
            raise RuntimeError("the station is not open")
        return self._audit

    @property
    def operators(self) -> Operators:
        if self._operators is None:
            raise RuntimeError("the station is not open")
        return self._operators

    def _build_galleries(self, storage: Storage) -> Galleries:
        """The galleries in memory, from the active records: templates never sit on disk in clear.

        A face rebuild takes about 0.75 s at 100,000 templates, fingers about 3 ms each (README).
        Gallery files left by station 0.1 hold plaintext templates and are removed.
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

    # -- operators and sessions ---------------------------------------------------------------

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

    def sign_in(
        self, login: str, password: str, client: str = "local"
    ) -> tuple[str, Session, Operator]:
        """A new session for the operator (``client``: where the request came from)."""
        operator = self.operators.authenticate(login, password, channel="api", client=client)
        token, session = self.sessions.start(operator.actor, operator.must_change_password)
        return token, session, operator

    def change_password(self, token: str, current: str, new: str, client: str = "local") -> Session:
        """Change the session holder's password; their other sessions end."""
        session = self.sessions.get(token)
        login = session.actor.login
        self.operators.change_password(login, current, new, channel="api", client=client)
        self.sessions.end_all(login, keep=token)
        self.sessions.password_changed(token)
        return self.sessions.get(token)

    def sign_out(self, token: str) -> None:
        session = self.sessions.end(token)
        if session is not None:
            self.audit.append(session.actor.login, "logout")

    def authenticate(self, login: str, password: str) -> Actor:
        """Who a one-shot command acts as (the CLI): no session, the same rules and audit."""
        operator = self.operators.authenticate(login, password, channel="cli", client="cli")
        if operator.must_change_password:
            raise PasswordChangeRequiredError()
        return operator.actor

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

    # -- inputs ---------------------------------------------------------------------------------

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

    def scan_finger_image(self) -> FingerprintImage:
        """One image from the configured fingerprint scanner, opened for this capture only."""
        if self.scanner is None:
            raise NoScannerError()
        with self._scanner_lock, self.scanner as scanner:
            return scanner.capture(timeout=self.settings.scanner_timeout)

    def encode(self, pixels: NDArray[np.uint8]) -> FaceTemplate:
        with self.working():
            return self.encoder.encode(pixels)

    # -- workflows ------------------------------------------------------------------------------

    def enroll(
        self,
        pixels: NDArray[np.uint8],
        fields: PersonFields,
        actor: Actor = SYSTEM,
        purpose: str | None = None,
    ) -> Record:
        """Store a new person with the face in this photo; nothing is stored if any step fails.

        The record, its sealed template and the audit row commit together; the gallery learns
        the face in the same step and forgets it if the commit fails.
        """
        self.allow(actor, Permission.ENROLL)
        chosen = self.purpose(purpose)
        face = self.encode(pixels)
        record: Record | None = None
        with self._write_lock:
            try:
                with self.storage.transaction():
                    record = self.storage.add_record(
                        fields, [Biometric.face(face.vector, face.box)], chosen
                    )
                    self.audit.append(actor.login, "enroll", target=record.id)
                    self.galleries.add(record.id, chosen, face.vector)
            except BaseException:
                if record is not None:
                    self.galleries.remove(record.id)
                raise
        log.info("enrolled record %d", record.id)
        return record

    def identify(
        self,
        pixels: NDArray[np.uint8],
        top_k: int | None = None,
        actor: Actor = SYSTEM,
        purpose: str | None = None,
    ) -> Identification:
        """1:N: the nearest enrolled faces and whether the nearest is close enough to be a match.

        Only the records of one purpose are searched. Blocked and held records are not in the
        gallery, so they are never candidates.
        """
        self.allow(actor, Permission.IDENTIFY)
        chosen = self.purpose(purpose)
        k = self.settings.top_k if top_k is None else top_k
        if not 1 <= k <= 100:
            raise InvalidInputError("top_k must lie between 1 and 100", field="top_k")
        started = time.perf_counter()
        face = self.encode(pixels)
        gallery = self.galleries.face(chosen)
        results = gallery.search_one(face.vector, k)
        records = self.storage.get_records([r.record_id for r in results], purpose=chosen)
        threshold = self.settings.face_identify_threshold
        candidates = [
            Candidate(
                rank=rank,
                record=records[r.record_id],
                distance=r.distance,
                match=r.distance <= threshold,
            )
            for rank, r in enumerate(
                (r for r in results if r.record_id in records and records[r.record_id].active),
                start=1,
            )
        ]
        elapsed = time.perf_counter() - started
        decision = "match" if candidates and candidates[0].match else "no_match"
        self.audit.append(
            actor.login,
            "identify",
            target=candidates[0].record.id if decision == "match" else None,
            outcome=decision,
            detail={"candidates": [c.record.id for c in candidates]},
        )
        log.info("identify: %d candidates, decision %s", len(candidates), decision)
        return Identification(
            candidates=candidates,
            threshold=threshold,
            face_box=face.box,
            gallery_size=len(gallery),
            seconds=elapsed,
        )

    def verify(
        self, record_id: int, pixels: NDArray[np.uint8], actor: Actor = SYSTEM
    ) -> Verification:
        """1:1: is the face in this photo the person of this record? A blocked record refuses."""
        self.allow(actor, Permission.VERIFY, record_id)
        record = self.storage.get_record(record_id)
        if not record.active:
            raise RecordBlockedError(record_id, record.status.value)
        enrolled = self.storage.get_template(record_id)
        face = self.encode(pixels)
        distance = float(np.linalg.norm(face.vector - enrolled))
        result = Verification(
            record=record,
            distance=distance,
            threshold=self.settings.face_verify_threshold,
            face_box=face.box,
        )
        self.audit.append(
            actor.login, "verify", target=record_id, outcome="match" if result.match else "no_match"
        )
        log.info("verify record %d: distance %.4f", record_id, distance)
        return result

    def get_record(self, record_id: int, actor: Actor = SYSTEM) -> Record:
        self.allow(actor, Permission.VIEW, record_id)
        record = self.storage.get_record(record_id)
        self.audit.append(actor.login, "view", target=record_id)
        return record

    def delete_record(self, record_id: int, actor: Actor = SYSTEM) -> None:
        """Delete a record with everything it holds; a blocked record must be unblocked first."""
        self.allow(actor, Permission.DELETE, record_id)
        with self._write_lock, self.storage.transaction():
            if self.storage.get_record(record_id).blocked:
                raise RecordBlockedError(record_id)
            self.storage.delete_record(record_id)
            self.audit.append(actor.login, "delete", target=record_id)
            self.galleries.remove(record_id)
        log.info("deleted record %d", record_id)

    def correct_record(
        self, record_id: int, changes: Mapping[str, Any], reason: str, actor: Actor = SYSTEM
    ) -> Record:
        """Change a record's fields; the previous version is kept in its history with the reason."""
        self.allow(actor, Permission.CORRECT, record_id)
        reason = " ".join(reason.split())
        if not 3 <= len(reason) <= 500:
            raise InvalidInputError(
                "say why the record is corrected (3-500 characters)", field="reason"
            )
        with self._write_lock, self.storage.transaction():
            record = self.storage.get_record(record_id)
            if record.blocked:
                raise RecordBlockedError(record_id)
            fields = record.fields.corrected(changes)
            if fields == record.fields:
                raise InvalidInputError("the correction changes nothing")
            corrected = self.storage.correct_record(record, fields, reason, actor.login)
            self.audit.append(
                actor.login,
                "correct",
                target=record_id,
                detail={"version": corrected.version, "fields": len(changes)},
            )
        return corrected

    def record_history(self, record_id: int, actor: Actor = SYSTEM) -> list[dict[str, Any]]:
        """Earlier versions of a record's fields, with who replaced them, when and why."""
        self.allow(actor, Permission.CORRECT, record_id)
        self.storage.get_record(record_id)
        self.audit.append(actor.login, "history", target=record_id)
        return self.storage.history(record_id)

    def set_blocked(self, record_id: int, blocked: bool, actor: Actor = SYSTEM) -> Record:
        """Block a disputed record (kept, never matched, never changed) or unblock it."""
        self.allow(actor, Permission.BLOCK, record_id)
        status = RecordStatus.BLOCKED if blocked else RecordStatus.ACTIVE
        with self._write_lock, self.storage.transaction():
            record = self.storage.get_record(record_id)
            if record.status is status:
                raise InvalidInputError(f"record {record_id} is already {status.value}")
            if record.held:
                raise InvalidInputError(
                    f"record {record_id} is held as a likely duplicate: decide on it instead"
                )
            self.storage.set_status(record_id, status)
            self.audit.append(actor.login, "block" if blocked else "unblock", target=record_id)
            if blocked:
                self.galleries.remove(record_id)
            else:
                self.galleries.add_from_storage(self.storage, record_id)
        return self.storage.get_record(record_id)

    # -- audit and keys -------------------------------------------------------------------------

    def audit_rows(
        self, actor: Actor, after: int = 0, limit: int = 100, target: str | None = None
    ) -> list[dict[str, Any]]:
        self.allow(actor, Permission.AUDIT_READ)
        if not 1 <= limit <= 1000:
            raise InvalidInputError("limit must lie between 1 and 1000", field="limit")
        rows = self.audit.rows(after=after, limit=limit, target=target)
        self.audit.append(actor.login, "audit_read", detail={"after": after, "rows": len(rows)})
        return rows

    def verify_audit(self, actor: Actor = SYSTEM) -> ChainReport:
        self.allow(actor, Permission.AUDIT_READ)
        report = self.audit.verify()
        self.audit.append(
            actor.login,
            "audit_verify",
            outcome="intact" if report.intact else "broken",
            detail={"rows": report.rows, "breaks": len(report.breaks)},
        )
        return report

    def rotate_key(self, actor: Actor = SYSTEM, out: Path | None = None) -> int:
        """Re-encrypt everything under a new key in one transaction; return the values resealed.

        The new key is written (and synced) before the commit: to ``<key_file>.new``, renamed
        over the key file after the commit, or to ``out`` when the key comes from STATION_KEY.
        A crash in between is finished at the next open.
        """
        self.allow(actor, Permission.MAINTAIN)
        loaded = load_key(self.settings.key_file)
        from_file = loaded is not None and loaded.from_file
        if not from_file and out is None:
            raise StationError(
                "the key comes from STATION_KEY: name a file for the new key (--out FILE), "
                "then set STATION_KEY to its content"
            )
        target = out if out is not None else pending_key_path(self.settings.key_file)
        if out is not None and out.exists():
            raise StationError(f"{out} exists: choose a new file for the new key")
        new_key = generate_key()
        write_key_file(target, new_key)
        with self._write_lock, self.storage.transaction():
            count = self.storage.reseal(Sealer(new_key))
            self.audit.append(actor.login, "key_rotate", detail={"values": count})
        if out is None:
            target.replace(self.settings.key_file)
        log.info("key rotated: %d values resealed", count)
        return count

    def create_backup(self, out: Path, passphrase: str, actor: Actor = SYSTEM) -> BackupInfo:
        """An encrypted backup of the database and its key (see :mod:`station.backup`)."""
        self.allow(actor, Permission.MAINTAIN)
        check_passphrase(passphrase)
        loaded = load_key(self.settings.key_file)
        if loaded is None or Sealer(loaded.key).key_id != self.storage.sealer.key_id:
            raise KeyProblemError("the key file no longer holds this station's key: restart it")
        snapshot = self.settings.data_dir / "backup-snapshot.tmp"
        with self._write_lock:
            self.audit.append(actor.login, "backup")  # the backup holds its own audit row
            self.storage.snapshot(snapshot)
        try:
            return write_backup(
                out,
                snapshot,
                loaded.key,
                passphrase,
                self.settings.station_id,
                self.storage.sealer.key_id,
                self.settings.kdf,
            )
        finally:
            snapshot.unlink(missing_ok=True)

    def check_devices(self, actor: Actor = SYSTEM) -> dict[str, Any]:
        """Open each configured device briefly and say whether it answers (for technicians)."""
        self.allow(actor, Permission.DEVICES)
        report: dict[str, Any] = {}

        def probe(name: str, url: str, check: Any) -> None:
            if not url:
                report[name] = {"configured": False}
                return
            try:
                report[name] = {"configured": True, "url": redacted(url), "ok": True, **check()}
            except (DriverError, OSError, ValueError) as exc:
                report[name] = {
                    "configured": True,
                    "url": redacted(url),
                    "ok": False,
                    "error": str(exc).replace(url, redacted(url)),
                }

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

    def calibration_warning(self) -> str | None:
        """Say so when the gallery has outgrown the size its 1:N thresholds were calibrated for."""
        if self._calibration is None:
            return None
        return check_gallery_size(
            self._calibration,
            len(self.galleries),
            self.settings.calibration_growth_warning,
            modality="face",
        )

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "calibration": {
                "file": str(self.settings.calibration_file or "") or None,
                "warning": self.calibration_warning(),
            },
            "records": self.storage.count(),
            "gallery_size": len(self.galleries),
            "fingerprint_gallery": "ready" if self.galleries.fingers_ready else "building",
            "face_verify_threshold": self.settings.face_verify_threshold,
            "face_identify_threshold": self.settings.face_identify_threshold,
            "devices": {
                "camera": redacted(self.settings.camera_url) or None,
                "scanner": redacted(self.settings.scanner_url) or None,
                "card_reader": redacted(self.settings.card_reader_url) or None,
            },
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }
