"""The station's HTTP server: waitress with the station's own limits and guards against slow or
anonymous clients, so one client (or a hundred) cannot keep the station from answering others.

waitress reads requests on one asynchronous thread and runs the application on a pool of worker
threads, so a client sending slowly costs a socket, not a worker. What it does not do by itself,
and this module adds:

- a deadline for a request's head (``header_seconds``) and for its whole body
  (``body_seconds``): a client dribbling one header line every few seconds (slowloris) is cut off;
- when connections near ``connection_limit``, the oldest unfinished heads are dropped first, so
  a flood of half-open connections cannot lock out a client that sends its request at once;
- a request under ``/api/`` that needs a session and carries no live bearer token is answered
  401 as soon as its head is read, before any of its body is (the front door does not buffer
  10 MiB for someone who has not signed in);
- the body limit is the station's ``max_upload_bytes`` (waitress's own default is 1 GiB).
"""

from __future__ import annotations

import json
import logging
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.utilities import Error

log = logging.getLogger(__name__)

# (method, path, headers with waitress's upper-case underscore names) -> may its body be read?
FrontDoor = Callable[[str, str, dict[str, str]], bool]


@dataclass(frozen=True)
class ServerLimits:
    """How long and how much the server lets one client take."""

    max_body_bytes: int
    header_seconds: float = 10.0  # the request line and headers must arrive within this
    body_seconds: float = 300.0  # ...and the whole body (10 MiB at 35 kB/s) within this
    idle_seconds: int = 30  # a kept-alive connection with nothing to do is closed after this
    connection_limit: int = 500
    threads: int = 8


class JSONError(Error):  # type: ignore[misc]
    """An error the server answers itself, in the API's JSON shape."""

    def __init__(self, code: int, reason: str, error_code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.error_code = code, reason, error_code

    @classmethod
    def from_waitress(cls, error: Error) -> JSONError:
        words = {400: "bad_request", 413: "request_too_large", 431: "headers_too_large"}
        code = int(error.code)
        return cls(
            code, error.reason, words.get(code, "bad_request"), f"{error.reason}: {error.body}"
        )

    def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
        body = json.dumps(
            {"error": {"code": self.error_code, "message": self.body}}, ensure_ascii=False
        ).encode()
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        if self.code == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="station"'))
        return f"{self.code} {self.reason}", headers, body


UNAUTHORIZED = "sign in first: POST /api/v1/auth/login, then send 'Authorization: Bearer <token>'"


def guarded_channel(front_door: FrontDoor) -> type[HTTPChannel]:
    """A channel class whose requests remember when they started and meet ``front_door``."""

    class TimedParser(HTTPRequestParser):  # type: ignore[misc]
        error: Error | None

        def __init__(self, adj: Any) -> None:
            super().__init__(adj)
            self.started = time.monotonic()

        def received(self, data: bytes) -> int:
            was_finished = self.headers_finished
            consumed = int(super().received(data))
            if self.headers_finished and not was_finished and not self.error:
                has_body = self.chunked or self.content_length > 0
                if has_body and not front_door(self.command, self.path, self.headers):
                    self.error = JSONError(401, "Unauthorized", "session_required", UNAUTHORIZED)
                    self.completed = True
            if self.error is not None and not isinstance(self.error, JSONError):
                self.error = JSONError.from_waitress(self.error)
            return consumed

    class GuardedChannel(HTTPChannel):  # type: ignore[misc]
        parser_class = TimedParser

    return GuardedChannel


def guard_connections(server: Any, limits: ServerLimits) -> None:
    """Replace the server's periodic clean-up with one that also enforces the deadlines."""
    idle_cleanup = server.maintenance

    def maintenance(now: float) -> None:
        idle_cleanup(now)
        clock = time.monotonic()
        unfinished = []
        for channel in list(server.active_channels.values()):
            request = channel.request
            if request is None or channel.requests or channel.will_close:
                continue
            age = clock - getattr(request, "started", clock)
            limit = limits.body_seconds if request.headers_finished else limits.header_seconds
            if age > limit:
                log.info("closing a connection from %s: request not sent in time", channel.addr)
                channel.will_close = True
            elif not request.headers_finished:
                unfinished.append((age, channel))
        crowded = len(server._map) - int(0.8 * limits.connection_limit)
        if crowded > 0:
            unfinished.sort(key=lambda item: -item[0])  # oldest first
            for _, channel in unfinished[:crowded]:
                channel.will_close = True
            log.warning("near the connection limit: dropped %d unfinished requests", crowded)

    server.maintenance = maintenance


def raise_open_file_limit(wanted: int) -> None:
    """Let the process hold ``wanted`` sockets (the soft limit is often 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def make_server(app: Any, host: str, port: int, limits: ServerLimits, front_door: FrontDoor) -> Any:
    """A waitress server for ``app``, bound and ready to ``run()``."""
    raise_open_file_limit(limits.connection_limit + 256)
    server = create_server(
        app,
        host=host,
        port=port,
        threads=limits.threads,
        ident="station",
        connection_limit=limits.connection_limit,
        channel_timeout=limits.idle_seconds,
        cleanup_interval=1,
        max_request_body_size=limits.max_body_bytes,
        max_request_header_size=64 * 1024,
        backlog=1024,
        asyncore_use_poll=True,  # select() cannot watch more than 1024 sockets
        expose_tracebacks=False,
    )
    server.channel_class = guarded_channel(front_door)
    guard_connections(server, limits)
    return server
