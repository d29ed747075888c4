"""The demand store's input: finished conversations with their requests and messages.

Both routes into the store produce these: Rasa events through the outcome
rules (``insights.ingest``), and the synthetic year (``insights.generate``).
Plain tuples, so a year of them is cheap to make and to write.
"""

from __future__ import annotations

from typing import NamedTuple

OUTCOMES = (
    "completed",
    "informed",
    "handed_over",
    "not_understood",
    "unsupported",
    "integration_failed",
    "abandoned",
    "cancelled",
)
#: Requests the assistant could not resolve: the only ones whose text is kept (redacted).
UNRESOLVED = frozenset({"not_understood", "unsupported", "integration_failed"})


class MessageRecord(NamedTuple):
    """One user message: a demand event. The conversation gives its channel and resident."""

    ts: float  # UTC, seconds since the epoch
    intent: str
    confidence: float | None
    entity_types: str | None  # entity types found, comma-separated and sorted; never values
    request_seq: int | None  # the request it belongs to, None for small talk outside any request


class RequestRecord(NamedTuple):
    """A run of messages for one intent or journey, with its one outcome."""

    seq: int  # 0, 1, ... within the conversation
    started: float
    ended: float
    channel: str
    intent: str
    service: str
    category: str
    demand: str  # value, failure, marker or none
    outcome: str
    step: str | None  # where an abandoned or cancelled journey stopped, or the marker's step
    topic: str | None  # the council matter of an unsupported request
    system: str | None  # the back-office system that failed
    messages: int
    confidence: float | None  # of the message that started it
    text: str | None  # what the resident typed, raw: the store keeps it only if unresolved, redacted


class ConversationRecord(NamedTuple):
    key: str  # stable: the same conversation written twice is written once
    resident: str  # keyed hash of the sender id
    channel: str
    started: float
    ended: float
    outcome: str
    step: str | None
    requests: tuple[RequestRecord, ...]
    messages: tuple[MessageRecord, ...]
