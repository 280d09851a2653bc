"""GET /health (public): the station is up, nothing more; GET /status (signed in): what it
holds and runs; GET /devices: whether each device answers."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.app import get_station
from station.api.security import actor, requires
from station.security.roles import Permission

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health() -> Response:
    """For monitors and load balancers: answers as long as the station serves requests."""
    return jsonify({"status": "ok"})


@blueprint.get("/status")
def status() -> Response:
    """Record counts, thresholds, galleries and devices (URLs without credentials)."""
    return jsonify(get_station().health())


@blueprint.get("/devices")
@requires(Permission.DEVICES)
def devices() -> Response:
    """Open each configured device briefly: is it there and answering?"""
    return jsonify(get_station().check_devices(actor=actor()))
