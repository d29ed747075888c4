"""Hostile and broken input against the production profile: each case gets the expected 4xx or a
safe reply, never a 500 or a stack trace, and nothing is stored that shouldn't be.

Targets: the REST channel and the other channel webhooks through the load balancer (the only
public port), path tricks on the load balancer, Rasa's HTTP API and the action server on their
internal ports, and the reports app. Cases for parts still being built (the reports dashboard's
pages and login) target what exists now and say so in their name; extend them when those land.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.production.stack import ProductionStack

pytestmark = pytest.mark.production

Send = Callable[[ProductionStack, str], httpx.Response]


@dataclass(frozen=True)
class Case:
    name: str
    send: Send
    expect: frozenset[int]
    #: A check of what was stored (``None``: the sender must have nothing stored).
    stored: Callable[[ProductionStack, str], None] | None = None
    #: Words the reply must contain (a safe reply), if any.
    says: tuple[str, ...] = field(default_factory=tuple)


def rest(body: bytes | str | dict[str, Any] | list[Any], **headers: str) -> Send:
    def send(stack: ProductionStack, sender: str) -> httpx.Response:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).replace("SENDER", sender).encode()
        elif isinstance(body, str):
            data = body.replace("SENDER", sender).encode("utf-8", "surrogatepass")
        else:
            data = body.replace(b"SENDER", sender.encode())
        return httpx.post(
            stack.public_url + "/webhooks/rest/webhook", content=data, headers=headers, timeout=60
        )

    return send


def say(text: str, **extra: Any) -> Send:
    return rest({"sender": "SENDER", "message": text, **extra})


def public(method: str, path: str, **kwargs: Any) -> Send:
    def send(stack: ProductionStack, sender: str) -> httpx.Response:
        return httpx.request(method, stack.public_url + path.replace("SENDER", sender), timeout=30, **kwargs)

    return send


def raw_public(request_line: bytes) -> Send:
    """A request written by hand (httpx would tidy the path)."""

    def send(stack: ProductionStack, sender: str) -> httpx.Response:
        import socket

        with socket.create_connection(("127.0.0.1", int(stack.env["PUBLIC_PORT"])), timeout=10) as s:
            s.sendall(request_line + b"\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split()[1])
        return httpx.Response(status, content=body)

    return send


def api(method: str, path: str, *, token: str | None = "valid", **kwargs: Any) -> Send:
    def send(stack: ProductionStack, sender: str) -> httpx.Response:
        params = {"token": stack.rasa_token if token == "valid" else token} if token else {}
        return httpx.request(
            method, stack.replica_url(1) + path.replace("SENDER", sender), params=params, timeout=60, **kwargs
        )

    return send


def action(body: bytes | dict[str, Any], *, token: str | None = "valid", **headers: str) -> Send:
    def send(stack: ProductionStack, sender: str) -> httpx.Response:
        if token:
            headers["Authorization"] = "Bearer " + (stack.action_token if token == "valid" else token)
        content = json.dumps(body).encode() if isinstance(body, dict) else body
        url = f"http://127.0.0.1:{stack.env['ACTION_PORT_1']}/webhook"
        return httpx.post(url, content=content, headers=headers, timeout=60)

    return send


def action_call(name: str, **slots: Any) -> dict[str, Any]:
    return {
        "next_action": name,
        "sender_id": "bad-input",
        "tracker": {
            "sender_id": "bad-input", "slots": slots, "events": [], "latest_message": {"intent": {}},
            "active_loop": {}, "latest_action_name": "action_listen",
        },
        "domain": {},
        "version": "3.6.21",
    }  # fmt: skip


# --- checks of what was stored --------------------------------------------------------


def user_texts(stack: ProductionStack, sender: str) -> list[str]:
    return [e["text"] for e in stack.tracker_events(sender) if e["event"] == "user"]


def stored_as_text(expected: str) -> Callable[[ProductionStack, str], None]:
    def check(stack: ProductionStack, sender: str) -> None:
        assert user_texts(stack, sender) == [expected]

    return check


def no_command_ran(stack: ProductionStack, sender: str) -> None:
    """A typed ``/command`` was read as text: no restart, and nothing taken from its JSON.

    (NLU may still find a phone number in the text, as in any message: such an entity names
    its extractor; an entity injected by a command has none.)"""
    events = stack.tracker_events(sender)
    [user] = [e for e in events if e["event"] == "user"]
    assert user["text"].startswith("/")
    assert not [e for e in events if e["event"] == "restart"]
    assert all(entity.get("extractor") for entity in user["parse_data"].get("entities") or [])
    # NLU ranked the intents (a command gives exactly one, at confidence 1.0).
    assert len(user["parse_data"].get("intent_ranking") or []) > 1


def channel_is_rest(stack: ProductionStack, sender: str) -> None:
    [user] = [e for e in stack.tracker_events(sender) if e["event"] == "user"]
    assert user["input_channel"] == "rest" and not (user.get("metadata") or {}).get("admin")


LONG = "bin day " * 200  # 1,600 characters


CASES = [
    # --- the REST channel through the load balancer ---
    Case(
        "rest: body over the size limit",
        rest({"sender": "SENDER", "message": "x" * 20_000}),
        frozenset({413}),
    ),
    Case("rest: message over the length limit", say(LONG), frozenset({413})),
    Case("rest: invalid UTF-8", rest(b'{"sender": "SENDER", "message": "\xff\xfebin"}'), frozenset({400})),
    Case("rest: not JSON", rest("sender=SENDER&message=hi"), frozenset({400})),
    Case("rest: a JSON array", rest(["SENDER", "hi"]), frozenset({400})),
    Case("rest: no message", rest({"sender": "SENDER"}), frozenset({400})),
    Case("rest: message is a number", rest({"sender": "SENDER", "message": 12}), frozenset({400})),
    Case("rest: message is only spaces", say("   \n\t "), frozenset({400})),
    Case("rest: message is only control characters", say("\x00\x01\x1b\u200b"), frozenset({400})),
    Case("rest: sender with a path", rest({"sender": "../../etc/passwd", "message": "hi"}), frozenset({400})),
    Case("rest: sender too long", rest({"sender": "s" * 300, "message": "hi"}), frozenset({400})),
    Case(
        "rest: sender with markup", rest({"sender": "<script>x</script>", "message": "hi"}), frozenset({400})
    ),
    Case(
        "rest: sender of another channel", rest({"sender": "sms-SENDER", "message": "hi"}), frozenset({403})
    ),
    Case("rest: GET on the webhook", public("GET", "/webhooks/rest/webhook"), frozenset({404, 405})),
    Case("rest: /restart typed as text", say("/restart"), frozenset({200}), no_command_ran),
    Case(
        "rest: /intent with JSON slots",
        say('/inform{"uprn": "100121000001"}'),
        frozenset({200}),
        no_command_ran,
    ),
    Case(
        "rest: /request_human with a number",
        say('/request_human{"phone_number": "07700900123"}'),
        frozenset({200}),
        no_command_ran,
    ),  # fmt: skip
    Case(
        "rest: spoofed input channel and metadata",
        say("hello", input_channel="twilio", metadata={"admin": True}),
        frozenset({200}),
        channel_is_rest,
    ),  # fmt: skip
    Case(
        "rest: lone surrogate",
        rest('{"sender": "SENDER", "message": "bin \\ud800day"}'),
        frozenset({200}),
        stored_as_text("bin day"),
    ),  # fmt: skip
    Case("rest: NUL byte", say("bin\x00 day"), frozenset({200}), stored_as_text("bin day")),
    Case("rest: right-to-left override", say("bin\u202e day"), frozenset({200}), stored_as_text("bin day")),
    Case("rest: emoji only", say("🗑️🗑️❓"), frozenset({200}), stored_as_text("🗑️🗑️❓")),
    Case(
        "rest: Welsh",
        say("Pryd mae fy niwrnod bin?"),
        frozenset({200}),
        stored_as_text("Pryd mae fy niwrnod bin?"),
    ),
    Case("rest: Arabic", say("متى يوم جمع القمامة"), frozenset({200}), stored_as_text("متى يوم جمع القمامة")),
    Case("rest: Chinese", say("垃圾收集日是哪天"), frozenset({200}), stored_as_text("垃圾收集日是哪天")),
    Case(
        "rest: SQL-looking text",
        say("'; DROP TABLE events; --"),
        frozenset({200}),
        stored_as_text("'; DROP TABLE events; --"),
    ),  # fmt: skip
    Case(
        "rest: script in a message",
        say("<script>alert('x')</script>"),
        frozenset({200}),
        stored_as_text("<script>alert('x')</script>"),
    ),  # fmt: skip
    # --- other channels' webhooks through the load balancer ---
    Case(
        "twilio sms: no signature",
        public(
            "POST",
            "/webhooks/twilio_sms/webhook",
            data={"From": "+447700900123", "Body": "hi", "MessageSid": "SM1"},
        ),
        frozenset({403}),
    ),  # fmt: skip
    Case(
        "twilio sms: forged signature",
        public(
            "POST",
            "/webhooks/twilio_sms/webhook",
            data={"From": "+447700900123", "Body": "hi", "MessageSid": "SM2"},
            headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        ),
        frozenset({403}),
    ),  # fmt: skip
    Case(
        "whatsapp cloud: forged signature",
        public(
            "POST",
            "/webhooks/whatsapp_cloud/webhook",
            content=b'{"object": "whatsapp_business_account", "entry": []}',
            headers={"X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Type": "application/json"},
        ),
        frozenset({403}),
    ),  # fmt: skip
    Case(
        "whatsapp cloud: wrong verify token",
        public(
            "GET",
            "/webhooks/whatsapp_cloud/webhook",
            params={"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": "guess"},
        ),
        frozenset({403}),
    ),  # fmt: skip
    Case(
        "notify sms: no bearer token",
        public(
            "POST", "/webhooks/notify_sms/webhook", json={"source_number": "447700900123", "message": "hi"}
        ),
        frozenset({401, 403}),
    ),  # fmt: skip
    Case(
        "webchat: forged conversation token",
        public("POST", "/webhooks/webchat/message", json={"conversation": "forged.token", "text": "hi"}),
        frozenset({401, 403}),
    ),  # fmt: skip
    # --- path tricks on the load balancer ---
    Case(
        "lb: Rasa's tracker API is not public",
        public("GET", "/conversations/SENDER/tracker"),
        frozenset({404}),
    ),
    Case("lb: model upload is not public", public("PUT", "/model", content=b"x"), frozenset({404})),
    Case(
        "lb: dot-dot from a webhook to the API",
        raw_public(b"GET /webhooks/rest/../../conversations/x/tracker HTTP/1.1"),
        frozenset({400, 404}),
    ),  # fmt: skip
    Case(
        "lb: encoded dot-dot",
        raw_public(b"GET /webhooks/%2e%2e/%2e%2e/etc/passwd HTTP/1.1"),
        frozenset({400, 404}),
    ),
    Case(
        "lb: NUL in the path",
        raw_public(b"GET /webhooks/rest/webhook%00.json HTTP/1.1"),
        frozenset({400, 404, 405}),
    ),
    Case("lb: a very long URL", public("GET", "/webhooks/rest/" + "a" * 20_000), frozenset({400, 404, 414})),
    # --- Rasa's HTTP API on a replica ---
    Case(
        "api: tracker without a token",
        api("GET", "/conversations/SENDER/tracker", token=None),
        frozenset({401}),
    ),
    Case(
        "api: tracker with a wrong token",
        api("GET", "/conversations/SENDER/tracker", token="guess"),
        frozenset({401}),
    ),  # fmt: skip
    Case(
        "api: load a model without a token",
        api("PUT", "/model", token=None, json={"model_file": "/tmp/evil.tar.gz"}),
        frozenset({401}),
    ),  # fmt: skip
    Case(
        "api: parse without a token",
        api("POST", "/model/parse", token=None, json={"text": "hi"}),
        frozenset({401}),
    ),
    Case("api: status without a token", api("GET", "/status", token=None), frozenset({401})),
    Case(
        "api: malformed event list",
        api("POST", "/conversations/SENDER/tracker/events", content=b"{not json"),
        frozenset({400}),
    ),  # fmt: skip
    Case(
        "api: malformed message",
        api("POST", "/conversations/SENDER/messages", content=b"[1, 2"),
        frozenset({400}),
    ),
    # --- the action server ---
    Case("actions: no token", action(action_call("action_ask_address"), token=None), frozenset({401})),
    Case("actions: wrong token", action(action_call("action_ask_address"), token="guess"), frozenset({401})),
    Case(
        "actions: list without a token",
        lambda s, _: httpx.get(f"http://127.0.0.1:{s.env['ACTION_PORT_1']}/actions", timeout=10),
        frozenset({401}),
    ),  # fmt: skip
    Case("actions: not JSON", action(b"{nope"), frozenset({400})),
    Case("actions: not an action call", action({"hello": "world"}), frozenset({400})),
    Case("actions: unknown action", action(action_call("action_drop_tables")), frozenset({404})),
    Case(
        "actions: deflate bomb",
        action(zlib.compress(b" " * 50_000_000), **{"Content-Encoding": "deflate"}),
        frozenset({413}),
    ),  # fmt: skip
    Case(
        "actions: an action that raises",
        action(action_call("action_ask_address", address_options="oops")),
        frozenset({200}),
        says=("something went wrong",),
    ),  # fmt: skip
    # --- the reports app (its pages and login are being built: these target what exists) ---
    Case(
        "reports: API without a token (extend: login)",
        public("GET", "/reports/api/demand"),
        frozenset({401, 403, 404}),
    ),  # fmt: skip
    Case(
        "reports: path trick to the database file",
        public("GET", "/reports/../../var/demand.db"),
        frozenset({400, 404}),
    ),  # fmt: skip
]


@pytest.fixture(scope="module")
def stack(production: ProductionStack) -> Iterator[ProductionStack]:
    if "reports" not in production.services:
        production.start_one("reports", timeout=60)
    yield production


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_refused_or_answered_safely(stack: ProductionStack, case: Case) -> None:
    sender = f"bad-{uuid.uuid4().hex[:10]}"
    response = case.send(stack, sender)
    body = response.text
    assert response.status_code in case.expect, (response.status_code, body[:300])
    assert "Traceback" not in body and 'File "/' not in body and "request_body" not in body
    for words in case.says:
        assert words in body
    if response.status_code == 200 and "/webhooks/rest/" in str(getattr(response, "url", "")):
        assert json.loads(body), "a safe reply is a reply"
    if case.stored is not None:
        case.stored(stack, sender)
    else:
        assert stack.tracker_events(sender) == []  # refused: nothing stored for this sender


def test_a_sender_sending_too_fast_is_told_to_slow_down_not_failed(stack: ProductionStack) -> None:
    """30 messages at once from one sender to one replica: the first 20 (the burst) are taken."""
    import concurrent.futures

    sender = f"fast-{uuid.uuid4().hex[:8]}"
    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        responses = list(
            pool.map(lambda i: stack.say(sender, f"hello {i}", url=stack.replica_url(1)), range(30))
        )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429} and statuses.count(429) >= 5
    limited = next(r for r in responses if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1 and "Traceback" not in limited.text
    assert len(user_texts(stack, sender)) == statuses.count(200)  # the refused ones were not stored


def test_the_events_table_survived_the_sql_looking_text(stack: ProductionStack) -> None:
    rows = stack.query("TRACKER_DB_URL", "SELECT count(*) AS n FROM events")
    assert rows[0].n > 0
