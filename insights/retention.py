"""Retention: after ``DEMAND_RETENTION_DAYS``, what residents wrote is deleted; the counts stay.

Deleted when older than the period:

* in the demand store, the redacted text and lemmas of unresolved requests,
  the themes' wordings and examples (``fact_unresolved``), and events still
  waiting for their conversation to finish;
* in Rasa's tracker store (``RASA_TRACKER_DB``, table ``events``), the
  conversations' events;
* in Rasa's SQL event broker table (``RASA_EVENTS_DB``), events already
  ingested.

Requests, demand events and every other fact keep their counts, with no text.
Run daily: ``python -m insights retention``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from insights import facts
from insights.clock import LONDON
from insights.ingest import source_name
from insights.settings import Settings
from insights.store import DemandStore, fact_unresolved, pending_events, requests


@dataclass
class RetentionResult:
    cutoff: dt.datetime
    texts: int = 0
    wordings: int = 0
    pending: int = 0
    tracker_events: int = 0
    broker_events: int = 0

    def __str__(self) -> str:
        return (
            f"older than {self.cutoff:%Y-%m-%d %H:%M %Z} deleted: {self.texts} request texts, "
            f"{self.wordings} theme wordings, {self.pending} waiting events, "
            f"{self.tracker_events} tracker events, {self.broker_events} broker events"
        )


def apply(store: DemandStore, settings: Settings, *, now: float | None = None) -> RetentionResult:
    now = time.time() if now is None else now
    cutoff = now - settings.retention_days * 86_400
    cutoff_day = dt.datetime.fromtimestamp(cutoff, LONDON).date()
    result = RetentionResult(cutoff=dt.datetime.fromtimestamp(cutoff, LONDON))
    with store.engine.begin() as conn:
        result.texts = conn.execute(
            requests.update()
            .where(
                requests.c.started < cutoff,
                sa.or_(requests.c.text.isnot(None), requests.c.lemmas.isnot(None)),
            )
            .values(text=None, lemmas=None)
        ).rowcount
        result.wordings = conn.execute(
            fact_unresolved.delete().where(fact_unresolved.c.day < cutoff_day)
        ).rowcount
        result.pending = conn.execute(pending_events.delete().where(pending_events.c.ts < cutoff)).rowcount
    facts.rebuild(store, [cutoff_day])  # the day the period ends in: keep only its newer texts
    result.tracker_events = _delete_rasa_events(settings.tracker_url, cutoff)
    result.broker_events = _delete_rasa_events(
        settings.events_url, cutoff, up_to=store.checkpoint(source_name(settings.events_url))
    )
    return result


def _delete_rasa_events(url: str, cutoff: float, *, up_to: int | None = None) -> int:
    """Delete old rows of a Rasa ``events`` table: the tracker store's (with a timestamp column) or
    the SQL broker's (the timestamp inside the JSON, and only rows already ingested)."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername.startswith("sqlite") and not (parsed.database and Path(parsed.database).exists()):
        return 0
    engine = sa.create_engine(url, future=True)
    try:
        with engine.begin() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table("events"):
                return 0
            columns = {c["name"] for c in inspector.get_columns("events")}
            if "timestamp" in columns:
                statement = "DELETE FROM events WHERE timestamp < :cutoff"
            elif engine.dialect.name == "postgresql":
                statement = (
                    "DELETE FROM events WHERE id <= :up_to "
                    "AND CAST(CAST(data AS json)->>'timestamp' AS double precision) < :cutoff"
                )
            else:
                statement = (
                    "DELETE FROM events WHERE id <= :up_to "
                    "AND CAST(json_extract(data, '$.timestamp') AS REAL) < :cutoff"
                )
            return conn.execute(sa.text(statement), {"cutoff": cutoff, "up_to": up_to or 0}).rowcount
    finally:
        engine.dispose()
