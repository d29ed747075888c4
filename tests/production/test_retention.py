"""Redaction and retention on the production profile: demand arrives through RabbitMQ into
PostgreSQL, the demand capture (``insights``) redacts it, and retention deletes it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.production.stack import ProductionStack
from tests.support.processes import ROOT

pytestmark = pytest.mark.production

EMAIL, PHONE = "jo.bloggs@example.com", "07700 900123"


def insights(stack: ProductionStack, *args: str) -> str:
    env = {
        **os.environ, **stack.env, "PYTHONPATH": str(ROOT),
        "DEMAND_STORE_URL": stack.env["DEMAND_STORE_URL"], "RASA_EVENTS_DB": stack.env["DEMAND_EVENTS_URL"],
        "RASA_TRACKER_DB": stack.env["TRACKER_DB_URL"], "DEMAND_HASH_KEY": "k" * 64,
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "insights", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_demand_through_rabbitmq_is_stored_redacted_and_deleted_after_retention(
    production: ProductionStack,
) -> None:
    sender = f"pii-{uuid.uuid4().hex[:8]}"
    for text in (f"my email is {EMAIL} and the pothole outside is huge", f"ring me on {PHONE} about my roof"):
        assert production.say(sender, text).status_code == 200
    # The demand consumer has the conversation's events from RabbitMQ.
    for _ in range(120):
        rows = production.query(
            "DEMAND_EVENTS_URL", "SELECT count(*) AS n FROM events WHERE sender_id = :s", s=sender
        )
        if rows[0].n >= len(production.tracker_events(sender)):
            break
        time.sleep(0.5)
    assert rows[0].n >= len(production.tracker_events(sender)) > 0

    insights(production, "ingest", "--idle-minutes", "0")
    texts = [
        r.text
        for r in production.query("DEMAND_STORE_URL", "SELECT text FROM requests WHERE text IS NOT NULL")
    ]
    assert texts, "the unresolved requests keep their (redacted) text"
    assert not [t for t in texts if EMAIL in t or PHONE in t or "07700900123" in t]
    assert any("[email]" in t or "[phone]" in t for t in texts)
    dump = " ".join(str(r) for r in production.query("DEMAND_STORE_URL", "SELECT * FROM conversations"))
    assert sender not in dump  # residents are known by a keyed hash only

    insights(production, "retention", "--days", "0")
    assert production.tracker_events(sender) == []
    left = production.query("DEMAND_STORE_URL", "SELECT count(*) AS n FROM requests WHERE text IS NOT NULL")
    assert left[0].n == 0
    broker_rows = production.query(
        "DEMAND_EVENTS_URL", "SELECT count(*) AS n FROM events WHERE sender_id = :s", s=sender
    )
    assert broker_rows[0].n == 0
