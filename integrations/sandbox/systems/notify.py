"""GOV.UK Notify: text messages and emails from templates, at the real API v2 paths.

- ``POST /v2/notifications/sms`` (``phone_number``, ``template_id``,
  ``personalisation``, ``reference``) and ``POST /v2/notifications/email``
  (``email_address``, ...): 201 with ``{id, reference, content, uri,
  template}``.
- ``GET /v2/notifications/{id}``: the notification with its ``status``:
  ``created``, then after ``DELIVERY_SECONDS`` ``delivered``, or the
  simulated failures Notify documents: 07700900003 / temp-fail@simulator.notify
  give ``temporary-failure``, 07700900002 / perm-fail@simulator.notify
  ``permanent-failure``.
- Auth: ``Authorization: Bearer <JWT>``, HS256 signed with the API key's
  secret, ``iss`` = the key's service id, ``iat`` within 30 s of now; 401 with
  no token, 403 otherwise, as ``{"errors": [{"error": "AuthError", "message"}],
  "status_code"}``.
- Errors: 400 ``ValidationError`` (schema and recipient checks),
  ``BadRequestError`` (bad JSON, unknown template, missing personalisation);
  404 ``NoResultFound``.

The templates are the ids in ``integrations.settings.DEFAULT_NOTIFY_TEMPLATES``
(and any ids configured for the same purposes). Each serves for text and
email here; real Notify templates have one type each, so a live service
needs one template per purpose and channel. Placeholders are ``((name))``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Header, HTTPException, Request

from integrations.notify import split_api_key
from integrations.sandbox.db import fetch_one
from integrations.sandbox.deps import DbDep, SettingsDep
from integrations.sandbox.settings import SandboxSettings
from integrations.sandbox.world import World
from integrations.settings import DEFAULT_NOTIFY_TEMPLATES, Settings

PATH_PREFIXES = ("/v2/notifications",)
SANDBOX_DEFAULTS = Settings.from_env({})
#: How long a notification stays ``created`` before its final status.
DELIVERY_SECONDS = 1.0
CLOCK_SKEW_SECONDS = 30
SMS_SENDER = "COUNCIL"
EMAIL_FROM = "council.assistant@notifications.service.gov.uk"

SIMULATED = {
    "07700900003": "temporary-failure",
    "07700900002": "permanent-failure",
    "temp-fail@simulator.notify": "temporary-failure",
    "perm-fail@simulator.notify": "permanent-failure",
}

SCHEMA = """
CREATE TABLE notify_notifications (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    template_id TEXT NOT NULL,
    template_version INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    reference TEXT,
    body TEXT NOT NULL,
    subject TEXT,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    completed_at TEXT,
    service_id TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Template:
    purpose: str
    name: str
    subject: str
    body: str
    version: int = 1

    @property
    def placeholders(self) -> list[str]:
        """Placeholder names in order of first use, as Notify lists them."""
        seen: dict[str, None] = {}
        for name in re.findall(r"\(\(([^()?]+?)\)\)", self.subject + "\n" + self.body):
            seen.setdefault(name.strip(), None)
        return list(seen)

    def render(self, text: str, values: dict[str, Any]) -> str:
        lowered = {k.lower(): v for k, v in values.items()}
        return re.sub(r"\(\(([^()?]+?)\)\)", lambda m: str(lowered[m.group(1).strip().lower()]), text)


#: The demo council's templates, by purpose. Actions fill these placeholders.
TEMPLATES = {
    "booking_confirmation": Template(
        "booking_confirmation",
        "Booking confirmation",
        "Your booking: ((activity))",
        "Your booking for ((activity)) at ((place)) on ((date)) at ((time)) is confirmed. "
        "Your booking reference is ((reference)).",
    ),
    "renewal_confirmation": Template(
        "renewal_confirmation",
        "Garden waste renewal",
        "Your garden waste subscription is renewed",
        "Your garden waste subscription for ((address)) is renewed until ((end_date)). "
        "Your reference is ((reference)).",
    ),
    "report_confirmation": Template(
        "report_confirmation",
        "Report received",
        "We have your report: ((reference))",
        "We have your report: ((summary)). Your reference is ((reference)). ((next_steps))",
    ),
    "payment_receipt": Template(
        "payment_receipt",
        "Payment receipt",
        "Payment received: ((amount))",
        "Thank you. We have received your payment of ((amount)) for ((description)). "
        "Your payment reference is ((reference)).",
    ),
    "council_tax_change": Template(
        "council_tax_change",
        "Council tax change",
        "Council tax: we have recorded your change",
        "We have recorded your council tax change: ((change)). Your reference is ((reference)).",
    ),
    "callback_confirmation": Template(
        "callback_confirmation",
        "Call-back confirmation",
        "We will call you back",
        "We will call you back ((when)) about ((reason)). Your reference is ((reference)).",
    ),
    "chat_reply": Template("chat_reply", "Chat reply", "Message from the council", "((message))"),
}

router = APIRouter(prefix="/v2/notifications", tags=["GOV.UK Notify"])


# --- errors -------------------------------------------------------------------


def error_body(status: int, message: str, kind: str | None = None) -> dict[str, Any]:
    if kind is None:
        kind = {
            400: "BadRequestError",
            401: "AuthError",
            403: "AuthError",
            404: "NoResultFound",
            429: "RateLimitError",
        }.get(status, "Exception" if status >= 500 else "BadRequestError")
        if status >= 500:
            message = "Internal server error"
    return {"errors": [{"error": kind, "message": message}], "status_code": status}


def _fail(status: int, kind: str, message: str) -> HTTPException:
    return HTTPException(status, detail=error_body(status, message, kind))


# --- auth ---------------------------------------------------------------------


def _credentials(settings: SandboxSettings) -> dict[str, str]:
    """Service id -> secret for every key the sandbox accepts."""
    keys = {SANDBOX_DEFAULTS.notify.key}
    if settings.client is not None:
        keys.add(settings.client.notify.key)
    found = {}
    for key in keys:
        try:
            service_id, secret = split_api_key(key)
        except ValueError:
            continue
        found[service_id] = secret
    return found


def _authenticate(authorization: str | None, settings: SandboxSettings) -> str:
    """The caller's service id, or Notify's 401/403."""
    if not authorization:
        raise _fail(401, "AuthError", "Unauthorized: authentication token must be provided")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _fail(401, "AuthError", "Unauthorized: authentication bearer scheme must be used")
    try:
        claims = jwt.decode(token.strip(), options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise _fail(403, "AuthError", "Invalid token: signature, api token is not valid") from None
    service_id = str(claims.get("iss") or "")
    secret = _credentials(settings).get(service_id)
    if secret is None:
        raise _fail(403, "AuthError", "Invalid token: service not found")
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=["HS256"], options={"verify_iat": False})
    except jwt.InvalidTokenError:
        raise _fail(403, "AuthError", "Invalid token: signature, api token not found") from None
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)):
        raise _fail(403, "AuthError", "Invalid token: iat field not provided")
    if abs(dt.datetime.now(dt.timezone.utc).timestamp() - iat) > CLOCK_SKEW_SECONDS:
        raise _fail(403, "AuthError", "Error: Your system clock must be accurate to within 30 seconds")
    return service_id


# --- validation ---------------------------------------------------------------


def _invalid(message: str) -> HTTPException:
    return _fail(400, "ValidationError", message)


def uk_mobile(number: str) -> str:
    """``07700900123`` from the ways people write a UK mobile number; ``ValidationError`` if it isn't one."""
    digits = re.sub(r"[\s()\-.]", "", number)
    if not re.fullmatch(r"\+?\d+", digits):
        raise _invalid("phone_number Must not contain letters or symbols")
    digits = digits.lstrip("+")
    for prefix in ("0044", "44"):
        if digits.startswith(prefix):
            digits = "0" + digits[len(prefix) :].lstrip("0")
            break
    if not digits.startswith("07"):
        raise _invalid("phone_number Not a UK mobile number")
    if len(digits) > 11:
        raise _invalid("phone_number Too many digits")
    if len(digits) < 11:
        raise _invalid("phone_number Not enough digits")
    return digits


def _email(address: str) -> str:
    if len(address) > 320 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address.strip()):
        raise _invalid("email_address Not a valid email address")
    return address.strip()


def _template(template_id: str, settings: SandboxSettings) -> Template:
    ids = dict(DEFAULT_NOTIFY_TEMPLATES)
    if settings.client is not None:
        ids.update(settings.client.notify_templates)
    for purpose, known in ids.items():
        if known.lower() == template_id.lower() and purpose in TEMPLATES:
            return TEMPLATES[purpose]
    raise _fail(400, "BadRequestError", "Template not found")


def _payload(raw: bytes, recipient_field: str) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _fail(400, "BadRequestError", "Invalid JSON supplied in POST data") from None
    if not isinstance(body, dict):
        raise _fail(400, "BadRequestError", "Invalid JSON supplied in POST data")
    for name in (recipient_field, "template_id"):
        if name not in body:
            raise _invalid(f"{name} is a required property")
        if not isinstance(body[name], str):
            raise _invalid(f"{name} {body[name]!r} is not of type string")
    try:
        uuid.UUID(body["template_id"])
    except ValueError:
        raise _invalid("template_id is not a valid UUID") from None
    if not isinstance(body.get("personalisation", {}), dict):
        raise _invalid(f"personalisation {body['personalisation']!r} is not of type object")
    reference = body.get("reference")
    if reference is not None and (not isinstance(reference, str) or len(reference) > 1000):
        raise _invalid("reference is not a string of at most 1000 characters")
    return body


# --- routes -------------------------------------------------------------------


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _template_json(template: Template, template_id: str, service_id: str, base: str) -> dict[str, Any]:
    return {
        "id": template_id,
        "version": template.version,
        "uri": f"{base}/services/{service_id}/templates/{template_id}",
    }


AuthHeader = Annotated[str | None, Header()]


# The routes are plain functions, so FastAPI runs them in worker threads and a wait for
# SQLite's write lock never blocks the event loop; this async dependency reads the body.
async def _raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(_raw_body)]


def _send(
    kind: str,
    raw: bytes,
    request: Request,
    conn: sqlite3.Connection,
    settings: SandboxSettings,
    authorization: str | None,
) -> dict[str, Any]:
    service_id = _authenticate(authorization, settings)
    recipient_field = "phone_number" if kind == "sms" else "email_address"
    body = _payload(raw, recipient_field)
    recipient = uk_mobile(body[recipient_field]) if kind == "sms" else _email(body[recipient_field])
    template = _template(body["template_id"], settings)
    values = body.get("personalisation") or {}
    given = {k.lower() for k in values}
    missing = [p for p in template.placeholders if p.lower() not in given]
    if missing:
        raise _fail(400, "BadRequestError", f"Missing personalisation: {', '.join(missing)}")
    text = template.render(template.body, values)
    subject = template.render(template.subject, values) if kind == "email" else None
    notification_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO notify_notifications (id, type, template_id, template_version, recipient, reference, "
        "body, subject, status, created_at, service_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            notification_id,
            kind,
            body["template_id"],
            template.version,
            recipient,
            body.get("reference"),
            text,
            subject,
            "created",
            _iso(dt.datetime.now(dt.timezone.utc)),
            service_id,
        ),
    )
    conn.commit()
    base = request.app.state.settings.public_url
    if kind == "sms":
        content: dict[str, Any] = {"body": text, "from_number": SMS_SENDER}
    else:
        content = {"body": text, "subject": subject, "from_email": EMAIL_FROM}
        content["one_click_unsubscribe_url"] = None
    return {
        "id": notification_id,
        "reference": body.get("reference"),
        "content": content,
        "uri": f"{base}/v2/notifications/{notification_id}",
        "template": _template_json(template, body["template_id"], service_id, base),
        "scheduled_for": None,
    }


@router.post("/sms", status_code=201, summary="Send a text message")
def send_sms(
    raw: RawBody, request: Request, conn: DbDep, settings: SettingsDep, authorization: AuthHeader = None
) -> dict[str, Any]:
    return _send("sms", raw, request, conn, settings, authorization)


@router.post("/email", status_code=201, summary="Send an email")
def send_email(
    raw: RawBody, request: Request, conn: DbDep, settings: SettingsDep, authorization: AuthHeader = None
) -> dict[str, Any]:
    return _send("email", raw, request, conn, settings, authorization)


def _progress(conn: sqlite3.Connection, row: sqlite3.Row) -> sqlite3.Row:
    """Move a notification on to its final status once ``DELIVERY_SECONDS`` have passed."""
    if row["status"] != "created":
        return row
    created = dt.datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
    now = dt.datetime.now(dt.timezone.utc)
    if (now - created).total_seconds() < DELIVERY_SECONDS:
        return row
    status = SIMULATED.get(row["recipient"].lower(), "delivered")
    conn.execute(
        "UPDATE notify_notifications SET status = ?, sent_at = ?, completed_at = ? WHERE id = ?",
        (status, _iso(created + dt.timedelta(seconds=DELIVERY_SECONDS / 2)), _iso(now), row["id"]),
    )
    return conn.execute("SELECT * FROM notify_notifications WHERE id = ?", (row["id"],)).fetchone()


@router.get("/{notification_id}", summary="Get the status of one message")
def get_notification(
    notification_id: str,
    request: Request,
    conn: DbDep,
    settings: SettingsDep,
    authorization: AuthHeader = None,
) -> dict[str, Any]:
    service_id = _authenticate(authorization, settings)
    try:
        uuid.UUID(notification_id)
    except ValueError:
        raise _invalid("notification_id is not a valid UUID") from None
    row = fetch_one(
        conn,
        "SELECT * FROM notify_notifications WHERE id = ? AND service_id = ?",
        (notification_id.lower(), service_id),
        missing=_fail(404, "NoResultFound", "No result found"),
    )
    row = _progress(conn, row)
    template = _template(row["template_id"], settings)
    base = request.app.state.settings.public_url
    sms = row["type"] == "sms"
    return {
        "id": row["id"],
        "reference": row["reference"],
        "email_address": None if sms else row["recipient"],
        "phone_number": row["recipient"] if sms else None,
        **{f"line_{i}": None for i in range(1, 8)},
        "postcode": None,
        "postage": None,
        "type": row["type"],
        "status": row["status"],
        "template": _template_json(template, row["template_id"], service_id, base),
        "body": row["body"],
        "subject": row["subject"],
        "created_at": row["created_at"],
        "created_by_name": None,
        "sent_at": row["sent_at"],
        "completed_at": row["completed_at"],
        "scheduled_for": None,
    }


def seed(conn: sqlite3.Connection, world: World) -> None:
    """No notifications to begin with: every one in the table was sent by a test or a demo."""
