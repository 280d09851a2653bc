"""The centre opened: its data directory, keys, database (its own cluster or ``--db URL``), audit
and the stations it trusts. Every ``central`` command and ``central serve`` work through one.

The data directory holds the keys (``keys/``: the exchange keys and the data key that seals the
register's personal data), the trusted CSCA certificates (``csca/``: passive authentication of
the cards' chips), and, when no database is given, the PostgreSQL cluster (``postgres/``).
"""

from __future__ import annotations

import getpass
import logging
from pathlib import Path
from types import TracebackType

from cryptography import x509

from central.audit import CentreAudit
from central.keys import CentreKeys, centre_keys
from central.postgres import LocalCluster
from central.register import Register
from central.stations import StationRegistry
from drivers.idcard.pa import load_csca_folder
from station.security.crypto import (
    Sealer,
    TamperedDataError,
    generate_key,
    load_key,
    write_key_file,
)

log = logging.getLogger(__name__)

DATA_KEY_FILE = "keys/data.key"
CSCA_FOLDER = "csca"


class CentreError(Exception):
    """The centre cannot open; the message says what to do."""

    code = "centre_error"


def data_key(data_dir: Path) -> bytes:
    """The key that seals the register's personal data, made on first use (keep a copy away
    from the centre's servers: the register cannot be read without it)."""
    path = data_dir / DATA_KEY_FILE
    loaded = load_key(path)
    if loaded is None:
        write_key_file(path, generate_key())
        log.warning("new data key written to %s: keep a copy in a safe place", path)
        loaded = load_key(path)
        assert loaded is not None
    return loaded.key


class Centre:
    """Open with ``with Centre(data_dir, db_url) as centre:``; ``actor`` is who acts (the
    operating-system login for commands; the signed-in staff member in ``central serve``)."""

    def __init__(self, data_dir: Path, db_url: str | None = None, actor: str | None = None) -> None:
        self.data_dir = data_dir
        self.db_url = db_url
        self.actor = actor or getpass.getuser()
        self.cluster: LocalCluster | None = None
        self._register: Register | None = None
        self._audit: CentreAudit | None = None
        self._keys: CentreKeys | None = None
        self._csca: tuple[int | None, list[x509.Certificate]] | None = None

    @property
    def csca_dir(self) -> Path:
        return self.data_dir / CSCA_FOLDER

    def open(self) -> Centre:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        url = self.db_url
        if url is None:
            self.cluster = LocalCluster(self.data_dir / "postgres")
            self.cluster.start()
            url = self.cluster.url
        try:
            self._register = Register(url, Sealer(data_key(self.data_dir)))
        except TamperedDataError:
            self.close()
            raise CentreError(
                f"the register was sealed with another data key than {self.data_dir / DATA_KEY_FILE}:"
                " restore the centre's key file from its copy"
            ) from None
        except BaseException:
            self.close()
            raise
        self._audit = CentreAudit(self._register)
        return self

    def close(self) -> None:
        if self._register is not None:
            self._register.close()
            self._register = None
        if self.cluster is not None:
            self.cluster.release()
            self.cluster = None

    def __enter__(self) -> Centre:
        return self.open()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def register(self) -> Register:
        if self._register is None:
            raise CentreError("the centre is not open")
        return self._register

    @property
    def audit(self) -> CentreAudit:
        if self._audit is None:
            raise CentreError("the centre is not open")
        return self._audit

    @property
    def keys(self) -> CentreKeys:
        """The centre's exchange keys, read from their file once."""
        if self._keys is None:
            self._keys = centre_keys(self.data_dir)
        return self._keys

    def csca_certificates(self) -> list[x509.Certificate]:
        """The trusted CSCA certificates of ``csca/``, read again only when the folder changes."""
        folder = self.csca_dir
        stamp = folder.stat().st_mtime_ns if folder.is_dir() else None
        if self._csca is None or self._csca[0] != stamp:
            self._csca = (stamp, load_csca_folder(folder) if stamp is not None else [])
        return self._csca[1]

    @property
    def stations(self) -> StationRegistry:
        return StationRegistry(self.register)
