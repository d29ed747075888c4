"""Bins: collection days (and, with the waste journeys, missed bins and garden waste)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import clients
from actions.common import AddressSteps, ask_address_message, call, outcome, plain_date
from integrations.errors import NotFound

#: The waste system's bin types, as residents call them (NLU canonical values).
BIN_NAMES = {
    "general_waste": "general waste",
    "recycling": "recycling",
    "glass": "glass",
    "food": "food waste",
    "garden": "garden waste",
}
BIN_TYPES = {name: key for key, name in BIN_NAMES.items()}


class ActionAskAddress(Action):
    """Ask for the address at the postcode: buttons for a few, else the house number."""

    def name(self) -> str:
        return "action_ask_address"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        text, buttons = ask_address_message(tracker.get_slot("address_options") or [])
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


class ValidateBinDayForm(AddressSteps):
    journey = "bin_collection_day"

    def name(self) -> str:
        return "validate_bin_day_form"


class ActionBinCollectionDay(Action):
    def name(self) -> str:
        return "action_bin_collection_day"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        intent = "bin_collection_day"
        uprn = tracker.get_slot("uprn")
        reset = [SlotSet("attempts", None)]
        if not uprn or uprn == "not_listed":
            return [*reset, outcome("abandoned", intent, step="address")]
        try:
            collections, failed = await call(
                dispatcher, tracker, clients().waste.next_collections(uprn),
                intent=intent, doing="find your collection days",
            )
        except NotFound:
            dispatcher.utter_message(
                text="I couldn't find bin collections for that address. It may not be on one of our rounds. "
                "You can talk to a person about it."
            )
            return [*reset, outcome("informed", intent, found=False)]
        if failed:
            return [*reset, *failed]
        if not collections:
            dispatcher.utter_message(text="There are no collections booked at that address in the next 4 weeks.")
            return [*reset, outcome("informed", intent, found=False)]
        lines = []
        for c in collections:
            moved = " (moved because of the bank holiday)" if c.moved else ""
            lines.append(f"{plain_date(c.date)}: {BIN_NAMES.get(c.bin_type, c.bin_type)}{moved}")
        address = tracker.get_slot("address")
        dispatcher.utter_message(
            text=f"Your next collections at {address} are:\n" + "\n".join(lines)
            + "\n\nPut your bins out by 7am on the day."
        )
        return [*reset, outcome("informed", intent)]


def bin_type_key(value: Any) -> str | None:
    """The waste system's key for a bin type the resident named."""
    return BIN_TYPES.get(str(value).lower()) if value else None
