"""The admin's pages: operator accounts (create, reset, disable, enable, unlock), the devices
(answering or not, and what to do), retention and the purge; and the supervisor's hand-over of
packets for the centre to a USB stick."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from station.api.context import get_station
from station.console import session
from station.console.blueprint import blueprint
from station.console.messages import error_words
from station.errors import StationError
from station.security.roles import LOGIN_ROLES, Permission
from station.workflows import (
    check_devices,
    create_operator,
    list_operators,
    purge_expired,
    reset_password,
    set_operator_disabled,
    unlock_operator,
)
from station.workflows.packets import export_packets, packet_status


@blueprint.route("/admin/operators", methods=["GET", "POST"])
@session.page(Permission.MANAGE_OPERATORS)
def admin_operators() -> Any:
    station = get_station()
    actor = session.visit().actor
    error = None
    one_time: tuple[str, str] | None = None
    if request.method == "POST":
        action = request.form.get("action", "")
        login = request.form.get("login", "")[:64]
        try:
            if action == "create":
                created, password = create_operator(
                    station, login, request.form.get("role", ""), actor
                )
                one_time = (created.login, password or "")
            elif action == "reset":
                one_time = (login.lower(), reset_password(station, login, actor))
            elif action in {"disable", "enable"}:
                set_operator_disabled(station, login, action == "disable", actor)
                flash(_("%(login)s: done.", login=login))
            elif action == "unlock":
                unlock_operator(station, login, actor)
                flash(_("%(login)s is unlocked.", login=login))
        except StationError as exc:
            error = error_words(exc)
    return render_template(
        "admin/operators.html",
        operators=list_operators(station, actor),
        roles=[r.value for r in LOGIN_ROLES],
        one_time=one_time,
        error=error,
    ), (400 if error else 200)


@blueprint.get("/admin/devices")
@session.page(Permission.DEVICES)
def admin_devices() -> str:
    report = check_devices(get_station(), actor=session.visit().actor)
    return render_template("admin/devices.html", report=report)


@blueprint.route("/admin/retention", methods=["GET", "POST"])
@session.page(Permission.PURGE)
def admin_retention() -> Any:
    station = get_station()
    actor = session.visit().actor
    if request.method == "POST":
        if request.form.get("confirm") != "delete":
            flash(_("Tick the box to confirm the deletion first."))
            return redirect(url_for("console.admin_retention"))
        report = purge_expired(station, actor, dry_run=False)
        flash(
            _(
                "%(records)s records and %(receipts)s receipts deleted.",
                records=len(report.purged),
                receipts=report.receipts_purged,
            )
        )
        return redirect(url_for("console.admin_retention"))
    due = purge_expired(station, actor, dry_run=True)
    return render_template(
        "admin/retention.html",
        due=due,
        periods=station.settings.retention_periods,
        receipt_days=station.settings.receipt_retention_days,
    )


@blueprint.route("/handover", methods=["GET", "POST"])
@session.page(Permission.HAND_OVER)
def handover() -> Any:
    """What waits for the centre, and writing it to a folder (the stick's mount point)."""
    station = get_station()
    actor = session.visit().actor
    error = None
    folder = request.form.get("folder", "").strip()[:4096]
    if request.method == "POST":
        if not folder.startswith("/"):
            error = _("Give the folder of the USB stick, for example /media/stick.")
        else:
            try:
                written = export_packets(station, Path(folder), actor)
                flash(
                    _("%(n)s packets written to %(folder)s.", n=len(written.written), folder=folder)
                )
                return redirect(url_for("console.handover"))
            except StationError as exc:
                error = error_words(exc)
    return render_template(
        "admin/handover.html", status=packet_status(station, actor), folder=folder, error=error
    ), (400 if error else 200)


def back() -> BaseResponse:
    return redirect(url_for("console.admin_operators"))
