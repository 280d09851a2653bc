"""Parse device URLs (``scheme://path?option=value``) and check their options.

Every driver takes its settings from a URL so a station's configuration is one string per device,
and a simulator is chosen by the same mechanism as real hardware (``sim://`` vs ``serial://``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

Device = TypeVar("Device")


@dataclass(frozen=True)
class DeviceURL:
    """A split device URL: scheme, location (host + path) and single-valued options."""

    scheme: str
    location: str
    options: Mapping[str, str]

    @classmethod
    def parse(cls, url: str) -> DeviceURL:
        parts = urlsplit(url)
        if not parts.scheme:
            raise ValueError(f"device URL {url!r} has no scheme: write it as scheme://...")
        options: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
            if key in options:
                raise ValueError(f"device URL {url!r} repeats option {key!r}")
            options[key] = value
        location = unquote(parts.netloc + parts.path)
        return cls(scheme=parts.scheme.lower(), location=location, options=options)

    def check_options(self, valid: Iterable[str]) -> None:
        """Raise ``ValueError`` naming the valid options when the URL has any other."""
        valid_set = set(valid)
        unknown = sorted(set(self.options) - valid_set)
        if unknown:
            raise ValueError(
                f"unknown option(s) {', '.join(unknown)} for {self.scheme}://; "
                f"valid options: {', '.join(sorted(valid_set)) or 'none'}"
            )

    def bool_option(self, name: str, default: bool) -> bool:
        raw = self.options.get(name)
        if raw is None:
            return default
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"option {name}={raw!r} must be true or false")

    def int_option(self, name: str, default: int, minimum: int | None = None) -> int:
        raw = self.options.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"option {name}={raw!r} must be a whole number") from None
        if minimum is not None and value < minimum:
            raise ValueError(f"option {name}={value} must be at least {minimum}")
        return value


SECRET_OPTIONS = frozenset({"password", "device_password", "key", "token", "secret", "pin"})


def redacted(url: str) -> str:
    """The URL fit to show: no user name or password, no secret-looking option values."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    query = [
        (key, "***" if key.lower() in SECRET_OPTIONS else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    shown = f"{parts.scheme}://{host}{parts.path}"
    return f"{shown}?{urlencode(query, safe='/:,*')}" if query else shown


def unknown_scheme(url: str, schemes: Iterable[str]) -> ValueError:
    """The error for a URL whose scheme no backend serves."""
    listed = ", ".join(f"{scheme}://" for scheme in sorted(schemes))
    return ValueError(f"no backend for device URL {url!r}; valid schemes: {listed}")


def build_for_url(url: str, backends: Mapping[str, Callable[[str], Device]]) -> Device:
    """Build the device a URL names with the backend registered for its scheme."""
    scheme = DeviceURL.parse(url).scheme
    try:
        build = backends[scheme]
    except KeyError:
        raise unknown_scheme(url, backends) from None
    return build(url)
