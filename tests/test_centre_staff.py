"""The centre's staff: the first account is the admin, every command names who runs it and
signs in, a one-time password must be changed first, roles bound what each may do, wrong
passwords lock the account, and the audit trail names the login."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from central.centre import Centre
from central.staff import SignInError, Staff, StaffRole
from station.errors import InvalidInputError
from station.security.passwords import KdfParams
from tests.conftest import CENTRE_KDF_N, TEST_PASSWORD


def central(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "central", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_first_admin_signs_in_changes_the_one_time_password_and_makes_a_registrar(
    tmp_path: Path, centre_db: str
) -> None:
    env = {
        **os.environ,
        "CENTRAL_DATA": str(tmp_path / "centre"),
        "CENTRAL_DB": centre_db,
        "CENTRAL_PASSWORD_KDF_N": str(CENTRE_KDF_N),
    }
    refused = central(env, "staff", "add", "amina", "--role", "registrar")
    assert refused.returncode == 1 and "make its admin first" in refused.stderr
    made = central(env, "staff", "add", "amina", "--role", "admin")
    assert made.returncode == 0, made.stderr
    one_time = made.stdout.strip().rsplit(" ", 1)[-1]

    amina = {**env, "CENTRAL_OPERATOR": "amina", "CENTRAL_PASSWORD": one_time}
    first = central(amina, "status")
    assert first.returncode == 1 and "must change the one-time password" in first.stderr
    weak = central({**amina, "CENTRAL_NEW_PASSWORD": "password"}, "staff", "password")
    assert weak.returncode == 1 and "upper-case" in weak.stderr
    changed = central({**amina, "CENTRAL_NEW_PASSWORD": TEST_PASSWORD}, "staff", "password")
    assert changed.returncode == 0, changed.stderr

    amina["CENTRAL_PASSWORD"] = TEST_PASSWORD
    assert central(amina, "status").returncode == 0
    registrar = central(amina, "staff", "add", "bakyt", "--role", "registrar")
    assert registrar.returncode == 0
    taken = central(amina, "staff", "add", "bakyt", "--role", "auditor")
    assert taken.returncode == 1 and "unique" in taken.stderr
    nobody = central({**env, "CENTRAL_OPERATOR": "nobody", "CENTRAL_PASSWORD": "X"}, "status")
    assert nobody.returncode == 1 and "login or password is wrong" in nobody.stderr
    anonymous = central(env, "status")
    assert anonymous.returncode == 1 and "--operator LOGIN" in anonymous.stderr

    with Centre(tmp_path / "centre", centre_db) as centre:
        rows = centre.audit.rows(limit=50)
    assert (rows[-1]["actor"][:10], rows[-1]["action"]) == ("installer:", "staff_add")
    assert {("amina", "staff_add"), ("amina", "password_change"), ("nobody", "login_failed")} <= {
        (r["actor"], r["action"]) for r in rows
    }


def test_a_role_does_only_its_duties(tmp_path: Path, centre_db: str) -> None:
    from tests.conftest import central_env

    auditor = central_env(tmp_path / "centre", centre_db, role="auditor")
    assert central(auditor, "audit", "verify").returncode == 0
    denied = central(auditor, "import", str(tmp_path))
    assert denied.returncode == 1 and "may not do this (import)" in denied.stderr
    registrar = central_env(tmp_path / "centre", centre_db, role="registrar")
    refused = central(registrar, "stations", "revoke", "kit-1")
    assert refused.returncode == 1 and "may not do this (stations)" in refused.stderr


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(
    tmp_path: Path, centre_db: str
) -> None:
    with Centre(tmp_path / "centre", centre_db) as centre:
        staff = Staff(centre.register, KdfParams(n=CENTRE_KDF_N))
        first = staff.add("chynara", StaffRole.REVIEWER, "tests")
        with pytest.raises(InvalidInputError, match="special character"):
            staff.add("dastan", StaffRole.REVIEWER, "tests", password="Abcdefgh1")
        for _ in range(5):
            with pytest.raises(SignInError):
                staff.sign_in("chynara", "Wrong-pass-1")
        with pytest.raises(SignInError):
            staff.sign_in("chynara", first)
