"""Packets into the register: ``central import DIR`` (a stick) and, later, uploads.

For each ``*.packet`` the centre checks, and refuses with the reason (logged, audited):
the envelope opens with its key, the station is registered and not revoked, the station's
signature holds, the manifest is complete and names the same station, every template's model is
one the centre knows. A packet it already holds (same packet id) changes nothing. An enrolment
whose card data fails passive authentication here (EF.SOD against the centre's CSCA
certificates, DG1's document number against the record's) is stored *held for review*, never as
valid. Enrolments land in their purpose's register, queued for de-duplication; corrections,
blocks and deletions apply to the person their enrolment made.

After an import each station whose packets were on the stick gets an acknowledgement file on it
(``acknowledgements/STATION.ack``, signed by the centre and encrypted to the station), which
``station packets export`` reads the next time the stick is plugged in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from central.stations import StationRegistryError
from drivers.idcard.lds import LDSError, parse_dg1
from drivers.idcard.mrz import MRZError
from drivers.idcard.pa import passive_authentication
from station.exchange.envelope import PacketError, open_packet, seal_packet
from station.exchange.packets import ISO_MINUTIAE_FORMAT
from station.records import PersonFields
from station.storage import FACE_FORMATS, FINGER_FORMAT

if TYPE_CHECKING:
    from central.centre import Centre

log = logging.getLogger(__name__)

PACKET_SUFFIX = ".packet"
ACK_FOLDER = "acknowledgements"
ACK_KIND = "acknowledgement"
KNOWN_FORMATS = frozenset({*FACE_FORMATS.values(), FINGER_FORMAT, ISO_MINUTIAE_FORMAT})
EVENT_KINDS = ("enrollment", "correction", "block", "deletion")  # the order they apply in


@dataclass
class ImportResult:
    imported: int = 0
    already_had: int = 0
    held: list[dict[str, str]] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    acknowledgements: list[str] = field(default_factory=list)
    last: tuple[str, str, str | None] | None = None  # the last packet's id, state, reason

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "already_had": self.already_had,
            "held": self.held,
            "rejected": self.rejected,
            "acknowledgements": self.acknowledgements,
        }


class Refused(Exception):
    """One packet refused, with the reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Opened:
    packet_id: str
    station_id: str
    kind: str
    manifest: dict[str, Any]
    sha256: str


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise Refused(f"{what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{what} is not base64") from None


def open_one(centre: Centre, data: bytes) -> Opened:
    """Decrypt, check the signature and the manifest's shape: a packet the centre can act on."""
    try:
        opened = open_packet(
            data,
            recipient_key=centre.keys.encryption_key,
            sender_key=centre.stations.key_for,
        )
    except PacketError as exc:
        raise Refused(exc.reason) from None
    try:
        manifest = json.loads(opened.payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refused("the manifest is not JSON") from None
    if not isinstance(manifest, dict):
        raise Refused("the manifest is not an object")
    if manifest.get("station_id") != opened.sender_id:
        raise Refused("the manifest names another station than the signature")
    if opened.kind not in EVENT_KINDS or manifest.get("kind") != opened.kind:
        raise Refused(f"unknown kind of packet {opened.kind!r}")
    if not isinstance(manifest.get("station_record"), int):
        raise Refused("the manifest names no station record")
    return Opened(
        opened.packet_id, opened.sender_id, opened.kind, manifest, hashlib.sha256(data).hexdigest()
    )


def card_checks(
    manifest: dict[str, Any], images: dict[str, bytes], csca: list[x509.Certificate], csca_dir: Path
) -> tuple[bool, str, list[dict[str, Any]]]:
    """(passed, why, the checks): passive authentication of the chip's files as read, and the
    record's document number against DG1. No card read at enrolment passes with that said."""
    record = manifest["record"]
    read_at_station = bool(record.get("card_summary"))
    if "chip_sod" not in images:
        if read_at_station:
            return False, "the card was read but its EF.SOD did not come with the packet", []
        return True, "no card chip was read at enrolment", []
    if "chip_dg1" not in images:
        return False, "the chip's DG1 did not come with the packet", []
    try:
        mrz = parse_dg1(images["chip_dg1"])
    except (LDSError, MRZError) as exc:
        return False, f"the chip's DG1 is unreadable: {exc}", []
    groups = {1: images["chip_dg1"]}
    if "chip_dg2" in images:
        groups[2] = images["chip_dg2"]
    report = passive_authentication(images["chip_sod"], groups, csca, mrz.issuing_state)
    checks = report.to_json()
    if not report.passed:
        extra = "" if csca else f" (no CSCA certificate in {csca_dir})"
        return False, f"passive authentication: {report.summary()}{extra}", checks
    number = record.get("document_number")
    if number and number.replace("<", "") != mrz.document_number.replace("<", ""):
        return False, "the record's document number is not the chip's", checks
    return True, "passive authentication passed", checks


def _templates(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    templates = manifest.get("templates")
    if not isinstance(templates, list):
        raise Refused("the manifest has no list of templates")
    out = []
    for item in templates:
        if not isinstance(item, dict) or item.get("modality") not in ("face", "finger"):
            raise Refused("a template is neither a face nor a finger")
        if item.get("format") not in KNOWN_FORMATS:
            raise Refused(f"template format {item.get('format')!r} is not a model the centre knows")
        out.append({**item, "data": _b64(item.get("data"), "a template's data")})
    return out


def _images(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    images = manifest.get("images")
    if not isinstance(images, list):
        raise Refused("the manifest has no list of images")
    out = []
    for item in images:
        if not isinstance(item, dict) or not isinstance(item.get("kind"), str):
            raise Refused("an image has no kind")
        out.append({**item, "data": _b64(item.get("data"), f"image {item['kind']}")})
    return out


def _record(manifest: dict[str, Any]) -> dict[str, Any]:
    record = manifest.get("record")
    if not isinstance(record, dict) or not isinstance(record.get("name"), str):
        raise Refused("the manifest holds no record with a name")
    if not isinstance(record.get("purpose"), str) or not record["purpose"]:
        raise Refused("the record states no purpose")
    return record


PERSON_FIELDS = (
    *(f.name for f in fields(PersonFields)),
    "consent",
    "card_summary",
    "finger_exceptions",
)


def _store_enrollment(centre: Centre, opened: Opened, result: ImportResult) -> None:
    manifest = opened.manifest
    record = _record(manifest)
    templates, images = _templates(manifest), _images(manifest)
    register = centre.register
    if register.deleted_before_enrolment(opened.station_id, manifest["station_record"]):
        deleted = "the station deleted this record before its enrolment arrived"
        _not_applied(centre, opened, record["purpose"], deleted, result)
        return
    known = register.person_of_station_record(opened.station_id, manifest["station_record"])
    if known is not None:
        raise Refused(
            f"record {manifest['station_record']} of {opened.station_id} already came in packet "
            f"{known.packet_id}"
        )
    by_kind = {i["kind"]: i["data"] for i in images}
    passed, why, checks = card_checks(
        manifest, by_kind, centre.csca_certificates(), centre.csca_dir
    )
    status = "queued" if passed else "held"
    with register.transaction():
        register.add_packet(
            opened.packet_id,
            opened.station_id,
            opened.kind,
            record["purpose"],
            "stored" if passed else "held",
            opened.sha256,
            None if passed else why,
            checks,
            station_record=manifest["station_record"],
        )
        person_id = register.add_person(
            register=record["purpose"],
            station_id=opened.station_id,
            station_record=manifest["station_record"],
            packet_id=opened.packet_id,
            precinct=manifest.get("precinct"),
            status=status,
            status_reason=None if passed else why,
            fields={k: record.get(k) for k in PERSON_FIELDS},
            enrolled_at=record.get("created_at"),
        )
        register.link_packet(opened.packet_id, person_id)
        for item in templates:
            register.put_template(
                person_id,
                item["modality"],
                item.get("position"),
                item["format"],
                item.get("quality"),
                item["data"],
            )
        for item in images:
            register.put_image(
                person_id,
                item["kind"],
                str(item.get("media_type") or "application/octet-stream"),
                str(item.get("standard") or ""),
                item["data"],
            )
        centre.audit.append(
            centre.actor,
            "packet_import",
            target=opened.packet_id,
            outcome=status,
            detail={"station": opened.station_id, "kind": opened.kind, "person": person_id},
        )
    result.imported += 1
    result.last = (opened.packet_id, "stored" if passed else "held", None if passed else why)
    if not passed:
        result.held.append({"packet": opened.packet_id, "reason": why})


def _not_applied(
    centre: Centre, opened: Opened, register_name: str, reason: str, result: ImportResult
) -> None:
    """Keep a packet the centre took but could not act on, with why (it is acknowledged)."""
    with centre.register.transaction():
        centre.register.add_packet(
            opened.packet_id,
            opened.station_id,
            opened.kind,
            register_name,
            "not_applied",
            opened.sha256,
            reason,
            station_record=opened.manifest["station_record"],
        )
        centre.audit.append(
            centre.actor,
            "packet_import",
            target=opened.packet_id,
            outcome="not_applied",
            detail={"station": opened.station_id, "kind": opened.kind},
        )
    result.imported += 1
    result.last = (opened.packet_id, "not_applied", reason)


def _apply_event(centre: Centre, opened: Opened, result: ImportResult) -> None:
    """A correction, block or deletion: applied to the person its station's record made."""
    manifest, register = opened.manifest, centre.register
    person = register.person_of_station_record(opened.station_id, manifest["station_record"])
    if person is None and opened.kind == "deletion":  # kept: a late enrolment is not stored
        _not_applied(centre, opened, "", "no enrolment of this record arrived", result)
        return
    if person is None:
        raise Refused(
            f"the enrolment of record {manifest['station_record']} has not come yet: import its "
            "packet first (this one is kept on the stick)"
        )
    with register.transaction():
        state, reason = "applied", None
        if person.status == "deleted":
            state, reason = "not_applied", "the person was deleted"
        elif opened.kind == "correction":
            record = _record(manifest)
            register.update_person(person.id, fields={k: record.get(k) for k in PERSON_FIELDS})
        elif opened.kind == "block":
            blocked = manifest.get("blocked") is True
            if blocked:
                register.update_person(person.id, status="blocked", status_reason="disputed")
            elif person.status == "blocked":
                register.update_person(person.id, status="queued", status_reason=None)
        elif opened.kind == "deletion":
            register.erase_person(
                person.id, str(manifest.get("reason") or "deleted at the station")
            )
        register.add_packet(
            opened.packet_id,
            opened.station_id,
            opened.kind,
            person.register,
            state,
            opened.sha256,
            reason,
            station_record=manifest["station_record"],
        )
        register.link_packet(opened.packet_id, person.id)
        centre.audit.append(
            centre.actor,
            "packet_import",
            target=opened.packet_id,
            outcome=state,
            detail={"station": opened.station_id, "kind": opened.kind, "person": person.id},
        )
    result.imported += 1
    result.last = (opened.packet_id, state, reason)


def import_packet(centre: Centre, data: bytes, source: str, result: ImportResult) -> str | None:
    """One packet into the register; the station it came from when it opened."""
    opened = _open_or_refuse(centre, data, source, result)
    if opened is not None:
        _act(centre, opened, source, result)
    return None if opened is None else opened.station_id


def _open_or_refuse(
    centre: Centre, data: bytes, source: str, result: ImportResult
) -> Opened | None:
    try:
        return open_one(centre, data)
    except Refused as exc:
        _refuse(centre, source, None, exc.reason, result)
        return None


def _act(centre: Centre, opened: Opened, source: str, result: ImportResult) -> None:
    try:
        if centre.register.packet(opened.packet_id) is not None:
            result.already_had += 1
            result.last = (opened.packet_id, "already_had", None)
        elif opened.kind == "enrollment":
            _store_enrollment(centre, opened, result)
        else:
            _apply_event(centre, opened, result)
    except Refused as exc:
        _refuse(centre, source, opened.station_id, exc.reason, result, opened.packet_id)


def _refuse(
    centre: Centre,
    source: str,
    station_id: str | None,
    reason: str,
    result: ImportResult,
    packet_id: str | None = None,
) -> None:
    log.warning("packet %s refused: %s", source, reason)
    centre.register.add_refusal(source, station_id, reason)
    centre.audit.append(
        centre.actor,
        "packet_refused",
        target=packet_id or source[-64:],
        outcome="refused",
        detail={"station": station_id or ""},
    )
    result.rejected.append({"packet": packet_id or source, "reason": reason})


def import_folder(centre: Centre, folder: Path) -> ImportResult:
    """Import every ``*.packet`` under ``folder``, enrolments first, then the corrections,
    blocks and deletions about them in the order the station made them; then write each
    station's acknowledgement onto the folder."""
    result = ImportResult()
    stations: set[str] = set()
    events: list[tuple[str, Opened]] = []  # small: kept until the enrolments are in
    for path in sorted(folder.rglob(f"*{PACKET_SUFFIX}")):
        try:
            data = path.read_bytes()
        except OSError as exc:
            _refuse(centre, path.name, None, f"unreadable: {exc.strerror}", result)
            continue
        opened = _open_or_refuse(centre, data, path.stem, result)
        if opened is None:
            continue
        stations.add(opened.station_id)
        if opened.kind == "enrollment":
            _act(centre, opened, path.stem, result)
        else:
            events.append((path.stem, opened))
    for source, opened in sorted(events, key=lambda e: str(e[1].manifest.get("written", ""))):
        _act(centre, opened, source, result)
    for station_id in sorted(stations):
        written = write_acknowledgement(centre, station_id, folder)
        if written is not None:
            result.acknowledgements.append(str(written))
    return result


def acknowledgement(centre: Centre, station_id: str) -> dict[str, Any]:
    """What the centre holds of one station's packets, and what it refused of theirs."""
    rows = centre.register.db.execute(
        "SELECT packet_id, state, reason FROM packets WHERE station_id = %s ORDER BY received_at",
        (station_id,),
    ).fetchall()
    return {
        "kind": ACK_KIND,
        "centre_id": centre.keys.centre_id,
        "station_id": station_id,
        "made": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "packets": [
            {"packet": r["packet_id"], "state": r["state"], "reason": r["reason"]} for r in rows
        ],
    }


def acknowledgement_bytes(centre: Centre, station_id: str) -> bytes:
    """The acknowledgement of ``station_id``, signed by the centre and sealed to the station
    (raises StationRegistryError for a station without an encryption key)."""
    keys = centre.keys
    _, data = seal_packet(
        json.dumps(acknowledgement(centre, station_id)).encode(),
        kind=ACK_KIND,
        sender_id=keys.centre_id,
        signing_key=keys.signing_key,
        recipient_key=centre.stations.encryption_key_for(station_id),
    )
    return data


def write_acknowledgement(centre: Centre, station_id: str, folder: Path) -> Path | None:
    """The acknowledgement of ``station_id`` as a file in ``folder/acknowledgements``."""
    try:
        data = acknowledgement_bytes(centre, station_id)
    except StationRegistryError as exc:  # an unknown key only costs the acknowledgement
        log.warning("no acknowledgement for %s: %s", station_id, exc)
        return None
    path = folder / ACK_FOLDER / f"{station_id}.ack"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path
