"""The audit trail: an append-only, hash-chained log of every action.

Each row names the operator, time, station, action, target record and outcome, and carries the
hash of the row before it. The hash is an HMAC-SHA256 under a secret audit key (kept sealed in
``meta``, openable only with the station key), so a row cannot be edited, inserted or re-chained
without the key. ``meta.audit_head`` holds the last row's sequence number and hash, so rows cut
from the end are missed too. Triggers refuse UPDATE and DELETE; :func:`verify_chain` catches what
bypasses them (the file edited directly) and names the first broken row and the kind of break.

No biometric data and no personal fields enter the log: targets are record ids or operator logins,
and ``detail`` only takes numbers, booleans, short codes and lists of ids.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from station.storage import AUDIT_TRIGGERS, Storage, utc_now

GENESIS = "0" * 64
_CODE = re.compile(r"^[A-Za-z0-9_.:/@-]{0,64}$")
ACTIONS = frozenset(
    {
        "login",
        "logout",
        "login_failed",
        "liveness",
        "password_change",
        "enroll",
        "view",
        "identify",
        "verify",
        "correct",
        "history",
        "block",
        "unblock",
        "delete",
        "export",
        "print_receipt",
        "config_change",
        "operator_create",
        "operator_unlock",
        "operator_reset",
        "operator_disable",
        "key_rotate",
        "backup",
        "restore",
        "audit_read",
        "audit_verify",
        "denied",
        "tamper_detected",
        "purge",
        "hold",
        "hold_decision",
        "holds_read",
        "application",
        "receipt_check",
        "alerts",
        "operator_update",
        "face_reencode",
        "mrz_read",
        "identity_export",
        "centre_trust",
        "packets_export",
        "packets_sync",
        "roll_import",
        "roll_purge",
    }
)


class AuditDetailError(ValueError):
    """A detail value that could carry personal data (free text) was offered to the log."""


def _check_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in detail.items():
        ok = (
            value is None
            or isinstance(value, bool | int | float)
            or (isinstance(value, str) and _CODE.match(value) is not None)
            or (isinstance(value, list) and all(isinstance(v, int) for v in value))
        )
        if not ok or not _CODE.match(key):
            raise AuditDetailError(
                f"audit detail {key}={value!r} is not a number, code or id list: no free text"
            )
    return dict(detail)


def _row_hash(key: bytes, row: tuple[Any, ...]) -> str:
    """HMAC of a row's content (``seq`` to ``prev_hash``), canonical JSON."""
    return hmac.new(
        key, json.dumps(row, separators=(",", ":")).encode(), hashlib.sha256
    ).hexdigest()


class AuditLog:
    """Appends rows in the caller's transaction (or its own), and reads them back."""

    def __init__(self, storage: Storage, station_id: str) -> None:
        self.storage = storage
        self.station_id = station_id

    def append(
        self,
        operator: str,
        action: str,
        target: str | int | None = None,
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """Add one row; return its sequence number."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        detail_json = json.dumps(_check_detail(detail or {}), sort_keys=True)
        with self.storage.transaction() as db:
            head = db.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
            seq, prev_hash = (
                (int(head[0].split()[0]) + 1, head[0].split()[1]) if head else (1, GENESIS)
            )
            content = (
                seq,
                utc_now(),
                self.station_id,
                operator[:64],
                action,
                None if target is None else str(target)[:64],
                outcome,
                detail_json,
                prev_hash,
            )
            digest = _row_hash(self.storage.audit_key, content)
            db.execute(
                "INSERT INTO audit (seq, at, station, operator, action, target, outcome, detail, "
                "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*content, digest),
            )
            db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('audit_head', ?)",
                (f"{seq} {digest}",),
            )
        return seq

    def rows(
        self,
        after: int = 0,
        limit: int = 100,
        target: str | None = None,
        operator: str | None = None,
        action: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        """Rows with sequence number above ``after``, oldest first; only those about ``target``,
        by ``operator``, of ``action``, dated from ``since`` to ``until`` (ISO 8601) when given."""
        query = (
            "SELECT seq, at, station, operator, action, target, outcome, detail, hash FROM audit "
            "WHERE seq > ?"
        )
        args: list[Any] = [after]
        for column, condition, value in (
            ("target", "=", target),
            ("operator", "=", operator),
            ("action", "=", action),
            ("at", ">=", since),
            ("at", "<=", until),
        ):
            if value is not None:
                query += f" AND {column} {condition} ?"
                args.append(value)
        with self.storage.reading() as db:
            found = db.execute(query + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
        names = ("seq", "at", "station", "operator", "action", "target", "outcome", "detail")
        return [
            {
                **dict(zip(names, row[:-1], strict=True)),
                "detail": json.loads(row[7]),
                "hash": row[8],
            }
            for row in found
        ]

    def rows_since(self, at: str) -> list[dict[str, Any]]:
        """Every row dated ``at`` (ISO 8601, UTC) or later, in the order they were written."""
        with self.storage.reading() as db:
            first = db.execute("SELECT MIN(id) FROM audit WHERE at >= ?", (at,)).fetchone()[0]
        if first is None:
            return []
        with self.storage.reading() as db:
            seq = db.execute("SELECT seq FROM audit WHERE id = ?", (first,)).fetchone()[0]
        return self.rows(after=int(seq) - 1, limit=10_000_000)

    def verify(self) -> ChainReport:
        with self.storage.consistent_read() as db:
            return verify_chain(db, self.storage.audit_key)


@dataclass(frozen=True)
class Break:
    """One place the chain is broken: ``row`` is the physical row id, ``seq`` the claimed one."""

    kind: str  # edited, deleted, inserted, reordered, protection_removed
    row: int | None
    seq: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "row": self.row, "seq": self.seq, "message": self.message}


@dataclass(frozen=True)
class ChainReport:
    rows: int
    head_seq: int
    breaks: list[Break] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks

    def to_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "rows": self.rows,
            "head_seq": self.head_seq,
            "first_break": self.breaks[0].to_json() if self.breaks else None,
            "breaks": [b.to_json() for b in self.breaks],
        }


def verify_chain(db: sqlite3.Connection, key: bytes) -> ChainReport:
    """Walk the audit table in physical order and report every break, first one first.

    A row whose MAC fails was edited, or inserted when the authentic rows around it chain
    without it. An authentic row out of sequence means rows were deleted (its predecessors are
    nowhere) or reordered (they come later); a repeated authentic row was inserted as a copy.
    """
    rows = db.execute(
        "SELECT id, seq, at, station, operator, action, target, outcome, detail, prev_hash, hash "
        "FROM audit ORDER BY id"
    ).fetchall()
    head = db.execute("SELECT value FROM meta WHERE key = 'audit_head'").fetchone()
    head_seq, head_hash = (int(head[0].split()[0]), head[0].split()[1]) if head else (0, GENESIS)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    breaks: list[Break] = []
    if not set(AUDIT_TRIGGERS) <= names:
        breaks.append(
            Break(
                "protection_removed", None, None, "the audit table's append-only triggers are gone"
            )
        )

    authentic = [_row_hash(key, tuple(r[1:10])) == r[10] for r in rows]
    seqs_at = {r[1]: i for i, r in reversed(list(enumerate(rows))) if authentic[i]}
    hash_of: dict[int, str] = {0: GENESIS}
    seen: set[int] = set()
    expected = 1
    for i, row in enumerate(rows):
        rid, seq, prev_hash, digest = row[0], row[1], row[9], row[10]
        if not authentic[i]:
            following = next((rows[j] for j in range(i + 1, len(rows)) if authentic[j]), None)
            skipped = following is not None and following[1] == expected
            beyond_head = following is None and expected > head_seq
            if skipped or beyond_head:
                breaks.append(
                    Break("inserted", rid, seq, f"row {rid} was added outside the station")
                )
            else:
                breaks.append(Break("edited", rid, seq, f"row {rid} (seq {seq}) was edited"))
                seen.add(expected)
                expected += 1
            continue
        if seq in seen:
            breaks.append(Break("inserted", rid, seq, f"row {rid} repeats seq {seq}"))
            continue
        if seq > expected:
            missing = range(expected, seq)
            if any(s in seqs_at and seqs_at[s] > i for s in missing):
                kind, what = "reordered", f"seq {seq} comes before seq {expected}"
            else:
                gap = f"{expected}" if seq - 1 == expected else f"{expected}-{seq - 1}"
                kind, what = "deleted", f"seq {gap} missing before it"
                seen.update(missing)
            breaks.append(Break(kind, rid, seq, f"row {rid}: {what}"))
        elif seq < expected:
            breaks.append(
                Break("reordered", rid, seq, f"row {rid}: seq {seq} comes after later rows")
            )
        elif seq - 1 in hash_of and prev_hash != hash_of[seq - 1]:
            breaks.append(Break("edited", rid, seq, f"row {rid} does not chain to seq {seq - 1}"))
        hash_of[seq] = digest
        seen.add(seq)
        expected = max(expected, seq + 1)
    last = max(seen, default=0)
    if head_seq > last:
        breaks.append(
            Break("deleted", None, last + 1, f"seq {last + 1}-{head_seq} missing at the end")
        )
    elif head_seq in hash_of and hash_of[head_seq] != head_hash:
        breaks.append(Break("edited", None, head_seq, "the recorded head of the chain differs"))
    elif head_seq < last:
        breaks.append(
            Break("inserted", None, head_seq + 1, f"rows after seq {head_seq} were added")
        )
    return ChainReport(rows=len(rows), head_seq=head_seq, breaks=breaks)
