"""``python -m benchmarks handover``: the whole path from the field to the precinct, timed.

Two field kits with simulated devices (camera, scanner, card reader following a desk of simulated
citizens) enrol citizens with card, face and two fingers, one citizen at both kits; kit A hands its
packets over on a folder (a stick), kit B over HTTPS to ``central serve``; the centre imports the
stick twice (the second time finds every packet already held), re-checking each card's passive
authentication against the issuer's CSCA; then it makes the precinct's roll for a third station,
which imports it and verifies a voter at intake against it. A real PostgreSQL cluster is started
in a temporary folder for the run.

``--copies K`` also measures the centre's import rate at volume: every enrolment packet of kit A
is sealed again K times as if from K other records (new packet ids, same images and templates),
and the lot imported from one folder.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import click

from benchmarks.common import datasets_dir, datasets_option, echo_json
from central.centre import Centre
from central.intake import import_folder
from central.keys import identity_document as centre_document
from central.postgres import LocalCluster
from central.rolls import make_roll
from central.server import make_server, tls_files
from station.core import Station
from station.exchange.envelope import seal_packet
from station.exchange.identity import signing_key
from station.exchange.packets import enrollment_manifest, manifest_bytes
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
from station.workflows.sync import sync_packets

PRECINCT = "P-0001"


def _kit(root: Path, name: str, datasets: Path, population: Population, speedup: float) -> Station:
    from station.config import load_settings

    urls = simulated_device_urls(datasets, root / "csca", speedup=speedup)
    settings = load_settings(
        overrides={
            "data_dir": root / name,
            "key_file": root / f"{name}.key",
            "station_id": name,
            "precinct": PRECINCT,
            "datasets_dir": datasets,
            "enroll_min_fingers": 2,
            "password_kdf_n": 1024,
            **urls,
        }
    )
    station = Station(settings).open()
    SimulatedDesk.attach(station.devices, population)
    return station


def _register(station: Station, root: Path, centre: Centre) -> None:
    trust_centre_keys(station, root / "centre.json")
    document = root / f"{station.settings.station_id}.json"
    document.write_text(json.dumps(station_identity(station)))
    centre.stations.add(document)


def _enrol(station: Station, population: Population, ids: list[str]) -> list[float]:
    desk = station.devices.desk
    assert isinstance(desk, SimulatedDesk)
    seconds = []
    for citizen_id in ids:
        desk.present(citizen_id)
        started = time.perf_counter()
        enroll(
            station,
            FaceInput(capture=True),
            FingerInput(scans=[RIGHT_INDEX, LEFT_INDEX]),
            card=CardInput(population[citizen_id].mrz),
            consent=True,
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def _copies(station: Station, folder: Path, copies: int, centre_key: Any) -> int:
    """Seal every enrolment of ``station`` again ``copies`` times as other records' packets."""
    folder.mkdir()
    key, storage = signing_key(station.storage), station.storage
    written = 0
    for record_id in [p["record_id"] for p in storage.packets() if p["kind"] == "enrollment"]:
        manifest = enrollment_manifest(storage, record_id, station.settings.station_id, [])
        for copy in range(copies):
            manifest["station_record"] = 1_000_000 + record_id * copies + copy
            packet_id, data = seal_packet(
                manifest_bytes(manifest),
                kind="enrollment",
                sender_id=station.settings.station_id,
                signing_key=key,
                recipient_key=centre_key,
                packet_id=str(uuid.uuid4()),
            )
            (folder / f"{packet_id}.packet").write_bytes(data)
            written += 1
    return written


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@click.command()
@datasets_option
@click.option("--citizens", type=click.IntRange(2, 20), default=6, show_default=True)
@click.option(
    "--speedup",
    type=float,
    default=1.0,
    show_default=True,
    help="The simulated scanner's serial line this many times its real 115200 baud.",
)
@click.option("--copies", type=click.IntRange(0, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def handover(
    datasets: Path | None, citizens: int, speedup: float, copies: int, as_json: bool
) -> None:
    """The whole path, field kit to precinct, with the time of each step."""
    data = datasets_dir(datasets)
    population = Population.from_datasets(data)
    ids = [c.id for c in population][:citizens]
    half = citizens // 2
    root = Path(tempfile.mkdtemp(prefix="handover-"))
    root.chmod(0o755)
    cluster = LocalCluster(root / "postgres")
    figures: dict[str, Any] = {"citizens": citizens, "speedup": speedup}
    started = time.perf_counter()
    cluster.start()
    figures["postgres_start_s"] = round(time.perf_counter() - started, 2)
    try:
        with Centre(root / "centre", cluster.url, actor="bench") as centre:
            (root / "centre.json").write_text(json.dumps(centre_document(centre.keys)))
            kit_a = _kit(root, "kit-a", data, population, speedup)
            kit_b = _kit(root, "kit-b", data, population, speedup)
            precinct = _kit(root, "precinct-1", data, population, speedup)
            for station in (kit_a, kit_b, precinct):
                _register(station, root, centre)
            try:
                enrol_a = _enrol(kit_a, population, ids[: half + 1])  # ids[half] at both kits
                enrol_b = _enrol(kit_b, population, ids[half:])
                every = enrol_a + enrol_b
                figures["enrol_s_median"] = round(sorted(every)[len(every) // 2], 2)
                figures["enrolments"] = len(every)

                t = time.perf_counter()
                export = export_packets(kit_a, root / "stick")
                figures["export_s"] = round(time.perf_counter() - t, 3)
                sizes = [p.stat().st_size for p in (root / "stick").glob("*.packet")]
                figures["packet_kib_median"] = round(sorted(sizes)[len(sizes) // 2] / 1024, 1)
                shutil.copytree(root / "csca", centre.csca_dir)
                t = time.perf_counter()
                first = import_folder(centre, root / "stick")
                figures["import_s"] = round(time.perf_counter() - t, 3)
                t = time.perf_counter()
                again = import_folder(centre, root / "stick")
                figures["import_again_s"] = round(time.perf_counter() - t, 3)
                figures["imported"], figures["already_had"] = first.imported, again.already_had
                figures["packets_written"] = len(export.written)

                port = _free_port()
                server = make_server(centre, "127.0.0.1", port)
                server.prepare()
                thread = threading.Thread(target=server.serve, daemon=True)
                thread.start()
                try:
                    t = time.perf_counter()
                    synced = sync_packets(
                        kit_b, f"https://127.0.0.1:{port}", tls_files(centre, "127.0.0.1")[0]
                    )
                    figures["sync_s"] = round(time.perf_counter() - t, 3)
                    figures["synced"] = synced.acknowledged
                finally:
                    server.stop()

                t = time.perf_counter()
                made = make_roll(centre, precinct=PRECINCT, station_id="precinct-1")
                figures["roll_make_s"] = round(time.perf_counter() - t, 3)
                figures["roll_voters"], figures["roll_left_out"] = (
                    len(made.roll.voters),
                    len(made.left_out),
                )
                (root / "roll.jose").write_bytes(made.data)
                t = time.perf_counter()
                import_roll(precinct, root / "roll.jose")
                figures["roll_import_s"] = round(time.perf_counter() - t, 3)
                desk = precinct.devices.desk
                assert isinstance(desk, SimulatedDesk)
                desk.present(ids[0])
                t = time.perf_counter()
                intake = verify_at_intake(
                    precinct,
                    CardInput(population[ids[0]].mrz),
                    FaceInput(capture=True),
                    FingerInput(scans=[RIGHT_INDEX]),
                )
                figures["intake_s"] = round(time.perf_counter() - t, 2)
                figures["intake_decision"] = intake.decision
                figures["intake_on_roll"] = intake.roll is not None

                if copies:
                    volume = _copies(kit_a, root / "volume", copies, centre.keys.encryption_key)
                    t = time.perf_counter()
                    bulk = import_folder(centre, root / "volume")
                    elapsed = time.perf_counter() - t
                    figures["volume_packets"] = bulk.imported
                    figures["volume_import_s"] = round(elapsed, 2)
                    figures["volume_packets_per_s"] = round(volume / elapsed, 1)
            finally:
                for station in (kit_a, kit_b, precinct):
                    station.close()
    finally:
        cluster.release()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    if as_json:
        echo_json(figures)
        return
    for name, value in figures.items():
        click.echo(f"{name:>22}  {value}")
