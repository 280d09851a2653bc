"""The whole path with simulated devices: two field kits enrol citizens (one citizen at both) with
card, face and fingers, hand their packets over on sticks, and the centre imports both sticks
(twice), re-checks each card's passive authentication, and refuses the packet changed on the way;
it makes the precinct's roll for a third station, which verifies an enrolled voter at intake
against the centre's enrolment.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from central.centre import Centre
from central.intake import import_folder
from central.rolls import make_roll
from matcher.face import FaceEncoder
from matcher.fingerprint import FingerprintTemplate
from station.core import Station
from station.simulation import (
    LEFT_INDEX,
    RIGHT_INDEX,
    Population,
    SimulatedDesk,
    simulated_device_urls,
)
from station.workflows import enroll, verify_at_intake
from station.workflows.exchange import station_identity, trust_centre_keys
from station.workflows.inputs import CardInput, FaceInput, FingerInput
from station.workflows.packets import export_packets
from station.workflows.rolls import import_roll
from tests.conftest import make_settings

SPEEDUP = 20


@pytest.fixture(scope="module")
def population(datasets: Path) -> Population:
    return Population.from_datasets(datasets)


def field_kit(
    tmp_path: Path,
    name: str,
    datasets: Path,
    population: Population,
    encoder: FaceEncoder,
    centre: Centre,
    precinct: str = "P-0417",
) -> Station:
    urls = simulated_device_urls(datasets, tmp_path / "csca", speedup=SPEEDUP)
    settings = make_settings(
        tmp_path / name,
        station_id=name,
        precinct=precinct,
        enroll_min_fingers=2,
        camera_timeout=1.0,
        card_timeout=0.3,
        scanner_timeout=0.5,
        **urls,
    )
    station = Station(settings, encoder=encoder).open()
    SimulatedDesk.attach(station.devices, population)
    trust_centre_keys(station, tmp_path / "centre.json")
    document = tmp_path / f"{name}.json"
    document.write_text(json.dumps(station_identity(station)))
    centre.stations.add(document)
    return station


def enrol_citizens(station: Station, population: Population, ids: list[str]) -> None:
    desk = station.devices.desk
    assert isinstance(desk, SimulatedDesk)
    for citizen_id in ids:
        desk.present(citizen_id)
        enrolled = enroll(
            station,
            FaceInput(capture=True),
            FingerInput(scans=[RIGHT_INDEX, LEFT_INDEX]),
            card=CardInput(population[citizen_id].mrz),
            consent=True,
        )
        assert enrolled.record.status.value == "active", enrolled.reasons


def hand_over(
    tmp_path: Path,
    name: str,
    citizens: list[str],
    datasets: Path,
    population: Population,
    encoder: FaceEncoder,
    centre: Centre,
) -> list[dict[str, Any]]:
    """A kit enrols ``citizens`` and writes its packets to ``tmp_path/stick-NAME``; its packets."""
    kit = field_kit(tmp_path, name, datasets, population, encoder, centre)
    try:
        enrol_citizens(kit, population, citizens)
        export_packets(kit, tmp_path / f"stick-{name}")
        return kit.storage.packets()
    finally:
        kit.close()


def test_two_kits_hand_over_their_enrolments_and_the_centre_holds_each_once(
    tmp_path: Path,
    datasets: Path,
    population: Population,
    shared_encoder: FaceEncoder,
    centre: Centre,
) -> None:
    kit = (datasets, population, shared_encoder, centre)
    north = hand_over(tmp_path, "kit-north", ["C01", "C02", "C03"], *kit)
    assert len(north) == 3
    south = hand_over(tmp_path, "kit-south", ["C03", "C04"], *kit)  # C03 at both kits
    # C04's packet (the kit's second record) is the one changed on the way
    changed_id = next(p["packet"] for p in south if p["record_id"] == 2)
    changed = tmp_path / "stick-kit-south" / f"{changed_id}.packet"
    data = bytearray(changed.read_bytes())
    data[-40] ^= 0x01  # one bit flipped on the stick
    changed.write_bytes(bytes(data))

    shutil.copytree(tmp_path / "csca", centre.csca_dir)  # the issuer's CSCA, trusted at the centre
    sticks = [tmp_path / "stick-kit-north", tmp_path / "stick-kit-south"]
    first = [import_folder(centre, stick) for stick in sticks]
    second = [import_folder(centre, stick) for stick in sticks]
    assert [(r.imported, r.already_had, len(r.rejected)) for r in first] == [(3, 0, 0), (1, 0, 1)]
    assert [(r.imported, r.already_had, len(r.rejected)) for r in second] == [(0, 3, 0), (0, 1, 1)]
    assert first[1].rejected[0]["packet"] == changed_id
    assert not any(r.held for r in first)  # every card passed passive authentication again
    counts = centre.register.counts()
    assert counts["persons"] == {"voter_registration": {"queued": 4}}
    person = centre.register.person_of_station_record("kit-north", 1)
    assert person is not None
    formats = [(t["modality"], t["format"]) for t in centre.register.templates_of(person.id)]
    assert formats.count(("finger", "iso-19794-2:2005")) == 2  # beside the station's own
    iso = next(t for t in centre.register.templates_of(person.id) if t["format"].startswith("iso"))
    assert FingerprintTemplate.from_iso19794_2(iso["data"]).count > 10
    stored = centre.register.db.execute("SELECT checks FROM packets").fetchall()
    assert all(c["passed"] for row in stored for c in row["checks"])
    assert all(any(c["check"] == "csca" for c in row["checks"]) for row in stored)

    # the precinct's station gets the roll and verifies C01, enrolled at kit-north, against it
    precinct = field_kit(tmp_path, "precinct-0417", datasets, population, shared_encoder, centre)
    try:
        made = make_roll(centre, precinct="P-0417", station_id="precinct-0417")
        assert len(made.roll.voters) == 3 and made.without_face == 0  # C01, C02, C03 once
        assert len(made.left_out) == 1 and "same document" in made.left_out[0]["reason"]
        (tmp_path / "roll.jose").write_bytes(made.data)
        imported = import_roll(precinct, tmp_path / "roll.jose")
        assert imported.to_json()["voters"] == 3
        desk = precinct.devices.desk
        assert isinstance(desk, SimulatedDesk)
        desk.present("C01")
        intake = verify_at_intake(
            precinct,
            CardInput(population["C01"].mrz),
            FaceInput(capture=True),
            FingerInput(scans=[RIGHT_INDEX]),
        )
        assert intake.decision == "accepted", intake.reasons
        assert intake.roll is not None and intake.roll["precinct"] == "P-0417"
        enrolled = next(r for r in intake.reasons if r.code == "enrolled")
        assert "on the roll of precinct P-0417 (version 1)" in enrolled.message
    finally:
        precinct.close()


def test_a_card_the_centre_cannot_authenticate_is_held_for_review_not_stored_as_valid(
    tmp_path: Path,
    datasets: Path,
    population: Population,
    shared_encoder: FaceEncoder,
    centre: Centre,
) -> None:
    hand_over(tmp_path, "kit-east", ["C05"], datasets, population, shared_encoder, centre)
    result = import_folder(centre, tmp_path / "stick-kit-east")  # it trusts no CSCA yet
    assert result.imported == 1 and len(result.held) == 1
    assert "passive authentication" in result.held[0]["reason"]
    assert centre.register.counts()["persons"] == {"voter_registration": {"held": 1}}


def test_national_deduplication_registers_the_unique_and_queues_the_same_citizen_for_review(
    tmp_path: Path,
    datasets: Path,
    population: Population,
    shared_encoder: FaceEncoder,
    centre: Centre,
) -> None:
    import ray

    from central.dedup import deduplicate, national_loader
    from central.engine.national import NationalGallery, start_ray
    from central.review import decide_review, waiting

    for name, citizens in (("kit-west", ["C06", "C07"]), ("kit-east", ["C06", "C08"])):
        hand_over(tmp_path, name, citizens, datasets, population, shared_encoder, centre)
    shutil.copytree(tmp_path / "csca", centre.csca_dir)
    for name in ("kit-west", "kit-east"):
        import_folder(centre, tmp_path / f"stick-{name}")

    start_ray(num_cpus=1)  # a local Ray, authenticated with the suite's token
    try:
        national = NationalGallery(2, national_loader(centre, "voter_registration", "sface"))
        try:
            first = deduplicate(centre, national)
        finally:
            national.close()
    finally:
        ray.shutdown()
    assert (first.checked, first.registered, len(first.to_review)) == (4, 3, 1)
    waiting_now = waiting(centre)
    assert len(waiting_now) == 1
    later, candidates = waiting_now[0]["person_id"], waiting_now[0]["candidates"]
    same = {centre.register.person(later).fields["document_number"]}  # type: ignore[union-attr]
    earlier = centre.register.person(candidates[0]["person"])
    assert earlier is not None and {earlier.fields["document_number"]} == same  # C06 both times
    assert candidates[0]["llr"] > 20 and len(candidates) == 1  # face and both fingers agree

    decide_review(centre, later, "merge", "the same citizen enrolled by two kits")
    assert centre.register.person(later).status == "merged"  # type: ignore[union-attr]
    assert centre.register.counts()["persons"]["voter_registration"] == {
        "registered": 3,
        "merged": 1,
    }
    assert "review_decision" in [r["action"] for r in centre.audit.rows(limit=20)]
