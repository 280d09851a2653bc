"""Benchmark: fingerprint capture time (GenImg + UpImage) at 57600 and 115200 baud.

Runs the real serial backend against the simulated module over a pty at real line speed::

    .venv/bin/python -m drivers.fingerprint.bench [--json] [--model r307] [--repeat 3]

The module's processing time for GenImg is modelled (see ``drivers.fingerprint.sim``); the rest is
the wire: a 256x288 image is 36,864 bytes plus 11 bytes of framing per 128-byte packet.
Not part of the test suite: one R307 capture at 57600 baud takes about 7 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from urllib.parse import quote

from drivers.fingerprint.models import model_profile
from drivers.fingerprint.serial_backend import image_wire_bytes, wire_seconds
from drivers.fingerprint.sim import SimulatedScanner

BAUDRATES = (57600, 115200)


def default_fingerprints() -> Path:
    datasets = os.environ.get("STATION_DATASETS")
    root = Path(datasets) if datasets else Path(__file__).resolve().parents[3] / "shared/datasets"
    return root / "fingerprints" / "fvc2002_b" / "DB1_B"


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--model", default="r307", help="module model (default r307)")
    parser.add_argument("--repeat", type=int, default=1, help="captures per baud rate")
    parser.add_argument("--dir", type=Path, default=None, help="folder of fingerprint images")
    args = parser.parse_args(argv)
    folder = args.dir or default_fingerprints()
    results = [measure(folder, args.model, baud, max(1, args.repeat)) for baud in BAUDRATES]
    if args.json:
        print(json.dumps({"results": results}, indent=2))
        return
    for row in results:
        print(
            f"{row['model']} {row['image']} at {row['baudrate']:>6} baud: capture "
            f"{row['capture_seconds']:.2f} s (image on the wire {row['wire_seconds']:.2f} s, "
            f"median of {row['captures']})"
        )


if __name__ == "__main__":
    main()
