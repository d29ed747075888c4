"""The GOV.UK Pay webhook channel: signature first, Pay's state (not the event's), told once."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from types import SimpleNamespace
from typing import Any

import pytest
from rasa.core.channels.channel import InputChannel

from actions.payments import Completion, Status
from integrations.channels import govuk_pay
from integrations.channels.govuk_pay import GovukPayInput
from integrations.errors import Unavailable

SECRET = "webhook-signing-secret"


def message(
    payment_id: str = "pay1",
    event_type: str = "card_payment_succeeded",
    status: str = "success",
    resource_type: str = "payment",
) -> bytes:
    return json.dumps(
        {
            "webhook_message_id": f"msg-{event_type}",
            "created_date": "2026-11-27T10:00:00.000Z",
            "resource_id": payment_id,
            "api_version": 1,
            "resource_type": resource_type,
            "event_type": event_type,
            "resource": {
                "payment_id": payment_id,
                "amount": 9200,
                "reference": "gw-abc123",
                "description": "Garden waste",
                "state": {"status": status, "finished": True},
                "metadata": {"service": "garden_waste"},
            },
        }
    ).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Conversation:
    """A tracker as the channel reads it; the form ends when the external intent is handled."""

    def __init__(
        self, channel: str = "twilio_sms", payment_id: str = "pay1", loop: str | None = "garden_waste_form"
    ):
        self.active_loop_name = loop
        self.channel = channel
        self.slots: dict[str, Any] = {
            "requested_slot": "renewal_paid",
            "renewal_payment": {"payment_id": payment_id},
        }

    def get_slot(self, name: str) -> Any:
        return self.slots.get(name)

    def get_latest_input_channel(self) -> str:
        return self.channel


@contextlib.asynccontextmanager
async def unlocked(_conversation_id: str) -> Any:
    yield


class Agent:
    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.triggered: list[tuple[str, Any]] = []
        self.lock_store = SimpleNamespace(lock=unlocked)
        self.processor = SimpleNamespace(fetch_tracker_and_update_session=self.fetch)

    async def fetch(self, conversation_id: str) -> Conversation:
        assert conversation_id == "resident-1"
        return self.conversation

    async def trigger_intent(self, intent: str, entities: list, output: Any, tracker: Conversation) -> None:
        self.triggered.append((intent, output))
        tracker.active_loop_name = None  # the journey finishes


class Pushing(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "twilio_sms"

    def get_output_channel(self) -> Any:
        return "sms-output"


class Rest(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"


@pytest.fixture
def completions(monkeypatch):
    """Replace complete_payment; record what it was asked, answer with ``result``."""
    state: dict[str, Any] = {"calls": [], "result": Completion(Status.RENEWED, "pay1", "resident-1")}

    async def fake(payment_id: str) -> Completion:
        state["calls"].append(payment_id)
        if isinstance(state["result"], Exception):
            raise state["result"]
        return state["result"]

    monkeypatch.setattr(govuk_pay, "complete_payment", fake)
    return state


async def _ignore(_: Any) -> None:
    return None


async def send(
    channel: GovukPayInput,
    body: bytes,
    signature: str | None,
    conversation: Conversation | None = None,
    channels: list[InputChannel] | None = None,
) -> tuple[Any, Agent | None]:
    """POST to the channel's webhook route as Sanic would call it; the answer and the agent."""
    handler = next(r.handler for r in channel.blueprint(_ignore)._future_routes if r.uri == "/webhook")
    agent = Agent(conversation) if conversation else None
    app = SimpleNamespace(ctx=SimpleNamespace(agent=agent, input_channels=channels or [Pushing(), Rest()]))
    headers = {"Pay-Signature": signature} if signature is not None else {}
    answer = await handler(SimpleNamespace(body=body, headers=headers, app=app))
    return answer, agent


async def test_an_unsigned_or_wrongly_signed_webhook_is_refused_and_nothing_is_done(completions):
    channel = GovukPayInput(secret=SECRET)
    body = message()
    for signature in (None, "", sign(body, "another-secret"), sign(body + b" ")):
        answer, _ = await send(channel, body, signature)
        assert answer.status == 401
    assert completions["calls"] == []


async def test_a_signed_body_that_is_not_a_pay_message_is_a_bad_request(completions):
    body = b"not json"
    answer, _ = await send(GovukPayInput(secret=SECRET), body, sign(body))
    assert answer.status == 400 and completions["calls"] == []


async def test_a_signed_success_finishes_the_renewal_of_that_payment(completions):
    body = message("pay1")
    answer, _ = await send(GovukPayInput(secret=SECRET), body, sign(body))
    assert answer.status == 200 and json.loads(answer.body) == {"status": "renewed"}
    assert completions["calls"] == ["pay1"]


async def test_the_payments_state_is_read_from_pay_not_from_the_event(completions):
    # A late "failed" event for a payment Pay now says succeeded: finished as a success, not undone.
    body = message("pay1", "card_payment_failed", "failed")
    answer, _ = await send(GovukPayInput(secret=SECRET), body, sign(body))
    assert json.loads(answer.body) == {"status": "renewed"} and completions["calls"] == ["pay1"]


async def test_pay_down_is_answered_503_so_pay_sends_it_again(completions):
    completions["result"] = Unavailable("down", system="gov_uk_pay")
    body = message()
    answer, _ = await send(GovukPayInput(secret=SECRET), body, sign(body))
    assert answer.status == 503


async def test_other_resources_are_ignored(completions):
    body = message(resource_type="refund")
    answer, _ = await send(GovukPayInput(secret=SECRET), body, sign(body))
    assert json.loads(answer.body) == {"status": "ignored"} and completions["calls"] == []


async def test_a_conversation_that_can_hear_is_told_once_however_often_pay_sends_it(completions):
    channel = GovukPayInput(secret=SECRET)
    conversation = Conversation("twilio_sms")
    body = message()
    _, agent = await send(channel, body, sign(body), conversation)
    assert agent.triggered == [("EXTERNAL_payment_update", "sms-output")]
    again, second = await send(channel, body, sign(body), conversation)  # duplicate delivery
    assert again.status == 200 and second.triggered == [] and completions["calls"] == ["pay1", "pay1"]


async def test_a_website_or_rest_conversation_is_not_triggered_and_keeps_waiting(completions):
    conversation = Conversation("rest")
    body = message()
    _, agent = await send(GovukPayInput(secret=SECRET), body, sign(body), conversation)
    assert agent.triggered == [] and conversation.active_loop_name == "garden_waste_form"


@pytest.mark.parametrize(
    "conversation", [Conversation(payment_id="an-earlier-attempt"), Conversation(loop=None)]
)
async def test_a_conversation_not_waiting_for_this_payment_is_not_disturbed(completions, conversation):
    body = message()
    _, agent = await send(GovukPayInput(secret=SECRET), body, sign(body), conversation)
    assert agent.triggered == []


async def test_a_declined_payment_is_news_too(completions):
    completions["result"] = Completion(Status.FAILED, "pay1", "resident-1", failure_code="P0010")
    body = message(event_type="card_payment_failed", status="failed")
    _, agent = await send(GovukPayInput(secret=SECRET), body, sign(body), Conversation())
    assert [intent for intent, _ in agent.triggered] == ["EXTERNAL_payment_update"]


async def test_another_services_payment_is_not_told_to_anyone(completions):
    completions["result"] = Completion(Status.NOT_OURS, "pay1")
    body = message()
    answer, agent = await send(GovukPayInput(secret=SECRET), body, sign(body), Conversation())
    assert json.loads(answer.body) == {"status": "not_ours"} and agent.triggered == []
