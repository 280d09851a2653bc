"""Signing in and out, and changing one's own password."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from station.api.context import current_session, get_station
from station.api.requests import request_fields, text_field
from station.security.sessions import Session
from station.workflows import change_password as change_own_password
from station.workflows import sign_in, sign_out

blueprint = Blueprint("auth", __name__)


def session_json(session: Session) -> dict[str, Any]:
    return {
        "login": session.actor.login,
        "role": session.actor.role.value,
        "must_change_password": session.must_change_password,
        "expires_at": session.expires_at,
    }


@blueprint.post("/auth/login")
def login() -> Response:
    fields = request_fields()
    token, session = sign_in(
        get_station(),
        text_field(fields, "login", 256),
        text_field(fields, "password", 256),
        client=request.remote_addr or "unknown",
    )
    return jsonify({"token": token, **session_json(session)})


@blueprint.post("/auth/logout")
def logout() -> tuple[str, int]:
    sign_out(get_station(), g.token)
    return "", 204


@blueprint.get("/auth/me")
def me() -> Response:
    return jsonify(session_json(current_session()))


@blueprint.post("/auth/password")
def change_password() -> Response:
    fields = request_fields()
    session = change_own_password(
        get_station(),
        g.token,
        text_field(fields, "current_password", 256),
        text_field(fields, "new_password", 256),
        client=request.remote_addr or "unknown",
    )
    return jsonify(session_json(session))
