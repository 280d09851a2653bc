"""PACE (ICAO 9303-11 section 4.4): generic mapping with ECDH, 3DES or AES secure messaging.

Both halves are here as plain objects over bytes: :class:`ReaderPace` (the inspection system) and
:class:`ChipPace` (the chip), so the worked example of ICAO 9303-11 appendix G checks every
intermediate value without a chip, and the simulated chip runs the same code as the reader.

The steps, with the data objects of GENERAL AUTHENTICATE (tag 7C):

1. the chip sends the nonce encrypted under K_pi = KDF(SHA-1(MRZ information), 3)     (80)
2. both send a mapping public key (81 reader, 82 chip); G' = s*G + SK_map*PK_map_other
3. both send an ephemeral public key on G' (83 reader, 84 chip); K = x(SK*PK_other)
4. KS_enc = KDF(K, 1), KS_mac = KDF(K, 2); both send a token, the MAC of the other's public key
   in a 7F49 object (85 reader, 86 chip). Secure messaging then starts with SSC = 0.
"""

from __future__ import annotations

import hmac
import logging
import os
from dataclasses import dataclass

from drivers.idcard import crypto
from drivers.idcard.ec import CURVE_NAMES, STANDARD_CURVES, Curve, ECError, Point
from drivers.idcard.mrz import AccessKey
from drivers.idcard.sm import SecureMessaging
from drivers.idcard.tlv import TLVError, iter_tlv, parse_one, tlv

log = logging.getLogger(__name__)

ID_PACE = "0.4.0.127.0.7.2.2.4"
PASSWORD_MRZ = 0x01
PASSWORD_CAN = 0x02


class PaceError(ValueError):
    """A PACE message that does not verify or does not parse: wrong password, or a broken peer."""


class PaceTokenError(PaceError):
    """The other side's authentication token does not verify (a wrong password, usually)."""


@dataclass(frozen=True)
class PaceAlgorithm:
    """One protocol OID of the PACE family this code implements (ECDH generic mapping)."""

    oid: str
    name: str
    cipher: str  # "AES" or "3DES"
    key_bits: int

    @property
    def nonce_length(self) -> int:
        return 16 if self.cipher == "AES" else 8

    def kdf(self, secret: bytes, counter: int) -> bytes:
        """ICAO 9303-11 9.7.1: SHA-1 for 3DES and AES-128, SHA-256 for AES-192/256."""
        if self.cipher == "AES":
            return crypto.derive_aes_key(secret, counter, self.key_bits)
        return crypto.derive_3des_key(secret, counter)

    def encrypt(self, key: bytes, data: bytes) -> bytes:
        if self.cipher == "AES":
            return crypto.aes_encrypt(key, data)
        return crypto.tdes_encrypt(key, data)

    def decrypt(self, key: bytes, data: bytes) -> bytes:
        if self.cipher == "AES":
            return crypto.aes_decrypt(key, data)
        return crypto.tdes_decrypt(key, data)

    def mac(self, key: bytes, data: bytes) -> bytes:
        """The token MAC: AES-CMAC (8 bytes) over the data, or the retail MAC over padded data."""
        if self.cipher == "AES":
            return crypto.aes_cmac(key, data)
        return crypto.retail_mac(key, crypto.pad(data, 8))


def _algorithm(suffix: str, name: str, cipher: str, bits: int) -> PaceAlgorithm:
    return PaceAlgorithm(f"{ID_PACE}.2.{suffix}", f"PACE-ECDH-GM-{name}", cipher, bits)


#: id-PACE-ECDH-GM-* (the generic mapping with elliptic curves), by OID.
ALGORITHMS: dict[str, PaceAlgorithm] = {
    a.oid: a
    for a in (
        _algorithm("1", "3DES-CBC-CBC", "3DES", 112),
        _algorithm("2", "AES-CBC-CMAC-128", "AES", 128),
        _algorithm("3", "AES-CBC-CMAC-192", "AES", 192),
        _algorithm("4", "AES-CBC-CMAC-256", "AES", 256),
    )
}
CIPHER_NAMES = {"3des": "1", "aes128": "2", "aes192": "3", "aes256": "4"}
#: Mappings this reader does not do, by the OID arc after id-PACE (for log messages).
OTHER_MAPPINGS = {"1": "DH-GM", "3": "DH-IM", "4": "ECDH-IM", "6": "ECDH-CAM"}


# --- OIDs and EF.CardAccess ---------------------------------------------------------------------


def encode_oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    if len(arcs) < 2:
        raise ValueError(f"OID {dotted!r} needs at least two arcs")
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def decode_oid(raw: bytes) -> str:
    if not raw:
        raise ValueError("empty OID")
    first = raw[0]
    arcs = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(str(arc) for arc in arcs)


@dataclass(frozen=True)
class PaceInfo:
    """One PACEInfo of EF.CardAccess: protocol OID, version, standardised domain parameter id."""

    oid: str
    version: int = 2
    parameter_id: int | None = None

    @property
    def algorithm(self) -> PaceAlgorithm | None:
        return ALGORITHMS.get(self.oid)

    @property
    def curve(self) -> Curve | None:
        return STANDARD_CURVES.get(self.parameter_id) if self.parameter_id is not None else None

    @property
    def usable(self) -> bool:
        """Whether this reader can run it: ECDH generic mapping on a standardised curve."""
        return self.algorithm is not None and self.curve is not None and self.version == 2

    def describe(self) -> str:
        algorithm = self.algorithm
        if algorithm is not None:
            name = algorithm.name
        else:
            arcs = self.oid.removeprefix(ID_PACE + ".").split(".")
            name = f"PACE-{OTHER_MAPPINGS.get(arcs[0], 'unknown')} ({self.oid})"
        curve = self.curve
        where = curve.name if curve else f"domain parameters {self.parameter_id}"
        return f"{name} on {where}"

    def to_der(self) -> bytes:
        body = tlv(0x06, encode_oid(self.oid)) + tlv(0x02, _der_int(self.version))
        if self.parameter_id is not None:
            body += tlv(0x02, _der_int(self.parameter_id))
        return tlv(0x30, body)


def _der_int(value: int) -> bytes:
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


def pace_info(curve: str = "brainpoolP256r1", cipher: str = "aes128") -> PaceInfo:
    """The PACEInfo of ECDH generic mapping on a named standard curve with a named cipher."""
    if curve not in CURVE_NAMES:
        raise ValueError(f"curve {curve!r} is not standardised; valid: {', '.join(CURVE_NAMES)}")
    if cipher not in CIPHER_NAMES:
        raise ValueError(f"cipher {cipher!r} unknown; valid: {', '.join(CIPHER_NAMES)}")
    return PaceInfo(f"{ID_PACE}.2.{CIPHER_NAMES[cipher]}", 2, CURVE_NAMES[curve])


def build_card_access(infos: list[PaceInfo]) -> bytes:
    """EF.CardAccess: a DER SET OF SecurityInfos (here, PACEInfos only)."""
    return tlv(0x31, b"".join(info.to_der() for info in infos))


def parse_card_access(raw: bytes) -> list[PaceInfo]:
    """Every PACEInfo in EF.CardAccess, in the chip's order; other SecurityInfos are skipped."""
    try:
        _, body = parse_one(raw, 0x31)
        infos = []
        for tag, value in iter_tlv(body):
            if tag != 0x30:
                continue
            fields = list(iter_tlv(value))
            if len(fields) < 2 or fields[0][0] != 0x06:
                continue
            oid = decode_oid(fields[0][1])
            # PACEInfo OIDs have one arc more than PACEDomainParameterInfo (id-PACE-ECDH-GM).
            if not oid.startswith(ID_PACE + ".") or oid.count(".") != ID_PACE.count(".") + 2:
                continue
            if fields[1][0] != 0x02:
                continue
            version = int.from_bytes(fields[1][1], "big")
            parameter = None
            if len(fields) > 2 and fields[2][0] == 0x02:
                parameter = int.from_bytes(fields[2][1], "big")
            infos.append(PaceInfo(oid, version, parameter))
    except (TLVError, ValueError) as exc:
        raise PaceError(f"EF.CardAccess is malformed: {exc}") from None
    return infos


def choose(infos: list[PaceInfo]) -> PaceInfo | None:
    """The first PACEInfo this reader can run, in the chip's order."""
    return next((info for info in infos if info.usable), None)


# --- the shared computations ---------------------------------------------------------------------


def password_key(algorithm: PaceAlgorithm, key: AccessKey) -> bytes:
    """K_pi: the KDF with counter 3 over SHA-1 of the MRZ information."""
    return algorithm.kdf(key.password_hash(), crypto.PACE_COUNTER)


def map_generator(curve: Curve, nonce: bytes, h: Point) -> Point:
    """Generic mapping: G' = s*G + H."""
    mapped = curve.add(curve.multiply(int.from_bytes(nonce, "big"), curve.generator), h)
    if mapped is None:
        raise PaceError("the mapped generator is the point at infinity")
    return mapped


def public_key_object(oid: str, encoded_point: bytes) -> bytes:
    """The 7F49 public key data object a token MACs: the protocol OID and the point (86)."""
    return tlv(0x7F49, tlv(0x06, encode_oid(oid)) + tlv(0x86, encoded_point))


def token(algorithm: PaceAlgorithm, ks_mac: bytes, encoded_point: bytes) -> bytes:
    return algorithm.mac(ks_mac, public_key_object(algorithm.oid, encoded_point))


def session(algorithm: PaceAlgorithm, shared: bytes) -> SecureMessaging:
    """Secure messaging keyed from the shared secret; SSC starts at zero."""
    return SecureMessaging(
        ks_enc=algorithm.kdf(shared, crypto.ENC_COUNTER),
        ks_mac=algorithm.kdf(shared, crypto.MAC_COUNTER),
        ssc=0,
        cipher=algorithm.cipher,
    )


def dynamic_data(tag: int | None = None, value: bytes = b"") -> bytes:
    """GENERAL AUTHENTICATE's data: a 7C template holding one object (or nothing)."""
    return tlv(0x7C, tlv(tag, value) if tag is not None else b"")


def dynamic_field(data: bytes, tag: int) -> bytes:
    """The value of ``tag`` inside a 7C template."""
    try:
        _, body = parse_one(data, 0x7C)
        for found, value in iter_tlv(body):
            if found == tag:
                return value
    except TLVError as exc:
        raise PaceError(f"GENERAL AUTHENTICATE data is malformed: {exc}") from None
    raise PaceError(f"GENERAL AUTHENTICATE data lacks object {tag:02X}")


def _setup(info: PaceInfo) -> tuple[PaceAlgorithm, Curve]:
    algorithm, curve = info.algorithm, info.curve
    if algorithm is None or curve is None:
        raise PaceError(f"{info.describe()} is not supported")
    return algorithm, curve


def _point(curve: Curve, data: bytes, what: str) -> tuple[int, int]:
    try:
        return curve.decode(data)
    except ECError as exc:
        raise PaceError(f"{what}: {exc}") from None


class _Side:
    """What both halves hold: parameters, password key, and the state of the steps so far."""

    def __init__(self, info: PaceInfo, key: AccessKey, scalars: list[int] | None) -> None:
        self.info = info
        self.algorithm, self.curve = _setup(info)
        self.k_pi = password_key(self.algorithm, key)
        self._scalars = list(scalars or [])
        self.nonce = b""
        self.map_key = 0
        self.map_public = b""
        self.generator: Point = None
        self.shared_point: Point = None
        self.eph_key = 0
        self.eph_public = b""
        self.other_public = b""
        self.shared = b""
        self.sm: SecureMessaging | None = None

    def _scalar(self) -> int:
        return self._scalars.pop(0) if self._scalars else self.curve.random_scalar()

    def _mapping_key(self) -> bytes:
        self.map_key = self._scalar()
        self.map_public = self.curve.encode(self.curve.multiply(self.map_key, self.curve.generator))
        return self.map_public

    def _map(self, other_map_public: bytes) -> None:
        if other_map_public == self.map_public:
            raise PaceError("both mapping public keys are the same")
        other = _point(self.curve, other_map_public, "mapping public key")
        self.shared_point = self.curve.multiply(self.map_key, other)
        if self.shared_point is None:
            raise PaceError("the mapping produced the point at infinity")
        self.generator = map_generator(self.curve, self.nonce, self.shared_point)

    def _ephemeral_key(self) -> bytes:
        self.eph_key = self._scalar()
        self.eph_public = self.curve.encode(self.curve.multiply(self.eph_key, self.generator))
        return self.eph_public

    def _agree(self, other_public: bytes) -> None:
        if other_public == self.eph_public:
            raise PaceError("both ephemeral public keys are the same")
        other = _point(self.curve, other_public, "ephemeral public key")
        self.other_public = other_public
        try:
            self.shared = self.curve.x_bytes(self.curve.multiply(self.eph_key, other))
        except ECError as exc:
            raise PaceError(str(exc)) from None
        self.sm = session(self.algorithm, self.shared)

    def _token_for_other(self) -> bytes:
        assert self.sm is not None
        return token(self.algorithm, self.sm.ks_mac, self.other_public)

    def _check_token(self, received: bytes) -> None:
        assert self.sm is not None
        expected = token(self.algorithm, self.sm.ks_mac, self.eph_public)
        if not hmac.compare_digest(expected, received):
            raise PaceTokenError("the authentication token does not verify")


class ReaderPace(_Side):
    """The inspection system's half. ``scalars`` fixes the mapping then ephemeral private keys."""

    def decrypt_nonce(self, encrypted: bytes) -> bytes:
        if len(encrypted) != self.algorithm.nonce_length:
            raise PaceError(f"the encrypted nonce is {len(encrypted)} bytes")
        self.nonce = self.algorithm.decrypt(self.k_pi, encrypted)
        return self.nonce

    def mapping_key(self) -> bytes:
        """PK_map,IFD to send (81)."""
        return self._mapping_key()

    def map(self, chip_map_public: bytes) -> Point:
        """Compute G' from the chip's mapping key (82)."""
        self._map(chip_map_public)
        return self.generator

    def ephemeral_key(self) -> bytes:
        """PK_IFD on G' to send (83)."""
        return self._ephemeral_key()

    def agree(self, chip_public: bytes) -> bytes:
        """The shared secret from PK_IC (84); session keys are ready after this."""
        self._agree(chip_public)
        return self.shared

    def reader_token(self) -> bytes:
        """T_IFD = MAC(KS_mac, PK_IC) to send (85)."""
        return self._token_for_other()

    def check_chip_token(self, chip_token: bytes) -> SecureMessaging:
        """Verify T_IC (86) and return the secure messaging session."""
        self._check_token(chip_token)
        assert self.sm is not None
        return self.sm


class ChipPace(_Side):
    """The chip's half: ``nonce`` and ``scalars`` fix its random choices (for the worked example)."""

    def __init__(
        self,
        info: PaceInfo,
        key: AccessKey,
        nonce: bytes | None = None,
        scalars: list[int] | None = None,
    ) -> None:
        super().__init__(info, key, scalars)
        self._fixed_nonce = nonce
        self.step = 0

    def encrypted_nonce(self) -> bytes:
        """Step 1: z = E(K_pi, s) (80)."""
        self.nonce = self._fixed_nonce or os.urandom(self.algorithm.nonce_length)
        self.step = 1
        return self.algorithm.encrypt(self.k_pi, self.nonce)

    def map_nonce(self, reader_map_public: bytes) -> bytes:
        """Step 2: answer PK_map,IFD (81) with PK_map,IC (82) and compute G'."""
        self._expect(1)
        public = self._mapping_key()
        self._map(reader_map_public)
        return public

    def key_agreement(self, reader_public: bytes) -> bytes:
        """Step 3: answer PK_IFD (83) with PK_IC (84) and derive the session keys."""
        self._expect(2)
        public = self._ephemeral_key()
        self._agree(reader_public)
        return public

    def mutual_authenticate(self, reader_token: bytes) -> bytes:
        """Step 4: check T_IFD (85), answer T_IC (86); ``self.sm`` is then the session."""
        self._expect(3)
        self._check_token(reader_token)
        self.step = 4
        return self._token_for_other()

    def _expect(self, step: int) -> None:
        if self.step != step:
            raise PaceError(f"GENERAL AUTHENTICATE step {step + 1} out of order")
        self.step = step + 1
