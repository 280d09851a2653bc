"""What every command that opens a station shares: data options, errors, signing in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from drivers.errors import DriverError
from matcher.errors import MatcherError
from station.commands.output import fail
from station.config import ConfigError, Settings, load_secrets, load_settings
from station.core import Station
from station.errors import StationError
from station.logsetup import configure_logging
from station.security.roles import Actor
from station.workflows import authenticate

F = TypeVar("F", bound=Callable[..., Any])
EXPECTED_ERRORS = (StationError, MatcherError, DriverError, ConfigError, ValueError)


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
        help="Data directory holding all state. Default: $STATION_DATA, else data/ in the "
        "checkout (where scripts/start keeps it), else ~/.local/share/biometric-station.",
    )(command)
    return command


def operator_option(command: F) -> F:
    """``--operator LOGIN`` (or $STATION_OPERATOR); the password comes from $STATION_PASSWORD
    or is asked for without echo, never from the command line."""
    return click.option(
        "--operator",
        "operator",
        default=lambda: load_secrets().operator,
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


def require_station(settings: Settings) -> None:
    """Refuse to go on where there is no station: a command never makes an empty one because
    it looked in another folder."""
    if not settings.database_path.is_file():
        raise StationError(
            f"no station in {settings.data_dir}: start one there with scripts/start (or "
            "`station serve`), or point --data (or $STATION_DATA) at the station's folder"
        )


def open_station(
    data_dir: Path | None, config_file: Path | None, create: bool = False, **overrides: Any
) -> Station:
    """The station for a one-shot command, not yet open: use it as ``with open_station(...)``.
    Only with ``create`` may it be a new, empty station."""
    settings = settings_from(data_dir, config_file, **overrides)
    if not create:
        with reported_errors():
            require_station(settings)
    configure_logging(settings.log_level, settings.log_dir, stderr_level="WARNING")
    return Station(settings)


def secret(value: str | None, prompt: str, confirm: bool = False) -> str:
    """A password or passphrase given in the environment (see :class:`Secrets`), else asked
    for without echo."""
    if value:
        return value
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True))


def password_for(login: str) -> str:
    return secret(load_secrets().password, f"password for {login}")


def signed_in(station: Station, login: str) -> Actor:
    """Sign a one-shot command in (audited like an API sign-in)."""
    return authenticate(station, login, password_for(login))
