"""The eMRTD conversation over any APDU transport: SELECT, BAC, secure messaging, chunked reads.

:class:`ChipSession` knows ICAO 9303 and nothing of PC/SC; a backend hands it a ``transmit``
function. Every command after authentication goes through secure messaging.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from drivers.idcard import bac
from drivers.idcard.apdu import CommandAPDU, ResponseAPDU
from drivers.idcard.errors import AccessDeniedError, CardError, SecureMessagingError
from drivers.idcard.lds import EMRTD_AID
from drivers.idcard.mrz import AccessKey
from drivers.idcard.sm import SecureMessaging, SMError
from drivers.idcard.tlv import TLVError, header_size

log = logging.getLogger(__name__)

Transmit = Callable[[CommandAPDU], ResponseAPDU]
SHORT_CHUNK = 0xDF  # the largest read whose protected answer still fits a short response
MAX_OFFSET = 0x7FFF
# Status words a chip gives when the authentication cryptogram does not verify.
AUTH_FAILED = {0x6300, 0x6982, 0x6A80, 0x6988}


class ChipSession:
    """One conversation with one chip, from SELECT to the last READ BINARY."""

    def __init__(
        self, transmit: Transmit, chunk: int = SHORT_CHUNK, extended: bool = False
    ) -> None:
        if not 1 <= chunk <= (65536 if extended else 256):
            raise ValueError(
                f"read chunk {chunk} out of range for {'extended' if extended else 'short'} APDUs"
            )
        self._transmit = transmit
        self.chunk = chunk
        self.extended = extended
        self.sm: SecureMessaging | None = None
        self.protocol = "none"
        self.apdus = 0

    def send(self, command: CommandAPDU) -> ResponseAPDU:
        """Send one command, protected once a session is established."""
        self.apdus += 1
        if self.sm is None:
            return self._transmit(command)
        wrapped = self.sm.protect(command)
        answer = self._transmit(wrapped)
        try:
            return self.sm.unprotect(answer)
        except SMError as exc:
            raise SecureMessagingError(
                f"secure messaging broke: {exc}", answer.sw1, answer.sw2
            ) from None

    def check(self, response: ResponseAPDU, what: str) -> bytes:
        if not response.ok:
            raise CardError(f"{what} failed", response.sw1, response.sw2)
        return response.data

    def select_application(self) -> None:
        self.check(
            self.send(CommandAPDU(0x00, 0xA4, 0x04, 0x0C, EMRTD_AID)), "SELECT eMRTD application"
        )

    def authenticate_bac(
        self, key: AccessKey, rnd_ifd: bytes | None = None, k_ifd: bytes | None = None
    ) -> None:
        """Basic Access Control; raises :class:`AccessDeniedError` when the chip rejects the key."""
        keys = bac.BACKeys.from_seed(key.key_seed())
        self.sm = None
        rnd_ic = self.check(self.send(CommandAPDU(0x00, 0x84, 0x00, 0x00, le=8)), "GET CHALLENGE")
        if len(rnd_ic) != 8:
            raise CardError(f"GET CHALLENGE returned {len(rnd_ic)} bytes, expected 8")
        rnd_ifd = rnd_ifd or os.urandom(8)
        k_ifd = k_ifd or os.urandom(16)
        data = bac.reader_authenticate_data(keys, rnd_ic, rnd_ifd, k_ifd)
        answer = self.send(CommandAPDU(0x00, 0x82, 0x00, 0x00, data, le=40))
        if answer.sw in AUTH_FAILED:
            raise AccessDeniedError(answer.sw1, answer.sw2, "BAC")
        self.check(answer, "MUTUAL AUTHENTICATE")
        try:
            k_ic = bac.reader_check_answer(keys, answer.data, rnd_ic, rnd_ifd)
        except bac.BACError as exc:
            raise AccessDeniedError(detail=f"BAC: {exc}") from None
        self.sm = bac.session(k_ifd, k_ic, rnd_ic, rnd_ifd)
        self.protocol = "BAC"
        log.debug("BAC established")

    def select_file(self, fid: int) -> None:
        command = CommandAPDU(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))
        self.check(self.send(command), f"SELECT file {fid:04X}")

    def read_binary(self, offset: int, length: int) -> bytes:
        if not 0 <= offset <= MAX_OFFSET:
            raise CardError(f"offset {offset} beyond what READ BINARY (B0) can address")
        command = CommandAPDU(
            0x00, 0xB0, offset >> 8, offset & 0xFF, le=length, extended=self.extended
        )
        response = self.send(command)
        if response.sw == 0x6282 and response.data:  # end of file reached before Le bytes
            return response.data
        return self.check(response, f"READ BINARY at {offset}")

    def read_file(self, fid: int) -> bytes:
        """Select a file and read it whole: its TLV header first, then chunks of ``self.chunk``."""
        self.select_file(fid)
        head = self.read_binary(0, 4)
        try:
            size, length = header_size(head)
        except TLVError as exc:
            raise CardError(f"file {fid:04X} does not start with a TLV header: {exc}") from None
        total = size + length
        data = bytearray(head[:total])
        while len(data) < total:
            want = min(self.chunk, total - len(data))
            piece = self.read_binary(len(data), want)
            if not piece:
                raise CardError(f"file {fid:04X} ended at {len(data)} of {total} bytes")
            data += piece
        log.debug("read file %04X: %d bytes", fid, total)
        return bytes(data[:total])
