"""Encryption at rest: a stolen data directory reveals no name, document number, template or
photo; sealed values are bound to their record and column; the key lives outside the database;
key rotation and encrypted backups."""

from __future__ import annotations

import base64
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from matcher.face import FaceEncoder
from matcher.face.templates import template_to_bytes
from station.backup import BackupError
from station.cli import main
from station.core import Station
from station.security.crypto import (
    KeyProblemError,
    Sealer,
    TamperedDataError,
    encode_key,
    generate_key,
    pending_key_path,
    write_key_file,
)
from station.security.roles import SYSTEM
from station.workflows import correct_record, create_backup, rotate_key
from tests.conftest import TEST_PASSWORD, enroll_face, make_settings, photos_of

PEOPLE = [
    ("Zebulon Quartermaine", "QZ9081726"),
    ("Marguerite Okonkwo", "MK5550123"),
]
PASSPHRASE = "four words of passphrase"


def enroll_people(station: Station, lfw_people: list[Path]) -> list[tuple[int, bytes]]:
    """Enroll the PEOPLE; return their ids and template bytes."""
    enrolled = []
    for (name, number), person in zip(PEOPLE, lfw_people[30:], strict=False):
        record = enroll_face(
            station, photos_of(person)[0], name, document_number=number, health="asthma"
        ).record
        template = template_to_bytes(station.storage.get_template(record.id))
        enrolled.append((record.id, template))
    station.storage.put_photo(enrolled[0][0], "portrait", "image/jpeg", b"\xff\xd8JPEGBYTES-unique")
    return enrolled


def every_byte_on_disk(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def assert_no_plaintext(raw: bytes, templates: list[bytes]) -> None:
    for name, number in PEOPLE:
        for text in (name, name.split()[0], number):
            assert text.encode() not in raw, text
            assert text.encode("utf-16-le") not in raw, text
    assert b"asthma" not in raw
    assert b"JPEGBYTES-unique" not in raw
    for template in templates:
        for start in range(0, len(template) - 16, 16):  # no 16-byte run of any template
            assert template[start : start + 16] not in raw


def test_the_data_directory_holds_no_plaintext_while_open_and_after_close(
    tmp_path: Path, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data")
    with Station(settings, encoder=shared_encoder) as station:
        enrolled = enroll_people(station, lfw_people)
        assert_no_plaintext(every_byte_on_disk(settings.data_dir), [t for _, t in enrolled])
    raw = settings.database_path.read_bytes()
    assert len(raw) > 0
    assert_no_plaintext(every_byte_on_disk(settings.data_dir), [t for _, t in enrolled])

    key_text = settings.key_file.read_text().strip()
    key = base64.b64decode(key_text)
    assert key_text.encode() not in raw and key not in raw and key.hex().encode() not in raw
    with closing(sqlite3.connect(settings.database_path)) as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    assert meta["key_id"] == Sealer(key).key_id  # only the key's public name


def test_the_key_file_is_private_and_outside_the_data_directory(station: Station) -> None:
    key_file = station.settings.key_file
    assert station.settings.data_dir not in key_file.parents
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert station.settings.database_path.stat().st_mode & 0o777 == 0o600


def test_a_key_file_others_can_read_is_refused(tmp_path: Path, shared_encoder: FaceEncoder) -> None:
    settings = make_settings(tmp_path / "data")
    write_key_file(settings.key_file, generate_key())
    settings.key_file.chmod(0o644)
    with pytest.raises(KeyProblemError, match="chmod 600"):
        Station(settings, encoder=shared_encoder).open()


def test_the_key_can_come_from_the_environment(
    tmp_path: Path, shared_encoder: FaceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path / "data")
    monkeypatch.setenv("STATION_KEY", encode_key(generate_key()))
    with Station(settings, encoder=shared_encoder) as station:
        station.audit.append("system", "config_change")
    assert not settings.key_file.exists()
    monkeypatch.setenv("STATION_KEY", encode_key(generate_key()))
    with pytest.raises(KeyProblemError, match="does not open"):
        Station(settings, encoder=shared_encoder).open()


def test_a_missing_or_wrong_key_is_refused_with_what_to_do(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data")
    with Station(settings, encoder=shared_encoder):
        pass
    right = settings.key_file.read_bytes()
    settings.key_file.unlink()
    with pytest.raises(KeyProblemError, match=r"key file .* is missing"):
        Station(settings, encoder=shared_encoder).open()
    write_key_file(settings.key_file, generate_key())
    with pytest.raises(KeyProblemError, match="does not open"):
        Station(settings, encoder=shared_encoder).open()
    settings.key_file.write_bytes(right)
    with Station(settings, encoder=shared_encoder):
        pass


def test_a_value_moved_to_another_record_does_not_open(
    station: Station, lfw_people: list[Path]
) -> None:
    (first, _), (second, _) = enroll_people(station, lfw_people)
    db_path = station.settings.database_path
    with closing(sqlite3.connect(db_path)) as db:
        db.execute(
            "UPDATE biometrics SET template = (SELECT template FROM biometrics WHERE record_id = ?) "
            "WHERE record_id = ?",
            (first, second),
        )
        db.execute(
            "UPDATE records SET fields = (SELECT fields FROM records WHERE id = ?) WHERE id = ?",
            (first, second),
        )
        db.commit()
    with pytest.raises(TamperedDataError, match=f"records/{second}/biometrics/face/0"):
        station.storage.get_template(second)
    with pytest.raises(TamperedDataError, match=f"records/{second}/fields"):
        station.storage.get_record(second)
    assert station.storage.get_record(first).fields.name == PEOPLE[0][0]


def test_a_sealed_value_with_one_byte_changed_does_not_open() -> None:
    sealer = Sealer(generate_key())
    sealed = bytearray(sealer.seal(b"Zebulon", "records/1/fields"))
    sealed[-1] ^= 1
    with pytest.raises(TamperedDataError):
        sealer.open(bytes(sealed), "records/1/fields")


def test_key_rotation_reseals_everything_and_retires_the_old_key(
    tmp_path: Path, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data")
    with Station(settings, encoder=shared_encoder) as station:
        enrolled = enroll_people(station, lfw_people)
        correct_record(station, enrolled[0][0], {"sex": "M"}, "as on the card")
        old_key = settings.key_file.read_bytes()
        old_id = station.storage.sealer.key_id
        count = rotate_key(station)
        # per record: fields, consent, face template, portrait; the correction's history
        # (fields, reason)
        assert count == 2 * 4 + 2
        assert station.storage.sealer.key_id != old_id
        assert station.audit.rows(limit=1000)[-1]["action"] == "key_rotate"
    assert settings.key_file.read_bytes() != old_key
    assert not pending_key_path(settings.key_file).exists()
    with Station(settings, encoder=shared_encoder) as station:
        assert station.storage.get_record(enrolled[1][0]).fields.name == PEOPLE[1][0]
        assert template_to_bytes(station.storage.get_template(enrolled[0][0])) == enrolled[0][1]
        assert station.storage.history(enrolled[0][0])[0]["reason"] == "as on the card"
        assert station.audit.verify().intact
    settings.key_file.write_bytes(old_key)
    with pytest.raises(KeyProblemError, match="does not open"):
        Station(settings, encoder=shared_encoder).open()


def test_a_rotation_cut_short_by_a_crash_is_finished_or_undone_at_the_next_start(
    tmp_path: Path, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data")
    with Station(settings, encoder=shared_encoder) as station:
        enroll_people(station, lfw_people)
        # Crash after the commit, before the rename: the database is under the new key.
        new = generate_key()
        write_key_file(pending_key_path(settings.key_file), new)
        station.storage.reseal(Sealer(new))
    with Station(settings, encoder=shared_encoder) as station:
        assert station.storage.sealer.key_id == Sealer(new).key_id
    assert not pending_key_path(settings.key_file).exists()
    # Crash before the commit: the new key was written, the database never changed.
    write_key_file(pending_key_path(settings.key_file), generate_key())
    with Station(settings, encoder=shared_encoder) as station:
        assert station.storage.sealer.key_id == Sealer(new).key_id
    assert not pending_key_path(settings.key_file).exists()


def cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        "STATION_DATA": str(tmp_path / "data"),
        "STATION_KEY_FILE": str(tmp_path / "data.key"),
        "STATION_PASSWORD_KDF_N": "1024",
        "STATION_STATION_ID": "test-station",
        "STATION_OPERATOR": "boss",
        "STATION_PASSWORD": TEST_PASSWORD,
        "STATION_BACKUP_PASSPHRASE": PASSPHRASE,
        "STATION_LOG_LEVEL": "ERROR",
    }


def test_backup_and_restore_on_another_laptop(
    tmp_path: Path, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data")
    with Station(settings, encoder=shared_encoder) as station:
        station.operators.create(SYSTEM, "boss", "admin", TEST_PASSWORD)
        enrolled = enroll_people(station, lfw_people)
    out = tmp_path / "station.backup"
    runner = CliRunner()
    made = runner.invoke(main, ["backup", "create", str(out)], env=cli_env(tmp_path))
    assert made.exit_code == 0, made.output
    assert_no_plaintext(out.read_bytes(), [t for _, t in enrolled])
    assert settings.key_file.read_text().strip().encode() not in out.read_bytes()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**cli_env(elsewhere), "STATION_OPERATOR": ""}
    wrong = runner.invoke(
        main, ["backup", "restore", str(out)], env={**env, "STATION_BACKUP_PASSPHRASE": "x" * 20}
    )
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.output
    restored = runner.invoke(main, ["backup", "restore", str(out), "--json"], env=env)
    assert restored.exit_code == 0, restored.output
    assert '"audit_intact": true' in restored.output
    moved = make_settings(elsewhere / "data")
    with Station(moved, encoder=shared_encoder) as station:
        assert station.storage.get_record(enrolled[0][0]).fields.name == PEOPLE[0][0]
        assert len(station.galleries) == len(enrolled)
        actions = [r["action"] for r in station.audit.rows(limit=1000)]
        assert actions.index("backup") < actions.index("restore")
    again = runner.invoke(main, ["backup", "restore", str(out)], env=env)
    assert again.exit_code == 1 and "restore into an empty data directory" in again.output


def test_a_damaged_or_cut_backup_is_refused(
    tmp_path: Path, station: Station, lfw_people: list[Path]
) -> None:
    enroll_people(station, lfw_people)
    out = tmp_path / "station.backup"
    create_backup(station, out, PASSPHRASE)
    raw = out.read_bytes()
    from station.backup import read_backup

    for damaged in (raw[:-100], raw[: len(raw) // 2], raw[:-1] + bytes([raw[-1] ^ 1])):
        out.write_bytes(damaged)
        with pytest.raises(BackupError):
            read_backup(out, PASSPHRASE, tmp_path / "restored.sqlite3")


def test_operators_cannot_rotate_keys_or_make_backups(station: Station, tmp_path: Path) -> None:
    from station.security.roles import Actor, PermissionDeniedError, Role

    clerk = Actor("clerk", Role.OPERATOR)
    with pytest.raises(PermissionDeniedError):
        rotate_key(station, actor=clerk)
    with pytest.raises(PermissionDeniedError):
        create_backup(station, tmp_path / "b", PASSPHRASE, actor=clerk)
    assert not (tmp_path / "b").exists()


def modes_under(folder: Path) -> dict[str, int]:
    """Permission bits of the folder and everything in it, by path relative to it."""
    found = {".": folder.stat().st_mode & 0o777}
    for path in folder.rglob("*"):
        found[str(path.relative_to(folder))] = path.stat().st_mode & 0o777
    return found


def test_every_file_and_folder_the_station_makes_is_private_from_the_start(
    tmp_path: Path, shared_encoder: FaceEncoder, lfw_people: list[Path]
) -> None:
    """Even with a permissive umask: the WAL, the shared memory file, the logs, the lock."""
    from station.logsetup import close_logging, configure_logging

    before = os.umask(0o022)
    try:
        settings = make_settings(tmp_path / "data")
        configure_logging("INFO", settings.log_dir)
        with Station(settings, encoder=shared_encoder) as station:
            enroll_face(station, photos_of(lfw_people[0])[0], "Ann Lee")
            opened = modes_under(settings.data_dir)
        close_logging()
    finally:
        os.umask(before)
    assert {"station.sqlite3-wal", "station.sqlite3-shm", "logs"} <= set(opened)
    shared = {path: oct(mode) for path, mode in opened.items() if mode & 0o077}
    assert shared == {}


def test_files_left_readable_by_a_crash_or_an_old_version_are_made_private_at_start(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data")
    with Station(settings, encoder=shared_encoder):
        pass
    settings.data_dir.chmod(0o755)
    for name in ("station.sqlite3", "backup-snapshot.tmp"):
        (settings.data_dir / name).touch()
        (settings.data_dir / name).chmod(0o644)
    with Station(settings, encoder=shared_encoder):
        shared = {p: oct(m) for p, m in modes_under(settings.data_dir).items() if m & 0o077}
    assert shared == {}


def test_each_data_directory_has_its_own_default_key_file_outside_it(tmp_path: Path) -> None:
    from station.config import load_settings

    environ = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    first = load_settings(overrides={"data_dir": tmp_path / "a" / "data"}, environ=environ)
    second = load_settings(overrides={"data_dir": tmp_path / "b" / "data"}, environ=environ)
    assert first.key_file != second.key_file
    for settings in (first, second):
        assert settings.key_file.is_relative_to(tmp_path / "config" / "biometric-station")
        assert settings.data_dir not in settings.key_file.parents
    again = load_settings(overrides={"data_dir": tmp_path / "a" / "data"}, environ=environ)
    assert again.key_file == first.key_file


def test_two_stations_on_one_laptop_keep_their_own_keys(
    tmp_path: Path, shared_encoder: FaceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from station.config import load_settings

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    keys = []
    for name in ("field", "precinct"):
        settings = load_settings(
            overrides={"data_dir": tmp_path / name, "password_kdf_n": 1024}, environ={}
        )
        with Station(settings, encoder=shared_encoder):
            keys.append(settings.key_file.read_bytes())
    assert keys[0] != keys[1]


def test_a_station_whose_key_is_at_the_old_shared_default_keeps_working(
    tmp_path: Path, shared_encoder: FaceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stations made before the default followed the data directory: their key is copied to
    the new place (the old file may serve another station, so it stays)."""
    from station.config import legacy_key_file, load_settings

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    settings = load_settings(overrides={"data_dir": tmp_path / "data", "password_kdf_n": 1024})
    old = legacy_key_file()
    with Station(
        load_settings(
            overrides={"data_dir": settings.data_dir, "key_file": old, "password_kdf_n": 1024}
        ),
        encoder=shared_encoder,
    ) as station:
        station.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
    with Station(settings, encoder=shared_encoder) as station:
        assert station.operators.get("clerk").login == "clerk"
    assert settings.key_file.read_bytes() == old.read_bytes()
    assert settings.key_file.stat().st_mode & 0o777 == 0o600
