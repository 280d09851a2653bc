"""Languages of the console: Kyrgyz, Russian and English, with catalogs under ``translations/``
(gettext ``.po`` files, compiled at start: nothing to build, never out of date)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, request
from flask_babel import Babel

LANGUAGES = {"ky": "Кыргызча", "ru": "Русский", "en": "English"}
CATALOGS = Path(__file__).parent / "translations"
LANGUAGE_COOKIE = "station_language"


def compile_catalogs(target: Path) -> None:
    """Every ``translations/<lang>/LC_MESSAGES/messages.po`` as ``.mo`` under ``target``."""
    for po in sorted(CATALOGS.glob("*/LC_MESSAGES/messages.po")):
        out = target / po.relative_to(CATALOGS).with_suffix(".mo")
        out.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parts[-3])
        with out.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)


def chosen_language(default: str) -> str:
    """The signed-in operator's language, else the one picked on the sign-in page, else the
    station's default."""
    language = g.get("language") or request.cookies.get(LANGUAGE_COOKIE) or default
    return language if language in LANGUAGES else default


def setup_babel(app: Flask, default: str) -> None:
    compiled = Path(tempfile.mkdtemp(prefix="station-translations-"))
    atexit.register(shutil.rmtree, compiled, True)
    compile_catalogs(compiled)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    app.config["BABEL_DEFAULT_LOCALE"] = default
    Babel(app, locale_selector=lambda: chosen_language(default))
