"""The `station` command for technicians and scripts: enroll, intake, identify, holds, decide and
show, as an operator types them; beside a running server they go through its API.

Commands that touch records sign in: ``--operator`` or $STATION_OPERATOR, the password from
$STATION_PASSWORD (or asked for). Each test's station has its own key file and a cheap scrypt, and
enrolls faces only (it has no scanner) unless a test gives fingers.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner, Result

from station.cli import main
from tests.conftest import photos_of

PASSWORD = "Desk-pass-1"


def station_env(tmp_path: Path, login: str = "clerk") -> dict[str, str]:
    """Environment for a station in ``tmp_path/data``, signed in as ``login``."""
    return {
        "STATION_DATA": str(tmp_path / "data"),
        "STATION_KEY_FILE": str(tmp_path / "station.key"),
        "STATION_PASSWORD_KDF_N": "1024",
        "STATION_LOGIN_ANSWER_SECONDS": "0",
        "STATION_ENROLL_MIN_FINGERS": "0",
        "STATION_LOG_LEVEL": "WARNING",
        "STATION_OPERATOR": login,
        "STATION_PASSWORD": PASSWORD,
    }


def with_accounts(tmp_path: Path) -> dict[str, str]:
    """A station with the operator ``clerk`` and the supervisor ``chief`` (passwords chosen)."""
    from station.core import Station
    from station.security.roles import SYSTEM
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "data", key_file=tmp_path / "station.key")
    with Station(settings) as station:
        station.operators.create(SYSTEM, "clerk", "operator", PASSWORD)
        station.operators.create(SYSTEM, "chief", "supervisor", PASSWORD)
    return station_env(tmp_path)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STATION_LOG_LEVEL": "WARNING", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "station", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def test_enroll_then_identify_from_files_and_the_same_person_again_is_held(
    tmp_path: Path, lfw_people: list[Path]
) -> None:
    env = with_accounts(tmp_path)
    alice, bob = lfw_people[90], lfw_people[91]
    enrolled = invoke(
        env,
        "enroll",
        "--photo",
        str(photos_of(alice)[0]),
        "--name",
        "Alice Example",
        "--document-number",
        "AE1000001",
        "--consent",
        "--json",
    )
    assert enrolled.exit_code == 0, enrolled.output
    record = json.loads(enrolled.output)["record"]
    assert record["name"] == "Alice Example"
    other = invoke(
        env, "enroll", "--photo", str(photos_of(bob)[0]), "--name", "Bob Example", "--consent"
    )
    assert other.exit_code == 0, other.output

    found = invoke(env, "identify", "--photo", str(photos_of(alice)[1]), "--json")
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)["match"]["record_id"] == record["id"]
    human = invoke(env, "identify", "--photo", str(photos_of(alice)[1]))
    assert human.output.startswith(f"MATCH record {record['id']}")
    assert "Alice" not in human.output  # an operator sees record ids, not names

    again = invoke(
        env, "enroll", "--photo", str(photos_of(alice)[2]), "--name", "Alice Again", "--consent"
    )
    assert again.exit_code == 4, again.output  # held for a supervisor
    assert "held: likely_duplicate" in again.output
    chief = {**env, "STATION_OPERATOR": "chief"}
    listed = invoke(chief, "holds", "--json")
    assert listed.exit_code == 0, listed.output
    (hold,) = json.loads(listed.output)
    decided = invoke(chief, "decide", str(hold["record_id"]), "reject", "--reason", "same person")
    assert decided.exit_code == 0 and "deleted" in decided.output
    shown = invoke(chief, "show", str(record["id"]))
    assert json.loads(shown.output)["name"] == "Alice Example"


def test_enrollment_needs_consent_and_says_so(tmp_path: Path, lfw_people: list[Path]) -> None:
    env = with_accounts(tmp_path)
    result = invoke(env, "enroll", "--photo", str(photos_of(lfw_people[0])[0]), "--name", "X")
    assert result.exit_code == 1
    assert "consent" in result.output


def test_identify_exits_3_when_nobody_matches(tmp_path: Path, lfw_people: list[Path]) -> None:
    env = with_accounts(tmp_path)
    result = invoke(env, "identify", "--photo", str(photos_of(lfw_people[0])[0]))
    assert result.exit_code == 3
    assert "NO MATCH" in result.output


def test_errors_are_one_clear_line_and_exit_1(tmp_path: Path, datasets: Path) -> None:
    env = with_accounts(tmp_path)
    no_face = datasets / "fingerprints" / "upek" / "1_1.png"
    result = invoke(env, "enroll", "--photo", str(no_face), "--name", "X", "--consent")
    assert result.exit_code == 1
    assert result.output.startswith("error: no face found")
    missing = invoke({**env, "STATION_OPERATOR": "chief"}, "show", "42")
    assert missing.exit_code == 1
    assert "no record with id 42" in missing.output
    bad = invoke(env, "identify", "--finger", "thumb.png")
    assert bad.exit_code == 2 and "POSITION=FILE" in bad.output


def test_a_wrong_password_is_refused_and_nothing_is_done(
    tmp_path: Path, lfw_people: list[Path]
) -> None:
    env = {**with_accounts(tmp_path), "STATION_PASSWORD": "Wrong-pass-1"}
    result = invoke(
        env, "enroll", "--photo", str(photos_of(lfw_people[0])[0]), "--name", "X", "--consent"
    )
    assert result.exit_code == 1
    assert result.output.startswith("error: wrong login or password")


def test_a_file_that_is_not_an_image_is_a_clear_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    result = invoke(with_accounts(tmp_path), "identify", "--photo", str(notes))
    assert result.exit_code == 1
    assert "not an image the station can read" in result.output


def test_a_command_never_makes_an_empty_station_in_another_folder(tmp_path: Path) -> None:
    env = station_env(tmp_path)
    result = invoke(env, "holds")
    assert result.exit_code == 1
    assert f"no station in {tmp_path / 'data'}" in result.output
    assert not (tmp_path / "data" / "station.sqlite3").exists()


def test_an_unknown_station_variable_is_an_error_that_lists_the_valid_ones(
    tmp_path: Path,
) -> None:
    env = {**with_accounts(tmp_path), "STATION_PORTT": "9000"}
    result = invoke(env, "holds")
    assert result.exit_code == 1
    assert "unknown environment variable(s) STATION_PORTT" in result.output
    assert "STATION_PORT" in result.output


def test_the_commands_work_beside_a_running_server_through_its_api(
    tmp_path: Path, lfw_people: list[Path]
) -> None:
    from tests.test_serve import free_port

    env = with_accounts(tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "station", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        address = tmp_path / "data" / "server.json"
        deadline = time.monotonic() + 60
        while not address.exists() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.1)
        assert address.exists(), server.stdout.read() if server.stdout else ""
        person = lfw_people[97]  # two photos 0.45 apart: a face alone identifies them
        enrolled = run(
            "enroll",
            "--photo",
            str(photos_of(person)[0]),
            "--name",
            "Beside Server",
            "--consent",
            "--json",
            env=env,
        )
        assert enrolled.returncode == 0, enrolled.stderr
        record = json.loads(enrolled.stdout)["record"]
        found = run("identify", "--photo", str(photos_of(person)[1]), "--json", env=env)
        assert json.loads(found.stdout)["match"]["record_id"] == record["id"]
        # the server itself saw the enrollment: its gallery holds the new record
        status = run("holds", env={**env, "STATION_OPERATOR": "chief"})
        assert status.returncode == 0, status.stderr
    finally:
        server.terminate()
        server.communicate(timeout=60)
    assert not (tmp_path / "data" / "server.json").exists()


def test_eval_face_prints_the_agreed_json_keys(tmp_path: Path, lfw_people: list[Path]) -> None:
    folder = tmp_path / "people"
    folder.mkdir()
    chosen = lfw_people[100:108]
    for person in chosen:
        (folder / person.name).symlink_to(person)
    result = run(
        "eval", "face", str(folder), "--json", "--holdout", "0.25", "--workers", "2"
    )  # both encoders by default, side by side
    assert result.returncode == 0, result.stderr
    both = json.loads(result.stdout)
    assert set(both) == {"sface", "dlib"}
    assert both["sface"]["images"] == both["dlib"]["images"]  # the same photos for both
    figures = both["sface"]
    assert {"rank1", "fnir", "fpir", "probes", "gallery", "seconds"} <= set(figures)
    assert {"failure_to_acquire_rate", "ms_per_face", "encoder"} <= set(figures)
    assert {"fnmr_at_fmr_0.001", "fnmr_at_fmr_0.0001"} <= set(figures["verification"])
    held_out = 2
    photos = {p.name: len(photos_of(p)) for p in chosen}
    assert figures["gallery"] == len(chosen) - held_out
    assert figures["held_out_people"] == held_out
    assert figures["images"] == sum(photos.values())
    assert (
        figures["probes"] == figures["images"] - figures["gallery"] - figures["failures_to_acquire"]
    )
    assert figures["rank1"] >= 0.9
    assert 0 <= figures["fpir"] <= 1 and 0 <= figures["fnir"] <= 1


def test_card_mrz_camera_uses_the_station_s_own_camera_through_the_workflow(
    tmp_path: Path,
) -> None:
    from urllib.parse import quote

    from drivers.idcard.personalise import DEFAULT_MRZ

    env = {**with_accounts(tmp_path), "STATION_CAMERA_URL": f"sim://?mrz={quote(DEFAULT_MRZ)}"}
    result = invoke(env, "card", "mrz", "--camera", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["mrz"] == DEFAULT_MRZ
    from station.core import Station
    from tests.conftest import make_settings

    with Station(make_settings(tmp_path / "data", key_file=tmp_path / "station.key")) as station:
        read = station.audit.rows(action="mrz_read")
    assert [(r["operator"], r["outcome"]) for r in read] == [("clerk", "valid")]
