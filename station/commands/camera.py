"""``station camera``: what a technician runs to check a camera and the face capture quality.

``station camera capture --url opencv://0 --out face.jpg`` opens the camera, grabs frames until
one passes the quality checks (or the timeout), closes the camera, saves the token portrait and
prints every measure with the reasons a frame was refused. Exit status 0 when a frame was
accepted, 3 when none was, 1 on an error.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click
from PIL import Image

from drivers.camera import camera_for_url
from drivers.errors import DriverError
from matcher.errors import MatcherError
from matcher.face.liveness import ACTIONS
from matcher.face.quality import FaceQualityChecker, QualityThresholds
from station.capture import capture_face
from station.commands.output import echo_json, fail
from station.logsetup import configure_logging

URL_HELP = (
    "Camera URL: opencv://0?width=1280&height=720 (device 0), opencv:///path/clip.avi, "
    "opencv+rtsp://host/stream, or sim://?dir=PATH / sim://?video=FILE for the simulator."
)
EXIT_REFUSED = 3


def thresholds_from(settings: tuple[str, ...]) -> QualityThresholds:
    """Default thresholds with ``NAME=VALUE`` overrides; unknown names list the valid ones."""
    defaults = QualityThresholds()
    valid = [f.name for f in dataclasses.fields(QualityThresholds)]
    changes: dict[str, float] = {}
    for setting in settings:
        name, sep, raw = setting.partition("=")
        name = name.strip()
        if not sep or name not in valid:
            raise ValueError(
                f"--threshold {setting!r}: write NAME=VALUE with NAME one of {', '.join(valid)}"
            )
        try:
            changes[name] = float(raw)
        except ValueError:
            raise ValueError(f"--threshold {setting!r}: {raw!r} is not a number") from None
    return dataclasses.replace(defaults, **changes)


@click.group()
def camera() -> None:
    """Check a camera and the face capture quality."""
    configure_logging("WARNING", None, stderr_level="ERROR")  # the commands report errors


@camera.command()
@click.option("--url", required=True, help=URL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def info(url: str, as_json: bool) -> None:
    """Open the camera, take one frame, close it, and describe what it delivered."""
    try:
        device = camera_for_url(url)
        with device:
            frame = device.capture()
            details = device.info()
    except (DriverError, ValueError) as exc:
        fail(exc, as_json)
    report = {
        "backend": details.backend,
        "url": details.url,
        "description": details.description,
        "width": frame.width,
        "height": frame.height,
    }
    if as_json:
        echo_json(report)
    else:
        click.echo(f"{details.description}\nframe {frame.width}x{frame.height}")


@camera.command()
@click.option("--url", required=True, help=URL_HELP)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the token portrait (JPEG), when a face was found.",
)
@click.option(
    "--frame",
    "frame_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the whole chosen frame here (JPEG), for diagnosis.",
)
@click.option(
    "--timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds to try for an acceptable frame.",
)
@click.option("--max-frames", type=int, help="Stop after this many frames.")
@click.option(
    "--threshold",
    "threshold_settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Change one quality threshold, e.g. min_eye_distance=60 (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def capture(
    url: str,
    out: Path,
    frame_out: Path | None,
    timeout: float,
    max_frames: int | None,
    threshold_settings: tuple[str, ...],
    as_json: bool,
) -> None:
    """Capture one face with the quality checks, save its token portrait, report every measure."""
    try:
        checker = FaceQualityChecker(thresholds_from(threshold_settings))
        device = camera_for_url(url)
        if not as_json:
            click.echo("look at the camera...", err=True)
        result = capture_face(device, checker, timeout=timeout, max_frames=max_frames)
    except (DriverError, MatcherError, ValueError) as exc:
        fail(exc, as_json)
    written = None
    if result.portrait is not None:
        Image.fromarray(result.portrait).save(out, format="JPEG", quality=95)
        written = str(out)
    if frame_out is not None:
        Image.fromarray(result.frame.pixels).save(frame_out, format="JPEG", quality=95)
    report = {
        **result.to_json(),
        "thresholds": checker.thresholds.to_json(),
        "out": written,
        "frame_out": str(frame_out) if frame_out else None,
    }
    if as_json:
        echo_json(report)
    else:
        verdict = "ACCEPTED" if result.accepted else "REFUSED"
        click.echo(
            f"{verdict} after {result.frames_seen} frames in {result.seconds:.2f} s "
            f"({result.frame.width}x{result.frame.height} from {result.frame.source})"
        )
        for reason in result.report.reasons:
            click.echo(f"  - {reason.message}")
        for name, value in result.report.measures.to_json().items():
            click.echo(f"  {name:<18} {'-' if value is None else value}")
        click.echo(f"token portrait saved to {written}" if written else "no face: nothing saved")
    sys.exit(0 if result.accepted else EXIT_REFUSED)


@camera.command()
@click.option("--url", required=True, help=URL_HELP)
@click.option(
    "--action",
    type=click.Choice(list(ACTIONS)),
    help="The action to ask for (default: a random turn, as the station asks).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the token portrait (JPEG) of a face that passed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def liveness(url: str, action: str | None, out: Path | None, as_json: bool) -> None:
    """Run the liveness challenge: ask the person for the action, watch the camera, say whether
    a live face did it (exit 0), or why not (exit 3)."""
    from matcher.face.liveness import Challenge, LivenessChecker
    from station.liveness import capture_live_face

    def tell(challenge: Challenge) -> None:
        if not as_json:
            click.echo(f'say to the person: "{challenge.instruction}"', err=True)

    try:
        challenge = Challenge(action) if action else Challenge.random()  # type: ignore[arg-type]
        checker = LivenessChecker(challenge)
        result = capture_live_face(
            camera_for_url(url), checker, FaceQualityChecker(), on_instruction=tell
        )
    except (DriverError, MatcherError, ValueError) as exc:
        fail(exc, as_json)
    written = None
    if out is not None and result.portrait is not None:
        Image.fromarray(result.portrait).save(out, format="JPEG", quality=95)
        written = str(out)
    verdict = result.verdict
    if as_json:
        echo_json({**result.to_json(), "out": written})
    else:
        click.echo(
            f"{'PASSED' if verdict.passed else 'FAILED'} ({verdict.challenge.action}): "
            f"{verdict.reason}"
        )
        distance = verdict.identity_distance
        click.echo(
            f"  {len(verdict.observations)} frames in {verdict.seconds:.2f} s, peak yaw "
            f"{verdict.peak_yaw:+.3f}, identity distance "
            f"{'-' if distance is None else f'{distance:.3f}'}"
        )
        if verdict.passed and result.portrait is None and result.report is not None:
            for reason in result.report.reasons:
                click.echo(f"  photo: {reason.message}")
        if written:
            click.echo(f"token portrait saved to {written}")
    sys.exit(0 if verdict.passed else EXIT_REFUSED)


@click.command(name="quality")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--limit", type=int, help="Assess at most this many photos, evenly spread.")
@click.option("--workers", type=int, default=0, help="Worker processes (default: one per core).")
@click.option(
    "--threshold",
    "threshold_settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Change one quality threshold, e.g. min_eye_distance=60 (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def eval_quality(
    folder: Path,
    limit: int | None,
    workers: int,
    threshold_settings: tuple[str, ...],
    as_json: bool,
) -> None:
    """Face capture quality over every photo under FOLDER: failure-to-acquire rate, reasons,
    and the spread of each measure (what the thresholds are calibrated on)."""
    from calibration.capture_quality import PERCENTILES, survey_quality
    from calibration.defaults import CalibrationError

    configure_logging("WARNING", None)
    try:
        survey = survey_quality(folder, thresholds_from(threshold_settings), limit, workers)
    except (CalibrationError, ValueError) as exc:
        fail(exc, as_json)
    if as_json:
        echo_json(survey.to_json())
        return
    click.echo(
        f"{survey.images} photos, {survey.accepted} accepted: failure to acquire "
        f"{survey.failure_to_acquire_rate:.4f} (no face {survey.no_face_rate:.4f}), "
        f"{survey.seconds:.1f} s"
    )
    for code, count in survey.reasons.items():
        click.echo(f"  {code:<16} {count:>6}  {count / survey.images:.4f}")
    click.echo(f"{'measure':<18} {'n':>6} " + " ".join(f"{'p' + str(q):>8}" for q in PERCENTILES))
    for name, spread in survey.distributions.items():
        values = " ".join(f"{spread[f'p{q}']:>8.3f}" for q in PERCENTILES)
        click.echo(f"{name:<18} {int(spread['n']):>6} {values}")
