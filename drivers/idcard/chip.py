"""A simulated ICAO 9303 chip: the card side of the same APDUs, with real BAC, PACE and secure
messaging.

``SimulatedChip.process(apdu) -> response`` is all a transport needs; the in-process connection
(:mod:`drivers.idcard.sim`) and the vpcd bridge (:mod:`drivers.idcard.vpcd`) both call it.
``pull_after(n)`` makes the card leave the field after n more APDUs, to test removal mid-read.

The chip offers PACE when its document has an EF.CardAccess (``personalise(pace=[...])``), and
BAC unless ``bac=False`` (a PACE-only chip). READ BINARY B1 (offsets past 32767) is answered
unless ``odd_read=False`` (an old chip limited to 32 KB files).
"""

from __future__ import annotations

import logging
import os
import threading

from drivers.idcard import bac, lds, pace
from drivers.idcard.apdu import CommandAPDU, ResponseAPDU
from drivers.idcard.personalise import PersonalisedDocument
from drivers.idcard.sm import SecureMessaging, SMError
from drivers.idcard.tlv import TLVError, encode_length, iter_tlv, parse_one, tlv

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

    def __init__(
        self,
        document: PersonalisedDocument,
        max_response: int = 65536,
        bac: bool = True,
        odd_read: bool = True,
        pace_fixed: tuple[bytes, list[int]] | None = None,
    ) -> None:
        self.document = document
        self.key = document.mrz.access_key()
        self.max_response = max_response
        self.bac = bac
        self.odd_read = odd_read
        # (nonce, [mapping key, ephemeral key]): PACE's random choices fixed, for worked examples.
        self.pace_fixed = pace_fixed
        raw_access = document.files.get(lds.EF_CARD_ACCESS)
        self.pace_infos = pace.parse_card_access(raw_access) if raw_access else []
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
        self._pace_info: pace.PaceInfo | None = None
        self._pace: pace.ChipPace | None = None

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
            answer = self._dispatch(plain, protected=True)
            return self._sm.seal_response(answer, odd_ins=bool(plain.ins & 1))
        if self._sm is not None:
            # A plain command ends the secure session, as on a real chip.
            self._sm = None
            self._app_selected = False
            return sw(0x6987)
        return self._dispatch(command, protected=False)

    def _dispatch(self, command: CommandAPDU, protected: bool) -> ResponseAPDU:
        if command.cla & 0xE3 != 0x00 or (command.cla & 0x10 and command.ins != 0x86):
            return sw(0x6E00)  # only GENERAL AUTHENTICATE is chained (CLA 10)
        if command.ins == 0xA4:
            return self._select(command, protected)
        if command.ins == 0x84:
            return self._get_challenge(command)
        if command.ins == 0x82 and self.bac:
            return self._mutual_authenticate(command)
        if command.ins == 0x22 and self.pace_infos and not protected:
            return self._mse_set_at(command)
        if command.ins == 0x86 and self.pace_infos and not protected:
            return self._general_authenticate(command)
        if command.ins == 0xB0:
            return self._read_binary(command, protected)
        if command.ins == 0xB1 and self.odd_read:
            return self._read_binary_odd(command, protected)
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
                # The master file holds EF.CardAccess, readable by anyone.
                if fid != lds.EF_CARD_ACCESS or fid not in self.document.files:
                    return sw(0x6A82)
                self._current = fid
                return sw(0x9000)
            if fid == lds.EF_CARD_ACCESS:
                return sw(0x6A82)  # not in the eMRTD application
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

    # --- PACE --------------------------------------------------------------------------------

    def _mse_set_at(self, command: CommandAPDU) -> ResponseAPDU:
        if (command.p1, command.p2) != (0xC1, 0xA4):
            return sw(0x6A86)
        try:
            fields = dict(iter_tlv(command.data))
            oid = pace.decode_oid(fields[0x80])
        except (TLVError, KeyError, ValueError):
            return sw(0x6A80)
        if fields.get(0x83) != bytes([pace.PASSWORD_MRZ]):
            return sw(0x6A80)  # only the MRZ password is simulated (no CAN)
        offered = [info for info in self.pace_infos if info.oid == oid]
        if 0x84 in fields:
            wanted = int.from_bytes(fields[0x84], "big")
            offered = [info for info in offered if info.parameter_id == wanted]
        if len(offered) != 1:
            return sw(0x6A80)  # unknown protocol, or ambiguous without 84
        self._pace_info, self._pace = offered[0], None
        return sw(0x9000)

    def _general_authenticate(self, command: CommandAPDU) -> ResponseAPDU:
        if self._pace_info is None:
            return sw(0x6985)
        try:
            _, body = parse_one(command.data, 0x7C)
            objects = list(iter_tlv(body))
        except TLVError:
            return sw(0x6A80)
        try:
            if not objects:
                nonce, scalars = self.pace_fixed or (None, None)
                self._pace = pace.ChipPace(self._pace_info, self.key, nonce, scalars)
                return sw(0x9000, pace.dynamic_data(0x80, self._pace.encrypted_nonce()))
            if self._pace is None:
                return sw(0x6985)
            tag, value = objects[0]
            if tag == 0x81:
                return sw(0x9000, pace.dynamic_data(0x82, self._pace.map_nonce(value)))
            if tag == 0x83:
                return sw(0x9000, pace.dynamic_data(0x84, self._pace.key_agreement(value)))
            if tag == 0x85:
                answer = pace.dynamic_data(0x86, self._pace.mutual_authenticate(value))
                self._sm, self._pace, self._pace_info = self._pace.sm, None, None
                self._app_selected = False
                return sw(0x9000, answer)
        except pace.PaceTokenError as exc:
            log.debug("simulated chip: PACE refused (%s)", exc)
            self._pace = None
            return sw(0x6300)
        except pace.PaceError as exc:
            log.debug("simulated chip: bad PACE step (%s)", exc)
            self._pace = None
            return sw(0x6A80)
        return sw(0x6A80)

    # --- READ BINARY ---------------------------------------------------------------------------

    def _readable(self, command: CommandAPDU, protected: bool) -> bytes | ResponseAPDU:
        if self._current is None:
            return sw(0x6986)
        if not protected and self._current != lds.EF_CARD_ACCESS:
            return sw(0x6982)
        return self.document.files[self._current]

    def _read_binary(self, command: CommandAPDU, protected: bool) -> ResponseAPDU:
        if command.p1 & 0x80:
            return sw(0x6A81)  # short EF identifiers are not simulated
        contents = self._readable(command, protected)
        if isinstance(contents, ResponseAPDU):
            return contents
        offset = (command.p1 << 8) | command.p2
        if offset > len(contents):
            return sw(0x6B00)
        length = min(command.le or 256, self.max_response)
        return sw(0x9000, contents[offset : offset + length])

    def _read_binary_odd(self, command: CommandAPDU, protected: bool) -> ResponseAPDU:
        """B1: the offset comes in DO'54', the data goes back in DO'53' (within Le, whole)."""
        if (command.p1, command.p2) != (0, 0):
            return sw(0x6A86)  # only the current EF is simulated
        contents = self._readable(command, protected)
        if isinstance(contents, ResponseAPDU):
            return contents
        try:
            _, value = parse_one(command.data, 0x54)
        except TLVError:
            return sw(0x6A80)
        offset = int.from_bytes(value, "big")
        if not value or offset > len(contents):
            return sw(0x6B00)
        room = min(command.le or 256, self.max_response)
        length = room - 2
        while length > 0 and 1 + len(encode_length(length)) + length > room:
            length -= 1
        if length <= 0:
            return sw(0x6700)
        return sw(0x9000, tlv(0x53, contents[offset : offset + length]))
