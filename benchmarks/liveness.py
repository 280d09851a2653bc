"""``python -m benchmarks liveness``: the active challenge measured like ISO/IEC 30107-3.

Genuine clips (bona fide presentations) come from ORL, whose ten photos of a person include
real head turns: for each person and side, the most frontal photo, then the photos turned
further and further to that side, the most turned one twice, the way back, and the frontal one
again, played at 10 frames a second. Which photo is turned how far is told by a reference
independent of the check (dlib's 68 points: the nose tip between the two jaw ends), and a side
counts only where a photo turns at least ``--min-turn`` that way. ORL's photos are stills taken
one after another, not a video: lighting and expression change between frames as they would
not in a real clip, which makes the genuine clips harder than a live person, not easier. Blink
clips put a photo with both eyes closed (chosen by eye, listed below) between open ones.

Attacks (APCER per type): a photo held still, moved/rotated/scaled in plane, tilted in
perspective to fake a turn (each made from one photo of a person, LFW's and ORL's), a genuine
clip of another action replayed, and a genuine turn whose turned frames are another person's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import click
import numpy as np
from numpy.typing import NDArray

from benchmarks.common import datasets_dir, datasets_option, echo_json
from drivers.camera.clips import moved_photo, still_photo, tilted_photo
from drivers.camera.sim import load_rgb
from matcher.face.liveness import (
    Action,
    Challenge,
    LivenessChecker,
    LivenessThresholds,
    LivenessVerdict,
)
from matcher.face.sface import SFaceRecognizer, YuNetDetector

Pixels = NDArray[np.uint8]
FPS = 10.0
# ORL photos with both eyes closed, chosen by looking at every photo; (person, photo).
ORL_CLOSED_EYES = ((8, 7), (11, 4), (11, 9), (22, 6), (24, 8), (26, 6), (27, 6), (27, 9), (36, 5))
# Eyes half shut or looking down: neither open nor closed, kept out of every blink clip.
ORL_UNSURE_EYES = ((3, 4), (3, 5), (3, 6), (4, 5), (27, 5), (32, 6))


@dataclass(frozen=True)
class Row:
    """One line of the report: a kind of presentation, how many, the error rate, the verdicts."""

    kind: str
    presentations: int
    error: float
    codes: dict[str, int]

    @property
    def label(self) -> str:
        return "BPCER" if self.kind.startswith("genuine") else "APCER"


@dataclass(frozen=True)
class Clip:
    """A sequence of frames shown for one challenge, and what it shows. Attack clips are made
    when played (``make``), one at a time: a hundred 640 x 480 clips would fill the memory."""

    name: str
    shows: Action | str
    made: tuple[Pixels, ...] = ()
    make: Callable[[], list[Pixels]] | None = None

    @property
    def frames(self) -> Sequence[Pixels]:
        return self.make() if self.make is not None else self.made


def reference_yaw(pixels: Pixels) -> float | None:
    """An independent turn estimate from dlib's 68 points: where the nose tip lies between the
    jaw's two ends, 0 frontal, positive toward the person's left (the image's right)."""
    import face_recognition
    from PIL import Image

    big = np.asarray(
        Image.fromarray(pixels).resize(
            (pixels.shape[1] * 2, pixels.shape[0] * 2), Image.Resampling.BICUBIC
        )
    )
    marks = face_recognition.face_landmarks(big, model="large")
    if not marks:
        return None
    chin, tip = marks[0]["chin"], marks[0]["nose_tip"][2]
    return float((tip[0] - chin[0][0]) / max(chin[16][0] - chin[0][0], 1) - 0.5)


def orl_people(orl: Path) -> dict[int, list[Pixels]]:
    return {
        person: [load_rgb(orl / f"s{person}" / f"{n}.pgm") for n in range(1, 11)]
        for person in range(1, 41)
        if (orl / f"s{person}").is_dir()
    }


def turn_clip(
    photos: list[Pixels], yaws: list[float | None], side: int, min_turn: float
) -> list[Pixels] | None:
    """Frontal, turning to ``side`` (+1 the person's left), back: None without such a turn."""
    known = [(i, y) for i, y in enumerate(yaws) if y is not None]
    if not known:
        return None
    frontal = min(known, key=lambda item: abs(item[1]))
    turned = max(known, key=lambda item: side * item[1])
    if side * turned[1] < min_turn:
        return None
    between = sorted(
        (item for item in known if side * frontal[1] + 0.05 <= side * item[1] < side * turned[1]),
        key=lambda item: side * item[1],
    )
    order = (
        [frontal[0]] * 3
        + [i for i, _ in between]
        + [turned[0]] * 2
        + [i for i, _ in reversed(between)]
        + [frontal[0]] * 2
    )
    return [photos[i] for i in order]


def genuine_clips(
    people: dict[int, list[Pixels]], yaws: dict[int, list[float | None]], min_turn: float
) -> list[Clip]:
    clips: list[Clip] = []
    for person, photos in people.items():
        for action, side in (("turn_left", 1), ("turn_right", -1)):
            frames = turn_clip(photos, yaws[person], side, min_turn)
            if frames is not None:
                clips.append(Clip(f"orl s{person} {action}", action, tuple(frames)))
    unsure = set(ORL_UNSURE_EYES) | set(ORL_CLOSED_EYES)
    for person, closed in ORL_CLOSED_EYES:
        photos = people[person]
        known = [
            (i, y)
            for i, y in enumerate(yaws[person])
            if y is not None and (person, i + 1) not in unsure
        ]
        opened = photos[min(known, key=lambda item: abs(item[1]))[0]]
        shut = photos[closed - 1]
        blink = (opened,) * 3 + (shut,) * 2 + (opened,) * 2
        clips.append(Clip(f"orl s{person}/{closed} blink", "blink", blink))
    return clips


def swapped_clips(
    people: dict[int, list[Pixels]], yaws: dict[int, list[float | None]], min_turn: float
) -> list[Clip]:
    """A genuine turn whose turned frames are the next person's turned photos."""
    clips = []
    persons = sorted(people)
    for position, person in enumerate(persons):
        other = persons[(position + 1) % len(persons)]
        for action, side in (("turn_left", 1), ("turn_right", -1)):
            mine = turn_clip(people[person], yaws[person], side, min_turn)
            theirs = turn_clip(people[other], yaws[other], side, min_turn)
            if mine is None or theirs is None:
                continue
            middle = len(theirs) // 2
            frames = mine[:3] + theirs[3 : middle + 1] + theirs[middle + 1 : -2] + mine[-2:]
            clips.append(Clip(f"orl s{person} with s{other} {action}", action, tuple(frames)))
    return clips


def photo_attacks(sources: list[tuple[str, Pixels]]) -> dict[str, list[Clip]]:
    attacks: dict[str, list[Clip]] = {"still photo": [], "photo moved in plane": []}
    attacks["photo tilted in perspective"] = []
    for index, (name, photo) in enumerate(sources):
        height = 300 if photo.shape[0] > 150 else 240
        attacks["still photo"].append(
            Clip(name, "still", make=partial(still_photo, photo, height=height, seed=index))
        )
        attacks["photo moved in plane"].append(
            Clip(name, "moved", make=partial(moved_photo, photo, height=height, seed=index))
        )
        for degrees in (30.0, 50.0):
            tilt = partial(tilted_photo, photo, height=height, degrees=degrees * (-1) ** index)
            attacks["photo tilted in perspective"].append(
                Clip(f"{name} {degrees:g}", "tilted", make=tilt)
            )
    return attacks


def run(
    clip: Clip,
    action: Action,
    thresholds: LivenessThresholds,
    detector: YuNetDetector,
    recognizer: SFaceRecognizer,
) -> tuple[LivenessVerdict, float]:
    checker = LivenessChecker(Challenge(action), thresholds, detector, recognizer)
    started = time.perf_counter()
    verdict = checker.check((frame, index / FPS) for index, frame in enumerate(clip.frames))
    return verdict, time.perf_counter() - started


def rate(verdicts: Sequence[LivenessVerdict], count: Callable[[LivenessVerdict], bool]) -> float:
    return sum(1 for v in verdicts if count(v)) / max(len(verdicts), 1)


@click.command()
@datasets_option
@click.option("--lfw-people", type=int, default=60, show_default=True, help="LFW photos attacked.")
@click.option(
    "--min-turn",
    type=float,
    default=0.15,
    show_default=True,
    help="The reference turn (dlib's jaw measure) a photo needs to make a genuine turn clip.",
)
@click.option("--verbose", is_flag=True, help="Print every failed genuine clip and passed attack.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def liveness(
    datasets: Path | None, lfw_people: int, min_turn: float, verbose: bool, as_json: bool
) -> None:
    """APCER per attack type and BPCER of the active liveness challenge, with time per check."""
    root = datasets_dir(datasets) / "faces"
    people = orl_people(root / "orl")
    if not people:
        raise click.ClickException(f"no ORL faces under {root / 'orl'}: set --datasets")
    thresholds = LivenessThresholds()
    detector, recognizer = YuNetDetector(), SFaceRecognizer()
    yaws = {p: [reference_yaw(photo) for photo in photos] for p, photos in people.items()}
    genuine = genuine_clips(people, yaws, min_turn)
    lfw = sorted(p for p in (root / "lfw_dev" / "images").iterdir() if p.is_dir())
    chosen = random.Random(0).sample(lfw, min(lfw_people, len(lfw)))
    sources = [(f"lfw {p.name}", load_rgb(sorted(p.iterdir())[0])) for p in chosen]
    for person, photos in people.items():
        known = [(i, y) for i, y in enumerate(yaws[person]) if y is not None]
        sources.append((f"orl s{person}", photos[min(known, key=lambda item: abs(item[1]))[0]]))
    rng = random.Random(1)
    times: list[float] = []
    rows: list[Row] = []
    failures: list[str] = []

    def measure(kind: str, clips: list[Clip], actions: Callable[[Clip], list[Action]]) -> None:
        verdicts = []
        for clip in clips:
            for action in actions(clip):
                verdict, seconds = run(clip, action, thresholds, detector, recognizer)
                times.append(seconds)
                verdicts.append(verdict)
                wrong = verdict.passed if kind != "genuine" else not verdict.passed
                if wrong:
                    failures.append(f"{kind}: {clip.name} asked {action}: {verdict.code}")
        codes: dict[str, int] = {}
        for verdict in verdicts:
            codes[verdict.code] = codes.get(verdict.code, 0) + 1
        error = rate(
            verdicts, (lambda v: not v.passed) if kind == "genuine" else (lambda v: v.passed)
        )
        rows.append(Row(kind, len(verdicts), error, codes))

    turns = [c for c in genuine if c.shows != "blink"]
    blinks = [c for c in genuine if c.shows == "blink"]
    measure("genuine", turns, lambda c: [c.shows])  # type: ignore[list-item]
    measure("genuine blink", blinks, lambda c: ["blink"])
    for kind, clips in photo_attacks(sources).items():
        measure(kind, clips, lambda c: [rng.choice(("turn_left", "turn_right"))])
    measure(
        "replayed clip of another turn",
        turns,
        lambda c: ["turn_right" if c.shows == "turn_left" else "turn_left"],
    )
    measure("face swapped mid-turn", swapped_clips(people, yaws, min_turn), lambda c: [c.shows])  # type: ignore[list-item]
    report = {
        "genuine_turn_clips": len(turns),
        "genuine_blink_clips": len(blinks),
        "orl_people": len(people),
        "attack_photos": len(sources),
        "rows": [
            {"kind": r.kind, r.label: round(r.error, 4), "presentations": r.presentations}
            | {"verdicts": r.codes}
            for r in rows
        ],
        "seconds_per_check": {
            "mean": round(float(np.mean(times)), 3),
            "p95": round(float(np.percentile(times, 95)), 3),
        },
        "thresholds": thresholds.to_json(),
    }
    if as_json:
        echo_json({**report, "errors": failures})
        return
    click.echo(
        f"{len(turns)} genuine turn clips from {len(people)} ORL people (reference turn >= "
        f"{min_turn}), {len(blinks)} blink clips; attacks from {len(sources)} photos"
    )
    for row in rows:
        click.echo(
            f"{row.kind:<32} {row.label} {row.error:6.1%} of {row.presentations:>4}  {row.codes}"
        )
    spent = report["seconds_per_check"]
    assert isinstance(spent, dict)
    click.echo(f"time per check: mean {spent['mean']} s, p95 {spent['p95']} s (10 fps clips)")
    if verbose:
        for line in failures:
            click.echo(f"  {line}")
