"""``station operator``: accounts, managed by an admin at the station."""

from __future__ import annotations

from pathlib import Path

import click

from station.commands.common import (
    data_options,
    open_station,
    operator_option,
    reported_errors,
    secret,
    signed_in,
)
from station.commands.output import echo_json
from station.config import load_secrets
from station.security.roles import LOGIN_ROLES, SYSTEM
from station.workflows import (
    create_operator,
    reset_password,
    set_operator_disabled,
    unlock_operator,
)
from station.workflows import list_operators as operator_accounts


@click.group()
def operator() -> None:
    """Operator accounts: create, list, change password, reset, unlock, disable."""


@operator.command()
@data_options
@click.argument("login")
@click.option("--role", type=click.Choice([r.value for r in LOGIN_ROLES]), required=True)
@click.option(
    "--operator",
    "admin",
    default=lambda: load_secrets().operator,
    help="Your admin login (or $STATION_OPERATOR); not needed for the first account of a new "
    "station.",
)
@click.option("--json", "as_json", is_flag=True)
def create(
    data_dir: Path | None,
    config_file: Path | None,
    login: str,
    role: str,
    admin: str | None,
    as_json: bool,
) -> None:
    """Create an account with a one-time password (changed at first sign-in).

    The very first account of a station needs no admin; it takes the password in
    $STATION_NEW_PASSWORD if set, else a one-time password is printed.
    """
    with reported_errors(), open_station(data_dir, config_file, create=True) as station:
        if station.operators.count() == 0:
            chosen = load_secrets().new_password
            created, password = station.operators.create(SYSTEM, login, role, chosen)
        else:
            if not admin:
                raise click.UsageError("name your admin login with --operator")
            created, password = create_operator(station, login, role, signed_in(station, admin))
    if as_json:
        echo_json({**created.to_json(), "one_time_password": password})
    elif password:
        click.echo(f"created {created.login} ({created.role}); one-time password: {password}")
    else:
        click.echo(f"created {created.login} ({created.role})")


@operator.command(name="list")
@data_options
@operator_option
@click.option("--json", "as_json", is_flag=True)
def list_operators(
    data_dir: Path | None, config_file: Path | None, operator: str, as_json: bool
) -> None:
    """List the accounts (admin)."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        found = operator_accounts(station, signed_in(station, operator))
    if as_json:
        echo_json([o.to_json() for o in found])
        return
    for o in found:
        flags = [f for f, on in (("disabled", o.disabled), ("locked", o.locked_until)) if on]
        click.echo(f"{o.login:<20} {o.role.value:<11} {' '.join(flags)}")


@operator.command()
@data_options
@operator_option
def passwd(data_dir: Path | None, config_file: Path | None, operator: str) -> None:
    """Change your own password ($STATION_PASSWORD, then $STATION_NEW_PASSWORD, or asked)."""
    with reported_errors(), open_station(data_dir, config_file) as station:
        secrets = load_secrets()
        current = secret(secrets.password, f"current password for {operator}")
        new = secret(secrets.new_password, "new password", confirm=True)
        station.operators.change_password(operator, current, new, channel="cli", client="cli")
    click.echo("password changed")


def _admin_action(name: str, help_text: str) -> None:
    @operator.command(name=name, help=help_text)
    @data_options
    @operator_option
    @click.argument("login")
    def command(data_dir: Path | None, config_file: Path | None, operator: str, login: str) -> None:
        with reported_errors(), open_station(data_dir, config_file) as station:
            actor = signed_in(station, operator)
            if name == "reset":
                password = reset_password(station, login, actor)
                click.echo(f"one-time password for {login}: {password}")
                return
            if name == "unlock":
                unlock_operator(station, login, actor)
            else:
                set_operator_disabled(station, login, name == "disable", actor)
        click.echo(f"{login}: {name} done")


_admin_action("reset", "Give LOGIN a new one-time password (admin).")
_admin_action("unlock", "Lift LOGIN's lockout (admin or supervisor).")
_admin_action("disable", "Disable LOGIN's account (admin).")
_admin_action("enable", "Enable LOGIN's account again (admin).")
