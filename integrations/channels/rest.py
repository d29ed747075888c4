"""The REST channel for tools and tests, made safe: a drop-in for Rasa's ``rest``.

Same URL and shapes (``POST /webhooks/rest/webhook`` with ``{"sender",
"message"}``, answered with a list of ``{"text", "buttons": [{"title",
"payload"}]}``), with Rasa's holes closed:

- typed text starting with ``/`` is text (``base.user_message``); a message
  equal to a payload the assistant last offered this sender is that button
  press, as Rasa's own widgets send it;
- ``input_channel`` and ``metadata`` from the request are ignored;
- a sender id of the kind our other channels issue (``sms-…``, ``wa-…``,
  ``web-…``) is refused, so nobody can write into a resident's SMS,
  WhatsApp or website conversation through this channel.

The website uses ``webchat``; in production this channel can be left out of
``bot/credentials.yml``.
"""

from __future__ import annotations

import json
from typing import Any

from rasa.core.channels.channel import InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from integrations.channels.base import OnNewMessage, guarded, user_message
from integrations.channels.identity import is_issued_id
from integrations.channels.runtime import ChannelRuntime, shared_runtime
from integrations.channels.webchat import OfferingCollector


class RestInput(InputChannel):
    def __init__(self, runtime: ChannelRuntime | None = None) -> None:
        self.runtime = runtime or shared_runtime()

    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        blueprint = Blueprint("safe_rest_webhook", __name__)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @blueprint.route("/webhook", methods=["POST"])
        @guarded(self.name())
        async def receive(request: Request) -> HTTPResponse:
            try:
                body: Any = json.loads(request.body or b"")
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("message"), str):
                return response.json({"error": 'send {"sender": ..., "message": ...}'}, status=400)
            sender = str(body.get("sender") or "default")
            if is_issued_id(sender):
                return response.json({"error": "that sender id belongs to another channel"}, status=403)
            text = body["message"]
            store = self.runtime.store
            chosen = any(o.payload == text.strip() for o in await store.options(sender))
            await store.clear_options(sender)
            collector = OfferingCollector(store, lambda o: {"title": o.title, "payload": o.payload})
            await on_new_message(
                await user_message(
                    text,
                    agent=getattr(request.app.ctx, "agent", None),
                    chosen=chosen,
                    output_channel=collector,
                    sender_id=sender,
                    input_channel=self.name(),
                )
            )
            return response.json(collector.messages)

        return blueprint
