"""A way to a person: a handover to the contact centre in office hours, a call-back out of hours.

``action_request_human`` (the ``request_human`` intent and every "Talk to a
person" button) ends any journey under way, then:

- in office hours (``CONTACT_CENTRE_HOURS``, Europe/London, bank holidays
  closed; "now" is ``bot.nlp.dates.now_in_london``, which
  ``COUNCIL_ASSISTANT_NOW`` pins in tests) it hands the conversation to the
  contact centre with a transcript of this session (the resident's and the
  assistant's messages, with PINs, card numbers, bank details and secure
  links left out) and a summary (the service, what was asked, how far the
  journey got), tells the resident the ``HO-`` reference and the wait, and
  pauses the conversation (``ConversationPaused``): the assistant stays quiet;
- out of hours (or when the contact centre says it is closed) it takes a
  call-back request: phone number, best time, reason, confirm → ``CB-``
  reference and when we will call. If the contact centre system is down in
  office hours, it offers the call-back instead.

While handed over, agent messages reach the resident and the conversation is
handed back through the Rasa HTTP API: the contact-centre platform (or, in the
demo, whoever plays the agent) calls, whenever an agent writes or closes the
handover::

    POST /conversations/<conversation_id>/execute?output_channel=latest&token=<RASA_TOKEN>
    {"name": "action_handover_update"}

``conversation_id`` is the handover's ``conversation_id``. The action fetches
the agent messages not yet relayed from the contact centre (so the call
carries no message text and is safe to repeat) and sends them to the
resident's channel; when the handover is closed it says the assistant is back
and resumes the conversation (``ConversationResumed``). Rasa runs an executed
action even while the conversation is paused; it answers with the messages
(``CollectingOutputChannel``) for channels that cannot push.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    ActiveLoop,
    ConversationPaused,
    ConversationResumed,
    EventType,
    SlotSet,
)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.clients import clients
from actions.common import (
    INVALID,
    AskConfirm,
    JourneyForm,
    backoffice_failed,
    intent_of,
    journey_key,
    looks_like_bank_details,
    outcome,
    plain_date,
    plain_time,
    stable_hash,
)
from actions.config import settings
from bot.nlp.dates import now_in_london
from insights import demand_map
from integrations.contact_centre import Callback, CentreClosed, Channel, Handover, TranscriptLine
from integrations.errors import IntegrationError
from integrations.office_hours import OfficeHours

logger = logging.getLogger("actions.contact")

INTENT = "request_human"
#: Slots kept when a journey is ended for a person: the call-back may use the number, and a
#: payment under way (``*payment*``) is still finished when the resident comes back.
KEPT = frozenset({"phone_number", "outcome", "contact_route", "handover", "session_started_metadata"})
#: The contact centre keeps transcripts to 500 lines of 2,000 characters.
MAX_LINES, MAX_TEXT = 200, 2000
BEST_TIMES = {"morning": "morning", "afternoon": "afternoon", "any": "any"}
BEST_TIME_WORDS = {"morning": "in the morning", "afternoon": "in the afternoon", "any": "at any time"}


# --- office hours -----------------------------------------------------------------------


def office_hours() -> OfficeHours:
    """The contact centre's hours, from ``CONTACT_CENTRE_HOURS`` / ``CONTACT_CENTRE_CLOSED_DATES``."""
    config = clients().settings
    try:
        return OfficeHours.parse(config.contact_centre_hours, config.contact_centre_closed_dates)
    except ValueError:  # a configuration mistake must not leave residents without a way to a person
        logger.exception("CONTACT_CENTRE_HOURS not understood; using Mon-Fri 08:30-17:00")
        return OfficeHours()


def describe_hours(hours: OfficeHours) -> str:
    """``Monday to Friday, 8:30am to 5pm``."""
    days = sorted(hours.weekdays)
    names = [dt.date(2024, 1, 1 + d).strftime("%A") for d in days]  # 1 January 2024 was a Monday
    if len(days) > 1 and days == list(range(days[0], days[-1] + 1)):
        when = f"{names[0]} to {names[-1]}"
    else:
        when = ", ".join(names)
    return f"{when}, {plain_time(hours.opens)} to {plain_time(hours.closes)}"


def plain_moment(moment: dt.datetime) -> str:
    """``Monday 30 November at 8:30am`` (London time)."""
    local = moment.astimezone(now_in_london().tzinfo)
    return f"{plain_date(local.date(), now_in_london().date())} at {plain_time(local)}"


# --- what the contact centre is told --------------------------------------------------------

_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_PIN = re.compile(r"(\bpin(?:\s*(?:number|no\.?|code))?\s*(?:is|:)?\s*)\d{3,8}\b", re.IGNORECASE)
_LINK = re.compile(r"https?://\S+")


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def without_card_numbers(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return "[card number removed]" if luhn(digits) else match.group(0)

    return _CARD.sub(replace, text)


def resident_text(text: str, secret: bool) -> str:
    """What the resident typed, safe to pass on: never a PIN, card number or bank details."""
    if secret:
        return "[PIN removed]"
    if looks_like_bank_details(text):
        return "[bank details removed]"
    return _PIN.sub(r"\1[removed]", without_card_numbers(text))


def assistant_text(text: str) -> str:
    """What the assistant said, without payment or form links (secrets) other than our website's."""
    website = settings().website
    return _LINK.sub(
        lambda m: m.group(0) if m.group(0).startswith(website) else "[secure link removed]", text
    )


def is_secret_slot(name: str | None) -> bool:
    return bool(name) and "pin" in str(name).lower().split("_")


def session_events(tracker: Tracker) -> list[dict[str, Any]]:
    events = list(tracker.events)
    starts = [i for i, e in enumerate(events) if e.get("event") == "session_started"]
    return events[starts[-1] + 1 :] if starts else events


def transcript(tracker: Tracker) -> list[TranscriptLine]:
    """This session's messages, as the contact centre gets them."""
    lines: list[TranscriptLine] = []
    asked: str | None = None
    for event in session_events(tracker):
        kind = event.get("event")
        if kind == "slot" and event.get("name") == REQUESTED_SLOT:
            asked = event.get("value")
        elif kind in ("user", "bot") and (event.get("text") or "").strip():
            text = event["text"].strip()
            when = dt.datetime.fromtimestamp(float(event.get("timestamp") or 0), dt.timezone.utc)
            if kind == "user":
                lines.append(
                    TranscriptLine("resident", resident_text(text, is_secret_slot(asked))[:MAX_TEXT], when)
                )
            else:
                lines.append(TranscriptLine("assistant", assistant_text(text)[:MAX_TEXT], when))
    return lines[-MAX_LINES:]


def latest_request(tracker: Tracker) -> tuple[str | None, str]:
    """The service request the resident was making (intent and what they typed), if any."""
    dm = demand_map.load()
    for event in reversed(session_events(tracker)):
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""
        if intent != INTENT and dm.is_service_intent(intent):
            return intent, event.get("text") or ""
    return None, tracker.latest_message.get("text") or ""


def summary(tracker: Tracker) -> tuple[str, str | None, str]:
    """(service, intent, summary) for the handover: the service, what was asked, how far it got."""
    intent, asked = latest_request(tracker)
    step = tracker.get_slot(REQUESTED_SLOT)
    if intent is None:
        return "general", None, f'The resident asked to talk to a person: "{resident_text(asked, False)}"'
    info = demand_map.load().info(intent)
    text = f'{info.title}. The resident asked: "{resident_text(asked, False)}".'
    if step and not is_secret_slot(step):
        text += f" The assistant was asking for: {step.replace('_', ' ')}."
    if intent_of(tracker) == INTENT:
        text += " They asked to talk to a person."
    service = info.service if info.service not in ("any", "bookings") else "general"
    return service, intent, text[:1000]


def conversation_id(tracker: Tracker) -> str:
    """Our channels' conversation ids are already pseudonymous; anything else is hashed."""
    sender = tracker.sender_id
    if re.fullmatch(r"[A-Za-z0-9._:-]{8,128}", sender) and not re.fullmatch(r"\+?\d{9,15}", sender):
        return sender
    return f"conv-{stable_hash(sender)}"


def channel_of(tracker: Tracker) -> Channel:
    name = (tracker.get_latest_input_channel() or "").lower()
    if "whatsapp" in name:
        return "whatsapp"
    if "sms" in name:
        return "sms"
    return "webchat"


def end_journey(tracker: Tracker) -> list[EventType]:
    """Leave whatever journey is under way: a person takes it from here."""
    events: list[EventType] = [ActiveLoop(None)] if (tracker.active_loop or {}).get("name") else []
    return events + [
        SlotSet(name, None)
        for name, value in tracker.slots.items()
        if value is not None and name not in KEPT and "payment" not in name
    ]


# --- asking for a person --------------------------------------------------------------------


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        ended = end_journey(tracker)
        hours = office_hours()
        now = now_in_london()
        if not hours.is_open(now):
            return [*ended, *offer_callback(dispatcher, hours, hours.next_opening(now))]
        service, intent, about = summary(tracker)
        try:
            handover = await clients().contact.create_handover(
                conversation_id=conversation_id(tracker),
                handover_key=journey_key(tracker, "handover"),
                channel=channel_of(tracker),
                service=service,
                summary=about,
                transcript=transcript(tracker),
                intent=intent,
            )
        except CentreClosed as closed:
            return [
                *ended,
                *offer_callback(dispatcher, hours, closed.next_opening or hours.next_opening(now)),
            ]
        except IntegrationError as error:
            logger.warning("handover failed: %s", error)
            dispatcher.utter_message(
                text="Sorry, I can't pass you to the team right now because our contact centre system isn't "
                "working. I can ask them to call you back instead."
            )
            failed = outcome(
                "integration_failed", INTENT, system=error.system or "contact_centre", kept=False
            )
            return [*ended, failed, SlotSet("contact_route", "callback")]
        dispatcher.utter_message(text=handed_over_message(handover))
        return [
            *ended,
            SlotSet(
                "handover", {"reference": handover.reference, "last_message_id": handover.last_message_id}
            ),
            SlotSet("contact_route", "handover"),
            outcome("handed_over", INTENT, route="handover", service=service),
            ConversationPaused(),
        ]


def handed_over_message(handover: Handover) -> str:
    if handover.estimated_wait_minutes:
        minutes = handover.estimated_wait_minutes
        wait = f"Someone should reply here in about {minutes} minute{'s' if minutes != 1 else ''}."
    else:
        wait = "Someone will reply here as soon as they can."
    place = f" You're number {handover.position} in the queue." if handover.position else ""
    return (
        "I've passed you to our contact centre team, with our conversation so far, so you won't need to "
        f"repeat yourself. Your reference is {handover.reference}.{place} {wait}\n\n"
        "Keep this chat open. I'll stay quiet while you talk to them."
    )


def offer_callback(
    dispatcher: CollectingDispatcher, hours: OfficeHours, opens: dt.datetime
) -> list[EventType]:
    dispatcher.utter_message(
        text=f"Our contact centre is closed now. It's open {describe_hours(hours)}, and opens again "
        f"{plain_moment(opens)}. I can ask the team to call you back."
    )
    return [SlotSet("contact_route", "callback")]


class ActionHandoverUpdate(Action):
    """Relay new agent messages; when the handover is closed, hand the conversation back.

    Run through the Rasa HTTP API by the contact centre (see the module docstring).
    """

    def name(self) -> str:
        return "action_handover_update"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        held = tracker.get_slot("handover") or {}
        if not held.get("reference"):
            return []
        seen = int(held.get("last_message_id") or 0)
        try:
            handover = await clients().contact.get_handover(held["reference"], after_message_id=seen)
        except IntegrationError as error:
            # Nothing is lost: the next call fetches everything after the last message relayed.
            logger.warning("handover update failed: %s", error)
            return []
        for message in handover.messages:
            dispatcher.utter_message(text=f"{message.agent_name or 'Contact centre'}: {message.text}")
        latest = max(seen, handover.last_message_id)
        if handover.is_open:
            return [SlotSet("handover", {**held, "last_message_id": latest})]
        dispatcher.utter_message(
            text="You're talking to the council's digital assistant again. Is there anything else I can "
            "help with?"
        )
        # Rasa's API ran this action outside a turn: listening again makes the next message a new turn.
        return [
            SlotSet("handover", None),
            SlotSet("contact_route", None),
            ConversationResumed(),
            ActionExecuted("action_listen"),
        ]


# --- call-backs ------------------------------------------------------------------------------


class ValidateCallbackForm(JourneyForm):
    """Phone number, best time and reason for a call-back, then confirm."""

    journey = INTENT

    def name(self) -> str:
        return "validate_callback_form"

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().get_validation_events(dispatcher, tracker, domain)
        if tracker.get_slot("callback_key") is None:  # one call-back per request, however often it is sent
            events.append(SlotSet("callback_key", journey_key(tracker, "callback")))
        return events

    async def extract_phone_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.not_recognised(tracker, "phone_number")

    def validate_phone_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == INVALID:
            return self.failed_answer(
                dispatcher,
                tracker,
                "phone_number",
                "That doesn't look like a UK phone number.",
                "Type a mobile or landline number, like 07700 900123 or 01225 713000.",
            )
        return self.accepted({"phone_number": value})

    async def extract_callback_time(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        asked = self.asked(tracker, "callback_time")
        starting = (tracker.active_loop or {}).get("name") != self.form_name()
        if not asked and not (starting and tracker.get_slot("callback_time") is None):
            return {}
        text = (tracker.latest_message.get("text") or "").lower()
        times = list(tracker.get_latest_entity_values("time"))
        for part in ("morning", "afternoon", "evening"):
            if part in text or part in times:
                return {"callback_time": part}
        if re.search(r"\bany\b|anytime|don'?t mind|whenever|either", text):
            return {"callback_time": "any"}
        return {"callback_time": INVALID} if asked and self.is_answer(tracker) else {}

    def validate_callback_time(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == "evening":
            return self.failed_answer(
                dispatcher,
                tracker,
                "callback_time",
                f"Sorry, the team can only call {describe_hours(office_hours())}, not in the evening.",
                "Choose the morning, the afternoon or any time.",
            )
        if value not in BEST_TIMES:
            return self.failed_answer(
                dispatcher,
                tracker,
                "callback_time",
                "Sorry, I didn't understand when suits you.",
                "Choose the morning, the afternoon or any time.",
            )
        return self.accepted({"callback_time": value})

    async def extract_callback_reason(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.typed_answer(tracker, "callback_reason")

    def validate_callback_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = re.sub(r"\s+", " ", str(value or "")).strip()
        if len(text) < 3:
            return self.failed_answer(
                dispatcher,
                tracker,
                "callback_reason",
                "Please tell me a little about what you need.",
                "A few words are enough, like 'my council tax bill'.",
            )
        if looks_like_bank_details(text):
            return self.failed_answer(
                dispatcher,
                tracker,
                "callback_reason",
                "Please don't type bank details here: we never take them in this chat.",
                "Just tell me in a few words what you'd like to talk about.",
            )
        return self.accepted({"callback_reason": without_card_numbers(text)[:500]})


def best_time_words(value: str | None) -> str:
    return BEST_TIME_WORDS.get(value or "any", "at any time")


class ActionAskCallbackConfirm(AskConfirm):
    form = "callback_form"

    def question(self, tracker: Tracker) -> str:
        return (
            f"We'll call you on {tracker.get_slot('phone_number')} "
            f"{best_time_words(tracker.get_slot('callback_time'))}"
            f" about: {tracker.get_slot('callback_reason')}. Is that right?"
        )


class ActionRequestCallback(Action):
    """Ask the contact centre to call the resident back: ``CB-`` reference and when."""

    def name(self) -> str:
        return "action_request_callback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        done = list(reset_callback(tracker))
        phone = tracker.get_slot("phone_number")
        if tracker.get_slot("confirm") is not True or not phone:
            dispatcher.utter_message(
                text=f"OK, I haven't asked for a call-back. You can call us on {settings().phone}, "
                f"{describe_hours(office_hours())}."
            )
            return [*done, outcome("cancelled", INTENT, step="confirm", route="callback")]
        best = BEST_TIMES.get(tracker.get_slot("callback_time") or "any", "any")
        reason = tracker.get_slot("callback_reason") or "Call-back asked for in the chat"
        key = tracker.get_slot("callback_key") or journey_key(tracker, "callback")
        try:
            callback = await clients().contact.request_callback(
                phone_number=phone,
                reason=reason,
                idempotency_key=key,
                best_time=best,  # type: ignore[arg-type]
                conversation_id=conversation_id(tracker),
            )
        except IntegrationError as error:
            keep = {"phone_number": phone, "best_time": best, "reason": reason}
            return [
                *done,
                *await backoffice_failed(
                    dispatcher,
                    tracker,
                    error,
                    intent=INTENT,
                    doing="ask for a call-back",
                    keep=keep,
                    kind="request_callback",  # the outbox worker asks again with the same key
                    key=key,
                ),
            ]
        when = callback_window(callback)
        dispatcher.utter_message(
            text=f"Thank you. We'll call you on {phone} {when}. Your reference is {callback.reference}.\n\n"
            f"If it's urgent, call us on {settings().phone}, {describe_hours(office_hours())}."
        )
        await confirm_by_text(phone, when, reason, callback.reference)
        return [*done, outcome("handed_over", INTENT, route="callback")]


def callback_window(callback: Callback) -> str:
    """``on Monday 30 November between 8:30am and midday``."""
    day = plain_date(callback.date, now_in_london().date())
    if callback.window_start and callback.window_end:
        start = callback.window_start.astimezone(now_in_london().tzinfo)
        end = callback.window_end.astimezone(now_in_london().tzinfo)
        return f"on {day} between {plain_time(start)} and {plain_time(end)}"
    return f"on {day}"


async def confirm_by_text(phone: str, when: str, reason: str, reference: str) -> None:
    """A text message confirming the call-back, when the number is a mobile (best effort)."""
    if not phone.startswith("07"):
        return
    try:
        await clients().notify.send_sms(
            phone,
            "callback_confirmation",
            {"when": when, "reason": reason, "reference": reference},
            reference=reference,
        )
    except IntegrationError as error:
        logger.warning("call-back confirmation not sent: %s", error)


def reset_callback(tracker: Tracker) -> Iterable[EventType]:
    for name in (
        "phone_number",
        "callback_time",
        "callback_reason",
        "callback_key",
        "confirm",
        "attempts",
        "contact_route",
    ):
        if tracker.get_slot(name) is not None:
            yield SlotSet(name, None)
