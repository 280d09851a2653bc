"""Moving a station from dlib's face templates to SFace's: from the portraits it holds, audited,
never comparing one model's templates with the other's."""

import io
from pathlib import Path

import numpy as np
from PIL import Image

from matcher.imageio import read_rgb
from station.core import Station
from station.storage import FACE_FORMATS
from station.workflows import FaceInput
from station.workflows import identify as search
from tests.conftest import enroll_face, make_settings, photos_of

PEOPLE = 4


def enrolled_with_dlib(data_dir: Path, lfw_people: list[Path]) -> dict[str, int]:
    """A station that enrolled PEOPLE people with dlib's encoder, closed: name -> record id."""
    with Station(make_settings(data_dir, face_encoder="dlib")) as station:
        ids = {p.name: enroll_face(station, photos_of(p)[0], p.name).record.id for p in lfw_people}
        assert station.storage.face_formats() == {FACE_FORMATS["dlib-resnet-v1"]: PEOPLE}
    return ids


def blank_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((480, 360, 3), 128, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_opening_with_sface_reencodes_every_record_from_its_portrait(
    tmp_path: Path, lfw_people: list[Path]
) -> None:
    people = lfw_people[10 : 10 + PEOPLE]
    ids = enrolled_with_dlib(tmp_path / "station", people)
    with Station(make_settings(tmp_path / "station")) as station:
        migration = station.face_migration
        assert migration is not None and sorted(migration.reencoded) == sorted(ids.values())
        assert migration.recapture == []
        assert station.storage.face_formats() == {FACE_FORMATS["sface-2021dec-int8bq"]: PEOPLE}
        assert station.status()["face"] == {
            "encoder": "sface",
            "model": "sface-2021dec-int8bq",
            "need_recapture": [],
        }
        # The re-encoded gallery finds each person from another photo of them.
        for person in people:
            found = search(station, FaceInput.of(read_rgb(photos_of(person)[1])))
            assert found.candidates and found.candidates[0].record.id == ids[person.name]
        rows = station.audit.rows(action="face_reencode")
        assert sorted(str(r["target"]) for r in rows) == sorted(str(i) for i in ids.values())
        assert {r["detail"]["model"] for r in rows} == {"sface-2021dec-int8bq"}
        assert {r["operator"] for r in rows} == {"system"}
    # A second opening has nothing left to do.
    with Station(make_settings(tmp_path / "station")) as station:
        assert station.face_migration is not None and station.face_migration.reencoded == []


def test_a_record_whose_portrait_shows_no_face_is_listed_for_recapture_and_kept_out(
    tmp_path: Path, lfw_people: list[Path]
) -> None:
    people = lfw_people[20 : 20 + PEOPLE]
    ids = enrolled_with_dlib(tmp_path / "station", people)
    spoiled = ids[people[0].name]
    with Station(make_settings(tmp_path / "station", face_encoder="dlib")) as station:
        station.storage.put_photo(spoiled, "portrait", "image/jpeg", blank_jpeg())
    with Station(make_settings(tmp_path / "station")) as station:
        migration = station.face_migration
        assert migration is not None
        assert [r.record_id for r in migration.recapture] == [spoiled]
        assert "no face" in migration.recapture[0].reason
        assert station.status()["face"]["need_recapture"] == [spoiled]
        # Its dlib template is never compared with SFace's: the face gallery leaves it out.
        found = search(station, FaceInput.of(read_rgb(photos_of(people[0])[0])))
        assert spoiled not in [c.record.id for c in found.candidates]
        assert len(station.galleries) == PEOPLE - 1
