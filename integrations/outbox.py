"""A durable outbox for requests a back-office system could not take.

When a system is down or times out, the action keeps what was asked here
(the least data needed to finish it) and tells the resident what will
happen. Each item has an idempotency key, so keeping the same request twice
keeps it once. A worker retries due items with backoff until they are done
or need a person (``python -m integrations.outbox``).

SQLite by default (``OUTBOX_DB_URL``, default ``sqlite:///var/outbox.db``);
PostgreSQL in the production profile.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()
outbox_table = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(80), nullable=False),
    sa.Column("intent", sa.String(80), nullable=False),
    sa.Column("system", sa.String(40), nullable=False),
    sa.Column("conversation", sa.String(80), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("last_error", sa.String(200), nullable=True),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
STATUSES = ("pending", "done", "needs_person")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    kind: str
    intent: str
    system: str
    conversation: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    result: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> "OutboxItem":
        return cls(
            id=row.id, key=row.key, kind=row.kind, intent=row.intent, system=row.system,
            conversation=row.conversation, payload=json.loads(row.payload), status=row.status,
            attempts=row.attempts, next_attempt_at=row.next_attempt_at, last_error=row.last_error,
            result=json.loads(row.result) if row.result else None,
        )


class Outbox:
    def __init__(self, url: str | None = None) -> None:
        url = url or os.environ.get("OUTBOX_DB_URL", "sqlite:///var/outbox.db")
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url, future=True)
        metadata.create_all(self.engine)

    def add(
        self, *, key: str, kind: str, intent: str, system: str, conversation: str, payload: dict[str, Any]
    ) -> OutboxItem:
        """Keep a request; the same key keeps it once and returns what is kept."""
        now = utcnow()
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(outbox_table).where(outbox_table.c.key == key)).first()
            if existing is None:
                conn.execute(
                    outbox_table.insert().values(
                        key=key, kind=kind, intent=intent, system=system, conversation=conversation,
                        payload=json.dumps(payload, sort_keys=True), status="pending", attempts=0,
                        next_attempt_at=now, created_at=now, updated_at=now,
                    )
                )
            row = conn.execute(sa.select(outbox_table).where(outbox_table.c.key == key)).one()
        return OutboxItem.from_row(row)

    def get(self, key: str) -> OutboxItem | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(outbox_table).where(outbox_table.c.key == key)).first()
        return OutboxItem.from_row(row) if row else None

    def items(self, status: str | None = None) -> list[OutboxItem]:
        query = sa.select(outbox_table).order_by(outbox_table.c.id)
        if status:
            query = query.where(outbox_table.c.status == status)
        with self.engine.connect() as conn:
            return [OutboxItem.from_row(r) for r in conn.execute(query)]

    def due(self, now: dt.datetime | None = None, limit: int = 50) -> list[OutboxItem]:
        now = now or utcnow()
        query = (
            sa.select(outbox_table)
            .where(outbox_table.c.status == "pending", outbox_table.c.next_attempt_at <= now)
            .order_by(outbox_table.c.next_attempt_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [OutboxItem.from_row(r) for r in conn.execute(query)]

    def _update(self, item_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(outbox_table.update().where(outbox_table.c.id == item_id).values(updated_at=utcnow(), **values))

    def done(self, item: OutboxItem, result: dict[str, Any]) -> None:
        self._update(item.id, status="done", result=json.dumps(result, sort_keys=True), attempts=item.attempts + 1)

    def retry_later(self, item: OutboxItem, error: str, delay: dt.timedelta) -> None:
        self._update(
            item.id, attempts=item.attempts + 1, last_error=error[:200], next_attempt_at=utcnow() + delay
        )

    def needs_person(self, item: OutboxItem, error: str) -> None:
        self._update(item.id, status="needs_person", attempts=item.attempts + 1, last_error=error[:200])
