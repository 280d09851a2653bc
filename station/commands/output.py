"""How every `station` command prints results and errors."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import click


def echo_json(value: Any) -> None:
    """Print one JSON document (indented, non-ASCII kept readable)."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def fail(error: Exception | str, as_json: bool = False) -> NoReturn:
    """Report an error and exit with status 1: one line on stderr, or a JSON error object."""
    if as_json and isinstance(error, Exception):
        code = getattr(error, "code", "invalid_argument")
        echo_json({"error": {"code": code, "message": str(error)}})
    else:
        click.echo(f"error: {error}", err=True)
    sys.exit(1)
