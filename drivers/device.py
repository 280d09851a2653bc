"""What every device shares: it is opened for use and closed after, and ``with device:`` does both."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Device:
    """A device used as a context manager; backends override ``open`` and ``close``."""

    def open(self) -> None:
        """Make the device ready (default: nothing to do)."""

    def close(self) -> None:
        """Release the device (default: nothing to do)."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
