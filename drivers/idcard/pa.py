"""Passive authentication (ICAO 9303-11 section 5.1): is the data on the chip what the state signed?

Every check is reported, in order, with a verdict: ``passed`` True, False (failed) or None (could
not be done, with the reason). The document is authentic only when every check passed; nothing is
skipped silently.

1. ``sod_structure``   EF.SOD is CMS SignedData holding an LDS security object
2. ``dg_hash:DGn``     each data group read hashes to the value the SOD lists, over its raw bytes,
                       with the algorithm the SOD names; a data group the SOD does not list fails
3. ``signed_attributes`` content type and message digest of the signed attributes match
4. ``signature``       the SignerInfo's signature verifies with the document signer's key, by the
                       algorithm the SignerInfo names
5. ``ds_validity``     the document signer certificate was valid at the time of the check
6. ``csca``            the document signer certificate is signed by a CSCA from the configured folder
7. ``issuing_country`` the DS issuer country, the CSCA country and the MRZ issuing state agree
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import algos, cms, core
from cryptography import x509 as cx509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from drivers.idcard.countries import alpha2_for
from drivers.idcard.tlv import TLVError, parse_one

log = logging.getLogger(__name__)

LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha1": hashes.SHA1(),
    "sha224": hashes.SHA224(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
# BSI TR-03111 ecdsa-plain-signatures: the signature is r || s, not DER.
PLAIN_ECDSA = {
    "0.4.0.127.0.7.1.1.4.1.1": "sha1",
    "0.4.0.127.0.7.1.1.4.1.2": "sha224",
    "0.4.0.127.0.7.1.1.4.1.3": "sha256",
    "0.4.0.127.0.7.1.1.4.1.4": "sha384",
    "0.4.0.127.0.7.1.1.4.1.5": "sha512",
}


class DataGroupHash(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012 - asn1crypto's schema attribute
        ("data_group_number", core.Integer),
        ("data_group_hash_value", core.OctetString),
    ]


class DataGroupHashes(core.SequenceOf):  # type: ignore[misc]  # asn1crypto is untyped
    _child_spec = DataGroupHash


class LDSVersionInfo(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012 - asn1crypto's schema attribute
        ("lds_version", core.PrintableString),
        ("unicode_version", core.PrintableString),
    ]


class LDSSecurityObject(core.Sequence):  # type: ignore[misc]  # asn1crypto is untyped
    _fields = [  # noqa: RUF012 - asn1crypto's schema attribute
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", DataGroupHashes),
        ("lds_version_info", LDSVersionInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool | None
    detail: str

    @property
    def verdict(self) -> str:
        return {True: "passed", False: "FAILED", None: "not checked"}[self.passed]

    def to_json(self) -> dict[str, object]:
        return {
            "check": self.name,
            "passed": self.passed,
            "verdict": self.verdict,
            "detail": self.detail,
        }


@dataclass
class PassiveAuthReport:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, passed: bool | None, detail: str) -> None:
        self.checks.append(Check(name, passed, detail))
        level = logging.INFO if passed else logging.WARNING
        log.log(
            level,
            "passive authentication %s: %s (%s)",
            name,
            Check(name, passed, detail).verdict,
            detail,
        )

    @property
    def passed(self) -> bool:
        """True only when every check ran and passed."""
        return bool(self.checks) and all(c.passed is True for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.passed is False]

    @property
    def not_checked(self) -> list[Check]:
        return [c for c in self.checks if c.passed is None]

    def get(self, name: str) -> Check:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def summary(self) -> str:
        if self.passed:
            return "authentic: every check passed"
        parts = [f"{c.name} failed" for c in self.failed] + [
            f"{c.name} not checked" for c in self.not_checked
        ]
        return "NOT verified: " + ", ".join(parts)

    def to_json(self) -> list[dict[str, object]]:
        return [c.to_json() for c in self.checks]


def load_csca_folder(folder: Path) -> list[cx509.Certificate]:
    """Every certificate (PEM, DER: .pem .crt .cer .der) in a folder of trusted CSCA certificates."""
    certificates: list[cx509.Certificate] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in {".pem", ".crt", ".cer", ".der"}:
            continue
        raw = path.read_bytes()
        try:
            if b"-----BEGIN CERTIFICATE-----" in raw:
                certificates.extend(cx509.load_pem_x509_certificates(raw))
            else:
                certificates.append(cx509.load_der_x509_certificate(raw))
        except ValueError as exc:
            log.warning("skipping %s: not a certificate (%s)", path, exc)
    return certificates


def _verify(
    public_key: object,
    signature: bytes,
    data: bytes,
    algorithm: cms.SignedDigestAlgorithm,
    digest_name: str,
) -> None:
    """Verify a signature as the algorithm identifier says; raise InvalidSignature or ValueError."""
    oid = algorithm["algorithm"].dotted
    if oid in PLAIN_ECDSA:
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("plain ECDSA signature but the key is not an EC key")
        half = len(signature) // 2
        der = encode_dss_signature(
            int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        )
        public_key.verify(der, data, ec.ECDSA(HASHES[PLAIN_ECDSA[oid]]))
        return
    name = algorithm.signature_algo
    if name == "rsassa_pss":
        params = algorithm["parameters"]
        hash_name = params["hash_algorithm"]["algorithm"].native
        mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
        salt = params["salt_length"].native
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ValueError("RSA-PSS signature but the key is not an RSA key")
        public_key.verify(
            signature,
            data,
            padding.PSS(padding.MGF1(HASHES[mgf_hash]), salt),
            HASHES[hash_name],
        )
        return
    try:
        hash_name = algorithm.hash_algo
    except ValueError:  # rsaEncryption alone: the hash is the SignerInfo's digest algorithm
        hash_name = digest_name
    if name == "rsassa_pkcs1v15":
        if not isinstance(public_key, rsa.RSAPublicKey):
            raise ValueError("RSA signature but the key is not an RSA key")
        public_key.verify(signature, data, padding.PKCS1v15(), HASHES[hash_name])
    elif name == "ecdsa":
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("ECDSA signature but the key is not an EC key")
        public_key.verify(signature, data, ec.ECDSA(HASHES[hash_name]))
    else:
        raise ValueError(f"unsupported signature algorithm {name} ({oid})")


def _country(name: cx509.Name) -> str:
    values = name.get_attributes_for_oid(cx509.NameOID.COUNTRY_NAME)
    return str(values[0].value).upper() if values else ""


def _verify_certificate(issuer: cx509.Certificate, cert: cx509.Certificate) -> None:
    cert.verify_directly_issued_by(issuer)


def passive_authentication(
    sod: bytes,
    data_groups: Mapping[int, bytes],
    csca: list[cx509.Certificate] | None,
    issuing_state: str | None,
    now: dt.datetime | None = None,
) -> PassiveAuthReport:
    """Run every check over EF.SOD and the raw data groups read; see the module docstring."""
    report = PassiveAuthReport()
    now = now or dt.datetime.now(dt.UTC)
    # 1. structure
    try:
        _, content = parse_one(sod, 0x77)
        info = cms.ContentInfo.load(content)
        if info["content_type"].native != "signed_data":
            raise ValueError(f"content type is {info['content_type'].native}, not signed data")
        signed = info["content"]
        encap = signed["encap_content_info"]
        if encap["content_type"].dotted != LDS_SECURITY_OBJECT:
            raise ValueError(
                f"encapsulated content is {encap['content_type'].dotted}, not an LDS security object"
            )
        econtent = bytes(encap["content"].contents)
        lso = LDSSecurityObject.load(econtent)
        hash_name = lso["hash_algorithm"]["algorithm"].native
        listed = {
            int(item["data_group_number"].native): bytes(item["data_group_hash_value"].native)
            for item in lso["data_group_hash_values"]
        }
        signer_infos = list(signed["signer_infos"])
        if len(signer_infos) != 1:
            raise ValueError(f"{len(signer_infos)} signer infos, expected 1")
        signer = signer_infos[0]
        certificates = (
            [c.chosen for c in signed["certificates"]] if signed["certificates"].native else []
        )
    except (TLVError, ValueError, TypeError, KeyError) as exc:
        report.add("sod_structure", False, f"EF.SOD cannot be parsed: {exc}")
        for number in sorted(data_groups):
            report.add(f"dg_hash:DG{number}", None, "EF.SOD unreadable")
        for name in ("signed_attributes", "signature", "ds_validity", "csca", "issuing_country"):
            report.add(name, None, "EF.SOD unreadable")
        return report
    report.add(
        "sod_structure",
        True,
        f"LDS security object, {hash_name}, lists DG{', DG'.join(map(str, sorted(listed)))}",
    )

    # 2. data group hashes
    if hash_name not in HASHES:
        for number in sorted(data_groups):
            report.add(f"dg_hash:DG{number}", None, f"unsupported hash {hash_name}")
    else:
        for number, raw in sorted(data_groups.items()):
            expected = listed.get(number)
            if expected is None:
                report.add(
                    f"dg_hash:DG{number}", False, f"DG{number} was read but EF.SOD does not list it"
                )
                continue
            actual = hashlib.new(hash_name, raw).digest()
            if actual == expected:
                report.add(f"dg_hash:DG{number}", True, f"{hash_name} matches")
            else:
                report.add(
                    f"dg_hash:DG{number}",
                    False,
                    f"DG{number} was altered: {hash_name} is {actual.hex()[:16]}…, EF.SOD says {expected.hex()[:16]}…",
                )

    # 3. signed attributes
    digest_name = signer["digest_algorithm"]["algorithm"].native
    signed_attrs = signer["signed_attrs"]
    if not signed_attrs.native:
        signed_data = econtent
        report.add(
            "signed_attributes",
            None,
            "the SignerInfo has no signed attributes; the signature covers the content",
        )
    else:
        attrs = {a["type"].native: a["values"] for a in signed_attrs}
        problems = []
        content_types = attrs.get("content_type")
        if content_types is None or content_types[0].dotted != LDS_SECURITY_OBJECT:
            problems.append("content-type attribute is not the LDS security object")
        digests = attrs.get("message_digest")
        if digest_name not in HASHES:
            problems.append(f"unsupported digest {digest_name}")
        elif (
            digests is None
            or bytes(digests[0].native) != hashlib.new(digest_name, econtent).digest()
        ):
            problems.append("message-digest attribute does not match the security object")
        report.add(
            "signed_attributes",
            not problems,
            "; ".join(problems) or f"content type and {digest_name} message digest match",
        )
        signed_data = b"\x31" + signed_attrs.dump()[1:]  # signed over as a SET OF, not [0]

    # 4. signature, with the document signer certificate from the SOD
    sid = signer["sid"]
    ds_cert: cx509.Certificate | None = None
    for cert in certificates:
        if sid.name == "issuer_and_serial_number":
            match = (
                cert.issuer == sid.chosen["issuer"]
                and cert.serial_number == sid.chosen["serial_number"].native
            )
        else:
            match = cert.key_identifier == sid.chosen.native
        if match:
            ds_cert = cx509.load_der_x509_certificate(cert.dump())
            break
    if ds_cert is None:
        report.add(
            "signature",
            None,
            "EF.SOD carries no document signer certificate matching its SignerInfo",
        )
    else:
        algorithm = signer["signature_algorithm"]
        try:
            _verify(
                ds_cert.public_key(),
                bytes(signer["signature"].native),
                signed_data,
                algorithm,
                digest_name,
            )
            report.add(
                "signature",
                True,
                f"{algorithm['algorithm'].native} signature by {ds_cert.subject.rfc4514_string()}",
            )
        except InvalidSignature:
            report.add(
                "signature",
                False,
                f"the {algorithm['algorithm'].native} signature over the security object does not verify",
            )
        except (ValueError, KeyError, TypeError) as exc:
            report.add("signature", None, f"{exc}")

    # 5. certificate validity
    if ds_cert is None:
        report.add("ds_validity", None, "no document signer certificate")
    else:
        start, end = ds_cert.not_valid_before_utc, ds_cert.not_valid_after_utc
        ok = start <= now <= end
        report.add(
            "ds_validity",
            ok,
            f"valid {start:%Y-%m-%d} to {end:%Y-%m-%d}"
            + ("" if ok else f", checked {now:%Y-%m-%d}"),
        )

    # 6. CSCA
    anchor: cx509.Certificate | None = None
    if ds_cert is None:
        report.add("csca", None, "no document signer certificate")
    elif csca is None:
        report.add("csca", None, "no CSCA folder configured")
    else:
        candidates = [c for c in csca if c.subject == ds_cert.issuer]
        for candidate in candidates:
            try:
                _verify_certificate(candidate, ds_cert)
            except (InvalidSignature, ValueError, TypeError):
                continue
            anchor = candidate
            break
        issuer = ds_cert.issuer.rfc4514_string()
        if anchor is not None:
            report.add(
                "csca",
                True,
                f"document signer issued by trusted CSCA {anchor.subject.rfc4514_string()}",
            )
        elif candidates:
            report.add(
                "csca",
                False,
                f"unknown CSCA: a CSCA named {issuer} is configured but did not sign this document signer",
            )
        else:
            report.add(
                "csca",
                False,
                f"unknown CSCA: no certificate for {issuer} among the {len(csca)} configured",
            )

    # 7. country
    if ds_cert is None or not issuing_state:
        report.add(
            "issuing_country", None, "no document signer certificate or no MRZ issuing state"
        )
    else:
        expected_country = alpha2_for(issuing_state)
        ds_country = _country(ds_cert.issuer)
        countries = {ds_country} | ({_country(anchor.subject)} if anchor is not None else set())
        if expected_country is None:
            report.add(
                "issuing_country", None, f"no ISO 3166 code known for issuing state {issuing_state}"
            )
        elif countries == {expected_country}:
            report.add(
                "issuing_country",
                True,
                f"MRZ issuing state {issuing_state} matches certificate country {expected_country}",
            )
        else:
            report.add(
                "issuing_country",
                False,
                f"MRZ issuing state {issuing_state} ({expected_country}) but certificate country {', '.join(sorted(countries)) or 'none'}",
            )
    return report
