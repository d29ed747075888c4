"""What every channel checks before a resident's message reaches the assistant, and after.

Before (``decode_body``, ``clean_text``, ``clean_sender``, ``RateLimiter``):

- a webhook body is at most ``max_body_bytes`` and valid UTF-8 (else 413 / 400);
- a message is at most ``max_message_chars`` after cleaning; cleaning keeps
  every language and emoji (NFC-normalised) and removes what no resident
  types: control characters, lone surrogates (``"\\ud800"`` is valid JSON but
  breaks every database write), byte-order marks, zero-width spaces and
  bidirectional overrides (which disguise text on the dashboard);
- a sender id is 1-128 characters of letters, digits and ``-_.:@+=`` (no
  slashes, spaces or dots-only ids that could play with URLs or logs);
- each sender gets ``rate_burst`` messages at once, refilled at
  ``rate_per_minute`` (a token bucket per process: behind a load balancer
  with n replicas a sender gets at most n times that).

After (``protect``): whatever fails while the assistant handles a message
(the lock store or tracker store down, the action server down, a bug), the
resident gets a defined reply instead of silence or a 500:

- a store that is down: ``UNAVAILABLE_TEXT``, nothing processed;
- a turn that produced no reply at all (Rasa drops a failed action call's
  events and says nothing): ``NO_REPLY_TEXT``.

``GuardedRestInput`` is the REST channel with all of this applied (the
production profile's ``credentials.yml`` uses it); a failure the channel
answers itself with a 5xx (its own store down) becomes the same defined
reply, as JSON, with ``Retry-After``. Another channel uses the
functions directly and wraps its ``on_new_message`` with ``protect``.
Limits come from the environment (``Limits.from_env``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger("integrations.channels.guard")

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]

TOO_LONG_TEXT = "That message is too long for me. Please send a shorter one, up to {limit} characters."
EMPTY_TEXT = "I didn't get any words in that message. Please type what you need."
TOO_FAST_TEXT = "You've sent a lot of messages very quickly. Please wait a minute, then try again."
UNAVAILABLE_TEXT = (
    "Sorry, the assistant is having a technical problem and can't answer right now. "
    "Please try again in a few minutes."
)
NO_REPLY_TEXT = (
    "Sorry, something went wrong on our side and I couldn't answer that. "
    "Please try again in a few minutes, or talk to a person."
)
PERSON_BUTTON = {"title": "Talk to a person", "payload": "/request_human"}


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 16 * 1024
    max_message_chars: int = 1000
    rate_per_minute: float = 60.0
    rate_burst: int = 20
    max_sender_chars: int = 128

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Limits:
        env = os.environ if env is None else env
        return cls(
            max_body_bytes=int(env.get("INPUT_MAX_BODY_BYTES", cls.max_body_bytes)),
            max_message_chars=int(env.get("INPUT_MAX_MESSAGE_CHARS", cls.max_message_chars)),
            rate_per_minute=float(env.get("INPUT_RATE_PER_MINUTE", cls.rate_per_minute)),
            rate_burst=int(env.get("INPUT_RATE_BURST", cls.rate_burst)),
        )


class Refused(Exception):
    """Input we won't process: an HTTP status for the caller and a reply for the resident."""

    def __init__(self, status: int, reason: str, reply: str) -> None:
        super().__init__(reason)
        self.status, self.reason, self.reply = status, reason, reply


# --- checks -------------------------------------------------------------------------

# C0 and C1 controls except tab and newline; zero-width space, BOM, word joiner;
# bidirectional embeddings, overrides and isolates. (U+200D, the zero-width joiner,
# stays: emoji sequences need it.)
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\ufff9-\ufffb]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_LINES = re.compile(r"\n{3,}")
_SENDER = re.compile(r"^[A-Za-z0-9_\-.:@+=]+$")


def decode_body(raw: bytes | None, limits: Limits) -> str:
    """A webhook body as text: ``Refused`` if too large or not UTF-8."""
    raw = raw or b""
    if len(raw) > limits.max_body_bytes:
        raise Refused(413, "body too large", TOO_LONG_TEXT.format(limit=limits.max_message_chars))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8", EMPTY_TEXT) from None


def clean_text(text: Any, limits: Limits) -> str:
    """What the assistant reads of a message (see the module notes); ``Refused`` if nothing or too much."""
    if not isinstance(text, str):
        raise Refused(400, "message must be text", EMPTY_TEXT)
    text = _SURROGATE.sub("", text)
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", text)
    text = _LINES.sub("\n\n", _SPACES.sub(" ", text)).strip()
    if not text:
        raise Refused(400, "empty message", EMPTY_TEXT)
    if len(text) > limits.max_message_chars:
        raise Refused(413, "message too long", TOO_LONG_TEXT.format(limit=limits.max_message_chars))
    return text


def clean_sender(sender: Any, limits: Limits) -> str:
    if not isinstance(sender, str) or not sender or len(sender) > limits.max_sender_chars:
        raise Refused(400, "sender must be 1-128 characters", EMPTY_TEXT)
    if not _SENDER.match(sender) or set(sender) <= {"."}:
        raise Refused(400, "sender has characters that are not allowed", EMPTY_TEXT)
    return sender


class RateLimiter:
    """A token bucket per key, in this process; at most ``max_keys`` kept (least recent dropped)."""

    def __init__(self, limits: Limits, max_keys: int = 50_000, clock: Callable[[], float] = time.monotonic):
        self.rate = limits.rate_per_minute / 60.0
        self.burst = float(limits.rate_burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[Any, tuple[float, float]] = OrderedDict()

    def allow(self, key: Any) -> bool:
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed

    def retry_after(self, key: Any) -> int:
        tokens, _ = self._buckets.get(key, (self.burst, 0.0))
        return max(1, int((1.0 - tokens) / self.rate) + 1) if self.rate else 60


# --- after: never silent, never a 500 -------------------------------------------------------


class WatchedOutput(OutputChannel):
    """Passes every reply on to the channel's own output, counting them."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.sent = 0

    def name(self) -> str:  # type: ignore[override]
        return self.inner.name()

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.sent += 1
        await self.inner.send_response(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.sent += 1
        await self.inner.send_text_message(recipient_id, text, **kwargs)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self.sent += 1
        await self.inner.send_text_with_buttons(recipient_id, text, buttons, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def is_store_failure(error: BaseException) -> bool:
    """The lock store, tracker store or event broker is down (not a bug in a turn)."""
    from rasa.core.lock_store import LockError
    from rasa.shared.exceptions import ConnectionException

    return isinstance(error, (LockError, ConnectionException, ConnectionError, TimeoutError))


def protect(
    on_new_message: OnNewMessage,
    channel: str,
    *,
    limits: Limits | None = None,
    limiter: RateLimiter | None = None,
    check_text: bool = True,
) -> OnNewMessage:
    """``on_new_message`` that always answers the resident (see the module notes).

    With ``check_text`` the message is cleaned and rate-limited here, and a
    refused one is answered with its reply (for channels whose HTTP status no
    resident sees, such as SMS); without it the caller has done that already.
    """
    limits = limits or Limits.from_env()
    limiter = limiter or RateLimiter(limits)

    async def handle(message: UserMessage) -> None:
        watched = WatchedOutput(message.output_channel)
        message.output_channel = watched
        sender = message.sender_id or ""
        if check_text:
            try:
                if message.parse_data is None:
                    message.text = clean_text(message.text, limits)
                if not limiter.allow((channel, sender)):
                    raise Refused(429, "rate limited", TOO_FAST_TEXT)
            except Refused as refused:
                logger.info("%s: refused a message (%s)", channel, refused.reason)
                await watched.send_text_message(sender, refused.reply)
                return
        try:
            await on_new_message(message)
        except Exception as error:
            if is_store_failure(error):
                logger.error("%s: a store is unavailable (%s: %s)", channel, type(error).__name__, error)
            else:
                logger.exception("%s: handling a message failed", channel)
            await watched.send_text_message(sender, UNAVAILABLE_TEXT)
            return
        if watched.sent == 0:
            logger.error("%s: the turn produced no reply (a failed action call?); sent the fallback", channel)
            await watched.send_text_with_buttons(sender, NO_REPLY_TEXT, [PERSON_BUTTON])

    return handle


def refuse_memory_fallback_on_start(app: Sanic) -> None:
    """Once the agent is loaded, stop Rasa's tracker-store wrapper falling back to memory.

    With ``REQUIRE_DURABLE_STORES=true`` (the production profile) also check
    that Rasa really built durable stores: it silently uses in-memory ones, or
    no event broker, when a configured class fails to import. Then the
    server stops at once with the reason.
    """
    from bot.tracker_store import refuse_memory_fallback

    agent = getattr(app.ctx, "agent", None)
    if agent is None or agent.tracker_store is None:
        return
    refuse_memory_fallback(agent.tracker_store)
    if os.environ.get("REQUIRE_DURABLE_STORES", "").lower() not in ("1", "true", "yes"):
        return
    problems = durable_store_problems(agent)
    if problems:
        message = "refusing to run without durable stores: " + "; ".join(problems)
        logger.critical(message)
        print(f"error: {message}", flush=True)
        os._exit(78)  # EX_CONFIG: honcho (or systemd) sees the service stop at start
    logger.info("guard: durable stores checked; the tracker store fails loudly instead of using memory")


def durable_store_problems(agent: Any) -> list[str]:
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.core.tracker_store import InMemoryTrackerStore

    problems = []
    inner = getattr(agent.tracker_store, "_tracker_store", agent.tracker_store)
    if isinstance(inner, InMemoryTrackerStore):
        problems.append("the tracker store is in memory")
    if isinstance(agent.lock_store, InMemoryLockStore):
        problems.append("the lock store is in memory")
    if getattr(inner, "event_broker", None) is None:
        problems.append("there is no event broker")
    return problems


# --- the REST channel, guarded ----------------------------------------------------------------

try:
    from integrations.channels.rest import RestInput as _BaseRest
except ImportError:  # the safe REST channel not there: guard Rasa's own
    from rasa.core.channels.rest import RestInput as _BaseRest  # type: ignore[assignment, no-redef]


class GuardedRestInput(_BaseRest):  # type: ignore[misc, valid-type]
    """``POST /webhooks/rest/webhook`` with the checks above: 400 / 413 / 429, never a 500."""

    limits: Limits
    limiter: RateLimiter

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        self.limits = Limits.from_env()
        self.limiter = RateLimiter(self.limits)
        blueprint = super().blueprint(
            protect(on_new_message, self.name(), limits=self.limits, check_text=False)
        )

        @blueprint.middleware("request")
        async def check(request: Request) -> HTTPResponse | None:
            if request.method != "POST":
                return None
            try:
                body = json.loads(decode_body(request.body, self.limits))
            except Refused as refused:
                return response.json({"error": refused.reason}, status=refused.status)
            except ValueError:
                return response.json({"error": "body is not JSON"}, status=400)
            if not isinstance(body, dict):
                return response.json({"error": 'send {"sender": ..., "message": ...}'}, status=400)
            try:
                sender = clean_sender(body.get("sender", "default"), self.limits)
                text = clean_text(body.get("message"), self.limits)
            except Refused as refused:
                return response.json({"error": refused.reason}, status=refused.status)
            if not self.limiter.allow(sender):
                retry = self.limiter.retry_after(sender)
                return response.json(
                    {"error": "too many messages"}, status=429, headers={"Retry-After": str(retry)}
                )
            # Only what the channel needs goes on: the cleaned text and the sender.
            request.body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
            return None

        @blueprint.middleware("response")
        async def answer_failures(request: Request, result: HTTPResponse) -> HTTPResponse | None:
            """The channel's own failure answer (a 5xx) becomes the defined reply, as JSON."""
            if request.method != "POST" or result.status < 500:
                return None
            sender = ""
            try:
                sender = str(json.loads(request.body or b"{}").get("sender") or "")
            except (ValueError, AttributeError):
                pass
            return response.json(
                [{"recipient_id": sender, "text": UNAVAILABLE_TEXT}],
                status=503,
                headers={"Retry-After": "30"},
            )

        @blueprint.listener("after_server_start")
        async def strict_stores(app: Sanic, _: Any) -> None:
            refuse_memory_fallback_on_start(app)

        return blueprint
