"""Book a library session and renew loans, on tracker fixtures with fake back-office clients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.libraries import (
    ActionAskLibraryBookingFormConfirm,
    ActionAskRenewChoice,
    ActionBookLibrarySession,
    ActionRenewLibraryLoans,
    ValidateLibraryBookingForm,
    ValidateLibraryRenewalForm,
    chosen_loans,
)
from integrations.errors import Unavailable
from integrations.libraries import Loan, RenewalReason
from tests.actions.test_bookings import (
    DOMAIN,
    LIBRARIES,
    TODAY,
    at,
    form_turn,
    install_fakes,
    library_session,
    outcome_of,
    run_action,
    values,
)
from tests.support.trackers import buttons, make_tracker, texts


@pytest.fixture
def backoffice_fakes() -> Iterator[SimpleNamespace]:
    yield from install_fakes()


FORM = "library_booking_form"
RENEWAL = "library_renewal_form"
CHIPPENHAM, CORSHAM = LIBRARIES
TOMORROW = at(1, 0).date().isoformat()


def computers(fakes) -> None:
    fakes.libraries.sessions = [
        library_session(CHIPPENHAM, at(1, 10), 3),
        library_session(CHIPPENHAM, at(1, 11), 0),
        library_session(CORSHAM, at(1, 11), 5),
        library_session(CHIPPENHAM, at(1, 10), 2, resource="lego club"),
    ]


async def offered(fakes, time: str | None = None) -> dict:
    computers(fakes)
    entities = {"resource": "public computer", "library": "Chippenham Library", "date": TOMORROW}
    if time:
        entities["time"] = time
    tracker = form_turn(
        FORM, "book a computer at chippenham library tomorrow", "book_library_session", entities=entities
    )
    _, events = await run_action(ValidateLibraryBookingForm(), tracker)
    return values(events)["session_options"]


# --- what, where, availability ---------------------------------------------------------------


async def test_resources_and_libraries_are_checked_and_unknown_ones_explained(backoffice_fakes):
    form = ValidateLibraryBookingForm()
    ok = await form.validate_resource(
        "study rooms", CollectingDispatcher(), form_turn(FORM, "", "inform"), DOMAIN
    )
    dispatcher = CollectingDispatcher()
    bad = await form.validate_resource("a pool table", dispatcher, form_turn(FORM, "", "inform"), DOMAIN)
    assert ok["resource"] == "study room" and bad["resource"] is None
    assert texts(dispatcher) == ["Sorry, you can't book a pool table at our libraries."]
    town = await form.validate_library(
        "corsham", CollectingDispatcher(), form_turn(FORM, "", "inform"), DOMAIN
    )
    assert town["library"] == "Corsham Library"


async def test_places_left_are_shown_nearest_first_and_full_times_left_out(backoffice_fakes):
    found = await offered(backoffice_fakes, time="11:00")
    assert [o["title"] for o in found["options"]] == ["10am (3 spaces)"]


async def test_a_full_event_points_to_other_libraries_the_same_day(backoffice_fakes):
    computers(backoffice_fakes)
    tracker = form_turn(
        FORM,
        "computer at chippenham tomorrow at 11",
        "book_library_session",
        entities={
            "resource": "public computer",
            "library": "Chippenham Library",
            "date": TOMORROW,
            "time": "11:00",
        },
    )
    backoffice_fakes.libraries.sessions = [
        s for s in backoffice_fakes.libraries.sessions if s.start.hour == 11
    ]
    _, events = await run_action(ValidateLibraryBookingForm(), tracker)
    found = values(events)["session_options"]
    assert found["text"].startswith("There are no spaces left for public computers at Chippenham Library")
    assert [o["place"] for o in found["options"]] == ["Corsham Library"]


async def test_the_library_form_asks_for_the_card_and_pin_after_the_time(backoffice_fakes):
    slots = DOMAIN["forms"][FORM]["required_slots"]
    assert slots.index("session_choice") < slots.index("library_card_number") < slots.index("library_pin")
    assert slots[-1] == "confirm"


async def test_the_read_back_says_what_where_when_and_no_confirmation_if_none_wanted(backoffice_fakes):
    choice = (await offered(backoffice_fakes))["options"][0]
    dispatcher, _ = await run_action(
        ActionAskLibraryBookingFormConfirm(),
        make_tracker(slots={"session_choice": choice, "contact": "none"}),
    )
    text = texts(dispatcher)[0]
    assert "Public computer at Chippenham Library" in text and "10am to 11am" in text
    assert "No confirmation message" in text


# --- booking ------------------------------------------------------------------------------------


async def booking_tracker(fakes, **slots):
    choice = (await offered(fakes))["options"][0]
    return make_tracker(
        slots={
            "session_choice": choice,
            "confirm": True,
            "patron_id": 51,
            "contact": "phone",
            "phone_number": "07700900123",
            "booking_key": "k1",
            **slots,
        }
    )


async def test_yes_books_for_the_patron_and_ends_with_the_reference(backoffice_fakes):
    dispatcher, events = await run_action(ActionBookLibrarySession(), await booking_tracker(backoffice_fakes))
    booking = backoffice_fakes.libraries.bookings[0]
    assert (booking.patron_id, booking.library_id, booking.start) == (51, "CHIP", at(1, 10))
    text = texts(dispatcher)[0]
    assert text.startswith("You're booked: public computer at Chippenham Library, ")
    assert "We've sent a confirmation by text message." in text
    assert "Your booking reference is LB-700000. Bring your library card with you." in text
    assert backoffice_fakes.notify.sent[0][:3] == ("sms", "07700900123", "booking_confirmation")
    assert outcome_of(events)["outcome"] == "completed"
    assert values(events)["patron_id"] is None and values(events)["library_pin"] is None


async def test_a_second_yes_finds_the_booking_already_made_instead_of_booking_again(backoffice_fakes):
    tracker = await booking_tracker(backoffice_fakes)
    await run_action(ActionBookLibrarySession(), tracker)
    dispatcher, _ = await run_action(ActionBookLibrarySession(), tracker)
    assert backoffice_fakes.libraries.book_calls == 1
    assert texts(dispatcher)[0].startswith(
        "You already have this booked: public computer at Chippenham Library"
    )
    assert "LB-700000" in texts(dispatcher)[0]


async def test_a_place_gone_meanwhile_offers_the_times_again(backoffice_fakes):
    tracker = await booking_tracker(backoffice_fakes)
    backoffice_fakes.libraries.sessions = [library_session(CHIPPENHAM, at(1, 10), 0)]
    dispatcher, events = await run_action(ActionBookLibrarySession(), tracker)
    assert texts(dispatcher) == ["Sorry, someone has just taken the last space at that time."]
    assert events[-1]["event"] == "followup" and events[-1]["name"] == FORM


async def test_library_system_down_at_booking_keeps_the_request(backoffice_fakes, memory_outbox):
    tracker = await booking_tracker(backoffice_fakes)
    backoffice_fakes.libraries.error = Unavailable("down", system="koha")
    dispatcher, events = await run_action(ActionBookLibrarySession(), tracker)
    kept = memory_outbox.get("book_library_session:k1")
    assert kept is not None and kept.payload["patron_id"] == 51
    assert outcome_of(events) == {
        "outcome": "integration_failed",
        "intent": "book_library_session",
        "system": "koha",
        "kept": True,
    }


# --- renewals -----------------------------------------------------------------------------------

LOANS = [
    Loan(1, 11, "Middlemarch", "George Eliot", at(3, 23, 59), None, 0, "CHIP"),
    Loan(2, 12, "Persuasion", "Jane Austen", at(5, 23, 59), None, 3, "CHIP"),
    Loan(3, 13, "Small Island", "Andrea Levy", at(-2, 23, 59), None, 1, "CHIP"),
]


async def test_once_the_pin_is_right_the_loans_are_listed_with_due_dates(backoffice_fakes):
    backoffice_fakes.libraries.loans = LOANS
    result = await ValidateLibraryRenewalForm().patron_verified(CollectingDispatcher(), make_tracker(), 51)
    assert [loan["title"] for loan in result["loans"]] == ["Middlemarch", "Persuasion", "Small Island"]
    dispatcher, _ = await run_action(ActionAskRenewChoice(), make_tracker(slots=result))
    text = texts(dispatcher)[0]
    assert text.startswith("You have 3 items on loan:\n1. Middlemarch, due ")
    assert "3. Small Island, due " in text and "(overdue)" in text
    assert [b["title"] for b in buttons(dispatcher)][0] == "Renew all"
    assert [b["payload"] for b in buttons(dispatcher)][1:4] == ["1", "2", "3"]


async def test_nothing_on_loan_ends_with_an_answer(backoffice_fakes):
    dispatcher = CollectingDispatcher()
    result = await ValidateLibraryRenewalForm().patron_verified(dispatcher, make_tracker(), 51)
    assert result["requested_slot"] is None and result["outcome"]["outcome"] == "informed"
    assert texts(dispatcher) == ["You have nothing on loan at the moment, so there's nothing to renew."]


async def test_which_loans_to_renew_is_read_as_all_none_numbers_or_titles(backoffice_fakes):
    loans = [
        {"id": loan.checkout_id, "title": loan.title, "due": loan.due_date.isoformat()} for loan in LOANS
    ]
    form = ValidateLibraryRenewalForm()

    async def read(text, intent="inform"):
        tracker = form_turn(RENEWAL, text, intent, before={"loans": loans}, requested="renew_choice")
        return (await form.extract_renew_choice(CollectingDispatcher(), tracker, DOMAIN)).get("renew_choice")

    assert await read("Renew all", "affirm") == "all"
    assert await read("just renew everything") == "all"
    assert await read("no", "deny") == "none"
    assert await read("1 and 3") == [1, 3]
    assert await read("middlemarch") == [1]
    assert await read("7") == "__unclear__"
    assert await read("stop", "stop") is None  # not an answer: the form steps aside for stop
    assert chosen_loans("2, 3", loans) == [2, 3]


async def test_each_item_says_renewed_or_why_not_in_plain_words(backoffice_fakes):
    backoffice_fakes.libraries.loans = LOANS
    backoffice_fakes.libraries.refusals = {2: RenewalReason.TOO_MANY, 3: RenewalReason.ON_RESERVE}
    loans = [
        {"id": loan.checkout_id, "title": loan.title, "due": loan.due_date.isoformat()} for loan in LOANS
    ]
    dispatcher, events = await run_action(
        ActionRenewLibraryLoans(),
        make_tracker(
            slots={"patron_id": 51, "loans": loans, "renew_choice": "all", "library_pin": "verified"}
        ),
    )
    lines = texts(dispatcher)[0].split("\n")
    new_due = (LOANS[0].due + dt.timedelta(days=21)).date()
    assert lines[0].startswith("Middlemarch: renewed. It's now due back on ") and str(new_due.day) in lines[0]
    assert lines[1].startswith(
        "Persuasion: not renewed, because it has been renewed as many times as allowed."
    )
    assert lines[2].startswith(
        "Small Island: not renewed, because someone else has reserved it. Please return it by"
    )
    assert outcome_of(events) == {
        "outcome": "completed",
        "intent": "renew_library_loans",
        "system": "koha",
        "renewed": 1,
        "refused": 2,
    }
    assert values(events)["patron_id"] is None and values(events)["loans"] is None


async def test_only_the_chosen_loans_are_renewed(backoffice_fakes):
    backoffice_fakes.libraries.loans = LOANS
    loans = [
        {"id": loan.checkout_id, "title": loan.title, "due": loan.due_date.isoformat()} for loan in LOANS
    ]
    await run_action(
        ActionRenewLibraryLoans(),
        make_tracker(slots={"patron_id": 51, "loans": loans, "renew_choice": [1, 3]}),
    )
    assert backoffice_fakes.libraries.renewed == [1, 3]


async def test_renewing_none_renews_nothing(backoffice_fakes):
    loans = [{"id": 1, "title": "Middlemarch", "due": TODAY.isoformat()}]
    dispatcher, events = await run_action(
        ActionRenewLibraryLoans(),
        make_tracker(slots={"patron_id": 51, "loans": loans, "renew_choice": "none"}),
    )
    assert backoffice_fakes.libraries.renewed == [] and "haven't renewed anything" in texts(dispatcher)[0]
    assert outcome_of(events)["outcome"] == "informed"


async def test_library_down_while_renewing_keeps_the_request(backoffice_fakes, memory_outbox):
    backoffice_fakes.libraries.error = Unavailable("down", system="koha")
    loans = [{"id": 1, "title": "Middlemarch", "due": TODAY.isoformat()}]
    dispatcher, events = await run_action(
        ActionRenewLibraryLoans(),
        make_tracker(slots={"patron_id": 51, "loans": loans, "renew_choice": "all"}),
    )
    assert "I've saved your request" in texts(dispatcher)[0]
    assert [item.payload for item in memory_outbox.items()] == [{"patron_id": 51, "checkout_ids": [1]}]
    assert outcome_of(events)["outcome"] == "integration_failed"
