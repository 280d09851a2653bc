"""The operator console as its users meet it, page by page (Flask's test client; the browser
tests in test_console_browser.py drive the same pages in Chromium).

What it promises: signing in with the station's own sessions in an HttpOnly, SameSite=Strict
cookie; a CSRF token on every form; a strict content security policy and no caching; each role
sees its own pages only; Kyrgyz first, Russian and English on choice; the enrollment wizard,
intake and the supervisor's decisions all go through the same workflows as the API and CLI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask

from drivers.camera.sim import SimulatedCamera
from matcher.face import FaceEncoder
from matcher.imageio import read_rgb
from station.api import create_app
from station.core import Station
from station.security.roles import SYSTEM
from station.security.sessions import SessionRequiredError
from tests.conftest import TEST_PASSWORD, enroll_face, make_settings, photos_of
from tests.console_client import Console

TEMPLATES = Path(__file__).parents[1] / "station" / "console" / "templates"


def account(station: Station, role: str, login: str | None = None) -> str:
    login = login or f"{role}1"
    station.operators.create(SYSTEM, login, role, TEST_PASSWORD)
    return login


def signed_in(app: Flask, station: Station, role: str, login: str | None = None) -> Console:
    console = Console(app)
    response = console.sign_in(account(station, role, login), language="en")
    assert response.status_code == 302, console.text(response)
    return console


def good_photos(station: Station, people: list[Path], count: int = 1) -> list[Path]:
    """``count`` photos of one person the capture check accepts."""
    for person in people:
        accepted = [p for p in photos_of(person) if station.quality.assess(read_rgb(p)).accepted]
        if len(accepted) >= count:
            return accepted[:count]
    raise AssertionError("no person with enough acceptable photos")


def alike_photos(station: Station, people: list[Path]) -> list[Path]:
    """Three acceptable photos of one person, the first two well within the face threshold of
    the third (the chip's): a test of the pages, not of the face matcher at its margin."""
    from matcher.face import face_distance

    limit = station.settings.face_verify_threshold - 0.1
    for person in people:
        accepted = [p for p in photos_of(person) if station.quality.assess(read_rgb(p)).accepted]
        vectors = [station.encode(read_rgb(p)).vector for p in accepted[:3]]
        if len(vectors) == 3 and all(face_distance(v, vectors[2]) < limit for v in vectors[:2]):
            return accepted[:3]
    raise AssertionError("no person with three photos alike enough")


def draft_id_of(location: str) -> str:
    found = re.search(r"/desk/(?:enroll|intake|identify)/([^/]+)", location)
    assert found, location
    return found.group(1)


def take_photo(console: Console, draft_id: str, frames: int = 30) -> dict[str, object]:
    """Run the face step's camera until a frame passes, as the page's script does."""
    started = console.post(f"/desk/{draft_id}/camera/start")
    assert started.json == {"ok": True}, started.json
    answer: dict[str, object] = {}
    for _ in range(frames):
        answer = console.post(f"/desk/{draft_id}/camera/frame").json
        if answer.get("accepted") or not answer.get("ok"):
            break
    assert answer.get("accepted"), answer
    return answer


def enroll_face_only(console: Console, name: str) -> str:
    """The wizard for a person without a card and without fingers; the result page."""
    console.open("/desk")
    draft = draft_id_of(console.post("/desk/enroll").headers["Location"])
    console.open(f"/desk/enroll/{draft}/consent")
    card = console.post(
        f"/desk/enroll/{draft}/consent", consent="yes", purpose="voter_registration"
    )
    console.follow(card)
    face = console.post(f"/desk/enroll/{draft}/card", action="typed", name=name)
    console.follow(face)
    take_photo(console, draft)
    preview = console.post(f"/desk/enroll/{draft}/face")
    console.follow(preview)
    saved = console.post(f"/desk/enroll/{draft}/preview")
    return console.follow(saved)


# -- what every page does -----------------------------------------------------------------------


def test_every_page_has_a_strict_content_policy_and_is_never_cached(app: Flask) -> None:
    response = Console(app).get("/sign-in")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_no_template_relies_on_inline_script_or_style_the_policy_would_block() -> None:
    inline = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", re.IGNORECASE)
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0).strip()}"
        for path in TEMPLATES.rglob("*.html")
        for match in inline.finditer(path.read_text())
    ]
    assert offenders == []


def test_a_signed_in_operator_lands_on_the_home_of_their_role(app: Flask, station: Station) -> None:
    homes = {"operator": "/desk", "supervisor": "/review/holds", "auditor": "/audit"}
    homes["admin"] = "/admin/operators"
    for role, home in homes.items():
        console = signed_in(app, station, role)
        assert console.client.get("/").headers["Location"] == home


def test_the_session_cookie_is_http_only_strict_and_holds_a_live_session(
    app: Flask, station: Station
) -> None:
    console = Console(app)
    response = console.sign_in(account(station, "operator"))
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if "station_console" in h)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    token = console.session_token()
    assert token is not None and station.sessions.get(token).actor.login == "operator1"


def test_a_wrong_password_is_refused_with_words_and_no_session(
    app: Flask, station: Station
) -> None:
    console = Console(app)
    response = console.sign_in(account(station, "operator"), "Wrong-password-1", language="en")
    assert response.status_code == 401
    assert "Wrong login or password" in console.text(response)
    assert console.session_token() is None


def test_signing_out_ends_the_session_on_the_station_too(app: Flask, station: Station) -> None:
    console = signed_in(app, station, "operator")
    token = console.session_token()
    assert token is not None
    console.open("/desk")
    console.post("/sign-out")
    with pytest.raises(SessionRequiredError):
        station.sessions.get(token)
    console.client.set_cookie("station_console", token)  # a copy of the old cookie is worthless
    assert console.client.get("/desk").headers["Location"] == "/sign-in"


def test_an_unknown_page_is_the_console_s_own_404(app: Flask) -> None:
    response = Console(app).get("/no-such-page")
    assert response.status_code == 404 and "Мындай бет жок" in Console.text(response)  # in Kyrgyz


# -- forms from elsewhere -----------------------------------------------------------------------


def test_a_form_without_its_token_is_refused_and_does_nothing(app: Flask, station: Station) -> None:
    console = signed_in(app, station, "operator")
    console.open("/desk")
    refused = console.post("/desk/enroll", csrf="")
    assert refused.status_code == 400 and "out of date" in Console.text(refused)
    assert app.extensions["console_drafts"]._drafts == {}


def test_a_token_from_another_session_is_refused(app: Flask, station: Station) -> None:
    first = signed_in(app, station, "operator", "clerk1")
    first.open("/desk")
    second = signed_in(app, station, "operator", "clerk2")
    second.open("/desk")
    assert second.post("/desk/enroll", csrf=first.token).status_code == 400
    assert second.post("/desk/enroll").status_code == 302


def test_a_page_kept_open_over_a_sign_out_cannot_post_into_the_next_session(
    app: Flask, station: Station
) -> None:
    console = signed_in(app, station, "operator")
    console.open("/desk")
    old_token = console.token
    console.post("/sign-out")
    console.sign_in("operator1", language="en")
    assert console.post("/desk/enroll", csrf=old_token).status_code == 400


def test_the_sign_in_form_itself_needs_its_token(app: Flask, station: Station) -> None:
    console = Console(app)
    refused = console.post("/sign-in", csrf="", login=account(station, "operator"))
    assert refused.status_code == 400 and console.session_token() is None


# -- roles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "page"),
    [
        ("operator", "/review/holds"),
        ("operator", "/review/records"),
        ("operator", "/audit"),
        ("operator", "/admin/operators"),
        ("operator", "/admin/retention"),
        ("auditor", "/desk"),
        ("auditor", "/review/holds"),
        ("supervisor", "/admin/operators"),
        ("supervisor", "/audit"),
        ("admin", "/review/records"),
    ],
)
def test_a_role_cannot_open_another_role_s_pages(
    app: Flask, station: Station, role: str, page: str
) -> None:
    response = signed_in(app, station, role).get(page)
    assert response.status_code == 403
    assert "Your role may not do this" in Console.text(response)


def test_a_page_for_operators_sends_the_signed_out_to_sign_in(app: Flask) -> None:
    assert Console(app).get("/desk").headers["Location"] == "/sign-in"


def test_a_one_time_password_must_be_changed_before_anything_else(
    app: Flask, station: Station
) -> None:
    admin = signed_in(app, station, "admin")
    admin.open("/admin/operators")
    page = Console.text(
        admin.post("/admin/operators", action="create", login="newclerk", role="operator")
    )
    one_time = re.search(r'<code class="secret">([^<]+)</code>', page)
    assert one_time, page
    clerk = Console(app)
    assert clerk.sign_in("newclerk", one_time.group(1)).headers["Location"] == "/password"
    assert clerk.get("/desk").headers["Location"] == "/password"
    clerk.open("/password")
    weak = clerk.post(
        "/password",
        current_password=one_time.group(1),
        new_password="short",
        repeat_password="short",
    )
    assert weak.status_code == 400 and "8" in Console.text(weak)
    changed = clerk.post(
        "/password",
        current_password=one_time.group(1),
        new_password="Clerk-pass-99",
        repeat_password="Clerk-pass-99",
    )
    assert changed.status_code == 302
    assert clerk.get("/desk").status_code == 200


# -- languages -----------------------------------------------------------------------------------


def test_the_console_speaks_kyrgyz_until_a_language_is_chosen(app: Flask) -> None:
    page = Console(app).open("/sign-in")
    assert '<html lang="ky">' in page and "Кирүү" in page


def test_russian_is_chosen_on_the_sign_in_page_and_kept_for_the_operator(
    app: Flask, station: Station
) -> None:
    console = Console(app)
    console.open("/sign-in")
    console.post("/language", language="ru")
    assert "Вход" in console.open("/sign-in")
    console.post(
        "/sign-in", login=account(station, "operator"), password=TEST_PASSWORD, language="ru"
    )
    assert station.operators.language_of("operator1") == "ru"
    assert '<html lang="ru">' in console.open("/desk")
    again = Console(app)  # another computer: the operator's choice follows them
    again.sign_in("operator1")
    assert '<html lang="ru">' in again.open("/desk")


def test_every_message_has_a_kyrgyz_and_a_russian_translation() -> None:
    from babel.messages.pofile import read_po

    folder = TEMPLATES.parent / "translations"
    for language in ("ky", "ru"):
        with (folder / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalog = read_po(handle)
        untranslated = [m.id for m in catalog if m.id and not m.string]
        fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
        assert (untranslated, fuzzy) == ([], []), language


def test_every_error_a_workflow_raises_at_the_desk_reads_as_a_sentence() -> None:
    from station.console.messages import ERRORS, error_words
    from station.errors import StationError

    desk_codes = {
        "no_face",
        "capture_refused",
        "finger_refused",
        "no_finger",
        "card_absent",
        "card_access_denied",
        "scanner_disconnected",
        "scanner_corrupt_packet",
        "camera_error",
        "card_error",
        "station_busy",
        "permission_denied",
        "login_failed",
        "stale_form",
    }
    for code in desk_codes:
        error = StationError("technical detail")
        error.code = code
        assert error_words(error) != "technical detail", code
    assert set(ERRORS) <= set(__import__("station.api.errors", fromlist=["x"]).STATUS_BY_CODE)


# -- enrollment -----------------------------------------------------------------------------------


def test_an_operator_enrolls_a_person_face_only_and_prints_the_acknowledgment(
    app: Flask, station: Station, lfw_people: list[Path]
) -> None:
    (photo,) = good_photos(station, lfw_people[60:])
    station.camera.present(photo)  # type: ignore[union-attr]
    console = signed_in(app, station, "operator")
    result = enroll_face_only(console, "Aida Testova")
    assert "Enrolled" in result
    record_id = int(re.search(r"record (\d+)", result, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    record = station.storage.get_record(record_id)
    assert record.fields.name == "Aida Testova" and record.purpose == "voter_registration"
    actions = [
        (row["operator"], row["action"]) for row in station.audit.rows(target=str(record_id))
    ]
    assert ("operator1", "enroll") in actions
    draft = console.last.request.path.split("/")[3]  # type: ignore[union-attr]
    sheet = console.open(f"/desk/enroll/{draft}/acknowledgment")
    assert "<svg" in sheet and str(record_id) in sheet


def test_consent_comes_first(app: Flask, station: Station) -> None:
    console = signed_in(app, station, "operator")
    console.open("/desk")
    draft = draft_id_of(console.post("/desk/enroll").headers["Location"])
    console.open(f"/desk/enroll/{draft}/consent")
    refused = console.post(f"/desk/enroll/{draft}/consent", purpose="voter_registration")
    assert refused.status_code == 422 and "must agree" in Console.text(refused)
    console.open(f"/desk/enroll/{draft}/preview")
    jumped = console.post(f"/desk/enroll/{draft}/preview")
    assert jumped.headers["Location"].endswith("/consent")
    assert station.storage.count() == 0


def test_the_camera_runs_only_while_the_face_step_is_on_screen(
    app: Flask, station: Station
) -> None:
    console = signed_in(app, station, "operator")
    console.open("/desk")
    draft = draft_id_of(console.post("/desk/enroll").headers["Location"])
    assert console.post(f"/desk/{draft}/camera/start").json == {"ok": True}
    assert station.camera.is_open  # type: ignore[union-attr]
    console.open(f"/desk/enroll/{draft}/card")  # the operator goes back a step
    assert not station.camera.is_open  # type: ignore[union-attr]
    assert console.post(f"/desk/{draft}/camera/frame").json["stopped"] is True


def test_the_camera_closes_by_itself_when_the_page_stops_asking_for_frames(
    tmp_path: Path, lfw: Path, shared_encoder: FaceEncoder
) -> None:
    import time

    settings = make_settings(tmp_path / "data", lfw, camera_idle_seconds=0.3)
    with Station(settings, encoder=shared_encoder) as station:
        console = signed_in(create_app(station=station), station, "operator")
        console.open("/desk")
        draft = draft_id_of(console.post("/desk/enroll").headers["Location"])
        console.post(f"/desk/{draft}/camera/start")
        assert station.camera.is_open  # type: ignore[union-attr]
        deadline = time.monotonic() + 10
        while station.camera.is_open and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)
        assert not station.camera.is_open  # type: ignore[union-attr]
        assert console.post(f"/desk/{draft}/camera/frame").json["stopped"] is True


def test_a_draft_and_its_pictures_belong_to_the_session_that_made_it(
    app: Flask, station: Station, lfw_people: list[Path]
) -> None:
    (photo,) = good_photos(station, lfw_people[60:])
    station.camera.present(photo)  # type: ignore[union-attr]
    console = signed_in(app, station, "operator", "clerk1")
    console.open("/desk")
    draft = draft_id_of(console.post("/desk/enroll").headers["Location"])
    take_photo(console, draft)
    picture = console.get(f"/desk/{draft}/image/face")
    assert picture.status_code == 200 and picture.mimetype == "image/jpeg"
    assert "no-store" in picture.headers["Cache-Control"]
    other = signed_in(app, station, "operator", "clerk2")
    assert other.get(f"/desk/{draft}/image/face").status_code == 404
    assert other.get(f"/desk/enroll/{draft}/preview").status_code == 404
    console.open("/desk")
    console.post("/sign-out")
    assert app.extensions["console_drafts"]._drafts == {}  # signing out drops the biometrics


# -- a station with a scanner and a card reader --------------------------------------------------


def card_url(photo: Path, csca: Path) -> str:
    from drivers.idcard.personalise import make_pki
    from drivers.idcard.sim import DEFAULT_SEED

    if not csca.is_dir():
        make_pki("KG", seed=DEFAULT_SEED).write_csca(csca)
    return f"sim://?photo={quote(str(photo))}&csca={quote(str(csca))}"


@pytest.fixture
def kit(
    tmp_path: Path, lfw: Path, lfw_people: list[Path], db1: Path, shared_encoder: FaceEncoder
) -> Iterator[tuple[Station, Flask, list[Path]]]:
    """A field kit: camera, scanner (a script of prints, at 16 times the line speed) and the
    test card whose chip photo is of the same person as ``photos``."""
    with Station(make_settings(tmp_path / "probe", lfw), encoder=shared_encoder) as probe:
        photos = alike_photos(probe, lfw_people[10:])
    scanner = (
        f"sim://?dir={quote(str(db1))}&model=r307&baudrate=115200&speedup=16"
        "&script=101_1,102_1,101_2&loop=false"
    )
    settings = make_settings(
        tmp_path / "data",
        lfw,
        camera_timeout=2.0,
        scanner_url=scanner,
        scanner_timeout=1.0,
        enroll_min_fingers=2,
        card_reader_url=card_url(photos[2], tmp_path / "csca"),
    )
    with Station(settings, encoder=shared_encoder) as station:
        yield station, create_app(station=station), photos


def at_the_fingers(station: Station, app: Flask, photo: Path) -> tuple[Console, str]:
    """An operator's enrollment of a person without a card, up to the fingers step."""
    console = signed_in(app, station, "operator")
    console.open("/desk")
    draft = draft_id_of(console.post("/desk/enroll").headers["Location"])
    console.open(f"/desk/enroll/{draft}/consent")
    console.follow(
        console.post(f"/desk/enroll/{draft}/consent", consent="yes", purpose="voter_registration")
    )
    console.follow(console.post(f"/desk/enroll/{draft}/card", action="typed", name="Bek Uulu"))
    station.camera.present(photo)  # type: ignore[union-attr]
    take_photo(console, draft)
    console.follow(console.post(f"/desk/enroll/{draft}/face"))
    return console, draft


def test_enrollment_with_card_and_two_fingers_then_intake_with_a_receipt_the_citizen_checks(
    kit: tuple[Station, Flask, list[Path]],
) -> None:
    from drivers.idcard.personalise import DEFAULT_MRZ

    station, app, photos = kit
    console = signed_in(app, station, "operator")
    console.open("/desk")
    draft = draft_id_of(console.post("/desk/enroll").headers["Location"])
    console.open(f"/desk/enroll/{draft}/consent")
    console.follow(
        console.post(f"/desk/enroll/{draft}/consent", consent="yes", purpose="voter_registration")
    )
    read = console.post(f"/desk/enroll/{draft}/card", action="read", mrz=DEFAULT_MRZ)
    assert read.status_code == 200 and "TESTOVA" in Console.text(read)
    console.follow(console.post(f"/desk/enroll/{draft}/card", action="continue"))
    station.camera.present(photos[0])  # type: ignore[union-attr]
    take_photo(console, draft)
    page = console.follow(console.post(f"/desk/enroll/{draft}/face"))
    assert "right index finger" in page and "left index finger" in page
    for position in (2, 7):
        scanned = console.post(
            f"/desk/enroll/{draft}/fingers", action="scan", position=str(position)
        )
        assert scanned.status_code == 200, Console.text(scanned)
        assert console.get(f"/desk/{draft}/image/finger_{position}").mimetype == "image/png"
    console.follow(console.post(f"/desk/enroll/{draft}/fingers", action="done"))
    result = console.follow(console.post(f"/desk/enroll/{draft}/preview"))
    assert "Enrolled" in result, result

    console.open("/desk")
    intake = draft_id_of(console.post("/desk/intake").headers["Location"])
    console.open(f"/desk/intake/{intake}")
    assert console.post(f"/desk/intake/{intake}", action="read", mrz=DEFAULT_MRZ).status_code == 200
    station.camera.present(photos[1])  # type: ignore[union-attr]
    take_photo(console, intake)
    assert console.post(f"/desk/intake/{intake}", action="scan").status_code == 200
    decided = console.follow(console.post(f"/desk/intake/{intake}", action="decide"))
    assert "Accepted" in decided, decided
    receipt = console.open(f"/desk/intake/{intake}/receipt")
    number = re.search(
        r'<dd class="number">([^<]+)</dd>\s*<dt>[^<]*</dt><dd class="number">([^<]+)', receipt
    )
    assert number and "<svg" in receipt

    citizen = Console(app)  # anyone, without signing in, in the language they choose
    citizen.open("/status-check")
    assert (
        citizen.post("/language", language="en", next="/status-check").headers["Location"]
        == "/status-check"
    )
    citizen.open("/status-check")
    checked = citizen.post("/status-check", number=number.group(1), code=number.group(2))
    assert checked.status_code == 200 and "Accepted" in Console.text(checked)
    wrong = citizen.post("/status-check", number=number.group(1), code="000000")
    assert wrong.status_code == 404 and "Accepted" not in Console.text(wrong)


@pytest.fixture
def card_desk(
    tmp_path: Path, lfw: Path, lfw_people: list[Path], shared_encoder: FaceEncoder
) -> Iterator[tuple[Station, Flask, SimulatedCamera]]:
    """A desk with a camera and a card reader holding the test card, no scanner."""
    settings = make_settings(
        tmp_path / "data",
        lfw,
        camera_timeout=2.0,
        card_reader_url=card_url(photos_of(lfw_people[0])[0], tmp_path / "csca"),
    )
    with Station(settings, encoder=shared_encoder) as station:
        assert isinstance(station.camera, SimulatedCamera)
        yield station, create_app(station=station), station.camera


def at_the_card(console: Console) -> str:
    """A new enrollment, consent given: the card step's path."""
    console.open("/desk")
    draft = draft_id_of(console.post("/desk/enroll").headers["Location"])
    console.open(f"/desk/enroll/{draft}/consent")
    console.follow(
        console.post(f"/desk/enroll/{draft}/consent", consent="yes", purpose="voter_registration")
    )
    return f"/desk/enroll/{draft}/card"


def test_the_operator_reads_the_card_with_the_camera_and_its_chip_opens_without_typing(
    card_desk: tuple[Station, Flask, SimulatedCamera],
) -> None:
    from drivers.idcard.personalise import DEFAULT_MRZ

    station, app, camera = card_desk
    console = signed_in(app, station, "operator")
    step = at_the_card(console)
    assert "Read the card with the camera" in console.open(step)
    camera.present_document(DEFAULT_MRZ)  # the person holds the card up
    read = console.post(step, action="camera")
    page = Console.text(read)
    assert read.status_code == 200, page
    assert "TESTOVA" in page and "genuine" in page  # the chip, read with the camera's MRZ
    assert DEFAULT_MRZ.replace("<", "&lt;") in page  # the MRZ filled in, for the operator to see
    assert not camera.is_open
    assert console.follow(console.post(step, action="continue")).count("Start the camera")
    assert station.audit.rows(action="mrz_read")[-1]["operator"] == "operator1"


def test_a_card_the_camera_cannot_read_is_typed_instead_with_what_to_do_in_words(
    card_desk: tuple[Station, Flask, SimulatedCamera],
) -> None:
    from drivers.idcard.personalise import DEFAULT_MRZ

    station, app, _ = card_desk
    console = Console(app)
    console.sign_in(account(station, "operator"), language="ru")
    step = at_the_card(console)
    refused = console.post(step, action="camera")  # the camera sees a face, no card
    page = Console.text(refused)
    assert refused.status_code == 422
    assert "На снимке нет MRZ" in page and "no machine readable zone found" in page
    assert 'name="mrz"' in page and "TESTOVA" not in page
    typed = console.post(step, action="read", mrz=DEFAULT_MRZ)
    assert typed.status_code == 200 and "TESTOVA" in Console.text(typed)


def test_a_finger_that_is_missing_is_marked_at_once_and_held_for_the_supervisor(
    kit: tuple[Station, Flask, list[Path]],
) -> None:
    station, app, photos = kit
    console, draft = at_the_fingers(station, app, photos[0])
    assert (
        console.post(f"/desk/enroll/{draft}/fingers", action="scan", position="2").status_code
        == 200
    )
    too_soon = console.post(
        f"/desk/enroll/{draft}/fingers", action="exception", position="7", reason="unreadable"
    )
    assert too_soon.status_code == 422 and "after the tries" in Console.text(too_soon)
    missing = console.post(
        f"/desk/enroll/{draft}/fingers", action="exception", position="7", reason="missing"
    )
    assert missing.status_code == 200 and "A supervisor must approve this" in Console.text(missing)
    console.follow(console.post(f"/desk/enroll/{draft}/fingers", action="done"))
    result = console.follow(console.post(f"/desk/enroll/{draft}/preview"))
    record_id = int(re.search(r"record (\d+)", result, re.IGNORECASE).group(1))  # type: ignore[union-attr]
    assert station.storage.get_record(record_id).status.value == "held"

    supervisor = signed_in(app, station, "supervisor")
    queue = supervisor.open("/review/holds")
    assert f"/review/holds/{record_id}" in queue
    hold = supervisor.open(f"/review/holds/{record_id}")
    assert "left index finger" in hold and "missing" in hold
    accepted = supervisor.post(
        f"/review/holds/{record_id}",
        decision="accept",
        reason="the left index finger was lost in an accident",
    )
    assert accepted.status_code == 302
    assert station.storage.get_record(record_id).status.value == "active"


def test_a_finger_becomes_unreadable_only_after_the_allowed_failed_scans(
    kit: tuple[Station, Flask, list[Path]],
) -> None:
    station, app, photos = kit
    console, draft = at_the_fingers(station, app, photos[0])
    for _ in range(3):  # the script's first three prints, then an empty glass
        scanned = console.post(f"/desk/enroll/{draft}/fingers", action="scan", position="2")
        assert scanned.status_code == 200, Console.text(scanned)
    for tries in range(1, station.settings.finger_attempts + 1):
        failed = console.post(f"/desk/enroll/{draft}/fingers", action="scan", position="7")
        assert failed.status_code == 422 and "No finger on the scanner" in Console.text(failed)
        assert f"Failed tries: {tries} of" in Console.text(failed)
    page = Console.text(console.last)  # type: ignore[arg-type]
    assert 'value="unreadable"' in page
    marked = console.post(
        f"/desk/enroll/{draft}/fingers", action="exception", position="7", reason="unreadable"
    )
    assert marked.status_code == 200


def test_the_same_person_again_is_held_and_the_supervisor_rejects_it_side_by_side(
    app: Flask, station: Station, lfw_people: list[Path]
) -> None:
    first, second = good_photos(station, lfw_people[30:], 2)
    earlier = enroll_face(station, first, name="Nurlan Asanov")
    station.camera.present(second)  # type: ignore[union-attr]
    console = signed_in(app, station, "operator")
    result = enroll_face_only(console, "Nurlan Asanov")
    assert "held" in result.lower(), result
    record_id = int(re.search(r"record (\d+)", result, re.IGNORECASE).group(1))  # type: ignore[union-attr]

    supervisor = signed_in(app, station, "supervisor")
    hold = supervisor.open(f"/review/holds/{record_id}")
    assert f"/review/records/{record_id}/image/portrait" in hold
    assert f"/review/records/{earlier.record.id}/image/portrait" in hold
    picture = supervisor.get(f"/review/records/{earlier.record.id}/image/portrait")
    assert picture.status_code == 200 and "no-store" in picture.headers["Cache-Control"]
    no_reason = supervisor.post(f"/review/holds/{record_id}", decision="reject", reason="")
    assert no_reason.status_code == 400
    rejected = supervisor.post(
        f"/review/holds/{record_id}",
        decision="reject",
        reason=f"same face as record {earlier.record.id}",
    )
    assert rejected.status_code == 302
    assert station.storage.count() == 1
    assert "deleted as a duplicate" in supervisor.open("/review/holds")


def test_the_auditor_reads_who_did_what_and_checks_the_chain(
    app: Flask, station: Station, lfw_people: list[Path]
) -> None:
    (photo,) = good_photos(station, lfw_people[60:])
    station.camera.present(photo)  # type: ignore[union-attr]
    enroll_face_only(signed_in(app, station, "operator"), "Aida Testova")
    auditor = signed_in(app, station, "auditor")
    log = auditor.open("/audit?operator=operator1&action=enroll")
    assert "operator1" in log and "enroll" in log
    assert "intact" in auditor.open("/audit/chain").lower()


def test_the_language_switch_goes_back_to_a_page_of_this_site_only(app: Flask) -> None:
    console = Console(app)
    console.open("/status-check")
    for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        answer = console.post("/language", language="ru", next=elsewhere)
        assert answer.headers["Location"] == "/", elsewhere
    assert (
        console.post("/language", language="ru", next="/status-check").headers["Location"]
        == "/status-check"
    )


def test_a_page_not_found_keeps_the_policy_and_the_operator_s_language(
    app: Flask, station: Station
) -> None:
    console = signed_in(app, station, "operator")  # chose English at sign-in
    missing = console.get("/desk/nothing-here")
    assert missing.status_code == 404
    assert "There is no such page" in Console.text(missing)
    assert "Content-Security-Policy" in missing.headers


def test_an_idle_session_ends_and_the_sign_in_page_says_why(app: Flask, station: Station) -> None:
    import time

    console = signed_in(app, station, "operator")
    console.open("/desk")
    assert (
        0
        < int(console.post("/keepalive").get_data(as_text=True))
        <= (station.settings.session_idle_seconds)
    )
    later = time.time() + station.settings.session_idle_seconds + 1
    station.sessions.clock = lambda: later
    gone = console.get("/desk")
    assert gone.headers["Location"] == "/sign-in?ended=idle"
    assert "signed out after a time without activity" in console.follow(gone)  # in English still
