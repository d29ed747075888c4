"""Ingest from Rasa's SQL event broker table and from a stream: incremental, idempotent, nothing lost."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from insights import facts, queries
from insights.ingest import ingest_events, ingest_sql, source_name
from insights.queries import Scope
from insights.settings import Settings
from insights.store import DemandStore, Writer
from tests.insights.conftest import T0, recording

HOUR = 3600.0


def broker(settings: Settings) -> Any:
    """Rasa's own SQL event broker, writing the table Rasa writes."""
    from rasa.core.brokers.sql import SQLEventBroker

    return SQLEventBroker(db=sa.engine.make_url(settings.events_url).database)


def publish(settings: Settings, *conversations: list[dict[str, Any]]) -> None:
    sql_broker = broker(settings)
    for events in conversations:
        for event in events:
            sql_broker.publish(event)
    sql_broker.engine.dispose()


def outcomes(store: DemandStore) -> list[tuple[str, str, str | None]]:
    with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "SELECT intent, outcome, COALESCE(step, topic, system) FROM requests "
                    "ORDER BY started, seq"
                )
            )
        ]


def count(store: DemandStore, table: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar()


def test_broker_table_is_ingested_once_from_the_checkpoint_on(sqlite_store):
    store, settings = sqlite_store
    publish(
        settings,
        recording("pothole_then_stop", sender="+447700900001", start=T0),
        recording("bin_day_left_at_postcode", sender="+447700900002", start=T0 + 60),
    )
    first = ingest_sql(store, settings, now=T0 + 3 * HOUR)
    assert first.written.conversations == 2
    assert outcomes(store) == [
        ("out_of_scope", "unsupported", "potholes"),
        ("bin_collection_day", "abandoned", "postcode"),
    ]
    assert store.checkpoint(source_name(settings.events_url)) == first.events

    again = ingest_sql(store, settings, now=T0 + 3 * HOUR)
    assert again.events == 0 and count(store, "requests") == 2

    publish(settings, recording("talk_to_a_person", sender="+447700900001", start=T0 + 5 * HOUR))
    later = ingest_sql(store, settings, now=T0 + 8 * HOUR)
    assert later.events == 8 and later.written.requests == 1
    assert count(store, "requests") == 3


def test_a_conversation_still_going_waits_and_is_written_when_it_finishes(sqlite_store):
    store, settings = sqlite_store
    events = recording("bin_day_answered", sender="+447700900003", start=T0)
    publish(settings, events[:20])
    waiting = ingest_sql(store, settings, now=T0 + 600)
    assert waiting.written.conversations == 0 and waiting.pending_conversations == 1
    publish(settings, events[20:])
    still = ingest_sql(store, settings, now=T0 + 900)
    assert still.written.conversations == 0
    done = ingest_sql(store, settings, now=T0 + 2 * HOUR)  # quiet for longer than the session expiry
    assert done.written.conversations == 1 and done.pending_conversations == 0
    assert outcomes(store) == [("bin_collection_day", "informed", None)]
    assert count(store, "messages") == 4 and count(store, "pending_events") == 0


def test_the_resident_is_stored_as_a_keyed_hash_never_the_sender(sqlite_store):
    store, settings = sqlite_store
    publish(settings, recording("talk_to_a_person", sender="whatsapp:+447700900004", start=T0))
    ingest_sql(store, settings, now=T0 + 2 * HOUR)
    with sqlite3.connect(sa.engine.make_url(settings.store_url).database) as db:
        dump = "\n".join(db.iterdump())
    assert "7700900004" not in dump
    with store.engine.connect() as conn:
        resident = conn.execute(sa.text("SELECT resident FROM conversations")).scalar()
    assert len(resident) == 16


def test_a_redelivered_stream_event_changes_nothing(sqlite_store):
    store, settings = sqlite_store
    events = recording("fallback_then_chase", sender="sms:+447700900005", start=T0)
    stream = [(None, e["sender_id"], e) for e in events]
    ingest_events(store, stream[:6], settings=settings, now=T0 + 60)
    ingest_events(store, stream[:6], settings=settings, now=T0 + 120)  # the queue delivers again
    ingest_events(store, stream, settings=settings, now=T0 + 2 * HOUR)
    ingest_events(store, stream, settings=settings, now=T0 + 3 * HOUR)  # and again after it was written
    assert count(store, "conversations") == 1 and count(store, "messages") == 2
    assert outcomes(store) == [
        ("out_of_scope", "unsupported", None),
        ("check_request_status", "informed", None),
    ]


def test_an_ingest_that_fails_half_way_loses_and_duplicates_nothing(sqlite_store, monkeypatch):
    store, settings = sqlite_store
    publish(settings, recording("talk_to_a_person", sender="+447700900006", start=T0))
    original = Writer.write

    def broken(self: Writer, batch: Any) -> Any:
        original(self, batch)
        raise RuntimeError("disk full")

    monkeypatch.setattr(Writer, "write", broken)
    with pytest.raises(RuntimeError):
        ingest_sql(store, settings, now=T0 + 2 * HOUR)
    assert count(store, "requests") == 0 and store.checkpoint(source_name(settings.events_url)) == 0
    monkeypatch.setattr(Writer, "write", original)
    ingest_sql(store, settings, now=T0 + 2 * HOUR)
    assert count(store, "requests") == 1


def test_only_unresolved_requests_keep_text_and_it_is_redacted(sqlite_store):
    store, settings = sqlite_store
    publish(settings, recording("fallback_then_chase", sender="+447700900007", start=T0))
    ingest_sql(store, settings, now=T0 + 2 * HOUR)
    with store.engine.connect() as conn:
        texts = dict(conn.execute(sa.text("SELECT intent, text FROM requests")).all())
    assert texts == {"out_of_scope": "asdkj qwe zzzt", "check_request_status": None}

    events = recording("fallback_then_chase", sender="+447700900008", start=T0 + 3 * HOUR)
    events[3] = {
        **events[3],
        "parse_data": {**events[3]["parse_data"], "intent": {"name": "nlu_fallback"}},
        "text": "my name is John Smith, 07700 900123, SN15 1ER",
    }
    publish(settings, events)
    ingest_sql(store, settings, now=T0 + 6 * HOUR)
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT text FROM requests WHERE intent = 'nlu_fallback'")).scalar()
    assert stored == "my name is [name], [phone], [postcode SN15]"


def test_days_and_hours_are_uk_days_and_hours_in_summer_time(sqlite_store):
    store, settings = sqlite_store
    late_june = dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.timezone.utc).timestamp()  # 00:30 BST on 1 July
    publish(settings, recording("talk_to_a_person", sender="+447700900009", start=late_june))
    ingest_sql(store, settings, now=late_june + 2 * HOUR)
    with store.engine.connect() as conn:
        day, hour, dow, ooh = conn.execute(sa.text("SELECT day, hour, dow, out_of_hours FROM requests")).one()
    assert (day, hour, dow, ooh) == ("2026-07-01", 0, 2, 1)


def test_repeat_contact_counts_the_same_service_within_seven_days_only(sqlite_store):
    store, settings = sqlite_store
    day = 86_400.0
    publish(
        settings,
        recording("bin_day_answered", sender="+447700900010", start=T0),
        recording("missed_bin_then_library_hours", sender="+447700900010", start=T0 + 2 * day),  # waste again
        recording("bin_day_answered", sender="+447700900010", start=T0 + 12 * day),  # too late
        recording("bin_day_answered", sender="+447700900011", start=T0 + 2 * day + 60),
    )  # someone else
    ingest_sql(store, settings, now=T0 + 20 * day)
    with store.engine.connect() as conn:
        rows = queries.fetch_breakdown(conn, Scope(dt.date(2026, 3, 1), dt.date(2026, 3, 31)), by=["service"])
    assert {r["service"]: (r["requests"], r["repeats"]) for r in rows} == {
        "waste": (4, 1),
        "libraries": (1, 0),
    }


def test_facts_rebuilt_twice_are_the_same(sqlite_store):
    store, settings = sqlite_store
    publish(
        settings,
        recording("bin_day_answered", sender="a", start=T0),
        recording("pothole_then_stop", sender="b", start=T0 + 86_400),
    )
    ingest_sql(store, settings, now=T0 + 3 * 86_400)

    def snapshot() -> dict[str, list[Any]]:
        with store.engine.connect() as conn:
            return {
                t: sorted(map(tuple, conn.execute(sa.text(f"SELECT * FROM {t}"))), key=repr)
                for t in facts.TABLES
            }

    before = snapshot()
    assert before["fact_requests"] and before["fact_unresolved"]
    assert facts.rebuild(store, [dt.date(2026, 3, 2), dt.date(2026, 3, 3)]) == 2
    assert snapshot() == before


def test_events_for_an_unknown_shape_are_survived(sqlite_store):
    store, settings = sqlite_store
    weird = [
        (1, "x", {"event": "session_started", "timestamp": T0}),
        (2, "x", {"event": "user", "timestamp": T0 + 1, "text": "hello?", "parse_data": None}),
        (3, "x", {"event": "reminder", "timestamp": T0 + 2}),
        (4, "", {"event": "user", "timestamp": T0 + 3, "text": "no sender"}),
    ]
    result = ingest_events(store, weird, settings=settings, now=T0 + 2 * HOUR, source="test")
    assert result.written.conversations == 1
    assert outcomes(store) == [("nlu_fallback", "not_understood", None)]
    assert store.checkpoint("test") == 4


def test_the_same_year_of_facts_on_sqlite_and_postgresql(any_store):
    store, settings = any_store
    stream = []
    for i, name in enumerate(
        [
            "talk_to_a_person",
            "bin_day_answered",
            "pothole_then_stop",
            "garden_waste_signposted_then_stop",
            "fallback_then_chase",
        ]
    ):
        stream += [
            (None, e["sender_id"], e) for e in recording(name, sender=f"s{i % 2}", start=T0 + i * 86_400)
        ]
    # Repeats: s1 asks about waste on days 1 and 3; s0 about things not served on days 2 and 4.
    ingest_events(store, stream, settings=settings, now=T0 + 30 * 86_400)
    scope = Scope(dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    with store.engine.connect() as conn:
        totals = queries.fetch_totals(conn, scope)
        hours = queries.fetch_hours(conn, scope)
        wordings = queries.fetch_unresolved_wordings(conn, scope)
        weeks = queries.fetch_demand(conn, scope, by="service", period="week")
    assert (totals["requests"], totals["unresolved"], totals["repeats"]) == (6, 2, 2)
    assert sum(h["requests"] for h in hours) == 6
    assert sorted(w["lemmas"] for w in wordings) == ["asdkj qwe zzzt", "huge pothole road"]
    assert {w["period"] for w in weeks} == {dt.date(2026, 3, 2)}


def test_the_broker_table_checkpoint_name_hides_passwords():
    assert (
        source_name("postgresql://rasa:secret@db:5432/events") == "sql:postgresql://rasa:***@db:5432/events"
    )


def test_nothing_to_ingest_when_rasa_has_not_made_its_table(tmp_path: Path, sqlite_store):
    store, settings = sqlite_store
    result = ingest_sql(store, settings, now=T0)
    assert result.events == 0
    assert not Path(sa.engine.make_url(settings.events_url).database).exists()


def test_pending_events_keep_no_sender_id(sqlite_store):
    store, settings = sqlite_store
    publish(settings, recording("bin_day_answered", sender="+447700900012", start=T0)[:10])
    ingest_sql(store, settings, now=T0 + 60)
    with store.engine.connect() as conn:
        data = [json.loads(d) for d in conn.execute(sa.text("SELECT data FROM pending_events")).scalars()]
    assert data and all("sender_id" not in d for d in data)


def test_finishing_every_conversation_now_keeps_each_conversation_whole(sqlite_store):
    store, settings = sqlite_store
    publish(settings, recording("bin_day_answered", sender="+447700900013", start=T0))
    result = ingest_sql(store, settings, now=T0 + 120, idle_seconds=0)
    assert result.written.conversations == 1 and result.pending_conversations == 0
    assert outcomes(store) == [("bin_collection_day", "informed", None)]
