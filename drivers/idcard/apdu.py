"""ISO 7816-4 command APDUs with short and extended lengths, and response splitting."""

from __future__ import annotations

from dataclasses import dataclass

SW_OK = 0x9000


@dataclass(frozen=True)
class CommandAPDU:
    """One command. ``le`` is the expected response length (None: no data expected; 256/65536 max)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool = False

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ValueError(f"APDU {name}={value} is not a byte")
        if self.le is not None and not 0 < self.le <= 65536:
            raise ValueError(f"APDU Le={self.le} must be 1..65536")

    @property
    def header(self) -> bytes:
        return bytes([self.cla, self.ins, self.p1, self.p2])

    def needs_extended(self) -> bool:
        return self.extended or len(self.data) > 255 or (self.le is not None and self.le > 256)

    def to_bytes(self) -> bytes:
        out = bytearray(self.header)
        extended = self.needs_extended()
        if self.data:
            if extended:
                out += b"\x00" + len(self.data).to_bytes(2, "big")
            else:
                out.append(len(self.data))
            out += self.data
        if self.le is not None:
            if extended:
                le = self.le & 0xFFFF  # 65536 is written 0000
                out += (b"" if self.data else b"\x00") + le.to_bytes(2, "big")
            else:
                out.append(self.le & 0xFF)  # 256 is written 00
        return bytes(out)

    @classmethod
    def from_bytes(cls, raw: bytes) -> CommandAPDU:
        """Decode cases 1-4, short and extended (the chip side of the conversation)."""
        if len(raw) < 4:
            raise ValueError("APDU shorter than its 4-byte header")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        if body[0] != 0:
            lc = body[0]
            data = body[1 : 1 + lc]
            if len(data) != lc:
                raise ValueError("APDU Lc larger than its data")
            rest = body[1 + lc :]
            if not rest:
                return cls(cla, ins, p1, p2, data)
            if len(rest) == 1:
                return cls(cla, ins, p1, p2, data, le=rest[0] or 256)
            raise ValueError("APDU has bytes after Le")
        # extended
        if len(body) == 3:
            return cls(
                cla, ins, p1, p2, le=int.from_bytes(body[1:3], "big") or 65536, extended=True
            )
        lc = int.from_bytes(body[1:3], "big")
        data = body[3 : 3 + lc]
        if len(data) != lc or lc == 0:
            raise ValueError("extended APDU Lc does not match its data")
        rest = body[3 + lc :]
        if not rest:
            return cls(cla, ins, p1, p2, data, extended=True)
        if len(rest) == 2:
            return cls(
                cla, ins, p1, p2, data, le=int.from_bytes(rest, "big") or 65536, extended=True
            )
        raise ValueError("extended APDU has a malformed Le")


@dataclass(frozen=True)
class ResponseAPDU:
    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseAPDU:
        if len(raw) < 2:
            raise ValueError("response shorter than its status word")
        return cls(bytes(raw[:-2]), raw[-2], raw[-1])

    def to_bytes(self) -> bytes:
        return self.data + bytes([self.sw1, self.sw2])
