"""Signing in and out, the forced change of a one-time password, the language, each role's home."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from station.api.context import get_station
from station.console import session
from station.console.blueprint import blueprint
from station.console.common import drafts, owner
from station.console.i18n import LANGUAGE_COOKIE, LANGUAGES
from station.console.messages import error_words
from station.errors import StationError
from station.security.passwords import MIN_LENGTH
from station.security.roles import Role
from station.workflows import change_password, sign_in, sign_out

HOMES = {
    Role.OPERATOR: "console.desk",
    Role.SUPERVISOR: "console.review_holds",
    Role.AUDITOR: "console.audit_log",
    Role.ADMIN: "console.admin_operators",
}


@blueprint.get("/")
def index() -> BaseResponse:
    found = session.current()
    if found is None:
        return redirect(url_for("console.sign_in"))
    return redirect(url_for(HOMES.get(found.actor.role, "console.sign_in")))


@blueprint.route("/sign-in", methods=["GET", "POST"], endpoint="sign_in")
def sign_in_page() -> Any:
    station = get_station()
    error = None
    if g.get("expired") or request.args.get("ended") == "idle":
        error = _("You were signed out after a time without activity: sign in again.")
    language = request.form.get("language") or request.cookies.get(LANGUAGE_COOKIE)
    if request.method == "POST":
        login = request.form.get("login", "")
        if language in LANGUAGES:
            g.language = language
        try:
            token, new = sign_in(
                station,
                login[:256],
                request.form.get("password", "")[:256],
                client=request.remote_addr or "unknown",
            )
        except StationError as exc:
            error = error_words(exc)
        else:
            if language in LANGUAGES:
                station.operators.set_language(new.actor.login, language)
            response = redirect(
                url_for("console.password" if new.must_change_password else "console.index")
            )
            theirs = station.operators.language_of(new.actor.login)
            if theirs in LANGUAGES:  # after they sign out, the sign-in page stays in it
                response.set_cookie(LANGUAGE_COOKIE, theirs, samesite="Strict", httponly=True)
            return session.start(response, token)
    page = render_template(
        "signin.html", error=error, chosen=language if language in LANGUAGES else None
    )
    response = make_response(page, 401 if error and request.method == "POST" else 200)
    if g.get("expired"):
        session.end(response)
    return response


@blueprint.post("/language")
def language() -> BaseResponse:
    """Switch the language: kept in a cookie for this browser, and for a signed-in operator as
    theirs on any computer; back to the page it was chosen on (a path of this site only)."""
    chosen = request.form.get("language", "")
    back = request.form.get("next", "")
    if not (back.startswith("/") and not back.startswith("//") and "\\" not in back):
        back = url_for("console.index")
    response = redirect(back)
    if chosen in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, chosen, samesite="Strict", httponly=True)
        found = session.current()
        if found is not None:
            get_station().operators.set_language(found.actor.login, chosen)
    return response


@blueprint.post("/sign-out", endpoint="sign_out")
def sign_out_page() -> BaseResponse:
    found = session.current()
    response = redirect(url_for("console.sign_in"))
    if found is not None:
        drafts().end_session(owner())
        sign_out(get_station(), found.token)
    return session.end(response)


@blueprint.route("/password", methods=["GET", "POST"])
@session.page()
def password() -> Any:
    found = session.visit()
    error = None
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("repeat_password", ""):
            error = _("The two new passwords differ: type them again.")
        else:
            try:
                change_password(
                    get_station(),
                    found.token,
                    request.form.get("current_password", "")[:256],
                    new[:256],
                    client=request.remote_addr or "unknown",
                )
            except StationError as exc:
                error = error_words(exc)
            else:
                flash(_("Your password is changed."))
                return redirect(url_for("console.index"))
    return render_template(
        "password.html",
        error=error,
        forced=found.session.must_change_password,
        min_length=MIN_LENGTH,
    ), (400 if error else 200)


@blueprint.post("/keepalive")
@session.page()
def keepalive() -> Response:
    """The idle warning's "stay signed in": any request restarts the session's idle timer."""
    return Response(str(session.seconds_left(session.visit())), mimetype="text/plain")
