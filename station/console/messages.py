"""What the console says in the operator's language: the workflows' errors by their stable code,
the capture quality reasons, finger names, decisions and reasons of an intake."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from station.errors import InvalidInputError, StationError


class FormError(InvalidInputError):
    """What the console itself asks of the operator (a step left out), already in their
    language."""


# The station's errors as the person at the desk reads them; the English message of the workflow
# (with its figures) is shown beneath in smaller print.
ERRORS = {
    "invalid_input": _l("Something in the form is missing or not right: check the field named."),
    "image_required": _l("Take a photo with the camera first."),
    "empty_image": _l("The photo is empty: take it again."),
    "invalid_image": _l("The photo could not be read: take it again."),
    "image_too_large": _l("The picture is too large: use a smaller one."),
    "no_face": _l("No face found: the person should face the camera, close and well lit."),
    "multiple_faces": _l("Only the person being served may be in front of the camera."),
    "capture_refused": _l("No photo was good enough in time: follow the hints and try again."),
    "liveness_failed": _l("The liveness check failed: start the camera again and ask again."),
    "finger_refused": _l("The print is not good enough: place the finger again, flat and dry."),
    "poor_fingerprint_image": _l(
        "The scanner could not read the print: clean the glass, place the finger flat."
    ),
    "no_finger": _l("No finger on the scanner: ask the person to place the finger, then scan."),
    "finger_not_removed": _l("Ask the person to lift the finger from the scanner."),
    "card_absent": _l("No card on the reader: place the ID card on the reader."),
    "card_removed": _l("The card was moved during the read: leave it on the reader, try again."),
    "card_access_denied": _l(
        "The card does not open with this MRZ: check the three lines typed, or read them again."
    ),
    "no_camera": _l("This station has no camera: ask a technician."),
    "no_scanner": _l("This station has no fingerprint scanner: ask a technician."),
    "no_card_reader": _l("This station has no card reader: type the person's details instead."),
    "self_enrollment": _l("This is your own document: another operator must serve this person."),
    "record_blocked": _l("The record is blocked while under dispute."),
    "record_not_found": _l("There is no record with this number."),
    "application_not_found": _l(
        "No application with this number and code: check both on the receipt."
    ),
    "not_held": _l("This enrollment is not waiting for a decision."),
    "permission_denied": _l("Your role may not do this."),
    "login_failed": _l(
        "Wrong login or password. After several wrong passwords the account is locked for a "
        "while on this computer: wait, or ask a supervisor."
    ),
    "account_disabled": _l("This account is disabled: ask an admin."),
    "too_many_attempts": _l("Too many attempts from this computer: wait a minute, then try again."),
    "session_expired": _l("You were signed out after a time without activity: sign in again."),
    "station_busy": _l("The station is busy: wait a few seconds, then try again."),
    "stale_form": _l("This form is out of date: reload the page and try again."),
    "device_not_found": _l("A device does not answer: check its cable, or ask a technician."),
    "device_timeout": _l("A device stopped answering: check its cable, or ask a technician."),
    "scanner_timeout": _l("The scanner stopped answering: check its cable."),
    "camera_error": _l("The camera failed: check its cable, or ask a technician."),
    "card_error": _l("The card could not be read: take it off the reader, place it again."),
    "card_secure_messaging": _l(
        "The card could not be read: take it off the reader, place it again."
    ),
    "card_reader_not_found": _l("The card reader does not answer: check its cable."),
    "device_error": _l("A device failed: check its cable, or ask a technician."),
    "operator_not_found": _l("There is no account with this login."),
    "password_change_required": _l("Change your one-time password first."),
    "session_required": _l("Sign in first."),
    "capture_cancelled": _l("The capture was stopped."),
    "request_too_large": _l("The picture is too large: use a smaller one."),
    "tampered_data": _l("Stored data failed its integrity check: call a supervisor at once."),
    "key_error": _l("The station's key does not open its data: call a technician."),
}

# Why the camera's photo of a card gave no MRZ (the reading's outcome), and what to do.
MRZ_OUTCOMES = {
    "no_zone": _l(
        "No MRZ in the picture: hold the back of the card, with its three lines of <<<, flat and "
        "still in front of the camera, filling the frame, in good light; or type the lines."
    ),
    "unreliable": _l(
        "The camera could not read the card's MRZ for certain: hold the card flat and still, add "
        "light without glare, fill the frame with it and try again; or type the lines."
    ),
    "visa": _l("This is a visa, not an identity document: read the passport or the ID card."),
}

# Every scanner fault that is not the person's finger (a bad packet, a cut cable, a module error)
# reads the same at the desk.
SCANNER_FAULT = _l("The scanner failed: unplug it, plug it in again, and scan again.")

QUALITY = {
    "no_face": _l("No face: stand in front of the camera, facing it"),
    "multiple_faces": _l("Only one person in front of the camera, please"),
    "too_small": _l("Move closer"),
    "low_resolution": _l("The camera's picture is too small: ask a technician"),
    "too_close": _l("Step back a little"),
    "off_centre": _l("Move to the centre of the picture"),
    "too_dark": _l("Too dark: add light in front of the person"),
    "too_bright": _l("Too bright: less light on the face"),
    "blurred": _l("Blurred: hold still"),
    "not_frontal": _l("Look straight at the camera"),
    "tilted": _l("Keep the head straight"),
    "eyes_closed": _l("Keep the eyes open"),
}

# The liveness challenge (setting liveness = "challenge"): what to ask, and why a check failed.
LIVENESS_ASK = {
    "turn_left": _l("Ask the person to turn their head to their left, then look back"),
    "turn_right": _l("Ask the person to turn their head to their right, then look back"),
    "blink": _l("Ask the person to close both eyes for a moment, then open them"),
}

LIVENESS = {
    "no_frames": _l("The camera gave no picture: start the camera again."),
    "no_face": _l("No face in front of the camera: start again with the person facing it."),
    "not_frontal": _l("The person did not look at the camera at the start: start again."),
    "face_lost": _l("The face left the camera during the check: start again."),
    "several_faces": _l(
        "More than one face was seen: only the person checked may be in front of the camera."
    ),
    "face_changed": _l(
        "The face changed during the check: only the person checked may be in front of the camera."
    ),
    "wrong_direction": _l("The head turned the wrong way: start again and show which side."),
    "no_movement": _l("No movement: a photo cannot pass. Start again and ask for the movement."),
    "moved_not_turned": _l("The face moved but did not turn: a photo cannot pass. Start again."),
    "not_far_enough": _l("The head did not turn far enough: start again, ask for a clear turn."),
    "no_return": _l("The head did not come back to the camera in time: start again."),
    "flat_turn": _l("The face flattened instead of turning: a tilted photo cannot pass."),
    "no_blink": _l("No blink was seen: start again, ask the person to close both eyes."),
    "no_portrait": _l(
        "The person passed the check, but no frontal photo was good enough: start again."
    ),
}

FINGERS = {
    1: _l("right thumb"),
    2: _l("right index finger"),
    3: _l("right middle finger"),
    4: _l("right ring finger"),
    5: _l("right little finger"),
    6: _l("left thumb"),
    7: _l("left index finger"),
    8: _l("left middle finger"),
    9: _l("left ring finger"),
    10: _l("left little finger"),
}

EXCEPTIONS = {
    "missing": _l("missing"),
    "injured": _l("injured"),
    "bandaged": _l("bandaged"),
    "unreadable": _l("unreadable after several tries"),
}

DECISIONS = {
    "accepted": _l("Accepted"),
    "refused": _l("Refused"),
    "referred": _l("Referred to a supervisor"),
}

HOLD_REASONS = {
    "likely_duplicate": _l("looks like a person already enrolled"),
    "same_document": _l("the same document is already enrolled"),
    "card_face_mismatch": _l("the live face does not match the card's photo"),
    "finger_exception": _l("fingers could not be taken: approve the exceptions"),
}

INTAKE_CHECKS = {
    "chip_authentic": _l("The card's chip is genuine"),
    "face_matches_chip": _l("The face matches the card's photo"),
    "enrolled": _l("The card's holder is enrolled"),
    "matches_record": _l("Face and fingers match the enrolled record"),
    "finger_matches": _l("A finger matches on its own"),
}

ROLES = {
    "operator": _l("operator"),
    "supervisor": _l("supervisor"),
    "auditor": _l("auditor"),
    "admin": _l("admin"),
}


def error_words(exc: StationError | Exception) -> str:
    """The error in the operator's language: the console's own request as it is, a workflow's
    error by its code's sentence (with the workflow's detail for a form field, which it names),
    or the error's own message."""
    if isinstance(exc, FormError):
        return str(exc)
    code = getattr(exc, "code", "")
    words = ERRORS.get(code)
    if words is None and code.startswith("scanner_"):
        words = SCANNER_FAULT
    if words is None:
        return str(exc)
    return f"{words} {exc}" if code == "invalid_input" else str(words)
