"""The centre's own PostgreSQL cluster, for a centre given no ``--db URL``.

Debian's PostgreSQL server binaries run a cluster inside the centre's data directory
(``DATA/postgres/cluster``) that listens on a Unix socket in a private folder only, never on the
network. Every ``central`` command that needs the register starts it if it is not running and
stops it when it was the last command using it (a shared lock per user, an exclusive one to
stop), so a fresh machine needs nothing but the README's install. Run as root, the server runs
as the ``postgres`` system user (PostgreSQL refuses root): the data directory is then made
traversable (0711) so that user reaches its own 0700 folder inside.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from station.errors import StationError

DATABASE = "central"
ROLE = "central"
START_SECONDS = 60


class ClusterError(StationError):
    """The centre's own PostgreSQL cluster cannot be made or started; the message says why."""

    code = "cluster_error"


def server_binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: ``$CENTRAL_PG_BIN``, else the newest of Debian's
    ``/usr/lib/postgresql/*/bin``."""
    given = os.environ.get("CENTRAL_PG_BIN")
    candidates = [Path(given)] if given else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise ClusterError(
        "PostgreSQL's server is not installed: run scripts/bootstrap (it installs Debian's "
        "postgresql), or give the centre a database with --db URL"
    )


class LocalCluster:
    """A PostgreSQL cluster in ``folder``: made on first use, started and stopped on demand."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cluster = folder / "cluster"
        self.socket_dir = folder / "run"
        self.log = folder / "server.log"
        self._as_postgres = os.geteuid() == 0
        self._users: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}@/{DATABASE}?host={self.socket_dir}"

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        argv = list(command)
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)

    def _prepare_folders(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self._as_postgres:
            return
        owner = pwd.getpwnam("postgres")
        for parent in [self.folder.parent, *self.folder.parent.parents]:
            if not parent.stat().st_mode & 0o001:
                if parent == self.folder.parent:
                    parent.chmod(parent.stat().st_mode | 0o011)  # traverse only, no listing
                    continue
                raise ClusterError(
                    f"the postgres user cannot reach {self.folder} ({parent} is closed to "
                    "other users): choose a data directory under an open folder, or --db URL"
                )
        for folder in (self.folder, self.socket_dir):
            folder.mkdir(exist_ok=True, mode=0o700)
            os.chown(folder, owner.pw_uid, owner.pw_gid)
            folder.chmod(0o700)

    def _initialise(self, binaries: Path) -> None:
        done = self._run(
            str(binaries / "initdb"),
            "-D",
            str(self.cluster),
            "-U",
            ROLE,
            "--auth-local=trust",  # the socket sits in a 0700 folder: only its owner and root reach it
            "--auth-host=reject",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        if done.returncode:
            shutil.rmtree(self.cluster, ignore_errors=True)
            raise ClusterError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")

    def running(self) -> bool:
        return (self.socket_dir / ".s.PGSQL.5432").exists() and (
            self.cluster / "postmaster.pid"
        ).is_file()

    def start(self) -> None:
        """Make the cluster if missing, start the server if stopped, create the database; this
        process counts as one of its users until :meth:`release`."""
        self._prepare_folders()
        with self._lock("start.lock"):
            users = open(self.folder / "users.lock", "a")  # noqa: SIM115  held until release
            fcntl.flock(users, fcntl.LOCK_SH)  # no one stops it while we hold this
            try:
                binaries = server_binaries()
                if not (self.cluster / "PG_VERSION").is_file():
                    self._initialise(binaries)
                if not self.running():
                    self._start_server(binaries)
                self._create_database(binaries)
            except BaseException:
                users.close()
                raise
            self._users = users

    def _start_server(self, binaries: Path) -> None:
        options = f"-k {self.socket_dir} -c listen_addresses='' -c unix_socket_permissions=0700"
        done = self._run(
            str(binaries / "pg_ctl"),
            *("-D", str(self.cluster), "-l", str(self.log), "-o", options),
            *("-w", "-t", str(START_SECONDS), "start"),
        )
        if done.returncode:
            raise ClusterError(
                f"the centre's PostgreSQL did not start: {done.stderr.strip()} (see {self.log})"
            )

    def _create_database(self, binaries: Path) -> None:
        host = ["-h", str(self.socket_dir), "-U", ROLE]
        query = "SELECT datname FROM pg_database"
        listed = self._run(str(binaries / "psql"), *host, "-d", "postgres", "-Atc", query)
        if listed.returncode:
            raise ClusterError(f"the centre's PostgreSQL does not answer: {listed.stderr.strip()}")
        if DATABASE not in listed.stdout.split():
            made = self._run(str(binaries / "createdb"), *host, DATABASE)
            if made.returncode:
                raise ClusterError(f"cannot create the database: {made.stderr.strip()}")

    def release(self) -> None:
        """This process no longer uses the server; stop it when no other ``central`` does."""
        if self._users is None:
            return
        users, self._users = self._users, None
        with self._lock("start.lock"):
            fcntl.flock(users, fcntl.LOCK_UN)
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another command, or `central serve`, still uses it
                users.close()
                return
            try:
                self.stop()
            finally:
                users.close()

    def stop(self) -> None:
        """Stop the server now (callers hold the start lock, or know no one else uses it)."""
        if self.running():
            pg_ctl = str(server_binaries() / "pg_ctl")
            self._run(pg_ctl, "-D", str(self.cluster), "-m", "fast", "-w", "stop")

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        with open(self.folder / name, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
