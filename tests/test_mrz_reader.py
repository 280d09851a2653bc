"""Reading the MRZ from a camera photo: exact when sure, refused otherwise, never a guess."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drivers.idcard.document_image import Distortion, render_document, td1_mrz, td3_mrz
from drivers.idcard.mrz import MRZError
from drivers.idcard.mrz_reader import (
    ALPHABET,
    MRZEngine,
    UnreadableImageError,
    _Char,
    _decode_band,
    _Line,
    _Read,
    read_mrz,
    read_mrz_file,
)

ICAO_TD1 = td1_mrz("D23145890", "740812", "120415", "ERIKSSON", "ANNA MARIA")
ICAO_TD3 = td3_mrz(
    "L898902C3", "740812", "120415", "ERIKSSON", "ANNA MARIA", personal_number="ZE184226B"
)
# Look-alike letters and digits side by side, in numbers and in names.
CARDS = [
    ICAO_TD1,
    td1_mrz(
        "B8S5Z2G6I",
        "011231",
        "300101",
        "OSBORNE",
        "ZOE BIBI",
        sex="M",
        issuing_state="D<<",
        nationality="D<<",
        optional_data="108",
    ),
    td1_mrz(
        "AB0123456",
        "991009",
        "290630",
        "GOLDSCHMIDT ISSOUFOU",
        "QUINN",
        sex="X",
        issuing_state="KGZ",
        nationality="KGZ",
        optional_data="SI558Z",
    ),
]
PAGES = [
    ICAO_TD3,
    td3_mrz(
        "ZS0001774",
        "720330",
        "260713",
        "SZABO",
        "IGOR BOGDAN",
        sex="M",
        issuing_state="SIO",
        nationality="SIO",
    ),
    td3_mrz(
        "0I1B8S5Z2",
        "050505",
        "350505",
        "DIOP",
        "OBI",
        issuing_state="GBR",
        nationality="GBR",
        personal_number="10203040506",
    ),
]
CAMERA = Distortion(
    rotation=1.5,
    perspective=0.015,
    blur=0.6,
    uneven_light=0.25,
    noise=2.0,
    jpeg_quality=75,
    width=1280,
)


@pytest.fixture(scope="module")
def reader() -> MRZEngine:
    """One engine for the whole file: loading it takes about half a second."""
    return MRZEngine(threads=1)


@pytest.fixture(scope="module")
def portrait(lfw: Path) -> np.ndarray:
    return np.asarray(Image.open(sorted(lfw.glob("*/*.jpg"))[0]).convert("RGB"))


@pytest.mark.parametrize("mrz", CARDS, ids=["icao", "lookalikes", "long-names"])
def test_a_photographed_id_card_reads_exactly(
    reader: MRZEngine, portrait: np.ndarray, mrz: str
) -> None:
    reading = read_mrz(render_document(mrz, portrait, CAMERA), reader)
    assert reading.valid, reading.message
    assert (reading.text, reading.format) == (mrz, "TD1")
    assert reading.mrz is not None and reading.mrz.text() == mrz


@pytest.mark.parametrize("mrz", PAGES, ids=["icao", "lookalike-number", "digits-and-letters"])
def test_a_photographed_passport_page_reads_exactly(
    reader: MRZEngine, portrait: np.ndarray, mrz: str
) -> None:
    reading = read_mrz(render_document(mrz, portrait, CAMERA), reader)
    assert reading.valid, reading.message
    assert (reading.text, reading.format) == (mrz, "TD3")


def test_fields_come_out_by_name_and_as_json(reader: MRZEngine, portrait: np.ndarray) -> None:
    reading = read_mrz(render_document(ICAO_TD3, portrait, CAMERA), reader)
    assert reading.fields == {
        "document_code": "P",
        "issuing_state": "UTO",
        "document_number": "L898902C3",
        "birth_date": "740812",
        "sex": "F",
        "expiry_date": "120415",
        "nationality": "UTO",
        "surname": "ERIKSSON",
        "given_names": "ANNA MARIA",
        "optional_data": "ZE184226B",
    }
    as_json = reading.to_dict()
    assert {k: as_json[k] for k in ("mrz", "valid", "format")} == {
        "mrz": ICAO_TD3,
        "valid": True,
        "format": "TD3",
    }
    assert '"valid": true' in reading.to_json()
    assert 0 < reading.seconds < 30


@pytest.mark.parametrize(
    "angle", [-4.0, 3.0, 180.0, 177.0], ids=["-4deg", "3deg", "upside-down", "upside-down-3deg"]
)
def test_a_turned_or_upside_down_document_still_reads(
    reader: MRZEngine, portrait: np.ndarray, angle: float
) -> None:
    mrz = CARDS[1] if angle < 100 else PAGES[2]
    distortion = Distortion(rotation=angle, blur=0.5, jpeg_quality=80, seed=3)
    reading = read_mrz(render_document(mrz, portrait, distortion), reader)
    assert reading.valid, reading.message
    assert reading.text == mrz


def _with_wrong_digit(mrz: str, line: int, column: int) -> str:
    lines = mrz.splitlines()
    digit = lines[line][column]
    lines[line] = lines[line][:column] + str((int(digit) + 3) % 10) + lines[line][column + 1 :]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("mrz", "line", "column", "check"),
    [
        (ICAO_TD3, 1, 9, "document_number"),  # L898902C3's check digit
        (ICAO_TD3, 1, 19, "birth_date"),
        (CARDS[1], 0, 14, "document_number"),  # B8S5Z2G6I: full of look-alikes to "correct"
        (PAGES[1], 1, 43, "composite"),
    ],
)
def test_a_wrong_check_digit_is_refused_and_never_corrected(
    reader: MRZEngine, portrait: np.ndarray, mrz: str, line: int, column: int, check: str
) -> None:
    printed = _with_wrong_digit(mrz, line, column)
    reading = read_mrz(render_document(printed, portrait, CAMERA), reader)
    assert not reading.valid
    assert reading.mrz is None
    assert check in reading.failed_checks
    assert reading.text == printed  # what was read, as printed: nothing "corrected" into validity
    assert "hold the document flat" in reading.message


def test_a_photo_without_a_document_has_no_mrz(reader: MRZEngine, lfw: Path) -> None:
    face = sorted(lfw.glob("*/*.jpg"))[5]
    reading = read_mrz_file(face, reader)
    assert not reading.valid and not reading.found
    assert reading.text == "" and reading.format is None
    assert reading.message.startswith("no machine readable zone found")


def test_the_icao_specimens_read_to_their_known_values(reader: MRZEngine, datasets: Path) -> None:
    folder = datasets / "documents" / "mrz_specimens"
    passport = read_mrz_file(folder / "passport-td3.png", reader)
    assert passport.valid, passport.message
    assert passport.format == "TD3"
    assert passport.fields["surname"] == "ERIKSSON"
    assert passport.fields["given_names"] == "ANNA MARIA"
    assert passport.fields["document_number"] == "L898902C3"
    assert passport.fields["birth_date"] == "740812"
    assert passport.fields["expiry_date"] == "120415"
    assert passport.fields["nationality"] == "UTO"
    assert passport.fields["optional_data"] == "ZE184226B"
    card = read_mrz_file(folder / "passport-td2.jpg", reader)
    assert card.valid, card.message
    assert card.text == "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6"


def test_no_network_is_opened_loading_or_reading(
    monkeypatch: pytest.MonkeyPatch, portrait: np.ndarray
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network connection attempted: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    engine = MRZEngine(threads=1)  # a new one: loads the wheel's model files
    reading = read_mrz(render_document(ICAO_TD1, portrait, CAMERA), engine)
    assert reading.valid


def test_loading_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    MRZEngine(threads=1)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_an_unreadable_image_is_an_error(tmp_path: Path, reader: MRZEngine) -> None:
    not_an_image = tmp_path / "card.jpg"
    not_an_image.write_text("hello")
    with pytest.raises(UnreadableImageError, match="not a readable image"):
        read_mrz_file(not_an_image, reader)
    with pytest.raises(UnreadableImageError, match="too small"):
        read_mrz(np.zeros((10, 10), np.uint8), reader)
    with pytest.raises(UnreadableImageError):
        read_mrz(np.zeros((100, 100), np.float32), reader)  # type: ignore[arg-type]
    assert (
        issubclass(UnreadableImageError, MRZError) and UnreadableImageError.code == "invalid_image"
    )


# --- the decision rules, on made-up recognizer outputs (no OCR) --------------------------------


def _line(text: str, doubts: dict[int, dict[str, float]] | None = None) -> _Line:
    """A read of ``text``, sure of every character but those in ``doubts`` (column: probabilities)."""
    chars = []
    for col, char in enumerate(text):
        probs = np.zeros((1, len(ALPHABET)), np.float32)
        for c, p in (doubts or {}).get(col, {char: 0.99}).items():
            probs[0, ALPHABET.index(c)] = p
        chars.append(_Char(probs))
    read = _Read(chars, 0.99, 0)
    return _Line([read], np.zeros(2), np.array([1.0, 0.0]), 500.0, 10.0)


TD3_LINE1, TD3_LINE2 = ICAO_TD3.splitlines()


def test_letters_in_dates_and_digits_in_names_are_corrected_by_field_type() -> None:
    line2 = TD3_LINE2[:13] + "74O8I2Z" + TD3_LINE2[20:]  # 7408122 with O, I and Z
    line1 = TD3_LINE1.replace("ERIKSSON", "ER1KSS0N")
    attempt = _decode_band([_line(line1), _line(line2)])
    assert attempt.valid and attempt.text == ICAO_TD3


def test_a_doubt_the_check_digit_settles_is_settled() -> None:
    # The model hesitates between 8 and B in the number: only L898902C3 passes its check digit.
    doubt = {1: {"8": 0.55, "B": 0.45}}
    attempt = _decode_band([_line(TD3_LINE1), _line(TD3_LINE2, doubt)])
    assert attempt.valid and attempt.text == ICAO_TD3


def test_a_doubt_the_check_digit_cannot_settle_is_refused() -> None:
    # G and 6 differ by 10 in ICAO's character values: both pass the same check digit.
    mrz = td3_mrz("XG1234567", "740812", "120415", "ERIKSSON", "ANNA")
    line1, line2 = mrz.splitlines()
    attempt = _decode_band([_line(line1), _line(line2, {1: {"G": 0.6, "6": 0.4}})])
    assert not attempt.valid and attempt.failed_checks == ["ambiguous"]


def test_a_doubt_in_a_name_is_refused() -> None:
    # No check digit covers names: ERIKSSON or ERIKSSDN cannot be told apart, so no answer.
    attempt = _decode_band([_line(TD3_LINE1, {12: {"O": 0.55, "D": 0.45}}), _line(TD3_LINE2)])
    assert not attempt.valid and attempt.failed_checks == ["unclear"]


def test_fillers_lost_or_misread_at_the_end_of_the_names_are_restored() -> None:
    short = TD3_LINE1[:-5]  # five fillers dropped at the end
    misread = TD3_LINE1[:30] + "K" + TD3_LINE1[31:]  # a lone K among the trailing fillers
    for line1 in (short, misread):
        attempt = _decode_band([_line(line1), _line(TD3_LINE2)])
        assert attempt.valid and attempt.text == ICAO_TD3


def test_a_lone_k_among_the_fillers_of_a_number_field_is_a_filler() -> None:
    # K and < pass the same check digits, so only the context can say: fields end in fillers.
    line2 = TD3_LINE2.replace("B<<<<<10", "B<<K<<10")
    attempt = _decode_band([_line(TD3_LINE1), _line(line2)])
    assert attempt.valid and attempt.text == ICAO_TD3


def test_a_filler_lost_inside_line_two_is_put_back_where_the_check_digits_say() -> None:
    line2 = TD3_LINE2.replace("B<<<<<10", "B<<<<10")
    attempt = _decode_band([_line(TD3_LINE1), _line(line2)])
    assert attempt.valid and attempt.text == ICAO_TD3


def test_a_lost_character_that_is_not_a_filler_is_refused() -> None:
    line2 = TD3_LINE2.replace("7408122", "748122")
    attempt = _decode_band([_line(TD3_LINE1), _line(line2)])
    assert not attempt.valid


def test_a_visa_is_refused() -> None:
    visa = "VCPOLKOWALSKA<KWIATKOWSKA<<BEATA<<<<\nPL00000008POL6002084F0505011<<<<<<<0"
    lines = visa.splitlines()
    attempt = _decode_band([_line(lines[0]), _line(lines[1])])
    assert not attempt.valid and "visa" in attempt.reason
