"""Bin collection day and the shared address steps, on tracker fixtures and mock back-office systems."""

from __future__ import annotations

import httpx
from rasa_sdk.executor import CollectingDispatcher

from actions.common import match_address
from actions.waste import ActionAskAddress, ActionBinCollectionDay, ValidateBinDayForm
from tests.support.trackers import DOMAIN, buttons, make_tracker, texts, user_event

DPA = [
    {"DPA": {"UPRN": str(100 + i), "ADDRESS": f"{i}, MARKET PLACE, CHIPPENHAM, SN15 1ER", "BUILDING_NUMBER": str(i),
             "THOROUGHFARE_NAME": "MARKET PLACE", "POST_TOWN": "CHIPPENHAM", "POSTCODE": "SN15 1ER"}}
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
    assert [o["label"] for o in result["address_options"]] == ["1 Market Place", "2 Market Place", "3 Market Place"]
    ask = CollectingDispatcher()
    await ActionAskAddress().run(ask, make_tracker(slots={"address_options": result["address_options"]}), DOMAIN)
    assert [b["title"] for b in buttons(ask)][-1] == "My address isn't listed"


async def test_postcode_without_addresses_is_refused_then_explained_with_a_person(backoffice):
    backoffice(places)
    form = ValidateBinDayForm()
    first = CollectingDispatcher()
    result = await form.validate_postcode("SN15 9ZZ", first, form_tracker(), DOMAIN)
    assert result["postcode"] is None and "couldn't find any addresses" in texts(first)[0]
    second = CollectingDispatcher()
    again = await form.validate_postcode("SN15 9ZZ", second, form_tracker(attempts=result["attempts"]), DOMAIN)
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
    tracker = form_tracker(user_event("pay my council tax", "pay_council_tax"), requested_slot="address",
                           address_options=[{"uprn": "101", "label": "1 Market Place"}])
    assert await ValidateBinDayForm().extract_address(CollectingDispatcher(), tracker, DOMAIN) == {}


def test_addresses_match_by_label_or_house_number():
    options = [{"uprn": "1", "label": "1 Market Place"}, {"uprn": "12", "label": "12 Market Place"}]
    assert match_address("12", options) == [options[1]]
    assert match_address("1 market place", options) == [options[0]]
    assert match_address("number 1", options) == [options[0]]
    assert match_address("7", options) == []


async def test_collections_are_given_in_plain_dates(backoffice):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[
            {"type": "recycling", "collectionDate": "2026-12-04", "round": "R1", "scheduledDate": "2026-12-04"},
            {"type": "general_waste", "collectionDate": "2026-12-29", "round": "R2", "scheduledDate": "2026-12-28"},
        ])

    backoffice(handler)
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"uprn": "101", "address": "1 Market Place"})
    events = await ActionBinCollectionDay().run(dispatcher, tracker, DOMAIN)
    assert "Friday 4 December: recycling" in texts(dispatcher)[0]
    assert "Tuesday 29 December: general waste (moved because of the bank holiday)" in texts(dispatcher)[0]
    assert events[-1]["value"]["outcome"] == "informed"


async def test_waste_system_down_is_an_honest_integration_failure(backoffice):
    backoffice(lambda request: httpx.Response(503))
    dispatcher = CollectingDispatcher()
    events = await ActionBinCollectionDay().run(dispatcher, make_tracker(slots={"uprn": "101"}), DOMAIN)
    assert "bin collection system isn't working" in texts(dispatcher)[0]
    assert events[-1]["value"] == {"outcome": "integration_failed", "intent": "bin_collection_day",
                                   "system": "waste", "kept": False}
