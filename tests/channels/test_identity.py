"""Conversation ids that reveal nobody; website tokens nobody can forge."""

from __future__ import annotations

import pytest

from integrations.channels.identity import (
    conversation_id,
    international_number,
    is_issued_id,
    new_webchat_token,
    webchat_conversation,
)

SECRET = "a-webchat-secret-of-at-least-32-bytes"


@pytest.mark.parametrize(
    "raw", ["+447700900123", "447700900123", "07700 900123", "whatsapp:+447700900123", "0044 7700 900123"]
)
def test_the_ways_a_number_arrives_are_one_number(raw):
    assert international_number(raw) == "447700900123"


def test_a_conversation_id_is_a_keyed_hash_not_the_number():
    sms = conversation_id("key", "sms", "+447700900123")
    assert sms == conversation_id("key", "sms", "07700 900123")
    assert sms.startswith("sms-") and "7700900123" not in sms and len(sms) == 36
    assert sms != conversation_id("another key", "sms", "+447700900123")
    assert sms != conversation_id("key", "sms", "+447700900124")
    assert conversation_id("key", "wa", "+447700900123").startswith("wa-")
    assert is_issued_id(sms) and not is_issued_id("my-test-sender")


def test_a_webchat_token_names_the_conversation_it_was_issued_for():
    conversation, token = new_webchat_token(SECRET, 3600)
    assert conversation.startswith("web-")
    assert webchat_conversation(token, SECRET) == conversation
    assert webchat_conversation(new_webchat_token(SECRET, 3600)[1], SECRET) != conversation


def test_an_altered_forged_or_expired_token_names_no_conversation():
    _, token = new_webchat_token(SECRET, 3600)
    header, payload, signature = token.split(".")
    altered = ".".join([header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature])
    assert webchat_conversation(altered, SECRET) is None
    assert webchat_conversation(token, SECRET + "!") is None
    _, expired = new_webchat_token(SECRET, 60, now=1_000_000)
    assert webchat_conversation(expired, SECRET) is None
    assert webchat_conversation("web-chosen-by-the-client", SECRET) is None
