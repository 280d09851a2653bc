"""``central``: the centre's commands.

State lives under ``--data DIR`` (or ``$CENTRAL_DATA``, default ``central-data/`` in the
checkout); the register in the database of ``--db URL`` (or ``$CENTRAL_DB``), else in a
PostgreSQL cluster the command starts inside the data directory (and stops when done).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from central.centre import Centre, CentreError
from central.keys import CentreKeyError, centre_keys, identity_document
from central.postgres import ClusterError
from central.register import RegisterError
from central.stations import StationRegistryError
from station.exchange.identity import IdentityError

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "central-data"
F = TypeVar("F", bound=Callable[..., Any])


def data_dir(given: Path | None) -> Path:
    chosen = given or Path(os.environ.get("CENTRAL_DATA") or DEFAULT_DATA)
    chosen.mkdir(parents=True, exist_ok=True, mode=0o700)
    return chosen


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def centre_options(command: F) -> F:
    """``--data`` and ``--db``; the command gets an opened :class:`Centre` as ``centre``."""

    @click.option(
        "--data",
        "data",
        type=click.Path(file_okay=False, path_type=Path),
        help="The centre's data directory (default: $CENTRAL_DATA, else central-data/).",
    )
    @click.option(
        "--db",
        "db",
        help="The register's PostgreSQL URL (default: $CENTRAL_DB, else the centre's own cluster).",
    )
    @wraps(command)
    def opened(data: Path | None, db: str | None, **arguments: Any) -> Any:
        try:
            with Centre(data_dir(data), db or os.environ.get("CENTRAL_DB") or None) as centre:
                return command(centre=centre, **arguments)
        except (
            CentreError,
            CentreKeyError,
            ClusterError,
            RegisterError,
            StationRegistryError,
            IdentityError,
        ) as exc:
            _fail(str(exc))

    return opened  # type: ignore[return-value]


def _print(as_json: bool, document: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(document, indent=1, default=str))
    else:
        for line in lines:
            click.echo(line)


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The central register: the stations it trusts, the packets they send, precinct rolls."""


@main.command()
@click.option(
    "--data", "data", type=click.Path(file_okay=False, path_type=Path), help="Data directory."
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def identity(data: Path | None, out: Path) -> None:
    """Write the centre's public keys to OUT, for `station centre trust OUT` at each station."""
    try:
        keys = centre_keys(data_dir(data))
    except CentreKeyError as exc:
        _fail(str(exc))
    out.write_text(json.dumps(identity_document(keys), indent=1) + "\n", encoding="utf-8")
    click.echo(f"centre {keys.centre_id}: public keys written to {out}")


@main.group()
def stations() -> None:
    """The stations whose packets the centre accepts."""


@stations.command(name="add")
@centre_options
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def stations_add(centre: Centre, document: Path) -> None:
    """Register the station of DOCUMENT (from `station identity --out DOCUMENT`)."""
    registered = centre.stations.add(document)
    centre.audit.append(
        centre.actor,
        "station_add",
        target=registered.station_id,
        detail={"thumbprint": registered.thumbprint},
    )
    click.echo(f"station {registered.station_id} registered (key {registered.thumbprint})")


@stations.command(name="revoke")
@centre_options
@click.argument("station_id")
def stations_revoke(centre: Centre, station_id: str) -> None:
    """Refuse every packet of STATION_ID from now on."""
    revoked = centre.stations.revoke(station_id)
    centre.audit.append(centre.actor, "station_revoke", target=station_id)
    click.echo(f"station {revoked.station_id} revoked on {revoked.revoked}")


@stations.command(name="list")
@centre_options
@json_option
def stations_list(centre: Centre, as_json: bool) -> None:
    """The registered stations, revoked ones too."""
    listed = centre.stations.list()
    lines = [
        f"{s.station_id}  {'revoked ' + s.revoked if s.revoked else 'active'}  "
        f"registered {s.registered}"
        for s in listed
    ] or ["no station registered: `central stations add FILE`"]
    _print(as_json, {"stations": [s.to_json() for s in listed]}, lines)


@main.command(name="import")
@centre_options
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@json_option
def import_command(centre: Centre, folder: Path, as_json: bool) -> None:
    """Import every packet under FOLDER (a stick from the field); the same packet twice is
    imported once. Writes each station's acknowledgement onto FOLDER. Exit 3 when any packet
    was refused."""
    from central.intake import import_folder

    result = import_folder(centre, folder)
    lines = [
        f"{result.imported} imported ({len(result.held)} held for review), "
        f"{result.already_had} already had, {len(result.rejected)} refused"
    ]
    lines += [f"  held {h['packet']}: {h['reason']}" for h in result.held]
    lines += [f"  refused {r['packet']}: {r['reason']}" for r in result.rejected]
    _print(as_json, result.to_json(), lines)
    if result.rejected:
        sys.exit(3)


@main.command()
@centre_options
@json_option
def status(centre: Centre, as_json: bool) -> None:
    """What the register holds: persons per register and state, packets, refusals."""
    counts = centre.register.counts()
    lines = [f"register {name}: {states}" for name, states in sorted(counts["persons"].items())]
    lines += [f"packets: {counts['packets']}", f"refused packets: {counts['refusals']}"]
    _print(as_json, counts, lines)


@main.group()
def audit() -> None:
    """The centre's hash-chained audit trail."""


@audit.command(name="verify")
@centre_options
@json_option
def audit_verify(centre: Centre, as_json: bool) -> None:
    """Check the whole chain; exit 4 when a row was changed, inserted or removed."""
    checked = centre.audit.verify()
    centre.audit.append(centre.actor, "audit_verify", outcome="ok" if checked.intact else "broken")
    line = (
        f"audit intact: {checked.rows} rows"
        if checked.intact
        else f"audit BROKEN at row {checked.broken_at}: {checked.problem}"
    )
    _print(as_json, checked.to_json(), [line])
    if not checked.intact:
        sys.exit(4)


@main.group()
def roll() -> None:
    """Precinct rolls for the stations that verify voters."""


@roll.command(name="make")
@centre_options
@click.option("--precinct", required=True, help="The precinct's id, as stations enrol for it.")
@click.option("--station", "station_id", required=True, help="The station the roll is for.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--register", default="voter_registration", show_default=True)
@click.option(
    "--face-model", type=click.Choice(["sface", "dlib"]), default="sface", show_default=True
)
@click.option("--valid-days", type=click.IntRange(1, 3650), default=90, show_default=True)
@json_option
def roll_make(
    centre: Centre,
    precinct: str,
    station_id: str,
    out: Path,
    register: str,
    face_model: str,
    valid_days: int,
    as_json: bool,
) -> None:
    """Write the roll of PRECINCT, encrypted to STATION, to OUT (for `station roll import OUT`)."""
    from central.rolls import make_roll

    made = make_roll(
        centre,
        precinct=precinct,
        station_id=station_id,
        register=register,
        face_model=face_model,
        valid_days=valid_days,
    )
    out.write_bytes(made.data)
    line = (
        f"roll of precinct {precinct} version {made.roll.version}: {len(made.roll.voters)} "
        f"voters for {station_id}, written to {out}"
    )
    _print(as_json, made.to_json() | {"out": str(out)}, [line])


@main.command()
@centre_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8443, show_default=True)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def serve(
    centre: Centre, host: str, port: int, tls_cert: Path | None, tls_key: Path | None
) -> None:
    """Serve the stations' uploads over HTTPS until stopped (Ctrl-C or SIGTERM). Without
    --tls-cert/--tls-key a certificate is made once under DATA/tls: give its cert.pem to the
    stations (`station sync --ca cert.pem`)."""
    import signal

    from central.server import make_server, tls_files

    if (tls_cert is None) != (tls_key is None):
        _fail("give both --tls-cert and --tls-key, or neither")
    if tls_cert is None:
        tls_cert, tls_key = tls_files(centre, host)
    server = make_server(centre, host, port, tls_cert, tls_key)

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    centre.audit.append(centre.actor, "serve_start", detail={"port": port})
    click.echo(
        f"centre {centre.keys.centre_id} serving https://{host}:{port} (certificate {tls_cert})"
    )
    try:
        server.safe_start()
    finally:
        server.stop()
