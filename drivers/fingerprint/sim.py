"""A simulated ZFM/R30x module answering on a real pseudo-terminal, and the ``sim://`` backend.

URL: ``sim://?dir=PATH&model=r503&baudrate=115200[&script=101_1,none,101_2][&loop=true]
[&speedup=1][&faults=disconnect,messy][&device_password=0][&device_address=0xFFFFFFFF]
[&packet_size=128]``
plus every ``serial://`` option (``password``, ``address``, ``timeout``, ``check``, ``retries``).

Opening the scanner opens a pty pair (``os.openpty``), starts :class:`SimulatedModule` serving the
master side in a thread, and connects the ordinary :class:`SerialScanner` to the slave tty: the
code that talks to hardware is the code under test.

The module:

- answers at the line speed of its baud rate (10 bits per byte, both directions), divided by
  ``speedup`` (default 1: real time), with modelled processing times for the image commands;
- serves real fingerprints from ``dir`` (files named ``<finger>_<impression>.png`` as in the FVC
  and UPEK sets), centred in the sensor's frame, cropped where larger and padded with the empty
  glass's white where smaller, and sent as 4-bit grey levels like a real sensor;
- follows a script of what is on the glass: a finger name stays on the glass until one image of
  it has been uploaded, then the finger is lifted for one image command; ``none`` is an empty
  glass for one image command, ``none*N`` for N. Without a script every image in ``dir`` in
  turn. ``place()``, ``lift()`` and ``play()`` change it while running;
- or follows a person: :meth:`SimulatedScanner.stand` says whose fingers are at the scanner,
  and each :meth:`~drivers.fingerprint.base.FingerprintScanner.expect` puts the next image of
  the finger asked for on the glass (an empty glass when nobody stands there);
- breaks on demand with :class:`Fault` (bad checksum, silence, garbage, error codes, a
  disconnect in the middle of an upload, a wrong password).
"""

from __future__ import annotations

import logging
import os
import random
import select
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from drivers.errors import DeviceNotFoundError
from drivers.fingerprint.errors import CorruptPacketError, ScannerError
from drivers.fingerprint.models import ModelProfile
from drivers.fingerprint.protocol import (
    BAUD_UNIT,
    PACKET_SIZES,
    Command,
    Confirmation,
    Packet,
    PacketId,
    StreamDecoder,
    SysParam,
    SystemParameters,
    ack,
    baud_multiplier,
    data_packets,
    encode,
    pack_4bit,
    packet_size_code,
)
from drivers.fingerprint.serial_backend import OPTIONS, SerialScanner, _float_option, _u32_option
from drivers.urls import DeviceURL

log = logging.getLogger(__name__)

SIM_OPTIONS = (
    "device_address",
    "device_password",
    "dir",
    "faults",
    "loop",
    "packet_size",
    "recursive",
    "script",
    "speedup",
)
IMAGE_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".bmp", ".pgm", ".jpg", ".jpeg"})
# Modelled processing times. Datasheets give "image acquisition < 1 s" for GenImg and a few
# hundred milliseconds for feature extraction; these are plausible mid values, not measurements.
GEN_IMG_SECONDS = 0.1
EMPTY_GEN_IMG_SECONDS = 0.05
IMG_2TZ_SECONDS = 0.25
BACKGROUND = 255  # an empty optical sensor's glass reads white
TICK = 0.005  # seconds of line time the module writes at once


def sensor_frame(
    pixels: NDArray[np.uint8], width: int, height: int, background: int = BACKGROUND
) -> NDArray[np.uint8]:
    """Place a grey image in a sensor's frame: centred, cropped or padded, never scaled.

    FVC, UPEK and these modules all image at about 500 dpi, so no scaling is needed.
    """
    frame = np.full((height, width), background, dtype=np.uint8)
    src_h, src_w = pixels.shape
    top, left = max(0, (src_h - height) // 2), max(0, (src_w - width) // 2)
    crop = pixels[top : top + height, left : left + width]
    y, x = (height - crop.shape[0]) // 2, (width - crop.shape[1]) // 2
    frame[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
    return frame


class FingerLibrary:
    """Fingerprint images in a folder, named by their path without suffix (``101_1``)."""

    def __init__(self, folder: Path, recursive: bool = True) -> None:
        self.folder = folder
        self.recursive = recursive
        self._names: dict[str, Path] | None = None
        self._frames: dict[tuple[str, int, int], NDArray[np.uint8]] = {}

    def names(self) -> list[str]:
        return sorted(self._index())

    def path(self, name: str) -> Path:
        index = self._index()
        if name in index:
            return index[name]
        candidate = Path(name)
        if candidate.is_file():
            return candidate
        raise DeviceNotFoundError(name, f"no such fingerprint in {self.folder}")

    def frame(self, name: str, profile: ModelProfile) -> NDArray[np.uint8]:
        key = (name, profile.width, profile.height)
        if key not in self._frames:
            path = self.path(name)
            try:
                with Image.open(path) as image:
                    grey = np.asarray(image.convert("L"), dtype=np.uint8)
            except (OSError, UnidentifiedImageError) as exc:
                raise ScannerError(f"simulated scanner cannot read {path}: {exc}") from exc
            self._frames[key] = sensor_frame(grey, profile.width, profile.height)
        return self._frames[key]

    def _index(self) -> dict[str, Path]:
        if self._names is None:
            if not self.folder.is_dir():
                raise DeviceNotFoundError(
                    str(self.folder), "the simulated scanner's folder does not exist"
                )
            pattern = "**/*" if self.recursive else "*"
            names = {
                p.relative_to(self.folder).with_suffix("").as_posix(): p
                for p in self.folder.glob(pattern)
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            }
            if not names:
                raise DeviceNotFoundError(str(self.folder), "the folder holds no fingerprints")
            self._names = names
        return self._names


class FaultKind(Enum):
    BAD_CHECKSUM = "bad_checksum"
    SILENCE = "silence"
    GARBAGE = "garbage"
    ERROR = "error"
    DISCONNECT = "disconnect"


@dataclass
class Fault:
    """One way for the module to misbehave on its next ``times`` matching commands.

    ``command`` None matches any command. ``packet`` is the index of the data packet of an
    upload that is corrupted (bad checksum) or after which the line goes dead (disconnect).
    """

    kind: FaultKind
    command: int | None = None
    code: int = 0
    times: int = 1
    packet: int = 0
    replace: bool = True
    length: int = 48

    @classmethod
    def bad_checksum(
        cls, command: int = Command.UP_IMAGE, packet: int = 3, times: int = 1
    ) -> Fault:
        """Corrupt a data packet of the next upload (or the reply to another command)."""
        return cls(FaultKind.BAD_CHECKSUM, command, times=times, packet=packet)

    @classmethod
    def silence(cls, command: int | None = None, times: int = 1) -> Fault:
        """Do not answer at all."""
        return cls(FaultKind.SILENCE, command, times=times)

    @classmethod
    def garbage(
        cls, command: int | None = None, replace: bool = True, length: int = 48, times: int = 1
    ) -> Fault:
        """Send line noise instead of the reply (``replace``) or before it."""
        return cls(FaultKind.GARBAGE, command, times=times, replace=replace, length=length)

    @classmethod
    def error(cls, code: int, command: int | None = None, times: int = 1) -> Fault:
        """Answer with a failure code: 0x02 to GenImg, 0x06/0x07 to Img2Tz by default."""
        if command is None:
            command = Command.IMG_2TZ if code in (0x04, 0x05, 0x06, 0x07) else Command.GEN_IMG
        return cls(FaultKind.ERROR, command, code=code, times=times)

    @classmethod
    def disconnect(cls, command: int = Command.UP_IMAGE, packet: int = 10) -> Fault:
        """Hang up the line (close the pty) after ``packet`` data packets of an upload."""
        return cls(FaultKind.DISCONNECT, command, packet=packet)

    @classmethod
    def wrong_password(cls) -> Fault:
        """Refuse the next password check, as if the module's password had been changed."""
        return cls(FaultKind.ERROR, Command.VFY_PWD, code=Confirmation.WRONG_PASSWORD)


NAMED_FAULTS: dict[str, Callable[[], Fault]] = {
    "bad_checksum": Fault.bad_checksum,
    "silence": Fault.silence,
    "garbage": Fault.garbage,
    "no_finger": lambda: Fault.error(Confirmation.NO_FINGER),
    "messy": lambda: Fault.error(Confirmation.IMAGE_MESSY),
    "few_features": lambda: Fault.error(Confirmation.TOO_FEW_FEATURES),
    "disconnect": Fault.disconnect,
    "wrong_password": Fault.wrong_password,
}


def parse_faults(text: str) -> list[Fault]:
    faults = []
    for name in filter(None, (part.strip() for part in text.split(","))):
        try:
            faults.append(NAMED_FAULTS[name]())
        except KeyError:
            raise ValueError(
                f"unknown fault {name!r}; valid faults: {', '.join(sorted(NAMED_FAULTS))}"
            ) from None
    return faults


def parse_script(text: str) -> list[str | None]:
    """``101_1,none*3,101_2`` -> ``['101_1', None, None, None, '101_2']``."""
    steps: list[str | None] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = part.partition("*")
        if name.lower() == "none":
            try:
                repeat = int(count or "1")
            except ValueError:
                raise ValueError(f"script step {part!r}: write none*N with N a number") from None
            steps.extend([None] * repeat)
        elif count:
            raise ValueError(f"script step {part!r}: only none may repeat")
        else:
            steps.append(name)
    return steps


class _HungUp(Exception):
    """The module closed the line (disconnect fault) or was told to stop."""


class _Connection:
    """One pty master the module serves, with the thread serving it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.closed = False

    def hang_up(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)


class SimulatedModule:
    """The module's state (sensor script, buffers, settings, faults) and its protocol engine.

    It outlives connections: after a disconnect the scanner opens a new pty and the same module
    goes on, as a module does when its USB cable is plugged back.
    """

    def __init__(
        self,
        profile: ModelProfile,
        library: FingerLibrary,
        *,
        baudrate: int = 57600,
        password: int = 0,
        address: int = 0xFFFFFFFF,
        packet_size: int = 128,
        speedup: float = 1.0,
        script: Iterable[str | None] | None = None,
        loop: bool = True,
        seed: int = 0,
    ) -> None:
        baud_multiplier(baudrate)
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self.profile = profile
        self.library = library
        self.baudrate = baudrate
        self.password = password
        self.address = address
        self.packet_size = packet_size
        self.security_level = 3
        self.speedup = speedup
        self.history: list[int] = []  # command codes received, in order
        self.uploads = 0  # image uploads sent to the end
        self.led: tuple[int, int, int, int] | None = None
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._script: list[str | None] | None = None if script is None else list(script)
        self._loop = loop
        self._queue: deque[str | None] = deque()
        self._started = False
        self._lifted = False
        self._faults: list[Fault] = []
        self._image: NDArray[np.uint8] | None = None
        self._image_name: str | None = None
        self._verified = False
        self._connection: _Connection | None = None

    # --- scripting ------------------------------------------------------------------------------

    def play(self, steps: Iterable[str | None], loop: bool = False) -> None:
        """Replace the script of what is on the glass (``None`` = empty for one image)."""
        with self._lock:
            self._script = list(steps)
            self._loop = loop
            self._queue = deque(self._script)
            self._started = True
            self._lifted = False

    def place(self, finger: str) -> None:
        """Put this finger on the glass now; it stays until one image of it is uploaded."""
        self.library.path(finger)
        with self._lock:
            self._fill()
            self._queue.appendleft(finger)
            self._lifted = False

    def lift(self) -> None:
        """Take the finger now on the glass away."""
        with self._lock:
            self._fill()
            if self._queue and self._queue[0] is not None:
                self._queue.popleft()
            self._lifted = True

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _fill(self) -> None:
        """Start or restart the script when the queue is empty (caller holds the lock)."""
        if not self._started:
            self._started = True
            script = self.library.names() if self._script is None else self._script
            self._queue.extend(script)
        elif not self._queue and self._loop:
            self._queue.extend(self.library.names() if self._script is None else self._script)

    def _on_glass(self) -> str | None:
        """What one image command sees (caller holds the lock)."""
        if self._lifted:
            self._lifted = False
            return None
        self._fill()
        if not self._queue:
            return None
        step = self._queue[0]
        if step is None:
            self._queue.popleft()
        return step

    def _take_fault(self, code: int) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.command is None or fault.command == code:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # --- serving a pty --------------------------------------------------------------------------

    def attach(self, fd: int) -> None:
        """Serve the pty master ``fd`` in a thread until :meth:`detach`."""
        self.detach()
        os.set_blocking(fd, False)
        connection = _Connection(fd)
        self._verified = self.password == 0
        connection.thread = threading.Thread(
            target=self._serve, args=(connection,), name="simulated-fingerprint", daemon=True
        )
        self._connection = connection
        connection.thread.start()

    def detach(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        connection.stop.set()
        if connection.thread is not None:
            connection.thread.join(timeout=5)
        connection.hang_up()

    def _serve(self, connection: _Connection) -> None:
        decoder = StreamDecoder(self.address)
        try:
            while not connection.stop.is_set():
                ready, _, _ = select.select([connection.fd], [], [], 0.05)
                if not ready:
                    continue
                try:
                    data = os.read(connection.fd, 4096)
                except BlockingIOError:
                    continue
                except OSError:
                    return  # the other side went away
                if not data:
                    return
                decoder.feed(data)
                while True:
                    try:
                        packet = decoder.next_packet()
                    except CorruptPacketError:
                        self._send(connection, [ack(Confirmation.PACKET_ERROR, b"", self.address)])
                        continue
                    if packet is None:
                        break
                    self._pause(connection, len(encode(packet)) * 10 / self._line_rate())
                    self._handle(connection, packet)
        except _HungUp:
            return
        except Exception:
            log.exception("simulated fingerprint module crashed")

    def _line_rate(self) -> float:
        return self.baudrate * self.speedup

    def _pause(self, connection: _Connection, seconds: float) -> None:
        if connection.stop.wait(seconds):
            raise _HungUp()

    def _write(self, connection: _Connection, data: bytes) -> None:
        """Write at the line speed: a few milliseconds' worth of bytes at a time.

        It returns as soon as the last byte is handed over (no pause after it), so what the
        module does once a reply is sent (an uploaded finger leaving the glass) is done before
        the other side can close the port and stop this thread."""
        bytes_per_second = self._line_rate() / 10
        chunk = max(8, int(bytes_per_second * TICK))
        started = time.monotonic()
        sent = 0
        while sent < len(data):
            piece = data[sent : sent + chunk]
            while piece:
                if connection.stop.is_set() or connection.closed:
                    raise _HungUp()
                _, writable, _ = select.select([], [connection.fd], [], 0.05)
                if not writable:
                    continue
                try:
                    written = os.write(connection.fd, piece)
                except BlockingIOError:
                    continue
                except OSError:
                    raise _HungUp() from None
                piece = piece[written:]
                sent += written
            delay = started + sent / bytes_per_second - time.monotonic()
            if delay > 0 and sent < len(data):
                self._pause(connection, delay)

    def _send(self, connection: _Connection, packets: list[Packet], corrupt: int = -1) -> None:
        """Send packets back to back at the line speed (packet ``corrupt`` with a bad checksum)."""
        frames = bytearray()
        for index, packet in enumerate(packets):
            frame = bytearray(encode(packet))
            if index == corrupt:
                frame[-1] ^= 0x5A
            frames += frame
        self._write(connection, bytes(frames))

    def _garbage(self, length: int) -> bytes:
        # Noise without the start code's first byte, so it never fakes a packet start.
        return bytes(
            self._random.choice([b for b in range(256) if b != 0xEF]) for _ in range(length)
        )

    # --- the protocol ---------------------------------------------------------------------------

    def _handle(self, connection: _Connection, packet: Packet) -> None:
        if packet.pid != PacketId.COMMAND or not packet.payload:
            self._send(connection, [self._ack(Confirmation.PACKET_ERROR)])
            return
        code, params = packet.payload[0], packet.payload[1:]
        self.history.append(code)
        fault = self._take_fault(code)
        corrupt_reply = False
        if fault is not None:
            log.debug("simulated module: fault %s on command 0x%02X", fault.kind.value, code)
            if fault.kind is FaultKind.SILENCE:
                return
            if fault.kind is FaultKind.GARBAGE:
                self._write(connection, self._garbage(fault.length))
                if fault.replace:
                    return
            if fault.kind is FaultKind.ERROR:
                if code == Command.VFY_PWD:
                    self._verified = False
                self._send(connection, [self._ack(fault.code)])
                return
            if fault.kind is FaultKind.DISCONNECT and code != Command.UP_IMAGE:
                connection.hang_up()
                raise _HungUp()
            corrupt_reply = fault.kind is FaultKind.BAD_CHECKSUM and code != Command.UP_IMAGE
        if code == Command.UP_IMAGE:
            self._upload(connection, fault)
            return
        reply = self._answer(connection, code, params)
        self._send(connection, [reply], corrupt=0 if corrupt_reply else -1)
        if code == Command.SET_SYS_PARA and reply.payload[0] == Confirmation.OK:
            self._apply_setting(params[0], params[1])

    def _ack(self, code: int, data: bytes = b"") -> Packet:
        return ack(code, data, self.address)

    def _answer(self, connection: _Connection, code: int, params: bytes) -> Packet:
        if code == Command.VFY_PWD:
            if len(params) != 4:
                return self._ack(Confirmation.PACKET_ERROR)
            self._verified = int.from_bytes(params, "big") == self.password
            return self._ack(Confirmation.OK if self._verified else Confirmation.WRONG_PASSWORD)
        if not self._verified:
            return self._ack(Confirmation.MUST_VERIFY_PASSWORD)
        if code == Command.READ_SYS_PARA:
            return self._ack(Confirmation.OK, self.parameters().pack())
        if code == Command.GEN_IMG:
            with self._lock:
                finger = self._on_glass()
            if finger is None:
                self._pause(connection, EMPTY_GEN_IMG_SECONDS / self.speedup)
                return self._ack(Confirmation.NO_FINGER)
            self._pause(connection, GEN_IMG_SECONDS / self.speedup)
            self._image = self.library.frame(finger, self.profile)
            self._image_name = finger
            return self._ack(Confirmation.OK)
        if code == Command.IMG_2TZ:
            if len(params) != 1 or params[0] not in (1, 2):
                return self._ack(Confirmation.PACKET_ERROR)
            if self._image is None:
                return self._ack(Confirmation.NO_VALID_IMAGE)
            self._pause(connection, IMG_2TZ_SECONDS / self.speedup)
            return self._ack(Confirmation.OK)
        if code == Command.SET_SYS_PARA:
            return self._ack(self._check_setting(params))
        if code == Command.AURA_LED_CONFIG and self.profile.aura_led and len(params) == 4:
            self.led = (params[0], params[1], params[2], params[3])
            return self._ack(Confirmation.OK)
        return self._ack(Confirmation.PACKET_ERROR)  # what these modules answer to the unknown

    def parameters(self) -> SystemParameters:
        status = (4 if self._verified else 0) | (8 if self._image is not None else 0)
        return SystemParameters(
            status=status,
            system_id=0,
            library_size=self.profile.library_size,
            security_level=self.security_level,
            address=self.address,
            packet_size_code=packet_size_code(self.packet_size),
            baud_multiplier=baud_multiplier(self.baudrate),
        )

    def _check_setting(self, params: bytes) -> int:
        if len(params) != 2:
            return Confirmation.PACKET_ERROR
        number, value = params
        valid = {
            SysParam.BAUD_RATE: range(1, 13),
            SysParam.SECURITY_LEVEL: range(1, 6),
            SysParam.PACKET_SIZE: range(4),
        }
        if number not in valid:
            return Confirmation.INVALID_REGISTER
        if value not in valid[SysParam(number)]:
            return Confirmation.BAD_REGISTER_VALUE
        return Confirmation.OK

    def _apply_setting(self, number: int, value: int) -> None:
        """Settings change after the acknowledgement has gone out at the old speed."""
        if number == SysParam.BAUD_RATE:
            self.baudrate = BAUD_UNIT * value
        elif number == SysParam.SECURITY_LEVEL:
            self.security_level = value
        elif number == SysParam.PACKET_SIZE:
            self.packet_size = PACKET_SIZES[value]

    def _upload(self, connection: _Connection, fault: Fault | None) -> None:
        if not self._verified:
            self._send(connection, [self._ack(Confirmation.MUST_VERIFY_PASSWORD)])
            return
        if self._image is None:
            self._send(connection, [self._ack(Confirmation.UPLOAD_FAILED)])
            return
        self._send(connection, [self._ack(Confirmation.OK)])
        packets = data_packets(pack_4bit(self._image), self.packet_size, self.address)
        corrupt = -1
        if fault is not None and fault.kind is FaultKind.BAD_CHECKSUM:
            corrupt = min(fault.packet, len(packets) - 1)
        if fault is not None and fault.kind is FaultKind.DISCONNECT:
            self._send(connection, packets[: fault.packet])
            log.debug("simulated module: hanging up after %d data packets", fault.packet)
            connection.hang_up()
            raise _HungUp()
        self._send(connection, packets, corrupt=corrupt)
        self.uploads += 1
        with self._lock:
            if self._queue and self._queue[0] == self._image_name:
                self._queue.popleft()
                self._lifted = True


def module_packet_size(size: int) -> int:
    """The data packet size the simulated module starts with (32, 64, 128 or 256 bytes)."""
    packet_size_code(size)  # raises ValueError naming the valid sizes
    return size


class SimulatedScanner(SerialScanner):
    """The serial backend connected through a pty to a :class:`SimulatedModule`."""

    backend = "sim"
    options = OPTIONS + SIM_OPTIONS

    def __init__(self, url: str) -> None:
        super().__init__(url)
        parsed = DeviceURL.parse(url)
        folder = parsed.options.get("dir")
        if not folder:
            raise ValueError("sim:// scanner needs a folder of fingerprint images: sim://?dir=PATH")
        script = parsed.options.get("script")
        settings = self.settings
        self.module = SimulatedModule(
            settings.profile,
            FingerLibrary(Path(folder).expanduser(), parsed.bool_option("recursive", True)),
            baudrate=settings.baudrate,
            password=_u32_option(parsed, "device_password", settings.password),
            address=_u32_option(parsed, "device_address", settings.address),
            packet_size=module_packet_size(parsed.int_option("packet_size", 128, minimum=32)),
            speedup=_float_option(parsed, "speedup", 1.0),
            script=None if script is None else parse_script(script),
            loop=parsed.bool_option("loop", True),
        )
        self.module.inject(*parse_faults(parsed.options.get("faults", "")))
        self._slave_fd: int | None = None
        self._standing = False  # the script decides what is on the glass until stand()
        self._fingers: Mapping[int, Iterator[str | Path]] | None = None

    def stand(self, fingers: Mapping[int, Iterator[str | Path]] | None) -> None:
        """Who stands at the scanner from now on: their fingers by ISO position, each an
        iterator of the images that finger leaves, one per capture (``itertools.cycle`` for a
        person who comes back), or None for nobody. The glass is empty until :meth:`expect`
        names a finger; a finger they do not have, or whose images ran out, leaves it empty."""
        with self._lock:
            self._standing = True
            self._fingers = fingers
            self.module.play([])

    def _expect(self, position: int | None) -> None:
        if not self._standing or position is None:
            return  # the script decides; "any finger" leaves the glass as it is
        with self._lock:
            images = None if self._fingers is None else self._fingers.get(position)
            image = None if images is None else next(images, None)
            if image is None:
                self.module.play([])
                return
            name = str(image)
            self.module.library.path(name)  # a missing image is DeviceNotFoundError now
            self.module.play([name])
            log.debug("simulated scanner: finger %d is %s", position, name)

    def _port_path(self, parsed: DeviceURL) -> str:
        return ""  # known once the pty exists

    def _open(self) -> None:
        self.module.library.names()  # a missing or empty folder is DeviceNotFoundError now
        master, slave = os.openpty()
        try:
            tty.setraw(master)
            self.port_path = os.ttyname(slave)
            self.module.attach(master)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._slave_fd = slave  # held open so the pty lives until close, whatever the port does
        try:
            super()._open()
        except BaseException:
            self._teardown()
            raise

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._teardown()

    def _teardown(self) -> None:
        self.module.detach()
        slave, self._slave_fd = self._slave_fd, None
        if slave is not None:
            os.close(slave)
