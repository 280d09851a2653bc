"""The shards' templates, read from the register: what a new or restarted shard loads.

The register keeps every template sealed; they are opened here, in the centre's process that
holds the data key, and handed to the shard that owns each person, so the key never leaves the
centre's own process. One register (purpose) and one face model at a time: a person's templates of
another model are left to re-extraction from the stored images.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from central.engine.shard import PersonTemplates
from central.register import Register
from matcher.face.engines import MODEL_OF
from matcher.face.templates import template_from_bytes
from station.storage import FACE_FORMATS, FINGER_FORMAT

SEARCHABLE = ("queued", "registered")
PAGE = 5_000


def register_templates(
    register: Register,
    name: str,
    face_format: str,
    shard: int,
    shards: int,
    statuses: tuple[str, ...] = SEARCHABLE,
) -> Iterator[PersonTemplates]:
    """The persons of register ``name`` in ``statuses`` that fall to ``shard`` of ``shards``."""
    after = 0
    while True:
        rows = register.db.execute(
            "SELECT id FROM persons WHERE register = %s AND status = ANY(%s) AND id > %s "
            "AND id %% %s = %s ORDER BY id LIMIT %s",
            (name, list(statuses), after, shards, shard, PAGE),
        ).fetchall()
        if not rows:
            return
        for row in rows:
            person = person_templates(register, int(row["id"]), face_format)
            if person.face is not None or person.fingers:
                yield person
        after = int(rows[-1]["id"])


def person_templates(register: Register, person_id: int, face_format: str) -> PersonTemplates:
    """One person's face template of ``face_format`` and finger templates, opened."""
    face, fingers = None, {}
    for template in register.templates_of(person_id):
        if template["format"] == face_format:
            face = np.asarray(template_from_bytes(template["data"]), np.float32)
        elif template["format"] == FINGER_FORMAT and template["position"]:
            fingers[int(template["position"])] = template["data"]
    return PersonTemplates(person_id, face, fingers)


def face_format(encoder: str) -> str:
    """The template format the face encoder named ``encoder`` (sface, dlib) writes."""
    return FACE_FORMATS[MODEL_OF[encoder]]
