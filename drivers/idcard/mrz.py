"""Machine readable zones (ICAO 9303 parts 4-6): TD1, TD2 and TD3 parsing, check digits, access keys.

``MRZ.parse(text)`` accepts the zone as printed (lines separated by newlines, or one run of
characters) and records every check digit; ``MRZ.validate()`` raises on the first bad one. The BAC
key seed comes from :class:`AccessKey`, built from an MRZ or typed in by an operator.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

WEIGHTS = (7, 3, 1)
MRZ_CHARS = re.compile(r"^[0-9A-Z<]*$")
FORMATS = {"TD1": (3, 30), "TD2": (2, 36), "TD3": (2, 44)}


class MRZError(ValueError):
    """The text is not a valid machine readable zone."""


def char_value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if "A" <= char <= "Z":
        return ord(char) - ord("A") + 10
    if char == "<":
        return 0
    raise MRZError(f"{char!r} is not an MRZ character (0-9, A-Z, <)")


def check_digit(value: str) -> str:
    """The ICAO 9303 check digit of ``value`` (weights 7, 3, 1 repeating, modulo 10)."""
    return str(sum(char_value(c) * WEIGHTS[i % 3] for i, c in enumerate(value)) % 10)


def _names(field_text: str) -> tuple[str, str]:
    primary, _, secondary = field_text.partition("<<")
    surname = primary.replace("<", " ").strip()
    given = re.sub(" +", " ", secondary.replace("<", " ")).strip()
    return surname, given


def _date_ok(yymmdd: str) -> bool:
    if not re.fullmatch(r"[0-9]{6}", yymmdd):
        return False
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    return 1 <= month <= 12 and 1 <= day <= 31


@dataclass(frozen=True)
class MRZ:
    """The fields of one machine readable zone, as printed (``<`` fillers removed from names)."""

    format: str
    lines: tuple[str, ...]
    document_code: str
    issuing_state: str
    document_number: str
    birth_date: str  # YYMMDD
    sex: str
    expiry_date: str  # YYMMDD
    nationality: str
    surname: str
    given_names: str
    optional_data: str
    optional_data_2: str = ""
    document_number_check: str = ""
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return all(self.checks.values())

    @property
    def failed_checks(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]

    def validate(self) -> MRZ:
        """Return self, or raise :class:`MRZError` naming every failed check."""
        if not self.valid:
            raise MRZError(f"MRZ check(s) failed: {', '.join(self.failed_checks)}")
        return self

    def access_key(self) -> AccessKey:
        return AccessKey(self.document_number, self.birth_date, self.expiry_date)

    def text(self) -> str:
        return "\n".join(self.lines)

    @classmethod
    def parse(cls, text: str) -> MRZ:
        """Parse TD1 (3x30), TD2 (2x36) or TD3 (2x44); check digits are recorded in ``checks``."""
        cleaned = [line.strip().replace(" ", "").upper() for line in text.strip().splitlines()]
        cleaned = [line for line in cleaned if line]
        if len(cleaned) == 1:
            joined = cleaned[0]
            for count, width in FORMATS.values():
                if len(joined) == count * width:
                    cleaned = [joined[i * width : (i + 1) * width] for i in range(count)]
                    break
        shape = (len(cleaned), len(cleaned[0]) if cleaned else 0)
        name = next((n for n, s in FORMATS.items() if s == shape), None)
        if name is None or any(len(line) != shape[1] for line in cleaned):
            widths = "/".join(str(len(line)) for line in cleaned)
            raise MRZError(
                f"MRZ of {len(cleaned)} line(s) of {widths} characters is none of "
                "TD1 (3x30), TD2 (2x36), TD3 (2x44)"
            )
        for line in cleaned:
            if not MRZ_CHARS.match(line):
                raise MRZError(f"MRZ line {line!r} holds characters other than 0-9, A-Z and <")
        lines = tuple(cleaned)
        if name == "TD1":
            return cls._td1(lines)
        return cls._td23(name, lines)

    @classmethod
    def _td1(cls, lines: tuple[str, ...]) -> MRZ:
        l1, l2, l3 = lines
        number, number_cd, optional = l1[5:14], l1[14], l1[15:30]
        if number_cd == "<" and optional.strip("<"):
            # Long document number: it continues in the optional data, then its check digit.
            tail = optional.split("<", 1)[0]
            number, number_cd = number + tail[:-1], tail[-1]
            optional_rest = optional[len(tail) :]
        else:
            optional_rest = optional
        checks = {
            "document_number": check_digit(number) == number_cd,
            "birth_date": _date_ok(l2[0:6]) and check_digit(l2[0:6]) == l2[6],
            "expiry_date": _date_ok(l2[8:14]) and check_digit(l2[8:14]) == l2[14],
            "composite": check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]) == l2[29],
        }
        surname, given = _names(l3)
        return cls(
            format="TD1",
            lines=lines,
            document_code=l1[0:2].rstrip("<"),
            issuing_state=l1[2:5],
            document_number=number.rstrip("<"),
            document_number_check=number_cd,
            birth_date=l2[0:6],
            sex=l2[7],
            expiry_date=l2[8:14],
            nationality=l2[15:18],
            surname=surname,
            given_names=given,
            optional_data=optional_rest.strip("<"),
            optional_data_2=l2[18:29].strip("<"),
            checks=checks,
        )

    @classmethod
    def _td23(cls, name: str, lines: tuple[str, ...]) -> MRZ:
        l1, l2 = lines
        width = len(l1)
        number, number_cd = l2[0:9], l2[9]
        optional_end = width - 2 if name == "TD3" else width - 1
        optional = l2[28:optional_end]
        if name == "TD2" and number_cd == "<" and optional.strip("<"):
            tail = optional.split("<", 1)[0]
            number, number_cd = number + tail[:-1], tail[-1]
            optional = optional[len(tail) :]
        checks = {
            "document_number": check_digit(number) == number_cd,
            "birth_date": _date_ok(l2[13:19]) and check_digit(l2[13:19]) == l2[19],
            "expiry_date": _date_ok(l2[21:27]) and check_digit(l2[21:27]) == l2[27],
        }
        if name == "TD3":
            personal, personal_cd = l2[28:42], l2[42]
            # An empty personal number may carry '<' or 0 as its check digit.
            checks["personal_number"] = check_digit(personal) == personal_cd or (
                not personal.strip("<") and personal_cd == "<"
            )
            composite_text = l2[0:10] + l2[13:20] + l2[21:43]
        else:
            composite_text = l2[0:10] + l2[13:20] + l2[21:35]
        checks["composite"] = check_digit(composite_text) == l2[-1]
        surname, given = _names(l1[5:])
        return cls(
            format=name,
            lines=lines,
            document_code=l1[0:2].rstrip("<"),
            issuing_state=l1[2:5],
            document_number=number.rstrip("<"),
            document_number_check=number_cd,
            birth_date=l2[13:19],
            sex=l2[20],
            expiry_date=l2[21:27],
            nationality=l2[10:13],
            surname=surname,
            given_names=given,
            optional_data=optional.strip("<"),
            checks=checks,
        )


@dataclass(frozen=True)
class AccessKey:
    """What opens a chip by BAC or PACE: document number, birth date and expiry (YYMMDD)."""

    document_number: str
    birth_date: str
    expiry_date: str

    def __post_init__(self) -> None:
        number = self.document_number.strip().upper()
        if not number or not MRZ_CHARS.match(number):
            raise ValueError(f"document number {self.document_number!r} must be 0-9, A-Z or <")
        for label, value in (("birth date", self.birth_date), ("expiry date", self.expiry_date)):
            if not _date_ok(value):
                raise ValueError(f"{label} {value!r} must be YYMMDD")
        object.__setattr__(self, "document_number", number)

    @classmethod
    def from_mrz(cls, text: str) -> AccessKey:
        return MRZ.parse(text).validate().access_key()

    def mrz_information(self) -> str:
        """Document number (at least 9 characters, '<'-padded) + check digits, ICAO 9303-11 9.7.1."""
        number = self.document_number.ljust(9, "<")
        return (
            number
            + check_digit(number)
            + self.birth_date
            + check_digit(self.birth_date)
            + self.expiry_date
            + check_digit(self.expiry_date)
        )

    def key_seed(self) -> bytes:
        """Kseed: the first 16 bytes of SHA-1 over the MRZ information."""
        return hashlib.sha1(self.mrz_information().encode("ascii")).digest()[:16]

    def password_hash(self) -> bytes:
        """The full SHA-1 over the MRZ information (PACE's password from the MRZ, before the KDF)."""
        return hashlib.sha1(self.mrz_information().encode("ascii")).digest()

    def __repr__(self) -> str:  # never log a full access key
        return f"AccessKey(document_number='{self.document_number[:2]}…', …)"
