"""Twilio SMS and WhatsApp: our own connectors in place of Rasa's ``twilio`` channel.

Rasa's connector accepts forged requests, fails with a 500 on a picture,
sends each button as its own SMS with its payload, and blocks while sending
(``../shared/reference/channels-and-security.md``). These:

- check ``X-Twilio-Signature`` on every request (``signatures``) against the
  URL Twilio called: ``CHANNELS_PUBLIC_URL`` + the path when behind a proxy,
  else the URL the request arrived at. Unsigned, forged or altered: 403 and
  nothing is processed;
- handle each ``MessageSid`` once (Twilio may deliver a request again, and
  a captured request may be replayed);
- answer Twilio at once with empty TwiML and reply through the Messages API
  from the delivery queue;
- render for the channel: SMS of at most ``SMS_MAX_SEGMENTS`` segments,
  WhatsApp texts of at most 1,600 characters, buttons as numbered options.

Point the number's "A message comes in" webhook at
``https://<host>/webhooks/twilio_sms/webhook`` (SMS) or
``…/webhooks/twilio_whatsapp/webhook`` (the WhatsApp sender), HTTP POST.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

import httpx
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from integrations.channels.base import Inbound, OnNewMessage, TextChannelInput, guarded
from integrations.channels.rendering import Option, render_sms, render_whatsapp_text
from integrations.channels.senders import Sender, TwilioSender
from integrations.channels.signatures import twilio_signature_valid

logger = logging.getLogger("integrations.channels")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def form_params(request: Request) -> dict[str, list[str]] | None:
    """The POST parameters as Twilio signed them: blank ones too (a picture comes with an empty Body)."""
    if not request.content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    try:
        return parse_qs((request.body or b"").decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None


class TwilioSmsInput(TextChannelInput):
    family = "sms"
    whatsapp = False
    credential_fields = (
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_sms_number",
        "twilio_whatsapp_number",
        "twilio_api_url",
        "public_url",
    )
    secret_fields = ("twilio_auth_token",)

    @classmethod
    def name(cls) -> str:
        return "twilio_sms"

    def sender(self, http: httpx.AsyncClient) -> Sender:
        return TwilioSender(http, self.settings, whatsapp=self.whatsapp)

    def render(self, text: str, options: list[Option]) -> list[dict[str, Any]]:
        if self.whatsapp:
            return [{"text": part} for part in render_whatsapp_text(text, options)]
        return [{"text": part} for part in render_sms(text, options, self.settings.sms_max_segments)]

    def public_url(self, request: Request) -> str:
        """The URL Twilio called: ours as configured, or as the request arrived."""
        if not self.settings.public_url:
            return request.url
        query = f"?{request.query_string}" if request.query_string else ""
        return self.settings.public_url + request.path + query

    def routes(self, blueprint: Blueprint, on_new_message: OnNewMessage) -> None:
        @blueprint.route("/webhook", methods=["POST"])
        @guarded(self.name())
        async def message(request: Request) -> HTTPResponse:
            params = form_params(request)
            if params is None:
                return response.text("Not a form", status=400)
            signature = request.headers.get("X-Twilio-Signature")
            if not twilio_signature_valid(
                self.settings.twilio_auth_token, self.public_url(request), params, signature
            ):
                logger.warning("%s: request refused: signature missing or wrong", self.name())
                return response.text("Forbidden", status=403)
            form = {name: values[0] for name, values in params.items() if values}
            sid, sender = form.get("MessageSid") or form.get("SmsSid"), form.get("From", "")
            if not sid or not sender or sender.startswith("whatsapp:") != self.whatsapp:
                return response.text("Not a message for this webhook", status=400)
            inbound = Inbound(
                message_id=sid,
                address=sender,
                text=form.get("Body") or "",
                has_media=form.get("NumMedia", "0") not in ("", "0") or "Latitude" in form,
            )
            await self.accept(request, inbound, on_new_message)
            return response.text(EMPTY_TWIML, content_type="text/xml")


class TwilioWhatsAppInput(TwilioSmsInput):
    family = "wa"
    whatsapp = True

    @classmethod
    def name(cls) -> str:
        return "twilio_whatsapp"
