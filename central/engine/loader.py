"""The shards' templates, read from the register: what a new or restarted shard loads.

The register keeps every template sealed; they are opened here, in the centre's process that
holds the data key, and handed to the shard that owns each person, so the key never leaves the
centre's own process. One register (purpose) and one face model at a time: a person's templates of
another model are left to re-extraction from the stored images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from central.engine.shard import PersonTemplates
from central.register import Register
from matcher.face.engines import MODEL_OF
from matcher.face.templates import template_from_bytes
from matcher.fingerprint.compact import FingerCodec
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
    codes_format: str | None = None,
) -> Iterator[PersonTemplates]:
    """The persons of register ``name`` in ``statuses`` that fall to ``shard`` of ``shards``,
    with their finger codes of ``codes_format`` where stored."""
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
            person = person_templates(register, int(row["id"]), face_format, codes_format)
            if person.face is not None or person.fingers:
                yield person
        after = int(rows[-1]["id"])


def person_templates(
    register: Register, person_id: int, face_format: str, codes_format: str | None = None
) -> PersonTemplates:
    """One person's face template of ``face_format``, finger templates and finger codes of
    ``codes_format`` (:func:`codes_format`), opened."""
    face, fingers, codes = None, {}, {}
    for template in register.templates_of(person_id):
        if template["format"] == face_format:
            face = np.asarray(template_from_bytes(template["data"]), np.float32)
        elif template["format"] == FINGER_FORMAT and template["position"]:
            fingers[int(template["position"])] = template["data"]
        elif template["format"] == codes_format and template["position"]:
            codes[int(template["position"])] = template["data"]
    return PersonTemplates(
        person_id, face, fingers, {p: c for p, c in codes.items() if p in fingers}
    )


def codes_format(codec: bytes) -> str:
    """The template format of the finger codes ``codec`` makes (stored beside the templates,
    sealed as they are, erased with them)."""
    return f"finger-codes/{FingerCodec.from_bytes(codec).id}"


def store_codes(register: Register, codec: bytes) -> Callable[[dict[int, dict[int, bytes]]], None]:
    """What :class:`~central.engine.national.NationalGallery` hands the codes it made to."""
    chosen = codes_format(codec)

    def store(codes: dict[int, dict[int, bytes]]) -> None:
        with register.transaction():
            alive = {
                int(row["id"])
                for row in register.db.execute(
                    "SELECT id FROM persons WHERE id = ANY(%s) AND status <> 'deleted'",
                    (list(codes),),
                ).fetchall()
            }  # a person erased while the shards loaded keeps nothing
            for person_id, by_position in codes.items():
                if person_id not in alive:
                    continue
                for position, data in by_position.items():
                    register.put_template(person_id, "finger", position, chosen, None, data)

    return store


def face_format(encoder: str) -> str:
    """The template format the face encoder named ``encoder`` (sface, dlib) writes."""
    return FACE_FORMATS[MODEL_OF[encoder]]
