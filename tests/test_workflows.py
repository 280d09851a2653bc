"""The desk workflows: enrollment (card, face, two fingers, consent, 1:N de-duplication fused,
held for a supervisor, never the operator's own), verification at intake (card, chip photo,
enrolled record, finger, decision with reasons, receipt), identification without a card.

Faces are LFW photos, fingers FVC2002 DB1_B impressions (finger 101 as the right index, 102 as
the left index of one person), the card a simulated chip whose photo is the same person's.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from flask import Flask

from drivers.idcard.personalise import DEFAULT_MRZ
from matcher.face import FaceEncoder
from matcher.imageio import read_rgb
from station.api import create_app
from station.core import Station
from station.errors import InvalidInputError
from station.records import PersonFields
from station.security.roles import SYSTEM
from station.workflows import (
    CardInput,
    FaceInput,
    FingerInput,
    decide_hold,
    enroll,
    export_record,
    identify,
    purge_expired,
    set_blocked,
    verify_at_intake,
)
from tests.conftest import cli_env, client_as, encode_png, make_settings, photos_of
from tests.test_api import upload

RIGHT_INDEX, LEFT_INDEX = 2, 7


def card_url(photo: Path, csca: Path) -> str:
    """The simulated card reader, trusting the test CSCA that signed the chip."""
    from drivers.idcard.personalise import make_pki
    from drivers.idcard.sim import DEFAULT_SEED

    if not csca.is_dir():
        make_pki("KG", seed=DEFAULT_SEED).write_csca(csca)
    return f"sim://?photo={quote(str(photo))}&csca={quote(str(csca))}"


@pytest.fixture(scope="module")
def cardholder(lfw_people: list[Path]) -> Path:
    """The LFW person on the test card (enough photos to enroll, verify and print the chip)."""
    return next(p for p in lfw_people if len(photos_of(p)) >= 4)


@pytest.fixture(scope="module")
def regulars(lfw_people: list[Path], cardholder: Path) -> list[Path]:
    """Two other people with several photos, each with a face."""
    return [p for p in lfw_people if len(photos_of(p)) >= 4 and p != cardholder][1:3]


@pytest.fixture
def desk(
    tmp_path: Path, lfw: Path, cardholder: Path, shared_encoder: FaceEncoder
) -> Iterator[Station]:
    """A station with a simulated card reader holding the cardholder's card."""
    settings = make_settings(
        tmp_path / "data",
        lfw,
        camera_timeout=1.0,
        card_reader_url=card_url(photos_of(cardholder)[3], tmp_path / "csca"),
        enroll_min_fingers=2,
    )
    with Station(settings, encoder=shared_encoder) as opened:
        yield opened


@pytest.fixture
def desk_app(desk: Station) -> Flask:
    return create_app(station=desk)


def finger_file(db1: Path, name: str) -> tuple[io.BytesIO, str]:
    return io.BytesIO((db1 / f"{name}.png").read_bytes()), f"{name}.png"


def fingers(db1: Path, right: str = "101_1", left: str = "102_1") -> dict[str, Any]:
    return {
        f"finger_{RIGHT_INDEX}": finger_file(db1, right),
        f"finger_{LEFT_INDEX}": finger_file(db1, left),
    }


def templates(fvc_template: Any, right: str, left: str | None = None) -> dict[int, Any]:
    out = {RIGHT_INDEX: fvc_template(right)}
    if left:
        out[LEFT_INDEX] = fvc_template(left)
    return out


def enroll_one(
    station: Station, photo: Path, fvc_template: Any, right: str, left: str, **fields: str
) -> Any:
    return enroll(
        station,
        FaceInput.of(read_rgb(photo)),
        FingerInput.of(templates(fvc_template, right, left)),
        fields=PersonFields(**{"name": "A Person", **fields}),
        consent=True,
    )


# -- enrollment ---------------------------------------------------------------------------------


def test_enrollment_reads_the_card_and_stores_face_fingers_photos_consent_and_purpose(
    desk: Station, desk_app: Flask, cardholder: Path, db1: Path
) -> None:
    client = client_as(desk_app, desk, "operator")
    response = client.post(
        "/api/v1/enrollments",
        data={
            "mrz": DEFAULT_MRZ,
            "image": upload(photos_of(cardholder)[0]),
            "consent": "true",
            **fingers(db1),
        },
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "active" and body["reasons"] == []
    record = body["record"]
    assert record["name"] == "AIZADA TESTOVA" and record["document_number"] == "AN12345677"[:9]
    assert record["purpose"] == "voter_registration"
    assert body["chip_face_distance"] < desk.settings.face_verify_threshold
    rid = record["id"]
    held = {(b["modality"], b["position"]) for b in desk.storage.biometrics_of(rid)}
    assert held == {("face", 0), ("finger", RIGHT_INDEX), ("finger", LEFT_INDEX)}
    assert [p[0] for p in desk.storage.photos_of(rid)] == [
        "chip_dg1",  # the chip's files as read, for the centre's passive authentication
        "chip_dg2",
        "chip_sod",
        "document",
        f"finger_{RIGHT_INDEX}",
        f"finger_{LEFT_INDEX}",
        "portrait",
    ]
    stored = desk.storage.get_record(rid)
    assert stored.consent is not None and stored.consent["given"] is True
    assert stored.card_summary is not None and stored.card_summary["passive_auth_passed"] in (
        True,
        False,
    )
    assert str(rid) in desk.galleries.finger("voter_registration").records()


def test_enrollment_needs_consent_and_at_least_two_good_fingers(
    desk: Station, desk_app: Flask, cardholder: Path, db1: Path
) -> None:
    client = client_as(desk_app, desk, "operator")
    photo = photos_of(cardholder)[0]
    no_consent = client.post(
        "/api/v1/enrollments", data={"name": "A B", "image": upload(photo), **fingers(db1)}
    )
    assert no_consent.status_code == 400 and no_consent.json["error"]["field"] == "consent"
    one_finger = client.post(
        "/api/v1/enrollments",
        data={
            "name": "A B",
            "consent": "1",
            "image": upload(photo),
            "finger_2": finger_file(db1, "101_1"),
        },
    )
    assert one_finger.status_code == 400 and one_finger.json["error"]["field"] == "fingers"
    blank = encode_png(np.full((300, 300), 255, dtype=np.uint8))
    poor = client.post(
        "/api/v1/enrollments",
        data={
            "name": "A B",
            "consent": "1",
            "image": upload(photo),
            "finger_2": (io.BytesIO(blank), "blank.png"),
            "finger_7": finger_file(db1, "102_1"),
        },
    )
    assert poor.status_code == 422 and poor.json["error"]["code"] == "finger_refused"
    assert desk.storage.count() == 0


def test_a_likely_duplicate_is_held_never_matches_and_waits_for_a_supervisor(
    desk: Station, regulars: list[Path], fvc_template: Any
) -> None:
    person = regulars[0]
    first = enroll_one(
        desk, photos_of(person)[0], fvc_template, "101_1", "102_1", document_number="AA1"
    )
    again = enroll_one(
        desk, photos_of(person)[1], fvc_template, "101_2", "102_2", document_number="BB2"
    )
    assert again.held and again.reasons == ["likely_duplicate"]
    assert [c.record.id for c in again.candidates] == [first.record.id]
    assert again.record.id not in desk.galleries
    found = identify(desk, None, FingerInput.of(templates(fvc_template, "101_3")))
    assert [c.record.id for c in found.candidates] == [first.record.id]
    hold = desk.storage.get_hold(again.record.id)
    assert hold is not None and hold["candidates"][0]["record_id"] == first.record.id

    accepted = decide_hold(desk, again.record.id, "accept", "twins, checked their cards")
    assert accepted is not None and accepted.active
    assert again.record.id in desk.galleries
    assert desk.storage.get_hold(again.record.id) is None


def test_a_rejected_duplicate_is_deleted_and_a_disputed_one_kept_blocked(
    desk: Station, regulars: list[Path], fvc_template: Any
) -> None:
    person = regulars[0]
    enroll_one(desk, photos_of(person)[0], fvc_template, "101_1", "102_1")
    second = enroll_one(desk, photos_of(person)[1], fvc_template, "101_2", "102_2")
    third = enroll_one(desk, photos_of(person)[2], fvc_template, "101_3", "102_3")
    assert decide_hold(desk, second.record.id, "reject", "same person twice") is None
    assert desk.storage.get_records([second.record.id]) == {}
    disputed = decide_hold(desk, third.record.id, "dispute", "possible fraud")
    assert disputed is not None and disputed.blocked and third.record.id not in desk.galleries
    rows = [r for r in desk.audit.rows(limit=1000) if r["action"] == "hold_decision"]
    assert [r["outcome"] for r in rows] == ["reject", "dispute"]


def test_the_same_document_enrolled_again_is_held(
    desk: Station, regulars: list[Path], fvc_template: Any
) -> None:
    enroll_one(
        desk, photos_of(regulars[0])[0], fvc_template, "101_1", "102_1", document_number="X9"
    )
    other = enroll_one(
        desk, photos_of(regulars[1])[0], fvc_template, "103_1", "104_1", document_number="X9"
    )
    assert other.held and other.reasons == ["same_document"]


def test_only_supervisors_decide_on_holds_over_the_api(
    desk: Station, desk_app: Flask, regulars: list[Path], fvc_template: Any
) -> None:
    person = regulars[0]
    enroll_one(desk, photos_of(person)[0], fvc_template, "101_1", "102_1")
    held = enroll_one(desk, photos_of(person)[1], fvc_template, "101_2", "102_2").record.id
    operator = client_as(desk_app, desk, "operator")
    assert operator.get("/api/v1/holds").status_code == 403
    supervisor = client_as(desk_app, desk, "supervisor")
    listed = supervisor.get("/api/v1/holds").json
    assert [h["record_id"] for h in listed["holds"]] == [held]
    bad = supervisor.post(
        f"/api/v1/records/{held}/decision", json={"decision": "maybe", "reason": "hm"}
    )
    assert bad.status_code == 400
    done = supervisor.post(
        f"/api/v1/records/{held}/decision",
        json={"decision": "accept", "reason": "different people"},
    )
    assert done.json == {"record_id": held, "status": "active"}
    again = supervisor.post(
        f"/api/v1/records/{held}/decision", json={"decision": "accept", "reason": "again"}
    )
    assert again.status_code == 409 and again.json["error"]["code"] == "not_held"


def test_an_operator_cannot_enroll_themselves(
    desk: Station, desk_app: Flask, cardholder: Path, db1: Path
) -> None:
    admin = client_as(desk_app, desk, "admin")
    client = client_as(desk_app, desk, "operator")
    assert (
        admin.post(
            "/api/v1/operators/operator1/document", json={"document_number": "AN1234567"}
        ).status_code
        == 200
    )
    response = client.post(
        "/api/v1/enrollments",
        data={
            "mrz": DEFAULT_MRZ,
            "consent": "1",
            "image": upload(photos_of(cardholder)[0]),
            **fingers(db1),
        },
    )
    assert response.status_code == 403 and response.json["error"]["code"] == "self_enrollment"
    assert desk.storage.count() == 0
    assert desk.audit.rows(limit=1000)[-1]["outcome"] == "self_enrollment"


def test_an_operator_found_by_face_and_fingers_cannot_enroll_themselves_under_another_document(
    desk: Station, regulars: list[Path], fvc_template: Any
) -> None:
    from station.workflows import SelfEnrollmentError

    person = regulars[0]
    enroll_one(desk, photos_of(person)[0], fvc_template, "101_1", "102_1", document_number="OP1")
    desk.operators.create(SYSTEM, "clerk", "operator", "Station-test-1")
    desk.operators.set_document(SYSTEM, "clerk", "OP1")
    with pytest.raises(SelfEnrollmentError):
        enroll(
            desk,
            FaceInput.of(read_rgb(photos_of(person)[1])),
            FingerInput.of(templates(fvc_template, "101_2", "102_2")),
            fields=PersonFields(name="Someone Else", document_number="ZZ9"),
            consent=True,
            actor=desk.operators.get("clerk").actor,
        )
    assert desk.storage.count() == 1


# -- verification at intake --------------------------------------------------------------------


def intake(desk: Station, photo: Path, fvc_template: Any, right: str) -> Any:
    """The applicant of this photo and right index finger, at intake with the test card."""
    return verify_at_intake(
        desk,
        CardInput(DEFAULT_MRZ),
        FaceInput.of(read_rgb(photo)),
        FingerInput.of(templates(fvc_template, right)),
    )


def enroll_cardholder(desk: Station, cardholder: Path, fvc_template: Any) -> int:
    done = enroll(
        desk,
        FaceInput.of(read_rgb(photos_of(cardholder)[0])),
        FingerInput.of(templates(fvc_template, "101_1", "102_1")),
        card=CardInput(DEFAULT_MRZ),
        consent=True,
    )
    assert done.record.active
    return done.record.id


def test_intake_accepts_the_enrolled_cardholder_with_reasons_and_a_receipt(
    desk: Station, desk_app: Flask, cardholder: Path, db1: Path, fvc_template: Any
) -> None:
    rid = enroll_cardholder(desk, cardholder, fvc_template)
    client = client_as(desk_app, desk, "operator")
    response = client.post(
        "/api/v1/applications",
        data={
            "mrz": DEFAULT_MRZ,
            "image": upload(photos_of(cardholder)[1]),
            "finger_2": finger_file(db1, "101_2"),
        },
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert body["decision"] == "accepted", body["reasons"]
    assert [r["code"] for r in body["reasons"]] == [
        "chip_authentic",
        "face_matches_chip",
        "enrolled",
        "matches_record",
        "finger_matches",
    ]
    assert body["record_id"] == rid
    receipt = body["receipt"]
    assert receipt["application_number"].startswith("AP-")
    assert len(receipt["status_code"]) == 10
    stored = desk.storage.get_application(receipt["application_number"])
    assert stored is not None and receipt["status_code"] not in str(stored)
    status = client.post(
        "/api/v1/applications/status",
        json={"number": receipt["application_number"], "code": receipt["status_code"]},
    )
    assert status.json["decision"] == "accepted"
    wrong = client.post(
        "/api/v1/applications/status",
        json={"number": receipt["application_number"], "code": "WRONGCODE2"},
    )
    assert wrong.status_code == 404 and wrong.json["error"]["code"] == "application_not_found"
    actions = [r["action"] for r in desk.audit.rows(limit=1000)]
    assert actions[-3:] == ["application", "receipt_check", "receipt_check"]


def test_intake_refuses_a_face_that_is_not_the_chips(
    desk: Station, cardholder: Path, lfw_people: list[Path], fvc_template: Any
) -> None:
    enroll_cardholder(desk, cardholder, fvc_template)
    stranger = next(p for p in lfw_people if p != cardholder)
    result = intake(desk, photos_of(stranger)[0], fvc_template, "105_1")
    assert result.decision == "refused"
    failed = {r.code for r in result.reasons if not r.ok}
    assert {"face_matches_chip", "finger_matches"} <= failed


def test_intake_of_a_card_never_enrolled_is_referred_to_a_supervisor(
    desk: Station, cardholder: Path, fvc_template: Any
) -> None:
    result = intake(desk, photos_of(cardholder)[1], fvc_template, "101_2")
    assert result.decision == "referred"
    assert [r.code for r in result.reasons if not r.ok] == ["enrolled"]
    assert result.record_id is None


def test_the_subject_access_export_holds_the_persons_applications(
    desk: Station, cardholder: Path, fvc_template: Any
) -> None:
    rid = enroll_cardholder(desk, cardholder, fvc_template)
    result = intake(desk, photos_of(cardholder)[1], fvc_template, "101_2")
    export = export_record(desk, rid)
    assert [a["number"] for a in export["applications"]] == [result.application_number]
    assert {b["modality"] for b in export["biometrics"]} == {"face", "finger"}
    assert export["card_summary"]["document_number"] == "AN1234567"


def test_receipts_past_their_retention_period_are_purged(
    desk: Station, cardholder: Path, fvc_template: Any
) -> None:
    result = intake(desk, photos_of(cardholder)[1], fvc_template, "101_2")
    with desk.storage.transaction() as db:
        db.execute("UPDATE applications SET created_at = '2020-01-01T00:00:00.000Z'")
    report = purge_expired(desk)
    assert report.receipts_purged == 1
    assert desk.storage.get_application(result.application_number) is None


# -- identification without a card -------------------------------------------------------------


def test_identification_without_a_card_fuses_face_and_fingers(
    desk: Station, desk_app: Flask, regulars: list[Path], db1: Path, fvc_template: Any
) -> None:
    first = enroll_one(desk, photos_of(regulars[0])[0], fvc_template, "101_1", "102_1").record.id
    enroll_one(desk, photos_of(regulars[1])[0], fvc_template, "103_1", "104_1")
    operator = client_as(desk_app, desk, "operator")
    by_finger = operator.post(
        "/api/v1/identifications", data={"finger_2": finger_file(db1, "101_4")}
    ).json
    assert by_finger["decision"] == "match" and by_finger["match"]["record_id"] == first
    assert "name" not in by_finger["match"]  # names are for supervisors
    supervisor = client_as(desk_app, desk, "supervisor")
    both = supervisor.post(
        "/api/v1/identifications",
        data={"image": upload(photos_of(regulars[0])[1]), "finger_7": finger_file(db1, "102_4")},
    ).json
    assert both["match"]["record_id"] == first and both["match"]["name"] == "A Person"
    assert both["candidates"][0]["face_llr"] is not None
    assert both["candidates"][0]["finger_llr"].keys() == {"7"}
    nothing = operator.post("/api/v1/identifications", data={})
    assert nothing.status_code == 400


def test_a_blocked_record_never_matches_in_the_fingerprint_gallery_even_after_a_restart(
    desk: Station, regulars: list[Path], fvc_template: Any
) -> None:
    rid = enroll_one(desk, photos_of(regulars[0])[0], fvc_template, "101_1", "102_1").record.id
    probe = templates(fvc_template, "101_4")
    set_blocked(desk, rid, True, "under dispute")
    assert identify(desk, None, FingerInput.of(probe)).candidates == []
    desk.close()
    desk.open()
    assert identify(desk, None, FingerInput.of(probe)).candidates == []
    set_blocked(desk, rid, False, "dispute settled")
    match = identify(desk, None, FingerInput.of(probe)).match
    assert match is not None and match.record.id == rid


def test_the_fingerprint_gallery_is_rebuilt_from_the_database_at_start(
    desk: Station, regulars: list[Path], fvc_template: Any
) -> None:
    rid = enroll_one(desk, photos_of(regulars[0])[0], fvc_template, "101_1", "102_1").record.id
    desk.close()
    desk.open()
    assert desk.galleries.finger("voter_registration").records() == [str(rid)]
    match = identify(desk, None, FingerInput.of({LEFT_INDEX: fvc_template("102_4")})).match
    assert match is not None and match.record.id == rid


# -- end to end with simulated devices ----------------------------------------------------------


def test_enrollment_then_intake_with_the_simulated_camera_scanner_and_card_reader(
    tmp_path: Path,
    lfw: Path,
    db1: Path,
    cardholder: Path,
    shared_encoder: FaceEncoder,
) -> None:
    from tests.test_api import first_good_portrait

    scanner = (
        f"sim://?dir={quote(str(db1))}&model=r307&baudrate=115200&speedup=16"
        "&script=101_1,102_1,101_2"
    )
    settings = make_settings(
        tmp_path / "data",
        lfw,
        camera_timeout=2.0,
        scanner_url=scanner,
        card_reader_url=card_url(photos_of(cardholder)[3], tmp_path / "csca"),
    )
    with Station(settings, encoder=shared_encoder) as station:
        app = create_app(station=station)
        client = client_as(app, station, "operator")
        portrait = first_good_portrait(station, [cardholder])
        station.camera.present(portrait)  # type: ignore[union-attr]
        started = time.perf_counter()
        enrolled = client.post(
            "/api/v1/enrollments",
            json={"mrz": DEFAULT_MRZ, "capture": True, "scan_fingers": "2,7", "consent": True},
        )
        enroll_seconds = time.perf_counter() - started
        assert enrolled.status_code == 201, enrolled.json
        assert enrolled.json["status"] == "active"
        station.camera.present(portrait)  # type: ignore[union-attr]
        started = time.perf_counter()
        intake = client.post(
            "/api/v1/applications",
            json={"mrz": DEFAULT_MRZ, "capture": True, "scan_fingers": "2"},
        )
        intake_seconds = time.perf_counter() - started
        assert intake.status_code == 201, intake.json
        assert intake.json["decision"] == "accepted", intake.json["reasons"]
        assert intake.json["record_id"] == enrolled.json["record"]["id"]
    print(f"\nend to end: enrollment {enroll_seconds:.2f} s, intake {intake_seconds:.2f} s")


def test_a_supervisor_lists_and_decides_holds_and_identifies_by_finger_from_the_command_line(
    tmp_path: Path, regulars: list[Path], db1: Path, fvc_template: Any, shared_encoder: FaceEncoder
) -> None:
    import json

    from click.testing import CliRunner

    from station.cli import main
    from tests.conftest import TEST_PASSWORD

    settings = make_settings(tmp_path / "data", enroll_min_fingers=2)
    person = regulars[0]
    with Station(settings, encoder=shared_encoder) as station:
        first = enroll_one(station, photos_of(person)[0], fvc_template, "101_1", "102_1").record.id
        held = enroll_one(station, photos_of(person)[1], fvc_template, "101_2", "102_2").record.id
        station.operators.create(SYSTEM, "chief", "supervisor", TEST_PASSWORD)
    env = cli_env(settings, "chief")
    listed = CliRunner().invoke(main, ["holds", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [h["record_id"] for h in json.loads(listed.output)] == [held]
    decided = CliRunner().invoke(
        main, ["decide", str(held), "reject", "--reason", "the same person"], env=env
    )
    assert decided.exit_code == 0 and "deleted" in decided.output
    found = CliRunner().invoke(
        main, ["identify", "--no-face", "--finger", f"2={db1 / '101_4.png'}", "--json"], env=env
    )
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)["match"]["record_id"] == first
    assert json.loads(found.output)["match"]["name"] == "A Person"  # a supervisor sees who


def test_the_station_answers_while_the_fingerprint_gallery_builds_and_reports_a_failed_build(
    desk: Station, regulars: list[Path], fvc_template: Any
) -> None:
    from station.errors import StationError
    from station.storage import FINGER_FORMAT, Biometric

    rid = enroll_one(desk, photos_of(regulars[0])[0], fvc_template, "101_1", "102_1").record.id
    desk.storage.put_biometric(rid, Biometric("finger", 3, FINGER_FORMAT, b"not a template"))
    desk.close()
    desk.open()  # faces are ready at once; fingers are prepared in the background
    assert desk.status()["fingerprint_gallery"] in {"building", "ready"}
    face_only = identify(desk, FaceInput.of(read_rgb(photos_of(regulars[0])[1])))
    assert face_only.candidates[0].record.id == rid
    with pytest.raises(StationError, match="fingerprint gallery could not be built"):
        identify(desk, None, FingerInput.of(templates(fvc_template, "101_4")))


def test_the_simulated_card_of_serve_sim_passes_passive_authentication(
    tmp_path: Path, datasets: Path, shared_encoder: FaceEncoder
) -> None:
    from drivers.idcard import AccessKey
    from station.simulation import simulated_device_urls

    urls = simulated_device_urls(datasets, tmp_path / "data" / "sim-csca")
    settings = make_settings(tmp_path / "data", card_reader_url=urls["card_reader_url"])
    with Station(settings, encoder=shared_encoder) as station:
        card = station.devices.read_card(AccessKey.from_mrz(DEFAULT_MRZ))
    assert card.passive_auth.passed, card.passive_auth.summary()


def test_a_finger_that_cannot_be_taken_is_an_exception_a_supervisor_must_approve(
    desk: Station, regulars: list[Path], fvc_template: Any
) -> None:
    from station.workflows import export_record

    person = regulars[0]
    held = enroll(
        desk,
        FaceInput.of(read_rgb(photos_of(person)[0])),
        FingerInput(
            templates={RIGHT_INDEX: fvc_template("101_1")}, exceptions={LEFT_INDEX: "injured"}
        ),
        fields=PersonFields(name="A Person"),
        consent=True,
    )
    assert held.held and held.reasons == ["finger_exception"]
    assert held.record.id not in desk.galleries
    assert desk.storage.get_hold(held.record.id)["finger_exceptions"] == [LEFT_INDEX]
    accepted = decide_hold(desk, held.record.id, "accept", "the left hand is bandaged")
    assert accepted is not None and accepted.active
    exported = export_record(desk, held.record.id)
    assert exported["finger_exceptions"][str(LEFT_INDEX)]["reason"] == "injured"


def test_a_person_with_no_usable_finger_is_enrolled_face_only_by_exceptions(
    desk: Station, regulars: list[Path]
) -> None:
    enrolled = enroll(
        desk,
        FaceInput.of(read_rgb(photos_of(regulars[1])[0])),
        FingerInput(exceptions={RIGHT_INDEX: "missing", LEFT_INDEX: "missing"}),
        fields=PersonFields(name="No Fingers"),
        consent=True,
    )
    assert enrolled.held and enrolled.reasons == ["finger_exception"]
    with pytest.raises(InvalidInputError, match="exception is one of"):
        enroll(
            desk,
            FaceInput.of(read_rgb(photos_of(regulars[1])[1])),
            FingerInput(exceptions={RIGHT_INDEX: "lost it", LEFT_INDEX: "missing"}),
            fields=PersonFields(name="No Fingers"),
            consent=True,
        )
