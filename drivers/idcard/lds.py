"""The logical data structure (ICAO 9303-10): file identifiers, EF.COM, DG1 and DG2.

DG2 holds the face as an ISO/IEC 19794-5 facial record inside a biometric information template;
both directions are here so the simulated chip is personalised with the same code the reader
parses with.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.idcard.mrz import MRZ
from drivers.idcard.tlv import TLVError, iter_tlv, parse_one, tlv

EMRTD_AID = bytes.fromhex("A0000002471001")
EF_CARD_ACCESS = 0x011C
EF_COM = 0x011E
EF_SOD = 0x011D

#: data group number -> (file identifier, outer tag)
DATA_GROUPS: dict[int, tuple[int, int]] = {
    1: (0x0101, 0x61),
    2: (0x0102, 0x75),
    3: (0x0103, 0x63),
    4: (0x0104, 0x76),
    5: (0x0105, 0x65),
    6: (0x0106, 0x66),
    7: (0x0107, 0x67),
    8: (0x0108, 0x68),
    9: (0x0109, 0x69),
    10: (0x010A, 0x6A),
    11: (0x010B, 0x6B),
    12: (0x010C, 0x6C),
    13: (0x010D, 0x6D),
    14: (0x010E, 0x6E),
    15: (0x010F, 0x6F),
    16: (0x0110, 0x70),
}
TAG_TO_DG = {tag: number for number, (_, tag) in DATA_GROUPS.items()}

IMAGE_JPEG = 0
IMAGE_JPEG2000 = 1


class LDSError(ValueError):
    """A file from the chip does not have the structure ICAO 9303-10 gives it."""


def build_com(
    data_groups: list[int], lds_version: str = "0107", unicode_version: str = "040000"
) -> bytes:
    tags = bytes(DATA_GROUPS[n][1] for n in sorted(data_groups))
    body = (
        tlv(0x5F01, lds_version.encode()) + tlv(0x5F36, unicode_version.encode()) + tlv(0x5C, tags)
    )
    return tlv(0x60, body)


def parse_com(raw: bytes) -> list[int]:
    """The data group numbers EF.COM lists."""
    try:
        _, body = parse_one(raw, 0x60)
        tags = next((value for tag, value in iter_tlv(body) if tag == 0x5C), None)
    except TLVError as exc:
        raise LDSError(f"EF.COM is malformed: {exc}") from None
    if tags is None:
        raise LDSError("EF.COM has no tag list (5C)")
    unknown = [t for t in tags if t not in TAG_TO_DG]
    if unknown:
        raise LDSError(f"EF.COM lists unknown tags {bytes(unknown).hex()}")
    return sorted(TAG_TO_DG[t] for t in tags)


def build_dg1(mrz: MRZ) -> bytes:
    return tlv(0x61, tlv(0x5F1F, "".join(mrz.lines).encode("ascii")))


def parse_dg1(raw: bytes) -> MRZ:
    try:
        _, body = parse_one(raw, 0x61)
        _, text = parse_one(body, 0x5F1F)
    except TLVError as exc:
        raise LDSError(f"DG1 is malformed: {exc}") from None
    return MRZ.parse(text.decode("ascii", errors="replace"))


@dataclass(frozen=True)
class FaceImage:
    """The first face of DG2: encoded image bytes and what the facial record says about them."""

    image_bytes: bytes
    image_type: int  # IMAGE_JPEG or IMAGE_JPEG2000
    width: int
    height: int
    gender: int = 0

    @property
    def mime_type(self) -> str:
        return "image/jp2" if self.image_type == IMAGE_JPEG2000 else "image/jpeg"


def build_facial_record(image: bytes, image_type: int, width: int, height: int) -> bytes:
    """An ISO/IEC 19794-5:2005 record with one image and no feature points."""
    facial_info = (
        (20 + 12 + len(image)).to_bytes(4, "big")  # facial record data length
        + (0).to_bytes(2, "big")  # feature points
        + bytes([0, 0, 0])  # gender, eye colour, hair colour unspecified
        + bytes(3)  # feature mask
        + bytes(2)  # expression
        + bytes(3)  # pose angle
        + bytes(3)  # pose angle uncertainty
    )
    image_info = (
        bytes([1, image_type])  # face image type: full frontal; image data type
        + width.to_bytes(2, "big")
        + height.to_bytes(2, "big")
        + bytes([1, 2])  # colour space sRGB; source type: digital still camera
        + bytes(2)  # device type
        + bytes(2)  # quality
    )
    body = facial_info + image_info + image
    header = b"FAC\x00" + b"010\x00" + (14 + len(body)).to_bytes(4, "big") + (1).to_bytes(2, "big")
    return header + body


def build_dg2(image: bytes, image_type: int, width: int, height: int) -> bytes:
    header = (
        tlv(0x80, b"\x01\x01")
        + tlv(0x81, b"\x02")
        + tlv(0x87, b"\x01\x01")
        + tlv(0x88, b"\x00\x08")
    )
    bit = tlv(
        0x7F60,
        tlv(0xA1, header) + tlv(0x5F2E, build_facial_record(image, image_type, width, height)),
    )
    return tlv(0x75, tlv(0x7F61, tlv(0x02, b"\x01") + bit))


def parse_facial_record(record: bytes) -> FaceImage:
    if len(record) < 14 or record[:4] != b"FAC\x00":
        raise LDSError("DG2's biometric data is not an ISO/IEC 19794-5 facial record")
    if int.from_bytes(record[12:14], "big") < 1:
        raise LDSError("DG2's facial record holds no image")
    offset = 14
    if len(record) < offset + 20:
        raise LDSError("DG2's facial record is truncated")
    gender = record[offset + 6]
    points = int.from_bytes(record[offset + 4 : offset + 6], "big")
    block_length = int.from_bytes(record[offset : offset + 4], "big")
    image_info = offset + 20 + 8 * points
    image_start = image_info + 12
    image_end = offset + block_length
    if image_end > len(record) or image_start > image_end:
        raise LDSError("DG2's facial record lengths run past its data")
    return FaceImage(
        image_bytes=record[image_start:image_end],
        image_type=record[image_info + 1],
        width=int.from_bytes(record[image_info + 2 : image_info + 4], "big"),
        height=int.from_bytes(record[image_info + 4 : image_info + 6], "big"),
        gender=gender,
    )


def parse_dg2(raw: bytes) -> FaceImage:
    """The first face image of DG2."""
    try:
        _, body = parse_one(raw, 0x75)
        _, group = parse_one(body, 0x7F61)
        for tag, value in iter_tlv(group):
            if tag != 0x7F60:
                continue
            for inner_tag, inner in iter_tlv(value):
                if inner_tag in (0x5F2E, 0x7F2E):
                    return parse_facial_record(inner)
    except TLVError as exc:
        raise LDSError(f"DG2 is malformed: {exc}") from None
    raise LDSError("DG2 holds no biometric data block (5F2E)")
