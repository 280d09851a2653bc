"""Sign-in throttling per client: a flood of attempts from one place cannot crowd out the rest.

Each client (a network address, or ``cli``) may have a few sign-in attempts under way at once and
a bounded number of failures in a sliding window; past either, its attempts are refused at once
(``too_many_attempts``, 429) without computing a password hash, so they cost neither CPU nor a
worker thread. The limits are about the client, never about an account, so the answer says
nothing about which logins exist. Accounts are protected separately: wrong passwords lock one
account for the client that sent them (:mod:`station.security.operators`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from station.errors import StationError

MAX_CLIENTS = 4096  # clients remembered before the idle ones are forgotten


class TooManyAttemptsError(StationError):
    code = "too_many_attempts"

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, round(retry_after))
        super().__init__(
            "too many sign-in attempts from this computer: wait "
            f"{self.retry_after} seconds, then try again"
        )


@dataclass
class _Client:
    in_flight: int = 0
    failures: deque[float] = field(default_factory=deque)


class SignInThrottle:
    """At most ``max_in_flight`` attempts at once and ``max_failures`` failures per ``window``
    seconds, per client. Thread-safe; state lives in memory (a restart forgets it)."""

    def __init__(
        self,
        max_in_flight: int = 2,
        max_failures: int = 30,
        window: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_in_flight = max_in_flight
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    @contextmanager
    def attempt(self, client: str) -> Iterator[None]:
        """Hold one of the client's attempt slots, or raise :class:`TooManyAttemptsError`."""
        with self._lock:
            state = self._clients.setdefault(client, _Client())
            self._forget_old(state)
            if len(state.failures) >= self.max_failures:
                raise TooManyAttemptsError(state.failures[0] + self.window - self.clock())
            if state.in_flight >= self.max_in_flight:
                raise TooManyAttemptsError(1)
            state.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                state.in_flight -= 1
                if not state.in_flight and not state.failures:
                    self._clients.pop(client, None)

    def failed(self, client: str) -> None:
        """Count a failed attempt of this client."""
        with self._lock:
            if len(self._clients) > MAX_CLIENTS:
                self._prune()
            state = self._clients.setdefault(client, _Client())
            state.failures.append(self.clock())

    def _prune(self) -> None:
        for name in list(self._clients):
            state = self._clients[name]
            self._forget_old(state)
            if not state.in_flight and not state.failures:
                del self._clients[name]

    def _forget_old(self, state: _Client) -> None:
        cutoff = self.clock() - self.window
        while state.failures and state.failures[0] < cutoff:
            state.failures.popleft()
