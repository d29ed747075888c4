"""Help, clarification, out of scope and stop, on tracker fixtures."""

from __future__ import annotations

from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.general import ActionClarify, ActionHelpMenu, ActionOutOfScope, ActionSignpost, ActionStop
from tests.support.trackers import DOMAIN, buttons, make_tracker, texts, user_event


async def run(action, tracker):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN)
    return dispatcher, events


async def test_help_menu_offers_services_as_buttons_within_whatsapp_limits():
    dispatcher, _ = await run(ActionHelpMenu(), make_tracker(user_event("help", "help")))
    menu = buttons(dispatcher)
    assert 5 <= len(menu) <= 10
    assert {"title": "Talk to a person", "payload": "/request_human"} in menu
    assert all(b["payload"].startswith("/") for b in menu)


async def test_close_top_two_intents_are_offered_back_with_something_else():
    event = user_event(
        "bin thing",
        "nlu_fallback",
        0.5,
        ranking=[
            ("nlu_fallback", 0.5),
            ("report_missed_bin", 0.46),
            ("bin_collection_day", 0.41),
            ("greet", 0.1),
        ],
    )
    dispatcher, _ = await run(ActionClarify(), make_tracker(event))
    assert texts(dispatcher) == ["Sorry, I'm not sure what you need. Did you mean:"]
    assert [b["payload"] for b in buttons(dispatcher)] == [
        "/report_missed_bin",
        "/bin_collection_day",
        "/help",
    ]


async def test_a_plain_miss_asks_to_rephrase_with_examples():
    event = user_event(
        "blorp", "nlu_fallback", 0.5, ranking=[("nlu_fallback", 0.5), ("greet", 0.3), ("help", 0.05)]
    )
    dispatcher, _ = await run(ActionClarify(), make_tracker(event))
    assert "say it another way" in texts(dispatcher)[0]
    assert buttons(dispatcher) == []


async def test_second_miss_in_a_row_offers_the_menu_and_a_person():
    miss = user_event("blorp", "nlu_fallback", 0.5)
    tracker = make_tracker(
        miss, {"event": "action", "name": "action_clarify"}, user_event("flarg", "nlu_fallback", 0.4)
    )
    dispatcher, _ = await run(ActionClarify(), tracker)
    assert "still don't understand" in texts(dispatcher)[0]
    assert "/request_human" in [b["payload"] for b in buttons(dispatcher)]


async def test_a_miss_after_an_understood_message_is_a_first_miss():
    tracker = make_tracker(
        user_event("blorp", "nlu_fallback", 0.5),
        user_event("hi", "greet"),
        user_event("flarg", "nlu_fallback", 0.4, ranking=[("nlu_fallback", 0.4)]),
    )
    dispatcher, _ = await run(ActionClarify(), tracker)
    assert "still" not in texts(dispatcher)[0]


async def test_out_of_scope_council_matter_is_named_and_recorded():
    tracker = make_tracker(user_event("theres a pothole outside my house", "out_of_scope"))
    dispatcher, events = await run(ActionOutOfScope(), tracker)
    assert "potholes" in texts(dispatcher)[0] and "/roads/report" in texts(dispatcher)[0]
    assert events == [SlotSet("unsupported_topic", "potholes")]


async def test_out_of_scope_near_miss_is_not_sent_to_a_council_page():
    tracker = make_tracker(user_event("renew my driving licence", "out_of_scope"))
    dispatcher, events = await run(ActionOutOfScope(), tracker)
    assert "only help with council services" in texts(dispatcher)[0]
    assert events == []


async def test_stop_during_a_journey_ends_the_form_and_clears_its_slots():
    tracker = make_tracker(
        user_event("stop", "stop"),
        slots={"postcode": "SN15 1ER", "bin_type": None},
        active_loop="missed_bin_form",
    )
    dispatcher, events = await run(ActionStop(), tracker)
    assert "stopped" in texts(dispatcher)[0]
    assert ActiveLoop(None) in events and SlotSet("postcode", None) in events
    assert SlotSet("bin_type", None) not in events  # nothing to clear


async def test_signpost_names_the_service_page():
    dispatcher, _ = await run(
        ActionSignpost(), make_tracker(user_event("renew garden waste", "renew_garden_waste"))
    )
    assert "/bins/garden-waste" in texts(dispatcher)[0]
