"""GOV.UK Notify: text messages and emails from templates, and the status of each.

Follows the public API v2 (``POST /v2/notifications/sms``, ``POST
/v2/notifications/email``, ``GET /v2/notifications/{id}``).

- Auth: the API key is ``{key name}-{service id}-{secret}`` (both UUIDs);
  every request carries a fresh JWT (HS256, ``iss`` = service id, ``iat`` =
  now), which Notify refuses if the clock is more than 30 s out.
- Templates are named by purpose (``booking_confirmation``...) and looked up
  in ``Settings.notify_templates``; a template id may be passed as it is.
- Retries: a send is not idempotent (Notify has no idempotency key; sending
  twice texts the resident twice), so a send is only repeated when it never
  reached Notify (connection refused, connect timeout). After a read timeout
  or a 5xx the message may or may not have gone: it is reported, not resent.
- Callbacks Notify makes to us (delivery receipts, inbound SMS) carry the
  bearer token we gave it, no signature: ``check_callback_token``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import jwt

from integrations.errors import AuthFailed
from integrations.http import ApiClient
from integrations.settings import Endpoint, Timeouts
from integrations.values import optional_datetime

# Notify's statuses. ``created`` / ``sending`` / ``pending`` may still change.
DELIVERED = "delivered"
SENT = "sent"  # an international text accepted by the carrier
FAILURE_STATUSES = frozenset({"permanent-failure", "temporary-failure", "technical-failure"})
FINAL_STATUSES = FAILURE_STATUSES | {DELIVERED, SENT}

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def split_api_key(api_key: str) -> tuple[str, str]:
    """``(service id, secret)`` from ``{name}-{service id}-{secret}``; ``ValueError`` if not that shape."""
    service_id, secret = api_key[-73:-37], api_key[-36:]
    if len(api_key) < 74 or api_key[-74] != "-" or api_key[-37] != "-":
        raise ValueError("not a Notify API key")
    if not (_UUID.match(service_id) and _UUID.match(secret)):
        raise ValueError("not a Notify API key")
    return service_id, secret


def create_token(service_id: str, secret: str, now: float | None = None) -> str:
    """The bearer JWT Notify expects: HS256 over ``{iss, iat}`` with the key's secret."""
    issued = int(time.time() if now is None else now)
    return jwt.encode({"iss": service_id, "iat": issued}, secret, algorithm="HS256", headers={"typ": "JWT"})


def check_callback_token(authorization: str | None, expected_token: str) -> bool:
    """Whether an inbound callback's ``Authorization: Bearer <token>`` is ours (constant time)."""
    if not expected_token or not authorization:
        return False
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode("utf-8"), expected_token.encode("utf-8"))


@dataclass(frozen=True)
class Notification:
    id: str
    type: str  # "sms" or "email"
    status: str
    template_id: str
    template_version: int = 0
    reference: str | None = None
    #: The message as sent: it holds the resident's details, so it stays out of reprs.
    body: str = field(default="", repr=False)
    subject: str | None = field(default=None, repr=False)
    recipient: str | None = field(default=None, repr=False)
    created_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None

    @property
    def is_delivered(self) -> bool:
        return self.status in (DELIVERED, SENT)

    @property
    def is_failed(self) -> bool:
        return self.status in FAILURE_STATUSES

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def from_sent(cls, body: Mapping[str, Any], kind: str, recipient: str) -> Notification:
        """From a send's 201 answer: Notify has accepted it (``created``)."""
        template = body.get("template") or {}
        content = body.get("content") or {}
        return cls(
            id=str(body["id"]),
            type=kind,
            status="created",
            template_id=str(template.get("id", "")),
            template_version=int(template.get("version") or 0),
            reference=body.get("reference"),
            body=str(content.get("body", "")),
            subject=content.get("subject"),
            recipient=recipient,
        )

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Notification:
        """From ``GET /v2/notifications/{id}``."""
        template = body.get("template") or {}
        return cls(
            id=str(body["id"]),
            type=str(body["type"]),
            status=str(body["status"]),
            template_id=str(template.get("id", "")),
            template_version=int(template.get("version") or 0),
            reference=body.get("reference"),
            body=str(body.get("body") or ""),
            subject=body.get("subject"),
            recipient=body.get("phone_number") or body.get("email_address"),
            created_at=optional_datetime(body.get("created_at")),
            sent_at=optional_datetime(body.get("sent_at")),
            completed_at=optional_datetime(body.get("completed_at")),
        )


class NotifyClient(ApiClient):
    system = "gov_uk_notify"
    unexpected_shape = "unexpected shape"

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: Endpoint,
        timeouts: Timeouts | None = None,
        *,
        templates: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(http, endpoint, timeouts, **kwargs)
        self.templates = dict(templates or {})

    async def auth_headers(self) -> dict[str, str]:
        try:
            service_id, secret = split_api_key(self.endpoint.key)
        except ValueError:
            raise AuthFailed("malformed Notify API key", system=self.system) from None
        return {"Authorization": f"Bearer {create_token(service_id, secret)}"}

    def template_id(self, template: str) -> str:
        """The id for a purpose name (``booking_confirmation``), or ``template`` if it is an id."""
        if template in self.templates:
            return self.templates[template]
        if _UUID.match(template):
            return template
        raise ValueError(f"no Notify template for {template!r}: add it to the notify templates setting")

    async def send_sms(
        self,
        phone: str,
        template: str,
        personalisation: Mapping[str, Any] | None = None,
        reference: str | None = None,
    ) -> Notification:
        """Text ``phone`` (a UK mobile number) the ``template`` filled with ``personalisation``."""
        return await self._send("sms", "phone_number", phone, template, personalisation, reference)

    async def send_email(
        self,
        email: str,
        template: str,
        personalisation: Mapping[str, Any] | None = None,
        reference: str | None = None,
    ) -> Notification:
        return await self._send("email", "email_address", email, template, personalisation, reference)

    async def get_notification(self, notification_id: str) -> Notification:
        return await self._get(
            f"/v2/notifications/{quote(notification_id, safe='')}", "get_notification", Notification.from_api
        )

    async def _send(
        self,
        kind: str,
        recipient_field: str,
        recipient: str,
        template: str,
        personalisation: Mapping[str, Any] | None,
        reference: str | None,
    ) -> Notification:
        payload: dict[str, Any] = {recipient_field: recipient, "template_id": self.template_id(template)}
        if personalisation:
            payload["personalisation"] = dict(personalisation)
        if reference:
            payload["reference"] = reference
        # Not idempotent: no retry after the request may have reached Notify (see the module notes).
        return await self._call(
            "POST",
            f"/v2/notifications/{kind}",
            f"send_{kind}",
            lambda body: Notification.from_sent(body, kind, recipient),
            json=payload,
            ok=(201,),
        )
