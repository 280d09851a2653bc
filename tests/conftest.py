"""Shared fixtures: the real datasets, a station on a temporary data directory, the API client,
the centre's PostgreSQL server."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings
from PIL import Image

from central.engine.auth import use_token
from central.postgres import DATABASE, LocalCluster
from matcher.face import FaceEncoder, face_encoder
from matcher.imageio import read_rgb
from station.api import create_app
from station.config import Settings, load_settings
from station.core import Station
from station.security.roles import SYSTEM

# Ray reads its authentication when first imported: every Ray of the suite (the two-node
# cluster, local ones) uses one token of its own, never ~/.ray's.
RAY_TOKEN = Path(tempfile.mkdtemp(prefix="ray-token-")) / "token"
RAY_ENV = use_token(RAY_TOKEN) | {"RAY_USAGE_STATS_ENABLED": "0"}
os.environ.update(RAY_ENV)

# Property tests check behaviour, never speed: no per-example deadline on a loaded 2-core machine.
hypothesis_settings.register_profile("station", deadline=None)
hypothesis_settings.load_profile("station")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--scanner-url",
        default=None,
        help="Run the fingerprint hardware tests on this scanner, e.g. "
        "serial:///dev/ttyUSB0?baudrate=57600&model=r307 (skipped without it).",
    )
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=10,
        help="Examples per operation, role and mode in tests/test_api_fuzzing.py (scripts/fuzz "
        "runs 200).",
    )
    parser.addoption(
        "--screenshots",
        default=None,
        help="Save the browser tests' screenshots of the console in this folder (scripts/"
        "screenshots writes the README's into docs/screenshots).",
    )
    parser.addoption(
        "--camera-url",
        default=None,
        help="Run the camera hardware tests on this camera, e.g. opencv://0?width=1280&height=720 "
        "(skipped without it).",
    )


@pytest.fixture(scope="session")
def fuzz_examples(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--fuzz-examples"))


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The real data (``STATION_DATASETS``, default ``../shared/datasets``); its absence fails loudly."""
    folder = load_settings().datasets_dir
    if not (folder / "faces" / "lfw_dev" / "images").is_dir():
        pytest.fail(f"real datasets not found at {folder}: set STATION_DATASETS", pytrace=False)
    return folder


@pytest.fixture(scope="session")
def lfw(datasets: Path) -> Path:
    return datasets / "faces" / "lfw_dev" / "images"


PHOTOS_CHECKED = 3


@pytest.fixture(scope="session")
def lfw_people(lfw: Path, shared_encoder: FaceEncoder) -> list[Path]:
    """LFW person folders, sorted by name, whose first photos each show one person to the default
    encoder: tests use them as live captures, which refuse a second person in the frame, and
    LFW's press photos often show a neighbour (YuNet sees one in about 9% of them)."""
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    return [
        person
        for person in people
        if all(
            len(shared_encoder.detect(read_rgb(photo))) <= 1
            for photo in photos_of(person)[:PHOTOS_CHECKED]
        )
    ]


def photos_of(person: Path) -> list[Path]:
    return sorted(p for p in person.iterdir() if p.suffix.lower() == ".jpg")


@pytest.fixture(scope="session")
def group_photo(datasets: Path) -> Path:
    """A real photo with two people in it."""
    return (
        datasets
        / "faces"
        / "face_recognition_examples"
        / "examples"
        / "knn_examples"
        / "test"
        / "obama_and_biden.jpg"
    )


@pytest.fixture(scope="session")
def shared_encoder() -> FaceEncoder:
    return face_encoder()


def make_settings(data_dir: Path, lfw: Path | None = None, **overrides: Any) -> Settings:
    """Settings for a station on ``data_dir``, its key file beside it (``<data_dir>.key``), a
    cheap password hash answered at once (the defaults take 0.5 s a login), and face-only
    enrollment (``enroll_min_fingers=0``, as on a station without a scanner) unless a test asks
    for fingers."""
    values: dict[str, Any] = {
        "enroll_min_fingers": 0,
        "data_dir": data_dir,
        "key_file": data_dir.with_name(data_dir.name + ".key"),
        "password_kdf_n": 1024,
        "login_answer_seconds": 0,
        "station_id": "test-station",
    }
    if lfw is not None:
        values["camera_url"] = f"sim://?dir={lfw}"
    values.update(overrides)
    return load_settings(overrides=values, environ={})


def cli_env(settings: Settings, operator: str) -> dict[str, str]:
    """Environment for the CLI on the station of ``settings``, signed in as ``operator``."""
    return {
        "STATION_DATA": str(settings.data_dir),
        "STATION_KEY_FILE": str(settings.key_file),
        "STATION_PASSWORD_KDF_N": "1024",
        "STATION_LOGIN_ANSWER_SECONDS": "0",
        "STATION_LOG_LEVEL": "WARNING",
        "STATION_OPERATOR": operator,
        "STATION_PASSWORD": TEST_PASSWORD,
    }


@pytest.fixture
def station(tmp_path: Path, lfw: Path, shared_encoder: FaceEncoder) -> Iterator[Station]:
    """A station with a simulated camera and no scanner: it enrolls faces only."""
    settings = make_settings(tmp_path / "data", lfw, camera_timeout=1.0)
    with Station(settings, encoder=shared_encoder) as opened:
        yield opened


@pytest.fixture
def app(station: Station) -> Flask:
    return create_app(station=station)


TEST_PASSWORD = "Station-test-1"


def enroll_face(
    station: Station,
    photo: Path,
    name: str = "A Person",
    purpose: str | None = None,
    actor: Any = SYSTEM,
    **fields: str,
) -> Any:
    """Enroll the person in ``photo`` with the one enrollment workflow, face only (the station
    needs ``enroll_min_fingers=0``); the Enrollment (``.record``, ``.held``)."""
    from matcher.imageio import read_rgb
    from station.records import PersonFields
    from station.workflows import FaceInput, enroll

    return enroll(
        station,
        FaceInput.of(read_rgb(photo)),
        fields=PersonFields(name=name, **fields),
        consent=True,
        purpose=purpose,
        actor=actor,
    )


def sign_in(app: Flask, login: str, password: str = TEST_PASSWORD) -> FlaskClient:
    """A test client that sends the bearer token of a fresh session of ``login``."""
    client = app.test_client()
    response = client.post("/api/v1/auth/login", json={"login": login, "password": password})
    assert response.status_code == 200, response.json
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {response.json['token']}"
    return client


def client_as(app: Flask, station: Station, role: str) -> FlaskClient:
    """A client signed in as a new account with this role (login ``<role>1``)."""
    login = f"{role}1"
    station.operators.create(SYSTEM, login, role, TEST_PASSWORD)
    return sign_in(app, login)


@pytest.fixture
def client(app: Flask, station: Station) -> FlaskClient:
    """Signed in as an operator, the role at the enrollment desk."""
    return client_as(app, station, "operator")


@pytest.fixture
def supervisor(app: Flask, station: Station) -> FlaskClient:
    return client_as(app, station, "supervisor")


@pytest.fixture
def auditor(app: Flask, station: Station) -> FlaskClient:
    return client_as(app, station, "auditor")


@pytest.fixture
def admin(app: Flask, station: Station) -> FlaskClient:
    return client_as(app, station, "admin")


@pytest.fixture
def anonymous(app: Flask) -> FlaskClient:
    return app.test_client()


def post_multipart(client: FlaskClient, path: str, fields: dict[str, Any]) -> Any:
    """POST a multipart body built in memory (values: text, or ``(bytes, filename)`` for a
    file); the test client would spool a large body to a temporary file it never closes."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    parts = {
        name: FileStorage(io.BytesIO(value[0]), filename=value[1])
        if isinstance(value, tuple)
        else value
        for name, value in fields.items()
    }
    boundary, body = encode_multipart(parts)
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        content_length=len(body),
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def encode_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def lfw_templates(
    lfw_people: list[Path], shared_encoder: FaceEncoder
) -> tuple[np.ndarray, list[str]]:
    """Real face templates: the first photo of 40 LFW people, with their names."""
    from matcher.imageio import read_rgb

    encoder = face_encoder(multiple_faces="largest")
    vectors, names = [], []
    for person in lfw_people[:40]:
        vectors.append(encoder.encode(read_rgb(photos_of(person)[0])).vector)
        names.append(person.name)
    return np.stack(vectors), names


@pytest.fixture(scope="session")
def db1(datasets: Path) -> Path:
    """FVC2002 DB1_B: 10 fingers x 8 impressions, 500 dpi, named <finger>_<impression>.png."""
    return datasets / "fingerprints" / "fvc2002_b" / "DB1_B"


@pytest.fixture(scope="session")
def fvc_template(db1: Path) -> Any:
    """``fvc_template("101_1")``: the template of one DB1_B impression, extracted once."""
    from matcher.fingerprint import extract
    from matcher.imageio import read_rgb

    cache: dict[str, Any] = {}

    def template(name: str) -> Any:
        if name not in cache:
            gray = read_rgb(db1 / f"{name}.png").mean(axis=2).astype(np.uint8)
            cache[name] = extract.extract(gray, 500)
        return cache[name]

    return template


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalCluster]:
    """A real PostgreSQL server for the centre's tests: a throwaway cluster in a folder the
    ``postgres`` user can reach (pytest's own temporary folders are closed to other users)."""
    root = Path(tempfile.mkdtemp(prefix="central-pg-"))
    root.chmod(0o755)
    cluster = LocalCluster(root / "postgres")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.release()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def centre_db(postgres_server: LocalCluster) -> Iterator[str]:
    """The URL of a new, empty database on the test server (dropped afterwards)."""
    name = f"centre_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.url.replace(f"/{DATABASE}?", f"/{name}?")
    with psycopg.connect(postgres_server.url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def centre(tmp_path: Path, centre_db: str) -> Iterator[Any]:
    """An open centre on a new database; its identity document in ``tmp_path/centre.json``."""
    import json

    from central.centre import Centre
    from central.keys import identity_document

    with Centre(tmp_path / "centre", centre_db, actor="registrar") as opened:
        (tmp_path / "centre.json").write_text(json.dumps(identity_document(opened.keys)))
        yield opened


CENTRE_KDF_N = 1024  # scrypt cost for the centre's test accounts (fast; the policy is the same)


def central_env(data: Path, db: str | None, role: str = "admin") -> dict[str, str]:
    """The environment of a `central` command run by a staff member of ``role`` (made here,
    one-time password already changed)."""
    from central.centre import Centre
    from central.staff import Staff, StaffRole
    from station.security.passwords import KdfParams

    login = f"test-{role}"
    with Centre(data, db) as centre:
        staff = Staff(centre.register, KdfParams(n=CENTRE_KDF_N))
        if not any(m["login"] == login for m in staff.list()):
            first = staff.add(login, StaffRole(role), "tests")
            staff.change_password(login, first, TEST_PASSWORD)
    env = {
        **os.environ,
        "CENTRAL_DATA": str(data),
        "CENTRAL_OPERATOR": login,
        "CENTRAL_PASSWORD": TEST_PASSWORD,
        "CENTRAL_PASSWORD_KDF_N": str(CENTRE_KDF_N),
    }
    if db:
        env["CENTRAL_DB"] = db
    return env
