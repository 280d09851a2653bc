"""The console in a real browser (Debian's Chromium, headless) against a real `station serve
--sim`: the journeys of the people at a station, from the first start to a printed receipt.

One station serves the whole module, as one kit serves a day: the admin's first start comes
first and creates the accounts the later journeys sign in with.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import (
    Page,
    StationServer,
    chromium,
    citizen_comes,
    enroll,
    gone,
    read_the_card,
    record_number,
    scan,
    start_server,
    verify_at_intake,
)

NEW_PASSWORDS = {
    "admin": "Chief-of-kit-7!",
    "clerk": "Desk-work-3!x",
    "chief": "Holds-decided-9!",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StationServer]:
    started = start_server(tmp_path_factory.mktemp("browser-station"))
    try:
        yield started
    finally:
        code = started.stop()
        assert code == 0, started.console_log.read_text()


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    browser = chromium()
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def page(driver: Any, server: StationServer, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A tab with no one signed in."""
    screenshots = request.config.getoption("--screenshots")
    driver.delete_all_cookies()
    yield Page(driver, server.url, Path(screenshots) if screenshots else None)
    driver.delete_all_cookies()


def signed_in(page: Page, server: StationServer, login: str) -> Page:
    page.sign_in(login, server.passwords[login])
    assert page.path != "/sign-in", page.text
    return page


def one_time_password_on(page: Page) -> str:
    return str(page.driver.find_element("css selector", "code.secret").text)


def change_password(page: Page, current: str, new: str) -> None:
    assert page.path == "/password"
    page.fill(current_password=current, new_password=new, repeat_password=new)
    page.press("Change the password")


def test_first_start_the_admin_changes_the_one_time_password_and_opens_accounts(
    page: Page, server: StationServer
) -> None:
    page.sign_in("admin", server.one_time_password)
    assert page.path == "/password"
    page.shot("en-password")
    policy = page.driver.find_element("id", "policy")
    page.field("new_password").send_keys("short")
    met = [li.get_attribute("data-rule") for li in policy.find_elements("css selector", ".met")]
    assert met == ["lower", "login"]  # the rules light up as the admin types
    change_password(page, server.one_time_password, NEW_PASSWORDS["admin"])
    page.wait_for(lambda _: page.path == "/admin/operators")
    server.passwords["admin"] = NEW_PASSWORDS["admin"]

    for login, role in (("clerk", "operator"), ("chief", "supervisor")):
        page.fill(login=login)
        page.choose("role", role)
        page.press("Create")
        page.wait_for_text(f"One-time password for {login}")
        server.passwords[login] = one_time_password_on(page)
    page.shot("en-operators")
    page.sign_out()

    for login in ("clerk", "chief"):
        page.sign_in(login, server.passwords[login])
        change_password(page, server.passwords[login], NEW_PASSWORDS[login])
        page.wait_for(lambda _: page.path not in ("/password", "/sign-in"))
        server.passwords[login] = NEW_PASSWORDS[login]
        page.sign_out()


def test_a_wrong_password_is_refused_in_the_chosen_language(
    page: Page, server: StationServer
) -> None:
    page.sign_in("clerk", "Not-the-password-1", language="ru")
    assert page.path == "/sign-in" and page.language == "ru"
    assert "Неверный логин или пароль" in page.text


def test_an_operator_is_refused_the_supervisor_s_queue(page: Page, server: StationServer) -> None:
    signed_in(page, server, "clerk")
    assert page.path == "/desk"
    page.go("/review/holds")
    assert "Your role may not do this" in page.text
    links = [a.text for a in page.driver.find_elements("css selector", "nav.roles a")]
    assert "Held enrollments" not in links


def test_a_form_left_open_over_a_sign_out_is_refused_as_out_of_date(
    page: Page, server: StationServer
) -> None:
    signed_in(page, server, "clerk")
    page.driver.switch_to.new_window("tab")  # the operator signs out in another tab...
    other = page.driver.current_window_handle
    page.go("/desk")
    page.sign_out()
    page.sign_in("clerk", server.passwords["clerk"])
    page.driver.close()
    page.driver.switch_to.window(page.driver.window_handles[0])
    assert page.driver.current_window_handle != other
    page.press("Enroll a person")  # ...and the first tab's form carries the old session's token
    assert "This form is out of date" in page.text


# -- journeys with the simulated citizens ----------------------------------------------------


def test_an_operator_enrolls_a_simulated_citizen_and_prints_the_acknowledgment(
    page: Page, server: StationServer
) -> None:
    signed_in(page, server, "clerk")
    assert enroll(page, "C01") == "Enrolled"
    server.records["C01"] = record_number(page)
    page.shot("en-enrolled")
    page.press("Print the acknowledgment")
    sheet = page.driver.find_element("css selector", "article.sheet")
    assert f"REC-{server.records['C01']}" in sheet.text
    assert sheet.find_elements("css selector", ".qr svg")
    assert "clerk" in sheet.text  # who served the person


def test_the_same_citizen_again_is_held_and_the_supervisor_rejects_it_side_by_side(
    page: Page, server: StationServer
) -> None:
    signed_in(page, server, "clerk")
    assert enroll(page, "C01") == "Held for a supervisor"
    assert "already enrolled" in page.text
    held = record_number(page)
    page.sign_out()

    signed_in(page, server, "chief")
    assert page.path == "/review/holds"
    page.press("Look and decide")
    new, earlier = page.driver.find_elements("css selector", ".side-by-side section")
    assert "The new enrollment" in new.text and f"record {server.records['C01']}" in earlier.text
    for side in (new, earlier):  # portraits, the card photos and both prints, each side
        assert len(side.find_elements("css selector", "img")) == 4
    page.shot("en-hold")
    page.fill(reason="the same person as the earlier record")
    page.press("Reject")
    page.wait_for_text(f"Record {held} was deleted as a duplicate")
    assert "Nothing is waiting for a decision" in page.text


def test_a_missing_finger_is_enrolled_as_an_exception_the_supervisor_approves(
    page: Page, server: StationServer
) -> None:
    signed_in(page, server, "clerk")
    assert enroll(page, "C02", missing=7) == "Held for a supervisor"
    assert "fingers could not be taken" in page.text
    held = record_number(page)
    page.sign_out()

    signed_in(page, server, "chief")
    page.press("Look and decide")
    assert "left index finger: missing" in page.text
    page.fill(reason="lost the finger in an accident, seen by me")
    page.press("Accept")
    page.wait_for_text(f"Record {held}: active")


def test_intake_gives_a_receipt_whose_status_a_citizen_checks_without_signing_in(
    page: Page, server: StationServer
) -> None:
    signed_in(page, server, "clerk")
    heading = verify_at_intake(  # the card held up to the camera: nothing typed
        page, "C01", before_deciding=lambda: page.shot("en-intake"), card_by_camera=True
    )
    assert heading == "Accepted", page.text
    page.press("Print the receipt")
    numbers = page.driver.find_elements("css selector", "dd.number")
    application, code = numbers[0].text, numbers[1].text
    page.shot("en-receipt")
    page.press("Back to the desk")
    page.sign_out()

    page.driver.delete_all_cookies()  # a citizen's own phone: the station's language first
    page.go("/status-check")
    assert page.language == "ky"
    old = page.driver.find_element("tag name", "html")
    page.choose("language", "en")  # choosing is enough: the page comes back in English
    page.wait_for(lambda _: gone(old) and page.language == "en", 15, "the page in English")
    assert page.path == "/status-check"
    page.fill(number=application, code=code)
    page.press("Check")
    page.wait_for_text("Accepted")
    assert "C01" not in page.text and "clerk" not in page.text  # nothing else is revealed
    page.fill(number=application, code="000000")
    page.press("Check")
    page.wait_for_text("No application with this number and code")


ENGLISH_HEADINGS = {
    "desk": "What do you want to do?",
    "consent": "Consent",
    "card": "Read the ID card",
    "face": "Take the photo",
    "hold": "Held enrollment",
}


def test_the_main_screens_in_kyrgyz_russian_and_english(page: Page, server: StationServer) -> None:
    """Each main screen in each language (the README's screenshots come from here): the
    operator's wizard up to the fingers, a held enrollment side by side, the receipt check."""
    signed_in(page, server, "clerk")
    citizen_comes(page, "C01")  # enrolled already: this enrollment will be held
    page.sign_out()
    for language in ("ky", "ru", "en"):
        page.sign_in("clerk", server.passwords["clerk"], language=language)
        assert page.language == language
        seen = {"desk": page.heading}
        page.shot(f"{language}-desk")
        page.click(page.find('form[action="/desk/enroll"] button'))
        seen["consent"] = page.heading
        page.shot(f"{language}-consent")
        page.find("input[name=consent]").click()
        page.click(page.find("form.stack button.primary"))
        read_the_card(page)
        page.wait_for(lambda _: page.driver.find_elements("css selector", ".found"), 30)
        seen["card"] = page.heading
        page.shot(f"{language}-card")
        page.click(page.find('.found button[value="continue"]'))
        page.click(page.find("#camera-start"))
        next_step = page.find("#face-next")
        page.wait_for(lambda _, button=next_step: button.is_enabled(), 60, "a good photo")
        seen["face"] = page.heading
        page.shot(f"{language}-face")
        if language == "ky":  # one held enrollment, for every language's supervisor
            page.click(next_step)
            for position in (2, 7):
                scan(page, position)
            page.shot(f"{language}-fingers")
            page.click(page.find('button[value="done"]'))
            page.click(page.find("form button.primary"))
            page.wait_for(lambda _: page.path.endswith("/result"), 60, "the result")
        page.sign_out()

        page.sign_in("chief", server.passwords["chief"], language=language)
        page.click(page.find("td a.button"))
        seen["hold"] = page.heading
        page.shot(f"{language}-hold")
        page.sign_out()
        page.go("/status-check")
        page.shot(f"{language}-status-check")
        for screen, english in ENGLISH_HEADINGS.items():
            translated = language != "en"
            assert (english not in seen[screen]) == translated, (language, screen, seen[screen])
        page.driver.delete_all_cookies()


def test_nothing_personal_went_into_the_station_s_log(
    server: StationServer, datasets: Path
) -> None:
    from station.simulation import Population

    logs = server.console_log.read_text() + "".join(
        path.read_text(errors="replace") for path in (server.data / "logs").glob("*.log*")
    )
    assert "simulated desk: C01 at the station" in logs  # the log is there, and it is read
    for citizen in Population.from_datasets(datasets).citizens[:2]:
        for personal in (citizen.name, citizen.surname, citizen.document_number, citizen.mrz):
            assert personal not in logs, personal


def test_a_minute_before_the_idle_limit_a_warning_offers_to_stay_signed_in(
    tmp_path: Path, driver: Any
) -> None:
    quick = start_server(tmp_path, env={"STATION_SESSION_IDLE_SECONDS": "63"})
    try:
        driver.delete_all_cookies()
        page = Page(driver, quick.url)
        page.sign_in("admin", quick.one_time_password)
        warning = driver.find_element("id", "idle-warning")
        page.wait_for(lambda _: warning.get_attribute("open") is not None, 15, "the warning")
        assert "signed out in one minute" in warning.text
        page.press("Stay signed in")
        page.wait_for(lambda _: warning.get_attribute("open") is None, 10, "the warning to close")
        assert page.path == "/password"  # still signed in, on the same page
    finally:
        driver.delete_all_cookies()
        assert quick.stop() == 0
