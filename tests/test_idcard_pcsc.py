"""The real PC/SC stack: pcscd with vsmartcard's vpcd driver, the simulated chip as the virtual card.

The session fixture starts ``pcscd -f`` (unless one already serves the vpcd readers), waits for
the readers, and stops it after. pyscard talks to pcscd exactly as it would to a USB reader.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drivers.idcard import (
    ACCESS_DENIED_MESSAGE,
    AccessDeniedError,
    AccessKey,
    CardRemovedError,
    NoCardError,
    ReaderNotFoundError,
    card_reader_for_url,
)
from drivers.idcard.chip import SimulatedChip
from drivers.idcard.pace import pace_info
from drivers.idcard.personalise import DEFAULT_MRZ, PersonalisedDocument, make_pki, personalise
from drivers.idcard.vpcd import VpcdCard

READER = "Virtual PCD 00 00"
KEY = AccessKey.from_mrz(DEFAULT_MRZ)


def vpcd_readers() -> list[str]:
    try:
        return card_reader_for_url("pcsc://").list_readers()
    except ReaderNotFoundError:
        return []


@pytest.fixture(scope="session")
def pcscd() -> Iterator[None]:
    if READER in vpcd_readers():
        yield  # someone else's pcscd already serves vpcd
        return
    binary = shutil.which("pcscd") or "/usr/sbin/pcscd"
    if not Path(binary).exists():
        pytest.fail("pcscd is not installed: run scripts/bootstrap", pytrace=False)
    process = subprocess.Popen([binary, "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while READER not in vpcd_readers():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("pcscd did not show the vpcd readers within 10 s", pytrace=False)
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def document(lfw_people: list[Path]) -> PersonalisedDocument:
    photo = sorted(lfw_people[1].glob("*.jpg"))[0]
    return personalise(DEFAULT_MRZ, photo.read_bytes(), pki=make_pki("KG"))


@pytest.fixture
def card(pcscd: None, document: PersonalisedDocument) -> Iterator[VpcdCard]:
    with VpcdCard(SimulatedChip(document)) as virtual:
        yield virtual


def test_a_full_read_through_pcscd_and_vpcd_matches_the_chip(
    card: VpcdCard, document: PersonalisedDocument, tmp_path: Path
) -> None:
    document.pki.write_csca(tmp_path)
    reader = card_reader_for_url(f"pcsc://?reader={READER}&csca={tmp_path}")
    result = reader.read_document(KEY, timeout=5)
    assert result.reader == READER
    assert result.mrz.surname == "TESTOVA"
    assert result.photo_bytes == document.photo
    assert result.passive_auth.passed, result.passive_auth.summary()
    warm = reader.read_document(KEY, timeout=5)
    assert warm.seconds < 2, f"a read through PC/SC took {warm.seconds:.2f} s"


def test_the_first_reader_with_a_card_is_chosen_without_a_name(card: VpcdCard) -> None:
    assert card_reader_for_url("pcsc://").read_document(KEY, timeout=5).reader == READER


def test_extended_length_reads_work_through_pcsc(
    card: VpcdCard, document: PersonalisedDocument
) -> None:
    reader = card_reader_for_url(f"pcsc://?reader={READER}&extended=true&chunk=2048")
    result = reader.read_document(KEY, timeout=5)
    assert result.photo_bytes == document.photo
    reads = [apdu for apdu in card.chip.log if apdu[1] == 0xB0]
    assert reads and all(apdu[4] == 0x00 for apdu in reads)  # extended Lc reached the chip


def test_a_wrong_key_through_pcsc_gives_access_denied(card: VpcdCard) -> None:
    reader = card_reader_for_url(f"pcsc://?reader={READER}")
    with pytest.raises(AccessDeniedError, match=ACCESS_DENIED_MESSAGE):
        reader.read_document(AccessKey("AN1234567", "900102", "351231"), timeout=5)


def test_a_card_pulled_mid_read_through_pcsc_is_a_clear_error_and_the_reader_recovers(
    card: VpcdCard, document: PersonalisedDocument
) -> None:
    reader = card_reader_for_url(f"pcsc://?reader={READER}")
    card.chip.pull_after(25)
    with pytest.raises(CardRemovedError, match=f"removed from {READER}"):
        reader.read_document(KEY, timeout=5)
    card.chip.insert()
    assert reader.read_document(KEY, timeout=5).photo_bytes == document.photo


def test_an_unknown_reader_name_lists_the_readers_present(pcscd: None) -> None:
    with pytest.raises(ReaderNotFoundError, match=r"readers present: .*Virtual PCD"):
        card_reader_for_url("pcsc://?reader=Nonexistent").read_document(KEY, timeout=0.5)


def test_an_empty_reader_times_out_with_a_typed_error(pcscd: None) -> None:
    with pytest.raises(NoCardError, match="no card on Virtual PCD 00 01"):
        card_reader_for_url("pcsc://?reader=Virtual PCD 00 01").read_document(KEY, timeout=0.3)


def test_a_full_read_through_pace_over_pcsc(pcscd: None, lfw_people: list[Path]) -> None:
    photo = sorted(lfw_people[1].glob("*.jpg"))[0].read_bytes()
    doc = personalise(DEFAULT_MRZ, photo, pki=make_pki("KG"), pace=[pace_info()])
    with VpcdCard(SimulatedChip(doc, bac=False)):  # PACE only: BAC would be refused
        reader = card_reader_for_url(f"pcsc://?reader={READER}")
        result = reader.read_document(KEY, timeout=5)
        assert result.access_protocol == "PACE"
        assert result.access_detail == "PACE-ECDH-GM-AES-CBC-CMAC-128 on brainpoolP256r1"
        assert result.photo_bytes == photo
        with pytest.raises(AccessDeniedError, match=ACCESS_DENIED_MESSAGE):
            reader.read_document(AccessKey("AN1234567", "900102", "351231"), timeout=5)


@pytest.mark.parametrize("options", ["", "&extended=true&chunk=4096"])
def test_a_dg2_over_64_kb_reads_through_pcsc(
    pcscd: None, lfw_people: list[Path], options: str
) -> None:
    for path in sorted(lfw_people[0].glob("*.jpg")):
        doc = personalise(DEFAULT_MRZ, path.read_bytes(), "JPEG2000", pki=make_pki("KG"))
        if len(doc.files[0x0102]) > 65536:
            break
    else:
        pytest.fail("no LFW face of the first person exceeds 64 KB as lossless JPEG 2000")
    with VpcdCard(SimulatedChip(doc)) as card:
        result = card_reader_for_url(f"pcsc://?reader={READER}{options}").read_document(
            KEY, timeout=5
        )
        assert result.files["DG2"] == doc.files[0x0102]
        assert np.array_equal(result.photo, np.asarray(Image.open(path).convert("RGB")))
        assert any(apdu[1] == 0xB1 for apdu in card.chip.log)
        assert result.seconds < 5, f"a 64 KB+ DG2 through PC/SC took {result.seconds:.2f} s"
