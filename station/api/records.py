"""Records: enroll (POST /records), read, delete, and 1:1 verify against one record."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.app import get_station
from station.api.requests import probe_pixels, request_fields
from station.records import PersonFields

blueprint = Blueprint("records", __name__)


@blueprint.post("/records")
def enroll() -> tuple[Response, int]:
    station = get_station()
    fields = request_fields()
    person = PersonFields.from_mapping(fields)
    record = station.enroll(probe_pixels(station, fields), person)
    return jsonify(record.to_json()), 201


@blueprint.get("/records/<int:record_id>")
def get_record(record_id: int) -> Response:
    return jsonify(get_station().get_record(record_id).to_json())


@blueprint.delete("/records/<int:record_id>")
def delete_record(record_id: int) -> tuple[str, int]:
    get_station().delete_record(record_id)
    return "", 204


@blueprint.post("/records/<int:record_id>/verify")
def verify(record_id: int) -> Response:
    station = get_station()
    station.get_record(record_id)  # 404 before any image work
    result = station.verify(record_id, probe_pixels(station, request_fields()))
    return jsonify(result.to_json())
