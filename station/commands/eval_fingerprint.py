"""``station eval fingerprint DIR``: verification accuracy on an FVC-layout folder, beside NBIS."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from station.logsetup import configure_logging


def _line(name: str, rates: dict[str, float]) -> str:
    return (
        f"{name:<8} EER {rates['eer']:.4f}  FMR100 {rates['fmr100']:.4f}  "
        f"FMR1000 {rates['fmr1000']:.4f}  ZeroFMR {rates['zerofmr']:.4f}  "
        f"FVC-EER {rates['fvc_eer']:.4f}  {rates['seconds']:.1f} s"
    )


@click.command(name="fingerprint")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dpi", type=float, help="Image resolution (default: file metadata, else 500).")
@click.option(
    "--baseline",
    type=click.Choice(["nbis"]),
    help="Also run NIST NBIS mindtct + bozorth3 (afis port; templates cached on disk).",
)
@click.option("--limit", type=int, help="Use the first N fingers only.")
@click.option("--workers", type=int, default=0, help="Worker processes (default: one per core).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def fingerprint(
    folder: Path,
    dpi: float | None,
    baseline: str | None,
    limit: int | None,
    workers: int,
    as_json: bool,
) -> None:
    """1:1 verification on FOLDER/<finger>_<impression>.png|tif: all genuine pairs, all
    cross-finger impostor pairs (rates computed on these) and the FVC 45-pair convention."""
    from calibration.defaults import CalibrationError
    from calibration.fingerprint_eval import evaluate_fingerprint
    from calibration.sample_cache import default_cache_root
    from matcher.errors import MatcherError

    configure_logging("WARNING", None)
    try:
        result = evaluate_fingerprint(
            folder,
            dpi=dpi,
            baseline=baseline,
            workers=workers,
            limit_fingers=limit,
            cache_root=default_cache_root(),
        )
    except (CalibrationError, MatcherError, ValueError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    out = result.to_json()
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(
        f"{result.folder}: {result.images} images at {result.dpi:g} dpi, "
        f"{out['genuine']} genuine pairs, {out['impostor']} impostor pairs "
        f"(FVC convention: {out['fvc_impostor']})"
    )
    click.echo(_line("ours", out))
    if "baseline" in out:
        click.echo(_line("nbis", out["baseline"]))
