"""Precinct rolls from the centre: import one (the body is the roll file's bytes), list those
held. The same workflow as ``station roll import`` (:mod:`station.workflows.rolls`)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from station.api.context import actor, get_station, requires
from station.errors import InvalidInputError
from station.security.roles import Permission
from station.workflows.rolls import receive_roll, roll_status

blueprint = Blueprint("rolls", __name__)
ROLL_MEDIA_TYPES = ("application/octet-stream", "application/jose")


@blueprint.post("/rolls")
@requires(Permission.HAND_OVER)
def import_roll() -> tuple[Response, int]:
    """The roll file as the body (``application/octet-stream``, up to ``max_upload_bytes``):
    201 when it was imported or replaced an older version, 200 when it was already held."""
    if request.mimetype not in ROLL_MEDIA_TYPES:
        raise InvalidInputError(
            f"send the roll file's bytes as the body, Content-Type {ROLL_MEDIA_TYPES[0]}",
            field="body",
        )
    data = request.get_data(cache=False)
    if not data:
        raise InvalidInputError("the body is empty: send the roll file's bytes", field="body")
    done = receive_roll(get_station(), data, actor())
    return jsonify(done.to_json()), 200 if done.outcome == "already_held" else 201


@blueprint.get("/rolls")
@requires(Permission.HAND_OVER)
def rolls() -> Response:
    """The rolls held: precinct, version, voters, valid_until."""
    return jsonify(roll_status(get_station(), actor()))
