"""The station's side of a precinct roll (centre -> station): import it, say what is held, delete
it when it expires.

A roll is the voters of one precinct as the centre enrolled them, signed by the centre and
encrypted to this station (:mod:`station.exchange.rolls`). :func:`import_roll` opens it and checks,
each refusal a :class:`RollRefusedError` saying why (and audited): that the station trusts a
centre, that the envelope opens with the station's key and holds the trusted centre's signature,
that it is a roll, of that centre, for this station, not expired, and newer than the roll held for
its precinct. The same version again is "already held" (nothing changes); an older one is refused.
A newer roll replaces the older one whole, in one transaction with its audit row.

The voters are kept as records of their own purpose, :data:`~station.records.ROLL_PURPOSE`,
sealed as every record is and linked to their roll and the centre's voter id (tables ``rolls``
and ``roll_voters``): never in the station's packets, never in its enrolment galleries or
de-duplication, not counted as its records, and read-only here (corrections go to the centre, whose next roll
carries them). Only templates of the station's own face model and of its fingerprint format are
kept; the others are skipped and counted in the result. Intake verifies a voter on a roll against
the roll's templates (:mod:`station.workflows.intake`); identification searches the rolls when
asked for their purpose (:mod:`station.workflows.identification`). The retention purge deletes a
roll the day after its ``valid_until`` (:func:`purge_expired_rolls`).

Who: supervisors, who carry the stick both ways (``Permission.HAND_OVER``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matcher.errors import MatcherError
from matcher.face.templates import template_from_bytes, template_to_bytes
from matcher.fingerprint import FingerprintTemplate
from station.errors import InvalidInputError, StationError
from station.exchange.envelope import MAX_PACKET_BYTES, PacketError, open_packet
from station.exchange.identity import encryption_key, trusted_centre
from station.exchange.rolls import ROLL_KIND, Roll, RollError, RollVoter, read_roll
from station.records import ROLL_PURPOSE, PersonFields, Record, parse_purpose
from station.security.roles import SYSTEM, Actor, Permission
from station.storage import FINGER_FORMAT, Biometric, utc_now
from station.text import unprintable
from station.workflows.packets import NoCentreError

if TYPE_CHECKING:
    from station.core import Station

log = logging.getLogger(__name__)

MAX_PRECINCT_LENGTH = 64


class RollRefusedError(StationError):
    """A roll the station does not take, with the reason."""

    code = "roll_refused"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"roll refused: {reason}")


class RollOutdatedError(RollRefusedError):
    """A roll older than the one held for its precinct (or another roll of the same version)."""

    code = "roll_outdated"


class RollRecordReadOnlyError(StationError):
    """A voter of a precinct roll: the centre's record, not the station's to change."""

    code = "roll_record_read_only"

    def __init__(self, record_id: int, entry: dict[str, Any] | None) -> None:
        self.record_id = record_id
        where = (
            f"the roll of precinct {entry['precinct']} (version {entry['version']}) as voter "
            f"{entry['voter']}"
            if entry
            else "a precinct roll"
        )
        super().__init__(
            f"record {record_id} is on {where}, sent by the centre: it is read-only at the "
            "station. Send the correction to the centre; its next roll replaces this one"
        )


@dataclass(frozen=True)
class RollImport:
    """What an import did: ``imported`` (a first roll for the precinct), ``replaced`` (a newer
    version) or ``already_held`` (this version again: nothing changed)."""

    outcome: str
    precinct: str
    version: int
    previous_version: int | None
    roll_id: str
    register: str
    valid_until: str
    voters: int
    templates: int  # kept
    skipped: dict[str, int] = field(default_factory=dict)  # format -> templates not kept
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        skipped = sum(self.skipped.values())
        return {
            "outcome": self.outcome,
            "precinct": self.precinct,
            "version": self.version,
            "previous_version": self.previous_version,
            "roll_id": self.roll_id,
            "register": self.register,
            "valid_until": self.valid_until,
            "voters": self.voters,
            "templates": self.templates,
            "skipped_templates": skipped,
            "skipped_formats": dict(sorted(self.skipped.items())),
            "message": self.message(),
            "seconds": round(self.seconds, 3),
        }

    def message(self) -> str:
        if self.outcome == "already_held":
            return (
                f"the roll of precinct {self.precinct} version {self.version} is already held: "
                "nothing changed"
            )
        done = (
            f"precinct {self.precinct} version {self.version}: {self.voters} voters, "
            f"{self.templates} templates"
            + (f", replacing version {self.previous_version}" if self.previous_version else "")
        )
        skipped = sum(self.skipped.values())
        if skipped:
            formats = ", ".join(f"{n} {fmt}" for fmt, n in sorted(self.skipped.items()))
            done += (
                f"; {skipped} templates skipped, of formats this station cannot compare ({formats})"
            )
        return done


@dataclass(frozen=True)
class _Voter:
    voter_id: str
    fields: PersonFields
    biometrics: list[Biometric]
    portrait: bytes | None


def import_roll(station: Station, path: Path, actor: Actor = SYSTEM) -> RollImport:
    """Import the roll in the file at ``path`` (see the module's description)."""
    station.allow(actor, Permission.HAND_OVER)
    try:
        if path.stat().st_size > MAX_PACKET_BYTES:
            raise RollRefusedError(
                f"{path} is larger than a roll may be ({MAX_PACKET_BYTES // (1024 * 1024)} MiB)"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise StationError(f"cannot read {path}: {exc.strerror or exc}") from None
    return receive_roll(station, data, actor)


def receive_roll(station: Station, data: bytes, actor: Actor = SYSTEM) -> RollImport:
    """Import a roll from the bytes of its file (the API's door)."""
    started = time.perf_counter()
    station.allow(actor, Permission.HAND_OVER)
    try:
        roll, voters, skipped = _open(station, data)
        done = _keep(station, roll, voters, skipped, actor, started)
    except (RollRefusedError, NoCentreError) as exc:
        station.audit.append(
            actor.login, "roll_import", outcome="refused", detail={"code": exc.code}
        )
        log.warning("%s", exc)
        raise
    log.info("roll import: %s", done.message())
    return done


def _open(station: Station, data: bytes) -> tuple[Roll, list[_Voter], Counter[str]]:
    """The roll in ``data`` and its voters as the station keeps them, every check passed."""
    settings = station.settings
    centre = trusted_centre(settings.data_dir)
    if centre is None:
        raise NoCentreError("then import the roll again")
    with station.writing():
        key = encryption_key(station.storage)  # made on first use: then nothing opens with it
    try:
        opened = open_packet(
            data,
            recipient_key=key,
            sender_key={centre.centre_id: centre.signing_key}.get,
            sender_role="centre",
        )
    except PacketError as exc:
        raise RollRefusedError(exc.reason) from None
    if opened.kind != ROLL_KIND:
        raise RollRefusedError(f"the file holds a {opened.kind!r} packet, not a precinct roll")
    try:
        roll = read_roll(opened.payload)
    except RollError as exc:
        raise RollRefusedError(exc.reason) from None
    if roll.roll_id != opened.packet_id:
        raise RollRefusedError("the roll's id is not the one its envelope was signed with")
    if roll.centre_id != centre.centre_id:
        raise RollRefusedError(
            f"the roll names centre {roll.centre_id}; this station trusts {centre.centre_id}"
        )
    if roll.station_id != settings.station_id:
        raise RollRefusedError(
            f"the roll is for station {roll.station_id}, this is station {settings.station_id}"
        )
    if roll.expired():
        raise RollRefusedError(
            f"the roll expired on {roll.valid_until}: ask the centre for a new one"
        )
    if len(roll.precinct) > MAX_PRECINCT_LENGTH or unprintable(roll.precinct) is not None:
        raise RollRefusedError(
            f"the precinct's name is not {MAX_PRECINCT_LENGTH} printable characters or fewer"
        )
    try:
        parse_purpose(roll.register, "")
    except InvalidInputError:
        raise RollRefusedError(
            f"the roll's register {roll.register!r} is not a purpose (such as voter_registration)"
        ) from None
    skipped: Counter[str] = Counter()
    voters = [_voter(station, voter, skipped) for voter in roll.voters]
    _check_unique(station, voters)
    return roll, voters, skipped


def _voter(station: Station, voter: RollVoter, skipped: Counter[str]) -> _Voter:
    """One voter as a record holds it: checked fields, the templates the station can compare."""
    who = f"voter {voter.voter_id}"
    try:
        fields = PersonFields.from_mapping(
            {
                "name": voter.name,
                "document_number": voter.document_number,
                "birth_date": voter.birth_date,
            }
        )
    except InvalidInputError as exc:
        raise RollRefusedError(f"{who}: {exc}") from None
    face_format = station.storage.face_format
    biometrics: dict[tuple[str, int], Biometric] = {}
    for template in voter.templates:
        position = template.position or 0
        try:
            if template.modality == "face" and template.format == face_format:
                item = Biometric(
                    "face",
                    0,
                    face_format,
                    template_to_bytes(template_from_bytes(template.data)),
                    quality=template.quality,
                )
            elif template.modality == "finger" and template.format == FINGER_FORMAT:
                FingerprintTemplate.from_bytes(template.data)  # validates
                item = Biometric(
                    "finger", position, FINGER_FORMAT, template.data, quality=template.quality
                )
            else:
                skipped[template.format] += 1
                continue
        except MatcherError as exc:
            raise RollRefusedError(
                f"{who}: a {template.format} template is damaged ({exc})"
            ) from None
        if (item.modality, position) in biometrics:
            raise RollRefusedError(f"{who} has two {template.modality} templates at one position")
        biometrics[(item.modality, position)] = item
    if voter.portrait is not None and not voter.portrait.startswith(b"\xff\xd8"):
        raise RollRefusedError(f"{who}: the portrait is not a JPEG")
    return _Voter(voter.voter_id, fields, list(biometrics.values()), voter.portrait)


def _check_unique(station: Station, voters: list[_Voter]) -> None:
    """No voter twice, no document number held by two voters (intake could not choose)."""
    ids = Counter(v.voter_id for v in voters)
    twice = sorted(i for i, n in ids.items() if n > 1)
    if twice:
        raise RollRefusedError(f"voter {twice[0]} is on the roll twice")
    holders: dict[str, str] = {}
    for voter in voters:
        index = station.storage.document_index(voter.fields.document_number)
        if index is None:
            continue
        if index in holders:
            raise RollRefusedError(
                f"voters {holders[index]} and {voter.voter_id} hold the same document number"
            )
        holders[index] = voter.voter_id


def _keep(
    station: Station,
    roll: Roll,
    voters: list[_Voter],
    skipped: Counter[str],
    actor: Actor,
    started: float,
) -> RollImport:
    """Store the roll, replacing an older one of its precinct, with its audit row; rebuild the
    rolls' galleries. Refused (nothing changed) when it is not newer than the roll held."""
    storage = station.storage
    templates = sum(len(v.biometrics) for v in voters)
    with station.writes_paused():
        with storage.transaction():
            held = storage.roll(roll.precinct)
            previous = None if held is None else int(held["version"])
            if held is not None and previous == roll.version and held["roll_id"] == roll.roll_id:
                station.audit.append(
                    actor.login,
                    "roll_import",
                    target=f"precinct:{roll.precinct}"[:64],
                    outcome="already_held",
                    detail={"version": roll.version},
                )
                return RollImport(
                    "already_held",
                    roll.precinct,
                    roll.version,
                    previous,
                    roll.roll_id,
                    roll.register,
                    roll.valid_until,
                    int(held["voters"]),
                    templates,
                    dict(skipped),
                    time.perf_counter() - started,
                )
            if previous is not None and previous >= roll.version:
                raise RollOutdatedError(
                    f"version {roll.version} of precinct {roll.precinct} is older than the "
                    f"version {previous} held"
                    if previous > roll.version
                    else f"another roll of precinct {roll.precinct} with version {previous} is "
                    "held already: the centre numbers each roll anew"
                )
            if held is not None:
                storage.delete_roll(roll.precinct)
            storage.put_roll(
                {
                    "precinct": roll.precinct,
                    "roll_id": roll.roll_id,
                    "centre_id": roll.centre_id,
                    "register": roll.register,
                    "version": roll.version,
                    "made": roll.made,
                    "valid_until": roll.valid_until,
                    "voters": len(voters),
                    "skipped": sum(skipped.values()),
                    "imported_at": utc_now(),
                    "imported_by": actor.login,
                }
            )
            for voter in voters:
                storage.add_roll_voter(
                    roll.precinct, voter.voter_id, voter.fields, voter.biometrics, voter.portrait
                )
            station.audit.append(
                actor.login,
                "roll_import",
                target=f"precinct:{roll.precinct}"[:64],
                outcome="replaced" if held is not None else "imported",
                detail={
                    "version": roll.version,
                    "previous_version": previous,
                    "voters": len(voters),
                    "templates": templates,
                    "skipped": sum(skipped.values()),
                },
            )
        # After the commit, under the write lock: a rollback leaves the galleries as they were.
        station.galleries.rebuild(storage, ROLL_PURPOSE, background=True)
    return RollImport(
        "replaced" if held is not None else "imported",
        roll.precinct,
        roll.version,
        previous,
        roll.roll_id,
        roll.register,
        roll.valid_until,
        len(voters),
        templates,
        dict(skipped),
        time.perf_counter() - started,
    )


def roll_status(station: Station, actor: Actor = SYSTEM) -> dict[str, Any]:
    """The rolls held: precinct, version, voters, valid_until (and whether it has passed)."""
    station.allow(actor, Permission.HAND_OVER)
    today = datetime.now(UTC).date()
    rolls = [
        {
            "precinct": r["precinct"],
            "version": r["version"],
            "voters": r["voters"],
            "valid_until": r["valid_until"],
            "expired": date.fromisoformat(r["valid_until"]) < today,
            "register": r["register"],
            "roll_id": r["roll_id"],
            "made": r["made"],
            "skipped_templates": r["skipped"],
            "imported_at": r["imported_at"],
            "imported_by": r["imported_by"],
        }
        for r in station.storage.rolls()
    ]
    return {
        "centre": getattr(trusted_centre(station.settings.data_dir), "centre_id", None),
        "purpose": ROLL_PURPOSE,
        "voters": sum(r["voters"] for r in rolls),
        "rolls": rolls,
    }


def purge_expired_rolls(
    station: Station, actor: Actor, today: date, dry_run: bool
) -> list[dict[str, Any]]:
    """Delete every roll whose ``valid_until`` lies before ``today``, each audited
    (``roll_purge``); in the caller's transaction, which rebuilds the galleries after its commit.
    Returns what was (or, in a dry run, would be) deleted."""
    purged = []
    for held in station.storage.rolls():
        if date.fromisoformat(held["valid_until"]) >= today:
            continue
        purged.append(
            {
                "precinct": held["precinct"],
                "version": held["version"],
                "voters": held["voters"],
                "valid_until": held["valid_until"],
            }
        )
        if dry_run:
            continue
        station.storage.delete_roll(held["precinct"])
        station.audit.append(
            actor.login,
            "roll_purge",
            target=f"precinct:{held['precinct']}"[:64],
            detail={"version": held["version"], "voters": held["voters"]},
        )
    return purged


def check_not_on_a_roll(station: Station, record: Record) -> None:
    """Refuse to change a voter of a precinct roll (the centre's record)."""
    if record.purpose == ROLL_PURPOSE:
        raise RollRecordReadOnlyError(record.id, station.storage.roll_entry(record.id))
