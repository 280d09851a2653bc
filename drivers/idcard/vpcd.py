"""Attach a :class:`SimulatedChip` to vsmartcard's vpcd, so pcscd sees it as a card in a reader.

vpcd (the pcscd driver) listens on TCP 127.0.0.1:35963 for reader 0 (35964 for reader 1). The
card connects to it and answers frames of a 2-byte big-endian length and a payload: one byte is a
control code (0 power off, 1 power on, 2 reset, 4 ATR, which wants the ATR back), anything longer
is an APDU, answered with response data and status word. Closing the socket removes the card.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time

from drivers.idcard.chip import CardPulled, SimulatedChip

log = logging.getLogger(__name__)
VPCD_PORT = 35963


class VpcdCard:
    """Runs in a thread; while the chip is present it stays connected, reconnecting as needed."""

    def __init__(
        self,
        chip: SimulatedChip,
        host: str = "127.0.0.1",
        port: int = VPCD_PORT,
        min_absence: float = 0.6,
    ) -> None:
        self.chip = chip
        # pcscd polls vpcd for presence; a card back within one poll would never look removed
        # to pcscd, and its stale card state refuses new connections. A hand is slower anyway.
        self.min_absence = min_absence
        self.host = host
        self.port = port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.connected = threading.Event()

    def start(self) -> VpcdCard:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vpcd-card", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._drop()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> VpcdCard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _drop(self) -> None:
        sock, self._socket = self._socket, None
        self.connected.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.chip.present:
                time.sleep(0.05)
                continue
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1)
            except OSError:
                time.sleep(0.1)  # vpcd not listening yet (pcscd starting)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._socket = sock
            self.connected.set()
            log.debug("simulated card connected to vpcd at %s:%d", self.host, self.port)
            try:
                self._serve(sock)
            except (OSError, ConnectionError) as exc:
                log.debug("vpcd link closed: %s", exc)
            finally:
                self._drop()
            self._stop.wait(self.min_absence)

    def _recv(self, sock: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            piece = sock.recv(size - len(data))
            if not piece:
                raise ConnectionError("vpcd closed the connection")
            data += piece
            # vpcd writes length and payload separately; acknowledge at once so its Nagle
            # buffering never waits out our delayed ACK (40 ms per APDU otherwise).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return data

    def _send(self, sock: socket.socket, payload: bytes) -> None:
        sock.sendall(struct.pack(">H", len(payload)) + payload)

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            (size,) = struct.unpack(">H", self._recv(sock, 2))
            payload = self._recv(sock, size)
            if size == 1:
                code = payload[0]
                if code in (0, 1, 2):
                    self.chip.power_on()
                elif code == 4:
                    self._send(sock, self.chip.atr)
                continue
            try:
                answer = self.chip.process(payload)
            except CardPulled:
                log.debug("simulated card pulled: leaving vpcd")
                return
            self._send(sock, answer)
