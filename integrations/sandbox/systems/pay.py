"""GOV.UK Pay: card payments at the real API paths, a stand-in payment page and signed webhooks.

API (``Authorization: Bearer <api key>``), shapes and codes as GOV.UK Pay's
public API reference and OpenAPI file:

- ``POST /v1/payments``: 201 with the payment and ``Location``; the same
  ``Idempotency-Key`` with the same body answers 200 with the same payment,
  with another body 409 ``P0191``. Missing attributes 400 ``P0101``, wrong
  types 400 ``P0102``, out-of-range values 422 ``P0102``, bad JSON 400
  ``P0197``, more than 15 creates a second for a key 429 ``P0900``.
  ``return_url`` must be https, as on Pay, except ``http://127.0.0.1`` and
  ``http://localhost`` (any port): a sandbox convenience, so the local demo
  page can be the return page; real Pay refuses them.
- ``GET /v1/payments/{id}`` (404 ``P0200``); ``_links.next_url`` only while
  unfinished. An unfinished payment expires 90 minutes after it was made
  (``failed``, ``P0020``).
- ``POST /v1/payments/{id}/cancel``: 204; finished 400 ``P0501``; unknown 404 ``P0500``.
- ``POST /v1/payments/{id}/capture`` (delayed capture): 204; not capturable 409 ``P1003``.

The payment page stands in for Pay's hosted card pages: ``next_url`` is
``/pay/{secure token}`` (single use, not the payment id); opening it starts a
session (a cookie scoped to the payment) and shows the amount and description
with three choices: pay (``success``), decline (``failed``, ``P0010``) or
cancel (``failed``, ``P0030``, as when a resident presses Cancel on Pay).
Then the resident is sent (303) to the ``return_url``, and a webhook is sent
if a webhook URL is set (``SANDBOX_PAY_WEBHOOK_URL`` or ``PUT
/_admin/pay/webhook-url``): Pay's message shape, ``Pay-Signature`` = hex
HMAC-SHA256 of the body with the signing secret (the client's pay endpoint
``secret``), retried in the background when the receiver fails.
``/_admin/pay/...`` re-sends a message (duplicates) and backdates a payment
(expiry).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import hmac
import html
import json
import logging
import random
import re
import secrets
import sqlite3
import string
import threading
import time
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from integrations.sandbox.db import fetch_one
from integrations.sandbox.deps import DbDep, SettingsDep
from integrations.sandbox.settings import SandboxSettings
from integrations.sandbox.world import SEED, World
from integrations.settings import Settings

logger = logging.getLogger("integrations.sandbox.pay")

PATH_PREFIXES = ("/v1/payments",)
SANDBOX_DEFAULTS = Settings.from_env({})

EXPIRY = dt.timedelta(minutes=90)
MAX_AMOUNT = 10_000_000
CREATES_PER_SECOND = 15
#: Delays before the second, third and fourth attempt to deliver a webhook.
WEBHOOK_RETRY_DELAYS = (1.0, 2.0, 4.0)
#: Pay expects the receiver to answer within 15 s.
WEBHOOK_TIMEOUT = 15.0
UNFINISHED = ("created", "started", "submitted", "capturable")
_ID_ALPHABET = string.ascii_lowercase + string.digits
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9-]{1,255}$")
SESSION_COOKIE = "pay_session"
NO_MONEY_TAKEN = "No money has been taken from your account."
ALREADY_DONE = "This payment has already been completed."
AuthHeader = Annotated[str | None, Header()]
_STORE_LOCK = threading.RLock()


# Routes are plain functions, so FastAPI runs them in worker threads: a route waiting
# for SQLite's write lock never blocks the event loop that other requests need to commit.
# These async dependencies read what only an async function can.
async def _raw_body(request: Request) -> bytes:
    return await request.body()


async def _form_action(request: Request) -> str | None:
    action = (await request.form()).get("action")
    return action if isinstance(action, str) else None


RawBody = Annotated[bytes, Depends(_raw_body)]
FormAction = Annotated[str | None, Depends(_form_action)]

# The card the payment page "uses": Pay's own test Visa debit.
TEST_CARD = {
    "card_brand": "Visa",
    "card_type": "debit",
    "first_digits": "424242",
    "last_digits": "4242",
    "expiry_date": "12/30",
    "cardholder_name": "Sandbox Test Card",
}

SCHEMA = """
CREATE TABLE pay_payments (
    payment_id TEXT PRIMARY KEY,
    amount INTEGER NOT NULL,
    reference TEXT NOT NULL,
    description TEXT NOT NULL,
    return_url TEXT NOT NULL,
    email TEXT,
    metadata TEXT,
    language TEXT NOT NULL DEFAULT 'en',
    delayed_capture INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    code TEXT,
    message TEXT,
    created_date TEXT NOT NULL,
    captured_date TEXT,
    secure_token TEXT NOT NULL UNIQUE,
    token_used INTEGER NOT NULL DEFAULT 0,
    session_id TEXT,
    card_brand TEXT,
    card_type TEXT,
    first_digits TEXT,
    last_digits TEXT,
    expiry_date TEXT,
    cardholder_name TEXT,
    idempotency_key TEXT UNIQUE,
    request_hash TEXT
);
CREATE TABLE pay_webhook_messages (
    webhook_message_id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_date TEXT NOT NULL,
    delivery_status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER
);
CREATE TABLE pay_config (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

STATE_MESSAGES = {
    "P0010": "Payment method rejected",
    "P0020": "Payment expired",
    "P0030": "Payment was cancelled by the user",
    "P0040": "Payment was cancelled by the service",
}

router = APIRouter()
api = APIRouter(prefix="/v1/payments", tags=["GOV.UK Pay"])
page = APIRouter(prefix="/pay", tags=["GOV.UK Pay payment page"])
admin = APIRouter(prefix="/_admin/pay", tags=["admin"])


# --- errors -----------------------------------------------------------------


def error_body(status: int, message: str) -> dict[str, Any]:
    """Pay's ``{code, description}`` for statuses the routes don't shape themselves."""
    if status == 429:
        return {"code": "P0900", "description": "Too many requests"}
    if status == 404:
        return {"code": "P0200", "description": "Not found"}
    if status >= 500:
        return {"code": "P0999", "description": "GOV.UK Pay is temporarily unavailable"}
    if status == 401:
        return {"description": "Credentials are required to access this resource."}
    return {"code": "P0102", "description": message}


def _error(status: int, code: str, description: str, *, field: str = "", header: str = "") -> HTTPException:
    body: dict[str, Any] = {"code": code, "description": description}
    if field:
        body["field"] = field
    if header:
        body["header"] = header
    return HTTPException(status, detail=body)


def _invalid(name: str, rule: str, status: int = 422) -> HTTPException:
    return _error(status, "P0102", f"Invalid attribute value: {name}. {rule}", field=name)


# --- helpers ----------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_iso(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _new_id(rng: random.Random | None = None) -> str:
    pick = (rng or secrets.SystemRandom()).choice
    return "".join(pick(_ID_ALPHABET) for _ in range(26))


def _pounds(pence: int) -> str:
    return f"£{pence // 100:,}.{pence % 100:02d}"


def _valid_keys(settings: SandboxSettings) -> set[str]:
    keys = {SANDBOX_DEFAULTS.pay.key}
    if settings.client is not None and settings.client.pay.key:
        keys.add(settings.client.pay.key)
    return keys


def _signing_secret(settings: SandboxSettings) -> str:
    return settings.client.pay.secret if settings.client is not None else SANDBOX_DEFAULTS.pay.secret


def _check_key(authorization: str | None, settings: SandboxSettings) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or token.strip() not in _valid_keys(settings):
        raise HTTPException(401, detail=error_body(401, ""), headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


def _app_store(request: Request, name: str, factory: Any) -> Any:
    """Per-app, in-memory state (the rate limiter's windows)."""
    with _STORE_LOCK:
        value = getattr(request.app.state, name, None)
        if value is None:
            value = factory()
            setattr(request.app.state, name, value)
        return value


def _check_rate(request: Request, api_key: str) -> None:
    """At most 15 create requests a second for one key, like Pay."""
    windows = _app_store(request, "pay_rate_windows", dict)
    with _STORE_LOCK:
        window: collections.deque[float] = windows.setdefault(api_key, collections.deque())
        now = time.monotonic()
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= CREATES_PER_SECOND:
            raise HTTPException(429, detail=error_body(429, ""))
        window.append(now)


def _links(row: sqlite3.Row, base: str) -> dict[str, Any]:
    self_href = f"{base}/v1/payments/{row['payment_id']}"
    # Pay also links ``events`` and ``refunds``; the sandbox has neither, so it doesn't link them.
    links: dict[str, Any] = {"self": {"href": self_href, "method": "GET"}}
    if row["status"] in UNFINISHED:
        links["next_url"] = {"href": f"{base}/pay/{row['secure_token']}", "method": "GET"}
        links["cancel"] = {"href": f"{self_href}/cancel", "method": "POST"}
    if row["status"] == "capturable":
        links["capture"] = {"href": f"{self_href}/capture", "method": "POST"}
    return links


def payment_json(row: sqlite3.Row, base: str, *, with_links: bool = True) -> dict[str, Any]:
    """The payment as ``GET /v1/payments/{id}`` shows it."""
    finished = row["status"] not in UNFINISHED
    state: dict[str, Any] = {"status": row["status"], "finished": finished}
    if row["code"]:
        state["code"] = row["code"]
        state["message"] = row["message"]
    success = row["status"] == "success"
    body: dict[str, Any] = {
        "amount": row["amount"],
        "description": row["description"],
        "reference": row["reference"],
        "language": row["language"],
        "state": state,
        "payment_id": row["payment_id"],
        "payment_provider": "sandbox",
        "created_date": row["created_date"],
        "refund_summary": {
            "status": "available" if success else "unavailable" if finished else "pending",
            "amount_available": row["amount"] if success else 0,
            "amount_submitted": 0,
        },
        "settlement_summary": (
            {"capture_submit_time": row["captured_date"], "captured_date": row["captured_date"][:10]}
            if row["captured_date"]
            else {}
        ),
        "delayed_capture": bool(row["delayed_capture"]),
        "moto": False,
        "return_url": row["return_url"],
        "authorisation_mode": "web",
    }
    if row["email"]:
        body["email"] = row["email"]
    if row["metadata"]:
        body["metadata"] = json.loads(row["metadata"])
    if row["card_brand"]:
        body["card_details"] = {
            "last_digits_card_number": row["last_digits"],
            "first_digits_card_number": row["first_digits"],
            "cardholder_name": row["cardholder_name"],
            "expiry_date": row["expiry_date"],
            "billing_address": None,
            "card_brand": row["card_brand"],
            "card_type": row["card_type"],
        }
    if with_links:
        body["_links"] = _links(row, base)
    return body


def _get(conn: sqlite3.Connection, payment_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM pay_payments WHERE payment_id = ?", (payment_id,)).fetchone()


def _reload(conn: sqlite3.Connection, payment_id: str) -> sqlite3.Row:
    """A payment this request has just written."""
    row = _get(conn, payment_id)
    assert row is not None
    return row


def _finish(conn: sqlite3.Connection, payment_id: str, status: str, code: str | None = None) -> sqlite3.Row:
    conn.execute(
        "UPDATE pay_payments SET status = ?, code = ?, message = ? WHERE payment_id = ?",
        (status, code, STATE_MESSAGES.get(code or ""), payment_id),
    )
    return _reload(conn, payment_id)


# --- webhooks ---------------------------------------------------------------


def _webhook_url(conn: sqlite3.Connection, settings: SandboxSettings) -> str:
    row = conn.execute("SELECT value FROM pay_config WHERE key = 'webhook_url'").fetchone()
    return row["value"] if row else settings.pay_webhook_url


def _record_event(conn: sqlite3.Connection, row: sqlite3.Row, event_type: str, base: str) -> str:
    """Store a webhook message for ``event_type`` on this payment; its id."""
    message_id = str(uuid.uuid4())
    created = _iso(_now())
    body = {
        "webhook_message_id": message_id,
        "created_date": created,
        "resource_id": row["payment_id"],
        "api_version": 1,
        "resource_type": "payment",
        "event_type": event_type,
        "resource": payment_json(row, base, with_links=False),
    }
    conn.execute(
        "INSERT INTO pay_webhook_messages (webhook_message_id, payment_id, event_type, body, created_date, "
        "delivery_status) VALUES (?,?,?,?,?,?)",
        (message_id, row["payment_id"], event_type, _compact(body), created, "pending"),
    )
    return message_id


def _dispatch(request: Request, conn: sqlite3.Connection, message_ids: list[str]) -> None:
    """Commit, then deliver these messages in order from a background thread (if a URL is set)."""
    settings: SandboxSettings = request.app.state.settings
    url = _webhook_url(conn, settings)
    if not url:
        conn.executemany(
            "UPDATE pay_webhook_messages SET delivery_status = 'not_configured' WHERE webhook_message_id = ?",
            [(m,) for m in message_ids],
        )
    conn.commit()  # the receiver may look the payment up at once
    if url and message_ids:
        args = (request.app.state.db, url, _signing_secret(settings), message_ids)
        threading.Thread(target=_deliver, args=args, name="pay-webhooks", daemon=True).start()


def _deliver(db: Any, url: str, secret: str, message_ids: list[str]) -> None:
    with httpx.Client(timeout=WEBHOOK_TIMEOUT) as http:
        for message_id in message_ids:
            try:
                _deliver_one(db, http, url, secret, message_id)
            except sqlite3.Error:  # the sandbox was reset while this was being delivered
                logger.info("pay webhook %s dropped: the sandbox was reset", message_id)
                return


def _deliver_one(db: Any, http: httpx.Client, url: str, secret: str, message_id: str) -> None:
    conn = db.connect()
    try:
        row = conn.execute(
            "SELECT body FROM pay_webhook_messages WHERE webhook_message_id = ?", (message_id,)
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        return  # the sandbox was reset meanwhile
    body = row["body"].encode("utf-8")
    signature = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "Pay-Signature": signature}
    for attempt, delay in enumerate((0.0, *WEBHOOK_RETRY_DELAYS), start=1):
        time.sleep(delay)
        try:
            status: int | None = http.post(url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = None
        delivered = status is not None and 200 <= status < 300
        last = attempt == len(WEBHOOK_RETRY_DELAYS) + 1
        outcome = "successful" if delivered else "failed" if last else "pending"
        conn = db.connect()
        try:
            conn.execute(
                "UPDATE pay_webhook_messages SET attempts = attempts + 1, last_status_code = ?, "
                "delivery_status = ? WHERE webhook_message_id = ?",
                (status, outcome, message_id),
            )
            conn.commit()
        finally:
            conn.close()
        logger.info("pay webhook %s attempt %d -> %s", message_id, attempt, status)
        if delivered:
            return


def _expire_if_due(request: Request, conn: sqlite3.Connection, row: sqlite3.Row) -> sqlite3.Row:
    """Pay fails an unfinished payment 90 minutes after it was created (``P0020``)."""
    if row["status"] not in UNFINISHED or row["status"] == "capturable":
        return row
    if _now() - _parse_iso(row["created_date"]) < EXPIRY:
        return row
    row = _finish(conn, row["payment_id"], "failed", "P0020")
    _dispatch(request, conn, [_record_event(conn, row, "card_payment_expired", _base(request))])
    return row


def _base(request: Request) -> str:
    return request.app.state.settings.public_url


# --- create -----------------------------------------------------------------


def _validate(body: Any) -> dict[str, Any]:
    """Pay's checks, in Pay's codes and words."""
    if not isinstance(body, dict):
        raise _error(400, "P0197", "Unable to parse JSON")
    for name in ("amount", "reference", "description", "return_url"):
        if body.get(name) is None:
            raise _error(400, "P0101", f"Missing mandatory attribute: {name}", field=name)
    amount = body["amount"]
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise _invalid("amount", "Must be a valid numeric format", 400)
    if amount < 1:
        raise _invalid("amount", "Must be greater than or equal to 1")
    if amount > MAX_AMOUNT:
        raise _invalid("amount", f"Must be less than or equal to {MAX_AMOUNT}")
    for name, limit in (("reference", 255), ("description", 255), ("return_url", 2000), ("email", 254)):
        value = body.get(name)
        if name == "email" and value is None:
            continue
        if not isinstance(value, str):
            raise _invalid(name, "Must be a valid string format", 400)
        if len(value) > limit:
            raise _invalid(name, f"Must be less than or equal to {limit} characters length")
    if not _acceptable_return_url(body["return_url"]):
        raise _invalid("return_url", "Must be a valid URL format")
    if body.get("language", "en") not in ("en", "cy"):
        raise _invalid("language", 'Must be "en" or "cy"')
    if not isinstance(body.get("delayed_capture", False), bool):
        raise _invalid("delayed_capture", "Must be true or false")
    metadata = body.get("metadata")
    if metadata is not None:
        _validate_metadata(metadata)
    return body


def _validate_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise _invalid("metadata", "Must be an object of JSON key-value pairs")
    if len(metadata) > 10:
        raise _invalid("metadata", "Cannot have more than 10 key-value pairs")
    for key, value in metadata.items():
        if not 1 <= len(key) <= 30:
            raise _invalid("metadata", "Keys must be between 1 and 30 characters long")
        if value is None or isinstance(value, (dict, list)):
            raise _invalid("metadata", "Values must be of type String, Boolean or Number")
        if isinstance(value, str) and len(value) > 100:
            raise _invalid("metadata", "Values must be no greater than 100 characters long")


#: Hosts a plain-http return_url may point at in the sandbox (see ``_acceptable_return_url``).
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


def _acceptable_return_url(url: str) -> bool:
    """Pay wants an https ``return_url``. The sandbox also takes ``http://127.0.0.1`` and
    ``http://localhost`` (any port), so the demo page of ``make run`` can be the return page
    without a certificate: a sandbox convenience only; real Pay refuses plain http."""
    parts = urlsplit(url)
    if not parts.netloc:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS)


def _compact(body: Any) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(_compact(body).encode()).hexdigest()


@api.post("", status_code=201, summary="Create a payment")
def create_payment(
    request: Request,
    conn: DbDep,
    settings: SettingsDep,
    raw: RawBody,
    authorization: AuthHeader = None,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> JSONResponse:
    api_key = _check_key(authorization, settings)
    _check_rate(request, api_key)
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise _error(
            422,
            "P0102",
            "Invalid attribute value: Idempotency-Key. Must be 1 to 255 letters, numbers or hyphens",
            header="Idempotency-Key",
        )
    try:
        body = _validate(json.loads(raw))
    except (ValueError, UnicodeDecodeError):
        raise _error(400, "P0197", "Unable to parse JSON") from None
    digest = _request_hash(body)
    if idempotency_key:
        existing = conn.execute(
            "SELECT * FROM pay_payments WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        if existing is not None:
            if existing["request_hash"] != digest:
                raise _error(
                    409,
                    "P0191",
                    "The `Idempotency-Key` you sent in the request header has already been used to create "
                    "a payment.",
                    header="Idempotency-Key",
                )
            existing = _expire_if_due(request, conn, existing)
            return JSONResponse(payment_json(existing, _base(request)), status_code=200)
    payment_id = _new_id()
    conn.execute(
        "INSERT INTO pay_payments (payment_id, amount, reference, description, return_url, email, metadata, "
        "language, delayed_capture, status, created_date, secure_token, idempotency_key, request_hash) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            payment_id,
            body["amount"],
            body["reference"],
            body["description"],
            body["return_url"],
            body.get("email"),
            json.dumps(body["metadata"]) if body.get("metadata") else None,
            body.get("language", "en"),
            int(body.get("delayed_capture", False)),
            "created",
            _iso(_now()),
            secrets.token_urlsafe(24),
            idempotency_key or None,
            digest,
        ),
    )
    conn.commit()
    row = _reload(conn, payment_id)
    payment = payment_json(row, _base(request))
    return JSONResponse(payment, status_code=201, headers={"Location": payment["_links"]["self"]["href"]})


# --- read, cancel, capture ---------------------------------------------------


def _existing(request: Request, conn: sqlite3.Connection, payment_id: str, not_found: str) -> sqlite3.Row:
    row = _get(conn, payment_id)
    if row is None:
        raise _error(404, not_found, "Not found")
    return _expire_if_due(request, conn, row)


@api.get("/{payment_id}", summary="Get information about a single payment")
def get_payment(
    payment_id: str, request: Request, conn: DbDep, settings: SettingsDep, authorization: AuthHeader = None
) -> dict[str, Any]:
    _check_key(authorization, settings)
    return payment_json(_existing(request, conn, payment_id, "P0200"), _base(request))


@api.post("/{payment_id}/cancel", status_code=204, summary="Cancel a payment")
def cancel_payment(
    payment_id: str, request: Request, conn: DbDep, settings: SettingsDep, authorization: AuthHeader = None
) -> Response:
    _check_key(authorization, settings)
    row = _existing(request, conn, payment_id, "P0500")
    if row["status"] not in UNFINISHED:
        raise _error(400, "P0501", "Cancellation of payment failed")
    _finish(conn, payment_id, "cancelled", "P0040")
    conn.commit()
    return Response(status_code=204)


@api.post("/{payment_id}/capture", status_code=204, summary="Take (capture) a delayed payment")
def capture_payment(
    payment_id: str, request: Request, conn: DbDep, settings: SettingsDep, authorization: AuthHeader = None
) -> Response:
    _check_key(authorization, settings)
    row = _existing(request, conn, payment_id, "P1000")
    if row["status"] != "capturable":
        raise _error(409, "P1003", "Payment cannot be captured")
    conn.execute(
        "UPDATE pay_payments SET status = 'success', captured_date = ? WHERE payment_id = ?",
        (_iso(_now()), payment_id),
    )
    row = _reload(conn, payment_id)
    _dispatch(request, conn, [_record_event(conn, row, "card_payment_captured", _base(request))])
    return Response(status_code=204)


# --- the payment page ---------------------------------------------------------

_STYLE = """
body{margin:0;font-family:Arial,sans-serif;font-size:19px;line-height:1.32;color:#0b0c0c;background:#fff}
.skip{position:absolute;left:-9999px}.skip:focus{left:8px;top:8px;background:#fd0;padding:8px}
header{background:#0b0c0c;color:#fff;padding:12px 16px;border-bottom:10px solid #1d70b8;font-weight:bold}
main{max-width:640px;margin:0 auto;padding:24px 16px}
h1{font-size:36px;margin:0 0 24px}
.banner{border:5px solid #1d70b8;padding:12px 16px;margin-bottom:24px}
dl{margin:0 0 24px;border-top:1px solid #b1b4b6}
dl div{display:flex;gap:16px;border-bottom:1px solid #b1b4b6;padding:10px 0}
dt{font-weight:bold;min-width:40%}dd{margin:0}
.button{display:inline-block;font-size:19px;padding:8px 12px;margin:0 12px 16px 0;border:0;
  box-shadow:0 2px 0 #002d18;background:#00703c;color:#fff;cursor:pointer}
.button.secondary{background:#f3f2f1;color:#0b0c0c;box-shadow:0 2px 0 #929191}
.button.warning{background:#d4351c;box-shadow:0 2px 0 #55150b}
.button:focus,a:focus{outline:3px solid #fd0;outline-offset:0;box-shadow:inset 0 0 0 2px #0b0c0c}
a{color:#1d70b8}
"""


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{html.escape(title)} – GOV.UK Pay (sandbox)</title>
<style>{_STYLE}</style>
</head>
<body>
<a class="skip" href="#main">Skip to main content</a>
<header>GOV.UK Pay <span>(sandbox)</span></header>
<main id="main">
{content}
</main>
</body>
</html>"""
    return HTMLResponse(document, status_code=status, headers={"Cache-Control": "no-store"})


def _ended(row: sqlite3.Row, heading: str, text: str, status: int = 200) -> HTMLResponse:
    back = html.escape(row["return_url"], quote=True)
    return _page(
        heading,
        f"<h1>{html.escape(heading)}</h1><p>{html.escape(text)}</p>"
        f'<p><a href="{back}">Go back to the service</a></p>',
        status,
    )


def _summary(row: sqlite3.Row) -> str:
    return (
        f"<dl><div><dt>Payment for</dt><dd>{html.escape(row['description'])}</dd></div>"
        f"<div><dt>Total amount</dt><dd>{_pounds(row['amount'])}</dd></div></dl>"
    )


@page.get("/{secure_token}", summary="The payment page (next_url): starts the resident's session")
def open_payment_page(secure_token: str, request: Request, conn: DbDep) -> Response:
    row = conn.execute("SELECT * FROM pay_payments WHERE secure_token = ?", (secure_token,)).fetchone()
    if row is None:
        return _page(
            "This link is not valid",
            "<h1>This link is not valid</h1><p>Go back to the service you were using and start again.</p>",
            404,
        )
    row = _expire_if_due(request, conn, row)
    if row["status"] not in UNFINISHED:
        if row["code"] == "P0020":
            return _ended(row, "Your payment session has expired", NO_MONEY_TAKEN)
        return _ended(row, "Your payment session has ended", ALREADY_DONE)
    if row["token_used"]:
        return _ended(row, "Your payment session has ended", "This payment link has already been used.", 400)
    session_id = secrets.token_urlsafe(24)
    conn.execute(
        "UPDATE pay_payments SET token_used = 1, session_id = ?, status = CASE WHEN status = 'created' "
        "THEN 'started' ELSE status END WHERE payment_id = ?",
        (session_id, row["payment_id"]),
    )
    conn.commit()
    response = RedirectResponse(f"/pay/card/{row['payment_id']}", status_code=303)
    response.set_cookie(
        SESSION_COOKIE, session_id, path=f"/pay/card/{row['payment_id']}", httponly=True, samesite="lax"
    )
    return response


def _session_row(request: Request, conn: sqlite3.Connection, payment_id: str) -> sqlite3.Row | HTMLResponse:
    row = _get(conn, payment_id)
    session = request.cookies.get(SESSION_COOKIE, "")
    if row is None or not row["session_id"] or not hmac.compare_digest(row["session_id"], session):
        return _page(
            "Your payment session has ended",
            "<h1>Your payment session has ended</h1><p>Go back to the service you were using and start again."
            "</p>",
            403,
        )
    return _expire_if_due(request, conn, row)


@page.get("/card/{payment_id}", summary="The card details page (needs the session from next_url)")
def card_page(payment_id: str, request: Request, conn: DbDep) -> Response:
    row = _session_row(request, conn, payment_id)
    if isinstance(row, HTMLResponse):
        return row
    if row["status"] not in UNFINISHED:
        if row["code"] == "P0020":
            return _ended(row, "Your payment session has expired", NO_MONEY_TAKEN)
        return _ended(row, "Your payment session has ended", ALREADY_DONE)
    amount = _pounds(row["amount"])
    return _page(
        "Enter card details",
        f"""<h1>Pay {amount}</h1>
<div class="banner" role="note"><p><strong>This is a test payment page.</strong>
No card details are needed and no money is taken. Choose what the card payment should do.</p></div>
{_summary(row)}
<form method="post" action="/pay/card/{row["payment_id"]}" novalidate>
<button class="button" type="submit" name="action" value="pay">Pay {amount}</button>
<button class="button secondary" type="submit" name="action" value="decline">Decline (card refused)</button>
<button class="button warning" type="submit" name="action" value="cancel">Cancel payment</button>
</form>""",
    )


@page.post("/card/{payment_id}", summary="The resident's choice: pay, decline or cancel")
def card_choice(payment_id: str, request: Request, conn: DbDep, action: FormAction) -> Response:
    row = _session_row(request, conn, payment_id)
    if isinstance(row, HTMLResponse):
        return row
    if row["status"] not in UNFINISHED or row["status"] == "capturable":
        return _ended(row, "Your payment session has ended", ALREADY_DONE)
    base = _base(request)
    if action == "pay":
        delayed = bool(row["delayed_capture"])
        conn.execute(
            "UPDATE pay_payments SET status = ?, captured_date = ?, card_brand = ?, card_type = ?, "
            "first_digits = ?, last_digits = ?, expiry_date = ?, cardholder_name = ? WHERE payment_id = ?",
            (
                "capturable" if delayed else "success",
                None if delayed else _iso(_now()),
                *(TEST_CARD[k] for k in ("card_brand", "card_type", "first_digits", "last_digits")),
                TEST_CARD["expiry_date"],
                TEST_CARD["cardholder_name"],
                payment_id,
            ),
        )
        row = _reload(conn, payment_id)
        events = [_record_event(conn, row, "card_payment_succeeded", base)]
        if not delayed:
            events.append(_record_event(conn, row, "card_payment_captured", base))
    elif action in ("decline", "cancel"):
        row = _finish(conn, payment_id, "failed", "P0010" if action == "decline" else "P0030")
        events = [_record_event(conn, row, "card_payment_failed", base)]
    else:
        problem = "<h1>There is a problem</h1><p>Choose pay, decline or cancel.</p>"
        return _page("There is a problem", problem, 400)
    conn.execute("UPDATE pay_payments SET session_id = NULL WHERE payment_id = ?", (payment_id,))
    _dispatch(request, conn, events)
    return RedirectResponse(row["return_url"], status_code=303)


# --- admin: webhook URL, re-sends, expiry ---------------------------------------


class WebhookUrl(BaseModel):
    url: str | None = Field(None, description="where webhooks go; null falls back to SANDBOX_PAY_WEBHOOK_URL")


class Backdate(BaseModel):
    minutes: int = Field(..., ge=1, le=60 * 24 * 365)


@admin.put("/webhook-url", summary="Set (or clear) the URL webhooks are sent to")
def set_webhook_url(change: WebhookUrl, conn: DbDep, settings: SettingsDep) -> dict[str, Any]:
    conn.execute("DELETE FROM pay_config WHERE key = 'webhook_url'")
    if change.url:
        conn.execute("INSERT INTO pay_config VALUES ('webhook_url', ?)", (change.url,))
    return {"url": _webhook_url(conn, settings)}


@admin.get("/webhooks", summary="Webhook messages and their delivery")
def list_webhooks(conn: DbDep) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT webhook_message_id, payment_id, event_type, created_date, delivery_status, attempts, "
        "last_status_code FROM pay_webhook_messages ORDER BY rowid"
    ).fetchall()
    return [dict(r) for r in rows]


@admin.post("/webhooks/{webhook_message_id}/resend", status_code=202, summary="Send a message again")
def resend_webhook(webhook_message_id: str, request: Request, conn: DbDep) -> dict[str, Any]:
    fetch_one(
        conn,
        "SELECT 1 FROM pay_webhook_messages WHERE webhook_message_id = ?",
        (webhook_message_id,),
        missing=HTTPException(404, f"no webhook message {webhook_message_id}"),
    )
    if not _webhook_url(conn, request.app.state.settings):
        raise HTTPException(409, "no webhook URL is set")
    _dispatch(request, conn, [webhook_message_id])
    return {"webhook_message_id": webhook_message_id, "status": "queued"}


@admin.post("/payments/{payment_id}/backdate", summary="Make a payment older (to test expiry)")
def backdate(payment_id: str, change: Backdate, conn: DbDep) -> dict[str, Any]:
    row = _get(conn, payment_id)
    if row is None:
        raise HTTPException(404, f"no payment {payment_id}")
    created = _iso(_parse_iso(row["created_date"]) - dt.timedelta(minutes=change.minutes))
    conn.execute("UPDATE pay_payments SET created_date = ? WHERE payment_id = ?", (created, payment_id))
    return {"payment_id": payment_id, "created_date": created}


router.include_router(api)
router.include_router(page)
router.include_router(admin)


# --- seed -------------------------------------------------------------------


def seed(conn: sqlite3.Connection, world: World) -> None:
    """Three finished payments from earlier days: a success, a declined one and one we cancelled."""
    rng = random.Random(f"{SEED}-pay")
    examples = [
        ("success", None, 4400, "GW-SEED-0001", "Garden waste subscription renewal (1 bin)", 3),
        ("failed", "P0010", 8800, "GW-SEED-0002", "Garden waste subscription renewal (2 bins)", 2),
        ("cancelled", "P0040", 12500, "CT-SEED-0003", "Council tax payment", 1),
    ]
    for status, code, amount, reference, description, days_ago in examples:
        created = dt.datetime.combine(
            world.today - dt.timedelta(days=days_ago), dt.time(10, 0), tzinfo=dt.timezone.utc
        )
        card = TEST_CARD if status == "success" else dict.fromkeys(TEST_CARD)
        conn.execute(
            "INSERT INTO pay_payments (payment_id, amount, reference, description, return_url, status, code, "
            "message, created_date, captured_date, secure_token, token_used, card_brand, card_type, "
            "first_digits, last_digits, expiry_date, cardholder_name) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                _new_id(rng),
                amount,
                reference,
                description,
                SANDBOX_DEFAULTS.pay_return_url,
                status,
                code,
                STATE_MESSAGES.get(code or ""),
                _iso(created),
                _iso(created + dt.timedelta(minutes=3)) if status == "success" else None,
                "".join(rng.choice(_ID_ALPHABET) for _ in range(32)),
                1,
                *(card[k] for k in ("card_brand", "card_type", "first_digits", "last_digits", "expiry_date")),
                card["cardholder_name"],
            ),
        )
