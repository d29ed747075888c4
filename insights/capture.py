"""Rasa events -> finished conversations (``ConversationRecord``) for the demand store.

The sender id never leaves this module: residents are known by a keyed hash
of it (HMAC-SHA256 with ``DEMAND_HASH_KEY``), so repeat contact shows without
storing phone numbers. A conversation is one Rasa session: it starts at a
``session_started`` (or ``restart``) event, and also after a silence longer
than the session expiry.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from insights.demand_map import DemandMap
from insights.outcomes import decide
from insights.records import ConversationRecord

#: Events that begin a new conversation.
BOUNDARIES = frozenset({"session_started", "restart"})


def resident_id(sender_id: str, key: bytes) -> str:
    """A stable pseudonym for a sender: 16 hex digits of HMAC-SHA256, useless without the key."""
    return hmac.new(key, sender_id.encode(), hashlib.sha256).hexdigest()[:16]


def conversation_key(resident: str, started: float) -> str:
    """Sorts by start time (so the store's index grows at its end) and is the same on every ingest."""
    return f"{round(started * 1000):013d}-{resident}"


def timestamp(event: Mapping[str, Any]) -> float | None:
    value = event.get("timestamp")
    return float(value) if isinstance(value, (int, float)) else None


def split(events: Sequence[Mapping[str, Any]], gap_seconds: float) -> list[list[Mapping[str, Any]]]:
    """One sender's events, in order, cut into conversations."""
    conversations: list[list[Mapping[str, Any]]] = []
    last_ts: float | None = None
    for event in events:
        ts = timestamp(event)
        gap = ts is not None and last_ts is not None and ts - last_ts > gap_seconds
        if not conversations or event.get("event") in BOUNDARIES or gap:
            if conversations and conversations[-1] and not _has_user(conversations[-1]) and not gap:
                conversations[-1].append(event)  # a restart right after a session start: same conversation
            else:
                conversations.append([event])
        else:
            conversations[-1].append(event)
        last_ts = ts if ts is not None else last_ts
    return conversations


def _has_user(events: Iterable[Mapping[str, Any]]) -> bool:
    return any(e.get("event") == "user" for e in events)


def record(
    resident: str, events: Sequence[Mapping[str, Any]], demand_map: DemandMap
) -> ConversationRecord | None:
    """The finished conversation, or ``None`` if the resident never said anything in it."""
    decided = decide(events, demand_map)
    if decided is None:
        return None
    return ConversationRecord(
        key=conversation_key(resident, decided.started),
        resident=resident,
        channel=decided.channel,
        started=decided.started,
        ended=decided.ended,
        outcome=decided.outcome,
        step=decided.step,
        requests=decided.requests,
        messages=decided.messages,
    )
