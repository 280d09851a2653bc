"""The review queue: likely duplicates found by de-duplication, decided by the centre's staff.

A reviewer sees the enrolment and its candidates (person ids and scores; names and photos side by
side are the staff screen's, to come) and decides, with a reason:

- ``accept``: a different person after all; registered.
- ``merge``: the same person as a candidate: the earlier enrolment wins, this one is kept as
  ``merged`` with the link (``links``), never a second voter.
- ``reject``: neither (a fraudulent or broken enrolment); kept as ``rejected`` with the reason.

Each decision is audited with the reviewer's login.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from station.errors import StationError

if TYPE_CHECKING:
    from central.centre import Centre

DECISIONS = ("accept", "merge", "reject")
SCHEMA = """
CREATE TABLE IF NOT EXISTS review (
    person_id bigint PRIMARY KEY REFERENCES persons,
    candidates jsonb NOT NULL,
    threshold real NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT now(),
    decision text,
    reason text,
    decided_by text,
    decided_at timestamptz
);
CREATE TABLE IF NOT EXISTS links (
    person_id bigint PRIMARY KEY REFERENCES persons,
    same_as bigint NOT NULL REFERENCES persons,
    linked_by text NOT NULL,
    linked_at timestamptz NOT NULL DEFAULT now()
);
"""


class ReviewError(StationError):
    code = "review_error"


def _schema(centre: Centre) -> None:
    centre.register.db.execute(SCHEMA)


def send_to_review(
    centre: Centre, person_id: int, candidates: list[dict[str, Any]], threshold: float
) -> None:
    _schema(centre)
    centre.register.db.execute(
        "INSERT INTO review (person_id, candidates, threshold) VALUES (%s, %s, %s) "
        "ON CONFLICT (person_id) DO UPDATE SET candidates = EXCLUDED.candidates, "
        "threshold = EXCLUDED.threshold, decision = NULL, decided_by = NULL, decided_at = NULL",
        (person_id, json.dumps(candidates), threshold),
    )
    centre.register.update_person(person_id, status="review", status_reason="likely duplicate")
    centre.audit.append(
        centre.actor,
        "dedup",
        target=person_id,
        outcome="review",
        detail={"candidates": [int(c["person"]) for c in candidates][:10]},
    )


def waiting(centre: Centre) -> list[dict[str, Any]]:
    """Enrolments waiting for a decision, oldest first."""
    _schema(centre)
    return centre.register.db.execute(
        "SELECT r.person_id, p.register, p.station_id, r.candidates, r.threshold, r.queued_at "
        "FROM review r JOIN persons p ON p.id = r.person_id WHERE r.decision IS NULL "
        "ORDER BY r.queued_at, r.person_id"
    ).fetchall()


def decide_review(
    centre: Centre, person_id: int, decision: str, reason: str, same_as: int | None = None
) -> dict[str, Any]:
    """Record the reviewer's decision on one enrolment (see the module)."""
    _schema(centre)
    if decision not in DECISIONS:
        raise ReviewError(f"the decision is one of {', '.join(DECISIONS)}")
    if not reason.strip():
        raise ReviewError("say why: every review decision has a reason")
    db = centre.register.db
    target: int | None = None
    with centre.register.transaction():
        row = db.execute(
            "SELECT candidates FROM review WHERE person_id = %s AND decision IS NULL FOR UPDATE",
            (person_id,),
        ).fetchone()
        if row is None:
            raise ReviewError(f"person {person_id} is not waiting for review")
        candidates = [int(c["person"]) for c in row["candidates"]]
        if decision == "merge":
            target = same_as if same_as is not None else (candidates[0] if candidates else None)
            if target is None or target not in candidates:
                raise ReviewError(f"merge into one of the candidates: {candidates}")
            earlier = centre.register.person(target)
            if earlier is None or earlier.status not in ("registered", "queued"):
                raise ReviewError(f"person {target} is not a registered voter to merge into")
            db.execute(
                "INSERT INTO links (person_id, same_as, linked_by) VALUES (%s, %s, %s)",
                (person_id, target, centre.actor),
            )
            centre.register.update_person(
                person_id, status="merged", status_reason=f"same as {target}"
            )
        elif decision == "accept":
            centre.register.update_person(person_id, status="registered", status_reason=reason)
        else:
            centre.register.update_person(person_id, status="rejected", status_reason=reason)
        db.execute(
            "UPDATE review SET decision = %s, reason = %s, decided_by = %s, decided_at = now() "
            "WHERE person_id = %s",
            (decision, reason, centre.actor, person_id),
        )
        centre.audit.append(
            centre.actor,
            "review_decision",
            target=person_id,
            outcome=decision,
            detail={"same_as": target},
        )
    return {"person": person_id, "decision": decision}
