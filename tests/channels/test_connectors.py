"""SMS and WhatsApp connectors over HTTP against the running Rasa server, replies through the sandbox.

Each test uses its own phone number, so its conversation and its replies are its own.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import time
import uuid
from typing import Any

import httpx
import pytest

from integrations.channels.identity import conversation_id
from integrations.channels.store import FAILED, SENT, ChannelStore
from tests.channels.stack import CHANNEL_ID_KEY, SANDBOX, Stack, wait_for

_numbers = itertools.count(random.randrange(100, 800) * 1000)
QUIET_SECONDS = 3.0  # how long "nothing happens" is watched for


def new_number() -> str:
    """A fresh number in Ofcom's drama range (07700 900000 to 900999 and neighbours)."""
    return f"+4477009{next(_numbers) % 100000:05d}"


def sms(stack: Stack, number: str, body: str = "", *, sid: str | None = None, **form: str) -> httpx.Response:
    fields = {
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": SANDBOX.twilio_account_sid,
        "From": number,
        "To": SANDBOX.twilio_sms_number,
        "Body": body,
        "NumMedia": "0",
        **form,
    }
    return stack.twilio_post("twilio_sms", fields)


def replies(stack: Stack, number: str, count: int) -> list[str]:
    """The texts sent to ``number``, once there are at least ``count`` of them."""
    return [m["body"] for m in stack.wait_for_sent(lambda: stack.twilio_sent(number), count)]


def sms_conversation(number: str) -> str:
    return conversation_id(CHANNEL_ID_KEY, "sms", number)


def ask_for_the_menu(stack: Stack, number: str) -> str:
    """HELP: who we are (one text), then the assistant's menu, which comes split in two here."""
    sms(stack, number, "HELP")
    notice, *menu = replies(stack, number, 3)
    assert "digital assistant" in notice and "Reply STOP" in notice
    return "\n".join(menu)


def option_number(menu: str, title: str) -> str:
    found = re.search(rf"Reply (\d+) for {re.escape(title)}", menu)
    assert found, f"{title!r} not offered in {menu!r}"
    return found.group(1)


def assert_nothing_happens(stack: Stack, number: str, sent_before: int, sender_id: str) -> None:
    time.sleep(QUIET_SECONDS)
    assert len(stack.twilio_sent(number)) == sent_before
    assert stack.user_events(sender_id) == [] or sent_before > 0


# --- Twilio SMS ------------------------------------------------------------------------------------


def test_a_signed_sms_is_answered_by_sms_under_a_hashed_conversation_id(stack):
    number = new_number()
    response = sms(stack, number, "hello")
    assert response.status_code == 200 and "<Response></Response>" in response.text
    [reply] = replies(stack, number, 1)
    assert "digital assistant" in reply
    sent = stack.twilio_sent(number)[0]
    assert (sent["from"], sent["to"]) == (SANDBOX.twilio_sms_number, number)
    tracker = stack.tracker(sms_conversation(number))
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["hello"]
    assert number.lstrip("+") not in json.dumps(tracker) and number[-9:] not in json.dumps(tracker)


@pytest.mark.parametrize(
    "forgery",
    ["unsigned", "wrong token", "tampered body", "signed for another URL", "garbage signature"],
)
def test_forged_unsigned_and_tampered_sms_are_refused_and_nothing_is_processed(stack, forgery):
    number = new_number()
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": number,
        "To": SANDBOX.twilio_sms_number,
        "Body": "hello",
        "NumMedia": "0",
    }
    url = stack.webhook("twilio_sms")
    from integrations.channels.signatures import twilio_signature

    good = twilio_signature(SANDBOX.twilio_auth_token, url, {k: [v] for k, v in form.items()})
    signature, token, post = {
        "unsigned": (None, SANDBOX.twilio_auth_token, form),
        "wrong token": (None, "not-the-auth-token", form),
        "tampered body": (good, SANDBOX.twilio_auth_token, {**form, "Body": "/restart"}),
        "signed for another URL": (
            twilio_signature(SANDBOX.twilio_auth_token, url + "?x=1", {k: [v] for k, v in form.items()}),
            SANDBOX.twilio_auth_token,
            form,
        ),
        "garbage signature": ("bm90IGEgc2lnbmF0dXJl", SANDBOX.twilio_auth_token, form),
    }[forgery]
    response = stack.twilio_post(
        "twilio_sms", post, token=token, signature=signature, sign=forgery != "unsigned"
    )
    assert response.status_code == 403
    assert_nothing_happens(stack, number, 0, sms_conversation(number))
    assert stack.user_events(sms_conversation(number)) == []


def test_a_replayed_message_sid_is_processed_once(stack):
    number = new_number()
    sid = "SM" + uuid.uuid4().hex
    assert sms(stack, number, "hello", sid=sid).status_code == 200
    replies(stack, number, 1)
    assert sms(stack, number, "hello", sid=sid).status_code == 200  # Twilio is answered, nothing more
    time.sleep(QUIET_SECONDS)
    assert len(stack.twilio_sent(number)) == 1
    assert [e["text"] for e in stack.user_events(sms_conversation(number))] == ["hello"]


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        (
            {
                "NumMedia": "1",
                "MediaUrl0": "https://api.twilio.com/media/ME1",
                "MediaContentType0": "image/jpeg",
            },
            "only read text",
        ),
        ({"Latitude": "51.46", "Longitude": "-2.12"}, "only read text"),
        ({}, "message was empty"),
        ({"Body": "   "}, "message was empty"),
    ],
)
def test_media_only_and_empty_messages_are_answered_politely_never_a_500(stack, form, answer):
    number = new_number()
    response = sms(stack, number, **{"Body": "", **form})
    assert response.status_code == 200
    [reply] = replies(stack, number, 1)
    assert answer in reply
    assert stack.user_events(sms_conversation(number)) == []  # nothing for the assistant to misread


def test_a_journey_with_buttons_is_completed_over_sms_by_replying_with_numbers(stack):
    number = new_number()
    menu = ask_for_the_menu(stack, number)
    assert "Reply 1 for" in menu and "/" not in menu
    sms(stack, number, option_number(menu, "Find your bin collection day"))
    assert "postcode" in replies(stack, number, 4)[-1].lower()
    sms(stack, number, "SN15 1ER")
    question = replies(stack, number, 5)[-1]
    assert re.search(r"house number|address", question, re.I)
    sms(stack, number, "1")  # a house number: a lone "address not listed" option is offered by its words
    answer = " ".join(replies(stack, number, 6)[5:])
    assert "1 Market Place" in answer and "collection" in answer.lower()
    chosen = [e for e in stack.user_events(sms_conversation(number)) if e["text"].startswith("/")]
    assert [e["parse_data"]["intent"]["name"] for e in chosen] == ["bin_collection_day"]


def test_an_options_own_words_pick_it_over_sms(stack):
    number = new_number()
    ask_for_the_menu(stack, number)
    sms(stack, number, "talk to a person")
    replies(stack, number, 4)
    last = stack.user_events(sms_conversation(number))[-1]
    assert last["text"] == "/request_human"  # the offered payload, not a guess
    assert last["parse_data"]["intent"] == {"name": "request_human", "confidence": 1.0}


def test_a_long_reply_is_split_into_texts_within_the_segment_limit(stack):
    number = new_number()
    sms(stack, number, "HELP")
    sent = stack.wait_for_sent(lambda: stack.twilio_sent(number), 3)[1:]  # after who we are: the menu
    assert len(sent) == 2 and all(int(m["num_segments"]) <= 2 for m in sent)  # 3 segments of menu
    lines = "\n".join(m["body"] for m in sent).splitlines()
    numbers = [int(line.split()[1]) for line in lines if line.startswith("Reply ")]
    assert numbers == list(range(1, 11))
    assert sent[0]["body"].startswith("I can help you to:")


def test_slash_restart_sent_as_text_restarts_nothing(stack):
    number = new_number()
    sender = sms_conversation(number)
    ask_for_the_menu(stack, number)
    before = stack.tracker(sender)["events"]
    for n, command in enumerate(["/restart", '/inform{"postcode": "SN15 1ER", "uprn": "100121000001"}'], 4):
        sms(stack, number, command)
        replies(stack, number, n)
    after = stack.tracker(sender)["events"]
    assert after[: len(before)] == before  # nothing was wiped
    assert not any(e["event"] in ("restart", "session_started") for e in after[len(before) :])
    restart, inform = [e for e in after if e["event"] == "user"][-2:]
    assert restart["text"] == "/restart" and restart["parse_data"]["intent"]["name"] != "restart"
    assert inform["text"].startswith("/inform{")
    for event in (restart, inform):  # understood by NLU, not unpacked as a command
        assert len(event["parse_data"]["intent_ranking"]) > 1
    assert all(e["entity"] != "uprn" for e in inform["parse_data"]["entities"])
    assert stack.tracker(sender)["slots"].get("uprn") is None


def test_stop_ends_all_texts_until_start_and_help_says_who_we_are(stack):
    number = new_number()
    sender = sms_conversation(number)
    sms(stack, number, "STOP")
    [stopped] = replies(stack, number, 1)
    assert "opted out" in stopped and "START" in stopped
    sms(stack, number, "when is my bin day")
    assert_nothing_happens(stack, number, 1, sender)
    assert stack.user_events(sender) == []  # not even read
    sms(stack, number, "help")
    assert "START" in replies(stack, number, 2)[-1]  # HELP is answered after STOP, and only HELP
    sms(stack, number, "Start")
    assert "opted back in" in replies(stack, number, 3)[-1]
    sms(stack, number, "HELP")
    help_text, *menu = replies(stack, number, 6)[3:]
    assert "digital assistant" in help_text and "0300 456 0100" in help_text and "STOP" in help_text
    assert "Reply 1 for" in menu[0]


def test_the_number_is_kept_only_where_a_reply_must_be_sent(stack):
    number = new_number()
    sms(stack, number, "hello")
    replies(stack, number, 1)
    store = ChannelStore(f"sqlite:///{stack.channel_db}")
    sender = sms_conversation(number)
    assert wait_for(lambda: _sync(store.recipient(sender))).address == number
    [item] = _sync(store.items(conversation_id=sender))
    assert item.status == SENT and item.payload == {}  # the reply's text is not kept once sent
    assert number[-9:] not in json.dumps(stack.tracker(sender))
    assert number[-9:] not in stack.rasa.log()


def test_replies_are_retried_while_twilio_is_down_and_a_refused_one_is_kept_for_follow_up(stack, sandbox):
    store = ChannelStore(f"sqlite:///{stack.channel_db}")
    number = new_number()
    sandbox.fault(path="/2010-04-01/", method="POST", status=503, times=2)
    try:
        sms(stack, number, "hello")
        assert "digital assistant" in replies(stack, number, 1)[0]
    finally:
        sandbox.clear_faults()
    [item] = _sync(store.items(conversation_id=sms_conversation(number)))
    assert (item.status, item.attempts) == (SENT, 3)

    refused = new_number()
    sandbox.fault(path="/2010-04-01/", method="POST", status=400, times=1)
    try:
        sms(stack, refused, "hello")
        failure = wait_for(
            lambda: [f for f in _sync(store.failures()) if f.conversation_id == sms_conversation(refused)]
        )[0]
    finally:
        sandbox.clear_faults()
    assert failure.status == FAILED and "digital assistant" in failure.payload["text"]
    assert failure.last_error == "Rejected (400)"
    assert stack.twilio_sent(refused) == []
    assert refused[-9:] not in stack.rasa.log()


# --- WhatsApp through Twilio ----------------------------------------------------------------------


def test_whatsapp_through_twilio_is_answered_from_the_whatsapp_number_in_one_message(stack):
    number = new_number()
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": f"whatsapp:{number}",
        "To": f"whatsapp:{SANDBOX.twilio_whatsapp_number}",
        "Body": "HELP",
        "NumMedia": "0",
    }
    assert stack.twilio_post("twilio_whatsapp", form).status_code == 200
    notice, menu = stack.wait_for_sent(lambda: stack.twilio_sent(f"whatsapp:{number}"), 2)
    assert "digital assistant" in notice["body"]
    assert menu["from"] == f"whatsapp:{SANDBOX.twilio_whatsapp_number}"
    assert "Reply 10 for Talk to a person" in menu["body"]  # 1,600 characters: the menu fits whole
    assert stack.user_events(conversation_id(CHANNEL_ID_KEY, "wa", number))
    assert stack.twilio_post("twilio_sms", form).status_code == 400  # a WhatsApp message on the SMS hook


# --- WhatsApp Cloud API (Meta) ----------------------------------------------------------------------


def wa_message(
    wa_id: str, kind: str = "text", message_id: str | None = None, **content: Any
) -> dict[str, Any]:
    return {
        "from": wa_id,
        "id": message_id or f"wamid.{uuid.uuid4().hex}",
        "timestamp": str(int(time.time())),
        "type": kind,
        **content,
    }


def wa_payload(wa_id: str, *messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None) -> dict:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "447700900001", "phone_number_id": SANDBOX.meta_phone_number_id},
        "contacts": [{"profile": {"name": "A resident"}, "wa_id": wa_id}],
    }
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
    }


def meta_sent(stack: Stack, wa_id: str, count: int) -> list[dict[str, Any]]:
    return stack.wait_for_sent(lambda: stack.meta_sent(wa_id), count)


def test_the_meta_verification_handshake_echoes_the_challenge_only_for_our_token(stack):
    url = stack.webhook("whatsapp_cloud")
    ok = httpx.get(
        url,
        params={
            "hub.mode": "subscribe",
            "hub.challenge": "1158201444",
            "hub.verify_token": SANDBOX.meta_verify_token,
        },
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    for params in (
        {"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "guess"},
        {"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": SANDBOX.meta_verify_token},
        {"hub.challenge": "1"},
    ):
        assert httpx.get(url, params=params).status_code == 403


def test_whatsapp_cloud_menu_is_an_interactive_list_and_a_list_reply_picks_the_option(stack):
    wa_id = new_number().lstrip("+")
    assert stack.meta_post(wa_payload(wa_id, wa_message(wa_id, text={"body": "help"}))).status_code == 200
    notice, menu = meta_sent(stack, wa_id, 2)
    assert "digital assistant" in notice["text"]["body"]
    assert menu["type"] == "interactive" and menu["interactive"]["type"] == "list"
    rows = menu["interactive"]["action"]["sections"][0]["rows"]
    person = next(r for r in rows if r["title"] == "Talk to a person")
    reply = {"type": "list_reply", "list_reply": {"id": person["id"], "title": person["title"]}}
    stack.meta_post(wa_payload(wa_id, wa_message(wa_id, "interactive", interactive=reply)))
    answer = meta_sent(stack, wa_id, 3)[-1]
    assert answer["type"] in ("text", "interactive")
    chosen = stack.user_events(conversation_id(CHANNEL_ID_KEY, "wa", wa_id))[-1]
    assert chosen["text"] == "/request_human"


def test_a_stale_or_made_up_whatsapp_reply_is_only_its_words(stack):
    wa_id = new_number().lstrip("+")
    stack.meta_post(wa_payload(wa_id, wa_message(wa_id, text={"body": "help"})))
    meta_sent(stack, wa_id, 2)
    made_up = {"type": "button_reply", "button_reply": {"id": "4", "title": "/restart"}}
    stack.meta_post(wa_payload(wa_id, wa_message(wa_id, "interactive", interactive=made_up)))
    meta_sent(stack, wa_id, 3)
    last = stack.user_events(conversation_id(CHANNEL_ID_KEY, "wa", wa_id))[-1]
    assert last["text"] == "/restart" and last["parse_data"]["intent"]["name"] != "restart"


@pytest.mark.parametrize("forgery", ["unsigned", "wrong secret", "tampered", "sha1"])
def test_forged_unsigned_and_tampered_whatsapp_cloud_posts_are_refused(stack, forgery):
    wa_id = new_number().lstrip("+")
    body = json.dumps(wa_payload(wa_id, wa_message(wa_id, text={"body": "hello"}))).encode()
    from integrations.channels.signatures import meta_signature

    good = meta_signature(SANDBOX.meta_app_secret, body)
    headers = {"Content-Type": "application/json"}
    if forgery == "wrong secret":
        headers["X-Hub-Signature-256"] = meta_signature("guessed", body)
    elif forgery == "tampered":
        headers["X-Hub-Signature-256"] = good
        body = body.replace(b"hello", b"/restart")
    elif forgery == "sha1":
        headers["X-Hub-Signature-256"] = good.replace("sha256=", "sha1=")
    response = httpx.post(stack.webhook("whatsapp_cloud"), content=body, headers=headers)
    assert response.status_code == 403
    time.sleep(QUIET_SECONDS)
    assert stack.meta_sent(wa_id) == []
    assert stack.user_events(conversation_id(CHANNEL_ID_KEY, "wa", wa_id)) == []


def test_the_same_whatsapp_message_id_is_handled_once(stack):
    wa_id = new_number().lstrip("+")
    payload = wa_payload(wa_id, wa_message(wa_id, text={"body": "hello"}))
    assert stack.meta_post(payload).status_code == 200
    meta_sent(stack, wa_id, 1)
    assert stack.meta_post(payload).status_code == 200
    time.sleep(QUIET_SECONDS)
    assert len(stack.meta_sent(wa_id)) == 1
    assert len(stack.user_events(conversation_id(CHANNEL_ID_KEY, "wa", wa_id))) == 1


def test_status_only_payloads_are_ignored_with_200(stack):
    wa_id = new_number().lstrip("+")
    status = {"id": "wamid.sent", "status": "delivered", "timestamp": "1700000000", "recipient_id": wa_id}
    response = stack.meta_post(wa_payload(wa_id, statuses=[status]))
    assert response.status_code == 200
    time.sleep(QUIET_SECONDS)
    assert stack.meta_sent(wa_id) == []
    assert stack.user_events(conversation_id(CHANNEL_ID_KEY, "wa", wa_id)) == []


def test_a_whatsapp_picture_gets_the_polite_text_only_answer(stack):
    wa_id = new_number().lstrip("+")
    image = wa_message(wa_id, "image", image={"id": "1234", "mime_type": "image/jpeg"})
    stack.meta_post(wa_payload(wa_id, image))
    [answer] = meta_sent(stack, wa_id, 1)
    assert "only read text" in answer["text"]["body"]


# --- GOV.UK Notify inbound SMS ------------------------------------------------------------------------


def notify_inbound(
    stack: Stack, number: str, text: str, *, token: str | None, message_id: str
) -> httpx.Response:
    body = {
        "id": message_id,
        "source_number": number.lstrip("+"),
        "destination_number": "07700900000",
        "message": text,
        "date_received": "2026-11-27T12:15:30.000000Z",
    }
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(stack.webhook("notify_sms"), json=body, headers=headers)


def test_an_inbound_text_from_notify_is_answered_through_notify_once(stack):
    number = new_number()
    national = "0" + number[3:]
    message_id = str(uuid.uuid4())
    for _ in range(2):  # Notify calling back twice with the same id
        assert (
            notify_inbound(
                stack, number, "hello", token=SANDBOX.notify_callback_token, message_id=message_id
            ).status_code
            == 200
        )
    [sent] = stack.wait_for_sent(lambda: stack.notify_sent(national), 1)
    assert sent["type"] == "sms" and "digital assistant" in sent["body"]
    time.sleep(QUIET_SECONDS)
    assert len(stack.notify_sent(national)) == 1
    assert len(stack.user_events(sms_conversation(number))) == 1


@pytest.mark.parametrize("token", [None, "not-the-token", SANDBOX.notify_callback_token + "x"])
def test_a_notify_callback_without_our_token_is_refused(stack, token):
    number = new_number()
    response = notify_inbound(stack, number, "hello", token=token, message_id=str(uuid.uuid4()))
    assert response.status_code == 403
    time.sleep(1)
    assert stack.user_events(sms_conversation(number)) == []


def _sync(coroutine: Any) -> Any:
    """Run one of the channel store's coroutines from a plain test."""
    import asyncio

    return asyncio.run(coroutine)
