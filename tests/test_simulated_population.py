"""Simulated devices that tell a story: a population of simulated citizens whose ID card, face and
fingers agree across the simulated camera, scanner and card reader, and a desk that says who
stands at the station."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calibration.defaults import DEFAULT_FINGERPRINT_VERIFY_THRESHOLD
from drivers.fingerprint import NoFingerError
from drivers.fingerprint.models import model_profile
from drivers.fingerprint.protocol import pack_4bit, unpack_4bit
from drivers.fingerprint.sim import FingerLibrary
from drivers.idcard import MRZ, AccessKey, NoCardError
from matcher.face import FaceEncoder
from matcher.face.templates import face_distance
from station.core import Station
from station.errors import CaptureRefusedError, InvalidInputError, StationError
from station.simulation import (
    LEFT_INDEX,
    RIGHT_INDEX,
    Citizen,
    Population,
    SimulatedDesk,
    simulated_device_urls,
)
from station.workflows import DocumentInput, enroll, identify, read_card_mrz, verify_at_intake
from station.workflows.inputs import CardInput, FaceInput, FingerInput
from tests.conftest import make_settings

SPEEDUP = 20  # the scanner's serial line at 20 times its real 115200 baud


@pytest.fixture(scope="module")
def population(datasets: Path) -> Population:
    return Population.from_datasets(datasets)


@pytest.fixture
def station(
    tmp_path: Path, datasets: Path, population: Population, shared_encoder: FaceEncoder
) -> Iterator[Station]:
    """A station whose three devices are simulated and follow a desk (``devices.desk``)."""
    urls = simulated_device_urls(datasets, tmp_path / "csca", speedup=SPEEDUP)
    settings = make_settings(
        tmp_path / "data",
        enroll_min_fingers=2,
        camera_timeout=1.0,
        card_timeout=0.3,
        scanner_timeout=0.5,
        **urls,
    )
    with Station(settings, encoder=shared_encoder) as opened:
        SimulatedDesk.attach(opened.devices, population)
        yield opened


def desk_of(station: Station) -> SimulatedDesk:
    desk = station.devices.desk
    assert isinstance(desk, SimulatedDesk)
    return desk


# -- the population ----------------------------------------------------------------------------


def test_the_population_is_the_same_every_run_and_every_finger_is_a_different_real_finger(
    datasets: Path, population: Population
) -> None:
    again = Population.from_datasets(datasets)
    assert again == population
    assert Population.from_datasets(datasets, size=3).citizens == population.citizens[:3]
    assert len(population) == 22  # 44 usable real fingers, two each
    assert [c.id for c in population] == [f"C{n:02d}" for n in range(1, 23)]
    assert len({c.document_number for c in population}) == len(population)
    assert len({c.name for c in population}) == len(population)
    assert len({c.face_source for c in population}) == len(population)
    real_fingers = [
        (impressions[0].parent, impressions[0].name.split("_")[0])
        for c in population
        for impressions in c.fingers.values()
    ]
    assert len(set(real_fingers)) == len(real_fingers) == 44
    for citizen in population:
        assert set(citizen.fingers) == {RIGHT_INDEX, LEFT_INDEX}
        assert all(len(set(imps)) == len(imps) >= 3 for imps in citizen.fingers.values())
        assert citizen.chip_photo not in citizen.live_photos and len(citizen.live_photos) >= 2


def test_every_citizens_mrz_passes_its_check_digits_and_says_who_they_are(
    population: Population,
) -> None:
    for citizen in population:
        mrz = MRZ.parse(citizen.mrz).validate()
        assert mrz.format == "TD1" and mrz.document_code == "ID"
        assert (mrz.issuing_state, mrz.nationality) == ("KGZ", "KGZ")
        assert mrz.document_number == citizen.document_number
        assert (mrz.surname, mrz.given_names, mrz.sex) == (
            citizen.surname,
            citizen.given_names,
            citizen.sex,
        )
        assert mrz.birth_date == f"{citizen.birth_date:%y%m%d}"
        assert mrz.expiry_date == f"{citizen.expiry_date:%y%m%d}"
        assert mrz.optional_data == citizen.personal_number
    assert {c.sex for c in population} == {"F", "M"}


def test_a_population_chosen_from_other_datasets_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StationError, match=r"STATION_DATASETS.*choose_population\.py"):
        Population.from_datasets(tmp_path)


def test_an_unknown_citizen_is_refused_with_the_ids_there_are(population: Population) -> None:
    with pytest.raises(InvalidInputError, match="C01-C22"):
        population["C99"]


# -- the devices follow who stands at the station ----------------------------------------------


def test_a_citizens_card_passes_passive_authentication_and_its_photo_matches_their_captures(
    station: Station, population: Population
) -> None:
    desk = desk_of(station)
    threshold = station.settings.face_verify_threshold
    for citizen in (population["C01"], population["C22"]):
        assert desk.present(citizen.id) is citizen and desk.current is citizen
        card = station.devices.read_card(AccessKey.from_mrz(citizen.mrz))
        assert card.passive_auth.passed, card.passive_auth.summary()
        assert card.mrz.text() == citizen.mrz
        chip = station.encode(card.photo).vector
        for _ in range(2):  # a different live photo each time, both matching the chip's
            live = station.encode(station.devices.capture_face(station.quality)).vector
            assert face_distance(live, chip) <= threshold


def test_the_camera_shows_a_different_photo_of_the_citizen_at_each_capture(
    station: Station, population: Population
) -> None:
    citizen = population["C02"]
    desk_of(station).present(citizen.id)
    camera = station.devices.camera
    assert camera is not None
    seen = []
    for _ in range(len(citizen.live_photos) + 1):
        with camera:
            seen.append(camera.capture().source)
    assert seen == [str(p) for p in (*citizen.live_photos, citizen.live_photos[0])]


def test_nobody_at_the_station_shows_no_face_no_finger_and_no_card(
    station: Station, population: Population
) -> None:
    desk = desk_of(station)
    assert desk.current is None  # a desk starts empty
    with pytest.raises(NoCardError):
        station.devices.read_card(AccessKey.from_mrz(population["C01"].mrz))
    with pytest.raises(NoFingerError):
        station.devices.scan_finger(RIGHT_INDEX)
    with pytest.raises(CaptureRefusedError, match="face"):
        station.devices.capture_face(station.quality)
    desk.present("C03", card=False)  # here, but without their card
    assert desk.current is population["C03"] and not desk.card_on_reader
    with pytest.raises(NoCardError):
        station.devices.read_card(AccessKey.from_mrz(population["C03"].mrz))


def test_a_citizen_holds_their_card_up_to_the_camera_and_its_mrz_opens_their_chip(
    station: Station, population: Population
) -> None:
    citizen = population["C04"]
    desk = desk_of(station)
    desk.present(citizen.id)
    reading = read_card_mrz(station, DocumentInput(capture=True))  # nothing typed
    assert reading.valid and reading.text == citizen.mrz, reading.message
    chip = CardInput(mrz=reading.text).acquire(station)
    assert chip.mrz.document_number == citizen.document_number and chip.passive_auth.passed
    assert station.devices.capture_face(station.quality) is not None  # then their face again
    desk.present("C05", card=False)
    without = read_card_mrz(station, DocumentInput(capture=True))
    assert (without.valid, without.outcome) == (False, "no_zone")


def scanned_templates(
    datasets: Path, citizens: list[Citizen], impression: int
) -> dict[tuple[str, int], Any]:
    """Each citizen's fingers as the simulated R307 delivers them (framed, 4-bit grey)."""
    from matcher.fingerprint import mcc
    from matcher.fingerprint.extract import extract

    profile = model_profile("r307")
    library = FingerLibrary(datasets / "fingerprints")
    out = {}
    for citizen in citizens:
        for position, impressions in citizen.fingers.items():
            frame = library.frame(str(impressions[impression]), profile)
            pixels = unpack_4bit(pack_4bit(frame), profile.width, profile.height)
            out[citizen.id, position] = mcc.prepare(extract(pixels, profile.dpi))
    return out


def test_two_citizens_fingers_never_match_and_two_impressions_of_one_finger_do(
    datasets: Path, population: Population
) -> None:
    """On citizens of every sensor (DB1_B: C01-C05, DB2_B: C06-C10, DB3_B: C11-C14, UPEK:
    C15-C22); scripts/choose_population.py checked every pair of the whole population."""
    from matcher.fingerprint import mcc

    threshold = DEFAULT_FINGERPRINT_VERIFY_THRESHOLD
    sample = [population[c] for c in ("C01", "C05", "C06", "C11", "C14", "C15", "C22")]
    enrolled = scanned_templates(datasets, sample, 0)
    later = scanned_templates(datasets, sample, 1)
    for a, b in ((a, b) for a in enrolled for b in enrolled if a[0] < b[0]):
        assert mcc.similarity(enrolled[a], enrolled[b]) < threshold, (a, b)
    for finger, template in enrolled.items():
        assert mcc.similarity(template, later[finger]) > threshold, finger


# -- the story at the desk ---------------------------------------------------------------------


def test_the_story_enroll_two_citizens_catch_one_coming_again_verify_and_identify_them(
    station: Station, population: Population
) -> None:
    desk = desk_of(station)
    a, b = population["C01"], population["C02"]

    def enroll_here(citizen: Citizen) -> Any:
        return enroll(
            station,
            FaceInput(capture=True),
            FingerInput(scans=[RIGHT_INDEX, LEFT_INDEX]),
            card=CardInput(citizen.mrz),
            consent=True,
        )

    started = time.perf_counter()
    desk.present(a.id)
    first = enroll_here(a)
    assert (first.record.status.value, first.reasons) == ("active", [])
    assert first.record.fields.name == a.name
    assert first.chip_face_distance is not None
    assert first.chip_face_distance <= station.settings.face_verify_threshold

    desk.present(b.id)
    second = enroll_here(b)
    assert (second.record.status.value, second.reasons) == ("active", []), second.candidates

    desk.present(a.id)  # A comes again: another photo, other impressions of the same fingers
    again = enroll_here(a)
    assert again.held and "likely_duplicate" in again.reasons
    assert [c.record.id for c in again.candidates] == [first.record.id]

    desk.present(a.id)
    intake = verify_at_intake(
        station, CardInput(a.mrz), FaceInput(capture=True), FingerInput(scans=[RIGHT_INDEX])
    )
    assert intake.decision == "accepted", intake.reasons
    assert intake.record_id == first.record.id

    desk.present(b.id, card=False)  # B without a card: found by face and finger
    found = identify(station, FaceInput(capture=True), FingerInput(scans=[LEFT_INDEX]))
    assert found.match is not None and found.match.record.id == second.record.id
    print(f"\nthe story at the desk: {time.perf_counter() - started:.1f} s")


def test_an_enrolment_packet_carries_the_chip_files_the_centre_rechecks_passive_authentication_on(
    station: Station, population: Population, tmp_path: Path
) -> None:
    import base64

    from drivers.idcard.pa import load_csca_folder, passive_authentication
    from station.exchange.packets import enrollment_manifest

    citizen = population["C03"]
    desk_of(station).present(citizen.id)
    enrolled = enroll(
        station,
        FaceInput(capture=True),
        FingerInput(scans=[RIGHT_INDEX, LEFT_INDEX]),
        card=CardInput(citizen.mrz),
        consent=True,
    )
    manifest = enrollment_manifest(station.storage, enrolled.record.id, "test-station", [])
    files = {i["kind"]: base64.b64decode(i["data"]) for i in manifest["images"]}
    assert {"chip_sod", "chip_dg1", "chip_dg2", "document", "portrait"} <= set(files)
    report = passive_authentication(
        files["chip_sod"],
        {1: files["chip_dg1"], 2: files["chip_dg2"]},
        load_csca_folder(tmp_path / "csca"),
        "KGZ",
    )
    assert report.passed, report.summary()
