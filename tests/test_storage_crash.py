"""Crash safety: a station killed (SIGKILL) at any moment of enrollment (the workflow with its
de-duplication, holds and decisions) leaves no half-written record, loses nothing it had
acknowledged, keeps its audit trail intact and rebuilds galleries equal to its active records: a
record, its sealed templates, its hold and its audit rows commit together or not at all."""

from __future__ import annotations

import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from matcher.face import FaceEncoder
from station.core import Station
from tests.conftest import make_settings, photos_of

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import itertools, pickle, sys
from pathlib import Path
from matcher.fingerprint import FingerprintTemplate
from matcher.imageio import read_rgb
from station.records import PersonFields
from station.core import Station
from station.storage import Biometric
from station.workflows import FaceInput, FingerInput, correct_record, decide_hold, enroll
from tests.conftest import make_settings

mode, data, prints = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])  # templates, pickled
photos = [read_rgb(Path(p)) for p in sys.argv[4:]]
with Station(make_settings(data)) as station:
    template = station.encode(photos[0])
    people = [  # two people's right and left index fingers
        {p: FingerprintTemplate.from_bytes(b) for p, b in fingers.items()}
        for fingers in pickle.loads(prints.read_bytes())
    ]
    print("ready", flush=True)
    for i in itertools.count():
        fields = PersonFields(name=f"Person {i}", document_number=f"DOC{i}")
        if mode == "workflow":  # enrollment with de-duplication: the first of each is active,
            # the others held as duplicates; holds are then rejected or accepted in turn
            found = enroll(
                station,
                FaceInput.of(photos[i % 2]),
                FingerInput.of(people[i % 2]),
                fields=fields,
                consent=True,
            )
            print("ack", found.record.id, found.record.status.value, flush=True)
            if found.held:
                decision = ("reject", "accept", "dispute")[i % 3]
                decide_hold(station, found.record.id, decision, "crash test")
                print("decided", found.record.id, decision, flush=True)
            elif i % 2:
                correct_record(station, found.record.id, {"sex": "F"}, "crash test")
        else:  # one transaction as fast as the disk allows: kills land inside it
            with station.storage.transaction():
                record = station.storage.add_record(
                    fields, [Biometric.face(template.vector, template.box, template.model)], "voter_registration"
                )
                station.audit.append("system", "enroll", target=record.id)
            print("ack", record.id, "active", flush=True)
"""


def kill_during_enrollment(
    mode: str, data: Path, prints: Path, photos: list[Path], seconds: float
) -> dict[int, str]:
    """Run enrollments in a child process, SIGKILL it after ``seconds``; return what it had
    acknowledged: record id -> its last acknowledged state (active, held, reject, accept...)."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(data), str(prints), *map(str, photos)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "ready", child.stderr.read() if child.stderr else ""
        time.sleep(seconds)
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
    finally:
        child.send_signal(signal.SIGKILL)
        output, _ = child.communicate(timeout=30)
    acknowledged: dict[int, str] = {}
    for line in output.split("\n")[:-1]:  # the last piece may be a line the kill cut short
        _, record_id, state = line.split()
        acknowledged[int(record_id)] = state
    return acknowledged


def check_whole(station: Station, acknowledged: dict[int, str]) -> int:
    """Every record whole, every template with its record, an enroll row per record, nothing
    acknowledged lost, and the galleries holding exactly the active records."""
    with station.storage.reading() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r[0] for r in db.execute("SELECT id FROM records ORDER BY id")]
        faceless = db.execute(
            "SELECT COUNT(*) FROM records r LEFT JOIN biometrics b ON b.record_id = r.id "
            "AND b.modality = 'face' WHERE b.record_id IS NULL"
        ).fetchone()[0]
        orphans = db.execute(
            "SELECT COUNT(*) FROM biometrics WHERE record_id NOT IN (SELECT id FROM records)"
        ).fetchone()[0]
        enrolled = {
            int(r[0]) for r in db.execute("SELECT target FROM audit WHERE action = 'enroll'")
        }
        histories = db.execute(
            "SELECT COUNT(*) FROM record_history h JOIN records r ON r.id = h.record_id "
            "WHERE r.version != (SELECT COUNT(*) FROM record_history WHERE record_id = r.id) + 1"
        ).fetchone()[0]
        held_without_hold = db.execute(
            "SELECT COUNT(*) FROM records WHERE status = 'held' AND id NOT IN "
            "(SELECT record_id FROM holds)"
        ).fetchone()[0]
    assert (faceless, orphans, histories, held_without_hold) == (0, 0, 0, 0)
    assert set(ids) <= enrolled
    for record_id, state in acknowledged.items():  # nothing acknowledged is lost
        assert (record_id in ids) == (state != "reject"), (record_id, state)
    records = station.storage.get_records(ids)  # every sealed field opens
    assert all(r.fields.name.startswith("Person ") for r in records.values())
    active = sorted(r.id for r in records.values() if r.active)
    faces = station.galleries.face("voter_registration").ids()
    assert sorted(int(i) for i in faces) == active  # every template opens
    fingered = [rid for rid in active if station.storage.record_fingers(rid)]
    assert sorted(int(r) for r in station.galleries.finger("voter_registration").records()) == (
        fingered
    )
    assert station.audit.verify().intact
    return len(ids)


@pytest.mark.parametrize("mode", ["storage", "workflow"])
def test_sigkill_in_the_middle_of_enrollment_leaves_no_half_written_record(
    tmp_path: Path,
    lfw_people: list[Path],
    fvc_template: Any,
    shared_encoder: FaceEncoder,
    mode: str,
) -> None:
    data = tmp_path / "data"
    prints = tmp_path / "fingers.pickle"
    prints.write_bytes(
        pickle.dumps(
            [
                {2: fvc_template(f"{a}_1").to_bytes(), 7: fvc_template(f"{b}_1").to_bytes()}
                for a, b in ((101, 102), (103, 104))
            ]
        )
    )
    photos = [photos_of(p)[0] for p in lfw_people[40:43]]
    rng = random.Random(7)
    counts = []
    acknowledged: dict[int, str] = {}
    for _ in range(3):
        acknowledged.update(
            kill_during_enrollment(mode, data, prints, photos, rng.uniform(0.5, 2.0))
        )
        with Station(make_settings(data), encoder=shared_encoder) as station:
            counts.append(check_whole(station, acknowledged))
    assert counts == sorted(counts) and counts[-1] > 0  # work was done and none was lost
    if mode == "workflow":
        states = set(acknowledged.values())  # the last state of each: decided holds included
        assert "active" in states and states & {"held", "reject", "accept", "dispute"}
