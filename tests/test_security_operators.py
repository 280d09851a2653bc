"""Operators and access: unique logins, a password policy, scrypt hashes, a forced change at first
login, lockout after repeated failures, sessions that expire."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from matcher.face import FaceEncoder
from station.api import create_app
from station.core import Station
from station.errors import InvalidInputError
from station.security.operators import LoginFailedError
from station.security.passwords import (
    KdfParams,
    check_policy,
    hash_password,
    needs_rehash,
    verify_password,
)
from station.security.roles import SYSTEM, Actor, Role
from tests.conftest import TEST_PASSWORD, client_as, make_settings, sign_in

ADMIN = Actor("boss", Role.ADMIN)


@pytest.mark.parametrize(
    ("password", "missing"),
    [
        ("Sh0rt!", "at least 8 characters"),
        ("lower-case-only-1", "an upper-case letter"),
        ("UPPER-CASE-ONLY-1", "a lower-case letter"),
        ("No-Digits-Here", "a digit"),
        ("NoSpecials123", "a special character"),
    ],
)
def test_a_password_must_have_8_characters_upper_lower_digit_and_special(
    password: str, missing: str
) -> None:
    with pytest.raises(InvalidInputError, match=missing):
        check_policy(password)
    check_policy("Good-pass-1")


def test_passwords_are_stored_as_scrypt_hashes_with_their_cost() -> None:
    params = KdfParams(n=1024)
    stored = hash_password("Good-pass-1", params)
    assert stored.startswith("scrypt$1024$8$1$")
    assert "Good-pass-1" not in stored
    assert verify_password("Good-pass-1", stored)
    assert not verify_password("Good-pass-2", stored)
    assert hash_password("Good-pass-1", params) != stored  # salted
    assert needs_rehash(stored, KdfParams())  # the strong default is n=2**17


def test_the_default_cost_is_owasp_scrypt() -> None:
    assert KdfParams() == KdfParams(n=2**17, r=8, p=1)


def test_the_database_holds_no_password(station: Station) -> None:
    station.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
    raw = station.settings.database_path.read_bytes()
    raw += (station.settings.database_path.with_name("station.sqlite3-wal")).read_bytes()
    assert TEST_PASSWORD.encode() not in raw


def test_logins_are_unique_whatever_their_case(station: Station) -> None:
    station.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
    with pytest.raises(InvalidInputError, match="taken"):
        station.operators.create(SYSTEM, "Clerk", "supervisor", TEST_PASSWORD)
    with pytest.raises(InvalidInputError, match="login is 2-32 characters"):
        station.operators.create(SYSTEM, "x y", "operator", TEST_PASSWORD)
    with pytest.raises(InvalidInputError, match="role is one of"):
        station.operators.create(SYSTEM, "other", "system", TEST_PASSWORD)


def test_a_new_account_gets_a_one_time_password_it_must_change(
    app, admin: FlaskClient, station: Station
) -> None:
    created = admin.post("/api/v1/operators", json={"login": "newbie", "role": "operator"})
    assert created.status_code == 201
    one_time = created.json["one_time_password"]
    check_policy(one_time)

    newbie = sign_in(app, "newbie", one_time)
    assert newbie.get("/api/v1/auth/me").json["must_change_password"] is True
    refused = newbie.get("/api/v1/records/1")
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "password_change_required"

    weak = newbie.post(
        "/api/v1/auth/password", json={"current_password": one_time, "new_password": "weak"}
    )
    assert weak.status_code == 400 and weak.json["error"]["field"] == "new_password"
    changed = newbie.post(
        "/api/v1/auth/password",
        json={"current_password": one_time, "new_password": "Mine-now-42"},
    )
    assert changed.status_code == 200 and changed.json["must_change_password"] is False
    assert newbie.get("/api/v1/status").json["records"] == 0
    assert sign_in(app, "newbie", "Mine-now-42").get("/api/v1/auth/me").status_code == 200


def test_a_wrong_login_and_a_wrong_password_get_the_same_answer(
    anonymous: FlaskClient, station: Station
) -> None:
    station.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
    wrong_password = anonymous.post(
        "/api/v1/auth/login", json={"login": "clerk", "password": "Not-it-1"}
    )
    unknown = anonymous.post("/api/v1/auth/login", json={"login": "nobody", "password": "Not-it-1"})
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json == unknown.json
    assert unknown.json["error"]["code"] == "login_failed"
    assert unknown.json["error"]["message"].startswith("wrong login or password")
    missing = anonymous.post("/api/v1/auth/login", json={"login": "clerk"})
    assert missing.status_code == 400 and missing.json["error"]["field"] == "password"


def test_repeated_failures_lock_the_account_for_that_client_until_it_expires_or_is_unlocked(
    station: Station,
) -> None:
    ops = station.operators
    ops.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
    now = [1_000_000.0]
    ops.clock = lambda: now[0]
    for _ in range(station.settings.lockout_failures):
        with pytest.raises(LoginFailedError):
            ops.authenticate("clerk", "Wrong-pass-1", client="10.0.0.66")
    with pytest.raises(LoginFailedError):  # even the right password, while locked
        ops.authenticate("clerk", TEST_PASSWORD, client="10.0.0.66")
    assert ops.get("clerk").locked_until == now[0] + station.settings.lockout_seconds
    # the real operator, at another computer, is not locked out
    assert ops.authenticate("clerk", TEST_PASSWORD, client="10.0.0.7").login == "clerk"

    now[0] += station.settings.lockout_seconds + 1
    assert ops.authenticate("clerk", TEST_PASSWORD, client="10.0.0.66").login == "clerk"

    for _ in range(station.settings.lockout_failures):
        with pytest.raises(LoginFailedError):
            ops.authenticate("clerk", "Wrong-pass-1", client="10.0.0.66")
    assert ops.get("clerk").locked_until is not None
    ops.unlock(Actor("chief", Role.SUPERVISOR), "clerk")
    assert ops.get("clerk").locked_until is None
    assert ops.authenticate("clerk", TEST_PASSWORD, client="10.0.0.66").failed_logins == 0


def test_a_locked_account_answers_like_an_unknown_login_and_others_still_sign_in(
    app: Flask, anonymous: FlaskClient, station: Station
) -> None:
    station.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "10.0.0.66"

    def attempt(password: str) -> tuple[int, dict]:
        answer = attacker.post("/api/v1/auth/login", json={"login": "clerk", "password": password})
        return answer.status_code, answer.json

    answers = [attempt("Wrong-pass-1") for _ in range(station.settings.lockout_failures)]
    unknown = attacker.post("/api/v1/auth/login", json={"login": "nobody", "password": "x"})
    assert {(s, str(j)) for s, j in answers} == {(401, str(unknown.json))}
    assert attempt(TEST_PASSWORD) == (401, unknown.json)  # locked for this client
    real = anonymous.post("/api/v1/auth/login", json={"login": "clerk", "password": TEST_PASSWORD})
    assert real.status_code == 200


def test_sessions_expire_when_idle_and_at_their_maximum_age(app, station: Station) -> None:
    clerk = client_as(app, station, "operator")
    sessions = station.sessions
    start = sessions.clock()
    now = [start]
    sessions.clock = lambda: now[0]
    for _ in range(5):  # active use keeps it alive past the idle limit
        now[0] += sessions.idle_seconds - 1
        assert clerk.get("/api/v1/auth/me").status_code == 200
    now[0] += sessions.idle_seconds + 1
    expired = clerk.get("/api/v1/auth/me")
    assert expired.status_code == 401
    assert expired.json["error"]["code"] == "session_expired"

    busy = sign_in(app, "operator1")  # kept busy, it still ends at the maximum age
    busy_start = now[0]
    while now[0] + sessions.idle_seconds / 2 < busy_start + sessions.max_seconds:
        now[0] += sessions.idle_seconds / 2
        assert busy.get("/api/v1/auth/me").status_code == 200
    now[0] = busy_start + sessions.max_seconds
    assert busy.get("/api/v1/auth/me").json["error"]["code"] == "session_expired"


def test_logout_ends_the_session(client: FlaskClient) -> None:
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/auth/me").json["error"]["code"] == "session_required"


def test_a_disabled_account_cannot_sign_in_and_is_signed_out(
    app, admin: FlaskClient, station: Station
) -> None:
    clerk = client_as(app, station, "operator")
    assert admin.post("/api/v1/operators/operator1/disable").status_code == 200
    assert clerk.get("/api/v1/auth/me").status_code == 401
    again = app.test_client().post(
        "/api/v1/auth/login", json={"login": "operator1", "password": TEST_PASSWORD}
    )
    assert again.status_code == 403 and again.json["error"]["code"] == "account_disabled"


def test_a_reset_gives_a_one_time_password_and_signs_the_operator_out(
    app, admin: FlaskClient, station: Station
) -> None:
    clerk = client_as(app, station, "operator")
    reset = admin.post("/api/v1/operators/operator1/reset-password")
    assert reset.status_code == 200
    assert clerk.get("/api/v1/auth/me").status_code == 401
    fresh = sign_in(app, "operator1", reset.json["one_time_password"])
    assert fresh.get("/api/v1/auth/me").json["must_change_password"] is True


def test_a_password_is_rehashed_at_login_when_the_cost_was_raised(station: Station) -> None:
    station.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
    station.operators.kdf = KdfParams(n=2048)
    station.operators.authenticate("clerk", TEST_PASSWORD)
    with sqlite3.connect(station.settings.database_path) as db:
        (stored,) = db.execute("SELECT password_hash FROM operators").fetchone()
    assert stored.startswith("scrypt$2048$")


@pytest.fixture
def slow_answers(tmp_path: Path, shared_encoder: FaceEncoder) -> Iterator[Station]:
    """A station whose sign-in answers take at least 0.3 s (the default is 0.5 s)."""
    settings = make_settings(tmp_path / "data", login_answer_seconds=0.3)
    with Station(settings, encoder=shared_encoder) as opened:
        opened.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
        yield opened


def test_unknown_locked_and_wrong_answers_take_the_same_time_and_hash_only_real_checks(
    slow_answers: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    import station.security.operators as operators_module

    ops = slow_answers.operators
    for _ in range(slow_answers.settings.lockout_failures):
        with pytest.raises(LoginFailedError):
            ops.authenticate("clerk", "Wrong-pass-1", client="10.0.0.66")
    checks = []
    real_verify = operators_module.verify_password
    monkeypatch.setattr(
        operators_module,
        "verify_password",
        lambda password, stored: checks.append(1) or real_verify(password, stored),
    )

    def answer_time(login: str, password: str) -> float:
        started = time.monotonic()
        with pytest.raises(LoginFailedError):
            ops.authenticate(login, password, client="10.0.0.66")
        return time.monotonic() - started

    unknown = answer_time("nobody", TEST_PASSWORD)
    locked = answer_time("clerk", TEST_PASSWORD)
    assert checks == []  # neither computed a hash: a flood of them costs no CPU
    assert 0.3 <= unknown < 0.6 and 0.3 <= locked < 0.6
    started = time.monotonic()
    ops.authenticate("clerk", TEST_PASSWORD, client="10.0.0.7")
    assert 0.3 <= time.monotonic() - started < 0.6


def test_a_flood_of_bogus_sign_ins_from_one_computer_leaves_the_real_operator_a_quick_way_in(
    slow_answers: Station,
) -> None:
    app = create_app(station=slow_answers)
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "10.0.0.66"
    answers: list[int] = []

    def bogus(n: int) -> None:
        response = attacker.post("/api/v1/auth/login", json={"login": f"x{n}", "password": "x"})
        answers.append(response.status_code)

    flood = [threading.Thread(target=bogus, args=(n,)) for n in range(48)]
    for thread in flood:
        thread.start()
    time.sleep(0.05)
    started = time.monotonic()
    real = app.test_client().post(
        "/api/v1/auth/login", json={"login": "clerk", "password": TEST_PASSWORD}
    )
    took = time.monotonic() - started
    for thread in flood:
        thread.join()
    assert real.status_code == 200 and took < 1.5
    assert answers.count(401) <= slow_answers.settings.login_parallel_per_client * 2
    assert answers.count(429) >= 40
    refused = attacker.post("/api/v1/auth/login", json={"login": "x", "password": "x"})
    assert refused.status_code in {401, 429}


def test_a_client_that_keeps_failing_is_told_to_wait_without_a_word_about_the_account(
    tmp_path: Path, shared_encoder: FaceEncoder
) -> None:
    settings = make_settings(tmp_path / "data", login_failures_per_client=3)
    with Station(settings, encoder=shared_encoder) as station:
        station.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
        client = create_app(station=station).test_client()
        client.environ_base["REMOTE_ADDR"] = "10.0.0.66"
        codes = [
            client.post("/api/v1/auth/login", json={"login": name, "password": "x"})
            for name in ("a1", "b2", "clerk", "clerk", "nobody")
        ]
    assert [c.status_code for c in codes] == [401, 401, 401, 429, 429]
    assert codes[3].json == codes[4].json
    assert int(codes[3].headers["Retry-After"]) > 0
