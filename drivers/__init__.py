"""Hardware drivers: one interface per device, backends chosen by URL.

Every driver error derives from :class:`DriverError`, so a caller can catch a whole device family
at once and still act on the specific subclass.
"""

from drivers.errors import DeviceNotFoundError, DeviceTimeoutError, DriverError

__all__ = ["DeviceNotFoundError", "DeviceTimeoutError", "DriverError"]
