"""Access over the API: every endpoint but health needs a session and the right role; the OpenAPI
description covers every endpoint; special-category fields, blocking and correction with history."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from station.core import Station
from tests.conftest import client_as, photos_of
from tests.test_api import enroll, upload

PUBLIC = {"status.health", "auth.login", "openapi.spec"}


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, path with sample values) of every API route."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue  # the console: tests/test_console.py
        path = re.sub(r"<(?:int|record_id):\w+>", "1", rule.rule)
        path = re.sub(r"<\w+>", "someone", path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, path))
    return found


def test_every_endpoint_but_health_login_and_the_description_needs_a_session(
    app: Flask, anonymous: FlaskClient
) -> None:
    checked = 0
    for endpoint, method, path in routes(app):
        response = anonymous.open(path, method=method, json={})
        if endpoint in PUBLIC:
            assert response.status_code != 401, path
            continue
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json["error"]["code"] == "session_required"
        checked += 1
    assert checked >= 20


def test_a_made_up_token_is_refused(anonymous: FlaskClient) -> None:
    response = anonymous.get("/api/v1/auth/me", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401


# Who may call what (403 for everyone else). Requests carry no valid body: an allowed role gets
# past the permission check to a 400 or 404, never a 403.
ALLOWED = {
    ("GET", "/api/v1/records/1"): {"supervisor"},
    ("PATCH", "/api/v1/records/1"): {"supervisor"},
    ("DELETE", "/api/v1/records/1"): {"supervisor"},
    ("GET", "/api/v1/records/1/history"): {"supervisor"},
    ("POST", "/api/v1/records/1/block"): {"supervisor"},
    ("POST", "/api/v1/records/1/unblock"): {"supervisor"},
    ("GET", "/api/v1/devices"): {"operator", "supervisor", "admin"},
    ("GET", "/api/v1/operators"): {"admin"},
    ("POST", "/api/v1/operators"): {"admin"},
    ("POST", "/api/v1/operators/nobody/unlock"): {"admin", "supervisor"},
    ("POST", "/api/v1/operators/nobody/disable"): {"admin"},
    ("GET", "/api/v1/audit"): {"auditor"},
    ("GET", "/api/v1/audit/verify"): {"auditor"},
    ("GET", "/api/v1/audit/alerts"): {"auditor"},
    ("GET", "/api/v1/records/1/export"): {"supervisor"},
    ("GET", "/api/v1/retention"): {"supervisor", "admin"},
    ("POST", "/api/v1/retention/purge"): {"supervisor", "admin"},
    ("POST", "/api/v1/enrollments"): {"operator", "supervisor"},
    ("POST", "/api/v1/applications"): {"operator", "supervisor"},
    ("POST", "/api/v1/applications/status"): {"operator", "supervisor"},
    ("POST", "/api/v1/identifications"): {"operator", "supervisor"},
    ("POST", "/api/v1/cards/mrz"): {"operator", "supervisor"},
    ("GET", "/api/v1/holds"): {"supervisor"},
    ("POST", "/api/v1/records/1/decision"): {"supervisor"},
    ("POST", "/api/v1/operators/nobody/document"): {"admin"},
    ("GET", "/api/v1/rolls"): {"supervisor"},
    ("POST", "/api/v1/rolls"): {"supervisor"},
}


@pytest.mark.parametrize("role", ["operator", "supervisor", "auditor", "admin"])
def test_each_role_may_do_its_duties_and_nothing_else(
    app: Flask, station: Station, role: str
) -> None:
    client = client_as(app, station, role)
    for (method, path), allowed in ALLOWED.items():
        body = {"fields": {"name": "X"}, "reason": "typo fixed"} if method == "PATCH" else {}
        response = client.open(path, method=method, json=body)
        if role in allowed:
            assert response.status_code != 403, (role, method, path, response.json)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)
            assert response.json["error"]["code"] == "permission_denied"


def test_a_refusal_is_audited(app: Flask, station: Station) -> None:
    auditor = client_as(app, station, "auditor")
    assert auditor.get("/api/v1/records/7").status_code == 403
    denied = [r for r in station.audit.rows(limit=1000) if r["action"] == "denied"]
    assert denied[-1]["operator"] == "auditor1"
    assert denied[-1]["target"] == "7"


def test_the_openapi_description_covers_every_route(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    described = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
    }
    registered = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).removeprefix("/api/v1")
        registered |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert described == registered
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            public = (method, path) in {
                ("get", "/health"),
                ("post", "/auth/login"),
                ("get", "/openapi.json"),
            }
            assert ("security" in operation) != public, (method, path)


# -- personal data --------------------------------------------------------------------------------


def test_special_category_fields_are_shown_to_supervisors_only(
    client: FlaskClient, supervisor: FlaskClient, lfw_people: list[Path]
) -> None:
    person = lfw_people[5]
    created = client.post(
        "/api/v1/enrollments",
        data={
            "name": "Special Person",
            "health": "diabetic",
            "disability": "uses a wheelchair",
            "consent": "true",
            "image": upload(photos_of(person)[0]),
        },
    )
    assert created.status_code == 201
    record = created.json["record"]
    assert "health" not in record and "disability" not in record
    seen = supervisor.get(f"/api/v1/records/{record['id']}").json
    assert seen["health"] == "diabetic"
    assert seen["disability"] == "uses a wheelchair"


def test_one_rule_for_who_sees_names_operators_see_scores_supervisors_see_who(
    client: FlaskClient, supervisor: FlaskClient, lfw_people: list[Path]
) -> None:
    record = enroll(client, lfw_people[8])
    probe = {"image": upload(photos_of(lfw_people[8])[1])}
    by_operator = client.post("/api/v1/identifications", data=probe).json
    assert by_operator["candidates"][0]["record_id"] == record["id"]
    assert "name" not in by_operator["candidates"][0]
    assert "document_number" not in str(by_operator)
    assert client.get(f"/api/v1/records/{record['id']}").status_code == 403
    probe = {"image": upload(photos_of(lfw_people[8])[1])}
    by_supervisor = supervisor.post("/api/v1/identifications", data=probe).json
    assert by_supervisor["candidates"][0]["name"] == record["name"]


def test_a_blocked_record_is_kept_never_matches_and_never_changes_until_unblocked(
    client: FlaskClient, supervisor: FlaskClient, station: Station, lfw_people: list[Path]
) -> None:
    person = lfw_people[12]
    record = enroll(client, person)
    other = enroll(client, lfw_people[13])
    probe = photos_of(person)[1]
    no_reason = supervisor.post(f"/api/v1/records/{record['id']}/block", json={})
    assert no_reason.status_code == 400 and no_reason.json["error"]["field"] == "reason"
    blocked = supervisor.post(
        f"/api/v1/records/{record['id']}/block", json={"reason": "two people claim it"}
    )
    assert blocked.status_code == 200 and blocked.json["status"] == "blocked"

    kept = supervisor.get(f"/api/v1/records/{record['id']}")
    assert kept.status_code == 200 and kept.json["status"] == "blocked"
    found = client.post("/api/v1/identifications", data={"image": upload(probe)}).json
    assert [c["record_id"] for c in found["candidates"]] == [other["id"]]
    for response in (
        supervisor.patch(
            f"/api/v1/records/{record['id']}",
            json={"fields": {"name": "Someone Else"}, "reason": "changed while disputed"},
        ),
        supervisor.delete(f"/api/v1/records/{record['id']}"),
    ):
        assert response.status_code == 409
        assert response.json["error"]["code"] == "record_blocked"
    assert supervisor.get(f"/api/v1/records/{record['id']}").json["name"] == record["name"]

    unblocked = supervisor.post(
        f"/api/v1/records/{record['id']}/unblock", json={"reason": "the claim was withdrawn"}
    )
    assert unblocked.status_code == 200
    found = client.post("/api/v1/identifications", data={"image": upload(probe)}).json
    assert found["candidates"][0]["record_id"] == record["id"]
    changes = supervisor.get(f"/api/v1/records/{record['id']}/history").json["status_changes"]
    assert [(c["status"], c["reason"]) for c in changes] == [
        ("blocked", "two people claim it"),
        ("active", "the claim was withdrawn"),
    ]


def test_a_blocked_record_stays_out_of_the_gallery_after_a_restart(
    tmp_path: Path, station: Station, lfw_people: list[Path]
) -> None:
    from station.workflows import set_blocked
    from tests.conftest import enroll_face

    record = enroll_face(station, photos_of(lfw_people[0])[0]).record
    set_blocked(station, record.id, True, "under dispute")
    station.close()
    station.open()
    assert record.id not in station.galleries
    assert station.storage.get_record(record.id).blocked


def test_a_correction_keeps_the_old_version_with_who_when_and_why(
    client: FlaskClient, supervisor: FlaskClient, lfw_people: list[Path]
) -> None:
    record = enroll(client, lfw_people[20])
    corrected = supervisor.patch(
        f"/api/v1/records/{record['id']}",
        json={"fields": {"document_number": "ID7654321"}, "reason": "misread digit"},
    )
    assert corrected.status_code == 200
    assert corrected.json["document_number"] == "ID7654321"
    assert corrected.json["version"] == 2
    history = supervisor.get(f"/api/v1/records/{record['id']}/history").json["versions"]
    assert len(history) == 1
    assert history[0]["version"] == 1
    assert history[0]["fields"]["document_number"] == record["document_number"]
    assert history[0]["reason"] == "misread digit"
    assert history[0]["replaced_by"] == "supervisor1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fields": {"document_number": "AB-1"}, "reason": "typo"}, "document_number"),
        ({"fields": {"shoe_size": "44"}, "reason": "typo"}, "shoe_size"),
        ({"fields": {"name": "New Name"}}, "reason"),
        ({"reason": "no fields"}, "fields"),
    ],
)
def test_a_bad_correction_is_refused_and_changes_nothing(
    client: FlaskClient, supervisor: FlaskClient, lfw_people: list[Path], body: dict, field: str
) -> None:
    record = enroll(client, lfw_people[21])
    response = supervisor.patch(f"/api/v1/records/{record['id']}", json=body)
    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    assert supervisor.get(f"/api/v1/records/{record['id']}").json["version"] == 1


def test_a_huge_login_request_is_refused_and_the_station_keeps_working(
    anonymous: FlaskClient, client: FlaskClient, station: Station
) -> None:
    size = station.settings.max_upload_bytes + 1
    response = anonymous.post(
        "/api/v1/auth/login",
        data=b"{" + b" " * size + b"}",
        content_type="application/json",
    )
    assert response.status_code == 413
    long_password = anonymous.post(
        "/api/v1/auth/login", json={"login": "operator1", "password": "x" * 5000}
    )
    assert long_password.status_code == 400
    assert client.get("/api/v1/auth/me").status_code == 200
