"""Records in SQLite on disk: one file, WAL journal, full fsync on commit, sealed columns.

SQLite is the source of truth; the face gallery is an index rebuilt from it at every start.
Ids are never reused (AUTOINCREMENT), so nothing can ever point at the wrong person.

Personal fields, templates, photos and correction history are sealed with AES-256-GCM
(:mod:`station.security.crypto`) under the context ``records/<id>/<column>``; only ids, purpose,
status, version, timestamps and the face box are in clear. The key never enters the database:
``meta`` holds only its public id and the audit trail's MAC key, sealed with it. A write and its
audit row commit in one transaction, so a crash leaves both or neither.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from matcher.face.templates import TEMPLATE_DIM, template_from_bytes, template_to_bytes
from station.errors import RecordNotFoundError, StationError
from station.records import ROLL_PURPOSE, PersonFields, Record, RecordStatus
from station.security.crypto import KeyProblemError, Sealer, TamperedDataError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
# A face template's format names the model that made it: templates of different models are never
# compared (each model's distances mean nothing to the other).
FACE_FORMATS = {"dlib-resnet-v1": "face-dlib128/1", "sface-2021dec-int8bq": "face-sface128/1"}
FACE_FORMAT = FACE_FORMATS["sface-2021dec-int8bq"]  # the default encoder's
FINGER_FORMAT = "finger-leader-mcc/1"
# Columns added to schema 2 after its first development builds: added in place when missing.
ADDED_COLUMNS = (
    ("records", "document_index", "TEXT"),
    ("operators", "document_index", "TEXT"),
    ("records", "finger_exceptions", "BLOB"),
    ("operators", "language", "TEXT"),
    ("packets", "detail", "TEXT"),
    ("packets", "settled_at", "TEXT"),
)
# Columns of schema 2's development builds that moved elsewhere: dropped in place when present.
DROPPED_COLUMNS = (("operators", "failed_logins"), ("operators", "locked_until"))
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS packets (
    id TEXT PRIMARY KEY,            -- the packet id (a UUID): the centre imports a packet once
    record_id INTEGER NOT NULL,
    kind TEXT NOT NULL,             -- enrollment, correction, block, deletion
    state TEXT NOT NULL,            -- pending, exported, acknowledged, held (at the centre)
    created_at TEXT NOT NULL,
    exported_at TEXT,
    reason TEXT                     -- the centre's, when it holds the packet for review
);
CREATE TABLE IF NOT EXISTS station_secrets (
    name TEXT PRIMARY KEY,          -- what it is: "exchange/signing-key"
    value BLOB NOT NULL             -- sealed
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'blocked', 'held')),
    version INTEGER NOT NULL DEFAULT 1,
    document_index TEXT,            -- keyed hash of the document number: find, never read
    fields BLOB NOT NULL,           -- sealed JSON: PersonFields
    consent BLOB,                   -- sealed JSON: what the person agreed to, when
    card_summary BLOB,              -- sealed JSON: the ID card's data groups, as read
    finger_exceptions BLOB,         -- sealed JSON: fingers not taken and why (health data)
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_purpose ON records (purpose, status);
CREATE TABLE IF NOT EXISTS rolls (
    precinct TEXT PRIMARY KEY,      -- one roll per precinct: a newer version replaces it whole
    roll_id TEXT NOT NULL,          -- the centre's id of this roll (its envelope's packet id)
    centre_id TEXT NOT NULL,
    register TEXT NOT NULL,         -- the purpose its voters were enrolled for at the centre
    version INTEGER NOT NULL,
    made TEXT NOT NULL,
    valid_until TEXT NOT NULL,      -- ISO date: the retention purge deletes the roll after it
    voters INTEGER NOT NULL,
    skipped INTEGER NOT NULL,       -- templates of formats this station cannot compare
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS roll_voters (
    record_id INTEGER PRIMARY KEY REFERENCES records (id) ON DELETE CASCADE,
    precinct TEXT NOT NULL REFERENCES rolls (precinct),
    voter_id BLOB NOT NULL          -- sealed: the centre's id of the person
);
CREATE INDEX IF NOT EXISTS roll_voters_precinct ON roll_voters (precinct);
CREATE TABLE IF NOT EXISTS holds (
    record_id INTEGER PRIMARY KEY REFERENCES records (id) ON DELETE CASCADE,
    detail BLOB NOT NULL,           -- sealed JSON: why (reason codes, candidates and scores)
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL UNIQUE,    -- the application number on the receipt
    code_hash TEXT NOT NULL,        -- keyed hash of the receipt's status code
    purpose TEXT NOT NULL,
    record_id INTEGER REFERENCES records (id) ON DELETE SET NULL,
    decision TEXT NOT NULL,         -- accepted, refused, referred
    result BLOB NOT NULL,           -- sealed JSON: scores and reasons
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS applications_record ON applications (record_id);
CREATE TABLE IF NOT EXISTS biometrics (
    record_id INTEGER NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    modality TEXT NOT NULL CHECK (modality IN ('face', 'finger')),
    position INTEGER NOT NULL,      -- 0 for the face; ISO/IEC 19794-2 finger position 1-10
    format TEXT NOT NULL,           -- template format and version
    template BLOB NOT NULL,         -- sealed
    quality REAL,
    box TEXT,                       -- where the face was in the photo, JSON [top, right, bottom, left]
    created_at TEXT NOT NULL,
    PRIMARY KEY (record_id, modality, position)
);
CREATE TABLE IF NOT EXISTS photos (
    record_id INTEGER NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,             -- 'portrait' (camera), 'document' (chip DG2)
    media_type TEXT NOT NULL,
    image BLOB NOT NULL,            -- sealed
    created_at TEXT NOT NULL,
    PRIMARY KEY (record_id, kind)
);
CREATE TABLE IF NOT EXISTS record_history (
    record_id INTEGER NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,       -- the version these fields were
    fields BLOB NOT NULL,           -- sealed JSON
    reason BLOB NOT NULL,           -- sealed text: why it was corrected
    replaced_at TEXT NOT NULL,
    replaced_by TEXT NOT NULL,
    PRIMARY KEY (record_id, version)
);
CREATE TABLE IF NOT EXISTS status_changes (
    record_id INTEGER NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,           -- 1, 2, ... per record
    status TEXT NOT NULL,           -- the status it was given
    reason BLOB NOT NULL,           -- sealed text: why
    changed_at TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    PRIMARY KEY (record_id, seq)
);
CREATE TABLE IF NOT EXISTS operators (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    must_change_password INTEGER NOT NULL DEFAULT 1,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    document_index TEXT             -- keyed hash of the operator's own ID document number
);
CREATE TABLE IF NOT EXISTS login_failures (
    login TEXT NOT NULL COLLATE NOCASE,
    client TEXT NOT NULL,           -- where the attempts came from: a network address, or cli
    failures INTEGER NOT NULL,      -- wrong passwords in a row from this client
    locked_until REAL,              -- the account is locked for this client until then
    updated_at REAL NOT NULL,
    PRIMARY KEY (login, client)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,         -- physical order
    seq INTEGER NOT NULL,           -- chain position, covered by the row's MAC
    at TEXT NOT NULL,
    station TEXT NOT NULL,
    operator TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"""
AUDIT_TRIGGERS = ("audit_no_update", "audit_no_delete")
# Every sealed column: (table, key columns, sealed columns); see _context_of.
SEALED_COLUMNS = (
    ("records", ("id",), ("fields", "consent", "card_summary", "finger_exceptions")),
    ("biometrics", ("record_id", "modality", "position"), ("template",)),
    ("photos", ("record_id", "kind"), ("image",)),
    ("record_history", ("record_id", "version"), ("fields", "reason")),
    ("holds", ("record_id",), ("detail",)),
    ("status_changes", ("record_id", "seq"), ("reason",)),
    ("applications", ("id",), ("result",)),
    ("station_secrets", ("name",), ("value",)),
    ("roll_voters", ("record_id",), ("voter_id",)),
)
_RECORD_COLUMNS = (
    "r.id, r.purpose, r.status, r.version, r.fields, r.consent, r.card_summary, r.created_at, "
    "r.updated_at, b.box"
)
_RECORD_SELECT = (
    f"SELECT {_RECORD_COLUMNS} FROM records r "
    "LEFT JOIN biometrics b ON b.record_id = r.id AND b.modality = 'face' AND b.position = 0"
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_context(record_id: int, column: str) -> str:
    """The associated data that binds a sealed value to its record and column."""
    return f"records/{record_id}/{column}"


def application_context(application_id: int) -> str:
    return f"applications/{application_id}/result"


def face_format(model: str) -> str:
    """The stored format of a face template of this model."""
    try:
        return FACE_FORMATS[model]
    except KeyError:
        raise StationError(f"no stored format for face templates of model {model!r}") from None


def secret_context(name: str) -> str:
    return f"secrets/{name}"


def biometric_context(record_id: int, modality: str, position: int) -> str:
    return record_context(record_id, f"biometrics/{modality}/{position}")


@dataclass(frozen=True)
class Biometric:
    """One template of a record: the face (position 0) or a finger (ISO position 1-10)."""

    modality: str
    position: int
    format: str
    template: bytes
    quality: float | None = None
    box: tuple[int, int, int, int] | None = None

    @classmethod
    def face(
        cls, vector: NDArray[np.float32], box: tuple[int, int, int, int] | None, model: str
    ) -> Biometric:
        """A face template made by ``model`` (:attr:`matcher.face.FaceEncoder.model`)."""
        return cls("face", 0, face_format(model), template_to_bytes(vector), box=box)

    @classmethod
    def finger(cls, position: int, template: bytes, quality: float) -> Biometric:
        """A finger template (``FingerprintTemplate.to_bytes()``) at its ISO position 1-10."""
        if not 1 <= position <= 10:
            raise ValueError(f"finger position {position} is not an ISO position 1-10")
        return cls("finger", position, FINGER_FORMAT, template, quality=quality)


class Storage:
    """The station's database. Thread-safe: one connection behind a re-entrant lock.

    Writes go inside ``with storage.transaction():`` (re-entrant within a thread), so a workflow
    can add its audit row to the same transaction as its change.
    """

    def __init__(self, path: Path, sealer: Sealer, read_only: bool = False) -> None:
        """Open (and create) the database; ``read_only`` opens an existing one for checks that
        run beside a live station (SQLite's WAL lets a reader in while the station writes)."""
        self.path = path
        self.sealer = sealer
        # The face templates this station compares: those of its encoder (set by the station).
        self.face_format = FACE_FORMAT
        self._lock = threading.RLock()
        if read_only and not path.is_file():
            raise StationError(f"no station database at {path}: check --data")
        try:
            if read_only:
                self._db = sqlite3.connect(
                    f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
                )
            else:
                self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._db.execute("PRAGMA secure_delete=ON")  # deleted rows are zeroed on disk
            self.triggers_were_missing = self._audit_unprotected()
            if not read_only:
                self._db.executescript(SCHEMA)
                self._add_missing_columns()
                os.chmod(path, 0o600)
            self.audit_key = self._check_schema_and_key(read_only)
            self.index_key = hmac.new(self.audit_key, b"document-index", hashlib.sha256).digest()
        except BaseException as exc:
            if hasattr(self, "_db"):
                self._db.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StationError(f"cannot open the station database {path}: {exc}") from exc
            raise

    def _add_missing_columns(self) -> None:
        for table, column, kind in ADDED_COLUMNS:
            names = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in names:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        for table, column in DROPPED_COLUMNS:
            names = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column in names:
                self._db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")

    def document_index(self, document_number: str | None) -> str | None:
        """A keyed hash of a document number: finds the records holding it without storing it
        in clear (the key is derived from the audit key, sealed with the station key)."""
        if not document_number:
            return None
        normalised = document_number.upper().replace("<", "").replace(" ", "")
        return hmac.new(self.index_key, normalised.encode(), hashlib.sha256).hexdigest()

    def _audit_unprotected(self) -> bool:
        """Whether an existing audit table has lost its append-only triggers (tampering)."""
        names = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        return "audit" in names and not set(AUDIT_TRIGGERS) <= names

    def _check_schema_and_key(self, read_only: bool) -> bytes:
        """Stamp a new database with the schema and key id; check an old one matches both."""
        with self.reading() if read_only else self.transaction() as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            version = meta.get("schema_version")
            if version is None and read_only:
                raise StationError(f"{self.path} is not a station database")
            if version is None:
                audit_key = os.urandom(32)
                for key, value in (
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("key_id", self.sealer.key_id),
                    ("audit_key", self.sealer.seal(audit_key, "meta/audit_key").hex()),
                ):
                    db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
                return audit_key
            if int(version) != SCHEMA_VERSION:
                hint = (
                    "it holds unencrypted records from station 0.1: enroll them again in a new "
                    "data directory"
                    if int(version) < SCHEMA_VERSION
                    else "upgrade the station software"
                )
                raise StationError(
                    f"database {self.path} has schema version {version}, this station reads "
                    f"{SCHEMA_VERSION}: {hint}"
                )
            try:
                return self.sealer.open(bytes.fromhex(meta["audit_key"]), "meta/audit_key")
            except (KeyError, ValueError, TamperedDataError):
                raise KeyProblemError(
                    f"the key given (id {self.sealer.key_id}) does not open {self.path}, sealed "
                    f"with key id {meta.get('key_id', 'unknown')}: give the station that key "
                    "(key_file or STATION_KEY)"
                ) from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE); nested uses join the outer one."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    @contextmanager
    def consistent_read(self) -> Iterator[sqlite3.Connection]:
        """Reads that all see one snapshot of the database (a read transaction): a process
        writing beside this one (a running station) changes nothing they see."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- sealing ------------------------------------------------------------------------------

    def _seal_json(self, value: Mapping[str, Any] | None, context: str) -> bytes | None:
        if value is None:
            return None
        return self.sealer.seal(json.dumps(value, ensure_ascii=False).encode(), context)

    def _open_json(self, sealed: bytes | None, context: str) -> Any:
        return None if sealed is None else json.loads(self.sealer.open(sealed, context))

    def _record_from_row(self, row: tuple[Any, ...]) -> Record:
        (rid, purpose, status, version, fields, consent, card, created, updated, box) = row
        person = self._open_json(fields, record_context(rid, "fields"))
        return Record(
            id=rid,
            fields=PersonFields(**person),
            face_box=tuple(json.loads(box)) if box else None,
            created_at=created,
            updated_at=updated,
            purpose=purpose,
            status=RecordStatus(status),
            version=version,
            consent=self._open_json(consent, record_context(rid, "consent")),
            card_summary=self._open_json(card, record_context(rid, "card_summary")),
        )

    # -- records ------------------------------------------------------------------------------

    def add_record(
        self,
        fields: PersonFields,
        biometrics: list[Biometric],
        purpose: str,
        consent: Mapping[str, Any] | None = None,
        card_summary: Mapping[str, Any] | None = None,
        status: RecordStatus = RecordStatus.ACTIVE,
        finger_exceptions: Mapping[str, Any] | None = None,
    ) -> Record:
        """Insert a record with its templates; the id is known only after the insert, so the
        sealed values are written by an update in the same transaction."""
        now = utc_now()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO records (purpose, status, document_index, fields, created_at, "
                "updated_at) VALUES (?, ?, ?, x'', ?, ?)",
                (purpose, status.value, self.document_index(fields.document_number), now, now),
            )
            rid = cursor.lastrowid
            assert rid is not None
            db.execute(
                "UPDATE records SET fields = ?, consent = ?, card_summary = ?, "
                "finger_exceptions = ? WHERE id = ?",
                (
                    self._seal_json(asdict(fields), record_context(rid, "fields")),
                    self._seal_json(consent, record_context(rid, "consent")),
                    self._seal_json(card_summary, record_context(rid, "card_summary")),
                    self._seal_json(finger_exceptions, record_context(rid, "finger_exceptions")),
                    rid,
                ),
            )
            for item in biometrics:
                self.put_biometric(rid, item, now)
        return self.get_record(rid)

    def put_biometric(self, record_id: int, item: Biometric, now: str | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO biometrics (record_id, modality, position, format, "
                "template, quality, box, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record_id,
                    item.modality,
                    item.position,
                    item.format,
                    self.sealer.seal(
                        item.template, biometric_context(record_id, item.modality, item.position)
                    ),
                    item.quality,
                    json.dumps(list(item.box)) if item.box else None,
                    now or utc_now(),
                ),
            )

    def put_photo(self, record_id: int, kind: str, media_type: str, image: bytes) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO photos (record_id, kind, media_type, image, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    record_id,
                    kind,
                    media_type,
                    self.sealer.seal(image, record_context(record_id, f"photos/{kind}")),
                    utc_now(),
                ),
            )

    def get_record(self, record_id: int) -> Record:
        with self.reading() as db:
            row = db.execute(f"{_RECORD_SELECT} WHERE r.id = ?", (record_id,)).fetchone()
        if row is None:
            raise RecordNotFoundError(record_id)
        return self._record_from_row(row)

    def get_records(self, record_ids: list[int], purpose: str | None = None) -> dict[int, Record]:
        """Records by id; with ``purpose``, only those collected for it (no query mixes two)."""
        if not record_ids:
            return {}
        marks = ",".join("?" * len(record_ids))
        query = f"{_RECORD_SELECT} WHERE r.id IN ({marks})"
        args: list[object] = list(record_ids)
        if purpose is not None:
            query, args = query + " AND r.purpose = ?", [*args, purpose]
        with self.reading() as db:
            rows = db.execute(query, args).fetchall()
        return {row[0]: self._record_from_row(row) for row in rows}

    def get_template(self, record_id: int) -> NDArray[np.float32]:
        """The face template of a record, made by the station's encoder (a template of another
        model, not yet re-encoded, is as good as none: :class:`RecordNotFoundError`)."""
        with self.reading() as db:
            row = db.execute(
                "SELECT template FROM biometrics WHERE record_id = ? AND modality = 'face' "
                "AND position = 0 AND format = ?",
                (record_id, self.face_format),
            ).fetchone()
        if row is None:
            raise RecordNotFoundError(record_id)
        return template_from_bytes(
            self.sealer.open(row[0], biometric_context(record_id, "face", 0))
        )

    def correct_record(
        self, record: Record, fields: PersonFields, reason: str, operator: str
    ) -> Record:
        """Replace a record's fields, keeping the old ones (sealed) in its history."""
        now = utc_now()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO record_history (record_id, version, fields, reason, replaced_at, "
                "replaced_by) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.version,
                    self._seal_json(
                        asdict(record.fields),
                        record_context(record.id, f"history/{record.version}/fields"),
                    ),
                    self.sealer.seal(
                        reason.encode(),
                        record_context(record.id, f"history/{record.version}/reason"),
                    ),
                    now,
                    operator,
                ),
            )
            changed = db.execute(
                "UPDATE records SET fields = ?, document_index = ?, version = version + 1, "
                "updated_at = ? WHERE id = ? AND version = ?",
                (
                    self._seal_json(asdict(fields), record_context(record.id, "fields")),
                    self.document_index(fields.document_number),
                    now,
                    record.id,
                    record.version,
                ),
            ).rowcount
            if changed != 1:
                raise StationError(f"record {record.id} changed meanwhile: read it and try again")
            self._tell_centre(db, record.id, "correction", {"version": record.version + 1})
        return self.get_record(record.id)

    def history(self, record_id: int) -> list[dict[str, Any]]:
        """Earlier versions of a record's fields, oldest first."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT version, fields, reason, replaced_at, replaced_by FROM record_history "
                "WHERE record_id = ? ORDER BY version",
                (record_id,),
            ).fetchall()
        return [
            {
                "version": version,
                "fields": self._open_json(
                    fields, record_context(record_id, f"history/{version}/fields")
                ),
                "reason": self.sealer.open(
                    reason, record_context(record_id, f"history/{version}/reason")
                ).decode(),
                "replaced_at": replaced_at,
                "replaced_by": replaced_by,
            }
            for version, fields, reason, replaced_at, replaced_by in rows
        ]

    def set_status(self, record_id: int, status: RecordStatus, reason: str, operator: str) -> None:
        """Give a record a status, keeping why (sealed) and who in its status changes."""
        now = utc_now()
        with self.transaction() as db:
            before = db.execute("SELECT status FROM records WHERE id = ?", (record_id,)).fetchone()
            changed = db.execute(
                "UPDATE records SET status = ?, updated_at = ? WHERE id = ?",
                (status.value, now, record_id),
            ).rowcount
            if changed == 0 or before is None:
                raise RecordNotFoundError(record_id)
            blocked = status is RecordStatus.BLOCKED
            if blocked or before[0] == RecordStatus.BLOCKED.value:
                self._tell_centre(db, record_id, "block", {"blocked": blocked})
            (seq,) = db.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM status_changes WHERE record_id = ?",
                (record_id,),
            ).fetchone()
            db.execute(
                "INSERT INTO status_changes (record_id, seq, status, reason, changed_at, "
                "changed_by) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record_id,
                    seq,
                    status.value,
                    self.sealer.seal(
                        reason.encode(), record_context(record_id, f"status/{seq}/reason")
                    ),
                    now,
                    operator,
                ),
            )

    def status_changes(self, record_id: int) -> list[dict[str, Any]]:
        """A record's status changes, oldest first: the status, why, when and by whom."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT seq, status, reason, changed_at, changed_by FROM status_changes "
                "WHERE record_id = ? ORDER BY seq",
                (record_id,),
            ).fetchall()
        return [
            {
                "status": status,
                "reason": self.sealer.open(
                    reason, record_context(record_id, f"status/{seq}/reason")
                ).decode(),
                "changed_at": changed_at,
                "changed_by": changed_by,
            }
            for seq, status, reason, changed_at, changed_by in rows
        ]

    def delete_record(self, record_id: int, tell_centre: bool = True) -> None:
        """Delete a record with its templates, photos and history (zeroed on disk); a record the
        centre holds gets a deletion packet, unless ``tell_centre`` is False (the station's own
        retention ended: the register keeps its own period)."""
        with self.transaction() as db:
            deleted = db.execute("DELETE FROM records WHERE id = ?", (record_id,)).rowcount
            if deleted and tell_centre:
                self._tell_centre(db, record_id, "deletion", {})
        if deleted == 0:
            raise RecordNotFoundError(record_id)

    def _tell_centre(
        self, db: sqlite3.Connection, record_id: int, kind: str, detail: Mapping[str, Any]
    ) -> None:
        """A packet of ``kind`` about a record whose enrolment has left the station. Before
        that, nothing: the enrolment packet will carry the record as it is then (a record
        deleted before it ever left is forgotten with its pending packet)."""
        enrolment = db.execute(
            "SELECT state FROM packets WHERE record_id = ? AND kind = 'enrollment'", (record_id,)
        ).fetchone()
        if enrolment is None:
            return
        if enrolment[0] == "pending":
            if kind == "deletion":
                db.execute("DELETE FROM packets WHERE record_id = ?", (record_id,))
            return
        db.execute(
            "INSERT INTO packets (id, record_id, kind, state, created_at, detail) "
            "VALUES (?, ?, ?, 'pending', ?, ?)",
            (str(uuid.uuid4()), record_id, kind, utc_now(), json.dumps(dict(detail))),
        )

    def count(self) -> int:
        """The station's own records (the voters of precinct rolls are not among them)."""
        with self.reading() as db:
            return int(
                db.execute(
                    "SELECT COUNT(*) FROM records WHERE purpose != ?", (ROLL_PURPOSE,)
                ).fetchone()[0]
            )

    def active_purposes(self) -> list[str]:
        """The purposes that active records were collected for: one gallery each."""
        with self.reading() as db:
            return [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT purpose FROM records WHERE status = 'active' ORDER BY purpose"
                )
            ]

    def face_templates(self, purpose: str) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Ids and face templates of the active (not blocked, not held) records of one purpose:
        the content of that purpose's face gallery."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT b.record_id, b.template FROM biometrics b JOIN records r "
                "ON r.id = b.record_id WHERE b.modality = 'face' AND b.position = 0 "
                "AND b.format = ? AND r.status = 'active' AND r.purpose = ? ORDER BY b.record_id",
                (self.face_format, purpose),
            ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        out = np.empty((len(rows), TEMPLATE_DIM), dtype=np.float32)
        for i, (rid, sealed) in enumerate(rows):
            out[i] = template_from_bytes(
                self.sealer.open(sealed, biometric_context(rid, "face", 0))
            )
        return ids, out

    def secret(self, name: str) -> bytes | None:
        """One of the station's own secrets (its signing key), opened; None when not made yet."""
        with self.reading() as db:
            row = db.execute("SELECT value FROM station_secrets WHERE name = ?", (name,)).fetchone()
        return None if row is None else self.sealer.open(row[0], secret_context(name))

    def put_secret(self, name: str, value: bytes) -> None:
        """Keep one of the station's secrets, sealed as the records are (key rotation re-seals it)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO station_secrets (name, value) VALUES (?, ?)",
                (name, self.sealer.seal(value, secret_context(name))),
            )

    def records_without_packet(self, kind: str) -> list[int]:
        """Active records no packet of ``kind`` was made for yet: the station's own enrolments
        (the voters of a precinct roll came from the centre and never go back to it)."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT id FROM records WHERE status = 'active' AND purpose != ? AND id NOT IN "
                "(SELECT record_id FROM packets WHERE kind = ?) ORDER BY id",
                (ROLL_PURPOSE, kind),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def add_packet(self, packet_id: str, record_id: int, kind: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO packets (id, record_id, kind, state, created_at) "
                "VALUES (?, ?, ?, 'pending', ?)",
                (packet_id, record_id, kind, utc_now()),
            )

    def packets(self, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """The packets made, oldest first; only those in ``states`` when given."""
        query = (
            "SELECT id, record_id, kind, state, created_at, exported_at, reason, detail "
            "FROM packets"
        )
        args: tuple[str, ...] = ()
        if states:
            query += f" WHERE state IN ({', '.join('?' for _ in states)})"
            args = states
        with self.reading() as db:
            rows = db.execute(query + " ORDER BY created_at, id", args).fetchall()
        names = ("packet", "record_id", "kind", "state", "created_at", "exported_at", "reason")
        return [
            dict(zip(names, row[:-1], strict=True)) | {"detail": json.loads(row[-1] or "{}")}
            for row in rows
        ]

    def mark_exported(self, packet_id: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE packets SET state = 'exported', exported_at = ? WHERE id = ? "
                "AND state IN ('pending', 'exported', 'rejected')",
                (utc_now(), packet_id),
            )

    def records_handed_over_by(self, cutoff: str) -> list[tuple[int, str, str]]:
        """(id, purpose, created_at) of active records whose enrolment the centre acknowledged
        at or before ``cutoff`` and about which nothing waits to be sent."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT r.id, r.purpose, r.created_at FROM records r JOIN packets p "
                "ON p.record_id = r.id AND p.kind = 'enrollment' WHERE r.status = 'active' "
                "AND p.state = 'acknowledged' AND p.settled_at <= ? AND NOT EXISTS (SELECT 1 "
                "FROM packets q WHERE q.record_id = r.id AND q.state NOT IN "
                "('acknowledged', 'withdrawn')) ORDER BY r.id",
                (cutoff,),
            ).fetchall()
        return [(int(i), str(purpose), str(created)) for i, purpose, created in rows]

    def acknowledge_packet(self, packet_id: str, state: str, reason: str | None) -> bool:
        """The centre's word on a packet (acknowledged, held at the centre); True if it changed."""
        with self.transaction() as db:
            changed = db.execute(
                "UPDATE packets SET state = ?, reason = ?, settled_at = ? WHERE id = ? AND state <> ?",
                (state, reason, utc_now(), packet_id, state),
            ).rowcount
        return bool(changed)

    def face_formats(self) -> dict[str, int]:
        """How many face templates of each stored format the station holds (every status)."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT format, COUNT(*) FROM biometrics WHERE modality = 'face' GROUP BY format"
            ).fetchall()
        return {str(fmt): int(count) for fmt, count in rows}

    def records_with_other_face_format(self) -> list[int]:
        """The station's own records whose face template was made by another model than the
        station's (a precinct roll's are the centre's: a new roll brings the new model's)."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT b.record_id FROM biometrics b JOIN records r ON r.id = b.record_id "
                "WHERE b.modality = 'face' AND b.position = 0 AND b.format != ? "
                "AND r.purpose != ? ORDER BY b.record_id",
                (self.face_format, ROLL_PURPOSE),
            ).fetchall()
        return [int(row[0]) for row in rows]

    def replace_face_template(
        self,
        record_id: int,
        vector: NDArray[np.float32],
        box: tuple[int, int, int, int],
        model: str,
    ) -> None:
        """Store a record's face template made again by ``model`` (in the caller's transaction)."""
        item = Biometric.face(vector, box, model)
        with self.transaction() as db:
            db.execute(
                "UPDATE biometrics SET format = ?, template = ?, box = ? "
                "WHERE record_id = ? AND modality = 'face' AND position = 0",
                (
                    item.format,
                    self.sealer.seal(item.template, biometric_context(record_id, "face", 0)),
                    json.dumps(list(box)),
                    record_id,
                ),
            )

    def finger_templates(self, purpose: str) -> dict[int, dict[int, bytes]]:
        """Finger templates of the active records of one purpose: record -> position -> bytes."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT b.record_id, b.position, b.template FROM biometrics b JOIN records r "
                "ON r.id = b.record_id WHERE b.modality = 'finger' AND r.status = 'active' "
                "AND r.purpose = ? ORDER BY b.record_id, b.position",
                (purpose,),
            ).fetchall()
        out: dict[int, dict[int, bytes]] = {}
        for rid, position, sealed in rows:
            out.setdefault(rid, {})[position] = self.sealer.open(
                sealed, biometric_context(rid, "finger", position)
            )
        return out

    def record_fingers(self, record_id: int) -> dict[int, bytes]:
        """One record's finger templates by ISO position."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT position, template FROM biometrics WHERE record_id = ? "
                "AND modality = 'finger' ORDER BY position",
                (record_id,),
            ).fetchall()
        return {
            position: self.sealer.open(sealed, biometric_context(record_id, "finger", position))
            for position, sealed in rows
        }

    def biometrics_of(self, record_id: int) -> list[dict[str, Any]]:
        """What a record holds of each modality: metadata and the opened template bytes."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT modality, position, format, template, quality, box, created_at "
                "FROM biometrics WHERE record_id = ? ORDER BY modality, position",
                (record_id,),
            ).fetchall()
        return [
            {
                "modality": modality,
                "position": position,
                "format": fmt,
                "template": self.sealer.open(
                    sealed, biometric_context(record_id, modality, position)
                ),
                "quality": quality,
                "box": json.loads(box) if box else None,
                "created_at": created,
            }
            for modality, position, fmt, sealed, quality, box, created in rows
        ]

    def finger_exceptions(self, record_id: int) -> dict[str, Any]:
        """The fingers a record's enrollment could not take, by ISO position, and why."""
        with self.reading() as db:
            row = db.execute(
                "SELECT finger_exceptions FROM records WHERE id = ?", (record_id,)
            ).fetchone()
        if row is None:
            raise RecordNotFoundError(record_id)
        return dict(self._open_json(row[0], record_context(record_id, "finger_exceptions")) or {})

    def photo(self, record_id: int, kind: str) -> tuple[str, bytes] | None:
        """(media type, image) of one of a record's photos, or None."""
        with self.reading() as db:
            row = db.execute(
                "SELECT media_type, image FROM photos WHERE record_id = ? AND kind = ?",
                (record_id, kind),
            ).fetchone()
        if row is None:
            return None
        return row[0], self.sealer.open(row[1], record_context(record_id, f"photos/{kind}"))

    def photos_of(self, record_id: int) -> list[tuple[str, str, bytes, str]]:
        """(kind, media type, image, created_at) of each photo a record holds."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT kind, media_type, image, created_at FROM photos WHERE record_id = ? "
                "ORDER BY kind",
                (record_id,),
            ).fetchall()
        return [
            (kind, media, self.sealer.open(image, record_context(record_id, f"photos/{kind}")), at)
            for kind, media, image, at in rows
        ]

    def find_by_document(self, document_number: str, purpose: str) -> list[int]:
        """Ids of the records of one purpose that hold this document number, oldest first."""
        index = self.document_index(document_number)
        with self.reading() as db:
            return [
                r[0]
                for r in db.execute(
                    "SELECT id FROM records WHERE document_index = ? AND purpose = ? ORDER BY id",
                    (index, purpose),
                )
            ]

    # -- holds: enrollments waiting for a supervisor's decision -----------------------------------

    def put_hold(self, record_id: int, detail: Mapping[str, Any], operator: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO holds (record_id, detail, created_at, created_by) "
                "VALUES (?, ?, ?, ?)",
                (
                    record_id,
                    self._seal_json(detail, record_context(record_id, "hold")),
                    utc_now(),
                    operator,
                ),
            )

    def get_hold(self, record_id: int) -> dict[str, Any] | None:
        with self.reading() as db:
            row = db.execute(
                "SELECT detail, created_at, created_by FROM holds WHERE record_id = ?",
                (record_id,),
            ).fetchone()
        if row is None:
            return None
        return {
            **self._open_json(row[0], record_context(record_id, "hold")),
            "held_at": row[1],
            "held_by": row[2],
        }

    def delete_hold(self, record_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM holds WHERE record_id = ?", (record_id,))

    def held_records(self, purpose: str) -> list[int]:
        with self.reading() as db:
            return [
                r[0]
                for r in db.execute(
                    "SELECT h.record_id FROM holds h JOIN records r ON r.id = h.record_id "
                    "WHERE r.purpose = ? ORDER BY h.record_id",
                    (purpose,),
                )
            ]

    # -- applications: intake verifications and their receipts ----------------------------------

    def add_application(
        self,
        purpose: str,
        record_id: int | None,
        decision: str,
        result: Mapping[str, Any],
        code_hash: str,
        operator: str,
    ) -> tuple[int, str]:
        """Store an intake verification; return its id and application number."""
        now = utc_now()
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO applications (number, code_hash, purpose, record_id, decision, "
                "result, created_at, created_by) VALUES (?, ?, ?, ?, ?, x'', ?, ?)",
                (
                    f"pending-{os.urandom(8).hex()}",
                    code_hash,
                    purpose,
                    record_id,
                    decision,
                    now,
                    operator,
                ),
            )
            aid = cursor.lastrowid
            assert aid is not None
            number = f"AP-{now[:4]}-{aid:07d}"
            db.execute(
                "UPDATE applications SET number = ?, result = ? WHERE id = ?",
                (number, self._seal_json(result, application_context(aid)), aid),
            )
        return aid, number

    def _application_from_row(self, row: tuple[Any, ...]) -> dict[str, Any]:
        aid, number, code_hash, purpose, record_id, decision, result, created, by = row
        return {
            "id": aid,
            "number": number,
            "code_hash": code_hash,
            "purpose": purpose,
            "record_id": record_id,
            "decision": decision,
            "result": self._open_json(result, application_context(aid)),
            "created_at": created,
            "created_by": by,
        }

    _APPLICATION_COLUMNS = (
        "id, number, code_hash, purpose, record_id, decision, result, created_at, created_by"
    )

    def get_application(self, number: str) -> dict[str, Any] | None:
        with self.reading() as db:
            row = db.execute(
                f"SELECT {self._APPLICATION_COLUMNS} FROM applications WHERE number = ?",
                (number,),
            ).fetchone()
        return None if row is None else self._application_from_row(row)

    def applications_of(self, record_id: int) -> list[dict[str, Any]]:
        with self.reading() as db:
            rows = db.execute(
                f"SELECT {self._APPLICATION_COLUMNS} FROM applications WHERE record_id = ? "
                "ORDER BY id",
                (record_id,),
            ).fetchall()
        return [self._application_from_row(r) for r in rows]

    # -- precinct rolls: the centre's voters of a precinct, kept as the purpose ROLL_PURPOSE ----

    _ROLL_COLUMNS = (
        "precinct",
        "roll_id",
        "centre_id",
        "register",
        "version",
        "made",
        "valid_until",
        "voters",
        "skipped",
        "imported_at",
        "imported_by",
    )

    def rolls(self) -> list[dict[str, Any]]:
        """The rolls held, one per precinct, by precinct."""
        with self.reading() as db:
            rows = db.execute(
                f"SELECT {', '.join(self._ROLL_COLUMNS)} FROM rolls ORDER BY precinct"
            ).fetchall()
        return [dict(zip(self._ROLL_COLUMNS, row, strict=True)) for row in rows]

    def roll(self, precinct: str) -> dict[str, Any] | None:
        """The roll held for a precinct, or None."""
        return next((r for r in self.rolls() if r["precinct"] == precinct), None)

    def put_roll(self, roll: Mapping[str, Any]) -> None:
        """Keep a roll's header (in the caller's transaction, before its voters)."""
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO rolls ({', '.join(self._ROLL_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in self._ROLL_COLUMNS)})",
                tuple(roll[name] for name in self._ROLL_COLUMNS),
            )

    def add_roll_voter(
        self,
        precinct: str,
        voter_id: str,
        fields: PersonFields,
        biometrics: list[Biometric],
        portrait: bytes | None,
    ) -> int:
        """One voter of a held roll: a record of :data:`ROLL_PURPOSE` (sealed as every record
        is) linked to its roll and the centre's id of the person; returns the record id."""
        with self.transaction() as db:
            record = self.add_record(fields, biometrics, ROLL_PURPOSE)
            if portrait is not None:
                self.put_photo(record.id, "portrait", "image/jpeg", portrait)
            db.execute(
                "INSERT INTO roll_voters (record_id, precinct, voter_id) VALUES (?, ?, ?)",
                (
                    record.id,
                    precinct,
                    self.sealer.seal(voter_id.encode(), record_context(record.id, "roll_voter")),
                ),
            )
        return record.id

    def delete_roll(self, precinct: str) -> list[int]:
        """Delete a precinct's roll and its voters' records with all they hold (zeroed on disk);
        return the records deleted."""
        with self.transaction() as db:
            ids = [
                int(row[0])
                for row in db.execute(
                    "SELECT record_id FROM roll_voters WHERE precinct = ? ORDER BY record_id",
                    (precinct,),
                )
            ]
            db.executemany("DELETE FROM records WHERE id = ?", [(i,) for i in ids])
            db.execute("DELETE FROM rolls WHERE precinct = ?", (precinct,))
        return ids

    def roll_entry(self, record_id: int) -> dict[str, Any] | None:
        """Where a record of a roll comes from (precinct, version, register, the centre's voter
        id), or None for the station's own records."""
        with self.reading() as db:
            row = db.execute(
                "SELECT v.precinct, v.voter_id, r.version, r.register, r.valid_until "
                "FROM roll_voters v JOIN rolls r ON r.precinct = v.precinct "
                "WHERE v.record_id = ?",
                (record_id,),
            ).fetchone()
        if row is None:
            return None
        precinct, sealed, version, register, valid_until = row
        return {
            "precinct": precinct,
            "voter": self.sealer.open(sealed, record_context(record_id, "roll_voter")).decode(),
            "version": version,
            "register": register,
            "valid_until": valid_until,
        }

    def find_on_rolls(self, document_number: str, register: str, today: str) -> list[int]:
        """Records of the voters holding this document number on the rolls of ``register``
        still valid on ``today`` (an ISO date), oldest first."""
        with self.reading() as db:
            return [
                int(row[0])
                for row in db.execute(
                    "SELECT c.id FROM records c JOIN roll_voters v ON v.record_id = c.id "
                    "JOIN rolls r ON r.precinct = v.precinct WHERE c.document_index = ? "
                    "AND c.purpose = ? AND r.register = ? AND r.valid_until >= ? ORDER BY c.id",
                    (self.document_index(document_number), ROLL_PURPOSE, register, today),
                )
            ]

    # -- retention ------------------------------------------------------------------------------

    def records_created_before(self, purpose: str, cutoff: str) -> list[tuple[int, str, str]]:
        """(id, status, created_at) of a purpose's records enrolled before ``cutoff``."""
        with self.reading() as db:
            return [
                (r[0], r[1], r[2])
                for r in db.execute(
                    "SELECT id, status, created_at FROM records WHERE purpose = ? "
                    "AND created_at < ? ORDER BY id",
                    (purpose, cutoff),
                )
            ]

    def record_purposes(self) -> dict[str, int]:
        """Every purpose held, with its record count."""
        with self.reading() as db:
            return dict(
                db.execute("SELECT purpose, COUNT(*) FROM records GROUP BY purpose").fetchall()
            )

    def applications_created_before(self, cutoff: str) -> list[int]:
        with self.reading() as db:
            return [
                r[0]
                for r in db.execute(
                    "SELECT id FROM applications WHERE created_at < ? ORDER BY id", (cutoff,)
                )
            ]

    def delete_application(self, application_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM applications WHERE id = ?", (application_id,))

    # -- key rotation -------------------------------------------------------------------------

    def reseal(self, new: Sealer) -> int:
        """Re-encrypt every sealed value with a new key, in one transaction; return the count.

        After a crash the database holds either the old key's values or the new key's, never a
        mixture. The caller keeps the new key safe before calling (see
        :func:`station.workflows.maintenance.rotate_key`).
        """
        count = 0
        with self.transaction() as db:
            for table, keys, columns in SEALED_COLUMNS:
                selected = ", ".join((*keys, *columns))
                for row in db.execute(f"SELECT {selected} FROM {table}").fetchall():
                    key, values = row[: len(keys)], list(row[len(keys) :])
                    for i, column in enumerate(columns):
                        if values[i] is not None:
                            context = _context_of(table, key, column)
                            values[i] = new.seal(self.sealer.open(values[i], context), context)
                            count += 1
                    db.execute(
                        f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)} "
                        f"WHERE {' AND '.join(f'{k} = ?' for k in keys)}",
                        (*values, *key),
                    )
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'audit_key'",
                (new.seal(self.audit_key, "meta/audit_key").hex(),),
            )
            db.execute("UPDATE meta SET value = ? WHERE key = 'key_id'", (new.key_id,))
        self.sealer = new
        return count

    def snapshot(self, target: Path) -> None:
        """A consistent copy of the database (SQLite's online backup), still sealed."""
        with self.reading() as db:
            copy = sqlite3.connect(target)
            try:
                db.backup(copy)
            finally:
                copy.close()


def _context_of(table: str, key: tuple[Any, ...], column: str) -> str:
    if table == "station_secrets":
        return secret_context(key[0])
    if table == "holds":
        return record_context(key[0], "hold")
    if table == "roll_voters":
        return record_context(key[0], "roll_voter")
    if table == "applications":
        return application_context(key[0])
    if table == "records":
        return record_context(key[0], column)
    if table == "biometrics":
        return biometric_context(key[0], key[1], key[2])
    if table == "photos":
        return record_context(key[0], f"photos/{key[1]}")
    if table == "status_changes":
        return record_context(key[0], f"status/{key[1]}/reason")
    return record_context(key[0], f"history/{key[1]}/{column}")
