"""The website chat's own channel: a REST connector the widget talks to.

- ``POST /webhooks/webchat/session``: a new conversation. The server picks
  the id and returns it signed (``identity.new_webchat_token``); the widget
  keeps the token for the browser session and sends it with each message.
  An unknown, altered or expired token is 401: nobody can read or write
  another resident's conversation by choosing its id.
- ``POST /webhooks/webchat/message`` with ``{"conversation", "text"}``: typed
  text, always text (``base.user_message``). With ``{"conversation",
  "choice": n}``: a button press, accepted only if option ``n`` is among the
  options the assistant last offered this conversation (409 otherwise).
  Answers ``{"messages": [{"text", "buttons": [{"choice", "title"}]}, …]}``:
  the widget never sees a payload.
- CORS: only the configured origins (``WEBCHAT_ORIGINS``, by default the
  reports app that serves the widget); a request from any other origin is
  refused with 403 before anything is read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from integrations.channels.base import OnNewMessage, defuse, guarded, protected, user_message
from integrations.channels.identity import new_webchat_token, webchat_conversation
from integrations.channels.rendering import Option, options_from_buttons
from integrations.channels.runtime import ChannelRuntime, shared_runtime
from integrations.channels.settings import ChannelSettings
from integrations.channels.store import ChannelStore

logger = logging.getLogger("integrations.channels")

#: Longest typed message accepted (a resident's message, not a document).
MAX_TEXT = 1000
# Sanic-CORS (Rasa's ``--cors``) adds its own headers unless told a route did it.
_CORS_DONE = "_sanic_cors_e"

ButtonView = Callable[[Option], dict[str, Any]]


class OfferingCollector(CollectingOutputChannel):
    """Collects the replies of one turn, keeping the options offered for the next message."""

    def __init__(self, store: ChannelStore, button_view: ButtonView) -> None:
        super().__init__()
        self.store = store
        self.button_view = button_view

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        options = options_from_buttons(buttons)
        if options:
            await self.store.offer(recipient_id, options)
        message = {"text": text, "buttons": [self.button_view(o) for o in options]}
        await self._persist_message({k: v for k, v in message.items() if v})

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Only text from a custom payload is shown: a resident never sees raw JSON."""
        if isinstance(json_message.get("text"), str):
            await self.send_text_message(recipient_id, json_message["text"])

    def replies(self) -> list[dict[str, Any]]:
        """The messages without their recipient (the widget knows its own conversation)."""
        return [{k: v for k, v in m.items() if k != "recipient_id"} for m in self.messages]


def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(request.body or b"")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _error(message: str, status: int) -> HTTPResponse:
    return response.json({"error": message}, status=status)


class WebchatInput(InputChannel):
    credential_fields = ("webchat_secret", "webchat_origins", "webchat_session_hours")

    def __init__(
        self, settings: ChannelSettings | None = None, runtime: ChannelRuntime | None = None
    ) -> None:
        self.runtime = runtime or shared_runtime()
        self.settings = settings or self.runtime.settings

    @classmethod
    def name(cls) -> str:
        return "webchat"

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> InputChannel:
        given = dict(credentials or {})
        if isinstance(given.get("webchat_origins"), (list, str)):
            origins = given["webchat_origins"]
            given["webchat_origins"] = tuple(origins.split(",") if isinstance(origins, str) else origins)
        runtime = shared_runtime()
        return cls(runtime.settings.with_overrides(given), runtime)

    # --- CORS -------------------------------------------------------------------

    def origin_allowed(self, request: Request) -> bool:
        """A browser names its origin; one we don't serve is refused. Tools send none."""
        origin = request.headers.get("Origin")
        return origin is None or origin.rstrip("/") in self.settings.webchat_origins

    def with_cors(self, request: Request, reply: HTTPResponse) -> HTTPResponse:
        origin = request.headers.get("Origin")
        if origin and origin.rstrip("/") in self.settings.webchat_origins:
            reply.headers["Access-Control-Allow-Origin"] = origin
            reply.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            reply.headers["Access-Control-Allow-Headers"] = "Content-Type"
            reply.headers["Access-Control-Max-Age"] = "600"
        reply.headers["Vary"] = "Origin"
        setattr(request.ctx, _CORS_DONE, "1")
        return reply

    # --- routes -------------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        blueprint = Blueprint("webchat_webhook", __name__)
        on_new_message = protected(on_new_message, self.name())

        def endpoint(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
            """CORS and the origin check around a route; never a 500."""

            @guarded(self.name())
            async def wrapper(request: Request) -> HTTPResponse:
                if not self.origin_allowed(request):
                    logger.warning("webchat: request from an origin not served refused")
                    return self.with_cors(request, _error("origin not allowed", 403))
                if request.method == "OPTIONS":
                    return self.with_cors(request, response.empty())
                return self.with_cors(request, await handler(request))

            wrapper.__name__ = handler.__name__
            return wrapper

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @blueprint.route("/session", methods=["POST", "OPTIONS"])
        @endpoint
        async def session(_: Request) -> HTTPResponse:
            lifetime = self.settings.webchat_session_hours * 3600
            _conversation, token = new_webchat_token(self.settings.webchat_secret, lifetime)
            return response.json({"conversation": token, "expires_in": int(lifetime)}, status=201)

        @blueprint.route("/message", methods=["POST", "OPTIONS"])
        @endpoint
        async def message(request: Request) -> HTTPResponse:
            body = _json_body(request)
            if body is None:
                return _error("send a JSON object", 400)
            conversation = webchat_conversation(
                str(body.get("conversation") or ""), self.settings.webchat_secret
            )
            if conversation is None:
                return _error("start a new conversation", 401)
            store = self.runtime.store
            choice, text = body.get("choice"), body.get("text")
            if (choice is None) == (text is None):
                return _error("send either text or a choice", 400)
            if choice is not None:
                offered = {o.number: o for o in await store.options(conversation)}
                option = offered.get(choice) if type(choice) is int else None
                if option is None:
                    return _error("that option is no longer offered", 409)
                text = option.payload
            elif not isinstance(text, str) or not defuse(text)[0]:
                return _error("the message is empty", 400)
            elif len(text) > MAX_TEXT:
                return _error(f"messages are at most {MAX_TEXT} characters", 413)
            await store.clear_options(conversation)
            collector = OfferingCollector(store, lambda o: {"choice": o.number, "title": o.title})
            await on_new_message(
                await user_message(
                    text,
                    agent=getattr(request.app.ctx, "agent", None),
                    chosen=choice is not None,
                    output_channel=collector,
                    sender_id=conversation,
                    input_channel=self.name(),
                )
            )
            return response.json({"messages": collector.replies()})

        return blueprint
