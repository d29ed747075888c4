"""Book a leisure activity and opening times, on tracker fixtures with fake back-office clients."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.leisure import (
    ActionAskLeisureBookingFormConfirm,
    ActionAskLeisureBookingFormDate,
    ActionAskLeisureBookingFormLeisureCentre,
    ActionBookLeisureActivity,
    ActionOpeningTimes,
    ValidateLeisureBookingForm,
    weekly_lines,
)
from integrations.errors import Rejected, Unavailable
from integrations.leisure import DayHours, OpeningHours, SpecialHours
from tests.actions.test_bookings import (
    DOMAIN,
    OLYMPIAD,
    TODAY,
    at,
    centre,
    form_turn,
    install_fakes,
    outcome_of,
    run_action,
    values,
)
from tests.support.trackers import buttons, make_tracker, texts, user_event


@pytest.fixture
def backoffice_fakes() -> Iterator[SimpleNamespace]:
    yield from install_fakes()


FORM = "leisure_booking_form"
SATURDAY = at(1, 0).date().isoformat()


async def validate(slot_name: str, value, tracker=None):
    dispatcher = CollectingDispatcher()
    tracker = tracker or form_turn(FORM, str(value), "inform", requested=slot_name)
    result = await getattr(ValidateLeisureBookingForm(), f"validate_{slot_name}")(
        value, dispatcher, tracker, DOMAIN
    )
    return dispatcher, result


# --- what, where, when -------------------------------------------------------------------------


async def test_activities_are_checked_against_what_the_centres_run(backoffice_fakes):
    _, known = await validate("activity", "Swimming")
    _, typo = await validate("activity", "swiming")
    dispatcher, unknown = await validate("activity", "curling")
    assert known == {"activity": "swimming", "attempts": None} and typo["activity"] == "swimming"
    assert unknown["activity"] is None
    assert texts(dispatcher) == ["Sorry, you can't book curling at our leisure centres."]


async def test_centres_are_found_by_name_short_name_or_town_and_unknown_ones_explained(backoffice_fakes):
    for said in ("Olympiad Leisure Centre", "olympiad", "Chippenham", "Olympaid"):
        _, result = await validate("leisure_centre", said)
        assert result["leisure_centre"] == "Olympiad Leisure Centre", said
    dispatcher, result = await validate("leisure_centre", "Bath Sports Centre")
    assert result["leisure_centre"] is None
    assert texts(dispatcher) == ["I couldn't find a leisure centre called Bath Sports Centre."]


async def test_days_must_be_within_the_next_two_weeks(backoffice_fakes):
    _, ok = await validate("date", SATURDAY)
    _, any_day = await validate("date", "any")
    past_dispatcher, past = await validate("date", (TODAY - dt.timedelta(days=1)).isoformat())
    far_dispatcher, far = await validate("date", (TODAY + dt.timedelta(days=20)).isoformat())
    assert ok["date"] == SATURDAY and any_day["date"] == "any"
    assert past["date"] is None and "has passed" in texts(past_dispatcher)[0]
    assert far["date"] is None and "up to 2 weeks ahead" in texts(far_dispatcher)[0]


async def test_any_day_and_non_dates_are_read_only_while_the_day_is_asked(backoffice_fakes):
    form = ValidateLeisureBookingForm()
    any_day = form_turn(FORM, "whenever is fine", "inform", requested="date")
    nonsense = form_turn(FORM, "purple", "inform", requested="date")
    not_asked = form_turn(FORM, "whenever is fine", "inform", requested="activity")
    assert await form.extract_date(CollectingDispatcher(), any_day, DOMAIN) == {"date": "any"}
    assert await form.extract_date(CollectingDispatcher(), nonsense, DOMAIN) == {"date": "__not_a_date__"}
    assert await form.extract_date(CollectingDispatcher(), not_asked, DOMAIN) == {}


# --- everything in one message, availability, choosing --------------------------------------------


async def test_everything_in_the_first_message_goes_straight_to_the_times_nearest_first(backoffice_fakes):
    tracker = form_turn(
        FORM,
        "swim at the olympiad tomorrow at 7",
        "book_leisure_activity",
        entities={
            "activity": "swimming",
            "leisure_centre": "Olympiad Leisure Centre",
            "date": SATURDAY,
            "time": "19:00",
        },
    )
    _, events = await run_action(ValidateLeisureBookingForm(), tracker)
    found = values(events)["session_options"]
    assert [o["title"] for o in found["options"]] == ["7pm (3 spaces)", "2pm (12 spaces)"]
    assert found["text"].startswith(
        "These are the times with spaces for swimming at Olympiad Leisure Centre on "
    )
    assert "nearest to 7pm first" in found["text"]


async def test_a_full_class_gets_alternatives_not_an_error(backoffice_fakes):
    tracker = form_turn(
        FORM,
        "spin at the olympiad tomorrow at 6pm",
        "book_leisure_activity",
        entities={
            "activity": "spin",
            "leisure_centre": "Olympiad Leisure Centre",
            "date": SATURDAY,
            "time": "18:00",
        },
    )
    _, events = await run_action(ValidateLeisureBookingForm(), tracker)
    found = values(events)["session_options"]
    assert found["text"].startswith("There are no spaces left for spin at Olympiad Leisure Centre on ")
    assert [o["place"] for o in found["options"]] == ["Springfield Campus"]


async def test_choosing_a_time_keeps_an_order_uuid_for_this_journey_and_that_time(backoffice_fakes):
    options = await offered(backoffice_fakes)
    tracker = form_turn(FORM, "1", "inform", before={"session_options": options}, requested="session_choice")
    form = ValidateLeisureBookingForm()
    extracted = await form.extract_session_choice(CollectingDispatcher(), tracker, DOMAIN)
    result = await form.validate_session_choice(
        extracted["session_choice"], CollectingDispatcher(), tracker, DOMAIN
    )
    assert result["session_choice"]["title"] == "2pm (12 spaces)"
    assert uuid.UUID(result["booking_key"]).version == 5
    again = await form.validate_session_choice(
        extracted["session_choice"], CollectingDispatcher(), tracker, DOMAIN
    )
    assert again["booking_key"] == result["booking_key"]  # the same message again: the same key


async def test_a_new_day_while_choosing_searches_again(backoffice_fakes):
    options = await offered(backoffice_fakes)
    sunday = at(2, 0).date().isoformat()
    tracker = form_turn(
        FORM,
        "sunday instead",
        "inform",
        entities={"date": sunday},
        before={
            "activity": "swimming",
            "leisure_centre": "Olympiad Leisure Centre",
            "date": SATURDAY,
            "session_options": options,
        },
        requested="session_choice",
    )
    _, events = await run_action(ValidateLeisureBookingForm(), tracker)
    assert [o["start"][:10] for o in values(events)["session_options"]["options"]] == [sunday]
    assert values(events)["session_choice"] is None


async def test_no_at_the_confirmation_offers_the_times_again(backoffice_fakes):
    tracker = form_turn(FORM, "no", "deny", requested="confirm")
    dispatcher = CollectingDispatcher()
    result = ValidateLeisureBookingForm().validate_confirm(False, dispatcher, tracker, DOMAIN)
    assert result == {"confirm": None, "session_choice": None, "attempts": None}
    assert texts(dispatcher) == ["OK, I haven't booked it."]


async def offered(fakes) -> dict:
    tracker = form_turn(
        FORM,
        "swim at the olympiad tomorrow",
        "book_leisure_activity",
        entities={"activity": "swimming", "leisure_centre": "Olympiad Leisure Centre", "date": SATURDAY},
    )
    _, events = await run_action(ValidateLeisureBookingForm(), tracker)
    return values(events)["session_options"]


async def chosen(fakes, title: str) -> dict:
    options = await offered(fakes)
    return next(o for o in options["options"] if o["title"] == title)


# --- asking ----------------------------------------------------------------------------------


async def test_centres_offered_are_those_that_run_the_activity(backoffice_fakes):
    dispatcher, _ = await run_action(
        ActionAskLeisureBookingFormLeisureCentre(), make_tracker(slots={"activity": "badminton"})
    )
    assert [b["title"] for b in buttons(dispatcher)] == ["Springfield"]
    assert buttons(dispatcher)[0]["payload"] == '/inform{"leisure_centre": "Springfield Campus"}'


async def test_the_day_is_asked_with_today_tomorrow_and_any_day(backoffice_fakes):
    dispatcher, _ = await run_action(ActionAskLeisureBookingFormDate(), make_tracker())
    titles = [b["title"] for b in buttons(dispatcher)]
    assert titles[:2] == ["Today", "Tomorrow"] and titles[-1] == "Any day"


async def test_the_read_back_says_what_when_where_price_and_how_confirmed(backoffice_fakes):
    choice = await chosen(backoffice_fakes, "2pm (12 spaces)")
    dispatcher, _ = await run_action(
        ActionAskLeisureBookingFormConfirm(),
        make_tracker(slots={"session_choice": choice, "contact": "email", "email": "jo@example.com"}),
    )
    text = texts(dispatcher)[0]
    assert "Swimming at Olympiad Leisure Centre" in text and "2pm to 3pm" in text
    assert "£4.80, paid at the centre" in text and "Confirmation by email" in text
    assert "jo@example.com" not in text


# --- booking -------------------------------------------------------------------------------------

KEY = "6d1f4c52-93a5-5f1d-8d2b-3f1ad0b1c0de"


async def booking_tracker(fakes, title="2pm (12 spaces)", **slots):
    choice = await chosen(fakes, title)
    return make_tracker(
        slots={
            "session_choice": choice,
            "confirm": True,
            "booking_key": KEY,
            "contact": "email",
            "email": "jo@example.com",
            **slots,
        }
    )


async def test_yes_books_with_the_kept_order_uuid_and_ends_with_the_reference(backoffice_fakes):
    dispatcher, events = await run_action(
        ActionBookLeisureActivity(), await booking_tracker(backoffice_fakes)
    )
    assert backoffice_fakes.leisure.booked == [("https://oa.test/sessions/swim-sat-14", KEY)]
    assert backoffice_fakes.leisure.customers["BK-500000"].email == "jo@example.com"
    text = texts(dispatcher)[0]
    assert text.startswith("You're booked on swimming at Olympiad Leisure Centre, ")
    assert "We've sent a confirmation by email." in text
    assert "Your booking reference is BK-500000. Pay £4.80 at the centre when you arrive." in text
    assert backoffice_fakes.notify.sent[0][4] == "BK-500000"
    assert outcome_of(events) == {
        "outcome": "completed",
        "intent": "book_leisure_activity",
        "system": "openactive",
        "activity": "swimming",
    }
    assert values(events)["session_choice"] is None and values(events)["email"] is None


async def test_the_same_booking_asked_twice_is_made_once(backoffice_fakes):
    tracker = await booking_tracker(backoffice_fakes)
    await run_action(ActionBookLeisureActivity(), tracker)
    dispatcher, _ = await run_action(ActionBookLeisureActivity(), tracker)
    assert [key for _, key in backoffice_fakes.leisure.booked] == [KEY, KEY]
    assert list(backoffice_fakes.leisure.orders) == ["BK-500000"]
    assert "BK-500000" in texts(dispatcher)[0]


async def test_a_place_taken_meanwhile_offers_the_times_again(backoffice_fakes):
    backoffice_fakes.leisure.book_error = Rejected(
        "full", reason="OpportunityIsFullError", system="openactive"
    )
    dispatcher, events = await run_action(
        ActionBookLeisureActivity(), await booking_tracker(backoffice_fakes)
    )
    assert texts(dispatcher) == ["Sorry, someone has just taken the last space at that time."]
    assert events[-1] == {"event": "followup", "name": "leisure_booking_form", "timestamp": None}
    assert values(events) == {
        "session_choice": None,
        "session_options": None,
        "confirm": None,
        "booking_key": None,
    }


async def test_booking_system_down_keeps_the_booking_to_finish_with_the_same_uuid(
    backoffice_fakes, memory_outbox
):
    backoffice_fakes.leisure.book_error = Unavailable("down", system="openactive")
    dispatcher, events = await run_action(
        ActionBookLeisureActivity(), await booking_tracker(backoffice_fakes)
    )
    kept = memory_outbox.get(f"book_leisure_activity:{KEY}")
    assert kept is not None and kept.payload["order_uuid"] == KEY and kept.kind == "book_leisure_activity"
    assert "leisure booking system isn't working" in texts(dispatcher)[0]
    assert outcome_of(events)["outcome"] == "integration_failed"


async def test_nothing_is_booked_without_a_yes(backoffice_fakes):
    dispatcher, events = await run_action(ActionBookLeisureActivity(), make_tracker(slots={"confirm": None}))
    assert dispatcher.messages == [] and backoffice_fakes.leisure.booked == []
    assert outcome_of(events) is None


# --- opening times ---------------------------------------------------------------------------


def question(
    text: str, intent: str = "leisure_opening_times", active_loop: str | None = None, slots=None, **entities
):
    event = user_event(text, intent, entities=[{"entity": k, "value": v} for k, v in entities.items()])
    return make_tracker(event, slots=slots or {}, active_loop=active_loop)


async def test_opening_times_of_a_named_centre_for_the_week(backoffice_fakes):
    dispatcher, events = await run_action(
        ActionOpeningTimes(), question("when is the olympiad open", leisure_centre="Olympiad Leisure Centre")
    )
    text = texts(dispatcher)[0]
    assert text.startswith("Olympiad Leisure Centre is open today from 6:30am to 10pm.")
    assert "Monday to Sunday: 6:30am to 10pm" in text
    assert outcome_of(events) == {"outcome": "informed", "intent": "leisure_opening_times", "found": True}
    assert buttons(dispatcher) == [
        {"title": "Book a swim, class or court", "payload": "/book_leisure_activity"}
    ]


async def test_a_bank_holiday_closure_is_given_for_that_day(backoffice_fakes):
    closed_day = TODAY + dt.timedelta(days=3)
    backoffice_fakes.leisure._centres = [
        centre(
            "olympiad",
            "Olympiad Leisure Centre",
            "Chippenham",
            (SpecialHours(closed_day, closed_day, "Christmas Day"),),
        )
    ]
    dispatcher, _ = await run_action(
        ActionOpeningTimes(),
        question("is the olympiad open then", leisure_centre="olympiad", date=closed_day.isoformat()),
    )
    assert texts(dispatcher)[0].startswith("Olympiad Leisure Centre is closed on ")
    assert "(Christmas Day)" in texts(dispatcher)[0]


async def test_the_nearest_match_of_a_misspelt_name_is_answered(backoffice_fakes):
    dispatcher, _ = await run_action(
        ActionOpeningTimes(), question("springfeild opening", leisure_centre="springfeild")
    )
    assert texts(dispatcher)[0].startswith("Springfield Campus is open today")


async def test_an_unknown_place_gets_every_centre_today(backoffice_fakes):
    dispatcher, events = await run_action(
        ActionOpeningTimes(), question("bath leisure centre", leisure_centre="bath")
    )
    text = texts(dispatcher)[0]
    assert text.startswith("I couldn't find a leisure centre called bath.")
    assert "Olympiad Leisure Centre: 6:30am to 10pm" in text and "Springfield Campus: 6:30am to 10pm" in text
    assert outcome_of(events)["found"] is False


async def test_library_hours_come_from_the_library_system(backoffice_fakes):
    dispatcher, _ = await run_action(
        ActionOpeningTimes(),
        question("corsham library hours", "library_opening_times", library="Corsham Library"),
    )
    text = texts(dispatcher)[0]
    assert "Monday to Saturday: 9am to 5pm" in text and "Sunday: closed" in text
    assert "(Staff training day): closed" in text


async def test_asked_mid_journey_it_answers_for_the_journeys_place_and_leaves_the_journeys_slots(
    backoffice_fakes,
):
    tracker = question(
        "what time does it close",
        active_loop=FORM,
        slots={"leisure_centre": "Olympiad Leisure Centre", "activity": "swimming"},
    )
    dispatcher, events = await run_action(ActionOpeningTimes(), tracker)
    assert texts(dispatcher)[0].startswith("Olympiad Leisure Centre is open today")
    assert buttons(dispatcher) == []  # the journey asks its question again next
    assert set(values(events)) == {"outcome"}


async def test_outside_a_journey_the_questions_place_and_day_do_not_stay_behind(backoffice_fakes):
    _, events = await run_action(ActionOpeningTimes(), question("olympiad hours", leisure_centre="olympiad"))
    assert values(events)["leisure_centre"] is None and values(events)["date"] is None


async def test_opening_times_when_the_system_is_down_are_an_honest_failure(backoffice_fakes):
    backoffice_fakes.leisure.error = Unavailable("down", system="openactive")
    dispatcher, events = await run_action(
        ActionOpeningTimes(), question("olympiad hours", leisure_centre="olympiad")
    )
    assert "isn't working right now" in texts(dispatcher)[0]
    assert outcome_of(events)["outcome"] == "integration_failed"


def test_days_with_the_same_hours_run_together_in_plain_words():
    hours = OpeningHours(
        "Castle Place Leisure Centre",
        (
            *(DayHours(d, dt.time(6, 30), dt.time(21)) for d in range(5)),
            DayHours(5, dt.time(8), dt.time(16)),
            DayHours(6, dt.time(8), dt.time(16)),
        ),
    )
    assert weekly_lines(hours) == ["Monday to Friday: 6:30am to 9pm", "Saturday and Sunday: 8am to 4pm"]
    assert weekly_lines(OpeningHours("x", hours.weekly[:5]))[-1] == "Saturday and Sunday: closed"


def test_the_fake_centre_matches_like_the_real_one():
    assert OLYMPIAD.matches("olympiad") and OLYMPIAD.matches("Chippenham")
