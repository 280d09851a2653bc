"""A precinct's roll: the voters of one precinct as the centre enrolled them, for one station.

The centre makes it (``central roll make``), signs it with its Ed25519 key and encrypts it to the
station's X25519 key, in the same JOSE envelope as packets (:mod:`station.exchange.envelope`,
kind ``roll``, the roll's id as packet id). The station opens it (``station roll import``),
checks it is meant for itself and newer than the roll it holds, and keeps it as its own purpose,
never merged with its own enrolments.

The payload is JSON: only what intake verification needs of each voter (the centre's voter id,
name, document number, birth date, the token portrait, the templates of the station's models),
and the roll's precinct, register (the purpose it was collected for), version (increasing per
precinct) and ``valid_until`` (the end of its retention: the station deletes it then).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

ROLL_KIND = "roll"
ROLL_VERSION = 1  # of this layout


class RollError(Exception):
    """A roll that cannot be read or used, with the reason."""

    code = "roll_refused"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class RollTemplate:
    modality: str  # "face" or "finger"
    position: int | None  # ISO finger position; None for the face
    format: str  # names the model: face-sface128/1, finger-leader-mcc/1
    quality: float | None
    data: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "modality": self.modality,
            "position": self.position,
            "format": self.format,
            "quality": self.quality,
            "data": base64.b64encode(self.data).decode("ascii"),
        }


@dataclass(frozen=True)
class RollVoter:
    voter_id: str  # the centre's id of the person
    name: str
    document_number: str | None
    birth_date: str | None  # ISO 8601 date
    portrait: bytes | None  # JPEG
    templates: list[RollTemplate] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "voter": self.voter_id,
            "name": self.name,
            "document_number": self.document_number,
            "birth_date": self.birth_date,
            "portrait": None
            if self.portrait is None
            else base64.b64encode(self.portrait).decode("ascii"),
            "templates": [t.to_json() for t in self.templates],
        }


@dataclass(frozen=True)
class Roll:
    roll_id: str
    centre_id: str
    station_id: str
    precinct: str
    register: str  # the purpose its records were collected for
    version: int
    made: str  # ISO 8601 UTC
    valid_until: str  # ISO 8601 date: deleted at the station after it
    voters: list[RollVoter]

    def to_json(self) -> dict[str, Any]:
        return {
            "manifest": ROLL_VERSION,
            "kind": ROLL_KIND,
            "roll": self.roll_id,
            "centre_id": self.centre_id,
            "station_id": self.station_id,
            "precinct": self.precinct,
            "register": self.register,
            "version": self.version,
            "made": self.made,
            "valid_until": self.valid_until,
            "voters": [v.to_json() for v in self.voters],
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    def expired(self, today: date | None = None) -> bool:
        return date.fromisoformat(self.valid_until) < (today or datetime.now(UTC).date())


def _text(value: Any, name: str, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise RollError(f"the roll's {name} is missing or not text")
    return value


def _bytes(value: Any, name: str) -> bytes:
    try:
        return base64.b64decode(_text(value, name), validate=True)
    except (binascii.Error, ValueError):
        raise RollError(f"the roll's {name} is not base64") from None


def _template(item: Any) -> RollTemplate:
    if not isinstance(item, dict) or item.get("modality") not in ("face", "finger"):
        raise RollError("a template of the roll is not a face or finger template")
    position = item.get("position")
    if item["modality"] == "finger" and not (isinstance(position, int) and 1 <= position <= 10):
        raise RollError("a finger template of the roll has no ISO position 1-10")
    quality = item.get("quality")
    return RollTemplate(
        item["modality"],
        position if item["modality"] == "finger" else None,
        _text(item.get("format"), "template format"),
        float(quality) if isinstance(quality, (int, float)) else None,
        _bytes(item.get("data"), "template data"),
    )


def _voter(item: Any) -> RollVoter:
    if not isinstance(item, dict):
        raise RollError("a voter of the roll is not an object")
    templates = item.get("templates")
    if not isinstance(templates, list):
        raise RollError("a voter of the roll has no list of templates")
    portrait = item.get("portrait")
    return RollVoter(
        _text(item.get("voter"), "voter id"),
        _text(item.get("name"), "voter name"),
        _text(item.get("document_number"), "document number", optional=True),
        _text(item.get("birth_date"), "birth date", optional=True),
        None if portrait is None else _bytes(portrait, "portrait"),
        [_template(t) for t in templates],
    )


def read_roll(payload: bytes) -> Roll:
    """The roll in a payload opened from its envelope, or :class:`RollError` saying what is
    wrong with it."""
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RollError("the roll is not JSON") from None
    if not isinstance(document, dict) or document.get("kind") != ROLL_KIND:
        raise RollError("not a precinct roll")
    if document.get("manifest") != ROLL_VERSION:
        raise RollError(
            f"roll layout {document.get('manifest')!r}: this station reads {ROLL_VERSION}"
        )
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RollError("the roll has no version number")
    valid_until = _text(document.get("valid_until"), "valid_until")
    try:
        date.fromisoformat(valid_until)
    except ValueError:
        raise RollError("the roll's valid_until is not a date") from None
    voters = document.get("voters")
    if not isinstance(voters, list):
        raise RollError("the roll has no list of voters")
    return Roll(
        _text(document.get("roll"), "id"),
        _text(document.get("centre_id"), "centre_id"),
        _text(document.get("station_id"), "station_id"),
        _text(document.get("precinct"), "precinct"),
        _text(document.get("register"), "register"),
        version,
        _text(document.get("made"), "made"),
        valid_until,
        [_voter(v) for v in voters],
    )
