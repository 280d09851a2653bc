"""Read image files into the pixel layout the matchers take (RGB uint8)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from matcher.errors import MatcherError


def read_rgb(path: Path) -> NDArray[np.uint8]:
    """RGB uint8 pixels of an image file, honouring EXIF orientation."""
    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"), dtype=np.uint8).copy()
    except (OSError, UnidentifiedImageError) as exc:
        raise MatcherError(f"cannot read the image {path}: {exc}") from exc
