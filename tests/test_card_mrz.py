"""The MRZ of an ID card read by the station's camera (the card held up to it) instead of typed:
one workflow step, ``read_card_mrz``, that the console, the API and the CLI call; bounded like
every heavy computation, audited, and never a guess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from drivers.idcard.personalise import DEFAULT_MRZ
from station.api import create_app
from station.core import Station
from station.errors import InvalidImageError, InvalidInputError, StationBusyError
from station.security.roles import Actor, PermissionDeniedError, Role
from station.workflows import CardInput, DocumentInput, read_card_mrz
from tests.conftest import client_as, make_settings


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    """A station whose camera shows the test ID card, and whose reader holds its chip."""
    settings = make_settings(
        tmp_path / "data",
        camera_url=f"sim://?mrz={quote(DEFAULT_MRZ)}",
        card_reader_url="sim://",
        max_parallel_work=1,
        busy_seconds=0.2,
    )
    with Station(settings) as opened:
        yield opened


def test_the_card_held_up_to_the_camera_gives_the_mrz_that_opens_its_chip(
    station: Station,
) -> None:
    reading = read_card_mrz(station, DocumentInput(capture=True))
    assert reading.valid, reading.message
    assert (reading.text, reading.format) == (DEFAULT_MRZ, "TD1")
    assert station.camera is not None and not station.camera.is_open  # only while capturing
    chip = CardInput(mrz=reading.text).acquire(station)
    assert chip.mrz.document_number == "AN1234567"
    row = station.audit.rows(action="mrz_read")[-1]
    assert (row["outcome"], row["detail"]["source"], row["detail"]["format"]) == (
        "valid",
        "camera",
        "TD1",
    )
    assert "AN1234567" not in str(row)  # what it read never enters the trail


def test_the_reading_waits_for_a_work_slot_and_then_says_the_station_is_busy(
    station: Station,
) -> None:
    with station.working(), pytest.raises(StationBusyError):
        read_card_mrz(station, DocumentInput(capture=True))


def test_only_the_desk_roles_read_cards_and_a_refusal_is_audited(station: Station) -> None:
    with pytest.raises(PermissionDeniedError, match="may not read ID cards"):
        read_card_mrz(station, DocumentInput(capture=True), actor=Actor("aud", Role.AUDITOR))
    assert station.audit.rows()[-1]["action"] == "denied"


def test_an_upload_that_is_no_photo_is_refused_before_any_reading(station: Station) -> None:
    with pytest.raises(InvalidImageError):
        read_card_mrz(station, DocumentInput(upload=b"not a photo"))
    with pytest.raises(InvalidInputError, match="send one photo of the card"):
        read_card_mrz(station, DocumentInput(upload=b"x", capture=True))
    assert not station.audit.rows(action="mrz_read")


def test_the_api_reads_the_card_from_the_camera_with_capture_true(station: Station) -> None:
    app = create_app(station=station)
    client = client_as(app, station, "operator")
    answer = client.post("/api/v1/cards/mrz", json={"capture": True})
    assert answer.status_code == 200, answer.json
    assert answer.json is not None
    assert (answer.json["valid"], answer.json["mrz"], answer.json["outcome"]) == (
        True,
        DEFAULT_MRZ,
        "valid",
    )
    refused = client_as(app, station, "auditor").post("/api/v1/cards/mrz", json={"capture": True})
    assert refused.status_code == 403
