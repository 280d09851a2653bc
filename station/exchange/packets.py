"""What an enrolment packet carries: everything the centre needs to act without the station.

The manifest (JSON, version :data:`~station.exchange.envelope.MANIFEST_VERSION`): the record's
fields, purpose, consent, card summary and finger exceptions; every template with the format that
names its model (``face-sface128/1``, ``finger-leader-mcc/1``), each finger's minutiae also as an
ISO/IEC 19794-2:2005 record; the images the centre can extract
again with its own algorithms (the token portrait, the lossless finger images with their
resolution, the chip's photo), each with its standard; and the hashes of the audit rows about the
record, which tie the packet to the station's hash-chained trail.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from matcher.fingerprint import FingerprintTemplate
from station.exchange.envelope import MANIFEST_VERSION
from station.storage import FINGER_FORMAT, Storage

IMAGE_STANDARDS = {
    "portrait": "ISO/IEC 19794-5 token frontal image (JPEG)",
    "document": "ICAO 9303 DG2 facial image as read from the chip",
    "chip_sod": "ICAO 9303-10 EF.SOD as read (the centre re-checks passive authentication)",
    "chip_dg1": "ICAO 9303-10 EF.DG1 as read (MRZ data)",
    "chip_dg2": "ICAO 9303-10 EF.DG2 as read (encoded face)",
}
FINGER_IMAGE_STANDARD = "ISO/IEC 19794-4 finger image content: 8-bit grey PNG, resolution in pHYs"
ISO_MINUTIAE_FORMAT = "iso-19794-2:2005"  # each finger's minutiae again, for any AFIS to read


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def enrollment_manifest(
    storage: Storage,
    record_id: int,
    station_id: str,
    audit_hashes: list[str],
    precinct: str | None = None,
) -> dict[str, Any]:
    """The manifest of one record's enrolment packet (raises RecordNotFoundError if gone)."""
    record = storage.get_record(record_id)
    images = []
    for kind, media_type, data, created in storage.photos_of(record_id):
        standard = (
            FINGER_IMAGE_STANDARD if kind.startswith("finger_") else IMAGE_STANDARDS.get(kind, "")
        )
        images.append(
            {
                "kind": kind,
                "media_type": media_type,
                "standard": standard,
                "created_at": created,
                "data": _b64(data),
            }
        )
    return {
        "manifest": MANIFEST_VERSION,
        "kind": "enrollment",
        "station_id": station_id,
        "station_record": record_id,
        "precinct": precinct or None,
        "written": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "record": record.to_json(special=True)
        | {
            "consent": dict(record.consent or {}),
            "card_summary": dict(record.card_summary or {}),
            "finger_exceptions": storage.finger_exceptions(record_id),
        },
        "templates": _templates(storage, record_id),
        "images": images,
        "audit": audit_hashes,
    }


def _templates(storage: Storage, record_id: int) -> list[dict[str, Any]]:
    """Every template as stored (its format names its model), and each finger's minutiae also
    as an ISO/IEC 19794-2:2005 record."""
    out = []
    for item in storage.biometrics_of(record_id):
        entry = {
            "modality": item["modality"],
            "position": item["position"],
            "format": item["format"],
            "quality": item["quality"],
            "box": item["box"],
            "data": _b64(item["template"]),
        }
        out.append(entry)
        if item["format"] == FINGER_FORMAT:
            minutiae = FingerprintTemplate.from_bytes(item["template"])
            iso = minutiae.to_iso19794_2(finger_position=int(item["position"]))
            out.append(entry | {"format": ISO_MINUTIAE_FORMAT, "data": _b64(iso)})
    return out


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()


def event_manifest(
    storage: Storage,
    packet: dict[str, Any],
    station_id: str,
    audit_hashes: list[str],
) -> dict[str, Any]:
    """The manifest of a correction (the record's fields as they are now), a block (or its
    lifting) or a deletion of a record the centre holds. Raises RecordNotFoundError for a
    correction of a record deleted since (its deletion packet follows)."""
    manifest: dict[str, Any] = {
        "manifest": MANIFEST_VERSION,
        "kind": packet["kind"],
        "station_id": station_id,
        "station_record": packet["record_id"],
        "written": packet["created_at"],  # when it happened: the centre applies them in order
        "audit": audit_hashes,
    }
    if packet["kind"] == "correction":
        record = storage.get_record(packet["record_id"])
        manifest["record"] = record.to_json(special=True) | {
            "consent": dict(record.consent or {}),
            "card_summary": dict(record.card_summary or {}),
            "finger_exceptions": storage.finger_exceptions(packet["record_id"]),
        }
    elif packet["kind"] == "block":
        manifest["blocked"] = bool(packet["detail"].get("blocked"))
    elif packet["kind"] == "deletion":
        manifest["reason"] = "deleted at the station"
    return manifest
