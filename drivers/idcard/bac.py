"""Basic Access Control (ICAO 9303-11 section 4.3 and appendix D): both halves of the handshake.

The reader side (``reader_authenticate_data``, ``reader_check_answer``) and the chip side
(``chip_answer``) are plain functions over bytes, so the worked example of appendix D checks them
without a chip.
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from drivers.idcard import crypto
from drivers.idcard.sm import SecureMessaging


class BACError(ValueError):
    """The other side's cryptogram did not verify: a wrong key or a tampered message."""


@dataclass(frozen=True)
class BACKeys:
    """The document basic access keys derived from Kseed."""

    k_enc: bytes
    k_mac: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> BACKeys:
        return cls(
            crypto.derive_3des_key(seed, crypto.ENC_COUNTER),
            crypto.derive_3des_key(seed, crypto.MAC_COUNTER),
        )


def _cryptogram(keys: BACKeys, plain: bytes) -> bytes:
    encrypted = crypto.tdes_encrypt(keys.k_enc, plain)
    return encrypted + crypto.retail_mac(keys.k_mac, crypto.pad(encrypted))


def _open_cryptogram(keys: BACKeys, data: bytes) -> bytes:
    if len(data) != 40:
        raise BACError(f"BAC cryptogram is {len(data)} bytes, expected 40")
    encrypted, mac = data[:32], data[32:]
    if not hmac.compare_digest(crypto.retail_mac(keys.k_mac, crypto.pad(encrypted)), mac):
        raise BACError("BAC cryptogram MAC does not verify")
    return crypto.tdes_decrypt(keys.k_enc, encrypted)


def reader_authenticate_data(keys: BACKeys, rnd_ic: bytes, rnd_ifd: bytes, k_ifd: bytes) -> bytes:
    """E.IFD || M.IFD, the data of MUTUAL AUTHENTICATE."""
    return _cryptogram(keys, rnd_ifd + rnd_ic + k_ifd)


def reader_check_answer(keys: BACKeys, answer: bytes, rnd_ic: bytes, rnd_ifd: bytes) -> bytes:
    """Verify the chip's E.IC || M.IC and return K.IC."""
    plain = _open_cryptogram(keys, answer)
    if plain[:8] != rnd_ic or plain[8:16] != rnd_ifd:
        raise BACError("the chip's answer does not return our challenge")
    return plain[16:32]


def chip_answer(
    keys: BACKeys, command_data: bytes, rnd_ic: bytes, k_ic: bytes | None = None
) -> tuple[bytes, bytes, bytes, bytes]:
    """The chip's half: check E.IFD || M.IFD; return (answer, RND.IFD, K.IFD, K.IC)."""
    plain = _open_cryptogram(keys, command_data)
    rnd_ifd, echoed_ic, k_ifd = plain[:8], plain[8:16], plain[16:32]
    if echoed_ic != rnd_ic:
        raise BACError("the reader's cryptogram does not hold the chip's challenge")
    k_ic = k_ic or os.urandom(16)
    return _cryptogram(keys, rnd_ic + rnd_ifd + k_ic), rnd_ifd, k_ifd, k_ic


def session(k_ifd: bytes, k_ic: bytes, rnd_ic: bytes, rnd_ifd: bytes) -> SecureMessaging:
    """Session keys from K.IFD xor K.IC, SSC from the low halves of both challenges."""
    seed = bytes(a ^ b for a, b in zip(k_ifd, k_ic, strict=True))
    return SecureMessaging(
        ks_enc=crypto.derive_3des_key(seed, crypto.ENC_COUNTER),
        ks_mac=crypto.derive_3des_key(seed, crypto.MAC_COUNTER),
        ssc=int.from_bytes(rnd_ic[4:] + rnd_ifd[4:], "big"),
        cipher="3DES",
    )
