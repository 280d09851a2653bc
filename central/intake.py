"""Opening the packets stations bring: decrypt, check the signature of a registered station,
read the manifest. Storing them (PostgreSQL) and queueing enrolments for de-duplication come next;
today ``central packets check DIR`` says which packets of a stick the centre would take, and why
it refuses the others."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from central.keys import CentreKeys
from central.stations import StationRegistry
from station.exchange.envelope import OpenedPacket, PacketError, open_packet

PACKET_SUFFIX = ".packet"


@dataclass
class Checked:
    valid: list[OpenedPacket] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": len(self.valid),
            "packets": [
                {"packet": p.packet_id, "station": p.sender_id, "kind": p.kind} for p in self.valid
            ],
            "rejected": self.rejected,
        }


def check_folder(folder: Path, keys: CentreKeys, registry: StationRegistry) -> Checked:
    """Open every ``*.packet`` under ``folder``; each refusal with its reason."""
    checked = Checked()
    for path in sorted(folder.rglob(f"*{PACKET_SUFFIX}")):
        try:
            opened = open_packet(
                path.read_bytes(), recipient_key=keys.encryption_key, sender_key=registry.key_for
            )
            manifest = json.loads(opened.payload)
            if manifest.get("station_id") != opened.sender_id:
                raise PacketError("the manifest names another station than the signature")
            checked.valid.append(opened)
        except (PacketError, OSError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, PacketError) else f"unreadable: {exc}"
            checked.rejected.append({"packet": path.stem, "reason": reason})
    return checked
