"""GOV.UK Pay: create a card payment, check its outcome, cancel it; verify and read webhooks.

Follows the public API (``POST /v1/payments``, ``GET /v1/payments/{id}``,
``POST /v1/payments/{id}/cancel``), with the API key as a bearer token.

- Every create carries an ``Idempotency-Key``: Pay answers a repeat with the
  same key and body with the payment it already made (200), so a create is
  safe to retry after a timeout; the same key with another body is refused
  (409, ``P0191``).
- ``next_url`` is where the resident pays. Anyone holding it can take over
  the payment, so it is kept out of every repr and log line: hand it to the
  resident and nowhere else.
- Pay does not tell the return page how it went: call ``get_payment``.
- Webhooks are signed: ``Pay-Signature`` is the lower-case hex HMAC-SHA256 of
  the raw body with the webhook signing secret. Check it with
  ``verify_webhook`` before ``parse_webhook``; events may repeat and arrive
  out of order, so act on the payment's state, not on the event's arrival.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import quote

import httpx

from integrations.errors import AuthFailed, IntegrationError, NotFound, Rejected, Unavailable
from integrations.http import RETRYABLE_STATUSES, ApiClient
from integrations.values import optional_datetime, pounds

#: Pay's limits on a card payment (pence), from its API reference.
MIN_AMOUNT_PENCE = 1
MAX_AMOUNT_PENCE = 10_000_000

# Webhook event types (``event_type``).
CARD_PAYMENT_STARTED = "card_payment_started"
CARD_PAYMENT_SUCCEEDED = "card_payment_succeeded"
CARD_PAYMENT_CAPTURED = "card_payment_captured"
CARD_PAYMENT_FAILED = "card_payment_failed"
CARD_PAYMENT_EXPIRED = "card_payment_expired"
CARD_PAYMENT_REFUNDED = "card_payment_refunded"


class PaymentStatus(str, Enum):
    CREATED = "created"  # the resident has not opened next_url yet
    STARTED = "started"  # entering card details
    SUBMITTED = "submitted"  # authorised, not yet confirmed
    CAPTURABLE = "capturable"  # delayed capture: waiting for us to take it
    SUCCESS = "success"
    FAILED = "failed"  # declined (P0010), expired (P0020), cancelled by the resident (P0030)
    CANCELLED = "cancelled"  # cancelled by us (P0040)
    ERROR = "error"  # Pay or the card provider failed; no money taken


#: Why a finished payment did not succeed (``state.code``).
FAILURE_CODES = {
    "P0010": "payment method rejected",
    "P0020": "payment expired",
    "P0030": "cancelled by the resident",
    "P0040": "cancelled by the service",
    "P0050": "payment provider error",
}


@dataclass(frozen=True)
class PaymentState:
    status: PaymentStatus
    finished: bool
    code: str = ""
    message: str = ""

    @classmethod
    def from_api(cls, state: Mapping[str, Any]) -> PaymentState:
        return cls(
            status=PaymentStatus(state["status"]),
            finished=bool(state.get("finished")),
            code=str(state.get("code") or ""),
            message=str(state.get("message") or ""),
        )


@dataclass(frozen=True)
class CardDetails:
    """What Pay says about the card: enough for a receipt, nothing more is kept."""

    card_brand: str = ""
    card_type: str = ""
    last_digits_card_number: str = ""
    expiry_date: str = ""

    @classmethod
    def from_api(cls, card: Mapping[str, Any]) -> CardDetails:
        return cls(
            card_brand=str(card.get("card_brand") or ""),
            card_type=str(card.get("card_type") or ""),
            last_digits_card_number=str(card.get("last_digits_card_number") or ""),
            expiry_date=str(card.get("expiry_date") or ""),
        )


@dataclass(frozen=True)
class Payment:
    payment_id: str
    amount_pence: int
    reference: str
    description: str
    state: PaymentState
    created_date: dt.datetime | None = None
    return_url: str = ""
    #: The resident's single-use payment page; ``None`` once the payment is finished. Never log it.
    next_url: str | None = field(default=None, repr=False, compare=False)
    email: str | None = field(default=None, repr=False)
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    card_details: CardDetails | None = None
    delayed_capture: bool = False
    language: str = "en"

    @property
    def status(self) -> PaymentStatus:
        return self.state.status

    @property
    def is_success(self) -> bool:
        return self.state.status is PaymentStatus.SUCCESS

    @property
    def is_finished(self) -> bool:
        return self.state.finished

    @property
    def amount_text(self) -> str:
        """``£41.00``, for messages."""
        return pounds(self.amount_pence)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Payment:
        links = body.get("_links") or {}
        next_url = (links.get("next_url") or {}).get("href")
        card = body.get("card_details")
        return cls(
            payment_id=str(body["payment_id"]),
            amount_pence=int(body["amount"]),
            reference=str(body.get("reference", "")),
            description=str(body.get("description", "")),
            state=PaymentState.from_api(body["state"]),
            created_date=optional_datetime(body.get("created_date")),
            return_url=str(body.get("return_url") or ""),
            next_url=str(next_url) if next_url else None,
            email=body.get("email"),
            metadata=dict(body.get("metadata") or {}),
            card_details=CardDetails.from_api(card) if isinstance(card, Mapping) else None,
            delayed_capture=bool(body.get("delayed_capture", False)),
            language=str(body.get("language") or "en"),
        )


@dataclass(frozen=True)
class PaymentEvent:
    """One webhook message from Pay."""

    webhook_message_id: str
    event_type: str
    resource_type: str
    resource_id: str
    created_date: dt.datetime | None
    api_version: int
    #: The payment as Pay saw it when the event happened (``None`` for other resources).
    payment: Payment | None

    @property
    def is_payment(self) -> bool:
        return self.resource_type.lower() == "payment"


class WebhookError(ValueError):
    """A webhook body that is not a Pay webhook message."""


def verify_webhook(body: bytes, signature: str | None, secret: str) -> bool:
    """Whether ``signature`` (the ``Pay-Signature`` header) signs ``body`` with ``secret``.

    ``body`` must be the raw bytes received, before any JSON parsing. The
    comparison takes the same time wherever the strings differ.
    """
    if not secret or not signature:
        return False
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest().encode("ascii")
    given = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected, given)


def parse_webhook(body: bytes | str) -> PaymentEvent:
    """The typed event in a (verified) webhook body; ``WebhookError`` if it is not one."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookError("webhook body is not JSON") from exc
    if not isinstance(message, dict):
        raise WebhookError("webhook body is not a JSON object")
    try:
        resource_type = str(message["resource_type"])
        resource = message.get("resource")
        payment = None
        if resource_type.lower() == "payment" and isinstance(resource, Mapping):
            payment = Payment.from_api(resource)
        return PaymentEvent(
            # Older messages called it ``id``.
            webhook_message_id=str(message.get("webhook_message_id") or message["id"]),
            event_type=str(message["event_type"]).lower(),
            resource_type=resource_type,
            resource_id=str(message["resource_id"]),
            created_date=optional_datetime(message.get("created_date")),
            api_version=int(message.get("api_version") or 1),
            payment=payment,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise WebhookError(f"webhook body is missing or has a bad {exc}") from exc


class PaymentsClient(ApiClient):
    system = "gov_uk_pay"
    unexpected_shape = "unexpected payment shape"

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.endpoint.key}"}

    def translate_error(self, response: httpx.Response, op: str) -> IntegrationError:
        """Pay errors carry ``code`` (``P0102``...), ``description`` and sometimes ``field``."""
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        code = str(body.get("code") or "")
        description = str(body.get("description") or response.reason_phrase or "error")
        kwargs: dict[str, Any] = {"system": self.system, "status": status}
        if status in (401, 403):
            return AuthFailed(f"{op}: API key refused", **kwargs)
        if status == 404:
            return NotFound(f"{op}: no such payment", **kwargs)
        if status in RETRYABLE_STATUSES or status >= 500:
            return Unavailable(f"{op}: GOV.UK Pay unavailable {code}".rstrip(), **kwargs)
        # 400/422 validation (P0101, P0102, P0197), 409 key reused (P0191), cancel refused (P0501).
        return Rejected(f"{op}: {code} {description}".strip(), reason=code or description, **kwargs)

    async def create_payment(
        self,
        amount_pence: int,
        reference: str,
        description: str,
        return_url: str,
        idempotency_key: str,
        email: str | None = None,
        metadata: Mapping[str, str | int | float | bool] | None = None,
        language: str = "en",
    ) -> Payment:
        """Create a card payment; its ``next_url`` is the resident's payment page.

        ``idempotency_key`` (letters, digits and hyphens, at most 255) must be
        the same for every attempt at the same payment, e.g. derived from the
        conversation and the thing being paid for.
        """
        if not idempotency_key:
            raise ValueError("a payment needs an idempotency key")
        payload: dict[str, Any] = {
            "amount": amount_pence,
            "reference": reference,
            "description": description,
            "return_url": return_url,
            "language": language,
        }
        if email:
            payload["email"] = email
        if metadata:
            payload["metadata"] = dict(metadata)
        return await self._call(
            "POST",
            "/v1/payments",
            "create_payment",
            Payment.from_api,
            json=payload,
            idempotency_key=idempotency_key,  # so a retry returns the same payment
            ok=(200, 201),  # 200: a repeat with the same key and body
        )

    async def get_payment(self, payment_id: str) -> Payment:
        return await self._get(f"/v1/payments/{quote(payment_id, safe='')}", "get_payment", Payment.from_api)

    async def cancel_payment(self, payment_id: str) -> None:
        """Cancel an unfinished payment (204). A finished one is ``Rejected`` (``P0501``)."""
        await self.request(
            "POST",
            f"/v1/payments/{quote(payment_id, safe='')}/cancel",
            op="cancel_payment",
            # Cancelling can't happen twice: a repeat only finds it already cancelled.
            safe_to_retry=True,
            ok=(204,),
        )
