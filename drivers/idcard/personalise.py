"""Personalise a test document: DG1 from an MRZ, DG2 from a real photo, EF.SOD signed by a test DS.

The CSCA and document signer are made here with ``cryptography``. ``seed`` makes their EC keys
reproducible, so a CSCA certificate written out by one process trusts documents signed in another
(``station card simulate --csca-out``); certificates and signatures are still made fresh each time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import algos, cms, core, x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from PIL import Image

from drivers.idcard import lds
from drivers.idcard.mrz import MRZ
from drivers.idcard.pa import LDS_SECURITY_OBJECT, DataGroupHash, DataGroupHashes, LDSSecurityObject
from drivers.idcard.pace import PaceInfo, build_card_access
from drivers.idcard.tlv import tlv

#: A Kyrgyz ID card (TD1) for a person who does not exist; check digits are right.
DEFAULT_MRZ = (
    "IDKGZAN12345677<<<<<<<<<<<<<<<\n9001011F3512311KGZ<<<<<<<<<<<4\nTESTOVA<<AIZADA<<<<<<<<<<<<<<<"
)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class TestPKI:
    csca_key: ec.EllipticCurvePrivateKey
    csca_cert: cx509.Certificate
    ds_key: ec.EllipticCurvePrivateKey
    ds_cert: cx509.Certificate

    def write_csca(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"csca-{self.csca_cert.serial_number:x}.pem"
        path.write_bytes(self.csca_cert.public_bytes(serialization.Encoding.PEM))
        return path


def _key(seed: str | None, role: str) -> ec.EllipticCurvePrivateKey:
    if seed is None:
        return ec.generate_private_key(ec.SECP256R1())
    value = int.from_bytes(hashlib.sha256(f"{seed}/{role}".encode()).digest(), "big")
    return ec.derive_private_key(value % (P256_ORDER - 1) + 1, ec.SECP256R1())


def make_pki(
    country: str = "KG", seed: str | None = None, now: dt.datetime | None = None
) -> TestPKI:
    """A test CSCA (self-signed) and a document signer it issued, both ECDSA P-256 / SHA-256."""
    now = now or dt.datetime.now(dt.UTC)
    csca_key, ds_key = _key(seed, "csca"), _key(seed, "ds")
    csca_name = cx509.Name(
        [
            cx509.NameAttribute(NameOID.COUNTRY_NAME, country),
            cx509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test State"),
            cx509.NameAttribute(NameOID.COMMON_NAME, "Test CSCA"),
        ]
    )
    ds_name = cx509.Name(
        [
            cx509.NameAttribute(NameOID.COUNTRY_NAME, country),
            cx509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test State"),
            cx509.NameAttribute(NameOID.COMMON_NAME, "Test Document Signer"),
        ]
    )
    csca_serial = int.from_bytes(
        hashlib.sha256(
            csca_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).digest()[:8],
        "big",
    )
    csca_cert = (
        cx509.CertificateBuilder()
        .subject_name(csca_name)
        .issuer_name(csca_name)
        .public_key(csca_key.public_key())
        .serial_number(csca_serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(cx509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            cx509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            cx509.SubjectKeyIdentifier.from_public_key(csca_key.public_key()), critical=False
        )
        .sign(csca_key, hashes.SHA256())
    )
    ds_cert = (
        cx509.CertificateBuilder()
        .subject_name(ds_name)
        .issuer_name(csca_name)
        .public_key(ds_key.public_key())
        .serial_number(cx509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(
            cx509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            cx509.AuthorityKeyIdentifier.from_issuer_public_key(csca_key.public_key()),
            critical=False,
        )
        .sign(csca_key, hashes.SHA256())
    )
    return TestPKI(csca_key, csca_cert, ds_key, ds_cert)


def build_sod(data_groups: dict[int, bytes], pki: TestPKI, hash_name: str = "sha256") -> bytes:
    """EF.SOD: CMS SignedData over an LDS security object hashing each data group's raw bytes."""
    lso = LDSSecurityObject(
        {
            "version": 0,
            "hash_algorithm": {"algorithm": hash_name},
            "data_group_hash_values": DataGroupHashes(
                [
                    DataGroupHash(
                        {
                            "data_group_number": n,
                            "data_group_hash_value": hashlib.new(hash_name, raw).digest(),
                        }
                    )
                    for n, raw in sorted(data_groups.items())
                ]
            ),
        }
    ).dump()
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": [LDS_SECURITY_OBJECT]}),
            cms.CMSAttribute(
                {"type": "message_digest", "values": [hashlib.new(hash_name, lso).digest()]}
            ),
        ]
    )
    signature = pki.ds_key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
    ds = x509.Certificate.load(pki.ds_cert.public_bytes(serialization.Encoding.DER))
    signer = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": ds.issuer, "serial_number": ds.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": hash_name}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": signature,
        }
    )
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": hash_name})],
            "encap_content_info": {
                "content_type": LDS_SECURITY_OBJECT,
                "content": core.ParsableOctetString(lso),
            },
            "certificates": [ds],
            "signer_infos": [signer],
        }
    )
    info = cms.ContentInfo({"content_type": "signed_data", "content": signed})
    return tlv(0x77, info.dump())


def default_photo() -> bytes:
    """A drawn placeholder face (JPEG) for when no real photo is given."""
    image = Image.new("RGB", (240, 320), (200, 210, 220))
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    draw.ellipse((60, 60, 180, 220), fill=(224, 186, 160))
    draw.ellipse((90, 120, 105, 135), fill=(40, 40, 40))
    draw.ellipse((135, 120, 150, 135), fill=(40, 40, 40))
    draw.arc((95, 160, 145, 190), 20, 160, fill=(120, 40, 40), width=3)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


@dataclass(frozen=True)
class PersonalisedDocument:
    mrz: MRZ
    files: dict[int, bytes]  # file identifier -> contents
    photo: bytes  # the image bytes inside DG2
    photo_type: int
    pki: TestPKI

    def with_file(self, fid: int, contents: bytes) -> PersonalisedDocument:
        """A copy with one file replaced, without re-signing (how tests tamper with a chip)."""
        files = dict(self.files)
        files[fid] = contents
        return PersonalisedDocument(self.mrz, files, self.photo, self.photo_type, self.pki)


def personalise(
    mrz_text: str = DEFAULT_MRZ,
    photo: bytes | None = None,
    image_format: str = "JPEG",
    pki: TestPKI | None = None,
    extra_data_groups: dict[int, bytes] | None = None,
    pace: list[PaceInfo] | None = None,
) -> PersonalisedDocument:
    """Make every file of a chip. A JPEG photo is stored as given; JPEG2000 is encoded losslessly.

    ``pace`` lists the PACEInfos of an EF.CardAccess (none: the chip offers BAC only).
    """
    mrz = MRZ.parse(mrz_text).validate()
    raw_photo = photo if photo is not None else default_photo()
    with Image.open(io.BytesIO(raw_photo)) as image:
        width, height = image.size
        if image_format.upper() in {"JPEG2000", "JP2", "J2K"}:
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG2000", irreversible=False)
            stored, kind = out.getvalue(), lds.IMAGE_JPEG2000
        elif image.format == "JPEG":
            stored, kind = raw_photo, lds.IMAGE_JPEG
        else:
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=95)
            stored, kind = out.getvalue(), lds.IMAGE_JPEG
    country = {"KGZ": "KG", "KAZ": "KZ"}.get(mrz.issuing_state)
    if pki is None:
        from drivers.idcard.countries import alpha2_for

        pki = make_pki(country or alpha2_for(mrz.issuing_state) or "KG")
    groups = {1: lds.build_dg1(mrz), 2: lds.build_dg2(stored, kind, width, height)}
    groups.update(extra_data_groups or {})
    files = {lds.DATA_GROUPS[n][0]: raw for n, raw in groups.items()}
    files[lds.EF_COM] = lds.build_com(sorted(groups))
    files[lds.EF_SOD] = build_sod(groups, pki)
    if pace:
        files[lds.EF_CARD_ACCESS] = build_card_access(pace)
    return PersonalisedDocument(mrz, files, stored, kind, pki)
