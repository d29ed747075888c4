"""A way to a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.config import settings


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(
            text=f"You can speak to someone on {settings().phone}, Monday to Friday, 8:30am to 5pm, "
            f"or contact us through {settings().page('/contact')}"
        )
        return []
