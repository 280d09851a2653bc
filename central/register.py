"""The central register in PostgreSQL: stations, packets, persons, templates, images, refusals.

Personal fields, templates and images are sealed (AES-GCM, :class:`station.security.crypto.Sealer`)
with the centre's data key before they reach the server, so the cluster's files and its backups
reveal nothing without the key file. What stays readable is what the centre must select on:
ids, states, the register (purpose), the precinct, times, and a keyed hash of the document
number (to find a voter by card without opening every record).

Every register is a purpose: a person belongs to exactly one, and every query names it, so data
sets collected for different purposes are never merged (de-duplication and rolls run within one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from station.security.crypto import Sealer

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE IF NOT EXISTS stations (
    station_id text PRIMARY KEY,
    signing_key jsonb NOT NULL,
    encryption_key jsonb,
    thumbprint text NOT NULL,
    registered timestamptz NOT NULL DEFAULT now(),
    revoked timestamptz
);
CREATE TABLE IF NOT EXISTS packets (
    packet_id text PRIMARY KEY,
    station_id text NOT NULL REFERENCES stations,
    kind text NOT NULL,
    register text NOT NULL,
    state text NOT NULL,           -- stored, held (for review), applied, not_applied
    reason text,
    checks jsonb NOT NULL DEFAULT '[]',
    sha256 text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    person_id bigint,
    station_record bigint
);
CREATE TABLE IF NOT EXISTS refusals (
    id bigserial PRIMARY KEY,
    source text NOT NULL,          -- the file (or upload) refused
    station_id text,               -- as claimed: a refused packet proves nothing
    reason text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS persons (
    id bigserial PRIMARY KEY,
    register text NOT NULL,
    station_id text NOT NULL REFERENCES stations,
    station_record bigint NOT NULL,
    packet_id text NOT NULL UNIQUE REFERENCES packets,
    precinct text,
    status text NOT NULL,          -- queued (for de-duplication), held, registered, blocked, deleted
    status_reason text,
    document_index text,
    fields bytea,                  -- sealed JSON; NULL once deleted
    version int NOT NULL DEFAULT 1,
    enrolled_at timestamptz,
    imported_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (station_id, station_record)
);
CREATE INDEX IF NOT EXISTS persons_queue ON persons (register, status);
CREATE INDEX IF NOT EXISTS persons_precinct ON persons (register, precinct) WHERE status <> 'deleted';
CREATE INDEX IF NOT EXISTS persons_document ON persons (register, document_index);
CREATE TABLE IF NOT EXISTS templates (
    person_id bigint NOT NULL REFERENCES persons ON DELETE CASCADE,
    modality text NOT NULL,
    position int NOT NULL DEFAULT 0,  -- ISO finger position; 0 for the face
    format text NOT NULL,
    quality real,
    data bytea NOT NULL,              -- sealed
    PRIMARY KEY (person_id, modality, position, format)
);
CREATE TABLE IF NOT EXISTS images (
    person_id bigint NOT NULL REFERENCES persons ON DELETE CASCADE,
    kind text NOT NULL,
    media_type text NOT NULL,
    standard text NOT NULL,
    data bytea NOT NULL,              -- sealed
    PRIMARY KEY (person_id, kind)
);
CREATE TABLE IF NOT EXISTS rolls (
    roll_id text PRIMARY KEY,
    register text NOT NULL,
    precinct text NOT NULL,
    station_id text NOT NULL REFERENCES stations,
    version int NOT NULL,
    voters int NOT NULL,
    made_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (register, precinct, version)
);
"""


class RegisterError(Exception):
    """The register cannot do what was asked; the message says why."""

    code = "register_error"


@dataclass(frozen=True)
class Person:
    id: int
    register: str
    station_id: str
    station_record: int
    packet_id: str
    precinct: str | None
    status: str
    status_reason: str | None
    fields: dict[str, Any]
    version: int


class Register:
    """One connection to the register's database, with the centre's sealer."""

    def __init__(self, url: str, sealer: Sealer) -> None:
        try:
            self.db = psycopg.connect(url, autocommit=True, row_factory=dict_row)
        except psycopg.OperationalError as exc:
            raise RegisterError(
                f"cannot reach the centre's database: {exc}".strip()
                + " (is the server running? check --db / $CENTRAL_DB)"
            ) from exc
        self.sealer = sealer
        self._secrets: dict[str, bytes] = {}
        with self.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(18)")  # one schema creator at a time
            self.db.execute(SCHEMA)
            self._check_key()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        with self.db.transaction():
            yield self.db

    # -- the data key -----------------------------------------------------------------------

    def _check_key(self) -> None:
        """The database was sealed with this key (a wrong key file is refused at once)."""
        row = self.db.execute("SELECT value FROM meta WHERE name = 'key_check'").fetchone()
        if row is None:
            self.db.execute(
                "INSERT INTO meta (name, value) VALUES ('key_check', %s), ('schema', %s)",
                (self.sealer.seal(b"central register", "key_check"), str(SCHEMA_VERSION).encode()),
            )
            return
        self.sealer.open(bytes(row["value"]), "key_check")  # TamperedDataError: another key

    def secret(self, name: str) -> bytes:
        """A random 32-byte key kept sealed in ``meta`` (the audit and index keys), made on
        first use."""
        if name in self._secrets:
            return self._secrets[name]
        self.db.execute(
            "INSERT INTO meta (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (name, self.sealer.seal(os.urandom(32), name)),
        )
        row = self.db.execute("SELECT value FROM meta WHERE name = %s", (name,)).fetchone()
        assert row is not None
        self._secrets[name] = self.sealer.open(bytes(row["value"]), name)
        return self._secrets[name]

    def sealed_value(self, name: str) -> bytes | None:
        """A value kept sealed in ``meta`` (the registers' finger codecs), or None."""
        row = self.db.execute("SELECT value FROM meta WHERE name = %s", (name,)).fetchone()
        return None if row is None else self.sealer.open(bytes(row["value"]), name)

    def put_sealed_value(self, name: str, value: bytes) -> bytes:
        """Keep ``value`` sealed in ``meta`` unless one is there already; the kept one."""
        self.db.execute(
            "INSERT INTO meta (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (name, self.sealer.seal(value, name)),
        )
        kept = self.sealed_value(name)
        assert kept is not None
        return kept

    def document_index(self, register: str, document_number: str | None) -> str | None:
        """A keyed hash of a document number within a register: found again, never read."""
        if not document_number:
            return None
        message = f"{register}\0{document_number.upper()}".encode()
        return hmac.new(self.secret("index_key"), message, hashlib.sha256).hexdigest()

    # -- stations -----------------------------------------------------------------------------

    def station(self, station_id: str) -> dict[str, Any] | None:
        return self.db.execute(
            "SELECT * FROM stations WHERE station_id = %s", (station_id,)
        ).fetchone()

    def stations(self) -> list[dict[str, Any]]:
        return self.db.execute("SELECT * FROM stations ORDER BY station_id").fetchall()

    def add_station(
        self,
        station_id: str,
        signing_key: Mapping[str, Any],
        encryption_key: Mapping[str, Any],
        thumbprint: str,
    ) -> None:
        self.db.execute(
            "INSERT INTO stations (station_id, signing_key, encryption_key, thumbprint) "
            "VALUES (%s, %s, %s, %s)",
            (station_id, json.dumps(signing_key), json.dumps(encryption_key), thumbprint),
        )

    def revoke_station(self, station_id: str) -> None:
        self.db.execute(
            "UPDATE stations SET revoked = now() WHERE station_id = %s AND revoked IS NULL",
            (station_id,),
        )

    # -- packets and persons ----------------------------------------------------------------

    def packet(self, packet_id: str) -> dict[str, Any] | None:
        return self.db.execute(
            "SELECT packet_id, station_id, kind, register, state, reason, checks, received_at, "
            "person_id FROM packets WHERE packet_id = %s",
            (packet_id,),
        ).fetchone()

    def add_packet(
        self,
        packet_id: str,
        station_id: str,
        kind: str,
        register: str,
        state: str,
        sha256: str,
        reason: str | None = None,
        checks: list[dict[str, Any]] | None = None,
        station_record: int | None = None,
    ) -> None:
        self.db.execute(
            "INSERT INTO packets (packet_id, station_id, kind, register, state, reason, checks, "
            "sha256, station_record) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                packet_id,
                station_id,
                kind,
                register,
                state,
                reason,
                json.dumps(checks or []),
                sha256,
                station_record,
            ),
        )

    def deleted_before_enrolment(self, station_id: str, station_record: int) -> bool:
        """Whether the station deleted this record before its enrolment reached the centre."""
        row = self.db.execute(
            "SELECT 1 FROM packets WHERE station_id = %s AND station_record = %s AND "
            "kind = 'deletion'",
            (station_id, station_record),
        ).fetchone()
        return row is not None

    def link_packet(self, packet_id: str, person_id: int) -> None:
        self.db.execute(
            "UPDATE packets SET person_id = %s WHERE packet_id = %s", (person_id, packet_id)
        )

    def add_refusal(self, source: str, station_id: str | None, reason: str) -> None:
        self.db.execute(
            "INSERT INTO refusals (source, station_id, reason) VALUES (%s, %s, %s)",
            (source, station_id, reason),
        )

    def refusals(self, limit: int = 1000) -> list[dict[str, Any]]:
        return self.db.execute(
            "SELECT id, source, station_id, reason, at FROM refusals ORDER BY id DESC LIMIT %s",
            (limit,),
        ).fetchall()

    def add_person(
        self,
        *,
        register: str,
        station_id: str,
        station_record: int,
        packet_id: str,
        precinct: str | None,
        status: str,
        status_reason: str | None,
        fields: Mapping[str, Any],
        enrolled_at: str | None,
    ) -> int:
        row = self.db.execute(
            "INSERT INTO persons (register, station_id, station_record, packet_id, precinct, "
            "status, status_reason, document_index, fields, enrolled_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                register,
                station_id,
                station_record,
                packet_id,
                precinct,
                status,
                status_reason,
                self.document_index(register, fields.get("document_number")),
                self.sealer.seal(json.dumps(dict(fields)).encode(), f"person:{packet_id}"),
                enrolled_at,
            ),
        ).fetchone()
        assert row is not None
        return int(row["id"])

    def person_of_station_record(self, station_id: str, station_record: int) -> Person | None:
        row = self.db.execute(
            "SELECT * FROM persons WHERE station_id = %s AND station_record = %s",
            (station_id, station_record),
        ).fetchone()
        return None if row is None else self._person(row)

    def person(self, person_id: int) -> Person | None:
        row = self.db.execute("SELECT * FROM persons WHERE id = %s", (person_id,)).fetchone()
        return None if row is None else self._person(row)

    def _person(self, row: Mapping[str, Any]) -> Person:
        sealed = row["fields"]
        fields = (
            {}
            if sealed is None
            else json.loads(self.sealer.open(bytes(sealed), f"person:{row['packet_id']}"))
        )
        return Person(
            int(row["id"]),
            row["register"],
            row["station_id"],
            int(row["station_record"]),
            row["packet_id"],
            row["precinct"],
            row["status"],
            row["status_reason"],
            fields,
            int(row["version"]),
        )

    def update_person(
        self,
        person_id: int,
        *,
        fields: Mapping[str, Any] | None = None,
        status: str | None = None,
        status_reason: str | None = None,
    ) -> None:
        person = self.person(person_id)
        if person is None:
            raise RegisterError(f"no person {person_id} in the register")
        if fields is not None:
            self.db.execute(
                "UPDATE persons SET fields = %s, document_index = %s, version = version + 1, "
                "updated_at = now() WHERE id = %s",
                (
                    self.sealer.seal(
                        json.dumps(dict(fields)).encode(), f"person:{person.packet_id}"
                    ),
                    self.document_index(person.register, fields.get("document_number")),
                    person_id,
                ),
            )
        if status is not None:
            self.db.execute(
                "UPDATE persons SET status = %s, status_reason = %s, updated_at = now() "
                "WHERE id = %s",
                (status, status_reason, person_id),
            )

    def erase_person(self, person_id: int, reason: str) -> None:
        """Delete everything personal of a person; the row stays as ``deleted`` so a packet
        arriving late about it is recognised (it names no one)."""
        self.db.execute("DELETE FROM templates WHERE person_id = %s", (person_id,))
        self.db.execute("DELETE FROM images WHERE person_id = %s", (person_id,))
        self.db.execute(
            "UPDATE persons SET fields = NULL, document_index = NULL, precinct = NULL, "
            "status = 'deleted', status_reason = %s, updated_at = now() WHERE id = %s",
            (reason, person_id),
        )

    def put_template(
        self,
        person_id: int,
        modality: str,
        position: int | None,
        template_format: str,
        quality: float | None,
        data: bytes,
    ) -> None:
        where = f"template:{person_id}:{modality}:{position or 0}:{template_format}"
        self.db.execute(
            "INSERT INTO templates (person_id, modality, position, format, quality, data) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (person_id, modality, position, format) "
            "DO UPDATE SET quality = EXCLUDED.quality, data = EXCLUDED.data",
            (
                person_id,
                modality,
                position or 0,
                template_format,
                quality,
                self.sealer.seal(data, where),
            ),
        )

    def templates_of(self, person_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT modality, position, format, quality, data FROM templates WHERE person_id = %s "
            "ORDER BY modality, position",
            (person_id,),
        ).fetchall()
        for row in rows:
            where = f"template:{person_id}:{row['modality']}:{row['position']}:{row['format']}"
            row["data"] = self.sealer.open(bytes(row["data"]), where)
            row["position"] = row["position"] or None
        return rows

    def put_image(
        self, person_id: int, kind: str, media_type: str, standard: str, data: bytes
    ) -> None:
        self.db.execute(
            "INSERT INTO images (person_id, kind, media_type, standard, data) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (person_id, kind) DO UPDATE SET "
            "media_type = EXCLUDED.media_type, standard = EXCLUDED.standard, data = EXCLUDED.data",
            (
                person_id,
                kind,
                media_type,
                standard,
                self.sealer.seal(data, f"image:{person_id}:{kind}"),
            ),
        )

    def image(self, person_id: int, kind: str) -> bytes | None:
        row = self.db.execute(
            "SELECT data FROM images WHERE person_id = %s AND kind = %s", (person_id, kind)
        ).fetchone()
        return (
            None
            if row is None
            else self.sealer.open(bytes(row["data"]), f"image:{person_id}:{kind}")
        )

    def image_kinds(self, person_id: int) -> list[str]:
        rows = self.db.execute(
            "SELECT kind FROM images WHERE person_id = %s ORDER BY kind", (person_id,)
        ).fetchall()
        return [r["kind"] for r in rows]

    def persons_of_precinct(
        self, register: str, precinct: str, statuses: tuple[str, ...]
    ) -> list[int]:
        rows = self.db.execute(
            "SELECT id FROM persons WHERE register = %s AND precinct = %s AND status = ANY(%s) "
            "ORDER BY enrolled_at NULLS LAST, id",
            (register, precinct, list(statuses)),
        ).fetchall()
        return [int(r["id"]) for r in rows]

    def counts(self) -> dict[str, Any]:
        """Persons per register and status, packets per state, refusals."""
        persons: dict[str, dict[str, int]] = {}
        for row in self.db.execute(
            "SELECT register, status, count(*) AS n FROM persons GROUP BY register, status"
        ).fetchall():
            persons.setdefault(row["register"], {})[row["status"]] = int(row["n"])
        packets = {
            row["state"]: int(row["n"])
            for row in self.db.execute(
                "SELECT state, count(*) AS n FROM packets GROUP BY state"
            ).fetchall()
        }
        refused = self.db.execute("SELECT count(*) AS n FROM refusals").fetchone()
        return {
            "persons": persons,
            "packets": packets,
            "refusals": int(refused["n"]) if refused else 0,
        }

    def next_roll_version(self, register: str, precinct: str) -> int:
        row = self.db.execute(
            "SELECT coalesce(max(version), 0) + 1 AS v FROM rolls WHERE register = %s AND "
            "precinct = %s",
            (register, precinct),
        ).fetchone()
        assert row is not None
        return int(row["v"])

    def add_roll(
        self, roll_id: str, register: str, precinct: str, station_id: str, version: int, voters: int
    ) -> None:
        self.db.execute(
            "INSERT INTO rolls (roll_id, register, precinct, station_id, version, voters) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (roll_id, register, precinct, station_id, version, voters),
        )
