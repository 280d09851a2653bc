"""`station scanner info` and `station scanner capture`, as a field technician types them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from station.cli import main


def sim(datasets: Path, extra: str = "") -> str:
    folder = datasets / "fingerprints" / "fvc2002_b" / "DB1_B"
    return f"sim://?dir={folder}&model=r503&baudrate=115200&speedup=8&timeout=0.4{extra}"


def test_scanner_info_prints_model_size_dpi_and_baud_as_json(datasets: Path) -> None:
    result = CliRunner().invoke(main, ["scanner", "info", "--url", sim(datasets), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert (info["model"], info["width"], info["height"], info["dpi"]) == ("R503", 192, 192, 500)
    assert info["baudrate"] == 115200


def test_scanner_info_in_words_names_the_model_and_baud_rate(datasets: Path) -> None:
    result = CliRunner().invoke(main, ["scanner", "info", "--url", sim(datasets)])
    assert result.exit_code == 0, result.output
    assert "R503 at 115200 baud" in result.output
    assert "192x192 at 500 dpi" in result.output


def test_scanner_capture_saves_the_image_and_reports_time_and_quality(
    datasets: Path, tmp_path: Path
) -> None:
    out = tmp_path / "finger.png"
    result = CliRunner().invoke(
        main, ["scanner", "capture", "--url", sim(datasets), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["model"], report["width"], report["height"], report["dpi"]) == (
        "R503",
        192,
        192,
        500,
    )
    assert report["baudrate"] == 115200
    assert 0 < report["capture_seconds"] < 5
    # the centre of an FVC print: ridges nearly everywhere, and 16 grey levels of contrast
    assert report["quality"]["foreground"] > 0.5
    assert report["quality"]["contrast"] > 0.3
    saved = np.asarray(Image.open(out))
    assert saved.shape == (192, 192)
    assert set(np.unique(saved)) <= {17 * level for level in range(16)}


def test_an_empty_glass_scores_no_foreground(datasets: Path, tmp_path: Path) -> None:
    from drivers.fingerprint.quality import capture_quality

    quality = capture_quality(np.full((192, 192), 255, dtype=np.uint8))
    assert (quality.foreground, quality.contrast) == (0.0, 0.0)


def test_a_scanner_fault_exits_1_with_what_to_do(datasets: Path, tmp_path: Path) -> None:
    out = tmp_path / "finger.png"
    url = sim(datasets, "&faults=messy")
    result = CliRunner().invoke(main, ["scanner", "capture", "--url", url, "--out", str(out)])
    assert result.exit_code == 1
    assert "clean the glass" in result.output
    assert not out.exists()
    as_json = CliRunner().invoke(
        main, ["scanner", "capture", "--url", url, "--out", str(out), "--json"]
    )
    assert as_json.exit_code == 1
    assert json.loads(as_json.output)["error"]["code"] == "poor_fingerprint_image"


def test_a_bad_url_option_exits_1_listing_the_valid_options() -> None:
    result = CliRunner().invoke(
        main, ["scanner", "info", "--url", "serial:///dev/ttyUSB0?speed=9600"]
    )
    assert result.exit_code == 1
    assert "valid options: address, baudrate" in result.output


def test_scanner_speed_moves_the_module_to_its_fastest_line_and_says_which_url_to_use(
    datasets: Path,
) -> None:
    slow = sim(datasets).replace("baudrate=115200", "baudrate=57600")
    result = CliRunner().invoke(main, ["scanner", "speed", "--url", slow, "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["before"] == {"baudrate": 57600, "packet_size": 128}
    assert answer["after"] == {"baudrate": 115200, "packet_size": 256}
    assert "baudrate=115200" in answer["url"] and "baudrate=57600" not in answer["url"]
    assert "model=r503" in answer["url"]


def test_scanner_speed_refuses_a_rate_the_protocol_has_not(datasets: Path) -> None:
    result = CliRunner().invoke(
        main, ["scanner", "speed", "--url", sim(datasets), "--baudrate", "100000"]
    )
    assert result.exit_code != 0 and "9600 x N" in result.output
