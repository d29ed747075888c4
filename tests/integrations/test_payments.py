"""GOV.UK Pay client: unit tests on MockTransport, contract tests on the sandbox (API, page, webhooks)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from integrations.errors import AuthFailed, NotFound, Rejected, TimedOut, Unavailable
from integrations.payments import (
    CARD_PAYMENT_CAPTURED,
    CARD_PAYMENT_FAILED,
    CARD_PAYMENT_SUCCEEDED,
    Payment,
    PaymentsClient,
    PaymentStatus,
    WebhookError,
    parse_webhook,
    verify_webhook,
)
from integrations.sandbox.main import create_app
from integrations.sandbox.settings import SandboxSettings
from integrations.settings import Endpoint, Settings, Timeouts
from tests.integrations.contract import schema_assert
from tests.support.mock_http import Recorder, mock_client

NEXT_URL = "https://card.payments.service.gov.uk/secure/8c2b1f6e-secret-token"
KEY = "api_test_unit-key"
AUTH = {"Authorization": "Bearer api_test_sandbox-pay-key", "Content-Type": "application/json"}


assert_schema = schema_assert("pay")


def payment_body(status: str = "created", **extra) -> dict:
    finished = status in ("success", "failed", "cancelled", "error")
    body: dict[str, Any] = {
        "amount": 4100,
        "description": "Garden waste subscription renewal",
        "reference": "GW-1234",
        "language": "en",
        "state": {"status": status, "finished": finished},
        "payment_id": "hu20sqlact5260q2nanm0q8u93",
        "payment_provider": "sandbox",
        "created_date": "2026-11-27T10:15:00.000Z",
        "return_url": "https://council.example/payments/return",
        "delayed_capture": False,
        "moto": False,
        "refund_summary": {"status": "pending", "amount_available": 0, "amount_submitted": 0},
        "settlement_summary": {},
        "_links": {
            "self": {"href": "https://publicapi.test/v1/payments/hu20sqlact5260q2nanm0q8u93", "method": "GET"}
        },
    }
    if not finished:
        body["_links"]["next_url"] = {"href": NEXT_URL, "method": "GET"}
    body.update(extra)
    return body


def client_for(handler, **timeouts) -> tuple[PaymentsClient, list[float]]:
    endpoint = Endpoint("https://publicapi.test", key=KEY)
    return mock_client(PaymentsClient, handler, endpoint, Timeouts(**timeouts))


async def create(client: PaymentsClient, key: str = "gw-conv1-renewal", amount: int = 4100) -> Payment:
    return await client.create_payment(
        amount, "GW-1234", "Garden waste subscription renewal", "https://council.example/payments/return", key
    )


# --- unit: the client ---------------------------------------------------------------------


async def test_create_payment_sends_bearer_key_body_and_idempotency_key_and_types_the_result():
    rec = Recorder(httpx.Response(201, json=payment_body()))
    client, _ = client_for(rec)
    payment = await client.create_payment(
        4100,
        "GW-1234",
        "Garden waste",
        "https://council.example/r",
        "gw-conv1-renewal",
        email="a@b.example",
        metadata={"uprn": "100121000007"},
    )
    sent = rec.requests[0]
    assert sent.method == "POST" and sent.url.path == "/v1/payments"
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.headers["Idempotency-Key"] == "gw-conv1-renewal"
    assert json.loads(sent.content) == {
        "amount": 4100,
        "reference": "GW-1234",
        "description": "Garden waste",
        "return_url": "https://council.example/r",
        "language": "en",
        "email": "a@b.example",
        "metadata": {"uprn": "100121000007"},
    }
    assert payment.payment_id == "hu20sqlact5260q2nanm0q8u93"
    assert payment.status is PaymentStatus.CREATED and not payment.is_finished and not payment.is_success
    assert payment.next_url == NEXT_URL
    assert payment.amount_pence == 4100 and payment.amount_text == "£41.00"


async def test_a_repeat_answered_200_with_the_same_key_is_accepted_as_the_same_payment():
    client, _ = client_for(Recorder(httpx.Response(200, json=payment_body())))
    assert (await create(client)).payment_id == "hu20sqlact5260q2nanm0q8u93"


async def test_create_is_retried_after_a_503_with_the_same_idempotency_key():
    rec = Recorder(httpx.Response(503, json={"code": "P0999"}), httpx.Response(201, json=payment_body()))
    client, slept = client_for(rec)
    await create(client)
    assert len(rec.requests) == 2 and len(slept) == 1
    assert {r.headers["Idempotency-Key"] for r in rec.requests} == {"gw-conv1-renewal"}


async def test_create_is_retried_after_a_read_timeout_because_the_key_makes_it_safe():
    rec = Recorder(httpx.ReadTimeout("slow"), httpx.Response(200, json=payment_body()))
    client, _ = client_for(rec)
    await create(client)
    assert len(rec.requests) == 2


async def test_create_without_an_idempotency_key_is_refused_before_any_request():
    rec = Recorder(httpx.Response(201, json=payment_body()))
    client, _ = client_for(rec)
    with pytest.raises(ValueError):
        await create(client, key="")
    assert rec.requests == []


async def test_get_payment_types_a_success_with_card_details_and_no_next_url():
    card = {
        "card_brand": "Visa",
        "card_type": "debit",
        "last_digits_card_number": "4242",
        "expiry_date": "12/30",
        "first_digits_card_number": "424242",
        "cardholder_name": "Sandbox Test Card",
    }
    rec = Recorder(httpx.Response(200, json=payment_body("success", card_details=card)))
    client, _ = client_for(rec)
    payment = await client.get_payment("hu20sqlact5260q2nanm0q8u93")
    assert rec.requests[0].url.path == "/v1/payments/hu20sqlact5260q2nanm0q8u93"
    assert payment.is_success and payment.is_finished and payment.next_url is None
    assert payment.card_details is not None and payment.card_details.last_digits_card_number == "4242"


async def test_get_payment_keeps_the_failure_code():
    state = {"status": "failed", "finished": True, "code": "P0020", "message": "Payment expired"}
    client, _ = client_for(Recorder(httpx.Response(200, json=payment_body("failed", state=state))))
    payment = await client.get_payment("x")
    assert payment.status is PaymentStatus.FAILED and payment.state.code == "P0020" and not payment.is_success


@pytest.mark.parametrize(
    "status,body,error,reason",
    [
        (401, {}, AuthFailed, None),
        (404, {"code": "P0200", "description": "Not found"}, NotFound, None),
        (400, {"code": "P0197", "description": "Unable to parse JSON"}, Rejected, "P0197"),
        (
            400,
            {"field": "amount", "code": "P0101", "description": "Missing mandatory attribute: amount"},
            Rejected,
            "P0101",
        ),
        (
            422,
            {"field": "amount", "code": "P0102", "description": "Invalid attribute value: amount."},
            Rejected,
            "P0102",
        ),
        (
            409,
            {"code": "P0191", "description": "The `Idempotency-Key` ... has already been used"},
            Rejected,
            "P0191",
        ),
        (429, {"code": "P0900", "description": "Too many requests"}, Unavailable, None),
        (500, {"code": "P0198", "description": "Downstream system error"}, Unavailable, None),
    ],
)
async def test_pay_errors_map_to_the_hierarchy_with_the_pay_code_as_reason(status, body, error, reason):
    client, _ = client_for(Recorder(httpx.Response(status, json=body)))
    with pytest.raises(error) as caught:
        await create(client)
    assert caught.value.status == status
    if reason:
        assert caught.value.reason == reason


async def test_a_rate_limited_get_waits_for_retry_after_then_succeeds():
    rec = Recorder(
        httpx.Response(
            429, json={"code": "P0900", "description": "Too many requests"}, headers={"Retry-After": "1"}
        ),
        httpx.Response(200, json=payment_body()),
    )
    client, slept = client_for(rec)
    await client.get_payment("x")
    assert slept == [1.0]


async def test_cancel_posts_to_cancel_and_a_finished_payment_is_rejected_with_p0501():
    rec = Recorder(httpx.Response(204))
    client, _ = client_for(rec)
    await client.cancel_payment("abc")
    assert rec.requests[0].method == "POST" and rec.requests[0].url.path == "/v1/payments/abc/cancel"
    refused, _ = client_for(
        Recorder(httpx.Response(400, json={"code": "P0501", "description": "Cancellation..."}))
    )
    with pytest.raises(Rejected) as caught:
        await refused.cancel_payment("abc")
    assert caught.value.reason == "P0501"


async def test_an_unexpected_payment_shape_is_unavailable():
    client, _ = client_for(Recorder(httpx.Response(200, json={"state": {"status": "teleported"}})))
    with pytest.raises(Unavailable):
        await client.get_payment("x")


async def test_next_url_email_and_key_never_reach_reprs_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    client, _ = client_for(Recorder(httpx.Response(201, json=payment_body(email="resident@example.org"))))
    payment = await create(client)
    assert payment.next_url == NEXT_URL
    for text in (repr(payment), str(payment), caplog.text):
        assert "secret-token" not in text and "resident@example.org" not in text and KEY not in text
    assert "create_payment" in caplog.text  # the call itself was logged


# --- unit: webhooks -----------------------------------------------------------------------


SECRET = "webhook-signing-secret"


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_body(event_type: str = CARD_PAYMENT_SUCCEEDED) -> bytes:
    resource = payment_body("success")
    del resource["_links"]
    message = {
        "webhook_message_id": "b4b5c6d7-0000-4000-8000-000000000001",
        "created_date": "2026-11-27T10:20:00.000Z",
        "resource_id": resource["payment_id"],
        "api_version": 1,
        "resource_type": "payment",
        "event_type": event_type,
        "resource": resource,
    }
    return json.dumps(message).encode()


def test_verify_webhook_accepts_the_signature_of_these_exact_bytes():
    body = webhook_body()
    assert verify_webhook(body, sign(body), SECRET)
    assert verify_webhook(body, sign(body).upper(), SECRET)  # hex case does not matter


@pytest.mark.parametrize(
    "signature,secret,body_change",
    [
        ("sign", "other-secret", b""),  # signed with another secret
        ("sign", SECRET, b" "),  # body changed after signing
        ("", SECRET, b""),  # no signature
        ("sign", "", b""),  # no secret configured: never trust
        ("zz\u00e9not-hex", SECRET, b""),  # garbage, non-ASCII
    ],
)
def test_verify_webhook_refuses_anything_else(signature, secret, body_change):
    body = webhook_body()
    given = sign(body) if signature == "sign" else signature
    assert not verify_webhook(body + body_change, given, secret)


def test_parse_webhook_types_the_event_and_its_payment():
    event = parse_webhook(webhook_body(CARD_PAYMENT_CAPTURED))
    assert event.event_type == CARD_PAYMENT_CAPTURED and event.is_payment and event.api_version == 1
    assert event.payment is not None and event.payment.is_success
    assert event.resource_id == event.payment.payment_id
    assert_schema(json.loads(webhook_body()), "WebhookMessage")


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"event_type": "card_payment_failed"}'])
def test_parse_webhook_rejects_what_is_not_a_pay_message(body):
    with pytest.raises(WebhookError):
        parse_webhook(body)


# --- contract: the client against the running sandbox ----------------------------------------


class Receiver:
    """A webhook endpoint in the test process: records deliveries, fails the first ``fail_first``."""

    def __init__(self, fail_first: int = 0) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = len(receiver.deliveries) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pay-webhooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.deliveries) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.deliveries) >= count, f"{len(self.deliveries)} of {count} webhooks arrived"
        return self.deliveries

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
async def live(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    async with httpx.AsyncClient() as http:
        yield PaymentsClient(http, settings.pay, settings.timeouts), clean_sandbox, settings


@pytest.fixture
def receiver(clean_sandbox):
    receivers: list[Receiver] = []

    def start(fail_first: int = 0) -> Receiver:
        found = Receiver(fail_first)
        receivers.append(found)
        httpx.put(clean_sandbox.url + "/_admin/pay/webhook-url", json={"url": found.url}).raise_for_status()
        return found

    yield start
    for found in receivers:
        found.close()


async def live_create(client: PaymentsClient, settings: Settings, key: str, amount: int = 4100) -> Payment:
    return await client.create_payment(
        amount, f"GW-{key}", "Garden waste subscription renewal (1 bin)", settings.pay_return_url, key
    )


def choose_on_payment_page(next_url: str, action: str) -> tuple[httpx.Response, httpx.Response]:
    """What a resident's browser does: open next_url, then press one of the three buttons.

    Returns the page shown and the answer to the button.
    """
    with httpx.Client(base_url=next_url.split("/pay/")[0], timeout=10) as browser:
        opened = browser.get(next_url)
        assert opened.status_code == 303
        page = browser.get(opened.headers["location"])
        assert page.status_code == 200
        return page, browser.post(opened.headers["location"], data={"action": action})


async def test_sandbox_create_gives_a_payment_page_link_that_is_not_the_payment_id(live):
    client, sandbox, settings = live
    payment = await live_create(client, settings, "contract-create-1")
    assert payment.status is PaymentStatus.CREATED and payment.amount_pence == 4100
    assert payment.next_url and payment.next_url.startswith(sandbox.url + "/pay/")
    assert payment.payment_id not in payment.next_url
    again = await client.get_payment(payment.payment_id)
    assert again == payment  # next_url is left out of equality; everything else matches


async def test_sandbox_same_key_same_body_is_the_same_payment_and_another_body_is_p0191(live):
    client, sandbox, settings = live
    first = await live_create(client, settings, "contract-idem-1")
    again = await live_create(client, settings, "contract-idem-1")
    assert again.payment_id == first.payment_id
    assert len([r for r in sandbox.rows("pay_payments") if r["idempotency_key"] == "contract-idem-1"]) == 1
    with pytest.raises(Rejected) as caught:
        await live_create(client, settings, "contract-idem-1", amount=4200)
    assert caught.value.reason == "P0191" and caught.value.status == 409


async def test_sandbox_paying_on_the_page_redirects_to_the_return_url_and_succeeds(live):
    client, sandbox, settings = live
    payment = await live_create(client, settings, "contract-pay-1")
    page, finished = choose_on_payment_page(payment.next_url, "pay")
    assert "£41.00" in page.text and "Garden waste subscription renewal (1 bin)" in page.text
    assert page.text.count('type="submit"') == 3 and '<html lang="en">' in page.text
    assert finished.status_code == 303 and finished.headers["location"] == settings.pay_return_url
    paid = await client.get_payment(payment.payment_id)
    assert paid.is_success and paid.is_finished and paid.next_url is None
    assert paid.card_details is not None and paid.card_details.card_brand == "Visa"


async def test_sandbox_payment_link_is_single_use(live):
    client, sandbox, settings = live
    payment = await live_create(client, settings, "contract-once-1")
    first = httpx.get(payment.next_url)
    assert first.status_code == 303
    second = httpx.get(payment.next_url)  # someone else with the same link
    assert second.status_code == 400 and "already been used" in second.text
    stranger = httpx.get(sandbox.url + first.headers["location"])  # without the session cookie
    assert stranger.status_code == 403


@pytest.mark.parametrize("action,code", [("decline", "P0010"), ("cancel", "P0030")])
async def test_sandbox_declining_or_cancelling_on_the_page_fails_the_payment_with_its_code(
    live, action, code
):
    client, sandbox, settings = live
    payment = await live_create(client, settings, f"contract-{action}-1")
    _, finished = choose_on_payment_page(payment.next_url, action)
    assert finished.headers["location"] == settings.pay_return_url
    failed = await client.get_payment(payment.payment_id)
    assert failed.status is PaymentStatus.FAILED and failed.state.code == code and not failed.is_success


async def test_sandbox_cancel_by_the_service_then_cancel_again_is_refused(live):
    client, sandbox, settings = live
    payment = await live_create(client, settings, "contract-cancel-1")
    await client.cancel_payment(payment.payment_id)
    cancelled = await client.get_payment(payment.payment_id)
    assert cancelled.status is PaymentStatus.CANCELLED and cancelled.state.code == "P0040"
    with pytest.raises(Rejected) as caught:
        await client.cancel_payment(payment.payment_id)
    assert caught.value.reason == "P0501"
    assert "has already been completed" in httpx.get(payment.next_url).text


async def test_sandbox_payment_expires_90_minutes_after_it_was_made(live):
    client, sandbox, settings = live
    payment = await live_create(client, settings, "contract-expire-1")
    httpx.post(sandbox.url + f"/_admin/pay/payments/{payment.payment_id}/backdate", json={"minutes": 89})
    assert not (await client.get_payment(payment.payment_id)).is_finished
    httpx.post(sandbox.url + f"/_admin/pay/payments/{payment.payment_id}/backdate", json={"minutes": 2})
    expired = await client.get_payment(payment.payment_id)
    assert (
        expired.status is PaymentStatus.FAILED and expired.state.code == "P0020" and expired.next_url is None
    )
    assert "expired" in httpx.get(payment.next_url).text
    events = httpx.get(sandbox.url + "/_admin/pay/webhooks").json()
    assert [e["event_type"] for e in events if e["payment_id"] == payment.payment_id] == [
        "card_payment_expired"
    ]


async def test_sandbox_unknown_payment_is_not_found_and_a_wrong_key_is_auth_failed(live):
    client, sandbox, settings = live
    with pytest.raises(NotFound):
        await client.get_payment("nosuchpayment0000000000000")
    async with httpx.AsyncClient() as http:
        wrong = PaymentsClient(http, Endpoint(sandbox.url, key="api_test_wrong"))
        with pytest.raises(AuthFailed):
            await wrong.get_payment("nosuchpayment0000000000000")


async def test_sandbox_seeded_payments_are_there(live):
    client, sandbox, settings = live
    seeded = {r["reference"]: r["payment_id"] for r in sandbox.rows("pay_payments")}
    success = await client.get_payment(seeded["GW-SEED-0001"])
    assert success.is_success and success.amount_pence == 4400 and success.card_details is not None
    assert (await client.get_payment(seeded["GW-SEED-0002"])).state.code == "P0010"
    assert (await client.get_payment(seeded["CT-SEED-0003"])).status is PaymentStatus.CANCELLED


async def test_sandbox_fault_on_create_is_retried_with_the_key_and_makes_one_payment(live):
    client, sandbox, settings = live
    sandbox.fault(path="/v1/payments", method="POST", status=503, times=1)
    payment = await live_create(client, settings, "contract-fault-1")
    assert payment.status is PaymentStatus.CREATED
    assert len([r for r in sandbox.rows("pay_payments") if r["idempotency_key"] == "contract-fault-1"]) == 1
    sandbox.fault(path="/v1/payments", method="POST", status=503)
    with pytest.raises(Unavailable):
        await live_create(client, settings, "contract-fault-2")


async def test_sandbox_slow_get_is_retried_then_a_timeout(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    # Bounded latency rather than a hang, so no request outlives the test run.
    clean_sandbox.fault(path="/v1/payments/", method="GET", latency_ms=1500, times=3)
    async with httpx.AsyncClient() as http:
        client = PaymentsClient(
            http, settings.pay, Timeouts(connect=0.5, read=0.3, deadline=1.0, max_retries=1)
        )
        with pytest.raises(TimedOut):
            await client.get_payment("anything")
    left = [f["times"] for f in httpx.get(clean_sandbox.url + "/_admin/faults").json()]
    assert left == [1]  # a GET is safe to repeat: it was tried twice


# --- contract: webhooks from the payment page ------------------------------------------------


async def test_sandbox_webhooks_after_paying_are_signed_and_parse_to_a_success(live, receiver):
    client, sandbox, settings = live
    hook = receiver()
    payment = await live_create(client, settings, "contract-hook-1")
    choose_on_payment_page(payment.next_url, "pay")
    deliveries = hook.wait_for(2)
    events = []
    for headers, body in deliveries:
        assert headers["content-type"] == "application/json"
        assert verify_webhook(body, headers["pay-signature"], settings.pay.secret)
        assert_schema(json.loads(body), "WebhookMessage")
        events.append(parse_webhook(body))
    assert [e.event_type for e in events] == [CARD_PAYMENT_SUCCEEDED, CARD_PAYMENT_CAPTURED]
    assert all(e.payment is not None and e.payment.is_success for e in events)
    assert {e.resource_id for e in events} == {payment.payment_id}


async def test_sandbox_webhook_is_retried_until_the_receiver_accepts_it(live, receiver):
    client, sandbox, settings = live
    hook = receiver(fail_first=2)
    payment = await live_create(client, settings, "contract-hook-2")
    choose_on_payment_page(payment.next_url, "decline")
    deliveries = hook.wait_for(3)
    assert len({body for _, body in deliveries}) == 1  # the same message each time
    assert parse_webhook(deliveries[0][1]).event_type == CARD_PAYMENT_FAILED
    for _ in range(50):
        message = httpx.get(sandbox.url + "/_admin/pay/webhooks").json()[-1]
        if message["delivery_status"] == "successful":
            break
        await asyncio.sleep(0.1)
    assert message["delivery_status"] == "successful" and message["attempts"] == 3


async def test_sandbox_webhook_resend_delivers_a_duplicate(live, receiver):
    client, sandbox, settings = live
    hook = receiver()
    payment = await live_create(client, settings, "contract-hook-3")
    choose_on_payment_page(payment.next_url, "cancel")
    first = hook.wait_for(1)[0][1]
    message_id = parse_webhook(first).webhook_message_id
    httpx.post(sandbox.url + f"/_admin/pay/webhooks/{message_id}/resend").raise_for_status()
    assert hook.wait_for(2)[1][1] == first


def test_sandbox_sends_webhooks_to_the_url_in_its_settings(tmp_path):
    hook = Receiver()
    settings = SandboxSettings(
        db_path=str(tmp_path / "sandbox.db"),
        public_url="http://testserver",
        today=None,
        pay_webhook_url=hook.url,
        client=Settings.from_env({}),
    )
    try:
        with TestClient(create_app(settings)) as browser:
            created = browser.post("/v1/payments", content=good_body(), headers=AUTH)
            opened = browser.get(created.json()["_links"]["next_url"]["href"], follow_redirects=False)
            chosen = browser.post(opened.headers["location"], data={"action": "pay"}, follow_redirects=False)
            assert chosen.status_code == 303
        headers, body = hook.wait_for(2)[0]
        assert verify_webhook(body, headers["pay-signature"], settings.client.pay.secret)
        assert parse_webhook(body).resource_id == created.json()["payment_id"]
    finally:
        hook.close()


# --- contract: the sandbox's shapes and bad input -----------------------------------------------


def raw_create(sandbox, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(sandbox.url + "/v1/payments", content=content, headers={**AUTH, **headers})


def good_body(**change) -> bytes:
    body = {
        "amount": 4100,
        "reference": "GW-1",
        "description": "Garden waste",
        "return_url": "https://c.example/r",
    }
    body.update(change)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def test_sandbox_payment_responses_match_the_published_schema(clean_sandbox):
    created = raw_create(clean_sandbox, good_body(metadata={"uprn": "1001", "bins": 2}, email="a@b.example"))
    assert created.status_code == 201 and created.headers["location"].endswith(created.json()["payment_id"])
    assert_schema(created.json(), "Payment")
    assert set(created.json()["_links"]) >= {"self", "next_url", "cancel"}
    paid_id = created.json()["payment_id"]
    choose_on_payment_page(created.json()["_links"]["next_url"]["href"], "pay")
    paid = httpx.get(
        clean_sandbox.url + f"/v1/payments/{paid_id}",
        headers={"Authorization": "Bearer api_test_sandbox-pay-key"},
    ).json()
    assert_schema(paid, "Payment")
    assert paid["state"] == {"status": "success", "finished": True} and "next_url" not in paid["_links"]


@pytest.mark.parametrize(
    "content,status,code,field",
    [
        (b"{not json", 400, "P0197", None),
        (good_body(amount=...), 400, "P0101", "amount"),
        (good_body(return_url=None), 400, "P0101", "return_url"),
        (good_body(amount="41.00"), 400, "P0102", "amount"),
        (good_body(amount=27.5), 400, "P0102", "amount"),
        (good_body(amount=0), 422, "P0102", "amount"),
        (good_body(amount=10_000_001), 422, "P0102", "amount"),
        (good_body(reference="x" * 256), 422, "P0102", "reference"),
        (good_body(return_url="http://c.example/r"), 422, "P0102", "return_url"),
        (good_body(language="fr"), 422, "P0102", "language"),
        (good_body(metadata={f"k{i}": i for i in range(11)}), 422, "P0102", "metadata"),
    ],
)
def test_sandbox_bad_create_gets_pays_error_code_and_status(clean_sandbox, content, status, code, field):
    response = raw_create(clean_sandbox, content)
    assert response.status_code == status
    body = response.json()
    assert_schema(body, "RequestError")
    assert body["code"] == code and body.get("field") == field


def test_sandbox_bad_idempotency_key_is_422_naming_the_header(clean_sandbox):
    response = raw_create(clean_sandbox, good_body(), **{"Idempotency-Key": "has spaces!"})
    assert response.status_code == 422
    assert response.json()["header"] == "Idempotency-Key" and response.json()["code"] == "P0102"


def test_sandbox_missing_key_is_401_and_unknown_id_is_404_p0200(clean_sandbox):
    assert httpx.post(clean_sandbox.url + "/v1/payments", content=good_body()).status_code == 401
    missing = httpx.get(
        clean_sandbox.url + "/v1/payments/nosuch",
        headers={"Authorization": "Bearer api_test_sandbox-pay-key"},
    )
    assert missing.status_code == 404 and missing.json() == {"code": "P0200", "description": "Not found"}


def test_sandbox_delayed_capture_waits_for_capture(clean_sandbox):
    auth = {"Authorization": "Bearer api_test_sandbox-pay-key"}
    created = raw_create(clean_sandbox, good_body(delayed_capture=True)).json()
    choose_on_payment_page(created["_links"]["next_url"]["href"], "pay")
    url = clean_sandbox.url + f"/v1/payments/{created['payment_id']}"
    assert httpx.get(url, headers=auth).json()["state"] == {"status": "capturable", "finished": False}
    assert httpx.post(url + "/capture", headers=auth).status_code == 204
    assert httpx.get(url, headers=auth).json()["state"]["status"] == "success"
    again = httpx.post(url + "/capture", headers=auth)
    assert again.status_code == 409 and again.json()["code"] == "P1003"


async def test_sandbox_more_than_15_creates_a_second_is_429_p0900(clean_sandbox):
    async with httpx.AsyncClient(timeout=10) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    clean_sandbox.url + "/v1/payments",
                    content=good_body(),
                    headers={
                        "Authorization": "Bearer api_test_sandbox-pay-key",
                        "Content-Type": "application/json",
                    },
                )
                for _ in range(20)
            )
        )
    limited = [r for r in responses if r.status_code == 429]
    assert limited and all(r.json() == {"code": "P0900", "description": "Too many requests"} for r in limited)
    assert len([r for r in responses if r.status_code == 201]) <= 15
    await asyncio.sleep(1.1)  # let the window pass before the next test creates payments
