"""Bin collection day and the shared address steps, on tracker fixtures and mock back-office systems."""

from __future__ import annotations

import httpx
from rasa_sdk.executor import CollectingDispatcher

from actions.common import match_address
from actions.waste import ActionAskAddress, ActionBinCollectionDay, ValidateBinDayForm
from tests.support.trackers import DOMAIN, buttons, make_tracker, texts, user_event

DPA = [
    {
        "DPA": {
            "UPRN": str(100 + i),
            "ADDRESS": f"{i}, MARKET PLACE, CHIPPENHAM, SN15 1ER",
            "BUILDING_NUMBER": str(i),
            "THOROUGHFARE_NAME": "MARKET PLACE",
            "POST_TOWN": "CHIPPENHAM",
            "POSTCODE": "SN15 1ER",
        }
    }
    for i in range(1, 4)
]


def places(request: httpx.Request) -> httpx.Response | None:
    if request.url.path.endswith("/postcode"):
        if request.url.params["postcode"] == "SN15 1ER":
            return httpx.Response(200, json={"header": {"totalresults": 3}, "results": DPA})
        return httpx.Response(200, json={"header": {"totalresults": 0}})
    return None


def form_tracker(*events, **slots):
    return make_tracker(*events, slots={"requested_slot": None, **slots}, active_loop="bin_day_form")


async def test_postcode_with_addresses_offers_them(backoffice):
    backoffice(places)
    dispatcher = CollectingDispatcher()
    result = await ValidateBinDayForm().validate_postcode("SN15 1ER", dispatcher, form_tracker(), DOMAIN)
    assert result["postcode"] == "SN15 1ER"
    assert [o["label"] for o in result["address_options"]] == [
        "1 Market Place",
        "2 Market Place",
        "3 Market Place",
    ]
    ask = CollectingDispatcher()
    await ActionAskAddress().run(
        ask, make_tracker(slots={"address_options": result["address_options"]}), DOMAIN
    )
    assert [b["title"] for b in buttons(ask)][-1] == "My address isn't listed"


async def test_postcode_without_addresses_is_refused_then_explained_with_a_person(backoffice):
    backoffice(places)
    form = ValidateBinDayForm()
    first = CollectingDispatcher()
    result = await form.validate_postcode("SN15 9ZZ", first, form_tracker(), DOMAIN)
    assert result["postcode"] is None and "couldn't find any addresses" in texts(first)[0]
    second = CollectingDispatcher()
    again = await form.validate_postcode(
        "SN15 9ZZ", second, form_tracker(attempts=result["attempts"]), DOMAIN
    )
    assert again["attempts"]["count"] == 2
    assert "/request_human" in [b["payload"] for b in buttons(second)]


async def test_an_answer_that_is_not_a_postcode_gets_a_reply(backoffice):
    backoffice(places)
    form = ValidateBinDayForm()
    tracker = form_tracker(user_event("dunno", "inform"), requested_slot="postcode")
    extracted = await form.extract_postcode(CollectingDispatcher(), tracker, DOMAIN)
    dispatcher = CollectingDispatcher()
    result = await form.validate_postcode(extracted["postcode"], dispatcher, tracker, DOMAIN)
    assert result["postcode"] is None and texts(dispatcher) == ["That doesn't look like a postcode."]


async def test_another_request_mid_question_is_not_taken_as_an_answer(backoffice):
    tracker = form_tracker(
        user_event("pay my council tax", "pay_council_tax"),
        requested_slot="address",
        address_options=[{"uprn": "101", "label": "1 Market Place"}],
    )
    assert await ValidateBinDayForm().extract_address(CollectingDispatcher(), tracker, DOMAIN) == {}


def test_addresses_match_by_label_or_house_number():
    options = [{"uprn": "1", "label": "1 Market Place"}, {"uprn": "12", "label": "12 Market Place"}]
    assert match_address("12", options) == [options[1]]
    assert match_address("1 market place", options) == [options[0]]
    assert match_address("number 1", options) == [options[0]]
    assert match_address("7", options) == []


async def test_collections_are_given_in_plain_dates(backoffice, monkeypatch):
    monkeypatch.setenv("COUNCIL_ASSISTANT_NOW", "2026-11-30T10:00:00")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=[
                {
                    "type": "recycling",
                    "collectionDate": "2026-12-04",
                    "round": "R1",
                    "scheduledDate": "2026-12-04",
                },
                {
                    "type": "general_waste",
                    "collectionDate": "2026-12-29",
                    "round": "R2",
                    "scheduledDate": "2026-12-28",
                },
            ],
        )

    backoffice(handler)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"uprn": "101", "address": "1 Market Place"})
    events = await ActionBinCollectionDay().run(dispatcher, tracker, DOMAIN)
    assert "Friday 4 December: recycling" in texts(dispatcher)[0]
    assert "Tuesday 29 December: general waste (moved because of the bank holiday)" in texts(dispatcher)[0]
    assert events[-1]["value"]["outcome"] == "informed"


def collections_on(*items: tuple[str, str]) -> list[dict]:
    return [{"type": t, "collectionDate": d, "round": "R", "scheduledDate": d} for t, d in items]


async def test_today_is_named_today_before_the_crews_start(backoffice, monkeypatch):
    monkeypatch.setenv("COUNCIL_ASSISTANT_NOW", "2026-11-27T06:30:00")  # a Friday, before 7am
    backoffice(
        lambda r: httpx.Response(
            200, json=collections_on(("recycling", "2026-11-27"), ("food", "2026-12-04"))
        )
    )
    dispatcher = CollectingDispatcher()
    await ActionBinCollectionDay().run(
        dispatcher, make_tracker(slots={"uprn": "101", "address": "1 Market Place"}), DOMAIN
    )
    text = texts(dispatcher)[0]
    assert "Today, Friday 27 November: recycling" in text
    assert "under way" not in text


async def test_late_in_the_day_todays_round_is_under_way_and_the_next_ones_are_listed(
    backoffice, monkeypatch
):
    monkeypatch.setenv("COUNCIL_ASSISTANT_NOW", "2026-11-27T21:15:00")
    backoffice(
        lambda r: httpx.Response(
            200,
            json=collections_on(
                ("recycling", "2026-11-27"),
                ("food", "2026-11-27"),
                ("food", "2026-12-04"),
                ("recycling", "2026-12-11"),
            ),
        )
    )
    dispatcher = CollectingDispatcher()
    events = await ActionBinCollectionDay().run(
        dispatcher, make_tracker(slots={"uprn": "101", "address": "1 Market Place"}), DOMAIN
    )
    text = texts(dispatcher)[0]
    assert "27 November:" not in text  # today's is not offered as the next collection
    assert "Friday 4 December: food" in text and "Friday 11 December: recycling" in text
    assert "Today's food waste and recycling collection is already under way" in text
    assert events[-1]["value"]["outcome"] == "informed"


async def test_when_only_todays_round_is_left_the_reply_says_so(backoffice, monkeypatch):
    monkeypatch.setenv("COUNCIL_ASSISTANT_NOW", "2026-11-27T12:00:00")
    backoffice(lambda r: httpx.Response(200, json=collections_on(("glass", "2026-11-27"))))
    dispatcher = CollectingDispatcher()
    await ActionBinCollectionDay().run(
        dispatcher, make_tracker(slots={"uprn": "101", "address": "1 Market Place"}), DOMAIN
    )
    text = texts(dispatcher)[0]
    assert text.startswith("There are no more collections booked at 1 Market Place in the next 4 weeks.")
    assert "Today's glass collection is already under way" in text


async def test_waste_system_down_is_an_honest_integration_failure(backoffice):
    backoffice(lambda request: httpx.Response(503))
    dispatcher = CollectingDispatcher()
    events = await ActionBinCollectionDay().run(dispatcher, make_tracker(slots={"uprn": "101"}), DOMAIN)
    assert "bin collection system isn't working" in texts(dispatcher)[0]
    assert events[-1]["value"] == {
        "outcome": "integration_failed",
        "intent": "bin_collection_day",
        "system": "waste",
        "kept": False,
    }


# --- garden waste -----------------------------------------------------------------------

import pytest  # noqa: E402

from actions.waste import (  # noqa: E402
    ActionAskGardenWasteConfirm,
    ActionAskGardenWastePayment,
    ActionAskMissedBinConfirm,
    ActionRenewGardenWaste,
    ActionReportMissedBin,
    ValidateGardenWasteForm,
    ValidateMissedBinForm,
    bin_type_from_text,
    parse_count,
)
from tests.support.waste_backoffice import FakeBackOffice  # noqa: E402

OPTIONS = [{"uprn": str(100 + i), "label": f"{i} Market Place"} for i in range(1, 4)]
TERMS = {
    "status": "current",
    "until": "2026-12-17",
    "kind": "renewal",
    "first_pence": 5200,
    "extra_pence": 4000,
    "max_bins": 3,
    "bins": 2,
    "total_pence": 9200,
    "start": "2026-12-18",
    "expiry": "2027-12-17",
}
READY = {
    "postcode": "SN15 1ER",
    "address": "1 Market Place",
    "uprn": "101",
    "number_of_bins": "2",
    "garden_waste_terms": TERMS,
    "garden_waste_contact": "email",
    "email": "jo@example.com",
    "confirm": True,
    "renewal_key": "gw-abc123",
}


@pytest.fixture
def office(backoffice, memory_outbox):
    fake = FakeBackOffice()
    backoffice(fake)
    return fake


def garden(*events, **slots):
    return make_tracker(
        *events,
        slots={"requested_slot": None, **slots},
        active_loop="garden_waste_form",
        sender_id="resident-1",
    )


def slot_values(events):
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def test_a_renewable_subscription_is_described_and_priced(office):
    dispatcher = CollectingDispatcher()
    result = await ValidateGardenWasteForm().validate_address(
        "1", dispatcher, garden(address_options=OPTIONS), DOMAIN
    )
    assert result["uprn"] == "101" and "requested_slot" not in result
    assert texts(dispatcher) == [
        "Your garden waste collection at 1 Market Place is paid until Thursday 17 December. "
        "You can renew it now for another year."
    ]
    assert (
        result["garden_waste_terms"]["first_pence"] == 5200
        and result["garden_waste_terms"]["kind"] == "renewal"
    )


async def test_too_early_to_renew_says_when_renewal_opens_and_ends_the_journey(office):
    office.garden.update(expiryDate="2027-06-14", renewalWindowOpens="2027-05-03", canRenew=False)
    dispatcher = CollectingDispatcher()
    result = await ValidateGardenWasteForm().validate_address(
        "2", dispatcher, garden(address_options=OPTIONS), DOMAIN
    )
    assert "you can renew from Monday 3 May 2027" in texts(dispatcher)[0]
    assert result["requested_slot"] is None
    assert result["outcome"] == {
        "outcome": "informed",
        "intent": "renew_garden_waste",
        "status": "current",
        "renewable": False,
    }
    assert office.created("GET", "/waste/v1/properties/102/garden-waste/quote") == 0


@pytest.mark.parametrize(
    "garden_state, said",
    [
        (
            {"status": "lapsed", "expiryDate": "2026-10-01", "renewalWindowOpens": None},
            "ended on Thursday 1 October",
        ),
        (
            {"status": "none", "reference": None, "expiryDate": None, "renewalWindowOpens": None},
            "There's no garden waste collection at 1 Market Place",
        ),
    ],
)
async def test_lapsed_or_no_subscription_can_be_started(office, garden_state, said):
    office.garden.update(garden_state)
    dispatcher = CollectingDispatcher()
    result = await ValidateGardenWasteForm().validate_address(
        "1", dispatcher, garden(address_options=OPTIONS), DOMAIN
    )
    assert said in texts(dispatcher)[0] and result["garden_waste_terms"]["kind"] == "new"


async def test_address_not_listed_ends_with_a_person_offered(office):
    dispatcher = CollectingDispatcher()
    tracker = garden(
        user_event("My address isn't listed", "deny"), requested_slot="address", address_options=OPTIONS
    )
    form = ValidateGardenWasteForm()
    extracted = await form.extract_address(dispatcher, tracker, DOMAIN)
    result = await form.validate_address(extracted["address"], dispatcher, tracker, DOMAIN)
    assert result["uprn"] == "not_listed" and result["requested_slot"] is None
    assert "/request_human" in [b["payload"] for b in buttons(dispatcher)]
    assert office.created("GET", "/waste/") == 0


async def test_waste_system_down_at_the_subscription_check_is_honest_and_ends(office):
    office.fail("/waste/")
    dispatcher = CollectingDispatcher()
    result = await ValidateGardenWasteForm().validate_address(
        "1", dispatcher, garden(address_options=OPTIONS), DOMAIN
    )
    assert "bin collection system isn't working" in texts(dispatcher)[0]
    assert result["requested_slot"] is None and result["outcome"]["outcome"] == "integration_failed"


@pytest.mark.parametrize(
    "text, count",
    [("2", 2), ("two bins please", 2), ("just one", 1), ("a couple", 2), ("3", 3), ("lots", None)],
)
def test_numbers_of_bins_in_residents_words(text, count):
    assert parse_count(text) == count


async def test_a_bare_number_answers_how_many_bins_and_is_priced(office):
    form = ValidateGardenWasteForm()
    tracker = garden(
        user_event("3", "inform", entities=[{"entity": "participants", "value": "3"}]),
        requested_slot="number_of_bins",
        uprn="101",
        garden_waste_terms={**TERMS, "bins": 1},
    )
    extracted = await form.extract_number_of_bins(CollectingDispatcher(), tracker, DOMAIN)
    result = await form.validate_number_of_bins(
        extracted["number_of_bins"], CollectingDispatcher(), tracker, DOMAIN
    )
    assert result["number_of_bins"] == "3" and result["garden_waste_terms"]["total_pence"] == 13200


async def test_too_many_bins_is_refused_then_explained(office):
    form = ValidateGardenWasteForm()
    first = CollectingDispatcher()
    result = await form.validate_number_of_bins(
        "5", first, garden(uprn="101", garden_waste_terms=TERMS), DOMAIN
    )
    assert result["number_of_bins"] is None and texts(first) == ["Please tell me how many bins, from 1 to 3."]


async def test_bins_given_before_the_address_wait_for_the_price(office):
    result = await ValidateGardenWasteForm().validate_number_of_bins(
        "2", CollectingDispatcher(), garden(), DOMAIN
    )
    assert result == {"number_of_bins": "2", "attempts": None} and office.calls == []


@pytest.mark.parametrize(
    "event, slots, contact",
    [
        (
            user_event("jo@example.com", "inform", entities=[{"entity": "email", "value": "jo@example.com"}]),
            {},
            "email",
        ),
        (
            user_event(
                "07700 900123", "inform", entities=[{"entity": "phone_number", "value": "07700900123"}]
            ),
            {"phone_number": "07700900123"},
            "phone",
        ),
        (user_event("no thanks", "nlu_fallback"), {}, "none"),
        (user_event("no", "deny"), {}, "none"),
    ],
)
async def test_the_confirmation_contact_is_an_email_a_mobile_or_none(office, event, slots, contact):
    form = ValidateGardenWasteForm()
    tracker = garden(event, requested_slot="garden_waste_contact", **slots)
    extracted = await form.extract_garden_waste_contact(CollectingDispatcher(), tracker, DOMAIN)
    result = await form.validate_garden_waste_contact(
        extracted["garden_waste_contact"], CollectingDispatcher(), tracker, DOMAIN
    )
    assert result["garden_waste_contact"] == contact


async def test_a_landline_cannot_get_a_text(office):
    form = ValidateGardenWasteForm()
    tracker = garden(requested_slot="garden_waste_contact", phone_number="01249706111")
    dispatcher = CollectingDispatcher()
    result = await form.validate_garden_waste_contact("phone", dispatcher, tracker, DOMAIN)
    assert result["garden_waste_contact"] is None and "mobile number" in texts(dispatcher)[0]


async def test_the_confirmation_reads_back_the_address_bins_period_price_and_contact(office):
    dispatcher = CollectingDispatcher()
    await ActionAskGardenWasteConfirm().run(dispatcher, garden(**READY), DOMAIN)
    assert texts(dispatcher) == [
        "Renew garden waste collection at 1 Market Place for 2 bins from Friday 18 December to Friday 17 "
        "December 2027. The total is £92. We'll email a confirmation to jo@example.com.\n\n"
        "Shall I get you a secure payment link?"
    ]
    assert [b["payload"] for b in buttons(dispatcher)] == ["/affirm", "/deny"]


async def test_yes_makes_one_renewal_key_and_a_second_yes_keeps_it(office):
    form = ValidateGardenWasteForm()
    tracker = garden(user_event("yes", "affirm"), requested_slot="confirm")
    result = form.validate_confirm(True, CollectingDispatcher(), tracker, DOMAIN)
    assert result["confirm"] is True and result["renewal_key"].startswith("gw-")
    again = form.validate_confirm(
        True,
        CollectingDispatcher(),
        garden(user_event("yes", "affirm"), requested_slot="confirm", renewal_key=result["renewal_key"]),
        DOMAIN,
    )
    assert "renewal_key" not in again


async def test_no_at_the_confirmation_ends_without_paying(office):
    result = ValidateGardenWasteForm().validate_confirm(
        False, CollectingDispatcher(), garden(user_event("no", "deny"), requested_slot="confirm"), DOMAIN
    )
    assert result == {"confirm": False, "attempts": None, "requested_slot": None}


async def test_a_correction_at_the_confirmation_changes_the_bins_and_asks_again(office):
    form = ValidateGardenWasteForm()
    tracker = garden(
        user_event("no, 3 bins", "deny", entities=[{"entity": "number_of_bins", "value": "3"}]),
        requested_slot="confirm",
        number_of_bins="2",
    )
    assert await form.extract_confirm(CollectingDispatcher(), tracker, DOMAIN) == {
        "confirm": None,
        "number_of_bins": "3",
    }


async def test_a_correction_is_seen_after_rasa_has_already_filled_the_slot_from_it(office):
    """Rasa fills slots from entities before the form runs: compare with the value before the message."""
    tracker = garden(
        {"event": "slot", "name": "number_of_bins", "value": "2"},
        user_event("no, 3 bins", "deny", entities=[{"entity": "number_of_bins", "value": "3"}]),
        {"event": "slot", "name": "number_of_bins", "value": "3"},
        requested_slot="confirm",
        number_of_bins="3",
    )
    assert await ValidateGardenWasteForm().extract_confirm(CollectingDispatcher(), tracker, DOMAIN) == {
        "confirm": None,
        "number_of_bins": "3",
    }
    same = garden(
        {"event": "slot", "name": "number_of_bins", "value": "3"},
        user_event("no, 3 bins", "deny", entities=[{"entity": "number_of_bins", "value": "3"}]),
        requested_slot="confirm",
        number_of_bins="3",
    )
    assert await ValidateGardenWasteForm().extract_confirm(CollectingDispatcher(), same, DOMAIN) == {
        "confirm": False
    }


async def test_the_payment_step_gives_one_link_per_attempt(office):
    action = ActionAskGardenWastePayment()
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, garden(**READY), DOMAIN)
    payment = slot_values(events)["renewal_payment"]
    assert payment["attempt"] == 1
    assert texts(dispatcher)[0].startswith(
        "Pay £92 with GOV.UK Pay using this secure link:\nhttps://pay.test/secure/"
    )
    again = await action.run(CollectingDispatcher(), garden(**READY, renewal_payment=payment), DOMAIN)
    assert slot_values(again)["renewal_payment"] == payment and len(office.payments) == 1


async def test_the_payment_step_on_an_opened_page_says_finish_there_not_a_used_link(office):
    events = await ActionAskGardenWastePayment().run(CollectingDispatcher(), garden(**READY), DOMAIN)
    payment = slot_values(events)["renewal_payment"]
    office.pay(payment["payment_id"], "started")
    dispatcher = CollectingDispatcher()
    await ActionAskGardenWastePayment().run(dispatcher, garden(**READY, renewal_payment=payment), DOMAIN)
    assert "Finish paying there" in texts(dispatcher)[0] and "https://" not in texts(dispatcher)[0]


async def test_pay_down_at_the_payment_step_is_honest_and_ends(office):
    office.fail("/v1/payments")
    dispatcher = CollectingDispatcher()
    events = await ActionAskGardenWastePayment().run(dispatcher, garden(**READY), DOMAIN)
    assert "payment system isn't working" in texts(dispatcher)[0]
    assert slot_values(events)["requested_slot"] is None


async def waiting(office, **extra):
    events = await ActionAskGardenWastePayment().run(CollectingDispatcher(), garden(**READY), DOMAIN)
    payment = slot_values(events)["renewal_payment"]
    return payment, garden(
        user_event("done", "nlu_fallback"),
        requested_slot="renewal_paid",
        **READY,
        renewal_payment=payment,
        **extra,
    )


async def test_anything_said_while_waiting_checks_the_payment_but_stop_still_stops(office):
    form = ValidateGardenWasteForm()
    _, tracker = await waiting(office)
    assert await form.extract_renewal_paid(CollectingDispatcher(), tracker, DOMAIN) == {
        "renewal_paid": "check"
    }
    paid_council_tax = garden(user_event("I've paid", "pay_council_tax"), requested_slot="renewal_paid")
    assert await form.extract_renewal_paid(CollectingDispatcher(), paid_council_tax, DOMAIN) == {
        "renewal_paid": "check"
    }
    stop = garden(user_event("stop", "stop"), requested_slot="renewal_paid")
    assert await form.extract_renewal_paid(CollectingDispatcher(), stop, DOMAIN) == {}


async def test_done_before_paying_says_not_yet_and_keeps_waiting(office):
    _, tracker = await waiting(office)
    dispatcher = CollectingDispatcher()
    result = await ValidateGardenWasteForm().validate_renewal_paid("check", dispatcher, tracker, DOMAIN)
    assert result == {"renewal_paid": None} and texts(dispatcher) == ["I can't see your payment yet."]


async def test_a_declined_payment_changes_nothing_and_a_new_link_is_the_next_attempt(office):
    payment, tracker = await waiting(office)
    office.pay(payment["payment_id"], "failed", "P0010")
    dispatcher = CollectingDispatcher()
    result = await ValidateGardenWasteForm().validate_renewal_paid("check", dispatcher, tracker, DOMAIN)
    assert result == {"renewal_paid": None, "renewal_payment": {"attempt": 2}}
    assert texts(dispatcher) == [
        "Your card payment was declined. No money has been taken and your garden waste "
        "collection hasn't changed. You can try again with a new link."
    ]
    assert office.subscriptions == {}
    events = await ActionAskGardenWastePayment().run(
        CollectingDispatcher(), garden(**READY, renewal_payment=result["renewal_payment"]), DOMAIN
    )
    new = slot_values(events)["renewal_payment"]
    assert new["attempt"] == 2 and new["payment_id"] != payment["payment_id"]


async def test_new_link_cancels_the_open_payment_first_so_it_cannot_be_paid_as_well(office):
    payment, tracker = await waiting(office)
    dispatcher = CollectingDispatcher()
    result = await ValidateGardenWasteForm().validate_renewal_paid("new_link", dispatcher, tracker, DOMAIN)
    assert office.payments[payment["payment_id"]]["status"] == "cancelled"
    assert result["renewal_payment"] == {"attempt": 2}


async def test_paid_renews_and_the_journey_ends_with_the_reference(office):
    payment, tracker = await waiting(office)
    office.pay(payment["payment_id"])
    result = await ValidateGardenWasteForm().validate_renewal_paid(
        "check", CollectingDispatcher(), tracker, DOMAIN
    )
    paid = result["renewal_paid"]
    assert paid["reference"].startswith("GW-") and paid["until"] == "2027-12-17"
    dispatcher = CollectingDispatcher()
    events = await ActionRenewGardenWaste().run(dispatcher, garden(**READY, renewal_paid=paid), DOMAIN)
    assert texts(dispatcher)[0].startswith(
        "Thank you, your payment has gone through. "
        "Your garden waste collection at 1 Market Place is renewed until Friday 17 December 2027. "
        f"Your reference is {paid['reference']}. We've emailed you a confirmation."
    )
    values = slot_values(events)
    assert values["outcome"] == {
        "outcome": "completed",
        "intent": "renew_garden_waste",
        "subscription": "renewal",
        "bins": 2,
    }
    assert values["last_request"] == {"reference": paid["reference"]}
    assert values["renewal_key"] is None and values["email"] is None  # nothing personal left behind


async def test_paid_while_the_waste_system_is_down_is_saved_and_says_so(office, memory_outbox):
    payment, tracker = await waiting(office)
    office.pay(payment["payment_id"])
    office.fail("/waste/")
    dispatcher = CollectingDispatcher()
    result = await ValidateGardenWasteForm().validate_renewal_paid("check", dispatcher, tracker, DOMAIN)
    assert "Your payment has gone through" in texts(dispatcher)[0] and result["requested_slot"] is None
    assert result["outcome"]["kept"] is True and memory_outbox.get("renew_garden_waste:gw-abc123")


async def test_pay_down_while_checking_keeps_the_renewal_for_follow_up(office, memory_outbox):
    _, tracker = await waiting(office)
    office.fail("/v1/payments")
    dispatcher = CollectingDispatcher()
    result = await ValidateGardenWasteForm().validate_renewal_paid("check", dispatcher, tracker, DOMAIN)
    assert "I've saved your request" in texts(dispatcher)[0] and result["requested_slot"] is None
    assert memory_outbox.get("renew_garden_waste:gw-abc123").payload["payment_id"]


async def test_no_at_the_confirmation_is_a_cancelled_renewal(office):
    dispatcher = CollectingDispatcher()
    events = await ActionRenewGardenWaste().run(dispatcher, garden(**{**READY, "confirm": False}), DOMAIN)
    assert texts(dispatcher) == ["OK, I haven't renewed anything and you haven't paid anything."]
    assert slot_values(events)["outcome"]["outcome"] == "cancelled"


async def test_a_journey_ended_by_a_validator_is_not_marked_twice(office):
    failed = {
        "event": "slot",
        "name": "outcome",
        "value": {"outcome": "integration_failed", "intent": "renew_garden_waste"},
    }
    start = {"event": "active_loop", "name": "garden_waste_form"}
    dispatcher = CollectingDispatcher()
    events = await ActionRenewGardenWaste().run(
        dispatcher, make_tracker(start, failed, slots={"uprn": "101"}), DOMAIN
    )
    assert texts(dispatcher) == [] and "outcome" not in slot_values(events)


# --- missed bins ---------------------------------------------------------------------------


def missed(*events, **slots):
    return make_tracker(
        *events,
        slots={"requested_slot": None, **slots},
        active_loop="missed_bin_form",
        sender_id="resident-1",
    )


@pytest.mark.parametrize(
    "text, name",
    [
        ("the blue one", "recycling"),
        ("black bin", "general waste"),
        ("glass box", "glass"),
        ("food caddy", "food waste"),
        ("brown bin", "garden waste"),
        ("dunno", None),
    ],
)
def test_bins_in_residents_words(text, name):
    assert bin_type_from_text(text) == name


async def test_an_eligible_bin_goes_on_to_the_confirmation(office):
    dispatcher = CollectingDispatcher()
    result = await ValidateMissedBinForm().validate_bin_type(
        "recycling", dispatcher, missed(uprn="101"), DOMAIN
    )
    assert result["bin_type"] == "recycling" and result["missed_bin"] == {"last": "2026-11-25"}
    assert "requested_slot" not in result and texts(dispatcher) == []
    ask = CollectingDispatcher()
    await ActionAskMissedBinConfirm().run(
        ask, missed(address="2 London Road", bin_type="recycling", missed_bin=result["missed_bin"]), DOMAIN
    )
    assert texts(ask) == [
        "Report a missed recycling collection at 2 London Road? It was due on Wednesday 25 November."
    ]


@pytest.mark.parametrize(
    "check, said",
    [
        (
            {"status": "not_due", "roundStatus": "in_progress", "lastCollectionDate": "2026-11-27"},
            "The crew is still collecting recycling on your street today",
        ),
        (
            {"status": "not_due", "roundStatus": None, "lastCollectionDate": None},
            "Your recycling collection isn't due yet. "
            "Your next recycling collection is Wednesday 9 December.",
        ),
        (
            {"status": "already_reported", "existingReference": "MB-176255"},
            "has already been reported at this address: the reference is MB-176255",
        ),
        ({"status": "not_out"}, "wasn't out when they came on Wednesday 25 November"),
        ({"status": "too_late"}, "need to be reported within 2 working days"),
        (
            {"status": "round_delayed", "catchUpDate": "2026-11-28"},
            "The crew will come back on Saturday 28 November",
        ),
    ],
)
async def test_the_round_is_checked_first_and_why_not_is_said_plainly(office, check, said):
    office.check.update(eligible=False, **check)
    dispatcher = CollectingDispatcher()
    result = await ValidateMissedBinForm().validate_bin_type(
        "recycling", dispatcher, missed(uprn="101"), DOMAIN
    )
    assert said in texts(dispatcher)[0]
    assert result["requested_slot"] is None
    assert result["outcome"] == {
        "outcome": "informed",
        "intent": "report_missed_bin",
        "check": check["status"],
    }


async def test_a_bin_we_cannot_place_is_asked_again(office):
    form = ValidateMissedBinForm()
    tracker = missed(user_event("the big one", "inform"), requested_slot="bin_type", uprn="101")
    extracted = await form.extract_bin_type(CollectingDispatcher(), tracker, DOMAIN)
    dispatcher = CollectingDispatcher()
    result = await form.validate_bin_type(extracted["bin_type"], dispatcher, tracker, DOMAIN)
    assert result["bin_type"] is None and texts(dispatcher) == ["Which bin wasn't emptied?"]


REPORT = {
    "postcode": "SN15 3HZ",
    "address": "2 London Road",
    "uprn": "175",
    "bin_type": "recycling",
    "confirm": True,
    "missed_bin_key": "mb-abc123",
}


async def test_the_report_is_made_once_with_its_reference_and_return_date(office):
    dispatcher = CollectingDispatcher()
    events = await ActionReportMissedBin().run(dispatcher, missed(**REPORT), DOMAIN)
    assert texts(dispatcher) == [
        "I've reported your missed recycling collection. Your reference is MB-100001.\n\n"
        "The crew will come back to empty it by Monday 30 November. Please leave your bin out until then."
    ]
    [report] = office.open311.values()
    assert (
        report["attribute[idempotency_key]"] == "mb-abc123" and report["attribute[bin_type]"] == "recycling"
    )
    assert slot_values(events)["outcome"] == {
        "outcome": "completed",
        "intent": "report_missed_bin",
        "bin_type": "recycling",
    }
    await ActionReportMissedBin().run(CollectingDispatcher(), missed(**REPORT), DOMAIN)  # yes, re-sent
    assert len(office.open311) == 1


async def test_reporting_when_open311_is_down_keeps_it_with_the_same_key(office, memory_outbox):
    office.fail("/open311/")
    dispatcher = CollectingDispatcher()
    events = await ActionReportMissedBin().run(dispatcher, missed(**REPORT), DOMAIN)
    assert "I've saved your request" in texts(dispatcher)[0]
    item = memory_outbox.get("mb-abc123")
    assert item.kind == "report_missed_bin" and item.payload == {"uprn": "175", "bin_type": "recycling"}
    assert slot_values(events)["outcome"]["kept"] is True


async def test_a_report_refused_because_the_round_changed_says_why(office):
    office.fail("/open311/", 400)
    office.check.update(eligible=False, status="already_reported", existingReference="MB-176255")
    dispatcher = CollectingDispatcher()
    await ActionReportMissedBin().run(dispatcher, missed(**REPORT), DOMAIN)
    assert "MB-176255" in texts(dispatcher)[0]


async def test_bin_day_asked_mid_journey_before_the_address_says_it_needs_it(office):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        user_event("when is my bin day", "bin_collection_day"), active_loop="garden_waste_form"
    )
    assert await ActionBinCollectionDay().run(dispatcher, tracker, DOMAIN) == []
    assert texts(dispatcher) == ["I can tell you your collection days once I have your address."]
