"""The supervisor's pages: the queue of held enrollments with the new capture and each candidate
side by side, the decision with a reason (approving biometric exceptions is accepting such a
hold); a record's page with corrections and their history, blocking and unblocking with a reason,
and the subject access export as a download."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from station.api.context import get_station
from station.console import session
from station.console.blueprint import blueprint
from station.console.common import image_response
from station.console.messages import HOLD_REASONS, FormError, error_words
from station.errors import StationError
from station.records import SPECIAL_FIELDS
from station.security.roles import Permission
from station.workflows import (
    correct_record,
    decide_hold,
    export_record,
    list_holds,
    record_history,
    render_text,
    set_blocked,
    view_record,
)

EDITABLE = ("name", "document_type", "document_number", "nationality", "birth_date", "sex")
PHOTO_KINDS = ("portrait", "document", *(f"finger_{n}" for n in range(1, 11)))


def photos_of(record_id: int) -> list[str]:
    """The kinds of picture a record holds, in the order a page shows them."""
    held = {kind for kind, _media, _image, _at in get_station().storage.photos_of(record_id)}
    return [kind for kind in PHOTO_KINDS if kind in held]


@blueprint.get("/review/holds")
@session.page(Permission.DECIDE)
def review_holds() -> str:
    visit = session.visit()
    holds = list_holds(get_station(), actor=visit.actor)
    return render_template("review/holds.html", holds=holds, reasons=HOLD_REASONS)


@blueprint.route("/review/holds/<int:record_id>", methods=["GET", "POST"])
@session.page(Permission.DECIDE)
def review_hold(record_id: int) -> Any:
    station = get_station()
    visit = session.visit()
    error = None
    if request.method == "POST":
        try:
            decided = decide_hold(
                station,
                record_id,
                request.form.get("decision", ""),
                request.form.get("reason", ""),
                actor=visit.actor,
            )
        except StationError as exc:
            error = error_words(exc)
        else:
            flash(
                _("Record %(id)s: %(status)s", id=record_id, status=decided.status.value)
                if decided is not None
                else _("Record %(id)s was deleted as a duplicate.", id=record_id)
            )
            return redirect(url_for("console.review_holds"))
    hold = station.storage.get_hold(record_id)
    if hold is None:
        abort(404)
    record = view_record(station, record_id, actor=visit.actor)
    candidates = []
    for candidate in hold.get("candidates", []):
        other = view_record(station, candidate["record_id"], actor=visit.actor)
        candidates.append({"score": candidate, "record": other, "photos": photos_of(other.id)})
    for other_id in hold.get("same_document", []):
        if other_id not in {c["record"].id for c in candidates}:
            other = view_record(station, other_id, actor=visit.actor)
            candidates.append({"score": None, "record": other, "photos": photos_of(other.id)})
    return render_template(
        "review/hold.html",
        record=record,
        hold=hold,
        photos=photos_of(record_id),
        candidates=candidates,
        reasons=HOLD_REASONS,
        exceptions=station.storage.finger_exceptions(record_id),
        error=error,
    ), (400 if error else 200)


@blueprint.route("/review/records", methods=["GET", "POST"])
@session.page(Permission.VIEW)
def review_find() -> Any:
    """Open a record by its number (a POST: the number never sits in a URL's query)."""
    if request.method == "POST":
        number = request.form.get("record_id", "").strip()
        if number.isascii() and number.isdigit() and 0 < len(number) < 19:
            return redirect(url_for("console.review_record", record_id=int(number)))
        flash(_("A record number is a whole number, as on the acknowledgment."))
    return render_template("review/find.html")


@blueprint.route("/review/records/<int:record_id>", methods=["GET", "POST"])
@session.page(Permission.VIEW)
def review_record(record_id: int) -> Any:
    station = get_station()
    visit = session.visit()
    error = None
    if request.method == "POST":
        action = request.form.get("action")
        reason = request.form.get("reason", "")
        try:
            if action == "correct":
                changes = {
                    key: request.form.get(key) or None
                    for key in (*EDITABLE, *SPECIAL_FIELDS)
                    if key in request.form
                }
                current = station.storage.get_record(record_id).fields
                changes = {k: v for k, v in changes.items() if getattr(current, k) != v}
                if not changes:
                    raise FormError(_("Change a field before saving."))
                correct_record(station, record_id, changes, reason, actor=visit.actor)
                flash(_("The record is corrected; the old version is kept in its history."))
            elif action in {"block", "unblock"}:
                set_blocked(station, record_id, action == "block", reason, actor=visit.actor)
                flash(_("Blocked.") if action == "block" else _("Unblocked."))
            else:
                abort(400)
        except StationError as exc:
            error = error_words(exc)
        else:
            return redirect(url_for("console.review_record", record_id=record_id))
    record = view_record(station, record_id, actor=visit.actor)
    history = record_history(station, record_id, actor=visit.actor)
    return render_template(
        "review/record.html",
        record=record,
        history=history,
        photos=photos_of(record_id),
        editable=EDITABLE,
        special=SPECIAL_FIELDS,
        exceptions=station.storage.finger_exceptions(record_id),
        error=error,
    ), (400 if error else 200)


@blueprint.get("/review/records/<int:record_id>/image/<kind>")
@session.page(Permission.VIEW)
def record_image(record_id: int, kind: str) -> Response:
    if kind not in PHOTO_KINDS:
        abort(404)
    found = get_station().storage.photo(record_id, kind)
    if found is None:
        abort(404)
    return image_response(found[1], found[0])


@blueprint.post("/review/records/<int:record_id>/export")
@session.page(Permission.EXPORT)
def record_export(record_id: int) -> Response:
    """Everything held about the person, as a download (JSON, or text for the person)."""
    data = export_record(get_station(), record_id, actor=session.visit().actor)
    if request.form.get("format") == "text":
        response = Response(render_text(data), mimetype="text/plain")
        name = f"record-{record_id}.txt"
    else:
        response = Response(
            json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json"
        )
        name = f"record-{record_id}.json"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def back_to_record(record_id: int) -> BaseResponse:
    return redirect(url_for("console.review_record", record_id=record_id))
