"""``station card``: the technician's read command, on the simulated chip."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from drivers.idcard.personalise import DEFAULT_MRZ
from drivers.idcard.sim import DEFAULT_SEED
from station.commands.card import card


def test_card_read_prints_the_fields_and_every_passive_authentication_check_as_json(
    tmp_path: Path,
) -> None:
    from drivers.idcard.personalise import make_pki

    make_pki("KG", seed=DEFAULT_SEED).write_csca(tmp_path / "csca")
    photo = tmp_path / "face.jpg"
    result = CliRunner().invoke(
        card,
        ["read", "--url", "sim://", "--mrz", DEFAULT_MRZ, "--csca", str(tmp_path / "csca"),
         "--photo", str(photo), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["document_number"] == "AN1234567"
    assert (out["surname"], out["given_names"], out["nationality"]) == ("TESTOVA", "AIZADA", "KGZ")
    assert (out["birth_date"], out["expiry_date"]) == ("900101", "351231")
    assert len(out["passive_auth"]) == 8 and all(c["passed"] for c in out["passive_auth"])
    assert out["photo_bytes"] == photo.stat().st_size > 0


def test_card_read_with_a_wrong_key_says_access_denied(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        card,
        [
            "read",
            "--url",
            "sim://",
            "--doc",
            "AN1234567",
            "--birth",
            "900101",
            "--expiry",
            "351230",
        ],
    )
    assert result.exit_code == 1
    assert "access denied: check the document number, birth date and expiry" in result.output


def test_card_read_without_csca_exits_4_and_says_what_was_not_checked() -> None:
    result = CliRunner().invoke(
        card,
        [
            "read",
            "--url",
            "sim://",
            "--doc",
            "AN1234567",
            "--birth",
            "900101",
            "--expiry",
            "351231",
        ],
    )
    assert result.exit_code == 4, result.output
    assert "not checked  csca" in result.output
    assert "TESTOVA, AIZADA" in result.output


def test_card_read_says_which_access_protocol_opened_the_chip() -> None:
    result = CliRunner().invoke(
        card, ["read", "--url", "sim://?pace=brainpoolP256r1&bac=false", "--mrz", DEFAULT_MRZ]
    )
    assert result.exit_code == 4, result.output  # no CSCA folder given
    assert "(PACE," in result.output
    assert "PACE-ECDH-GM-AES-CBC-CMAC-128 on brainpoolP256r1" in result.output


# -- station card mrz: the MRZ from a photo of the card ---------------------------------------


def card_photo(tmp_path: Path, mrz: str) -> Path:
    """A camera photo of a TD1 card printed with ``mrz``, held up by a steady hand."""
    from PIL import Image

    from drivers.idcard.document_image import HANDHELD, render_document

    path = tmp_path / "card.jpg"
    Image.fromarray(render_document(mrz, None, HANDHELD)).save(path, quality=92)
    return path


def test_card_mrz_reads_a_photographed_card_into_its_zone_format_and_fields(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(card, ["mrz", str(card_photo(tmp_path, DEFAULT_MRZ)), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["mrz"], out["valid"], out["format"], out["outcome"]) == (
        DEFAULT_MRZ,
        True,
        "TD1",
        "valid",
    )
    assert out["fields"]["document_number"] == "AN1234567"
    assert (out["fields"]["birth_date"], out["fields"]["expiry_date"]) == ("900101", "351231")
    assert out["failed_checks"] == [] and out["advice"] == "" and out["seconds"] > 0


def test_card_mrz_refuses_a_card_printed_with_a_wrong_check_digit_and_never_guesses(
    tmp_path: Path,
) -> None:
    lines = DEFAULT_MRZ.splitlines()
    wrong = "\n".join([lines[0][:14] + "8" + lines[0][15:], *lines[1:]])  # number's check 7 -> 8
    result = CliRunner().invoke(card, ["mrz", str(card_photo(tmp_path, wrong)), "--json"])
    assert result.exit_code == 3, result.output
    out = json.loads(result.output)
    assert (out["valid"], out["outcome"], out["fields"]) == (False, "unreliable", {})
    assert "document_number" in out["failed_checks"]
    assert out["mrz"] == wrong  # what is printed, not "corrected" into validity
    assert "hold the document flat" in out["advice"] and "fill the frame" in out["advice"]


def test_card_mrz_of_a_file_that_is_no_image_is_an_error_without_a_traceback(
    tmp_path: Path,
) -> None:
    not_a_photo = tmp_path / "card.jpg"
    not_a_photo.write_text("hello")
    result = CliRunner().invoke(card, ["mrz", str(not_a_photo)])
    assert result.exit_code == 1
    assert (
        "is not a readable image" in result.output and "give a photo of the card" in result.output
    )
    assert "Traceback" not in result.output
    as_json = CliRunner().invoke(card, ["mrz", str(not_a_photo), "--json"])
    assert json.loads(as_json.output)["error"]["code"] == "invalid_image"


def test_card_mrz_takes_a_photo_or_the_camera() -> None:
    neither = CliRunner().invoke(card, ["mrz"])
    assert (
        neither.exit_code == 2 and "give a photo of the card (IMAGE), or --camera" in neither.output
    )
    url_alone = CliRunner().invoke(card, ["mrz", "--url", "sim://?mrz=X"])
    assert url_alone.exit_code == 2 and "add --camera" in url_alone.output


def test_card_mrz_camera_reads_one_frame_of_the_card_held_up_to_it() -> None:
    from urllib.parse import quote

    result = CliRunner().invoke(
        card, ["mrz", "--camera", "--url", f"sim://?mrz={quote(DEFAULT_MRZ)}"]
    )
    assert result.exit_code == 0, result.output
    assert "VALID TD1" in result.output and DEFAULT_MRZ in result.output
    assert "document_number  AN1234567" in result.output
