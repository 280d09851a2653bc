"""Pages made for paper: a QR code of a number (no personal data, no biometric data on paper)."""

from __future__ import annotations

import segno
from markupsafe import Markup


def qr_svg(text: str) -> Markup:
    """An inline SVG QR code of ``text`` (an application or record number)."""
    code = segno.make(text, error="m")
    svg = code.svg_inline(scale=4, dark="#000", light="#fff", omitsize=False)
    return Markup(svg)
