"""The demand store: conversations, requests and demand events, the fact tables, and the one write path.

SQLite (the embedded default, ``var/demand.db``) or PostgreSQL, chosen by the
URL in ``DEMAND_STORE_URL``; the same SQL runs on both.

Tables
------
``conversations``, ``requests``, ``messages`` (one row per user message: the
demand events) hold what happened; ``fact_requests``, ``fact_hours`` and
``fact_unresolved`` hold per-UK-day aggregates that every report reads
(``insights.facts`` rebuilds them, ``insights.queries`` reads them);
``calendar`` gives each day its week and month; ``ingest_state``,
``pending_events`` and ``dirty_days`` make ingest incremental, idempotent and
safe to interrupt.

Everything enters through ``Writer.write``: the ingest of Rasa events and the
synthetic year alike. It redacts the text of unresolved requests and drops
everyone else's, so no other text is ever stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from insights.clock import LocalClock, monday
from insights.records import UNRESOLVED, ConversationRecord, MessageRecord, RequestRecord
from insights.redact import Redactor, shared
from insights.settings import Settings

metadata = sa.MetaData()
#: An integer primary key that SQLite makes its rowid and PostgreSQL a BIGINT.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: How many days after a request's day can change when it arrives: repeat contact looks 7 days back.
REPEAT_DAYS = 7
REPEAT_SECONDS = REPEAT_DAYS * 86_400
LOCK_ROW = "__writer__"
#: The lemmas of a kept text with no content words: blank, not empty (an empty field is NULL in COPY).
NO_LEMMAS = " "

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=False),
    sa.Column("key", sa.String(48), nullable=False, unique=True),
    sa.Column("resident", sa.String(16), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("ended", sa.Float, nullable=False),
    sa.Column("outcome", sa.String(24), nullable=False),
    sa.Column("step", sa.String(80)),
    sa.Column("requests", sa.SmallInteger, nullable=False),
    sa.Column("messages", sa.SmallInteger, nullable=False),
)
requests = sa.Table(
    "requests",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=False),
    sa.Column("conversation_id", sa.BigInteger, nullable=False),  # no FK: the write path keeps them whole
    sa.Column("resident", sa.String(16), nullable=False),
    sa.Column("day", sa.Date, nullable=False),  # UK day
    sa.Column("hour", sa.SmallInteger, nullable=False),  # UK hour
    sa.Column("dow", sa.SmallInteger, nullable=False),  # Monday = 0
    sa.Column("out_of_hours", sa.SmallInteger, nullable=False),  # 1 outside the contact centre's hours
    # From here to "confidence", RequestRecord's fields in its order (checked below).
    sa.Column("seq", sa.SmallInteger, nullable=False),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("ended", sa.Float, nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("intent", sa.String(64), nullable=False),
    sa.Column("service", sa.String(40), nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("demand", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(24), nullable=False),
    sa.Column("step", sa.String(80)),
    sa.Column("topic", sa.String(40)),
    sa.Column("system", sa.String(40)),
    sa.Column("messages", sa.SmallInteger, nullable=False),
    sa.Column("confidence", sa.Float),
    sa.Column("text", sa.Text),  # redacted, unresolved requests only, deleted after the retention period
    sa.Column("lemmas", sa.Text),  # content lemmas of ``text``, for themes; deleted with it
    sa.Index("ix_requests_day", "day"),
)
#: Only unresolved requests (a tenth) are listed one by one: a partial index keeps writes cheap.
UNRESOLVED_SQL = sa.text("outcome IN ('integration_failed', 'not_understood', 'unsupported')")
sa.Index(
    "ix_requests_unresolved", requests.c.started, sqlite_where=UNRESOLVED_SQL, postgresql_where=UNRESOLVED_SQL
)
messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.BigInteger, nullable=False),
    sa.Column("request_id", sa.BigInteger),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("intent", sa.String(64), nullable=False),
    sa.Column("confidence", sa.Float),
    sa.Column("entity_types", sa.String(200)),
)
calendar = sa.Table(
    "calendar",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("week", sa.Date, nullable=False),  # the Monday of its week
    sa.Column("month", sa.String(7), nullable=False),  # 2026-02
    sa.Column("dow", sa.SmallInteger, nullable=False),
)
fact_requests = sa.Table(
    "fact_requests",
    metadata,
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("week", sa.Date, nullable=False),
    sa.Column("month", sa.String(7), nullable=False),
    sa.Column("service", sa.String(40), nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("intent", sa.String(64), nullable=False),
    sa.Column("demand", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(24), nullable=False),
    sa.Column("detail", sa.String(80)),  # step (abandoned, cancelled), topic (unsupported), system (failed)
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("messages", sa.Integer, nullable=False),
    sa.Column("out_of_hours", sa.Integer, nullable=False),
    sa.Column("repeats", sa.Integer, nullable=False),  # same resident, same service, within 7 days before
    sa.Index("ix_fact_requests_day", "day"),
)
fact_hours = sa.Table(
    "fact_hours",
    metadata,
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("dow", sa.SmallInteger, nullable=False),
    sa.Column("hour", sa.SmallInteger, nullable=False),
    sa.Column("service", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("out_of_hours", sa.Integer, nullable=False),
    sa.Index("ix_fact_hours_day", "day"),
)
fact_unresolved = sa.Table(
    "fact_unresolved",
    metadata,
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("service", sa.String(40), nullable=False),
    sa.Column("channel", sa.String(40), nullable=False),
    sa.Column("outcome", sa.String(24), nullable=False),
    sa.Column("topic", sa.String(40)),
    sa.Column("lemmas", sa.Text, nullable=False),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("example", sa.Text),
    sa.Index("ix_fact_unresolved_day", "day"),
)
ingest_state = sa.Table(
    "ingest_state",
    metadata,
    sa.Column("source", sa.String(200), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
pending_events = sa.Table(
    "pending_events",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("resident", sa.String(16), nullable=False, index=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("data", sa.Text, nullable=False),  # the Rasa event without its sender id
)
dirty_days = sa.Table("dirty_days", metadata, sa.Column("day", sa.Date, primary_key=True))


#: Rows are made from the records' tuples by position: this check keeps the orders in step.
_KEPT = RequestRecord._fields.index("text")
if (
    tuple(c.name for c in requests.columns)[7 : 7 + _KEPT] != RequestRecord._fields[:_KEPT]
    or tuple(c.name for c in messages.columns)[3:] != MessageRecord._fields[:4]
    or tuple(c.name for c in conversations.columns)[1:8] != ConversationRecord._fields[:7]
):
    raise RuntimeError("the demand store's columns and insights.records are out of step")


def create_engine(url: str) -> Engine:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, future=True, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.execute("PRAGMA cache_size=-131072")  # 128 MB
            cursor.close()

        return engine
    return sa.create_engine(url, future=True, pool_pre_ping=True)


@dataclass
class DemandStore:
    """The store at one URL; cheap to make, connects on first use."""

    url: str
    settings: Settings = field(default_factory=Settings)
    redactor: Redactor = field(default_factory=shared)

    def __post_init__(self) -> None:
        self.engine = create_engine(self.url)
        self.clock = LocalClock(self.settings.office_hours)

    @classmethod
    def from_settings(cls, settings: Settings) -> DemandStore:
        return cls(settings.store_url, settings)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create(self) -> DemandStore:
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            if (
                conn.execute(
                    sa.select(ingest_state.c.source).where(ingest_state.c.source == LOCK_ROW)
                ).first()
                is None
            ):
                conn.execute(ingest_state.insert().values(source=LOCK_ROW, position=0, updated=time.time()))
        return self

    def drop(self) -> None:
        metadata.drop_all(self.engine)

    @contextmanager
    def writing(self) -> Iterator[Writer]:
        """One transaction for one writer at a time: its first statement takes the write lock."""
        with self.engine.begin() as conn:
            conn.execute(
                ingest_state.update().where(ingest_state.c.source == LOCK_ROW).values(updated=time.time())
            )
            yield Writer(self, conn)

    def checkpoint(self, source: str) -> int:
        with self.engine.connect() as conn:
            position = conn.execute(
                sa.select(ingest_state.c.position).where(ingest_state.c.source == source)
            ).scalar()
        return int(position or 0)


@dataclass
class WriteResult:
    conversations: int = 0
    requests: int = 0
    messages: int = 0
    skipped: int = 0  # already in the store
    redacted: int = 0

    def add(self, other: WriteResult) -> None:
        for name in ("conversations", "requests", "messages", "skipped", "redacted"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class Writer:
    """Writes inside the transaction of ``DemandStore.writing``."""

    def __init__(self, store: DemandStore, conn: Connection) -> None:
        self.store = store
        self.conn = conn

    def write(self, batch: Sequence[ConversationRecord]) -> WriteResult:
        """Write finished conversations; ones already stored (same key) are skipped."""
        batch, skipped = self._new_only(batch)
        result = WriteResult(skipped=skipped)
        if not batch:
            return result
        conversation_id = self._next_id(conversations)
        request_id = self._next_id(requests)
        local = self.store.clock.local
        iso: dict[dt.date, str] = {}  # days go in as ISO text: the same on both databases, and cheap to bind
        unresolved = [r.text or "" for c in batch for r in c.requests if r.outcome in UNRESOLVED and r.text]
        redacted = iter(self.store.redactor.redact_many(unresolved)) if unresolved else iter(())
        conversation_rows: list[tuple[Any, ...]] = []
        request_rows: list[tuple[Any, ...]] = []
        message_rows: list[tuple[Any, ...]] = []
        days: set[dt.date] = set()
        for c in batch:
            request_ids: dict[int | None, int] = {}
            for r in c.requests:
                day, hour, dow, out_of_hours = local(r.started)
                days.add(day)
                text = lemmas = None
                if r.outcome in UNRESOLVED and r.text:
                    kept = next(redacted)
                    text, lemmas = kept.text, kept.lemmas or NO_LEMMAS
                day_text = iso.get(day) or iso.setdefault(day, day.isoformat())
                row = (
                    request_id,
                    conversation_id,
                    c.resident,
                    day_text,
                    hour,
                    dow,
                    int(out_of_hours),
                    *r[:_KEPT],
                )
                request_rows.append((*row, text, lemmas))
                request_ids[r.seq] = request_id
                request_id += 1
            message_rows += [(conversation_id, request_ids.get(m.request_seq), *m[:4]) for m in c.messages]
            conversation_rows.append((conversation_id, *c[:7], len(c.requests), len(c.messages)))
            conversation_id += 1
        self._insert(conversations, conversation_rows)
        self._insert(requests, request_rows)
        self._insert(messages, message_rows, skip_id=True)
        self.mark_dirty(days)
        result.conversations, result.requests, result.messages = (
            len(conversation_rows),
            len(request_rows),
            len(message_rows),
        )
        result.redacted = len(unresolved)
        return result

    def _new_only(self, batch: Sequence[ConversationRecord]) -> tuple[list[ConversationRecord], int]:
        """The conversations whose keys are not stored yet (keys sort by time: one range query)."""
        if not batch:
            return [], 0
        keys = [c.key for c in batch]
        stored = set(
            self.conn.execute(
                sa.select(conversations.c.key).where(conversations.c.key.between(min(keys), max(keys)))
            ).scalars()
        )
        fresh: dict[str, ConversationRecord] = {}
        for c in batch:
            if c.key not in stored and c.key not in fresh:
                fresh[c.key] = c
        return list(fresh.values()), len(batch) - len(fresh)

    def _next_id(self, table: sa.Table) -> int:
        return (
            int(self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar() or 0) + 1
        )

    def _insert(self, table: sa.Table, rows: list[tuple[Any, ...]], *, skip_id: bool = False) -> None:
        if not rows:
            return
        columns = [c.name for c in table.columns][1 if skip_id else 0 :]
        if self.store.dialect == "postgresql":
            copy_rows(self.conn, table.name, columns, rows)
        else:
            marks = ", ".join("?" for _ in columns)
            self.conn.exec_driver_sql(
                f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows
            )

    def mark_dirty(self, days: Iterable[dt.date]) -> None:
        """Days whose facts must be rebuilt: each written day and the 7 after it (repeat contact)."""
        wanted = {d + dt.timedelta(days=k) for d in days for k in range(REPEAT_DAYS + 1)}
        if not wanted:
            return
        lo, hi = min(wanted), max(wanted)
        have = set(
            as_dates(self.conn.execute(sa.select(dirty_days.c.day).where(dirty_days.c.day.between(lo, hi))))
        )
        if wanted - have:
            self.conn.execute(dirty_days.insert(), [{"day": d} for d in sorted(wanted - have)])
        known = set(
            as_dates(self.conn.execute(sa.select(calendar.c.day).where(calendar.c.day.between(lo, hi))))
        )
        if wanted - known:
            self.conn.execute(
                calendar.insert(),
                [
                    {"day": d, "week": monday(d), "month": d.strftime("%Y-%m"), "dow": d.weekday()}
                    for d in sorted(wanted - known)
                ],
            )

    def set_checkpoint(self, source: str, position: int) -> None:
        updated = self.conn.execute(
            ingest_state.update()
            .where(ingest_state.c.source == source)
            .values(position=position, updated=time.time())
        ).rowcount
        if not updated:
            self.conn.execute(
                ingest_state.insert().values(source=source, position=position, updated=time.time())
            )


def as_dates(result: Iterable[Any]) -> Iterator[dt.date]:
    for row in result:
        value = row[0]
        yield value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL ``COPY FROM STDIN`` inside the current transaction: the fast bulk path.

    CSV, where an empty field is NULL: the write path stores no empty strings (see ``NO_LEMMAS``).
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    buffer.seek(0)
    cursor = conn.connection.cursor()
    try:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()
