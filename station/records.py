"""The person record: identity fields from the document, checked before anything is stored.

``health`` and ``disability`` are special-category fields: stored like the others (sealed), shown
only to supervisors. Every record carries the purpose it was collected for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date
from enum import StrEnum
from typing import Any

from station.errors import InvalidInputError, StationError
from station.text import printable

_DOCUMENT_NUMBER = re.compile(r"^[A-Z0-9<]{1,20}$")
_NATIONALITY = re.compile(r"^[A-Z<]{3}$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_NAME_LENGTH = 200
MAX_NOTE_LENGTH = 500
SPECIAL_FIELDS = ("health", "disability")
# The purpose of the voters of the precinct rolls the centre sends (station/workflows/rolls.py):
# their own galleries, never a purpose the station enrols for, never handed back to the centre.
ROLL_PURPOSE = "precinct_roll"


@dataclass(frozen=True)
class PersonFields:
    """Who the record is about, as read from the ID document or typed by the operator."""

    name: str
    document_type: str | None = None
    document_number: str | None = None
    nationality: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    health: str | None = None
    disability: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PersonFields:
        """Validate the person's fields among the request values (other keys, such as ``capture``,
        are left to the caller); a missing name or a malformed field is an InvalidInputError."""

        def text(key: str) -> str | None:
            raw = values.get(key)
            if raw is None:
                return None
            if not isinstance(raw, str):
                raise InvalidInputError(f"{key} must be text", field=key)
            cleaned = " ".join(printable(raw, key).split())
            return cleaned or None

        name = text("name")
        if not name:
            raise InvalidInputError("name is required: the person's full name", field="name")
        if len(name) > MAX_NAME_LENGTH:
            raise InvalidInputError(
                f"name is longer than {MAX_NAME_LENGTH} characters", field="name"
            )
        document_number = text("document_number")
        if document_number is not None:
            document_number = document_number.upper().replace(" ", "")
            if not _DOCUMENT_NUMBER.match(document_number):
                raise InvalidInputError(
                    "document_number takes up to 20 letters A-Z and digits", field="document_number"
                )
        nationality = text("nationality")
        if nationality is not None:
            nationality = nationality.upper()
            if not _NATIONALITY.match(nationality):
                raise InvalidInputError(
                    "nationality is a 3-letter ICAO code such as KGZ or KAZ", field="nationality"
                )
        birth_date = text("birth_date")
        if birth_date is not None:
            try:
                parsed = date.fromisoformat(birth_date)
            except ValueError:
                raise InvalidInputError(
                    "birth_date is written YYYY-MM-DD", field="birth_date"
                ) from None
            if parsed > date.today():
                raise InvalidInputError("birth_date lies in the future", field="birth_date")
            birth_date = parsed.isoformat()
        sex = text("sex")
        if sex is not None:
            sex = sex.upper()
            if sex not in {"M", "F", "X"}:
                raise InvalidInputError("sex is M, F or X (as in the MRZ)", field="sex")
        document_type = text("document_type")
        if document_type is not None and len(document_type) > 40:
            raise InvalidInputError("document_type is at most 40 characters", field="document_type")
        special = {key: text(key) for key in SPECIAL_FIELDS}
        for key, value in special.items():
            if value is not None and len(value) > MAX_NOTE_LENGTH:
                raise InvalidInputError(f"{key} is at most {MAX_NOTE_LENGTH} characters", field=key)
        return cls(
            name=name,
            document_type=document_type,
            document_number=document_number,
            nationality=nationality,
            birth_date=birth_date,
            sex=sex,
            **special,
        )

    def corrected(self, changes: Mapping[str, Any]) -> PersonFields:
        """These fields with ``changes`` applied (None clears a field), validated as a whole."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise InvalidInputError(
                f"unknown field(s) {', '.join(unknown)}: a correction may change "
                + ", ".join(f.name for f in fields(self)),
                field=unknown[0],
            )
        return PersonFields.from_mapping({**asdict(self), **changes})


def parse_purpose(value: object, default: str) -> str:
    """The purpose a record is collected for: a short lower-case word such as voter_registration."""
    if value is None:
        return default
    if not isinstance(value, str) or not _PURPOSE.match(value):
        raise InvalidInputError(
            "purpose is a lower-case word of letters, digits and _ (such as voter_registration)",
            field="purpose",
        )
    return value


class RecordBlockedError(StationError):
    """The record is under dispute: kept, but never matched or changed until unblocked."""

    code = "record_blocked"

    def __init__(self, record_id: int, status: str = "blocked") -> None:
        self.record_id = record_id
        if status == "held":
            super().__init__(
                f"record {record_id} is held as a likely duplicate: it cannot be matched until a "
                "supervisor decides on it"
            )
            return
        super().__init__(
            f"record {record_id} is blocked while under dispute: it cannot be matched or changed "
            "until a supervisor unblocks it"
        )


class RecordStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"  # under dispute: kept, never matched, never changed until unblocked
    HELD = "held"  # a likely duplicate at enrollment: not matched until a supervisor decides


@dataclass(frozen=True)
class Record:
    """A stored person: fields, purpose, status, face location in the enrollment photo,
    version (1 + the number of corrections) and timestamps (UTC, ISO 8601)."""

    id: int
    fields: PersonFields
    face_box: tuple[int, int, int, int] | None
    created_at: str
    updated_at: str
    purpose: str = "voter_registration"
    status: RecordStatus = RecordStatus.ACTIVE
    version: int = 1
    consent: Mapping[str, Any] | None = None
    card_summary: Mapping[str, Any] | None = None

    @property
    def blocked(self) -> bool:
        return self.status is RecordStatus.BLOCKED

    @property
    def held(self) -> bool:
        return self.status is RecordStatus.HELD

    @property
    def active(self) -> bool:
        return self.status is RecordStatus.ACTIVE

    def to_json(self, special: bool = False) -> dict[str, Any]:
        """The record for a client; special-category fields only when ``special`` is allowed."""
        person = asdict(self.fields)
        if not special:
            for key in SPECIAL_FIELDS:
                del person[key]
        return {
            "id": self.id,
            **person,
            "purpose": self.purpose,
            "status": self.status.value,
            "version": self.version,
            "face": {"box": list(self.face_box) if self.face_box else None},
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
