"""What every connector shares.

- ``user_message``: text a resident typed is text. Rasa reads a message
  starting with ``/`` as an intent command (``/restart``, ``/affirm``,
  ``/inform{"uprn": "…"}``) and skips NLU; a resident could jump into a
  transaction, fill a form with anything or wipe their conversation. So the
  assistant's NLU reads typed text without its leading slashes, and the
  tracker keeps what was typed. Only a payload the assistant itself offered
  (a button the resident picked) goes to Rasa as a command.
- ``TextChannelInput``: the flow of an SMS or WhatsApp message, whatever the
  provider: check the request (the subclass), answer the provider at once,
  then in the background: replays dropped, STOP / START / HELP, empty and
  media-only messages answered politely, a reply of "2" mapped to the option
  offered, and the message handed to the assistant under a conversation id
  that is a keyed hash of the number. Replies go through ``QueuedOutput``
  to the delivery queue.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from integrations.channels.identity import conversation_id
from integrations.channels.keywords import Keyword, keyword
from integrations.channels.rendering import Option, choose, option_by_id, options_from_buttons
from integrations.channels.runtime import ChannelRuntime, shared_runtime
from integrations.channels.senders import Sender
from integrations.channels.settings import ChannelSettings
from integrations.channels.store import NOTICE, REPLY

if TYPE_CHECKING:
    from rasa.core.agent import Agent

logger = logging.getLogger("integrations.channels")

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
Handler = Callable[[Request], Awaitable[HTTPResponse]]


def guarded(channel: str) -> Callable[[Handler], Handler]:
    """A webhook that never fails with a 500: anything unexpected (the store down, say)
    is logged and answered 503, so a provider that retries tries again later."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request) -> HTTPResponse:
            try:
                return await handler(request)
            except Exception:
                logger.exception("%s: request failed", channel)
                return response.text("Temporarily unavailable", status=503)

        return wrapper

    return decorate


def protected(on_new_message: OnNewMessage, channel: str) -> OnNewMessage:
    """``on_new_message`` that always answers (``guard.protect``): text cleaned and rate-limited,
    a store failure or a turn that said nothing answered with an apology and a way to a person."""
    from integrations.channels.guard import protect  # guard builds on this package's REST channel

    return protect(on_new_message, channel)


# --- typed text is text ---------------------------------------------------------


def defuse(text: str) -> tuple[str, int]:
    """What the NLU reads of a typed message, and how many characters were dropped before it."""
    stripped = text.strip()
    plain = stripped.lstrip("/").lstrip()
    return plain, len(stripped) - len(plain)


async def user_message(
    text: str,
    *,
    agent: Agent | None,
    chosen: bool,
    output_channel: OutputChannel,
    sender_id: str,
    input_channel: str,
    message_id: str | None = None,
) -> UserMessage:
    """The ``UserMessage`` for ``text``: a command only if ``chosen`` (an offered payload)."""
    text = text.strip()
    common: dict[str, Any] = {"input_channel": input_channel, "message_id": message_id}
    plain, dropped = defuse(text)
    if chosen or not dropped:
        return UserMessage(text, output_channel, sender_id, **common)
    if agent is None or not agent.is_ready():
        return UserMessage(plain, output_channel, sender_id, **common)
    # Parse what NLU should read, and keep the text as typed (entity offsets moved to match).
    parse_data = await agent.parse_message(plain)
    parse_data["text"] = text
    for entity in parse_data.get("entities") or []:
        for key in ("start", "end"):
            if isinstance(entity.get(key), int):
                entity[key] += dropped
    return UserMessage(text, output_channel, sender_id, parse_data=parse_data, **common)


# --- text channels --------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    """One message from a resident, as any provider gives it."""

    message_id: str
    address: str  # the number to reply to, as the provider writes it
    text: str = ""
    has_media: bool = False
    #: An interactive reply (WhatsApp): the option id and the title the resident saw.
    choice_id: str | None = None
    choice_title: str | None = None


class QueuedOutput(OutputChannel):
    """Renders each reply for its channel and queues it; the delivery task sends it."""

    def __init__(self, connector: TextChannelInput) -> None:
        self.connector = connector

    @classmethod
    def name(cls) -> str:
        return "queued"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.connector.queue(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        options = options_from_buttons(buttons)
        if options:
            await self.connector.runtime.store.offer(recipient_id, options)
        await self.connector.queue(recipient_id, text, options)

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.connector.queue(recipient_id, image)

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        if isinstance(attachment, str):
            await self.connector.queue(recipient_id, attachment)

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """Custom payloads are for the website; a text channel never sends raw JSON to a resident."""
        logger.debug("%s: custom payload not sent on a text channel", self.connector.name())


class TextChannelInput(InputChannel):
    """Base of the SMS and WhatsApp connectors. Subclasses set the class
    attributes and implement ``routes``, ``render`` and ``sender``."""

    #: Conversation id family: the same number on "sms" and "wa" is two conversations.
    family: ClassVar[str]
    #: Settings a connector's entry in ``bot/credentials.yml`` may override.
    credential_fields: ClassVar[tuple[str, ...]] = ()
    #: Secrets to warn about at start-up if still at their sandbox values.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self, settings: ChannelSettings | None = None, runtime: ChannelRuntime | None = None
    ) -> None:
        self.runtime = runtime or shared_runtime()
        self.settings = settings or self.runtime.settings
        self.runtime.register_sender(self.name(), self.sender)

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> InputChannel:
        unknown = set(credentials or {}) - set(cls.credential_fields)
        if unknown:
            raise ValueError(f"{cls.name()}: unknown credentials {', '.join(sorted(unknown))}")
        runtime = shared_runtime()
        return cls(runtime.settings.with_overrides(credentials), runtime)

    # --- for subclasses ---------------------------------------------------------

    def routes(self, blueprint: Blueprint, on_new_message: OnNewMessage) -> None:
        raise NotImplementedError

    def render(self, text: str, options: list[Option]) -> list[dict[str, Any]]:
        """The payloads to queue for one message of the assistant."""
        raise NotImplementedError

    def sender(self, http: httpx.AsyncClient) -> Sender:
        raise NotImplementedError

    # --- the shared flow ----------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        blueprint = Blueprint(f"{self.name()}_webhook", __name__)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def start(_app: Any, _loop: Any) -> None:
            self.settings.warn_about_sandbox_secrets(("id_key", *self.secret_fields))
            await self.runtime.start()

        async def stop(_app: Any, _loop: Any) -> None:
            await self.runtime.stop()

        blueprint.listener("after_server_start")(start)
        blueprint.listener("before_server_stop")(stop)
        self.routes(blueprint, protected(on_new_message, self.name()))
        return blueprint

    def get_output_channel(self) -> OutputChannel:
        return QueuedOutput(self)

    def conversation(self, address: str) -> str:
        return conversation_id(self.settings.id_key, self.family, address)

    async def accept(self, request: Request, inbound: Inbound, on_new_message: OnNewMessage) -> bool:
        """Keep the number and note the message id, then handle it in the background.

        False for a replay (a message id already seen): it is not handled again.
        """
        sender_id = self.conversation(inbound.address)
        await self.runtime.store.remember_recipient(sender_id, self.name(), inbound.address)
        if not await self.runtime.store.first_sighting(self.name(), inbound.message_id):
            logger.info("%s: message %s already handled; ignored", self.name(), inbound.message_id)
            return False
        agent = getattr(request.app.ctx, "agent", None)
        self.runtime.spawn(self.handle(inbound, sender_id, on_new_message, agent))
        return True

    async def handle(
        self, inbound: Inbound, sender_id: str, on_new_message: OnNewMessage, agent: Agent | None
    ) -> None:
        store, notices = self.runtime.store, self.runtime.notices
        try:
            said = keyword(inbound.text) if inbound.choice_id is None else None
            if said in (Keyword.STOP, Keyword.START):
                await store.set_opted_out(sender_id, said is Keyword.STOP)
                text = notices.stopped if said is Keyword.STOP else notices.started
                await self.queue(sender_id, text, kind=NOTICE)
                return
            if await store.is_opted_out(sender_id):
                if said is Keyword.HELP:  # answered even after STOP: it says how to start again
                    await self.queue(sender_id, notices.help, kind=NOTICE)
                logger.info("%s: message in %s not handled: opted out", self.name(), sender_id)
                return
            if said is Keyword.HELP:
                await self.queue(sender_id, notices.help)  # and the assistant's own menu follows
            options = await store.options(sender_id)
            if inbound.choice_id is not None:
                chosen = option_by_id(inbound.choice_id, options, inbound.choice_title)
                text = chosen.payload if chosen else inbound.choice_title or ""
            else:
                chosen = choose(inbound.text, options)
                text = chosen.payload if chosen else inbound.text
            if not chosen and not defuse(text)[0]:
                await self.queue(sender_id, notices.media_only if inbound.has_media else notices.empty)
                return
            await store.clear_options(sender_id)
            message = await user_message(
                text,
                agent=agent,
                chosen=chosen is not None,
                output_channel=self.get_output_channel(),
                sender_id=sender_id,
                input_channel=self.name(),
                message_id=inbound.message_id,
            )
            await on_new_message(message)
        except Exception:
            logger.exception(
                "%s: message %s in %s could not be handled", self.name(), inbound.message_id, sender_id
            )
            try:
                await self.queue(sender_id, notices.failed)
            except Exception:
                logger.exception("%s: could not queue the apology to %s", self.name(), sender_id)

    async def queue(
        self, sender_id: str, text: str, options: list[Option] | None = None, kind: str = REPLY
    ) -> None:
        payloads = self.render(text, options or [])
        if payloads:
            await self.runtime.store.enqueue(sender_id, self.name(), payloads, kind)
            self.runtime.wake()
