"""``station calibrate``: measure error rates on labelled data and write the thresholds the
station loads (``OUTDIR/calibration.json``) with plots and a Markdown summary beside it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from matcher.face.engines import DEFAULT_ENCODER, ENCODER_NAMES
from station.commands.output import echo_json, fail
from station.logsetup import configure_logging

if TYPE_CHECKING:
    from calibration.report import ReportFiles
    from calibration.runs import ModalityRun, RunSettings

F = TypeVar("F", bound=Callable[..., Any])


def _options(command: F) -> F:
    """Options shared by the face and fingerprint calibrations (applied bottom-up)."""
    options = [
        click.option(
            "--out",
            "out",
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help="Folder for calibration.json, the plots and the summary (other modalities in an existing calibration.json are kept).",
        ),
        click.option(
            "--target-fmr",
            type=float,
            default=0.001,
            show_default=True,
            help="1:1 threshold for this false match rate.",
        ),
        click.option(
            "--target-fpir",
            type=float,
            default=0.01,
            show_default=True,
            help="1:N threshold for this false positive identification rate.",
        ),
        click.option(
            "--gallery-size",
            type=int,
            help="1:N gallery size to calibrate for (default: the data's; larger: extrapolated from 1:1).",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed of the bootstrap and of any gallery subsample.",
        ),
        click.option(
            "--bootstrap",
            "replicates",
            type=int,
            default=200,
            show_default=True,
            help="Bootstrap replicates (over subjects) for the intervals.",
        ),
        click.option(
            "--workers",
            type=int,
            default=0,
            help="Worker processes for templates (default: one per core).",
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Template cache (default ~/.cache/biometric-station/calibration).",
        ),
        click.option(
            "--no-cache", is_flag=True, help="Compute every template afresh and keep none."
        ),
        click.option(
            "--json", "as_json", is_flag=True, help="Print the calibration section as JSON."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


class _Bars:
    """One click progress bar per phase of a run, on stderr."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __call__(self, label: str, total: int) -> Callable[[int], None]:
        self.close()
        if total <= 0:
            return lambda done: None
        self._bar = click.progressbar(length=total, label=label, file=sys.stderr)
        self._bar.__enter__()
        return self._bar.update  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@contextmanager
def _reported() -> Iterator[_Bars]:
    from calibration.defaults import CalibrationError
    from matcher.errors import MatcherError

    bars = _Bars()
    try:
        yield bars
    except (CalibrationError, MatcherError, ValueError, OSError) as exc:
        bars.close()
        fail(str(exc))
    finally:
        bars.close()


def _settings(**values: Any) -> RunSettings:
    from calibration.runs import RunSettings

    return RunSettings(**values)


def _cache_root(cache_dir: Path | None, no_cache: bool) -> Path | None:
    from calibration.sample_cache import default_cache_root

    return None if no_cache else (cache_dir or default_cache_root())


def _finish(run: ModalityRun, out: Path, as_json: bool) -> None:
    from calibration.report import pct, with_ci, write_report

    with _reported():
        files: ReportFiles = write_report(run, out)
    for warning in run.warnings():
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        echo_json(run.section())
        return
    v, i = run.verification, run.identification
    click.echo(
        f"{run.modality}: {run.dataset['subjects']} subjects, {run.dataset['samples']} samples, "
        f"{v.genuine:,} genuine and {v.impostor:,} impostor comparisons, {run.seconds:.0f} s\n"
        f"EER {with_ci(v.eer)}; FNMR at FMR 1% {pct(v.fnmr_at_fmr[0.01].value)}, 0.1% "
        f"{pct(v.fnmr_at_fmr[0.001].value)}, 0.01% {pct(v.fnmr_at_fmr[0.0001].value)}; "
        f"ZeroFMR {pct(v.zero_fmr.value)}\n"
        f"1:1 threshold {v.threshold:.4f} for FMR {pct(v.target_fmr)}: FMR {with_ci(v.fmr)}, "
        f"FNMR {with_ci(v.fnmr)}\n"
        f"1:N threshold {i.threshold:.4f} for FPIR {pct(i.target_fpir)} at gallery "
        f"{i.gallery_size:,} ({i.method}): FPIR {with_ci(i.fpir)}, FNIR {with_ci(i.fnir)}; "
        f"rank-1 {pct(i.cmc[0].value)}\n"
        f"FTA {with_ci(run.enrollment.fta)}, FTE {with_ci(run.enrollment.fte)}"
        + (f"; fingerprint min quality {run.quality.min_quality}" if run.quality else "")
    )
    for path in files.all():
        click.echo(f"wrote {path}")


@click.group(name="calibrate")
def calibrate() -> None:
    """Measure error rates on labelled data; write the thresholds the station loads."""


@calibrate.command(name="face")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_options
@click.option("--limit", type=int, help="Use the first N people (by name) only.")
@click.option("--photos-per-person", type=int, help="Use at most N photos of each person.")
@click.option(
    "--encoder",
    type=click.Choice(ENCODER_NAMES),
    default=DEFAULT_ENCODER,
    show_default=True,
    help="The face encoder to calibrate (the station's face_encoder setting must match).",
)
def calibrate_face_command(
    folder: Path,
    out: Path,
    limit: int | None,
    photos_per_person: int | None,
    encoder: str,
    workers: int,
    cache_dir: Path | None,
    no_cache: bool,
    as_json: bool,
    **settings: Any,
) -> None:
    """Calibrate face matching on FOLDER/<person>/<photos> (the LFW layout)."""
    from calibration.runs import calibrate_face

    configure_logging("WARNING", None)
    with _reported() as bars:
        run = calibrate_face(
            folder,
            _settings(**settings),
            limit_people=limit,
            photos_per_person=photos_per_person,
            workers=workers,
            cache_root=_cache_root(cache_dir, no_cache),
            progress=bars,
            encoder=encoder,
        )
    _finish(run, out, as_json)


@calibrate.command(name="fingerprint")
@click.argument(
    "folders",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@_options
@click.option("--dpi", type=float, help="Image resolution (default: file metadata, else 500).")
@click.option("--limit", type=int, help="Use the first N fingers of each folder only.")
@click.option(
    "--target-fte",
    type=float,
    default=0.02,
    show_default=True,
    help="Quality threshold for this failure-to-enroll rate.",
)
@click.option(
    "--attempts",
    type=int,
    default=3,
    show_default=True,
    help="Captures a person may try when enrolling.",
)
def calibrate_fingerprint_command(
    folders: tuple[Path, ...],
    out: Path,
    dpi: float | None,
    limit: int | None,
    workers: int,
    cache_dir: Path | None,
    no_cache: bool,
    as_json: bool,
    **settings: Any,
) -> None:
    """Calibrate fingerprint matching on FVC-layout FOLDERS (<finger>_<impression>.png|tif);
    impostor pairs stay within a folder."""
    from calibration.runs import calibrate_fingerprint

    configure_logging("WARNING", None)
    with _reported() as bars:
        run = calibrate_fingerprint(
            list(folders),
            _settings(**settings),
            dpi=dpi,
            limit_fingers=limit,
            workers=workers,
            cache_root=_cache_root(cache_dir, no_cache),
            progress=bars,
        )
    _finish(run, out, as_json)


@calibrate.command(name="camera")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--pattern",
    default="9x6",
    show_default=True,
    help="Inner corners of the chessboard, COLUMNSxROWS.",
)
@click.option(
    "--square",
    type=float,
    default=1.0,
    show_default=True,
    help="Side of one square (any unit; sets the unit of the board's positions only).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding calibration.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the intrinsics as JSON.")
def calibrate_camera_command(
    folder: Path, pattern: str, square: float, out: Path, as_json: bool
) -> None:
    """Camera intrinsics from chessboard photos in FOLDER."""
    from calibration.calibration_file import FILE_NAME, update_calibration
    from drivers.camera.intrinsics import calibrate_folder, parse_pattern

    with _reported():
        result = calibrate_folder(folder, parse_pattern(pattern), square)
        update_calibration(out / FILE_NAME, device="camera", section=result.to_json())
    if as_json:
        echo_json(result.to_json())
        return
    fx, fy, cx, cy = (
        result.matrix[0, 0],
        result.matrix[1, 1],
        result.matrix[0, 2],
        result.matrix[1, 2],
    )
    click.echo(
        f"{len(result.views)} views ({len(result.rejected)} without a board), "
        f"{result.image_size[0]}x{result.image_size[1]}: fx {fx:.1f} fy {fy:.1f} cx {cx:.1f} "
        f"cy {cy:.1f} px, RMS reprojection error {result.reprojection_error:.3f} px\n"
        f"wrote {out / FILE_NAME}"
    )


@calibrate.command(name="capture")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding calibration.json.",
)
@click.option(
    "--max-share",
    type=float,
    default=0.05,
    show_default=True,
    help="Largest share of photos a setting may have refused.",
)
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes.")
@click.option("--json", "as_json", is_flag=True, help="Print the check as JSON.")
def calibrate_capture_command(
    folder: Path, out: Path, max_share: float, workers: int, as_json: bool
) -> None:
    """Check the camera's face size, framing, exposure and focus on photos it took (FOLDER)."""
    from calibration.calibration_file import FILE_NAME, update_calibration
    from calibration.capture_quality import assess_photos, check_capture_settings, list_images

    configure_logging("WARNING", None)
    with _reported():
        photos = assess_photos(list_images(folder), workers=workers)
        measures = [p.measures for p in photos if p.measures is not None]
        check = check_capture_settings(measures, max_share=max_share)
        update_calibration(out / FILE_NAME, device="capture", section=check.to_json())
    if as_json:
        echo_json(check.to_json())
    else:
        for item in check.checks:
            verdict = "ok" if item.ok else f"CHANGE: {item.advice}"
            click.echo(f"{item.name:<11} {item.share:6.1%} refused  {verdict}")
        click.echo(f"wrote {out / FILE_NAME}")
    if not check.ok:
        sys.exit(3)
