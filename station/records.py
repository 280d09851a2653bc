"""The person record: identity fields from the document, checked before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from station.errors import InvalidInputError

_DOCUMENT_NUMBER = re.compile(r"^[A-Z0-9<]{1,20}$")
_NATIONALITY = re.compile(r"^[A-Z<]{3}$")
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class PersonFields:
    """Who the record is about, as read from the ID document or typed by the operator."""

    name: str
    document_type: str | None = None
    document_number: str | None = None
    nationality: str | None = None
    birth_date: str | None = None
    sex: str | None = None

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
            cleaned = " ".join(raw.split())
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
        return cls(
            name=name,
            document_type=document_type,
            document_number=document_number,
            nationality=nationality,
            birth_date=birth_date,
            sex=sex,
        )


@dataclass(frozen=True)
class Record:
    """A stored person: fields, face location in the enrolment photo, timestamps (UTC, ISO 8601)."""

    id: int
    fields: PersonFields
    face_box: tuple[int, int, int, int] | None
    created_at: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **asdict(self.fields),
            "face": {"box": list(self.face_box) if self.face_box else None},
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
