"""Benchmark: fingerprint capture time (GenImg + UpImage) at 57600 and 115200 baud.

Runs the real serial backend against the simulated module over a pty at real line speed::

    python -m benchmarks scanner [--json] [--model r307] [--repeat 3] [--dir FOLDER]

The module's processing time for GenImg is modelled (see ``drivers.fingerprint.sim``); the rest is
the wire: a 256x288 image is 36,864 bytes plus 11 bytes of framing per 128-byte packet.
Not part of the test suite: one R307 capture at 57600 baud takes about 7 s.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from urllib.parse import quote

import click

from benchmarks.common import datasets_dir, datasets_option, echo_json
from drivers.errors import DriverError
from drivers.fingerprint.models import model_profile
from drivers.fingerprint.serial_backend import image_wire_bytes, wire_seconds
from drivers.fingerprint.sim import SimulatedScanner

BAUDRATES = (57600, 115200)


def measure(folder: Path, model: str, baudrate: int, repeat: int) -> dict[str, object]:
    url = f"sim://?dir={quote(str(folder))}&model={model}&baudrate={baudrate}&check=false"
    scanner = SimulatedScanner(url)
    seconds: list[float] = []
    with scanner:
        for _ in range(repeat):
            started = time.monotonic()
            scanner.capture(timeout=10)
            seconds.append(time.monotonic() - started)
            scanner.module.lift()  # skip the "finger lifted" poll between two captures
    profile = model_profile(model)
    return {
        "model": profile.name,
        "image": f"{profile.width}x{profile.height}",
        "baudrate": baudrate,
        "captures": repeat,
        "capture_seconds": round(statistics.median(seconds), 3),
        "wire_seconds": round(wire_seconds(image_wire_bytes(profile, 128), baudrate), 3),
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--model", default="r307", show_default=True, help="Module model.")
@click.option("--repeat", default=1, show_default=True, help="Captures per baud rate.")
@datasets_option
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of fingerprint images. Default: <datasets>/fingerprints/fvc2002_b/DB1_B.",
)
def scanner(
    as_json: bool, model: str, repeat: int, datasets: Path | None, folder: Path | None
) -> None:
    """Fingerprint capture time (GenImg + UpImage) at 57600 and 115200 baud, on the simulated
    module over a pty."""
    folder = folder or datasets_dir(datasets) / "fingerprints" / "fvc2002_b" / "DB1_B"
    try:
        results = [measure(folder, model, baud, max(1, repeat)) for baud in BAUDRATES]
    except (DriverError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        echo_json({"results": results})
        return
    for row in results:
        click.echo(
            f"{row['model']} {row['image']} at {row['baudrate']:>6} baud: capture "
            f"{row['capture_seconds']:.2f} s (image on the wire {row['wire_seconds']:.2f} s, "
            f"median of {row['captures']})"
        )
