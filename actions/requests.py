"""Requests about requests: checking on one already made, and complaints (both failure demand).

- Check on a request: by its reference, looked up in the system that made it
  (``GW-`` waste, ``MB-``/``BD-``/``CP-`` Open311, ``CT-`` council tax, ``BK-``
  leisure, ``LB-`` libraries, ``HO-`` contact centre), or, without one, by
  address (the property's missed-bin reports and bin deliveries, and its
  garden waste collection). Marked ``informed``.
- Make a complaint: what it's about (the resident's own words, kept as they
  are in the conversation and sent to the council, never in outcome details),
  an email address or phone number for the reply (the complaints service
  needs one), confirm -> an Open311 ``complaint`` (idempotency key) -> its
  ``CP-`` reference, the team that replies and by when (10 working days,
  bank holidays skipped).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import clients
from actions.common import (
    AddressSteps,
    JourneyForm,
    backoffice_failed,
    ended,
    intent_of,
    journey_key,
    outcome,
    plain_date,
    plain_time,
)
from actions.waste import (
    NOT_LISTED_UPRN,
    YES_NO,
    abandoned_or_silent,
    address_reset,
    bin_name,
    chose_address,
    reset,
)
from integrations.errors import IntegrationError, NotFound
from integrations.office_hours import LONDON, is_bank_holiday

# --- check on a request -----------------------------------------------------------

STATUS_INTENT = "check_request_status"
STATUS_FORM = "request_status_form"
#: ``booking_reference`` when the resident has none: look the address up instead.
BY_ADDRESS = "by address"
NO_REFERENCE = re.compile(
    r"\b(don'?t|do not|haven'?t|have not|no|not got|lost)\b.*\b(ref|reference|number)\b", re.I
)
OPEN311_NAMES = {"MB": "missed bin report", "BD": "bin delivery", "CP": "complaint"}
COUNCIL_TAX_NAMES = {
    "moving_home": "change of address",
    "single_person_discount": "single person discount application",
    "direct_debit_change": "direct debit change",
    "direct_debit_setup": "direct debit",
}
COUNCIL_TAX_STATES = {
    "received": "has been received and is waiting to be looked at",
    "in_progress": "is being worked on",
    "completed": "is done",
    "rejected": "could not be accepted",
}


def london_day(moment: dt.datetime | None) -> dt.date | None:
    return moment.astimezone(LONDON).date() if moment else None


async def garden_waste_status(reference: str) -> str:
    sub = await clients().waste.garden_waste_subscription(reference)
    bins = "1 bin" if sub.bins == 1 else f"{sub.bins} bins"
    if sub.status == "current":
        return (
            f"Your garden waste collection {reference} has gone through: {bins}, paid until "
            f"{plain_date(sub.expiry_date)}."
        )
    return (
        f"Your garden waste collection {reference} ended on {plain_date(sub.expiry_date)}. "
        "You can renew it: just say 'renew garden waste'."
    )


async def open311_status(reference: str) -> str:
    request = await clients().reports.get_request(reference)
    prefix = reference[:2]
    when = london_day(request.expected_datetime)
    if not request.is_open:
        closed = london_day(request.updated_datetime)
        on = f" on {plain_date(closed)}" if closed else ""
        notes = f" {request.status_notes}" if request.status_notes else ""
        return f"Your {OPEN311_NAMES[prefix]} {reference} was closed{on}.{notes}"
    by = f"by {plain_date(when)}" if when else "soon"
    if prefix == "MB":
        return (
            f"Your missed bin report {reference} is with the collection crew. "
            f"They'll come back to empty your bin {by}."
        )
    if prefix == "BD":
        return f"Your bin delivery {reference} is booked. We aim to deliver your bin {by}."
    team = f"the {request.agency_responsible} team" if request.agency_responsible else "the team"
    return f"Your complaint {reference} is with {team}. They'll reply to you {by}."


async def council_tax_status(reference: str) -> str:
    request = await clients().council_tax.request_status(reference)
    what = COUNCIL_TAX_NAMES.get(request.type, "council tax request")
    state = COUNCIL_TAX_STATES.get(request.status, request.status.replace("_", " "))
    expected = f" We expect to finish it by {plain_date(request.expected_by)}." if request.expected_by else ""
    if request.status in ("completed", "rejected"):
        expected = f" {request.status_notes}" if request.status_notes else ""
    return f"Your {what} {reference} {state}.{expected}"


async def leisure_status(reference: str) -> str:
    booking = await clients().leisure.get_order(reference)
    start = booking.start.astimezone(LONDON)
    what = f"{booking.activity} at {booking.centre} on {plain_date(start.date())} at {plain_time(start)}"
    state = {"confirmed": "is confirmed", "cancelled_by_centre": "was cancelled by the centre"}
    return f"Your booking {reference} for {what} {state.get(booking.status, 'was cancelled')}."


async def library_status(reference: str) -> str:
    booking = await clients().libraries.get_session_booking(reference)
    start = booking.start.astimezone(LONDON)
    state = {"new": "is confirmed", "cancelled": "was cancelled", "completed": "has taken place"}
    return (
        f"Your {booking.resource} booking {reference} on {plain_date(start.date())} at {plain_time(start)} "
        f"{state.get(booking.status, 'is ' + booking.status)}."
    )


async def callback_status(reference: str) -> str:
    callback = await clients().contact.get_callback(reference)
    if callback.status == "completed":
        return f"Your call-back {reference} has been done."
    return f"Your call-back {reference} is booked for {plain_date(callback.date)} ({callback.best_time})."


#: Which system holds which reference.
LOOKUPS: dict[str, Callable[[str], Awaitable[str]]] = {
    "GW": garden_waste_status,
    "MB": open311_status,
    "BD": open311_status,
    "CP": open311_status,
    "CT": council_tax_status,
    "BK": leisure_status,
    "LB": library_status,
    "HO": callback_status,
}


REFERENCE_IN_TEXT = re.compile(r"\b([A-Za-z]{2})-?\d{6}\b")


def given_now(tracker: Tracker, entity: str) -> bool:
    return next(tracker.get_latest_entity_values(entity), None) is not None


def normal_reference(value: Any) -> str:
    """``mb123456`` -> ``MB-123456``; anything else as it was typed, upper case."""
    text = re.sub(r"\s+", "", str(value or "")).upper()
    match = re.fullmatch(r"([A-Z]{2})-?(\d{6})", text)
    return f"{match.group(1)}-{match.group(2)}" if match else text


class ValidateRequestStatusForm(AddressSteps):
    """A reference, or else the address; the answer is given as soon as it is found."""

    journey = STATUS_INTENT

    def name(self) -> str:
        return "validate_request_status_form"

    async def extract_booking_reference(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "booking_reference"):
            return {}
        if next(tracker.get_latest_entity_values("booking_reference"), None):
            return {}  # the slot's own mapping has it
        text = tracker.latest_message.get("text") or ""
        if next(tracker.get_latest_entity_values("postcode"), None) or NO_REFERENCE.search(text):
            return {"booking_reference": BY_ADDRESS}
        if intent_of(tracker) == "deny":
            return {"booking_reference": BY_ADDRESS}
        return {"booking_reference": "unclear"} if self.is_answer(tracker) else {}

    async def validate_booking_reference(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == BY_ADDRESS:
            uprn, address = tracker.get_slot("uprn"), tracker.get_slot("address")
            if uprn and uprn != NOT_LISTED_UPRN and address:  # we know the address already
                return {
                    "booking_reference": BY_ADDRESS,
                    **await self.by_address(dispatcher, tracker, uprn, address),
                }
            return self.accepted({"booking_reference": BY_ADDRESS})
        if not self.asked(tracker, "booking_reference") and not given_now(tracker, "booking_reference"):
            return {"booking_reference": None}  # left over from an earlier request: ask which one
        reference = normal_reference(value)
        lookup = LOOKUPS.get(reference[:2]) if re.fullmatch(r"[A-Z]{2}-\d{6}", reference) else None
        if lookup is None:
            return self.failed_answer(
                dispatcher,
                tracker,
                "booking_reference",
                "That doesn't look like one of our references. They look like MB-123456.",
                "A reference is two letters and six numbers. If you don't have one, tell me your postcode.",
            )
        try:
            answer = await lookup(reference)
        except NotFound:
            return self.failed_answer(
                dispatcher,
                tracker,
                "booking_reference",
                f"I couldn't find {reference}. Please check it.",
                "If you don't have the reference, tell me your postcode and I'll look up your address.",
            )
        except IntegrationError as error:
            events = await backoffice_failed(
                dispatcher, tracker, error, intent=self.journey, doing="check on that"
            )
            return ended(events, booking_reference=reference)
        dispatcher.utter_message(text=answer)
        return ended(
            [outcome("informed", self.journey, by="reference", prefix=reference[:2])],
            booking_reference=reference,
        )

    async def validate_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        result = await super().validate_address(value, dispatcher, tracker, domain)
        if not chose_address(result) or tracker.get_slot("booking_reference") not in (None, BY_ADDRESS):
            return result  # not an address we know, or answered by its reference already
        return {**result, **await self.by_address(dispatcher, tracker, result["uprn"], result["address"])}

    async def by_address(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, uprn: str, address: str
    ) -> dict[str, Any]:
        """The property's bin requests and garden waste collection, from the waste system."""
        try:
            requests = await clients().waste.service_requests(uprn)
            garden = await clients().waste.garden_waste(uprn)
        except NotFound:
            requests, garden = [], None
        except IntegrationError as error:
            events = await backoffice_failed(
                dispatcher, tracker, error, intent=self.journey, doing="check on that"
            )
            return ended(events)
        lines = []
        for r in requests[:5]:
            name = OPEN311_NAMES.get(r.reference[:2], "request")
            bin_label = f" ({bin_name(r.bin_type)})" if r.bin_type else ""
            if r.status == "open":
                by = london_day(r.expected_by)
                due = f", expected by {plain_date(by)}" if by else ""
                lines.append(f"{name.capitalize()} {r.reference}{bin_label}: open{due}.")
            else:
                lines.append(
                    f"{name.capitalize()} {r.reference}{bin_label}: closed. {r.status_notes or ''}".strip()
                )
        if garden is not None and garden.status == "current" and garden.expiry_date:
            lines.append(
                f"Garden waste collection {garden.reference}: paid until {plain_date(garden.expiry_date)}."
            )
        elif garden is not None and garden.status == "lapsed" and garden.expiry_date:
            lines.append(f"Garden waste collection: ended on {plain_date(garden.expiry_date)}.")
        if lines:
            text = f"Here's what I can see for {address}:\n" + "\n".join(f"- {line}" for line in lines)
        else:
            text = f"I can't find any bin requests for {address}."
        dispatcher.utter_message(
            text=text + "\n\nFor a complaint or a council tax request, tell me its reference to check on it."
        )
        return ended([outcome("informed", self.journey, by="address", found=len(lines))])


class ActionAskRequestReference(Action):
    """Ask for the reference, offering the one given earlier in this conversation."""

    def name(self) -> str:
        return "action_ask_request_status_form_booking_reference"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        buttons = []
        earlier = (tracker.get_slot("last_request") or {}).get("reference")
        if earlier:
            buttons.append({"title": earlier, "payload": earlier})
        buttons.append({"title": "I don't have a reference", "payload": "I don't have a reference"})
        dispatcher.utter_message(
            text="What's the reference? It looks like MB-123456. "
            "If you don't have one, I can look up your address instead.",
            buttons=buttons,
        )
        return []


class ActionCheckRequestStatus(Action):
    """The end of the status check: the answer was given as soon as it was found."""

    def name(self) -> str:
        return "action_check_request_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return [
            *reset("booking_reference", "attempts"),
            *address_reset(tracker),
            *abandoned_or_silent(tracker, STATUS_FORM, STATUS_INTENT),
        ]


# --- complaints -----------------------------------------------------------------

COMPLAINT_INTENT = "make_complaint"
COMPLAINT_FORM = "complaint_form"
COMPLAINT_SLOTS = (
    "complaint_text",
    "complaint_contact",
    "confirm",
    "complaint_key",
    "email",
    "phone_number",
    "booking_reference",
    "attempts",
)
#: Working days the council takes to reply to a complaint.
REPLY_WORKING_DAYS = 10
#: Words that only say "I want to complain": what is left must say what about.
ASKING_WORDS = re.compile(
    r"\b(i|i'?d|id|want|wanna|would|like|to|can|could|how|do|make|raise|file|log|lodge|put|in|a|an|formal|"
    r"complaint|complain|complaining|about|please|pls|the|council|you|your|me|my)\b",
    re.I,
)
#: Which service a complaint is about (Open311 ``complaint_about``), from its words, in this order.
ABOUT_WORDS = (
    ("council_tax", ("council tax", "bill", "instalment", "arrears", "direct debit")),
    ("waste", ("bin", "waste", "recycl", "rubbish", "collection", "crew", "caddy", "refuse")),
    ("libraries", ("library", "libraries", "librarian", "loan")),
    ("leisure", ("leisure", "swim", "pool", "gym", "class", "sports centre", "leisure centre")),
)
ABOUT_NAMES = {
    "waste": "bins and recycling",
    "council_tax": "council tax",
    "leisure": "leisure centres",
    "libraries": "libraries",
    "other": "council services",
}
#: While telling us what happened, these still do what they say.
NOT_AN_ANSWER = frozenset({"stop", "request_human", "help"})
MIN_WORDS = 3


def complaint_about(text: str) -> str:
    lowered = text.lower()
    for about, words in ABOUT_WORDS:
        if any(re.search(r"\b" + re.escape(word), lowered) for word in words):
            return about
    return "other"


def says_what_happened(text: str) -> bool:
    """Whether a message says more than "I want to make a complaint"."""
    return len(ASKING_WORDS.sub(" ", text).split()) >= MIN_WORDS


def add_working_days(start: dt.date, days: int) -> dt.date:
    """``days`` working days after ``start``: weekends and England and Wales bank holidays skipped."""
    day = start
    while days > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and not is_bank_holiday(day):
            days -= 1
    return day


def today_in_london() -> dt.date:
    return dt.datetime.now(LONDON).date()


class ValidateComplaintForm(JourneyForm):
    journey = COMPLAINT_INTENT

    def name(self) -> str:
        return "validate_complaint_form"

    async def extract_complaint_text(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = (tracker.latest_message.get("text") or "").strip()
        if self.asked(tracker, "complaint_text"):
            return {} if intent_of(tracker) in NOT_AN_ANSWER else {"complaint_text": text}
        # The first message may already say what happened ("the bin crew left rubbish everywhere").
        first = tracker.get_slot("complaint_text") is None and intent_of(tracker) == COMPLAINT_INTENT
        return {"complaint_text": text} if first and says_what_happened(text) else {}

    def validate_complaint_text(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not says_what_happened(str(value or "")):
            return self.failed_answer(
                dispatcher,
                tracker,
                "complaint_text",
                "Please tell me a bit more: what happened, and when?",
                "A sentence or two is enough, for example 'my bin has been missed three weeks running'.",
            )
        return self.accepted({"complaint_text": str(value).strip()})

    async def extract_complaint_contact(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "complaint_contact"):
            return {}
        if next(tracker.get_latest_entity_values("email"), None):
            return {"complaint_contact": "email"}
        if next(tracker.get_latest_entity_values("phone_number"), None):
            return {"complaint_contact": "phone"}
        if intent_of(tracker) == "affirm" and (tracker.get_slot("email") or tracker.get_slot("phone_number")):
            return {"complaint_contact": "email" if tracker.get_slot("email") else "phone"}
        return {"complaint_contact": "none"} if self.is_answer(tracker) else {}

    def validate_complaint_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value not in ("email", "phone"):
            return self.failed_answer(
                dispatcher,
                tracker,
                "complaint_contact",
                "The team needs an email address or phone number to reply to your complaint. "
                "Please type one.",
                "If you'd rather not give one, you can talk to a person instead.",
            )
        return self.accepted({"complaint_contact": value})

    def validate_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        result = super().validate_confirm(value, dispatcher, tracker, domain)
        if next(tracker.get_latest_entity_values("email"), None):  # "no, reply to jo@example.com"
            result["complaint_contact"] = "email"
        elif next(tracker.get_latest_entity_values("phone_number"), None):
            result["complaint_contact"] = "phone"
        if result.get("confirm") is False:
            return {**result, "requested_slot": None}
        if result.get("confirm") is True and not tracker.get_slot("complaint_key"):
            result["complaint_key"] = journey_key(tracker, "cp")
        return result


def reply_to(tracker: Tracker) -> dict[str, str]:
    """The contact the resident chose for the reply: ``{"email": ...}`` or ``{"phone": ...}``."""
    if tracker.get_slot("complaint_contact") == "email" and tracker.get_slot("email"):
        return {"email": str(tracker.get_slot("email"))}
    if tracker.get_slot("phone_number"):
        return {"phone": str(tracker.get_slot("phone_number"))}
    return {}


class ActionAskComplaintConfirm(Action):
    def name(self) -> str:
        return "action_ask_complaint_form_confirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text = str(tracker.get_slot("complaint_text") or "")
        excerpt = text if len(text) <= 300 else text[:297].rstrip() + "..."
        contact = next(iter(reply_to(tracker).values()), "you")
        dispatcher.utter_message(
            text=f'Your complaint about {ABOUT_NAMES[complaint_about(text)]}:\n"{excerpt}"\n\n'
            f"The team will reply to {contact}. Shall I send it?",
            buttons=YES_NO,
        )
        return []


class ActionMakeComplaint(Action):
    """Record the complaint once (idempotency key), and say who replies by when."""

    def name(self) -> str:
        return "action_make_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        done = reset(*COMPLAINT_SLOTS)
        key = tracker.get_slot("complaint_key")
        if tracker.get_slot("confirm") is True and key:
            return [*done, *await self.send(dispatcher, tracker, key)]
        if tracker.get_slot("confirm") is False:
            dispatcher.utter_message(text="OK, I haven't sent your complaint.")
            return [*done, outcome("cancelled", COMPLAINT_INTENT, step="confirm")]
        return [*done, *abandoned_or_silent(tracker, COMPLAINT_FORM, COMPLAINT_INTENT)]

    async def send(self, dispatcher: CollectingDispatcher, tracker: Tracker, key: str) -> list[EventType]:
        text = str(tracker.get_slot("complaint_text"))
        about = complaint_about(text)
        contact = reply_to(tracker)
        related = REFERENCE_IN_TEXT.search(text)  # "about MB-123456": the request it is about
        attributes = {"complaint_about": about}
        if related and related.group(1).upper() in LOOKUPS:
            attributes["related_reference"] = normal_reference(related.group(0))
        reports = clients().reports
        try:
            created = await reports.create_request(
                "complaint",
                idempotency_key=key,
                attributes=attributes,
                description=text,
                email=contact.get("email"),
                phone=contact.get("phone"),
            )
        except IntegrationError as error:
            keep = {
                "service_code": "complaint",
                "description": text,
                "complaint_about": about,
                **({"email": contact["email"]} if "email" in contact else {}),
                **({"phone_number": contact["phone"]} if "phone" in contact else {}),
            }
            return await backoffice_failed(
                dispatcher,
                tracker,
                error,
                intent=COMPLAINT_INTENT,
                doing="send your complaint",
                keep=keep,
                kind="make_complaint",
                key=key,
            )
        reference = created.service_request_id
        try:
            agency = (await reports.get_request(reference)).agency_responsible
        except IntegrationError:
            agency = None
        team = f"the {agency} team" if agency else "the right team"
        reply_by = add_working_days(today_in_london(), REPLY_WORKING_DAYS)
        dispatcher.utter_message(
            text=f"Thank you. I've sent your complaint to {team}. Your reference is {reference}.\n\n"
            f"They'll reply to you by {plain_date(reply_by)} ({REPLY_WORKING_DAYS} working days). "
            "If you need to chase it, tell me the reference."
        )
        return [
            outcome("completed", COMPLAINT_INTENT, about=about),
            SlotSet("last_request", {"reference": reference}),
        ]
