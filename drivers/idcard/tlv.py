"""BER-TLV as used by ICAO 9303 files and ISO 7816 data objects: tags of 1-3 bytes, definite lengths.

Plain functions on bytes, so the codec is tested without a chip.
"""

from __future__ import annotations

from collections.abc import Iterator


class TLVError(ValueError):
    """Bytes that are not well-formed BER-TLV."""


def encode_length(length: int) -> bytes:
    if length < 0:
        raise ValueError("negative length")
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode_tag(tag: int) -> bytes:
    return tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")


def tlv(tag: int, value: bytes) -> bytes:
    """Encode one data object."""
    return encode_tag(tag) + encode_length(len(value)) + value


def read_tag(data: bytes, offset: int) -> tuple[int, int]:
    """Return (tag, offset after the tag)."""
    if offset >= len(data):
        raise TLVError("tag expected, data ended")
    first = data[offset]
    tag = first
    offset += 1
    if first & 0x1F == 0x1F:
        while True:
            if offset >= len(data):
                raise TLVError("multi-byte tag runs past the data")
            byte = data[offset]
            tag = (tag << 8) | byte
            offset += 1
            if not byte & 0x80:
                break
    return tag, offset


def read_length(data: bytes, offset: int) -> tuple[int, int]:
    """Return (length, offset after the length)."""
    if offset >= len(data):
        raise TLVError("length expected, data ended")
    first = data[offset]
    offset += 1
    if first < 0x80:
        return first, offset
    count = first & 0x7F
    if count == 0 or count > 4:
        raise TLVError(f"unsupported length form 0x{first:02X}")
    if offset + count > len(data):
        raise TLVError("length runs past the data")
    return int.from_bytes(data[offset : offset + count], "big"), offset + count


def header_size(data: bytes) -> tuple[int, int]:
    """Return (tag+length header size, value length) of the object at the start of ``data``."""
    _, offset = read_tag(data, 0)
    length, offset = read_length(data, offset)
    return offset, length


def iter_tlv(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (tag, value) for each object in ``data``, which must hold whole objects only."""
    offset = 0
    while offset < len(data):
        tag, offset = read_tag(data, offset)
        length, offset = read_length(data, offset)
        end = offset + length
        if end > len(data):
            raise TLVError(
                f"object 0x{tag:X} claims {length} bytes, only {len(data) - offset} left"
            )
        yield tag, data[offset:end]
        offset = end


def parse_one(data: bytes, expected_tag: int | None = None) -> tuple[int, bytes]:
    """Parse the single object at the start of ``data`` (trailing bytes are ignored)."""
    tag, offset = read_tag(data, 0)
    length, offset = read_length(data, offset)
    if offset + length > len(data):
        raise TLVError(f"object 0x{tag:X} claims {length} bytes, only {len(data) - offset} present")
    if expected_tag is not None and tag != expected_tag:
        raise TLVError(f"expected tag 0x{expected_tag:X}, found 0x{tag:X}")
    return tag, data[offset : offset + length]


def find(data: bytes, tag: int) -> bytes | None:
    """The value of the first top-level object with ``tag`` in ``data``, or None."""
    for found, value in iter_tlv(data):
        if found == tag:
            return value
    return None
