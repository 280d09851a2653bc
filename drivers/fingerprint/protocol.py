"""The ZhianTec ZFM / R30x / AS608 serial packet format, on bytes alone (no I/O here).

A packet on the wire::

    EF 01 | address (4) | packet id (1) | length (2) | payload (length - 2) | checksum (2)

All numbers are big-endian. ``length`` counts the payload plus the 2 checksum bytes. The checksum
is the low 16 bits of the sum of the packet id byte, both length bytes and every payload byte;
it does *not* cover the start code or the address, so a decoder must check those itself.

The host sends command packets (id 0x01: instruction code + parameters); the module answers with
one acknowledge packet (id 0x07: confirmation code + results), and for transfers such as UpImage
follows it with data packets (0x02) ended by an end-of-data packet (0x08). Images travel as 4-bit
grey levels, two pixels per byte, the left pixel in the high nibble, rows from the top.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from drivers.fingerprint.errors import CorruptPacketError

START_CODE = b"\xef\x01"
DEFAULT_ADDRESS = 0xFFFFFFFF
DEFAULT_PASSWORD = 0x00000000
HEADER_SIZE = 9  # start code, address, packet id, length
MAX_PAYLOAD = 256  # the largest data packet a module sends (packet size code 3)
PACKET_SIZES = (32, 64, 128, 256)  # data packet payload sizes by code 0..3
BAUD_UNIT = 9600  # the module's baud rate is N x 9600, N in 1..12


class PacketId(IntEnum):
    COMMAND = 0x01
    DATA = 0x02
    ACK = 0x07
    END = 0x08


VALID_PIDS = frozenset(int(pid) for pid in PacketId)


class Command(IntEnum):
    """Instruction codes this driver uses (the module knows more, for its own templates)."""

    GEN_IMG = 0x01  # take an image of the finger into the image buffer
    IMG_2TZ = 0x02  # extract features from the image buffer (used only as a quality check)
    UP_IMAGE = 0x0A  # send the image buffer to the host
    SET_SYS_PARA = 0x0E  # set one system parameter (baud rate, security level, packet size)
    READ_SYS_PARA = 0x0F  # read the 16-byte system parameter block
    VFY_PWD = 0x13  # verify the handshake password
    AURA_LED_CONFIG = 0x35  # LED ring (R502/R503 and later)


class SysParam(IntEnum):
    """Parameter numbers for SetSysPara."""

    BAUD_RATE = 4  # N, baud = 9600 * N
    SECURITY_LEVEL = 5  # 1..5
    PACKET_SIZE = 6  # code 0..3 for 32/64/128/256 bytes


class Confirmation(IntEnum):
    OK = 0x00
    PACKET_ERROR = 0x01
    NO_FINGER = 0x02
    IMAGE_FAILED = 0x03
    IMAGE_TOO_DRY = 0x04
    IMAGE_TOO_WET = 0x05
    IMAGE_MESSY = 0x06
    TOO_FEW_FEATURES = 0x07
    UPLOAD_FAILED = 0x0F
    WRONG_PASSWORD = 0x13
    NO_VALID_IMAGE = 0x15
    FLASH_ERROR = 0x18
    INVALID_REGISTER = 0x1A
    BAD_REGISTER_VALUE = 0x1B
    MUST_VERIFY_PASSWORD = 0x21


CONFIRMATION_MESSAGES: dict[int, str] = {
    0x01: "the scanner received a garbled command: check the cable",
    0x02: "no finger on the scanner: place the finger again",
    0x03: "the scanner could not take the image: place the finger again",
    0x04: "the image is too faint (dry finger): moisten the finger slightly and place it again",
    0x05: "the image is too dark (wet finger): dry the finger and place it again",
    0x06: "the image is too messy: clean the glass and the finger, then place the finger again",
    0x07: "too few features in the image: press the finger flat and place it again",
    0x0F: "the scanner could not send the image: place the finger again",
    0x13: "the scanner refused the password",
    0x15: "the scanner has no valid image: place the finger again",
    0x18: "the scanner's flash memory failed: replace the scanner",
    0x1A: "the scanner does not have that setting",
    0x1B: "the scanner rejected the setting's value",
    0x21: "the scanner wants its password verified first",
}


def confirmation_message(code: int) -> str:
    return CONFIRMATION_MESSAGES.get(code, f"the scanner reported error 0x{code:02X}")


@dataclass(frozen=True)
class Packet:
    pid: int
    payload: bytes
    address: int = DEFAULT_ADDRESS


def checksum(pid: int, payload: bytes) -> int:
    """The 16-bit sum over packet id, the two length bytes and the payload."""
    length = len(payload) + 2
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def encode(packet: Packet) -> bytes:
    if packet.pid not in VALID_PIDS:
        raise ValueError(f"unknown packet id 0x{packet.pid:02X}")
    if len(packet.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(packet.payload)} bytes exceeds {MAX_PAYLOAD}")
    if not 0 <= packet.address <= 0xFFFFFFFF:
        raise ValueError(f"address {packet.address} does not fit in 32 bits")
    header = START_CODE + struct.pack(">IBH", packet.address, packet.pid, len(packet.payload) + 2)
    return header + packet.payload + struct.pack(">H", checksum(packet.pid, packet.payload))


def decode(data: bytes, address: int | None = None) -> Packet:
    """Decode exactly one packet; raise :class:`CorruptPacketError` on any inconsistency.

    Give ``address`` to check it too: the checksum does not cover the address.
    """
    if len(data) < HEADER_SIZE + 2:
        raise CorruptPacketError(f"{len(data)} bytes is shorter than any packet")
    if data[:2] != START_CODE:
        raise CorruptPacketError(f"bad start code {data[:2].hex()}")
    found_address, pid, length = struct.unpack(">IBH", data[2:HEADER_SIZE])
    if address is not None and found_address != address:
        raise CorruptPacketError(f"address 0x{found_address:08X}, expected 0x{address:08X}")
    if pid not in VALID_PIDS:
        raise CorruptPacketError(f"unknown packet id 0x{pid:02X}")
    if length < 2 or length > MAX_PAYLOAD + 2:
        raise CorruptPacketError(f"impossible length {length}")
    if len(data) != HEADER_SIZE + length:
        raise CorruptPacketError(f"length field says {length}, packet has {len(data) - 9}")
    payload = bytes(data[HEADER_SIZE:-2])
    (found_sum,) = struct.unpack(">H", data[-2:])
    expected = checksum(pid, payload)
    if found_sum != expected:
        raise CorruptPacketError(f"checksum 0x{found_sum:04X}, expected 0x{expected:04X}")
    return Packet(pid=pid, payload=payload, address=found_address)


class StreamDecoder:
    """Cut packets out of a byte stream, skipping line noise between them.

    Bytes that cannot start a packet are dropped and counted in ``discarded``. A packet whose
    frame is complete but fails its checks raises :class:`CorruptPacketError`; its bytes are
    consumed, so decoding can go on with what follows.
    """

    def __init__(self, address: int | None = None) -> None:
        self.address = address
        self.discarded = 0
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer.extend(data)

    def clear(self) -> None:
        self.discarded += len(self._buffer)
        self._buffer.clear()

    def next_packet(self) -> Packet | None:
        buffer = self._buffer
        while True:
            start = buffer.find(START_CODE)
            if start < 0:
                keep = 1 if buffer[-1:] == START_CODE[:1] else 0
                self._drop(len(buffer) - keep)
                return None
            self._drop(start)
            if len(buffer) < HEADER_SIZE:
                return None
            found_address, pid, length = struct.unpack(">IBH", buffer[2:HEADER_SIZE])
            if (
                pid not in VALID_PIDS
                or not 2 <= length <= MAX_PAYLOAD + 2
                or (self.address is not None and found_address != self.address)
            ):
                self._drop(1)  # not a packet start after all: resynchronise
                continue
            end = HEADER_SIZE + length
            if len(buffer) < end:
                return None
            frame = bytes(buffer[:end])
            del buffer[:end]
            return decode(frame, self.address)

    def _drop(self, count: int) -> None:
        if count > 0:
            self.discarded += count
            del self._buffer[:count]


# --- commands and acknowledgements -------------------------------------------------------------


def command(code: int, params: bytes = b"", address: int = DEFAULT_ADDRESS) -> Packet:
    return Packet(PacketId.COMMAND, bytes([code]) + params, address)


@dataclass(frozen=True)
class Ack:
    """An acknowledge packet: the confirmation code and whatever results follow it."""

    code: int
    data: bytes

    @property
    def ok(self) -> bool:
        return self.code == Confirmation.OK


def parse_ack(packet: Packet) -> Ack:
    if packet.pid != PacketId.ACK:
        raise CorruptPacketError(f"expected an acknowledgement, got packet id 0x{packet.pid:02X}")
    if not packet.payload:
        raise CorruptPacketError("acknowledgement without a confirmation code")
    return Ack(code=packet.payload[0], data=packet.payload[1:])


def ack(code: int, data: bytes = b"", address: int = DEFAULT_ADDRESS) -> Packet:
    return Packet(PacketId.ACK, bytes([code]) + data, address)


@dataclass(frozen=True)
class SystemParameters:
    """The 16-byte block ReadSysPara returns."""

    status: int
    system_id: int
    library_size: int
    security_level: int
    address: int
    packet_size_code: int
    baud_multiplier: int

    FORMAT = ">HHHHIHH"

    @property
    def packet_size(self) -> int:
        return PACKET_SIZES[self.packet_size_code] if self.packet_size_code < 4 else 0

    @property
    def baudrate(self) -> int:
        return BAUD_UNIT * self.baud_multiplier

    def pack(self) -> bytes:
        return struct.pack(
            self.FORMAT,
            self.status,
            self.system_id,
            self.library_size,
            self.security_level,
            self.address,
            self.packet_size_code,
            self.baud_multiplier,
        )

    @classmethod
    def unpack(cls, data: bytes) -> SystemParameters:
        if len(data) != 16:
            raise CorruptPacketError(f"system parameters of {len(data)} bytes, expected 16")
        return cls(*struct.unpack(cls.FORMAT, data))


def packet_size_code(size: int) -> int:
    try:
        return PACKET_SIZES.index(size)
    except ValueError:
        raise ValueError(f"packet size {size} must be one of {PACKET_SIZES}") from None


def baud_multiplier(baudrate: int) -> int:
    multiplier, rest = divmod(baudrate, BAUD_UNIT)
    if rest or not 1 <= multiplier <= 12:
        raise ValueError(f"baud rate {baudrate} must be 9600 x N with N from 1 to 12")
    return multiplier


def data_packets(data: bytes, packet_size: int, address: int = DEFAULT_ADDRESS) -> list[Packet]:
    """Split a transfer into data packets of ``packet_size`` bytes, the last one end-of-data."""
    if packet_size not in PACKET_SIZES:
        raise ValueError(f"packet size {packet_size} must be one of {PACKET_SIZES}")
    chunks = [data[i : i + packet_size] for i in range(0, len(data), packet_size)] or [b""]
    packets = [Packet(PacketId.DATA, chunk, address) for chunk in chunks[:-1]]
    packets.append(Packet(PacketId.END, chunks[-1], address))
    return packets


# --- 4-bit images ------------------------------------------------------------------------------


def quantise_4bit(pixels: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """What a sensor that keeps 16 grey levels delivers: the top 4 bits, scaled back to 0..255."""
    return ((pixels >> 4) * 17).astype(np.uint8)


def pack_4bit(pixels: NDArray[np.uint8]) -> bytes:
    """Two pixels per byte, left pixel in the high nibble; the image's width must be even."""
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] % 2:
        raise ValueError(f"expected a uint8 image of even width, got {pixels.dtype} {pixels.shape}")
    nibbles = pixels >> 4
    return ((nibbles[:, 0::2] << 4) | nibbles[:, 1::2]).astype(np.uint8).tobytes()


def unpack_4bit(data: bytes, width: int, height: int) -> NDArray[np.uint8]:
    """Expand 4-bit pixels to 8 bits (0..15 -> 0..255 by x17) as a height x width image."""
    if len(data) * 2 != width * height:
        raise ValueError(f"{len(data)} bytes cannot hold a {width}x{height} 4-bit image")
    packed = np.frombuffer(data, dtype=np.uint8)
    pixels = np.empty(packed.size * 2, dtype=np.uint8)
    pixels[0::2] = packed >> 4
    pixels[1::2] = packed & 0x0F
    pixels *= 17
    return pixels.reshape(height, width)
