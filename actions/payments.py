"""Garden waste payments: the GOV.UK Pay link for a renewal, and finishing the renewal once paid.

One renewal (one ``renewal_key``, kept in a slot) may take several payment
attempts. A declined, cancelled or expired payment leaves the subscription as
it was; the resident gets a new link, which is a new attempt with its own Pay
idempotency key. An attempt is only replaced once its payment has finished
without success or we have cancelled it, so at most one payment for a renewal
can still be paid, and the waste system makes one subscription per renewal
key: nobody pays twice for the same renewal.

``complete_payment(payment_id)`` is the one way a renewal is finished, whoever
learns of the payment first: the GOV.UK Pay webhook (``GovukPayInput`` in the
Rasa server, even if the resident never comes back) or the resident saying
"done" (the garden waste form, in the action server). It reads everything it
needs from Pay (the payment's state, and the metadata written when the payment
was made), so it is safe to run twice, or twice at the same time:

- the waste system renews once per renewal key; a repeat gets the same
  subscription back (200 instead of 201);
- only the call whose renewal created the subscription sends the Notify
  confirmation, so it goes at most once;
- a back-office failure after the money was taken keeps the renewal in the
  outbox (keyed by the renewal), to be finished later.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from actions.clients import Clients, clients
from actions.common import outbox
from integrations.errors import IntegrationError, NotFound, Rejected, Unavailable
from integrations.outbox import Completed, OutboxItem, handler
from integrations.payments import Payment
from integrations.waste import GardenWasteSubscription

logger = logging.getLogger("actions.payments")

INTENT = "renew_garden_waste"
#: Marks our payments in Pay's metadata (other journeys take payments too).
SERVICE = "garden_waste"
#: Pay's limit on a metadata value.
MAX_METADATA_VALUE = 100


class Status(str, Enum):
    RENEWED = "renewed"  # paid, and the subscription is renewed (now or before)
    UNPAID = "unpaid"  # the payment is not finished yet
    FAILED = "failed"  # finished without taking money: declined, expired, cancelled
    KEPT = "kept"  # paid, but the waste system is down: kept to finish later
    REFUSED = "refused"  # paid, but the waste system refused the renewal: a person sorts it out
    NOT_OURS = "not_ours"  # not a garden waste payment


@dataclass(frozen=True)
class RenewalOrder:
    """What one renewal is for: everything the payment carries to finish it later."""

    uprn: str
    address: str
    bins: int
    total_pence: int
    kind: str  # "renewal" or "new"
    renewal_key: str
    conversation: str
    email: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)

    @property
    def description(self) -> str:
        what = "renewal" if self.kind == "renewal" else "new subscription"
        bins = "1 bin" if self.bins == 1 else f"{self.bins} bins"
        return f"Garden waste collection {what} ({bins})"

    def metadata(self) -> dict[str, str | int]:
        values: dict[str, str | int | None] = {
            "service": SERVICE,
            "uprn": self.uprn,
            "bins": self.bins,
            "renewal_key": self.renewal_key,
            "address": self.address,
            "conversation": self.conversation,
            "phone": self.phone,
        }
        # A value Pay would refuse (a very long conversation id) is left out rather than cut.
        return {
            k: v for k, v in values.items() if v is not None and v != "" and len(str(v)) <= MAX_METADATA_VALUE
        }


def payment_key(renewal_key: str, attempt: int) -> str:
    """Pay's idempotency key for one attempt at paying for a renewal."""
    return f"{renewal_key}-{attempt}"


async def renewal_payment(order: RenewalOrder, attempt: int) -> Payment:
    """The payment for this attempt: made on the first call, the same one on every later call."""
    settings = clients().settings
    return await clients().payments.create_payment(
        order.total_pence,
        reference=order.renewal_key,
        description=order.description,
        return_url=settings.pay_return_url,
        idempotency_key=payment_key(order.renewal_key, attempt),
        email=order.email,
        metadata=order.metadata(),
    )


@dataclass(frozen=True)
class Completion:
    """What finishing a payment came to."""

    status: Status
    payment_id: str
    conversation: str | None = None
    subscription: GardenWasteSubscription | None = None
    #: Pay's state: ``created``, ``started``... and, for a failed payment, why (``P0010``...).
    pay_status: str = ""
    failure_code: str = ""
    #: How this call sent the confirmation ("email" or "sms"); None if it sent none.
    notified: str | None = None

    @property
    def paid(self) -> bool:
        return self.status in (Status.RENEWED, Status.KEPT, Status.REFUSED)


def follow_up_key(renewal_key: str) -> str:
    return f"renew_garden_waste:{renewal_key}"


async def complete_payment(payment_id: str, backoffice: Clients | None = None) -> Completion:
    """Finish the renewal a payment was for, if it succeeded. Safe to repeat and to run concurrently.

    Raises ``IntegrationError`` only when Pay itself can't be asked; then nothing was done.
    """
    backoffice = backoffice or clients()
    payment = await backoffice.payments.get_payment(payment_id)
    meta: Mapping[str, Any] = payment.metadata
    conversation = str(meta["conversation"]) if meta.get("conversation") else None
    if meta.get("service") != SERVICE:
        if meta.get("service") == "council_tax" and payment.is_success:
            # Pay's webhook for a council tax payment: credit the account now, even if the
            # resident never comes back to say they've paid (kept for follow-up if that fails).
            from actions.council_tax import payment_result

            await payment_result(payment, conversation or "")
        return Completion(Status.NOT_OURS, payment_id)
    if not payment.is_success:
        status = Status.FAILED if payment.is_finished else Status.UNPAID
        return Completion(
            status, payment_id, conversation, pay_status=payment.status.value, failure_code=payment.state.code
        )
    renewal_key = str(meta["renewal_key"])
    try:
        subscription = await backoffice.waste.renew_garden_waste(
            str(meta["uprn"]), bins=int(meta["bins"]), payment_id=payment_id, renewal_key=renewal_key
        )
    except (Rejected, NotFound) as error:
        # The money is taken but the waste system won't renew: a person must renew by hand or refund.
        logger.warning("paid garden waste renewal refused: %s", error)
        await _keep(renewal_key, conversation, payment_id, error, needs_person=True)
        return Completion(Status.REFUSED, payment_id, conversation, pay_status="success")
    except IntegrationError as error:
        logger.warning("paid garden waste renewal kept for later: %s", error)
        await _keep(renewal_key, conversation, payment_id, error)
        return Completion(Status.KEPT, payment_id, conversation, pay_status="success")
    await _settle(renewal_key, subscription)
    notified = (
        await _confirm(backoffice, payment, subscription, conversation) if subscription.created else None
    )
    return Completion(
        Status.RENEWED,
        payment_id,
        conversation,
        subscription=subscription,
        pay_status="success",
        notified=notified,
    )


async def _keep(
    renewal_key: str,
    conversation: str | None,
    payment_id: str,
    error: IntegrationError,
    *,
    needs_person: bool = False,
) -> None:
    """Keep a paid renewal for follow-up: the payment id is all it takes to finish it."""

    def keep() -> None:
        item = outbox().add(
            key=follow_up_key(renewal_key),
            kind="renew_garden_waste",
            intent=INTENT,
            system=error.system or "waste",
            conversation=conversation or "",
            payload={"payment_id": payment_id},
        )
        if needs_person and item.status == "pending":
            outbox().needs_person(item, str(getattr(error, "reason", "")) or "refused")

    try:
        await asyncio.to_thread(keep)
    except Exception:  # the outbox itself failed: the webhook is answered with an error and re-sent
        logger.exception("could not keep a paid renewal for follow-up")
        raise


async def _settle(renewal_key: str, subscription: GardenWasteSubscription) -> None:
    """A renewal kept earlier and finished now is done in the outbox too."""

    def settle() -> None:
        item = outbox().get(follow_up_key(renewal_key))
        if item is not None and item.status == "pending":
            outbox().done(item, {"reference": subscription.reference})

    try:
        await asyncio.to_thread(settle)
    except Exception:  # harmless: the outbox worker finds the renewal already done
        logger.exception("could not mark a kept renewal as done")


async def _confirm(
    backoffice: Clients, payment: Payment, subscription: GardenWasteSubscription, conversation: str | None
) -> str | None:
    """Send the renewal confirmation by email or text, if the resident asked for one."""
    phone = payment.metadata.get("phone")
    if not (payment.email or phone):
        return None
    personalisation = {
        "address": str(payment.metadata.get("address") or "your address"),
        "end_date": long_date(subscription.expiry_date),
        "reference": subscription.reference,
    }
    try:
        if payment.email:
            await backoffice.notify.send_email(
                payment.email, "renewal_confirmation", personalisation, subscription.reference
            )
            return "email"
        await backoffice.notify.send_sms(
            str(phone), "renewal_confirmation", personalisation, subscription.reference
        )
        return "sms"
    except IntegrationError as error:
        logger.warning("renewal confirmation not sent: %s", error)
        try:
            await asyncio.to_thread(
                outbox().add,
                key=f"renewal_confirmation:{payment.payment_id}",
                kind="renewal_confirmation",
                intent=INTENT,
                system=error.system or "notify",
                conversation=conversation or "",
                payload={"payment_id": payment.payment_id, "reference": subscription.reference},
            )
        except Exception:
            logger.exception("could not keep the renewal confirmation for follow-up")
        return None


def long_date(day: dt.date) -> str:
    """``17 December 2027``: for messages read later, when "this year" may have changed."""
    return f"{day.day} {day:%B %Y}"


# --- the outbox worker's part ---------------------------------------------------------


@handler("renew_garden_waste")
async def finish_kept_renewal(backoffice: Clients, item: OutboxItem) -> Completed:
    """Finish a paid renewal kept while the waste system was down (``python -m integrations.outbox``)."""
    done = await complete_payment(str(item.payload["payment_id"]), backoffice)
    if done.status is Status.RENEWED and done.subscription is not None:
        reference = done.subscription.reference
        return Completed(
            {"reference": reference},
            f"Your garden waste renewal has now gone through. Your reference is {reference}.",
        )
    if done.status in (Status.KEPT, Status.UNPAID):  # still down, or the payment not finished yet
        raise Unavailable("garden waste renewal not finished yet", system="waste")
    if done.status is Status.REFUSED:  # paid, refused: a person renews it by hand or refunds
        raise Rejected("paid garden waste renewal refused", reason="refused", system="waste")
    return Completed({"paid": False}, "Your garden waste payment didn't go through, so nothing has changed.")


@handler("renewal_confirmation")
async def resend_confirmation(backoffice: Clients, item: OutboxItem) -> Completed:
    """Send a renewal confirmation that Notify could not take at the time."""
    payment = await backoffice.payments.get_payment(str(item.payload["payment_id"]))
    subscription = await backoffice.waste.garden_waste_subscription(str(item.payload["reference"]))
    if await _confirm(backoffice, payment, subscription, item.conversation) is None:
        raise Unavailable("renewal confirmation not sent yet", system="notify")
    return Completed({"reference": subscription.reference}, "We've sent your garden waste confirmation.")
