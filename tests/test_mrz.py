"""MRZ parsing and check digits, on the ICAO 9303 specimens in ../shared/datasets/documents.

The texts are transcribed from the specimen images (passport-td3.png, passport-td2.png,
specimens/100_id-che.jpg); the tests check the files are still there so the link stays visible.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.idcard import MRZ, AccessKey, MRZError, check_digit

TD3_ERIKSSON = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
)
TD2_ERIKSSON = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\nD231458907UTO7408122F1204159<<<<<<<6"
TD1_CHE = (
    "IDCHES0002068<8<<<<<<<<<<<<<<<\n8102287F1301014CHE<<<<<<<<<<<4\nVADIS<<QUO<<<<<<<<<<<<<<<<<<<<"
)


@pytest.fixture(scope="module")
def specimens(datasets: Path) -> Path:
    folder = datasets / "documents" / "mrz_specimens"
    for name in ("passport-td3.png", "passport-td2.png", "specimens/100_id-che.jpg"):
        assert (folder / name).is_file(), f"specimen {name} missing from {folder}"
    return folder


def test_check_digits_follow_the_7_3_1_weights() -> None:
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("120415") == "9"
    assert check_digit("<<<<<<") == "0"
    assert check_digit("L898902C<") == "3"


def test_the_icao_td3_specimen_parses_with_every_check_digit_right(specimens: Path) -> None:
    mrz = MRZ.parse(TD3_ERIKSSON).validate()
    assert mrz.format == "TD3"
    assert (mrz.document_code, mrz.issuing_state, mrz.nationality) == ("P", "UTO", "UTO")
    assert (mrz.surname, mrz.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert (mrz.document_number, mrz.birth_date, mrz.expiry_date) == (
        "L898902C3",
        "740812",
        "120415",
    )
    assert mrz.sex == "F"
    assert mrz.optional_data == "ZE184226B"
    assert set(mrz.checks) == {
        "document_number",
        "birth_date",
        "expiry_date",
        "personal_number",
        "composite",
    }


def test_the_icao_td2_specimen_parses_with_every_check_digit_right(specimens: Path) -> None:
    mrz = MRZ.parse(TD2_ERIKSSON).validate()
    assert mrz.format == "TD2"
    assert (mrz.document_number, mrz.surname, mrz.given_names) == (
        "D23145890",
        "ERIKSSON",
        "ANNA MARIA",
    )
    assert (mrz.birth_date, mrz.expiry_date, mrz.sex) == ("740812", "120415", "F")


def test_a_swiss_td1_identity_card_specimen_parses_with_every_check_digit_right(
    specimens: Path,
) -> None:
    mrz = MRZ.parse(TD1_CHE).validate()
    assert mrz.format == "TD1"
    assert (mrz.document_code, mrz.issuing_state, mrz.document_number) == ("ID", "CHE", "S0002068")
    assert (mrz.surname, mrz.given_names, mrz.nationality) == ("VADIS", "QUO", "CHE")
    assert (mrz.birth_date, mrz.sex, mrz.expiry_date) == ("810228", "F", "130101")


def test_a_td1_document_number_longer_than_nine_characters_continues_in_the_optional_data() -> None:
    number = "D23145890734"
    line1 = f"I<UTO{number[:9]}<{number[9:]}{check_digit(number)}".ljust(30, "<")
    line2 = "7408122F1204159UTO".ljust(29, "<")
    line2 += check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    mrz = MRZ.parse(
        f"{line1}\n{line2}\nERIKSSON<<ANNA<MARIA".ljust(30 * 2 + 2 + 30, "<")
    ).validate()
    assert mrz.document_number == number
    assert AccessKey.from_mrz(mrz.text()).mrz_information().startswith(number + check_digit(number))


@pytest.mark.parametrize(
    ("position", "replacement", "failed"),
    [
        (44 + 9, "7", "document_number"),
        (44 + 19, "3", "birth_date"),
        (44 + 27, "0", "expiry_date"),
        (44 + 43, "1", "composite"),
    ],
)
def test_a_wrong_check_digit_is_caught_and_named(
    position: int, replacement: str, failed: str
) -> None:
    flat = TD3_ERIKSSON.replace("\n", "")
    broken = flat[:position] + replacement + flat[position + 1 :]
    mrz = MRZ.parse(broken)
    assert failed in mrz.failed_checks
    with pytest.raises(MRZError, match=failed):
        mrz.validate()


def test_text_that_is_no_mrz_format_is_refused_with_the_formats_listed() -> None:
    with pytest.raises(MRZError, match=r"TD1.*TD2.*TD3"):
        MRZ.parse("P<UTOERIKSSON\nL898902C3")
    with pytest.raises(MRZError, match="characters other than"):
        MRZ.parse(TD3_ERIKSSON.replace("ERIKSSON", "ERIKSSÖN"))


def test_the_bac_key_seed_uses_number_birth_and_expiry_with_their_check_digits() -> None:
    key = AccessKey("L898902C<", "690806", "940623")
    assert key.mrz_information() == "L898902C<369080619406236"
    assert AccessKey("L898902C", "690806", "940623").mrz_information() == "L898902C<369080619406236"
    assert key.key_seed().hex().upper() == "239AB9CB282DAF66231DC5A4DF6BFBAE"


def test_an_access_key_refuses_dates_that_are_not_yymmdd() -> None:
    with pytest.raises(ValueError, match="birth date"):
        AccessKey("L898902C3", "19740812", "120415")
    with pytest.raises(ValueError, match="expiry date"):
        AccessKey("L898902C3", "740812", "121315")
