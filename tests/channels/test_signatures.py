"""Provider signatures, checked as the providers compute them."""

from __future__ import annotations

import hashlib
import hmac

from twilio.request_validator import RequestValidator

from integrations.channels.signatures import (
    meta_signature,
    meta_signature_valid,
    twilio_signature,
    twilio_signature_valid,
)

URL = "https://chat.council.example/webhooks/twilio_sms/webhook"
PARAMS = {
    "MessageSid": ["SM1"],
    "From": ["+447700900123"],
    "Body": ["When is my bin day?"],
    "NumMedia": ["0"],
}


def test_our_twilio_signature_is_twilios_own():
    theirs = RequestValidator("token").compute_signature(URL, {k: v[0] for k, v in PARAMS.items()})
    assert twilio_signature("token", URL, PARAMS) == theirs


def test_a_twilio_signature_is_valid_only_for_that_url_token_and_body():
    signature = twilio_signature("token", URL, PARAMS)
    assert twilio_signature_valid("token", URL, PARAMS, signature)
    assert twilio_signature_valid("token", URL.replace(".example/", ".example:443/"), PARAMS, signature)
    assert not twilio_signature_valid("other", URL, PARAMS, signature)
    assert not twilio_signature_valid("token", URL + "?x=1", PARAMS, signature)
    assert not twilio_signature_valid("token", URL, {**PARAMS, "Body": ["STOP"]}, signature)
    assert not twilio_signature_valid("token", URL, PARAMS, None)
    assert not twilio_signature_valid("", URL, PARAMS, twilio_signature("", URL, PARAMS))


def test_a_meta_signature_is_the_hmac_of_the_raw_body():
    body = b'{"object":"whatsapp_business_account"}'
    expected = "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert meta_signature("secret", body) == expected
    assert meta_signature_valid("secret", body, expected)
    assert not meta_signature_valid("secret", body + b" ", expected)
    assert not meta_signature_valid("other", body, expected)
    assert not meta_signature_valid("secret", body, expected.replace("sha256=", "sha1="))
    assert not meta_signature_valid("secret", body, None)
