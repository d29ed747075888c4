"""Checking on a request and making a complaint, on tracker fixtures and a fake back office."""

from __future__ import annotations

import datetime as dt

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.requests import (
    ActionAskComplaintConfirm,
    ActionAskRequestReference,
    ActionCheckRequestStatus,
    ActionMakeComplaint,
    ValidateComplaintForm,
    ValidateRequestStatusForm,
    add_working_days,
    complaint_about,
    normal_reference,
    says_what_happened,
)
from tests.support.trackers import DOMAIN, buttons, make_tracker, texts, user_event
from tests.support.waste_backoffice import FakeBackOffice

OPTIONS = [{"uprn": str(100 + i), "label": f"{i} Market Place"} for i in range(1, 4)]


@pytest.fixture
def office(backoffice, memory_outbox):
    fake = FakeBackOffice()
    backoffice(fake)
    return fake


def status(*events, **slots):
    return make_tracker(*events, slots={"requested_slot": None, **slots}, active_loop="request_status_form")


def asked(*events, **slots):
    return status(*events, requested_slot="booking_reference", **slots)


def first_message(text, reference):
    return user_event(
        text, "check_request_status", entities=[{"entity": "booking_reference", "value": reference}]
    )


def complaint(*events, **slots):
    return make_tracker(
        *events, slots={"requested_slot": None, **slots}, active_loop="complaint_form", sender_id="resident-1"
    )


def slot_values(events):
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


# --- check on a request ------------------------------------------------------------


def test_references_are_read_the_way_residents_type_them():
    assert normal_reference("mb123456") == "MB-123456"
    assert normal_reference(" gw-482913 ") == "GW-482913"
    assert normal_reference("hello") == "HELLO"


async def test_a_missed_bin_reference_is_answered_from_open311_and_ends_the_journey(office):
    dispatcher = CollectingDispatcher()
    result = await ValidateRequestStatusForm().validate_booking_reference(
        "mb123456", dispatcher, status(first_message("any news on mb123456", "MB-123456")), DOMAIN
    )
    assert texts(dispatcher) == [
        "Your missed bin report MB-123456 is with the collection crew. "
        "They'll come back to empty your bin by Monday 30 November."
    ]
    assert result["requested_slot"] is None and result["booking_reference"] == "MB-123456"
    assert result["outcome"] == {
        "outcome": "informed",
        "intent": "check_request_status",
        "by": "reference",
        "prefix": "MB",
    }


async def test_a_garden_waste_reference_is_answered_from_the_waste_system(office):
    office.subscriptions["key"] = {
        "reference": "GW-482913",
        "uprn": "101",
        "bins": 2,
        "startDate": "2026-12-18",
        "expiryDate": "2027-12-17",
        "status": "current",
        "paymentId": "p1",
    }
    dispatcher = CollectingDispatcher()
    await ValidateRequestStatusForm().validate_booking_reference("GW-482913", dispatcher, asked(), DOMAIN)
    assert texts(dispatcher) == [
        "Your garden waste collection GW-482913 has gone through: 2 bins, paid until Friday 17 December 2027."
    ]
    assert ("GET", "/waste/v1/garden-waste/subscriptions/GW-482913") in office.calls


async def test_a_reference_left_from_an_earlier_request_is_not_taken_for_this_one(office):
    tracker = status(user_event("where is my new bin", "check_request_status"), booking_reference="BK-104233")
    dispatcher = CollectingDispatcher()
    result = await ValidateRequestStatusForm().validate_booking_reference(
        "BK-104233", dispatcher, tracker, DOMAIN
    )
    assert result == {"booking_reference": None} and texts(dispatcher) == [] and office.calls == []


async def test_an_unknown_reference_is_asked_again_with_the_address_offered(office):
    form = ValidateRequestStatusForm()
    first = CollectingDispatcher()
    result = await form.validate_booking_reference("MB-999999", first, asked(), DOMAIN)
    assert result["booking_reference"] is None and texts(first) == [
        "I couldn't find MB-999999. Please check it."
    ]
    second = CollectingDispatcher()
    await form.validate_booking_reference("XX-999999", second, asked(attempts=result["attempts"]), DOMAIN)
    assert "tell me your postcode" in texts(second)[0]


async def test_no_reference_turns_to_the_address(office):
    form = ValidateRequestStatusForm()
    tracker = status(user_event("I don't have a reference", "deny"), requested_slot="booking_reference")
    extracted = await form.extract_booking_reference(CollectingDispatcher(), tracker, DOMAIN)
    assert extracted == {"booking_reference": "by address"}
    result = await form.validate_booking_reference("by address", CollectingDispatcher(), tracker, DOMAIN)
    assert result == {"booking_reference": "by address", "attempts": None}  # the postcode is asked next


async def test_by_address_lists_the_bin_requests_and_garden_waste(office):
    dispatcher = CollectingDispatcher()
    result = await ValidateRequestStatusForm().validate_address(
        "1", dispatcher, status(address_options=OPTIONS, booking_reference="by address"), DOMAIN
    )
    assert texts(dispatcher)[0].startswith(
        "Here's what I can see for 1 Market Place:\n"
        "- Bin delivery BD-921533 (recycling): open, expected by Monday 7 December.\n"
        "- Garden waste collection GW-446759: paid until Thursday 17 December."
    )
    assert result["outcome"] == {
        "outcome": "informed",
        "intent": "check_request_status",
        "by": "address",
        "found": 2,
    }


async def test_a_system_down_is_honest(office):
    office.fail("/open311/")
    dispatcher = CollectingDispatcher()
    result = await ValidateRequestStatusForm().validate_booking_reference(
        "MB-123456", dispatcher, asked(), DOMAIN
    )
    assert "reporting system isn't working" in texts(dispatcher)[0]
    assert result["outcome"]["outcome"] == "integration_failed" and result["requested_slot"] is None


async def test_the_reference_made_earlier_in_the_conversation_is_offered(office):
    dispatcher = CollectingDispatcher()
    await ActionAskRequestReference().run(dispatcher, status(last_request={"reference": "GW-482913"}), DOMAIN)
    assert [b["title"] for b in buttons(dispatcher)] == ["GW-482913", "I don't have a reference"]


async def test_the_status_journey_ends_quietly_once_answered(office):
    answered = {
        "event": "slot",
        "name": "outcome",
        "value": {"outcome": "informed", "intent": "check_request_status"},
    }
    tracker = make_tracker(
        {"event": "active_loop", "name": "request_status_form"},
        answered,
        slots={"booking_reference": "MB-123456"},
    )
    dispatcher = CollectingDispatcher()
    events = await ActionCheckRequestStatus().run(dispatcher, tracker, DOMAIN)
    assert texts(dispatcher) == [] and slot_values(events) == {"booking_reference": None, "attempts": None}


# --- complaints ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, about",
    [
        ("the bin crew left rubbish all over the road", "waste"),
        ("I was charged twice on my council tax bill", "council_tax"),
        ("the library closed early with no notice", "libraries"),
        ("the swimming pool changing rooms were filthy", "leisure"),
        ("nobody answered the phone for an hour", "other"),
    ],
)
def test_what_a_complaint_is_about_comes_from_its_words(text, about):
    assert complaint_about(text) == about


def test_i_want_to_complain_is_not_yet_a_complaint():
    assert not says_what_happened("I want to make a complaint")
    assert not says_what_happened("can i complain about the council please")
    assert says_what_happened("the bin men were rude and left rubbish everywhere")


def test_ten_working_days_skip_weekends_and_bank_holidays():
    assert add_working_days(dt.date(2026, 11, 27), 10) == dt.date(2026, 12, 11)
    # Christmas 2026: Friday 25 and Monday 28 December are bank holidays.
    assert add_working_days(dt.date(2026, 12, 18), 10) == dt.date(2027, 1, 6)


async def test_a_first_message_that_says_what_happened_is_the_complaint(office):
    form = ValidateComplaintForm()
    said = complaint(user_event("the bin men were rude and left rubbish everywhere", "make_complaint"))
    assert await form.extract_complaint_text(CollectingDispatcher(), said, DOMAIN) == {
        "complaint_text": "the bin men were rude and left rubbish everywhere"
    }
    bare = complaint(user_event("I want to make a complaint", "make_complaint"))
    assert await form.extract_complaint_text(CollectingDispatcher(), bare, DOMAIN) == {}


async def test_a_too_short_complaint_is_asked_for_more(office):
    dispatcher = CollectingDispatcher()
    result = ValidateComplaintForm().validate_complaint_text("bins", dispatcher, complaint(), DOMAIN)
    assert result["complaint_text"] is None and texts(dispatcher) == [
        "Please tell me a bit more: what happened, and when?"
    ]


async def test_the_reply_needs_an_email_or_phone_and_no_is_explained(office):
    form = ValidateComplaintForm()
    tracker = complaint(user_event("no", "deny"), requested_slot="complaint_contact")
    extracted = await form.extract_complaint_contact(CollectingDispatcher(), tracker, DOMAIN)
    dispatcher = CollectingDispatcher()
    result = form.validate_complaint_contact(extracted["complaint_contact"], dispatcher, tracker, DOMAIN)
    assert result["complaint_contact"] is None and "email address or phone number" in texts(dispatcher)[0]
    email = complaint(
        user_event("jo@example.com", "inform", entities=[{"entity": "email", "value": "jo@example.com"}]),
        requested_slot="complaint_contact",
    )
    assert await form.extract_complaint_contact(CollectingDispatcher(), email, DOMAIN) == {
        "complaint_contact": "email"
    }


READY = {
    "complaint_text": "The bin crew left rubbish all over the road on Tuesday",
    "complaint_contact": "email",
    "email": "jo@example.com",
    "confirm": True,
    "complaint_key": "cp-abc123",
}


async def test_the_confirmation_reads_the_complaint_back(office):
    dispatcher = CollectingDispatcher()
    await ActionAskComplaintConfirm().run(dispatcher, complaint(**READY), DOMAIN)
    assert texts(dispatcher) == [
        'Your complaint about bins and recycling:\n"The bin crew left rubbish all over the '
        'road on Tuesday"\n\nThe team will reply to jo@example.com. Shall I send it?'
    ]


async def test_yes_records_the_complaint_once_with_reference_team_and_reply_date(office, monkeypatch):
    monkeypatch.setattr("actions.requests.today_in_london", lambda: dt.date(2026, 11, 27))
    dispatcher = CollectingDispatcher()
    events = await ActionMakeComplaint().run(dispatcher, complaint(**READY), DOMAIN)
    assert texts(dispatcher) == [
        "Thank you. I've sent your complaint to the Waste and Recycling team. "
        "Your reference is CP-100001.\n\n"
        "They'll reply to you by Friday 11 December (10 working days). "
        "If you need to chase it, tell me the reference."
    ]
    [sent] = office.open311.values()
    assert sent["service_code"] == "complaint" and sent["attribute[complaint_about]"] == "waste"
    assert sent["attribute[idempotency_key]"] == "cp-abc123" and sent["email"] == "jo@example.com"
    values = slot_values(events)
    assert values["outcome"] == {"outcome": "completed", "intent": "make_complaint", "about": "waste"}
    assert values["complaint_text"] is None and values["email"] is None  # nothing personal left behind
    await ActionMakeComplaint().run(CollectingDispatcher(), complaint(**READY), DOMAIN)  # yes, re-sent
    assert len(office.open311) == 1


async def test_a_complaint_open311_cannot_take_is_kept_for_the_outbox(office, memory_outbox):
    office.fail("/open311/")
    dispatcher = CollectingDispatcher()
    events = await ActionMakeComplaint().run(dispatcher, complaint(**READY), DOMAIN)
    assert "I've saved your request" in texts(dispatcher)[0]
    item = memory_outbox.get("cp-abc123")
    assert item.kind == "make_complaint" and item.payload["complaint_about"] == "waste"
    assert slot_values(events)["outcome"] == {
        "outcome": "integration_failed",
        "intent": "make_complaint",
        "system": "open311",
        "kept": True,
    }


async def test_no_sends_nothing(office):
    dispatcher = CollectingDispatcher()
    events = await ActionMakeComplaint().run(dispatcher, complaint(**{**READY, "confirm": False}), DOMAIN)
    assert texts(dispatcher) == ["OK, I haven't sent your complaint."] and office.open311 == {}
    assert slot_values(events)["outcome"]["outcome"] == "cancelled"


async def test_a_reference_in_the_complaint_is_sent_as_the_request_it_is_about(office):
    text = "Nobody came back for my bin after I reported it, mb123456, a week ago"
    said = {**READY, "complaint_text": text}
    await ActionMakeComplaint().run(CollectingDispatcher(), complaint(**said), DOMAIN)
    [sent] = office.open311.values()
    assert sent["attribute[related_reference]"] == "MB-123456"
