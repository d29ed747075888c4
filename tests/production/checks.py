"""What the load test and the fault suite check afterwards, and how they read the replies."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from tests.production.stack import ProductionStack

#: Reply kinds a resident can see, by words only that reply has.
KINDS = (
    ("store unavailable", "having a technical problem"),
    ("slow down", "a lot of messages very quickly"),
    ("action fallback", "something went wrong on our side"),
    ("back-office honest", "isn't working right now"),
)


def reply_kind(status: int, replies: Any) -> str:
    if status != 200:
        text = (
            " ".join(str(r.get("text") or "") for r in replies if isinstance(r, dict))
            if isinstance(replies, list)
            else ""
        )
        if status == 503 and KINDS[0][1] in text:
            return KINDS[0][0]  # the guard's defined reply when a store is down
        return f"HTTP {status}"
    if not isinstance(replies, list) or not replies:
        return "no reply"
    text = " ".join(str(r.get("text") or "") for r in replies if isinstance(r, dict))
    for kind, words in KINDS:
        if words in text:
            return kind
    return "normal"


def turn_problems(events: Sequence[dict[str, Any]], sent: Sequence[Sequence[str]]) -> list[str]:
    """Problems with one conversation as stored: ``sent`` is its turns in order, a burst (several
    messages at once, in any order) as one group. Checks: every message stored exactly once, the
    turns in order, each turn alone (a user message only follows the bot going back to listening),
    timestamps never going back."""
    problems = []
    users = [e.get("text") for e in events if e.get("event") == "user"]
    expected = [text for group in sent for text in group]
    if Counter(users) != Counter(expected):
        missing = Counter(expected) - Counter(users)
        extra = Counter(users) - Counter(expected)
        problems.append(
            f"messages stored {len(users)} of {len(expected)} (missing {dict(missing)}, extra {dict(extra)})"
        )
    else:
        position = 0
        for group in sent:
            if Counter(users[position : position + len(group)]) != Counter(group):
                problems.append(f"turn order differs at message {position}")
                break
            position += len(group)
    for index, event in enumerate(events):
        if event.get("event") == "user":
            actions = [e for e in events[:index] if e.get("event") == "action"]
            if not actions or actions[-1].get("name") != "action_listen":
                problems.append(f"message {index} did not wait for the previous turn")
    stamps = [e.get("timestamp") or 0.0 for e in events]
    if any(b < a for a, b in zip(stamps, stamps[1:], strict=False)):
        problems.append("timestamps go back")
    return problems


def broker_gaps(stack: ProductionStack, senders: Iterable[str]) -> tuple[int, int]:
    """(tracker events of these conversations, of them not in the demand events table)."""
    senders = list(senders)
    if not senders:
        return 0, 0
    tracker_ids = {
        str(r.id)
        for r in stack.query("TRACKER_DB_URL", "SELECT id FROM events WHERE sender_id = ANY(:s)", s=senders)
    }
    received = {
        r.event_id
        for r in stack.query(
            "DEMAND_EVENTS_URL", "SELECT event_id FROM events WHERE sender_id = ANY(:s)", s=senders
        )
    }
    return len(tracker_ids), len(tracker_ids - received)
