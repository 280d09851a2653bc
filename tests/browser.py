"""What the browser tests need: a real `station serve --sim` in its own process, and Debian's
Chromium driven through chromedriver (Selenium), headless, at a laptop's 1366x768."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1366,768",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StationServer:
    """`station serve --sim` on a free port; its console at ``url``."""

    data: Path
    url: str
    process: subprocess.Popen[bytes]
    console_log: Path
    one_time_password: str
    passwords: dict[str, str] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)  # simulated citizen -> record number

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=10)


def start_server(folder: Path, *extra: str, env: dict[str, str] | None = None) -> StationServer:
    """Start the station with simulated devices and wait until its console answers."""
    port = free_port()
    data = folder / "data"
    console_log = folder / "serve.log"
    environ = {
        **os.environ,
        "STATION_LOG_LEVEL": "INFO",  # everything the station says, for the privacy check
        "STATION_KEY_FILE": str(folder / "station.key"),
        "STATION_PASSWORD_KDF_N": "1024",
        "STATION_LOGIN_ANSWER_SECONDS": "0",
        **(env or {}),
    }
    environ.pop("STATION_ADMIN_PASSWORD", None)
    with console_log.open("wb") as log:  # a file, never a pipe the server could fill and block on
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "station",
                "serve",
                "--sim",
                "--port",
                str(port),
                "--data",
                str(data),
                *extra,
            ],
            env=environ,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"station serve stopped: {console_log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        raise AssertionError(f"station serve did not answer: {console_log.read_text()}")
    found = re.search(r"one-time password (\S+)", console_log.read_text())
    assert found, console_log.read_text()
    return StationServer(data, url, process, console_log, found.group(1))


def chromium() -> Any:
    """A headless Chromium (scripts/bootstrap installs it; without it the test fails, saying so)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed: run scripts/bootstrap")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    service = Service(str(CHROMEDRIVER), log_output=subprocess.DEVNULL)
    return webdriver.Chrome(service=service, options=options)


class Page:
    """The console in one browser tab, driven as an operator would: by labels and buttons."""

    def __init__(self, driver: Any, base: str, screenshots: Path | None = None) -> None:
        self.driver = driver
        self.base = base
        self.screenshots = screenshots

    # -- looking --------------------------------------------------------------------------------

    def go(self, path: str) -> None:
        self.driver.get(self.base + path)

    @property
    def path(self) -> str:
        from urllib.parse import urlparse

        return str(urlparse(self.driver.current_url).path)

    @property
    def text(self) -> str:
        return str(self.driver.find_element("tag name", "body").text)

    @property
    def heading(self) -> str:
        return str(self.driver.find_element("tag name", "h1").text)

    @property
    def language(self) -> str:
        return str(self.driver.find_element("tag name", "html").get_attribute("lang"))

    def wait_for(self, condition: Any, seconds: float = 30, what: str = "") -> Any:
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
            TimeoutException,
        )
        from selenium.webdriver.support.ui import WebDriverWait

        # A page being replaced by the next one is no failure: look again until it is there.
        waiting = WebDriverWait(
            self.driver,
            seconds,
            poll_frequency=0.1,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        )
        try:
            return waiting.until(condition)
        except TimeoutException:
            raise AssertionError(
                f"waited {seconds} s for {what or 'a condition'}; at {self.path}: {self.text[:600]}"
            ) from None

    def wait_for_text(self, words: str, seconds: float = 30) -> None:
        self.wait_for(lambda _: words in self.text, seconds, f"{words!r} on {self.path}")

    def shot(self, name: str) -> None:
        """A screenshot for the README, when the run was asked for them."""
        if self.screenshots is not None:
            self.screenshots.mkdir(parents=True, exist_ok=True)
            # The simulated citizens' faces and prints are the datasets' (LFW, FVC, UPEK): the
            # repository keeps none of them, so every picture is blurred beyond recognition.
            self.driver.execute_script(
                "document.querySelectorAll('img').forEach(i => i.style.filter = 'blur(9px)')"
            )
            self.driver.save_screenshot(str(self.screenshots / f"{name}.png"))
            self.driver.execute_script(
                "document.querySelectorAll('img').forEach(i => i.style.filter = '')"
            )

    # -- acting ---------------------------------------------------------------------------------

    def field(self, name: str) -> Any:
        return self.driver.find_element("name", name)

    def fill(self, **values: str) -> None:
        for name, value in values.items():
            element = self.field(name)
            element.clear()
            element.send_keys(value)

    def choose(self, name: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.field(name)).select_by_value(value)

    def press(self, label: str, seconds: float = 15) -> None:
        """Click the visible button (or link styled as one) whose text starts with ``label``,
        once the page that has it is there; when the click sends a form or follows a link, wait
        until the next page has replaced this one."""
        from selenium.common.exceptions import WebDriverException

        deadline = time.monotonic() + seconds
        while True:
            try:
                for element in self.driver.find_elements("css selector", "button, a.button"):
                    if element.is_displayed() and element.text.strip().startswith(label):
                        self.click(element)
                        return
            except WebDriverException:
                pass  # the page changed under us: look again
            if time.monotonic() > deadline:
                raise AssertionError(f"no button {label!r} on {self.path}: {self.text[:400]}")
            time.sleep(0.1)

    def click(self, element: Any, seconds: float = 90) -> None:
        """Click ``element``; if it submits a form or is a link, wait for the next page."""
        leaves = element.tag_name == "a" or (element.get_attribute("type") or "submit") == "submit"
        if element.tag_name == "button" and element.get_attribute("type") == "button":
            leaves = False
        old = self.driver.find_element("tag name", "html")
        element.click()
        if leaves:
            self.wait_for(lambda _: gone(old), seconds, "the next page")

    def find(self, css: str, seconds: float = 15) -> Any:
        """The element at ``css`` once the page has it."""
        return self.wait_for(
            lambda _: (self.driver.find_elements("css selector", css) or [None])[0],
            seconds,
            css,
        )

    def press_value(self, value: str, within: str = "body") -> None:
        """Click the button carrying ``value`` (e.g. the scan button of one finger's card)."""
        self.click(self.find(f'{within} button[value="{value}"]'))

    def sign_in(self, login: str, password: str, language: str = "en") -> None:
        self.go("/sign-in")
        self.fill(login=login, password=password)
        self.choose("language", language)
        self.click(self.find("form.stack button[type=submit]"))

    def sign_out(self) -> None:
        self.click(self.find(".who button"))
        self.wait_for(lambda _: self.path == "/sign-in", 15)


def gone(element: Any) -> bool:
    """Whether the page ``element`` belonged to has been replaced (Chromium says so in two ways:
    a stale element, or a node that no longer belongs to the document)."""
    from selenium.common.exceptions import WebDriverException

    try:
        element.is_enabled()
    except WebDriverException:
        return True
    return False


# -- the operator's steps at the console, in English ------------------------------------------


def _no_lap(step: str) -> None:
    """Where a journey says a step is done, when no one is timing it."""


def citizen_comes(page: Page, citizen: str | None, card: bool = True) -> None:
    """The tester says who stands at the station, from the simulation bar on any page."""
    bar = page.driver.find_element("css selector", "aside.simulation")
    page.choose("citizen", citizen or "")
    page.choose("card", "yes" if card else "no")
    page.click(bar.find_element("css selector", "button[type=submit]"))
    if citizen:
        page.wait_for_text(f"({citizen}) stands at the station")


def take_photo(page: Page) -> None:
    page.press("Start the camera")
    next_step = page.find("#face-next")
    page.wait_for(lambda _: next_step.is_enabled(), 60, "a good photo")


def read_the_card(page: Page, by_camera: bool = False) -> None:
    """Type the MRZ of the card on the reader (the simulation bar shows it) and read the chip;
    or, ``by_camera``, have the citizen hold the card up to the camera and press the button."""
    if by_camera:
        page.press_value("camera")
        return
    mrz = page.find("#sim-mrz").text
    page.find("textarea[name=mrz]").send_keys(mrz)
    page.press_value("read")


def scan(page: Page, position: int) -> None:
    page.press_value("scan", within=f"#finger-{position}")
    page.wait_for(
        lambda _: (
            "done"
            in (page.driver.find_element("id", f"finger-{position}").get_attribute("class") or "")
        ),
        60,
        f"finger {position} taken",
    )


def enroll(
    page: Page, citizen: str, missing: int | None = None, lap: Callable[[str], None] = _no_lap
) -> str:
    """The whole enrollment wizard, in English, for a citizen with their card; the result
    page's heading. ``lap(step)`` is called as each step is done (for the benchmark)."""
    page.go("/desk")
    citizen_comes(page, citizen)
    lap("start")
    page.press("Enroll a person")
    page.find("input[name=consent]").click()  # a checkbox: no new page
    page.press("Next: the ID card")
    lap("consent")
    read_the_card(page)
    page.wait_for_text("genuine")
    lap("card")
    page.press("Next: the face")
    take_photo(page)
    lap("face")
    page.press("Next: the fingers")
    for position in (2, 7):
        if position == missing:
            card = page.find(f"#finger-{position}")
            from selenium.webdriver.support.ui import Select

            Select(card.find_element("name", "reason")).select_by_value("missing")
            page.click(card.find_element("css selector", 'button[value="exception"]'))
            page.wait_for_text("A supervisor must approve this")
        else:
            scan(page, position)
        lap(f"finger {position}")
    page.press("Next: check and save")
    page.press("Save the enrollment")
    page.wait_for(lambda _: page.path.endswith("/result"), 60, "the result")
    lap("save")
    return page.heading


def record_number(page: Page) -> int:
    found = re.search(r"Record (\d+)", page.text)
    assert found, page.text
    return int(found.group(1))


def verify_at_intake(
    page: Page,
    citizen: str,
    lap: Callable[[str], None] = _no_lap,
    before_deciding: Callable[[], None] = lambda: None,
    card_by_camera: bool = False,
) -> str:
    """Intake for a citizen with their card: card (typed, or read with the camera), live face,
    a finger, the decision (its heading)."""
    page.go("/desk")
    citizen_comes(page, citizen)
    lap("start")
    page.press("Verify an applicant")
    read_the_card(page, by_camera=card_by_camera)
    page.wait_for(lambda _: page.driver.find_elements("css selector", ".card.done"), 30)
    lap("card")
    page.press("Start the camera")
    page.wait_for(
        lambda _: "Good photo." in page.driver.find_element("id", "hints").text, 60, "a photo"
    )
    lap("face")
    page.press_value("scan")
    page.wait_for(lambda _: len(page.driver.find_elements("css selector", ".card.done")) == 3, 60)
    lap("finger 2")
    before_deciding()
    page.press("Decide")
    page.wait_for(lambda _: page.path.endswith("/result"), 60, "the decision")
    lap("decide")
    return page.heading
