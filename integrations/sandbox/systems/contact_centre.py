"""Contact centre: handovers to a person and call-back requests (our own contract).

Contract: ``integrations/contracts/contact_centre.md``. Base
``/contact-centre/v1``, ``X-Api-Key`` header, errors as ``{"error": {"code",
"message"}}``. Office hours come from ``integrations.office_hours`` (Mon-Fri
08:30-17:00 Europe/London, closed on bank holidays): a handover is refused
(409 ``closed``) out of hours, a call-back can be asked for at any time.

The sandbox's clock is the real one unless ``PUT /_admin/contact-centre/clock``
sets another (tests and out-of-hours demos); a reset clears it. The demo's
"agent" answers through ``POST /handovers/{reference}/messages``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import secrets
import sqlite3
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, root_validator, validator

from integrations.office_hours import CONTACT_CENTRE_HOURS, LONDON, is_bank_holiday
from integrations.sandbox.db import fetch_one
from integrations.sandbox.deps import DbDep, SettingsDep
from integrations.sandbox.world import SEED, World
from integrations.settings import Settings

PATH_PREFIXES = ("/contact-centre/",)
SANDBOX_KEY = Settings.from_env({}).contact_centre.key
HOURS = CONTACT_CENTRE_HOURS
#: Agents on duty while open, and the minutes one conversation takes on average.
AGENTS = 3
HANDLING_MINUTES = 6
#: How far ahead a call-back can be booked.
CALLBACK_DAYS_AHEAD = 14
WINDOWS = {
    "morning": (HOURS.opens, dt.time(12, 0)),
    "afternoon": (dt.time(12, 0), HOURS.closes),
    "any": (HOURS.opens, HOURS.closes),
}
AGENT_NAMES = ["Sam", "Priya", "Tom", "Aisha"]

SCHEMA = """
CREATE TABLE contact_centre_handovers (
    reference TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    handover_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    service TEXT,
    intent TEXT,
    summary TEXT NOT NULL,
    transcript TEXT NOT NULL,
    contact_method TEXT NOT NULL,
    contact_value TEXT,
    status TEXT NOT NULL,
    agent_name TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    close_reason TEXT,
    UNIQUE (conversation_id, handover_key)
);
CREATE TABLE contact_centre_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    text TEXT NOT NULL,
    sent_at TEXT NOT NULL
);
CREATE TABLE contact_centre_callbacks (
    reference TEXT PRIMARY KEY,
    phone_number TEXT NOT NULL,
    best_time TEXT NOT NULL,
    callback_date TEXT NOT NULL,
    reason TEXT NOT NULL,
    conversation_id TEXT,
    idempotency_key TEXT UNIQUE,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE contact_centre_clock (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# --- errors -------------------------------------------------------------------

_CODES = {400: "invalid_request", 401: "unauthorised", 404: "not_found", 409: "conflict", 429: "rate_limited"}


def error_body(status: int, message: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    code = code or _CODES.get(status, "unavailable" if status >= 500 else "invalid_request")
    return {"error": {"code": code, "message": message, **extra}}


def _fail(status: int, code: str, message: str, **extra: Any) -> HTTPException:
    return HTTPException(status, detail=error_body(status, message, code, **extra))


class ErrorDetail(BaseModel):
    code: str = Field(..., example="closed")
    message: str = Field(..., example="The contact centre is closed")
    next_opening: dt.datetime | None = Field(None, description="with code closed: when it opens again")


class ErrorOut(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "invalid_request, invalid_phone_number, not_an_open_day..."},
    401: {"model": ErrorOut, "description": "unauthorised: missing or wrong X-Api-Key"},
    404: {"model": ErrorOut, "description": "not_found"},
}


def check_key(settings: SettingsDep, x_api_key: str | None = Header(None, alias="X-Api-Key")) -> None:
    keys = {SANDBOX_KEY}
    if settings.client is not None:
        keys.add(settings.client.contact_centre.key)
    if not x_api_key or x_api_key not in keys:
        raise _fail(401, "unauthorised", "Missing or invalid X-Api-Key")


router = APIRouter()
api = APIRouter(
    prefix="/contact-centre/v1", tags=["Contact centre"], dependencies=[Depends(check_key)], responses=ERRORS
)
admin = APIRouter(prefix="/_admin/contact-centre", tags=["admin"])

# --- models -------------------------------------------------------------------

_ID = r"^[A-Za-z0-9._:-]+$"


class TranscriptLineIn(BaseModel):
    from_: Literal["resident", "assistant"] = Field(..., alias="from")
    text: str = Field(..., min_length=1, max_length=2000)
    time: dt.datetime


class ContactPreferenceIn(BaseModel):
    method: Literal["chat", "phone", "email", "sms"] = Field(
        ..., description="chat: carry on in this conversation; otherwise how the agent should reply"
    )
    value: str | None = Field(None, max_length=254, description="the phone number or email, unless chat")

    @root_validator(skip_on_failure=True)
    def _value_unless_chat(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("method") != "chat" and not values.get("value"):
            raise ValueError(f"a value is needed to be contacted by {values.get('method')}")
        return values


class HandoverIn(BaseModel):
    conversation_id: str = Field(
        ..., min_length=8, max_length=128, regex=_ID, description="pseudonymous: never a phone number"
    )
    handover_key: str = Field(
        ...,
        min_length=1,
        max_length=128,
        regex=_ID,
        description="the same key for every retry of this handover",
    )
    channel: Literal["webchat", "sms", "whatsapp"]
    service: str = Field(..., min_length=1, max_length=50, example="waste")
    intent: str | None = Field(None, max_length=80, example="renew_garden_waste")
    summary: str = Field(..., min_length=1, max_length=1000)
    transcript: list[TranscriptLineIn] = Field(default_factory=list, max_items=500)
    contact_preference: ContactPreferenceIn = Field(
        default_factory=lambda: ContactPreferenceIn(method="chat", value=None)
    )

    @validator("conversation_id")
    def _pseudonymous(cls, value: str) -> str:
        if re.fullmatch(r"\+?\d{9,15}", value):
            raise ValueError("must be pseudonymous, not a phone number")
        return value


class AgentOut(BaseModel):
    name: str


class MessageOut(BaseModel):
    id: int
    from_: Literal["agent"] = Field("agent", alias="from")
    agent_name: str
    text: str
    time: dt.datetime

    class Config:
        allow_population_by_field_name = True


class HandoverOut(BaseModel):
    reference: str = Field(..., example="HO-123456")
    status: Literal["waiting", "with_agent", "closed"]
    conversation_id: str
    channel: str
    service: str | None
    intent: str | None
    summary: str
    contact_method: str
    transcript_lines: int
    created_at: dt.datetime
    updated_at: dt.datetime
    position: int | None = Field(None, description="place in the queue while waiting")
    estimated_wait_minutes: int | None = None
    agent: AgentOut | None = None
    messages: list[MessageOut] = Field(default_factory=list, description="agent messages, oldest first")
    closed_at: dt.datetime | None = None
    close_reason: str | None = None


class AgentMessageIn(BaseModel):
    text: str = Field(..., min_length=1, max_length=2000)
    agent_name: str = Field("Agent", min_length=1, max_length=50)


class CloseIn(BaseModel):
    reason: Literal["returned_to_assistant", "resolved", "resident_left"] = "returned_to_assistant"


class CallbackIn(BaseModel):
    phone_number: str = Field(..., max_length=20, example="01225 713000")
    best_time: Literal["morning", "afternoon", "any"] = "any"
    date: dt.date | None = Field(
        None, description="an open day within 14 days; default the next possible one"
    )
    reason: str = Field(..., min_length=1, max_length=500)
    conversation_id: str | None = Field(None, min_length=8, max_length=128, regex=_ID)


class CallbackOut(BaseModel):
    reference: str = Field(..., example="CB-123456")
    status: Literal["requested", "completed"]
    phone_number: str
    best_time: str
    date: dt.date
    window_start: dt.datetime
    window_end: dt.datetime
    reason: str
    conversation_id: str | None
    created_at: dt.datetime


class QueueOut(BaseModel):
    waiting: int
    agents_on_duty: int
    estimated_wait_minutes: int | None = Field(None, description="for a new handover; null when closed")


class AvailabilityOut(BaseModel):
    open: bool
    now: dt.datetime
    timezone: str = "Europe/London"
    office_hours: str = Field(..., example="Mon-Fri 08:30-17:00")
    bank_holiday: bool = Field(..., description="today is an England and Wales bank holiday")
    closes_at: dt.datetime | None = Field(None, description="when open: today's closing time")
    next_opening: dt.datetime | None = Field(None, description="when closed: when it opens again")
    queue: QueueOut


class ClockIn(BaseModel):
    now: dt.datetime | None = Field(None, description="an aware date-time; null for the real clock")

    @validator("now")
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2026-11-30T10:00:00+00:00")
        return value


# --- state --------------------------------------------------------------------


def sandbox_now(conn: sqlite3.Connection) -> dt.datetime:
    row = conn.execute("SELECT value FROM contact_centre_clock WHERE key = 'now'").fetchone()
    now = dt.datetime.fromisoformat(row["value"]) if row else dt.datetime.now(dt.timezone.utc)
    return now.astimezone(LONDON)


def _waiting(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT reference FROM contact_centre_handovers WHERE status = 'waiting' ORDER BY created_at, rowid"
    ).fetchall()
    return [r["reference"] for r in rows]


def _estimate(ahead: int) -> int:
    """Minutes until an agent is free for someone with ``ahead`` people before them."""
    return math.ceil((ahead + 1) * HANDLING_MINUTES / AGENTS)


def _new_reference(conn: sqlite3.Connection, prefix: str, table: str) -> str:
    while True:
        reference = f"{prefix}-{secrets.randbelow(900000) + 100000}"
        if not conn.execute(f"SELECT 1 FROM {table} WHERE reference = ?", (reference,)).fetchone():
            return reference


def _message(message_id: int, agent_name: str, text: str, time: str) -> MessageOut:
    return MessageOut.parse_obj(
        {"id": message_id, "from": "agent", "agent_name": agent_name, "text": text, "time": time}
    )


def _handover_out(conn: sqlite3.Connection, row: sqlite3.Row, after: int = 0) -> dict[str, Any]:
    messages = conn.execute(
        "SELECT * FROM contact_centre_messages WHERE reference = ? AND id > ? ORDER BY id",
        (row["reference"], after),
    ).fetchall()
    position = estimate = None
    if row["status"] == "waiting":
        queue = _waiting(conn)
        position = queue.index(row["reference"]) + 1
        estimate = _estimate(position - 1) if HOURS.is_open(sandbox_now(conn)) else None
    out = HandoverOut(
        reference=row["reference"],
        status=row["status"],
        conversation_id=row["conversation_id"],
        channel=row["channel"],
        service=row["service"],
        intent=row["intent"],
        summary=row["summary"],
        contact_method=row["contact_method"],
        transcript_lines=len(json.loads(row["transcript"])),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        position=position,
        estimated_wait_minutes=estimate,
        agent=AgentOut(name=row["agent_name"]) if row["agent_name"] else None,
        messages=[_message(m["id"], m["agent_name"], m["text"], m["sent_at"]) for m in messages],
        closed_at=row["closed_at"],
        close_reason=row["close_reason"],
    )
    return json.loads(out.json(by_alias=True))


def _handover(conn: sqlite3.Connection, reference: str) -> sqlite3.Row:
    return fetch_one(
        conn,
        "SELECT * FROM contact_centre_handovers WHERE reference = ?",
        (reference.strip().upper(),),
        missing=_fail(404, "not_found", "No handover with that reference"),
    )


# --- availability and handovers ---------------------------------------------------


@api.get(
    "/availability", response_model=AvailabilityOut, summary="Is the contact centre open now, and the queue"
)
def availability(conn: DbDep) -> AvailabilityOut:
    now = sandbox_now(conn)
    is_open = HOURS.is_open(now)
    waiting = len(_waiting(conn))
    return AvailabilityOut(
        open=is_open,
        now=now,
        office_hours=HOURS.describe(),
        bank_holiday=is_bank_holiday(now.date()),
        closes_at=HOURS.closes_at(now),
        next_opening=None if is_open else HOURS.next_opening(now),
        queue=QueueOut(
            waiting=waiting,
            agents_on_duty=AGENTS if is_open else 0,
            estimated_wait_minutes=_estimate(waiting) if is_open else None,
        ),
    )


@api.post(
    "/handovers",
    status_code=201,
    response_model=HandoverOut,
    summary="Hand a conversation over to a person, with its transcript",
    responses={
        200: {"model": HandoverOut, "description": "a repeat of the same handover, or one already open"},
        409: {"model": ErrorOut, "description": "closed: out of office hours (next_opening says when)"},
    },
)
def create_handover(body: HandoverIn, conn: DbDep) -> JSONResponse:
    """Idempotent: the same conversation_id and handover_key return the same handover (200);
    a conversation with a handover still open gets that one back (200)."""
    existing = conn.execute(
        "SELECT * FROM contact_centre_handovers WHERE conversation_id = ? "
        "AND (handover_key = ? OR status != 'closed') ORDER BY handover_key = ? DESC LIMIT 1",
        (body.conversation_id, body.handover_key, body.handover_key),
    ).fetchone()
    if existing is not None:
        return JSONResponse(_handover_out(conn, existing), status_code=200)
    now = sandbox_now(conn)
    if not HOURS.is_open(now):
        opening = HOURS.next_opening(now)
        raise _fail(
            409,
            "closed",
            f"The contact centre is closed. It opens again {opening:%A %-d %B at %H:%M}.",
            next_opening=opening.isoformat(),
        )
    reference = _new_reference(conn, "HO", "contact_centre_handovers")
    transcript = [
        {"from": line.from_, "text": line.text, "time": line.time.isoformat()} for line in body.transcript
    ]
    conn.execute(
        "INSERT INTO contact_centre_handovers (reference, conversation_id, handover_key, channel, service, "
        "intent, summary, transcript, contact_method, contact_value, status, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            reference,
            body.conversation_id,
            body.handover_key,
            body.channel,
            body.service,
            body.intent,
            body.summary,
            json.dumps(transcript),
            body.contact_preference.method,
            body.contact_preference.value,
            "waiting",
            now.isoformat(),
            now.isoformat(),
        ),
    )
    return JSONResponse(_handover_out(conn, _handover(conn, reference)), status_code=201)


@api.get(
    "/handovers/{reference}", response_model=HandoverOut, summary="A handover: status and agent messages"
)
def get_handover(
    conn: DbDep,
    reference: str = Path(..., max_length=20, example="HO-123456"),
    after: int = Query(0, ge=0, description="only agent messages with a greater id (for polling)"),
) -> dict[str, Any]:
    return _handover_out(conn, _handover(conn, reference), after)


@api.post(
    "/handovers/{reference}/messages",
    status_code=201,
    response_model=MessageOut,
    summary="An agent's message to the resident (relayed by the assistant)",
    responses={409: {"model": ErrorOut, "description": "handover_closed"}},
)
def add_message(
    body: AgentMessageIn, conn: DbDep, reference: str = Path(..., max_length=20)
) -> dict[str, Any]:
    row = _handover(conn, reference)
    if row["status"] == "closed":
        raise _fail(409, "handover_closed", "This handover is closed")
    now = sandbox_now(conn).isoformat()
    cursor = conn.execute(
        "INSERT INTO contact_centre_messages (reference, agent_name, text, sent_at) VALUES (?,?,?,?)",
        (row["reference"], body.agent_name, body.text, now),
    )
    conn.execute(
        "UPDATE contact_centre_handovers SET status = 'with_agent', agent_name = ?, updated_at = ? "
        "WHERE reference = ?",
        (body.agent_name, now, row["reference"]),
    )
    message = _message(int(cursor.lastrowid or 0), body.agent_name, body.text, now)
    return json.loads(message.json(by_alias=True))


@api.post(
    "/handovers/{reference}/close",
    response_model=HandoverOut,
    summary="Close a handover and hand the conversation back to the assistant",
)
def close_handover(
    conn: DbDep, body: CloseIn | None = None, reference: str = Path(..., max_length=20)
) -> dict[str, Any]:
    """Closing a closed handover changes nothing and answers the same (idempotent)."""
    row = _handover(conn, reference)
    if row["status"] != "closed":
        now = sandbox_now(conn).isoformat()
        conn.execute(
            "UPDATE contact_centre_handovers SET status = 'closed', closed_at = ?, close_reason = ?, "
            "updated_at = ? WHERE reference = ?",
            (now, (body or CloseIn()).reason, now, row["reference"]),
        )
        row = _handover(conn, reference)
    return _handover_out(conn, row)


# --- call-backs -------------------------------------------------------------------


def uk_phone(number: str) -> str:
    """A UK landline or mobile number as 11 digits from 0; ``invalid_phone_number`` otherwise."""
    digits = re.sub(r"[\s()\-.]", "", number)
    if digits.startswith("+44") or digits.startswith("0044"):
        digits = "0" + digits.split("44", 1)[1].lstrip("0")
    if not re.fullmatch(r"0[1237]\d{9}", digits):
        raise _fail(400, "invalid_phone_number", "phone_number is not a UK landline or mobile number")
    return digits


def _callback_day(conn: sqlite3.Connection, best_time: str, wanted: dt.date | None) -> dt.date:
    now = sandbox_now(conn)
    today = now.date()
    if wanted is None:
        day = today
        while not HOURS.is_open_day(day) or (day == today and now.time() >= WINDOWS[best_time][1]):
            day += dt.timedelta(days=1)
        return day
    if wanted < today or (wanted == today and now.time() >= WINDOWS[best_time][1]):
        raise _fail(400, "date_in_past", "That time has passed: choose a later day")
    if wanted > today + dt.timedelta(days=CALLBACK_DAYS_AHEAD):
        raise _fail(400, "too_far_ahead", f"Call-backs can be booked up to {CALLBACK_DAYS_AHEAD} days ahead")
    if not HOURS.is_open_day(wanted):
        raise _fail(400, "not_an_open_day", "The contact centre is closed that day")
    return wanted


def _callback_out(row: sqlite3.Row) -> dict[str, Any]:
    day = dt.date.fromisoformat(row["callback_date"])
    start, end = WINDOWS[row["best_time"]]
    out = CallbackOut(
        reference=row["reference"],
        status=row["status"],
        phone_number=row["phone_number"],
        best_time=row["best_time"],
        date=day,
        window_start=dt.datetime.combine(day, start, tzinfo=LONDON),
        window_end=dt.datetime.combine(day, end, tzinfo=LONDON),
        reason=row["reason"],
        conversation_id=row["conversation_id"],
        created_at=row["created_at"],
    )
    return json.loads(out.json())


@api.post(
    "/callbacks",
    status_code=201,
    response_model=CallbackOut,
    summary="Ask for a call-back (any time, in or out of office hours)",
    responses={
        200: {"model": CallbackOut, "description": "the same Idempotency-Key again: the same call-back"}
    },
)
def request_callback(
    body: CallbackIn,
    conn: DbDep,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=128),
) -> JSONResponse:
    if idempotency_key:
        row = conn.execute(
            "SELECT * FROM contact_centre_callbacks WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        if row is not None:
            return JSONResponse(_callback_out(row), status_code=200)
    phone = uk_phone(body.phone_number)
    day = _callback_day(conn, body.best_time, body.date)
    reference = _new_reference(conn, "CB", "contact_centre_callbacks")
    conn.execute(
        "INSERT INTO contact_centre_callbacks VALUES (?,?,?,?,?,?,?,?,?)",
        (
            reference,
            phone,
            body.best_time,
            day.isoformat(),
            body.reason,
            body.conversation_id,
            idempotency_key or None,
            "requested",
            sandbox_now(conn).isoformat(),
        ),
    )
    row = conn.execute("SELECT * FROM contact_centre_callbacks WHERE reference = ?", (reference,)).fetchone()
    return JSONResponse(_callback_out(row), status_code=201)


@api.get(
    "/callbacks/{reference}", response_model=CallbackOut, summary="A call-back request by its CB- reference"
)
def get_callback(
    conn: DbDep, reference: str = Path(..., max_length=20, example="CB-123456")
) -> dict[str, Any]:
    row = fetch_one(
        conn,
        "SELECT * FROM contact_centre_callbacks WHERE reference = ?",
        (reference.strip().upper(),),
        missing=_fail(404, "not_found", "No call-back with that reference"),
    )
    return _callback_out(row)


# --- admin: the sandbox clock ---------------------------------------------------------


@admin.put("/clock", summary="Set the contact centre's clock (null: the real one)")
def set_clock(body: ClockIn, conn: DbDep) -> dict[str, Any]:
    conn.execute("DELETE FROM contact_centre_clock")
    if body.now is not None:
        conn.execute("INSERT INTO contact_centre_clock VALUES ('now', ?)", (body.now.isoformat(),))
    now = sandbox_now(conn)
    return {"now": now.isoformat(), "open": HOURS.is_open(now)}


router.include_router(api)
router.include_router(admin)


# --- seed -------------------------------------------------------------------------


def seed(conn: sqlite3.Connection, world: World) -> None:
    """Today: two residents waiting, one with an agent; earlier: one closed handover, two call-backs."""
    rng = random.Random(f"{SEED}-contact-centre")
    used: set[str] = set()

    def reference(prefix: str) -> str:
        while True:
            ref = f"{prefix}-{rng.randint(100000, 999999)}"
            if ref not in used:
                used.add(ref)
                return ref

    def at(days_ago: int, hour: int, minute: int) -> str:
        day = world.today - dt.timedelta(days=days_ago)
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON).isoformat()

    handovers = [
        # (status, service, intent, summary, days ago, hour, minute, agent)
        (
            "waiting",
            "council_tax",
            "council_tax_balance",
            "Resident disputes the balance shown",
            0,
            8,
            40,
            None,
        ),
        ("waiting", "waste", "report_missed_bin", "Bin missed three weeks running", 0, 8, 50, None),
        ("with_agent", "libraries", "renew_library_loans", "Card blocked, cannot renew", 0, 8, 35, "Priya"),
        ("closed", "waste", "renew_garden_waste", "Payment taken twice?", 1, 14, 10, "Sam"),
    ]
    for status, service, intent, summary, days_ago, hour, minute, agent in handovers:
        ref = reference("HO")
        created = at(days_ago, hour, minute)
        transcript = [
            {"from": "resident", "text": summary, "time": created},
            {"from": "assistant", "text": "I'll pass you to a member of the team.", "time": created},
        ]
        conn.execute(
            "INSERT INTO contact_centre_handovers (reference, conversation_id, handover_key, channel, "
            "service, intent, summary, transcript, contact_method, status, agent_name, created_at, "
            "updated_at, closed_at, close_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                ref,
                f"conv-seed-{rng.getrandbits(48):012x}",
                "seed",
                rng.choice(["webchat", "sms", "whatsapp"]),
                service,
                intent,
                summary,
                json.dumps(transcript),
                "chat",
                status,
                agent,
                created,
                created,
                at(days_ago, hour + 1, minute) if status == "closed" else None,
                "resolved" if status == "closed" else None,
            ),
        )
        if agent:
            conn.execute(
                "INSERT INTO contact_centre_messages (reference, agent_name, text, sent_at) VALUES (?,?,?,?)",
                (
                    ref,
                    agent,
                    f"Hello, this is {agent}. I'm looking at this now.",
                    at(days_ago, hour, minute + 5),
                ),
            )
    callbacks = [
        ("requested", "morning", 0, "Question about a council tax refund"),
        ("completed", "any", 2, "Housing"),
    ]
    for status, best_time, days_ago, reason in callbacks:
        day = world.today - dt.timedelta(days=days_ago)
        while not HOURS.is_open_day(day):
            day += dt.timedelta(days=1)
        conn.execute(
            "INSERT INTO contact_centre_callbacks VALUES (?,?,?,?,?,?,?,?,?)",
            (
                reference("CB"),
                f"01225 7{rng.randint(10000, 99999)}".replace(" ", ""),
                best_time,
                day.isoformat(),
                reason,
                None,
                None,
                status,
                at(days_ago + 1, 18, 30),
            ),
        )
