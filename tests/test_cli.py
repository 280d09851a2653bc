"""The `station` command: enroll, identify, verify, show and eval, as an operator types them."""

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from station.cli import main
from tests.conftest import photos_of


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STATION_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "station", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_enroll_then_identify_then_verify_from_files(
    tmp_path: Path, lfw_people: list[Path]
) -> None:
    data = str(tmp_path / "data")
    alice, bob = lfw_people[90], lfw_people[91]
    enrolled = run(
        "enroll", str(photos_of(alice)[0]), "--name", "Alice Example", "--data", data, "--json"
    )
    assert enrolled.returncode == 0, enrolled.stderr
    record = json.loads(enrolled.stdout)
    assert record["name"] == "Alice Example"
    assert (
        run("enroll", str(photos_of(bob)[0]), "--name", "Bob Example", "--data", data).returncode
        == 0
    )

    found = run("identify", str(photos_of(alice)[1]), "--data", data, "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["match"]["record_id"] == record["id"]

    human = run("identify", str(photos_of(alice)[1]), "--data", data)
    assert human.stdout.startswith(f"MATCH record {record['id']}")

    other = run("verify", str(photos_of(bob)[1]), "--record", str(record["id"]), "--data", data)
    assert other.returncode == 3
    assert other.stdout.startswith("NO MATCH")


def test_identify_exits_3_when_nobody_matches(tmp_path: Path, lfw_people: list[Path]) -> None:
    runner = CliRunner()
    data = str(tmp_path / "data")
    result = runner.invoke(main, ["identify", str(photos_of(lfw_people[0])[0]), "--data", data])
    assert result.exit_code == 3
    assert "NO MATCH" in result.output


def test_errors_are_one_clear_line_and_exit_1(tmp_path: Path, datasets: Path) -> None:
    runner = CliRunner()
    no_face = datasets / "fingerprints" / "upek" / "1_1.png"
    result = runner.invoke(main, ["enroll", str(no_face), "--name", "X", "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("error: no face found")
    missing = runner.invoke(main, ["show", "42", "--data", str(tmp_path)])
    assert missing.exit_code == 1
    assert "no record with id 42" in missing.output


def test_a_file_that_is_not_an_image_is_a_clear_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    result = CliRunner().invoke(main, ["identify", str(notes), "--data", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert "cannot read the image" in result.output


def test_eval_face_prints_the_agreed_json_keys(tmp_path: Path, lfw_people: list[Path]) -> None:
    folder = tmp_path / "people"
    folder.mkdir()
    chosen = lfw_people[100:112]
    for person in chosen:
        (folder / person.name).symlink_to(person)
    result = run("eval", "face", str(folder), "--json", "--holdout", "0.25", "--workers", "2")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert {"rank1", "fnir", "fpir", "probes", "gallery", "seconds"} <= set(figures)
    held_out = 3
    photos = {p.name: len(photos_of(p)) for p in chosen}
    assert figures["gallery"] == len(chosen) - held_out
    assert figures["held_out_people"] == held_out
    assert figures["images"] == sum(photos.values())
    assert (
        figures["probes"] == figures["images"] - figures["gallery"] - figures["failures_to_acquire"]
    )
    assert figures["rank1"] >= 0.9
    assert 0 <= figures["fpir"] <= 1 and 0 <= figures["fnir"] <= 1
