"""A test client that uses the console as a browser would: it keeps the cookies, reads each
page's CSRF token and sends it back with the next form."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from tests.conftest import TEST_PASSWORD

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Console:
    """One browser at the console."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()
        self.token = ""
        self.last: TestResponse | None = None

    def get(self, path: str) -> TestResponse:
        response = self.client.get(path)
        self._remember(response)
        return response

    def open(self, path: str) -> str:
        """The page's text, after any redirects; fails on anything but 200."""
        response = self.client.get(path, follow_redirects=True)
        assert response.status_code == 200, (path, response.status_code, self.text(response))
        self._remember(response)
        return response.get_data(as_text=True)

    def post(self, path: str, csrf: str | None = None, **fields: Any) -> TestResponse:
        """Submit a form of the last page (its CSRF token, unless ``csrf`` is given)."""
        data = {"csrf": self.token if csrf is None else csrf, **fields}
        response = self.client.post(path, data=data)
        self._remember(response)
        return response

    def follow(self, response: TestResponse) -> str:
        """The page a form's redirect leads to."""
        assert response.status_code in (302, 303), (response.status_code, self.text(response))
        return self.open(response.headers["Location"])

    def sign_in(self, login: str, password: str = TEST_PASSWORD, **fields: str) -> TestResponse:
        self.open("/sign-in")
        return self.post("/sign-in", login=login, password=password, **fields)

    def session_token(self) -> str | None:
        cookie = self.client.get_cookie("station_console")
        return cookie.value if cookie is not None else None

    @staticmethod
    def text(response: TestResponse) -> str:
        return response.get_data(as_text=True)

    def _remember(self, response: TestResponse) -> None:
        self.last = response
        if response.mimetype == "text/html":
            found = _CSRF.search(response.get_data(as_text=True))
            if found:
                self.token = found.group(1)
