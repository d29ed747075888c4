"""OpenActive: RPDE open-data feeds and the Open Booking API for the leisure centres.

Follows the OpenActive specifications:

- Realtime Paged Data Exchange 1.0 feeds under ``/openactive/feeds/…`` (open data, no
  key): pages of ``{"next", "items", "license"}``, items ordered by ``(modified, id)``
  and paged with ``afterTimestamp`` + ``afterId`` using
  ``(modified = ts AND id > id) OR (modified > ts)``; the last page has ``items: []``
  and ``next`` equal to its own URL; ``deleted`` items carry no ``data``; ``modified``
  moves on whenever ``data`` changes (a booking lowers ``remainingAttendeeCapacity``).
- Open Booking API 1.0 under ``/openactive/api/…``: C1 ``PUT /order-quote-templates/{uuid}``,
  C2 ``PUT /order-quotes/{uuid}``, B ``PUT /orders/{uuid}`` (201 + Location; idempotent
  for the same content), cancellation ``PATCH /orders/{uuid}`` (204), Order Status
  ``GET /orders/{uuid}`` and the Orders feed ``GET /orders-rpde``; media type
  ``application/vnd.openactive.booking+json; version=1``; errors are OpenActive error
  objects, item-level problems a 409 with ``error`` on the offending ``OrderItem``.
  The booking API needs the ``X-API-Key`` header.

Documented sandbox choices (see ``integrations/contracts/openactive.md``):
``orderNumber`` carries our customer-facing reference ``BK-`` + 6 digits; offers are
"reserve now, pay at the centre" (``openBookingPrepayment`` Unavailable); a customer
needs an email *or* a telephone (the spec asks for an email); and
``GET /openactive/api/ext/orders`` finds orders by ``orderNumber``, email or telephone,
which the spec leaves to the Broker's own records (the Orders feed carries neither).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
import sqlite3
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from integrations.office_hours import bank_holiday_names
from integrations.sandbox.db import fetch_one
from integrations.sandbox.deps import DbDep
from integrations.sandbox.world import LONDON, SEED, World

PATH_PREFIXES = ("/openactive/",)
API_KEYS = {"sandbox-openactive-key"}
MEDIA_TYPE = "application/vnd.openactive.booking+json; version=1"
CONTEXT = "https://openactive.io/"
LICENSE = "https://creativecommons.org/licenses/by/4.0/"
PAGE_SIZE = 500
SELLER_SLUG = "council-leisure"
CONFIRMED = "https://openactive.io/OrderItemConfirmed"
CUSTOMER_CANCELLED = "https://openactive.io/CustomerCancelled"
PREPAYMENT_UNAVAILABLE = "https://openactive.io/Unavailable"
#: Customers may cancel up to this long before the start (the Offer's latestCancellationBeforeStartDate).
CANCELLATION_WINDOW = dt.timedelta(hours=2)
DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

SCHEMA = """
CREATE TABLE oa_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE oa_places (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, street TEXT NOT NULL, town TEXT NOT NULL,
    postcode TEXT NOT NULL, lat REAL NOT NULL, lng REAL NOT NULL, telephone TEXT NOT NULL,
    weekly_json TEXT NOT NULL, special_json TEXT NOT NULL
);
CREATE TABLE oa_series (
    id INTEGER PRIMARY KEY, place_id TEXT NOT NULL REFERENCES oa_places(id), activity TEXT NOT NULL,
    name TEXT NOT NULL, description TEXT NOT NULL, price TEXT NOT NULL,
    modified INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE oa_sessions (
    id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL REFERENCES oa_series(id),
    start TEXT NOT NULL, end TEXT NOT NULL, capacity INTEGER NOT NULL, remaining INTEGER NOT NULL,
    status TEXT NOT NULL, modified INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE oa_facilities (
    id INTEGER PRIMARY KEY, place_id TEXT NOT NULL REFERENCES oa_places(id), activity TEXT NOT NULL,
    name TEXT NOT NULL, price TEXT NOT NULL, modified INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE oa_slots (
    id INTEGER PRIMARY KEY, facility_id INTEGER NOT NULL REFERENCES oa_facilities(id),
    start TEXT NOT NULL, end TEXT NOT NULL, capacity INTEGER NOT NULL, remaining INTEGER NOT NULL,
    modified INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX oa_series_feed ON oa_series (modified, id);
CREATE INDEX oa_sessions_feed ON oa_sessions (modified, id);
CREATE INDEX oa_facilities_feed ON oa_facilities (modified, id);
CREATE INDEX oa_slots_feed ON oa_slots (modified, id);
CREATE TABLE oa_orders (
    uuid TEXT PRIMARY KEY, order_number TEXT NOT NULL UNIQUE, fingerprint TEXT NOT NULL,
    customer_json TEXT NOT NULL, customer_email TEXT NOT NULL, customer_telephone TEXT NOT NULL,
    broker_json TEXT NOT NULL, created TEXT NOT NULL, modified INTEGER NOT NULL
);
CREATE INDEX oa_orders_feed ON oa_orders (modified, uuid);
CREATE TABLE oa_order_items (
    id INTEGER PRIMARY KEY, order_uuid TEXT NOT NULL REFERENCES oa_orders(uuid), position INTEGER NOT NULL,
    kind TEXT NOT NULL, opportunity_id INTEGER NOT NULL, price TEXT NOT NULL, status TEXT NOT NULL
);
"""


ORDER_ITEM_INSERT = (
    "INSERT INTO oa_order_items (order_uuid, position, kind, opportunity_id, price, status) "
    "VALUES (?,?,?,?,?,?)"
)


# --- the demo council's leisure centres ------------------------------------------

Hours = dict[int, tuple[str, str]]  # weekday (Monday 0) -> (opens, closes)


def _week(weekday: tuple[str, str], saturday: tuple[str, str], sunday: tuple[str, str]) -> Hours:
    return {**{d: weekday for d in range(5)}, 5: saturday, 6: sunday}


@dataclass(frozen=True)
class CentreSeed:
    id: str
    name: str
    street: str
    town: str
    postcode: str
    lat: float
    lng: float
    telephone: str
    hours: Hours
    #: closed on every bank holiday (otherwise open 08:00-16:00, closed Christmas Day only)
    closed_on_bank_holidays: bool
    activities: tuple[str, ...]
    facilities: tuple[str, ...]


CENTRES = [
    CentreSeed(
        "olympiad",
        "Olympiad Leisure Centre",
        "Monkton Park",
        "Chippenham",
        "SN15 3PE",
        51.4612,
        -2.1139,
        "01249 444144",
        _week(("06:30", "22:00"), ("07:30", "20:00"), ("07:30", "18:00")),
        False,
        ("swimming", "lane swimming", "family swim", "aqua aerobics", "yoga", "spin", "pilates", "zumba"),
        ("badminton", "squash", "table tennis", "5-a-side football", "gym"),
    ),
    CentreSeed(
        "springfield",
        "Springfield Campus",
        "Beechfield Road",
        "Corsham",
        "SN13 9DN",
        51.4310,
        -2.1870,
        "01249 712213",
        _week(("07:00", "21:30"), ("08:00", "17:00"), ("08:00", "16:00")),
        False,
        ("swimming", "lane swimming", "family swim", "yoga", "zumba"),
        ("badminton", "5-a-side football", "gym"),
    ),
    CentreSeed(
        "castle-place",
        "Castle Place Leisure Centre",
        "Castle Street",
        "Trowbridge",
        "BA14 8AL",
        51.3192,
        -2.2071,
        "01225 762711",
        _week(("06:30", "21:00"), ("08:00", "16:00"), ("08:00", "16:00")),
        False,
        ("spin", "pilates", "yoga", "zumba"),
        ("squash", "table tennis", "gym"),
    ),
    CentreSeed(
        "five-rivers",
        "Five Rivers Health and Wellbeing Centre",
        "Hulse Road",
        "Salisbury",
        "SP1 3NR",
        51.0805,
        -1.7899,
        "01722 339966",
        _week(("06:30", "22:00"), ("07:00", "20:00"), ("07:00", "20:00")),
        False,
        ("swimming", "lane swimming", "family swim", "aqua aerobics", "spin", "pilates", "yoga"),
        ("badminton", "squash", "table tennis", "5-a-side football", "gym"),
    ),
    CentreSeed(
        "calne",
        "Calne Leisure Centre",
        "White Horse Way",
        "Calne",
        "SN11 8PA",
        51.4360,
        -2.0050,
        "01249 814600",
        _week(("07:00", "21:00"), ("08:00", "16:00"), ("09:00", "15:00")),
        True,
        ("swimming", "lane swimming", "aqua aerobics", "zumba"),
        ("badminton", "gym"),
    ),
]

# activity -> (price, description, [(weekdays, start, minutes, capacity)])
TIMETABLE: dict[str, tuple[str, str, list[tuple[tuple[int, ...], str, int, int]]]] = {
    "swimming": (
        "4.80",
        "General public swimming.",
        [((0, 1, 2, 3, 4), "12:00", 60, 60), ((5, 6), "14:00", 60, 60)],
    ),
    "lane swimming": (
        "4.80",
        "Lanes for steady swimming, slow, medium and fast.",
        [((0, 1, 2, 3, 4), "07:00", 60, 24), ((0, 2, 4), "19:00", 60, 24), ((5,), "08:00", 60, 24)],
    ),
    "family swim": (
        "3.50",
        "Swimming for families, with floats and toys.",
        [((5, 6), "10:00", 60, 40), ((2,), "17:00", 60, 40)],
    ),
    "aqua aerobics": ("6.20", "A low-impact workout in the pool.", [((1, 3), "10:00", 45, 25)]),
    "yoga": ("7.50", "Vinyasa flow for all levels.", [((0, 2), "18:30", 60, 20), ((5,), "09:00", 60, 20)]),
    "spin": ("6.90", "High-energy indoor cycling.", [((1, 3), "18:00", 45, 16), ((5,), "08:30", 45, 16)]),
    "pilates": ("7.50", "Mat pilates for core strength.", [((0, 4), "10:00", 60, 18)]),
    "zumba": ("6.50", "Dance fitness to Latin rhythms.", [((2,), "19:30", 60, 30), ((5,), "11:00", 60, 30)]),
}
# facility -> (price per hour, uses per slot: courts, pitches or gym places)
FACILITIES: dict[str, tuple[str, int]] = {
    "badminton": ("11.20", 4),
    "squash": ("9.80", 2),
    "table tennis": ("6.00", 3),
    "5-a-side football": ("52.00", 1),
    "gym": ("6.50", 20),
}
FACILITY_NAMES = {
    "badminton": "Badminton court",
    "squash": "Squash court",
    "table tennis": "Table tennis table",
    "5-a-side football": "5-a-side football pitch",
    "gym": "Gym session",
}

#: Seeded orders an end-to-end test or a demo can rely on.
DEMO_CUSTOMER = {
    "givenName": "Jo",
    "familyName": "Smith",
    "email": "jo@example.com",
    "telephone": "07700900123",
}


# --- small helpers ------------------------------------------------------------------


def oa_error(error_type: str, description: str) -> dict[str, Any]:
    return {"@context": CONTEXT, "@type": error_type, "description": description}


def item_error(error_type: str, description: str) -> dict[str, Any]:
    """An error on one OrderItem, inside the quote (no @context of its own)."""
    return {"@type": error_type, "description": description}


_STATUS_ERRORS = {
    400: "OpenBookingError",
    401: "InvalidAPITokenError",
    403: "NoAPITokenError",
    404: "UnknownOrIncorrectEndpointError",
    405: "MethodNotAllowedError",
    409: "OpenBookingError",
    429: "TooManyRequestsError",
    503: "TemporarilyUnableToCreateOrderError",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    return oa_error(_STATUS_ERRORS.get(status, "InternalApplicationError"), message)


def _fail(status: int, error_type: str, description: str) -> HTTPException:
    return HTTPException(status, oa_error(error_type, description))


class BookingResponse(JSONResponse):
    media_type = MEDIA_TYPE


def _local(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _iso(value: str | dt.datetime) -> str:
    """A stored local time as ISO 8601 with the Europe/London offset."""
    moment = _local(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=LONDON).isoformat()


def _duration(start: str, end: str) -> str:
    minutes = int((_local(end) - _local(start)).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")


def _now_local() -> dt.datetime:
    return dt.datetime.now(LONDON).replace(tzinfo=None)


def _tick(conn: sqlite3.Connection) -> int:
    """The next ``modified`` value: later than any used so far, and at least now in ms."""
    last = conn.execute("SELECT value FROM oa_meta WHERE key = 'clock'").fetchone()[0]
    value = max(last + 1, int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000))
    conn.execute("UPDATE oa_meta SET value = ? WHERE key = 'clock'", (value,))
    return value


def _concept(activity: str) -> dict[str, Any]:
    # Sandbox ids in the OpenActive activity list's format; the label is what clients match on.
    concept_id = uuid_module.uuid5(uuid_module.NAMESPACE_URL, f"openactive-activity/{activity}")
    return {
        "@type": "Concept",
        "@id": f"https://openactive.io/activity-list#{concept_id}",
        "prefLabel": activity[0].upper() + activity[1:],
        "inScheme": "https://openactive.io/activity-list",
    }


def normalise_telephone(text: str) -> str:
    digits = re.sub(r"\D", "", text or "")
    return "0" + digits[2:] if digits.startswith("44") else digits


# --- seed ---------------------------------------------------------------------------


def _bank_holidays(today: dt.date, days: int) -> dict[dt.date, str]:
    found: dict[dt.date, str] = {}
    for year in (today.year, today.year + 1):
        found.update(bank_holiday_names(year))
    return {d: n for d, n in sorted(found.items()) if today <= d <= today + dt.timedelta(days=days)}


def _special_hours(centre: CentreSeed, today: dt.date) -> list[dict[str, Any]]:
    """Bank holiday hours for the next 120 days (always at least one bank holiday)."""
    special = []
    for day, name in _bank_holidays(today, 120).items():
        closed = centre.closed_on_bank_holidays or name == "Christmas Day"
        opens, closes = ("00:00", "00:00") if closed else ("08:00", "16:00")
        special.append({"date": day.isoformat(), "name": name, "opens": opens, "closes": closes})
    return special


def _hours_on(centre_hours: Hours, special: list[dict[str, Any]], day: dt.date) -> tuple[str, str] | None:
    for entry in special:
        if entry["date"] == day.isoformat():
            return None if entry["opens"] == entry["closes"] else (entry["opens"], entry["closes"])
    return centre_hours[day.weekday()]


def _at(day: dt.date, clock: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.fromisoformat(clock))


def _class_times(activity: str, hours: tuple[str, str] | None, day: dt.date):
    """(start, end, capacity) of each class of ``activity`` on ``day`` that fits the opening hours."""
    for weekdays, start, minutes, capacity in TIMETABLE[activity][2]:
        begin = _at(day, start)
        end = begin + dt.timedelta(minutes=minutes)
        if hours and day.weekday() in weekdays and _at(day, hours[0]) <= begin and end <= _at(day, hours[1]):
            yield begin, end, capacity


def _hourly(activity: str, hours: tuple[str, str] | None, day: dt.date):
    """Hour-long slots from the first whole hour after opening to closing (pitches: evenings on weekdays)."""
    if hours is None:
        return
    begin = _at(day, hours[0])
    if begin.minute:
        begin = begin.replace(minute=0) + dt.timedelta(hours=1)
    if activity == "5-a-side football" and day.weekday() < 5:
        begin = max(begin, _at(day, "17:00"))
    while begin + dt.timedelta(hours=1) <= _at(day, hours[1]):
        yield begin, begin + dt.timedelta(hours=1)
        begin += dt.timedelta(hours=1)


def seed(conn: sqlite3.Connection, world: World) -> None:
    rng = random.Random(f"{SEED}-openactive")
    today = world.today
    base = int(dt.datetime.combine(today - dt.timedelta(days=1), dt.time(), LONDON).timestamp() * 1000)
    days = [today + dt.timedelta(days=n) for n in range(-1, 14)]  # from yesterday, for past bookings
    sessions: list[list] = []
    slots: list[tuple] = []
    for c_index, centre in enumerate(CENTRES):
        special = _special_hours(centre, today)
        place = (
            centre.id,
            centre.name,
            centre.street,
            centre.town,
            centre.postcode,
            centre.lat,
            centre.lng,
            centre.telephone,
            json.dumps(centre.hours),
            json.dumps(special),
        )
        conn.execute("INSERT INTO oa_places VALUES (?,?,?,?,?,?,?,?,?,?)", place)
        # Bulk-loaded: one `modified` per centre and feed, so feed pages must cope with ties.
        session_modified, slot_modified = base + 100 + c_index * 10, base + 200 + c_index * 10
        for activity in centre.activities:
            price, description, _ = TIMETABLE[activity]
            series_id = conn.execute(
                "INSERT INTO oa_series (place_id, activity, name, description, price, modified) "
                "VALUES (?,?,?,?,?,?)",
                (centre.id, activity, activity.capitalize(), description, price, base + c_index),
            ).lastrowid
            for day in days:
                for begin, end, capacity in _class_times(
                    activity, _hours_on(centre.hours, special, day), day
                ):
                    remaining = _seed_remaining(rng, centre.id, activity, capacity)
                    sessions.append(
                        [
                            series_id,
                            begin.isoformat(),
                            end.isoformat(),
                            capacity,
                            remaining,
                            "https://schema.org/EventScheduled",
                            session_modified,
                            0,
                        ]
                    )
        for activity in centre.facilities:
            price, uses = FACILITIES[activity]
            facility_id = conn.execute(
                "INSERT INTO oa_facilities (place_id, activity, name, price, modified) VALUES (?,?,?,?,?)",
                (centre.id, activity, FACILITY_NAMES[activity], price, base + 50 + c_index),
            ).lastrowid
            for day in days:
                for begin, end in _hourly(activity, _hours_on(centre.hours, special, day), day):
                    remaining = uses if rng.random() < 0.55 else rng.randint(0, uses)
                    slots.append(
                        (facility_id, begin.isoformat(), end.isoformat(), uses, remaining, slot_modified)
                    )
    sessions.sort(key=lambda s: (s[1], s[0]))
    _retire_some(rng, sessions, cancelled=1, deleted=3)
    conn.executemany(
        "INSERT INTO oa_sessions (series_id, start, end, capacity, remaining, status, modified, deleted) "
        "VALUES (?,?,?,?,?,?,?,?)",
        sessions,
    )
    conn.executemany(
        "INSERT INTO oa_slots (facility_id, start, end, capacity, remaining, modified) VALUES (?,?,?,?,?,?)",
        slots,
    )
    conn.execute("INSERT INTO oa_meta VALUES ('clock', ?)", (base + 1000,))
    _seed_orders(conn, rng, today, base)


def _seed_remaining(rng: random.Random, centre_id: str, activity: str, capacity: int) -> int:
    if centre_id == "olympiad" and activity == "spin":
        return 0  # the popular class: always full
    if centre_id == "olympiad" and activity == "yoga":
        return 2  # nearly full
    roll = rng.random()
    if roll < 0.08:
        return 0
    if roll < 0.2:
        return rng.randint(1, 2)
    return rng.randint(capacity // 3, capacity)


def _retire_some(rng: random.Random, sessions: list[list], *, cancelled: int, deleted: int) -> None:
    """A few future sessions cancelled (still in the feed) or deleted (a stub without data)."""
    future = [s for s in sessions[len(sessions) // 3 :] if s[4] > 0]
    chosen = rng.sample(future, cancelled + deleted)
    for row in chosen[:cancelled]:
        row[5] = "https://schema.org/EventCancelled"
    for row in chosen[cancelled:]:
        row[7] = 1


def _seed_orders(conn: sqlite3.Connection, rng: random.Random, today: dt.date, base: int) -> None:
    def session_on(activity: str, centre_id: str, after: dt.date, weekday: int | None = None) -> sqlite3.Row:
        rows = conn.execute(
            "SELECT s.* FROM oa_sessions s JOIN oa_series r ON r.id = s.series_id "
            "WHERE r.activity = ? AND r.place_id = ? AND s.deleted = 0 AND s.remaining > 0 "
            "AND s.status = 'https://schema.org/EventScheduled' AND date(s.start) >= ? ORDER BY s.start",
            (activity, centre_id, after.isoformat()),
        ).fetchall()
        return next(r for r in rows if weekday is None or _local(r["start"]).weekday() == weekday)

    demo = [
        ("BK-104233", session_on("family swim", "olympiad", today + dt.timedelta(days=1), 5), CONFIRMED),
        ("BK-104234", session_on("yoga", "springfield", today + dt.timedelta(days=1)), CUSTOMER_CANCELLED),
        ("BK-104235", session_on("swimming", "olympiad", today - dt.timedelta(days=1)), CONFIRMED),
    ]
    bookable = conn.execute(
        "SELECT * FROM oa_sessions WHERE deleted = 0 AND remaining > 0 AND status = ? AND date(start) > ? "
        "ORDER BY id",
        ("https://schema.org/EventScheduled", today.isoformat()),
    ).fetchall()
    others = []
    for n, session in enumerate(rng.sample(bookable, 6)):
        first = rng.choice(["Sam", "Priya", "Tom", "Aisha", "Megan", "Ravi"])
        last = rng.choice(["Jones", "Patel", "Brown", "Khan", "Evans", "Hughes"])
        customer = {
            "givenName": first,
            "familyName": last,
            "email": f"{first.lower()}.{last.lower()}{n}@example.com",
            "telephone": f"077009{rng.randint(0, 99999):05d}",
        }
        others.append((f"BK-{rng.randint(200000, 999999)}", session, CONFIRMED, customer))
    entries = [(ref, row, status, DEMO_CUSTOMER) for ref, row, status in demo] + others
    for index, (reference, session, status, customer) in enumerate(entries):
        order_uuid = str(uuid_module.UUID(int=rng.getrandbits(128), version=4))
        price = conn.execute("SELECT price FROM oa_series WHERE id = ?", (session["series_id"],)).fetchone()[
            0
        ]
        conn.execute(
            "INSERT INTO oa_orders VALUES (?,?,?,?,?,?,?,?,?)",
            (
                order_uuid,
                reference,
                "seeded",
                json.dumps(customer),
                customer["email"],
                normalise_telephone(customer["telephone"]),
                json.dumps({"@type": "Organization", "name": "Council Assistant"}),
                (dt.datetime.combine(today, dt.time(8)) - dt.timedelta(days=2)).isoformat(),
                base + 300 + index,
            ),
        )
        conn.execute(
            ORDER_ITEM_INSERT,
            (order_uuid, 0, "ScheduledSession", session["id"], price, status),
        )


# --- rendering ----------------------------------------------------------------------


class Urls:
    """Absolute ``@id``s, built from the address the request came in on."""

    def __init__(self, request: Request) -> None:
        self.base = str(request.base_url).rstrip("/") + "/openactive"

    def place(self, place_id: str) -> str:
        return f"{self.base}/places/{place_id}"

    def series(self, series_id: int) -> str:
        return f"{self.base}/session-series/{series_id}"

    def session(self, series_id: int, session_id: int) -> str:
        return f"{self.series(series_id)}/scheduled-sessions/{session_id}"

    def facility(self, facility_id: int) -> str:
        return f"{self.base}/facility-uses/{facility_id}"

    def slot(self, facility_id: int, slot_id: int) -> str:
        return f"{self.facility(facility_id)}/facility-use-slots/{slot_id}"

    def seller(self) -> str:
        return f"{self.base}/api/organisations/{SELLER_SLUG}"

    def order(self, order_uuid: str) -> str:
        return f"{self.base}/api/orders/{order_uuid}"

    def order_quote(self, order_uuid: str) -> str:
        return f"{self.base}/api/order-quotes/{order_uuid}"


def _seller(urls: Urls) -> dict[str, Any]:
    return {
        "@type": "Organization",
        "@id": urls.seller(),
        "identifier": SELLER_SLUG,
        "name": "Council Leisure",
        "legalName": "Wiltshire Council",
        "url": "https://www.wiltshire.gov.uk/leisure",
        "telephone": "0300 456 0100",
        "taxMode": "https://openactive.io/TaxGross",
        "termsOfService": [
            {
                "@type": "Terms",
                "name": "Terms and Conditions",
                "url": "https://www.wiltshire.gov.uk/leisure-terms",
            }
        ],
    }


def _place(urls: Urls, row: sqlite3.Row) -> dict[str, Any]:
    weekly: dict[str, list[str]] = json.loads(row["weekly_json"])
    grouped: dict[tuple[str, str], list[str]] = {}
    for day, (opens, closes) in sorted(weekly.items(), key=lambda kv: int(kv[0])):
        grouped.setdefault((opens, closes), []).append(f"https://schema.org/{DAY_NAMES[int(day)]}")
    return {
        "@type": "Place",
        "@id": urls.place(row["id"]),
        "identifier": row["id"],
        "name": row["name"],
        "telephone": row["telephone"],
        "address": {
            "@type": "PostalAddress",
            "streetAddress": row["street"],
            "addressLocality": row["town"],
            "addressRegion": "Wiltshire",
            "postalCode": row["postcode"],
            "addressCountry": "GB",
        },
        "geo": {"@type": "GeoCoordinates", "latitude": row["lat"], "longitude": row["lng"]},
        "openingHoursSpecification": [
            {"@type": "OpeningHoursSpecification", "dayOfWeek": days, "opens": opens, "closes": closes}
            for (opens, closes), days in grouped.items()
        ],
        "specialOpeningHoursSpecification": [
            {
                "@type": "OpeningHoursSpecification",
                "name": entry["name"],
                "opens": entry["opens"],
                "closes": entry["closes"],
                "validFrom": entry["date"],
                "validThrough": entry["date"],
            }
            for entry in json.loads(row["special_json"])
        ],
    }


def _offer(offer_id: str, price: str, name: str) -> dict[str, Any]:
    return {
        "@type": "Offer",
        "@id": offer_id,
        "identifier": "standard",
        "name": name,
        "price": float(Decimal(price)),
        "priceCurrency": "GBP",
        "openBookingPrepayment": PREPAYMENT_UNAVAILABLE,
        "allowCustomerCancellationFullRefund": True,
        "latestCancellationBeforeStartDate": "PT2H",
        "openBookingFlowRequirement": [],
    }


def _organizer() -> dict[str, Any]:
    return {"@type": "Organization", "name": "Council Leisure", "url": "https://www.wiltshire.gov.uk/leisure"}


def _series(conn: sqlite3.Connection, urls: Urls, row: sqlite3.Row) -> dict[str, Any]:
    place = conn.execute("SELECT * FROM oa_places WHERE id = ?", (row["place_id"],)).fetchone()
    return {
        "@context": CONTEXT,
        "@type": "SessionSeries",
        "@id": urls.series(row["id"]),
        "identifier": row["id"],
        "url": urls.series(row["id"]),
        "name": row["name"],
        "description": row["description"],
        "activity": [_concept(row["activity"])],
        "location": _place(urls, place),
        "organizer": _organizer(),
        "offers": [_offer(urls.series(row["id"]) + "#/offers/0", row["price"], "Adult")],
    }


def _session(urls: Urls, row: sqlite3.Row) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "@type": "ScheduledSession",
        "@id": urls.session(row["series_id"], row["id"]),
        "identifier": row["id"],
        "superEvent": urls.series(row["series_id"]),
        "startDate": _iso(row["start"]),
        "endDate": _iso(row["end"]),
        "duration": _duration(row["start"], row["end"]),
        "eventStatus": row["status"],
        "maximumAttendeeCapacity": row["capacity"],
        "remainingAttendeeCapacity": row["remaining"],
    }


def _facility(conn: sqlite3.Connection, urls: Urls, row: sqlite3.Row) -> dict[str, Any]:
    place = conn.execute("SELECT * FROM oa_places WHERE id = ?", (row["place_id"],)).fetchone()
    return {
        "@context": CONTEXT,
        "@type": "FacilityUse",
        "@id": urls.facility(row["id"]),
        "identifier": row["id"],
        "url": urls.facility(row["id"]),
        "name": f"{row['name']} at {place['name']}",
        "activity": [_concept(row["activity"])],
        "location": _place(urls, place),
        "provider": _organizer(),
    }


def _slot(conn: sqlite3.Connection, urls: Urls, row: sqlite3.Row) -> dict[str, Any]:
    price = conn.execute("SELECT price FROM oa_facilities WHERE id = ?", (row["facility_id"],)).fetchone()[0]
    slot_id = urls.slot(row["facility_id"], row["id"])
    return {
        "@context": CONTEXT,
        "@type": "Slot",
        "@id": slot_id,
        "identifier": row["id"],
        "facilityUse": urls.facility(row["facility_id"]),
        "startDate": _iso(row["start"]),
        "endDate": _iso(row["end"]),
        "duration": _duration(row["start"], row["end"]),
        "maximumUses": row["capacity"],
        "remainingUses": row["remaining"],
        "offers": [_offer(slot_id + "#/offers/0", price, "Standard")],
    }


# --- RPDE feeds ---------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    table: str
    kind: str
    render: Callable[[sqlite3.Connection, Urls, sqlite3.Row], dict[str, Any]]


FEEDS = {
    "session-series": Feed("oa_series", "SessionSeries", _series),
    "scheduled-sessions": Feed(
        "oa_sessions", "ScheduledSession", lambda conn, urls, row: _session(urls, row)
    ),
    "facility-uses": Feed("oa_facilities", "FacilityUse", _facility),
    "facility-use-slots": Feed("oa_slots", "FacilityUse/Slot", _slot),
}


def _rpde_page(request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
    if items:
        last = items[-1]
        next_url = str(request.url.replace_query_params(afterTimestamp=last["modified"], afterId=last["id"]))
    else:
        next_url = str(request.url)  # the last page points at itself
    return {"next": next_url, "items": items, "license": LICENSE}


def _after(after_timestamp: int | None, after_id: Any) -> tuple[str, tuple]:
    if after_timestamp is None and after_id is None:
        return "", ()
    if after_timestamp is None or after_id is None:
        raise HTTPException(400, error_body(400, "afterTimestamp and afterId must be given together"))
    # Strictly after the last item seen: ">=" would repeat it, ">" on modified alone would skip ties.
    return "WHERE (modified = ? AND {key} > ?) OR (modified > ?)", (
        after_timestamp,
        after_id,
        after_timestamp,
    )


feeds_router = APIRouter(prefix="/openactive/feeds", tags=["OpenActive RPDE feeds"])


def _feed_route(name: str, feed: Feed) -> None:
    @feeds_router.get(f"/{name}", summary=f"RPDE feed of {feed.kind} (open data)", name=f"feed_{name}")
    def feed_page(
        request: Request,
        conn: DbDep,
        afterTimestamp: int | None = Query(None, ge=0),  # noqa: N803 (the RPDE parameter name)
        afterId: int | None = Query(None, ge=0),  # noqa: N803
    ) -> dict[str, Any]:
        where, args = _after(afterTimestamp, afterId)
        rows = conn.execute(
            f"SELECT * FROM {feed.table} {where.format(key='id')} ORDER BY modified, id LIMIT {PAGE_SIZE}",
            args,
        ).fetchall()
        urls = Urls(request)

        def item(row: sqlite3.Row) -> dict[str, Any]:
            base = {
                "state": "deleted" if row["deleted"] else "updated",
                "kind": feed.kind,
                "id": row["id"],
                "modified": row["modified"],
            }
            return base if row["deleted"] else {**base, "data": feed.render(conn, urls, row)}

        return _rpde_page(request, [item(r) for r in rows])


for _name, _feed in FEEDS.items():
    _feed_route(_name, _feed)


# --- Open Booking API ------------------------------------------------------------------


def require_api_key(x_api_key: str | None = Header(None, alias="X-API-Key")) -> None:
    if not x_api_key:
        raise _fail(403, "NoAPITokenError", "No API key was supplied in the X-API-Key header.")
    if x_api_key not in API_KEYS:
        raise _fail(401, "InvalidAPITokenError", "The API key supplied is not valid.")


def _example_body(order_type: str, *, customer: bool = False, total: bool = False) -> dict[str, Any]:
    """A request body for the OpenAPI page (the routes read raw JSON to answer in OpenActive's shape)."""
    body: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": order_type,
        "brokerRole": "https://openactive.io/AgentBroker",
        "broker": {"@type": "Organization", "name": "Council Assistant"},
        "seller": {
            "@type": "Organization",
            "@id": "http://127.0.0.1:8081/openactive/api/organisations/council-leisure",
        },
        "orderedItem": [
            {
                "@type": "OrderItem",
                "position": 0,
                "acceptedOffer": {
                    "@type": "Offer",
                    "@id": "http://127.0.0.1:8081/openactive/session-series/101#/offers/0",
                },
                "orderedItem": {
                    "@type": "ScheduledSession",
                    "@id": "http://127.0.0.1:8081/openactive/session-series/101/scheduled-sessions/1",
                },
            }
        ],
    }
    if customer:
        body["customer"] = {
            "@type": "Person",
            "givenName": "Jo",
            "familyName": "Smith",
            "email": "jo@example.com",
        }
    if total:
        body["totalPaymentDue"] = {"@type": "PriceSpecification", "price": 4.8, "priceCurrency": "GBP"}
    return {"requestBody": {"required": True, "content": {MEDIA_TYPE: {"example": body}}}}


api_router = APIRouter(
    prefix="/openactive/api", tags=["OpenActive Open Booking API"], dependencies=[Depends(require_api_key)]
)

_SESSION_ID = re.compile(r"/openactive/session-series/(\d+)/scheduled-sessions/(\d+)$")
_SLOT_ID = re.compile(r"/openactive/facility-uses/(\d+)/facility-use-slots/(\d+)$")
_ORDER_ITEM_ID = re.compile(r"/openactive/api/orders/([0-9a-f-]{36})#/orderedItem/(\d+)$")


@dataclass
class Opportunity:
    kind: str  # ScheduledSession or Slot
    row: sqlite3.Row
    parent: sqlite3.Row  # the SessionSeries or FacilityUse
    offer_id: str
    price: str

    @property
    def table(self) -> str:
        return "oa_sessions" if self.kind == "ScheduledSession" else "oa_slots"


def _find_opportunity(
    conn: sqlite3.Connection, urls: Urls, kind: str, opportunity_id: int
) -> Opportunity | None:
    if kind == "ScheduledSession":
        row = conn.execute("SELECT * FROM oa_sessions WHERE id = ?", (opportunity_id,)).fetchone()
        if row is None:
            return None
        parent = conn.execute("SELECT * FROM oa_series WHERE id = ?", (row["series_id"],)).fetchone()
        return Opportunity(kind, row, parent, urls.series(parent["id"]) + "#/offers/0", parent["price"])
    row = conn.execute("SELECT * FROM oa_slots WHERE id = ?", (opportunity_id,)).fetchone()
    if row is None:
        return None
    parent = conn.execute("SELECT * FROM oa_facilities WHERE id = ?", (row["facility_id"],)).fetchone()
    return Opportunity(kind, row, parent, urls.slot(parent["id"], row["id"]) + "#/offers/0", parent["price"])


def _opportunity_json(conn: sqlite3.Connection, urls: Urls, opp: Opportunity) -> dict[str, Any]:
    """Full opportunity data for C1/C2/B responses, parent embedded (spec: name, url, location, activity)."""
    if opp.kind == "ScheduledSession":
        data = _session(urls, opp.row)
        series = _series(conn, urls, opp.parent)
        data["superEvent"] = {k: v for k, v in series.items() if k != "@context"}
        data["name"] = series["name"]
        data["url"] = series["url"]
    else:
        data = _slot(conn, urls, opp.row)
        facility = _facility(conn, urls, opp.parent)
        data["facilityUse"] = {k: v for k, v in facility.items() if k != "@context"}
        data["name"] = facility["name"]
        data["url"] = facility["url"]
    data.pop("@context", None)
    return data


@dataclass
class CheckedItem:
    position: int
    request: dict[str, Any]
    opportunity: Opportunity | None
    errors: list[dict[str, Any]]


def _check_items(conn: sqlite3.Connection, urls: Urls, items: Any) -> list[CheckedItem]:
    if not isinstance(items, list) or not items:
        raise _fail(400, "OpenBookingError", "orderedItem must be a non-empty array of OrderItem")
    checked: list[CheckedItem] = []
    wanted: dict[tuple[str, int], int] = {}
    now = _now_local()
    for index, item in enumerate(items):
        item = item if isinstance(item, dict) else {}
        position = item.get("position", index)
        position = position if isinstance(position, int) else index
        ordered = item.get("orderedItem") if isinstance(item.get("orderedItem"), dict) else None
        offer = item.get("acceptedOffer") if isinstance(item.get("acceptedOffer"), dict) else None
        entry = CheckedItem(position, item, None, [])
        checked.append(entry)
        if ordered is None or offer is None or not ordered.get("@id") or not offer.get("@id"):
            entry.errors.append(
                item_error("IncompleteOrderItemError", "An OrderItem needs orderedItem and acceptedOffer.")
            )
            continue
        opportunity_id = str(ordered["@id"])
        match = _SESSION_ID.search(opportunity_id) or _SLOT_ID.search(opportunity_id)
        if match is None:
            entry.errors.append(
                item_error("InvalidOpportunityOrOfferIdError", "The orderedItem @id is not recognised.")
            )
            continue
        kind = "ScheduledSession" if match.re is _SESSION_ID else "Slot"
        opp = _find_opportunity(conn, urls, kind, int(match.group(2)))
        parent_key = "series_id" if kind == "ScheduledSession" else "facility_id"
        if opp is None or opp.row["deleted"] or opp.row[parent_key] != int(match.group(1)):
            entry.errors.append(item_error("UnknownOpportunityError", "There is no such session or slot."))
            continue
        entry.opportunity = opp
        if str(offer["@id"]) != opp.offer_id:
            entry.errors.append(
                item_error("UnknownOfferError", "The acceptedOffer does not belong to this opportunity.")
            )
            continue
        cancelled = (
            opp.kind == "ScheduledSession" and opp.row["status"] != "https://schema.org/EventScheduled"
        )
        if cancelled or _local(opp.row["start"]) <= now:
            entry.errors.append(
                item_error(
                    "OpportunityOfferPairNotBookableError",
                    "This session has started, finished or been cancelled.",
                )
            )
            continue
        key = (opp.kind, opp.row["id"])
        wanted[key] = wanted.get(key, 0) + 1
        if opp.row["remaining"] <= 0:
            entry.errors.append(
                item_error("OpportunityIsFullError", "There are no spaces remaining in this opportunity.")
            )
        elif wanted[key] > opp.row["remaining"]:
            entry.errors.append(
                item_error(
                    "OpportunityHasInsufficientCapacityError", "There are not enough spaces for every item."
                )
            )
    return checked


def _item_json(conn: sqlite3.Connection, urls: Urls, item: CheckedItem) -> dict[str, Any]:
    body: dict[str, Any] = {"@type": "OrderItem", "position": item.position}
    if item.opportunity is not None:
        opp = item.opportunity
        body["acceptedOffer"] = _offer(
            opp.offer_id, opp.price, "Adult" if opp.kind == "ScheduledSession" else "Standard"
        )
        body["orderedItem"] = _opportunity_json(conn, urls, opp)
    else:
        body["acceptedOffer"] = item.request.get("acceptedOffer")
        body["orderedItem"] = item.request.get("orderedItem")
    if item.errors:
        body["error"] = item.errors
    return body


def _total(prices: list[str]) -> dict[str, Any]:
    return {
        "@type": "PriceSpecification",
        "price": float(sum((Decimal(p) for p in prices), Decimal("0"))),
        "priceCurrency": "GBP",
        "openBookingPrepayment": PREPAYMENT_UNAVAILABLE,
    }


def _booking_service() -> dict[str, Any]:
    return {
        "@type": "BookingService",
        "name": "Council Leisure Bookings (sandbox)",
        "url": "https://www.wiltshire.gov.uk",
    }


async def _read_order(request: Request, expected_type: str) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise _fail(400, "OpenBookingError", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _fail(
            400, "OpenBookingError", f"The request body must be a JSON object of type {expected_type}."
        )
    if body.get("@type") != expected_type:
        raise _fail(500, "UnexpectedOrderTypeError", f"Expected an object of @type {expected_type}.")
    return body


def _check_parties(urls: Urls, body: dict[str, Any], *, customer_required: bool) -> dict[str, Any] | None:
    seller = body.get("seller")
    if not isinstance(seller, dict) or not str(seller.get("@id", "")).endswith(
        f"/organisations/{SELLER_SLUG}"
    ):
        raise _fail(500, "SellerNotFoundError", "The seller given is not known to this booking system.")
    broker = body.get("broker")
    if not isinstance(broker, dict) or not broker.get("name"):
        raise _fail(400, "IncompleteBrokerDetailsError", "The broker must be an Organization with a name.")
    customer = body.get("customer")
    if not customer_required:
        return None
    if not isinstance(customer, dict) or customer.get("@type") not in ("Person", "Organization"):
        raise _fail(400, "IncompleteCustomerDetailsError", "The customer must be a Person or Organization.")
    if not (customer.get("email") or customer.get("telephone")):
        raise _fail(
            400,
            "IncompleteCustomerDetailsError",
            "The customer needs an email address or a telephone number.",
        )
    return customer


def _quote(conn: sqlite3.Connection, request: Request, body: dict[str, Any], order_uuid: str, stage: str):
    urls = Urls(request)
    if conn.execute("SELECT 1 FROM oa_orders WHERE uuid = ?", (order_uuid,)).fetchone():
        raise _fail(500, "OrderAlreadyExistsError", "This Order UUID is already used by a completed Order.")
    customer = _check_parties(urls, body, customer_required=stage == "C2")
    items = _check_items(conn, urls, body.get("orderedItem"))
    quote: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "OrderQuote",
        "@id": urls.order_quote(order_uuid),
        "identifier": order_uuid,
        "brokerRole": body.get("brokerRole", "https://openactive.io/AgentBroker"),
        "broker": body["broker"],
        "seller": _seller(urls),
        "bookingService": _booking_service(),
        "orderRequiresApproval": False,
        "orderedItem": [_item_json(conn, urls, i) for i in items],
        "totalPaymentDue": _total([i.opportunity.price for i in items if i.opportunity and not i.errors]),
    }
    if customer is not None:
        quote["customer"] = customer
    status = 409 if any(i.errors for i in items) else 200
    return BookingResponse(quote, status_code=status)


@api_router.put(
    "/order-quote-templates/{order_uuid}",
    summary="C1: check availability and price (no customer)",
    openapi_extra=_example_body("OrderQuote"),
)
async def order_quote_template(order_uuid: uuid_module.UUID, request: Request, conn: DbDep) -> Response:
    return _quote(conn, request, await _read_order(request, "OrderQuote"), str(order_uuid), "C1")


@api_router.put(
    "/order-quotes/{order_uuid}",
    summary="C2: confirm availability and price with the customer",
    openapi_extra=_example_body("OrderQuote", customer=True),
)
async def order_quote(order_uuid: uuid_module.UUID, request: Request, conn: DbDep) -> Response:
    return _quote(conn, request, await _read_order(request, "OrderQuote"), str(order_uuid), "C2")


def _fingerprint(body: dict[str, Any]) -> str:
    """What makes two B requests "the same Order": the items and the customer."""
    items = sorted(
        (str((i.get("orderedItem") or {}).get("@id")), str((i.get("acceptedOffer") or {}).get("@id")))
        for i in body.get("orderedItem") or []
        if isinstance(i, dict)
    )
    customer = body.get("customer") or {}
    who = [
        str(customer.get(k, "")).strip().lower() for k in ("email", "telephone", "givenName", "familyName")
    ]
    return hashlib.sha256(json.dumps([items, who]).encode()).hexdigest()


def _new_order_number(conn: sqlite3.Connection) -> str:
    rng = random.SystemRandom()
    while True:
        number = f"BK-{rng.randint(100000, 999999)}"
        if not conn.execute("SELECT 1 FROM oa_orders WHERE order_number = ?", (number,)).fetchone():
            return number


def _order_json(
    conn: sqlite3.Connection, urls: Urls, order: sqlite3.Row, *, for_feed: bool = False
) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT * FROM oa_order_items WHERE order_uuid = ? ORDER BY position", (order["uuid"],)
    ).fetchall()
    items = []
    for row in rows:
        opp = _find_opportunity(conn, urls, row["kind"], row["opportunity_id"])
        assert opp is not None  # order items keep their opportunity; opportunities are never removed
        offer_name = "Adult" if opp.kind == "ScheduledSession" else "Standard"
        item: dict[str, Any] = {
            "@type": "OrderItem",
            "@id": f"{urls.order(order['uuid'])}#/orderedItem/{row['id']}",
            "orderItemStatus": row["status"],
            "acceptedOffer": _offer(opp.offer_id, row["price"], offer_name),
        }
        if for_feed:
            item["orderedItem"] = {"@type": opp.kind, "@id": _opportunity_json(conn, urls, opp)["@id"]}
        else:
            item["position"] = row["position"]
            item["orderedItem"] = _opportunity_json(conn, urls, opp)
        items.append(item)
    body: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "Order",
        "@id": urls.order(order["uuid"]),
        "identifier": order["uuid"],
        "orderedItem": items,
        "totalPaymentDue": _total([r["price"] for r in rows if r["status"] != CUSTOMER_CANCELLED]),
    }
    if not for_feed:  # the spec keeps these out of the Orders feed
        body.update(
            orderNumber=order["order_number"],
            brokerRole="https://openactive.io/AgentBroker",
            broker=json.loads(order["broker_json"]),
            seller=_seller(urls),
            customer=json.loads(order["customer_json"]),
            bookingService=_booking_service(),
        )
    return body


def _unknown_order() -> HTTPException:
    return _fail(404, "UnknownOrderError", "There is no Order with this UUID.")


@api_router.put(
    "/orders/{order_uuid}",
    summary="B: book (idempotent: the same content returns the same Order)",
    openapi_extra=_example_body("Order", customer=True, total=True),
)
async def create_order(order_uuid: uuid_module.UUID, request: Request, conn: DbDep) -> Response:
    urls = Urls(request)
    key = str(order_uuid)
    body = await _read_order(request, "Order")
    customer = _check_parties(urls, body, customer_required=True)
    assert customer is not None
    fingerprint = _fingerprint(body)
    headers = {"Location": urls.order(key)}
    existing = conn.execute("SELECT * FROM oa_orders WHERE uuid = ?", (key,)).fetchone()
    if existing is not None:
        if existing["fingerprint"] != fingerprint:
            raise _fail(
                500, "OrderAlreadyExistsError", "This Order UUID is already used by a different Order."
            )
        return BookingResponse(_order_json(conn, urls, existing), status_code=201, headers=headers)
    if body.get("payment") is not None:
        raise _fail(400, "UnnecessaryPaymentDetailsError", "Payment is taken at the centre: send no payment.")
    items = _check_items(conn, urls, body.get("orderedItem"))
    if any(
        e["@type"] in ("OpportunityIsFullError", "OpportunityHasInsufficientCapacityError")
        for i in items
        for e in i.errors
    ):
        raise _fail(
            409, "OpportunityHasInsufficientCapacityError", "There are not enough spaces left to book."
        )
    if any(i.errors for i in items):
        raise _fail(
            409, "UnableToProcessOrderItemError", "An item in this Order cannot be booked; check it at C2."
        )
    total = _total([i.opportunity.price for i in items if i.opportunity])
    stated = (body.get("totalPaymentDue") or {}).get("price")
    if not isinstance(stated, (int, float)) or Decimal(str(stated)) != Decimal(str(total["price"])):
        raise _fail(400, "TotalPaymentDueMismatchError", "totalPaymentDue does not match the current price.")
    modified = _tick(conn)
    for item in items:
        opp = item.opportunity
        assert opp is not None
        taken = conn.execute(
            f"UPDATE {opp.table} SET remaining = remaining - 1, modified = ? WHERE id = ? AND remaining > 0",
            (modified, opp.row["id"]),
        ).rowcount
        if not taken:  # someone else took the last space since the check (the request rolls back)
            raise _fail(
                409, "OpportunityHasInsufficientCapacityError", "There are not enough spaces left to book."
            )
    conn.execute(
        "INSERT INTO oa_orders VALUES (?,?,?,?,?,?,?,?,?)",
        (
            key,
            _new_order_number(conn),
            fingerprint,
            json.dumps(customer),
            str(customer.get("email", "")).lower(),
            normalise_telephone(str(customer.get("telephone", ""))),
            json.dumps(body["broker"]),
            _now_local().isoformat(timespec="seconds"),
            modified,
        ),
    )
    conn.executemany(
        ORDER_ITEM_INSERT,
        [
            (key, i.position, i.opportunity.kind, i.opportunity.row["id"], i.opportunity.price, CONFIRMED)
            for i in items
            if i.opportunity
        ],
    )
    order = conn.execute("SELECT * FROM oa_orders WHERE uuid = ?", (key,)).fetchone()
    return BookingResponse(_order_json(conn, urls, order), status_code=201, headers=headers)


@api_router.get("/orders/{order_uuid}", summary="Order Status")
def get_order(order_uuid: uuid_module.UUID, request: Request, conn: DbDep) -> Response:
    sql = "SELECT * FROM oa_orders WHERE uuid = ?"
    order = fetch_one(conn, sql, (str(order_uuid),), missing=_unknown_order())
    return BookingResponse(_order_json(conn, Urls(request), order))


@api_router.patch(
    "/orders/{order_uuid}",
    summary="Customer cancellation: set orderItemStatus to CustomerCancelled on each item (204)",
    status_code=204,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                MEDIA_TYPE: {
                    "example": {
                        "@context": CONTEXT,
                        "@type": "Order",
                        "orderedItem": [
                            {
                                "@type": "OrderItem",
                                "@id": "http://127.0.0.1:8081/openactive/api/orders/<uuid>#/orderedItem/1",
                                "orderItemStatus": CUSTOMER_CANCELLED,
                            }
                        ],
                    }
                }
            },
        }
    },
)
async def cancel_order(order_uuid: uuid_module.UUID, request: Request, conn: DbDep) -> Response:
    key = str(order_uuid)
    body = await _read_order(request, "Order")
    fetch_one(conn, "SELECT * FROM oa_orders WHERE uuid = ?", (key,), missing=_unknown_order())
    extra = set(body) - {"@context", "@type", "orderedItem"}
    if extra:
        raise _fail(400, "PatchContainsExcessivePropertiesError", "Only orderedItem may be sent to cancel.")
    patch = body.get("orderedItem")
    if not isinstance(patch, list) or not patch:
        raise _fail(400, "OpenBookingError", "orderedItem must list the OrderItems to cancel.")
    to_cancel: list[sqlite3.Row] = []
    for item in patch:
        item = item if isinstance(item, dict) else {}
        if set(item) - {"@type", "@id", "orderItemStatus"}:
            raise _fail(
                400, "PatchContainsExcessivePropertiesError", "Only @id and orderItemStatus may be sent."
            )
        if item.get("orderItemStatus") != CUSTOMER_CANCELLED:
            raise _fail(
                400,
                "PatchNotAllowedOnPropertyError",
                "Only 'https://openactive.io/CustomerCancelled' is permitted for orderItemStatus.",
            )
        match = _ORDER_ITEM_ID.search(str(item.get("@id", "")))
        if match is None:
            raise _fail(500, "OrderItemIdInvalidError", "An OrderItem @id is not valid.")
        row = conn.execute(
            "SELECT * FROM oa_order_items WHERE id = ? AND order_uuid = ?", (int(match.group(2)), key)
        ).fetchone()
        if match.group(1) != key or row is None:
            raise _fail(500, "OrderItemNotWithinOrderError", "An OrderItem is not part of this Order.")
        to_cancel.append(row)
    urls = Urls(request)
    now = _now_local()
    live = [r for r in to_cancel if r["status"] != CUSTOMER_CANCELLED]
    for row in live:
        opp = _find_opportunity(conn, urls, row["kind"], row["opportunity_id"])
        assert opp is not None
        if _local(opp.row["start"]) - CANCELLATION_WINDOW <= now:
            raise _fail(
                400,
                "CancellationNotPermittedError",
                "Bookings can be cancelled up to 2 hours before the start; this one can no longer be "
                "cancelled online. Please call the centre.",
            )
    if live:  # atomic: every item or none (the request's transaction)
        modified = _tick(conn)
        for row in live:
            table = "oa_sessions" if row["kind"] == "ScheduledSession" else "oa_slots"
            conn.execute(
                f"UPDATE {table} SET remaining = MIN(capacity, remaining + 1), modified = ? WHERE id = ?",
                (modified, row["opportunity_id"]),
            )
            conn.execute("UPDATE oa_order_items SET status = ? WHERE id = ?", (CUSTOMER_CANCELLED, row["id"]))
        conn.execute("UPDATE oa_orders SET modified = ? WHERE uuid = ?", (modified, key))
    return Response(status_code=204)


@api_router.get("/orders-rpde", summary="Orders feed (RPDE): changes to Orders, without customer details")
def orders_feed(
    request: Request,
    conn: DbDep,
    afterTimestamp: int | None = Query(None, ge=0),  # noqa: N803
    afterId: uuid_module.UUID | None = Query(None),  # noqa: N803
) -> Response:
    where, args = _after(afterTimestamp, str(afterId) if afterId else None)
    rows = conn.execute(
        f"SELECT * FROM oa_orders {where.format(key='uuid')} ORDER BY modified, uuid LIMIT {PAGE_SIZE}", args
    ).fetchall()
    urls = Urls(request)

    items = [
        {
            "state": "updated",
            "kind": "Order",
            "id": row["uuid"],
            "modified": row["modified"],
            "data": _order_json(conn, urls, row, for_feed=True),
        }
        for row in rows
    ]
    return BookingResponse(_rpde_page(request, items))


@api_router.get(
    "/ext/orders",
    summary="Sandbox extension: find Orders by orderNumber, customer email or telephone",
    description=(
        "Not part of the Open Booking API: the spec keeps `customer` and `orderNumber` out of the Orders "
        "feed and expects the Broker to keep its own record of them. Documented in "
        "integrations/contracts/openactive.md."
    ),
)
def find_orders(
    request: Request,
    conn: DbDep,
    orderNumber: str | None = Query(None, max_length=16),  # noqa: N803
    email: str | None = Query(None, max_length=254),
    telephone: str | None = Query(None, max_length=20),
) -> Response:
    if not (orderNumber or email or telephone):
        raise _fail(400, "OpenBookingError", "Give orderNumber, email or telephone.")
    clauses, args = [], []
    if orderNumber:
        clauses.append("upper(order_number) = ?")
        args.append(orderNumber.strip().upper())
    if email:
        clauses.append("customer_email = ?")
        args.append(email.strip().lower())
    if telephone:
        clauses.append("customer_telephone = ?")
        args.append(normalise_telephone(telephone))
    rows = conn.execute(
        f"SELECT * FROM oa_orders WHERE {' AND '.join(clauses)} ORDER BY created, uuid", args
    ).fetchall()
    urls = Urls(request)
    return BookingResponse(
        {
            "@context": CONTEXT,
            "@type": "ItemList",
            "itemListElement": [_order_json(conn, urls, r) for r in rows],
        }
    )


@api_router.get(f"/organisations/{SELLER_SLUG}", summary="The seller (the council's leisure operator)")
def seller(request: Request) -> Response:
    return BookingResponse({"@context": CONTEXT, **_seller(Urls(request))})


router = APIRouter()
router.include_router(feeds_router)
router.include_router(api_router)
