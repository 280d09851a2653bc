"""Simulation mode only (`station serve --sim`): the tester says which simulated citizen stands
at the station, with or without their ID card; the camera, scanner and card reader then show that
citizen. On a station with real devices these pages do not exist (404)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from station.api.context import get_station
from station.console import session
from station.console.blueprint import blueprint
from station.console.messages import error_words
from station.errors import StationError
from station.simulation import SimulatedDesk


def simulated_desk() -> SimulatedDesk | None:
    """The desk of a station in simulation mode, else None."""
    desk = get_station().devices.desk
    return desk if isinstance(desk, SimulatedDesk) else None


def _desk() -> SimulatedDesk:
    desk = simulated_desk()
    if desk is None:
        abort(404)
    return desk


@blueprint.route("/simulation", methods=["GET", "POST"])
@session.page()
def simulation() -> Any:
    desk = _desk()
    if request.method == "POST":
        chosen = request.form.get("citizen") or None
        try:
            found = desk.present(chosen, card=request.form.get("card") != "no")
        except StationError as exc:
            flash(error_words(exc))
        else:
            flash(
                _("%(name)s (%(id)s) now stands at the station.", name=found.name, id=found.id)
                if found is not None
                else _("Nobody stands at the station.")
            )
        back = request.form.get("next", "")
        if back.startswith("/") and not back.startswith("//") and "\\" not in back:
            return redirect(back)
        return redirect(url_for("console.simulation"))
    return render_template("simulation.html", desk=desk)


@blueprint.get("/simulation/citizens/<citizen_id>/photo")
@session.page()
def simulated_citizen_photo(citizen_id: str) -> BaseResponse:
    """The photo on a simulated citizen's card, to tell them apart on the page."""
    desk = _desk()
    try:
        citizen = desk.population[citizen_id]
    except StationError:
        abort(404)
    response = send_file(citizen.chip_photo, mimetype="image/jpeg", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
