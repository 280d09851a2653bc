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
            self.driver.save_screenshot(str(self.screenshots / f"{name}.png"))

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
