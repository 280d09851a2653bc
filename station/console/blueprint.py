"""The console's blueprint, shared by its page modules."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

HERE = Path(__file__).parent
blueprint = Blueprint(
    "console",
    __name__,
    template_folder=str(HERE / "templates"),
    static_folder=str(HERE / "static"),
    static_url_path="/console/static",
)
