"""The one page anyone may open without an operator's session: a citizen checks a receipt's
status with its number and code, and learns the decision and its date, nothing else."""

from __future__ import annotations

from typing import Any

from flask import render_template, request

from station.api.context import get_station
from station.console.blueprint import blueprint
from station.console.messages import DECISIONS, error_words
from station.errors import StationError
from station.security.roles import Actor, Role
from station.security.throttle import SignInThrottle

# The receipt check acts as this account in the audit trail (a citizen has no login).
PUBLIC = Actor("public", Role.PUBLIC)
_throttle = SignInThrottle(max_in_flight=2, max_failures=20, window=600)


@blueprint.route("/status-check", methods=["GET", "POST"], endpoint="status_check")
def status_check() -> Any:
    from station.workflows import application_status

    answer = error = None
    if request.method == "POST":
        client = request.remote_addr or "unknown"
        try:
            with _throttle.attempt(client):
                try:
                    found = application_status(
                        get_station(),
                        request.form.get("number", "")[:40],
                        request.form.get("code", "")[:40],
                        actor=PUBLIC,
                    )
                except StationError:
                    _throttle.failed(client)
                    raise
        except StationError as exc:
            error = error_words(exc)
        else:
            answer = {**found, "words": DECISIONS.get(found["decision"], found["decision"])}
    status = 404 if error and request.method == "POST" else 200
    return render_template("status_check.html", answer=answer, error=error), status
