"""What the benchmark commands share: the datasets folder, gallery sizes, JSON output."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def datasets_option(command: F) -> F:
    """``--datasets DIR``, the shared real data (default: the station's ``datasets_dir``)."""
    option = click.option(
        "--datasets",
        type=click.Path(file_okay=False, path_type=Path),
        help="The shared datasets folder. Default: the station's datasets_dir setting "
        "(STATION_DATASETS, else ../shared/datasets beside the checkout).",
    )
    return option(command)


def datasets_dir(given: Path | None) -> Path:
    """The folder ``--datasets`` named, else the project's one setting for it."""
    if given is not None:
        return given
    from station.config import load_settings

    return load_settings().datasets_dir


def parse_sizes(
    context: click.Context | None, parameter: click.Parameter | None, value: str
) -> list[int]:
    """``"10000,100000"`` (underscores allowed) -> [10000, 100000]; a click callback."""
    try:
        sizes = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r}: give sizes as 10000,100000,4100000") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter("give one or more gallery sizes of at least 1")
    return sizes


def echo_json(value: Any) -> None:
    """Print one JSON document (indented)."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))
