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
