"""The station's API for a command: over HTTP to the server that holds the data directory, or
in-process on a station the command opens itself when no server runs. Either way the command
makes the same requests, so it follows exactly the rules the API follows (the workflows), and a
command beside a running server never opens the database behind its back.

A running ``station serve`` writes its address to ``server.json`` in the data directory while it
listens; a command that finds the directory held uses that address, or says why it cannot.
"""

from __future__ import annotations

import io
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from werkzeug.datastructures import FileStorage
from werkzeug.test import Client, encode_multipart

from station.config import Settings
from station.errors import DataDirectoryInUseError, StationError

SERVER_FILE = "server.json"


class RequestFailedError(StationError):
    """The station refused the request: its error code and message, as the API gave them."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        self.status = status
        self.code = code
        self.field = field
        super().__init__(message)


class Transport(Protocol):
    def send(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]: ...


@dataclass(frozen=True)
class HttpTransport:
    """Requests to a running server's API (``http://127.0.0.1:8470/api/v1``)."""

    base_url: str
    timeout: float = 600.0

    def send(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.base_url + path, data=body or None, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except urllib.error.URLError as error:
            raise StationError(
                f"the station server at {self.base_url} does not answer ({error.reason}): is it "
                "still running?"
            ) from None


class LocalTransport:
    """Requests to the API of a station opened in this process (no network)."""

    def __init__(self, app: Any, prefix: str) -> None:
        self.client = Client(app)
        self.prefix = prefix

    def send(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes]:
        response = self.client.open(
            self.prefix + path,
            method=method,
            headers=headers,
            input_stream=io.BytesIO(body),
            content_length=len(body),
            environ_base={"REMOTE_ADDR": "cli"},
        )
        try:
            return response.status_code, response.get_data()
        finally:
            response.close()


class StationClient:
    """JSON requests to the station's API, signed in as one operator."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.token: str | None = None

    def call(
        self,
        method: str,
        path: str,
        json_body: Mapping[str, Any] | None = None,
        fields: Mapping[str, str] | None = None,
        files: Mapping[str, Path] | None = None,
        data: bytes | None = None,
    ) -> Any:
        """The JSON answer, or :class:`RequestFailedError` with the station's error; ``data``
        is sent as the body itself (``application/octet-stream``: a roll file)."""
        headers = {"Accept": "application/json"}
        body = b""
        if data is not None:
            body = data
            headers["Content-Type"] = "application/octet-stream"
        elif files or fields:
            parts: dict[str, Any] = dict(fields or {})
            for name, file in (files or {}).items():
                parts[name] = FileStorage(io.BytesIO(file.read_bytes()), filename=file.name)
            boundary, body = encode_multipart(parts)
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        status, raw = self.transport.send(method, path, headers, body)
        answer = json.loads(raw) if raw else {}
        if status >= 400:
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            raise RequestFailedError(
                status,
                str(error.get("code", "error")),
                str(error.get("message", f"the station answered {status}")),
                error.get("field"),
            )
        return answer

    def sign_in(self, login: str, password: str) -> dict[str, Any]:
        answer = self.call("POST", "/auth/login", {"login": login, "password": password})
        if answer.get("must_change_password"):
            self.token = answer["token"]
            self.sign_out()
            raise StationError(
                f"{login} still has a one-time password: change it first (`station operator "
                "passwd`, or sign in on the console)"
            )
        self.token = answer["token"]
        return dict(answer)

    def sign_out(self) -> None:
        if self.token:
            try:
                self.call("POST", "/auth/logout")
            finally:
                self.token = None


def server_address(settings: Settings) -> str | None:
    """The API address a running server wrote into the data directory, if any."""
    path = settings.data_dir / SERVER_FILE
    try:
        written = json.loads(path.read_text())
        return str(written["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_server_address(settings: Settings, host: str, port: int) -> Path:
    """Called by ``station serve`` once it listens: where commands beside it find its API."""
    connect = "127.0.0.1" if host in {"0.0.0.0", "", "::"} else host
    path = settings.data_dir / SERVER_FILE
    path.write_text(
        json.dumps({"url": f"http://{connect}:{port}/api/v1", "pid": os.getpid()}) + "\n"
    )
    return path


@contextmanager
def connected(settings: Settings, login: str, password: str) -> Iterator[StationClient]:
    """A client signed in as ``login``: to the running server holding the data directory, or
    to the station opened here when none does."""
    from station.api import create_app
    from station.api.context import API_PREFIX
    from station.core import Station

    station = Station(settings)
    try:
        station.open()
    except DataDirectoryInUseError as held:
        address = server_address(settings)
        if address is None:
            raise StationError(
                f"{held} — and it serves no API this command could use: wait for it to end"
            ) from None
        client = StationClient(HttpTransport(address))
        client.sign_in(login, password)
        try:
            yield client
        finally:
            client.sign_out()
        return
    try:
        client = StationClient(LocalTransport(create_app(station=station), API_PREFIX))
        client.sign_in(login, password)
        try:
            yield client
        finally:
            client.sign_out()
    finally:
        station.close()
