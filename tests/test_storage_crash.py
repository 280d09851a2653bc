"""Crash safety: a station killed (SIGKILL) at any moment of enrolment leaves no half-written
record, and its audit trail stays intact: a record, its sealed template and its audit row commit
together or not at all."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from matcher.face import FaceEncoder
from station.service import Station
from tests.conftest import make_settings, photos_of

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import itertools, sys
from pathlib import Path
from matcher.imageio import read_rgb
from station.records import PersonFields
from station.service import Station
from station.storage import Biometric
from tests.conftest import make_settings

mode, data, photos = sys.argv[1], Path(sys.argv[2]), [read_rgb(Path(p)) for p in sys.argv[3:]]
with Station(make_settings(data)) as station:
    template = station.encode(photos[0])
    print("ready", flush=True)
    for i in itertools.count():
        fields = PersonFields(name=f"Person {i}", document_number=f"DOC{i}")
        if mode == "station":  # the real workflow, face encoding included
            record = station.enroll(photos[i % len(photos)], fields)
            if i % 2:
                station.correct_record(record.id, {"sex": "F"}, "crash test")
        else:  # the same transaction, as fast as the disk allows: kills land inside it
            with station.storage.transaction():
                record = station.storage.add_record(
                    fields, [Biometric.face(template.vector, template.box)], "voter_registration"
                )
                station.audit.append("system", "enroll", target=record.id)
"""


def kill_during_enrolment(mode: str, data: Path, photos: list[Path], seconds: float) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(data), *map(str, photos)],
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
        child.communicate(timeout=30)  # and close the pipes


def check_whole(station: Station) -> int:
    """Every record whole, every template with its record, one enroll row per record."""
    with station.storage.reading() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = [r[0] for r in db.execute("SELECT id FROM records ORDER BY id")]
        faceless = db.execute(
            "SELECT COUNT(*) FROM records r LEFT JOIN biometrics b ON b.record_id = r.id "
            "WHERE b.record_id IS NULL"
        ).fetchone()[0]
        orphans = db.execute(
            "SELECT COUNT(*) FROM biometrics WHERE record_id NOT IN (SELECT id FROM records)"
        ).fetchone()[0]
        enrolled = [
            int(r[0]) for r in db.execute("SELECT target FROM audit WHERE action = 'enroll'")
        ]
        histories = db.execute(
            "SELECT COUNT(*) FROM record_history h JOIN records r ON r.id = h.record_id "
            "WHERE r.version != (SELECT COUNT(*) FROM record_history WHERE record_id = r.id) + 1"
        ).fetchone()[0]
    assert (faceless, orphans, histories) == (0, 0, 0)
    assert sorted(enrolled) == ids
    records = station.storage.get_records(ids)  # every sealed field opens
    assert all(r.fields.name.startswith("Person ") for r in records.values())
    assert len(station.gallery) == len(ids)  # every template opens
    assert station.audit.verify().intact
    return len(ids)


@pytest.mark.parametrize("mode", ["storage", "station"])
def test_sigkill_in_the_middle_of_enrolment_leaves_no_half_written_record(
    tmp_path: Path, lfw_people: list[Path], shared_encoder: FaceEncoder, mode: str
) -> None:
    data = tmp_path / "data"
    photos = [photos_of(p)[0] for p in lfw_people[40:43]]
    rng = random.Random(7)
    counts = []
    for _ in range(3):
        kill_during_enrolment(mode, data, photos, rng.uniform(0.2, 1.0))
        with Station(make_settings(data), encoder=shared_encoder) as station:
            counts.append(check_whole(station))
    assert counts == sorted(counts) and counts[-1] > 0  # work was done and none was lost
