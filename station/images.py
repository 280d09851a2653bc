"""Decode uploaded images safely: size limits first (from the header, before any pixel is
decoded), then a full decode, then RGB pixels, scaled down when larger than needed."""

from __future__ import annotations

import io
import warnings

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from station.errors import EmptyImageError, ImageTooLargeError, InvalidImageError

ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "PPM", "WEBP")


def decode_image(
    data: bytes,
    max_pixels: int,
    max_side: int | None = None,
    what: str = "photo",
    limit_words: str | None = None,
) -> NDArray[np.uint8]:
    """RGB uint8 pixels of an uploaded image, or a station error a person can act on.

    An image of more than ``max_pixels`` is refused from its header alone (``limit_words`` say
    what the limit means); one longer than ``max_side`` on a side is scaled down to it (JPEGs
    are decoded at a reduced scale straight away, so a 40-megapixel photo costs a fraction).
    """
    if not data:
        raise EmptyImageError()
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"the {what} is {width}x{height} pixels; the station accepts at most "
                    f"{limit_words or f'{max_pixels:,} pixels'}: send a smaller {what}"
                )
            if max_side is not None and max(width, height) > max_side:
                scale = max_side / max(width, height)
                image.draft("RGB", (round(width * scale), round(height * scale)))
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()
                rgb = ImageOps.exif_transpose(image).convert("RGB")
            if max_side is not None and max(rgb.size) > max_side:
                rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"the {what} is too large to decode safely: {exc}") from exc
    except UnidentifiedImageError:
        raise InvalidImageError(
            f"the upload is not an image the station can read: send the {what} as a JPEG or PNG file"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(
            f"the {what} is damaged or cut short ({exc}): take or send it again"
        ) from exc
    pixels = np.asarray(rgb, dtype=np.uint8)
    if min(pixels.shape[:2]) < 32:
        raise InvalidImageError(
            f"the {what} is only {pixels.shape[1]}x{pixels.shape[0]} pixels: too small to use"
        )
    return np.ascontiguousarray(pixels)


def finger_limit_words(max_pixels: int, dpi: float) -> str:
    """The finger image limit in words: pixels at this resolution, and the area it covers."""
    side = (max_pixels**0.5) / 500
    pixels = int(max_pixels * (dpi / 500) ** 2)
    return f"{pixels:,} pixels for a finger at {dpi:g} dpi (about {side:.1f} x {side:.1f} inches)"
