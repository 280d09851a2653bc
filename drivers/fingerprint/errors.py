"""Fingerprint scanner errors: one class per thing an operator or technician can do about it.

Every error derives from :class:`ScannerError` (itself a :class:`~drivers.errors.DriverError`), has
a stable ``code`` for the API, and a message that says what to do next.
"""

from __future__ import annotations

from drivers.errors import DeviceTimeoutError, DriverError


class ScannerError(DriverError):
    """The fingerprint scanner could not do what was asked."""

    code = "scanner_error"


class ScannerTimeoutError(ScannerError, DeviceTimeoutError):
    """The module did not answer in time: unplugged, unpowered, or wrong baud rate/address."""

    code = "scanner_timeout"


class ScannerDisconnectedError(ScannerError):
    """The serial port went away (USB cable pulled, adapter reset), often mid-transfer."""

    code = "scanner_disconnected"


class ScannerProtocolError(ScannerError):
    """The module's replies were corrupted or made no sense (noise on the line, wrong baud rate)."""

    code = "scanner_protocol_error"


class CorruptPacketError(ScannerProtocolError):
    """One packet failed its checks (checksum, header, address, length)."""

    code = "scanner_corrupt_packet"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"scanner sent a corrupted packet ({reason}): check the cable and the baud rate"
        )


class WrongPasswordError(ScannerError):
    """The module refused the handshake password."""

    code = "scanner_wrong_password"

    def __init__(self) -> None:
        super().__init__(
            "the scanner refused the password: set password= in the scanner URL to the "
            "module's password (factory default 0)"
        )


class ModuleError(ScannerError):
    """The module answered with a confirmation code meaning failure."""

    code = "scanner_module_error"

    def __init__(self, confirmation: int, message: str) -> None:
        self.confirmation = confirmation
        super().__init__(f"{message} (module code 0x{confirmation:02X})")


class NoFingerError(ModuleError):
    """No finger was on the glass within the time allowed."""

    code = "no_finger"

    def __init__(self, waited: float | None = None) -> None:
        when = f" within {waited:.1f} s" if waited is not None else ""
        super().__init__(0x02, f"no finger on the scanner{when}: place the finger again")
        self.waited = waited


class FingerNotRemovedError(ScannerError, DeviceTimeoutError):
    """The finger stayed on the glass when it should have been lifted."""

    code = "finger_not_removed"

    def __init__(self, waited: float) -> None:
        self.waited = waited
        super().__init__(f"the finger is still on the scanner after {waited:.1f} s: lift it")


class PoorImageError(ModuleError):
    """The module judged the image unusable (smudged, too dry or wet, too little of the finger)."""

    code = "poor_fingerprint_image"


class CaptureCancelledError(ScannerError):
    """``cancel()`` was called while waiting for a finger."""

    code = "capture_cancelled"

    def __init__(self) -> None:
        super().__init__("fingerprint capture cancelled")


class NotSupportedError(ScannerError):
    """The model cannot do this (for example LED control on a module without an LED ring)."""

    code = "scanner_not_supported"
