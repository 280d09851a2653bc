"""A simulated ICAO 9303 chip: the card side of the same APDUs, with real BAC and secure messaging.

``SimulatedChip.process(apdu) -> response`` is all a transport needs; the in-process connection
(:mod:`drivers.idcard.sim`) and the vpcd bridge (:mod:`drivers.idcard.vpcd`) both call it.
``pull_after(n)`` makes the card leave the field after n more APDUs, to test removal mid-read.
"""

from __future__ import annotations

import logging
import os
import threading

from drivers.idcard import bac, lds
from drivers.idcard.apdu import CommandAPDU, ResponseAPDU
from drivers.idcard.personalise import PersonalisedDocument
from drivers.idcard.sm import SecureMessaging, SMError

log = logging.getLogger(__name__)


def _atr() -> bytes:
    # Contactless card as a PC/SC part 3 reader shows it: TS T0 TD1 TD2, 8 historical bytes, TCK.
    body = bytes.fromhex("8880010000000077818100")  # T0 TD1 TD2 + historical bytes
    tck = 0
    for byte in body:
        tck ^= byte
    return b"\x3b" + body + bytes([tck])


ATR = _atr()


def sw(value: int, data: bytes = b"") -> ResponseAPDU:
    return ResponseAPDU(data, value >> 8, value & 0xFF)


class CardPulled(Exception):
    """Raised by :meth:`SimulatedChip.process` when the card has left the field."""


class SimulatedChip:
    """One personalised chip. Thread-safe: the vpcd bridge calls it from its own thread."""

    def __init__(self, document: PersonalisedDocument, max_response: int = 65536) -> None:
        self.document = document
        self.key = document.mrz.access_key()
        self.max_response = max_response
        self.atr = ATR
        self._lock = threading.Lock()
        self._pull_after: int | None = None
        self.present = True
        self.log: list[bytes] = []  # every command APDU received, for tests
        self.power_on()

    # --- field and power ---------------------------------------------------------------------

    def power_on(self) -> None:
        self._app_selected = False
        self._rnd_ic: bytes | None = None
        self._sm: SecureMessaging | None = None
        self._current: int | None = None

    def pull_after(self, apdus: int) -> None:
        """The card leaves the field after this many more APDUs."""
        self._pull_after = apdus

    def insert(self) -> None:
        self.present = True
        self._pull_after = None
        self.power_on()

    # --- APDUs -------------------------------------------------------------------------------

    def process(self, raw: bytes) -> bytes:
        with self._lock:
            if not self.present:
                raise CardPulled("no card in the field")
            if self._pull_after is not None:
                if self._pull_after <= 0:
                    self.present = False
                    self.power_on()
                    raise CardPulled("the card left the field")
                self._pull_after -= 1
            self.log.append(bytes(raw))
            return self._process(bytes(raw)).to_bytes()

    def _process(self, raw: bytes) -> ResponseAPDU:
        try:
            command = CommandAPDU.from_bytes(raw)
        except ValueError:
            return sw(0x6700)
        if command.cla & 0x0C == 0x0C:
            if self._sm is None:
                return sw(0x6882)  # secure messaging not supported in this state
            try:
                plain = self._sm.open_command(command)
            except SMError as exc:
                log.debug("simulated chip: bad SM command (%s), session closed", exc)
                self._sm = None
                return sw(0x6988)
            return self._sm.seal_response(self._dispatch(plain, protected=True))
        if self._sm is not None:
            # A plain command ends the secure session, as on a real chip.
            self._sm = None
            self._app_selected = False
            return sw(0x6987)
        return self._dispatch(command, protected=False)

    def _dispatch(self, command: CommandAPDU, protected: bool) -> ResponseAPDU:
        if command.cla & 0xF3 != 0x00:
            return sw(0x6E00)
        if command.ins == 0xA4:
            return self._select(command, protected)
        if command.ins == 0x84:
            return self._get_challenge(command)
        if command.ins == 0x82:
            return self._mutual_authenticate(command)
        if command.ins == 0xB0:
            return self._read_binary(command, protected)
        return sw(0x6D00)

    def _select(self, command: CommandAPDU, protected: bool) -> ResponseAPDU:
        if command.p1 == 0x04:
            if command.data != lds.EMRTD_AID:
                return sw(0x6A82)
            self._app_selected = True
            self._current = None
            return sw(0x9000)
        if command.p1 in (0x00, 0x02) and len(command.data) == 2:
            fid = int.from_bytes(command.data, "big")
            if not self._app_selected:
                return sw(0x6A82)
            if not protected:
                return sw(0x6982)
            if fid not in self.document.files:
                return sw(0x6A82)
            self._current = fid
            return sw(0x9000)
        return sw(0x6A86)

    def _get_challenge(self, command: CommandAPDU) -> ResponseAPDU:
        if command.le != 8:
            return sw(0x6700)
        self._rnd_ic = os.urandom(8)
        return sw(0x9000, self._rnd_ic)

    def _mutual_authenticate(self, command: CommandAPDU) -> ResponseAPDU:
        if not self._app_selected or self._rnd_ic is None:
            return sw(0x6985)
        rnd_ic, self._rnd_ic = self._rnd_ic, None
        keys = bac.BACKeys.from_seed(self.key.key_seed())
        try:
            answer, rnd_ifd, k_ifd, k_ic = bac.chip_answer(keys, command.data, rnd_ic)
        except bac.BACError as exc:
            log.debug("simulated chip: BAC refused (%s)", exc)
            return sw(0x6300)
        self._sm = bac.session(k_ifd, k_ic, rnd_ic, rnd_ifd)
        return sw(0x9000, answer)

    def _read_binary(self, command: CommandAPDU, protected: bool) -> ResponseAPDU:
        if not protected:
            return sw(0x6982)
        if command.p1 & 0x80:
            return sw(0x6A81)  # short EF identifiers are not simulated
        if self._current is None:
            return sw(0x6986)
        contents = self.document.files[self._current]
        offset = (command.p1 << 8) | command.p2
        if offset > len(contents):
            return sw(0x6B00)
        length = min(command.le or 256, self.max_response)
        return sw(0x9000, contents[offset : offset + length])
