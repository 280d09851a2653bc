"""Moving a station's face templates to its encoder's model, from the portraits it holds.

Templates of one face model mean nothing to another (:mod:`matcher.face.encoder`), so a station
whose ``face_encoder`` changed (an upgrade from dlib to SFace) makes every face template again
from the record's sealed portrait before it searches anyone: :func:`reencode_faces` runs when the
station opens, in one transaction per record, and audits what it did. A record whose portrait is
missing or shows no face the new encoder finds keeps its old template, is left out of the face
gallery (its fingers still search), and is listed for a new capture (``GET /api/v1/status``:
``face.need_recapture``). The face re-encoded is the one over the box the
old encoder stored, so a neighbour the new detector sees in the photo changes nothing.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from matcher.errors import MatcherError
from matcher.face import FaceEncoder, FaceNotFoundError, FoundFace
from matcher.face.encoder import Box, overlap
from station.audit import AuditLog
from station.security.roles import SYSTEM
from station.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recapture:
    """A record whose face could not be made again, and why."""

    record_id: int
    reason: str


@dataclass
class FaceMigration:
    """What a re-encoding did: records moved to the model, records that need a new capture."""

    model: str
    reencoded: list[int] = field(default_factory=list)
    recapture: list[Recapture] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "reencoded": len(self.reencoded),
            "need_recapture": [
                {"record_id": r.record_id, "reason": r.reason} for r in self.recapture
            ],
            "seconds": round(self.seconds, 2),
        }


def _portrait_pixels(storage: Storage, record_id: int) -> np.ndarray | None:
    photo = storage.photo(record_id, "portrait")
    if photo is None:
        return None
    try:
        with Image.open(io.BytesIO(photo[1])) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError):
        return None


def _the_enrolled_face(faces: list[FoundFace], enrolled_box: Box | None) -> FoundFace:
    """The face the old encoder enrolled: the one over the box it stored (the new detector may
    see a neighbour the old one missed), else the largest."""
    if enrolled_box is None:
        return faces[0]
    return max(faces, key=lambda face: overlap(face.box, enrolled_box))


def reencode_faces(storage: Storage, encoder: FaceEncoder, audit: AuditLog) -> FaceMigration:
    """Make again, with ``encoder``, every face template of another model the station holds."""
    started = time.perf_counter()
    migration = FaceMigration(encoder.model)
    for record_id in storage.records_with_other_face_format():
        pixels = _portrait_pixels(storage, record_id)
        if pixels is None:
            migration.recapture.append(Recapture(record_id, "no readable portrait is stored"))
            continue
        try:
            faces = encoder.faces_to_match(pixels)
            if not faces:
                raise FaceNotFoundError()
            face = _the_enrolled_face(faces, storage.get_record(record_id).face_box)
            vector = encoder.vector(pixels, face)
        except MatcherError as exc:
            migration.recapture.append(Recapture(record_id, f"the stored portrait: {exc}"))
            continue
        with storage.transaction():
            storage.replace_face_template(record_id, vector, face.box, encoder.model)
            audit.append(SYSTEM.login, "face_reencode", record_id, detail={"model": encoder.model})
        migration.reencoded.append(record_id)
    migration.seconds = time.perf_counter() - started
    if migration.reencoded or migration.recapture:
        log.warning(
            "face templates moved to %s: %d re-encoded from their portraits in %.1f s; %d need "
            "a new capture (face.need_recapture in the status)",
            encoder.model,
            len(migration.reencoded),
            migration.seconds,
            len(migration.recapture),
        )
    for item in migration.recapture:
        log.warning("record %d needs a new face capture: %s", item.record_id, item.reason)
    return migration
