"""A way to a person on tracker fixtures: handover in office hours, call-back out of hours, hand-back."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import contact
from actions.clients import Clients, use_clients
from integrations.settings import Settings
from tests.support.trackers import DOMAIN, buttons, make_tracker, texts, user_event

MONDAY_10AM, SATURDAY_10AM, CHRISTMAS_10AM = (
    "2026-11-30T10:00:00",
    "2026-11-28T10:00:00",
    "2026-12-25T10:00:00",
)
SENDER = "web-3f9a7c2e1b"


def handover_body(status: str = "waiting", messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "reference": "HO-123456",
        "status": status,
        "conversation_id": SENDER,
        "channel": "webchat",
        "service": "council_tax",
        "intent": "pay_council_tax",
        "created_at": "2026-11-30T10:00:00+00:00",
        "updated_at": "2026-11-30T10:00:00+00:00",
        "position": 2 if status == "waiting" else None,
        "estimated_wait_minutes": 4 if status == "waiting" else None,
        "messages": messages or [],
    }


class FakeCentre:
    def __init__(self, **routes: Any) -> None:
        self.routes, self.calls = routes, []

    def sent(self, path_end: str) -> list[dict[str, Any]]:
        return [json.loads(r.content or b"{}") for r in self.calls if r.url.path.endswith(path_end)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        for suffix, answer in self.routes.items():
            if request.url.path.endswith(suffix.replace("__", "/")):
                return answer(request) if callable(answer) else answer
        if request.url.path.endswith("/v2/notifications/sms"):
            return httpx.Response(
                201,
                json={
                    "id": "5b2f6c3e-0000-4000-8000-000000000002",
                    "reference": None,
                    "content": {"body": "x"},
                    "template": {"id": "t", "version": 1},
                },
            )
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no"}})


@pytest.fixture
def centre(backoffice):
    def install(**routes: Any) -> FakeCentre:
        fake = FakeCentre(**routes)
        backoffice(fake)
        return fake

    return install


@pytest.fixture
def at(monkeypatch):
    """Pin the assistant's clock (Europe/London)."""
    return lambda when: monkeypatch.setenv("COUNCIL_ASSISTANT_NOW", when)


def conversation(*, active_loop: str | None = None, slots: dict[str, Any] | None = None):
    events = [
        {"event": "session_started", "timestamp": 1.0},
        user_event("whats my council tax balance", "council_tax_balance"),
        {"event": "bot", "text": "What is your council tax account reference?", "timestamp": 3.0},
        user_event("my card is 4111 1111 1111 1111", "inform"),
        {"event": "slot", "name": "requested_slot", "value": "library_pin", "timestamp": 5.0},
        {"event": "bot", "text": "What is your PIN?", "timestamp": 5.1},
        user_event("4321", "inform"),
        {"event": "slot", "name": "requested_slot", "value": None},
        {
            "event": "bot",
            "text": "Pay securely: https://pay.test/secure/abc123 or see https://www.council.example/pay",
            "timestamp": 7.0,
        },
        user_event("sort code 12-34-56 account 12345678", "inform"),
        user_event("talk to a person", "request_human"),
    ]
    for i, event in enumerate(events):
        event.setdefault("timestamp", 2.0 + i)
    tracker = make_tracker(
        *events,
        slots={
            "requested_slot": "account_reference",
            "ct_verification": {"t": 1},
            "ct_payment": {"payment_id": "p1"},
            **(slots or {}),
        },
        active_loop=active_loop,
        sender_id=SENDER,
    )
    return tracker


# --- in and out of office hours -----------------------------------------------------------


async def test_out_of_hours_no_handover_is_tried_and_a_call_back_is_offered(centre, at):
    at(SATURDAY_10AM)
    fake = centre()
    dispatcher = CollectingDispatcher()
    events = await contact.ActionRequestHuman().run(
        dispatcher, conversation(active_loop="council_tax_balance_form"), DOMAIN
    )
    assert fake.calls == []
    assert texts(dispatcher) == [
        "Our contact centre is closed now. It's open Monday to Friday, 8:30am to 5pm, and opens again "
        "Monday 30 November at 8:30am. I can ask the team to call you back."
    ]
    assert {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in events
    ]
    names = {e.get("name"): e.get("value") for e in events if e.get("event") == "slot"}
    assert names["contact_route"] == "callback" and names["ct_verification"] is None
    assert "ct_payment" not in names  # a payment under way is still finished later


async def test_bank_holidays_are_closed(centre, at):
    at(CHRISTMAS_10AM)
    fake = centre()
    dispatcher = CollectingDispatcher()
    await contact.ActionRequestHuman().run(dispatcher, conversation(), DOMAIN)
    # Christmas Day is a Friday in 2026, so Boxing Day's bank holiday moves to Monday 28 December.
    assert fake.calls == [] and "opens again Tuesday 29 December at 8:30am" in texts(dispatcher)[0]


async def test_office_hours_come_from_configuration(at):
    at(SATURDAY_10AM)
    settings = Settings.from_env(
        {"SANDBOX_URL": "http://backoffice.test", "CONTACT_CENTRE_HOURS": "Mon-Sat 09:00-13:00"}
    )
    use_clients(
        Clients(
            settings=settings,
            http=httpx.AsyncClient(
                transport=httpx.MockTransport(lambda request: httpx.Response(201, json=handover_body()))
            ),
        )
    )
    try:
        dispatcher = CollectingDispatcher()
        events = await contact.ActionRequestHuman().run(dispatcher, conversation(), DOMAIN)
    finally:
        use_clients(None)
    assert "HO-123456" in texts(dispatcher)[0]
    assert events[-1] == {"event": "pause", "timestamp": events[-1].get("timestamp")}


async def test_in_office_hours_the_conversation_is_handed_over_with_a_safe_transcript(centre, at):
    at(MONDAY_10AM)
    fake = centre(handovers=httpx.Response(201, json=handover_body()))
    dispatcher = CollectingDispatcher()
    events = await contact.ActionRequestHuman().run(
        dispatcher, conversation(active_loop="council_tax_balance_form"), DOMAIN
    )
    sent = fake.sent("/handovers")[0]
    lines = [(line["from"], line["text"]) for line in sent["transcript"]]
    assert lines == [
        ("resident", "whats my council tax balance"),
        ("assistant", "What is your council tax account reference?"),
        ("resident", "my card is [card number removed]"),
        ("assistant", "What is your PIN?"),
        ("resident", "[PIN removed]"),
        ("assistant", "Pay securely: [secure link removed] or see https://www.council.example/pay"),
        ("resident", "[bank details removed]"),
        ("resident", "talk to a person"),
    ]
    assert (
        "4321" not in json.dumps(sent) and "4111" not in json.dumps(sent) and "abc123" not in json.dumps(sent)
    )
    assert sent["service"] == "council_tax" and sent["intent"] == "council_tax_balance"
    assert sent["summary"].startswith(
        'Check your council tax balance. The resident asked: "whats my council tax'
    )
    assert "account reference" in sent["summary"]
    assert sent["conversation_id"] == SENDER and sent["channel"] == "webchat"
    assert texts(dispatcher)[0].startswith("I've passed you to our contact centre team")
    assert "HO-123456" in texts(dispatcher)[0] and "about 4 minutes" in texts(dispatcher)[0]
    assert "number 2 in the queue" in texts(dispatcher)[0]
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    assert slots["handover"] == {"reference": "HO-123456", "last_message_id": 0}
    assert slots["outcome"] == {
        "outcome": "handed_over",
        "intent": "request_human",
        "route": "handover",
        "service": "council_tax",
    }
    assert events[-1]["event"] == "pause" and {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in events
    ]


async def test_when_the_centre_says_it_is_closed_a_call_back_is_offered(centre, at):
    at(MONDAY_10AM)
    centre(
        handovers=httpx.Response(
            409,
            json={
                "error": {"code": "closed", "message": "closed", "next_opening": "2026-12-01T08:30:00+00:00"}
            },
        )
    )
    dispatcher = CollectingDispatcher()
    events = await contact.ActionRequestHuman().run(dispatcher, conversation(), DOMAIN)
    assert "opens again Tuesday 1 December at 8:30am" in texts(dispatcher)[0]
    assert {"event": "slot", "name": "contact_route", "value": "callback"} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]


async def test_the_contact_centre_down_is_said_honestly_and_a_call_back_offered(centre, at):
    at(MONDAY_10AM)
    centre(handovers=httpx.Response(503))
    dispatcher = CollectingDispatcher()
    events = await contact.ActionRequestHuman().run(dispatcher, conversation(), DOMAIN)
    assert "contact centre system isn't working" in texts(dispatcher)[0]
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    assert slots["contact_route"] == "callback" and slots["outcome"]["outcome"] == "integration_failed"
    assert not any(e.get("event") == "pause" for e in events)


def test_a_sender_id_that_could_identify_someone_is_not_sent():
    tracker = make_tracker(sender_id="+447700900123")
    assert contact.conversation_id(tracker).startswith("conv-") and "7700" not in contact.conversation_id(
        tracker
    )


# --- while handed over ------------------------------------------------------------------------


async def test_agent_messages_are_relayed_once_each(centre):
    fake = centre(
        **{
            "handovers__HO-123456": httpx.Response(
                200,
                json=handover_body(
                    "with_agent",
                    [
                        {
                            "id": 7,
                            "agent_name": "Priya",
                            "text": "Hello, I can see your account.",
                            "time": None,
                        }
                    ],
                ),
            )
        }
    )
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"handover": {"reference": "HO-123456", "last_message_id": 6}})
    events = await contact.ActionHandoverUpdate().run(dispatcher, tracker, DOMAIN)
    assert texts(dispatcher) == ["Priya: Hello, I can see your account."]
    assert fake.calls[0].url.params["after"] == "6"
    assert events == [
        {
            "event": "slot",
            "timestamp": None,
            "name": "handover",
            "value": {"reference": "HO-123456", "last_message_id": 7},
        }
    ]


async def test_a_closed_handover_hands_the_conversation_back(centre):
    centre(**{"handovers__HO-123456": httpx.Response(200, json=handover_body("closed"))})
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        slots={"handover": {"reference": "HO-123456", "last_message_id": 7}, "contact_route": "handover"}
    )
    events = await contact.ActionHandoverUpdate().run(dispatcher, tracker, DOMAIN)
    assert "digital assistant again" in texts(dispatcher)[0]
    assert [e["event"] for e in events][-2:] == ["resume", "action"]  # resumed, then listening for a new turn
    assert events[-1]["name"] == "action_listen"
    assert {"event": "slot", "name": "handover", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]


async def test_a_failed_update_loses_nothing(centre):
    centre(**{"handovers__HO-123456": httpx.Response(503)})
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"handover": {"reference": "HO-123456", "last_message_id": 7}})
    assert await contact.ActionHandoverUpdate().run(dispatcher, tracker, DOMAIN) == []
    assert texts(dispatcher) == []


# --- call-backs ---------------------------------------------------------------------------------

CALLBACK_DOMAIN = {
    "forms": {
        "callback_form": {"required_slots": ["phone_number", "callback_time", "callback_reason", "confirm"]}
    },
    "slots": {},
}


def callback_turn(
    text: str,
    intent: str = "inform",
    entities: dict[str, str] | None = None,
    *,
    asked: str | None,
    slots: dict[str, Any] | None = None,
    starting: bool = False,
):
    ents = [{"entity": k, "value": v} for k, v in (entities or {}).items()]
    events = [
        user_event(text, intent, entities=ents),
        {"event": "action", "name": "callback_form"},
        *({"event": "slot", "name": k, "value": v} for k, v in (entities or {}).items()),
    ]
    return make_tracker(
        *events,
        slots={"requested_slot": asked, **(slots or {}), **(entities or {})},
        active_loop=None if starting else "callback_form",
    )


async def run_form(tracker) -> tuple[dict[str, Any], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await contact.ValidateCallbackForm().run(dispatcher, tracker, CALLBACK_DOMAIN)
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}, dispatcher


async def test_a_call_back_asked_for_with_the_number_and_time_in_one_message(at):
    at(SATURDAY_10AM)
    slots, _ = await run_form(
        callback_turn(
            "call me back tomorrow morning on 07700 900123",
            "request_human",
            {"phone_number": "07700900123", "time": "morning"},
            asked=None,
            starting=True,
        )
    )
    assert slots["phone_number"] == "07700900123" and slots["callback_time"] == "morning"
    assert slots["callback_key"].startswith("callback-")


async def test_not_a_phone_number_is_explained(at):
    slots, dispatcher = await run_form(callback_turn("dunno", asked="phone_number"))
    assert slots["phone_number"] is None and texts(dispatcher) == [
        "That doesn't look like a UK phone number."
    ]


async def test_evening_is_not_offered_because_the_team_is_not_there(at):
    slots, dispatcher = await run_form(
        callback_turn("evening please", asked="callback_time", slots={"phone_number": "07700900123"})
    )
    assert slots["callback_time"] is None
    assert texts(dispatcher) == [
        "Sorry, the team can only call Monday to Friday, 8:30am to 5pm, not in the evening."
    ]


async def test_any_time_and_a_reason_lead_to_the_read_back():
    slots, _ = await run_form(
        callback_turn("Any time", asked="callback_time", slots={"phone_number": "07700900123"})
    )
    assert (
        slots["callback_time"] == "any"
        and slots.get("requested_slot", "callback_reason") == "callback_reason"
    )
    slots, _ = await run_form(
        callback_turn(
            "my council tax bill is wrong",
            "council_tax_balance",
            asked="callback_reason",
            slots={"phone_number": "07700900123", "callback_time": "any"},
        )
    )
    assert slots["callback_reason"] == "my council tax bill is wrong"
    dispatcher = CollectingDispatcher()
    await contact.ActionAskCallbackConfirm().run(
        dispatcher,
        make_tracker(
            slots={
                "phone_number": "07700900123",
                "callback_time": "any",
                "callback_reason": "my council tax bill is wrong",
            }
        ),
        DOMAIN,
    )
    assert texts(dispatcher) == [
        "We'll call you on 07700900123 at any time about: my council tax bill is wrong. Is that right?"
    ]
    assert [b["title"] for b in buttons(dispatcher)] == ["Yes", "No"]


CALLBACK = {
    "reference": "CB-305718",
    "status": "requested",
    "phone_number": "07700900123",
    "best_time": "morning",
    "date": "2026-11-30",
    "window_start": "2026-11-30T08:30:00+00:00",
    "window_end": "2026-11-30T12:00:00+00:00",
    "reason": "council tax bill",
    "conversation_id": SENDER,
    "created_at": "2026-11-28T10:00:00+00:00",
}
ASKED = {
    "phone_number": "07700900123",
    "callback_time": "morning",
    "callback_reason": "council tax bill",
    "confirm": True,
    "callback_key": "callback-abc",
    "contact_route": "callback",
}


async def test_a_confirmed_call_back_gets_a_reference_and_when_we_will_call(centre, at):
    at(SATURDAY_10AM)
    fake = centre(callbacks=httpx.Response(201, json=CALLBACK))
    dispatcher = CollectingDispatcher()
    events = await contact.ActionRequestCallback().run(
        dispatcher, make_tracker(slots=ASKED, sender_id=SENDER), DOMAIN
    )
    assert fake.sent("/callbacks") == [
        {
            "phone_number": "07700900123",
            "best_time": "morning",
            "reason": "council tax bill",
            "conversation_id": SENDER,
        }
    ]
    assert fake.calls[0].headers["Idempotency-Key"] == "callback-abc"
    assert texts(dispatcher)[0].startswith(
        "Thank you. We'll call you on 07700900123 on Monday 30 November between 8:30am and midday. "
        "Your reference is CB-305718."
    )
    sms = fake.sent("/v2/notifications/sms")[0]
    assert sms["personalisation"]["reference"] == "CB-305718"
    assert events[-1]["value"] == {"outcome": "handed_over", "intent": "request_human", "route": "callback"}
    assert {"event": "slot", "name": "phone_number", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]


async def test_a_call_back_not_taken_because_the_system_is_down_is_kept(centre, at, memory_outbox):
    at(SATURDAY_10AM)
    centre(callbacks=httpx.Response(503))
    dispatcher = CollectingDispatcher()
    events = await contact.ActionRequestCallback().run(dispatcher, make_tracker(slots=ASKED), DOMAIN)
    assert "I've saved your request" in texts(dispatcher)[0]
    kept = memory_outbox.get("callback-abc")
    assert kept is not None and kept.kind == "request_callback"
    assert kept.payload == {
        "phone_number": "07700900123",
        "best_time": "morning",
        "reason": "council tax bill",
    }
    assert events[-1]["value"]["outcome"] == "integration_failed"


async def test_no_at_the_read_back_asks_for_nothing(centre):
    fake = centre()
    dispatcher = CollectingDispatcher()
    events = await contact.ActionRequestCallback().run(
        dispatcher, make_tracker(slots={**ASKED, "confirm": False}), DOMAIN
    )
    assert fake.calls == [] and "haven't asked for a call-back" in texts(dispatcher)[0]
    assert events[-1]["value"]["outcome"] == "cancelled"
