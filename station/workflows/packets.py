"""Handing records over to the centre on a USB stick: packets made, written, listed.

Every active record gets one enrolment packet (a packet id made once: writing it again writes the
same packet, which the centre imports once). Packets not yet acknowledged by the centre are
written again at every export, so a lost stick loses nothing. Held records wait for the
supervisor's decision; blocked ones for the end of their dispute.

The centre writes its acknowledgement onto the stick when it imports it
(``acknowledgements/STATION.ack``, signed by the centre, encrypted to this station); the next
export reads it first: acknowledged packets are not written again, packets the centre holds for
review are marked so, with its reason.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.errors import RecordNotFoundError, StationError
from station.exchange.envelope import PacketError, open_packet, seal_packet
from station.exchange.identity import TrustedCentre, encryption_key, signing_key, trusted_centre
from station.exchange.packets import enrollment_manifest, event_manifest, manifest_bytes
from station.security.roles import SYSTEM, Actor, Permission

if TYPE_CHECKING:
    from station.core import Station

PACKET_SUFFIX = ".packet"
ACK_FOLDER = "acknowledgements"
ACK_KIND = "acknowledgement"


class NoCentreError(StationError):
    code = "no_centre"

    def __init__(self, waiting: str = "the records wait, nothing is lost") -> None:
        super().__init__(
            "this station trusts no centre yet: `station centre trust FILE` with the file from "
            f"`central identity --out FILE` ({waiting})"
        )


@dataclass
class PacketExport:
    folder: Path
    written: list[str] = field(default_factory=list)
    acknowledged: int = 0
    held_at_centre: int = 0
    acknowledgement_problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "written": len(self.written),
            "packets": self.written,
            "acknowledged": self.acknowledged,
            "held_at_centre": self.held_at_centre,
            "acknowledgement_problem": self.acknowledgement_problem,
        }


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".part")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


UNSETTLED = ("pending", "exported", "rejected")  # sent again until the centre takes them


def centre_or_fail(station: Station) -> TrustedCentre:
    centre = trusted_centre(station.settings.data_dir)
    if centre is None:
        raise NoCentreError()
    return centre


def sealed_packets(station: Station, centre: TrustedCentre) -> Iterator[tuple[str, bytes]]:
    """(packet id, sealed bytes) of every packet the centre has not taken yet; enrolment
    packets are made first for the records that have none."""
    storage, station_id = station.storage, station.settings.station_id
    with station.writing():
        key = signing_key(storage)
        for record_id in storage.records_without_packet("enrollment"):
            storage.add_packet(str(uuid.uuid4()), record_id, "enrollment")
    for packet in storage.packets(states=UNSETTLED):
        rows = station.audit.rows(target=str(packet["record_id"]), limit=10_000)
        audit = [r["hash"] for r in rows]
        try:
            if packet["kind"] == "enrollment":
                manifest = enrollment_manifest(
                    storage, packet["record_id"], station_id, audit, station.settings.precinct
                )
            else:
                manifest = event_manifest(storage, packet, station_id, audit)
        except RecordNotFoundError:  # deleted since: its deletion packet will say so
            storage.acknowledge_packet(packet["packet"], "withdrawn", "the record was deleted")
            continue
        _, data = seal_packet(
            manifest_bytes(manifest),
            kind=packet["kind"],
            sender_id=station_id,
            signing_key=key,
            recipient_key=centre.encryption_key,
            packet_id=packet["packet"],
        )
        yield packet["packet"], data


def export_packets(station: Station, folder: Path, actor: Actor = SYSTEM) -> PacketExport:
    """Write every packet the centre has not acknowledged to ``folder`` (made if missing),
    after reading the acknowledgement the centre left there."""
    station.allow(actor, Permission.HAND_OVER)
    centre = centre_or_fail(station)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StationError(f"cannot write to {folder}: {exc} (is the stick mounted?)") from exc
    export = PacketExport(folder)
    path = folder / ACK_FOLDER / f"{station.settings.station_id}.ack"
    if path.is_file():
        with station.writing():
            try:
                counted = apply_acknowledgement(station, centre, path.read_bytes())
                export.acknowledged, export.held_at_centre = counted
            except (PacketError, OSError) as exc:
                reason = exc.reason if isinstance(exc, PacketError) else str(exc)
                export.acknowledgement_problem = f"{path.name}: {reason}"
    for packet_id, data in sealed_packets(station, centre):
        _write(folder / f"{packet_id}{PACKET_SUFFIX}", data)
        station.storage.mark_exported(packet_id)
        export.written.append(packet_id)
    station.audit.append(
        actor.login,
        "packets_export",
        detail={
            "written": len(export.written),
            "acknowledged": export.acknowledged,
            "centre": centre.centre_id,
        },
    )
    return export


def apply_acknowledgement(station: Station, centre: TrustedCentre, data: bytes) -> tuple[int, int]:
    """Mark what the centre's acknowledgement says it holds: (acknowledged, held) newly marked.
    A damaged or foreign acknowledgement is a PacketError (the packets are simply sent again)."""
    opened = open_packet(
        data,
        recipient_key=encryption_key(station.storage),
        sender_key={centre.centre_id: centre.signing_key}.get,
        sender_role="centre",
    )
    try:
        document = json.loads(opened.payload)
    except ValueError:
        raise PacketError("the acknowledgement is not JSON") from None
    if (
        opened.kind != ACK_KIND
        or not isinstance(document, dict)
        or document.get("station_id") != station.settings.station_id
    ):
        raise PacketError("not this station's acknowledgement")
    acknowledged = held = 0
    for item in document.get("packets", []):
        if not isinstance(item, dict):
            continue
        state = "held" if item.get("state") == "held" else "acknowledged"
        if station.storage.acknowledge_packet(str(item.get("packet")), state, item.get("reason")):
            acknowledged += state == "acknowledged"
            held += state == "held"
    return acknowledged, held


def packet_status(station: Station, actor: Actor = SYSTEM) -> dict[str, Any]:
    """Every packet and its state (pending, exported, acknowledged, rejected), with counts."""
    station.allow(actor, Permission.HAND_OVER)
    packets = station.storage.packets()
    return {
        "counts": dict(Counter(p["state"] for p in packets)),
        "waiting_for_a_packet": len(station.storage.records_without_packet("enrollment")),
        "centre": getattr(trusted_centre(station.settings.data_dir), "centre_id", None),
        "packets": packets,
    }
