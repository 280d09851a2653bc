"""Reading the simulated chip in-process: the same reader code as PC/SC, real BAC and signatures."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drivers.idcard import (
    ACCESS_DENIED_MESSAGE,
    AccessDeniedError,
    AccessKey,
    CardError,
    CardRemovedError,
    card_reader_for_url,
    lds,
)
from drivers.idcard.chip import SimulatedChip
from drivers.idcard.personalise import DEFAULT_MRZ, PersonalisedDocument, make_pki, personalise
from drivers.idcard.sim import SimulatedCardReader


@pytest.fixture(scope="module")
def face_photo(lfw_people: list[Path]) -> Path:
    person = lfw_people[0]
    return sorted(person.glob("*.jpg"))[0]


@pytest.fixture(scope="module")
def document(face_photo: Path) -> PersonalisedDocument:
    return personalise(DEFAULT_MRZ, face_photo.read_bytes(), pki=make_pki("KG"))


@pytest.fixture
def csca_dir(tmp_path: Path, document: PersonalisedDocument) -> Path:
    document.pki.write_csca(tmp_path / "csca")
    return tmp_path / "csca"


def reader_for(document: PersonalisedDocument, url: str = "sim://") -> SimulatedCardReader:
    return SimulatedCardReader(url, chip=SimulatedChip(document))


KEY = AccessKey.from_mrz(DEFAULT_MRZ)


def test_a_full_read_returns_the_mrz_the_photo_and_a_passing_report(
    document: PersonalisedDocument, csca_dir: Path, face_photo: Path
) -> None:
    result = reader_for(document).read_document(KEY, csca_dir=csca_dir)
    assert (result.mrz.surname, result.mrz.given_names) == ("TESTOVA", "AIZADA")
    assert (result.mrz.document_number, result.mrz.issuing_state) == ("AN1234567", "KGZ")
    assert result.data_groups == [1, 2]
    assert result.access_protocol == "BAC"
    assert result.passive_auth.passed, result.passive_auth.summary()
    names = [c.name for c in result.passive_auth.checks]
    assert names == [
        "sod_structure", "dg_hash:DG1", "dg_hash:DG2", "signed_attributes", "signature",
        "ds_validity", "csca", "issuing_country",
    ]  # fmt: skip
    assert result.photo_bytes == face_photo.read_bytes()


def test_dg2_decodes_to_the_original_photo(
    document: PersonalisedDocument, face_photo: Path
) -> None:
    result = reader_for(document).read_document(KEY)
    original = np.asarray(Image.open(face_photo).convert("RGB"))
    assert result.photo_mime == "image/jpeg"
    assert np.array_equal(result.photo, original)


def test_a_jpeg2000_face_decodes_to_the_original_pixels(lfw_people: list[Path]) -> None:
    # A 250x250 LFW photo in lossless JPEG 2000: DG2 passes 32 KB, so READ BINARY B1 is needed.
    photo = sorted(lfw_people[0].glob("*.jpg"))[0]
    doc = personalise(DEFAULT_MRZ, photo.read_bytes(), image_format="JPEG2000", pki=make_pki("KG"))
    assert len(doc.files[lds.DATA_GROUPS[2][0]]) > 32768
    result = reader_for(doc).read_document(KEY)
    assert result.photo_mime == "image/jp2"
    assert result.photo_bytes[4:8] == b"jP  "  # a JP2 file, not the JPEG
    assert result.photo_bytes == doc.photo
    assert np.array_equal(result.photo, np.asarray(Image.open(photo).convert("RGB")))


def big_jpeg2000_document(lfw_people: list[Path]) -> tuple[PersonalisedDocument, Path]:
    """The first LFW face whose lossless JPEG 2000 makes DG2 larger than 64 KB."""
    for photo in sorted(lfw_people[0].glob("*.jpg")):
        doc = personalise(DEFAULT_MRZ, photo.read_bytes(), "JPEG2000", pki=make_pki("KG"))
        if len(doc.files[lds.DATA_GROUPS[2][0]]) > 65536:
            return doc, photo
    raise AssertionError("no LFW face of the first person exceeds 64 KB as lossless JPEG 2000")


@pytest.mark.parametrize("url", ["sim://", "sim://?extended=true&chunk=4096"])
def test_a_dg2_over_64_kb_reads_whole_with_odd_ins_read_binary(
    lfw_people: list[Path], url: str
) -> None:
    doc, photo = big_jpeg2000_document(lfw_people)
    reader = reader_for(doc, url)
    result = reader.read_document(KEY)
    assert result.files["DG2"] == doc.files[lds.DATA_GROUPS[2][0]]
    assert np.array_equal(result.photo, np.asarray(Image.open(photo).convert("RGB")))
    odd = [apdu for apdu in reader.chip.log if apdu[1] == 0xB1]
    assert odd and all(apdu[0] == 0x0C and apdu[2:4] == b"\x00\x00" for apdu in odd)
    # Every B1 carries its offset under secure messaging (DO'85'), never in the clear.
    assert all(b"\x85" in apdu[5:8] for apdu in odd)


def test_a_chip_without_odd_ins_read_binary_fails_clearly_on_a_large_file(
    lfw_people: list[Path],
) -> None:
    doc, _ = big_jpeg2000_document(lfw_people)
    reader = SimulatedCardReader("sim://", chip=SimulatedChip(doc, odd_read=False))
    with pytest.raises(CardError, match="larger than 32 KB") as caught:
        reader.read_document(KEY)
    assert caught.value.status_word == 0x6D00


@pytest.mark.parametrize("group", [1, 2])
def test_a_tampered_data_group_fails_passive_authentication_naming_the_group(
    document: PersonalisedDocument, csca_dir: Path, group: int
) -> None:
    fid = lds.DATA_GROUPS[group][0]
    original = document.files[fid]
    if group == 1:  # another person's name, MRZ still well-formed
        altered = original.replace(b"TESTOVA<<AIZADA", b"TESTOVA<<ASEL<<")
    else:  # one pixel byte near the end of the JPEG
        altered = original[:-20] + bytes([original[-20] ^ 0x01]) + original[-19:]
    assert altered != original
    report = (
        reader_for(document.with_file(fid, altered))
        .read_document(KEY, csca_dir=csca_dir)
        .passive_auth
    )
    assert not report.passed
    assert [c.name for c in report.failed] == [f"dg_hash:DG{group}"]
    assert f"DG{group} was altered" in report.get(f"dg_hash:DG{group}").detail
    other = 3 - group
    assert report.get(f"dg_hash:DG{other}").passed is True


def test_a_document_signed_under_an_unknown_csca_is_reported(
    face_photo: Path, csca_dir: Path
) -> None:
    stranger = personalise(DEFAULT_MRZ, face_photo.read_bytes(), pki=make_pki("KG"))
    report = reader_for(stranger).read_document(KEY, csca_dir=csca_dir).passive_auth
    assert report.get("signature").passed is True  # the document itself is consistent...
    csca = report.get("csca")
    assert (
        csca.passed is False and "unknown CSCA" in csca.detail
    )  # ...but nobody we trust signed it
    assert not report.passed


def test_without_a_csca_folder_the_csca_check_is_reported_as_not_done(
    document: PersonalisedDocument,
) -> None:
    report = reader_for(document).read_document(KEY).passive_auth
    assert report.get("csca").passed is None
    assert "no CSCA folder" in report.get("csca").detail
    assert not report.passed
    assert "csca not checked" in report.summary()


def test_a_certificate_from_another_country_fails_the_issuing_country_check(
    face_photo: Path, tmp_path: Path
) -> None:
    pki = make_pki("KZ")
    pki.write_csca(tmp_path)
    doc = personalise(DEFAULT_MRZ, face_photo.read_bytes(), pki=pki)
    report = reader_for(doc).read_document(KEY, csca_dir=tmp_path).passive_auth
    assert report.get("csca").passed is True
    assert report.get("issuing_country").passed is False
    assert "KGZ (KG)" in report.get("issuing_country").detail


def test_a_tampered_signature_fails_the_signature_check(
    document: PersonalisedDocument, csca_dir: Path
) -> None:
    sod = bytearray(document.files[lds.EF_SOD])
    sod[-5] ^= 0x01  # inside the ECDSA signature, the last field of the SignerInfo
    report = (
        reader_for(document.with_file(lds.EF_SOD, bytes(sod)))
        .read_document(KEY, csca_dir=csca_dir)
        .passive_auth
    )
    assert report.get("signature").passed is not True
    assert report.get("dg_hash:DG1").passed is True


def test_a_wrong_access_key_gives_access_denied(document: PersonalisedDocument) -> None:
    reader = reader_for(document)
    with pytest.raises(AccessDeniedError, match=ACCESS_DENIED_MESSAGE) as caught:
        reader.read_document(AccessKey("AN1234567", "900101", "351230"))
    assert (caught.value.sw1, caught.value.sw2) == (0x63, 0x00)
    assert reader.read_document(KEY).mrz.surname == "TESTOVA"  # the right key still works


def test_a_card_pulled_mid_read_is_a_clear_error_and_the_reader_works_again(
    document: PersonalisedDocument,
) -> None:
    reader = reader_for(document)
    reader.chip.pull_after(30)  # past BAC, in the middle of DG2
    with pytest.raises(CardRemovedError, match="removed") as caught:
        reader.read_document(KEY, timeout=0.2)
    assert caught.value.code == "card_removed"
    reader.chip.insert()
    assert reader.read_document(KEY).photo_bytes == document.photo


def test_a_card_taken_off_the_reader_is_waited_for_and_another_card_put_on_is_read(
    document: PersonalisedDocument, lfw_people: list[Path]
) -> None:
    from drivers.idcard import NoCardError

    reader = reader_for(document)
    reader.remove()
    with pytest.raises(NoCardError):
        reader.read_document(KEY, timeout=0.1)
    reader.insert()
    assert reader.read_document(KEY).mrz.surname == "TESTOVA"
    other_mrz = DEFAULT_MRZ.replace("TESTOVA<<AIZADA<", "ASANOVA<<ASEL<<<")
    other = personalise(other_mrz, sorted(lfw_people[1].glob("*.jpg"))[0].read_bytes())
    reader.insert(SimulatedChip(other))
    assert reader.read_document(KEY).mrz.surname == "ASANOVA"


def test_extended_length_reads_fetch_large_chunks(document: PersonalisedDocument) -> None:
    short = reader_for(document).read_document(KEY)
    reader = reader_for(document, "sim://?extended=true&chunk=4096")
    extended = reader.read_document(KEY)
    assert extended.photo_bytes == short.photo_bytes
    assert extended.apdus < short.apdus
    reads = [apdu for apdu in reader.chip.log if apdu[1] == 0xB0]
    assert reads and all(apdu[4] == 0x00 for apdu in reads)  # extended Lc on every read


def test_plain_commands_after_bac_are_refused_by_the_chip(document: PersonalisedDocument) -> None:
    chip = SimulatedChip(document)
    assert chip.process(bytes.fromhex("00A4040C07A0000002471001"))[-2:] == b"\x90\x00"
    assert chip.process(bytes.fromhex("00A4020C020101"))[-2:] == b"\x69\x82"  # no BAC yet


def test_the_sim_url_builds_a_default_document_and_checks_its_options(tmp_path: Path) -> None:
    reader = card_reader_for_url("sim://")
    result = reader.read_document(KEY)
    assert result.mrz.surname == "TESTOVA"
    Image.open(io.BytesIO(result.photo_bytes)).verify()
    with pytest.raises(ValueError, match="valid options"):
        card_reader_for_url("sim://?colour=red")
    with pytest.raises(ValueError, match="valid schemes: pcsc://, sim://"):
        card_reader_for_url("nfc://")


def test_the_same_seed_gives_a_csca_that_trusts_another_simulator_instance(tmp_path: Path) -> None:
    first = card_reader_for_url("sim://?seed=abc")
    assert isinstance(first, SimulatedCardReader)
    first.chip.document.pki.write_csca(tmp_path)
    second = card_reader_for_url(f"sim://?seed=abc&csca={tmp_path}")
    assert second.read_document(KEY).passive_auth.passed
    third = card_reader_for_url(f"sim://?seed=other&csca={tmp_path}")
    assert third.read_document(KEY).passive_auth.get("csca").passed is False
