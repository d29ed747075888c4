"""Trackers for action unit tests, built the way Rasa sends them to the action server."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

DOMAIN: dict[str, Any] = {}


def user_event(
    text: str,
    intent: str,
    confidence: float = 0.95,
    entities: list | None = None,
    ranking: list[tuple[str, float]] | None = None,
) -> dict[str, Any]:
    parse = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence},
        "entities": entities or [],
        "intent_ranking": [{"name": n, "confidence": c} for n, c in (ranking or [(intent, confidence)])],
    }
    return {"event": "user", "text": text, "parse_data": parse}


def make_tracker(
    *events: dict[str, Any],
    slots: dict[str, Any] | None = None,
    active_loop: str | None = None,
    sender_id: str = "test-resident",
) -> Tracker:
    users = [e for e in events if e.get("event") == "user"]
    latest = users[-1]["parse_data"] if users else {}
    return Tracker(
        sender_id=sender_id,
        slots=slots or {},
        latest_message=latest,
        events=list(events),
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name=None,
    )


def texts(dispatcher: CollectingDispatcher) -> list[str]:
    return [m.get("text") or "" for m in dispatcher.messages]


def buttons(dispatcher: CollectingDispatcher) -> list[dict[str, str]]:
    return [b for m in dispatcher.messages for b in m.get("buttons") or []]
