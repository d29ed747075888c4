"""The outbox worker against the sandbox over HTTP, with the outbox on PostgreSQL (production's)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from actions.clients import Clients
from integrations.outbox import Outbox, RetryPolicy, Worker, outbox_table
from integrations.settings import Settings
from tests.support import services

pytestmark = pytest.mark.production

NOW = RetryPolicy(max_attempts=3, backoff_start=0.0, backoff_cap=0.0)  # retries due at once


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    name = f"council_outbox_{uuid.uuid4().hex[:8]}"
    url = services.create_database(name)
    box = Outbox(url)
    try:
        yield box
    finally:
        box.engine.dispose()
        services.drop_database(name)


@pytest.fixture
def clients(clean_sandbox: Any) -> Clients:
    return Clients(
        settings=Settings.from_env({"SANDBOX_URL": clean_sandbox.url, "BACKOFFICE_MAX_RETRIES": "0"})
    )


def once(worker: Worker) -> dict[str, int]:
    """One pass of the worker in its own event loop, with HTTP clients of that loop."""

    async def run() -> dict[str, int]:
        worker.clients = Clients(settings=worker.clients.settings)
        try:
            return await worker.run_once()
        finally:
            if worker.clients.http is not None:
                await worker.clients.http.aclose()

    return asyncio.run(run())


def eligible_case(sandbox: Any) -> dict[str, Any]:
    return next(c for c in sandbox.rows("waste_demo_cases") if c["name"] == "missed_bin_eligible")


def reports_for(sandbox: Any, key: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.rows("open311_requests") if r["idempotency_key"] == key]


def keep_missed_bin(outbox: Outbox, sandbox: Any, **contact: str) -> str:
    case = eligible_case(sandbox)
    key = f"report_missed_bin-{uuid.uuid4().hex[:16]}"
    outbox.add(
        key=key, kind="report_missed_bin", intent="report_missed_bin", system="open311",
        conversation="resident-1", payload={"uprn": case["uprn"], "bin_type": case["bin_type"], **contact},
    )  # fmt: skip
    return key


def test_a_kept_report_is_retried_made_once_when_the_system_returns_and_the_resident_told(
    outbox: Outbox, clients: Clients, clean_sandbox: Any
) -> None:
    key = keep_missed_bin(outbox, clean_sandbox, email="resident@example.com")
    worker = Worker(outbox, clients, policy=NOW)
    clean_sandbox.fault(path="/open311/v2/requests.json", method="POST", status=503)
    assert once(worker)["retry"] == 1
    item = outbox.get(key)
    assert item is not None and (item.status, item.attempts) == ("pending", 1) and item.last_error
    assert reports_for(clean_sandbox, key) == []

    clean_sandbox.clear_faults()
    assert once(worker)["done"] == 1
    item = outbox.get(key)
    assert item is not None and item.status == "done" and item.result is not None
    [report] = reports_for(clean_sandbox, key)
    assert item.result["reference"] == report["service_request_id"]
    [email] = [n for n in clean_sandbox.rows("notify_notifications") if n["reference"] == key]
    assert item.result["reference"] in email["body"] and item.result["notified"] is True

    assert once(worker)["done"] == 0  # nothing due: never done twice
    assert len(reports_for(clean_sandbox, key)) == 1


def test_a_worker_that_died_after_the_system_did_it_does_not_do_it_twice(
    outbox: Outbox, clients: Clients, clean_sandbox: Any
) -> None:
    key = keep_missed_bin(outbox, clean_sandbox)
    worker = Worker(outbox, clients, policy=NOW)
    assert once(worker)["done"] == 1
    # As if the worker had died before marking it done: the item is due again.
    with outbox.engine.begin() as conn:
        conn.execute(
            outbox_table.update()
            .where(outbox_table.c.key == key)
            .values(status="pending", next_attempt_at=dt.datetime(2000, 1, 1))
        )
    assert once(worker)["done"] == 1
    assert len(reports_for(clean_sandbox, key)) == 1  # the idempotency key made the repeat harmless


def test_after_the_retry_limit_a_person_takes_it_and_the_conversation_can_say_so(
    outbox: Outbox, clients: Clients, clean_sandbox: Any
) -> None:
    key = keep_missed_bin(outbox, clean_sandbox)
    worker = Worker(outbox, clients, policy=NOW)
    clean_sandbox.fault(path="/open311/v2/requests.json", method="POST", status=503)
    outcomes = [once(worker) for _ in range(3)]
    assert [o["retry"] for o in outcomes] == [1, 1, 0] and outcomes[-1]["needs_person"] == 1
    item = outbox.get(key)
    assert item is not None and item.status == "needs_person"
    [(shown_item, message)] = outbox.messages_for("resident-1")
    assert shown_item.key == key and "member of staff" in message
    outbox.mark_shown(shown_item)
    assert outbox.messages_for("resident-1") == []
    assert reports_for(clean_sandbox, key) == []


def test_a_refusal_goes_to_a_person_at_once(outbox: Outbox, clients: Clients, clean_sandbox: Any) -> None:
    key = keep_missed_bin(outbox, clean_sandbox)
    clean_sandbox.fault(path="/open311/v2/requests.json", method="POST", status=400)
    assert once(Worker(outbox, clients, policy=NOW))["needs_person"] == 1
    item = outbox.get(key)
    assert item is not None and item.status == "needs_person"


def test_a_kind_with_no_handler_goes_to_a_person(outbox: Outbox, clients: Clients) -> None:
    outbox.add(key="k-1", kind="unheard_of", intent="x", system="x", conversation="c", payload={})
    assert once(Worker(outbox, clients, policy=NOW))["needs_person"] == 1


def test_two_workers_never_take_the_same_item(outbox: Outbox) -> None:
    outbox.add(key="k-2", kind="report_missed_bin", intent="x", system="x", conversation="c", payload={})
    [item] = outbox.due()
    lease = dt.timedelta(minutes=5)
    assert [outbox.claim(item, lease), outbox.claim(item, lease)] == [True, False]
    assert outbox.due() == []
    with outbox.engine.begin() as conn:  # its worker died: the lease runs out
        conn.execute(outbox_table.update().values(next_attempt_at=dt.datetime(2000, 1, 1)))
    assert outbox.release_stale() == 1 and len(outbox.due()) == 1


def test_the_same_request_kept_twice_is_kept_once(outbox: Outbox) -> None:
    for _ in range(2):
        outbox.add(
            key="k-3", kind="report_missed_bin", intent="x", system="x", conversation="c", payload={"a": 1}
        )
    with outbox.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_table)).scalar_one() == 1
