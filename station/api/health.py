"""GET /health: is the station up, and what does it hold."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.app import get_station

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health() -> Response:
    return jsonify(get_station().health())


@blueprint.get("/devices")
def devices() -> Response:
    """Open each configured device briefly: is it there and answering?"""
    return jsonify(get_station().check_devices())
