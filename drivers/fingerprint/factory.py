"""Choose a fingerprint scanner backend from its URL."""

from __future__ import annotations

from collections.abc import Callable

from drivers.fingerprint.base import FingerprintScanner
from drivers.urls import build_for_url


def _serial(url: str) -> FingerprintScanner:
    from drivers.fingerprint.serial_backend import SerialScanner

    return SerialScanner(url)


def _simulated(url: str) -> FingerprintScanner:
    from drivers.fingerprint.sim import SimulatedScanner

    return SimulatedScanner(url)


BACKENDS: dict[str, Callable[[str], FingerprintScanner]] = {
    "serial": _serial,
    "sim": _simulated,
}


def scanner_for_url(url: str) -> FingerprintScanner:
    """Build the scanner a URL names, not yet open."""
    return build_for_url(url, BACKENDS)


def open_scanner(url: str) -> FingerprintScanner:
    """Build and open the scanner a URL names; close it (or use ``with``) when done."""
    scanner = scanner_for_url(url)
    scanner.open()
    return scanner
