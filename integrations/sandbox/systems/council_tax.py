"""Council tax: our own contract at ``/council-tax/v1``.

Revenues systems (Civica OpenRevenues, NEC/Northgate, Capita) have no public
API, so this is the small REST contract in ``integrations/contracts/council_tax.md``.

- ``X-Api-Key`` authenticates the assistant; a resident is verified by account
  reference + the property's postcode, which gives a short-lived verification
  token (``X-Verification-Token``) for that one account. A wrong pair and an
  unknown account get the same answer; five failures for one reference in 15
  minutes lock it for 15 minutes.
- Money is in integer pence; the year runs 1 April to 31 March, in 10 monthly
  instalments from April to January, due on the direct debit day or the 1st.
- Requests (moving home, single person discount, direct debit changes) get a
  ``CT-`` + 6 digit reference whose status can be looked up.
- Bank details never pass through the API: a new direct debit is set up on a
  secure form (``/council-tax/v1/forms/direct-debit``) reached by a one-use link.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import random
import re
import secrets
import sqlite3
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from integrations.sandbox.db import fetch_one
from integrations.sandbox.deps import SettingsDep, WorldDep
from integrations.sandbox.systems.waste import (
    DbDep,
    ErrorBody,
    add_working_days,
    add_years,
    api_key_check,
    fail,
    payment_problem,
    sandbox_now,
)
from integrations.sandbox.systems.waste import error_body as error_body  # our contracts share one error shape
from integrations.sandbox.world import LONDON, SEED, World

PATH_PREFIXES = ("/council-tax/v1",)
VALID_KEYS = {"sandbox-council-tax-key"}
TOKEN_TTL_SECONDS = 15 * 60
LOCKOUT_FAILURES = 5
LOCKOUT_SECONDS = 15 * 60
SETUP_LINK_TTL_SECONDS = 60 * 60
DIRECT_DEBIT_DAYS = (1, 8, 15, 22, 28)
#: A change of payment day applies to instalments at least this far ahead.
DIRECT_DEBIT_NOTICE_DAYS = 14
BAND_D_PENCE = 229860
BAND_NINTHS = {"A": 6, "B": 7, "C": 8, "D": 9, "E": 11, "F": 13, "G": 15, "H": 18}
SINGLE_PERSON_DISCOUNT = 0.25
INSTALMENTS = 10

# (profile, payment method, direct debit day, single person discount); the first eight
# go to 1-8 Market Place, SN15 1ER, in this order, then round again over 32 other addresses.
PROFILES = (
    ("up_to_date", "direct_debit", 1, False),
    ("in_arrears", "cash", None, False),
    ("in_credit", "card", None, False),
    ("up_to_date", "direct_debit", 1, True),
    ("up_to_date", "cash", None, False),
    ("up_to_date", "direct_debit", 15, False),
    ("in_arrears", "card", None, True),
    ("up_to_date", "direct_debit", 28, False),
)

SCHEMA = """
CREATE TABLE ct_accounts (
    account_ref TEXT PRIMARY KEY,
    uprn TEXT NOT NULL,
    postcode TEXT NOT NULL,
    address TEXT NOT NULL,
    band TEXT NOT NULL,
    gross_charge_pence INTEGER NOT NULL,
    single_person_discount INTEGER NOT NULL,
    annual_charge_pence INTEGER NOT NULL,
    paid_pence INTEGER NOT NULL,
    payment_method TEXT NOT NULL CHECK (payment_method IN ('direct_debit', 'cash', 'card')),
    dd_day INTEGER,
    moving_out_date TEXT,
    profile TEXT NOT NULL
);
CREATE TABLE ct_instalments (
    account_ref TEXT NOT NULL REFERENCES ct_accounts (account_ref),
    number INTEGER NOT NULL,
    due_date TEXT NOT NULL,
    amount_pence INTEGER NOT NULL,
    PRIMARY KEY (account_ref, number)
);
CREATE TABLE ct_payments (
    payment_id TEXT PRIMARY KEY,
    account_ref TEXT NOT NULL REFERENCES ct_accounts (account_ref),
    amount_pence INTEGER NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE ct_requests (
    reference TEXT PRIMARY KEY,
    account_ref TEXT NOT NULL REFERENCES ct_accounts (account_ref),
    type TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('received', 'in_progress', 'completed', 'rejected')),
    status_notes TEXT NOT NULL,
    details TEXT NOT NULL,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expected_by TEXT,
    idempotency_key TEXT UNIQUE
);
CREATE TABLE ct_tokens (
    token_hash TEXT PRIMARY KEY,
    account_ref TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE ct_verification_failures (
    account_ref TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE TABLE ct_dd_sessions (
    session_hash TEXT PRIMARY KEY,
    account_ref TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at TEXT
);
"""


# --- the year and its instalments ----------------------------------------------------


def year_start(today: dt.date) -> dt.date:
    return dt.date(today.year if today.month >= 4 else today.year - 1, 4, 1)


def financial_year(today: dt.date) -> str:
    start = year_start(today).year
    return f"{start}/{(start + 1) % 100:02d}"


def instalment_dates(today: dt.date, day: int) -> list[dt.date]:
    start = year_start(today)
    return [
        dt.date(start.year + (start.month + i - 1) // 12, (start.month + i - 1) % 12 + 1, day)
        for i in range(INSTALMENTS)
    ]


def split_charge(total: int) -> list[int]:
    """Ten instalments; the first carries the odd pence."""
    base = total // INSTALMENTS
    return [total - base * (INSTALMENTS - 1)] + [base] * (INSTALMENTS - 1)


def charge_for(band: str, single_person: bool) -> tuple[int, int]:
    gross = round(BAND_D_PENCE * BAND_NINTHS[band] / 9)
    return gross, round(gross * (1 - SINGLE_PERSON_DISCOUNT)) if single_person else gross


def _reference(conn: sqlite3.Connection, rng: random.Random) -> str:
    while True:
        ref = f"CT-{rng.randint(100000, 999999)}"
        if not conn.execute("SELECT 1 FROM ct_requests WHERE reference = ?", (ref,)).fetchone():
            return ref


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def seed(conn: sqlite3.Connection, world: World) -> None:
    rng = random.Random(f"{SEED}-council_tax")
    today = world.today
    sn15 = world.by_postcode("SN15 1ER")[: len(PROFILES)]
    others = rng.sample([a for a in world.addresses if a.postcode != "SN15 1ER"], 40 - len(sn15))
    references = rng.sample(range(10_000_000, 100_000_000), 40)
    for i, (address, number) in enumerate(zip(sn15 + others, references, strict=True)):
        profile, method, dd_day, spd = PROFILES[i % len(PROFILES)]
        band = rng.choices("ABCDEFGH", weights=(20, 25, 22, 15, 9, 5, 3, 1))[0]
        gross, net = charge_for(band, spd)
        dates = instalment_dates(today, dd_day or 1)
        amounts = split_charge(net)
        due = [amount for date, amount in zip(dates, amounts, strict=True) if date <= today]
        paid = {
            "up_to_date": sum(due),
            "in_arrears": sum(due[:-2]),
            "in_credit": net + rng.choice((1850, 4250, 6300)),
        }[profile]
        ref = str(number)
        conn.execute(
            "INSERT INTO ct_accounts VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL,?)",
            (
                ref,
                address.uprn,
                address.postcode,
                address.single_line,
                band,
                gross,
                int(spd),
                net,
                paid,
                method,
                dd_day,
                profile,
            ),
        )
        conn.executemany(
            "INSERT INTO ct_instalments VALUES (?,?,?,?)",
            [
                (ref, n, d.isoformat(), a)
                for n, (d, a) in enumerate(zip(dates, amounts, strict=True), start=1)
            ],
        )
    # Requests to look up by reference, on accounts away from SN15 1ER (profiles 0, 1 and 5).
    accounts = [r[0] for r in conn.execute("SELECT account_ref FROM ct_accounts ORDER BY rowid")]
    moved = add_working_days(today, -6)
    conn.execute(
        "UPDATE ct_accounts SET moving_out_date = ? WHERE account_ref = ?", (moved.isoformat(), accounts[8])
    )
    seeded = (
        (accounts[8], "moving_home", "in_progress", "Final bill being prepared.", 6),
        (accounts[9], "single_person_discount", "received", "Waiting to be assessed.", 2),
        (accounts[13], "direct_debit_change", "completed", "Payment day changed.", 12),
    )
    for account, kind, status, notes, ago in seeded:
        received = dt.datetime.combine(add_working_days(today, -ago), dt.time(11, 15), tzinfo=LONDON)
        conn.execute(
            "INSERT INTO ct_requests VALUES (?,?,?,?,?,'{}',?,?,?,NULL)",
            (
                _reference(conn, rng),
                account,
                kind,
                status,
                notes,
                received.isoformat(),
                received.isoformat(),
                add_working_days(received.date(), 10).isoformat(),
            ),
        )


# --- auth ------------------------------------------------------------------------------

check_key = api_key_check(VALID_KEYS)
AccountRef = Annotated[str, Path(pattern=r"^\d{8}$", description="8-digit council tax account reference")]


def account_row(conn: sqlite3.Connection, ref: str) -> sqlite3.Row:
    # Only reachable with a token, so no information is given away.
    return fetch_one(
        conn,
        "SELECT * FROM ct_accounts WHERE account_ref = ?",
        (ref,),
        missing=fail(404, "account_not_found", "No such account"),
    )


def verified_account(
    conn: DbDep,
    account_reference: AccountRef,
    token: str | None = Header(None, alias="X-Verification-Token", max_length=128),
) -> sqlite3.Row:
    """The account, if the caller holds a live verification token for it (sliding expiry)."""
    if not token:
        raise fail(401, "verification_required", "Verify the account first (POST /verifications)")
    now = time.time()
    row = fetch_one(
        conn,
        "SELECT * FROM ct_tokens WHERE token_hash = ? AND account_ref = ? AND expires_at > ?",
        (_hash(token), account_reference, now),
        missing=fail(401, "verification_expired", "The verification has expired or is for another account"),
    )
    conn.execute(
        "UPDATE ct_tokens SET expires_at = ? WHERE token_hash = ?",
        (now + TOKEN_TTL_SECONDS, row["token_hash"]),
    )
    return account_row(conn, account_reference)


VerifiedAccount = Annotated[sqlite3.Row, Depends(verified_account)]

api = APIRouter(dependencies=[Depends(check_key)])
forms = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input"},
    401: {
        "model": ErrorBody,
        "description": "invalid_api_key, verification_required or verification_expired",
    },
}


# --- models ----------------------------------------------------------------------------


class VerificationIn(BaseModel):
    accountReference: str = Field(..., regex=r"^\s*\d{8}\s*$", example="40212345")
    postcode: str = Field(..., min_length=2, max_length=10, example="SN15 1ER")


class VerificationOut(BaseModel):
    accountReference: str
    token: str = Field(..., description="send as X-Verification-Token; valid 15 minutes after its last use")
    expiresAt: dt.datetime


class InstalmentOut(BaseModel):
    number: int
    dueDate: dt.date
    amountPence: int
    outstandingPence: int
    status: Literal["paid", "part_paid", "due", "overdue"]


class NextInstalment(BaseModel):
    dueDate: dt.date
    amountPence: int


class AccountOut(BaseModel):
    accountReference: str
    address: str
    postcode: str
    band: Literal["A", "B", "C", "D", "E", "F", "G", "H"]
    financialYear: str = Field(..., example="2026/27")
    grossChargePence: int
    singlePersonDiscount: bool
    annualChargePence: int = Field(..., description="after discounts")
    paidToDatePence: int
    dueToDatePence: int
    balancePence: int = Field(..., description="left to pay this year; negative when in credit")
    arrearsPence: int
    inArrears: bool
    inCredit: bool
    nextInstalment: NextInstalment | None
    paymentMethod: Literal["direct_debit", "cash", "card"]
    directDebitDay: int | None
    movingOutDate: dt.date | None
    instalments: list[InstalmentOut]


class PaymentIn(BaseModel):
    paymentId: str = Field(
        ..., min_length=1, max_length=64, description="GOV.UK Pay payment id, state success"
    )
    amountPence: int = Field(..., gt=0, le=10_000_000)


class PaymentOut(BaseModel):
    paymentId: str
    accountReference: str
    amountPence: int
    recordedAt: dt.datetime
    balancePence: int


class RequestOut(BaseModel):
    reference: str = Field(..., example="CT-204518")
    type: Literal["moving_home", "single_person_discount", "direct_debit_change", "direct_debit_setup"]
    status: Literal["received", "in_progress", "completed", "rejected"]
    statusNotes: str
    receivedAt: dt.datetime
    updatedAt: dt.datetime
    expectedBy: dt.date | None


class MovingIn(BaseModel):
    movingOutDate: dt.date
    movingWithinArea: bool
    newUprn: str | None = Field(
        None, regex=r"^\d{1,12}$", description="the new address, when moving within the area"
    )
    newAddress: str | None = Field(None, max_length=300, description="the new address as text")
    forwardingAddress: str | None = Field(
        None, max_length=300, description="for the final bill, when moving away"
    )


class DiscountIn(BaseModel):
    livingAloneFrom: dt.date


class DirectDebitOut(BaseModel):
    active: bool
    paymentDay: int | None
    allowedDays: list[int] = list(DIRECT_DEBIT_DAYS)
    nextCollection: NextInstalment | None


class DayIn(BaseModel):
    paymentDay: int


class DayChangeOut(BaseModel):
    paymentDay: int
    changed: bool
    effectiveFrom: dt.date | None
    reference: str | None


class SetupLinkOut(BaseModel):
    url: str = Field(..., description="one-use link to the secure form; a secret: never log it")
    expiresAt: dt.datetime


# --- account views -------------------------------------------------------------------------


def instalments_of(conn: sqlite3.Connection, ref: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM ct_instalments WHERE account_ref = ? ORDER BY number", (ref,)
    ).fetchall()


def account_view(conn: sqlite3.Connection, row: sqlite3.Row, today: dt.date) -> AccountOut:
    left = row["paid_pence"]
    instalments = []
    for inst in instalments_of(conn, row["account_ref"]):
        covered = min(left, inst["amount_pence"])
        left -= covered
        outstanding = inst["amount_pence"] - covered
        due_date = dt.date.fromisoformat(inst["due_date"])
        status = (
            "paid"
            if outstanding == 0
            else "overdue"
            if due_date < today
            else "part_paid"
            if covered
            else "due"
        )
        instalments.append(
            InstalmentOut(
                number=inst["number"],
                dueDate=due_date,
                amountPence=inst["amount_pence"],
                outstandingPence=outstanding,
                status=status,
            )
        )
    due_to_date = sum(i.amountPence for i in instalments if i.dueDate <= today)
    upcoming = next((i for i in instalments if i.dueDate >= today and i.outstandingPence), None)
    balance = row["annual_charge_pence"] - row["paid_pence"]
    arrears = max(0, due_to_date - row["paid_pence"])
    return AccountOut(
        accountReference=row["account_ref"],
        address=row["address"],
        postcode=row["postcode"],
        band=row["band"],
        financialYear=financial_year(today),
        grossChargePence=row["gross_charge_pence"],
        singlePersonDiscount=bool(row["single_person_discount"]),
        annualChargePence=row["annual_charge_pence"],
        paidToDatePence=row["paid_pence"],
        dueToDatePence=due_to_date,
        balancePence=balance,
        arrearsPence=arrears,
        inArrears=arrears > 0,
        inCredit=balance < 0,
        nextInstalment=NextInstalment(dueDate=upcoming.dueDate, amountPence=upcoming.outstandingPence)
        if upcoming
        else None,
        paymentMethod=row["payment_method"],
        directDebitDay=row["dd_day"],
        movingOutDate=row["moving_out_date"],
        instalments=instalments,
    )


def request_view(row: sqlite3.Row) -> RequestOut:
    return RequestOut(
        reference=row["reference"],
        type=row["type"],
        status=row["status"],
        statusNotes=row["status_notes"],
        receivedAt=row["received_at"],
        updatedAt=row["updated_at"],
        expectedBy=row["expected_by"],
    )


def record_request(
    conn: sqlite3.Connection,
    world: World,
    account_ref: str,
    kind: str,
    status: str,
    notes: str,
    details: dict[str, Any],
    key: str | None = None,
    working_days: int | None = 10,
) -> sqlite3.Row:
    now = sandbox_now(world.today).isoformat()
    expected = add_working_days(world.today, working_days).isoformat() if working_days else None
    reference = _reference(conn, random.Random())
    conn.execute(
        "INSERT INTO ct_requests VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            reference,
            account_ref,
            kind,
            status,
            notes,
            json.dumps(details, default=str),
            now,
            now,
            expected,
            key,
        ),
    )
    return conn.execute("SELECT * FROM ct_requests WHERE reference = ?", (reference,)).fetchone()


def replayed(
    conn: sqlite3.Connection, key: str | None, account_ref: str, kind: str, details: dict[str, Any]
) -> sqlite3.Row | None:
    """The request an Idempotency-Key already made, or None; 409 if the key was used for something else."""
    if not key:
        return None
    row = conn.execute("SELECT * FROM ct_requests WHERE idempotency_key = ?", (key,)).fetchone()
    if row is None:
        return None
    if (row["account_ref"], row["type"], row["details"]) != (
        account_ref,
        kind,
        json.dumps(details, default=str),
    ):
        raise fail(409, "idempotency_key_reused", "This Idempotency-Key was used for a different request")
    return row


def redate_instalments(conn: sqlite3.Connection, ref: str, day: int, today: dt.date) -> dt.date | None:
    """Move instalments far enough ahead to the new payment day; the first one moved."""
    cutoff = today + dt.timedelta(days=DIRECT_DEBIT_NOTICE_DAYS)
    first = None
    for inst in instalments_of(conn, ref):
        new_date = dt.date.fromisoformat(inst["due_date"]).replace(day=day)
        if new_date >= cutoff and dt.date.fromisoformat(inst["due_date"]) >= today:
            conn.execute(
                "UPDATE ct_instalments SET due_date = ? WHERE account_ref = ? AND number = ?",
                (new_date.isoformat(), ref, inst["number"]),
            )
            first = first or new_date
    return first


# --- routes ----------------------------------------------------------------------------------

LEGAL = {**ERRORS, 404: {"model": ErrorBody, "description": "unknown account or reference"}}
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]


@api.post(
    "/verifications",
    response_model=VerificationOut,
    status_code=201,
    responses={**ERRORS, 422: {"model": ErrorBody, "description": "not_verified or too_many_attempts"}},
    summary="Verify a resident: account reference + the property's postcode -> a 15-minute token",
)
def verify(body: VerificationIn, conn: DbDep) -> VerificationOut:
    ref = body.accountReference.strip()
    now = time.time()
    failures = conn.execute(
        "SELECT COUNT(*) FROM ct_verification_failures WHERE account_ref = ? AND failed_at > ?",
        (ref, now - LOCKOUT_SECONDS),
    ).fetchone()[0]
    if failures >= LOCKOUT_FAILURES:
        raise fail(422, "too_many_attempts", "Too many attempts for this account; try again in 15 minutes")
    row = conn.execute("SELECT * FROM ct_accounts WHERE account_ref = ?", (ref,)).fetchone()
    compact = re.sub(r"\s+", "", body.postcode).upper()
    if row is None or row["postcode"].replace(" ", "") != compact:
        conn.execute("INSERT INTO ct_verification_failures VALUES (?, ?)", (ref, now))
        conn.commit()  # the refusal below rolls the request back; the failure must count
        # Same answer for an unknown account and a wrong postcode: nothing to learn from it.
        raise fail(422, "not_verified", "The account reference and postcode do not match our records")
    token = secrets.token_urlsafe(24)
    expires = now + TOKEN_TTL_SECONDS
    conn.execute("INSERT INTO ct_tokens VALUES (?,?,?)", (_hash(token), ref, expires))
    return VerificationOut(
        accountReference=ref,
        token=token,
        expiresAt=dt.datetime.fromtimestamp(expires, dt.timezone.utc).replace(microsecond=0),
    )


@api.get(
    "/accounts/{account_reference}",
    response_model=AccountOut,
    responses=LEGAL,
    summary="Balance and instalments: band, charge, paid to date, balance, next instalment, arrears",
)
def get_account(account: VerifiedAccount, conn: DbDep, world: WorldDep) -> AccountOut:
    return account_view(conn, account, world.today)


@api.post(
    "/accounts/{account_reference}/payments",
    response_model=PaymentOut,
    status_code=201,
    responses={
        **LEGAL,
        200: {"model": PaymentOut, "description": "this payment was already recorded"},
        402: {
            "model": ErrorBody,
            "description": "payment_not_found, payment_not_successful, payment_amount_mismatch",
        },
        409: {"model": ErrorBody, "description": "payment_already_recorded (for another account or amount)"},
    },
    summary="Record a GOV.UK Pay payment; idempotent by payment id; the payment itself is the authority, "
    "so no verification token is needed",
)
def record_payment(
    body: PaymentIn, response: Response, conn: DbDep, world: WorldDep, account_reference: AccountRef
) -> PaymentOut:
    row = account_row(conn, account_reference)
    done = conn.execute("SELECT * FROM ct_payments WHERE payment_id = ?", (body.paymentId,)).fetchone()
    if done is None:
        problem = payment_problem(conn, body.paymentId, body.amountPence)
        if problem:
            raise fail(402, problem, "No successful payment of this amount")
        recorded_at = sandbox_now(world.today).isoformat()
        conn.execute(
            "INSERT INTO ct_payments VALUES (?,?,?,?)",
            (body.paymentId, account_reference, body.amountPence, recorded_at),
        )
        conn.execute(
            "UPDATE ct_accounts SET paid_pence = paid_pence + ? WHERE account_ref = ?",
            (body.amountPence, account_reference),
        )
        done = conn.execute("SELECT * FROM ct_payments WHERE payment_id = ?", (body.paymentId,)).fetchone()
    elif (done["account_ref"], done["amount_pence"]) != (account_reference, body.amountPence):
        raise fail(409, "payment_already_recorded", "This payment was recorded for another account or amount")
    else:
        response.status_code = 200
    row = account_row(conn, account_reference)
    return PaymentOut(
        paymentId=done["payment_id"],
        accountReference=account_reference,
        amountPence=done["amount_pence"],
        recordedAt=done["recorded_at"],
        balancePence=row["annual_charge_pence"] - row["paid_pence"],
    )


def _created(row: sqlite3.Row, response: Response, fresh: bool) -> RequestOut:
    response.status_code = 201 if fresh else 200
    return request_view(row)


@api.post(
    "/accounts/{account_reference}/moving-home",
    response_model=RequestOut,
    status_code=201,
    responses={
        **LEGAL,
        409: {"model": ErrorBody, "description": "move_already_reported"},
        422: {
            "model": ErrorBody,
            "description": "date_out_of_range, new_address_required, "
            "forwarding_address_required, not_in_area",
        },
    },
    summary="Tell us you are moving: moving-out date and new or forwarding address -> CT- reference",
)
def moving_home(
    body: MovingIn,
    response: Response,
    account: VerifiedAccount,
    conn: DbDep,
    world: WorldDep,
    idempotency_key: IdempotencyKey = None,
) -> RequestOut:
    details = body.dict()
    ref = account["account_ref"]
    again = replayed(conn, idempotency_key, ref, "moving_home", details)
    if again is not None:
        return _created(again, response, fresh=False)
    today = world.today
    if not add_years(today, -1) <= body.movingOutDate <= today + dt.timedelta(days=90):
        raise fail(
            422, "date_out_of_range", "The moving date must be within the last year or the next 90 days"
        )
    if body.movingWithinArea and not (body.newUprn or body.newAddress):
        raise fail(422, "new_address_required", "Give the new address (newUprn or newAddress)")
    if body.newUprn and body.newUprn not in {a.uprn for a in world.addresses}:
        raise fail(422, "not_in_area", "The new address is not in this council's area")
    if not body.movingWithinArea and not body.forwardingAddress:
        raise fail(422, "forwarding_address_required", "Give a forwarding address for the final bill")
    if account["moving_out_date"]:
        raise fail(409, "move_already_reported", "A move has already been reported for this account")
    conn.execute(
        "UPDATE ct_accounts SET moving_out_date = ? WHERE account_ref = ?",
        (body.movingOutDate.isoformat(), ref),
    )
    notes = (
        "We will close this account and open one at the new address."
        if body.movingWithinArea
        else "We will send a final bill to the forwarding address."
    )
    return _created(
        record_request(conn, world, ref, "moving_home", "received", notes, details, idempotency_key),
        response,
        fresh=True,
    )


@api.post(
    "/accounts/{account_reference}/single-person-discount",
    response_model=RequestOut,
    status_code=201,
    responses={
        **LEGAL,
        409: {"model": ErrorBody, "description": "already_receiving_discount, application_pending"},
        422: {"model": ErrorBody, "description": "date_out_of_range"},
    },
    summary="Apply for the 25% single person discount from a date -> CT- reference",
)
def single_person_discount(
    body: DiscountIn,
    response: Response,
    account: VerifiedAccount,
    conn: DbDep,
    world: WorldDep,
    idempotency_key: IdempotencyKey = None,
) -> RequestOut:
    details = body.dict()
    ref = account["account_ref"]
    again = replayed(conn, idempotency_key, ref, "single_person_discount", details)
    if again is not None:
        return _created(again, response, fresh=False)
    if not add_years(world.today, -6) <= body.livingAloneFrom <= world.today:
        raise fail(422, "date_out_of_range", "The date must be today or earlier, and within the last 6 years")
    if account["single_person_discount"]:
        raise fail(409, "already_receiving_discount", "This account already has the single person discount")
    if conn.execute(
        "SELECT 1 FROM ct_requests WHERE account_ref = ? AND type = 'single_person_discount' "
        "AND status IN ('received', 'in_progress')",
        (ref,),
    ).fetchone():
        raise fail(409, "application_pending", "An application for this account is already being assessed")
    row = record_request(
        conn,
        world,
        ref,
        "single_person_discount",
        "received",
        "We will assess the application and send a new bill.",
        details,
        idempotency_key,
    )
    return _created(row, response, fresh=True)


def _direct_debit(conn: sqlite3.Connection, account: sqlite3.Row, today: dt.date) -> DirectDebitOut:
    if account["payment_method"] != "direct_debit":
        return DirectDebitOut(active=False, paymentDay=None, nextCollection=None)
    upcoming = [
        i
        for i in account_view(conn, account, today).instalments
        if i.dueDate >= today and i.outstandingPence and i.dueDate.day == account["dd_day"]
    ]
    return DirectDebitOut(
        active=True,
        paymentDay=account["dd_day"],
        nextCollection=NextInstalment(dueDate=upcoming[0].dueDate, amountPence=upcoming[0].outstandingPence)
        if upcoming
        else None,
    )


@api.get(
    "/accounts/{account_reference}/direct-debit",
    response_model=DirectDebitOut,
    responses=LEGAL,
    summary="Direct debit: active? payment day, next collection",
)
def get_direct_debit(account: VerifiedAccount, conn: DbDep, world: WorldDep) -> DirectDebitOut:
    return _direct_debit(conn, account, world.today)


@api.put(
    "/accounts/{account_reference}/direct-debit",
    response_model=DayChangeOut,
    responses={
        **LEGAL,
        409: {"model": ErrorBody, "description": "no_direct_debit"},
        422: {"model": ErrorBody, "description": "invalid_payment_day"},
    },
    summary="Change the direct debit day to the 1st, 8th, 15th, 22nd or 28th (idempotent)",
)
def change_payment_day(body: DayIn, account: VerifiedAccount, conn: DbDep, world: WorldDep) -> DayChangeOut:
    ref = account["account_ref"]
    if body.paymentDay not in DIRECT_DEBIT_DAYS:
        raise fail(422, "invalid_payment_day", "The payment day must be the 1st, 8th, 15th, 22nd or 28th")
    if account["payment_method"] != "direct_debit":
        raise fail(409, "no_direct_debit", "This account does not pay by direct debit")
    last = conn.execute(
        "SELECT * FROM ct_requests WHERE account_ref = ? AND type = 'direct_debit_change' "
        "ORDER BY received_at DESC LIMIT 1",
        (ref,),
    ).fetchone()
    if account["dd_day"] == body.paymentDay:  # a repeat, or no change asked for
        details = json.loads(last["details"]) if last else {}
        return DayChangeOut(
            paymentDay=body.paymentDay,
            changed=False,
            effectiveFrom=details.get("effectiveFrom"),
            reference=last["reference"] if details.get("paymentDay") == body.paymentDay else None,
        )
    effective = redate_instalments(conn, ref, body.paymentDay, world.today)
    conn.execute("UPDATE ct_accounts SET dd_day = ? WHERE account_ref = ?", (body.paymentDay, ref))
    row = record_request(
        conn,
        world,
        ref,
        "direct_debit_change",
        "completed",
        "Payment day changed.",
        {"paymentDay": body.paymentDay, "effectiveFrom": effective},
        working_days=None,
    )
    return DayChangeOut(
        paymentDay=body.paymentDay, changed=True, effectiveFrom=effective, reference=row["reference"]
    )


@api.post(
    "/accounts/{account_reference}/direct-debit/setup-links",
    response_model=SetupLinkOut,
    status_code=201,
    responses={**LEGAL, 409: {"model": ErrorBody, "description": "direct_debit_active"}},
    summary="A one-use link to the secure direct debit form (bank details never go through chat)",
)
def setup_link(account: VerifiedAccount, conn: DbDep, settings: SettingsDep) -> SetupLinkOut:
    if account["payment_method"] == "direct_debit":
        raise fail(
            409, "direct_debit_active", "This account already pays by direct debit; change the day instead"
        )
    session = secrets.token_urlsafe(24)
    expires = time.time() + SETUP_LINK_TTL_SECONDS
    conn.execute(
        "INSERT INTO ct_dd_sessions VALUES (?,?,?,NULL)", (_hash(session), account["account_ref"], expires)
    )
    return SetupLinkOut(
        url=f"{settings.public_url}/council-tax/v1/forms/direct-debit?session={session}",
        expiresAt=dt.datetime.fromtimestamp(expires, dt.timezone.utc).replace(microsecond=0),
    )


@api.get(
    "/requests/{reference}",
    response_model=RequestOut,
    responses={**ERRORS, 404: {"model": ErrorBody, "description": "request_not_found"}},
    summary="A request's status by its CT- reference (no verification needed: it shows no personal data)",
)
def get_request(conn: DbDep, reference: str = Path(..., max_length=20)) -> RequestOut:
    row = fetch_one(
        conn,
        "SELECT * FROM ct_requests WHERE reference = ?",
        (reference.strip().upper(),),
        missing=fail(404, "request_not_found", "No request with that reference"),
    )
    return request_view(row)


# --- the secure direct debit form (a stand-in for the council's payment provider's page) -----

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Council Tax</title>
<style>body{{font-family:Arial,sans-serif;max-width:38rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
label{{display:block;font-weight:bold;margin-top:1rem}}input[type=text]{{font-size:1rem;padding:.3rem}}
.error{{color:#d4351c;font-weight:bold}}button{{margin-top:1.5rem;font-size:1rem;padding:.5rem 1rem}}</style>
</head><body><main><h1>{title}</h1>{body}</main></body></html>"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        PAGE.format(title=html.escape(title), body=body),
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def live_session(conn: sqlite3.Connection, session: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM ct_dd_sessions WHERE session_hash = ? AND used_at IS NULL AND expires_at > ?",
        (_hash(session), time.time()),
    ).fetchone()


def ordinal(day: int) -> str:
    return f"{day}{ {1: 'st', 21: 'st', 2: 'nd', 22: 'nd', 3: 'rd', 23: 'rd'}.get(day, 'th') }"


def form_page(session: str, errors: list[str], status: int = 200) -> HTMLResponse:
    error_list = "".join(f"<li>{html.escape(e)}</li>" for e in errors)
    days = "".join(
        f'<div><input type="radio" id="day{d}" name="payment_day" value="{d}"{" checked" if d == 1 else ""}>'
        f'<label for="day{d}" style="display:inline;font-weight:normal">{ordinal(d)} '
        "of the month</label></div>"
        for d in DIRECT_DEBIT_DAYS
    )
    body = (
        (
            f'<div class="error" role="alert"><p>There is a problem</p><ul>{error_list}</ul></div>'
            if errors
            else ""
        )
        + '<form method="post" action="/council-tax/v1/forms/direct-debit">'
        f'<input type="hidden" name="session" value="{html.escape(session)}">'
        '<label for="holder">Name on the account</label>'
        '<input type="text" id="holder" name="account_holder" autocomplete="name">'
        '<label for="sort">Sort code</label>'
        '<input type="text" id="sort" name="sort_code" inputmode="numeric" autocomplete="off">'
        '<label for="number">Account number</label>'
        '<input type="text" id="number" name="account_number" inputmode="numeric" autocomplete="off">'
        f"<fieldset><legend>Payment day</legend>{days}</fieldset>"
        '<label><input type="checkbox" name="confirm" value="yes"> I am the account holder and the only '
        "person needed to authorise debits from this account</label>"
        '<button type="submit">Set up direct debit</button></form>'
    )
    return page("Set up a Direct Debit", body, status)


EXPIRED = (
    "This link has expired",
    "<p>Links to this form work once, for an hour. Ask the assistant for a new one.</p>",
)


@forms.get("/forms/direct-debit", response_class=HTMLResponse, summary="Secure direct debit form (HTML)")
def direct_debit_form(conn: DbDep, session: str = Query("", max_length=64)) -> HTMLResponse:
    if not session or live_session(conn, session) is None:
        return page(*EXPIRED, status=410)
    return form_page(session, [])


@forms.post("/forms/direct-debit", response_class=HTMLResponse, summary="Submit the direct debit form (HTML)")
def submit_direct_debit_form(
    conn: DbDep,
    world: WorldDep,
    session: str = Form("", max_length=64),
    account_holder: str = Form("", max_length=100),
    sort_code: str = Form("", max_length=20),
    account_number: str = Form("", max_length=20),
    payment_day: str = Form("1", max_length=2),
    confirm: str = Form("", max_length=3),
) -> HTMLResponse:
    found = live_session(conn, session) if session else None
    if found is None:
        return page(*EXPIRED, status=410)
    errors = []
    if not account_holder.strip():
        errors.append("Enter the name on the account")
    if not re.fullmatch(r"\d{6}", re.sub(r"[\s-]", "", sort_code)):
        errors.append("Enter a valid sort code, like 30-94-57")
    if not re.fullmatch(r"\d{8}", re.sub(r"\s", "", account_number)):
        errors.append("Enter a valid account number, like 00733445")
    if not payment_day.isdigit() or int(payment_day) not in DIRECT_DEBIT_DAYS:
        errors.append("Choose a payment day")
    if confirm != "yes":
        errors.append("Confirm that you can authorise debits from this account")
    if errors:
        return form_page(session, errors, status=400)
    ref, day = found["account_ref"], int(payment_day)
    # The bank details go to the payment provider; nothing of them is kept here.
    conn.execute(
        "UPDATE ct_dd_sessions SET used_at = ? WHERE session_hash = ?",
        (sandbox_now(world.today).isoformat(), found["session_hash"]),
    )
    conn.execute(
        "UPDATE ct_accounts SET payment_method = 'direct_debit', dd_day = ? WHERE account_ref = ?", (day, ref)
    )
    effective = redate_instalments(conn, ref, day, world.today)
    row = record_request(
        conn,
        world,
        ref,
        "direct_debit_setup",
        "completed",
        "Direct debit set up.",
        {"paymentDay": day, "effectiveFrom": effective},
        working_days=None,
    )
    first = f" The first payment will be on {effective:%-d %B %Y}." if effective else ""
    return page(
        "Direct Debit set up",
        f"<p>Your reference is <strong>{row['reference']}</strong>.{first}</p>"
        f"<p>You can close this page and return to the chat.</p>",
    )


router = APIRouter(prefix="/council-tax/v1", tags=["Council tax (our contract)"])
router.include_router(api)
router.include_router(forms)
