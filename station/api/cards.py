"""POST /cards/mrz: an ID card's machine-readable zone read from a photo of it (an upload, or
the station's camera), for the chip's access key; then send it as ``mrz`` to ``/enrollments``
or ``/applications``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from station.api.context import actor, get_station, requires
from station.api.requests import flag_field, read_upload, request_fields
from station.security.roles import Permission
from station.workflows import DocumentInput, read_card_mrz

blueprint = Blueprint("cards", __name__)


@blueprint.post("/cards/mrz")
@requires(Permission.READ_CARD)
def card_mrz() -> Response:
    """``image`` (a photo of the card) or ``capture=true``: the reading, valid or not (then
    with the reason and what to do)."""
    fields = request_fields()
    document = DocumentInput(upload=read_upload("image"), capture=flag_field(fields, "capture"))
    return jsonify(read_card_mrz(get_station(), document, actor=actor()).to_dict())
