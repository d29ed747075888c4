"""Demand events over RabbitMQ with none lost: a durable Pika broker and its consumer.

Publishing (in each Rasa replica), ``DurablePikaEventBroker``:

Rasa's ``PikaEventBroker`` keeps events it could not publish in a list in
memory: a replica restarted while RabbitMQ is down loses them, and events
published after a reconnect can overtake older ones. Here every event is
first written to a small local spool (SQLite, one file per replica), then
one task publishes the spool in order with publisher confirms and deletes
each event once RabbitMQ has confirmed it. While RabbitMQ is down the spool
grows on disk (nothing is lost, even across a restart of the replica) and
it is sent, oldest first, when RabbitMQ is back. Each message carries the
tracker-store row id as ``message_id``, so a consumer drops the rare
duplicate (a confirm lost in a crash) by it. A broker that can't be reached
at start stops the server with a clear error, as Rasa's does after its
connection attempts.

Consuming (``python -m bot.broker``), ``consume``:

Reads the queue and writes each event, in order and once (by its
``message_id``), to the ``events`` table of the demand database
(``DEMAND_EVENTS_URL``): the same shape as Rasa's SQL event broker table,
which the demand capture (``insights``) reads on the embedded default, so it
works unchanged on either route. A message is acknowledged only after its
row is committed. Hook: if ``DEMAND_INGEST`` names a function
(``module:function``), it is called after each batch with the batch's event
dicts, to feed the demand store directly.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aio_pika
import sqlalchemy as sa
from rasa.core.brokers.pika import PikaEventBroker
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

#: How long one publish may wait for RabbitMQ's confirm before the broker counts as down.
PUBLISH_TIMEOUT = 5.0
#: Backoff while RabbitMQ is down (seconds).
RETRY_START, RETRY_CAP = 0.5, 10.0
BATCH = 200


class Spool:
    """An ordered, durable queue of JSON messages in one SQLite file (one writer: this process)."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "message_id TEXT, body TEXT NOT NULL)"
        )

    def put(self, body: str, message_id: str | None) -> None:
        self.db.execute("INSERT INTO spool (message_id, body) VALUES (?, ?)", (message_id, body))

    def head(self, limit: int) -> list[tuple[int, str | None, str]]:
        return self.db.execute(
            "SELECT seq, message_id, body FROM spool ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()

    def drop(self, seq: int) -> None:
        self.db.execute("DELETE FROM spool WHERE seq = ?", (seq,))

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def close(self) -> None:
        self.db.close()


class DurablePikaEventBroker(PikaEventBroker):
    """Rasa's Pika broker with an on-disk spool and one ordered publisher (see the module notes)."""

    def __init__(
        self, host: str, username: str, password: str, *, spool_path: str | None = None, **kwargs: Any
    ):
        super().__init__(host, username, password, **kwargs)
        path = spool_path or os.environ.get("BROKER_SPOOL", "var/broker-spool.db")
        self.spool = Spool(path)
        self._wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self.published = 0

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: EndpointConfig | None, event_loop: asyncio.AbstractEventLoop | None = None
    ) -> DurablePikaEventBroker | None:
        if broker_config is None:
            return None
        kwargs = dict(broker_config.kwargs)
        for key in ("connection_attempts",):
            if key in kwargs:
                kwargs[key] = int(kwargs[key])
        if "retry_delay_in_seconds" in kwargs:
            kwargs["retry_delay_in_seconds"] = float(kwargs["retry_delay_in_seconds"])
        broker = cls(broker_config.url, **kwargs, event_loop=event_loop or asyncio.get_running_loop())
        try:
            await broker.connect()
        except Exception as error:
            raise ConnectionError(
                f"The event broker (RabbitMQ at {broker.host}:{broker.port}) can't be reached: {error}. "
                "Refusing to start: demand events would otherwise be lost."
            ) from error
        broker._sender = asyncio.get_running_loop().create_task(broker._send_forever(), name="broker-sender")
        if len(broker.spool):
            logger.info(
                "event broker: %d spooled events from before the restart will be sent", len(broker.spool)
            )
        return broker

    def publish(self, event: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        """Keep the event on disk at once; the sender publishes it in order."""
        self.spool.put(json.dumps(event), (headers or {}).get("event_id"))
        self._wake.set()

    def is_ready(self) -> bool:
        return super().is_ready() and self._sender is not None and not self._sender.done()

    async def _send_forever(self) -> None:
        delay = RETRY_START
        while True:
            batch = self.spool.head(BATCH)
            if not batch:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                for seq, message_id, body in batch:
                    message = aio_pika.Message(
                        body.encode("utf-8"),
                        message_id=message_id,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        app_id=self.rasa_environment,
                    )
                    if self._exchange is None:
                        raise ConnectionError("no exchange")
                    await asyncio.wait_for(self._exchange.publish(message, ""), PUBLISH_TIMEOUT)
                    self.spool.drop(seq)
                    self.published += 1
                delay = RETRY_START
            except asyncio.CancelledError:
                raise
            except Exception as error:  # RabbitMQ down or the channel closed: keep the spool, retry
                logger.warning(
                    "event broker: RabbitMQ not taking events (%s); %d kept on disk, retrying in %.1f s",
                    type(error).__name__,
                    len(self.spool),
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP)

    async def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the spool is empty (tests, shutdown); whether it emptied."""
        deadline = time.monotonic() + timeout
        while len(self.spool) and time.monotonic() < deadline:
            self._wake.set()
            await asyncio.sleep(0.05)
        return not len(self.spool)

    async def close(self) -> None:
        await self.flush(timeout=5.0)
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        left = len(self.spool)
        if left:
            logger.warning("event broker: %d events stay in the spool until the next start", left)
        await super().close()


# --- the consumer -------------------------------------------------------------------

metadata = sa.MetaData()
#: Rasa's SQL event broker table (id, sender_id, data) plus the message id for deduplication.
events_table = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("data", sa.Text),
    sa.Column("event_id", sa.String(64), unique=True, nullable=True),
)


class EventsTable:
    """The demand database's ``events`` table, written once per message id."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, pool_pre_ping=True, future=True)
        metadata.create_all(self.engine)

    def add(self, items: Iterable[tuple[str | None, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Insert each ``(message_id, event)`` not seen before; the events inserted, in order."""
        inserted: list[dict[str, Any]] = []
        with self.engine.begin() as conn:
            for message_id, event in items:
                if message_id is not None:
                    seen = conn.execute(
                        sa.select(events_table.c.id).where(events_table.c.event_id == message_id)
                    ).first()
                    if seen is not None:
                        continue
                conn.execute(
                    events_table.insert().values(
                        sender_id=event.get("sender_id"), data=json.dumps(event), event_id=message_id
                    )
                )
                inserted.append(event)
        return inserted

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar_one())


def ingest_hook(spec: str | None = None) -> Callable[[list[dict[str, Any]]], Any] | None:
    """The function named by ``DEMAND_INGEST`` (``module:function``), if any."""
    spec = spec if spec is not None else os.environ.get("DEMAND_INGEST", "")
    if not spec:
        return None
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


#: Idle time after which the consumer asks RabbitMQ whether messages wait that it is not being given.
WATCHDOG_IDLE = 15.0
#: How long closing a dead connection may take before it is abandoned.
CLOSE_TIMEOUT = 5.0


class ConsumerStalled(ConnectionError):
    """Messages wait in the queue but none is delivered: start again on a fresh connection."""


async def consume(
    amqp_url: str,
    queue_name: str,
    table: EventsTable,
    *,
    stop: asyncio.Event | None = None,
    hook: Callable[[list[dict[str, Any]]], Any] | None = None,
    exchange_name: str = "rasa-exchange",
) -> None:
    """Move events from the queue to the table until ``stop`` is set (or for ever).

    Each connection is a plain one, built again from nothing when it is lost: a
    connection that restores itself (aio_pika's robust one) can come back without
    its consumer, or with messages in hand whose delivery tags belong to the dead
    channel, and then the events wait in RabbitMQ undelivered. Here a lost
    connection ends that round; messages read but not acknowledged are delivered
    again on the next, and the table drops the ones already written.
    """
    stop = stop or asyncio.Event()
    delay = RETRY_START
    while not stop.is_set():
        try:
            connection = await asyncio.wait_for(aio_pika.connect(amqp_url), PUBLISH_TIMEOUT * 2)
        except Exception as error:
            logger.warning(
                "demand consumer: RabbitMQ not reachable (%s); retrying in %.1f s",
                type(error).__name__,
                delay,
            )
            await _wait(stop, delay)
            delay = min(delay * 2, RETRY_CAP)
            continue
        try:
            await _consume_on(connection, queue_name, exchange_name, table, stop, hook)
            delay = RETRY_START
        except asyncio.CancelledError:
            raise
        except Exception as error:  # connection or channel lost, or stalled: start again
            logger.warning(
                "demand consumer: lost RabbitMQ (%s: %s); reconnecting", type(error).__name__, error
            )
        finally:
            try:
                await asyncio.wait_for(connection.close(), CLOSE_TIMEOUT)
            except Exception:
                pass


async def _consume_on(
    connection: aio_pika.abc.AbstractConnection,
    queue_name: str,
    exchange_name: str,
    table: EventsTable,
    stop: asyncio.Event,
    hook: Callable[[list[dict[str, Any]]], Any] | None,
) -> None:
    """One connection's worth of consuming; returns when ``stop`` is set, raises when the link is lost."""
    pending: asyncio.Queue[aio_pika.abc.AbstractIncomingMessage] = asyncio.Queue()

    async def open_queue() -> tuple[aio_pika.abc.AbstractChannel, aio_pika.abc.AbstractQueue]:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=BATCH)
        exchange = await channel.declare_exchange(exchange_name, type=aio_pika.ExchangeType.FANOUT)
        queue = await channel.declare_queue(queue_name, durable=True)
        await queue.bind(exchange, "")
        await queue.consume(pending.put)
        return channel, queue

    # Every call to RabbitMQ has a time limit: on a link that died quietly, aiormq can wait for ever.
    channel, queue = await asyncio.wait_for(open_queue(), PUBLISH_TIMEOUT * 2)
    logger.info("demand consumer: reading %s", queue_name)
    idle_since, suspect = time.monotonic(), 0
    while not stop.is_set():
        if connection.is_closed or channel.is_closed:
            raise ConnectionError("connection closed")
        try:
            first = await asyncio.wait_for(pending.get(), timeout=0.5)
        except asyncio.TimeoutError:
            if time.monotonic() - idle_since >= WATCHDOG_IDLE:
                declared = await asyncio.wait_for(queue.declare(), PUBLISH_TIMEOUT)
                waiting = declared.message_count or 0
                suspect = suspect + 1 if waiting else 0
                if suspect >= 2:  # seen twice, a few seconds apart, with nothing delivered between
                    raise ConsumerStalled(f"{waiting} messages wait but none is delivered") from None
                idle_since = time.monotonic() - (WATCHDOG_IDLE - 3.0 if waiting else 0.0)
            continue
        idle_since, suspect = time.monotonic(), 0
        messages = [first]
        while not pending.empty() and len(messages) < BATCH:
            messages.append(pending.get_nowait())
        inserted = await _store(table, messages, stop)
        if inserted is None:  # stopping while the database is away: RabbitMQ keeps the messages
            return
        try:  # one acknowledgement for the batch (delivered in order on this channel)
            await asyncio.wait_for(messages[-1].ack(multiple=True), PUBLISH_TIMEOUT)
        except Exception as error:  # the link died: RabbitMQ redelivers, the table drops the duplicates
            raise ConnectionError(f"could not acknowledge ({type(error).__name__})") from None
        if hook is not None and inserted:
            try:
                result = hook(inserted)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                logger.exception("demand consumer: the ingest hook failed (events are kept in the table)")


async def _store(
    table: EventsTable, messages: list[aio_pika.abc.AbstractIncomingMessage], stop: asyncio.Event
) -> list[dict[str, Any]] | None:
    """Write the messages' events, waiting out a database restart; None if told to stop meanwhile."""
    items = []
    for message in messages:
        try:
            items.append((message.message_id, json.loads(message.body)))
        except ValueError:
            logger.error("demand consumer: dropped a message that is not JSON")
    while True:
        try:
            return await asyncio.to_thread(table.add, items)
        except sa.exc.OperationalError as error:  # the database restarting: keep the messages
            logger.warning("demand consumer: database unavailable (%s); retrying", type(error).__name__)
            if await _wait(stop, 1.0):
                return None


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``, waking at once on ``stop``; whether it was set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass
    return stop.is_set()


def main() -> None:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    amqp_url = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
    queue_name = os.environ.get("RABBITMQ_QUEUE", "council_demand_events")
    table = EventsTable(os.environ.get("DEMAND_EVENTS_URL", "sqlite:///var/events.db"))
    stop = asyncio.Event()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await consume(
            amqp_url,
            queue_name,
            table,
            stop=stop,
            hook=ingest_hook(),
            exchange_name=os.environ.get("RABBITMQ_EXCHANGE", "rasa-exchange"),
        )

    asyncio.run(run())


if __name__ == "__main__":
    main()
