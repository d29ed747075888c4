"""GOV.UK Notify inbound SMS: texts to the council's Notify number, answered through Notify.

Notify calls ``POST /webhooks/notify_sms/webhook`` with
``Authorization: Bearer <the callback token we gave it>`` and a JSON body
``{id, source_number, destination_number, message, date_received}``. The
token is compared in constant time (``integrations.notify.check_callback_token``);
anything else is 403 and nothing is processed. Each ``id`` is handled once.
Replies go through the ``chat_reply`` template (``((message))``) from the
delivery queue, rendered as SMS like Twilio's.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from integrations.channels.base import Inbound, OnNewMessage, TextChannelInput, guarded
from integrations.channels.rendering import Option, render_sms
from integrations.channels.senders import NotifySender, Sender
from integrations.notify import check_callback_token

logger = logging.getLogger("integrations.channels")


class NotifySmsInput(TextChannelInput):
    family = "sms"
    credential_fields = ("notify_callback_token",)
    secret_fields = ("notify_callback_token",)

    @classmethod
    def name(cls) -> str:
        return "notify_sms"

    def sender(self, http: httpx.AsyncClient) -> Sender:
        return NotifySender(http, self.settings)

    def render(self, text: str, options: list[Option]) -> list[dict[str, Any]]:
        return [{"text": part} for part in render_sms(text, options, self.settings.sms_max_segments)]

    def routes(self, blueprint: Blueprint, on_new_message: OnNewMessage) -> None:
        @blueprint.route("/webhook", methods=["POST"])
        @guarded(self.name())
        async def receive(request: Request) -> HTTPResponse:
            if not check_callback_token(
                request.headers.get("Authorization"), self.settings.notify_callback_token
            ):
                logger.warning("%s: request refused: callback token missing or wrong", self.name())
                return response.text("Forbidden", status=403)
            try:
                body = json.loads(request.body or b"")
            except ValueError:
                return response.text("Not JSON", status=400)
            if not isinstance(body, dict) or not body.get("id") or not body.get("source_number"):
                return response.text("Not an inbound text", status=400)
            inbound = Inbound(
                message_id=str(body["id"]),
                address=str(body["source_number"]),
                text=str(body.get("message") or ""),
            )
            await self.accept(request, inbound, on_new_message)
            return response.json({"status": "ok"})
