"""The sandbox's Twilio Messages API and WhatsApp Cloud API, over HTTP: real shapes, real checks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from integrations.channels.rendering import options_from_buttons, whatsapp_interactive
from integrations.channels.settings import ChannelSettings

S = ChannelSettings.from_env({})
MESSAGES = f"/2010-04-01/Accounts/{S.twilio_account_sid}/Messages.json"
GRAPH = f"/v21.0/{S.meta_phone_number_id}/messages"
AUTH = (S.twilio_account_sid, S.twilio_auth_token)
BEARER = {"Authorization": f"Bearer {S.meta_access_token}"}


def twilio(sandbox: Any, form: dict[str, str], auth: tuple[str, str] = AUTH) -> httpx.Response:
    return httpx.post(sandbox.url + MESSAGES, data=form, auth=auth, timeout=10)


def graph(sandbox: Any, message: dict[str, Any], headers: dict[str, str] = BEARER) -> httpx.Response:
    return httpx.post(sandbox.url + GRAPH, json=message, headers=headers, timeout=10)


def test_twilio_accepts_a_message_and_lists_it_with_its_segments(sandbox):
    body = "Your collections: " + "recycling, " * 20
    response = twilio(sandbox, {"To": "+447700900201", "From": S.twilio_sms_number, "Body": body})
    assert response.status_code == 201
    sent = response.json()
    assert sent["sid"].startswith("SM") and len(sent["sid"]) == 34
    assert (sent["status"], sent["num_segments"], sent["direction"]) == ("queued", "2", "outbound-api")
    listed = httpx.get(sandbox.url + MESSAGES, params={"To": "+447700900201"}, auth=AUTH, timeout=10).json()
    assert [m["sid"] for m in listed["messages"]] == [sent["sid"]]
    one = httpx.get(sandbox.url + MESSAGES.replace(".json", f"/{sent['sid']}.json"), auth=AUTH, timeout=10)
    assert one.json()["body"] == body


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"From": S.twilio_sms_number, "Body": "x"}, 21604),
        ({"To": "+447700900201", "Body": "x"}, 21603),
        ({"To": "+447700900201", "From": S.twilio_sms_number}, 21602),
        ({"To": "+447700900201", "From": S.twilio_sms_number, "Body": "x" * 1601}, 21617),
        ({"To": "07700900201", "From": S.twilio_sms_number, "Body": "x"}, 21211),
        ({"To": "+447700900201", "From": "+447700900999", "Body": "x"}, 21606),
        ({"To": "whatsapp:+447700900201", "From": S.twilio_sms_number, "Body": "x"}, 21910),
    ],
)
def test_twilio_refuses_what_twilio_refuses(sandbox, form, code):
    response = twilio(sandbox, form)
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["more_info"].endswith(str(code))


def test_twilio_refuses_wrong_credentials(sandbox):
    form = {"To": "+447700900201", "From": S.twilio_sms_number, "Body": "x"}
    for auth in ((S.twilio_account_sid, "wrong"), ("AC" + "1" * 32, S.twilio_auth_token)):
        response = twilio(sandbox, form, auth)
        assert response.status_code == 401 and response.json()["code"] == 20003


def test_whatsapp_cloud_api_accepts_text_and_our_interactive_messages(sandbox):
    text = graph(
        sandbox,
        {"messaging_product": "whatsapp", "to": "447700900202", "type": "text", "text": {"body": "hello"}},
    )
    assert text.status_code == 200
    assert text.json()["contacts"] == [{"input": "447700900202", "wa_id": "447700900202"}]
    assert text.json()["messages"][0]["id"].startswith("wamid.")
    menu = options_from_buttons(
        [{"title": f"A long option title number {n}", "payload": "/x"} for n in range(10)]
    )
    interactive = whatsapp_interactive("I can help you to:", menu)
    message = {
        "messaging_product": "whatsapp",
        "to": "447700900202",
        "type": "interactive",
        "interactive": interactive,
    }
    assert graph(sandbox, message).status_code == 200


@pytest.mark.parametrize(
    ("interactive", "detail"),
    [
        (
            {
                "type": "button",
                "body": {"text": "x"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "x" * 21}}]},
            },
            "Button title",
        ),
        (
            {
                "type": "button",
                "body": {"text": "x"},
                "action": {
                    "buttons": [{"type": "reply", "reply": {"id": str(n), "title": "x"}} for n in range(4)]
                },
            },
            "Buttons count",
        ),
        (
            {
                "type": "list",
                "body": {"text": "x"},
                "action": {
                    "button": "Choose",
                    "sections": [{"rows": [{"id": str(n), "title": "x"} for n in range(11)]}],
                },
            },
            "Rows count",
        ),
        (
            {
                "type": "list",
                "body": {"text": "x"},
                "action": {"button": "Choose", "sections": [{"rows": [{"id": "1", "title": "x" * 25}]}]},
            },
            "Row title",
        ),
        (
            {
                "type": "list",
                "body": {"text": "x" * 1025},
                "action": {"button": "Choose", "sections": [{"rows": [{"id": "1", "title": "x"}]}]},
            },
            "Body text",
        ),
    ],
)
def test_whatsapp_cloud_api_refuses_interactive_messages_beyond_its_limits(sandbox, interactive, detail):
    response = graph(
        sandbox,
        {
            "messaging_product": "whatsapp",
            "to": "447700900202",
            "type": "interactive",
            "interactive": interactive,
        },
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 131009 and error["error_data"]["details"].startswith(detail)


def test_whatsapp_cloud_api_refuses_a_wrong_token_or_number(sandbox):
    message = {"messaging_product": "whatsapp", "to": "447700900202", "type": "text", "text": {"body": "x"}}
    wrong_token = graph(sandbox, message, {"Authorization": "Bearer nope"})
    assert wrong_token.status_code == 401 and wrong_token.json()["error"]["code"] == 190
    other_number = httpx.post(sandbox.url + "/v21.0/999/messages", json=message, headers=BEARER, timeout=10)
    assert other_number.status_code == 400 and other_number.json()["error"]["code"] == 100
