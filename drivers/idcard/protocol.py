"""The eMRTD conversation over any APDU transport: SELECT, PACE or BAC, secure messaging, reads.

:class:`ChipSession` knows ICAO 9303 and nothing of PC/SC; a backend hands it a ``transmit``
function. Every command after authentication goes through secure messaging. Files are read with
READ BINARY B0 (offset in P1-P2) up to offset 32767 and with B1 (offset in a 54 data object,
answer in a 53 data object) beyond, so data groups larger than 32 KB read whole.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from drivers.idcard import bac, pace
from drivers.idcard.apdu import CommandAPDU, ResponseAPDU
from drivers.idcard.errors import (
    AccessDeniedError,
    CardError,
    CardRemovedError,
    SecureMessagingError,
)
from drivers.idcard.lds import EF_CARD_ACCESS, EMRTD_AID
from drivers.idcard.mrz import AccessKey
from drivers.idcard.sm import SecureMessaging, SMError
from drivers.idcard.tlv import TLVError, encode_length, header_size, parse_one, tlv

log = logging.getLogger(__name__)

Transmit = Callable[[CommandAPDU], ResponseAPDU]
SHORT_CHUNK = 0xDF  # the largest read whose protected answer still fits a short response
MAX_OFFSET = 0x7FFF
# Status words a chip gives when the authentication cryptogram does not verify.
AUTH_FAILED = {0x6300, 0x6982, 0x6A80, 0x6988}
# Status words of a chip that does not know a command at all.
NOT_SUPPORTED = {0x6D00, 0x6E00}


def _auth_failed(response: ResponseAPDU) -> bool:
    return response.sw in AUTH_FAILED or response.sw & 0xFFF0 == 0x63C0


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
        self.protocol_detail = ""
        self.notes: list[str] = []  # what a technician should know about how access went
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
        if answer.sw in NOT_SUPPORTED:
            raise CardError("the chip does not offer BAC (it needs PACE)", answer.sw1, answer.sw2)
        if _auth_failed(answer):
            raise AccessDeniedError(answer.sw1, answer.sw2, "BAC")
        self.check(answer, "MUTUAL AUTHENTICATE")
        try:
            k_ic = bac.reader_check_answer(keys, answer.data, rnd_ic, rnd_ifd)
        except bac.BACError as exc:
            raise AccessDeniedError(detail=f"BAC: {exc}") from None
        self.sm = bac.session(k_ifd, k_ic, rnd_ic, rnd_ifd)
        self.protocol = "BAC"
        self.protocol_detail = "BAC (3DES secure messaging)"
        log.debug("BAC established")

    def read_card_access(self) -> list[pace.PaceInfo]:
        """The PACEInfos of EF.CardAccess (read in the clear), or [] if the chip has none."""
        self.sm = None
        select = CommandAPDU(0x00, 0xA4, 0x02, 0x0C, EF_CARD_ACCESS.to_bytes(2, "big"))
        if not self.send(select).ok:
            return []
        try:
            raw = self._read_selected(EF_CARD_ACCESS)
            return pace.parse_card_access(raw)
        except CardRemovedError:
            raise
        except (CardError, pace.PaceError) as exc:
            log.info("EF.CardAccess unreadable, PACE not attempted: %s", exc)
            return []

    def _general_authenticate(
        self, tag: int | None, value: bytes, last: bool, answer_tag: int
    ) -> bytes:
        command = CommandAPDU(
            0x00 if last else 0x10, 0x86, 0x00, 0x00, pace.dynamic_data(tag, value), le=256
        )
        response = self.send(command)
        if last and _auth_failed(response):
            raise AccessDeniedError(response.sw1, response.sw2, "PACE")
        self.check(response, f"GENERAL AUTHENTICATE ({answer_tag:02X})")
        try:
            return pace.dynamic_field(response.data, answer_tag)
        except pace.PaceError as exc:
            raise CardError(str(exc)) from None

    def authenticate_pace(
        self,
        key: AccessKey,
        info: pace.PaceInfo,
        password: int = pace.PASSWORD_MRZ,
        scalars: list[int] | None = None,
        ambiguous: bool = False,
    ) -> None:
        """PACE with the MRZ password. A wrong key raises :class:`AccessDeniedError`; any other
        :class:`CardError` means PACE itself did not work (the caller may then try BAC).

        ``ambiguous``: the chip offers several domain parameters for this protocol, so MSE:Set AT
        names the one chosen (84). ``scalars`` fixes the reader's private keys (tests).
        """
        self.sm = None
        reader = pace.ReaderPace(info, key, scalars)
        template = tlv(0x80, pace.encode_oid(info.oid)) + tlv(0x83, bytes([password]))
        if ambiguous and info.parameter_id is not None:
            template += tlv(0x84, bytes([info.parameter_id]))
        self.check(self.send(CommandAPDU(0x00, 0x22, 0xC1, 0xA4, template)), "MSE:Set AT")
        try:
            reader.decrypt_nonce(self._general_authenticate(None, b"", False, 0x80))
            chip_map = self._general_authenticate(0x81, reader.mapping_key(), False, 0x82)
            reader.map(chip_map)
            chip_public = self._general_authenticate(0x83, reader.ephemeral_key(), False, 0x84)
            reader.agree(chip_public)
            chip_token = self._general_authenticate(0x85, reader.reader_token(), True, 0x86)
            self.sm = reader.check_chip_token(chip_token)
        except pace.PaceTokenError as exc:
            raise AccessDeniedError(detail=f"PACE: {exc}") from None
        except pace.PaceError as exc:
            raise CardError(f"PACE failed: {exc}") from None
        self.protocol = "PACE"
        self.protocol_detail = info.describe()
        log.debug("PACE established: %s", self.protocol_detail)

    def select_file(self, fid: int) -> None:
        command = CommandAPDU(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big"))
        self.check(self.send(command), f"SELECT file {fid:04X}")

    def read_binary(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` of the selected file (B0, or B1 past 32767)."""
        if offset < 0:
            raise ValueError("negative offset")
        if offset > MAX_OFFSET:
            return self._read_binary_odd(offset, length)
        command = CommandAPDU(
            0x00, 0xB0, offset >> 8, offset & 0xFF, le=length, extended=self.extended
        )
        response = self.send(command)
        if response.sw == 0x6282 and response.data:  # end of file reached before Le bytes
            return response.data
        return self.check(response, f"READ BINARY at {offset}")

    def _read_binary_odd(self, offset: int, length: int) -> bytes:
        """READ BINARY with odd INS: offset in DO'54', the data comes back inside DO'53'.

        Le counts the 53 object whole, so ask for the data plus its header, within the chunk
        limit (which keeps the protected answer inside a short response).
        """
        limit = 65536 if self.extended else 256
        le = min(length + 1 + len(encode_length(length)), max(self.chunk, 8), limit)
        offset_bytes = offset.to_bytes((offset.bit_length() + 7) // 8, "big")
        command = CommandAPDU(
            0x00, 0xB1, 0x00, 0x00, tlv(0x54, offset_bytes), le=le, extended=self.extended
        )
        response = self.send(command)
        if response.sw in NOT_SUPPORTED or response.sw == 0x6A86:
            raise CardError(
                f"the file is larger than 32 KB and the chip refuses READ BINARY B1 at {offset}",
                response.sw1,
                response.sw2,
            )
        if not (response.sw == 0x6282 and response.data):
            self.check(response, f"READ BINARY (B1) at {offset}")
        try:
            _, data = parse_one(response.data, 0x53)
        except TLVError as exc:
            raise CardError(f"READ BINARY (B1) at {offset}: no 53 data object: {exc}") from None
        return data

    def read_file(self, fid: int) -> bytes:
        """Select a file and read it whole: its TLV header first, then chunks of ``self.chunk``."""
        self.select_file(fid)
        return self._read_selected(fid)

    def _read_selected(self, fid: int) -> bytes:
        head = self.read_binary(0, 4)
        try:
            try:
                size, length = header_size(head)
            except TLVError:
                # A length of 3 or 4 bytes (a file over 64 KB) needs up to 2 more header bytes.
                head += self.read_binary(len(head), 2)
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
