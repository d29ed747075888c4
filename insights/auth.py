"""Who may see the reports: a bearer token (``REPORTS_TOKEN``) or a signed-in user (``REPORTS_USER`` and
``REPORTS_PASSWORD``), held in a signed, HttpOnly, SameSite=Strict cookie.

Unset settings grant nothing: with no token configured no token works, with
no password no one can sign in. Comparisons are constant-time; a client that
keeps failing to sign in is made to wait.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from insights.settings import Settings

COOKIE = "reports_session"
SESSION_SECONDS = 8 * 3600
#: After this many failed sign-ins from one client within the window, it must wait for the window to pass.
MAX_FAILURES = 5
FAILURE_WINDOW = 300.0


def _equal(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def token_ok(settings: Settings, authorization: str | None) -> bool:
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and _equal(token.strip(), settings.token)


def password_ok(settings: Settings, user: str, password: str) -> bool:
    user_ok = _equal(user, settings.user)
    password_ok = _equal(password, settings.password)
    return user_ok and password_ok


def _sign(settings: Settings, payload: bytes) -> str:
    return hmac.new(settings.session_secret, payload, hashlib.sha256).hexdigest()


def session_cookie(settings: Settings, user: str, *, now: float | None = None) -> str:
    payload = base64.urlsafe_b64encode(
        json.dumps({"u": user, "exp": (now or time.time()) + SESSION_SECONDS}).encode()
    )
    return f"{payload.decode()}.{_sign(settings, payload)}"


def session_user(settings: Settings, cookie: str | None, *, now: float | None = None) -> str | None:
    """The signed-in user, if the cookie is ours, unexpired and for the configured user."""
    if not cookie or "." not in cookie:
        return None
    payload, _, signature = cookie.rpartition(".")
    if not hmac.compare_digest(signature, _sign(settings, payload.encode())):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    if data.get("exp", 0) < (now or time.time()) or not _equal(str(data.get("u", "")), settings.user):
        return None
    return str(data["u"])


@dataclass
class SignInThrottle:
    """Failed sign-ins per client, in memory (one reports process; a shared store would serve several)."""

    failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def blocked(self, client: str, *, now: float | None = None) -> bool:
        now = now or time.time()
        recent = self.failures[client]
        while recent and now - recent[0] > FAILURE_WINDOW:
            recent.popleft()
        return len(recent) >= MAX_FAILURES

    def failed(self, client: str, *, now: float | None = None) -> None:
        self.failures[client].append(now or time.time())

    def succeeded(self, client: str) -> None:
        self.failures.pop(client, None)


def safe_next(target: str | None) -> str:
    """Only a path on this site is a place to go back to after signing in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/reports"
