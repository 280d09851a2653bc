"""``station bench face``: face search speed and accuracy at several gallery sizes."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import click

from station.commands.output import echo_json, fail


def _sizes(value: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r}: give sizes as 10000,100000,4100000") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter("give one or more gallery sizes of at least 1")
    return sizes


@click.group()
def bench() -> None:
    """Measure the matchers' speed and accuracy."""


@bench.command()
@click.option(
    "--sizes", default="10000,100000", show_default=True, help="Gallery sizes, comma-separated."
)
@click.option(
    "--queries", default=1000, show_default=True, help="Queries: half LFW, half synthetic."
)
@click.option("--top-k", "k", default=5, show_default=True, help="Candidates per query.")
@click.option("--batch", default=64, show_default=True, help="Queries per batch search.")
@click.option("--people", type=int, help="Use the first N LFW people only (default: all).")
@click.option(
    "--lfw",
    type=click.Path(file_okay=False, path_type=Path),
    help="LFW-layout folder of real faces. Default: <datasets>/faces/lfw_dev/images.",
)
@click.option("--exact-below", type=int, help="Policy: exact search below this gallery size.")
@click.option(
    "--factory", help="Policy: one approximate index for every size, a FAISS factory string."
)
@click.option("--search-params", help="Policy: FAISS search parameters, e.g. nprobe=512.")
@click.option("--rerank", type=int, help="Policy: candidates re-ranked exactly per query.")
@click.option("--threads", type=int, help="Policy: FAISS threads for batches and builds.")
@click.option(
    "--baseline-seconds",
    default=20.0,
    show_default=True,
    help="Time budget per size for the single-query timings of each linear baseline.",
)
@click.option("--seed", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per size.")
def face(
    sizes: str,
    queries: int,
    k: int,
    batch: int,
    people: int | None,
    lfw: Path | None,
    exact_below: int | None,
    factory: str | None,
    search_params: str | None,
    rerank: int | None,
    threads: int | None,
    baseline_seconds: float,
    seed: int,
    as_json: bool,
) -> None:
    """Our face search beside face_recognition's face_distance and numpy brute force.

    Galleries are LFW dev faces plus synthetic distractors drawn from a Gaussian fitted to LFW;
    LFW templates are encoded once and cached in ~/.cache/biometric-station/face_templates.
    """
    # OpenMP threads that spin while waiting starve each other on a shared machine; yield instead
    # (read when FAISS loads, so before the first import of it).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from matcher.errors import MatcherError
    from matcher.face.bench import format_table, run_face_bench
    from matcher.face.index_policy import ApproximateIndex, FaceIndexPolicy
    from station.config import load_settings
    from station.logsetup import configure_logging

    configure_logging("WARNING", None)
    try:
        policy = FaceIndexPolicy()
        if factory is not None or search_params is not None:
            first = policy.approximate[-1]
            chosen = ApproximateIndex(
                factory if factory is not None else first.factory,
                search_params if search_params is not None else first.search_params,
                first.rerank,
            )
            policy = dataclasses.replace(policy, approximate=(chosen,))
        if rerank is not None:
            types = tuple(dataclasses.replace(a, rerank=rerank) for a in policy.approximate)
            policy = dataclasses.replace(policy, approximate=types)
        changes: dict[str, Any] = {"exact_below": exact_below, "threads": threads}
        policy = dataclasses.replace(
            policy, **{name: value for name, value in changes.items() if value is not None}
        )
        folder = lfw or load_settings().datasets_dir / "faces" / "lfw_dev" / "images"
        results = run_face_bench(
            _sizes(sizes),
            folder,
            queries=queries,
            k=k,
            batch=batch,
            people=people,
            policy=policy,
            baseline_seconds=baseline_seconds,
            seed=seed,
            progress=lambda message: click.echo(message, err=True),
        )
    except (ValueError, OSError, MatcherError) as exc:
        fail(exc, as_json)
    if as_json:
        echo_json([r.to_json() for r in results])
    else:
        click.echo(format_table(results))
