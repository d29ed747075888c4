"""Leisure: book an activity through OpenActive, and opening times of leisure centres and libraries.

Book a leisure activity: activity, centre and day (whatever the first message gave
is not asked again; a time, if given, puts the nearest times first) -> the times
with spaces from the booking system's feeds, as buttons -> an email address or
phone number -> read back and confirmed -> booked (Open Booking C1, C2, B with one
Order UUID kept in ``booking_key``, so a second "yes" or a retry never books twice)
-> reference, what to do next, and a confirmation through GOV.UK Notify.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.bookings import (
    BOOKING_SLOTS,
    HORIZON_DAYS,
    AskBookingConfirm,
    AskBookingDay,
    Choice,
    ChoiceSteps,
    ContactSteps,
    Fetch,
    Wanted,
    availability,
    booking_failed,
    booking_refused,
    closest,
    confirm_booking,
    day_of,
    entities,
    inform,
    now,
    place_aliases,
    short_place,
    taken,
    time_of_day,
)
from actions.clients import clients
from actions.common import (
    backoffice_failed,
    ended,
    intent_of,
    outcome,
    plain_date,
    plain_time,
    pounds,
)
from integrations.errors import IntegrationError, Rejected
from integrations.leisure import Customer, LeisureClient, OpeningHours, Opportunity

BOOK = "book_leisure_activity"
FORM = "leisure_booking_form"
#: The booking system's answers that mean the place went while the resident was choosing.
TAKEN = frozenset(
    {
        "OpportunityIsFullError",
        "OpportunityHasInsufficientCapacityError",
        "OpportunityOfferPairNotBookableError",
        "UnknownOpportunityError",
    }
)
LEISURE_SLOTS = ("activity", "leisure_centre", *BOOKING_SLOTS)
BOOK_BUTTON = {"title": "Book a swim, class or court", "payload": "/book_leisure_activity"}
LIBRARY_BOOK_BUTTON = {"title": "Book a library computer, room or event", "payload": "/book_library_session"}


def leisure_choice(opportunity: Opportunity) -> Choice:
    return Choice(
        key=opportunity.id,
        start=opportunity.start,
        end=opportunity.end,
        place=opportunity.centre.name,
        spaces=max(opportunity.remaining, 0),
        extra={"activity": opportunity.activity, "price": str(opportunity.price)},
    )


async def offered_activities(client: LeisureClient) -> set[str]:
    sessions, slots = await asyncio.gather(client.sessions(), client.slots())
    return {o.activity for o in [*sessions, *slots] if o.activity}


class ValidateLeisureBookingForm(ContactSteps, ChoiceSteps):
    journey = BOOK
    place_entity = "leisure_centre"
    criteria_slots = ("activity", "leisure_centre", "date", "time")
    try_instead = "another day, centre or activity"

    def name(self) -> str:
        return "validate_leisure_booking_form"

    def wanted(self, slots: dict[str, Any]) -> Wanted | None:
        if not (slots.get("activity") and slots.get("leisure_centre") and slots.get("date")):
            return None
        return Wanted(
            slots["activity"], slots["leisure_centre"], day_of(slots["date"]), time_of_day(slots.get("time"))
        )

    async def fetch(self, slots: dict[str, Any]) -> Fetch:
        return availability(clients().leisure.find_availability, slots["activity"], leisure_choice)

    async def validate_activity(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            offered = await offered_activities(clients().leisure)
        except IntegrationError as error:
            failed = await backoffice_failed(
                dispatcher, tracker, error, intent=BOOK, doing="look up activities"
            )
            return ended(failed, activity=None)
        return self.offered_answer(
            value, dispatcher, tracker, "activity", sorted(offered), "our leisure centres"
        )

    async def validate_leisure_centre(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self.validate_place(
            value, dispatcher, tracker, clients().leisure.centres, "leisure centre", "centres"
        )


class ActionAskLeisureBookingFormActivity(Action):
    def name(self) -> str:
        return "action_ask_leisure_booking_form_activity"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        popular = ["swimming", "gym", "badminton", "squash", "yoga", "spin", "pilates", "aqua aerobics"]
        dispatcher.utter_message(
            text="What would you like to book? For example a swim, a class, a court or a gym session.",
            buttons=[{"title": a.capitalize(), "payload": inform(activity=a)} for a in popular],
        )
        return []


class ActionAskLeisureBookingFormLeisureCentre(Action):
    """Ask which centre, offering those that have the activity."""

    def name(self) -> str:
        return "action_ask_leisure_booking_form_leisure_centre"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        activity = tracker.get_slot("activity")
        client = clients().leisure
        try:
            names = [c.name for c in await client.centres()]
            if activity:
                found = await client.find_availability(activity, include_full=True, limit=None, now=now())
                names = [n for n in names if any(o.centre.name == n for o in found)] or names
        except IntegrationError:
            names = []  # the question still stands; the answer is checked when the system is back
        dispatcher.utter_message(
            text=f"Which leisure centre would you like to go to{' for ' + activity if activity else ''}?",
            buttons=[{"title": short_place(n), "payload": inform(leisure_centre=n)} for n in names],
        )
        return []


class ActionAskLeisureBookingFormDate(AskBookingDay):
    question = "What day would you like to go?"

    def name(self) -> str:
        return "action_ask_leisure_booking_form_date"


class ActionAskLeisureBookingFormConfirm(AskBookingConfirm):
    what = "activity"

    def name(self) -> str:
        return "action_ask_leisure_booking_form_confirm"

    def price_lines(self, choice: dict[str, Any]) -> list[str]:
        price = Decimal(choice.get("price") or "0")
        return [f"{pounds(int(price * 100))}, paid at the centre" if price else "Free"]


class ActionBookLeisureActivity(Action):
    """Book the confirmed time, give the reference and the next step, send the confirmation."""

    def name(self) -> str:
        return "action_book_leisure_activity"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = [SlotSet(name, None) for name in LEISURE_SLOTS]
        choice = tracker.get_slot("session_choice")
        if tracker.get_slot("confirm") is not True or not isinstance(choice, dict):
            return reset  # ended earlier, and the resident was told why
        client = clients().leisure
        start = dt.datetime.fromisoformat(choice["start"])
        order_uuid = tracker.get_slot("booking_key")
        email = tracker.get_slot("email") if tracker.get_slot("contact") == "email" else ""
        phone = tracker.get_slot("phone_number") if tracker.get_slot("contact") == "phone" else ""
        try:
            found = await client.find_availability(
                choice["activity"], choice["place"], start.date(), include_full=True, limit=None, now=now()
            )
            opportunity = next((o for o in found if o.id == choice["key"] and not o.is_full), None)
            if opportunity is None:
                return taken(dispatcher, FORM)
            booking = await client.book(
                opportunity, Customer("", "", email=email or "", telephone=phone or ""), order_uuid
            )
        except Rejected as refused:
            if refused.reason in TAKEN:
                return taken(dispatcher, FORM)
            refusal = booking_refused(
                dispatcher, refused, intent=BOOK, system="openactive", words="booking system"
            )
            return [*reset, *refusal]
        except IntegrationError as error:
            keep = {
                "order_uuid": order_uuid,
                "opportunity_id": choice["key"],
                "activity": choice["activity"],
                "centre": choice["place"],
                "start": choice["start"],
                "email": email,
                "telephone": phone,
            }
            failed = await booking_failed(dispatcher, tracker, error, intent=BOOK, keep=keep, key=order_uuid)
            return [*reset, *failed]
        what, sent = await confirm_booking(
            tracker, intent=BOOK, reference=booking.reference, choice=choice, what="activity"
        )
        price = Decimal(choice.get("price") or "0")
        pay = f" Pay {pounds(int(price * 100))} at the centre when you arrive." if price else ""
        dispatcher.utter_message(
            text=f"You're booked on {what}. {sent}".rstrip()
            + f"\n\nYour booking reference is {booking.reference}.{pay} "
            f"To cancel, say 'cancel {booking.reference}' up to 2 hours before it starts."
        )
        return [*reset, outcome("completed", BOOK, system="openactive", activity=choice["activity"])]


# --- opening times -------------------------------------------------------------------------


def _hours(hours: tuple[dt.time, dt.time]) -> str:
    return f"{plain_time(hours[0])} to {plain_time(hours[1])}"


def weekly_lines(hours: OpeningHours) -> list[str]:
    """``Monday to Friday: 6:30am to 10pm``, ``Saturday and Sunday: 8am to 4pm``: same hours run together."""
    by_day = {h.weekday: (h.opens, h.closes) for h in hours.weekly}
    names = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    lines: list[str] = []
    start = 0
    for day in range(1, 8):
        if day == 7 or by_day.get(day) != by_day.get(start):
            last = day - 1
            joined = " and " if last == start + 1 else " to "
            span = names[start] if last == start else f"{names[start]}{joined}{names[last]}"
            value = by_day.get(start)
            lines.append(f"{span}: {_hours(value) if value else 'closed'}")
            start = day
    return lines


def hours_text(hours: OpeningHours, day: dt.date | None, today: dt.date) -> str:
    """Opening times in plain words: for one day, or today and the week with dates that differ."""
    special = {d: s for s in hours.special for d in _days(s.start, s.end)}
    if day is not None:
        on = hours.on(day)
        why = f" ({special[day].name})" if day in special and special[day].name else ""
        when = "today" if day == today else f"on {plain_date(day)}"
        if on is None:
            return f"{hours.place} is closed {when}{why}."
        return f"{hours.place} is open {when}{why} from {_hours(on)}."
    on = hours.on(today)
    first = f"{hours.place} is open today from {_hours(on)}." if on else f"{hours.place} is closed today."
    lines = [first, "", "Opening times:", *weekly_lines(hours)]
    coming = hours.exceptions_between(today, today + dt.timedelta(days=HORIZON_DAYS - 1))
    if coming:
        lines += ["", "Different hours coming up:"]
        for s in coming:
            for d in _days(max(s.start, today), s.end):
                what = "closed" if s.closed else _hours((s.opens, s.closes))  # type: ignore[arg-type]
                lines.append(f"{plain_date(d)}{f' ({s.name})' if s.name else ''}: {what}")
    return "\n".join(lines)


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


class ActionOpeningTimes(Action):
    """Opening times of a leisure centre or a library, from the systems' data.

    For the place named (or the closest match; mid-journey, the journey's place), on
    the day asked about or for the week; with no place, today's hours everywhere.
    Asked mid-journey, the form resumes after the answer (rules).
    """

    def name(self) -> str:
        return "action_opening_times"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = intent_of(tracker)
        given = entities(tracker)
        libraries = "library" in given or (
            "leisure_centre" not in given and intent == "library_opening_times"
        )
        slot = "library" if libraries else "leisure_centre"
        in_journey = bool(tracker.active_loop.get("name"))
        asked_for = given.get(slot) or (tracker.get_slot(slot) if in_journey else None)
        day = day_of(given.get("date"))
        today = now().date()
        try:
            places = await (self.libraries() if libraries else self.centres())
            name = closest(str(asked_for), places) if asked_for else None
            if name:
                text = hours_text(await self.hours(libraries, name, today, day), day, today)
            else:
                text = await self.everywhere(libraries, sorted(set(places.values())), day or today, today)
                if asked_for:
                    kind = "library" if libraries else "leisure centre"
                    text = f"I couldn't find a {kind} called {asked_for}.\n\n{text}"
        except IntegrationError as error:
            failed = await backoffice_failed(
                dispatcher, tracker, error, intent=intent, doing="look up opening times"
            )
            return [*failed, *self.tidy(in_journey)]
        buttons = [] if in_journey else [LIBRARY_BOOK_BUTTON if libraries else BOOK_BUTTON]
        dispatcher.utter_message(text=text, buttons=buttons)
        return [outcome("informed", intent, found=bool(name)), *self.tidy(in_journey)]

    @staticmethod
    def tidy(in_journey: bool) -> list[EventType]:
        """Outside a journey, the question's entities don't stay behind to fill the next one."""
        if in_journey:
            return []
        return [
            SlotSet(s, None) for s in ("leisure_centre", "library", "activity", "resource", "date", "time")
        ]

    async def centres(self) -> dict[str, str]:
        return place_aliases(await clients().leisure.centres())

    async def libraries(self) -> dict[str, str]:
        return place_aliases(await clients().libraries.libraries())

    async def hours(
        self, libraries: bool, name: str, today: dt.date, day: dt.date | None = None
    ) -> OpeningHours:
        """The place's hours, with the dates that differ from today to ``day`` (at least 2 weeks)."""
        if libraries:
            days = min(max(HORIZON_DAYS, ((day or today) - today).days + 1), 92)
            return await clients().libraries.opening_hours(name, start=today, days=days)
        return await clients().leisure.opening_hours(name)

    async def everywhere(self, libraries: bool, names: list[str], day: dt.date, today: dt.date) -> str:
        all_hours = await asyncio.gather(*(self.hours(libraries, n, today, day) for n in names))
        when = "today" if day == today else f"on {plain_date(day)}"
        lines = [f"{'Libraries' if libraries else 'Leisure centres'} {when}:"]
        for hours in all_hours:
            on = hours.on(day)
            lines.append(
                f"{hours.place}: {f'{plain_time(on[0])} to {plain_time(on[1])}' if on else 'closed'}"
            )
        lines += [
            "",
            "Ask about one place to see its week, for example 'Olympiad opening times'."
            if not libraries
            else "Ask about one library to see its week, for example 'Corsham Library opening times'.",
        ]
        return "\n".join(lines)
