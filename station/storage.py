"""Records in SQLite on disk: one file, WAL journal, full fsync on commit.

SQLite is the source of truth; the face gallery is an index rebuilt from it when they disagree.
Ids are never reused (AUTOINCREMENT), so a stale gallery can never point at the wrong person.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from matcher.face.templates import TEMPLATE_DIM, template_from_bytes, template_to_bytes
from station.errors import RecordNotFoundError, StationError
from station.records import PersonFields, Record

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    document_type TEXT,
    document_number TEXT,
    nationality TEXT,
    birth_date TEXT,
    sex TEXT,
    face_template BLOB NOT NULL,
    face_box TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_document ON records (document_number);
"""
_COLUMNS = (
    "id, name, document_type, document_number, nationality, birth_date, sex, face_box, "
    "created_at, updated_at"
)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Storage:
    """The station's database. Thread-safe: one connection behind a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StationError(f"cannot open the station database {path}: {exc}") from exc
        self._lock = threading.Lock()
        self._check_schema()

    def _check_schema(self) -> None:
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise StationError(
                    f"database {self.path} has schema version {row[0]}, this station reads "
                    f"{SCHEMA_VERSION}: upgrade the station software"
                )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_record(
        self,
        fields: PersonFields,
        template: NDArray[np.float32],
        face_box: tuple[int, int, int, int] | None,
    ) -> Record:
        now = utc_now()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO records (name, document_type, document_number, nationality, birth_date, "
                "sex, face_template, face_box, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fields.name,
                    fields.document_type,
                    fields.document_number,
                    fields.nationality,
                    fields.birth_date,
                    fields.sex,
                    template_to_bytes(template),
                    json.dumps(list(face_box)) if face_box else None,
                    now,
                    now,
                ),
            )
            record_id = cursor.lastrowid
        assert record_id is not None
        return Record(
            id=record_id, fields=fields, face_box=face_box, created_at=now, updated_at=now
        )

    def get_record(self, record_id: int) -> Record:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE id = ?", (record_id,)
            ).fetchone()
        if row is None:
            raise RecordNotFoundError(record_id)
        return _record_from_row(row)

    def get_records(self, record_ids: list[int]) -> dict[int, Record]:
        if not record_ids:
            return {}
        marks = ",".join("?" * len(record_ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE id IN ({marks})", record_ids
            ).fetchall()
        return {row[0]: _record_from_row(row) for row in rows}

    def get_template(self, record_id: int) -> NDArray[np.float32]:
        with self._lock:
            row = self._db.execute(
                "SELECT face_template FROM records WHERE id = ?", (record_id,)
            ).fetchone()
        if row is None:
            raise RecordNotFoundError(record_id)
        return template_from_bytes(row[0])

    def delete_record(self, record_id: int) -> None:
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM records WHERE id = ?", (record_id,)).rowcount
        if deleted == 0:
            raise RecordNotFoundError(record_id)

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def record_ids(self) -> NDArray[np.int64]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM records ORDER BY id").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def templates(self, record_ids: NDArray[np.int64]) -> NDArray[np.float32]:
        """The face templates of these records, in the same order."""
        out = np.empty((len(record_ids), TEMPLATE_DIM), dtype=np.float32)
        wanted = {int(rid): row for row, rid in enumerate(record_ids)}
        found = 0
        with self._lock:
            cursor = self._db.execute("SELECT id, face_template FROM records ORDER BY id")
            for rid, blob in cursor:
                row = wanted.get(rid)
                if row is not None:
                    out[row] = template_from_bytes(blob)
                    found += 1
        if found != len(wanted):
            raise StationError("records vanished while their templates were read: try again")
        return out


def _record_from_row(row: tuple[object, ...]) -> Record:
    (
        record_id,
        name,
        document_type,
        document_number,
        nationality,
        birth_date,
        sex,
        face_box,
        created_at,
        updated_at,
    ) = row
    box = tuple(json.loads(str(face_box))) if face_box else None
    return Record(
        id=int(str(record_id)),
        fields=PersonFields(
            name=str(name),
            document_type=_opt(document_type),
            document_number=_opt(document_number),
            nationality=_opt(nationality),
            birth_date=_opt(birth_date),
            sex=_opt(sex),
        ),
        face_box=box,
        created_at=str(created_at),
        updated_at=str(updated_at),
    )


def _opt(value: object) -> str | None:
    return None if value is None else str(value)
