"""GOV.UK Pay webhooks: a paid garden waste renewal is finished even if the resident never comes back.

``POST /webhooks/govuk_pay/webhook`` (register the URL in the GOV.UK Pay admin
tool; the sandbox sends to ``SANDBOX_PAY_WEBHOOK_URL``):

1. ``Pay-Signature`` is checked on the raw body with the webhook signing
   secret (``COUNCIL_PAY_SECRET``, or ``webhook_secret`` under this channel in
   ``bot/credentials.yml``): a missing or wrong signature is 401, a signed body
   that is not a Pay message 400, and nothing is done.
2. The payment's state is read from Pay, not taken from the event
   (``actions.payments.complete_payment``): a success renews the subscription
   in the waste system and sends the Notify confirmation, once, however many
   times and in whatever order the events arrive.
3. The conversation is told by triggering ``EXTERNAL_payment_update``, if it
   is still waiting for this payment and its channel can send without being
   asked (SMS and WhatsApp push replies). The website chat and REST only
   answer the resident's own messages, so there the journey keeps waiting and
   the resident's next message ("done") finds the renewal already made.

Answers: 200 when handled (also for payments that are not garden waste
renewals), 503 when Pay or our outbox could not be reached, so Pay sends the
event again. Payment links and personal data are never logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.payments import Completion, Status, complete_payment
from integrations.channels.base import OnNewMessage, guarded
from integrations.errors import IntegrationError
from integrations.payments import WebhookError, parse_webhook, verify_webhook
from integrations.settings import Settings

logger = logging.getLogger("integrations.channels.govuk_pay")

EXTERNAL_INTENT = "EXTERNAL_payment_update"
WAITING_FORM = "garden_waste_form"
WAITING_SLOT = "renewal_paid"
#: Pay gives up on an answer after 15 s; past this the work goes on and Pay gets its answer.
ANSWER_WITHIN = 10.0
#: What the conversation is told about; an unfinished payment is not news.
NEWS = frozenset({Status.RENEWED, Status.FAILED, Status.KEPT, Status.REFUSED})


def waiting_for(tracker: Any, payment_id: str) -> bool:
    """Whether the conversation's garden waste journey is waiting for this very payment."""
    payment = tracker.get_slot("renewal_payment") or {}
    return (
        tracker.active_loop_name == WAITING_FORM
        and tracker.get_slot("requested_slot") == WAITING_SLOT
        and isinstance(payment, dict)
        and payment.get("payment_id") == payment_id
    )


def pushing_output(input_channels: list[InputChannel], channel_name: str | None) -> OutputChannel | None:
    """The output of the conversation's own channel, if it can send without being asked."""
    for channel in input_channels:
        if channel.name() == channel_name:
            return channel.get_output_channel()
    return None


class GovukPayInput(InputChannel):
    """Receives GOV.UK Pay's signed webhooks (see the module notes)."""

    def __init__(self, secret: str | None = None) -> None:
        self.secret = secret or Settings.from_env().pay.secret
        self._background: set[asyncio.Task[Any]] = set()

    @classmethod
    def name(cls) -> str:
        return "govuk_pay"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> GovukPayInput:
        return cls(secret=(credentials or {}).get("webhook_secret"))

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        blueprint = Blueprint("govuk_pay_webhook", __name__)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @blueprint.route("/webhook", methods=["POST"])
        @guarded(self.name())
        async def receive(request: Request) -> HTTPResponse:
            body = request.body or b""
            if not verify_webhook(body, request.headers.get("Pay-Signature"), self.secret):
                logger.warning("govuk_pay: webhook refused, signature missing or wrong")
                return response.json({"error": "invalid signature"}, status=401)
            try:
                event = parse_webhook(body)
            except WebhookError:
                return response.json({"error": "not a GOV.UK Pay webhook message"}, status=400)
            if not event.is_payment:
                return response.json({"status": "ignored"})
            work = asyncio.ensure_future(self.handle(request.app, event.resource_id))
            self._background.add(work)
            work.add_done_callback(self._background.discard)
            try:
                completion = await asyncio.wait_for(asyncio.shield(work), timeout=ANSWER_WITHIN)
            except asyncio.TimeoutError:
                logger.info("govuk_pay: %s still being finished; answered Pay", event.webhook_message_id)
                return response.json({"status": "accepted"}, status=202)
            except IntegrationError as error:
                logger.warning("govuk_pay: payment not finished (%s); Pay will send it again", error)
                return response.json({"error": "try again later"}, status=503)
            return response.json({"status": completion.status.value})

        return blueprint

    async def handle(self, app: Any, payment_id: str) -> Completion:
        """Finish the renewal the payment is for, then tell the conversation if it can hear."""
        completion = await complete_payment(payment_id)
        logger.info("govuk_pay: payment %s -> %s", payment_id, completion.status.value)
        if completion.status in NEWS and completion.conversation:
            try:
                await self.tell(app, completion)
            except Exception:  # the renewal is done; the resident hears of it when they come back
                logger.exception("govuk_pay: could not tell the conversation")
        return completion

    async def tell(self, app: Any, completion: Completion) -> bool:
        """Trigger ``EXTERNAL_payment_update`` in the conversation waiting for this payment."""
        agent = getattr(app.ctx, "agent", None)
        conversation = completion.conversation
        if agent is None or not conversation:
            return False
        async with agent.lock_store.lock(conversation):
            tracker = await agent.processor.fetch_tracker_and_update_session(conversation)
            if not waiting_for(tracker, completion.payment_id):
                return False  # done already, moved on, or another attempt: nothing to say
            output = pushing_output(
                getattr(app.ctx, "input_channels", None) or [], tracker.get_latest_input_channel()
            )
            if output is None:
                return False  # the resident hears it with their next message
            await agent.trigger_intent(EXTERNAL_INTENT, [], output, tracker)
        return True
