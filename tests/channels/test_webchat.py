"""The website's webchat channel and the REST channel, over HTTP against the running Rasa server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.channels.stack import Stack


def start(stack: Stack, **headers: str) -> httpx.Response:
    return httpx.post(stack.webhook("webchat", "session"), json={}, headers=headers, timeout=60)


def say(stack: Stack, token: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    return httpx.post(
        stack.webhook("webchat", "message"),
        json={"conversation": token, **body},
        headers=headers or {},
        timeout=60,
    )


def conversation_of(stack: Stack, token: str) -> str:
    from integrations.channels.identity import webchat_conversation
    from integrations.channels.settings import ChannelSettings

    found = webchat_conversation(token, ChannelSettings.from_env({}).webchat_secret)
    assert found is not None
    return found


@pytest.fixture
def menu(stack: Stack) -> tuple[str, list[dict[str, Any]]]:
    """A new website conversation that has just been offered the help menu."""
    response = start(stack)
    assert response.status_code == 201
    token = response.json()["conversation"]
    messages = say(stack, token, text="what can you help me with").json()["messages"]
    buttons = [b for m in messages for b in m.get("buttons", [])]
    assert len(buttons) == 10, messages
    return token, buttons


def test_the_server_issues_the_conversation_and_options_come_without_payloads(stack, menu):
    token, buttons = menu
    assert conversation_of(stack, token).startswith("web-")
    assert buttons[0] == {"choice": 1, "title": "Book a swim, class or court"}
    assert all(set(b) == {"choice", "title"} for b in buttons)
    assert "/" not in str(buttons)


def test_a_button_press_is_accepted_only_if_it_was_offered(stack, menu):
    token, buttons = menu
    assert say(stack, token, choice=11).status_code == 409
    assert say(stack, token, choice="10").status_code == 409  # a number, not text
    person = next(b for b in buttons if b["title"] == "Talk to a person")
    chosen = say(stack, token, choice=person["choice"])
    assert chosen.status_code == 200 and chosen.json()["messages"]
    event = stack.user_events(conversation_of(stack, token))[-1]
    assert event["text"] == "/request_human"
    assert event["parse_data"]["intent"] == {"name": "request_human", "confidence": 1.0}
    assert say(stack, token, choice=person["choice"]).status_code == 409  # offered once, used once


def test_a_new_conversation_has_no_options_to_press(stack):
    token = start(stack).json()["conversation"]
    assert say(stack, token, choice=1).status_code == 409


@pytest.mark.parametrize("typed", ["/restart", "/request_human", '/inform{"postcode": "SN15 1ER"}', "1"])
def test_typed_text_is_always_text(stack, menu, typed):
    token, _ = menu
    before = stack.tracker(conversation_of(stack, token))["events"]
    assert say(stack, token, text=typed).status_code == 200
    after = stack.tracker(conversation_of(stack, token))["events"]
    assert after[: len(before)] == before
    assert not any(e["event"] in ("restart", "session_started") for e in after[len(before) :])
    event = [e for e in after if e["event"] == "user"][-1]
    assert event["text"] == typed
    assert len(event["parse_data"]["intent_ranking"]) > 1  # NLU read it: not a command, not a choice


def test_nobody_can_use_or_forge_a_conversation_token(stack, menu):
    token, _ = menu
    header, payload, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    for forged in (f"{header}.{payload}.{flipped}", conversation_of(stack, token), "web-anything", ""):
        assert say(stack, forged, text="hello").status_code == 401
    assert say(stack, token, text="   ").status_code == 400
    assert say(stack, token, text="x" * 1001).status_code == 413
    assert say(stack, token, text="hi", choice=1).status_code == 400


def test_only_the_reports_app_origin_may_call_it_from_a_browser(stack):
    assert stack.reports is not None
    ours = {"Origin": stack.reports.url}
    allowed = start(stack, **ours)
    assert allowed.status_code == 201
    assert allowed.headers["Access-Control-Allow-Origin"] == stack.reports.url
    assert allowed.headers.get_list("Access-Control-Allow-Origin") == [stack.reports.url]
    other = start(stack, Origin="https://evil.example")
    assert other.status_code == 403 and "Access-Control-Allow-Origin" not in other.headers
    token = allowed.json()["conversation"]
    assert say(stack, token, {"Origin": "https://evil.example"}, text="hello").status_code == 403
    assert stack.user_events(conversation_of(stack, token)) == []
    preflight = httpx.options(
        stack.webhook("webchat", "message"),
        headers={
            **ours,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code in (200, 204)


# --- the REST channel (tools and tests) ----------------------------------------------------------


def rest(stack: Stack, sender: str, message: str) -> httpx.Response:
    return httpx.post(stack.webhook("rest"), json={"sender": sender, "message": message}, timeout=60)


def test_rest_keeps_typed_slash_text_as_text_and_accepts_an_offered_payload(stack):
    sender = "rest-test-resident"
    assert rest(stack, sender, "/request_human").status_code == 200
    typed = stack.user_events(sender)[-1]
    assert len(typed["parse_data"]["intent_ranking"]) > 1  # read by NLU, not unpacked as a command
    menu = rest(stack, sender, "what can you help me with").json()
    payloads = [b["payload"] for m in menu for b in m.get("buttons", [])]
    assert "/request_human" in payloads
    rest(stack, sender, "/request_human")
    pressed = stack.user_events(sender)[-1]
    assert pressed["parse_data"]["intent"] == {"name": "request_human", "confidence": 1.0}


def test_rest_cannot_write_into_another_channels_conversation(stack, menu):
    token, _ = menu
    for sender in (conversation_of(stack, token), "sms-abcdefghijklmnopqrstuvwxyz234567", "wa-anything"):
        assert rest(stack, sender, "hello").status_code == 403
