"""Operator accounts, for admins: list, create, reset a password, unlock, disable, enable, and
record an operator's own ID document."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.context import actor, get_station, requires
from station.api.requests import request_fields, text_field
from station.errors import InvalidInputError
from station.security.roles import Permission
from station.workflows import (
    create_operator,
    list_operators,
    reset_password,
    set_operator_disabled,
    set_operator_document,
    unlock_operator,
)

blueprint = Blueprint("operators", __name__)


@blueprint.get("/operators")
@requires(Permission.MANAGE_OPERATORS)
def listing() -> Response:
    return jsonify({"operators": [o.to_json() for o in list_operators(get_station(), actor())]})


@blueprint.post("/operators")
@requires(Permission.MANAGE_OPERATORS)
def create() -> tuple[Response, int]:
    """``{"login", "role"}``: the answer carries a one-time password to hand over."""
    fields = request_fields()
    operator, password = create_operator(
        get_station(), text_field(fields, "login", 64), text_field(fields, "role", 20), actor()
    )
    return jsonify({**operator.to_json(), "one_time_password": password}), 201


@blueprint.post("/operators/<login>/reset-password")
@requires(Permission.MANAGE_OPERATORS)
def reset(login: str) -> Response:
    password = reset_password(get_station(), login, actor())
    return jsonify({"login": login.lower(), "one_time_password": password})


@blueprint.post("/operators/<login>/unlock")
@requires(Permission.UNLOCK_OPERATORS)
def unlock(login: str) -> Response:
    return jsonify(unlock_operator(get_station(), login, actor()).to_json())


@blueprint.post("/operators/<login>/disable")
@requires(Permission.MANAGE_OPERATORS)
def disable(login: str) -> Response:
    return jsonify(set_operator_disabled(get_station(), login, True, actor()).to_json())


@blueprint.post("/operators/<login>/enable")
@requires(Permission.MANAGE_OPERATORS)
def enable(login: str) -> Response:
    return jsonify(set_operator_disabled(get_station(), login, False, actor()).to_json())


@blueprint.post("/operators/<login>/document")
@requires(Permission.MANAGE_OPERATORS)
def document(login: str) -> Response:
    """``{"document_number": "..."}`` (null forgets it): the operator's own ID document, kept as
    a keyed hash, so they cannot enroll or verify themselves."""
    body = request_fields()
    number = body.get("document_number")
    if number is not None and not isinstance(number, str):
        raise InvalidInputError("document_number is text or null", field="document_number")
    set_operator_document(get_station(), login, number, actor())
    return jsonify({"login": login.lower(), "document": number is not None})
