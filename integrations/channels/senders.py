"""The providers' send APIs, as clients on the one request pipeline (``integrations.http``).

Each sender takes the resident's number and one queued payload
(``{"text": ...}`` or ``{"interactive": ...}``) and returns the provider's
message id, or raises an ``IntegrationError`` (``retryable`` says whether
the delivery queue should try again).

- Twilio Messages API: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``,
  form-encoded ``To``, ``From``, ``Body``; HTTP basic auth (Account SID, auth token).
- WhatsApp Cloud API: ``POST /{version}/{phone_number_id}/messages``, JSON;
  bearer access token.
- GOV.UK Notify: the ``chat_reply`` template through ``integrations.notify``.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

import httpx

from integrations.channels.identity import international_number
from integrations.channels.settings import ChannelSettings
from integrations.errors import Unavailable
from integrations.http import ApiClient, json_of
from integrations.notify import NotifyClient
from integrations.settings import Endpoint


class Sender(Protocol):
    async def send(self, address: str, payload: dict[str, Any]) -> str: ...


class TwilioSender(ApiClient):
    """SMS, or WhatsApp when ``whatsapp`` (both numbers get the ``whatsapp:`` prefix)."""

    system = "twilio"

    def __init__(self, http: httpx.AsyncClient, settings: ChannelSettings, *, whatsapp: bool = False) -> None:
        endpoint = Endpoint(settings.twilio_api_url, settings.twilio_account_sid, settings.twilio_auth_token)
        super().__init__(http, endpoint, settings.timeouts)
        self.prefix = "whatsapp:" if whatsapp else ""
        self.from_number = self.prefix + (
            settings.twilio_whatsapp_number if whatsapp else settings.twilio_sms_number
        )

    async def auth_headers(self) -> dict[str, str]:
        pair = f"{self.endpoint.key}:{self.endpoint.secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    async def send(self, address: str, payload: dict[str, Any]) -> str:
        to = self.prefix + "+" + international_number(address)
        response = await self.request(
            "POST",
            f"/2010-04-01/Accounts/{self.endpoint.key}/Messages.json",
            op="send_message",
            data={"To": to, "From": self.from_number, "Body": payload["text"]},
            ok=(201,),
        )
        return _field(json_of(response, "send_message", self.system), "sid", self.system)


class WhatsAppCloudSender(ApiClient):
    system = "whatsapp_cloud"

    def __init__(self, http: httpx.AsyncClient, settings: ChannelSettings) -> None:
        endpoint = Endpoint(
            settings.meta_graph_url, settings.meta_phone_number_id, settings.meta_access_token
        )
        super().__init__(http, endpoint, settings.timeouts)
        self.version = settings.meta_graph_version

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.endpoint.secret}"}

    async def send(self, address: str, payload: dict[str, Any]) -> str:
        message: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": international_number(address),
        }
        if "interactive" in payload:
            message.update(type="interactive", interactive=payload["interactive"])
        else:
            message.update(type="text", text={"body": payload["text"], "preview_url": False})
        response = await self.request(
            "POST",
            f"/{self.version}/{self.endpoint.key}/messages",
            op="send_message",
            json=message,
            ok=(200,),
        )
        body = json_of(response, "send_message", self.system)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not messages or not isinstance(messages[0], dict):
            raise Unavailable("send_message: unexpected shape", system=self.system)
        return _field(messages[0], "id", self.system)


class NotifySender:
    """Replies to inbound texts through GOV.UK Notify's ``chat_reply`` template (``((message))``)."""

    def __init__(self, http: httpx.AsyncClient, settings: ChannelSettings) -> None:
        backoffice = settings.backoffice
        self.client = NotifyClient(
            http, backoffice.notify, backoffice.timeouts, templates=backoffice.notify_templates
        )

    async def send(self, address: str, payload: dict[str, Any]) -> str:
        notification = await self.client.send_sms(address, "chat_reply", {"message": payload["text"]})
        return notification.id


def _field(body: Any, name: str, system: str) -> str:
    if not isinstance(body, dict) or not isinstance(body.get(name), str):
        raise Unavailable("send_message: unexpected shape", system=system)
    return body[name]
