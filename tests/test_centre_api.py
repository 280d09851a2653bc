"""The staff's side of `central serve`: a sign-in, then what each role may read; everything
audited with the login."""

from __future__ import annotations

from flask.testing import FlaskClient

from central.centre import Centre
from central.server import create_centre_app
from central.staff import Staff, StaffRole
from station.security.passwords import KdfParams
from tests.conftest import CENTRE_KDF_N, TEST_PASSWORD

KDF = KdfParams(n=CENTRE_KDF_N)


def staff_member(centre: Centre, login: str, role: StaffRole) -> None:
    staff = Staff(centre.register, KDF)
    staff.change_password(login, staff.add(login, role, "tests"), TEST_PASSWORD)


def signed_in(client: FlaskClient, login: str) -> dict[str, str]:
    answer = client.post("/api/v1/sessions", json={"login": login, "password": TEST_PASSWORD})
    assert answer.status_code == 201, answer.json
    return {"Authorization": f"Bearer {answer.json['token']}"}


def test_staff_sign_in_and_each_role_reads_only_what_it_may(centre: Centre) -> None:
    staff_member(centre, "aibek", StaffRole.REVIEWER)
    staff_member(centre, "gulnara", StaffRole.AUDITOR)
    centre.register.add_station("kit-9", {"kty": "OKP"}, {"kty": "OKP"}, "thumb")
    centre.register.add_packet(
        "p-1",
        "kit-9",
        "enrollment",
        "voter_registration",
        "held",
        "0" * 64,
        "passive authentication failed",
    )
    client = create_centre_app(centre, KDF).test_client()

    assert client.get("/api/v1/status").status_code == 401
    wrong = client.post("/api/v1/sessions", json={"login": "aibek", "password": "Wrong-pass-9"})
    assert wrong.status_code == 401 and wrong.json["error"] == "login_failed"
    reviewer, auditor = signed_in(client, "aibek"), signed_in(client, "gulnara")

    held = client.get("/api/v1/held", headers=reviewer)
    assert held.status_code == 200
    assert [(h["packet_id"], h["reason"]) for h in held.json["held"]] == [
        ("p-1", "passive authentication failed")
    ]
    assert client.get("/api/v1/held", headers=auditor).status_code == 403
    assert client.get("/api/v1/refusals", headers=reviewer).status_code == 403
    verified = client.post("/api/v1/audit/verify", headers=auditor)
    assert verified.status_code == 200 and verified.json["intact"] is True
    assert client.get("/api/v1/status", headers=auditor).json["packets"] == {"held": 1}
    assert client.delete("/api/v1/sessions", headers=auditor).status_code == 200
    assert client.get("/api/v1/status", headers=auditor).status_code == 401

    actions = {(r["actor"], r["action"]) for r in centre.audit.rows(limit=50)}
    assert {
        ("aibek", "login_failed"),
        ("aibek", "held_read"),
        ("gulnara", "denied"),
        ("gulnara", "audit_verify"),
        ("gulnara", "logout"),
    } <= actions


def test_a_one_time_password_reads_nothing_until_it_is_changed(centre: Centre) -> None:
    first = Staff(centre.register, KDF).add("new-clerk", StaffRole.REGISTRAR, "tests")
    client = create_centre_app(centre, KDF).test_client()
    answer = client.post("/api/v1/sessions", json={"login": "new-clerk", "password": first})
    assert answer.status_code == 201 and answer.json["must_change"] is True
    headers = {"Authorization": f"Bearer {answer.json['token']}"}
    refused = client.get("/api/v1/status", headers=headers)
    assert refused.status_code == 403 and "one-time password" in refused.json["message"]
