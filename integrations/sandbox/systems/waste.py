"""Waste collections and garden waste subscriptions: our own contract at ``/waste/v1``.

No public standard exists (Bartec Collective and Whitespace speak SOAP), so
this is the small REST contract documented in
``integrations/contracts/waste.md``, with one adapter per vendor later.

What it models: every property (UPRN) is on one round per bin type; a round
runs on a weekday every 1, 2 or 4 weeks, and moves one day later in a week
with a bank holiday on or before its day (England and Wales dates, Christmas
and New Year weeks included). Crews complete rounds and flag bins that were
not put out. Garden waste is collected only for properties with a current
subscription, bought or renewed with a GOV.UK Pay payment.

Missed-bin reports live in one place: the Open311 ``open311_requests`` table
(the Open311 endpoint is the council's front door to the waste system). This
module reads that table for the missed-bin pre-check and a property's request
list; the Open311 module calls ``missed_bin_check`` before it accepts a
missed-bin request, so the two always agree. Seeded reports come from
``plan(world)``, which both modules compute the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from integrations.office_hours import is_bank_holiday
from integrations.sandbox.db import fetch_one
from integrations.sandbox.deps import WorldDep, get_db
from integrations.sandbox.world import LONDON, SEED, Address, World

#: A connection committed when the route returns, *before* the response is sent, so that the
#: client's next call sees what this one wrote (deps.DbDep commits after the response has gone).
DbDep = Annotated[sqlite3.Connection, Depends(get_db, scope="function")]

PATH_PREFIXES = ("/waste/v1",)
VALID_KEYS = {"sandbox-waste-key"}
#: The Open311 module's table, which holds every missed-bin report and bin delivery.
REQUESTS_TABLE = "open311_requests"

# --- the calendar ---------------------------------------------------------------
# England and Wales bank holidays come from ``integrations.office_hours``: one calendar for all.


def no_collection_day(day: dt.date) -> bool:
    """Crews never work Sundays, bank holidays, Christmas Day or New Year's Day."""
    return day.weekday() == 6 or is_bank_holiday(day) or (day.month, day.day) in ((12, 25), (1, 1))


def shift_for_holidays(planned: dt.date) -> dt.date:
    """A collection moves one day later in a week with a bank holiday on or before its day,
    and on past any day crews do not work (so Friday's round in Christmas week is on Saturday)."""
    monday = planned - dt.timedelta(days=planned.weekday())
    day = planned
    if any(is_bank_holiday(monday + dt.timedelta(days=i)) for i in range(planned.weekday() + 1)):
        day += dt.timedelta(days=1)
    while no_collection_day(day):
        day += dt.timedelta(days=1)
    return day


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and not is_bank_holiday(day)


def working_day_from(day: dt.date) -> dt.date:
    """``day`` if it is a working day, else the next one."""
    return day if is_working_day(day) else add_working_days(day, 1)


def add_working_days(day: dt.date, count: int) -> dt.date:
    """``count`` working days after (or, if negative, before) ``day``."""
    step = dt.timedelta(days=1 if count >= 0 else -1)
    remaining = abs(count)
    while remaining:
        day += step
        if is_working_day(day):
            remaining -= 1
    return day


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def sandbox_now(today: dt.date) -> dt.datetime:
    """Now in Europe/London, on the sandbox's day (which tests and demos may pin)."""
    clock = dt.datetime.now(LONDON)
    return dt.datetime.combine(today, clock.time().replace(microsecond=0), tzinfo=LONDON)


# --- rounds -----------------------------------------------------------------------

EPOCH_MONDAY = dt.date(2024, 1, 1)
DAYS = ("MON", "TUE", "WED", "THU", "FRI")
BinType = Literal["general_waste", "recycling", "glass", "food", "garden"]


@dataclass(frozen=True)
class BinService:
    code: str
    name: str
    interval_weeks: int


BIN_SERVICES: dict[str, BinService] = {
    "general_waste": BinService("REF", "General waste (black bin)", 2),
    "recycling": BinService("REC", "Recycling (blue bin)", 2),
    "glass": BinService("GLS", "Glass (black box)", 4),
    "food": BinService("FOOD", "Food waste (caddy)", 1),
    "garden": BinService("GDN", "Garden waste (green bin)", 2),
}
#: Bin types every property has; garden waste needs a subscription.
STANDARD_TYPES = ("general_waste", "recycling", "food", "glass")


@dataclass(frozen=True)
class Round:
    round_id: str
    bin_type: str
    weekday: int
    interval_weeks: int
    week_offset: int

    def collections(self, start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
        """(planned, actual) dates whose actual day falls in [start, end]."""
        found = []
        monday = start - dt.timedelta(days=start.weekday() + 7)
        while monday <= end:
            week = (monday - EPOCH_MONDAY).days // 7
            if (week - self.week_offset) % self.interval_weeks == 0:
                planned = monday + dt.timedelta(days=self.weekday)
                actual = shift_for_holidays(planned)
                if start <= actual <= end:
                    found.append((planned, actual))
            monday += dt.timedelta(days=7)
        return found

    def last_on_or_before(self, day: dt.date) -> dt.date | None:
        dates = self.collections(day - dt.timedelta(weeks=self.interval_weeks + 1), day)
        return dates[-1][1] if dates else None

    def next_after(self, day: dt.date) -> dt.date | None:
        dates = self.collections(
            day + dt.timedelta(days=1), day + dt.timedelta(weeks=self.interval_weeks + 1)
        )
        return dates[0][1] if dates else None


def all_rounds() -> list[Round]:
    rounds = []
    for day_index, day in enumerate(DAYS):
        offsets = {
            "general_waste": day_index % 2,
            "recycling": (day_index + 1) % 2,  # the other week from general waste
            "glass": day_index % 4,
            "food": 0,
            "garden": (day_index + 1) % 2,
        }
        for bin_type, service in BIN_SERVICES.items():
            rounds.append(
                Round(f"{service.code}-{day}", bin_type, day_index, service.interval_weeks, offsets[bin_type])
            )
    return rounds


def round_from_row(row: sqlite3.Row) -> Round:
    return Round(row["round_id"], row["bin_type"], row["weekday"], row["interval_weeks"], row["week_offset"])


# --- the seed plan (pure: the Open311 module computes the same one) ---------------


@dataclass(frozen=True)
class SeedReport:
    reference: str
    uprn: str
    bin_type: str
    collection_date: dt.date
    requested: dt.datetime
    status: str
    notes: str


@dataclass
class WastePlan:
    rounds: list[Round]
    day_of_postcode: dict[str, int]
    subscriptions: list[tuple[str, str, int, dt.date, dt.date, str]] = field(default_factory=list)
    runs: list[tuple[str, dt.date, str, str | None, dt.date | None]] = field(default_factory=list)
    not_out: list[tuple[str, str, dt.date]] = field(default_factory=list)
    reports: list[SeedReport] = field(default_factory=list)
    demo_cases: list[tuple[str, str, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rounds_by_id = {r.round_id: r for r in self.rounds}

    def round_for(self, address: Address, bin_type: str) -> Round:
        return self.rounds_by_id[
            f"{BIN_SERVICES[bin_type].code}-{DAYS[self.day_of_postcode[address.postcode]]}"
        ]


def _reference(rng: random.Random, prefix: str, used: set[str]) -> str:
    while True:
        ref = f"{prefix}-{rng.randint(100000, 999999)}"
        if ref not in used:
            used.add(ref)
            return ref


def plan(world: World) -> WastePlan:
    return _plan(world.today, tuple(world.addresses))


@lru_cache(maxsize=4)
def _plan(today: dt.date, addresses: tuple[Address, ...]) -> WastePlan:
    rng = random.Random(f"{SEED}-waste")
    postcodes = sorted({a.postcode for a in addresses})
    rng.shuffle(postcodes)
    result = WastePlan(all_rounds(), {pc: i % len(DAYS) for i, pc in enumerate(postcodes)})
    used: set[str] = set()

    # Garden waste: four fixed cases at SN15 1ER for demos, the rest at random.
    fixed = {"1": ("current", 20), "2": ("current", 200), "3": ("lapsed", -40), "4": ("none", 0)}
    for a in addresses:
        if a.postcode == "SN15 1ER" and a.building_number in fixed:
            state, days = fixed[a.building_number]
        else:
            draw = rng.random()
            state = "current" if draw < 0.45 else "lapsed" if draw < 0.65 else "none"
            days = rng.randint(1, 330) if state == "current" else -rng.randint(1, 400)
        if state == "none":
            continue
        expiry = today + dt.timedelta(days=days)
        start = add_years(expiry, -1) + dt.timedelta(days=1)
        bins = 2 if rng.random() < 0.2 else 1
        result.subscriptions.append((_reference(rng, "GW", used), a.uprn, bins, start, expiry, state))

    # Rounds run in the last three working days: completed; today's: half done, half under way.
    recent_start = add_working_days(today, -3)
    todays = sorted(
        (r.round_id for r in result.rounds if r.collections(today, today)),
        key=lambda rid: (rid[:3] == "GDN", rid),
    )
    for r in result.rounds:
        for _, actual in r.collections(recent_start, today - dt.timedelta(days=1)):
            result.runs.append(
                (r.round_id, actual, "completed", f"{rng.randint(11, 15)}:{rng.randint(0, 59):02d}", None)
            )
    for i, round_id in enumerate(todays):
        done = i % 2 == 0
        result.runs.append(
            (
                round_id,
                today,
                "completed" if done else "in_progress",
                f"{rng.randint(11, 13)}:{rng.randint(0, 59):02d}" if done else None,
                None,
            )
        )
    # The most recent food round before today broke down and is being caught up.
    delayed: str | None = None
    food_runs = sorted((d, rid) for rid, d, *_ in result.runs if rid.startswith("FOOD-") and d < today)
    if food_runs:
        when, delayed = food_runs[-1]
        catch_up = working_day_from(today)
        result.runs = [run for run in result.runs if run[:2] != (delayed, when)]
        result.runs.append((delayed, when, "delayed", None, catch_up))

    # Crews flag two bins not put out on each round completed in the last two working days.
    on_round: dict[str, list[Address]] = {}
    for a in addresses:
        for bin_type in STANDARD_TYPES:
            on_round.setdefault(result.round_for(a, bin_type).round_id, []).append(a)
    window_start = add_working_days(today, -2)
    for round_id, when, status, *_ in sorted(result.runs, key=lambda run: (run[1], run[0])):
        if status == "completed" and window_start <= when < today and not round_id.startswith("GDN-"):
            bin_type = result.rounds_by_id[round_id].bin_type
            for a in rng.sample(on_round[round_id], 2):
                result.not_out.append((a.uprn, bin_type, when))

    # Candidates for a missed-bin report today, SN15 1ER first.
    ordered = [a for a in addresses if a.postcode == "SN15 1ER"] + [
        a for a in addresses if a.postcode != "SN15 1ER"
    ]
    flagged = {(u, t) for u, t, _ in result.not_out}
    eligible: list[tuple[Address, str, dt.date]] = []
    too_late: list[tuple[Address, str]] = []
    not_due: list[tuple[Address, str]] = []
    on_delayed: list[tuple[Address, str]] = []
    in_progress = {rid for rid, d, status, *_ in result.runs if d == today and status == "in_progress"}
    for a in ordered:
        for bin_type in ("general_waste", "recycling", "food", "glass"):
            r = result.round_for(a, bin_type)
            due = r.last_on_or_before(today)
            if due is None:
                continue
            if r.round_id == delayed and due < today:
                on_delayed.append((a, bin_type))
            elif due == today and r.round_id in in_progress:
                not_due.append((a, bin_type))
            elif due < today <= add_working_days(due, 2) and (a.uprn, bin_type) not in flagged:
                eligible.append((a, bin_type, due))
            elif today > add_working_days(due, 2):
                too_late.append((a, bin_type))

    # Two open reports on recent collections, and one older one the crew has dealt with.
    for a, bin_type, due in eligible[1:3]:
        requested = dt.datetime.combine(due, dt.time(18, 40), tzinfo=LONDON)
        result.reports.append(
            SeedReport(
                _reference(rng, "MB", used),
                a.uprn,
                bin_type,
                due,
                requested,
                "open",
                "Passed to the collection crew.",
            )
        )
    if too_late:
        a, bin_type = too_late[-1]
        due = result.round_for(a, bin_type).last_on_or_before(today) or today
        requested = dt.datetime.combine(due, dt.time(17, 5), tzinfo=LONDON)
        result.reports.append(
            SeedReport(
                _reference(rng, "MB", used),
                a.uprn,
                bin_type,
                due,
                requested,
                "closed",
                f"Collected on {add_working_days(due, 1):%A %-d %B}.",
            )
        )

    by_uprn = {a.uprn: a for a in addresses}

    def case(name: str, uprn: str, bin_type: str, note: str) -> None:
        result.demo_cases.append((name, uprn, bin_type, f"{by_uprn[uprn].single_line}: {note}"))

    if eligible:
        case("missed_bin_eligible", eligible[0][0].uprn, eligible[0][1], "report accepted")
    for report in result.reports[:1]:
        case("missed_bin_already_reported", report.uprn, report.bin_type, f"open report {report.reference}")
    if result.not_out:
        uprn, bin_type, _ = result.not_out[0]
        case("missed_bin_not_out", uprn, bin_type, "crew says the bin was not out")
    if too_late:
        case("missed_bin_too_late", too_late[0][0].uprn, too_late[0][1], "more than 2 working days ago")
    if not_due:
        case("missed_bin_not_due", not_due[0][0].uprn, not_due[0][1], "round still under way today")
    if on_delayed:
        case("missed_bin_round_delayed", on_delayed[0][0].uprn, on_delayed[0][1], "crew returning")
    for number, name in (
        ("1", "garden_current_renewable"),
        ("2", "garden_current"),
        ("3", "garden_lapsed"),
        ("4", "garden_none"),
    ):
        uprn = next(a.uprn for a in addresses if a.postcode == "SN15 1ER" and a.building_number == number)
        case(name, uprn, "garden", name.removeprefix("garden_").replace("_", " "))
    return result


SCHEMA = """
CREATE TABLE waste_rounds (
    round_id TEXT PRIMARY KEY,
    bin_type TEXT NOT NULL,
    weekday INTEGER NOT NULL,
    interval_weeks INTEGER NOT NULL,
    week_offset INTEGER NOT NULL
);
CREATE TABLE waste_property_rounds (
    uprn TEXT NOT NULL,
    bin_type TEXT NOT NULL,
    round_id TEXT NOT NULL REFERENCES waste_rounds (round_id),
    PRIMARY KEY (uprn, bin_type)
);
CREATE TABLE waste_round_runs (
    round_id TEXT NOT NULL REFERENCES waste_rounds (round_id),
    run_date TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('in_progress', 'completed', 'delayed')),
    completed_at TEXT,
    catch_up_date TEXT,
    PRIMARY KEY (round_id, run_date)
);
CREATE TABLE waste_collection_exceptions (
    uprn TEXT NOT NULL,
    bin_type TEXT NOT NULL,
    collection_date TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (uprn, bin_type, collection_date)
);
CREATE TABLE waste_garden_subscriptions (
    reference TEXT PRIMARY KEY,
    uprn TEXT NOT NULL,
    bins INTEGER NOT NULL CHECK (bins BETWEEN 1 AND 3),
    start_date TEXT NOT NULL,
    expiry_date TEXT NOT NULL,
    payment_id TEXT UNIQUE,
    amount_pence INTEGER,
    renewal_key TEXT UNIQUE,
    created_at TEXT NOT NULL
);
CREATE INDEX waste_garden_uprn ON waste_garden_subscriptions (uprn, expiry_date);
CREATE TABLE waste_demo_cases (
    name TEXT PRIMARY KEY,
    uprn TEXT NOT NULL,
    bin_type TEXT NOT NULL,
    note TEXT NOT NULL
);
"""


def seed(conn: sqlite3.Connection, world: World) -> None:
    p = plan(world)
    conn.executemany(
        "INSERT INTO waste_rounds VALUES (?,?,?,?,?)",
        [(r.round_id, r.bin_type, r.weekday, r.interval_weeks, r.week_offset) for r in p.rounds],
    )
    conn.executemany(
        "INSERT INTO waste_property_rounds VALUES (?,?,?)",
        [(a.uprn, t, p.round_for(a, t).round_id) for a in world.addresses for t in BIN_SERVICES],
    )
    conn.executemany(
        "INSERT INTO waste_round_runs VALUES (?,?,?,?,?)",
        [(rid, d.isoformat(), s, at, cu.isoformat() if cu else None) for rid, d, s, at, cu in p.runs],
    )
    conn.executemany(
        "INSERT INTO waste_collection_exceptions VALUES (?,?,?, 'not_out')",
        [(u, t, d.isoformat()) for u, t, d in p.not_out],
    )
    created = dt.datetime.combine(world.today, dt.time(9), tzinfo=LONDON).isoformat()
    conn.executemany(
        "INSERT INTO waste_garden_subscriptions VALUES (?,?,?,?,?,NULL,NULL,NULL,?)",
        [(ref, u, bins, s.isoformat(), e.isoformat(), created) for ref, u, bins, s, e, _ in p.subscriptions],
    )
    conn.executemany("INSERT INTO waste_demo_cases VALUES (?,?,?,?)", p.demo_cases)


# --- errors and auth ----------------------------------------------------------------

_CODES = {
    400: "bad_request",
    401: "invalid_api_key",
    402: "payment_required",
    404: "not_found",
    409: "conflict",
    422: "unprocessable",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """Our own contracts' error shape: ``{"error": {"status", "code", "message"}}``."""
    return {"error": {"status": status, "code": code or _CODES.get(status, "error"), "message": message}}


def fail(status: int, code: str, message: str) -> HTTPException:
    return HTTPException(status, error_body(status, message, code))


class ErrorDetail(BaseModel):
    status: int
    code: str = Field(..., example="property_not_found")
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input"},
    401: {"model": ErrorBody, "description": "missing or wrong X-Api-Key"},
    404: {"model": ErrorBody, "description": "unknown UPRN or reference"},
}


def api_key_check(valid_keys: Collection[str]) -> Callable[..., None]:
    """The route dependency of our own contracts: a missing or unknown ``X-Api-Key`` is a 401."""

    def check_key(x_api_key: str | None = Header(None, alias="X-Api-Key")) -> None:
        if x_api_key not in valid_keys:
            raise fail(401, "invalid_api_key", "Missing or invalid X-Api-Key")

    return check_key


check_key = api_key_check(VALID_KEYS)
router = APIRouter(prefix="/waste/v1", tags=["Waste (our contract)"], dependencies=[Depends(check_key)])


# --- response models ----------------------------------------------------------------


class ServiceOut(BaseModel):
    type: BinType
    name: str
    round: str
    day: str = Field(..., example="Monday")
    frequencyWeeks: int


class PropertyOut(BaseModel):
    uprn: str
    address: str
    postcode: str
    services: list[ServiceOut]


class CollectionOut(BaseModel):
    type: BinType
    collectionDate: dt.date
    round: str
    scheduledDate: dt.date = Field(
        ..., description="the usual day; differs from collectionDate after a bank holiday"
    )


class MissedReportOut(BaseModel):
    reference: str = Field(..., example="MB-104233")
    status: Literal["open", "closed"]


class RoundStatusOut(BaseModel):
    type: BinType
    round: str
    collectionDate: dt.date
    roundStatus: Literal["scheduled", "in_progress", "completed", "delayed"]
    completedAt: str | None = Field(None, example="13:42")
    catchUpDate: dt.date | None = None
    binNotOut: bool = Field(..., description="the crew recorded this property's bin as not put out")
    missedReport: MissedReportOut | None = None


CheckStatus = Literal[
    "eligible", "not_due", "already_reported", "not_out", "too_late", "round_delayed", "no_service"
]


class MissedBinCheckOut(BaseModel):
    uprn: str
    type: BinType
    status: CheckStatus
    eligible: bool
    round: str
    lastCollectionDate: dt.date | None = None
    nextCollectionDate: dt.date | None = None
    reportBy: dt.date | None = Field(None, description="last day a missed collection can be reported")
    roundStatus: str | None = None
    catchUpDate: dt.date | None = None
    existingReference: str | None = None
    message: str


class ServiceRequestOut(BaseModel):
    reference: str
    service: Literal["missed_bin", "bin_delivery"]
    binType: str | None = None
    status: Literal["open", "closed"]
    statusNotes: str | None = None
    requestedAt: str
    expectedBy: str | None = None


class GardenWasteOut(BaseModel):
    uprn: str
    status: Literal["none", "current", "lapsed"]
    reference: str | None = None
    bins: int | None = None
    startDate: dt.date | None = None
    expiryDate: dt.date | None = None
    renewalWindowOpens: dt.date | None = Field(None, description="for a current subscription")
    canRenew: bool


class QuoteOut(BaseModel):
    uprn: str
    kind: Literal["renewal", "new"]
    bins: int
    firstBinPence: int = 5200
    additionalBinPence: int = 4000
    maxBins: int = 3
    totalPence: int
    startDate: dt.date
    expiryDate: dt.date
    canRenew: bool
    renewalWindowOpens: dt.date | None = None


class RenewalIn(BaseModel):
    bins: int = Field(..., ge=1, le=3)
    paymentId: str = Field(
        ..., min_length=1, max_length=64, description="a GOV.UK Pay payment in state success"
    )


class SubscriptionOut(BaseModel):
    reference: str = Field(..., example="GW-482913")
    uprn: str
    bins: int
    startDate: dt.date
    expiryDate: dt.date
    status: Literal["current", "lapsed"]
    paymentId: str | None = None


# --- shared lookups (the Open311 and council tax modules use some of these) -----------

FIRST_BIN_PENCE = 5200
ADDITIONAL_BIN_PENCE = 4000
MAX_BINS = 3
RENEWAL_WINDOW_DAYS = 42
REPORT_WITHIN_WORKING_DAYS = 2
TEST_PAYMENT_PREFIX = "test-success-"


def garden_price(bins: int) -> int:
    return FIRST_BIN_PENCE + ADDITIONAL_BIN_PENCE * (bins - 1)


def address_of(world: World, uprn: str) -> Address:
    for a in world.addresses:
        if a.uprn == uprn:
            return a
    raise fail(404, "property_not_found", "No property with that UPRN")


def property_rounds(conn: sqlite3.Connection, uprn: str) -> dict[str, Round]:
    rows = conn.execute(
        "SELECT r.* FROM waste_property_rounds p JOIN waste_rounds r USING (round_id) WHERE p.uprn = ?",
        (uprn,),
    ).fetchall()
    return {row["bin_type"]: round_from_row(row) for row in rows}


def subscriptions(conn: sqlite3.Connection, uprn: str) -> list[sqlite3.Row]:
    return conn.execute(
        "SELECT * FROM waste_garden_subscriptions WHERE uprn = ? ORDER BY expiry_date", (uprn,)
    ).fetchall()


def subscribed_on(subs: list[sqlite3.Row], day: dt.date) -> bool:
    iso = day.isoformat()
    return any(s["start_date"] <= iso <= s["expiry_date"] for s in subs)


def run_status(conn: sqlite3.Connection, round_id: str, day: dt.date, today: dt.date) -> sqlite3.Row | dict:
    row = conn.execute(
        "SELECT * FROM waste_round_runs WHERE round_id = ? AND run_date = ?", (round_id, day.isoformat())
    ).fetchone()
    if row is not None:
        return row
    return {
        "status": "completed" if day < today else "scheduled",
        "completed_at": None,
        "catch_up_date": None,
    }


def missed_report(conn: sqlite3.Connection, uprn: str, bin_type: str, since: dt.date) -> sqlite3.Row | None:
    """The latest missed-bin report for this bin made on or after ``since`` (open or closed)."""
    return conn.execute(
        f"SELECT service_request_id, status FROM {REQUESTS_TABLE} WHERE service_code = 'missed_bin' "
        "AND uprn = ? AND bin_type = ? AND substr(requested_datetime, 1, 10) >= ? "
        "ORDER BY requested_datetime DESC LIMIT 1",
        (uprn, bin_type, since.isoformat()),
    ).fetchone()


def bin_not_out(conn: sqlite3.Connection, uprn: str, bin_type: str, day: dt.date) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM waste_collection_exceptions "
            "WHERE uprn = ? AND bin_type = ? AND collection_date = ? AND reason = 'not_out'",
            (uprn, bin_type, day.isoformat()),
        ).fetchone()
        is not None
    )


def missed_bin_check(conn: sqlite3.Connection, world: World, uprn: str, bin_type: str) -> MissedBinCheckOut:
    """Can a missed collection of this bin be reported today? The one rule both APIs apply."""
    address_of(world, uprn)
    today = world.today
    rnd = property_rounds(conn, uprn)[bin_type]
    base: dict[str, Any] = {"uprn": uprn, "type": bin_type, "round": rnd.round_id}

    def result(status: str, message: str, **extra: Any) -> MissedBinCheckOut:
        return MissedBinCheckOut(
            **base, status=status, eligible=status == "eligible", message=message, **extra
        )

    due, upcoming = rnd.last_on_or_before(today), rnd.next_after(today)
    if bin_type == "garden":
        subs = subscriptions(conn, uprn)
        if not subscribed_on(subs, today):
            return result("no_service", "This property has no current garden waste subscription.")
        due = due if due and subscribed_on(subs, due) else None
    base.update(lastCollectionDate=due, nextCollectionDate=upcoming)
    if due is None:
        return result("not_due", "No collection of this bin is due yet.")
    run = run_status(conn, rnd.round_id, due, today)
    base["roundStatus"] = run["status"]
    if run["status"] in ("scheduled", "in_progress"):
        return result("not_due", "The crew has not finished this round yet; it runs until 6pm.")
    if run["status"] == "delayed":
        catch_up = dt.date.fromisoformat(run["catch_up_date"])
        return result(
            "round_delayed",
            f"The round was delayed; the crew will return on {catch_up:%A %-d %B}.",
            catchUpDate=catch_up,
        )
    report_by = add_working_days(due, REPORT_WITHIN_WORKING_DAYS)
    base["reportBy"] = report_by
    existing = missed_report(conn, uprn, bin_type, due)
    if existing is not None:
        return result(
            "already_reported",
            "A missed collection has already been reported for this bin.",
            existingReference=existing["service_request_id"],
        )
    if bin_not_out(conn, uprn, bin_type, due):
        return result("not_out", "The crew recorded that the bin was not out on the collection day.")
    if today > report_by:
        return result("too_late", "Missed collections must be reported within 2 working days.")
    return result("eligible", "The missed collection can be reported.")


# --- payments: checked in the GOV.UK Pay sandbox's own table, when there is one ---------


def _pay_table(conn: sqlite3.Connection) -> tuple[str, str, str, str] | None:
    """(table, id column, state column, amount column) of the Pay sandbox's payments."""
    tables = [
        r[0]
        for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%pay%'")
    ]
    for table in sorted(tables, key=lambda t: (t != "payments", t)):
        columns = {r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')}
        id_col = next((c for c in ("payment_id", "id") if c in columns), None)
        state_col = next((c for c in ("state", "status") if c in columns), None)
        if id_col and state_col and "amount" in columns:
            return table, id_col, state_col, "amount"
    return None


def payment_problem(conn: sqlite3.Connection, payment_id: str, amount_pence: int) -> str | None:
    """None if ``payment_id`` is a successful payment of ``amount_pence``; otherwise why not.

    Ids starting ``test-success-`` stand for a successful payment of the right amount (like
    Pay's test cards); any other id must be in the Pay sandbox's table, in state ``success``.
    """
    if payment_id.startswith(TEST_PAYMENT_PREFIX):
        return None
    found = _pay_table(conn)
    if found is None:
        return "payment_not_found"
    table, id_col, state_col, amount_col = found
    row = conn.execute(
        f'SELECT "{state_col}" AS state, "{amount_col}" AS amount FROM "{table}" WHERE "{id_col}" = ?',
        (payment_id,),
    ).fetchone()
    if row is None:
        return "payment_not_found"
    state = row["state"]
    if isinstance(state, str) and state.startswith("{"):
        state = json.loads(state).get("status")
    if state != "success":
        return "payment_not_successful"
    if int(row["amount"]) != amount_pence:
        return "payment_amount_mismatch"
    return None


# --- routes ---------------------------------------------------------------------------

Uprn = Annotated[str, Path(pattern=r"^\d{1,12}$", description="Unique Property Reference Number")]
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


@router.get(
    "/properties/{uprn}",
    response_model=PropertyOut,
    responses=ERRORS,
    summary="A property's waste services: round, day and frequency per bin type",
)
def get_property(conn: DbDep, world: WorldDep, uprn: Uprn) -> PropertyOut:
    address = address_of(world, uprn)
    rounds = sorted(property_rounds(conn, uprn).items(), key=lambda item: list(BIN_SERVICES).index(item[0]))
    return PropertyOut(
        uprn=uprn,
        address=address.single_line,
        postcode=address.postcode,
        services=[
            ServiceOut(
                type=t,
                name=BIN_SERVICES[t].name,
                round=r.round_id,
                day=DAY_NAMES[r.weekday],
                frequencyWeeks=r.interval_weeks,
            )
            for t, r in rounds
        ],
    )


@router.get(
    "/properties/{uprn}/collections",
    response_model=list[CollectionOut],
    responses=ERRORS,
    summary="Collection schedule per bin type, with bank-holiday shifts (default: the next 4 weeks)",
)
def collections(
    conn: DbDep,
    world: WorldDep,
    uprn: Uprn,
    start: dt.date | None = Query(None, alias="from", description="first day, default today"),
    end: dt.date | None = Query(None, alias="to", description="last day, default from + 27 days"),
) -> list[CollectionOut]:
    address_of(world, uprn)
    start = start or world.today
    end = end or start + dt.timedelta(days=27)
    if end < start:
        raise fail(400, "bad_request", "'to' is before 'from'")
    if (end - start).days > 366:
        raise fail(400, "bad_request", "At most 366 days at a time")
    subs = subscriptions(conn, uprn)
    found = [
        CollectionOut(type=t, collectionDate=actual, round=r.round_id, scheduledDate=planned)
        for t, r in property_rounds(conn, uprn).items()
        for planned, actual in r.collections(start, end)
        if t != "garden" or subscribed_on(subs, actual)
    ]
    return sorted(found, key=lambda c: (c.collectionDate, list(BIN_SERVICES).index(c.type)))


@router.get(
    "/properties/{uprn}/round-status",
    response_model=list[RoundStatusOut],
    responses=ERRORS,
    summary="Rounds due at this property on a day: completed? bin not out? already reported?",
)
def round_status(
    conn: DbDep,
    world: WorldDep,
    uprn: Uprn,
    day: dt.date | None = Query(None, alias="date", description="collection day, default today"),
) -> list[RoundStatusOut]:
    address_of(world, uprn)
    day = day or world.today
    subs = subscriptions(conn, uprn)
    out = []
    for bin_type, rnd in property_rounds(conn, uprn).items():
        if not rnd.collections(day, day) or (bin_type == "garden" and not subscribed_on(subs, day)):
            continue
        run = run_status(conn, rnd.round_id, day, world.today)
        report = missed_report(conn, uprn, bin_type, day)
        out.append(
            RoundStatusOut(
                type=bin_type,
                round=rnd.round_id,
                collectionDate=day,
                roundStatus=run["status"],
                completedAt=run["completed_at"],
                catchUpDate=run["catch_up_date"],
                binNotOut=bin_not_out(conn, uprn, bin_type, day),
                missedReport=MissedReportOut(reference=report["service_request_id"], status=report["status"])
                if report
                else None,
            )
        )
    return out


@router.get(
    "/properties/{uprn}/missed-bin-check",
    response_model=MissedBinCheckOut,
    responses=ERRORS,
    summary="Can a missed collection be reported? not due / already reported / not out / too late / eligible",
)
def check_missed_bin(
    conn: DbDep, world: WorldDep, uprn: Uprn, bin_type: BinType = Query(..., alias="type")
) -> MissedBinCheckOut:
    return missed_bin_check(conn, world, uprn, bin_type)


@router.get(
    "/properties/{uprn}/service-requests",
    response_model=list[ServiceRequestOut],
    responses=ERRORS,
    summary="Missed-bin reports and bin deliveries at this property, newest first",
)
def service_requests(conn: DbDep, world: WorldDep, uprn: Uprn) -> list[ServiceRequestOut]:
    address_of(world, uprn)
    rows = conn.execute(
        f"SELECT * FROM {REQUESTS_TABLE} WHERE uprn = ? AND service_code IN ('missed_bin', 'bin_delivery') "
        "ORDER BY requested_datetime DESC",
        (uprn,),
    ).fetchall()
    return [
        ServiceRequestOut(
            reference=r["service_request_id"],
            service=r["service_code"],
            binType=r["bin_type"],
            status=r["status"],
            statusNotes=r["status_notes"],
            requestedAt=r["requested_datetime"],
            expectedBy=r["expected_datetime"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class Terms:
    status: str
    latest: sqlite3.Row | None
    kind: str
    can_renew: bool
    window_opens: dt.date | None
    start: dt.date
    expiry: dt.date


def garden_terms(conn: sqlite3.Connection, uprn: str, today: dt.date) -> Terms:
    subs = subscriptions(conn, uprn)
    latest = subs[-1] if subs else None
    if latest is not None and dt.date.fromisoformat(latest["expiry_date"]) >= today:
        expiry = dt.date.fromisoformat(latest["expiry_date"])
        opens = expiry - dt.timedelta(days=RENEWAL_WINDOW_DAYS)
        start = expiry + dt.timedelta(days=1)
        return Terms(
            "current",
            latest,
            "renewal",
            today >= opens,
            opens,
            start,
            add_years(start, 1) - dt.timedelta(days=1),
        )
    status = "lapsed" if latest is not None else "none"
    return Terms(status, latest, "new", True, None, today, add_years(today, 1) - dt.timedelta(days=1))


@router.get(
    "/properties/{uprn}/garden-waste",
    response_model=GardenWasteOut,
    responses=ERRORS,
    summary="Garden waste subscription: none, current (with expiry) or lapsed",
)
def garden_waste(conn: DbDep, world: WorldDep, uprn: Uprn) -> GardenWasteOut:
    address_of(world, uprn)
    terms = garden_terms(conn, uprn, world.today)
    latest = terms.latest
    return GardenWasteOut(
        uprn=uprn,
        status=terms.status,
        reference=latest["reference"] if latest else None,
        bins=latest["bins"] if latest else None,
        startDate=latest["start_date"] if latest else None,
        expiryDate=latest["expiry_date"] if latest else None,
        renewalWindowOpens=terms.window_opens,
        canRenew=terms.can_renew,
    )


@router.get(
    "/properties/{uprn}/garden-waste/quote",
    response_model=QuoteOut,
    responses=ERRORS,
    summary="Price for 1-3 bins (£52 first, £40 each further) and the period it would cover",
)
def garden_quote(
    conn: DbDep, world: WorldDep, uprn: Uprn, bins: int = Query(..., ge=1, le=MAX_BINS)
) -> QuoteOut:
    address_of(world, uprn)
    terms = garden_terms(conn, uprn, world.today)
    return QuoteOut(
        uprn=uprn,
        kind=terms.kind,
        bins=bins,
        totalPence=garden_price(bins),
        startDate=terms.start,
        expiryDate=terms.expiry,
        canRenew=terms.can_renew,
        renewalWindowOpens=terms.window_opens,
    )


def _subscription_out(row: sqlite3.Row, today: dt.date) -> SubscriptionOut:
    return SubscriptionOut(
        reference=row["reference"],
        uprn=row["uprn"],
        bins=row["bins"],
        startDate=row["start_date"],
        expiryDate=row["expiry_date"],
        paymentId=row["payment_id"],
        status="current" if row["expiry_date"] >= today.isoformat() else "lapsed",
    )


@router.post(
    "/properties/{uprn}/garden-waste/subscriptions",
    response_model=SubscriptionOut,
    status_code=201,
    responses={
        **ERRORS,
        200: {
            "model": SubscriptionOut,
            "description": "the same Idempotency-Key again: the subscription it made",
        },
        402: {
            "model": ErrorBody,
            "description": "payment_not_found, payment_not_successful, payment_amount_mismatch",
        },
        409: {
            "model": ErrorBody,
            "description": "outside_renewal_window, payment_already_used, idempotency_key_reused",
        },
    },
    summary="Renew or start garden waste after a successful payment (idempotent per Idempotency-Key)",
)
def renew_garden_waste(
    body: RenewalIn,
    response: Response,
    conn: DbDep,
    world: WorldDep,
    uprn: Uprn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=128),
) -> SubscriptionOut:
    address_of(world, uprn)
    if not idempotency_key:
        raise fail(400, "idempotency_key_required", "An Idempotency-Key header (the renewal key) is required")
    done = conn.execute(
        "SELECT * FROM waste_garden_subscriptions WHERE renewal_key = ?", (idempotency_key,)
    ).fetchone()
    if done is not None:
        if (done["uprn"], done["bins"], done["payment_id"]) != (uprn, body.bins, body.paymentId):
            raise fail(409, "idempotency_key_reused", "This Idempotency-Key was used for a different renewal")
        response.status_code = 200
        return _subscription_out(done, world.today)
    terms = garden_terms(conn, uprn, world.today)
    if not terms.can_renew:
        raise fail(
            409,
            "outside_renewal_window",
            f"Renewal opens on {terms.window_opens:%-d %B %Y}, {RENEWAL_WINDOW_DAYS} days before expiry",
        )
    amount = garden_price(body.bins)
    problem = payment_problem(conn, body.paymentId, amount)
    if problem:
        raise fail(402, problem, "No successful payment of the price for this renewal")
    if conn.execute(
        "SELECT 1 FROM waste_garden_subscriptions WHERE payment_id = ?", (body.paymentId,)
    ).fetchone():
        raise fail(409, "payment_already_used", "This payment has already paid for a subscription")
    used = {r[0] for r in conn.execute("SELECT reference FROM waste_garden_subscriptions")}
    reference = _reference(random.Random(), "GW", used)
    conn.execute(
        "INSERT INTO waste_garden_subscriptions VALUES (?,?,?,?,?,?,?,?,?)",
        (
            reference,
            uprn,
            body.bins,
            terms.start.isoformat(),
            terms.expiry.isoformat(),
            body.paymentId,
            amount,
            idempotency_key,
            sandbox_now(world.today).isoformat(),
        ),
    )
    row = conn.execute(
        "SELECT * FROM waste_garden_subscriptions WHERE reference = ?", (reference,)
    ).fetchone()
    return _subscription_out(row, world.today)


@router.get(
    "/garden-waste/subscriptions/{reference}",
    response_model=SubscriptionOut,
    responses=ERRORS,
    summary="A garden waste subscription by its GW- reference (has my renewal gone through?)",
)
def get_subscription(
    conn: DbDep, world: WorldDep, reference: str = Path(..., max_length=20)
) -> SubscriptionOut:
    row = fetch_one(
        conn,
        "SELECT * FROM waste_garden_subscriptions WHERE reference = ?",
        (reference.strip().upper(),),
        missing=fail(404, "subscription_not_found", "No garden waste subscription with that reference"),
    )
    return _subscription_out(row, world.today)
