"""Help, clarification, things we can't do, and stopping."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.config import settings
from insights import demand_map

#: The help menu, most asked-for first; WhatsApp lists hold at most 10 rows.
MENU = [
    "book_leisure_activity",
    "renew_library_loans",
    "book_library_session",
    "renew_garden_waste",
    "bin_collection_day",
    "report_missed_bin",
    "council_tax_balance",
    "cancel_booking",
    "check_request_status",
    "request_human",
]
#: Two intents closer than this are offered back as "Did you mean…".
AMBIGUITY_GAP = 0.1


def button(intent: str) -> dict[str, str]:
    return {"title": demand_map.load().info(intent).title, "payload": f"/{intent}"}


def menu_buttons() -> list[dict[str, str]]:
    return [button(intent) for intent in MENU]


def consecutive_misses(tracker: Tracker) -> int:
    """How many of the latest user messages in a row were not understood."""
    misses = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if (event.get("parse_data") or {}).get("intent", {}).get("name") != "nlu_fallback":
            break
        misses += 1
    return misses


def journey_slots(tracker: Tracker) -> list[EventType]:
    """Reset the slots a journey fills (``requested_slot`` and any form slot set)."""
    keep: set[str] = set()
    return [
        SlotSet(name, None) for name, value in tracker.slots.items() if value is not None and name not in keep
    ]


class ActionHelpMenu(Action):
    def name(self) -> str:
        return "action_help_menu"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = (
            "Thanks. What would you like to do?" if intent in ("inform", "affirm") else "I can help you to:"
        )
        dispatcher.utter_message(text=text, buttons=menu_buttons())
        return []


class ActionClarify(Action):
    """After a message the assistant could not place: ask, then offer the menu and a person."""

    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if consecutive_misses(tracker) >= 2:
            dispatcher.utter_message(
                text="Sorry, I still don't understand. Choose one of these, or talk to a person.",
                buttons=menu_buttons(),
            )
            return []
        dm = demand_map.load()
        ranking = [
            r
            for r in tracker.latest_message.get("intent_ranking", [])
            if dm.is_service_intent(r.get("name", ""))
        ]
        if len(ranking) >= 2 and ranking[0]["confidence"] - ranking[1]["confidence"] < AMBIGUITY_GAP:
            dispatcher.utter_message(
                text="Sorry, I'm not sure what you need. Did you mean:",
                buttons=[
                    button(ranking[0]["name"]),
                    button(ranking[1]["name"]),
                    {"title": "Something else", "payload": "/help"},
                ],
            )
            return []
        dispatcher.utter_message(
            text=(
                "Sorry, I didn't understand that. Could you say it another way? "
                "For example, 'when is my bin day' or 'book a swim'. Or say 'help' to see what I can do."
            )
        )
        return []


class ActionOutOfScope(Action):
    """Something the assistant does not serve: say so, and where to go instead."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        topic = demand_map.load().unsupported_topic(text)
        if topic is not None:
            dispatcher.utter_message(
                text=f"I can't help with {topic.name} here. You can find out more and contact the team "
                f"on the council website: {settings().page(topic.page)}"
            )
            return [SlotSet("unsupported_topic", topic.key)]
        else:
            dispatcher.utter_message(
                text="Sorry, I can only help with council services such as bins, council tax, "
                "leisure bookings and libraries. Say 'help' to see what I can do."
            )
        return []


class ActionStop(Action):
    """Leave whatever task is under way."""

    def name(self) -> str:
        return "action_stop"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if tracker.active_loop.get("name"):
            dispatcher.utter_message(
                text="OK, I've stopped that. Nothing has been changed. What would you like to do?"
            )
        else:
            dispatcher.utter_message(text="OK. Is there anything else I can help with?")
        return [ActiveLoop(None), *journey_slots(tracker)]


class ActionSignpost(Action):
    """Point the resident to the council web page for what they asked."""

    def name(self) -> str:
        return "action_signpost"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        info = demand_map.load().info(intent)
        dispatcher.utter_message(
            text=f"{info.title}: you can do this on the council website at {settings().page(info.page)}"
        )
        return []
