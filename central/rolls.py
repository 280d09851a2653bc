"""Precinct rolls: the register's voters of one precinct, for one station
(``central roll make``), in the layout of :mod:`station.exchange.rolls`.

Only what intake verification needs goes in (name, document number, birth date, the token
portrait, the templates of the station's face model and the finger templates), signed by the
centre and encrypted to that station's key. Each roll of a precinct has the next version, so a
station replaces an older roll and refuses a replayed one. Persons held for review, blocked or
deleted are left out, and so is a later enrolment of a document number already on the roll (the
earlier enrolment stands until de-duplication decides): one card, one voter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from central.engine.loader import face_format
from station.exchange.envelope import seal_packet
from station.exchange.rolls import ROLL_KIND, Roll, RollTemplate, RollVoter
from station.storage import FINGER_FORMAT

if TYPE_CHECKING:
    from central.centre import Centre

ROLL_STATUSES = ("queued", "registered")  # de-duplication (the next issue) moves queued on
DEFAULT_VALID_DAYS = 90


@dataclass(frozen=True)
class MadeRoll:
    roll: Roll
    data: bytes
    without_face: int
    left_out: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "roll": self.roll.roll_id,
            "precinct": self.roll.precinct,
            "station": self.roll.station_id,
            "register": self.roll.register,
            "version": self.roll.version,
            "voters": len(self.roll.voters),
            "without_face": self.without_face,
            "left_out": self.left_out,
            "valid_until": self.roll.valid_until,
            "bytes": len(self.data),
        }


def make_roll(
    centre: Centre,
    *,
    precinct: str,
    station_id: str,
    register: str = "voter_registration",
    face_model: str = "sface",
    valid_days: int = DEFAULT_VALID_DAYS,
) -> MadeRoll:
    """The roll of ``precinct`` for ``station_id``, sealed, recorded and audited."""
    wanted_face = face_format(face_model)
    recipient = centre.stations.encryption_key_for(station_id)
    db = centre.register
    voters, without_face = [], 0
    left_out: list[dict[str, Any]] = []
    holders: dict[str, int] = {}  # document number -> the person on the roll with it
    for person_id in db.persons_of_precinct(register, precinct, ROLL_STATUSES):
        person = db.person(person_id)
        if person is None:
            continue
        number = str(person.fields.get("document_number") or "").upper()
        if number and number in holders:
            left_out.append(
                {"person": person_id, "reason": f"same document as person {holders[number]}"}
            )
            continue
        if number:
            holders[number] = person_id
        templates = [
            RollTemplate(t["modality"], t["position"], t["format"], t["quality"], t["data"])
            for t in db.templates_of(person_id)
            if t["format"] in (wanted_face, FINGER_FORMAT)
        ]
        without_face += not any(t.modality == "face" for t in templates)
        voters.append(
            RollVoter(
                f"{centre.keys.centre_id}:{person_id}",
                str(person.fields.get("name") or ""),
                person.fields.get("document_number"),
                person.fields.get("birth_date"),
                db.image(person_id, "portrait"),
                templates,
            )
        )
    keys = centre.keys
    with db.transaction():
        version = db.next_roll_version(register, precinct)
        now = datetime.now(UTC).replace(microsecond=0)
        roll = Roll(
            str(uuid.uuid4()),
            keys.centre_id,
            station_id,
            precinct,
            register,
            version,
            now.isoformat(),
            (now.date() + timedelta(days=valid_days)).isoformat(),
            voters,
        )
        _, data = seal_packet(
            roll.to_bytes(),
            kind=ROLL_KIND,
            sender_id=keys.centre_id,
            signing_key=keys.signing_key,
            recipient_key=recipient,
            packet_id=roll.roll_id,
        )
        db.add_roll(roll.roll_id, register, precinct, station_id, version, len(voters))
        centre.audit.append(
            centre.actor,
            "roll_make",
            target=roll.roll_id,
            detail={
                "precinct": precinct,
                "station": station_id,
                "version": version,
                "voters": len(voters),
                "left_out": len(left_out),
            },
        )
    return MadeRoll(roll, data, without_face, left_out)
