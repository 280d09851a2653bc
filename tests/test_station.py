"""The station's state: one data directory, sealed records in SQLite, a gallery built from them."""

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from matcher.face import MODEL_OF, FaceEncoder
from matcher.imageio import read_rgb
from station.core import Station
from station.errors import DataDirectoryInUseError, RecordNotFoundError, StationError
from station.records import PersonFields
from station.security.crypto import Sealer, generate_key
from station.storage import Biometric, Storage
from station.workflows import FaceInput, identify, view_record
from tests.conftest import enroll_face, make_settings, photos_of


def new_storage(path: Path, key: bytes | None = None) -> Storage:
    return Storage(path, Sealer(key or generate_key()))


def face(value: float = 0.0) -> list[Biometric]:
    return [Biometric.face(np.full(128, value, np.float32), None, MODEL_OF["sface"])]


def enroll_people(station: Station, people: list[Path]) -> list[int]:
    return [
        enroll_face(station, photos_of(p)[0], p.name.replace("_", " ")).record.id for p in people
    ]


def face_ids(station: Station) -> list[int]:
    return [int(i) for i in station.galleries.face("voter_registration").ids()]


def test_all_state_lives_under_the_data_directory(
    tmp_path: Path, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    data = tmp_path / "data"
    with Station(make_settings(data), encoder=shared_encoder) as station:
        enroll_people(station, lfw_people[:2])
    names = {p.relative_to(data).as_posix() for p in data.rglob("*")}
    assert {"station.sqlite3", "logs"} <= names
    assert not any(name.startswith("gallery") for name in names)  # the gallery is memory only


def test_a_second_process_cannot_open_the_same_data_directory(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path)
    second = Station(settings, encoder=shared_encoder)
    with (
        Station(settings, encoder=shared_encoder),
        pytest.raises(DataDirectoryInUseError, match="in use by another station process"),
    ):
        second.open()
    with Station(settings, encoder=shared_encoder):  # released on close
        pass


def test_records_and_gallery_survive_a_restart(
    tmp_path: Path, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path)
    with Station(settings, encoder=shared_encoder) as station:
        ids = enroll_people(station, lfw_people[:3])
    with Station(settings, encoder=shared_encoder) as station:
        assert face_ids(station) == ids
        result = identify(station, FaceInput.of(read_rgb(photos_of(lfw_people[1])[1])))
        assert result.candidates[0].record.id == ids[1]


def test_the_gallery_is_built_from_the_database_at_every_start(
    tmp_path: Path, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path)
    with Station(settings, encoder=shared_encoder) as station:
        ids = enroll_people(station, lfw_people[:3])
        sealer = station.storage.sealer
    # Changes the running station never saw: a record added and one deleted behind its back.
    storage = Storage(settings.database_path, sealer)
    extra = storage.add_record(
        PersonFields(name="Written Elsewhere"), face(0.1), "voter_registration"
    )
    storage.delete_record(ids[2])
    storage.close()
    with Station(settings, encoder=shared_encoder) as station:
        assert face_ids(station) == [ids[0], ids[1], extra.id]


def test_gallery_files_of_an_older_station_are_removed(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path)
    legacy = settings.data_dir / "gallery"
    legacy.mkdir(parents=True)
    (legacy / "face.faiss").write_bytes(b"plaintext templates")
    with Station(settings, encoder=shared_encoder):
        assert not legacy.exists()


def test_record_ids_are_never_reused(tmp_path: Path) -> None:
    storage = new_storage(tmp_path / "db.sqlite3")
    first = storage.add_record(PersonFields(name="A"), face(), "test")
    storage.delete_record(first.id)
    second = storage.add_record(PersonFields(name="B"), face(), "test")
    assert second.id > first.id
    with pytest.raises(RecordNotFoundError):
        storage.get_record(first.id)


def test_a_database_from_a_newer_station_is_refused(tmp_path: Path) -> None:
    key = generate_key()
    new_storage(tmp_path / "db.sqlite3", key).close()
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StationError, match="schema version 99"):
        new_storage(tmp_path / "db.sqlite3", key)


def test_a_file_that_is_not_a_database_is_reported(tmp_path: Path) -> None:
    (tmp_path / "db.sqlite3").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StationError, match="cannot open the station database"):
        new_storage(tmp_path / "db.sqlite3")


def test_a_missing_record_is_record_not_found(station: Station) -> None:
    with pytest.raises(RecordNotFoundError):
        view_record(station, 12345)
