"""The root of every driver error, with a stable code the API can report."""


class DriverError(Exception):
    """A device could not do what was asked. ``code`` is stable; the message is for a person."""

    code = "device_error"


class DeviceNotFoundError(DriverError):
    """The device named by a URL is not there (unplugged, wrong path, empty folder)."""

    code = "device_not_found"

    def __init__(self, identifier: str, hint: str = "") -> None:
        self.identifier = identifier
        message = f"device not found: {identifier}"
        super().__init__(f"{message}: {hint}" if hint else message)


class DeviceTimeoutError(DriverError):
    """The device did not deliver in time."""

    code = "device_timeout"
