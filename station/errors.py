"""The root of every station error. Each has a stable ``code``; what a code means over HTTP is
the API's business (one table in :mod:`station.api.errors`)."""

from __future__ import annotations


class StationError(Exception):
    """Something the station cannot do as asked; the message says what to do about it."""

    code = "station_error"


class InvalidInputError(StationError):
    """A request field is missing or has a value the station cannot accept."""

    code = "invalid_input"

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class ImageRequiredError(StationError):
    code = "image_required"

    def __init__(self) -> None:
        super().__init__(
            "send a photo in the 'image' field, or ask for a camera capture with capture=true"
        )


class EmptyImageError(StationError):
    code = "empty_image"

    def __init__(self) -> None:
        super().__init__("the uploaded image is empty: choose the photo file again")


class InvalidImageError(StationError):
    code = "invalid_image"


class ImageTooLargeError(StationError):
    code = "image_too_large"


class RecordNotFoundError(StationError):
    code = "record_not_found"

    def __init__(self, record_id: int) -> None:
        self.record_id = record_id
        super().__init__(f"no record with id {record_id}")


class DataDirectoryInUseError(StationError):
    code = "data_directory_in_use"


class CaptureRefusedError(StationError):
    """The camera delivered no frame good enough within the time allowed."""

    code = "capture_refused"

    def __init__(self, reasons: list[str], codes: list[str]) -> None:
        self.reasons = reasons
        self.reason_codes = codes
        super().__init__("the photo was not good enough: " + "; ".join(reasons) + ". Try again")


class NoCameraError(StationError):
    code = "no_camera"

    def __init__(self) -> None:
        super().__init__(
            "this station has no camera configured: set camera_url (for example sim://?dir=PATH) "
            "or upload a photo"
        )


class NoScannerError(StationError):
    code = "no_scanner"

    def __init__(self) -> None:
        super().__init__(
            "this station has no fingerprint scanner configured: set scanner_url (for example "
            "serial:///dev/ttyUSB0?model=r307) or upload the finger images"
        )


class StationBusyError(StationError):
    """Every computing slot stayed taken for ``busy_seconds``: others are being served."""

    code = "station_busy"

    def __init__(self, waited: float) -> None:
        self.retry_after = 5
        super().__init__(
            f"the station is busy with other people's biometrics (waited {waited:.0f} s): try "
            "again in a few seconds"
        )


class NoCardReaderError(StationError):
    code = "no_card_reader"

    def __init__(self) -> None:
        super().__init__(
            "this station has no ID-card reader configured: set card_reader_url (for example "
            "pcsc://), or enroll from the typed document fields"
        )
