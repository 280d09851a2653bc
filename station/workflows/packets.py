"""Handing records over to the centre on a USB stick: packets made, written, listed.

Every active record gets one enrolment packet (a packet id made once: writing it again writes the
same packet, which the centre imports once). Packets not yet acknowledged by the centre are
written again at every export, so a lost stick loses nothing. Held records wait for the
supervisor's decision; blocked ones for the end of their dispute.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.errors import RecordNotFoundError, StationError
from station.exchange.envelope import seal_packet
from station.exchange.identity import signing_key, trusted_centre
from station.exchange.packets import enrollment_manifest, manifest_bytes
from station.security.roles import SYSTEM, Actor, Permission

if TYPE_CHECKING:
    from station.core import Station

PACKET_SUFFIX = ".packet"


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
    dropped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "written": len(self.written), "packets": self.written}


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".part")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def export_packets(station: Station, folder: Path, actor: Actor = SYSTEM) -> PacketExport:
    """Write every packet the centre has not acknowledged to ``folder`` (made if missing)."""
    station.allow(actor, Permission.HAND_OVER)
    centre = trusted_centre(station.settings.data_dir)
    if centre is None:
        raise NoCentreError()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StationError(f"cannot write to {folder}: {exc} (is the stick mounted?)") from exc
    storage, station_id = station.storage, station.settings.station_id
    export = PacketExport(folder)
    with station.writing():
        key = signing_key(storage)
        for record_id in storage.records_without_packet("enrollment"):
            storage.add_packet(str(uuid.uuid4()), record_id, "enrollment")
    for packet in storage.packets(states=("pending", "exported")):
        rows = station.audit.rows(target=str(packet["record_id"]), limit=10_000)
        try:
            manifest = enrollment_manifest(
                storage, packet["record_id"], station_id, [r["hash"] for r in rows]
            )
        except RecordNotFoundError:  # deleted since: its deletion packet will say so
            export.dropped.append(packet["packet"])
            continue
        _, data = seal_packet(
            manifest_bytes(manifest),
            kind=packet["kind"],
            sender_id=station_id,
            signing_key=key,
            recipient_key=centre.encryption_key,
            packet_id=packet["packet"],
        )
        _write(folder / f"{packet['packet']}{PACKET_SUFFIX}", data)
        storage.mark_exported(packet["packet"])
        export.written.append(packet["packet"])
    station.audit.append(
        actor.login,
        "packets_export",
        detail={"written": len(export.written), "centre": centre.centre_id},
    )
    return export


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
