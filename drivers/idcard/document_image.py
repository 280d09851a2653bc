"""Pictures of ID cards (TD1) and passport data pages (TD3) with their MRZ printed in OCR-B.

For tests and the camera simulator: ``render_document(mrz_text, portrait)`` draws the document at
its ICAO size (85.6 x 54 mm, or 125 x 88 mm) with the zone at ICAO's pitch (2.54 mm a character),
and :class:`Distortion` makes a camera photo of it (turned, in perspective, blurred, unevenly lit,
JPEG-compressed). ``td1_mrz`` and ``td3_mrz`` write a zone with its check digits from the fields.

The OCR-B font is Debian's ``fonts-ocr-b`` (public domain), installed by ``scripts/bootstrap``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

from drivers.idcard.mrz import MRZ, check_digit

OCRB_FONT = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
SIZES_MM = {"TD1": (85.6, 54.0), "TD3": (125.0, 88.0)}
PITCH_MM = 2.54  # ICAO 9303 part 3: ten characters to the inch
LINE_PITCH_MM = {"TD1": 3.8, "TD3": 4.3}  # baseline to baseline
MRZ_BOTTOM_MM = {"TD1": 2.7, "TD3": 3.2}  # from the last line's baseline to the edge
CHAR_HEIGHT_MM = 2.2  # OCR-B size 1: capitals about 2.0-2.4 mm


@dataclass(frozen=True)
class Distortion:
    """How the camera sees the document. The defaults are a clean, straight, sharp photo."""

    rotation: float = 0.0  # degrees, counter-clockwise; 180 is upside down
    perspective: float = 0.0  # each corner moved up to this fraction of the size
    blur: float = 0.0  # Gaussian sigma in pixels of the output
    uneven_light: float = 0.0  # 0 (even) to about 0.6 (one side much darker, a bright spot)
    noise: float = 0.0  # sensor noise, standard deviation in grey levels
    jpeg_quality: int | None = None  # compress and decode again at this quality
    width: int = 1280  # output photo width in pixels (the document fills about 80%)
    seed: int = 0


#: A document held up to a desk camera by a steady hand under office light: a little turned, in
#: slight perspective, a little soft, unevenly lit, JPEG from the camera.
HANDHELD = Distortion(
    rotation=1.5, perspective=0.015, blur=0.6, uneven_light=0.2, noise=2.0, jpeg_quality=85
)


def td1_mrz(
    document_number: str,
    birth_date: str,
    expiry_date: str,
    surname: str,
    given_names: str,
    *,
    sex: str = "F",
    issuing_state: str = "UTO",
    nationality: str = "UTO",
    document_code: str = "I",
    optional_data: str = "",
    optional_data_2: str = "",
) -> str:
    """A TD1 zone (3 x 30) with its check digits. Names as words ("ANNA MARIA")."""
    number = document_number.ljust(9, "<")
    line1 = document_code.ljust(2, "<") + issuing_state + number + check_digit(number)
    line1 = (line1 + optional_data).ljust(30, "<")[:30]
    line2 = birth_date + check_digit(birth_date) + sex + expiry_date + check_digit(expiry_date)
    line2 = (line2 + nationality + optional_data_2).ljust(29, "<")[:29]
    line2 += check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    line3 = _name_field(surname, given_names, 30)
    return _checked(line1, line2, line3)


def td3_mrz(
    document_number: str,
    birth_date: str,
    expiry_date: str,
    surname: str,
    given_names: str,
    *,
    sex: str = "F",
    issuing_state: str = "UTO",
    nationality: str = "UTO",
    document_code: str = "P",
    personal_number: str = "",
) -> str:
    """A TD3 (passport) zone (2 x 44) with its check digits."""
    line1 = document_code.ljust(2, "<") + issuing_state + _name_field(surname, given_names, 39)
    number = document_number.ljust(9, "<")
    personal = personal_number.ljust(14, "<")
    personal_cd = check_digit(personal) if personal_number else "<"
    line2 = number + check_digit(number) + nationality + birth_date + check_digit(birth_date)
    line2 += sex + expiry_date + check_digit(expiry_date) + personal + personal_cd
    line2 += check_digit(line2[0:10] + line2[13:20] + line2[21:43])
    return _checked(line1, line2)


def _name_field(surname: str, given_names: str, width: int) -> str:
    def words(text: str) -> str:
        return "<".join(text.upper().split())

    return (words(surname) + "<<" + words(given_names)).ljust(width, "<")[:width]


def _checked(*lines: str) -> str:
    text = "\n".join(lines)
    MRZ.parse(text).validate()
    return text


def render_document(
    mrz_text: str,
    portrait: NDArray[np.uint8] | None = None,
    distortion: Distortion | None = None,
    *,
    font_path: Path = OCRB_FONT,
) -> NDArray[np.uint8]:
    """A photo (RGB) of a TD1 card or TD3 data page carrying ``mrz_text`` exactly as given.

    The text is printed as given, so a zone with a wrong check digit can be drawn too.
    """
    lines = [line.strip() for line in mrz_text.strip().splitlines()]
    fmt = "TD1" if len(lines) == 3 else "TD3"
    document = _draw_document(fmt, lines, portrait, font_path)
    return photograph(document, distortion or Distortion())


def _draw_document(
    fmt: str, lines: list[str], portrait: NDArray[np.uint8] | None, font_path: Path
) -> NDArray[np.uint8]:
    from PIL import Image, ImageDraw, ImageFont

    if not font_path.is_file():
        raise FileNotFoundError(
            f"OCR-B font {font_path} is missing: apt-get install fonts-ocr-b (scripts/bootstrap)"
        )
    ppmm = 12.0  # pixels per millimetre of the flat document
    width_mm, height_mm = SIZES_MM[fmt]
    size = (round(width_mm * ppmm), round(height_mm * ppmm))
    card = Image.new("RGB", size, (236, 240, 232))
    draw = ImageDraw.Draw(card)
    # A faint guilloche-like background and a header band.
    for k in range(0, size[0], 9):
        draw.line([(k, 0), (k + size[1] // 3, size[1])], fill=(226, 233, 226), width=1)
    draw.rectangle([0, 0, size[0], round(7 * ppmm)], fill=(60, 92, 140))
    label = ImageFont.load_default(round(2.2 * ppmm))
    small = ImageFont.load_default(round(1.6 * ppmm))
    title = "IDENTITY CARD" if fmt == "TD1" else "PASSPORT"
    draw.text((round(3 * ppmm), round(1.5 * ppmm)), f"UTOPIA  {title}", fill="white", font=label)
    # The portrait on the left, the printed fields beside it.
    photo_box = (round(3 * ppmm), round(9 * ppmm), round(25 * ppmm), round(37 * ppmm))
    if fmt == "TD3":
        photo_box = (round(6 * ppmm), round(12 * ppmm), round(41 * ppmm), round(57 * ppmm))
    if portrait is not None:
        face = Image.fromarray(np.asarray(portrait, np.uint8)).convert("RGB")
        face = face.resize((photo_box[2] - photo_box[0], photo_box[3] - photo_box[1]))
        card.paste(face, photo_box[:2])
    else:
        draw.rectangle(photo_box, fill=(200, 200, 205))
    parsed = _fields_for_print(lines)
    x = photo_box[2] + round(4 * ppmm)
    y = photo_box[1]
    for name, value in parsed:
        draw.text((x, y), name, fill=(90, 90, 110), font=small)
        draw.text((x, y + round(1.9 * ppmm)), value, fill=(20, 20, 30), font=label)
        y += round((4.5 if fmt == "TD1" else 5.5) * ppmm)
    # The zone: OCR-B, one character every 2.54 mm, lines from the bottom up.
    mrz_font = _ocrb(font_path, CHAR_HEIGHT_MM * ppmm)
    pitch, line_pitch = PITCH_MM * ppmm, LINE_PITCH_MM[fmt] * ppmm
    left = (size[0] - pitch * len(lines[0])) / 2
    baseline = size[1] - MRZ_BOTTOM_MM[fmt] * ppmm
    draw.rectangle(
        [0, baseline - line_pitch * len(lines) - 0.5 * ppmm, size[0], size[1]], fill=(246, 247, 242)
    )
    for row, line in enumerate(lines):
        y_base = baseline - line_pitch * (len(lines) - 1 - row)
        for col, char in enumerate(line):
            draw.text(
                (left + col * pitch, y_base), char, fill=(15, 15, 20), font=mrz_font, anchor="ls"
            )
    return np.asarray(card, np.uint8)


def _ocrb(font_path: Path, cap_height_px: float) -> FreeTypeFont:
    """OCR-B at the size whose capitals are ``cap_height_px`` high."""
    from PIL import ImageFont

    probe = ImageFont.truetype(str(font_path), 100)
    cap = -probe.getbbox("H", anchor="ls")[1]
    return ImageFont.truetype(str(font_path), max(6, round(100 * cap_height_px / cap)))


def _fields_for_print(lines: list[str]) -> list[tuple[str, str]]:
    try:
        mrz = MRZ.parse("\n".join(lines))
    except ValueError:
        return []

    def date(yymmdd: str) -> str:
        return f"{yymmdd[4:6]}.{yymmdd[2:4]}.{yymmdd[0:2]}"

    return [
        ("Surname", mrz.surname),
        ("Given names", mrz.given_names),
        ("Document no.", mrz.document_number),
        ("Date of birth", date(mrz.birth_date)),
        ("Sex / Nationality", f"{mrz.sex}  {mrz.nationality}"),
        ("Date of expiry", date(mrz.expiry_date)),
    ]


def photograph(document: NDArray[np.uint8], distortion: Distortion) -> NDArray[np.uint8]:
    """The document as a camera would see it on a table."""
    import cv2
    from PIL import Image

    rng = np.random.default_rng(distortion.seed)
    doc_h, doc_w = document.shape[:2]
    out_w = distortion.width
    out_h = round(out_w * 0.75)
    scale = 0.8 * min(out_w / doc_w, out_h / doc_h)
    w, h = doc_w * scale, doc_h * scale
    cx, cy = out_w / 2, out_h / 2
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    corners += rng.uniform(-1, 1, (4, 2)) * distortion.perspective * np.array([w, h])
    angle = np.deg2rad(distortion.rotation)
    turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    corners = corners @ turn.T + np.array([cx, cy])
    source = np.array([[0, 0], [doc_w, 0], [doc_w, doc_h], [0, doc_h]], np.float32)
    matrix = cv2.getPerspectiveTransform(source, corners.astype(np.float32))
    table = np.empty((out_h, out_w, 3), np.uint8)
    table[:] = (118, 96, 74)  # a wooden table
    table = (table + rng.normal(0, 6, table.shape)).clip(0, 255).astype(np.uint8)
    photo = cv2.warpPerspective(
        document,
        matrix,
        (out_w, out_h),
        dst=table,
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_TRANSPARENT,
    )
    image = photo.astype(np.float32)
    if distortion.uneven_light:
        ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
        direction = rng.uniform(0, 2 * np.pi)
        ramp = np.cos(direction) * (xs / out_w - 0.5) + np.sin(direction) * (ys / out_h - 0.5)
        spot_x, spot_y = rng.uniform(0.2, 0.8) * out_w, rng.uniform(0.2, 0.8) * out_h
        spot = np.exp(-(((xs - spot_x) ** 2 + (ys - spot_y) ** 2) / (2 * (0.25 * out_w) ** 2)))
        light = 1 - distortion.uneven_light * (ramp + 0.5) + 0.35 * distortion.uneven_light * spot
        image *= light[:, :, None]
    if distortion.blur:
        image = np.asarray(cv2.GaussianBlur(image, (0, 0), distortion.blur), np.float32)
    if distortion.noise:
        image = image + np.asarray(rng.normal(0, distortion.noise, image.shape), np.float32)
    result = image.clip(0, 255).astype(np.uint8)
    if distortion.jpeg_quality is not None:
        buffer = io.BytesIO()
        Image.fromarray(result).save(buffer, "JPEG", quality=distortion.jpeg_quality)
        result = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), np.uint8)
    return np.ascontiguousarray(result)
