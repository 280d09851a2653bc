"""The scanner on a serial port (pyserial): what runs on hardware, and under ``sim://`` too.

URL: ``serial:///dev/ttyUSB0?baudrate=57600&model=r307[&password=0][&address=0xFFFFFFFF]
[&timeout=2][&check=true][&retries=2]``.

- ``timeout``: seconds allowed for each reply (and for each gap inside an image transfer);
  the transfer as a whole is limited by its expected duration at the baud rate, plus margin.
- ``check``: after taking an image, ask the module to extract features (Img2Tz) and so judge
  the image (codes 0x06 too messy, 0x07 too few features) before spending seconds uploading it.
  The module's features are thrown away: matching happens on the host.
- ``retries``: how many times an image transfer that arrived corrupted is asked for again
  (the module keeps the image in its buffer, so the finger need not be placed again).

Every read is bounded: pyserial's read timeout is a short slice, and each wait loops on a deadline.
"""

from __future__ import annotations

import logging
import math
import struct
import time
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import serial
from numpy.typing import NDArray

from drivers.errors import DeviceNotFoundError
from drivers.fingerprint.base import FingerprintScanner, ScannerInfo
from drivers.fingerprint.errors import (
    CorruptPacketError,
    ModuleError,
    NoFingerError,
    PoorImageError,
    ScannerDisconnectedError,
    ScannerError,
    ScannerProtocolError,
    ScannerTimeoutError,
    WrongPasswordError,
)
from drivers.fingerprint.models import DEFAULT_MODEL, ModelProfile, model_profile
from drivers.fingerprint.protocol import (
    DEFAULT_ADDRESS,
    DEFAULT_PASSWORD,
    HEADER_SIZE,
    Ack,
    Command,
    Confirmation,
    Packet,
    PacketId,
    StreamDecoder,
    SysParam,
    SystemParameters,
    baud_multiplier,
    command,
    confirmation_message,
    encode,
    packet_size_code,
    parse_ack,
    unpack_4bit,
)
from drivers.urls import DeviceURL

log = logging.getLogger(__name__)

OPTIONS = ("address", "baudrate", "check", "model", "password", "retries", "timeout")
READ_SLICE = 0.02  # seconds: pyserial's read timeout; longer waits loop over a deadline
DRAIN_QUIET = 0.1  # seconds of silence that mean the module has stopped sending
POOR_IMAGE_CODES = frozenset({0x03, 0x04, 0x05, 0x06, 0x07, 0x15})
LED_CONTROL = {"breathing": 1, "flashing": 2, "on": 3, "off": 4, "fade_in": 5, "fade_out": 6}
LED_COLOR = {"red": 1, "blue": 2, "purple": 3}
NOT_RESPONDING = (
    "scanner not responding: check the cable and the power, and that baudrate= and address= "
    "in the scanner URL match the module"
)


@dataclass(frozen=True)
class LinkSettings:
    """The options every serial-protocol scanner URL shares."""

    profile: ModelProfile
    baudrate: int
    password: int
    address: int
    timeout: float
    check: bool
    retries: int

    @classmethod
    def from_url(cls, parsed: DeviceURL) -> LinkSettings:
        profile = model_profile(parsed.options.get("model", DEFAULT_MODEL))
        baudrate = parsed.int_option("baudrate", profile.default_baudrate, minimum=1)
        baud_multiplier(baudrate)  # raises ValueError naming the valid rates
        timeout = _float_option(parsed, "timeout", 2.0)
        return cls(
            profile=profile,
            baudrate=baudrate,
            password=_u32_option(parsed, "password", DEFAULT_PASSWORD),
            address=_u32_option(parsed, "address", DEFAULT_ADDRESS),
            timeout=timeout,
            check=parsed.bool_option("check", True),
            retries=parsed.int_option("retries", 2, minimum=0),
        )


def _u32_option(parsed: DeviceURL, name: str, default: int) -> int:
    raw = parsed.options.get(name)
    if raw is None:
        return default
    try:
        value = int(raw, 0)
    except ValueError:
        raise ValueError(f"option {name}={raw!r} must be a number (0x... for hex)") from None
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"option {name}={raw!r} must fit in 32 bits")
    return value


def _float_option(parsed: DeviceURL, name: str, default: float) -> float:
    raw = parsed.options.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"option {name}={raw!r} must be a number of seconds") from None
    if not 0 < value <= 600:
        raise ValueError(f"option {name}={raw!r} must be between 0 and 600 seconds")
    return value


def wire_seconds(byte_count: int, baudrate: int) -> float:
    """Time to move bytes over an 8N1 line: 10 bits per byte."""
    return byte_count * 10 / baudrate


def image_wire_bytes(profile: ModelProfile, packet_size: int) -> int:
    """Bytes on the wire for one UpImage transfer, packet framing included (not the ack)."""
    packets = math.ceil(profile.image_bytes / packet_size)
    return profile.image_bytes + packets * (HEADER_SIZE + 2)


class Link:
    """Moves packets over an open pyserial port; knows nothing of what they mean."""

    def __init__(self, port: serial.Serial, address: int) -> None:
        self.port = port
        self.decoder = StreamDecoder(address)
        self.bytes_in = 0

    def send(self, packet: Packet) -> None:
        try:
            # No flush(): tcdrain has no timeout; write() already hands every byte to the kernel.
            self.port.write(encode(packet))
        except serial.SerialTimeoutException as exc:
            raise ScannerTimeoutError(NOT_RESPONDING) from exc
        except (serial.SerialException, OSError) as exc:
            raise _disconnected(exc) from exc

    def receive(self, timeout: float) -> Packet:
        """The next packet within ``timeout`` seconds.

        Raises :class:`CorruptPacketError` for a damaged packet, :class:`ScannerProtocolError`
        if only noise arrived, :class:`ScannerTimeoutError` if nothing did.
        """
        deadline = time.monotonic() + timeout
        noise_before = self.decoder.discarded
        while True:
            packet = self.decoder.next_packet()
            if packet is not None:
                return packet
            if time.monotonic() >= deadline:
                noise = self.decoder.discarded - noise_before + self.decoder.pending
                if noise:
                    raise ScannerProtocolError(
                        f"scanner sent {noise} bytes that are not a valid reply: check the cable "
                        "and that baudrate= in the scanner URL matches the module"
                    )
                raise ScannerTimeoutError(NOT_RESPONDING)
            self.decoder.feed(self._read())

    def discard_input(self) -> None:
        try:
            self.port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise _disconnected(exc) from exc
        self.decoder.clear()

    def drain(self, limit: float) -> int:
        """Throw away input until the line has been quiet for a moment (at most ``limit`` s)."""
        deadline = time.monotonic() + limit
        dropped = self.decoder.pending
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            data = self._read()
            now = time.monotonic()
            if data:
                dropped += len(data)
                quiet_since = now
            elif now - quiet_since >= DRAIN_QUIET:
                break
        self.decoder.clear()
        return dropped

    def _read(self) -> bytes:
        try:
            waiting = self.port.in_waiting
            data = bytes(self.port.read(waiting or 1))
        except (serial.SerialException, OSError) as exc:
            raise _disconnected(exc) from exc
        self.bytes_in += len(data)
        return data


def _disconnected(exc: BaseException) -> ScannerDisconnectedError:
    return ScannerDisconnectedError(
        f"scanner disconnected ({exc}): check the USB cable; the next capture reconnects"
    )


class SerialScanner(FingerprintScanner):
    """A ZFM/R30x/AS608 module on a serial port."""

    backend = "serial"
    options: tuple[str, ...] = OPTIONS

    def __init__(self, url: str) -> None:
        parsed = DeviceURL.parse(url)
        parsed.check_options(self.options)
        self.settings = LinkSettings.from_url(parsed)
        super().__init__(url, self.settings.profile)
        self.port_path = self._port_path(parsed)
        self.baudrate = self.settings.baudrate
        self.parameters: SystemParameters | None = None
        self._port: serial.Serial | None = None
        self._link: Link | None = None

    def _port_path(self, parsed: DeviceURL) -> str:
        if not parsed.location:
            raise ValueError(
                "serial:// needs the port: serial:///dev/ttyUSB0?baudrate=57600&model=r307"
            )
        return parsed.location

    # --- public extras: system parameters ---------------------------------------------------------

    def set_baudrate(self, baudrate: int) -> None:
        """Switch module and port to another baud rate (9600 x N, N 1..12)."""
        multiplier = baud_multiplier(baudrate)
        with self._session():
            self._expect_ok(
                self._transact(Command.SET_SYS_PARA, bytes([SysParam.BAUD_RATE, multiplier])),
                "set the baud rate",
            )
            old = self.baudrate
            self._switch_port(baudrate)
            try:
                self.parameters = self._read_parameters()
            except (ScannerTimeoutError, ScannerProtocolError):
                self._switch_port(old)
                self.parameters = self._read_parameters()
                raise ScannerError(
                    f"the scanner kept {old} baud: this module applies a new baud rate only "
                    "after a power cycle; unplug it, plug it back and use the new rate"
                ) from None
            log.info("scanner %s now at %d baud", self.url, baudrate)

    def set_packet_size(self, size: int) -> None:
        """Set the payload size of data packets (32, 64, 128 or 256 bytes)."""
        code = packet_size_code(size)
        with self._session():
            self._expect_ok(
                self._transact(Command.SET_SYS_PARA, bytes([SysParam.PACKET_SIZE, code])),
                "set the packet size",
            )
            self.parameters = self._read_parameters()

    # --- hooks ----------------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            port = serial.Serial(
                self.port_path,
                self.baudrate,
                timeout=READ_SLICE,
                write_timeout=self.settings.timeout,
            )
        except (serial.SerialException, OSError) as exc:
            raise DeviceNotFoundError(
                self.port_path,
                "check that the scanner's USB adapter is plugged in and that this user may "
                f"open serial ports (group dialout) [{exc}]",
            ) from exc
        self._port = port
        self._link = Link(port, self.settings.address)
        try:
            port.reset_input_buffer()
            ack = self._transact(Command.VFY_PWD, struct.pack(">I", self.settings.password))
            if ack.code in (Confirmation.WRONG_PASSWORD, Confirmation.MUST_VERIFY_PASSWORD):
                raise WrongPasswordError()
            self._expect_ok(ack, "verify the password")
            self.parameters = self._read_parameters()
        except BaseException:
            self._close_port()
            raise

    def _close(self) -> None:
        self._close_port()

    def _close_port(self) -> None:
        port, self._port, self._link = self._port, None, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                log.debug("closing %s failed", self.port_path, exc_info=True)

    def _info(self) -> ScannerInfo:
        parameters = self._read_parameters()
        self.parameters = parameters
        profile = self.profile
        return ScannerInfo(
            backend=self.backend,
            url=self.url,
            model=profile.name,
            width=profile.width,
            height=profile.height,
            dpi=profile.dpi,
            baudrate=self.baudrate,
            packet_size=parameters.packet_size,
            library_size=parameters.library_size,
            security_level=parameters.security_level,
            address=parameters.address,
            has_led=profile.aura_led,
            description=f"{profile.name} fingerprint module on {self.port_path}",
        )

    def _take_image(self) -> bool:
        ack = self._transact(Command.GEN_IMG)
        if ack.code == Confirmation.NO_FINGER:
            return False
        self._expect_ok(ack, "take an image")
        return True

    def _check_image(self) -> None:
        if self.settings.check:
            self._expect_ok(self._transact(Command.IMG_2TZ, b"\x01"), "judge the image")

    def _upload_image(self) -> tuple[NDArray[np.uint8], dict[str, Any]]:
        attempts = 1 + self.settings.retries
        started = time.monotonic()
        bytes_before = self._require_link().bytes_in
        for attempt in range(attempts):
            try:
                data = self._receive_image()
                break
            except CorruptPacketError as exc:
                self._require_link().drain(limit=self._transfer_budget())
                if attempt + 1 == attempts:
                    raise ScannerProtocolError(
                        f"the image arrived corrupted {attempts} times ({exc.reason}): check the "
                        "cable, then place the finger again"
                    ) from exc
                log.warning(
                    "scanner %s: image transfer corrupted (%s), asking again", self.url, exc.reason
                )
        pixels = unpack_4bit(data, self.profile.width, self.profile.height)
        link = self._require_link()
        return pixels, {
            "baudrate": self.baudrate,
            "packet_size": self._packet_size(),
            "transfer_seconds": time.monotonic() - started,
            "bytes_received": link.bytes_in - bytes_before,
            "retries": attempt,
        }

    def _set_led(self, mode: str, color: str, speed: int) -> None:
        params = bytes([LED_CONTROL[mode], speed, LED_COLOR[color], 0])
        self._expect_ok(self._transact(Command.AURA_LED_CONFIG, params), "set the LED")

    # --- protocol -------------------------------------------------------------------------------

    def _require_link(self) -> Link:
        if self._link is None:
            raise ScannerError(f"scanner {self.url} is not open")
        return self._link

    def _packet_size(self) -> int:
        size = self.parameters.packet_size if self.parameters else 0
        return size or 128

    def _transfer_budget(self) -> float:
        """The longest a whole image transfer may take: twice its wire time, plus a timeout."""
        wire = wire_seconds(image_wire_bytes(self.profile, self._packet_size()), self.baudrate)
        return 2 * wire + self.settings.timeout

    def _switch_port(self, baudrate: int) -> None:
        port = self._require_link().port
        time.sleep(wire_seconds(64, self.baudrate))  # let the module finish its reply
        port.baudrate = baudrate
        self.baudrate = baudrate
        self._require_link().decoder.clear()

    def _transact(self, code: int, params: bytes = b"", attempts: int = 2) -> Ack:
        """Send a command and return its acknowledgement; resend once after a garbled reply."""
        link = self._require_link()
        for attempt in range(attempts):
            link.discard_input()  # a late reply to an earlier command must not pass for this one
            link.send(command(code, params, self.settings.address))
            try:
                return parse_ack(link.receive(self.settings.timeout))
            except ScannerProtocolError as exc:
                if attempt + 1 == attempts:
                    raise
                log.warning(
                    "scanner %s: garbled reply to command 0x%02X (%s), sending it again",
                    self.url,
                    code,
                    exc,
                )
                link.drain(limit=self._transfer_budget())
        raise AssertionError("unreachable")

    def _read_parameters(self) -> SystemParameters:
        ack = self._transact(Command.READ_SYS_PARA)
        self._expect_ok(ack, "read its parameters")
        return SystemParameters.unpack(ack.data)

    def _receive_image(self) -> bytes:
        link = self._require_link()
        ack = self._transact(Command.UP_IMAGE, attempts=1)
        self._expect_ok(ack, "send the image")
        expected = self.profile.image_bytes
        deadline = time.monotonic() + self._transfer_budget()
        chunks: list[bytes] = []
        received = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ScannerTimeoutError(
                    "the image transfer took too long: check the cable and baudrate=, then "
                    "place the finger again"
                )
            try:
                packet = link.receive(min(self.settings.timeout, remaining))
            except ScannerTimeoutError:
                raise ScannerTimeoutError(
                    f"the scanner stopped sending after {received} of {expected} image bytes: "
                    "check the cable, then place the finger again"
                ) from None
            if packet.pid not in (PacketId.DATA, PacketId.END):
                raise CorruptPacketError(f"packet id 0x{packet.pid:02X} inside an image transfer")
            chunks.append(packet.payload)
            received += len(packet.payload)
            if received > expected:
                break
            if packet.pid == PacketId.END:
                break
        if received != expected:
            link.drain(limit=self._transfer_budget())
            raise ScannerProtocolError(
                f"the scanner sent an image of {received}+ bytes where a {self.profile.name} "
                f"sends {expected}: check model= in the scanner URL"
            )
        return b"".join(chunks)

    def _expect_ok(self, ack: Ack, action: str) -> None:
        if not ack.ok:
            raise_for_code(ack.code, action)


def raise_for_code(code: int, action: str) -> NoReturn:
    """Raise the typed error for a module's failure code."""
    if code == Confirmation.NO_FINGER:
        raise NoFingerError()
    if code in (Confirmation.WRONG_PASSWORD, Confirmation.MUST_VERIFY_PASSWORD):
        raise WrongPasswordError()
    message = confirmation_message(code)
    if code in POOR_IMAGE_CODES:
        raise PoorImageError(code, message)
    raise ModuleError(code, f"the scanner could not {action}: {message}")
