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

from tests.browser import Page, StationServer, chromium, start_server

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
