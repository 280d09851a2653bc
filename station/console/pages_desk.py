"""The operator's desk: enrollment (consent, card, face, fingers, preview, save, acknowledgment),
verification at intake (card, face, finger, decision, receipt) and identification without a card.

Each job collects its inputs step by step in a draft (:mod:`station.console.drafts`), then calls
its one workflow function. The camera runs only while the face step is on screen (and closes by
itself after a short time without frames); the scanner only while a finger is being scanned.
"""

from __future__ import annotations

from typing import Any

from flask import Response, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from drivers.errors import DriverError
from drivers.idcard import ChipDocument
from matcher.errors import MatcherError
from station.api.context import get_station
from station.console import session
from station.console.blueprint import blueprint
from station.console.common import (
    draft_of,
    drafts,
    finished_draft,
    image_response,
    jpeg_of,
    owner,
    png_of,
)
from station.console.drafts import Draft, Finger
from station.console.messages import (
    LIVENESS,
    LIVENESS_ASK,
    MRZ_OUTCOMES,
    QUALITY,
    FormError,
    error_words,
)
from station.devices import LiveFrame
from station.errors import StationError
from station.records import PersonFields
from station.security.roles import Permission
from station.workflows import (
    CardInput,
    DocumentInput,
    FaceInput,
    FingerInput,
    enroll,
    finger_template,
    identify,
    read_card_mrz,
    verify_at_intake,
)
from station.workflows.inputs import EXCEPTION_REASONS, card_fields
from station.workflows.liveness import audit_liveness, challenge_checker
from station.workflows.scoring import shows_identities

# The order fingers are asked for: both index fingers, then middles, thumbs, rings, littles.
FINGER_ORDER = (2, 7, 3, 8, 1, 6, 4, 9, 5, 10)
STEPS = ("consent", "card", "face", "fingers", "preview")


def wanted_fingers() -> list[int]:
    """The positions an enrollment asks for: enough for the station's minimum (two at least
    where there is a scanner)."""
    station = get_station()
    if station.devices.scanner is None and station.settings.enroll_min_fingers == 0:
        return []
    return list(FINGER_ORDER[: max(2, station.settings.enroll_min_fingers)])


def purposes() -> list[str]:
    return sorted(get_station().settings.retention_periods)


@blueprint.get("/desk")
@session.page(Permission.ENROLL)
def desk() -> str:
    return render_template("desk.html")


# -- enrollment ---------------------------------------------------------------------------------


@blueprint.post("/desk/enroll")
@session.page(Permission.ENROLL)
def enroll_start() -> BaseResponse:
    draft = drafts().new("enroll", owner())
    draft.purpose = get_station().settings.default_purpose
    return redirect(url_for("console.enroll_step", draft_id=draft.id, step="consent"))


@blueprint.route("/desk/enroll/<draft_id>/<step>", methods=["GET", "POST"])
@session.page(Permission.ENROLL)
def enroll_step(draft_id: str, step: str) -> Any:
    draft = draft_of(draft_id, "enroll")
    if step not in STEPS:
        abort(404)
    if draft.result is not None:
        return redirect(url_for("console.enroll_result", draft_id=draft.id))
    if step != "face":
        draft.close_camera()
    error: str | None = None
    detail: str | None = None
    if request.method == "POST":
        try:
            moved = STEP_POSTS[step](draft)
        except (StationError, DriverError, MatcherError) as exc:
            error, detail = error_words(exc), getattr(exc, "detail", None)
            draft.error = str(exc)
        else:
            if moved is not None:
                return moved
    return render_template(
        f"enroll/{step}.html",
        draft=draft,
        step=step,
        steps=STEPS,
        error=error,
        error_detail=detail,
        camera=get_station().devices.camera is not None,
        purposes=purposes(),
        wanted=wanted_fingers(),
        attempts_allowed=get_station().settings.finger_attempts,
        exception_reasons=reasons_open,
        person=_person_of(draft),
    ), (422 if error else 200)


def _person_of(draft: Draft) -> dict[str, Any] | None:
    if draft.card is not None:
        return card_fields(draft.card).__dict__
    return draft.fields or None


def _next(draft: Draft, step: str) -> BaseResponse:
    return redirect(url_for("console.enroll_step", draft_id=draft.id, step=step))


def _post_consent(draft: Draft) -> BaseResponse | None:
    if request.form.get("consent") != "yes":
        raise FormError(_("Read the notice to the person; they must agree."), "consent")
    draft.consent = True
    draft.purpose = get_station().purpose(request.form.get("purpose"))
    return _next(draft, "card")


class MRZRefusedError(FormError):
    """The camera's photo of the card gave no valid MRZ: what to do in the operator's words,
    the reader's reason beneath."""

    def __init__(self, outcome: str, reason: str) -> None:
        self.detail = reason
        super().__init__(str(MRZ_OUTCOMES.get(outcome, MRZ_OUTCOMES["unreliable"])), "mrz")


def card_from_camera(draft: Draft) -> ChipDocument:
    """The card held up to the camera: its MRZ read from one frame, then its chip read with it
    as if the operator had typed it. Refused, the operator types it."""
    station = get_station()
    draft.close_camera()  # a face preview may hold the camera (the intake page)
    reading = read_card_mrz(station, DocumentInput(capture=True), actor=session.visit().actor)
    if not reading.valid:
        raise MRZRefusedError(reading.outcome, reading.message)
    draft.mrz = reading.text
    return CardInput(mrz=reading.text).acquire(station)


def card_from_typed(draft: Draft) -> ChipDocument:
    """The card's chip read with the MRZ the operator typed."""
    draft.mrz = request.form.get("mrz", "").strip()
    card = CardInput(mrz=draft.mrz)
    card.check()
    return card.acquire(get_station())


def _post_card(draft: Draft) -> BaseResponse | None:
    action = request.form.get("action")
    if action in ("read", "camera"):
        draft.card = card_from_camera(draft) if action == "camera" else card_from_typed(draft)
        draft.fields = {}
        return None  # show the card, then continue
    if action == "typed":
        typed = {
            key: request.form.get(key) or None
            for key in ("name", "document_number", "nationality", "birth_date", "sex")
        }
        PersonFields.from_mapping(typed)  # refused here, with the field, if wrong
        draft.fields = {k: v for k, v in typed.items() if v}
        draft.card = None
        return _next(draft, "face")
    if action == "continue" and (draft.card is not None or draft.fields):
        return _next(draft, "face")
    raise FormError(_("Read the card, or type the person's details."), "card")


def _post_face(draft: Draft) -> BaseResponse | None:
    if draft.face is None:
        raise FormError(_("Take the photo first: start the camera."), "face")
    draft.close_camera()
    return _next(draft, "fingers" if wanted_fingers() else "preview")


def _post_fingers(draft: Draft) -> BaseResponse | None:
    position = int(request.form.get("position", "0") or 0)
    action = request.form.get("action")
    if action == "done":
        missing = [
            p for p in wanted_fingers() if p not in draft.fingers and p not in draft.exceptions
        ]
        if missing:
            raise FormError(_("Take every finger asked for, or mark it as an exception."))
        return _next(draft, "preview")
    if position not in wanted_fingers():
        abort(400)
    if action == "scan":
        draft.exceptions.pop(position, None)
        try:
            draft.fingers[position] = scan_one(position)
        except (StationError, DriverError, MatcherError):
            draft.attempts[position] = draft.attempts.get(position, 0) + 1
            raise
        return None
    if action == "exception":
        reason = request.form.get("reason", "")
        if reason not in EXCEPTION_REASONS:
            raise FormError(_("Say why the finger cannot be taken."), "reason")
        if reason not in reasons_open(draft, position):
            raise FormError(
                _("Try the scanner first: a finger is unreadable only after the tries.")
            )
        draft.fingers.pop(position, None)
        draft.exceptions[position] = reason
        return None
    abort(400)


def _post_preview(draft: Draft) -> BaseResponse | None:
    station = get_station()
    if not draft.consent or draft.face is None:
        return _next(draft, "consent" if not draft.consent else "face")
    visit = session.visit()
    fields = PersonFields.from_mapping(draft.fields) if draft.fields else None
    draft.result = enroll(
        station,
        FaceInput.of(draft.face),
        FingerInput(images=draft.finger_images(), exceptions=dict(draft.exceptions)),
        fields=fields,
        card=CardInput.of(draft.card) if draft.card is not None else None,
        consent=True,
        purpose=draft.purpose,
        actor=visit.actor,
    )
    return redirect(url_for("console.enroll_result", draft_id=draft.id))


def reasons_open(draft: Draft, position: int) -> list[str]:
    """The exceptions the operator may mark now: a missing, injured or bandaged finger at once
    (a scan could not help), an unreadable one only after the allowed failed scans."""
    tried = draft.attempts.get(position, 0) >= get_station().settings.finger_attempts
    return [r for r in EXCEPTION_REASONS if r != "unreadable" or tried]


STEP_POSTS = {
    "consent": _post_consent,
    "card": _post_card,
    "face": _post_face,
    "fingers": _post_fingers,
    "preview": _post_preview,
}


def scan_one(position: int) -> Finger:
    """One finger from the scanner, its template and a picture of the print to show."""
    station = get_station()
    scanned = station.devices.scan_finger(position)
    template = finger_template(station, position, scanned.pixels, scanned.dpi)
    return Finger(template, png_of(scanned.pixels), scanned.pixels, scanned.dpi)


@blueprint.get("/desk/enroll/<draft_id>/result")
@session.page(Permission.ENROLL)
def enroll_result(draft_id: str) -> str:
    draft = finished_draft(draft_id, "enroll")
    return render_template("enroll/result.html", draft=draft, result=draft.result)


@blueprint.get("/desk/enroll/<draft_id>/acknowledgment")
@session.page(Permission.ENROLL)
def enroll_acknowledgment(draft_id: str) -> str:
    draft = finished_draft(draft_id, "enroll")
    from station.console.printing import qr_svg

    record = draft.result.record
    return render_template(
        "print/acknowledgment.html",
        draft=draft,
        record=record,
        qr=qr_svg(f"REC-{record.id}"),
        station_id=get_station().settings.station_id,
    )


# -- the camera, for any job's face step ----------------------------------------------------------


@blueprint.post("/desk/<draft_id>/camera/start")
@session.page(Permission.ENROLL)
def camera_start(draft_id: str) -> Response:
    draft = _any_draft(draft_id)
    draft.close_camera()
    draft.face = None
    try:
        station = get_station()
        checker = challenge_checker(station) if station.settings.liveness == "challenge" else None
        draft.live = station.devices.live_capture(
            station.quality, idle_seconds=station.settings.camera_idle_seconds, checker=checker
        )
    except (StationError, DriverError) as exc:
        return jsonify({"ok": False, "message": error_words(exc)})
    return jsonify({"ok": True})


@blueprint.post("/desk/<draft_id>/camera/frame")
@session.page(Permission.ENROLL)
def camera_frame(draft_id: str) -> Response:
    """The next frame: its hints in words, and whether it passed (the camera then closes)."""
    draft = _any_draft(draft_id)
    if draft.live is None or draft.live.closed:
        return jsonify({"ok": False, "stopped": True, "message": _("The camera is off.")})
    try:
        frame = draft.live.next()
    except (StationError, DriverError) as exc:
        draft.close_camera()
        return jsonify({"ok": False, "stopped": True, "message": error_words(exc)})
    draft.preview = frame.preview
    if frame.challenge is not None:
        return _challenge_frame(draft, frame)
    codes = frame.report.reason_codes if frame.report is not None else []
    hints = [str(QUALITY.get(code, code)) for code in codes]
    if frame.accepted:
        draft.face = frame.portrait
        draft.live = None
    return jsonify({"ok": True, "accepted": frame.accepted, "hints": hints})


def _challenge_frame(draft: Draft, frame: LiveFrame) -> Response:
    """A frame of the liveness challenge: what to ask while it runs; once decided, the audited
    verdict, and the portrait when it passed."""
    assert frame.challenge is not None
    if frame.liveness is None:
        return jsonify(
            {"ok": True, "accepted": False, "hints": [str(LIVENESS_ASK[frame.challenge.action])]}
        )
    draft.live = None
    audit_liveness(get_station(), session.visit().actor, frame.liveness)
    if frame.accepted:
        draft.face = frame.portrait
        return jsonify({"ok": True, "accepted": True, "hints": []})
    code = frame.liveness.verdict.code
    words = LIVENESS.get(code, LIVENESS["no_portrait"])
    codes = frame.report.reason_codes if frame.report is not None else []
    hints = [str(QUALITY.get(c, c)) for c in codes]
    message = " ".join([str(words), *hints])
    return jsonify({"ok": False, "stopped": True, "message": message})


@blueprint.post("/desk/<draft_id>/camera/stop")
@session.page(Permission.ENROLL)
def camera_stop(draft_id: str) -> Response:
    _any_draft(draft_id).close_camera()
    return jsonify({"ok": True})


def _any_draft(draft_id: str) -> Draft:
    for kind in ("enroll", "intake", "identify"):
        found = drafts().get(draft_id, owner(), kind)
        if found is not None:
            return found
    abort(404)


@blueprint.get("/desk/<draft_id>/image/<kind>")
@session.page(Permission.ENROLL)
def draft_image(draft_id: str, kind: str) -> Response:
    """A picture from this operator's own draft: the live frame, the face, the card's photo, a
    print."""
    draft = _any_draft(draft_id)
    if kind == "frame" and draft.preview is not None:
        return image_response(draft.preview, "image/jpeg")
    if kind == "face" and draft.face is not None:
        return image_response(jpeg_of(draft.face), "image/jpeg")
    if kind == "card" and draft.card is not None:
        return image_response(jpeg_of(draft.card.photo), "image/jpeg")
    if kind.startswith("finger_") and kind[7:].isdigit():
        finger = draft.fingers.get(int(kind[7:]))
        if finger is not None:
            return image_response(finger.preview, "image/png")
    abort(404)


# -- verification at intake -------------------------------------------------------------------


@blueprint.post("/desk/intake")
@session.page(Permission.VERIFY)
def intake_start() -> BaseResponse:
    draft = drafts().new("intake", owner())
    return redirect(url_for("console.intake", draft_id=draft.id))


@blueprint.route("/desk/intake/<draft_id>", methods=["GET", "POST"])
@session.page(Permission.VERIFY)
def intake(draft_id: str) -> Any:
    draft = draft_of(draft_id, "intake")
    error = detail = None
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "read":
                draft.card = card_from_typed(draft)
            elif action == "camera":
                draft.card = card_from_camera(draft)
            elif action == "scan":
                draft.fingers = {2: scan_one(2)}
            elif action == "decide":
                return _decide_intake(draft)
        except (StationError, DriverError, MatcherError) as exc:
            error, detail = error_words(exc), getattr(exc, "detail", None)
    return render_template(
        "intake/intake.html",
        draft=draft,
        error=error,
        error_detail=detail,
        camera=get_station().devices.camera is not None,
    ), (422 if error else 200)


def _decide_intake(draft: Draft) -> BaseResponse:
    if draft.card is None or draft.face is None or not draft.fingers:
        raise FormError(_("Read the card, take the photo and scan a finger first."))
    draft.close_camera()
    draft.result = verify_at_intake(
        get_station(),
        CardInput.of(draft.card),
        FaceInput.of(draft.face),
        FingerInput(images=draft.finger_images()),
        actor=session.visit().actor,
    )
    return redirect(url_for("console.intake_result", draft_id=draft.id))


@blueprint.get("/desk/intake/<draft_id>/result")
@session.page(Permission.VERIFY)
def intake_result(draft_id: str) -> str:
    draft = finished_draft(draft_id, "intake")
    return render_template("intake/result.html", draft=draft, result=draft.result)


@blueprint.get("/desk/intake/<draft_id>/receipt")
@session.page(Permission.VERIFY)
def intake_receipt(draft_id: str) -> str:
    draft = finished_draft(draft_id, "intake")
    from station.console.printing import qr_svg

    return render_template(
        "print/receipt.html",
        result=draft.result,
        qr=qr_svg(draft.result.application_number),
        station_id=get_station().settings.station_id,
        status_url=url_for("console.status_check", _external=True),
    )


# -- identification without a card --------------------------------------------------------------


@blueprint.post("/desk/identify")
@session.page(Permission.IDENTIFY)
def identify_start() -> BaseResponse:
    draft = drafts().new("identify", owner())
    return redirect(url_for("console.identify_page", draft_id=draft.id))


@blueprint.route("/desk/identify/<draft_id>", methods=["GET", "POST"], endpoint="identify_page")
@session.page(Permission.IDENTIFY)
def identify_view(draft_id: str) -> Any:
    draft = draft_of(draft_id, "identify")
    error = None
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "scan":
                position = int(request.form.get("position", "2"))
                if position not in FINGER_ORDER:
                    abort(400)
                draft.fingers[position] = scan_one(position)
            elif action == "search":
                draft.close_camera()
                visit = session.visit()
                found = identify(
                    get_station(),
                    FaceInput.of(draft.face) if draft.face is not None else None,
                    FingerInput(images=draft.finger_images()),
                    actor=visit.actor,
                )
                draft.result = found.to_json(visit.actor)
        except (StationError, DriverError, MatcherError) as exc:
            error = error_words(exc)
    return render_template(
        "identify.html",
        draft=draft,
        error=error,
        names=shows_identities(session.visit().actor),
        order=FINGER_ORDER[:2],
    ), (422 if error else 200)
