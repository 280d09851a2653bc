"""Fingerprint scanners: the ZFM / R30x / AS608 serial optical modules, and their simulator.

>>> with open_scanner("serial:///dev/ttyUSB0?baudrate=57600&model=r307") as scanner:
...     image = scanner.capture(timeout=10)

``sim://?dir=PATH&model=r503`` runs a simulated module on a pseudo-terminal and talks to it with
the same serial backend. The module's own template matching is never used: the station matches
the images on the host.
"""

from drivers.fingerprint.base import FingerprintImage, FingerprintScanner, ScannerInfo
from drivers.fingerprint.errors import (
    CaptureCancelledError,
    CorruptPacketError,
    FingerNotRemovedError,
    ModuleError,
    NoFingerError,
    NotSupportedError,
    PoorImageError,
    ScannerDisconnectedError,
    ScannerError,
    ScannerProtocolError,
    ScannerTimeoutError,
    WrongPasswordError,
)
from drivers.fingerprint.factory import BACKENDS, open_scanner, scanner_for_url
from drivers.fingerprint.models import MODELS, ModelProfile

__all__ = [
    "BACKENDS",
    "MODELS",
    "CaptureCancelledError",
    "CorruptPacketError",
    "FingerNotRemovedError",
    "FingerprintImage",
    "FingerprintScanner",
    "ModelProfile",
    "ModuleError",
    "NoFingerError",
    "NotSupportedError",
    "PoorImageError",
    "ScannerDisconnectedError",
    "ScannerError",
    "ScannerInfo",
    "ScannerProtocolError",
    "ScannerTimeoutError",
    "WrongPasswordError",
    "open_scanner",
    "scanner_for_url",
]
