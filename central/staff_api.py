"""The staff's side of ``central serve``: sign in, then read what the register holds.

- ``POST /api/v1/sessions`` ``{"login", "password"}`` -> ``{"token", "role"}`` (then
  ``Authorization: Bearer TOKEN``); ``DELETE /api/v1/sessions`` signs out. Sessions end after
  15 idle minutes and 12 hours at most; a one-time password is changed with ``central staff
  password`` first.
- ``GET /api/v1/status``: persons per register and state, packets, refusals (every role).
- ``GET /api/v1/held``: enrolments held for review, with the centre's reason (reviewers).
- ``GET /api/v1/refusals``: packets refused, with the reason (registrars).
- ``POST /api/v1/audit/verify``: the audit chain checked (auditors).
- ``GET /api/v1/review``, ``POST /api/v1/review/PERSON`` ``{"decision", "reason", "same_as"}``:
  the review queue of likely duplicates, and a reviewer's decision (:mod:`central.review`).

Every request is audited with the signed-in login; a refusal of a duty is audited ``denied``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, request

from central.centre import Centre
from central.review import ReviewError, decide_review, waiting
from central.staff import Duty, NotAllowedError, SignInError, Staff, StaffMember, require

IDLE_SECONDS = 15 * 60
MAX_SECONDS = 12 * 3600


@dataclass
class _Session:
    member: StaffMember
    started: float
    seen: float


class Unauthorised(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def staff_blueprint(centre: Centre, staff: Staff, work: threading.Lock) -> Blueprint:
    api = Blueprint("staff", __name__)
    sessions: dict[str, _Session] = {}

    def member_of_request() -> StaffMember:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        session = sessions.get(token)
        now = time.monotonic()
        if session is None:
            raise Unauthorised("sign in first: POST /api/v1/sessions")
        if now - session.seen > IDLE_SECONDS or now - session.started > MAX_SECONDS:
            sessions.pop(token, None)
            raise Unauthorised("the session ended: sign in again")
        session.seen = now
        return session.member

    def with_duty(duty: Duty, answer: Callable[[], Any]) -> tuple[Response, int]:
        member = member_of_request()
        with work:
            try:
                require(member, duty)
            except NotAllowedError as exc:
                centre.audit.append(member.login, "denied", detail={"duty": duty.value})
                return jsonify(error="permission_denied", message=str(exc)), 403
            signed_in, centre.actor = centre.actor, member.login
            try:
                return jsonify(answer()), 200
            finally:
                centre.actor = signed_in

    @api.errorhandler(Unauthorised)
    def unauthorised(exc: Unauthorised) -> tuple[Response, int]:
        return jsonify(error="session_required", message=exc.message), 401

    @api.post("/api/v1/sessions")
    def sign_in() -> tuple[Response, int]:
        body = request.get_json(silent=True)
        login = body.get("login") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(login, str) or not isinstance(password, str):
            return jsonify(error="invalid_input", message="send {login, password} as JSON"), 400
        with work:
            try:
                member = staff.sign_in(login, password)
            except SignInError as exc:
                centre.audit.append(
                    login[:64], "login_failed", target=login[:64], outcome="refused"
                )
                return jsonify(error="login_failed", message=str(exc)), 401
            centre.audit.append(member.login, "login")
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        sessions[token] = _Session(member, now, now)
        return jsonify(token=token, role=member.role.value, must_change=member.must_change), 201

    @api.delete("/api/v1/sessions")
    def sign_out() -> tuple[Response, int]:
        member = member_of_request()
        header = request.headers.get("Authorization", "")
        sessions.pop(header[7:].strip(), None)
        with work:
            centre.audit.append(member.login, "logout")
        return jsonify(signed_out=member.login), 200

    @api.get("/api/v1/status")
    def status() -> tuple[Response, int]:
        return with_duty(Duty.STATUS, centre.register.counts)

    @api.get("/api/v1/held")
    def held() -> tuple[Response, int]:
        def listed() -> dict[str, Any]:
            rows = centre.register.db.execute(
                "SELECT packet_id, station_id, register, reason, received_at, person_id "
                "FROM packets WHERE state = 'held' ORDER BY received_at"
            ).fetchall()
            centre.audit.append(centre.actor, "held_read", detail={"rows": len(rows)})
            return {"held": rows}

        return with_duty(Duty.REVIEW, listed)

    @api.get("/api/v1/review")
    def review_queue() -> tuple[Response, int]:
        def listed() -> dict[str, Any]:
            rows = waiting(centre)
            centre.audit.append(centre.actor, "review_read", detail={"rows": len(rows)})
            return {"review": rows}

        return with_duty(Duty.REVIEW, listed)

    @api.post("/api/v1/review/<int:person_id>")
    def review_decision(person_id: int) -> tuple[Response, int]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="invalid_input", message="send {decision, reason} as JSON"), 400
        same_as = body.get("same_as")

        def decided() -> dict[str, Any]:
            return decide_review(
                centre,
                person_id,
                str(body.get("decision") or ""),
                str(body.get("reason") or ""),
                same_as if isinstance(same_as, int) else None,
            )

        try:
            return with_duty(Duty.REVIEW, decided)
        except ReviewError as exc:
            return jsonify(error="review_error", message=str(exc)), 409

    @api.get("/api/v1/refusals")
    def refusals() -> tuple[Response, int]:
        def listed() -> dict[str, Any]:
            rows = centre.register.refusals()
            centre.audit.append(centre.actor, "refusals_read", detail={"rows": len(rows)})
            return {"refusals": rows}

        return with_duty(Duty.IMPORT, listed)

    @api.post("/api/v1/audit/verify")
    def audit_verify() -> tuple[Response, int]:
        def checked() -> dict[str, Any]:
            result = centre.audit.verify()
            centre.audit.append(
                centre.actor, "audit_verify", outcome="ok" if result.intact else "broken"
            )
            return result.to_json()

        return with_duty(Duty.AUDIT, checked)

    return api
