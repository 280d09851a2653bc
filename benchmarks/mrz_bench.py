"""Benchmark of the MRZ reader: real specimens against ground truth, and rendered documents.

    python -m benchmarks.mrz_bench [--datasets ../shared/datasets] [--rendered 40] [--citizens 22] [--json]

(a) The specimen scans and photos in ``documents/mrz_specimens``, against
``benchmarks/mrz_specimens_truth.json`` (read by eye): each is an exact read, a refusal, or a
wrong read (accepted but not what is printed, or accepted where nothing should be; there must be
none). (b) ``--rendered N`` documents with random zones (TD1 and TD3 in turn, letter/digit
look-alikes in names and document numbers) photographed with random rotation, perspective, blur, uneven
light, noise and JPEG: the exact-read rate. (c) ``--citizens N``: the ID cards of the first N
simulated citizens as the simulated desk camera shows them held up (``station.simulation``: their
MRZ and chip photo, ``HANDHELD``). Times are per document, one onnxruntime thread unless
``--threads``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from drivers.idcard.document_image import Distortion, render_document, td1_mrz, td3_mrz
from drivers.idcard.mrz_reader import MRZEngine, MRZReading, read_mrz, read_mrz_file

TRUTH = Path(__file__).with_name("mrz_specimens_truth.json")
SPECIMENS = Path("documents/mrz_specimens")
FACES = Path("faces/lfw_dev/images")
# Document numbers as states print them: letters (look-alikes included) and digits.
NUMBER_PATTERNS = ("LLDDDDDDD", "LDDDDDDDD", "DDDDDDDDD", "LDDDDDDLD", "DDLLDDDDD", "LLDDDDDD")
NATIONS = ("UTO", "D<<", "FRA", "KGZ", "CAN", "GBR", "SIO", "ZZZ")
NAMES = ("OSBORNE", "ZOLA", "BIGGS", "ISSOUFOU", "GOLDSCHMIDT", "DIOP", "SZABO", "OBI", "QUINN")


def default_datasets() -> Path:
    """The project's one setting, ``datasets_dir`` (``STATION_DATASETS``)."""
    try:
        from station.config import load_settings

        return Path(load_settings().datasets_dir)
    except Exception:  # the station's settings may not load here; the usual place then
        return Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def outcome(reading: MRZReading, truth: str | None, expect: str) -> str:
    if not reading.valid:
        return "refused"
    if truth is None or expect != "exact" or reading.text != truth:
        return "wrong"
    return "exact"


def bench_specimens(datasets: Path, engine: MRZEngine) -> list[dict[str, Any]]:
    truth = json.loads(TRUTH.read_text(encoding="utf-8"))["files"]
    rows = []
    for name, entry in truth.items():
        reading = read_mrz_file(datasets / SPECIMENS / name, engine)
        rows.append(
            {
                "set": "specimens",
                "document": name,
                "expect": entry["expect"],
                "outcome": outcome(reading, entry["mrz"], entry["expect"]),
                "seconds": round(reading.seconds, 3),
                "read": reading.text,
                "why": reading.message,
            }
        )
    return rows


def random_mrz(rng: random.Random, index: int) -> str:
    """A random valid zone: TD1 and TD3 in turn, names and numbers full of look-alikes."""

    def number() -> str:
        pattern = rng.choice(NUMBER_PATTERNS)
        letters, digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
        return "".join(rng.choice(letters if p == "L" else digits) for p in pattern)

    def date(low: int, high: int) -> str:
        return f"{rng.randint(low, high) % 100:02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"

    surname = rng.choice(NAMES) + ("" if rng.random() < 0.6 else " " + rng.choice(NAMES))
    given = " ".join(rng.choice(NAMES) for _ in range(rng.randint(1, 2)))
    common = {
        "sex": rng.choice("MFX<"),
        "issuing_state": rng.choice(NATIONS),
        "nationality": rng.choice(NATIONS),
    }
    birth, expiry = date(1940, 2010), date(2025, 2040)
    extra = "".join(rng.choice("0123456789") for _ in range(rng.choice((0, 0, 6, 9, 11))))
    if index % 2 == 0:
        return td1_mrz(number(), birth, expiry, surname, given, optional_data=extra, **common)
    return td3_mrz(number(), birth, expiry, surname, given, personal_number=extra, **common)


def random_distortion(rng: random.Random, index: int) -> Distortion:
    return Distortion(
        rotation=rng.uniform(-6, 6) + (180 if index % 5 == 4 else 0),
        perspective=rng.uniform(0, 0.04),
        blur=rng.uniform(0, 1.2),
        uneven_light=rng.uniform(0, 0.5),
        noise=rng.uniform(0, 4),
        jpeg_quality=rng.randint(50, 90),
        width=rng.choice((1024, 1280, 1600)),
        seed=index,
    )


def bench_rendered(
    datasets: Path, engine: MRZEngine, count: int, seed: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    faces = sorted((datasets / FACES).glob("*/*.jpg"))
    rows = []
    for index in range(count):
        text = random_mrz(rng, index)
        distortion = random_distortion(rng, index)
        portrait = np.asarray(Image.open(rng.choice(faces)).convert("RGB")) if faces else None
        reading = read_mrz(render_document(text, portrait, distortion), engine)
        rows.append(
            {
                "set": "rendered",
                "document": f"rendered-{index:03d}-{'TD1' if index % 2 == 0 else 'TD3'}",
                "expect": "exact",
                "outcome": outcome(reading, text, "exact"),
                "seconds": round(reading.seconds, 3),
                "read": reading.text,
                "why": reading.message,
                "distortion": distortion.__dict__,
            }
        )
    return rows


def bench_citizens(datasets: Path, engine: MRZEngine, count: int) -> list[dict[str, Any]]:
    from station.simulation import Population, SimulatedDesk

    desk = SimulatedDesk(Population.from_datasets(datasets, size=count))
    rows = []
    for citizen in desk.citizens:
        reading = read_mrz(desk.card_photo(citizen), engine)
        rows.append(
            {
                "set": "citizens",
                "document": f"citizen-{citizen.id}-TD1",
                "expect": "exact",
                "outcome": outcome(reading, citizen.mrz, "exact"),
                "seconds": round(reading.seconds, 3),
                "read": reading.text,
                "why": reading.message,
            }
        )
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {k: sum(r["outcome"] == k for r in rows) for k in ("exact", "refused", "wrong")}
    readable = [r for r in rows if r["expect"] == "exact"]
    seconds = [r["seconds"] for r in rows]
    return {
        "documents": len(rows),
        **counts,
        "exact_of_readable": f"{sum(r['outcome'] == 'exact' for r in readable)}/{len(readable)}",
        "refused_as_expected": sum(
            r["expect"] == "refused" and r["outcome"] == "refused" for r in rows
        ),
        "seconds_mean": round(float(np.mean(seconds)), 2) if seconds else 0.0,
        "seconds_max": round(float(np.max(seconds)), 2) if seconds else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=None, help="the shared datasets folder")
    parser.add_argument("--rendered", type=int, default=40, help="rendered documents (0: none)")
    parser.add_argument(
        "--citizens", type=int, default=0, help="simulated citizens' cards (0: none; 22: all)"
    )
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    parser.add_argument("--no-specimens", action="store_true")
    parser.add_argument("--json", action="store_true", help="print rows and summaries as JSON")
    args = parser.parse_args(argv)
    datasets = args.datasets or default_datasets()
    start = time.perf_counter()
    engine = MRZEngine(threads=args.threads)
    load_seconds = time.perf_counter() - start
    rows: list[dict[str, Any]] = []
    if not args.no_specimens:
        rows += bench_specimens(datasets, engine)
    if args.rendered:
        rows += bench_rendered(datasets, engine, args.rendered, args.seed)
    if args.citizens:
        rows += bench_citizens(datasets, engine, args.citizens)
    sets = [s for s in ("specimens", "rendered", "citizens") if any(r["set"] == s for r in rows)]
    summaries = {s: summary([r for r in rows if r["set"] == s]) for s in sets}
    if args.json:
        json.dump(
            {"load_seconds": round(load_seconds, 2), "summaries": summaries, "rows": rows},
            sys.stdout,
            indent=1,
        )
        print()
        return 0
    print(f"{'document':44s} {'expect':8s} {'outcome':8s} {'s':>6s}  why")
    for r in rows:
        why = "" if r["outcome"] == "exact" else r["why"][:70]
        print(f"{r['document']:44s} {r['expect']:8s} {r['outcome']:8s} {r['seconds']:6.2f}  {why}")
    print(f"\nengine load {load_seconds:.2f} s, {args.threads} onnxruntime thread(s)")
    for name, s in summaries.items():
        print(
            f"{name}: {s['documents']} documents, exact {s['exact']} (of readable {s['exact_of_readable']}), "
            f"refused {s['refused']} ({s['refused_as_expected']} as expected), wrong {s['wrong']}; "
            f"{s['seconds_mean']:.2f} s a document (max {s['seconds_max']:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
