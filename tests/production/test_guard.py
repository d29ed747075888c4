"""The input guard's checks, on their own (the HTTP cases are in test_bad_input.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import LockError

from integrations.channels import guard
from integrations.channels.guard import Limits, RateLimiter, Refused, clean_sender, clean_text, decode_body

LIMITS = Limits(max_body_bytes=1000, max_message_chars=50, rate_per_minute=60, rate_burst=3)


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("when is my bin day", "when is my bin day"),
        ("  bin\x00 day\x07 ", "bin day"),  # control characters
        ("bin\u202eyad", "binyad"),  # a right-to-left override that would disguise text
        ("\ufeffhello\u200b", "hello"),  # byte-order mark, zero-width space
        ("bin \ud800day", "bin day"),  # a lone surrogate: valid JSON, breaks every database write
        ("🗑️ bin day 👨‍👩‍👧", "🗑️ bin day 👨‍👩‍👧"),  # emoji, with the zero-width joiner they need
        ("Pryd mae fy niwrnod bin?", "Pryd mae fy niwrnod bin?"),  # Welsh
        ("ごみの日はいつ", "ごみの日はいつ"),  # Japanese
        ("cafe\u0301", "café"),  # NFC
        ("line one\r\n\r\n\r\n\r\nline two", "line one\n\nline two"),
        ("'; DROP TABLE events; --", "'; DROP TABLE events; --"),  # text is text
    ],
)
def test_clean_text_keeps_what_residents_type_and_drops_what_they_cannot(typed: str, read: str) -> None:
    assert clean_text(typed, LIMITS) == read


@pytest.mark.parametrize(
    ("value", "status"),
    [("", 400), ("\x00\x01\u200b", 400), (None, 400), (123, 400), ("x" * 51, 413)],
)
def test_clean_text_refuses_empty_non_text_and_too_long(value: Any, status: int) -> None:
    with pytest.raises(Refused) as refused:
        clean_text(value, LIMITS)
    assert refused.value.status == status
    assert refused.value.reply  # the resident is told why


@pytest.mark.parametrize("sender", ["", "a/b", "../../etc", "..", "a b", "x" * 129, None, 5, "<script>"])
def test_clean_sender_refuses_ids_that_could_play_with_urls_or_logs(sender: Any) -> None:
    with pytest.raises(Refused):
        clean_sender(sender, LIMITS)


def test_clean_sender_accepts_ordinary_ids() -> None:
    assert clean_sender("web-3f2a9c_1:2@x+y=z", LIMITS) == "web-3f2a9c_1:2@x+y=z"


def test_decode_body_refuses_oversized_and_invalid_utf8() -> None:
    with pytest.raises(Refused) as big:
        decode_body(b"x" * 1001, LIMITS)
    with pytest.raises(Refused) as bad:
        decode_body(b'{"message": "\xff\xfe"}', LIMITS)
    assert (big.value.status, bad.value.status) == (413, 400)
    assert decode_body("£".encode(), LIMITS) == "£"


def test_rate_limiter_allows_a_burst_then_refills_per_sender() -> None:
    now = [0.0]
    limiter = RateLimiter(LIMITS, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # another sender has its own bucket
    now[0] += 1.0  # one message a second refills one token
    assert limiter.allow("a") and not limiter.allow("a")
    assert limiter.retry_after("a") >= 1


def test_rate_limiter_forgets_the_least_recent_senders_beyond_its_bound() -> None:
    limiter = RateLimiter(LIMITS, max_keys=10)
    for i in range(100):
        limiter.allow(f"s{i}")
    assert len(limiter._buckets) == 10


# --- protect: never silent ------------------------------------------------------


def run_protected(handler: Any, text: str = "hello", **kwargs: Any) -> list[dict[str, Any]]:
    output = CollectingOutputChannel()
    wrapped = guard.protect(handler, "test", limits=LIMITS, **kwargs)
    asyncio.run(wrapped(UserMessage(text, output, "sender-1")))
    return output.messages


def test_a_turn_that_answers_is_passed_through_untouched() -> None:
    async def answers(message: UserMessage) -> None:
        await message.output_channel.send_response(message.sender_id, {"text": "hi"})

    assert [m["text"] for m in run_protected(answers)] == ["hi"]


def test_a_turn_with_no_reply_gets_the_fallback_reply() -> None:
    async def silent(message: UserMessage) -> None:  # what Rasa does when an action call fails
        return None

    assert [m["text"] for m in run_protected(silent)] == [guard.NO_REPLY_TEXT]


@pytest.mark.parametrize("error", [LockError("redis down"), ConnectionError("db down"), RuntimeError("bug")])
def test_a_failing_turn_gets_the_unavailable_reply_not_an_exception(error: Exception) -> None:
    async def fails(message: UserMessage) -> None:
        raise error

    assert [m["text"] for m in run_protected(fails)] == [guard.UNAVAILABLE_TEXT]


def test_protect_cleans_text_and_answers_refusals_itself() -> None:
    seen: list[str] = []

    async def records(message: UserMessage) -> None:
        seen.append(message.text or "")
        await message.output_channel.send_response(message.sender_id, {"text": "ok"})

    assert [m["text"] for m in run_protected(records, "bin\x00 day")] == ["ok"]
    assert seen == ["bin day"]
    too_long = run_protected(records, "x" * 60)
    assert "too long" in too_long[0]["text"] and seen == ["bin day"]
