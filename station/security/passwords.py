"""Operator passwords: the policy every new password meets, and scrypt hashes.

A hash is stored as ``scrypt$n$r$p$salt$digest`` (base64), so raising the cost later leaves old
hashes readable; they are upgraded at the next successful login. Only a limited number of hashes
are computed at once: each takes ``128 * n * r`` bytes (128 MiB at the default n=2**17, r=8).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import string
import threading
from dataclasses import dataclass

from station.errors import InvalidInputError

MIN_LENGTH = 8
MAX_LENGTH = 256
SPECIALS = set(string.punctuation + " ")
_concurrent_hashes = threading.BoundedSemaphore(2)


@dataclass(frozen=True)
class KdfParams:
    """scrypt cost: OWASP's minimum is n=2**17, r=8, p=1 (about 0.5 s on the station laptop)."""

    n: int = 2**17
    r: int = 8
    p: int = 1

    def check(self) -> None:
        if self.n < 2 or self.n & (self.n - 1):
            raise ValueError(f"scrypt n={self.n} must be a power of two")
        if self.r < 1 or self.p < 1:
            raise ValueError("scrypt r and p must be positive")

    @property
    def memory(self) -> int:
        return 128 * self.n * self.r * self.p


def check_policy(password: str, login: str = "", field: str = "password") -> None:
    """Refuse a password that breaks the policy, saying what is missing."""
    missing = []
    if not any(c.isupper() for c in password):
        missing.append("an upper-case letter")
    if not any(c.islower() for c in password):
        missing.append("a lower-case letter")
    if not any(c.isdigit() for c in password):
        missing.append("a digit")
    if not any(c in SPECIALS or not c.isalnum() for c in password):
        missing.append("a special character such as ! or %")
    if len(password) < MIN_LENGTH:
        missing.insert(0, f"at least {MIN_LENGTH} characters")
    if missing:
        raise InvalidInputError("the password needs " + ", ".join(missing), field=field)
    if len(password) > MAX_LENGTH:
        raise InvalidInputError(f"the password is longer than {MAX_LENGTH} characters", field=field)
    if login and login.lower() in password.lower():
        raise InvalidInputError("the password must not contain the login", field=field)


def _scrypt(password: str, salt: bytes, params: KdfParams) -> bytes:
    with _concurrent_hashes:
        return hashlib.scrypt(
            password.encode(),
            salt=salt,
            n=params.n,
            r=params.r,
            p=params.p,
            maxmem=params.memory + 16 * 1024 * 1024,
            dklen=32,
        )


def hash_password(password: str, params: KdfParams) -> str:
    salt = os.urandom(16)
    digest = _scrypt(password, salt, params)
    b64 = base64.b64encode
    return f"scrypt${params.n}${params.r}${params.p}${b64(salt).decode()}${b64(digest).decode()}"


def _parse(stored: str) -> tuple[KdfParams, bytes, bytes]:
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown password hash scheme {scheme}")
    return KdfParams(int(n), int(r), int(p)), base64.b64decode(salt), base64.b64decode(digest)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``, compared in constant time."""
    if len(password) > MAX_LENGTH:
        return False
    params, salt, digest = _parse(stored)
    return hmac.compare_digest(_scrypt(password, salt, params), digest)


def needs_rehash(stored: str, params: KdfParams) -> bool:
    return _parse(stored)[0] != params


def one_time_password() -> str:
    """A random password that meets the policy, for a new account or a reset (16 characters)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        body = "".join(secrets.choice(alphabet) for _ in range(14))
        candidate = body[:7] + secrets.choice("!%+-=") + secrets.choice(string.digits) + body[7:]
        try:
            check_policy(candidate)
        except InvalidInputError:
            continue
        return candidate
