"""``python -m benchmarks roll --voters 1700``: a precinct's roll at the station, end to end.

A synthetic roll of ``--voters`` voters made as the centre makes it (signed with a centre's
Ed25519 key, encrypted to the station's X25519 key): one real voter, the LFW cardholder of the
simulated ID card with a real SFace template of another photo and two real FVC2002 DB1_B finger
templates, and synthetic others, each with a random unit face vector (128 values, the SFace
format) and two finger templates in the station's own format made from real DB1_B minutiae
(:func:`benchmarks.fingerprint_distractors.perturb`), and with ``--portraits`` the cardholder's
JPEG as everyone's token portrait (the size a real roll has).

Prints how long the import takes (open, check, store sealed; faces searchable at once) and until
the rolls' fingerprint gallery is ready (built in the background), and intake time (card chip,
live face against the chip, the record's face and fingers fused, a receipt) for the same person
verified against the station's own enrolment (without the roll) and against the roll, side by
side.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import numpy as np

from benchmarks.common import datasets_dir, datasets_option, echo_json

RIGHT_INDEX, LEFT_INDEX = 2, 7
DOCUMENT = "AN1234567"  # the simulated card's (drivers.idcard.personalise.DEFAULT_MRZ)


def _cardholder(lfw: Path, encoder: Any) -> Path:
    """The first LFW person with four photos, each showing one face to the encoder."""
    from matcher.imageio import read_rgb

    for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= 4 and all(len(encoder.detect(read_rgb(p))) == 1 for p in photos[:4]):
            return person
    raise click.ClickException(f"no LFW person in {lfw} with four single-face photos")


def _finger(db1: Path, name: str) -> Any:
    from matcher.fingerprint import extract
    from matcher.imageio import read_rgb

    gray = read_rgb(db1 / f"{name}.png").mean(axis=2).astype(np.uint8)
    return extract.extract(gray, 500)


def _timed(job: Any, repeat: int) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = job()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def run_roll_bench(
    voters: int, datasets: Path, repeat: int, portraits: bool, seed: int = 0
) -> dict[str, Any]:
    from benchmarks.fingerprint_distractors import perturb
    from central.keys import centre_keys
    from central.keys import identity_document as centre_document
    from drivers.idcard.personalise import DEFAULT_MRZ, make_pki
    from drivers.idcard.sim import DEFAULT_SEED
    from matcher.face import face_encoder
    from matcher.face.templates import template_to_bytes
    from matcher.imageio import read_rgb
    from station.config import load_settings
    from station.core import Station
    from station.exchange.envelope import seal_packet
    from station.exchange.identity import encryption_key
    from station.exchange.rolls import ROLL_KIND, Roll, RollTemplate, RollVoter
    from station.records import ROLL_PURPOSE
    from station.storage import FINGER_FORMAT
    from station.workflows import CardInput, FaceInput, FingerInput, enroll, verify_at_intake
    from station.workflows.exchange import trust_centre_keys
    from station.workflows.rolls import import_roll

    lfw = datasets / "faces" / "lfw_dev" / "images"
    db1 = datasets / "fingerprints" / "fvc2002_b" / "DB1_B"
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="roll-bench-") as scratch:
        folder = Path(scratch)
        csca = folder / "csca"
        make_pki("KG", seed=DEFAULT_SEED).write_csca(csca)
        encoder = face_encoder()
        photos = sorted(_cardholder(lfw, encoder).glob("*.jpg"))
        settings = load_settings(
            overrides={
                "data_dir": folder / "data",
                "key_file": folder / "data.key",
                "station_id": "bench-station",
                "password_kdf_n": 1024,
                "login_answer_seconds": 0,
                "enroll_min_fingers": 2,
                "log_level": "WARNING",
                "card_reader_url": f"sim://?photo={quote(str(photos[3]))}&csca={quote(str(csca))}",
            },
            environ={},
        )
        enrolled = {RIGHT_INDEX: _finger(db1, "101_1"), LEFT_INDEX: _finger(db1, "102_1")}
        probe = {RIGHT_INDEX: _finger(db1, "101_2")}
        sources = [_finger(db1, f"{finger}_1") for finger in range(103, 111)]
        portrait = photos[0].read_bytes() if portraits else None
        keys = centre_keys(folder / "centre")
        with Station(settings, encoder=encoder) as station:
            document = folder / "centre.json"
            document.write_text(json.dumps(centre_document(keys)))
            trust_centre_keys(station, document)

            def intake() -> Any:
                return verify_at_intake(
                    station,
                    CardInput(DEFAULT_MRZ),
                    FaceInput.of(read_rgb(photos[1])),
                    FingerInput.of(probe),
                )

            enroll(
                station,
                FaceInput.of(read_rgb(photos[0])),
                FingerInput.of(enrolled),
                card=CardInput(DEFAULT_MRZ),
                consent=True,
            )
            intake()  # warm: models loaded, caches filled
            without, answer = _timed(intake, repeat)
            decision_without = answer.decision

            started = time.perf_counter()
            face = station.encoder.encode(read_rgb(photos[0])).vector
            people = [
                RollVoter(
                    "V-000000",
                    "TESTOVA AIZADA",
                    DOCUMENT,
                    "1990-01-01",
                    portrait,
                    [
                        RollTemplate(
                            "face", None, station.storage.face_format, None, template_to_bytes(face)
                        ),
                        *(
                            RollTemplate("finger", p, FINGER_FORMAT, 60.0, t.to_bytes())
                            for p, t in enrolled.items()
                        ),
                    ],
                )
            ]
            vectors = rng.normal(size=(max(voters - 1, 0), 128)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            for i, vector in enumerate(vectors, start=1):
                fingers = [
                    RollTemplate(
                        "finger",
                        position,
                        FINGER_FORMAT,
                        60.0,
                        perturb(sources[int(rng.integers(len(sources)))], rng).to_bytes(),
                    )
                    for position in (RIGHT_INDEX, LEFT_INDEX)
                ]
                people.append(
                    RollVoter(
                        f"V-{i:06d}",
                        f"Synthetic Voter {i}",
                        f"SV{i:07d}",
                        None,
                        portrait,
                        [
                            RollTemplate(
                                "face",
                                None,
                                station.storage.face_format,
                                None,
                                template_to_bytes(vector),
                            ),
                            *fingers,
                        ],
                    )
                )
            roll = Roll(
                str(uuid.uuid4()),
                keys.centre_id,
                settings.station_id,
                "Bench 1",
                "voter_registration",
                1,
                datetime.now(UTC).isoformat(timespec="seconds"),
                (date.today() + timedelta(days=30)).isoformat(),
                people,
            )
            _, data = seal_packet(
                roll.to_bytes(),
                kind=ROLL_KIND,
                sender_id=keys.centre_id,
                signing_key=keys.signing_key,
                recipient_key=encryption_key(station.storage),
                packet_id=roll.roll_id,
            )
            path = folder / "bench.roll"
            path.write_bytes(data)
            made = time.perf_counter() - started

            started = time.perf_counter()
            done = import_roll(station, path)
            imported = time.perf_counter() - started
            building, _ = _timed(intake, 1 if station.galleries.fingers_ready else repeat)
            station.galleries.wait(ROLL_PURPOSE)
            gallery = time.perf_counter() - started

            intake()
            with_roll, answer = _timed(intake, repeat)
            decision_with = answer.decision
            on_roll = answer.roll is not None
    return {
        "voters": voters,
        "roll_mib": round(len(data) / 2**20, 1),
        "portraits": portraits,
        "make_seconds": round(made, 2),
        "import_seconds": round(imported, 2),
        "fingerprint_gallery_ready_seconds": round(gallery, 2),
        "templates_kept": done.templates,
        "intake_repeats": repeat,
        "intake_without_roll": _summary(without, decision_without, False),
        "intake_with_roll": _summary(with_roll, decision_with, on_roll),
        "intake_while_the_gallery_builds_median_seconds": round(statistics.median(building), 3),
    }


def _summary(seconds: list[float], decision: str, on_roll: bool) -> dict[str, Any]:
    return {
        "median_seconds": round(statistics.median(seconds), 3),
        "min_seconds": round(min(seconds), 3),
        "max_seconds": round(max(seconds), 3),
        "decision": decision,
        "verified_on_roll": on_roll,
    }


@click.command(name="roll")
@datasets_option
@click.option("--voters", default=1700, show_default=True, help="Voters on the synthetic roll.")
@click.option("--repeat", default=5, show_default=True, help="Intakes timed each way.")
@click.option(
    "--portraits/--no-portraits",
    default=True,
    show_default=True,
    help="Give every voter a token portrait (a real roll's size).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def roll(datasets: Path | None, voters: int, repeat: int, portraits: bool, as_json: bool) -> None:
    """A synthetic precinct roll: import time, and intake with vs without it."""
    if voters < 1 or repeat < 1:
        raise click.BadParameter("--voters and --repeat are at least 1")
    report = run_roll_bench(voters, datasets_dir(datasets), repeat, portraits)
    if as_json:
        echo_json(report)
        return
    click.echo(
        f"roll of {report['voters']:,} voters, {report['roll_mib']} MiB"
        f"{' with portraits' if portraits else ''}: made in {report['make_seconds']} s"
    )
    click.echo(
        f"import: {report['import_seconds']} s (opened, checked, stored sealed, faces "
        "searchable); the rolls' fingerprint gallery ready after "
        f"{report['fingerprint_gallery_ready_seconds']} s (built in the background)"
    )
    a, b = report["intake_without_roll"], report["intake_with_roll"]
    click.echo(f"intake, {repeat} each             without roll    with roll")
    for name in ("median_seconds", "min_seconds", "max_seconds"):
        click.echo(f"  {name:<24} {a[name]:>10.3f} s {b[name]:>10.3f} s")
    click.echo(f"  {'decision':<24} {a['decision']:>12} {b['decision']:>12}")
    on_roll = (str(a["verified_on_roll"]), str(b["verified_on_roll"]))
    click.echo(f"  {'verified on the roll':<24} {on_roll[0]:>12} {on_roll[1]:>12}")
    click.echo(
        "intake while the fingerprint gallery builds: median "
        f"{report['intake_while_the_gallery_builds_median_seconds']:.3f} s"
    )
