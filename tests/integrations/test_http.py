"""The shared request pipeline: errors, safe retries, backoff, timeouts, logging."""

from __future__ import annotations

import logging

import httpx
import pytest

from integrations.errors import AuthFailed, NotFound, Rejected, TimedOut, Unavailable
from integrations.http import ApiClient, backoff_delay, retry_after_seconds
from integrations.settings import Endpoint, Timeouts
from tests.support.mock_http import Recorder, mock_client


def make_client(handler, **timeouts) -> tuple[ApiClient, list[float]]:
    return mock_client(ApiClient, handler, Endpoint("http://backoffice.test"), Timeouts(**timeouts))


async def test_success_returns_the_response():
    rec = Recorder(httpx.Response(200, json={"ok": True}))
    client, slept = make_client(rec)
    response = await client.request("GET", "/thing", op="thing")
    assert response.json() == {"ok": True}
    assert len(rec.requests) == 1 and slept == []


@pytest.mark.parametrize(
    "status,body,error",
    [
        (404, {"error": "Checkout not found"}, NotFound),
        (401, {"error": "Authentication failure."}, AuthFailed),
        (403, {"error": "bad key"}, AuthFailed),
        (400, [{"code": 400, "description": "service_code missing"}], Rejected),
        (
            422,
            {"errors": [{"error": "ValidationError", "message": "phone_number Not a UK mobile number"}]},
            Rejected,
        ),
    ],
)
async def test_error_statuses_map_to_the_hierarchy(status, body, error):
    client, _ = make_client(Recorder(httpx.Response(status, json=body)))
    with pytest.raises(error) as caught:
        await client.request("GET", "/thing", op="thing")
    assert caught.value.status == status


async def test_rejection_keeps_the_systems_reason():
    body = {"error": "Renewal not authorized (on_reserve)"}
    client, _ = make_client(Recorder(httpx.Response(409, json=body)))
    with pytest.raises(Rejected) as caught:
        await client.request("POST", "/renew", op="renew")
    assert caught.value.reason == "Renewal not authorized (on_reserve)"


async def test_get_is_retried_on_503_then_succeeds():
    rec = Recorder(httpx.Response(503), httpx.Response(503), httpx.Response(200, json=[]))
    client, slept = make_client(rec)
    response = await client.request("GET", "/thing", op="thing")
    assert response.status_code == 200
    assert len(rec.requests) == 3 and len(slept) == 2
    assert slept[1] > 0


async def test_retries_stop_after_max_retries():
    rec = Recorder(httpx.Response(500))
    client, slept = make_client(rec, max_retries=2)
    with pytest.raises(Unavailable):
        await client.request("GET", "/thing", op="thing")
    assert len(rec.requests) == 3


async def test_post_without_idempotency_key_is_not_retried():
    rec = Recorder(httpx.Response(503), httpx.Response(201, json={}))
    client, _ = make_client(rec)
    with pytest.raises(Unavailable):
        await client.request("POST", "/payments", op="create", json={})
    assert len(rec.requests) == 1


async def test_post_with_idempotency_key_is_retried_with_the_same_key():
    rec = Recorder(httpx.Response(502), httpx.Response(201, json={"id": 1}))
    client, _ = make_client(rec)
    response = await client.request("POST", "/payments", op="create", json={}, idempotency_key="k-1")
    assert response.status_code == 201
    assert [r.headers["Idempotency-Key"] for r in rec.requests] == ["k-1", "k-1"]


async def test_post_is_retried_when_the_connection_was_refused():
    rec = Recorder(httpx.ConnectError("refused"), httpx.Response(201, json={}))
    client, _ = make_client(rec)
    response = await client.request("POST", "/requests.json", op="create", data={"a": "b"})
    assert response.status_code == 201 and len(rec.requests) == 2


async def test_post_read_timeout_is_not_retried():
    rec = Recorder(httpx.ReadTimeout("slow"), httpx.Response(201, json={}))
    client, _ = make_client(rec)
    with pytest.raises(TimedOut):
        await client.request("POST", "/requests.json", op="create", data={"a": "b"})
    assert len(rec.requests) == 1


async def test_get_read_timeout_is_retried_then_reported_as_timed_out():
    rec = Recorder(httpx.ReadTimeout("slow"))
    client, _ = make_client(rec)
    with pytest.raises(TimedOut) as caught:
        await client.request("GET", "/thing", op="thing")
    assert caught.value.retryable
    assert len(rec.requests) == 3


async def test_429_honours_retry_after():
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "1.5"}), httpx.Response(200, json={}))
    client, slept = make_client(rec)
    await client.request("GET", "/thing", op="thing")
    assert slept == [1.5]


async def test_retry_after_beyond_the_deadline_gives_up_at_once():
    rec = Recorder(httpx.Response(503, headers={"Retry-After": "120"}), httpx.Response(200, json={}))
    client, slept = make_client(rec, deadline=8.0)
    with pytest.raises(Unavailable):
        await client.request("GET", "/thing", op="thing")
    assert slept == [] and len(rec.requests) == 1


async def test_400_is_not_retried():
    rec = Recorder(httpx.Response(400, json={"error": "bad"}), httpx.Response(200, json={}))
    client, _ = make_client(rec)
    with pytest.raises(Rejected):
        await client.request("GET", "/thing", op="thing")
    assert len(rec.requests) == 1


async def test_each_attempt_gets_a_timeout_within_the_deadline():
    rec = Recorder(httpx.Response(200, json={}))
    client, _ = make_client(rec, connect=2.0, read=5.0, deadline=3.0)
    await client.request("GET", "/thing", op="thing")
    timeout = rec.requests[0].extensions["timeout"]
    assert timeout["read"] <= 3.0 and timeout["connect"] <= 2.0


async def test_a_real_slow_server_times_out_within_the_deadline():
    """Against a real socket that never answers: the call ends by the deadline."""
    import asyncio
    import time

    stop = asyncio.Event()

    async def never_answers(reader, writer):
        await stop.wait()
        writer.close()

    server = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with httpx.AsyncClient() as http:
        client = ApiClient(http, Endpoint(f"http://127.0.0.1:{port}"), Timeouts(read=0.3, deadline=1.0))
        started = time.monotonic()
        with pytest.raises(TimedOut):
            await client.request("GET", "/slow", op="slow")
        assert time.monotonic() - started < 3.0
    stop.set()
    server.close()
    await server.wait_closed()


async def test_logs_name_the_operation_never_the_url_or_query(caplog):
    rec = Recorder(httpx.Response(200, json={}))
    client, _ = make_client(rec)
    with caplog.at_level(logging.INFO, logger="integrations"):
        await client.request(
            "GET", "/patrons", op="patron_lookup", params={"cardnumber": "21234000123456", "key": "s3cret"}
        )
    text = caplog.text
    assert "patron_lookup" in text
    assert "21234000123456" not in text and "s3cret" not in text and "/patrons" not in text


def test_backoff_grows_and_is_capped():
    import random

    policy = Timeouts(backoff_start=0.2, backoff_cap=1.0)
    rng = random.Random(1)
    delays = [backoff_delay(n, policy, rng) for n in range(6)]
    assert 0.1 <= delays[0] <= 0.2
    assert all(d <= 1.0 for d in delays)
    assert delays[4] >= 0.5  # capped step 1.0, jitter at least half


def test_retry_after_accepts_seconds_and_http_dates():
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "3"})) == 3.0
    dated = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(dated) == 0.0  # in the past
    assert retry_after_seconds(httpx.Response(429)) is None
