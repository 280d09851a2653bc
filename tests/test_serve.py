"""`station serve`: the daemon a precinct runs, with real or simulated devices."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from flask.testing import FlaskClient

from matcher.face import FaceEncoder
from station.api import create_app
from station.service import Station
from station.simulation import simulated_device_urls
from tests.conftest import make_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_serve_with_simulated_devices_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    env = {**os.environ, "STATION_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "station",
            "serve",
            "--sim",
            "--port",
            str(port),
            "--data",
            str(data),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = get_json(f"http://127.0.0.1:{port}/api/v1/health")
                break
            except OSError:
                time.sleep(0.2)
        assert health is not None, server.stderr.read() if server.stderr else ""
        assert health["status"] == "ok"
        assert all(url.startswith("sim://") for url in health["devices"].values())
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert (data / "station.sqlite3").is_file()
    assert not (data / "station.sqlite3-wal").exists()  # closed cleanly


def test_the_devices_check_reports_every_simulated_device(
    tmp_path: Path, datasets: Path, shared_encoder: FaceEncoder
) -> None:
    urls = simulated_device_urls(datasets)
    with Station(make_settings(tmp_path, **urls), encoder=shared_encoder) as station:
        report = create_app(station=station).test_client().get("/api/v1/devices").json
    assert report["camera"]["ok"] is True
    assert report["scanner"]["ok"] is True
    assert report["scanner"]["info"]["model"] == "R307"
    assert report["card_reader"]["ok"] is True


def test_a_missing_device_is_reported_not_fatal(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path, camera_url=f"sim://?dir={tmp_path / 'unplugged'}")
    with Station(settings, encoder=shared_encoder) as station:
        client: FlaskClient = create_app(station=station).test_client()
        report = client.get("/api/v1/devices").json
        assert report["camera"]["ok"] is False
        assert "does not exist" in report["camera"]["error"]
        assert report["scanner"] == {"configured": False}
        capture = client.post("/api/v1/identify", json={"capture": True})
        assert capture.status_code == 503
        assert capture.json["error"]["code"] == "device_not_found"
        assert client.get("/api/v1/health").json["status"] == "ok"


def test_capture_without_a_camera_says_how_to_configure_one(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    with Station(make_settings(tmp_path), encoder=shared_encoder) as station:
        response = (
            create_app(station=station)
            .test_client()
            .post("/api/v1/identify", json={"capture": True})
        )
    assert response.status_code == 409
    assert response.json["error"]["code"] == "no_camera"
    assert "camera_url" in response.json["error"]["message"]
