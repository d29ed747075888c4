"""Demand events through RabbitMQ: none lost while it is down, none twice, in order (real RabbitMQ)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa.utils.endpoints import EndpointConfig

from bot.broker import DurablePikaEventBroker, EventsTable, consume
from tests.support import services

pytestmark = pytest.mark.production


@pytest.fixture
def rabbitmq_proxy() -> Iterator[services.FaultProxy]:
    services.ensure_rabbitmq()
    proxy = services.FaultProxy(services.RABBITMQ_PORT)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def broker_config(port: int, name: str, spool: Path) -> EndpointConfig:
    return EndpointConfig(
        url="127.0.0.1", port=port, username="guest", password="guest", queues=[name], exchange_name=name,
        spool_path=str(spool), connection_attempts=2, retry_delay_in_seconds=0.2,
    )  # fmt: skip


async def drain(name: str, table: EventsTable, expected: int, timeout: float = 60) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        consume(services.ensure_rabbitmq(), name, table, stop=stop, exchange_name=name)
    )
    try:
        for _ in range(int(timeout * 10)):
            if await asyncio.to_thread(table.count) >= expected:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def stored(table: EventsTable) -> list[dict]:
    import sqlalchemy as sa

    with table.engine.connect() as conn:
        return [json.loads(r.data) for r in conn.execute(sa.text("SELECT data FROM events ORDER BY id"))]


def test_events_published_while_rabbitmq_is_down_all_arrive_once_and_in_order(
    rabbitmq_proxy: services.FaultProxy, tmp_path: Path
) -> None:
    name = f"council-test-broker-{uuid.uuid4().hex[:8]}"
    table = EventsTable(f"sqlite:///{tmp_path / 'events.db'}")

    async def main() -> int:
        broker = await DurablePikaEventBroker.from_endpoint_config(
            broker_config(rabbitmq_proxy.port, name, tmp_path / "spool.db")
        )
        assert broker is not None
        for i in range(50):
            broker.publish({"sender_id": "s", "event": "user", "n": i}, headers={"event_id": str(i)})
        assert await broker.flush(timeout=20)
        rabbitmq_proxy.cut()  # RabbitMQ unreachable
        for i in range(50, 100):
            broker.publish({"sender_id": "s", "event": "user", "n": i}, headers={"event_id": str(i)})
        await asyncio.sleep(1.0)
        kept = len(broker.spool)  # on disk while RabbitMQ is away
        rabbitmq_proxy.restore()
        assert await broker.flush(timeout=60)
        await broker.close()
        return kept

    kept = asyncio.run(main())
    assert kept > 0
    asyncio.run(drain(name, table, 100))
    assert [e["n"] for e in stored(table)] == list(range(100))


def test_the_spool_survives_a_replica_restart(rabbitmq_proxy: services.FaultProxy, tmp_path: Path) -> None:
    """Events still spooled when a replica stops are sent by the next start."""
    name = f"council-test-spool-{uuid.uuid4().hex[:8]}"
    spool = tmp_path / "spool.db"

    async def first_life() -> int:
        broker = await DurablePikaEventBroker.from_endpoint_config(
            broker_config(rabbitmq_proxy.port, name, spool)
        )
        assert broker is not None
        rabbitmq_proxy.cut()
        for i in range(10):
            broker.publish({"sender_id": "s", "event": "user", "n": i}, headers={"event_id": f"r{i}"})
        if broker._sender is not None:  # the replica dies: no graceful flush
            broker._sender.cancel()
        left = len(broker.spool)
        broker.spool.close()
        return left

    async def second_life() -> None:
        rabbitmq_proxy.restore()
        broker = await DurablePikaEventBroker.from_endpoint_config(
            broker_config(rabbitmq_proxy.port, name, spool)
        )
        assert broker is not None
        assert await broker.flush(timeout=60)
        await broker.close()

    assert asyncio.run(first_life()) == 10
    asyncio.run(second_life())
    table = EventsTable(f"sqlite:///{tmp_path / 'events.db'}")
    asyncio.run(drain(name, table, 10))
    assert [e["n"] for e in stored(table)] == list(range(10))


def test_an_unreachable_broker_refuses_to_start_with_a_clear_error(tmp_path: Path) -> None:
    config = broker_config(services.free_port(), "never", tmp_path / "spool.db")
    with pytest.raises(ConnectionError, match="can't be reached"):
        asyncio.run(DurablePikaEventBroker.from_endpoint_config(config))


def test_the_events_table_keeps_a_redelivered_message_once(tmp_path: Path) -> None:
    table = EventsTable(f"sqlite:///{tmp_path / 'events.db'}")
    first = table.add([("7", {"sender_id": "s", "event": "user"})])
    again = table.add([("7", {"sender_id": "s", "event": "user"}), ("8", {"sender_id": "s", "event": "bot"})])
    assert (len(first), len(again), table.count()) == (1, 1, 2)


def test_the_consumer_resumes_after_each_cut_and_stops_promptly_while_cut(
    rabbitmq_proxy: services.FaultProxy, tmp_path: Path
) -> None:
    """The consumer reads through the proxy; cut twice mid-stream, it comes back and takes every event."""
    name = f"council-test-consumer-{uuid.uuid4().hex[:8]}"
    table = EventsTable(f"sqlite:///{tmp_path / 'events.db'}")
    amqp = f"amqp://guest:guest@127.0.0.1:{rabbitmq_proxy.port}/"

    async def wait_for_count(expected: int, timeout: float) -> int:
        for _ in range(int(timeout * 10)):
            count = await asyncio.to_thread(table.count)
            if count >= expected:
                return count
            await asyncio.sleep(0.1)
        return await asyncio.to_thread(table.count)

    async def main() -> tuple[list[int], float]:
        # The publisher goes straight to RabbitMQ, so only the consumer's link is cut.
        broker = await DurablePikaEventBroker.from_endpoint_config(
            broker_config(services.RABBITMQ_PORT, name, tmp_path / "spool.db")
        )
        assert broker is not None
        stop = asyncio.Event()
        task = asyncio.create_task(consume(amqp, name, table, stop=stop, exchange_name=name))
        counts = []
        try:
            n = 0
            for _round in range(3):
                for _ in range(400):
                    broker.publish({"sender_id": "s", "event": "user", "n": n}, headers={"event_id": f"c{n}"})
                    n += 1
                assert await broker.flush(timeout=30)
                await asyncio.sleep(0.05)  # part-way through the batch
                rabbitmq_proxy.cut()
                await asyncio.sleep(1.5)
                rabbitmq_proxy.restore()
                counts.append(await wait_for_count(n, 60))
            # Told to stop while RabbitMQ is away, it stops within seconds.
            rabbitmq_proxy.cut()
            await asyncio.sleep(1.0)
            stop.set()
            started = time.monotonic()
            await asyncio.wait_for(task, 30)
            return counts, time.monotonic() - started
        finally:
            stop.set()
            rabbitmq_proxy.restore()
            if not task.done():
                task.cancel()
            await broker.close()

    counts, stopping = asyncio.run(main())
    assert counts == [400, 800, 1200]
    assert [e["n"] for e in stored(table)] == list(range(1200))
    assert stopping < 12
