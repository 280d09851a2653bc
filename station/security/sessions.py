"""Sign-in sessions: random bearer tokens that expire when idle and after a maximum age.

Only a hash of each token is kept, in memory: a restart of the station signs everyone out.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from station.errors import StationError
from station.security.roles import Actor


class SessionRequiredError(StationError):
    code = "session_required"

    def __init__(self) -> None:
        super().__init__(
            "sign in first: POST /api/v1/auth/login, then send 'Authorization: Bearer <token>'"
        )


class SessionExpiredError(StationError):
    code = "session_expired"

    def __init__(self) -> None:
        super().__init__("the session has expired: sign in again")


class PasswordChangeRequiredError(StationError):
    code = "password_change_required"

    def __init__(self) -> None:
        super().__init__(
            "change the one-time password before anything else: POST /api/v1/auth/password, or "
            "`station operator passwd`"
        )


@dataclass(frozen=True)
class Session:
    actor: Actor
    must_change_password: bool
    started: float
    last_seen: float
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """Open sessions by token hash. Thread-safe."""

    def __init__(self, idle_seconds: float, max_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.clock: Callable[[], float] = time.time
        self._open: dict[str, Session] = {}
        self._lock = threading.Lock()

    def _expiry(self, started: float, now: float) -> float:
        return min(now + self.idle_seconds, started + self.max_seconds)

    def start(self, actor: Actor, must_change_password: bool) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(actor, must_change_password, now, now, self._expiry(now, now))
        with self._lock:
            self._prune(now)
            self._open[_digest(token)] = session
        return token, session

    def get(self, token: str) -> Session:
        """The live session of this token, its idle timer restarted; or a 401 error."""
        key = _digest(token)
        now = self.clock()
        with self._lock:
            session = self._open.get(key)
            if session is None:
                raise SessionRequiredError()
            if now >= session.expires_at:
                del self._open[key]
                raise SessionExpiredError()
            session = replace(session, last_seen=now, expires_at=self._expiry(session.started, now))
            self._open[key] = session
        return session

    def is_live(self, token: str) -> bool:
        """Whether ``token`` opens a session now (its idle timer is not restarted)."""
        with self._lock:
            session = self._open.get(_digest(token))
            return session is not None and self.clock() < session.expires_at

    def password_changed(self, token: str) -> None:
        with self._lock:
            key = _digest(token)
            if key in self._open:
                self._open[key] = replace(self._open[key], must_change_password=False)

    def end(self, token: str) -> Session | None:
        with self._lock:
            return self._open.pop(_digest(token), None)

    def end_all(self, login: str, keep: str | None = None) -> int:
        """Sign an operator out everywhere (account disabled, password reset or changed), but
        for the session of token ``keep``."""
        kept = None if keep is None else _digest(keep)
        with self._lock:
            keys = [k for k, s in self._open.items() if s.actor.login == login and k != kept]
            for key in keys:
                del self._open[key]
        return len(keys)

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._open.items() if now >= s.expires_at]:
            del self._open[key]
