"""GOV.UK Notify client: unit tests on MockTransport and contract tests on the sandbox."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import jsonschema
import jwt
import pytest

from integrations.errors import AuthFailed, NotFound, Rejected, TimedOut, Unavailable
from integrations.notify import NotifyClient, check_callback_token, create_token, split_api_key
from integrations.settings import DEFAULT_NOTIFY_TEMPLATES, Endpoint, Settings, Timeouts
from tests.support.mock_http import Recorder, mock_client

SANDBOX = Settings.from_env({})
SERVICE_ID, SECRET = "4a4ba9b8-1d24-4e2a-9c1e-1d2b0e9c0001", "6f1f0b6c-9c7e-4f3e-8a38-3c5d0f0f0002"
BOOKING = {
    "activity": "Swimming",
    "place": "Olympiad",
    "date": "Monday 30 November",
    "time": "10:00",
    "reference": "LB-123456",
}

# From the field lists in Notify's API documentation (send a text message / email: response;
# get the status of one message: response; error responses).
SENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "reference", "content", "uri", "template"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "reference": {"type": ["string", "null"]},
        "content": {
            "type": "object",
            "required": ["body"],
            "properties": {
                "body": {"type": "string"},
                "from_number": {"type": "string"},
                "subject": {"type": "string"},
                "from_email": {"type": "string"},
            },
        },
        "uri": {"type": "string", "pattern": "^https?://.+/v2/notifications/[0-9a-f-]{36}$"},
        "template": {
            "type": "object",
            "required": ["id", "version", "uri"],
            "properties": {
                "id": {"type": "string"},
                "version": {"type": "integer"},
                "uri": {"type": "string"},
            },
        },
        "scheduled_for": {"type": ["string", "null"]},
    },
}
STATUSES = [
    "created",
    "sending",
    "pending",
    "sent",
    "delivered",
    "permanent-failure",
    "temporary-failure",
    "technical-failure",
]
NOTIFICATION_SCHEMA = {
    "type": "object",
    "required": [
        "id",
        "reference",
        "email_address",
        "phone_number",
        "type",
        "status",
        "template",
        "body",
        "created_at",
        "sent_at",
        "completed_at",
    ],
    "properties": {
        "id": {"type": "string"},
        "reference": {"type": ["string", "null"]},
        "email_address": {"type": ["string", "null"]},
        "phone_number": {"type": ["string", "null"]},
        **{f"line_{i}": {"type": ["string", "null"]} for i in range(1, 8)},
        "postcode": {"type": ["string", "null"]},
        "type": {"enum": ["sms", "email", "letter"]},
        "status": {"enum": STATUSES},
        "template": SENT_SCHEMA["properties"]["template"],
        "body": {"type": "string"},
        "subject": {"type": ["string", "null"]},
        "created_at": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$"},
        "created_by_name": {"type": ["string", "null"]},
        "sent_at": {"type": ["string", "null"]},
        "completed_at": {"type": ["string", "null"]},
        "scheduled_for": {"type": ["string", "null"]},
    },
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["errors", "status_code"],
    "properties": {
        "status_code": {"type": "integer"},
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def sent_body(kind: str = "sms", **content) -> dict:
    return {
        "id": "740e5834-3a29-46b4-9a6f-16142fde533a",
        "reference": "ref-1",
        "content": {"body": "Your booking for Swimming is confirmed.", **content},
        "uri": "https://api.notifications.service.gov.uk/v2/notifications/740e5834-3a29-46b4-9a6f-16142fde533a",
        "template": {
            "id": DEFAULT_NOTIFY_TEMPLATES["booking_confirmation"],
            "version": 1,
            "uri": "https://x",
        },
    }


def client_for(handler, key: str = SANDBOX.notify.key) -> NotifyClient:
    endpoint = Endpoint("https://notify.test", key=key)
    client, _ = mock_client(NotifyClient, handler, endpoint, templates=SANDBOX.notify_templates)
    return client


def notify_error(status: int, kind: str, message: str) -> httpx.Response:
    return httpx.Response(
        status, json={"errors": [{"error": kind, "message": message}], "status_code": status}
    )


# --- unit: keys, tokens, callbacks -----------------------------------------------------------


def test_the_api_key_splits_into_service_id_and_secret():
    assert split_api_key(SANDBOX.notify.key) == (SERVICE_ID, SECRET)
    assert split_api_key(f"my-key-name-{SERVICE_ID}-{SECRET}") == (SERVICE_ID, SECRET)


@pytest.mark.parametrize(
    "key", ["", "short", f"{SERVICE_ID}{SECRET}", f"name-{SERVICE_ID}-not-a-uuid-at-all-xxxxxxxxxxxxxx"]
)
def test_a_malformed_api_key_is_refused(key):
    with pytest.raises(ValueError):
        split_api_key(key)


def test_the_token_is_hs256_with_the_service_as_issuer_and_now_as_issued_at():
    token = create_token(SERVICE_ID, SECRET, now=1_700_000_000)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_iat": False})
    assert claims == {"iss": SERVICE_ID, "iat": 1_700_000_000}


@pytest.mark.parametrize(
    "header,expected,ok",
    [
        ("Bearer callback-token", "callback-token", True),
        ("bearer  callback-token ", "callback-token", True),
        ("Bearer other-token", "callback-token", False),
        ("Basic callback-token", "callback-token", False),
        ("callback-token", "callback-token", False),
        (None, "callback-token", False),
        ("Bearer ", "", False),  # no token configured: refuse everything
        ("Bearer caf\u00e9", "callback-token", False),
    ],
)
def test_check_callback_token(header, expected, ok):
    assert check_callback_token(header, expected) is ok


# --- unit: the client ------------------------------------------------------------------------


async def test_send_sms_signs_a_fresh_jwt_and_sends_the_template_for_the_purpose():
    rec = Recorder(httpx.Response(201, json=sent_body(from_number="COUNCIL")))
    client = client_for(rec)
    sent = await client.send_sms("07700900123", "booking_confirmation", BOOKING, reference="ref-1")
    request = rec.requests[0]
    assert request.method == "POST" and request.url.path == "/v2/notifications/sms"
    scheme, token = request.headers["Authorization"].split(" ")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_iat": False})
    assert scheme == "Bearer" and claims["iss"] == SERVICE_ID and abs(claims["iat"] - time.time()) < 5
    assert json.loads(request.content) == {
        "phone_number": "07700900123",
        "template_id": DEFAULT_NOTIFY_TEMPLATES["booking_confirmation"],
        "personalisation": BOOKING,
        "reference": "ref-1",
    }
    assert (
        sent.id == "740e5834-3a29-46b4-9a6f-16142fde533a" and sent.type == "sms" and sent.status == "created"
    )
    assert not sent.is_final and sent.template_id == DEFAULT_NOTIFY_TEMPLATES["booking_confirmation"]
    assert "07700900123" not in repr(sent) and "Swimming" not in repr(sent)


async def test_send_email_posts_to_email_with_the_address_and_keeps_the_subject():
    rec = Recorder(httpx.Response(201, json=sent_body(subject="Your booking: Swimming", from_email="x@y")))
    sent = await client_for(rec).send_email("resident@example.org", "booking_confirmation", BOOKING)
    assert rec.requests[0].url.path == "/v2/notifications/email"
    assert json.loads(rec.requests[0].content)["email_address"] == "resident@example.org"
    assert sent.type == "email" and sent.subject == "Your booking: Swimming"


async def test_a_template_id_is_used_as_it_is_and_an_unknown_purpose_sends_nothing():
    rec = Recorder(httpx.Response(201, json=sent_body()))
    client = client_for(rec)
    template_id = str(uuid.uuid4())
    await client.send_sms("07700900123", template_id)
    assert json.loads(rec.requests[0].content)["template_id"] == template_id
    with pytest.raises(ValueError):
        await client.send_sms("07700900123", "no_such_purpose")
    assert len(rec.requests) == 1


@pytest.mark.parametrize(
    "response,error,reason",
    [
        (
            notify_error(400, "BadRequestError", "Missing personalisation: reference"),
            Rejected,
            "Missing personalisation: reference",
        ),
        (
            notify_error(400, "ValidationError", "phone_number Not a UK mobile number"),
            Rejected,
            "phone_number Not a UK mobile number",
        ),
        (
            notify_error(403, "AuthError", "Error: Your system clock must be accurate to within 30 seconds"),
            AuthFailed,
            None,
        ),
        (
            notify_error(
                429, "RateLimitError", "Exceeded rate limit for key type LIVE of 3000 requests per 60 seconds"
            ),
            Unavailable,
            None,
        ),
        (notify_error(500, "Exception", "Internal server error"), Unavailable, None),
    ],
)
async def test_notify_errors_map_to_the_hierarchy_and_a_send_is_never_repeated(response, error, reason):
    rec = Recorder(response, httpx.Response(201, json=sent_body()))
    with pytest.raises(error) as caught:
        await client_for(rec).send_sms("07700900123", "booking_confirmation", BOOKING)
    assert len(rec.requests) == 1  # not idempotent: a second text would reach the resident twice
    if reason:
        assert caught.value.reason == reason


async def test_a_send_that_timed_out_is_not_repeated():
    rec = Recorder(httpx.ReadTimeout("slow"), httpx.Response(201, json=sent_body()))
    with pytest.raises(TimedOut):
        await client_for(rec).send_sms("07700900123", "booking_confirmation", BOOKING)
    assert len(rec.requests) == 1


async def test_a_send_that_never_connected_is_repeated():
    rec = Recorder(httpx.ConnectError("refused"), httpx.Response(201, json=sent_body()))
    sent = await client_for(rec).send_sms("07700900123", "booking_confirmation", BOOKING)
    assert len(rec.requests) == 2 and sent.status == "created"


async def test_get_notification_is_retried_and_typed():
    body = {
        "id": "740e5834-3a29-46b4-9a6f-16142fde533a",
        "reference": None,
        "email_address": None,
        "phone_number": "07700900123",
        "type": "sms",
        "status": "delivered",
        "template": {"id": "t", "version": 1, "uri": "u"},
        "body": "Hello",
        "subject": None,
        "created_at": "2026-11-27T10:00:00.000000Z",
        "sent_at": "2026-11-27T10:00:01.000000Z",
        "completed_at": "2026-11-27T10:00:05.000000Z",
    }
    rec = Recorder(notify_error(503, "Exception", "Internal server error"), httpx.Response(200, json=body))
    found = await client_for(rec).get_notification("740e5834-3a29-46b4-9a6f-16142fde533a")
    assert len(rec.requests) == 2
    assert found.is_delivered and found.is_final and not found.is_failed
    assert found.completed_at is not None and found.completed_at.tzinfo is not None


async def test_get_unknown_notification_is_not_found():
    rec = Recorder(notify_error(404, "NoResultFound", "No result found"))
    with pytest.raises(NotFound):
        await client_for(rec).get_notification(str(uuid.uuid4()))


async def test_a_malformed_key_is_auth_failed_before_any_request():
    rec = Recorder(httpx.Response(201, json=sent_body()))
    with pytest.raises(AuthFailed):
        await client_for(rec, key="not-a-notify-key").send_sms("07700900123", "booking_confirmation", BOOKING)
    assert rec.requests == []


# --- contract: the client against the running sandbox ----------------------------------------


@pytest.fixture
async def live(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    async with httpx.AsyncClient() as http:
        yield (
            NotifyClient(http, settings.notify, settings.timeouts, templates=settings.notify_templates),
            clean_sandbox,
        )


def wait_for_delivery() -> None:
    time.sleep(1.1)  # the sandbox delivers after DELIVERY_SECONDS


def auth_header(iat: float | None = None, secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(SERVICE_ID, secret, now=iat)}"}


async def test_sandbox_sends_a_text_from_the_template_and_delivers_it(live):
    client, sandbox = live
    sent = await client.send_sms("07700 900 123", "booking_confirmation", BOOKING, reference="conv-1")
    assert sent.status == "created"
    assert sent.body == (
        "Your booking for Swimming at Olympiad on Monday 30 November at 10:00 is confirmed. "
        "Your booking reference is LB-123456."
    )
    assert (await client.get_notification(sent.id)).status == "created"
    wait_for_delivery()
    delivered = await client.get_notification(sent.id)
    assert delivered.is_delivered and delivered.completed_at is not None
    assert (
        delivered.recipient == "07700900123" and delivered.reference == "conv-1" and delivered.type == "sms"
    )
    assert [r["status"] for r in sandbox.rows("notify_notifications")] == ["delivered"]


@pytest.mark.parametrize(
    "phone,status", [("07700900003", "temporary-failure"), ("07700900002", "permanent-failure")]
)
async def test_sandbox_simulated_numbers_fail_as_notify_documents(live, phone, status):
    client, _ = live
    sent = await client.send_sms(
        phone, "payment_receipt", {"amount": "£41.00", "description": "x", "reference": "r"}
    )
    wait_for_delivery()
    failed = await client.get_notification(sent.id)
    assert failed.status == status and failed.is_failed and not failed.is_delivered


async def test_sandbox_sends_an_email_with_its_subject(live):
    client, _ = live
    sent = await client.send_email("resident@example.org", "booking_confirmation", BOOKING)
    assert sent.subject == "Your booking: Swimming"
    found = await client.get_notification(sent.id)
    assert found.type == "email" and found.recipient == "resident@example.org"


async def test_sandbox_refuses_missing_personalisation_naming_what_is_missing(live):
    client, sandbox = live
    with pytest.raises(Rejected) as caught:
        await client.send_sms("07700900123", "booking_confirmation", {"activity": "Swimming"})
    assert caught.value.reason == "Missing personalisation: place, date, time, reference"
    assert sandbox.rows("notify_notifications") == []


@pytest.mark.parametrize(
    "phone,template,reason",
    [
        ("01225 713000", "chat_reply", "phone_number Not a UK mobile number"),
        ("0770090012", "chat_reply", "phone_number Not enough digits"),
        ("07700 900 123", str(uuid.uuid4()), "Template not found"),
    ],
)
async def test_sandbox_refuses_bad_numbers_and_unknown_templates(live, phone, template, reason):
    client, _ = live
    with pytest.raises(Rejected) as caught:
        await client.send_sms(phone, template, {"message": "hi"})
    assert caught.value.reason == reason


async def test_sandbox_refuses_a_key_with_the_wrong_secret(live):
    _, sandbox = live
    async with httpx.AsyncClient() as http:
        wrong = NotifyClient(http, Endpoint(sandbox.url, key=f"other-{SERVICE_ID}-{uuid.uuid4()}"))
        with pytest.raises(AuthFailed):
            await wrong.send_sms("07700900123", DEFAULT_NOTIFY_TEMPLATES["chat_reply"], {"message": "hi"})


async def test_sandbox_unknown_notification_is_not_found(live):
    client, _ = live
    with pytest.raises(NotFound):
        await client.get_notification(str(uuid.uuid4()))


async def test_sandbox_fault_on_send_is_reported_not_resent_and_a_fault_on_get_is_retried(live):
    client, sandbox = live
    sandbox.fault(path="/v2/notifications/sms", method="POST", status=503, times=1)
    with pytest.raises(Unavailable):
        await client.send_sms("07700900123", "chat_reply", {"message": "hello"})
    sent = await client.send_sms("07700900123", "chat_reply", {"message": "hello"})
    assert len(sandbox.rows("notify_notifications")) == 1
    sandbox.fault(path="/v2/notifications/", method="GET", status=503, times=1)
    assert (await client.get_notification(sent.id)).id == sent.id


async def test_sandbox_slow_send_times_out_and_is_sent_only_once(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    clean_sandbox.fault(path="/v2/notifications/sms", latency_ms=1500, times=2)
    async with httpx.AsyncClient() as http:
        client = NotifyClient(
            http, settings.notify, Timeouts(read=0.3, deadline=2.0), templates=settings.notify_templates
        )
        with pytest.raises(TimedOut):
            await client.send_sms("07700900123", "chat_reply", {"message": "hello"})
    # Each request that reached the sandbox used up one of the fault's two goes: one is left.
    left = [f["times"] for f in httpx.get(clean_sandbox.url + "/_admin/faults").json()]
    assert left == [1]


# --- contract: the sandbox's shapes and bad input -----------------------------------------------


def test_sandbox_responses_match_notifys_documented_fields(clean_sandbox):
    url = clean_sandbox.url + "/v2/notifications"
    body = {
        "phone_number": "07700900123",
        "template_id": DEFAULT_NOTIFY_TEMPLATES["chat_reply"],
        "personalisation": {"message": "hi"},
        "reference": "r-1",
    }
    sent = httpx.post(url + "/sms", json=body, headers=auth_header())
    assert sent.status_code == 201
    jsonschema.validate(sent.json(), SENT_SCHEMA)
    assert sent.json()["content"] == {"body": "hi", "from_number": "COUNCIL"}
    found = httpx.get(sent.json()["uri"], headers=auth_header())
    jsonschema.validate(found.json(), NOTIFICATION_SCHEMA)
    email = {**body, "email_address": "a@b.example"}
    del email["phone_number"]
    jsonschema.validate(httpx.post(url + "/email", json=email, headers=auth_header()).json(), SENT_SCHEMA)


@pytest.mark.parametrize(
    "path,content,status,kind,message",
    [
        ("/sms", b"{not json", 400, "BadRequestError", "Invalid JSON supplied in POST data"),
        (
            "/sms",
            json.dumps({"template_id": DEFAULT_NOTIFY_TEMPLATES["chat_reply"]}).encode(),
            400,
            "ValidationError",
            "phone_number is a required property",
        ),
        (
            "/email",
            json.dumps({"email_address": "a@b.example"}).encode(),
            400,
            "ValidationError",
            "template_id is a required property",
        ),
        (
            "/sms",
            json.dumps({"phone_number": "07700900123", "template_id": "nope"}).encode(),
            400,
            "ValidationError",
            "template_id is not a valid UUID",
        ),
        (
            "/email",
            json.dumps(
                {
                    "email_address": "not-an-email",
                    "template_id": DEFAULT_NOTIFY_TEMPLATES["chat_reply"],
                    "personalisation": {"message": "x"},
                }
            ).encode(),
            400,
            "ValidationError",
            "email_address Not a valid email address",
        ),
    ],
)
def test_sandbox_bad_input_gets_notifys_error_shape(clean_sandbox, path, content, status, kind, message):
    response = httpx.post(
        clean_sandbox.url + "/v2/notifications" + path, content=content, headers=auth_header()
    )
    assert response.status_code == status
    jsonschema.validate(response.json(), ERROR_SCHEMA)
    assert response.json() == {"errors": [{"error": kind, "message": message}], "status_code": status}


def test_sandbox_auth_errors(clean_sandbox):
    url = clean_sandbox.url + "/v2/notifications/" + str(uuid.uuid4())
    missing = httpx.get(url)
    assert missing.status_code == 401 and missing.json()["errors"][0]["error"] == "AuthError"
    stale = httpx.get(url, headers=auth_header(iat=time.time() - 60))
    assert stale.status_code == 403
    assert (
        stale.json()["errors"][0]["message"]
        == "Error: Your system clock must be accurate to within 30 seconds"
    )
    forged = httpx.get(url, headers=auth_header(secret=str(uuid.uuid4())))
    assert forged.status_code == 403
    not_a_jwt = httpx.get(url, headers={"Authorization": "Bearer nonsense"})
    assert not_a_jwt.status_code == 403
    bad_id = httpx.get(clean_sandbox.url + "/v2/notifications/not-a-uuid", headers=auth_header())
    assert bad_id.status_code == 400 and bad_id.json()["errors"][0]["error"] == "ValidationError"
