"""The conversation lock holds across replicas: proved on a real Redis and on two real Rasa replicas."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
import redis
from rasa.core.lock_store import LockError

from bot.lock_store import AtomicRedisLockStore
from integrations.channels.guard import UNAVAILABLE_TEXT
from tests.production.stack import ProductionStack
from tests.support import services

pytestmark = pytest.mark.production

TURNS_PER_REPLICA = 40


@pytest.fixture
def own_redis() -> Iterator[services.PrivateRedis]:
    server = services.PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_replicas(make_store, redis_url: str, conversation: str) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """Two "replicas" (threads, each its own event loop and Redis connections) take turns on one
    conversation; inside the lock each turn does a read-modify-write of a counter with a pause in
    the middle, as Rasa does with the tracker. Returns (final counter, most turns inside at once,
    turns refused with a ``LockError``)."""
    counter_key = f"counter:{uuid.uuid4().hex}"
    inside = 0
    most_inside = 0
    refused = 0
    accounting = threading.Lock()
    start = threading.Barrier(2)

    def replica() -> None:
        store = make_store()
        client = redis.Redis.from_url(redis_url)

        async def turn() -> None:
            try:
                await locked_turn()
            except LockError:
                nonlocal refused
                with accounting:
                    refused += 1

        async def locked_turn() -> None:
            nonlocal inside, most_inside
            async with store.lock(conversation):
                with accounting:
                    inside += 1
                    most_inside = max(most_inside, inside)
                value = int(client.get(counter_key) or 0)
                await asyncio.sleep(0.002)
                client.set(counter_key, value + 1)
                with accounting:
                    inside -= 1

        async def all_turns() -> None:
            start.wait()
            await asyncio.gather(*(turn() for _ in range(TURNS_PER_REPLICA)))

        asyncio.run(all_turns())

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(replica) for _ in range(2)]:
            future.result(timeout=120)
    final = int(redis.Redis.from_url(redis_url).get(counter_key) or 0)
    return final, most_inside, refused


def test_two_replicas_never_hold_one_conversation_lock_at_once(own_redis: services.PrivateRedis) -> None:
    prefix = "t" + uuid.uuid4().hex[:6]
    final, most_inside, refused = run_replicas(
        lambda: AtomicRedisLockStore(url=own_redis.url, key_prefix=prefix), own_redis.url, "conversation-1"
    )
    assert (most_inside, refused) == (1, 0)
    assert final == 2 * TURNS_PER_REPLICA  # no update lost


def test_turns_are_served_in_the_order_their_tickets_were_issued(own_redis: services.PrivateRedis) -> None:
    stores = [
        AtomicRedisLockStore(url=own_redis.url, key_prefix="order" + uuid.uuid4().hex[:6]) for _ in range(2)
    ]
    stores[1].prefix, stores[1].channel = stores[0].prefix, stores[0].channel
    served: list[int] = []

    async def turn(i: int) -> None:
        async with stores[i % 2].lock("conversation-3") as held:
            served.append(held.tickets[0].number)
            await asyncio.sleep(0.001)

    async def main() -> None:
        await asyncio.gather(*(turn(i) for i in range(30)))

    asyncio.run(main())
    assert served == sorted(served) and len(set(served)) == 30


def test_a_lock_held_by_a_dead_replica_frees_itself_after_its_lifetime(
    own_redis: services.PrivateRedis,
) -> None:
    prefix = "dead" + uuid.uuid4().hex[:6]
    dead, alive = (AtomicRedisLockStore(url=own_redis.url, key_prefix=prefix, max_wait=20) for _ in range(2))

    async def main() -> bool:
        holder = dead.lock("conversation-4", lock_lifetime=1)
        await holder.__aenter__()  # the replica dies holding it: never released
        async with alive.lock("conversation-4"):
            return True

    assert asyncio.run(main())


def test_redis_down_fails_fast_with_a_lock_error(own_redis: services.PrivateRedis) -> None:
    store = AtomicRedisLockStore(url=own_redis.url, key_prefix="down")
    own_redis.stop()

    async def main() -> None:
        async with store.lock("conversation-5"):
            pass

    with pytest.raises(LockError):
        asyncio.run(main())


def test_an_unreachable_lock_store_refuses_to_be_created() -> None:
    with pytest.raises(LockError, match="can't be reached"):
        AtomicRedisLockStore(url=f"redis://127.0.0.1:{services.free_port()}/0")


# --- two real Rasa replicas -----------------------------------------------------------


def burst(stack: ProductionStack, sender: str, texts: list[str]) -> list[httpx.Response]:
    """Send ``texts`` at once, alternating between the two replicas (no load balancer in between)."""
    with concurrent.futures.ThreadPoolExecutor(len(texts)) as pool:
        futures = [
            pool.submit(stack.say, sender, text, url=stack.replica_url(1 + i % 2))
            for i, text in enumerate(texts)
        ]
        return [f.result() for f in futures]


def refused(response: httpx.Response) -> bool:
    """The guard's honest refusal: the message waited longer than the lock store's ``max_wait``
    (a busy machine) and was not processed; the resident is told to try again."""
    return any(UNAVAILABLE_TEXT in (r.get("text") or "") for r in response.json())


def test_two_replicas_receiving_one_conversation_at_once_keep_every_event_in_order(
    production: ProductionStack,
) -> None:
    senders = [f"lock-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    texts = ["hello", "when is my bin day", "what can you do", "thanks", "hi there", "help"]
    sent = [f"{t} ({i})" for i, t in enumerate(texts)]
    processed: dict[str, list[str]] = {}
    for sender in senders:
        responses = burst(production, sender, sent)
        assert [r.status_code for r in responses] == [200] * len(sent)
        processed[sender] = [text for text, r in zip(sent, responses, strict=True) if not refused(r)]
    # Under load a message may wait past max_wait and be refused with "try again", never silently.
    assert sum(map(len, processed.values())) > len(senders) * len(sent) // 2, processed
    for sender in senders:
        events = production.tracker_events(sender)
        said = [e["text"] for e in events if e["event"] == "user"]
        # Every message answered normally is there exactly once, and no refused one ...
        assert sorted(said) == sorted(processed[sender])
        # ... and each turn ran alone: a user message only ever follows the bot going back to listening.
        for index, event in enumerate(events):
            if event["event"] == "user":
                before = [e for e in events[:index] if e["event"] == "action"]
                assert before and before[-1]["name"] == "action_listen", (sender, index)
        # The bot answered each one (its own replies interleave with nobody else's turn).
        assert sum(1 for e in events if e["event"] == "bot") >= len(processed[sender])
