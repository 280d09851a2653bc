"""The `station` command: enroll, identify, verify, show and eval, as an operator types them.

Commands that touch records sign in: ``--operator`` or $STATION_OPERATOR, the password from
$STATION_PASSWORD (or asked for). Each test's station has its own key file and a cheap scrypt.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from station.cli import main
from tests.conftest import photos_of

PASSWORD = "Desk-pass-1"


def station_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a station in ``tmp_path/data``, signed in as the operator ``clerk``."""
    return {
        "STATION_DATA": str(tmp_path / "data"),
        "STATION_KEY_FILE": str(tmp_path / "station.key"),
        "STATION_PASSWORD_KDF_N": "1024",
        "STATION_LOG_LEVEL": "WARNING",
        "STATION_OPERATOR": "clerk",
        "STATION_PASSWORD": PASSWORD,
    }


def with_clerk(tmp_path: Path) -> dict[str, str]:
    """A station whose first account is the operator ``clerk`` (password chosen, no change)."""
    env = station_env(tmp_path)
    created = CliRunner().invoke(
        main,
        ["operator", "create", "clerk", "--role", "operator"],
        env={**env, "STATION_NEW_PASSWORD": PASSWORD},
    )
    assert created.exit_code == 0, created.output
    return env


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STATION_LOG_LEVEL": "WARNING", **(env or {})}
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
    env = with_clerk(tmp_path)
    alice, bob = lfw_people[90], lfw_people[91]
    enrolled = run("enroll", str(photos_of(alice)[0]), "--name", "Alice Example", "--json", env=env)
    assert enrolled.returncode == 0, enrolled.stderr
    record = json.loads(enrolled.stdout)
    assert record["name"] == "Alice Example"
    assert run("enroll", str(photos_of(bob)[0]), "--name", "Bob Example", env=env).returncode == 0

    found = run("identify", str(photos_of(alice)[1]), "--json", env=env)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["match"]["record_id"] == record["id"]

    human = run("identify", str(photos_of(alice)[1]), env=env)
    assert human.stdout.startswith(f"MATCH record {record['id']}")

    other = run("verify", str(photos_of(bob)[1]), "--record", str(record["id"]), env=env)
    assert other.returncode == 3
    assert other.stdout.startswith("NO MATCH")


def test_identify_exits_3_when_nobody_matches(tmp_path: Path, lfw_people: list[Path]) -> None:
    env = with_clerk(tmp_path)
    result = CliRunner().invoke(main, ["identify", str(photos_of(lfw_people[0])[0])], env=env)
    assert result.exit_code == 3
    assert "NO MATCH" in result.output


def test_errors_are_one_clear_line_and_exit_1(tmp_path: Path, datasets: Path) -> None:
    runner = CliRunner()
    env = with_clerk(tmp_path)
    no_face = datasets / "fingerprints" / "upek" / "1_1.png"
    result = runner.invoke(main, ["enroll", str(no_face), "--name", "X"], env=env)
    assert result.exit_code == 1
    assert result.output.startswith("error: no face found")
    missing = runner.invoke(main, ["show", "42"], env=env)
    assert missing.exit_code == 1
    assert "no record with id 42" in missing.output


def test_a_wrong_password_is_refused_and_nothing_is_done(
    tmp_path: Path, lfw_people: list[Path]
) -> None:
    env = {**with_clerk(tmp_path), "STATION_PASSWORD": "Wrong-pass-1"}
    result = CliRunner().invoke(
        main, ["enroll", str(photos_of(lfw_people[0])[0]), "--name", "X"], env=env
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: wrong login or password")


def test_a_file_that_is_not_an_image_is_a_clear_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    result = CliRunner().invoke(main, ["identify", str(notes)], env=with_clerk(tmp_path))
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
