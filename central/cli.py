"""``central``: the centre's commands.

State lives under ``--data DIR`` (or ``$CENTRAL_DATA``, default ``central-data/`` in the
checkout); the register in the database of ``--db URL`` (or ``$CENTRAL_DB``), else in a
PostgreSQL cluster the command starts inside the data directory (and stops when done).
"""

from __future__ import annotations

import getpass
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
from central.staff import (
    Duty,
    NotAllowedError,
    SignInError,
    Staff,
    StaffMember,
    StaffRole,
    require,
)
from central.stations import StationRegistryError
from station.errors import StationError
from station.security.passwords import KdfParams

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "central-data"
F = TypeVar("F", bound=Callable[..., Any])


def data_dir(given: Path | None) -> Path:
    chosen = given or Path(os.environ.get("CENTRAL_DATA") or DEFAULT_DATA)
    chosen.mkdir(parents=True, exist_ok=True, mode=0o700)
    return chosen


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _kdf() -> KdfParams:
    cost = os.environ.get("CENTRAL_PASSWORD_KDF_N")
    return KdfParams(n=int(cost)) if cost else KdfParams()


def _sign_in(centre: Centre, staff: Staff, login: str | None) -> StaffMember:
    login = login or os.environ.get("CENTRAL_OPERATOR")
    if not login:
        _fail("say who you are: --operator LOGIN (or $CENTRAL_OPERATOR)")
    assert login is not None
    password = os.environ.get("CENTRAL_PASSWORD") or click.prompt(
        f"password for {login}", hide_input=True, err=True
    )
    try:
        member = staff.sign_in(login, password)
    except SignInError:
        centre.audit.append(login, "login_failed", target=login, outcome="refused")
        raise
    centre.actor = member.login
    return member


def centre_command(duty: Duty | None) -> Callable[[F], F]:
    """``--data``, ``--db`` and ``--operator``; the command gets an opened :class:`Centre` as
    ``centre``, its signed-in staff member allowed ``duty`` (None: the command checks itself,
    and gets ``staff`` and ``operator``)."""

    def decorate(command: F) -> F:
        @click.option(
            "--data",
            "data",
            type=click.Path(file_okay=False, path_type=Path),
            help="The centre's data directory (default: $CENTRAL_DATA, else central-data/).",
        )
        @click.option(
            "--db",
            "db",
            help="The register's PostgreSQL URL (default: $CENTRAL_DB, else its own cluster).",
        )
        @click.option("--operator", "operator", help="Your login (default: $CENTRAL_OPERATOR).")
        @wraps(command)
        def opened(
            data: Path | None, db: str | None, operator: str | None, **arguments: Any
        ) -> Any:
            try:
                with Centre(data_dir(data), db or os.environ.get("CENTRAL_DB") or None) as centre:
                    staff = Staff(centre.register, _kdf())
                    if duty is None:
                        return command(centre=centre, staff=staff, operator=operator, **arguments)
                    member = _sign_in(centre, staff, operator)
                    try:
                        require(member, duty)
                    except NotAllowedError:
                        centre.audit.append(member.login, "denied", detail={"duty": duty.value})
                        raise
                    return command(centre=centre, **arguments)
            except (
                CentreError,
                CentreKeyError,
                ClusterError,
                RegisterError,
                StationRegistryError,
                StationError,
            ) as exc:
                _fail(str(exc))

        return opened  # type: ignore[return-value]

    return decorate


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
@centre_command(Duty.STATIONS)
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
@centre_command(Duty.STATIONS)
@click.argument("station_id")
def stations_revoke(centre: Centre, station_id: str) -> None:
    """Refuse every packet of STATION_ID from now on."""
    revoked = centre.stations.revoke(station_id)
    centre.audit.append(centre.actor, "station_revoke", target=station_id)
    click.echo(f"station {revoked.station_id} revoked on {revoked.revoked}")


@stations.command(name="invite")
@centre_command(Duty.STATIONS)
@click.option("--hours", type=click.IntRange(1, 24 * 14), default=24, show_default=True)
def stations_invite(centre: Centre, hours: int) -> None:
    """A one-time enrolment code for a new station (`station centre join --code CODE`)."""
    from central.invitations import invite

    code = invite(centre.register, centre.actor, hours)
    centre.audit.append(centre.actor, "station_invite", detail={"hours": hours})
    click.echo(f"enrolment code {code} (one use, valid {hours} h): read it to the kit's supervisor")


@stations.command(name="list")
@centre_command(Duty.STATUS)
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
@centre_command(Duty.IMPORT)
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
@centre_command(Duty.STATUS)
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
@centre_command(Duty.AUDIT)
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
@centre_command(Duty.ROLLS)
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
        + (
            f" ({len(made.left_out)} left out: same document as an earlier enrolment)"
            if made.left_out
            else ""
        )
    )
    _print(as_json, made.to_json() | {"out": str(out)}, [line])


@main.command()
@centre_command(Duty.SERVE)
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
    server = make_server(centre, host, port, tls_cert, tls_key, kdf=_kdf())

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


@main.group(name="staff")
def staff_group() -> None:
    """The centre's staff accounts (admin); the first one of a new centre is its admin."""


@staff_group.command(name="add")
@centre_command(None)
@click.argument("login")
@click.option("--role", type=click.Choice([r.value for r in StaffRole]), required=True)
def staff_add(centre: Centre, staff: Staff, operator: str | None, login: str, role: str) -> None:
    """Make the account LOGIN; its one-time password is printed, to be changed before anything
    else. The first account of a new centre is its admin, made without signing in; with
    $CENTRAL_ADMIN_PASSWORD set, that admin gets the password chosen there."""
    chosen = None
    if staff.count() == 0:
        if role != StaffRole.ADMIN:
            _fail("the centre has no staff yet: make its admin first (--role admin)")
        creator, chosen = f"installer:{getpass.getuser()}", os.environ.get("CENTRAL_ADMIN_PASSWORD")
    else:
        member = _sign_in(centre, staff, operator)
        require(member, Duty.STAFF)
        creator = member.login
    password = staff.add(login, StaffRole(role), creator, chosen, must_change=chosen is None)
    centre.audit.append(creator, "staff_add", target=login, detail={"role": role})
    if chosen:
        click.echo(f"{login} ({role}) made with the password of $CENTRAL_ADMIN_PASSWORD")
    else:
        click.echo(f"{login} ({role}) made; one-time password: {password}")


@staff_group.command(name="password")
@centre_command(None)
def staff_password(centre: Centre, staff: Staff, operator: str | None) -> None:
    """Change your password (the new one from $CENTRAL_NEW_PASSWORD or a prompt)."""
    login = operator or os.environ.get("CENTRAL_OPERATOR")
    if not login:
        _fail("say who you are: --operator LOGIN (or $CENTRAL_OPERATOR)")
    assert login is not None
    old = os.environ.get("CENTRAL_PASSWORD") or click.prompt("current password", hide_input=True)
    new = os.environ.get("CENTRAL_NEW_PASSWORD") or click.prompt(
        "new password", hide_input=True, confirmation_prompt=True
    )
    staff.change_password(login, old, new)
    centre.audit.append(login, "password_change", target=login)
    click.echo(f"password of {login} changed")


@staff_group.command(name="list")
@centre_command(Duty.STAFF)
@json_option
def staff_list(centre: Centre, as_json: bool) -> None:
    """Every account, its role and state."""
    listed = Staff(centre.register).list()
    lines = [f"{m['login']}  {m['role']}{'  disabled' if m['disabled'] else ''}" for m in listed]
    _print(as_json, {"staff": listed}, lines)


@staff_group.command(name="disable")
@centre_command(Duty.STAFF)
@click.argument("login")
def staff_disable(centre: Centre, login: str) -> None:
    """Disable LOGIN (accounts are never deleted: the audit trail names them)."""
    Staff(centre.register).disable(login)
    centre.audit.append(centre.actor, "staff_disable", target=login)
    click.echo(f"{login} disabled")


@main.command()
@centre_command(Duty.DEDUP)
@click.option("--register", default="voter_registration", show_default=True)
@click.option(
    "--face-model", type=click.Choice(["sface", "dlib"]), default="sface", show_default=True
)
@click.option("--shards", type=click.IntRange(1, 4096), default=2, show_default=True)
@click.option("--ray-address", help="Join this Ray cluster (default: a local Ray started here).")
@click.option("--limit", type=click.IntRange(1), help="Decide at most this many enrolments.")
@click.option(
    "--index",
    type=click.Choice(["compact", "full"]),
    default="compact",
    show_default=True,
    help="The shards' finger galleries: compact (codes kept in the register, about 1.5 KB a "
    "finger in memory) or full (prepared cylinders, about 30 KB a finger, faster re-ranking).",
)
@json_option
def dedup(
    centre: Centre,
    register: str,
    face_model: str,
    shards: int,
    ray_address: str | None,
    limit: int | None,
    index: str,
    as_json: bool,
) -> None:
    """De-duplicate the import queue against the national galleries: unique enrolments are
    registered, likely duplicates go to the review queue (`central review list`)."""
    from central.engine.auth import use_token

    use_token(centre.data_dir / "keys" / "ray-token")  # before Ray is imported
    from central.dedup import deduplicate, finger_codec, national_loader
    from central.engine.loader import store_codes
    from central.engine.national import NationalGallery, start_ray

    codec = finger_codec(centre, register) if index == "compact" else None
    if index == "compact" and codec is None:
        click.echo(
            "too few fingers yet to train the compact index's codes: full galleries", err=True
        )
    start_ray(ray_address)
    national = NationalGallery(
        shards,
        national_loader(centre, register, face_model, codec),
        codec=codec,
        on_codes=None if codec is None else store_codes(centre.register, codec),
    )
    try:
        result = deduplicate(
            centre, national, register=register, face_model=face_model, limit=limit
        )
    finally:
        national.close()
    lines = [
        f"{result.checked} enrolments checked: {result.registered} registered, "
        f"{len(result.to_review)} to review"
    ]
    lines += [
        f"  person {r['person']}: like {', '.join(str(c['person']) for c in r['candidates'])}"
        for r in result.to_review
    ]
    _print(as_json, result.to_json(), lines)


@main.group()
def review() -> None:
    """Likely duplicates waiting for a reviewer's decision."""


@review.command(name="list")
@centre_command(Duty.REVIEW)
@json_option
def review_list(centre: Centre, as_json: bool) -> None:
    """Enrolments waiting, with their candidates and scores."""
    from central.review import waiting

    rows = waiting(centre)
    centre.audit.append(centre.actor, "review_read", detail={"rows": len(rows)})
    lines = [
        f"person {r['person_id']} ({r['station_id']}): "
        + ", ".join(f"like {c['person']} (LLR {c['llr']})" for c in r["candidates"])
        for r in rows
    ] or ["nothing waits for review"]
    _print(as_json, {"review": rows}, lines)


@review.command(name="decide")
@centre_command(Duty.REVIEW)
@click.argument("person", type=int)
@click.argument("decision", type=click.Choice(["accept", "merge", "reject"]))
@click.option("--reason", required=True, help="Why: every decision keeps its reason.")
@click.option("--same-as", type=int, help="merge: the candidate it is (default: the best).")
def review_decide(
    centre: Centre, person: int, decision: str, reason: str, same_as: int | None
) -> None:
    """Decide on PERSON: accept (a different person), merge (the same as a candidate: the
    earlier enrolment wins), reject."""
    from central.review import decide_review

    decide_review(centre, person, decision, reason, same_as)
    click.echo(f"person {person}: {decision}")


@main.group()
def bench() -> None:
    """The centre's measurements (from a checkout: they use benchmarks/ and the datasets)."""


@bench.command(
    name="dedup", context_settings={"ignore_unknown_options": True, "help_option_names": []}
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_dedup(args: tuple[str, ...]) -> None:
    """De-duplication against synthetic national galleries: `python -m benchmarks dedup`
    (--persons N[,N...] --workers 1,2 [--datasets DIR] [--json]; --help for all)."""
    import subprocess

    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / "benchmarks" / "dedup.py").is_file():
        _fail("the benchmarks come with a checkout of the project, not with the installed package")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "dedup", *args], cwd=checkout, check=False
    )
    sys.exit(done.returncode)
