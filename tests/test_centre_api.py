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


def test_a_reviewer_merges_a_likely_duplicate_over_the_api_and_the_earlier_enrolment_wins(
    centre: Centre,
) -> None:
    from central.review import send_to_review

    staff_member(centre, "nurlan", StaffRole.REVIEWER)
    staff_member(centre, "clerk", StaffRole.REGISTRAR)
    register = centre.register
    register.add_station("kit-9", {"kty": "OKP"}, {"kty": "OKP"}, "thumb")
    ids = []
    for n in (1, 2):
        register.add_packet(
            f"p-{n}", "kit-9", "enrollment", "voter_registration", "stored", "0" * 64
        )
        ids.append(
            register.add_person(
                register="voter_registration",
                station_id="kit-9",
                station_record=n,
                packet_id=f"p-{n}",
                precinct="P-1",
                status="registered" if n == 1 else "queued",
                status_reason=None,
                fields={"name": "Same Person"},
                enrolled_at=None,
            )
        )
    send_to_review(centre, ids[1], [{"person": ids[0], "llr": 31.2}], 18.4)
    client = create_centre_app(centre, KDF).test_client()
    reviewer, clerk = signed_in(client, "nurlan"), signed_in(client, "clerk")

    queue = client.get("/api/v1/review", headers=reviewer)
    assert [r["person_id"] for r in queue.json["review"]] == [ids[1]]
    assert client.get("/api/v1/review", headers=clerk).status_code == 403
    no_reason = client.post(
        f"/api/v1/review/{ids[1]}", json={"decision": "merge"}, headers=reviewer
    )
    assert no_reason.status_code == 409 and "reason" in no_reason.json["message"]
    wrong = client.post(
        f"/api/v1/review/{ids[1]}",
        json={"decision": "merge", "reason": "same face", "same_as": 999},
        headers=reviewer,
    )
    assert wrong.status_code == 409 and "candidates" in wrong.json["message"]
    merged = client.post(
        f"/api/v1/review/{ids[1]}",
        json={"decision": "merge", "reason": "same face and fingers"},
        headers=reviewer,
    )
    assert merged.status_code == 200
    assert register.person(ids[1]).status == "merged"  # type: ignore[union-attr]
    assert register.person(ids[0]).status == "registered"  # type: ignore[union-attr]
    again = client.post(
        f"/api/v1/review/{ids[1]}", json={"decision": "accept", "reason": "x"}, headers=reviewer
    )
    assert again.status_code == 409 and "not waiting" in again.json["message"]
    assert ("nurlan", "review_decision") in {
        (r["actor"], r["action"]) for r in centre.audit.rows(limit=30)
    }
