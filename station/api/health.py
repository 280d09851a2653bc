"""GET /health (public): is the station up, and what does it hold; GET /devices."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.app import get_station
from station.api.security import actor, requires
from station.security.roles import Permission

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health() -> Response:
    return jsonify(get_station().health())


@blueprint.get("/devices")
@requires(Permission.DEVICES)
def devices() -> Response:
    """Open each configured device briefly: is it there and answering?"""
    return jsonify(get_station().check_devices(actor=actor()))
