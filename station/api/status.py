"""GET /health (public): the station is up, nothing more; GET /status (signed in): what it holds
and runs; GET /devices: whether each device answers."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.context import actor, get_station, requires
from station.security.roles import Permission
from station.workflows import check_devices

blueprint = Blueprint("status", __name__)


@blueprint.get("/health")
def health() -> Response:
    """For monitors: answers as long as the station serves requests."""
    return jsonify({"status": "ok"})


@blueprint.get("/status")
def status() -> Response:
    """Record counts, thresholds, galleries and devices (URLs without credentials)."""
    return jsonify(get_station().status())


@blueprint.get("/devices")
@requires(Permission.DEVICES)
def devices() -> Response:
    """Open each configured device briefly: is it there and answering?"""
    return jsonify(check_devices(get_station(), actor=actor()))
