"""Hostile and malformed requests: each gets a clear 4xx, nothing is lost, the station keeps going.

Every test here reproduces a defect found by trying the running station as an attacker would
(issue 14): a destructive call taken on a vague flag, 500s on huge ids and deep JSON, inputs
checked only after a device had been driven, and what the public endpoints gave away.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from station.core import Station
from station.security.roles import SYSTEM
from tests.conftest import TEST_PASSWORD, client_as, sign_in
from tests.test_api import upload

HUGE_ID = 2**63  # one past SQLite's largest integer
RECORD_ROUTES = [
    ("GET", "/api/v1/records/{id}"),
    ("PATCH", "/api/v1/records/{id}"),
    ("DELETE", "/api/v1/records/{id}"),
    ("GET", "/api/v1/records/{id}/history"),
    ("POST", "/api/v1/records/{id}/block"),
    ("POST", "/api/v1/records/{id}/unblock"),
    ("POST", "/api/v1/records/{id}/decision"),
    ("GET", "/api/v1/records/{id}/export"),
]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- a destructive call takes only an explicit, valid request ----------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"dry_run": "dry"},
        {"dry_run": "yes please"},
        {"dry_run": "t"},
        {"dry_run": None},
        {"dry_run": 1},
        {},
        {"dryrun": False},
        [],
    ],
)
def test_a_purge_with_anything_but_an_explicit_dry_run_flag_is_refused(
    station: Station, supervisor: FlaskClient, lfw_people: list[Path], body: object
) -> None:
    from tests.test_privacy import age, enroll

    rid = enroll(station, lfw_people[0])
    age(station, rid, 4000)
    response = supervisor.post("/api/v1/retention/purge", json=body)
    assert response.status_code == 400, response.json
    assert response.json["error"]["field"] == "dry_run"
    assert "dry_run" in response.json["error"]["message"]
    assert station.storage.count() == 1


def test_a_purge_without_a_body_or_with_a_form_word_is_refused(
    station: Station, supervisor: FlaskClient
) -> None:
    assert supervisor.post("/api/v1/retention/purge").status_code == 400
    assert supervisor.post("/api/v1/retention/purge", data={"dry_run": "dry"}).status_code == 400
    assert supervisor.post("/api/v1/retention/purge", data="yes please").status_code == 400


def test_a_purge_runs_only_on_dry_run_false_and_a_dry_run_on_true(
    station: Station, supervisor: FlaskClient, lfw_people: list[Path]
) -> None:
    from tests.test_privacy import age, enroll

    rid = enroll(station, lfw_people[0])
    age(station, rid, 4000)
    dry = supervisor.post("/api/v1/retention/purge", json={"dry_run": True})
    assert dry.status_code == 200 and dry.json["dry_run"] is True
    assert station.storage.count() == 1
    real = supervisor.post("/api/v1/retention/purge", json={"dry_run": False})
    assert real.status_code == 200 and real.json["dry_run"] is False
    assert real.json["purged_count"] == 1 and station.storage.count() == 0


@pytest.mark.parametrize("word", ["t", "maybe", "2", "ja"])
def test_a_yes_no_field_takes_only_yes_or_no_words(client: FlaskClient, word: str) -> None:
    response = client.post("/api/v1/enrollments", data={"consent": word, "name": "Ann Lee"})
    assert response.status_code == 400
    assert response.json["error"]["field"] == "consent"


# -- no 500s ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "route"), RECORD_ROUTES)
def test_a_record_id_beyond_the_largest_integer_is_not_found(
    supervisor: FlaskClient, method: str, route: str
) -> None:
    for rid in (HUGE_ID, 10**40):
        response = supervisor.open(route.format(id=rid), method=method, json={})
        assert response.status_code == 404, (route, response.json)
        assert response.json["error"]["code"] in {"not_found", "record_not_found"}


def test_an_audit_page_after_a_huge_sequence_number_is_a_clear_400(auditor: FlaskClient) -> None:
    for after in (str(HUGE_ID), "-1", "1e9", "9" * 5000):
        response = auditor.get(f"/api/v1/audit?after={after}")
        assert response.status_code == 400, after
        assert response.json["error"]["field"] == "after"


def test_deeply_nested_json_is_a_400_on_login_and_on_a_correction(
    anonymous: FlaskClient, supervisor: FlaskClient
) -> None:
    body = nested(100_000)
    login = anonymous.post(
        "/api/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    assert login.status_code == 400 and login.json["error"]["code"] == "invalid_input"
    patch = supervisor.patch(
        "/api/v1/records/1", data=body, headers={"Content-Type": "application/json"}
    )
    assert patch.status_code == 400
    assert supervisor.get("/api/v1/auth/me").status_code == 200


@pytest.mark.parametrize("name", ["finger_²", "finger_٣", "finger_0", "finger_11", "finger_02"])
def test_a_finger_file_must_be_named_for_an_iso_position(
    client: FlaskClient, db1: Path, lfw_people: list[Path], name: str
) -> None:
    response = client.post(
        "/api/v1/identifications",
        data={name: (io.BytesIO((db1 / "101_1.png").read_bytes()), "f.png")},
    )
    assert response.status_code == 400, response.json
    assert response.json["error"]["field"] == name


# -- validate everything before any work --------------------------------------------------------


@pytest.mark.parametrize("dpi", ["250", "1001", "nan", "inf", "-500"])
def test_a_resolution_the_matcher_cannot_use_is_refused_before_any_work(
    client: FlaskClient, db1: Path, dpi: str
) -> None:
    response = client.post(
        "/api/v1/identifications",
        data={"dpi": dpi, "finger_2": (io.BytesIO((db1 / "101_1.png").read_bytes()), "f.png")},
    )
    assert response.status_code == 400, response.json
    assert response.json["error"]["field"] == "dpi"
    assert "300" in response.json["error"]["message"]


def test_an_impossible_finger_position_is_refused_before_the_scanner_moves(
    tmp_path: Path, db1: Path, lfw_people: list[Path], shared_encoder: object
) -> None:
    from station.api import create_app
    from tests.conftest import make_settings

    settings = make_settings(
        tmp_path / "data", scanner_url=f"sim://?dir={db1}&model=r307&speedup=16"
    )
    with Station(settings, encoder=shared_encoder) as station:  # type: ignore[arg-type]
        client = client_as(create_app(station=station), station, "operator")
        for positions in ("11", "2,11", "0", "2,2", "x"):
            response = client.post(
                "/api/v1/enrollments",
                data={
                    "consent": "true",
                    "name": "Ann Lee",
                    "scan_fingers": positions,
                    "image": upload(sorted(lfw_people[0].iterdir())[0]),
                },
            )
            assert response.status_code == 400, (positions, response.json)
            assert response.json["error"]["field"] == "scan_fingers"
        assert station.devices.scanner.module.history == []  # type: ignore[union-attr]


# -- what the public endpoints give away --------------------------------------------------------


def test_health_without_a_session_says_only_that_the_station_is_up(
    tmp_path: Path, anonymous: FlaskClient
) -> None:
    response = anonymous.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_the_status_for_a_signed_in_role_hides_device_credentials(
    tmp_path: Path, shared_encoder: object
) -> None:
    from station.api import create_app
    from tests.conftest import make_settings

    settings = make_settings(
        tmp_path / "data", camera_url="opencv+rtsp://viewer:s3cret@10.0.0.5/stream"
    )
    with Station(settings, encoder=shared_encoder) as station:  # type: ignore[arg-type]
        app = create_app(station=station)
        status = client_as(app, station, "auditor").get("/api/v1/status")
        assert status.status_code == 200
        assert status.json["records"] == 0
        assert "s3cret" not in status.get_data(as_text=True)
        assert status.json["devices"]["camera"] == "opencv+rtsp://10.0.0.5/stream"
        assert app.test_client().get("/api/v1/status").status_code == 401


@pytest.mark.parametrize(
    "name", ["Ann\x00 Lee", "Ann \u202eeeL", "Ann\u200b Lee", "Ann\x1b[31m Lee", "Ann\ufffd"]
)
def test_names_with_control_or_direction_characters_are_refused(
    station: Station, supervisor: FlaskClient, lfw_people: list[Path], name: str
) -> None:
    from tests.test_privacy import enroll

    rid = enroll(station, lfw_people[0])
    response = supervisor.patch(
        f"/api/v1/records/{rid}", json={"fields": {"name": name}, "reason": "typo in the name"}
    )
    assert response.status_code == 400, response.json
    assert response.json["error"]["field"] == "name"


def test_names_in_kyrgyz_russian_and_with_apostrophes_are_kept(
    station: Station, supervisor: FlaskClient, lfw_people: list[Path]
) -> None:
    from tests.test_privacy import enroll

    rid = enroll(station, lfw_people[0])
    for name in ("Айгүл Өмүрбекова", "Jean-Luc O'Neil", "Нурлан уулу Бакыт"):
        response = supervisor.patch(
            f"/api/v1/records/{rid}", json={"fields": {"name": name}, "reason": "as on the card"}
        )
        assert response.status_code == 200, response.json
        assert response.json["name"] == name


def test_invalid_utf8_in_a_form_field_is_refused(station: Station, client: FlaskClient) -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nAnn\xff\xfe Lee\r\n'
        b'--b\r\nContent-Disposition: form-data; name="consent"\r\n\r\ntrue\r\n--b--\r\n'
    )
    response = client.post(
        "/api/v1/enrollments",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 400
    assert response.json["error"]["field"] == "name"


def test_every_api_answer_is_never_cached(anonymous: FlaskClient, app: Flask) -> None:
    Station_ = app.extensions["station"]
    Station_.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
    login = anonymous.post("/api/v1/auth/login", json={"login": "clerk", "password": TEST_PASSWORD})
    assert login.status_code == 200
    assert login.headers["Cache-Control"] == "no-store"
    assert anonymous.get("/api/v1/health").headers["Cache-Control"] == "no-store"


def test_a_wrong_method_is_a_405_that_lists_the_allowed_ones(anonymous: FlaskClient) -> None:
    response = anonymous.put("/api/v1/health")
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    login = anonymous.get("/api/v1/auth/login")
    assert login.status_code == 405 and "POST" in login.headers["Allow"]


# -- sessions and the audit trail ---------------------------------------------------------------


def test_changing_a_password_signs_the_operator_out_everywhere_else(
    app: Flask, station: Station
) -> None:
    station.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
    here, elsewhere = sign_in(app, "clerk"), sign_in(app, "clerk")
    changed = here.post(
        "/api/v1/auth/password",
        json={"current_password": TEST_PASSWORD, "new_password": "Another-pass-2"},
    )
    assert changed.status_code == 200, changed.json
    assert here.get("/api/v1/auth/me").status_code == 200
    assert elsewhere.get("/api/v1/auth/me").status_code == 401


def test_an_unknown_login_is_never_stored_as_typed(
    anonymous: FlaskClient, station: Station
) -> None:
    typed = "mysecretpassword1"  # a password typed into the login field
    anonymous.post("/api/v1/auth/login", json={"login": typed, "password": "x"})
    rows = station.audit.rows(limit=1000)
    assert typed not in json.dumps(rows)
    failed = [r for r in rows if r["action"] == "login_failed"]
    assert failed and failed[-1]["operator"] == "unknown"


def test_password_errors_name_the_field_that_was_sent(app: Flask, station: Station) -> None:
    station.operators.create(SYSTEM, "clerk", "operator", TEST_PASSWORD)
    response = sign_in(app, "clerk").post(
        "/api/v1/auth/password", json={"current_password": TEST_PASSWORD, "new_password": "short"}
    )
    assert response.status_code == 400
    assert response.json["error"]["field"] == "new_password"


# -- rough edges a user hit (issue 15) -----------------------------------------------------------


def test_paging_the_audit_trail_until_an_empty_page_ends(auditor: FlaskClient) -> None:
    after, pages = 0, 0
    while True:
        page = auditor.get(f"/api/v1/audit?after={after}&limit=5").json
        pages += 1
        assert pages < 50, "the pager keeps chasing its own reads"
        if not page["rows"]:
            break
        after = page["next_after"]
    reads = [r for r in auditor.get("/api/v1/audit?limit=1000").json["rows"]]
    assert sum(r["action"] == "audit_read" for r in reads) >= pages  # every read is logged


def test_the_text_export_has_one_charset_and_says_yes_for_consent(
    station: Station, supervisor: FlaskClient, lfw_people: list[Path]
) -> None:
    from tests.conftest import enroll_face

    rid = enroll_face(station, sorted(lfw_people[0].iterdir())[0]).record.id
    text = supervisor.get(f"/api/v1/records/{rid}/export?format=text")
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    body = text.get_data(as_text=True)
    assert "given                  yes" in body and "True" not in body


def test_listing_holds_is_audited_and_an_operator_is_told_what_they_may_not_do(
    station: Station, client: FlaskClient, supervisor: FlaskClient
) -> None:
    refused = client.get("/api/v1/holds")
    assert refused.status_code == 403
    assert "may not list or decide on held enrollments" in refused.json["error"]["message"]
    assert supervisor.get("/api/v1/holds").json["holds"] == []
    assert station.audit.rows(limit=1000)[-1]["action"] == "holds_read"


def test_every_error_code_has_its_http_status_and_what_the_desk_can_fix_is_a_4xx() -> None:
    import station.backup
    import station.commands.client
    import station.config
    import station.security.operators
    import station.security.throttle
    import station.workflows
    from calibration import CalibrationError
    from drivers.errors import DriverError
    from matcher.errors import MatcherError
    from station.api.errors import STATUS_BY_CODE
    from station.errors import StationError

    def codes(root: type) -> set[str]:
        found, stack = set(), [root]
        while stack:
            kind = stack.pop()
            stack.extend(kind.__subclasses__())
            code = kind.__dict__.get("code")
            if isinstance(code, str):
                found.add(code)
        return found

    everything = codes(StationError) | codes(DriverError) | codes(MatcherError)
    everything |= {station.config.ConfigError.code, CalibrationError.code}
    assert everything - set(STATUS_BY_CODE) == set()
    for desk_can_fix in ("no_finger", "card_absent", "card_removed", "card_access_denied"):
        assert 400 <= STATUS_BY_CODE[desk_can_fix] < 500, desk_can_fix


def test_a_face_only_station_still_holds_the_same_person_enrolled_twice(
    client: FlaskClient, lfw_people: list[Path]
) -> None:
    photos = sorted(p for p in lfw_people[2].iterdir())
    first = client.post(
        "/api/v1/enrollments",
        data={"name": "Ann Lee", "consent": "true", "image": upload(photos[0])},
    )
    assert first.status_code == 201 and first.json["status"] == "active"
    again = client.post(
        "/api/v1/enrollments",
        data={"name": "Ann Leigh", "consent": "true", "image": upload(photos[1])},
    )
    assert again.status_code == 201 and again.json["status"] == "held"
    assert again.json["reasons"] == ["likely_duplicate"]
