"""WhatsApp Cloud API (Meta): webhook connector.

- ``GET /webhooks/whatsapp_cloud/webhook``: the verification handshake; the
  challenge is echoed only when ``hub.verify_token`` matches (constant time).
- ``POST``: ``X-Hub-Signature-256`` (``sha256=`` + hex HMAC-SHA256 of the raw
  body with the app secret) checked on the raw bytes in constant time before
  the body is parsed; 403 otherwise, nothing processed.
- Text, interactive ``button_reply`` / ``list_reply`` (mapped back to the
  option offered, by id and title), template quick-reply ``button`` messages;
  pictures, voice notes, locations and the rest get the polite text-only
  answer; reactions are ignored. A message id delivered twice is handled once.
  Status-only payloads (delivery receipts) are answered 200 and ignored, as
  are changes for another phone number of the same app.
- Replies: interactive reply buttons or a list within Meta's limits, else
  numbered text (``rendering.whatsapp_interactive``).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from integrations.channels.base import Inbound, OnNewMessage, TextChannelInput, guarded
from integrations.channels.rendering import Option, render_whatsapp_text, whatsapp_interactive
from integrations.channels.senders import Sender, WhatsAppCloudSender
from integrations.channels.signatures import meta_signature_valid

logger = logging.getLogger("integrations.channels")

#: Message types that carry no text for the assistant and need no answer.
SILENT_TYPES = frozenset({"reaction", "system"})


def inbound_messages(payload: Any, phone_number_id: str) -> Iterator[Inbound]:
    """The residents' messages in a webhook payload for our number (statuses are skipped)."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") != "messages" or (value.get("metadata") or {}).get("phone_number_id") != (
                phone_number_id
            ):
                continue
            for message in value.get("messages") or []:
                inbound = _inbound(message)
                if inbound is not None:
                    yield inbound


def _inbound(message: dict[str, Any]) -> Inbound | None:
    kind, message_id, sender = message.get("type"), message.get("id"), message.get("from")
    if not message_id or not sender or kind in SILENT_TYPES:
        return None
    inbound = Inbound(message_id=str(message_id), address=str(sender))
    if kind == "text":
        return replace(inbound, text=str((message.get("text") or {}).get("body") or ""))
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get(str(interactive.get("type"))) or {}
        if "id" in reply:
            return replace(inbound, choice_id=str(reply["id"]), choice_title=str(reply.get("title") or ""))
    if kind == "button":  # a quick reply on a template message: its text is what the resident chose
        return replace(inbound, text=str((message.get("button") or {}).get("text") or ""))
    return replace(inbound, has_media=True)


class WhatsAppCloudInput(TextChannelInput):
    family = "wa"
    credential_fields = (
        "meta_app_secret",
        "meta_verify_token",
        "meta_access_token",
        "meta_phone_number_id",
        "meta_graph_url",
        "meta_graph_version",
    )
    secret_fields = ("meta_app_secret", "meta_verify_token", "meta_access_token")

    @classmethod
    def name(cls) -> str:
        return "whatsapp_cloud"

    def sender(self, http: httpx.AsyncClient) -> Sender:
        return WhatsAppCloudSender(http, self.settings)

    def render(self, text: str, options: list[Option]) -> list[dict[str, Any]]:
        interactive = whatsapp_interactive(text, options)
        if interactive is not None:
            return [{"interactive": interactive}]
        return [{"text": part} for part in render_whatsapp_text(text, options)]

    def routes(self, blueprint: Blueprint, on_new_message: OnNewMessage) -> None:
        @blueprint.route("/webhook", methods=["GET"])
        @guarded(self.name())
        async def verify(request: Request) -> HTTPResponse:
            args = request.args
            token = (args.get("hub.verify_token") or "").encode()
            expected = self.settings.meta_verify_token.encode()
            if args.get("hub.mode") == "subscribe" and expected and hmac.compare_digest(token, expected):
                return response.text(args.get("hub.challenge") or "")
            return response.text("Forbidden", status=403)

        @blueprint.route("/webhook", methods=["POST"])
        @guarded(self.name())
        async def receive(request: Request) -> HTTPResponse:
            body = request.body or b""
            if not meta_signature_valid(
                self.settings.meta_app_secret, body, request.headers.get("X-Hub-Signature-256")
            ):
                logger.warning("%s: request refused: signature missing or wrong", self.name())
                return response.text("Forbidden", status=403)
            try:
                payload = json.loads(body)
            except ValueError:
                return response.text("Not JSON", status=400)
            for inbound in inbound_messages(payload, self.settings.meta_phone_number_id):
                await self.accept(request, inbound, on_new_message)
            return response.json({"status": "ok"})
