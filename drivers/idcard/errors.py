"""Errors of the ID-card reader, all under :class:`drivers.errors.DriverError`.

A caller acts on the subclass: ask for the MRZ again on :class:`AccessDeniedError`, ask the voter to
put the card back on :class:`CardRemovedError`, call a technician on :class:`ReaderNotFoundError`.
"""

from __future__ import annotations

from drivers.errors import DeviceNotFoundError, DeviceTimeoutError, DriverError

ACCESS_DENIED_MESSAGE = "access denied: check the document number, birth date and expiry"


class CardError(DriverError):
    """The chip answered with an error status word (``sw1``/``sw2``), or could not be read."""

    code = "card_error"

    def __init__(self, message: str, sw1: int | None = None, sw2: int | None = None) -> None:
        self.sw1 = sw1
        self.sw2 = sw2
        if sw1 is not None and sw2 is not None:
            message = f"{message} (SW {sw1:02X}{sw2:02X})"
        super().__init__(message)

    @property
    def status_word(self) -> int | None:
        if self.sw1 is None or self.sw2 is None:
            return None
        return (self.sw1 << 8) | self.sw2


class AccessDeniedError(CardError):
    """The chip refused the access key (BAC or PACE authentication failed)."""

    code = "card_access_denied"

    def __init__(self, sw1: int | None = None, sw2: int | None = None, detail: str = "") -> None:
        message = f"{ACCESS_DENIED_MESSAGE} ({detail})" if detail else ACCESS_DENIED_MESSAGE
        super().__init__(message, sw1, sw2)


class SecureMessagingError(CardError):
    """A protected response failed its MAC or was malformed: the session cannot be trusted."""

    code = "card_secure_messaging"


class CardRemovedError(CardError):
    """The card left the reader (or lost power) before the read finished."""

    code = "card_removed"

    def __init__(self, reader: str, detail: str = "") -> None:
        self.reader = reader
        message = f"the card was removed from {reader} during the read: put it back and read again"
        super().__init__(f"{message} ({detail})" if detail else message)


class ReaderNotFoundError(DeviceNotFoundError):
    """No card reader by that name, no PC/SC service, or the reader was unplugged."""

    code = "card_reader_not_found"


class NoCardError(DeviceTimeoutError):
    """No card was put on the reader in time."""

    code = "card_absent"

    def __init__(self, readers: list[str], timeout: float) -> None:
        self.readers = readers
        self.timeout = timeout
        names = ", ".join(readers) or "no reader"
        super().__init__(f"no card on {names} within {timeout:g} s")
