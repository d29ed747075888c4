"""Open311 GeoReport v2: missed bins, bin deliveries and complaints at ``/open311/v2``.

Paths, fields and errors follow the GeoReport v2 specification: ``services.json``,
``services/{code}.json``, form-encoded ``POST requests.json`` answered with
``[{service_request_id, service_notice, account_id}]``, ``requests/{id}.json``
and ``requests.json`` with filters; errors are a list of ``{code, description}``
(403 bad api_key, 404 unknown service or request, 400 anything else). Only the
JSON format is served.

Two choices of ours:
- ``attribute[idempotency_key]`` (our extension, listed in each service
  definition): a client-generated key; posting the same key again returns the
  request it created instead of a second one, so a retry after a timeout is safe.
- Service request ids use the council's reference format: ``MB-`` + 6 digits
  for missed bins, ``BD-`` for bin deliveries, ``CP-`` for complaints.

This table is the one store of missed-bin reports: the waste module reads it
for its pre-check, and a missed-bin request is accepted here only if that same
pre-check (``waste.missed_bin_check``) says the bin is eligible.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Query

from integrations.sandbox.db import fetch_one
from integrations.sandbox.deps import WorldDep
from integrations.sandbox.systems import waste
from integrations.sandbox.systems.waste import DbDep
from integrations.sandbox.world import LONDON, SEED, Address, World

PATH_PREFIXES = ("/open311/v2",)
VALID_KEYS = {"sandbox-open311-key"}
MAX_RESULTS = 1000
DEFAULT_DAYS = 90

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])


def error_body(status: int, message: str) -> list[dict[str, Any]]:
    return [{"code": status, "description": message}]


def fail(status: int, message: str) -> HTTPException:
    return HTTPException(status, error_body(status, message))


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "missing or invalid field: `[{code, description}]`"},
    403: {"description": "invalid api_key"},
    404: {"description": "unknown service or request"},
}

# --- services -------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: str
    required: bool
    description: str
    values: tuple[tuple[str, str], ...] = ()
    datatype_description: str = ""


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    description: str
    group: str
    keywords: str
    prefix: str
    working_days: int
    needs_location: bool
    attributes: tuple[Attribute, ...]


UPRN = Attribute("uprn", "string", True, "Unique Property Reference Number of the property (from OS Places)")
BIN_TYPE = Attribute(
    "bin_type",
    "singlevaluelist",
    True,
    "Which bin",
    tuple((k, s.name) for k, s in waste.BIN_SERVICES.items()),
)
IDEMPOTENCY_KEY = Attribute(
    "idempotency_key",
    "string",
    False,
    "Client-generated key (our extension): the same key again returns the same request",
    datatype_description="up to 64 characters",
)
AGENCIES = {
    "waste": "Waste and Recycling",
    "council_tax": "Revenues and Benefits",
    "leisure": "Leisure Services",
    "libraries": "Library Services",
    "other": "Customer Services",
}
REASON = Attribute(
    "reason",
    "singlevaluelist",
    True,
    "Why a bin is needed",
    (
        ("new_property", "New property"),
        ("damaged", "Damaged"),
        ("stolen", "Lost or stolen"),
        ("additional", "Additional bin"),
    ),
)
COMPLAINT_ABOUT = Attribute(
    "complaint_about",
    "singlevaluelist",
    True,
    "Which service the complaint is about",
    tuple(AGENCIES.items()),
)
SERVICES: dict[str, Service] = {
    s.code: s
    for s in (
        Service(
            code="missed_bin",
            name="Missed bin collection",
            description="Report a bin the crew did not empty on collection day",
            group="Waste and recycling",
            keywords="bin,missed,collection,rubbish,recycling",
            prefix="MB",
            working_days=2,
            needs_location=True,
            attributes=(UPRN, BIN_TYPE, IDEMPOTENCY_KEY),
        ),
        Service(
            code="bin_delivery",
            name="New or replacement bin",
            description="Ask for a new, replacement or extra bin or box",
            group="Waste and recycling",
            keywords="bin,new,replacement,damaged,stolen,delivery",
            prefix="BD",
            working_days=10,
            needs_location=True,
            attributes=(UPRN, BIN_TYPE, REASON, IDEMPOTENCY_KEY),
        ),
        Service(
            code="complaint",
            name="Complaint",
            description="Tell us where we got something wrong; we reply within 10 working days",
            group="Customer services",
            keywords="complaint,complain,unhappy,feedback",
            prefix="CP",
            working_days=10,
            needs_location=False,
            attributes=(
                COMPLAINT_ABOUT,
                Attribute("uprn", "string", False, "The property, if the complaint is about one"),
                Attribute("related_reference", "string", False, "A reference the complaint is about, if any"),
                IDEMPOTENCY_KEY,
            ),
        ),
    )
}


def service_or_404(code: str) -> Service:
    service = SERVICES.get(code)
    if service is None:
        raise fail(404, f"Service not found: {code[:40]}")
    return service


@router.get("/services.json", summary="Service list")
def list_services(jurisdiction_id: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "service_code": s.code,
            "service_name": s.name,
            "description": s.description,
            "metadata": True,
            "type": "realtime",
            "keywords": s.keywords,
            "group": s.group,
        }
        for s in SERVICES.values()
    ]


@router.get("/services/{service_code}.json", responses=ERRORS, summary="Service definition (attributes)")
def service_definition(service_code: str, jurisdiction_id: str | None = None) -> dict[str, Any]:
    service = service_or_404(service_code)
    return {
        "service_code": service.code,
        "attributes": [
            {
                "variable": True,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": a.datatype_description or None,
                "order": order,
                "description": a.description,
                **({"values": [{"key": k, "name": n} for k, n in a.values]} if a.values else {}),
            }
            for order, a in enumerate(service.attributes, start=1)
        ],
    }


# --- coordinates: OS National Grid (OSGB36) to WGS84 latitude and longitude ---------


def grid_to_wgs84(easting: float, northing: float) -> tuple[float, float]:
    """Inverse Transverse Mercator on Airy 1830, then a Helmert shift to WGS84 (a few metres)."""
    a, b, f0 = 6377563.396, 6356256.909, 0.9996012717
    lat0, lon0, n0, e0 = math.radians(49), math.radians(-2), -100000.0, 400000.0
    e2 = 1 - (b * b) / (a * a)
    n = (a - b) / (a + b)

    def meridional(lat: float) -> float:
        d, s = lat - lat0, lat + lat0
        return (
            b
            * f0
            * (
                (1 + n + 1.25 * n**2 + 1.25 * n**3) * d
                - (3 * n + 3 * n**2 + 2.625 * n**3) * math.sin(d) * math.cos(s)
                + (1.875 * n**2 + 1.875 * n**3) * math.sin(2 * d) * math.cos(2 * s)
                - (35 / 24) * n**3 * math.sin(3 * d) * math.cos(3 * s)
            )
        )

    lat, m = lat0, 0.0
    while abs(northing - n0 - m) >= 0.00001:
        lat += (northing - n0 - m) / (a * f0)
        m = meridional(lat)
    sin2 = math.sin(lat) ** 2
    nu = a * f0 / math.sqrt(1 - e2 * sin2)
    rho = a * f0 * (1 - e2) / (1 - e2 * sin2) ** 1.5
    eta2 = nu / rho - 1
    t, sec = math.tan(lat), 1 / math.cos(lat)
    de = easting - e0
    lat_osgb = (
        lat
        - t / (2 * rho * nu) * de**2
        + t / (24 * rho * nu**3) * (5 + 3 * t**2 + eta2 - 9 * t**2 * eta2) * de**4
        - t / (720 * rho * nu**5) * (61 + 90 * t**2 + 45 * t**4) * de**6
    )
    lon_osgb = (
        lon0
        + sec / nu * de
        - sec / (6 * nu**3) * (nu / rho + 2 * t**2) * de**3
        + sec / (120 * nu**5) * (5 + 28 * t**2 + 24 * t**4) * de**5
        - sec / (5040 * nu**7) * (61 + 662 * t**2 + 1320 * t**4 + 720 * t**6) * de**7
    )
    # Cartesian on Airy 1830, Helmert to WGS84, back to latitude and longitude on GRS80.
    nu0 = a / math.sqrt(1 - e2 * math.sin(lat_osgb) ** 2)
    x = nu0 * math.cos(lat_osgb) * math.cos(lon_osgb)
    y = nu0 * math.cos(lat_osgb) * math.sin(lon_osgb)
    z = (1 - e2) * nu0 * math.sin(lat_osgb)
    tx, ty, tz, s = 446.448, -125.157, 542.060, -20.4894e-6
    rx, ry, rz = (math.radians(v / 3600) for v in (0.1502, 0.2470, 0.8421))
    x2 = tx + (1 + s) * x - rz * y + ry * z
    y2 = ty + rz * x + (1 + s) * y - rx * z
    z2 = tz - ry * x + rx * y + (1 + s) * z
    a2, b2 = 6378137.0, 6356752.3141
    e2w = 1 - (b2 * b2) / (a2 * a2)
    p = math.hypot(x2, y2)
    lat_w = math.atan2(z2, p * (1 - e2w))
    for _ in range(10):
        nu_w = a2 / math.sqrt(1 - e2w * math.sin(lat_w) ** 2)
        lat_w = math.atan2(z2 + e2w * nu_w * math.sin(lat_w), p)
    return round(math.degrees(lat_w), 6), round(math.degrees(math.atan2(y2, x2)), 6)


@lru_cache(maxsize=1024)
def _lat_long(address: Address) -> tuple[float, float]:
    return grid_to_wgs84(address.x, address.y)


def nearest_address(world: World, lat: float, long: float, within_m: float = 250) -> Address | None:
    def metres(a: Address) -> float:
        alat, along = _lat_long(a)
        dx = (along - long) * 111_320 * math.cos(math.radians(lat))
        return math.hypot(dx, (alat - lat) * 110_574)

    best = min(world.addresses, key=metres, default=None)
    return best if best is not None and metres(best) <= within_m else None


# --- storage ------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE open311_requests (
    service_request_id TEXT PRIMARY KEY,
    service_code TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    status_notes TEXT,
    description TEXT,
    agency_responsible TEXT,
    service_notice TEXT,
    requested_datetime TEXT NOT NULL,
    updated_datetime TEXT NOT NULL,
    expected_datetime TEXT,
    address TEXT,
    address_id TEXT,
    zipcode TEXT,
    lat REAL,
    long REAL,
    uprn TEXT,
    bin_type TEXT,
    attributes TEXT NOT NULL DEFAULT '{}',
    email TEXT,
    phone TEXT,
    first_name TEXT,
    last_name TEXT,
    idempotency_key TEXT UNIQUE
);
CREATE INDEX open311_requests_uprn ON open311_requests (uprn, service_code, bin_type);
CREATE INDEX open311_requests_requested ON open311_requests (requested_datetime);
"""

COLUMNS = (
    "service_request_id",
    "service_code",
    "status",
    "status_notes",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "uprn",
    "bin_type",
    "attributes",
    "email",
    "phone",
    "first_name",
    "last_name",
    "idempotency_key",
)


def _insert(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    conn.execute(
        f"INSERT INTO open311_requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        [row.get(c) for c in COLUMNS],
    )


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(LONDON).replace(microsecond=0).isoformat()


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON)


def _place(address: Address | None) -> dict[str, Any]:
    if address is None:
        return {}
    lat, long = _lat_long(address)
    return {
        "address": address.single_line,
        "address_id": address.uprn,
        "zipcode": address.postcode,
        "uprn": address.uprn,
        "lat": lat,
        "long": long,
    }


def notice(service: Service, expected: dt.datetime, agency: str) -> str:
    """What the resident is told will happen next."""
    if service.code == "missed_bin":
        return f"We will return to empty the bin by {expected:%A %-d %B}."
    if service.code == "bin_delivery":
        return f"We aim to deliver within {service.working_days} working days, by {expected:%A %-d %B}."
    return f"The {agency} team will reply by {expected:%A %-d %B} ({service.working_days} working days)."


def expected_by(service: Service, day: dt.date) -> dt.datetime:
    return _at(waste.add_working_days(day, service.working_days), 18 if service.code == "missed_bin" else 17)


# (service, SN15 1ER house number or "", bin type, status, working days ago, description, notes, attributes)
SEEDED = (
    (
        "bin_delivery",
        "5",
        "recycling",
        "open",
        4,
        "Recycling bin cracked",
        "Delivery booked with the depot.",
        {"reason": "damaged"},
    ),
    (
        "bin_delivery",
        "6",
        "garden",
        "closed",
        15,
        "New garden waste bin",
        "Delivered.",
        {"reason": "new_property"},
    ),
    (
        "complaint",
        "7",
        None,
        "open",
        3,
        "Crew left rubbish in the road",
        "With the Waste and Recycling team.",
        {"complaint_about": "waste"},
    ),
    (
        "complaint",
        "",
        None,
        "closed",
        20,
        "Bill sent to the wrong name",
        "Replied by email.",
        {"complaint_about": "council_tax"},
    ),
)


def seed(conn: sqlite3.Connection, world: World) -> None:
    """Missed-bin reports from the waste plan; a few bin deliveries and complaints at SN15 1ER."""
    by_uprn = {a.uprn: a for a in world.addresses}
    missed_bin = SERVICES["missed_bin"]
    for r in waste.plan(world).reports:
        expected = expected_by(missed_bin, r.requested.date())
        updated = r.requested if r.status == "open" else _at(waste.add_working_days(r.collection_date, 1), 15)
        _insert(
            conn,
            {
                "service_request_id": r.reference,
                "service_code": "missed_bin",
                "status": r.status,
                "status_notes": r.notes,
                "description": "Bin not emptied",
                "agency_responsible": AGENCIES["waste"],
                "service_notice": notice(missed_bin, expected, AGENCIES["waste"]),
                "requested_datetime": _stamp(r.requested),
                "updated_datetime": _stamp(updated),
                "expected_datetime": _stamp(expected),
                "bin_type": r.bin_type,
                "attributes": json.dumps({"uprn": r.uprn, "bin_type": r.bin_type}),
                **_place(by_uprn[r.uprn]),
            },
        )
    rng = random.Random(f"{SEED}-open311")
    sn15 = {a.building_number: a for a in world.by_postcode("SN15 1ER")}
    for code, number, bin_type, status, ago, description, notes, attributes in SEEDED:
        service = SERVICES[code]
        requested = _at(waste.add_working_days(world.today, -ago), 10, 30)
        expected = expected_by(service, requested.date())
        agency = AGENCIES[attributes.get("complaint_about", "waste")]
        address = sn15.get(number)
        _insert(
            conn,
            {
                "service_request_id": f"{service.prefix}-{rng.randint(100000, 999999)}",
                "service_code": code,
                "status": status,
                "status_notes": notes,
                "description": description,
                "agency_responsible": agency,
                "service_notice": notice(service, expected, agency),
                "requested_datetime": _stamp(requested),
                "updated_datetime": _stamp(
                    requested if status == "open" else expected - dt.timedelta(days=1)
                ),
                "expected_datetime": _stamp(expected),
                "bin_type": bin_type,
                "attributes": json.dumps(
                    {
                        **attributes,
                        **({"uprn": address.uprn} if address else {}),
                        **({"bin_type": bin_type} if bin_type else {}),
                    }
                ),
                **_place(address),
            },
        )


# --- creating a request ---------------------------------------------------------------


def _new_id(conn: sqlite3.Connection, prefix: str) -> str:
    rng = random.Random()
    while True:
        candidate = f"{prefix}-{rng.randint(100000, 999999)}"
        if not conn.execute(
            "SELECT 1 FROM open311_requests WHERE service_request_id = ?", (candidate,)
        ).fetchone():
            return candidate


def _created(row: sqlite3.Row) -> list[dict[str, Any]]:
    return [
        {
            "service_request_id": row["service_request_id"],
            "service_notice": row["service_notice"],
            "account_id": None,
        }
    ]


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@router.post("/requests.json", responses=ERRORS, summary="Create a service request (form-encoded)")
def create_request(
    conn: DbDep,
    world: WorldDep,
    api_key: str | None = Form(None),
    service_code: str | None = Form(None),
    jurisdiction_id: str | None = Form(None),
    lat: float | None = Form(None, ge=-90, le=90),
    long: float | None = Form(None, ge=-180, le=180),
    address_string: str | None = Form(None, max_length=500),
    address_id: str | None = Form(None, max_length=20),
    email: str | None = Form(None, max_length=254),
    device_id: str | None = Form(None, max_length=100),
    account_id: str | None = Form(None, max_length=100),
    first_name: str | None = Form(None, max_length=100),
    last_name: str | None = Form(None, max_length=100),
    phone: str | None = Form(None, max_length=30),
    description: str | None = Form(None, max_length=4000),
    media_url: str | None = Form(None, max_length=500),
    uprn: str | None = Form(None, alias="attribute[uprn]", max_length=12),
    bin_type: str | None = Form(None, alias="attribute[bin_type]"),
    reason: str | None = Form(None, alias="attribute[reason]"),
    complaint_about: str | None = Form(None, alias="attribute[complaint_about]"),
    related_reference: str | None = Form(None, alias="attribute[related_reference]", max_length=40),
    idempotency_key: str | None = Form(None, alias="attribute[idempotency_key]", max_length=64),
) -> list[dict[str, Any]]:
    if api_key not in VALID_KEYS:
        raise fail(403, "Invalid api_key")
    if not service_code:
        raise fail(400, "service_code is required")
    service = service_or_404(service_code)
    given = {
        "uprn": uprn,
        "bin_type": bin_type,
        "reason": reason,
        "complaint_about": complaint_about,
        "related_reference": related_reference,
    }
    attributes = {a.code: given[a.code] for a in service.attributes if given.get(a.code)}

    if idempotency_key:
        done = conn.execute(
            "SELECT * FROM open311_requests WHERE idempotency_key = ?", (idempotency_key,)
        ).fetchone()
        if done is not None:
            if done["service_code"] != service.code or json.loads(done["attributes"]) != attributes:
                raise fail(400, "attribute[idempotency_key] was already used for a different request")
            return _created(done)

    for a in service.attributes:
        if a.required and not attributes.get(a.code):
            raise fail(400, f"attribute[{a.code}] is required")
        if a.values and a.code in attributes and attributes[a.code] not in dict(a.values):
            raise fail(400, f"attribute[{a.code}] must be one of {', '.join(dict(a.values))}")
    has_location = (lat is not None and long is not None) or bool(address_string) or bool(address_id)
    if service.needs_location and not has_location:
        raise fail(400, "A location is required: lat and long, address_string or address_id")
    if email and not EMAIL.match(email):
        raise fail(400, "email is not a valid email address")
    if service.code == "complaint" and not (email or phone):
        raise fail(400, "email or phone is required so that we can reply")

    by_uprn = {a.uprn: a for a in world.addresses}
    property_id = attributes.get("uprn") or address_id
    address = by_uprn.get(property_id or "")
    if property_id and address is None:
        raise fail(400, "attribute[uprn] (or address_id) is not a property in this council's area")
    if address is None and lat is not None and long is not None:
        address = nearest_address(world, lat, long)

    now = waste.sandbox_now(world.today)
    expected = expected_by(service, world.today)
    agency = AGENCIES[attributes.get("complaint_about", "waste")]
    if service.code == "missed_bin":
        check = waste.missed_bin_check(conn, world, attributes["uprn"], attributes["bin_type"])
        if not check.eligible:
            raise fail(400, check.message)
    notes = {"missed_bin": "Passed to the collection crew.", "bin_delivery": "Ordered."}.get(
        service.code, f"With the {agency} team."
    )
    row = {
        "service_request_id": _new_id(conn, service.prefix),
        "service_code": service.code,
        "status": "open",
        "status_notes": notes,
        "description": description,
        "agency_responsible": agency,
        "service_notice": notice(service, expected, agency),
        "requested_datetime": _stamp(now),
        "updated_datetime": _stamp(now),
        "expected_datetime": _stamp(expected),
        "lat": lat,
        "long": long,
        "address": address_string,
        "address_id": address_id,
        **_place(address),
        "bin_type": attributes.get("bin_type"),
        "attributes": json.dumps(attributes),
        "email": email,
        "phone": phone,
        "first_name": first_name,
        "last_name": last_name,
        "idempotency_key": idempotency_key,
    }
    _insert(conn, row)
    return _created(
        conn.execute(
            "SELECT * FROM open311_requests WHERE service_request_id = ?", (row["service_request_id"],)
        ).fetchone()
    )


# --- reading requests ------------------------------------------------------------------


def _public(row: sqlite3.Row) -> dict[str, Any]:
    """A request as GeoReport v2 shows it: never the reporter's name, email or phone."""
    service = SERVICES.get(row["service_code"])
    return {
        "service_request_id": row["service_request_id"],
        "status": row["status"],
        "status_notes": row["status_notes"],
        "service_name": service.name if service else row["service_code"],
        "service_code": row["service_code"],
        "description": row["description"],
        "agency_responsible": row["agency_responsible"],
        "service_notice": row["service_notice"],
        "requested_datetime": row["requested_datetime"],
        "updated_datetime": row["updated_datetime"],
        "expected_datetime": row["expected_datetime"],
        "address": row["address"],
        "address_id": row["address_id"],
        "zipcode": row["zipcode"],
        "lat": row["lat"],
        "long": row["long"],
        "media_url": None,
    }


@router.get("/requests/{service_request_id}.json", responses=ERRORS, summary="One service request")
def get_request(
    conn: DbDep, service_request_id: str, jurisdiction_id: str | None = None
) -> list[dict[str, Any]]:
    row = fetch_one(
        conn,
        "SELECT * FROM open311_requests WHERE service_request_id = ?",
        (service_request_id.strip().upper(),),
        missing=fail(404, "Service request not found"),
    )
    return [_public(row)]


def _datetime(value: str, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise fail(400, f"{name} must be a W3C datetime, e.g. 2026-11-01T00:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=LONDON)


@router.get(
    "/requests.json", responses=ERRORS, summary="Service requests, filtered (default: the last 90 days)"
)
def find_requests(
    conn: DbDep,
    world: WorldDep,
    service_request_id: str | None = Query(None, description="comma-separated; overrides the other filters"),
    service_code: str | None = Query(None, description="comma-separated"),
    status: str | None = Query(None, description="open, closed or both comma-separated"),
    start_date: str | None = None,
    end_date: str | None = None,
    jurisdiction_id: str | None = None,
) -> list[dict[str, Any]]:
    if service_request_id:
        ids = [i.strip().upper() for i in service_request_id.split(",") if i.strip()][:MAX_RESULTS]
        rows = conn.execute(
            f"SELECT * FROM open311_requests WHERE service_request_id IN ({', '.join('?' * len(ids))}) "
            "ORDER BY requested_datetime DESC",
            ids,
        ).fetchall()
        return [_public(r) for r in rows]
    end = _datetime(end_date, "end_date") if end_date else waste.sandbox_now(world.today)
    start = _datetime(start_date, "start_date") if start_date else end - dt.timedelta(days=DEFAULT_DAYS)
    if start > end:
        raise fail(400, "start_date is after end_date")
    if end - start > dt.timedelta(days=DEFAULT_DAYS):
        raise fail(400, "start_date and end_date may not span more than 90 days")
    # SQLite's datetime() turns the stored local times with offsets into UTC, so DST changes compare right.
    where = ["datetime(requested_datetime) >= datetime(?)", "datetime(requested_datetime) <= datetime(?)"]
    args = [start.isoformat(), end.isoformat()]
    if service_code:
        codes = [c.strip() for c in service_code.split(",") if c.strip()]
        where.append(f"service_code IN ({', '.join('?' * len(codes))})")
        args += codes
    if status:
        statuses = [s.strip().lower() for s in status.split(",") if s.strip()]
        if not set(statuses) <= {"open", "closed"}:
            raise fail(400, "status must be open or closed")
        where.append(f"status IN ({', '.join('?' * len(statuses))})")
        args += statuses
    rows = conn.execute(
        f"SELECT * FROM open311_requests WHERE {' AND '.join(where)} "
        "ORDER BY datetime(requested_datetime) DESC LIMIT ?",
        [*args, MAX_RESULTS],
    ).fetchall()
    return [_public(r) for r in rows]
