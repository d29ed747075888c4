"""Retention: past the period, what residents wrote and their conversations are deleted; the counts stay."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sqlalchemy as sa

from insights import queries, retention
from insights.ingest import ingest_sql
from insights.queries import Scope
from tests.insights.conftest import T0, recording, run_cli, settings_for
from tests.support.processes import ROOT

DAY = 86_400.0
NOW = T0 + 40 * DAY  # the first conversations are 40 days old, the last 5


def rasa_tables(settings) -> None:
    """Rasa's own tracker store and broker tables: a conversation 40 days old and one 5 days old."""
    from rasa.core.brokers.sql import SQLEventBroker
    from rasa.core.tracker_store import SQLTrackerStore

    tracker = SQLTrackerStore(dialect="sqlite", db=sa.engine.make_url(settings.tracker_url).database)
    broker = SQLEventBroker(db=sa.engine.make_url(settings.events_url).database)
    for sender, start in (("old", T0), ("new", NOW - 5 * DAY)):
        events = recording("fallback_then_chase", sender=sender, start=start)
        with tracker.engine.begin() as conn:
            for event in events:
                conn.execute(
                    tracker.SQLEvent.__table__.insert().values(
                        sender_id=sender,
                        type_name=event["event"],
                        timestamp=event["timestamp"],
                        data=json.dumps(event),
                    )
                )
        for event in events:
            broker.publish(event)
    tracker.engine.dispose()
    broker.engine.dispose()


def count(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).scalar()
    finally:
        engine.dispose()


def test_text_and_conversations_older_than_the_period_are_deleted_and_counts_stay(sqlite_store):
    store, settings = sqlite_store
    rasa_tables(settings)
    ingest_sql(store, settings, now=NOW)
    scope = Scope(dt.date(2026, 3, 1), dt.date(2026, 4, 30))
    with store.engine.connect() as conn:
        before = queries.fetch_totals(conn, scope)
    assert count(settings.store_url, "SELECT COUNT(*) FROM requests WHERE text IS NOT NULL") == 2

    result = retention.apply(store, settings, now=NOW)  # 30 days by default

    assert (result.texts, result.tracker_events, result.broker_events) == (1, 14, 14)
    with store.engine.connect() as conn:
        assert queries.fetch_totals(conn, scope) == before
        kept = conn.execute(
            sa.text("SELECT started, text, lemmas FROM requests WHERE text IS NOT NULL")
        ).all()
        wordings = queries.fetch_unresolved_wordings(conn, scope)
    assert [round(r.started) for r in kept] == [round(NOW - 5 * DAY)]
    assert sum(w["requests"] for w in wordings) == 1
    assert count(settings.tracker_url, "SELECT MIN(timestamp) FROM events") >= NOW - 30 * DAY
    assert count(settings.tracker_url, "SELECT COUNT(*) FROM events") == 14
    assert count(settings.events_url, "SELECT COUNT(*) FROM events") == 14


def test_broker_events_not_yet_ingested_are_kept_whatever_their_age(sqlite_store):
    store, settings = sqlite_store
    rasa_tables(settings)  # never ingested: the checkpoint is 0
    result = retention.apply(store, settings, now=NOW)
    assert result.broker_events == 0
    assert count(settings.events_url, "SELECT COUNT(*) FROM events") == 28


def test_retention_runs_from_the_command_line_with_its_own_period(tmp_path: Path):
    settings = settings_for(tmp_path)
    env = {
        "DEMAND_STORE_URL": settings.store_url,
        "RASA_EVENTS_DB": str(tmp_path / "events.db"),
        "RASA_TRACKER_DB": str(tmp_path / "tracker.db"),
        "DEMAND_HASH_KEY": "k",
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
    }
    done = run_cli(env, "retention", "--days", "7")
    assert done.returncode == 0, done.stderr
    assert "deleted: 0 request texts" in done.stdout


def test_old_ingested_events_are_deleted_from_a_broker_table_on_postgresql(pg_url: str):
    from rasa.core.brokers.sql import SQLEventBroker

    url = sa.engine.make_url(pg_url)
    broker = SQLEventBroker(
        dialect="postgresql", host=url.host, port=url.port, db=url.database, username=url.username
    )
    try:
        for i, ts in enumerate([T0, T0 + 1, NOW - DAY, NOW]):
            broker.publish({"sender_id": f"s{i}", "event": "user", "timestamp": ts, "text": "hi"})
        # Rows 1-3 are ingested; of those, the two older than 30 days go.
        assert retention._delete_rasa_events(pg_url, NOW - 30 * DAY, up_to=3) == 2
        assert count(pg_url, "SELECT COUNT(*) FROM events") == 2
    finally:
        broker.SQLBrokerEvent.__table__.drop(broker.engine)
        broker.engine.dispose()
