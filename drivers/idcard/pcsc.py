"""The PC/SC backend (pyscard): any reader pcscd knows, contact or contactless.

URL: ``pcsc://`` (the first reader holding a card), ``pcsc://?reader=NAME`` (a reader whose name
is or contains NAME), plus ``csca=DIR``, ``chunk=N``, ``extended=true`` (extended-length reads,
if reader and chip support them) and ``access=auto|pace|bac`` (default auto: PACE when the chip
offers it, else BAC).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from smartcard.Exceptions import (
    CardConnectionException,
    NoCardException,
    SmartcardException,
)
from smartcard.pcsc.PCSCExceptions import BaseSCardException
from smartcard.System import readers as pcsc_readers

from drivers.errors import DriverError
from drivers.idcard.base import CardLink, CardReader, ConnectionLink
from drivers.idcard.errors import CardRemovedError, NoCardError, ReaderNotFoundError
from drivers.idcard.protocol import SHORT_CHUNK
from drivers.urls import DeviceURL

log = logging.getLogger(__name__)
OPTIONS = ("reader", "csca", "chunk", "extended", "access")
POLL_SECONDS = 0.1


class PcscCardReader(CardReader):
    backend = "pcsc"

    def __init__(self, url: str = "pcsc://") -> None:
        parsed = DeviceURL.parse(url)
        parsed.check_options(OPTIONS)
        csca = parsed.options.get("csca")
        super().__init__(
            url,
            csca_dir=Path(csca) if csca else None,
            chunk=parsed.int_option("chunk", SHORT_CHUNK, minimum=1),
            extended=parsed.bool_option("extended", False),
            access=parsed.options.get("access", "auto"),
        )
        self.reader_name = parsed.options.get("reader") or parsed.location or None

    def _all_readers(self) -> list[Any]:
        try:
            return list(pcsc_readers())
        except (BaseSCardException, SmartcardException) as exc:
            raise ReaderNotFoundError(
                "pcsc://", f"the PC/SC service is not running or has no readers ({exc})"
            ) from None

    def _list_readers(self) -> list[str]:
        return [str(r) for r in self._all_readers()]

    def _candidates(self) -> list[Any]:
        found = self._all_readers()
        if self.reader_name is None:
            if not found:
                raise ReaderNotFoundError("pcsc://", "no card reader is connected")
            return found
        exact = [r for r in found if str(r) == self.reader_name]
        chosen = exact or [r for r in found if self.reader_name in str(r)]
        if not chosen:
            names = ", ".join(str(r) for r in found) or "none"
            raise ReaderNotFoundError(self.reader_name, f"readers present: {names}")
        return chosen

    def _connect(self, timeout: float) -> CardLink:
        deadline = time.monotonic() + timeout
        while True:
            candidates = self._candidates()
            for reader in candidates:
                connection = reader.createConnection()
                try:
                    connection.connect()
                except (NoCardException, CardConnectionException) as exc:
                    log.debug("no card in %s: %s", reader, exc)
                    continue
                name = str(reader)

                def map_error(exc: Exception, reader: str = name) -> DriverError | None:
                    return _map(exc, reader)

                return ConnectionLink(connection, name, map_error)
            if time.monotonic() >= deadline:
                raise NoCardError([str(r) for r in candidates], timeout)
            time.sleep(POLL_SECONDS)


def _map(exc: Exception, reader: str) -> DriverError | None:
    if isinstance(exc, CardConnectionException):
        return CardRemovedError(reader, str(exc))
    return None
