"""`station serve`: the daemon a precinct runs, with real or simulated devices."""

import json
import socket
import urllib.request
from pathlib import Path

from flask.testing import FlaskClient

from matcher.face import FaceEncoder
from station.api import create_app
from station.core import Station
from station.security.roles import SYSTEM
from station.simulation import simulated_device_urls
from tests.conftest import TEST_PASSWORD, make_settings, sign_in


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def call(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    """One JSON request over real HTTP: (status, body)."""
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def signed_in_client(station: Station) -> FlaskClient:
    station.operators.create(SYSTEM, "tech", "supervisor", TEST_PASSWORD)
    return sign_in(create_app(station=station), "tech")


def test_serve_with_simulated_devices_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """The README's start: a first admin with a one-time password printed on the console (never
    in the log file), which must be changed before anything else."""
    from tests.browser import start_server

    server = start_server(tmp_path)
    api = f"{server.url}/api/v1"
    try:
        assert get_json(f"{api}/health") == {"status": "ok"}
        assert call(f"{api}/devices")[0] == 401
        status, session = call(
            f"{api}/auth/login", {"login": "admin", "password": server.one_time_password}
        )
        assert status == 200 and session["must_change_password"] is True
        token = session["token"]
        status, refused = call(f"{api}/operators", token=token)
        assert (status, refused["error"]["code"]) == (403, "password_change_required")
        status, _ = call(
            f"{api}/auth/password",
            {"current_password": server.one_time_password, "new_password": "Chosen-by-chief-7"},
            token,
        )
        assert status == 200
        token = call(f"{api}/auth/login", {"login": "admin", "password": "Chosen-by-chief-7"})[1][
            "token"
        ]
        assert call(f"{api}/operators", token=token)[0] == 200
        status, state = call(f"{api}/status", token=token)
        assert status == 200
        assert all(url.startswith("sim://") for url in state["devices"].values())
    finally:
        code = server.stop()
    console = server.console_log.read_text()
    assert code == 0, console
    assert f"sign in with it at {server.url}/" in console
    assert (server.data / "station.sqlite3").is_file()
    assert not (server.data / "station.sqlite3-wal").exists()  # closed cleanly
    assert server.one_time_password not in (server.data / "logs" / "station.log").read_text()


def test_the_devices_check_reports_every_simulated_device(
    tmp_path: Path, datasets: Path, shared_encoder: FaceEncoder
) -> None:
    urls = simulated_device_urls(datasets)
    with Station(make_settings(tmp_path, **urls), encoder=shared_encoder) as station:
        report = signed_in_client(station).get("/api/v1/devices").json
    assert report["camera"]["ok"] is True
    assert report["scanner"]["ok"] is True
    assert report["scanner"]["info"]["model"] == "R307"
    assert report["card_reader"]["ok"] is True


def test_a_missing_device_is_reported_not_fatal(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path, camera_url=f"sim://?dir={tmp_path / 'unplugged'}")
    with Station(settings, encoder=shared_encoder) as station:
        client = signed_in_client(station)
        report = client.get("/api/v1/devices").json
        assert report["camera"]["ok"] is False
        assert "does not exist" in report["camera"]["error"]
        assert report["scanner"] == {"configured": False}
        capture = client.post("/api/v1/identifications", json={"capture": True})
        assert capture.status_code == 503
        assert capture.json["error"]["code"] == "device_not_found"
        assert client.get("/api/v1/health").json["status"] == "ok"


def test_capture_without_a_camera_says_how_to_configure_one(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    with Station(make_settings(tmp_path), encoder=shared_encoder) as station:
        response = signed_in_client(station).post("/api/v1/identifications", json={"capture": True})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "no_camera"
    assert "camera_url" in response.json["error"]["message"]
