"""The council's contact centre: hand a conversation to a person, or ask for a call-back.

Our own contract (``integrations/contracts/contact_centre.md``), base
``/contact-centre/v1`` with an ``X-Api-Key`` header.

- ``availability()`` says whether people are there now (office hours are
  also in ``integrations.office_hours``, for deciding without a call).
- ``create_handover`` is idempotent by conversation id + handover key, so it
  is retried safely; out of hours it raises ``CentreClosed`` with the next
  opening time, and the assistant offers a call-back instead.
- ``request_callback`` carries an ``Idempotency-Key``, so it is retried safely.
- Transcripts and contact details are personal data: they go to the contact
  centre, never into reprs or logs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal
from urllib.parse import quote

import httpx

from integrations.errors import IntegrationError, Rejected
from integrations.http import ApiClient, error_object
from integrations.values import iso_datetime, optional_datetime

Channel = Literal["webchat", "sms", "whatsapp"]
BestTime = Literal["morning", "afternoon", "any"]


class HandoverStatus(str, Enum):
    WAITING = "waiting"
    WITH_AGENT = "with_agent"
    CLOSED = "closed"


class CentreClosed(Rejected):
    """A handover asked for out of office hours; ``next_opening`` says when people are back."""

    def __init__(self, message: str, *, next_opening: dt.datetime | None, **kwargs: Any) -> None:
        super().__init__(message, reason="closed", **kwargs)
        self.next_opening = next_opening


@dataclass(frozen=True)
class TranscriptLine:
    speaker: Literal["resident", "assistant"]
    text: str = field(repr=False)
    time: dt.datetime

    def to_api(self) -> dict[str, str]:
        return {"from": self.speaker, "text": self.text, "time": self.time.isoformat()}


@dataclass(frozen=True)
class ContactPreference:
    """How the agent should reply: ``chat`` (in this conversation), ``phone``, ``sms`` or ``email``."""

    method: Literal["chat", "phone", "email", "sms"] = "chat"
    value: str | None = field(default=None, repr=False)

    def to_api(self) -> dict[str, str]:
        return {"method": self.method, **({"value": self.value} if self.value else {})}


@dataclass(frozen=True)
class Availability:
    open: bool
    now: dt.datetime
    office_hours: str
    bank_holiday: bool
    closes_at: dt.datetime | None
    next_opening: dt.datetime | None
    waiting: int
    estimated_wait_minutes: int | None

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Availability:
        queue = body.get("queue") or {}
        return cls(
            open=bool(body["open"]),
            now=iso_datetime(body["now"]),
            office_hours=str(body.get("office_hours", "")),
            bank_holiday=bool(body.get("bank_holiday", False)),
            closes_at=optional_datetime(body.get("closes_at")),
            next_opening=optional_datetime(body.get("next_opening")),
            waiting=int(queue.get("waiting") or 0),
            estimated_wait_minutes=queue.get("estimated_wait_minutes"),
        )


@dataclass(frozen=True)
class AgentMessage:
    id: int
    agent_name: str
    text: str = field(repr=False)
    time: dt.datetime | None = None

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> AgentMessage:
        return cls(
            int(body["id"]),
            str(body.get("agent_name", "")),
            str(body["text"]),
            optional_datetime(body.get("time")),
        )


@dataclass(frozen=True)
class Handover:
    reference: str
    status: HandoverStatus
    conversation_id: str
    channel: str
    service: str | None
    intent: str | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None
    position: int | None = None
    estimated_wait_minutes: int | None = None
    agent_name: str | None = None
    messages: tuple[AgentMessage, ...] = ()
    closed_at: dt.datetime | None = None
    close_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status is not HandoverStatus.CLOSED

    @property
    def last_message_id(self) -> int:
        """Pass to ``get_handover(after_message_id=...)`` to fetch only newer messages."""
        return max((m.id for m in self.messages), default=0)

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Handover:
        agent = body.get("agent") or {}
        return cls(
            reference=str(body["reference"]),
            status=HandoverStatus(body["status"]),
            conversation_id=str(body["conversation_id"]),
            channel=str(body["channel"]),
            service=body.get("service"),
            intent=body.get("intent"),
            created_at=optional_datetime(body.get("created_at")),
            updated_at=optional_datetime(body.get("updated_at")),
            position=body.get("position"),
            estimated_wait_minutes=body.get("estimated_wait_minutes"),
            agent_name=agent.get("name"),
            messages=tuple(AgentMessage.from_api(m) for m in body.get("messages") or ()),
            closed_at=optional_datetime(body.get("closed_at")),
            close_reason=body.get("close_reason"),
        )


@dataclass(frozen=True)
class Callback:
    reference: str
    status: str  # requested, completed
    best_time: str
    date: dt.date
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    created_at: dt.datetime | None
    phone_number: str = field(repr=False)
    reason: str = field(default="", repr=False)
    conversation_id: str | None = None

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Callback:
        return cls(
            reference=str(body["reference"]),
            status=str(body["status"]),
            best_time=str(body["best_time"]),
            date=dt.date.fromisoformat(str(body["date"])),
            window_start=optional_datetime(body.get("window_start")),
            window_end=optional_datetime(body.get("window_end")),
            created_at=optional_datetime(body.get("created_at")),
            phone_number=str(body["phone_number"]),
            reason=str(body.get("reason", "")),
            conversation_id=body.get("conversation_id"),
        )


class ContactCentreClient(ApiClient):
    system = "contact_centre"
    unexpected_shape = "unexpected shape"

    async def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.endpoint.key}

    def translate_error(self, response: httpx.Response, op: str) -> IntegrationError:
        """``{"error": {"code", "message"}}``: the code is the reason; ``closed`` is ``CentreClosed``."""
        error = error_object(response)
        if response.status_code == 409 and error.get("code") == "closed":
            return CentreClosed(
                f"{op}: contact centre closed",
                next_opening=optional_datetime(error.get("next_opening")),
                system=self.system,
                status=409,
            )
        failure = super().translate_error(response, op)
        if isinstance(failure, Rejected) and error.get("code"):
            failure.reason = str(error["code"])
        return failure

    async def availability(self) -> Availability:
        return await self._get("/availability", "availability", Availability.from_api)

    async def create_handover(
        self,
        conversation_id: str,
        handover_key: str,
        channel: Channel,
        service: str,
        summary: str,
        transcript: Sequence[TranscriptLine] = (),
        contact_preference: ContactPreference | None = None,
        intent: str | None = None,
    ) -> Handover:
        """Pass the conversation to a person. ``conversation_id`` must be pseudonymous.

        Use one ``handover_key`` per handover the resident asks for; a retry
        with the same key (or any call while one is open) returns that handover.
        """
        payload: dict[str, Any] = {
            "conversation_id": conversation_id,
            "handover_key": handover_key,
            "channel": channel,
            "service": service,
            "summary": summary,
            "transcript": [line.to_api() for line in transcript],
            "contact_preference": (contact_preference or ContactPreference()).to_api(),
        }
        if intent:
            payload["intent"] = intent
        return await self._call(
            "POST",
            "/handovers",
            "create_handover",
            Handover.from_api,
            json=payload,
            safe_to_retry=True,  # idempotent by conversation_id + handover_key
            ok=(200, 201),
        )

    async def get_handover(self, reference: str, after_message_id: int = 0) -> Handover:
        """The handover with agent messages after ``after_message_id`` (all by default)."""
        return await self._get(
            f"/handovers/{quote(reference, safe='')}",
            "get_handover",
            Handover.from_api,
            {"after": after_message_id} if after_message_id else None,
        )

    async def add_agent_message(self, reference: str, text: str, agent_name: str = "Agent") -> AgentMessage:
        """An agent's reply to the resident (the demo's stand-in for the agents' console)."""
        return await self._call(
            "POST",
            f"/handovers/{quote(reference, safe='')}/messages",
            "add_agent_message",
            AgentMessage.from_api,
            json={"text": text, "agent_name": agent_name},
            ok=(201,),
        )

    async def close_handover(self, reference: str, reason: str = "returned_to_assistant") -> Handover:
        return await self._call(
            "POST",
            f"/handovers/{quote(reference, safe='')}/close",
            "close_handover",
            Handover.from_api,
            json={"reason": reason},
            safe_to_retry=True,  # closing a closed handover changes nothing
        )

    async def request_callback(
        self,
        phone_number: str,
        reason: str,
        idempotency_key: str,
        best_time: BestTime = "any",
        date: dt.date | None = None,
        conversation_id: str | None = None,
    ) -> Callback:
        """Ask the contact centre to ring the resident back (in or out of office hours)."""
        payload: dict[str, Any] = {"phone_number": phone_number, "best_time": best_time, "reason": reason}
        if date:
            payload["date"] = date.isoformat()
        if conversation_id:
            payload["conversation_id"] = conversation_id
        return await self._call(
            "POST",
            "/callbacks",
            "request_callback",
            Callback.from_api,
            json=payload,
            idempotency_key=idempotency_key,
            ok=(200, 201),
        )

    async def get_callback(self, reference: str) -> Callback:
        return await self._get(f"/callbacks/{quote(reference, safe='')}", "get_callback", Callback.from_api)
