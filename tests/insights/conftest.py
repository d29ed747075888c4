"""Fixtures for demand capture and reports: stores on SQLite and PostgreSQL, recorded conversations."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from insights.settings import Settings
from insights.store import DemandStore
from tests.support.processes import ROOT

FIXTURES = Path(__file__).parent / "fixtures"
#: 2026-03-02 09:00 UTC, a Monday in GMT.
T0 = 1_772_442_000.0


def recording(name: str, *, sender: str, start: float, channel: str | None = None) -> list[dict[str, Any]]:
    """A recorded conversation as the broker publishes it, moved to ``start`` and to another sender."""
    events = json.loads((FIXTURES / f"{name}.json").read_text())["events"]
    first = events[0]["timestamp"]
    out = []
    for event in events:
        moved = {**event, "sender_id": sender, "timestamp": start + (event["timestamp"] - first)}
        if channel and moved.get("event") == "user":
            moved["input_channel"] = channel
        out.append(moved)
    return out


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m insights`` with these arguments, from the repository's root, in this environment only."""
    return subprocess.run(
        [sys.executable, "-m", "insights", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def settings_for(tmp_path: Path, store_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "store_url": store_url or f"sqlite:///{tmp_path / 'demand.db'}",
        "events_url": f"sqlite:///{tmp_path / 'events.db'}",
        "tracker_url": f"sqlite:///{tmp_path / 'tracker.db'}",
        "hash_key": b"test-key",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session (on the machine's server, started if down)."""
    from tests.support.services import create_database, drop_database

    name = f"insights_test_{uuid.uuid4().hex[:8]}"
    try:
        url = create_database(name)
    except Exception as error:  # no PostgreSQL on this machine
        pytest.skip(f"PostgreSQL is not available: {error}")
    try:
        yield url
    finally:
        drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[DemandStore, Settings]]:
    """An empty demand store on SQLite, then on PostgreSQL."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    settings = settings_for(tmp_path, url)
    store = DemandStore.from_settings(settings)
    store.drop()
    store.create()
    try:
        yield store, settings
    finally:
        if request.param == "postgresql":
            store.drop()
        store.engine.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> tuple[DemandStore, Settings]:
    settings = settings_for(tmp_path)
    return DemandStore.from_settings(settings).create(), settings


def conversation(resident: str, started: float, *requests: dict[str, Any], channel: str = "socketio"):
    """A finished conversation in the store's input format; each request a dict of RequestRecord fields."""
    from insights import demand_map
    from insights.capture import conversation_key
    from insights.records import ConversationRecord, MessageRecord, RequestRecord

    dm = demand_map.load()
    built, messages = [], []
    for seq, fields in enumerate(requests):
        info = dm.info(fields["intent"])
        at = started + seq * 120
        values = {
            "seq": seq,
            "started": at,
            "ended": at + 30,
            "channel": channel,
            "service": info.service,
            "category": info.category,
            "demand": info.demand,
            "step": None,
            "topic": None,
            "system": None,
            "messages": 1,
            "confidence": 0.9,
            "text": None,
            **fields,
        }
        built.append(RequestRecord(**values))
        messages.append(MessageRecord(at, fields["intent"], 0.9, None, seq))
    last = built[-1]
    return ConversationRecord(
        conversation_key(resident, started),
        resident,
        channel,
        started,
        last.ended,
        last.outcome,
        last.step,
        tuple(built),
        tuple(messages),
    )
