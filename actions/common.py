"""What every journey shares: outcomes, honest failures, forms, addresses, plain dates.

Conversation rules for all journeys (issue "Book, cancel and renew"):
- a failed answer is explained; after two failed answers to the same
  question the resident is told what is needed and offered a person;
- a back-office failure gets an honest message at once, the request is kept
  in the outbox for follow-up and the resident is told what will happen;
- every completion ends with a reference and the next step, and marks its
  outcome for demand analysis (the ``outcome`` slot).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import clients
from integrations.addresses import Address
from integrations.errors import IntegrationError, NotFound, Rejected
from integrations.outbox import Outbox

logger = logging.getLogger("actions")
T = TypeVar("T")

OUTCOME_SLOT = "outcome"
#: After this many failed answers to one question, explain and offer a person.
MAX_FAILED_ANSWERS = 2
#: Up to this many addresses are offered as buttons; more and we ask for the house number.
ADDRESS_BUTTONS = 8
NOT_LISTED = "My address isn't listed"
PERSON_BUTTON = {"title": "Talk to a person", "payload": "/request_human"}
STOP_BUTTON = {"title": "Stop", "payload": "/stop"}
YES_NO = [{"title": "Yes", "payload": "Yes"}, {"title": "No", "payload": "No"}]
#: Marks an answer that is not one (no phone number, reference, date ... in it), so it gets a reply.
INVALID = "__invalid__"

#: How residents know each back-office system.
SYSTEM_NAMES = {
    "os_places": "address finder",
    "openactive": "leisure booking",
    "koha": "library",
    "open311": "reporting",
    "waste": "bin collection",
    "council_tax": "council tax",
    "pay": "payment",
    "gov_uk_pay": "payment",
    "notify": "messaging",
    "contact_centre": "contact centre",
}


# --- outcomes ---------------------------------------------------------------------


def outcome(kind: str, intent: str, **details: Any) -> SlotSet:
    """Mark how the request ended, for demand analysis (no personal data in ``details``)."""
    return SlotSet(OUTCOME_SLOT, {"outcome": kind, "intent": intent, **details})


def entities(tracker: Tracker) -> dict[str, Any]:
    """The latest message's entities, ``{name: value}`` (the last one of each name)."""
    return {e.get("entity"): e.get("value") for e in tracker.latest_message.get("entities") or []}


def latest_user_index(events: list[dict[str, Any]]) -> int | None:
    return max((i for i, e in enumerate(events) if e.get("event") == "user"), default=None)


def slots_before_message(tracker: Tracker) -> dict[str, Any]:
    """Slot values as they were before the latest message filled any from its entities."""
    last_user = latest_user_index(tracker.events)
    before: dict[str, Any] = {}
    for event in tracker.events[:last_user]:
        if event.get("event") == "slot":
            before[event["name"]] = event.get("value")
    return before


def intent_of(tracker: Tracker) -> str:
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


# --- back-office failures ---------------------------------------------------------

_outbox: Outbox | None = None


def outbox() -> Outbox:
    global _outbox
    if _outbox is None:
        _outbox = Outbox()
    return _outbox


def use_outbox(replacement: Outbox | None) -> None:
    global _outbox
    _outbox = replacement


async def keep_for_follow_up(
    tracker: Tracker, *, intent: str, system: str, kind: str, payload: dict[str, Any], key: str | None = None
) -> None:
    """Keep what was asked so it is done later (by the outbox worker or a person)."""
    key = key or f"{kind}:{tracker.sender_id}:{stable_hash(payload)}"
    await asyncio.to_thread(
        outbox().add,
        key=key,
        kind=kind,
        intent=intent,
        system=system,
        conversation=tracker.sender_id,
        payload=payload,
    )


async def backoffice_failed(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    error: IntegrationError,
    *,
    intent: str,
    doing: str,
    keep: dict[str, Any] | None = None,
    kind: str | None = None,
    key: str | None = None,
) -> list[EventType]:
    """Tell the resident honestly, keep the request if there is one to keep, mark the outcome.

    ``doing`` completes "I can't … right now", e.g. "find your bin collection days".
    """
    system = error.system or "backoffice"
    name = SYSTEM_NAMES.get(system, "council")
    logger.warning("back-office failure in %s: %s", intent, error)
    if keep is not None:
        try:
            await keep_for_follow_up(
                tracker, intent=intent, system=system, kind=kind or intent, payload=keep, key=key
            )
        except Exception:  # the outbox itself failed: say so rather than promise
            logger.exception("could not keep request for follow-up")
            keep = None
    if keep is not None:
        text = (
            f"Sorry, our {name} system isn't working right now, so I can't {doing} at the moment. "
            "I've saved your request and we'll finish it for you when the system is back. "
            "You don't need to do anything else."
        )
    else:
        text = (
            f"Sorry, our {name} system isn't working right now, so I can't {doing} at the moment. "
            "Please try again later, or talk to a person."
        )
    dispatcher.utter_message(text=text, buttons=[PERSON_BUTTON])
    return [outcome("integration_failed", intent, system=system, kept=keep is not None)]


async def call(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    operation: Awaitable[T],
    *,
    intent: str,
    doing: str,
    keep: dict[str, Any] | None = None,
) -> tuple[T | None, list[EventType]]:
    """Await a back-office call; on a system failure answer honestly and return its events."""
    try:
        return await operation, []
    except (NotFound, Rejected):
        raise
    except IntegrationError as error:
        return None, await backoffice_failed(
            dispatcher, tracker, error, intent=intent, doing=doing, keep=keep
        )


def stable_hash(value: Any) -> str:
    return hashlib.sha256(
        repr(sorted(value.items()) if isinstance(value, dict) else value).encode()
    ).hexdigest()[:16]


def journey_key(tracker: Tracker, kind: str) -> str:
    """An idempotency key for one journey: the conversation and the message that started it.

    Keep it in a slot when the journey starts and use it for every call (and retry) that
    creates something, so a second "yes" or a re-sent message never does it twice.
    """
    started = next((e.get("timestamp") for e in reversed(tracker.events) if e.get("event") == "user"), None)
    instance = started if started is not None else uuid.uuid4().hex
    return f"{kind}-{stable_hash([tracker.sender_id, kind, instance])}"


# --- personal data residents should not type here ------------------------------------

_BANK_WORDS = re.compile(r"sort\s*code|\biban\b|bank\s+(?:account|details)", re.IGNORECASE)
#: A sort code and an account number side by side: "12-34-56 12345678", "123456, 12345678".
_SORT_AND_ACCOUNT = re.compile(r"(?<!\d)\d{2}[-\s]?\d{2}[-\s]?\d{2}\s*[,;/]?\s*\d{8}(?!\d)")


def looks_like_bank_details(text: str | None) -> bool:
    """Whether a message seems to hold bank details (a sort code, a bank account number, an IBAN)."""
    text = text or ""
    if _BANK_WORDS.search(text) and len(re.findall(r"\d", text)) >= 6:
        return True
    return bool(_SORT_AND_ACCOUNT.search(text))


# --- plain English ------------------------------------------------------------------


def plain_date(day: dt.date, today: dt.date | None = None) -> str:
    """GOV.UK style: ``Friday 4 December`` (the year only when it is not this year)."""
    today = today or dt.date.today()
    text = f"{day:%A} {day.day} {day:%B}"
    return text if day.year == today.year else f"{text} {day.year}"


def and_list(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]


def plain_time(moment: dt.time | dt.datetime) -> str:
    """GOV.UK style: ``10am``, ``6:30pm``, ``midday``."""
    if moment.hour == 12 and moment.minute == 0:
        return "midday"
    hour = moment.hour % 12 or 12
    suffix = "am" if moment.hour < 12 else "pm"
    return f"{hour}{suffix}" if moment.minute == 0 else f"{hour}:{moment.minute:02d}{suffix}"


def pounds(pence: int) -> str:
    """GOV.UK style: ``£50``, ``£50.50``, ``£1,532.40``."""
    return f"£{pence // 100:,}" if pence % 100 == 0 else f"£{pence // 100:,}.{pence % 100:02d}"


# --- forms ----------------------------------------------------------------------


class JourneyForm(FormValidationAction, ABC):
    """Shared form behaviour: failed answers, the confirmation step, corrections.

    Abstract (no ``name``), so the action server registers only the concrete forms.
    """

    @abstractmethod
    def name(self) -> str: ...

    #: The catalogue intent this form serves (for outcomes and follow-up).
    journey: ClassVar[str] = ""
    #: Intents whose text may be read as an answer to the question asked.
    ANSWER_INTENTS: ClassVar[frozenset[str]] = frozenset({"inform", "nlu_fallback", "affirm", "deny"})

    # -- failed answers --
    def failed_answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, message: str, explanation: str
    ) -> dict[str, Any]:
        """Say why the answer didn't work; after repeated failures explain and offer a person."""
        attempts = tracker.get_slot("attempts") or {}
        count = (attempts.get("count", 0) if attempts.get("slot") == slot else 0) + 1
        if count >= MAX_FAILED_ANSWERS:
            dispatcher.utter_message(
                text=f"{message} {explanation} You can also talk to a person, or stop.",
                buttons=[PERSON_BUTTON, STOP_BUTTON],
            )
        else:
            dispatcher.utter_message(text=message)
        return {slot: None, "attempts": {"slot": slot, "count": count}}

    @staticmethod
    def accepted(values: dict[str, Any]) -> dict[str, Any]:
        """Slot values for a good answer, clearing the failure count."""
        return {**values, "attempts": None}

    def is_answer(self, tracker: Tracker) -> bool:
        return intent_of(tracker) in self.ANSWER_INTENTS

    def asked(self, tracker: Tracker, slot: str) -> bool:
        return tracker.get_slot("requested_slot") == slot

    def not_recognised(self, tracker: Tracker, slot: str) -> dict[str, Any]:
        """An answer to the question for ``slot`` without that entity in it: ``INVALID``, to explain."""
        if self.asked(tracker, slot) and self.is_answer(tracker) and not _entity(tracker, slot):
            return {slot: INVALID}
        return {}

    def typed_answer(self, tracker: Tracker, slot: str) -> dict[str, Any]:
        """A free-text answer: what the resident typed (unless they stop or ask for a person)."""
        if not self.asked(tracker, slot) or intent_of(tracker) in ("stop", "request_human"):
            return {}
        return {slot: (tracker.latest_message.get("text") or "").strip()}

    # -- confirmation --
    async def extract_confirm(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "confirm"):
            return {}
        intent = intent_of(tracker)
        if intent == "affirm":
            return {"confirm": True}
        if intent == "deny":
            # "no, Sunday": a correction changes the slot; ask to confirm again.
            corrected = self.corrections(tracker)
            return {"confirm": None, **corrected} if corrected else {"confirm": False}
        if intent in ("inform", "nlu_fallback"):
            corrected = self.corrections(tracker)
            if corrected:
                return {"confirm": None, **corrected}
            return {"confirm": "unclear"}
        return {}

    def corrections(self, tracker: Tracker) -> dict[str, Any]:
        """Slots the latest message gives new values for (entity name == slot name).

        Compared with the slots as they were before the message: by the time the form
        validates, Rasa has already filled the slots from the message's entities.
        """
        before = slots_before_message(tracker)
        return {
            name: value
            for name, value in entities(tracker).items()
            if name in tracker.slots and value != before.get(name)
        }

    def validate_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == "unclear":
            return self.failed_answer(
                dispatcher,
                tracker,
                "confirm",
                "Please answer yes or no.",
                "I need a yes to go ahead, or a no to change something.",
            )
        return self.accepted({"confirm": value})


# --- addresses ----------------------------------------------------------------------


def address_label(address: Address) -> str:
    return address.short


def match_address(text: str, options: list[dict[str, str]]) -> list[dict[str, str]]:
    """Addresses matching what the resident typed or chose: the label, or the house number."""
    wanted = re.sub(r"[^a-z0-9 ]", " ", text.lower()).split()
    if not wanted:
        return []
    exact = [o for o in options if o["label"].lower() == " ".join(wanted)]
    if exact:
        return exact
    number = next((w for w in wanted if w.isdigit()), None)
    if number is not None:
        return [o for o in options if o["label"].lower().split()[0] == number]
    words = set(wanted) - {"the", "road", "street", "lane", "flat"}
    return [o for o in options if words and words <= set(o["label"].lower().split())]


class AddressSteps(JourneyForm, ABC):
    """postcode -> the resident's address (UPRN). Slots: postcode, address, uprn, address_options."""

    async def extract_postcode(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        # A postcode entity fills the slot through its mapping; here we catch an
        # answer to "What is your postcode?" that is not one, so it gets a reply.
        if self.asked(tracker, "postcode") and self.is_answer(tracker) and not _entity(tracker, "postcode"):
            return {"postcode": "__not_a_postcode__"}
        return {}

    async def validate_postcode(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == "__not_a_postcode__":
            return self.failed_answer(
                dispatcher,
                tracker,
                "postcode",
                "That doesn't look like a postcode.",
                "A postcode looks like SN15 1ER.",
            )
        try:
            found = await clients().addresses.find_by_postcode(str(value))
        except Rejected:
            found = []
        except IntegrationError as error:
            events = await backoffice_failed(
                dispatcher, tracker, error, intent=self.journey, doing="look up addresses"
            )
            return {"postcode": None, **_as_slots(events), "requested_slot": None}
        if not found:
            return self.failed_answer(
                dispatcher,
                tracker,
                "postcode",
                f"I couldn't find any addresses for {value}. Please check it.",
                "It needs to be a postcode in our area.",
            )
        options = [{"uprn": a.uprn, "label": address_label(a)} for a in found]
        return self.accepted({"postcode": value, "address_options": options, "address": None, "uprn": None})

    async def extract_address(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "address"):
            return {}
        text = tracker.latest_message.get("text") or ""
        options = tracker.get_slot("address_options") or []
        if text.strip().lower() == NOT_LISTED.lower():
            return {"address": "__not_listed__"}
        matches = match_address(text, options)
        if matches or self.is_answer(tracker):
            return {"address": text}
        return {}

    async def validate_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == "__not_listed__":
            dispatcher.utter_message(
                text=(
                    "If your address isn't listed, we can't do this here yet. A person can help you with it."
                ),
                buttons=[PERSON_BUTTON],
            )
            return {"address": "not listed", "uprn": "not_listed", "requested_slot": None}
        options = tracker.get_slot("address_options") or []
        matches = match_address(str(value), options)
        if len(matches) == 1:
            return self.accepted({"address": matches[0]["label"], "uprn": matches[0]["uprn"]})
        if len(matches) > 1:
            dispatcher.utter_message(
                text="Which one is yours?",
                buttons=[{"title": m["label"], "payload": m["label"]} for m in matches[:ADDRESS_BUTTONS]],
            )
            return {"address": None}
        return self.failed_answer(
            dispatcher,
            tracker,
            "address",
            "I couldn't find that address at this postcode.",
            "Choose your address from the list, or type your house number.",
        )


def ended(events: list[EventType], **slots: Any) -> dict[str, Any]:
    """From a form validator: end the form here, keeping these events' slots (the outcome)."""
    return {**_as_slots(events), **slots, "requested_slot": None}


def journey_outcome(tracker: Tracker, form: str, intent: str) -> dict[str, Any] | None:
    """The outcome this journey already marked since its form started (a failure, an answer), if any."""
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") == form:
            return None
        value = event.get("value")
        if event.get("event") == "slot" and event.get("name") == OUTCOME_SLOT and isinstance(value, dict):
            if value.get("intent") == intent:
                return value
    return None


def _entity(tracker: Tracker, name: str) -> Any:
    return next(tracker.get_latest_entity_values(name), None)


def _as_slots(events: list[EventType]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def ask_address_message(options: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """What to say when asking for the address: buttons for a few, else the house number."""
    if len(options) <= ADDRESS_BUTTONS:
        buttons = [{"title": o["label"], "payload": o["label"]} for o in options]
        return "Which is your address?", buttons + [{"title": NOT_LISTED, "payload": NOT_LISTED}]
    return (
        "What is your house number or name?",
        [{"title": NOT_LISTED, "payload": NOT_LISTED}],
    )


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


AsyncCall = Callable[[], Awaitable[Any]]


# --- confirmations ------------------------------------------------------------------


class AskConfirm(Action, ABC):
    """Read back what will be done and ask to go ahead (``action_ask_<form>_confirm``).

    Abstract (no ``question``), so the action server registers only the concrete ones.
    """

    form: ClassVar[str] = ""

    def name(self) -> str:
        return f"action_ask_{self.form}_confirm"

    @abstractmethod
    def question(self, tracker: Tracker) -> str: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(text=self.question(tracker), buttons=YES_NO)
        return []
