"""Bookings: the steps the leisure and library journeys share, and cancelling a booking.

Shared by ``actions/leisure.py`` and ``actions/libraries.py``:

- ``BookingForm``: a journey form that steps aside for a question about another
  service ("what time does the Olympiad close?"): the entity slots the question
  filled are put back, the form rejects the message, a rule answers it and the
  form resumes where it was;
- availability as choices (``find_choices``): nearest times first, with the
  spaces left, as buttons; a full session, a time that has passed, or a place
  without the activity gets the reason and the nearest alternatives;
- ``ContactSteps``: an email address or phone number for the booking and the
  confirmation sent through GOV.UK Notify (``send_confirmation``);
- reading the chosen time back (``AskBookingConfirm``) and booking it: what to say
  when the booking system refuses or fails (``booking_refused``, ``booking_failed``),
  and the confirmation once booked (``confirm_booking``);
- ``PatronSteps``: library card number and PIN. The PIN is read only while it is
  asked for, checked at once and never kept: the slot holds ``verified`` or
  nothing, and the PIN is never echoed, logged or put in an outcome. Three wrong
  tries end the attempt and offer another way;
- opening times in words (``hours_text``).

Cancel a booking (``cancel_booking``): by reference (``BK-`` leisure, ``LB-``
library), or picked from the resident's bookings (leisure ones found by the email
or phone number they booked with, library ones by card number and PIN); read back
and confirmed before cancelling.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecutionRejected, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import clients
from actions.common import (
    OUTCOME_SLOT,
    PERSON_BUTTON,
    STOP_BUTTON,
    JourneyForm,
    backoffice_failed,
    ended,
    entities,
    intent_of,
    journey_key,
    keep_for_follow_up,
    latest_user_index,
    logger,
    outcome,
    plain_date,
    plain_time,
    slots_before_message,
)
from bot.nlp.dates import now_in_london
from insights import demand_map
from integrations.errors import IntegrationError, NotFound, Rejected
from integrations.leisure import TIME_OF_DAY, norm
from integrations.libraries import LibraryBooking

#: Up to this many times are offered as buttons.
MAX_CHOICES = 6
#: How far ahead the booking systems publish times.
HORIZON_DAYS = 14
#: The ``date`` slot's value for "any day, the soonest".
ANY_DAY = "any"
#: Wrong card number or PIN this many times ends the attempt.
MAX_PIN_TRIES = 3
#: The ``library_pin`` slot once the PIN was right; the PIN itself is never kept.
VERIFIED = "verified"
CONFIRMATION_TEMPLATE = "booking_confirmation"
#: What a booking journey asks for and keeps, after what and where (cleared when it ends).
BOOKING_SLOTS = (
    "date",
    "time",
    "participants",
    "session_options",
    "session_choice",
    "contact",
    "email",
    "phone_number",
    "booking_key",
    "confirm",
    "attempts",
)
#: Questions answered mid-journey (rules), however much they look like an answer.
QUESTIONS = frozenset({"leisure_opening_times", "library_opening_times"})

_ANY_DAY = re.compile(
    r"\b(any ?(day|time|date)?|whenever|soonest|next (available|free|one)|earliest|don'?t mind)\b"
)
_PIN = re.compile(r"^\s*(\d{4,10})\s*$")
#: "I forgot my PIN", "I don't have my card": the resident can't answer, and needs another way.
_CANT_ANSWER = re.compile(
    r"\b(forg[oe]t+(en)?|lost|don'?t (know|have|remember)|do not (know|have)|can'?t (find|remember)"
    r"|no idea)\b"
)
_NO_REFERENCE = re.compile(
    r"\b(don'?t|do not|dont|haven'?t|have not|can'?t|cannot|no) (have|got|know|find|remember)\b|"
    r"\b(lost|forgot(ten)?|no reference|not sure|find (it|them|my bookings?)|list|show)\b"
)
_NO_THANKS = re.compile(r"^\s*(no|nope|no thanks?( you)?|none|not needed|skip)\W*$", re.IGNORECASE)
_PLACE_SUFFIXES = re.compile(
    r"\s+(leisure centre|campus|health and wellbeing centre|library)$", re.IGNORECASE
)


def now() -> dt.datetime:
    """Now in Europe/London, as the date entities see it."""
    return now_in_london()


def slot_values(events: Sequence[EventType]) -> dict[str, Any]:
    """``{slot: value}`` of the SlotSet events among ``events`` (for a validator's answer)."""
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def outcome_value(kind: str, intent: str, **details: Any) -> dict[str, Any]:
    """The ``outcome`` slot, for a validator that ends the journey."""
    return {OUTCOME_SLOT: outcome(kind, intent, **details)["value"]}


def text_of(tracker: Tracker) -> str:
    return (tracker.latest_message.get("text") or "").strip()


def short_place(name: str) -> str:
    """``Olympiad Leisure Centre`` -> ``Olympiad``; ``Chippenham Library`` -> ``Chippenham``."""
    return _PLACE_SUFFIXES.sub("", name)


def spaces(count: int) -> str:
    return "1 space" if count == 1 else f"{count} spaces"


def short_day(day: dt.date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def clock_of(value: str | None) -> dt.time | None:
    """The clock time of a ``time`` slot (``18:00``), or None for a part of the day."""
    if not value or value in TIME_OF_DAY:
        return None
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        return None


def day_of(value: str | None) -> dt.date | None:
    if not value or value == ANY_DAY:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def day_and_time(start: dt.datetime) -> str:
    return f"{plain_date(start.date())} at {plain_time(start)}"


def time_words(start: dt.datetime, end: dt.datetime) -> str:
    return f"{plain_date(start.date())}, {plain_time(start)} to {plain_time(end)}"


def restore_slots(tracker: Tracker) -> list[EventType]:
    """Put back every slot the latest message changed (its entities filled them)."""
    last_user = latest_user_index(tracker.events)
    if last_user is None:
        return []
    before = slots_before_message(tracker)
    changed = {e["name"] for e in tracker.events[last_user + 1 :] if e.get("event") == "slot"} - {
        "requested_slot"
    }
    return [SlotSet(name, before.get(name)) for name in sorted(changed)]


def fresh_message(tracker: Tracker, form: str) -> bool:
    """Whether the form runs straight after the resident's message (not resuming after a detour)."""
    mine = {"action_listen", "action_extract_slots", form, f"validate_{form}", None}
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return True
        if event.get("event") == "action" and event.get("name") not in mine:
            return False
    return True


# --- small shared helpers --------------------------------------------------------------


def time_of_day(value: Any) -> str | None:
    """The ``time`` slot as the booking system reads it: a part of the day or ``HH:MM``."""
    text = str(value or "")
    if text in TIME_OF_DAY:
        return text
    try:
        return dt.time.fromisoformat(text).strftime("%H:%M")
    except ValueError:
        return None


def closest(wanted: str, names: dict[str, str]) -> str | None:
    """The canonical name whose alias is ``wanted`` or closest to it (typos, towns, short names)."""
    key = norm(wanted)
    if key in names:
        return names[key]
    found = difflib.get_close_matches(key, list(names), n=1, cutoff=0.75)
    return names[found[0]] if found else None


def place_aliases(places: Sequence[Any]) -> dict[str, str]:
    """Names, short names and towns of leisure centres or libraries -> the place's name."""
    aliases: dict[str, str] = {}
    for place in places:
        for alias in (place.name, short_place(place.name), place.town):
            aliases.setdefault(norm(alias), place.name)
    return aliases


def taken(dispatcher: CollectingDispatcher, form: str) -> list[EventType]:
    """The place went while the resident was choosing: say so and offer the times again."""
    dispatcher.utter_message(text="Sorry, someone has just taken the last space at that time.")
    cleared = [
        SlotSet(name, None) for name in ("session_choice", "session_options", "confirm", "booking_key")
    ]
    return [*cleared, FollowupAction(form)]


# --- the form that steps aside for questions ---------------------------------------------------


class BookingForm(JourneyForm, ABC):
    """A journey form that lets a question about another service through, then resumes."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if await self.interrupted(dispatcher, tracker, domain):
            return [*restore_slots(tracker), ActionExecutionRejected(self.form_name())]
        return await super().run(dispatcher, tracker, domain)

    async def interrupted(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> bool:
        """Opening times, or another service's request not answering the question, just after the message."""
        intent = intent_of(tracker)
        if intent == self.journey or intent in self.ANSWER_INTENTS:
            return False
        if not demand_map.load().is_service_intent(intent) or not fresh_message(tracker, self.form_name()):
            return False
        return intent in QUESTIONS or not await self.answers_question(dispatcher, tracker, domain)

    async def answers_question(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> bool:
        """Whether the message answers the question asked, whatever its intent."""
        requested = tracker.get_slot("requested_slot")
        if not requested:
            return False
        if requested in entities(tracker):
            return True
        extract = getattr(self, f"extract_{requested}", None)
        return bool(extract and await extract(dispatcher, tracker, domain))

    # -- the day --
    async def extract_date(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "date") or "date" in entities(tracker):
            return {}
        if _ANY_DAY.search(text_of(tracker).lower()):
            return {"date": ANY_DAY}
        return {"date": "__not_a_date__"} if self.is_answer(tracker) else {}

    async def validate_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == ANY_DAY:
            return self.accepted({"date": ANY_DAY})
        explain = "Say a day such as 'tomorrow', 'Saturday' or '14 December', or choose 'Any day'."
        day = day_of(str(value))
        if day is None:
            return self.failed_answer(
                dispatcher, tracker, "date", "Sorry, I didn't understand the day.", explain
            )
        today = now().date()
        last = today + dt.timedelta(days=HORIZON_DAYS - 1)
        if day < today:
            return self.failed_answer(dispatcher, tracker, "date", f"{plain_date(day)} has passed.", explain)
        if day > last:
            return self.failed_answer(
                dispatcher,
                tracker,
                "date",
                f"You can book up to 2 weeks ahead, so until {plain_date(last)}.",
                explain,
            )
        return self.accepted({"date": day.isoformat()})


def date_buttons(today: dt.date) -> list[dict[str, str]]:
    days = [("Today", today), ("Tomorrow", today + dt.timedelta(days=1))]
    days.append((f"{today + dt.timedelta(days=2):%A}", today + dt.timedelta(days=2)))
    buttons = [{"title": title, "payload": inform(date=day.isoformat())} for title, day in days]
    return [*buttons, {"title": "Any day", "payload": inform(date=ANY_DAY)}]


def inform(**values: str) -> str:
    """A button payload that gives entities without going through NLU."""
    return "/inform" + json.dumps(values)


class AskBookingDay(Action, ABC):
    """Ask which day, with buttons for the next few days and "Any day"."""

    #: The question, before "You can book up to 2 weeks ahead."
    question: ClassVar[str] = ""

    @abstractmethod
    def name(self) -> str: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(
            text=f"{self.question} You can book up to 2 weeks ahead.",
            buttons=date_buttons(now().date()),
        )
        return []


# --- choices: availability as buttons --------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One bookable time at one place, and how many places are left."""

    key: str
    start: dt.datetime
    end: dt.datetime
    place: str
    spaces: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Wanted:
    """What the resident asked for; ``None`` is "any"."""

    what: str
    place: str | None = None
    day: dt.date | None = None
    time: str | None = None

    def describe(self, clock: bool = True) -> str:
        text = self.what
        if self.place:
            text += f" at {self.place}"
        if self.day:
            text += f" on {plain_date(self.day)}"
        if self.time in TIME_OF_DAY:
            text += f" in the {self.time}"
        elif clock and clock_of(self.time):
            text += f" at {plain_time(clock_of(self.time))}"  # type: ignore[arg-type]
        return text


#: Fetch the times (full ones too) for a place, a day and a time of day; ``None`` is any.
Fetch = Callable[[str | None, dt.date | None, str | None], Awaitable[list[Choice]]]


def availability(
    search: Callable[..., Awaitable[list[Any]]], what: str, choice: Callable[[Any], Choice]
) -> Fetch:
    """``Fetch`` from a booking system's ``search`` (full times too, all of them, as of now) for ``what``.

    ``search`` takes (what, place, day, time of day, include_full, limit, now); ``choice``
    turns each time it finds into a ``Choice``.
    """
    current = now()

    async def fetch(place: str | None, day: dt.date | None, time: str | None) -> list[Choice]:
        found = await search(what, place, day, time, include_full=True, limit=None, now=current)
        return [choice(item) for item in found]

    return fetch


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _relaxed(wanted: Wanted) -> list[Wanted]:
    """What to look for next when nothing fits: any time that day, any day there, anywhere."""
    steps = []
    if wanted.time:
        steps.append(replace(wanted, time=None))
    if wanted.day:
        steps.append(replace(wanted, day=None, time=None))
    if wanted.place:
        if wanted.day:
            steps.append(replace(wanted, place=None, time=None))
        steps.append(Wanted(wanted.what))
    return steps


def _nearest(choices: list[Choice], wanted: Wanted, current: dt.datetime) -> list[Choice]:
    if wanted.day is None:
        return sorted(choices, key=lambda c: (c.start, c.place))
    target = dt.datetime.combine(wanted.day, clock_of(wanted.time) or dt.time(12), tzinfo=current.tzinfo)
    return sorted(choices, key=lambda c: (abs((c.start - target).total_seconds()), c.start, c.place))


async def find_choices(fetch: Fetch, wanted: Wanted, current: dt.datetime) -> tuple[str, list[Choice]]:
    """Times with spaces for what was asked, nearest first; if none, why not and the nearest others.

    Returns (a note saying what is different from what was asked, or "", the choices).
    """
    found = await fetch(wanted.place, wanted.day, wanted.time)
    free = [c for c in found if c.spaces > 0]
    clock = clock_of(wanted.time)
    passed = wanted.day == current.date() and clock is not None and clock < current.time()
    if passed:
        note = f"{_capital(plain_time(clock))} today has passed."  # type: ignore[arg-type]
        if free:
            return f"{note} These are the nearest times with spaces.", free[:MAX_CHOICES]
    elif free:
        return "", free[:MAX_CHOICES]
    elif found:
        note = f"There are no spaces left for {wanted.describe(clock=False)}."
    elif wanted.place and not await fetch(wanted.place, None, None):
        note = f"{wanted.place} doesn't have {wanted.what}."
    else:
        where = wanted.describe() if wanted.day else f"{wanted.describe()} in the next 2 weeks"
        note = f"There are no times for {where}."
    # The nearest others: the same day first, then other days; the same place before others.
    others: list[Choice] = []
    for step in _relaxed(wanted):
        seen = {c.key for c in others}
        fresh = [
            c for c in await fetch(step.place, step.day, step.time) if c.spaces > 0 and c.key not in seen
        ]
        others += _nearest(fresh, wanted, current)
        if len(others) >= MAX_CHOICES:
            break
    if not others:
        return f"{note} There are no other times with spaces in the next 2 weeks.", []
    return f"{note} These are the nearest times with spaces.", others[:MAX_CHOICES]


def choice_options(choices: list[Choice], wanted: Wanted, place_entity: str) -> list[dict[str, Any]]:
    """The choices as slot values: titles for buttons, and payloads that say which one."""
    places = {c.place for c in choices}
    days = {c.start.date() for c in choices}
    show_place = len(places) > 1 or places != {wanted.place}
    show_day = len(days) > 1 or days != {wanted.day}
    options = []
    for choice in choices:
        parts = [short_place(choice.place)] if show_place else []
        parts += [short_day(choice.start.date())] if show_day else []
        parts.append(plain_time(choice.start))
        title = f"{', '.join(parts)} ({spaces(choice.spaces)})"
        payload = inform(
            **{
                "date": choice.start.date().isoformat(),
                "time": f"{choice.start:%H:%M}",
                place_entity: choice.place,
            }
        )
        options.append(
            {
                "key": choice.key,
                "start": choice.start.isoformat(),
                "end": choice.end.isoformat(),
                "place": choice.place,
                "spaces": choice.spaces,
                "title": title,
                "payload": payload,
                **choice.extra,
            }
        )
    return options


def match_choice(tracker: Tracker, options: list[dict[str, Any]], place_entity: str) -> list[dict[str, Any]]:
    """The offered options the message points at: by button, number, title, or day and time."""
    text = text_of(tracker).lower()
    found = entities(tracker)
    exact = [o for o in options if o["title"].lower() == text]
    if exact:
        return exact
    number = re.fullmatch(r"(?:option|number|no\.?)?\s*(\d{1,2})", text)
    if number and "time" not in found and 1 <= int(number.group(1)) <= len(options):
        return [options[int(number.group(1)) - 1]]
    matches = options
    if found.get("time") and clock_of(found["time"]):
        matches = [o for o in matches if o["start"][11:16] == found["time"]]
    if found.get("date") and day_of(found["date"]):
        matches = [o for o in matches if o["start"][:10] == found["date"]]
    if found.get(place_entity):
        matches = [o for o in matches if o["place"] == found[place_entity]]
    return matches if {"time", "date", place_entity} & set(found) else []


class ChoiceSteps(BookingForm, ABC):
    """Criteria slots -> ``session_options`` (searched when they change) -> ``session_choice``."""

    #: The entity naming the place (``leisure_centre`` or ``library``).
    place_entity: ClassVar[str] = ""
    #: Slots whose values are what the resident is looking for.
    criteria_slots: ClassVar[tuple[str, ...]] = ()
    #: What else to try when nothing fits ("another day or activity").
    try_instead: ClassVar[str] = "another day"

    @abstractmethod
    def wanted(self, slots: dict[str, Any]) -> Wanted | None:
        """What to search for, once enough is known; None until then."""

    @abstractmethod
    async def fetch(self, slots: dict[str, Any]) -> Fetch:
        """How to read the times for what the resident wants, from the booking system."""

    def offered_answer(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        slot: str,
        offered: Sequence[str],
        where: str,
    ) -> dict[str, Any]:
        """What the resident wants to book, as ``offered`` names it; if it isn't offered, what is."""
        found = closest(str(value), {o: o for o in offered})
        if found is None:
            return self.failed_answer(
                dispatcher,
                tracker,
                slot,
                f"Sorry, you can't book {value} at {where}.",
                "You can book " + ", ".join(offered) + ".",
            )
        return self.accepted({slot: found})

    async def validate_place(
        self,
        value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        places: Callable[[], Awaitable[Sequence[Any]]],
        kind: str,
        plural: str,
    ) -> dict[str, Any]:
        """The place named, or the closest match (``place_entity``); if none, which places there are.

        ``places`` reads them from the booking system; ``kind`` and ``plural`` name them
        ("leisure centre", "centres").
        """
        try:
            known = await places()
        except IntegrationError as error:
            failed = await backoffice_failed(
                dispatcher, tracker, error, intent=self.journey, doing=f"look up our {plural}"
            )
            return ended(failed, **{self.place_entity: None})
        found = closest(str(value), place_aliases(known))
        if found is None:
            return self.failed_answer(
                dispatcher,
                tracker,
                self.place_entity,
                f"I couldn't find a {kind} called {value}.",
                f"Our {plural} are " + ", ".join(place.name for place in known) + ".",
            )
        return self.accepted({self.place_entity: found})

    async def extract_session_choice(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "session_choice"):
            return {}
        options = (tracker.get_slot("session_options") or {}).get("options") or []
        matches = match_choice(tracker, options, self.place_entity)
        if len(matches) == 1:
            return {"session_choice": matches[0]}
        if set(entities(tracker)) & set(self.criteria_slots):
            return {}  # a new day, time or place: searched again below
        return {"session_choice": "__unclear__"} if self.is_answer(tracker) else {}

    async def validate_session_choice(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            return self.failed_answer(
                dispatcher,
                tracker,
                "session_choice",
                "Please choose one of the times.",
                f"Choose a time from the buttons, or say {self.try_instead}.",
            )
        # The Open Booking API wants a UUID: one per run of the journey and time chosen.
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, journey_key(tracker, f"{self.journey}:{value['key']}")))
        return self.accepted({"session_choice": value, "booking_key": key, "confirm": None})

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = await super().get_validation_events(dispatcher, tracker, domain)
        more = await self.search_if_changed(dispatcher, tracker, events)
        tracker.slots.update(more)
        return [*events, *(SlotSet(k, v) for k, v in more.items())]

    async def search_if_changed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, events: list[EventType]
    ) -> dict[str, Any]:
        """Search again when what the resident wants changed (unless they chose a time just now)."""
        slots = dict(tracker.slots)
        if slots.get("requested_slot") is None and any(
            e.get("name") == "requested_slot" for e in events if e.get("event") == "slot"
        ):
            return {}  # the journey was ended by a validator
        wanted = self.wanted(slots)
        if wanted is None:
            return {}
        criteria = {name: slots.get(name) for name in self.criteria_slots}
        stored = slots.get("session_options") or {}
        if stored.get("criteria") == criteria:
            return {}
        if isinstance(slot_values(events).get("session_choice"), dict):
            return {"session_options": {**stored, "criteria": criteria}}
        try:
            note, choices = await find_choices(await self.fetch(slots), wanted, now())
        except IntegrationError as error:
            failed = await backoffice_failed(
                dispatcher, tracker, error, intent=self.journey, doing="look up the times you can book"
            )
            return ended(failed)
        except NotFound:
            note, choices = f"I couldn't find {wanted.describe()}.", []
        clock = clock_of(wanted.time)
        first = f" nearest to {plain_time(clock)} first" if clock else ""
        header = note or f"These are the times with spaces for {wanted.describe(clock=False)}{first}."
        options = choice_options(choices, wanted, self.place_entity)
        ask = "Which would you like?" if options else f"You can try {self.try_instead}, or say stop."
        return {
            "session_options": {"criteria": criteria, "text": f"{header} {ask}", "options": options},
            "session_choice": None,
            "confirm": None,
        }

    def validate_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is False:
            dispatcher.utter_message(text="OK, I haven't booked it.")
            return self.accepted({"confirm": None, "session_choice": None})
        return super().validate_confirm(value, dispatcher, tracker, domain)


class ActionAskSessionChoice(Action):
    """Offer the times found: nearest first, with spaces left, as buttons."""

    def name(self) -> str:
        return "action_ask_session_choice"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        found = tracker.get_slot("session_options") or {}
        buttons = [{"title": o["title"], "payload": o["payload"]} for o in found.get("options") or []]
        dispatcher.utter_message(
            text=found.get("text") or "Which time would you like?", buttons=buttons or [STOP_BUTTON]
        )
        return []


# --- contact details -------------------------------------------------------------------------


def is_mobile(number: str | None) -> bool:
    digits = re.sub(r"\D", "", number or "")
    return digits.startswith("07") or digits.startswith("447")


def contact_words(tracker: Tracker) -> str:
    """How the confirmation will go: ``by email``, ``by text message``, or "" (none, or a landline)."""
    how = tracker.get_slot("contact")
    if how == "phone":
        return "by text message" if is_mobile(tracker.get_slot("phone_number")) else ""
    return "by email" if how == "email" else ""


class ContactSteps(BookingForm, ABC):
    """``contact``: ``email`` or ``phone`` (the values are in those slots), or ``none`` if optional."""

    #: Whether the resident may say no (a confirmation they don't need).
    contact_optional: ClassVar[bool] = False

    async def extract_contact(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        given = entities(tracker)
        if "email" in given:
            return {"contact": "email"}
        if "phone_number" in given:
            return {"contact": "phone"}
        if not self.asked(tracker, "contact"):
            return {}
        if self.contact_optional and (intent_of(tracker) == "deny" or _NO_THANKS.match(text_of(tracker))):
            return {"contact": "none"}
        return {"contact": "__invalid__"} if self.is_answer(tracker) else {}

    async def validate_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value not in ("email", "phone", "none"):
            explain = "For example, name@example.com or 07700 900123."
            if not self.contact_optional:
                explain += " The centre needs one of them for your booking."
            return self.failed_answer(
                dispatcher,
                tracker,
                "contact",
                "That doesn't look like an email address or a UK phone number.",
                explain,
            )
        return self.accepted({"contact": value})


async def send_confirmation(
    tracker: Tracker, *, intent: str, reference: str, activity: str, place: str, start: dt.datetime
) -> str:
    """Send the booking confirmation through GOV.UK Notify; the sentence to tell the resident."""
    how = tracker.get_slot("contact")
    email, phone = tracker.get_slot("email"), tracker.get_slot("phone_number")
    values = {
        "activity": activity,
        "place": place,
        "date": plain_date(start.date()),
        "time": plain_time(start),
        "reference": reference,
    }
    notify = clients().notify
    try:
        if how == "email" and email:
            await notify.send_email(email, CONFIRMATION_TEMPLATE, values, reference=reference)
            return "We've sent a confirmation by email."
        if how == "phone" and is_mobile(phone):
            await notify.send_sms(phone, CONFIRMATION_TEMPLATE, values, reference=reference)
            return "We've sent a confirmation by text message."
        if how == "phone":
            return "We can't text a landline, so please keep a note of your reference."
    except ValueError:  # no Notify template configured for bookings: a setup problem, not the resident's
        logger.exception("no confirmation sent for %s", intent)
        return "Please keep a note of your reference."
    except IntegrationError as error:
        logger.warning("confirmation not sent for %s: %s", intent, error)
        to = {"email": email} if how == "email" else {"phone_number": phone}
        try:
            await keep_for_follow_up(
                tracker,
                intent=intent,
                system=error.system or "notify",
                kind=CONFIRMATION_TEMPLATE,
                payload={"template": CONFIRMATION_TEMPLATE, **to, "personalisation": values},
                key=f"{CONFIRMATION_TEMPLATE}:{reference}",
            )
        except Exception:
            logger.exception("could not keep the confirmation for follow-up")
            return "We couldn't send a confirmation just now, so please keep a note of your reference."
        return "We couldn't send your confirmation just now. We'll send it soon: note your reference."
    return ""


# --- read back and book ---------------------------------------------------------------------


class AskBookingConfirm(Action, ABC):
    """Read the chosen time back, with how the confirmation will go, and ask whether to book it."""

    #: The chosen time's field naming what is booked (``activity``, ``resource``).
    what: ClassVar[str] = ""

    @abstractmethod
    def name(self) -> str: ...

    def price_lines(self, choice: dict[str, Any]) -> list[str]:
        """What it costs, read back after the time (nothing to say by default)."""
        return []

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        choice = tracker.get_slot("session_choice") or {}
        start, end = dt.datetime.fromisoformat(choice["start"]), dt.datetime.fromisoformat(choice["end"])
        confirmation = (
            f"Confirmation {contact_words(tracker)}" if contact_words(tracker) else "No confirmation message"
        )
        lines = [
            "Please check your booking:",
            f"{choice[self.what].capitalize()} at {choice['place']}",
            time_words(start, end),
            *self.price_lines(choice),
            confirmation,
            "",
            "Shall I book it?",
        ]
        dispatcher.utter_message(
            text="\n".join(lines),
            buttons=[{"title": "Yes, book it", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
        )
        return []


def booking_refused(
    dispatcher: CollectingDispatcher, refused: Rejected, *, intent: str, system: str, words: str
) -> list[EventType]:
    """The booking system (``words``: "library system") said no, not because the place went: say so."""
    dispatcher.utter_message(
        text=f"Sorry, the {words} couldn't take this booking. You can choose another time, "
        "or talk to a person.",
        buttons=[PERSON_BUTTON],
    )
    return [outcome("informed", intent, system=system, refused=refused.reason)]


async def booking_failed(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    error: IntegrationError,
    *,
    intent: str,
    keep: dict[str, Any],
    key: Any,
) -> list[EventType]:
    """The booking system failed: say so, and keep what a person needs to book it (once per ``key``)."""
    return await backoffice_failed(
        dispatcher,
        tracker,
        error,
        intent=intent,
        doing="book this for you",
        keep=keep,
        kind=intent,
        key=f"{intent}:{key}",
    )


async def confirm_booking(
    tracker: Tracker, *, intent: str, reference: str, choice: dict[str, Any], what: str
) -> tuple[str, str]:
    """Send the confirmation of the booked ``choice`` (``what``: its field naming what is booked).

    Returns (the booking in words, "swimming at Olympiad, …", and the sentence about the confirmation).
    """
    start = dt.datetime.fromisoformat(choice["start"])
    sent = await send_confirmation(
        tracker, intent=intent, reference=reference, activity=choice[what], place=choice["place"], start=start
    )
    end = dt.datetime.fromisoformat(choice["end"])
    return f"{choice[what]} at {choice['place']}, {time_words(start, end)}", sent


# --- library card and PIN ------------------------------------------------------------------


class PatronSteps(BookingForm, ABC):
    """``library_card_number`` -> ``library_pin`` (checked at once, never kept) -> ``patron_id``."""

    async def patron_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, patron_id: int
    ) -> dict[str, Any]:
        """What the journey does once it knows the patron (slots to set)."""
        return {}

    async def extract_library_card_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "library_card_number") or "library_card_number" in entities(tracker):
            return {}
        if _CANT_ANSWER.search(text_of(tracker).lower()):
            return {"library_card_number": "__unknown__"}
        return {"library_card_number": "__not_a_card__"} if self.is_answer(tracker) else {}

    async def validate_library_card_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == "__unknown__":
            return self.another_way(dispatcher, "library_card_number", "your library card number")
        if value == "__not_a_card__":
            return self.failed_answer(
                dispatcher,
                tracker,
                "library_card_number",
                "That doesn't look like a library card number.",
                "It's the 14-digit number on your library card, starting with 2.",
            )
        # A new card number: the PIN is asked (and checked) again.
        return {"library_card_number": value, "library_pin": None, "patron_id": None}

    async def extract_library_pin(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "library_pin") or "library_card_number" in entities(tracker):
            return {}
        pin = _PIN.match(text_of(tracker))
        if pin:
            return {"library_pin": pin.group(1)}
        if _CANT_ANSWER.search(text_of(tracker).lower()):
            return {"library_pin": "__unknown__"}
        return {"library_pin": "__not_a_pin__"} if self.is_answer(tracker) else {}

    async def validate_library_pin(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == VERIFIED:
            return {}
        if value == "__unknown__":
            return self.another_way(dispatcher, "library_pin", "your PIN")
        if value == "__not_a_pin__":
            return self.failed_answer(
                dispatcher,
                tracker,
                "library_pin",
                "Your PIN is a number, usually 4 digits.",
                "It's the PIN for the library website. If you've forgotten it, any library can reset it.",
            )
        card = str(tracker.get_slot("library_card_number") or "")
        try:
            patron = await clients().libraries.verify_patron(card, str(value))
        except (Rejected, NotFound):
            return self.wrong_pin(dispatcher, tracker)
        except IntegrationError as error:
            failed = await backoffice_failed(
                dispatcher, tracker, error, intent=self.journey, doing="check your library card"
            )
            return ended(failed, library_pin=None)
        verified = {
            "library_pin": VERIFIED,
            "patron_id": patron.patron_id,
            "pin_tries": None,
            "attempts": None,
        }
        return {**verified, **await self.patron_verified(dispatcher, tracker, patron.patron_id)}

    def another_way(self, dispatcher: CollectingDispatcher, slot: str, what: str) -> dict[str, Any]:
        """The resident doesn't have the card number or PIN: say how to get it; the question stands."""
        dispatcher.utter_message(
            text=f"Any library can help with {what} if you take some ID, and you can reset your PIN on the "
            f"library website. When you have {what}, type it here, or talk to a person.",
            buttons=[PERSON_BUTTON, STOP_BUTTON],
        )
        return {slot: None}

    def wrong_pin(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        tries = int(tracker.get_slot("pin_tries") or 0) + 1
        if tries >= MAX_PIN_TRIES:
            dispatcher.utter_message(
                text="Sorry, that card number and PIN still don't match, so I've stopped here to keep your "
                "account safe. Any library can check your card and reset your PIN, or you can talk to a "
                "person.",
                buttons=[PERSON_BUTTON],
            )
            return {
                "library_pin": None,
                "pin_tries": tries,
                "requested_slot": None,
                **outcome_value("abandoned", self.journey, step="library_pin", reason="pin_not_recognised"),
            }
        left = MAX_PIN_TRIES - tries
        dispatcher.utter_message(
            text="That card number and PIN don't match our records. "
            f"You can try {left} more time{'s' if left > 1 else ''}. If your card number might be wrong, "
            "type that instead."
        )
        return {"library_pin": None, "pin_tries": tries}


# --- cancel a booking -------------------------------------------------------------------------

CANCEL = "cancel_booking"


def booking_title(activity: str, start: dt.datetime) -> str:
    return f"{_capital(activity)}, {short_day(start.date())} {plain_time(start)}"


async def library_names() -> dict[str, str]:
    return {lib.library_id: lib.name for lib in await clients().libraries.libraries()}


def library_summary(booking: LibraryBooking, names: dict[str, str]) -> str:
    place = names.get(booking.library_id, booking.library_id)
    return f"{booking.resource} at {place} on {day_and_time(booking.start)}"


class ValidateCancelBookingForm(ContactSteps, PatronSteps):
    """Reference -> the booking read back -> yes. Without a reference: email, phone or card -> pick one."""

    journey = CANCEL

    def name(self) -> str:
        return "validate_cancel_booking_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if not tracker.slots.get("cancel_lookup"):
            return ["booking_reference", "confirm"]
        steps = ["contact"]
        if tracker.slots.get("contact") == "library":
            steps += ["library_card_number", "library_pin"]
        return [*steps, "booking_reference", "confirm"]

    # -- the reference --
    async def extract_booking_reference(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "booking_reference") or "booking_reference" in entities(tracker):
            return {}
        if not tracker.get_slot("cancel_lookup") and (
            _NO_REFERENCE.search(text_of(tracker).lower()) or intent_of(tracker) == "deny"
        ):
            return {"booking_reference": "__find__"}
        return {"booking_reference": "__not_a_reference__"} if self.is_answer(tracker) else {}

    async def validate_booking_reference(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        explain = "It looks like BK-123456 (leisure) or LB-123456 (library) and is in your confirmation."
        if value == "__find__":
            return {"booking_reference": None, "cancel_lookup": True, "attempts": None}
        reference = str(value).upper()
        if value == "__not_a_reference__" or not re.fullmatch(r"[A-Z]{2}-\d{6}", reference):
            return self.failed_answer(
                dispatcher,
                tracker,
                "booking_reference",
                "That doesn't look like a booking reference.",
                explain,
            )
        if reference[:2] not in ("BK", "LB"):
            return self.failed_answer(
                dispatcher,
                tracker,
                "booking_reference",
                f"{reference} isn't a leisure or library booking, so I can't cancel it here.",
                explain,
            )
        try:
            target = await self.find_booking(reference)
        except NotFound:
            return self.failed_answer(
                dispatcher,
                tracker,
                "booking_reference",
                f"I couldn't find a booking with reference {reference}.",
                explain,
            )
        except IntegrationError as error:
            failed = await backoffice_failed(
                dispatcher, tracker, error, intent=CANCEL, doing="find your booking"
            )
            return ended(failed, booking_reference=None)
        if target["status"] != "confirmed":
            dispatcher.utter_message(
                text=f"Booking {reference} is {target['status']}, so there's nothing to cancel."
            )
            return {
                "booking_reference": reference,
                "requested_slot": None,
                **outcome_value("informed", CANCEL, system=target["system"], found=target["status"]),
            }
        return self.accepted({"booking_reference": reference, "cancel_target": target})

    async def find_booking(self, reference: str) -> dict[str, Any]:
        """The booking as the cancel step needs it: which system, what it is, whether it can go."""
        if reference.startswith("BK"):
            booking = await clients().leisure.get_order(reference)
            over = booking.end < now()
            status = (
                "already over"
                if over
                else {"confirmed": "confirmed"}.get(booking.status, "already cancelled")
            )
            summary = f"{booking.activity} at {booking.centre} on {day_and_time(booking.start)}"
            return {"system": "leisure", "reference": reference, "summary": summary, "status": status}
        found = await clients().libraries.get_session_booking(reference)
        status = "already cancelled" if found.status == "cancelled" else "confirmed"
        if found.end < now():
            status = "already over"
        summary = library_summary(found, await library_names())
        return {"system": "library", "reference": reference, "summary": summary, "status": status}

    # -- without a reference: whose bookings --
    async def extract_contact(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not tracker.get_slot("cancel_lookup"):
            return {}
        if "library_card_number" in entities(tracker):
            return {"contact": "library"}
        return await super().extract_contact(dispatcher, tracker, domain)

    async def validate_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == "library":
            return self.accepted({"contact": "library"})
        checked = await super().validate_contact(value, dispatcher, tracker, domain)
        if checked.get("contact") is None:
            return checked
        email = tracker.get_slot("email") if value == "email" else ""
        phone = tracker.get_slot("phone_number") if value == "phone" else ""
        try:
            bookings = await clients().leisure.find_bookings(email=email or "", telephone=phone or "")
        except IntegrationError as error:
            failed = await backoffice_failed(
                dispatcher, tracker, error, intent=CANCEL, doing="find your bookings"
            )
            return ended(failed)
        if not bookings:
            return self.failed_answer(
                dispatcher,
                tracker,
                "contact",
                f"I couldn't find any leisure bookings coming up for that {'email' if email else 'number'}.",
                "Try the email address or phone number you booked with. For a library booking, type your "
                "library card number.",
            )
        options = [{"reference": b.reference, "title": booking_title(b.activity, b.start)} for b in bookings]
        return {**checked, "my_bookings": options[: MAX_CHOICES + 2]}

    async def patron_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, patron_id: int
    ) -> dict[str, Any]:
        try:
            bookings = await clients().libraries.find_session_bookings(patron_id)
        except IntegrationError as error:
            failed = await backoffice_failed(
                dispatcher, tracker, error, intent=CANCEL, doing="find your bookings"
            )
            return ended(failed)
        upcoming = [b for b in bookings if b.status != "cancelled" and b.end > now() and b.reference]
        if not upcoming:
            dispatcher.utter_message(
                text="You have no upcoming library bookings, so there's nothing to cancel.",
            )
            return {"requested_slot": None, **outcome_value("informed", CANCEL, system="koha", found=0)}
        options = [{"reference": b.reference, "title": booking_title(b.resource, b.start)} for b in upcoming]
        return {"my_bookings": options[: MAX_CHOICES + 2]}

    def validate_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is False:
            dispatcher.utter_message(text="OK, I haven't cancelled it. Your booking still stands.")
            return {
                "confirm": False,
                "requested_slot": None,
                **outcome_value("cancelled", CANCEL, step="confirm"),
            }
        return super().validate_confirm(value, dispatcher, tracker, domain)


class ActionAskCancelBookingFormBookingReference(Action):
    def name(self) -> str:
        return "action_ask_cancel_booking_form_booking_reference"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        found = tracker.get_slot("my_bookings") or []
        if found:
            buttons = [
                {"title": b["title"], "payload": inform(booking_reference=b["reference"])} for b in found
            ]
            dispatcher.utter_message(text="Which booking do you want to cancel?", buttons=buttons)
        else:
            dispatcher.utter_message(
                text="What is your booking reference? It looks like BK-123456 or LB-123456.",
                buttons=[{"title": "I don't have it", "payload": "I don't have my reference"}],
            )
        return []


class ActionAskCancelBookingFormContact(Action):
    def name(self) -> str:
        return "action_ask_cancel_booking_form_contact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(
            text="I can find your bookings. For a leisure booking, what email address or phone number did "
            "you book with? For a library booking, type your library card number."
        )
        return []


class ActionAskCancelBookingFormConfirm(Action):
    def name(self) -> str:
        return "action_ask_cancel_booking_form_confirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        target = tracker.get_slot("cancel_target") or {}
        dispatcher.utter_message(
            text=f"Cancel your booking for {target.get('summary')} ({target.get('reference')})?",
            buttons=[
                {"title": "Yes, cancel it", "payload": "/affirm"},
                {"title": "No, keep it", "payload": "/deny"},
            ],
        )
        return []


CANCEL_SLOTS = (
    "booking_reference",
    "cancel_lookup",
    "contact",
    "email",
    "phone_number",
    "library_card_number",
    "library_pin",
    "pin_tries",
    "patron_id",
    "my_bookings",
    "cancel_target",
    "confirm",
    "attempts",
    "activity",
    "leisure_centre",
    "library",
    "resource",
    "date",
    "time",
)


class ActionCancelBooking(Action):
    """Cancel the booking read back and confirmed; say so, or why it can't be."""

    def name(self) -> str:
        return "action_cancel_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = [SlotSet(name, None) for name in CANCEL_SLOTS]
        target = tracker.get_slot("cancel_target") or {}
        if tracker.get_slot("confirm") is not True or not target:
            return reset  # ended earlier, and the resident was told why
        reference, system = target["reference"], target["system"]
        try:
            if system == "leisure":
                await clients().leisure.cancel(reference)
            else:
                await clients().libraries.cancel_session(reference)
        except Rejected as refused:
            return [*reset, *await self.refused(dispatcher, refused, target)]
        except NotFound:
            dispatcher.utter_message(
                text=f"I couldn't find booking {reference} any more. It may have been cancelled already."
            )
            return [*reset, outcome("informed", CANCEL, system=system, found=False)]
        except IntegrationError as error:
            failed = await backoffice_failed(
                dispatcher,
                tracker,
                error,
                intent=CANCEL,
                doing="cancel your booking",
                keep={"system": system, "reference": reference},
                kind=CANCEL,
                key=f"{CANCEL}:{reference}",
            )
            return [*reset, *failed]
        dispatcher.utter_message(
            text=f"Your booking for {target['summary']} is cancelled. Your reference is {reference}. "
            "You don't need to do anything else."
        )
        return [*reset, outcome("completed", CANCEL, system=system)]

    async def refused(
        self, dispatcher: CollectingDispatcher, refused: Rejected, target: dict[str, Any]
    ) -> list[EventType]:
        """Too late to cancel: the booking system's words, and who to call."""
        text = "Sorry, this booking can't be cancelled here any more."
        if target["system"] == "leisure":
            text = (
                "Sorry, it's too late to cancel this booking here: bookings can be cancelled up to 2 hours "
                "before they start."
            )
            try:
                booking = await clients().leisure.get_order(target["reference"])
                centre = await clients().leisure.centre(booking.centre)
                text += f" Please call {centre.name} on {centre.telephone}."
            except IntegrationError:
                text += " Please call the leisure centre."
        dispatcher.utter_message(text=text, buttons=[PERSON_BUTTON])
        return [outcome("informed", CANCEL, system=target["system"], refused=refused.reason)]


class ActionAskContact(Action):
    """Ask for an email address or phone number: needed for a leisure booking, optional for a library one."""

    def name(self) -> str:
        return "action_ask_contact"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.active_loop.get("name") == "library_booking_form":
            dispatcher.utter_message(
                text="Would you like a confirmation? Type your email address or mobile number, "
                "or choose No thanks.",
                buttons=[{"title": "No thanks", "payload": "/deny"}],
            )
        else:
            dispatcher.utter_message(
                text="What email address or mobile number should the booking be under? "
                "We'll send your confirmation there, and the centre will use it if anything changes."
            )
        return []
