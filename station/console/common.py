"""What the console's pages share: the drafts store, error pages, images sent without caching,
the draft of this request."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from flask import Response, abort, current_app, render_template
from numpy.typing import NDArray
from PIL import Image

from station.console.drafts import Draft, Drafts
from station.console.session import visit


def drafts() -> Drafts:
    found = current_app.extensions["console_drafts"]
    assert isinstance(found, Drafts)
    return found


def owner() -> str:
    """The key drafts are kept under: a digest of this console session's token."""
    return hashlib.sha256(visit().token.encode()).hexdigest()


def draft_of(draft_id: str, kind: str) -> Draft:
    found = drafts().get(draft_id, owner(), kind)
    if found is None:
        abort(404)
    return found


def finished_draft(draft_id: str, kind: str) -> Draft:
    """This session's draft whose job is done (its result pages), else 404."""
    found = draft_of(draft_id, kind)
    if found.result is None:
        abort(404)
    return found


def error_page(message: str, status: int, detail: str | None = None) -> tuple[str, int]:
    return render_template("error.html", message=message, detail=detail, status=status), status


def image_response(data: bytes, media_type: str) -> Response:
    """A picture of a person: for this signed-in page only, never kept by a cache."""
    response = Response(data, mimetype=media_type)
    response.headers["Cache-Control"] = "no-store, private"
    return response


def png_of(pixels: NDArray[Any], side: int = 360) -> bytes:
    image = Image.fromarray(pixels)
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_of(pixels: NDArray[Any], side: int = 480) -> bytes:
    image = Image.fromarray(pixels)
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
