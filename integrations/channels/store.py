"""The channel store: the least data the channels need, in one small database.

- ``channel_recipients``: conversation id -> the connector and the number to
  reply to; deleted ``retention_days`` after the conversation's last message.
- ``channel_offers``: the options the assistant last offered a conversation;
  replaced or cleared by the resident's next message.
- ``channel_seen``: provider message ids already handled (replays,
  redeliveries); kept 2 days.
- ``channel_opt_outs``: conversations that sent STOP (no number); until START.
- ``channel_outbox``: replies waiting to be sent; a sent one loses its text,
  finished rows are deleted after ``retention_days``.

Failed replies stay in ``channel_outbox`` with ``status = 'failed'``, their
text and the reason, for someone to follow up (``ChannelStore.failures``).

SQLite by default (``CHANNEL_DB_URL``, default ``sqlite:///var/channels.db``);
any SQLAlchemy URL, e.g. PostgreSQL, when several Rasa servers share it. The
public methods are coroutines that run the (short) queries in a worker
thread, so the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from integrations.channels.rendering import Option

P = ParamSpec("P")
T = TypeVar("T")

SEEN_DAYS = 2
PENDING, SENDING, SENT, FAILED, SUPPRESSED = "pending", "sending", "sent", "failed", "suppressed"
#: A reply the resident asked for regardless of opt-out (the STOP confirmation itself).
NOTICE, REPLY = "notice", "reply"

metadata = sa.MetaData()
recipients = sa.Table(
    "channel_recipients",
    metadata,
    sa.Column("conversation_id", sa.String(64), primary_key=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("address", sa.String(64), nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False, index=True),
)
offers = sa.Table(
    "channel_offers",
    metadata,
    sa.Column("conversation_id", sa.String(64), primary_key=True),
    sa.Column("options", sa.Text, nullable=False),
    sa.Column("offered_at", sa.DateTime, nullable=False),
)
seen = sa.Table(
    "channel_seen",
    metadata,
    sa.Column("channel", sa.String(40), primary_key=True),
    sa.Column("message_id", sa.String(200), primary_key=True),
    sa.Column("seen_at", sa.DateTime, nullable=False, index=True),
)
opt_outs = sa.Table(
    "channel_opt_outs",
    metadata,
    sa.Column("conversation_id", sa.String(64), primary_key=True),
    sa.Column("opted_out_at", sa.DateTime, nullable=False),
)
outbox = sa.Table(
    "channel_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(64), nullable=False, index=True),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("payload", sa.Text, nullable=True),
    sa.Column("status", sa.String(12), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("last_error", sa.String(200), nullable=True),
    sa.Column("provider_id", sa.String(100), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)


def utcnow() -> dt.datetime:
    """Now in UTC, naive (as the columns store it)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def in_thread(method: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """A blocking method as a coroutine run in a worker thread."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(method, *args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str


@dataclass(frozen=True)
class OutboxItem:
    id: int
    conversation_id: str
    channel: str
    kind: str
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    provider_id: str | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> OutboxItem:
        return cls(
            id=row.id,
            conversation_id=row.conversation_id,
            channel=row.channel,
            kind=row.kind,
            payload=json.loads(row.payload) if row.payload else {},
            status=row.status,
            attempts=row.attempts,
            last_error=row.last_error,
            provider_id=row.provider_id,
            created_at=row.created_at,
        )


class ChannelStore:
    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 15, "check_same_thread": False}
        else:  # a database server: a pooled connection that died in a restart is replaced, not used
            kwargs["pool_pre_ping"] = True
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    # --- recipients -----------------------------------------------------------

    @in_thread
    def remember_recipient(self, conversation_id: str, channel: str, address: str) -> None:
        """Where replies to this conversation go (the latest connector it wrote through)."""
        with self.engine.begin() as conn:
            values = {"channel": channel, "address": address, "updated_at": utcnow()}
            updated = conn.execute(
                recipients.update().where(recipients.c.conversation_id == conversation_id).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(recipients.insert().values(conversation_id=conversation_id, **values))

    @in_thread
    def recipient(self, conversation_id: str) -> Recipient | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(recipients.c.channel, recipients.c.address).where(
                    recipients.c.conversation_id == conversation_id
                )
            ).first()
        return Recipient(row.channel, row.address) if row else None

    # --- replays ------------------------------------------------------------------

    @in_thread
    def first_sighting(self, channel: str, message_id: str) -> bool:
        """True the first time a provider's message id is seen, False for a replay."""
        try:
            with self.engine.begin() as conn:
                conn.execute(seen.insert().values(channel=channel, message_id=message_id, seen_at=utcnow()))
        except IntegrityError:
            return False
        return True

    # --- offered options ----------------------------------------------------------

    @in_thread
    def offer(self, conversation_id: str, options: Sequence[Option]) -> None:
        data = json.dumps([o.as_dict() for o in options])
        with self.engine.begin() as conn:
            conn.execute(offers.delete().where(offers.c.conversation_id == conversation_id))
            conn.execute(
                offers.insert().values(conversation_id=conversation_id, options=data, offered_at=utcnow())
            )

    @in_thread
    def options(self, conversation_id: str) -> list[Option]:
        with self.engine.connect() as conn:
            data = conn.execute(
                sa.select(offers.c.options).where(offers.c.conversation_id == conversation_id)
            ).scalar()
        return [Option.from_dict(o) for o in json.loads(data)] if data else []

    @in_thread
    def clear_options(self, conversation_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(offers.delete().where(offers.c.conversation_id == conversation_id))

    # --- opt-outs -------------------------------------------------------------------

    @in_thread
    def set_opted_out(self, conversation_id: str, opted_out: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(opt_outs.delete().where(opt_outs.c.conversation_id == conversation_id))
            if opted_out:
                conn.execute(opt_outs.insert().values(conversation_id=conversation_id, opted_out_at=utcnow()))

    @in_thread
    def is_opted_out(self, conversation_id: str) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(opt_outs.c.conversation_id).where(opt_outs.c.conversation_id == conversation_id)
                ).first()
                is not None
            )

    # --- outbox -----------------------------------------------------------------------

    @in_thread
    def enqueue(
        self, conversation_id: str, channel: str, payloads: Iterable[dict[str, Any]], kind: str = REPLY
    ) -> list[int]:
        """Queue messages to send, in order."""
        now = utcnow()
        ids = []
        with self.engine.begin() as conn:
            for payload in payloads:
                result = conn.execute(
                    outbox.insert().values(
                        conversation_id=conversation_id,
                        channel=channel,
                        kind=kind,
                        payload=json.dumps(payload),
                        status=PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                ids.append(int(result.inserted_primary_key[0]))
        return ids

    @in_thread
    def due(self, limit: int = 50) -> list[OutboxItem]:
        """The oldest unsent message of each conversation, if it is waiting and due: one
        conversation's messages go out in order, and one waiting for a retry (or being
        sent by another server) holds back only its own."""
        first_unsent = (
            sa.select(sa.func.min(outbox.c.id))
            .where(outbox.c.status.in_((PENDING, SENDING)))
            .group_by(outbox.c.conversation_id)
        )
        query = (
            sa.select(outbox)
            .where(
                outbox.c.id.in_(first_unsent),
                outbox.c.status == PENDING,
                outbox.c.next_attempt_at <= utcnow(),
            )
            .order_by(outbox.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [OutboxItem.from_row(r) for r in conn.execute(query)]

    @in_thread
    def claim(self, item: OutboxItem) -> bool:
        """Take a due message to send; False if another server (sharing this store) took it first."""
        with self.engine.begin() as conn:
            taken = conn.execute(
                outbox.update()
                .where(outbox.c.id == item.id, outbox.c.status == PENDING)
                .values(status=SENDING, updated_at=utcnow())
            )
        return taken.rowcount == 1

    @in_thread
    def release_stale(self, older_than_seconds: float) -> int:
        """Put back messages a server took and never finished (it stopped mid-send): sent again."""
        cutoff = utcnow() - dt.timedelta(seconds=older_than_seconds)
        with self.engine.begin() as conn:
            released = conn.execute(
                outbox.update()
                .where(outbox.c.status == SENDING, outbox.c.updated_at < cutoff)
                .values(status=PENDING, updated_at=utcnow())
            )
        return released.rowcount

    @in_thread
    def next_due_at(self) -> dt.datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.min(outbox.c.next_attempt_at)).where(outbox.c.status == PENDING)
            ).scalar()

    def _finish(self, item_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.id == item_id).values(updated_at=utcnow(), **values))

    @in_thread
    def mark_sent(self, item: OutboxItem, provider_id: str) -> None:
        """Sent: the text is no longer needed here, so it goes."""
        self._finish(
            item.id, status=SENT, attempts=item.attempts + 1, provider_id=provider_id[:100], payload=None
        )

    @in_thread
    def retry_later(self, item: OutboxItem, error: str, delay_seconds: float) -> None:
        when = utcnow() + dt.timedelta(seconds=delay_seconds)
        self._finish(
            item.id, status=PENDING, attempts=item.attempts + 1, last_error=error[:200], next_attempt_at=when
        )

    @in_thread
    def mark_failed(self, item: OutboxItem, error: str) -> None:
        """Given up: kept with its text for follow-up."""
        self._finish(item.id, status=FAILED, attempts=item.attempts + 1, last_error=error[:200])

    @in_thread
    def mark_suppressed(self, item: OutboxItem, reason: str) -> None:
        """Not to be sent (the resident opted out, or nowhere to send it): the text goes."""
        self._finish(item.id, status=SUPPRESSED, last_error=reason[:200], payload=None)

    @in_thread
    def items(self, status: str | None = None, conversation_id: str | None = None) -> list[OutboxItem]:
        query = sa.select(outbox).order_by(outbox.c.id)
        if status:
            query = query.where(outbox.c.status == status)
        if conversation_id:
            query = query.where(outbox.c.conversation_id == conversation_id)
        with self.engine.connect() as conn:
            return [OutboxItem.from_row(r) for r in conn.execute(query)]

    async def failures(self) -> list[OutboxItem]:
        """Replies that could not be sent, for follow-up."""
        return await self.items(FAILED)

    # --- retention ---------------------------------------------------------------------

    @in_thread
    def purge(self, retention_days: int, now: dt.datetime | None = None) -> None:
        """Delete numbers, finished outbox rows and seen ids past their keeping time."""
        now = now or utcnow()
        old = now - dt.timedelta(days=retention_days)
        with self.engine.begin() as conn:
            conn.execute(recipients.delete().where(recipients.c.updated_at < old))
            conn.execute(offers.delete().where(offers.c.offered_at < old))
            conn.execute(seen.delete().where(seen.c.seen_at < now - dt.timedelta(days=SEEN_DAYS)))
            finished = outbox.c.status.in_((SENT, FAILED, SUPPRESSED))
            conn.execute(outbox.delete().where(finished, outbox.c.updated_at < old))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
