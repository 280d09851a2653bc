"""Decode uploaded photos safely: size limits first, then a full decode, then RGB pixels."""

from __future__ import annotations

import io
import warnings

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from station.errors import EmptyImageError, ImageTooLargeError, InvalidImageError

ACCEPTED_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "PPM", "WEBP")


def decode_image(data: bytes, max_pixels: int) -> NDArray[np.uint8]:
    """RGB uint8 pixels of an uploaded photo, or a station error a person can act on."""
    if not data:
        raise EmptyImageError()
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"the photo is {width}x{height} pixels; the station accepts at most "
                    f"{max_pixels:,} pixels: send a smaller photo"
                )
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()
                rgb = ImageOps.exif_transpose(image).convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"the photo is too large to decode safely: {exc}") from exc
    except UnidentifiedImageError:
        raise InvalidImageError(
            "the upload is not a photo the station can read: send a JPEG or PNG file"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidImageError(
            f"the photo is damaged or cut short ({exc}): take or send it again"
        ) from exc
    pixels = np.asarray(rgb, dtype=np.uint8)
    if min(pixels.shape[:2]) < 32:
        raise InvalidImageError(
            f"the photo is only {pixels.shape[1]}x{pixels.shape[0]} pixels: a face needs a larger picture"
        )
    return np.ascontiguousarray(pixels)
