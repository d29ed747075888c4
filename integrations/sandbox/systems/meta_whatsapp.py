"""WhatsApp Cloud API (Meta Graph API): sending messages, recording what was sent.

- ``POST /v{version}/{phone_number_id}/messages`` with ``Authorization:
  Bearer <access token>`` and a JSON message (``messaging_product:
  "whatsapp"``, ``to``, ``type`` ``text`` or ``interactive``): 200 with
  ``{messaging_product, contacts: [{input, wa_id}], messages: [{id: "wamid.…"}]}``.
- Checked as Meta does: the token (401, code 190), the phone number id ours
  (400, code 100), text bodies ≤ 4,096 characters, and interactive messages
  within their limits: ≤ 3 reply buttons with titles ≤ 20 and unique ids, or
  a list of ≤ 10 rows with titles ≤ 24 and descriptions ≤ 72, a list button
  label ≤ 20, a body ≤ 1,024 (400, code 131009 with the detail).
- Errors as Graph's ``{"error": {message, type, code, error_data?, fbtrace_id}}``.

What was sent is in the ``meta_messages`` table (``/_admin/state/meta_messages``):
the Graph API has no way to read sent messages back.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import re
import secrets
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request

from integrations.channels import rendering as limits
from integrations.channels.settings import ChannelSettings
from integrations.sandbox.deps import DbDep
from integrations.sandbox.world import World

#: Graph API versions answered (``/v15.0`` … ``/v29.0``).
PATH_PREFIXES = tuple(f"/v{n}.0/" for n in range(15, 30))
TEXT_MAX = 4096
_VERSION = re.compile(r"^v(1[5-9]|2[0-9])\.0$")

SCHEMA = """
CREATE TABLE meta_messages (
    id TEXT PRIMARY KEY,
    phone_number_id TEXT NOT NULL,
    to_number TEXT NOT NULL,
    type TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""

router = APIRouter(tags=["WhatsApp Cloud API"])


def error_body(
    status: int, message: str, code: int | None = None, details: str | None = None
) -> dict[str, Any]:
    if code is None:
        code = 190 if status == 401 else (131000 if status >= 500 else 100)
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "A" + secrets.token_urlsafe(16),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return {"error": error}


def _invalid(details: str) -> HTTPException:
    return HTTPException(
        400, detail=error_body(400, "(#131009) Parameter value is not valid", 131009, details)
    )


@functools.cache
def _accounts() -> dict[str, str]:
    """Phone number id -> access token, for the sandbox and the configured number."""
    return {
        s.meta_phone_number_id: s.meta_access_token
        for s in (ChannelSettings.from_env({}), ChannelSettings.from_env())
    }


def _authenticate(phone_number_id: str, authorization: str | None) -> None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            401, detail=error_body(401, "An active access token must be used to query information.")
        )
    expected = _accounts().get(phone_number_id)
    if expected is None:
        if token not in _accounts().values():
            raise HTTPException(
                401, detail=error_body(401, "Invalid OAuth access token - Cannot parse access token")
            )
        raise HTTPException(
            400,
            detail=error_body(
                400, f"Unsupported post request. Object with ID '{phone_number_id}' does not exist."
            ),
        )
    if not secrets.compare_digest(token, expected):
        raise HTTPException(
            401, detail=error_body(401, "Invalid OAuth access token - Cannot parse access token")
        )


def _check_length(what: str, value: Any, most: int) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= most:
        raise _invalid(f"{what} length invalid. Min length: 1, Max length: {most}")


def _check_interactive(interactive: Any) -> None:
    if not isinstance(interactive, dict):
        raise _invalid("interactive is required")
    _check_length("Body text", (interactive.get("body") or {}).get("text"), limits.WA_BODY_MAX)
    action = interactive.get("action") or {}
    kind = interactive.get("type")
    if kind == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= limits.WA_BUTTONS_MAX:
            raise _invalid(f"Buttons count invalid. Min: 1, Max: {limits.WA_BUTTONS_MAX}")
        ids = [(b.get("reply") or {}).get("id") for b in buttons]
        for button in buttons:
            reply = button.get("reply") or {}
            _check_length("Button title", reply.get("title"), limits.WA_BUTTON_TITLE_MAX)
            _check_length("Button id", reply.get("id"), 256)
        if len(set(ids)) != len(ids):
            raise _invalid("Button ids must be unique")
    elif kind == "list":
        _check_length("Button label", action.get("button"), limits.WA_BUTTON_TITLE_MAX)
        rows = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
        if not 1 <= len(rows) <= limits.WA_ROWS_MAX:
            raise _invalid(f"Rows count invalid. Min: 1, Max: {limits.WA_ROWS_MAX}")
        for row in rows:
            _check_length("Row title", row.get("title"), limits.WA_ROW_TITLE_MAX)
            _check_length("Row id", row.get("id"), 200)
            if "description" in row:
                _check_length("Row description", row["description"], limits.WA_ROW_DESCRIPTION_MAX)
        if len({row.get("id") for row in rows}) != len(rows):
            raise _invalid("Row ids must be unique")
    else:
        raise _invalid("Interactive type invalid: expected button or list")


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, detail=error_body(400, "(#100) Invalid JSON")) from None


JsonBody = Annotated[Any, Depends(_json)]


@router.post("/{version}/{phone_number_id}/messages", summary="Send a WhatsApp message")
def send_message(
    version: str,
    phone_number_id: str,
    message: JsonBody,
    conn: DbDep,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    if not _VERSION.match(version):
        raise HTTPException(400, detail=error_body(400, f"Unknown path components: /{version}", 2500))
    _authenticate(phone_number_id, authorization)
    if not isinstance(message, dict) or message.get("messaging_product") != "whatsapp":
        raise HTTPException(
            400, detail=error_body(400, "(#100) The parameter messaging_product is required.")
        )
    to = re.sub(r"\D", "", str(message.get("to") or ""))
    if not 7 <= len(to) <= 15:
        raise HTTPException(400, detail=error_body(400, "(#100) The parameter to is required."))
    kind = message.get("type", "text")
    if kind == "text":
        _check_length("Text body", (message.get("text") or {}).get("body"), TEXT_MAX)
    elif kind == "interactive":
        _check_interactive(message.get("interactive"))
    else:
        raise _invalid(f"Message type {kind} is not supported by the sandbox")
    message_id = "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()
    conn.execute(
        "INSERT INTO meta_messages VALUES (?,?,?,?,?,?)",
        (
            message_id,
            phone_number_id,
            to,
            kind,
            json.dumps(message),
            dt.datetime.now(dt.timezone.utc).isoformat(),
        ),
    )
    conn.commit()
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": str(message.get("to")), "wa_id": to}],
        "messages": [{"id": message_id}],
    }


def seed(conn: sqlite3.Connection, world: World) -> None:
    """Nothing sent to begin with."""
