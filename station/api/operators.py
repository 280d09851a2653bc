"""Operator accounts, for admins: list, create, reset a password, unlock, disable, enable."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.app import get_station
from station.api.requests import request_fields, text_field
from station.api.security import actor, requires
from station.security.roles import Permission

blueprint = Blueprint("operators", __name__)


@blueprint.get("/operators")
@requires(Permission.MANAGE_OPERATORS)
def list_operators() -> Response:
    operators = get_station().operators.list(actor())
    return jsonify({"operators": [o.to_json() for o in operators]})


@blueprint.post("/operators")
@requires(Permission.MANAGE_OPERATORS)
def create() -> tuple[Response, int]:
    """``{"login", "role"}``: the answer carries a one-time password to hand over."""
    station = get_station()
    fields = request_fields()
    operator, password = station.operators.create(
        actor(), text_field(fields, "login", 64), text_field(fields, "role", 20)
    )
    return jsonify({**operator.to_json(), "one_time_password": password}), 201


@blueprint.post("/operators/<login>/reset-password")
@requires(Permission.MANAGE_OPERATORS)
def reset_password(login: str) -> Response:
    station = get_station()
    password = station.operators.reset_password(actor(), login)
    station.sessions.end_all(login.lower())
    return jsonify({"login": login.lower(), "one_time_password": password})


@blueprint.post("/operators/<login>/unlock")
@requires(Permission.UNLOCK_OPERATORS)
def unlock(login: str) -> Response:
    station = get_station()
    station.operators.unlock(actor(), login)
    return jsonify(station.operators.get(login).to_json())


@blueprint.post("/operators/<login>/disable")
@requires(Permission.MANAGE_OPERATORS)
def disable(login: str) -> Response:
    station = get_station()
    station.operators.set_disabled(actor(), login, True)
    station.sessions.end_all(login.lower())
    return jsonify(station.operators.get(login).to_json())


@blueprint.post("/operators/<login>/enable")
@requires(Permission.MANAGE_OPERATORS)
def enable(login: str) -> Response:
    station = get_station()
    station.operators.set_disabled(actor(), login, False)
    return jsonify(station.operators.get(login).to_json())
