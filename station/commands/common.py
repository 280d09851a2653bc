"""What every command that opens a station shares: data options, errors, signing in."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from drivers.errors import DriverError
from matcher.errors import MatcherError
from station.commands.output import fail
from station.config import ConfigError, Settings, load_settings
from station.errors import StationError
from station.logsetup import configure_logging
from station.security.roles import Actor
from station.service import Station

F = TypeVar("F", bound=Callable[..., Any])
EXPECTED_ERRORS = (StationError, MatcherError, DriverError, ConfigError, ValueError)
PASSWORD_ENV = "STATION_PASSWORD"


def data_options(command: F) -> F:
    """``--data`` and ``--config``, shared by every command that opens a station."""
    command = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Settings file (TOML). Default: $STATION_CONFIG, else station.toml in the data directory.",
    )(command)
    command = click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Data directory holding all state. Default: $STATION_DATA or ~/.local/share/biometric-station.",
    )(command)
    return command


def operator_option(command: F) -> F:
    """``--operator LOGIN`` (or $STATION_OPERATOR); the password comes from $STATION_PASSWORD
    or is asked for without echo, never from the command line."""
    return click.option(
        "--operator",
        "operator",
        envvar="STATION_OPERATOR",
        required=True,
        help="Your operator login (or $STATION_OPERATOR); the password is asked for, or read "
        "from $STATION_PASSWORD.",
    )(command)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the errors a user can act on into one line on stderr and exit status 1."""
    try:
        yield
    except EXPECTED_ERRORS as exc:
        fail(str(exc))


def settings_from(data_dir: Path | None, config_file: Path | None, **overrides: Any) -> Settings:
    with reported_errors():
        return load_settings(config_file=config_file, overrides={"data_dir": data_dir, **overrides})


def open_station(data_dir: Path | None, config_file: Path | None, **overrides: Any) -> Station:
    """The station for a one-shot command, not yet open: use it as ``with open_station(...)``."""
    settings = settings_from(data_dir, config_file, **overrides)
    configure_logging(settings.log_level, settings.log_dir, stderr_level="WARNING")
    return Station(settings)


def secret(env: str, prompt: str, confirm: bool = False) -> str:
    """A password or passphrase from ``env``, else asked for without echo."""
    value = os.environ.get(env)
    if value:
        return value
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True))


def signed_in(station: Station, login: str) -> Actor:
    """Sign a one-shot command in (audited like an API sign-in)."""
    return station.authenticate(login, secret(PASSWORD_ENV, f"password for {login}"))
