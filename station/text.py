"""Text a person typed, checked before it is stored or shown: printable characters only.

Control characters (NUL, escape sequences), invisible format characters (the right-to-left
override U+202E that makes "Ann Lee" print reversed, zero-width spaces), unpaired surrogates,
private-use and unassigned code points and the replacement character U+FFFD (what invalid UTF-8
decodes to) are refused: a name must look on screen and on paper like what is stored. Letters of
any script, marks, digits, spaces and punctuation pass; so do the zero-width joiners some scripts
need between letters.
"""

from __future__ import annotations

import unicodedata

from station.errors import InvalidInputError

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
JOINERS = frozenset({"\u200c", "\u200d"})  # ZWNJ, ZWJ: parts of words in Persian, Indic scripts


def unprintable(value: str) -> str | None:
    """The first character of ``value`` that may not be stored, or None."""
    for char in value:
        if char == "\ufffd" or (
            unicodedata.category(char) in REFUSED_CATEGORIES and char not in JOINERS
        ):
            return char
    return None


def printable(value: str, field: str) -> str:
    """``value`` if every character is printable, else an error naming the field."""
    bad = unprintable(value)
    if bad is not None:
        what = (
            "the replacement character (the text was not valid UTF-8)"
            if bad == "\ufffd"
            else (f"U+{ord(bad):04X} ({unicodedata.name(bad, 'a control character').lower()})")
        )
        raise InvalidInputError(
            f"{field} holds {what}: type it again with letters, digits and punctuation only",
            field=field,
        )
    return value
