"""``station eval face DIR``: identification and 1:1 accuracy of each face encoder, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from matcher.face.engines import ENCODER_NAMES
from station.commands.common import reported_errors, settings_from
from station.commands.output import echo_json
from station.logsetup import configure_logging


@click.command(name="face")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--encoder",
    "encoders",
    type=click.Choice(ENCODER_NAMES),
    multiple=True,
    help="Face encoder to measure; repeat to compare (default: sface and dlib, side by side).",
)
@click.option(
    "--threshold",
    type=float,
    help="1:N decision threshold (default: the station's setting for its encoder, else the "
    "encoder's default).",
)
@click.option(
    "--holdout",
    type=float,
    default=0.2,
    show_default=True,
    help="Fraction of people never enrolled (for FPIR).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the enrolled/held-out split."
)
@click.option("--limit", type=int, help="Use at most this many people.")
@click.option("--workers", type=int, default=0, help="Worker processes (default: one per core).")
@click.option(
    "--portrait", is_flag=True, help="Match token portraits (aligned crops), not the raw photos."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object (with several encoders: one per encoder, by name).",
)
def eval_face(
    folder: Path,
    encoders: tuple[str, ...],
    threshold: float | None,
    holdout: float,
    seed: int,
    limit: int | None,
    workers: int,
    portrait: bool,
    as_json: bool,
) -> None:
    """Open-set identification and 1:1 error rates on FOLDER/<person>/<photos> (the LFW layout),
    for each encoder on the same photos."""
    from calibration.defaults import FACE_THRESHOLDS
    from calibration.face_eval import evaluate_face_identification
    from calibration.sample_cache import default_cache_root

    settings = settings_from(None, None)
    configure_logging("WARNING", None)
    results = []
    for name in encoders or ("sface", "dlib"):
        if threshold is not None:
            limit_for = threshold
        elif name == settings.face_encoder:
            limit_for = settings.face_identify_threshold
        else:
            limit_for = FACE_THRESHOLDS[name].identify
        with reported_errors():
            results.append(
                evaluate_face_identification(
                    folder,
                    threshold=limit_for,
                    holdout=holdout,
                    seed=seed,
                    limit=limit,
                    workers=workers,
                    portrait=portrait,
                    cache_root=default_cache_root(),
                    encoder=name,
                )
            )
    if as_json:
        # One encoder: its figures; several: the figures of each, by encoder name.
        echo_json(
            results[0].to_json() if len(results) == 1 else {r.encoder: r.to_json() for r in results}
        )
        return
    click.echo(face_eval_table(results))


def face_eval_table(results: list[Any]) -> str:
    """The encoders' figures side by side, one row per measure."""
    rows: list[tuple[str, list[str]]] = [
        ("rank-1 identification rate", [f"{r.rank1:.4f}" for r in results]),
        ("FNIR at the 1:N threshold", [f"{r.fnir:.4f} at {r.threshold:g}" for r in results]),
        ("FPIR at the 1:N threshold", [f"{r.fpir:.4f}" for r in results]),
    ]
    for target in ("0.001", "0.0001"):
        rows.append(
            (
                f"FNMR at FMR {float(target):.2%}",
                [
                    f"{r.verification[f'fnmr_at_fmr_{target}']:.4f} at "
                    f"{r.verification[f'threshold_at_fmr_{target}']:.3f}"
                    for r in results
                ],
            )
        )
    rows += [
        (
            "failure to acquire (no face)",
            [f"{r.failure_to_acquire_rate:.4f} ({r.failures_to_acquire})" for r in results],
        ),
        ("time per face", [f"{r.ms_per_face:.0f} ms" for r in results]),
    ]
    width = max(len(label) for label, _ in rows) + 2
    columns = [
        max(len(r.encoder), *(len(v[i]) for _, v in rows)) + 2 for i, r in enumerate(results)
    ]
    lines = [
        " " * width + "".join(r.encoder.ljust(c) for r, c in zip(results, columns, strict=True))
    ]
    for label, values in rows:
        lines.append(
            label.ljust(width) + "".join(v.ljust(c) for v, c in zip(values, columns, strict=True))
        )
    first = results[0]
    lines.append(
        f"{first.people} people ({first.held_out_people} never enrolled), {first.images} photos, "
        f"{first.mated_probes} mated and {first.nonmated_probes} non-mated probes, "
        f"{first.verification['genuine_pairs']:,.0f} genuine and "
        f"{first.verification['impostor_pairs']:,.0f} impostor pairs"
    )
    return "\n".join(line.rstrip() for line in lines)
