"""Ingest: Rasa events, from any source, into the demand store.

``ingest_events`` takes a stream of ``(position, sender_id, event)``: the
same function serves Rasa's SQL event broker table (``ingest_sql``, the
embedded default) and a queue consumer (RabbitMQ in production: call it with
``position=None`` for each delivery, and acknowledge after it returns).

A conversation is written once it is finished: a later session started, or it
has been quiet for ``DEMAND_SESSION_MINUTES``. Until then its events wait in
``pending_events`` (keyed by the resident's hash, never the sender id). The
finished conversations, the events still waiting and the source position are
written in one transaction, so an interrupted ingest loses and duplicates
nothing; conversations have stable keys, and the writer skips keys it has,
so a redelivered event is harmless. If the reports service is down, events
wait in the broker table (or the queue) until the next run.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from insights import capture, demand_map, facts
from insights.settings import Settings
from insights.store import DemandStore, WriteResult, pending_events

logger = logging.getLogger(__name__)

Event = Mapping[str, Any]


@dataclass
class IngestResult:
    events: int = 0
    written: WriteResult | None = None
    pending_conversations: int = 0
    position: int | None = None
    fact_days: int = 0

    def __str__(self) -> str:
        w = self.written or WriteResult()
        return (
            f"{self.events} events -> {w.conversations} conversations, {w.requests} requests, "
            f"{w.messages} demand events ({w.skipped} already stored, {w.redacted} texts redacted); "
            f"{self.pending_conversations} conversations still open; facts rebuilt for {self.fact_days} days"
        )


def _fingerprint(event: Event) -> tuple[Any, ...]:
    return (event.get("event"), event.get("timestamp"), event.get("text"), event.get("name"))


def ingest_events(
    store: DemandStore,
    items: Iterable[tuple[int | None, str, Event]],
    *,
    settings: Settings,
    now: float,
    source: str | None = None,
    rebuild_facts: bool = True,
    idle_seconds: float | None = None,
) -> IngestResult:
    """Ingest one batch of events; finished conversations are written, the rest wait.

    A conversation is finished when quiet for ``idle_seconds`` (default: the session expiry); 0 finishes
    every conversation now (at the end of a test, or before a shutdown). Conversations are still cut at
    the session expiry.
    """
    session = settings.session_minutes * 60
    idle = session if idle_seconds is None else idle_seconds
    incoming: dict[str, list[Event]] = defaultdict(list)
    residents_of: dict[str, str] = {}
    position: int | None = None
    count = 0
    for pos, sender_id, event in items:
        count += 1
        position = pos if pos is not None else position
        if not sender_id:
            continue
        resident = residents_of.get(sender_id)
        if resident is None:
            resident = residents_of[sender_id] = capture.resident_id(str(sender_id), settings.hash_key)
        incoming[resident].append({k: v for k, v in event.items() if k != "sender_id"})
    dm = demand_map.load()
    result = IngestResult(events=count, position=position)
    with store.writing() as writer:
        conn = writer.conn
        stale = set(
            conn.execute(
                sa.select(pending_events.c.resident)
                .group_by(pending_events.c.resident)
                .having(sa.func.max(pending_events.c.ts) < now - idle)
            ).scalars()
        )
        residents = sorted(set(incoming) | stale)
        waiting: dict[str, list[Event]] = defaultdict(list)
        for chunk in _chunks(residents, 500):
            for resident, data in conn.execute(
                sa.select(pending_events.c.resident, pending_events.c.data)
                .where(pending_events.c.resident.in_(chunk))
                .order_by(pending_events.c.id)
            ):
                waiting[resident].append(json.loads(data))
        finished, still_open = [], []
        for resident in residents:
            seen = {_fingerprint(e) for e in waiting[resident]}
            events = waiting[resident] + [
                e for e in incoming.get(resident, []) if _fingerprint(e) not in seen
            ]
            parts = capture.split(events, session)
            last_ts = max((capture.timestamp(e) or 0.0 for e in parts[-1]), default=0.0) if parts else 0.0
            open_part = parts.pop() if parts and now - last_ts <= idle else None
            for part in parts:
                record = capture.record(resident, part, dm)
                if record is not None:
                    finished.append(record)
            if open_part:
                still_open.append((resident, open_part))
        finished.sort(key=lambda c: c.key)
        result.written = writer.write(finished)
        for chunk in _chunks(residents, 500):
            conn.execute(pending_events.delete().where(pending_events.c.resident.in_(chunk)))
        rows = [
            {"resident": resident, "ts": capture.timestamp(e) or now, "data": json.dumps(e)}
            for resident, part in still_open
            for e in part
        ]
        if rows:
            conn.execute(pending_events.insert(), rows)
        if source is not None and position is not None:
            writer.set_checkpoint(source, position)
        result.pending_conversations = (
            conn.execute(sa.select(sa.func.count(sa.distinct(pending_events.c.resident)))).scalar() or 0
        )
    if rebuild_facts:
        result.fact_days = facts.rebuild(store)
    return result


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def source_name(url: str) -> str:
    """The checkpoint name of a broker table: its URL without a password."""
    return "sql:" + sa.engine.make_url(url).render_as_string(hide_password=True)


def ingest_sql(
    store: DemandStore,
    settings: Settings,
    *,
    now: float | None = None,
    batch_size: int = 5000,
    idle_seconds: float | None = None,
) -> IngestResult:
    """Read Rasa's SQL event broker table from the checkpoint on, in batches, until it is drained."""
    now = time.time() if now is None else now
    source = source_name(settings.events_url)
    total = IngestResult(written=WriteResult())
    engine = sa.create_engine(settings.events_url, future=True) if _exists(settings.events_url) else None
    try:
        while True:
            rows = _read(engine, store.checkpoint(source), batch_size) if engine is not None else []
            batch = ingest_events(
                store,
                ((row.id, row.sender_id, json.loads(row.data)) for row in rows),
                settings=settings,
                now=now,
                source=source,
                rebuild_facts=False,
                idle_seconds=idle_seconds,
            )
            total.events += batch.events
            total.written.add(batch.written or WriteResult())  # type: ignore[union-attr]
            total.pending_conversations = batch.pending_conversations
            total.position = batch.position or total.position
            if len(rows) < batch_size:
                break
    finally:
        if engine is not None:
            engine.dispose()
    total.fact_days = facts.rebuild(store)
    return total


def _exists(url: str) -> bool:
    """A SQLite file that is not there has no events (and is not created by looking)."""
    parsed = sa.engine.make_url(url)
    return not parsed.drivername.startswith("sqlite") or bool(
        parsed.database and Path(parsed.database).exists()
    )


def _read(engine: sa.engine.Engine, position: int, limit: int) -> list[Any]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("events"):
            return []
        return list(
            conn.execute(
                sa.text("SELECT id, sender_id, data FROM events WHERE id > :position ORDER BY id LIMIT :n"),
                {"position": position, "n": limit},
            )
        )
