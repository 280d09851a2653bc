"""Secure messaging (ICAO 9303-11 9.8): wrapping commands and unwrapping responses.

One class serves both ends: the reader protects commands and checks responses, the simulated chip
checks commands and protects responses. 3DES (BAC) and AES (PACE) share everything except the
cipher, the MAC and the block size; the send sequence counter goes up once before each command
and once before each response. Commands with an odd INS (READ BINARY B1) carry BER-TLV data, which
travels encrypted in DO'85' (no padding-content indicator) instead of DO'87', both ways.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.idcard import crypto
from drivers.idcard.apdu import CommandAPDU, ResponseAPDU
from drivers.idcard.tlv import TLVError, iter_tlv, tlv

SM_CLA = 0x0C


class SMError(ValueError):
    """A protected message failed its MAC or is malformed."""


@dataclass
class SecureMessaging:
    ks_enc: bytes
    ks_mac: bytes
    ssc: int
    cipher: str = "3DES"  # or "AES"

    @property
    def block(self) -> int:
        return 16 if self.cipher == "AES" else 8

    def _ssc_bytes(self) -> bytes:
        return self.ssc.to_bytes(self.block, "big")

    def _next(self) -> bytes:
        self.ssc = (self.ssc + 1) % (1 << (8 * self.block))
        return self._ssc_bytes()

    def _encrypt(self, data: bytes) -> bytes:
        if self.cipher == "AES":
            iv = crypto.aes_encrypt(self.ks_enc, self._ssc_bytes())
            return crypto.aes_encrypt(self.ks_enc, crypto.pad(data, 16), iv)
        return crypto.tdes_encrypt(self.ks_enc, crypto.pad(data, 8))

    def _decrypt(self, data: bytes) -> bytes:
        if len(data) % self.block:
            raise SMError("encrypted data is not a whole number of blocks")
        if self.cipher == "AES":
            iv = crypto.aes_encrypt(self.ks_enc, self._ssc_bytes())
            plain = crypto.aes_decrypt(self.ks_enc, data, iv)
        else:
            plain = crypto.tdes_decrypt(self.ks_enc, data)
        try:
            return crypto.unpad(plain)
        except ValueError as exc:
            raise SMError(str(exc)) from None

    def mac(self, data: bytes) -> bytes:
        """MAC over SSC || data, padded; the counter must already be advanced."""
        message = crypto.pad(self._ssc_bytes() + data, self.block)
        if self.cipher == "AES":
            return crypto.aes_cmac(self.ks_mac, message)
        return crypto.retail_mac(self.ks_mac, message)

    # --- reader side -----------------------------------------------------------------------

    def _cryptogram(self, data: bytes, odd_ins: bool) -> bytes:
        if odd_ins:
            return tlv(0x85, self._encrypt(data))
        return tlv(0x87, b"\x01" + self._encrypt(data))

    def protect(self, command: CommandAPDU) -> CommandAPDU:
        """Wrap a plain command into its protected form."""
        self._next()
        cla = command.cla | SM_CLA
        header = bytes([cla, command.ins, command.p1, command.p2])
        body = b""
        if command.data:
            body += self._cryptogram(command.data, bool(command.ins & 1))
        extended = command.needs_extended()
        if command.le is not None:
            le = command.le
            if extended:
                body += tlv(0x97, (le & 0xFFFF).to_bytes(2, "big"))
            else:
                body += tlv(0x97, bytes([le & 0xFF]))
        mac = self.mac(crypto.pad(header, self.block) + body)
        body += tlv(0x8E, mac)
        le_out = 65536 if extended else 256
        return CommandAPDU(cla, command.ins, command.p1, command.p2, body, le_out, extended)

    def unprotect(self, response: ResponseAPDU) -> ResponseAPDU:
        """Check the MAC of a protected response and return the plain one."""
        self._next()
        if not response.data:
            # An SM error (e.g. 6987/6988) or a plain error status: nothing to check or decrypt.
            return response
        try:
            objects = list(iter_tlv(response.data))
        except TLVError as exc:
            raise SMError(f"protected response is malformed: {exc}") from None
        mac_input = b""
        encrypted = b""
        status = b""
        mac = b""
        for tag, value in objects:
            if tag in (0x85, 0x87, 0x99):
                mac_input += tlv(tag, value)
            if tag == 0x87:
                if not value or value[0] != 0x01:
                    raise SMError("DO'87' lacks its padding-content indicator")
                encrypted = value[1:]
            elif tag == 0x85:
                encrypted = value
            elif tag == 0x99:
                status = value
            elif tag == 0x8E:
                mac = value
        if not mac:
            raise SMError("protected response has no MAC (DO'8E')")
        if self.mac(mac_input) != mac:
            raise SMError("protected response MAC does not verify")
        if len(status) != 2:
            raise SMError("protected response has no status word (DO'99')")
        data = self._decrypt(encrypted) if encrypted else b""
        return ResponseAPDU(data, status[0], status[1])

    # --- chip side -------------------------------------------------------------------------

    def open_command(self, command: CommandAPDU) -> CommandAPDU:
        """Check a protected command's MAC and return the plain command (the chip's half)."""
        self._next()
        if command.cla & SM_CLA != SM_CLA:
            raise SMError("command is not protected")
        try:
            objects = list(iter_tlv(command.data))
        except TLVError as exc:
            raise SMError(f"protected command is malformed: {exc}") from None
        header = bytes([command.cla, command.ins, command.p1, command.p2])
        mac_input = crypto.pad(header, self.block)
        data = b""
        le: int | None = None
        mac = b""
        for tag, value in objects:
            if tag in (0x85, 0x87, 0x97):
                mac_input += tlv(tag, value)
            if tag == 0x87:
                if not value or value[0] != 0x01:
                    raise SMError("DO'87' lacks its padding-content indicator")
                data = self._decrypt(value[1:])
            elif tag == 0x85:
                data = self._decrypt(value)
            elif tag == 0x97:
                raw = int.from_bytes(value, "big")
                le = raw or (65536 if len(value) == 2 else 256)
            elif tag == 0x8E:
                mac = value
        if not mac or self.mac(mac_input) != mac:
            raise SMError("protected command MAC does not verify")
        plain_cla = command.cla & ~SM_CLA & 0xFF
        return CommandAPDU(
            plain_cla, command.ins, command.p1, command.p2, data, le, command.extended
        )

    def seal_response(self, response: ResponseAPDU, odd_ins: bool = False) -> ResponseAPDU:
        """Protect a plain response (the chip's half); ``odd_ins`` answers in DO'85'."""
        self._next()
        body = b""
        if response.data:
            body += self._cryptogram(response.data, odd_ins)
        body += tlv(0x99, bytes([response.sw1, response.sw2]))
        body += tlv(0x8E, self.mac(body))
        return ResponseAPDU(body, response.sw1, response.sw2)
