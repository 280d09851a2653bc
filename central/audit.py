"""The centre's audit trail: every action, who and when, hash-chained as the station's is.

Each row carries the HMAC-SHA256 (under the audit key, sealed in the register's ``meta``) of its
own content and the hash of the row before it, so a row edited, inserted, removed or re-chained
in the database is found by :meth:`CentreAudit.verify`. Triggers refuse UPDATE and DELETE; an
attempt is an error the caller sees. Appends are serialised by a transaction-level advisory lock,
so many writers (the import, ``central serve``) keep one chain.

No personal data: targets are packet ids, person ids or station ids; details are short codes and
numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from central.register import Register

GENESIS = "0" * 64
AUDIT_LOCK = 19
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    action text NOT NULL,
    target text,
    outcome text NOT NULL,
    detail jsonb NOT NULL,
    previous text NOT NULL,
    hash text NOT NULL
);
CREATE OR REPLACE FUNCTION audit_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP;
END $$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_append_only ON audit;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
DROP TRIGGER IF EXISTS audit_no_truncate ON audit;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();
"""


@dataclass(frozen=True)
class ChainCheck:
    rows: int
    broken_at: int | None
    problem: str | None

    @property
    def intact(self) -> bool:
        return self.broken_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "intact": self.intact,
            "broken_at": self.broken_at,
            "problem": self.problem,
        }


def _digest(key: bytes, previous: str, content: Mapping[str, Any]) -> str:
    message = previous.encode() + json.dumps(content, sort_keys=True, default=str).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class CentreAudit:
    def __init__(self, register: Register) -> None:
        self.register = register
        with register.transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
            db.execute(SCHEMA)

    def append(
        self,
        actor: str,
        action: str,
        target: str | int | None = None,
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
    ) -> str:
        """Add one row (inside the caller's transaction when there is one); its hash."""
        key = self.register.secret("audit_key")
        db = self.register.db
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
            last = db.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            previous = last["hash"] if last else GENESIS
            slot = db.execute(
                "SELECT nextval(pg_get_serial_sequence('audit', 'seq')) AS seq, now() AS at"
            ).fetchone()
            assert slot is not None
            content = self._content(slot["seq"], slot["at"], actor, action, target, outcome, detail)
            digest = _digest(key, previous, content)
            db.execute(
                "INSERT INTO audit (seq, at, actor, action, target, outcome, detail, previous, hash) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    slot["seq"],
                    slot["at"],
                    actor,
                    action,
                    content["target"],
                    outcome,
                    json.dumps(content["detail"]),
                    previous,
                    digest,
                ),
            )
            head = self.register.sealer.seal(f"{slot['seq']}:{digest}".encode(), "audit_head")
            db.execute(
                "INSERT INTO meta (name, value) VALUES ('audit_head', %s) "
                "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
                (head,),
            )
        return digest

    @staticmethod
    def _content(
        seq: int,
        at: Any,
        actor: str,
        action: str,
        target: str | int | None,
        outcome: str,
        detail: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        return {
            "seq": int(seq),
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "target": None if target is None else str(target),
            "outcome": outcome,
            "detail": json.loads(json.dumps(dict(detail or {}))),
        }

    def rows(self, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT seq, at, actor, action, target, outcome, detail, hash FROM audit"
        arguments: list[Any] = []
        if action:
            query += " WHERE action = %s"
            arguments.append(action)
        query += " ORDER BY seq DESC LIMIT %s"
        arguments.append(limit)
        return self.register.db.execute(query, arguments).fetchall()

    def verify(self) -> ChainCheck:
        """Walk the chain from its first row; the first broken row and what is wrong with it.
        Rows cut from the end are found by the sealed head (the last row's number and hash)."""
        key = self.register.secret("audit_key")
        previous, count, last_seq = GENESIS, 0, 0
        with self.register.db.cursor() as cursor:
            cursor.execute("SELECT * FROM audit ORDER BY seq")
            for row in cursor:
                count += 1
                if row["previous"] != previous:
                    return ChainCheck(count, int(row["seq"]), "does not follow the row before it")
                content = self._content(
                    row["seq"],
                    row["at"],
                    row["actor"],
                    row["action"],
                    row["target"],
                    row["outcome"],
                    row["detail"],
                )
                if not hmac.compare_digest(_digest(key, previous, content), row["hash"]):
                    return ChainCheck(count, int(row["seq"]), "its content was changed")
                previous, last_seq = row["hash"], int(row["seq"])
        kept = self.register.db.execute(
            "SELECT value FROM meta WHERE name = 'audit_head'"
        ).fetchone()
        if kept is not None:
            head = self.register.sealer.open(bytes(kept["value"]), "audit_head").decode()
            if head != f"{last_seq}:{previous}":
                return ChainCheck(count, last_seq, "rows were removed from the end")
        elif count:
            return ChainCheck(count, last_seq, "the chain's head is missing")
        return ChainCheck(count, None, None)
