"""The delivery queue: in order per conversation, retried with backoff, failures kept, opt-outs honoured.

The senders are the real provider clients on ``httpx.MockTransport``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import random
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from integrations.channels.delivery import Delivery
from integrations.channels.senders import TwilioSender, WhatsAppCloudSender
from integrations.channels.settings import ChannelSettings, RetryPolicy
from integrations.channels.store import FAILED, NOTICE, SENT, SUPPRESSED, ChannelStore

NUMBER = "+447700900123"
SETTINGS = ChannelSettings.from_env({"SANDBOX_URL": "https://providers.test"})
NO_WAIT = RetryPolicy(max_attempts=3, backoff_start=0.0, backoff_cap=0.0)


class Provider:
    """A provider API on a MockTransport: answers with ``statuses`` in turn, then 201; records requests."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 201
        if status == 201:
            return httpx.Response(201, json={"sid": f"SM{len(self.requests):032d}"})
        body = {
            "code": 21211,
            "message": f"The 'To' number {NUMBER} is not a valid phone number.",
            "status": status,
        }
        return httpx.Response(status, json=body)

    def bodies(self) -> list[str]:
        return [parse_qs(r.content.decode())["Body"][0] for r in self.requests]


@pytest.fixture
def store(tmp_path: Path) -> ChannelStore:
    return ChannelStore(f"sqlite:///{tmp_path / 'channels.db'}")


async def queue(store: ChannelStore, conversation: str, *texts: str, kind: str = "reply") -> None:
    await store.remember_recipient(conversation, "twilio_sms", NUMBER)
    await store.enqueue(conversation, "twilio_sms", [{"text": t} for t in texts], kind)


def delivery(
    store: ChannelStore, provider: Callable[[httpx.Request], httpx.Response], policy: RetryPolicy = NO_WAIT
) -> Delivery:
    http = httpx.AsyncClient(transport=httpx.MockTransport(provider))
    return Delivery(store, {"twilio_sms": TwilioSender(http, SETTINGS)}, policy, rng=random.Random(1))


async def deliver_all(queue_: Delivery, rounds: int = 10) -> None:
    for _ in range(rounds):
        await queue_.deliver_due()


async def test_replies_go_out_in_order_per_conversation_through_the_messages_api(store):
    provider = Provider()
    await queue(store, "sms-a", "first", "second")
    await queue(store, "sms-b", "other")
    sent = delivery(store, provider)
    assert await sent.deliver_due() == 2  # the first of each conversation
    await deliver_all(sent)
    bodies = provider.bodies()  # conversations go in parallel; each one's replies in order
    assert sorted(bodies) == ["first", "other", "second"] and bodies.index("first") < bodies.index("second")
    request = provider.requests[0]
    assert request.url.path == f"/2010-04-01/Accounts/{SETTINGS.twilio_account_sid}/Messages.json"
    user, password = base64.b64decode(request.headers["Authorization"].split()[1]).decode().split(":")
    assert (user, password) == (SETTINGS.twilio_account_sid, SETTINGS.twilio_auth_token)
    assert parse_qs(request.content.decode())["To"] == [NUMBER]
    items = await store.items()
    assert {i.status for i in items} == {SENT}
    assert all(i.payload == {} for i in items)  # the text is not kept once sent


async def test_a_provider_outage_is_retried_with_backoff_until_it_goes(store):
    provider = Provider(503, 503)
    await queue(store, "sms-a", "hello")
    await deliver_all(delivery(store, provider))
    [item] = await store.items()
    assert (item.status, item.attempts) == (SENT, 3)
    assert provider.bodies() == ["hello"] * 3


async def test_a_message_waiting_for_a_retry_holds_back_only_its_own_conversation(store):
    provider = Provider(503)
    await queue(store, "sms-a", "a1", "a2")
    sent = delivery(store, provider, RetryPolicy(backoff_start=60.0, backoff_cap=60.0))
    await sent.deliver_due()  # a1 fails: due again in a minute
    await queue(store, "sms-b", "b1")
    await deliver_all(sent)
    assert provider.bodies() == ["a1", "b1"]
    a1, a2, b1 = await store.items()
    assert (a1.status, a1.attempts, a2.status, a2.attempts, b1.status) == ("pending", 1, "pending", 0, SENT)


async def test_a_refused_message_is_failed_at_once_and_kept_for_follow_up_without_logging_the_number(
    store, caplog
):
    caplog.set_level(logging.INFO, "integrations.channels")
    provider = Provider(400)
    await queue(store, "sms-a", "Your balance is £120")
    await deliver_all(delivery(store, provider))
    [failure] = await store.failures()
    assert (failure.status, failure.attempts, failure.payload) == (
        FAILED,
        1,
        {"text": "Your balance is £120"},
    )
    assert failure.last_error == "Rejected (400)"
    assert "failed after 1 attempt" in caplog.text and "sms-a" in caplog.text
    assert "7700900123" not in caplog.text and "£120" not in caplog.text


async def test_retries_end_in_a_failure_kept_for_follow_up(store):
    provider = Provider(503, 503, 503, 503)
    await queue(store, "sms-a", "hello")
    await deliver_all(delivery(store, provider))
    [failure] = await store.failures()
    assert (failure.attempts, failure.last_error) == (3, "Unavailable (503)")
    assert len(provider.requests) == 3


async def test_nothing_is_sent_after_stop_except_the_stop_confirmation(store):
    provider = Provider()
    await store.set_opted_out("sms-a", True)
    await queue(store, "sms-a", "You've opted out.", kind=NOTICE)
    await queue(store, "sms-a", "a reply after STOP")
    await deliver_all(delivery(store, provider))
    assert provider.bodies() == ["You've opted out."]
    statuses = [i.status for i in await store.items()]
    assert statuses == [SENT, SUPPRESSED]


async def test_a_reply_with_no_number_kept_is_failed_not_lost(store):
    await store.enqueue("sms-unknown", "twilio_sms", [{"text": "hello"}])
    await deliver_all(delivery(store, Provider()))
    [failure] = await store.failures()
    assert failure.last_error == "no number kept"


async def test_two_servers_sharing_the_store_send_each_message_once(store):
    provider = Provider()
    for n in range(10):
        await queue(store, f"sms-{n}", f"to {n}", f"again to {n}")
    first, second = delivery(store, provider), delivery(store, provider)
    for _ in range(4):
        await asyncio.gather(first.deliver_due(), second.deliver_due())
    assert sorted(provider.bodies()) == sorted(
        [f"to {n}" for n in range(10)] + [f"again to {n}" for n in range(10)]
    )
    assert {i.status for i in await store.items()} == {SENT}


async def test_a_message_left_mid_send_by_a_stopped_server_is_sent_again(store):
    await queue(store, "sms-a", "hello")
    [item] = await store.due()
    assert await store.claim(item) and not await store.claim(item)
    assert await store.due() == []  # taken: nobody else sends it, nor what follows it
    await asyncio.sleep(0.01)
    assert await store.release_stale(0) == 1
    provider = Provider()
    await deliver_all(delivery(store, provider))
    assert provider.bodies() == ["hello"]


async def test_the_whatsapp_cloud_sender_posts_text_and_interactive_messages():
    seen: list[httpx.Request] = []

    def graph(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": [{"id": "wamid.1"}]})

    sender = WhatsAppCloudSender(httpx.AsyncClient(transport=httpx.MockTransport(graph)), SETTINGS)
    assert await sender.send("447700900123", {"text": "hello"}) == "wamid.1"
    interactive = {"type": "button", "body": {"text": "Yes?"}, "action": {"buttons": []}}
    await sender.send("447700900123", {"interactive": interactive})
    first, second = (json.loads(r.content) for r in seen)
    assert seen[0].url.path == f"/{SETTINGS.meta_graph_version}/{SETTINGS.meta_phone_number_id}/messages"
    assert seen[0].headers["Authorization"] == f"Bearer {SETTINGS.meta_access_token}"
    assert first == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "447700900123",
        "type": "text",
        "text": {"body": "hello", "preview_url": False},
    }
    assert second["type"] == "interactive" and second["interactive"] == interactive


async def test_numbers_offers_and_seen_ids_are_deleted_after_their_keeping_time(store):
    await queue(store, "sms-a", "hello")
    await store.offer("sms-a", [])
    assert await store.first_sighting("twilio_sms", "SM1")
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(days=31)
    await store.purge(30, now=later)
    assert await store.recipient("sms-a") is None
    assert await store.first_sighting("twilio_sms", "SM1")  # forgotten, so new again
    assert [i.status for i in await store.items()] == ["pending"]  # unsent replies stay
