"""The booking steps leisure and libraries share, and cancelling a booking, on tracker fixtures.

The back-office clients are replaced by fakes that return the clients' typed results
(``Opportunity``, ``Booking``, ``Patron``…), so these tests prove what the actions do
with them; the HTTP side is proved by the client tests and end to end.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions import bookings
from actions.bookings import (
    ActionAskCancelBookingFormBookingReference,
    ActionCancelBooking,
    Choice,
    ValidateCancelBookingForm,
    Wanted,
    choice_options,
    find_choices,
    match_choice,
    restore_slots,
    send_confirmation,
)
from actions.clients import use_clients
from integrations.errors import NotFound, Rejected, Unavailable
from integrations.leisure import (
    BookedItem,
    Booking,
    Centre,
    DayHours,
    OpeningHours,
    Opportunity,
    Session,
    Slot,
    SpecialHours,
    nearest_first,
    norm,
    time_wanted,
)
from integrations.libraries import (
    RESOURCES,
    Library,
    LibraryBooking,
    LibrarySession,
    Loan,
    Patron,
    RenewalOutcome,
    RenewalReason,
)
from tests.support.trackers import buttons, make_tracker, texts, user_event

LONDON = ZoneInfo("Europe/London")
ROOT = Path(__file__).resolve().parents[2]
NOW = bookings.now()
TODAY = NOW.date()


def at(days: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(TODAY + dt.timedelta(days=days), dt.time(hour, minute), tzinfo=LONDON)


# --- fakes of the back-office clients (typed results, no HTTP) ------------------------------


def week(opens: str, closes: str) -> tuple[DayHours, ...]:
    return tuple(DayHours(d, dt.time.fromisoformat(opens), dt.time.fromisoformat(closes)) for d in range(7))


def centre(identifier: str, name: str, town: str, special: tuple[SpecialHours, ...] = ()) -> Centre:
    hours = OpeningHours(name, week("06:30", "22:00"), special)
    return Centre(
        f"https://oa.test/places/{identifier}", identifier, name, "", town, "", "01249 444144", hours
    )


OLYMPIAD = centre("olympiad", "Olympiad Leisure Centre", "Chippenham")
SPRINGFIELD = centre("springfield", "Springfield Campus", "Corsham")


def session(
    key: str, activity: str, place: Centre, start: dt.datetime, remaining: int, price: str = "4.80"
) -> Session:
    return Session(
        id=f"https://oa.test/sessions/{key}",
        offer_id=f"https://oa.test/series/{activity}#/offers/0",
        name=activity.capitalize(),
        activity=activity,
        centre=place,
        start=start,
        end=start + dt.timedelta(hours=1),
        remaining=remaining,
        capacity=20,
        price=Decimal(price),
    )


def court(key: str, place: Centre, start: dt.datetime, remaining: int) -> Slot:
    return Slot(
        id=f"https://oa.test/slots/{key}",
        offer_id=f"https://oa.test/slots/{key}#/offers/0",
        name="Badminton court",
        activity="badminton",
        centre=place,
        start=start,
        end=start + dt.timedelta(hours=1),
        remaining=remaining,
        capacity=4,
        price=Decimal("11.20"),
    )


class Failing:
    """Raise ``error`` from every call while set (a system that is down)."""

    error: Exception | None = None

    def check(self) -> None:
        if self.error is not None:
            raise self.error


class FakeLeisure(Failing):
    def __init__(self, opportunities: list[Opportunity], centres: list[Centre]) -> None:
        self.opportunities = opportunities
        self._centres = centres
        self.orders: dict[str, Booking] = {}
        self.customers: dict[str, Any] = {}
        self.booked: list[tuple[str, str]] = []  # (opportunity id, order uuid) for each call
        self.book_error: Exception | None = None
        self.too_late: set[str] = set()

    async def centres(self) -> list[Centre]:
        self.check()
        return self._centres

    async def centre(self, wanted: str) -> Centre:
        self.check()
        for place in self._centres:
            if place.matches(wanted):
                return place
        raise NotFound("no such centre", system="openactive")

    async def opening_hours(self, wanted: str) -> OpeningHours:
        return (await self.centre(wanted)).hours

    async def sessions(self) -> list[Opportunity]:
        self.check()
        return [o for o in self.opportunities if isinstance(o, Session)]

    async def slots(self) -> list[Opportunity]:
        self.check()
        return [o for o in self.opportunities if isinstance(o, Slot)]

    async def find_availability(
        self, activity, centre=None, date=None, time_of_day=None, *, include_full=False, limit=20, now=None
    ):
        self.check()
        now = now or NOW
        part, clock = time_wanted(time_of_day)
        found = [
            o
            for o in self.opportunities
            if o.activity == norm(activity)
            and o.start > now
            and (include_full or not o.is_full)
            and (centre is None or o.centre.matches(centre))
            and (date is None or o.start.date() == date)
            and (part is None or part[0] <= o.start.time() < part[1])
        ]
        found = nearest_first(found, date, clock, now, lambda o: o.centre.name)
        return found[:limit] if limit else found

    async def book(self, opportunity, customer, order_uuid):
        self.check()
        self.booked.append((opportunity.id, str(order_uuid)))
        if self.book_error is not None:
            raise self.book_error
        for booking in self.orders.values():
            if booking.order_uuid == str(order_uuid):
                return booking  # the same Order UUID again: the booking already made
        reference = f"BK-{500000 + len(self.orders)}"
        self.orders[reference] = order(reference, opportunity, str(order_uuid))
        self.customers[reference] = customer
        return self.orders[reference]

    async def get_order(self, reference: str) -> Booking:
        self.check()
        if reference not in self.orders:
            raise NotFound("no such order", system="openactive")
        return self.orders[reference]

    async def cancel(self, reference: str) -> Booking:
        booking = await self.get_order(reference)
        if reference in self.too_late:
            raise Rejected("too late", reason="CancellationNotPermittedError", system="openactive")
        items = tuple(BookedItem(**{**i.__dict__, "status": "customer_cancelled"}) for i in booking.items)
        self.orders[reference] = Booking(
            booking.reference, booking.order_uuid, booking.order_id, items, booking.total
        )
        return self.orders[reference]

    async def find_bookings(self, email: str = "", telephone: str = "", *, upcoming_only: bool = True):
        self.check()
        found = []
        for reference, booking in self.orders.items():
            customer = self.customers.get(reference)
            if customer and (
                (email and customer.email == email) or (telephone and customer.telephone == telephone)
            ):
                if booking.status == "confirmed" and booking.end > NOW:
                    found.append(booking)
        return sorted(found, key=lambda b: b.start)


def order(reference: str, opportunity: Opportunity, order_uuid: str, status: str = "confirmed") -> Booking:
    item = BookedItem(
        f"{opportunity.id}#item",
        status,
        opportunity.id,
        opportunity.activity,
        opportunity.centre.name,
        opportunity.start,
        opportunity.end,
        opportunity.price,
    )
    return Booking(reference, order_uuid, f"https://oa.test/orders/{order_uuid}", (item,), opportunity.price)


LIBRARIES = [
    Library("CHIP", "Chippenham Library", "Timber Street", "Chippenham", "SN15 3ET", "01249 123456", "", ""),
    Library("CORS", "Corsham Library", "Newlands Road", "Corsham", "SN13 0BS", "01249 654321", "", ""),
]
CARD, PIN = "21234000123456", "1234"


class FakeLibraries(Failing):
    def __init__(self, sessions: list[LibrarySession] | None = None, loans: list[Loan] | None = None) -> None:
        self.sessions = sessions or []
        self.loans = loans or []
        self.pins_tried: list[str] = []
        self.bookings: list[LibraryBooking] = []
        self.book_calls = 0
        self.refusals: dict[int, RenewalReason] = {}
        self.renewed: list[int] = []

    async def libraries(self) -> list[Library]:
        self.check()
        return LIBRARIES

    async def library(self, wanted: str) -> Library:
        for library in await self.libraries():
            if library.matches(wanted):
                return library
        raise NotFound("no such library", system="koha")

    async def verify_patron(self, card: str, pin: str) -> Patron:
        self.check()
        self.pins_tried.append(pin)
        if (card, pin) != (CARD, PIN):
            raise Rejected("card number or PIN not recognised", reason="invalid_credentials", system="koha")
        return Patron(51, CARD, "Alex", "Smith", "CHIP")

    async def checkouts(self, patron_id: int) -> list[Loan]:
        self.check()
        return self.loans

    async def renew_many(self, checkout_ids: list[int]) -> list[RenewalOutcome]:
        self.check()
        outcomes = []
        for checkout_id in checkout_ids:
            if checkout_id in self.refusals:
                outcomes.append(RenewalOutcome(checkout_id, refused=self.refusals[checkout_id]))
            else:
                self.renewed.append(checkout_id)
                loan = next(loan for loan in self.loans if loan.checkout_id == checkout_id)
                outcomes.append(
                    RenewalOutcome(
                        checkout_id,
                        loan=Loan(
                            loan.checkout_id,
                            loan.item_id,
                            loan.title,
                            loan.author,
                            loan.due + dt.timedelta(days=21),
                            loan.checked_out,
                            loan.renewals + 1,
                            loan.library_id,
                        ),
                    )
                )
        return outcomes

    async def session_availability(
        self, resource, library=None, date=None, time_of_day=None, *, include_full=False, limit=20, now=None
    ):
        self.check()
        now = now or NOW
        part, clock = time_wanted(time_of_day)
        found = [
            s
            for s in self.sessions
            if s.resource == resource
            and s.start > now
            and (include_full or not s.is_full)
            and (library is None or (await self.library(library)).library_id == s.library_id)
            and (date is None or s.start.date() == date)
            and (part is None or part[0] <= s.start.time() < part[1])
        ]
        found = nearest_first(found, date, clock, now, lambda s: s.library_name)
        return found[:limit] if limit else found

    async def book_session(self, session: LibrarySession, patron_id: int) -> LibraryBooking:
        self.check()
        self.book_calls += 1
        booking = LibraryBooking(
            f"LB-{700000 + len(self.bookings)}",
            900 + len(self.bookings),
            session.resource,
            session.library_id,
            session.start,
            session.end,
            session.free_item_ids[0],
            patron_id,
            "new",
        )
        self.bookings.append(booking)
        return booking

    async def find_session_bookings(self, patron_id: int) -> list[LibraryBooking]:
        self.check()
        return [b for b in self.bookings if b.patron_id == patron_id]

    async def get_session_booking(self, reference: str) -> LibraryBooking:
        self.check()
        for booking in self.bookings:
            if booking.reference == reference:
                return booking
        raise NotFound("no such booking", system="koha")

    async def cancel_session(self, reference: str) -> LibraryBooking:
        booking = await self.get_session_booking(reference)
        self.bookings = [b for b in self.bookings if b.reference != reference]
        return booking

    async def opening_hours(self, library: str, start: dt.date | None = None, days: int = 14) -> OpeningHours:
        found = await self.library(library)
        closed = SpecialHours(
            TODAY + dt.timedelta(days=2), TODAY + dt.timedelta(days=2), "Staff training day"
        )
        return OpeningHours(found.name, week("09:00", "17:00")[:6], (closed,))


def library_session(
    library: Library, start: dt.datetime, free: int, resource: str = "public computer"
) -> LibrarySession:
    return LibrarySession(
        resource,
        library.library_id,
        library.name,
        start,
        start + dt.timedelta(hours=1),
        8,
        40,
        tuple(range(1, free + 1)),
    )


class FakeNotify(Failing):
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str, dict[str, Any], str | None]] = []

    async def send_email(self, email, template, personalisation=None, reference=None):
        self.check()
        self.sent.append(("email", email, template, dict(personalisation or {}), reference))

    async def send_sms(self, phone, template, personalisation=None, reference=None):
        self.check()
        self.sent.append(("sms", phone, template, dict(personalisation or {}), reference))


def install_fakes() -> Iterator[SimpleNamespace]:
    """Fake leisure, library and Notify clients installed for the actions (a fixture's body)."""
    fakes = SimpleNamespace(
        leisure=FakeLeisure(
            [
                session("swim-sat-14", "swimming", OLYMPIAD, at(1, 14), 12),
                session("swim-sat-19", "swimming", OLYMPIAD, at(1, 19), 3),
                session("swim-sun-14", "swimming", OLYMPIAD, at(2, 14), 30),
                session("spin-full", "spin", OLYMPIAD, at(1, 18), 0, "6.90"),
                session("spin-springfield", "spin", SPRINGFIELD, at(1, 18, 30), 4, "6.90"),
                court("badminton-sat-10", SPRINGFIELD, at(1, 10), 2),
            ],
            [OLYMPIAD, SPRINGFIELD],
        ),
        libraries=FakeLibraries(),
        notify=FakeNotify(),
    )
    use_clients(fakes)  # type: ignore[arg-type]
    yield fakes
    use_clients(None)


@pytest.fixture
def backoffice_fakes() -> Iterator[SimpleNamespace]:
    yield from install_fakes()


# --- trackers as Rasa sends them ---------------------------------------------------------------


def load_domain() -> dict[str, Any]:
    """The forms and slots of bot/domain, merged as Rasa does."""
    merged: dict[str, Any] = {"forms": {}, "slots": {}}
    for path in sorted((ROOT / "bot" / "domain").glob("*.yml")):
        part = yaml.safe_load(path.read_text()) or {}
        merged["forms"].update(part.get("forms") or {})
        merged["slots"].update(part.get("slots") or {})
    return merged


DOMAIN = load_domain()


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value, "timestamp": None}


def form_turn(
    form: str,
    text: str,
    intent: str,
    *,
    entities: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    requested: str | None = None,
    sender_id: str = "resident-1",
    timestamp: float = 1000.0,
):
    """The tracker Rasa sends to ``validate_<form>`` after a message; the slots it filled are candidates."""
    filled = dict(entities or {})
    ents = [{"entity": k, "value": v} for k, v in filled.items()]
    events = [
        {"event": "active_loop", "name": form, "timestamp": 1.0},
        *(slot(k, v) for k, v in (before or {}).items()),
        slot("requested_slot", requested),
        {**user_event(text, intent, entities=ents), "timestamp": timestamp},
        *(slot(k, v) for k, v in filled.items() if k in DOMAIN["slots"] or k in ("date", "time")),
        slot("requested_slot", requested),
        {"event": "action", "name": form},
        *(slot(k, v) for k, v in filled.items()),
    ]
    slots = {**(before or {}), **filled, "requested_slot": requested}
    return make_tracker(*events, slots=slots, active_loop=form, sender_id=sender_id)


async def run_action(action, tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return dispatcher, events


def values(events) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


def outcome_of(events) -> dict[str, Any] | None:
    return values(events).get("outcome")


# --- availability as choices -----------------------------------------------------------------


def choices_fetch(choices: list[Choice]):
    async def fetch(place, day, time):
        part, clock = time_wanted(time)
        found = [
            c
            for c in choices
            if (place is None or c.place == place)
            and (day is None or c.start.date() == day)
            and (part is None or part[0] <= c.start.time() < part[1])
        ]
        return nearest_first(found, day, clock, NOW, lambda c: c.place)

    return fetch


def choice(key: str, place: str, start: dt.datetime, free: int) -> Choice:
    return Choice(key, start, start + dt.timedelta(hours=1), place, free)


async def test_times_with_spaces_come_nearest_to_the_time_asked_first():
    fetch = choices_fetch(
        [
            choice("a", "Olympiad Leisure Centre", at(1, 10), 5),
            choice("b", "Olympiad Leisure Centre", at(1, 18), 2),
            choice("c", "Olympiad Leisure Centre", at(1, 19), 0),
        ]
    )
    note, found = await find_choices(
        fetch, Wanted("swimming", "Olympiad Leisure Centre", at(1, 0).date(), "19:00"), NOW
    )
    assert note == ""
    assert [c.key for c in found] == ["b", "a"]  # the full 7pm one is not offered


async def test_a_full_session_says_so_and_offers_the_nearest_other_times():
    fetch = choices_fetch(
        [
            choice("full", "Olympiad Leisure Centre", at(1, 18), 0),
            choice("later", "Springfield Campus", at(3, 18), 4),
            choice("near", "Springfield Campus", at(1, 18, 30), 1),
        ]
    )
    note, found = await find_choices(
        fetch, Wanted("spin", "Olympiad Leisure Centre", at(1, 0).date(), "18:00"), NOW
    )
    assert note.startswith("There are no spaces left for spin at Olympiad Leisure Centre on ")
    assert note.endswith("These are the nearest times with spaces.")
    assert [c.key for c in found] == ["near", "later"]  # the same day somewhere else before another day


async def test_a_time_that_has_passed_today_is_explained_and_later_times_offered():
    fetch = choices_fetch([choice("tonight", "Olympiad Leisure Centre", NOW + dt.timedelta(minutes=30), 3)])
    past = (NOW - dt.timedelta(hours=1)).strftime("%H:%M")
    if NOW.hour == 0:
        pytest.skip("no earlier time today")
    note, found = await find_choices(fetch, Wanted("gym", "Olympiad Leisure Centre", TODAY, past), NOW)
    assert "today has passed" in note and [c.key for c in found] == ["tonight"]


async def test_a_place_without_the_activity_points_to_places_that_have_it():
    fetch = choices_fetch([choice("s", "Springfield Campus", at(2, 9), 6)])
    note, found = await find_choices(fetch, Wanted("squash", "Olympiad Leisure Centre", at(2, 0).date()), NOW)
    assert note.startswith("Olympiad Leisure Centre doesn't have squash.")
    assert [c.key for c in found] == ["s"]


async def test_nothing_anywhere_says_so_without_offering_anything():
    note, found = await find_choices(choices_fetch([]), Wanted("squash", None, at(2, 0).date()), NOW)
    assert "There are no other times with spaces in the next 2 weeks" in note and found == []


def test_options_show_only_what_differs_from_what_was_asked_and_say_which_in_the_payload():
    same = choice_options(
        [choice("a", "Olympiad Leisure Centre", at(1, 14), 12)],
        Wanted("swimming", "Olympiad Leisure Centre", at(1, 0).date()),
        "leisure_centre",
    )
    assert same[0]["title"] == "2pm (12 spaces)"
    other = choice_options(
        [choice("b", "Springfield Campus", at(2, 18, 30), 1)],
        Wanted("spin", "Olympiad Leisure Centre", at(1, 0).date()),
        "leisure_centre",
    )
    day = at(2, 0)
    assert other[0]["title"] == f"Springfield, {day:%a} {day.day} {day:%b}, 6:30pm (1 space)"
    assert json.loads(other[0]["payload"][len("/inform") :]) == {
        "date": day.date().isoformat(),
        "time": "18:30",
        "leisure_centre": "Springfield Campus",
    }


def test_a_choice_is_read_from_the_button_a_number_the_title_or_the_time():
    options = choice_options(
        [
            choice("a", "Olympiad Leisure Centre", at(1, 14), 12),
            choice("b", "Olympiad Leisure Centre", at(1, 19), 3),
        ],
        Wanted("swimming", "Olympiad Leisure Centre", at(1, 0).date()),
        "leisure_centre",
    )

    def picked(text, intent="inform", **entities):
        tracker = make_tracker(
            user_event(text, intent, entities=[{"entity": k, "value": v} for k, v in entities.items()])
        )
        return [o["key"] for o in match_choice(tracker, options, "leisure_centre")]

    button = json.loads(options[1]["payload"][len("/inform") :])
    assert picked(options[1]["payload"], **button) == ["b"]
    assert picked("1") == ["a"]
    assert picked("7pm (3 spaces)") == ["b"]
    assert picked("the 2pm one", time="14:00") == ["a"]
    assert picked("the 4pm one", time="16:00") == []
    assert picked("whichever") == []


# --- the form steps aside for questions, and corrections ------------------------------------


async def test_a_question_mid_journey_puts_back_what_it_filled_and_lets_the_question_through(
    backoffice_fakes,
):
    from actions.leisure import ValidateLeisureBookingForm

    tracker = form_turn(
        "leisure_booking_form",
        "what time does springfield close on sunday",
        "leisure_opening_times",
        entities={"leisure_centre": "Springfield Campus", "date": at(2, 0).date().isoformat()},
        before={"activity": "swimming", "leisure_centre": "Olympiad Leisure Centre", "date": None},
        requested="date",
    )
    dispatcher, events = await run_action(ValidateLeisureBookingForm(), tracker)
    assert events[-1]["event"] == "action_execution_rejected" and events[-1]["name"] == "leisure_booking_form"
    assert values(events) == {"date": None, "leisure_centre": "Olympiad Leisure Centre"}
    assert dispatcher.messages == []


async def test_resuming_after_the_answer_is_not_rejected_again(backoffice_fakes):
    from actions.leisure import ValidateLeisureBookingForm

    tracker = form_turn(
        "leisure_booking_form",
        "is the olympiad open today",
        "leisure_opening_times",
        before={"activity": "swimming"},
        requested="leisure_centre",
    )
    tracker.events.insert(-2, {"event": "action", "name": "action_opening_times"})
    _, events = await run_action(ValidateLeisureBookingForm(), tracker)
    assert not any(e["event"] == "action_execution_rejected" for e in events)


def test_restoring_slots_puts_back_values_from_before_the_message():
    tracker = form_turn(
        "leisure_booking_form",
        "is it open on sunday",
        "leisure_opening_times",
        entities={"date": "2030-01-06"},
        before={"date": "2030-01-05"},
        requested="contact",
    )
    assert values(restore_slots(tracker)) == {"date": "2030-01-05"}


async def test_no_with_a_new_day_at_the_confirmation_is_a_correction_not_a_refusal(backoffice_fakes):
    from actions.leisure import ValidateLeisureBookingForm

    sunday = at(2, 0).date().isoformat()
    tracker = form_turn(
        "leisure_booking_form",
        "no, sunday",
        "deny",
        entities={"date": sunday},
        before={"date": at(1, 0).date().isoformat()},
        requested="confirm",
    )
    result = await ValidateLeisureBookingForm().extract_confirm(CollectingDispatcher(), tracker, DOMAIN)
    assert result == {"confirm": None, "date": sunday}


# --- contact details ------------------------------------------------------------------------


async def test_an_email_anywhere_in_the_journey_is_the_contact(backoffice_fakes):
    from actions.leisure import ValidateLeisureBookingForm

    tracker = form_turn(
        "leisure_booking_form",
        "book a swim, jo@example.com",
        "book_leisure_activity",
        entities={"email": "jo@example.com"},
        requested="activity",
    )
    assert await ValidateLeisureBookingForm().extract_contact(CollectingDispatcher(), tracker, DOMAIN) == {
        "contact": "email"
    }


async def test_leisure_needs_a_contact_and_says_why_library_can_do_without(backoffice_fakes):
    from actions.leisure import ValidateLeisureBookingForm
    from actions.libraries import ValidateLibraryBookingForm

    tracker = form_turn("leisure_booking_form", "no thanks", "deny", requested="contact")
    leisure = ValidateLeisureBookingForm()
    extracted = await leisure.extract_contact(CollectingDispatcher(), tracker, DOMAIN)
    dispatcher = CollectingDispatcher()
    result = await leisure.validate_contact(extracted["contact"], dispatcher, tracker, DOMAIN)
    assert result["contact"] is None and "doesn't look like an email address" in texts(dispatcher)[0]
    library = form_turn("library_booking_form", "no thanks", "deny", requested="contact")
    assert await ValidateLibraryBookingForm().extract_contact(CollectingDispatcher(), library, DOMAIN) == {
        "contact": "none"
    }


async def test_a_confirmation_goes_by_email_through_notify_with_the_booking_details(backoffice_fakes):
    tracker = make_tracker(slots={"contact": "email", "email": "jo@example.com"})
    said = await send_confirmation(
        tracker,
        intent="book_leisure_activity",
        reference="BK-500000",
        activity="swimming",
        place="Olympiad Leisure Centre",
        start=at(1, 14),
    )
    assert said == "We've sent a confirmation by email."
    kind, to, template, values_sent, reference = backoffice_fakes.notify.sent[0]
    assert (kind, to, template, reference) == ("email", "jo@example.com", "booking_confirmation", "BK-500000")
    assert values_sent["time"] == "2pm" and values_sent["place"] == "Olympiad Leisure Centre"


async def test_a_landline_books_but_gets_no_text(backoffice_fakes):
    tracker = make_tracker(slots={"contact": "phone", "phone_number": "01249444144"})
    said = await send_confirmation(
        tracker,
        intent="book_leisure_activity",
        reference="BK-500000",
        activity="swimming",
        place="Olympiad Leisure Centre",
        start=at(1, 14),
    )
    assert "can't text a landline" in said and backoffice_fakes.notify.sent == []


async def test_notify_down_keeps_the_confirmation_to_send_later(backoffice_fakes, memory_outbox):
    backoffice_fakes.notify.error = Unavailable("down", system="gov_uk_notify")
    tracker = make_tracker(slots={"contact": "phone", "phone_number": "07700900123"})
    said = await send_confirmation(
        tracker,
        intent="book_leisure_activity",
        reference="BK-500000",
        activity="swimming",
        place="Olympiad Leisure Centre",
        start=at(1, 14),
    )
    assert "couldn't send your confirmation just now" in said
    kept = memory_outbox.get("booking_confirmation:BK-500000")
    assert kept is not None and kept.payload["phone_number"] == "07700900123"


# --- library card and PIN --------------------------------------------------------------------


async def pin_turn(form_cls, form: str, pin: str, tries: int | None = None):
    tracker = form_turn(
        form, pin, "inform", before={"library_card_number": CARD, "pin_tries": tries}, requested="library_pin"
    )
    action = form_cls()
    extracted = await action.extract_library_pin(CollectingDispatcher(), tracker, DOMAIN)
    dispatcher = CollectingDispatcher()
    result = await action.validate_library_pin(extracted["library_pin"], dispatcher, tracker, DOMAIN)
    return dispatcher, result


async def test_the_right_pin_is_checked_and_never_kept(backoffice_fakes):
    from actions.libraries import ValidateLibraryBookingForm

    dispatcher, result = await pin_turn(ValidateLibraryBookingForm, "library_booking_form", PIN)
    assert result["library_pin"] == "verified" and result["patron_id"] == 51
    assert PIN not in json.dumps(result) and PIN not in json.dumps(dispatcher.messages)
    assert backoffice_fakes.libraries.pins_tried == [PIN]


async def test_three_wrong_pins_end_the_attempt_and_offer_another_way(backoffice_fakes):
    from actions.libraries import ValidateLibraryRenewalForm

    dispatcher, first = await pin_turn(ValidateLibraryRenewalForm, "library_renewal_form", "9999")
    assert first == {"library_pin": None, "pin_tries": 1}
    assert "You can try 2 more times" in texts(dispatcher)[0]
    dispatcher, third = await pin_turn(ValidateLibraryRenewalForm, "library_renewal_form", "9998", tries=2)
    assert third["requested_slot"] is None and third["library_pin"] is None
    assert third["outcome"] == {
        "outcome": "abandoned",
        "intent": "renew_library_loans",
        "step": "library_pin",
        "reason": "pin_not_recognised",
    }
    assert "/request_human" in [b["payload"] for b in buttons(dispatcher)]
    assert "9998" not in json.dumps(third) and "9998" not in json.dumps(dispatcher.messages)


async def test_words_instead_of_a_pin_are_explained_without_checking_them(backoffice_fakes):
    from actions.libraries import ValidateLibraryRenewalForm

    dispatcher, result = await pin_turn(ValidateLibraryRenewalForm, "library_renewal_form", "the usual one")
    assert result["library_pin"] is None and "usually 4 digits" in texts(dispatcher)[0]
    assert backoffice_fakes.libraries.pins_tried == []


async def test_a_forgotten_pin_gets_how_to_reset_it_and_the_question_stands(backoffice_fakes):
    from actions.libraries import ValidateLibraryRenewalForm

    dispatcher, result = await pin_turn(ValidateLibraryRenewalForm, "library_renewal_form", "I forgot my PIN")
    assert result == {"library_pin": None}  # not a wrong try, and the journey goes on
    assert "reset your PIN on the library website" in texts(dispatcher)[0]
    assert {"/request_human", "/stop"} <= {b["payload"] for b in buttons(dispatcher)}
    assert backoffice_fakes.libraries.pins_tried == []


async def test_library_system_down_at_the_pin_check_is_honest_and_ends_the_journey(backoffice_fakes):
    from actions.libraries import ValidateLibraryRenewalForm

    backoffice_fakes.libraries.error = Unavailable("down", system="koha")
    dispatcher, result = await pin_turn(ValidateLibraryRenewalForm, "library_renewal_form", PIN)
    assert result["requested_slot"] is None and result["library_pin"] is None
    assert result["outcome"]["outcome"] == "integration_failed"
    assert "library system isn't working" in texts(dispatcher)[0]


# --- cancel a booking ------------------------------------------------------------------------


def seed_leisure_booking(fakes, reference="BK-104233", start=None, email="jo@example.com") -> None:
    opportunity = session("fam", "family swim", OLYMPIAD, start or at(1, 10), 20, "3.50")
    fakes.leisure.orders[reference] = order(reference, opportunity, "5f0c8f2e-7a43-4a5e-9d5b-0f6c1f1a0001")
    fakes.leisure.customers[reference] = SimpleNamespace(email=email, telephone="07700900123")


async def reference_turn(text: str, entities: dict[str, Any] | None = None, intent: str = "inform", **before):
    tracker = form_turn(
        "cancel_booking_form", text, intent, entities=entities, before=before, requested="booking_reference"
    )
    form = ValidateCancelBookingForm()
    value = (entities or {}).get("booking_reference")
    if value is None:
        value = (await form.extract_booking_reference(CollectingDispatcher(), tracker, DOMAIN))[
            "booking_reference"
        ]
    dispatcher = CollectingDispatcher()
    return dispatcher, await form.validate_booking_reference(value, dispatcher, tracker, DOMAIN)


async def test_a_leisure_reference_is_found_and_read_back(backoffice_fakes):
    seed_leisure_booking(backoffice_fakes)
    _, result = await reference_turn("BK-104233", {"booking_reference": "BK-104233"})
    assert result["booking_reference"] == "BK-104233"
    assert result["cancel_target"]["system"] == "leisure"
    assert result["cancel_target"]["summary"].startswith("family swim at Olympiad Leisure Centre on ")


async def test_unknown_and_other_services_references_are_explained(backoffice_fakes):
    dispatcher, result = await reference_turn("BK-999999", {"booking_reference": "BK-999999"})
    assert (
        result["booking_reference"] is None
        and "couldn't find a booking with reference BK-999999" in texts(dispatcher)[0]
    )
    dispatcher, result = await reference_turn("GW-123456", {"booking_reference": "GW-123456"})
    assert "isn't a leisure or library booking" in texts(dispatcher)[0]


async def test_a_booking_already_cancelled_ends_the_journey_with_an_answer(backoffice_fakes):
    seed_leisure_booking(backoffice_fakes)
    await backoffice_fakes.leisure.cancel("BK-104233")
    dispatcher, result = await reference_turn("BK-104233", {"booking_reference": "BK-104233"})
    assert result["requested_slot"] is None and result["outcome"]["outcome"] == "informed"
    assert texts(dispatcher) == ["Booking BK-104233 is already cancelled, so there's nothing to cancel."]


async def test_no_reference_switches_to_finding_the_residents_bookings(backoffice_fakes):
    _, result = await reference_turn("I don't have my reference")
    assert result == {"booking_reference": None, "cancel_lookup": True, "attempts": None}
    form = ValidateCancelBookingForm()
    normal = await form.required_slots([], CollectingDispatcher(), make_tracker(slots={}), DOMAIN)
    by_email = await form.required_slots(
        [], CollectingDispatcher(), make_tracker(slots={"cancel_lookup": True}), DOMAIN
    )
    by_card = await form.required_slots(
        [], CollectingDispatcher(), make_tracker(slots={"cancel_lookup": True, "contact": "library"}), DOMAIN
    )
    assert normal == ["booking_reference", "confirm"]
    assert by_email == ["contact", "booking_reference", "confirm"]
    assert by_card == ["contact", "library_card_number", "library_pin", "booking_reference", "confirm"]


async def test_leisure_bookings_are_found_by_the_email_they_were_made_with(backoffice_fakes):
    seed_leisure_booking(backoffice_fakes)
    tracker = form_turn(
        "cancel_booking_form",
        "jo@example.com",
        "inform",
        entities={"email": "jo@example.com"},
        before={"cancel_lookup": True},
        requested="contact",
    )
    form = ValidateCancelBookingForm()
    result = await form.validate_contact("email", CollectingDispatcher(), tracker, DOMAIN)
    assert result["my_bookings"][0]["reference"] == "BK-104233"
    ask = CollectingDispatcher()
    await ActionAskCancelBookingFormBookingReference().run(ask, make_tracker(slots=result), DOMAIN)
    assert buttons(ask)[0]["payload"] == '/inform{"booking_reference": "BK-104233"}'


async def test_an_email_with_no_bookings_is_asked_again(backoffice_fakes):
    tracker = form_turn(
        "cancel_booking_form",
        "sam@example.com",
        "inform",
        entities={"email": "sam@example.com"},
        before={"cancel_lookup": True},
        requested="contact",
    )
    dispatcher = CollectingDispatcher()
    result = await ValidateCancelBookingForm().validate_contact("email", dispatcher, tracker, DOMAIN)
    assert result["contact"] is None and "couldn't find any leisure bookings" in texts(dispatcher)[0]


async def test_library_bookings_are_found_after_card_and_pin(backoffice_fakes):
    backoffice_fakes.libraries.bookings.append(
        LibraryBooking("LB-310001", 7, "public computer", "CHIP", at(1, 10), at(1, 11), 3, 51, "new")
    )
    result = await ValidateCancelBookingForm().patron_verified(CollectingDispatcher(), make_tracker(), 51)
    assert result["my_bookings"][0] == {
        "reference": "LB-310001",
        "title": "Public computer, " + f"{at(1, 0):%a} {at(1, 0).day} {at(1, 0):%b} 10am",
    }


async def test_confirmed_cancellation_is_done_with_the_reference_and_next_step(backoffice_fakes):
    seed_leisure_booking(backoffice_fakes)
    target = {
        "system": "leisure",
        "reference": "BK-104233",
        "summary": "family swim at Olympiad",
        "status": "confirmed",
    }
    dispatcher, events = await run_action(
        ActionCancelBooking(), make_tracker(slots={"cancel_target": target, "confirm": True})
    )
    assert backoffice_fakes.leisure.orders["BK-104233"].status == "cancelled"
    assert texts(dispatcher) == [
        "Your booking for family swim at Olympiad is cancelled. Your reference is BK-104233. "
        "You don't need to do anything else."
    ]
    assert outcome_of(events) == {"outcome": "completed", "intent": "cancel_booking", "system": "leisure"}
    assert values(events)["cancel_target"] is None and values(events)["booking_reference"] is None


async def test_too_late_to_cancel_gives_the_centres_phone_number(backoffice_fakes):
    seed_leisure_booking(backoffice_fakes)
    backoffice_fakes.leisure.too_late.add("BK-104233")
    target = {"system": "leisure", "reference": "BK-104233", "summary": "family swim", "status": "confirmed"}
    dispatcher, events = await run_action(
        ActionCancelBooking(), make_tracker(slots={"cancel_target": target, "confirm": True})
    )
    assert "too late to cancel" in texts(dispatcher)[0] and "01249 444144" in texts(dispatcher)[0]
    assert outcome_of(events)["outcome"] == "informed"


async def test_a_library_cancellation_when_koha_is_down_is_kept_for_follow_up(
    backoffice_fakes, memory_outbox
):
    backoffice_fakes.libraries.bookings.append(
        LibraryBooking("LB-310001", 7, "public computer", "CHIP", at(1, 10), at(1, 11), 3, 51, "new")
    )
    backoffice_fakes.libraries.error = Unavailable("down", system="koha")
    target = {
        "system": "library",
        "reference": "LB-310001",
        "summary": "public computer",
        "status": "confirmed",
    }
    dispatcher, events = await run_action(
        ActionCancelBooking(), make_tracker(slots={"cancel_target": target, "confirm": True})
    )
    assert "I've saved your request" in texts(dispatcher)[0]
    assert memory_outbox.get("cancel_booking:LB-310001").payload == {
        "system": "library",
        "reference": "LB-310001",
    }
    assert outcome_of(events) == {
        "outcome": "integration_failed",
        "intent": "cancel_booking",
        "system": "koha",
        "kept": True,
    }


async def test_no_at_the_confirmation_keeps_the_booking(backoffice_fakes):
    tracker = form_turn("cancel_booking_form", "no", "deny", requested="confirm")
    dispatcher = CollectingDispatcher()
    result = ValidateCancelBookingForm().validate_confirm(False, dispatcher, tracker, DOMAIN)
    assert result["requested_slot"] is None and result["outcome"]["outcome"] == "cancelled"
    assert "haven't cancelled it" in texts(dispatcher)[0]
    dispatcher, events = await run_action(ActionCancelBooking(), make_tracker(slots={"confirm": False}))
    assert dispatcher.messages == [] and outcome_of(events) is None


def test_every_library_resource_is_bookable_by_name():
    assert set(RESOURCES) >= {"public computer", "study room", "rhyme time"}
