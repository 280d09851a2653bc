"""The HTTP API: enroll (face only on this station: it has no scanner), identify, read, delete and
health, with JSON errors for bad input.

The ``client`` is signed in as an operator, ``supervisor`` as a supervisor (tests/conftest.py);
sign-in, roles and the personal-data rules are specified in tests/test_security_api.py, the
workflows with fingers and cards in tests/test_workflows.py.
"""

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient
from PIL import Image

from matcher.imageio import read_rgb
from station.core import Station
from tests.conftest import encode_png, photos_of, post_multipart


def upload(path: Path) -> tuple[io.BytesIO, str]:
    return io.BytesIO(path.read_bytes()), path.name


def document_of(person: Path) -> str:
    """A document number of this person's own (two people never share one)."""
    return f"AN{zlib.crc32(person.name.encode()) % 10**7:07d}"


def enroll(client: FlaskClient, person: Path, index: int = 0, **fields: str) -> dict:
    """Enroll ``person`` from one of their photos; the new record as the enrollment shows it."""
    response = client.post(
        "/api/v1/enrollments",
        data={
            "name": person.name.replace("_", " "),
            "document_number": document_of(person),
            "consent": "true",
            "image": upload(photos_of(person)[index]),
            **fields,
        },
    )
    assert response.status_code == 201, response.json
    assert response.json["status"] == "active", response.json
    return dict(response.json["record"])


def identify(client: FlaskClient, photo: Path, **fields: str) -> dict:
    response = client.post("/api/v1/identifications", data={"image": upload(photo), **fields})
    assert response.status_code == 200, response.json
    return dict(response.json)


def assert_nothing_stored(station: Station, records_before: int) -> None:
    assert station.storage.count() == records_before
    assert len(station.galleries) == records_before


def test_health_says_ok_and_the_status_counts_records(client: FlaskClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    assert client.get("/api/v1/status").json["records"] == 0


def test_enroll_then_a_supervisor_reads_the_record(
    client: FlaskClient, supervisor: FlaskClient, lfw_people: list[Path]
) -> None:
    record = enroll(client, lfw_people[3])
    assert record["name"] == lfw_people[3].name.replace("_", " ")
    assert record["document_number"] == document_of(lfw_people[3])
    fetched = supervisor.get(f"/api/v1/records/{record['id']}")
    assert fetched.status_code == 200
    assert {k: v for k, v in fetched.json.items() if k not in {"health", "disability"}} == record
    assert "template" not in str(fetched.json)
    assert client.get(f"/api/v1/records/{record['id']}").status_code == 403  # operators may not


def test_identify_finds_the_enrolled_person_from_another_photo(
    client: FlaskClient, lfw_people: list[Path]
) -> None:
    ids = {person.name: enroll(client, person)["id"] for person in lfw_people[10:16]}
    target = lfw_people[12]
    body = identify(client, photos_of(target)[1])
    assert body["decision"] == "match"
    assert body["match"]["record_id"] == ids[target.name]
    assert body["candidates"][0]["llr"] >= body["threshold"]
    assert len(body["candidates"]) == 5  # top_k default
    scores = [c["llr"] for c in body["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert "name" not in body["candidates"][0]  # an operator sees record ids, not names


def test_identify_says_no_match_for_someone_never_enrolled(
    client: FlaskClient, lfw_people: list[Path]
) -> None:
    for person in lfw_people[20:24]:
        enroll(client, person)
    body = identify(client, photos_of(lfw_people[30])[0], top_k="2")
    assert body["decision"] == "no_match"
    assert body["match"] is None
    assert len(body["candidates"]) == 2


def test_identify_on_an_empty_gallery_has_no_candidates(
    client: FlaskClient, lfw_people: list[Path]
) -> None:
    body = identify(client, photos_of(lfw_people[0])[0])
    assert body["candidates"] == []
    assert body["decision"] == "no_match"


def first_good_portrait(station: Station, people: list[Path]) -> Path:
    """A photo the capture quality check accepts (a third of LFW's are turned heads and such)."""
    for person in people:
        for photo in photos_of(person):
            if station.quality.assess(read_rgb(photo)).accepted:
                return photo
    raise AssertionError("no acceptable photo")


def test_enroll_and_identify_from_the_configured_camera(
    client: FlaskClient, station: Station, lfw_people: list[Path]
) -> None:
    photo = first_good_portrait(station, lfw_people[50:])
    station.camera.present(photo)  # type: ignore[union-attr]
    created = client.post(
        "/api/v1/enrollments", json={"name": "Camera Person", "capture": True, "consent": True}
    )
    assert created.status_code == 201, created.json
    station.camera.present(photo)  # type: ignore[union-attr]
    found = client.post("/api/v1/identifications", json={"capture": True})
    assert found.json["match"]["record_id"] == created.json["record"]["id"]


def test_a_capture_that_never_passes_the_quality_check_is_refused_with_reasons(
    client: FlaskClient, station: Station, group_photo: Path
) -> None:
    station.camera.present(group_photo)  # type: ignore[union-attr]
    response = client.post(
        "/api/v1/enrollments", json={"name": "Two People", "capture": True, "consent": True}
    )
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "capture_refused"
    assert "multiple_faces" in error["reasons"]
    assert "only one person" in error["message"]
    assert_nothing_stored(station, 0)


def test_delete_removes_the_record_and_its_face(
    client: FlaskClient, supervisor: FlaskClient, station: Station, lfw_people: list[Path]
) -> None:
    record = enroll(client, lfw_people[60])
    assert client.delete(f"/api/v1/records/{record['id']}").status_code == 403  # operators may not
    assert supervisor.delete(f"/api/v1/records/{record['id']}").status_code == 204
    assert supervisor.get(f"/api/v1/records/{record['id']}").status_code == 404
    assert len(station.galleries) == 0
    assert identify(client, photos_of(lfw_people[60])[1])["candidates"] == []


# -- bad input: a clear 4xx, nothing stored -------------------------------------------------------


def post_enroll(client: FlaskClient, data: bytes, name: str = "Test Person"):
    """POST a multipart enrollment with this photo, built in memory."""
    return post_multipart(
        client,
        "/api/v1/enrollments",
        {"name": name, "consent": "true", "image": (data, "photo.jpg")},
    )


def test_a_file_that_is_not_an_image_is_refused(client: FlaskClient, station: Station) -> None:
    response = post_enroll(client, b"%PDF-1.4 this is a document, not a photo")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_image"
    assert "JPEG or PNG" in response.json["error"]["message"]
    assert_nothing_stored(station, 0)


def test_an_empty_file_is_refused(client: FlaskClient, station: Station) -> None:
    response = post_enroll(client, b"")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "empty_image"
    assert_nothing_stored(station, 0)


def test_a_truncated_photo_is_refused(
    client: FlaskClient, station: Station, lfw_people: list[Path]
) -> None:
    data = photos_of(lfw_people[0])[0].read_bytes()
    response = post_enroll(client, data[: len(data) // 2])
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_image"
    assert_nothing_stored(station, 0)


def test_a_photo_without_a_face_is_refused(
    client: FlaskClient, station: Station, datasets: Path
) -> None:
    response = post_enroll(client, (datasets / "fingerprints" / "upek" / "1_1.png").read_bytes())
    assert response.status_code == 422
    assert response.json["error"]["code"] == "no_face"
    assert_nothing_stored(station, 0)


def test_a_photo_with_two_faces_is_refused(
    client: FlaskClient, station: Station, group_photo: Path
) -> None:
    response = post_enroll(client, group_photo.read_bytes())
    assert response.status_code == 422
    assert response.json["error"]["code"] == "multiple_faces"
    assert "only the person" in response.json["error"]["message"]
    assert_nothing_stored(station, 0)


def test_a_huge_upload_is_refused_before_it_is_read(client: FlaskClient, station: Station) -> None:
    too_big = station.settings.max_upload_bytes + 1
    response = post_enroll(client, b"\xff" * too_big)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "request_too_large"
    assert_nothing_stored(station, 0)


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG that claims a huge picture (all black, compresses to almost nothing)."""
    raw_row = b"\x00" + b"\x00" * width
    compressed = zlib.compress(raw_row * height, 9)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", compressed)
        + chunk(b"IEND", b"")
    )


def test_a_photo_with_huge_dimensions_is_refused_without_decoding(
    client: FlaskClient, station: Station
) -> None:
    bomb = png_bomb(20000, 20000)
    assert len(bomb) < station.settings.max_upload_bytes
    response = post_enroll(client, bomb)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "image_too_large"
    assert_nothing_stored(station, 0)


def test_a_tiny_picture_is_refused(client: FlaskClient, station: Station) -> None:
    response = post_enroll(client, encode_png(np.zeros((8, 8, 3), np.uint8)))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_image"


def test_a_missing_name_is_refused_before_any_image_work(
    client: FlaskClient, station: Station, lfw_people: list[Path]
) -> None:
    response = client.post(
        "/api/v1/enrollments",
        data={"consent": "true", "image": upload(photos_of(lfw_people[0])[0])},
    )
    assert response.status_code == 400
    assert response.json["error"] == {
        "code": "invalid_input",
        "message": "name is required: the person's full name",
        "field": "name",
    }
    assert_nothing_stored(station, 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birth_date", "1990-13-01"),
        ("sex", "Q"),
        ("nationality", "Kyrgyzstan"),
        ("document_number", "AB-12"),
    ],
)
def test_malformed_document_fields_are_refused(
    client: FlaskClient, station: Station, field: str, value: str
) -> None:
    response = client.post(
        "/api/v1/enrollments",
        json={"name": "A Person", field: value, "capture": True, "consent": True},
    )
    assert response.status_code == 400
    assert response.json["error"]["field"] == field
    assert_nothing_stored(station, 0)


def test_no_image_and_no_capture_is_refused(client: FlaskClient) -> None:
    response = client.post("/api/v1/enrollments", json={"name": "A Person", "consent": True})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "image_required"
    nothing = client.post("/api/v1/identifications", json={})
    assert nothing.status_code == 400 and nothing.json["error"]["field"] == "image"


def test_a_json_body_that_is_not_an_object_is_refused(client: FlaskClient) -> None:
    response = client.post(
        "/api/v1/identifications", data="[1, 2]", content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_input"


def test_a_bad_top_k_is_refused(client: FlaskClient, lfw_people: list[Path]) -> None:
    response = client.post(
        "/api/v1/identifications",
        data={"top_k": "0", "image": upload(photos_of(lfw_people[0])[0])},
    )
    assert response.status_code == 400
    assert response.json["error"]["field"] == "top_k"


def test_an_unknown_record_is_a_json_404(supervisor: FlaskClient) -> None:
    assert supervisor.get("/api/v1/records/999").json["error"]["code"] == "record_not_found"
    response = supervisor.post("/api/v1/records/999/block", json={"reason": "a dispute"})
    assert response.status_code == 404


def test_an_unknown_path_is_a_json_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_wrong_method_is_a_json_405(client: FlaskClient) -> None:
    response = client.get("/api/v1/identifications")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"


def test_the_station_keeps_working_after_bad_requests(
    client: FlaskClient, lfw_people: list[Path]
) -> None:
    post_enroll(client, b"garbage")
    post_enroll(client, b"")
    record = enroll(client, lfw_people[70])
    assert (
        identify(client, photos_of(lfw_people[70])[1])["candidates"][0]["record_id"] == record["id"]
    )


def test_a_grey_photo_is_accepted_as_rgb(client: FlaskClient, lfw_people: list[Path]) -> None:
    grey = Image.open(photos_of(lfw_people[80])[0]).convert("L")
    buffer = io.BytesIO()
    grey.save(buffer, format="PNG")
    response = post_enroll(client, buffer.getvalue())
    assert response.status_code == 201
