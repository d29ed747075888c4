"""Twilio Messages API (SMS and WhatsApp), at the real paths, recording what was sent.

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded
  ``To``, ``From`` (or ``MessagingServiceSid``), ``Body`` (or ``MediaUrl``):
  201 with the message resource (``sid`` ``SM…``, ``status: queued``,
  ``num_segments`` counted as the networks do: GSM-7 or UCS-2).
- ``GET …/Messages.json`` (``To``, ``From``, ``PageSize`` filters) and
  ``GET …/Messages/{Sid}.json``: what was sent, newest first, for tests and demos.
- Auth: HTTP basic, the Account SID and auth token (the channel settings',
  ``integrations.channels.settings``); 401 ``20003`` otherwise.
- Errors as Twilio's ``{code, message, more_info, status}``: ``21604`` no To,
  ``21603`` no From, ``21602`` no Body, ``21617`` Body over 1,600 characters,
  ``21211`` To not an E.164 number, ``21606`` From not one of the account's
  numbers, ``21910`` From and To on different channels (SMS / WhatsApp).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import functools
import re
import secrets
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request

from integrations.channels.rendering import WHATSAPP_MAX_CHARS, sms_segments
from integrations.channels.settings import ChannelSettings
from integrations.sandbox.db import fetch_one
from integrations.sandbox.deps import DbDep
from integrations.sandbox.world import World

PATH_PREFIXES = ("/2010-04-01/",)
API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_GENERIC_CODES = {400: 20001, 401: 20003, 403: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}

SCHEMA = """
CREATE TABLE twilio_messages (
    sid TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL,
    to_number TEXT NOT NULL,
    from_number TEXT NOT NULL,
    body TEXT NOT NULL,
    num_segments INTEGER NOT NULL,
    status TEXT NOT NULL,
    date_created TEXT NOT NULL
);
"""

router = APIRouter(prefix="/2010-04-01/Accounts/{account_sid}", tags=["Twilio Messages"])


def error_body(status: int, message: str, code: int | None = None) -> dict[str, Any]:
    code = code or _GENERIC_CODES.get(status, 20500 if status >= 500 else 20001)
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _fail(status: int, code: int, message: str) -> HTTPException:
    return HTTPException(status, detail=error_body(status, message, code))


@functools.cache
def _accounts() -> dict[str, tuple[str, frozenset[str]]]:
    """Account SID -> (auth token, the account's numbers) for the sandbox and configured accounts."""
    accounts = {}
    for settings in (ChannelSettings.from_env({}), ChannelSettings.from_env()):
        numbers = frozenset({settings.twilio_sms_number, "whatsapp:" + settings.twilio_whatsapp_number})
        accounts[settings.twilio_account_sid] = (settings.twilio_auth_token, numbers)
    return accounts


def _authenticate(account_sid: str, authorization: str | None) -> frozenset[str]:
    """The account's numbers, or Twilio's 401."""
    refused = _fail(401, 20003, "Authenticate")
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        raise refused
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise refused from None
    token, numbers = _accounts().get(user, ("", frozenset()))
    if user != account_sid or not token or not secrets.compare_digest(password, token):
        raise refused
    return numbers


def _rfc2822(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(dt.timezone.utc), usegmt=True)


def _resource(row: sqlite3.Row) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{row['account_sid']}/Messages/{row['sid']}.json"
    return {
        "sid": row["sid"],
        "account_sid": row["account_sid"],
        "to": row["to_number"],
        "from": row["from_number"],
        "body": row["body"],
        "status": row["status"],
        "num_segments": str(row["num_segments"]),
        "num_media": "0",
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "date_created": row["date_created"],
        "date_updated": row["date_created"],
        "date_sent": None,
        "price": None,
        "price_unit": "GBP",
        "error_code": None,
        "error_message": None,
        "messaging_service_sid": None,
        "uri": uri,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
    }


AuthHeader = Annotated[str | None, Header()]


# The routes are plain functions, so FastAPI runs them in worker threads and a wait for
# SQLite's write lock never blocks the event loop; this async dependency reads the form.
async def _form(request: Request) -> dict[str, str]:
    return {name: str(value) for name, value in (await request.form()).items()}


FormDep = Annotated[dict[str, str], Depends(_form)]


@router.post("/Messages.json", status_code=201, summary="Send a message")
def create_message(account_sid: str, form: FormDep, conn: DbDep, authorization: AuthHeader = None) -> Any:
    numbers = _authenticate(account_sid, authorization)
    to, sender, body = (form.get(k, "") for k in ("To", "From", "Body"))
    if not to:
        raise _fail(400, 21604, "A 'To' phone number is required.")
    if not sender:
        raise _fail(400, 21603, "A 'From' phone number is required.")
    if not body and not form.get("MediaUrl"):
        raise _fail(400, 21602, "Message body is required.")
    if len(body) > WHATSAPP_MAX_CHARS:
        raise _fail(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if to.startswith("whatsapp:") != sender.startswith("whatsapp:"):
        raise _fail(400, 21910, "Invalid From and To pair. From and To should be of the same channel")
    if not _E164.match(to.removeprefix("whatsapp:")):
        raise _fail(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if sender not in numbers:
        raise _fail(
            400, 21606, f"The From phone number {sender} is not a valid, SMS-capable inbound phone number."
        )
    sid = "SM" + secrets.token_hex(16)
    segments = 1 if to.startswith("whatsapp:") else sms_segments(body)
    conn.execute(
        "INSERT INTO twilio_messages VALUES (?,?,?,?,?,?,?,?)",
        (sid, account_sid, to, sender, body, segments, "queued", _rfc2822(dt.datetime.now(dt.timezone.utc))),
    )
    conn.commit()
    row = conn.execute("SELECT * FROM twilio_messages WHERE sid = ?", (sid,)).fetchone()
    return _resource(row)


@router.get("/Messages.json", summary="Messages sent, newest first")
def list_messages(
    account_sid: str,
    conn: DbDep,
    to: Annotated[str | None, Query(alias="To")] = None,
    sender: Annotated[str | None, Query(alias="From")] = None,
    page_size: Annotated[int, Query(alias="PageSize", ge=1, le=1000)] = 50,
    authorization: AuthHeader = None,
) -> dict[str, Any]:
    _authenticate(account_sid, authorization)
    query, args = "SELECT * FROM twilio_messages WHERE account_sid = ?", [account_sid]
    for column, value in (("to_number", to), ("from_number", sender)):
        if value:
            query += f" AND {column} = ?"
            args.append(value)
    rows = conn.execute(query + " ORDER BY rowid DESC LIMIT ?", (*args, page_size)).fetchall()
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json?PageSize={page_size}&Page=0"
    return {
        "messages": [_resource(r) for r in rows],
        "page": 0,
        "page_size": page_size,
        "first_page_uri": uri,
        "next_page_uri": None,
        "previous_page_uri": None,
        "uri": uri,
        "start": 0,
        "end": max(0, len(rows) - 1),
    }


@router.get("/Messages/{sid}.json", summary="One message")
def get_message(account_sid: str, sid: str, conn: DbDep, authorization: AuthHeader = None) -> dict[str, Any]:
    _authenticate(account_sid, authorization)
    row = fetch_one(
        conn,
        "SELECT * FROM twilio_messages WHERE sid = ? AND account_sid = ?",
        (sid, account_sid),
        missing=_fail(
            404,
            20404,
            f"The requested resource /{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json was not found",
        ),
    )
    return _resource(row)


def seed(conn: sqlite3.Connection, world: World) -> None:
    """Nothing sent to begin with."""
