"""Koha ILS REST API (``/api/v1``): the council's six libraries.

Paths, fields and errors follow Koha's swagger (``api/v1/swagger``) and controllers:

- OAuth2 client credentials ``POST /api/v1/oauth/token`` (form) -> ``{access_token,
  token_type: "Bearer", expires_in: 3600}``; an unknown client gets 403
  ``{"error": "unauthorized_client"}``; any other call without a valid Bearer token
  gets 401 ``{"error": "Authentication failure."}``.
- Patrons ``GET /patrons?q={"cardnumber": "..."}`` and ``GET /patrons/{id}``; the
  password (PIN) check ``POST /auth/password/validation`` ``{identifier, password}`` ->
  201 ``{cardnumber, patron_id, userid}`` or 400 ``{"error": "Validation failed"}``; five
  wrong PINs in a row lock the account (Koha's FailedLoginAttempts).
- Checkouts ``GET /checkouts?patron_id=`` (a bare array; ``X-Total-Count``, ``Link``,
  ``_page``/``_per_page``), ``GET /checkouts/{id}/allows_renewal``, ``POST
  /checkouts/{id}/renewal`` -> 201, 403 ``{"error": "Renewal not authorized (reason)"}``.
- Holds ``GET/POST /holds``, ``DELETE /holds/{id}``; items ``GET /items`` (``q``,
  ``x-koha-embed: biblio``), biblios ``GET /biblios/{id}`` and ``/biblios/{id}/items``.
- Libraries ``GET /libraries``.
- Item bookings ``GET /bookings``, ``GET /biblios/{id}/bookings``, ``POST /bookings`` ->
  201 (a clash on the item -> 400 ``{"error": "Booking would conflict"}``),
  ``DELETE /bookings/{id}`` -> 204. Public computers and study rooms are bookable items
  of one record per library; an event is a record with one item per seat.

Documented sandbox differences (``integrations/contracts/koha.md``): bookings carry an
``extended_attributes`` entry (additional field 1) holding our ``LB-`` reference; and
two plugin-style routes under ``/api/v1/contrib/council/`` give dated opening hours
(closures included) and the session timetable, which core Koha does not publish.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Body, Depends, Form, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from integrations.office_hours import bank_holiday_names
from integrations.sandbox.db import fetch_one
from integrations.sandbox.deps import DbDep, WorldDep
from integrations.sandbox.world import LONDON, SEED, World

PATH_PREFIXES = ("/api/v1/",)
CLIENTS = {"sandbox-koha-client": "sandbox-koha-secret"}
TOKEN_LIFETIME = 3600
MAX_RENEWALS = 3
LOAN_DAYS = 21
FAILED_LOGIN_ATTEMPTS = 5
DEFAULT_PER_PAGE = 20
#: The bookings additional field that holds our ``LB-`` reference.
REFERENCE_FIELD_ID = 1
RESOURCES = (
    "public computer",
    "study room",
    "rhyme time",
    "code club",
    "author talk",
    "lego club",
    "knit and natter",
)

SCHEMA = """
CREATE TABLE koha_tokens (token TEXT PRIMARY KEY, client_id TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE koha_libraries (
    library_id TEXT PRIMARY KEY, name TEXT NOT NULL, address1 TEXT, address2 TEXT, city TEXT,
    postal_code TEXT, phone TEXT, email TEXT, url TEXT, weekly_json TEXT NOT NULL
);
CREATE TABLE koha_closures (library_id TEXT NOT NULL, date TEXT NOT NULL, title TEXT NOT NULL,
                            PRIMARY KEY (library_id, date));
CREATE TABLE koha_patrons (
    patron_id INTEGER PRIMARY KEY, cardnumber TEXT NOT NULL UNIQUE, userid TEXT NOT NULL,
    surname TEXT NOT NULL, firstname TEXT NOT NULL, email TEXT, phone TEXT, library_id TEXT NOT NULL,
    category_id TEXT NOT NULL,
    date_enrolled TEXT NOT NULL, expiry_date TEXT NOT NULL, restricted INTEGER NOT NULL DEFAULT 0,
    pin_salt TEXT NOT NULL, pin_hash TEXT NOT NULL, login_attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE koha_biblios (
    biblio_id INTEGER PRIMARY KEY, title TEXT NOT NULL, subtitle TEXT, author TEXT, publication_year INTEGER,
    item_type TEXT NOT NULL, resource TEXT, library_id TEXT
);
CREATE TABLE koha_items (
    item_id INTEGER PRIMARY KEY, biblio_id INTEGER NOT NULL REFERENCES koha_biblios(biblio_id),
    external_id TEXT NOT NULL UNIQUE, home_library_id TEXT NOT NULL, item_type_id TEXT NOT NULL,
    callnumber TEXT, copy_number TEXT, bookable INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE koha_checkouts (
    checkout_id INTEGER PRIMARY KEY, patron_id INTEGER NOT NULL, item_id INTEGER NOT NULL UNIQUE,
    library_id TEXT NOT NULL, checkout_date TEXT NOT NULL, due_date TEXT NOT NULL,
    renewals_count INTEGER NOT NULL DEFAULT 0, last_renewed_date TEXT, timestamp TEXT NOT NULL
);
CREATE TABLE koha_holds (
    hold_id INTEGER PRIMARY KEY, patron_id INTEGER NOT NULL, biblio_id INTEGER NOT NULL, item_id INTEGER,
    pickup_library_id TEXT NOT NULL, hold_date TEXT NOT NULL, priority INTEGER NOT NULL,
    expiration_date TEXT, timestamp TEXT NOT NULL
);
CREATE TABLE koha_sessions (
    session_id INTEGER PRIMARY KEY, biblio_id INTEGER NOT NULL, resource TEXT NOT NULL,
    library_id TEXT NOT NULL, start_date TEXT NOT NULL, end_date TEXT NOT NULL
);
CREATE INDEX koha_sessions_find ON koha_sessions (resource, library_id, start_date);
CREATE TABLE koha_bookings (
    booking_id INTEGER PRIMARY KEY, biblio_id INTEGER NOT NULL, item_id INTEGER NOT NULL,
    patron_id INTEGER NOT NULL, pickup_library_id TEXT NOT NULL, start_date TEXT NOT NULL,
    end_date TEXT NOT NULL, status TEXT NOT NULL, reference TEXT UNIQUE, creation_date TEXT NOT NULL,
    modification_date TEXT NOT NULL
);
CREATE INDEX koha_bookings_item ON koha_bookings (item_id, start_date);
"""


# --- the demo council's libraries -------------------------------------------------

Week = dict[int, tuple[str, str] | None]  # weekday (Monday 0) -> (open, close) or closed


@dataclass(frozen=True)
class LibrarySeed:
    library_id: str
    name: str
    address1: str
    address2: str
    city: str
    postal_code: str
    phone: str
    week: Week
    computers: int
    study_rooms: int


# id | name | address1 | address2 | town | postcode | phone | computers | study rooms | Mon..Sun hours
LIBRARY_TABLE = """
CHIP | Chippenham Library | Timber Street |                 | Chippenham | SN15 3BU | 01249 650536 |  8 | 2 | 09:00-18:00 09:00-19:00 09:00-18:00 09:00-19:00 09:00-18:00 09:00-16:00 closed
CORS | Corsham Library    | Springfield Campus | Beechfield Road | Corsham | SN13 9DN | 01249 713540 |  4 | 0 | 09:30-17:30 09:30-17:30 closed 09:30-17:30 09:30-17:30 09:30-13:00 closed
CALN | Calne Library      | The Strand    |                 | Calne      | SN11 0EN | 01249 813128 |  4 | 0 | 09:30-17:30 09:30-17:30 09:30-13:00 09:30-17:30 09:30-17:30 09:30-13:00 closed
TROW | Trowbridge Library | County Hall   | Bythesea Road   | Trowbridge | BA14 8JN | 01225 761171 | 10 | 2 | 09:00-19:00 09:00-19:00 09:00-19:00 09:00-19:00 09:00-19:00 09:00-17:00 10:00-14:00
SALI | Salisbury Library  | The Market Walk |               | Salisbury  | SP1 1BL  | 01722 324145 | 10 | 3 | 09:00-19:00 09:00-19:00 09:00-19:00 09:00-19:00 09:00-19:00 09:00-17:00 11:00-15:00
MELK | Melksham Library   | Melksham Community Campus | Market Place | Melksham | SN12 6ES | 01225 701250 | 6 | 1 | 09:00-18:00 09:00-18:00 09:00-18:00 09:00-18:00 09:00-18:00 09:00-16:00 closed
"""  # noqa: E501 (a table reads best one library a line)


def _rows(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("|")] for line in table.strip().splitlines()]


def _week(spec: str) -> Week:
    return {
        day: None if hours == "closed" else tuple(hours.split("-")) for day, hours in enumerate(spec.split())
    }


LIBRARIES = [
    LibrarySeed(lid, name, a1, a2, town, postcode, phone, _week(hours), int(pcs), int(rooms))
    for lid, name, a1, a2, town, postcode, phone, pcs, rooms, hours in _rows(LIBRARY_TABLE)
]

# (resource, library, weekday, start, minutes, seats): weekly events
WEEKLY_EVENTS = [
    ("rhyme time", "CHIP", 1, "10:30", 30, 15),
    ("rhyme time", "CORS", 3, "10:30", 30, 12),
    ("rhyme time", "CALN", 0, "10:30", 30, 12),
    ("rhyme time", "TROW", 2, "10:30", 30, 20),
    ("rhyme time", "SALI", 4, "10:30", 30, 20),
    ("rhyme time", "MELK", 1, "14:00", 30, 12),
    ("code club", "CHIP", 3, "16:30", 60, 12),
    ("code club", "TROW", 2, "16:30", 60, 12),
    ("code club", "SALI", 5, "10:30", 90, 15),
    ("lego club", "CALN", 5, "10:00", 60, 10),
    ("lego club", "CORS", 5, "10:00", 60, 10),
    ("lego club", "MELK", 5, "10:30", 60, 10),
    ("lego club", "CHIP", 5, "14:00", 60, 12),
    ("knit and natter", "CORS", 0, "14:00", 120, 10),
    ("knit and natter", "MELK", 4, "14:00", 120, 10),
    ("knit and natter", "CHIP", 2, "14:00", 120, 12),
]
# (library, days from today, start, minutes, seats): one-off evening author talks
AUTHOR_TALKS = [("SALI", 6, "18:30", 90, 40), ("CHIP", 10, "19:00", 60, 30)]

BOOKS = [
    (title, author, int(year))
    for title, author, year in _rows(
        """
        Pride and Prejudice | Austen, Jane | 1813
        Middlemarch | Eliot, George | 1871
        Great Expectations | Dickens, Charles | 1861
        Jane Eyre | Brontë, Charlotte | 1847
        Wuthering Heights | Brontë, Emily | 1847
        Far from the Madding Crowd | Hardy, Thomas | 1874
        Tess of the d'Urbervilles | Hardy, Thomas | 1891
        The Moonstone | Collins, Wilkie | 1868
        Emma | Austen, Jane | 1815
        North and South | Gaskell, Elizabeth | 1855
        The Wind in the Willows | Grahame, Kenneth | 1908
        Three Men in a Boat | Jerome, Jerome K. | 1889
        The Secret Garden | Burnett, Frances Hodgson | 1911
        Dracula | Stoker, Bram | 1897
        Frankenstein | Shelley, Mary | 1818
        The Time Machine | Wells, H. G. | 1895
        Persuasion | Austen, Jane | 1817
        Bleak House | Dickens, Charles | 1853
        The Mill on the Floss | Eliot, George | 1860
        Little Women | Alcott, Louisa May | 1868
        Treasure Island | Stevenson, Robert Louis | 1883
        Kidnapped | Stevenson, Robert Louis | 1886
        The Hound of the Baskervilles | Doyle, Arthur Conan | 1902
        Sense and Sensibility | Austen, Jane | 1811
        Cranford | Gaskell, Elizabeth | 1853
        Silas Marner | Eliot, George | 1861
        Oliver Twist | Dickens, Charles | 1838
        The Railway Children | Nesbit, E. | 1906
        Black Beauty | Sewell, Anna | 1877
        Vanity Fair | Thackeray, William Makepeace | 1848
        """
    )
]


@dataclass(frozen=True)
class PatronSeed:
    cardnumber: str
    pin: str
    firstname: str
    surname: str
    library_id: str
    #: loans as (book index, due in days from today, renewals so far)
    loans: tuple[tuple[int, int, int], ...] = ()
    restricted: bool = False


#: Patrons an end-to-end test or a demo can rely on (card numbers and PINs are in the contract).
DEMO_PATRONS = [
    # renewable; reserved by Megan (on_reserve); at the limit (too_many); overdue but renewable
    PatronSeed(
        "21234000123456", "1234", "Alex", "Smith", "CHIP", ((0, 5, 1), (1, 9, 0), (2, 2, 3), (3, -3, 0))
    ),
    # no loans
    PatronSeed("21234000234567", "2468", "Priya", "Patel", "TROW"),
    # all renewable
    PatronSeed("21234000345678", "1357", "Tom", "Brown", "SALI", ((4, 12, 0), (5, 16, 2))),
    # overdue but renewable; too_many
    PatronSeed("21234000456789", "8642", "Aisha", "Khan", "CORS", ((6, -6, 1), (7, 4, 3))),
    # renewable; holds Alex's "Middlemarch"
    PatronSeed("21234000567890", "9753", "Megan", "Jones", "MELK", ((8, 7, 0),)),
    # restricted (debarred): no renewals
    PatronSeed("21234000678901", "5555", "Oliver", "Evans", "CALN", ((9, 3, 0),), restricted=True),
]
#: Holds by (patron index, book index): Megan waits for Alex's "Middlemarch".
DEMO_HOLDS = [(4, 1)]
#: A demo booking: Alex has a public computer at Chippenham tomorrow at 10:00.
DEMO_BOOKING_REFERENCE = "LB-310001"


# --- shapes and helpers ---------------------------------------------------------------


def error_body(status: int, message: str) -> Any:
    if status == 400:  # Koha's OpenAPI input validation (Mojolicious::Plugin::OpenAPI)
        where, _, text = message.partition(": ")
        path = "/" + where.replace(".", "/") if text and not where.isdigit() else "/body"
        return {"errors": [{"message": text or message, "path": path}], "status": 400}
    if status == 401:
        return {"error": "Authentication failure."}
    if status == 404:
        return {"errors": [{"message": "Not Found.", "path": "/"}], "status": 404}
    if status == 500:
        return {
            "error": "Something went wrong, check Koha logs for details.",
            "error_code": "internal_server_error",
        }
    if status == 503:
        return {"error": "System is under maintenance.", "error_code": "under_maintenance"}
    return {"error": message}


def _error(status: int, message: str, code: str | None = None) -> HTTPException:
    return HTTPException(status, {"error": message, **({"error_code": code} if code else {})})


def _not_found(what: str) -> HTTPException:
    return _error(404, f"{what} not found", "not_found")


def _input_error(path: str, message: str) -> HTTPException:
    """Koha's OpenAPI input-validation error, e.g. a missing property."""
    return HTTPException(400, {"errors": [{"message": message, "path": path}], "status": 400})


def _missing(field: str) -> HTTPException:
    return _input_error(f"/body/{field}", "Missing property.")


def _now_local() -> dt.datetime:
    return dt.datetime.now(LONDON).replace(tzinfo=None, microsecond=0)


def _rfc3339(value: str | None) -> str | None:
    """A stored local time as Koha renders it: RFC 3339 with the library's offset."""
    return dt.datetime.fromisoformat(value).replace(tzinfo=LONDON).isoformat() if value else None


def _parse_datetime(value: Any, field: str) -> dt.datetime:
    """An RFC 3339 date-time from a request, as local (Europe/London) time without offset."""
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _input_error(f"/body/{field}", "Does not match date-time format.") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(LONDON).replace(tzinfo=None)
    return moment


def insert(conn: sqlite3.Connection, table: str, **values: Any) -> int:
    columns = ", ".join(values)
    marks = ", ".join("?" * len(values))
    return conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(values.values())).lastrowid


def exists(conn: sqlite3.Connection, table: str, **where: Any) -> bool:
    clauses = " AND ".join(f"{column} = ?" for column in where)
    return (
        conn.execute(f"SELECT 1 FROM {table} WHERE {clauses}", tuple(where.values())).fetchone() is not None
    )


def _pin_hash(salt: str, pin: str) -> str:
    return hashlib.sha256(f"{salt}:{pin}".encode()).hexdigest()


def _embeds(header: str | None) -> set[str]:
    return {part.strip() for part in (header or "").split(",") if part.strip()}


# --- query parameters: q, _page, _per_page ---------------------------------------------

_OPERATORS = {
    "=": "=",
    "!=": "!=",
    ">": ">",
    ">=": ">=",
    "<": "<",
    "<=": "<=",
    "-like": "LIKE",
    "-not_like": "NOT LIKE",
}


def _invalid_query(message: str) -> HTTPException:
    return _error(400, message, "invalid_query")


def where_from_q(
    q: str | None, columns: dict[str, str], dates: frozenset[str] = frozenset()
) -> tuple[list, list]:
    """Koha's ``q`` JSON filter (a subset of its SQL::Abstract syntax) as SQL clauses."""
    if not q:
        return [], []
    try:
        query = json.loads(q)
    except ValueError:
        raise _invalid_query("Malformed query string") from None
    if not isinstance(query, dict):
        raise _invalid_query("Malformed query string")
    clauses: list[str] = []
    args: list[Any] = []

    def value(field: str, raw: Any) -> Any:
        if field in dates and isinstance(raw, str):
            return _parse_datetime(raw, field).isoformat()
        if isinstance(raw, (dict, list)):
            raise _invalid_query(f"Invalid value for {field}")
        return raw

    for field, condition in query.items():
        column = columns.get(field)
        if column is None:
            raise _invalid_query(f"Invalid field in query: {field}")
        conditions = (
            condition
            if isinstance(condition, dict)
            else {"-in" if isinstance(condition, list) else "=": condition}
        )
        for op, operand in conditions.items():
            if op == "-in":
                operands = operand if isinstance(operand, list) else [operand]
                clauses.append(f"{column} IN ({','.join('?' * len(operands))})" if operands else "0")
                args.extend(value(field, o) for o in operands)
            elif op in _OPERATORS:
                clauses.append(f"{column} {_OPERATORS[op]} ?")
                args.append(value(field, operand))
            else:
                raise _invalid_query(f"Invalid operator in query: {op}")
    return clauses, args


@dataclass
class Page:
    page: int
    per_page: int

    @classmethod
    def of(cls, page: int | None, per_page: int | None) -> Page:
        if per_page == 0:
            raise _input_error("/_per_page", "Must be -1 or at least 1.")
        return cls(page or 1, per_page if per_page is not None else DEFAULT_PER_PAGE)

    def apply(self, request: Request, response: Response, rows: list[Any]) -> list[Any]:
        """One page of ``rows``, with Koha's X-Total-Count and Link headers."""
        total = len(rows)
        response.headers["X-Total-Count"] = str(total)
        response.headers["X-Base-Total-Count"] = str(total)
        if self.per_page == -1:
            return rows
        last = max(1, -(-total // self.per_page))
        links = []

        def link(page: int, rel: str) -> str:
            url = request.url.include_query_params(_page=page, _per_page=self.per_page)
            return f'<{url}>; rel="{rel}"'

        if self.page > 1:
            links.append(link(self.page - 1, "prev"))
        if self.page < last:
            links.append(link(self.page + 1, "next"))
        links += [link(1, "first"), link(last, "last")]
        response.headers["Link"] = ", ".join(links)
        start = (self.page - 1) * self.per_page
        return rows[start : start + self.per_page]


def paging(
    _page: int | None = Query(None, ge=1, description="page number, from 1"),
    _per_page: int | None = Query(None, ge=-1, description="items per page (default 20, -1 for all)"),
) -> Page:
    return Page.of(_page, _per_page)


# --- authentication ---------------------------------------------------------------------


def require_token(request: Request, conn: DbDep) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, {"error": "Authentication failure."})
    row = conn.execute(
        "SELECT client_id, expires_at FROM koha_tokens WHERE token = ?", (token.strip(),)
    ).fetchone()
    if row is None or row["expires_at"] <= time.time():
        raise HTTPException(401, {"error": "Authentication failure."})
    return row["client_id"]


oauth_router = APIRouter(prefix="/api/v1", tags=["Koha: authentication"])
api = APIRouter(prefix="/api/v1", tags=["Koha ILS"], dependencies=[Depends(require_token)])


@oauth_router.post("/oauth/token", summary="OAuth2 client credentials: a Bearer token for 3600 s")
def oauth_token(
    conn: DbDep,
    grant_type: str = Form(...),
    client_id: str = Form(""),
    client_secret: str = Form(""),
) -> JSONResponse:
    if grant_type != "client_credentials":
        raise _error(400, "Unimplemented grant type")
    if CLIENTS.get(client_id) != client_secret or not client_secret:
        raise _error(403, "unauthorized_client")
    token = secrets.token_hex(20)
    conn.execute("DELETE FROM koha_tokens WHERE expires_at <= ?", (time.time(),))
    conn.execute("INSERT INTO koha_tokens VALUES (?,?,?)", (token, client_id, time.time() + TOKEN_LIFETIME))
    return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME})


# --- patrons ----------------------------------------------------------------------------

_PATRON_COLUMNS = {
    column: column
    for column in (
        "patron_id",
        "cardnumber",
        "surname",
        "firstname",
        "email",
        "library_id",
        "category_id",
        "userid",
    )
}


def _patron_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "patron_id": row["patron_id"],
        "cardnumber": row["cardnumber"],
        "userid": row["userid"],
        "surname": row["surname"],
        "firstname": row["firstname"],
        "email": row["email"],
        "phone": row["phone"],
        "library_id": row["library_id"],
        "category_id": row["category_id"],
        "date_enrolled": row["date_enrolled"],
        "expiry_date": row["expiry_date"],
        "restricted": bool(row["restricted"]),
    }


@api.get("/patrons", summary='List patrons (q, e.g. {"cardnumber": "21234000123456"})')
def list_patrons(
    request: Request,
    response: Response,
    conn: DbDep,
    page: Page = Depends(paging),
    q: str | None = Query(None),
    cardnumber: str | None = Query(None),
) -> list[dict[str, Any]]:
    clauses, args = where_from_q(q, _PATRON_COLUMNS)
    if cardnumber:
        clauses.append("cardnumber = ?")
        args.append(cardnumber)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(f"SELECT * FROM koha_patrons {where} ORDER BY patron_id", args).fetchall()
    return [_patron_json(r) for r in page.apply(request, response, rows)]


@api.get("/patrons/{patron_id}", summary="Get patron")
def get_patron(patron_id: int, conn: DbDep) -> dict[str, Any]:
    sql = "SELECT * FROM koha_patrons WHERE patron_id = ?"
    row = fetch_one(conn, sql, (patron_id,), missing=_not_found("Patron"))
    return _patron_json(row)


@api.post(
    "/auth/password/validation",
    status_code=201,
    summary="Check a patron's password (the library card PIN); 201 with the patron, or 400 Validation failed",
)
def validate_password(conn: DbDep, body: Any = Body(None)) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    identifier, userid = body.get("identifier"), body.get("userid")
    if identifier is None and userid is None:
        raise _error(400, "Validation failed")
    if identifier is not None and userid is not None:
        raise _error(400, "Bad request. Only one identifier attribute can be passed.")
    if "password" not in body:
        raise _missing("password")
    column = "cardnumber" if identifier is not None else "userid"
    row = fetch_one(
        conn,
        f"SELECT * FROM koha_patrons WHERE {column} = ?",
        (str(identifier or userid),),
        missing=_error(400, "Validation failed"),
    )
    locked = row["login_attempts"] >= FAILED_LOGIN_ATTEMPTS
    if locked or not secrets.compare_digest(
        row["pin_hash"], _pin_hash(row["pin_salt"], str(body["password"]))
    ):
        if not locked:
            # Kept even though the request fails: a failed attempt must count.
            conn.execute(
                "UPDATE koha_patrons SET login_attempts = login_attempts + 1 WHERE patron_id = ?",
                (row["patron_id"],),
            )
            conn.commit()
        raise _error(400, "Validation failed")
    conn.execute("UPDATE koha_patrons SET login_attempts = 0 WHERE patron_id = ?", (row["patron_id"],))
    return {"cardnumber": row["cardnumber"], "patron_id": row["patron_id"], "userid": row["userid"]}


# --- checkouts and renewals ---------------------------------------------------------------


def _checkout_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "checkout_id": row["checkout_id"],
        "patron_id": row["patron_id"],
        "item_id": row["item_id"],
        "due_date": _rfc3339(row["due_date"]),
        "library_id": row["library_id"],
        "issuer_id": None,
        "checkin_date": None,
        "last_renewed_date": _rfc3339(row["last_renewed_date"]),
        "renewals_count": row["renewals_count"],
        "unseen_renewals": 0,
        "auto_renew": False,
        "auto_renew_error": None,
        "timestamp": _rfc3339(row["timestamp"]),
        "checkout_date": _rfc3339(row["checkout_date"]),
        "onsite_checkout": False,
        "note": None,
        "note_date": None,
        "note_seen": None,
    }


def _checkout(conn: sqlite3.Connection, checkout_id: int) -> sqlite3.Row:
    sql = "SELECT * FROM koha_checkouts WHERE checkout_id = ?"
    return fetch_one(conn, sql, (checkout_id,), missing=_not_found("Checkout"))


def renewal_block(conn: sqlite3.Connection, checkout: sqlite3.Row) -> str | None:
    """Why Koha's CanBookBeRenewed would refuse this renewal, or None."""
    patron = conn.execute(
        "SELECT restricted FROM koha_patrons WHERE patron_id = ?", (checkout["patron_id"],)
    ).fetchone()
    if patron["restricted"]:
        return "restriction"
    if checkout["renewals_count"] >= MAX_RENEWALS:
        return "too_many"
    reserved = conn.execute(
        "SELECT 1 FROM koha_holds h JOIN koha_items i ON i.biblio_id = h.biblio_id "
        "WHERE i.item_id = ? AND h.patron_id != ?",
        (checkout["item_id"], checkout["patron_id"]),
    ).fetchone()
    return "on_reserve" if reserved else None


@api.get("/checkouts", summary="List current checkouts (a bare array; X-Total-Count and Link headers)")
def list_checkouts(
    request: Request,
    response: Response,
    conn: DbDep,
    page: Page = Depends(paging),
    patron_id: int | None = Query(None),
    checked_in: bool = Query(False),
    q: str | None = Query(None),
) -> list[dict[str, Any]]:
    if checked_in:
        return page.apply(request, response, [])  # no returned loans are kept in the sandbox
    clauses, args = where_from_q(
        q, {"patron_id": "patron_id", "item_id": "item_id", "checkout_id": "checkout_id"}
    )
    if patron_id is not None:
        if not exists(conn, "koha_patrons", patron_id=patron_id):
            raise _not_found("Patron")
        clauses.append("patron_id = ?")
        args.append(patron_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(
        f"SELECT * FROM koha_checkouts {where} ORDER BY due_date, checkout_id", args
    ).fetchall()
    return [_checkout_json(r) for r in page.apply(request, response, rows)]


@api.get("/checkouts/{checkout_id}", summary="Get checkout")
def get_checkout(checkout_id: int, conn: DbDep) -> dict[str, Any]:
    return _checkout_json(_checkout(conn, checkout_id))


@api.get("/checkouts/{checkout_id}/allows_renewal", summary="Can this checkout be renewed, and if not why")
def allows_renewal(checkout_id: int, conn: DbDep) -> dict[str, Any]:
    checkout = _checkout(conn, checkout_id)
    block = renewal_block(conn, checkout)
    return {
        "allows_renewal": block is None,
        "max_renewals": MAX_RENEWALS,
        "current_renewals": checkout["renewals_count"],
        "unseen_renewals": 0,
        "error": block,
    }


@api.post(
    "/checkouts/{checkout_id}/renewal",
    status_code=201,
    summary="Renew a checkout: 201 with the new due date, or 403 Renewal not authorized (reason)",
)
def renew_checkout(checkout_id: int, request: Request, response: Response, conn: DbDep) -> dict[str, Any]:
    checkout = _checkout(conn, checkout_id)
    block = renewal_block(conn, checkout)
    if block:
        raise _error(403, f"Renewal not authorized ({block})")
    now = _now_local()
    old_due = dt.datetime.fromisoformat(checkout["due_date"])
    # RenewalPeriodBase: from the old due date, or from today for an overdue loan.
    base = max(old_due.date(), now.date())
    new_due = dt.datetime.combine(base + dt.timedelta(days=LOAN_DAYS), dt.time(23, 59))
    conn.execute(
        "UPDATE koha_checkouts SET due_date = ?, renewals_count = renewals_count + 1, last_renewed_date = ?, "
        "timestamp = ? WHERE checkout_id = ?",
        (new_due.isoformat(), now.isoformat(), now.isoformat(), checkout_id),
    )
    response.headers["Location"] = str(request.url)
    return _checkout_json(_checkout(conn, checkout_id))


# --- biblios and items ---------------------------------------------------------------------


def _biblio_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "biblio_id": row["biblio_id"],
        "title": row["title"],
        "subtitle": row["subtitle"],
        "author": row["author"],
        "publication_year": row["publication_year"],
        "item_type": row["item_type"],
    }


def _item_json(conn: sqlite3.Connection, row: sqlite3.Row, embeds: set[str]) -> dict[str, Any]:
    body = {
        "item_id": row["item_id"],
        "biblio_id": row["biblio_id"],
        "external_id": row["external_id"],
        "home_library_id": row["home_library_id"],
        "holding_library_id": row["home_library_id"],
        "item_type_id": row["item_type_id"],
        "callnumber": row["callnumber"],
        "copy_number": row["copy_number"],
        "bookable": bool(row["bookable"]),
        "not_for_loan_status": 0,
        "damaged_status": 0,
        "lost_status": 0,
        "withdrawn": 0,
    }
    if "biblio" in embeds:
        biblio = conn.execute(
            "SELECT * FROM koha_biblios WHERE biblio_id = ?", (row["biblio_id"],)
        ).fetchone()
        body["biblio"] = _biblio_json(biblio)
    return body


@api.get("/items", summary="List items (q; x-koha-embed: biblio)")
def list_items(
    request: Request,
    response: Response,
    conn: DbDep,
    page: Page = Depends(paging),
    q: str | None = Query(None),
    external_id: str | None = Query(None),
    x_koha_embed: str | None = Header(None),
) -> list[dict[str, Any]]:
    columns = {
        "item_id": "item_id",
        "biblio_id": "biblio_id",
        "external_id": "external_id",
        "home_library_id": "home_library_id",
        "bookable": "bookable",
    }
    clauses, args = where_from_q(q, columns)
    if external_id:
        clauses.append("external_id = ?")
        args.append(external_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(f"SELECT * FROM koha_items {where} ORDER BY item_id", args).fetchall()
    embeds = _embeds(x_koha_embed)
    return [_item_json(conn, r, embeds) for r in page.apply(request, response, rows)]


@api.get("/items/{item_id}", summary="Get item")
def get_item(item_id: int, conn: DbDep) -> dict[str, Any]:
    sql = "SELECT * FROM koha_items WHERE item_id = ?"
    row = fetch_one(conn, sql, (item_id,), missing=_not_found("Item"))
    return _item_json(conn, row, set())


def _biblio(conn: sqlite3.Connection, biblio_id: int) -> sqlite3.Row:
    sql = "SELECT * FROM koha_biblios WHERE biblio_id = ?"
    return fetch_one(conn, sql, (biblio_id,), missing=_not_found("Bibliographic record"))


@api.get("/biblios/{biblio_id}", summary="Get a bibliographic record (Accept: application/json)")
def get_biblio(biblio_id: int, conn: DbDep) -> dict[str, Any]:
    return _biblio_json(_biblio(conn, biblio_id))


@api.get("/biblios/{biblio_id}/items", summary="The items of a record")
def biblio_items(
    biblio_id: int, request: Request, response: Response, conn: DbDep, page: Page = Depends(paging)
) -> list[dict[str, Any]]:
    _biblio(conn, biblio_id)
    rows = conn.execute(
        "SELECT * FROM koha_items WHERE biblio_id = ? ORDER BY item_id", (biblio_id,)
    ).fetchall()
    return [_item_json(conn, r, set()) for r in page.apply(request, response, rows)]


# --- holds ----------------------------------------------------------------------------------


def _hold_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "hold_id": row["hold_id"],
        "patron_id": row["patron_id"],
        "hold_date": row["hold_date"],
        "biblio_id": row["biblio_id"],
        "item_group_id": None,
        "pickup_library_id": row["pickup_library_id"],
        "desk_id": None,
        "cancellation_date": None,
        "cancellation_reason": None,
        "notes": None,
        "priority": row["priority"],
        "status": None,
        "timestamp": _rfc3339(row["timestamp"]),
        "item_id": row["item_id"],
        "waiting_date": None,
        "expiration_date": row["expiration_date"],
        "lowest_priority": False,
        "suspended": False,
        "suspended_until": None,
        "non_priority": False,
        "item_type": None,
        "item_level": row["item_id"] is not None,
    }


@api.get("/holds", summary="List holds")
def list_holds(
    request: Request,
    response: Response,
    conn: DbDep,
    page: Page = Depends(paging),
    patron_id: int | None = Query(None),
    biblio_id: int | None = Query(None),
) -> list[dict[str, Any]]:
    clauses, args = [], []
    for column, wanted in (("patron_id", patron_id), ("biblio_id", biblio_id)):
        if wanted is not None:
            clauses.append(f"{column} = ?")
            args.append(wanted)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = conn.execute(f"SELECT * FROM koha_holds {where} ORDER BY hold_id", args).fetchall()
    return [_hold_json(r) for r in page.apply(request, response, rows)]


@api.post("/holds", status_code=201, summary="Place a hold on a record (biblio_id) or an item (item_id)")
def add_hold(request: Request, response: Response, conn: DbDep, body: Any = Body(None)) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    for field in ("patron_id", "pickup_library_id"):
        if body.get(field) is None:
            raise _missing(field)
    patron_id, biblio_id, item_id = body["patron_id"], body.get("biblio_id"), body.get("item_id")
    if not exists(conn, "koha_patrons", patron_id=patron_id):
        raise _error(400, "patron_id not found")
    if item_id is not None:
        item = conn.execute("SELECT * FROM koha_items WHERE item_id = ?", (item_id,)).fetchone()
        if item is None or (biblio_id is not None and item["biblio_id"] != biblio_id):
            raise _error(400, "Item not found" if item is None else "Item does not belong to biblio")
        biblio_id = item["biblio_id"]
    if biblio_id is None:
        raise _error(400, "At least one of biblio_id, item_id should be given")
    if not exists(conn, "koha_biblios", biblio_id=biblio_id):
        raise _error(400, "Biblio not found.")
    if not exists(conn, "koha_libraries", library_id=body["pickup_library_id"]):
        raise _error(400, "The supplied pickup location is not valid")
    if exists(conn, "koha_holds", patron_id=patron_id, biblio_id=biblio_id):
        raise _error(403, "Hold cannot be placed. Reason: alreadyReserved")
    priority = (
        conn.execute("SELECT COUNT(*) FROM koha_holds WHERE biblio_id = ?", (biblio_id,)).fetchone()[0] + 1
    )
    now = _now_local()
    hold_id = insert(
        conn,
        "koha_holds",
        patron_id=patron_id,
        biblio_id=biblio_id,
        item_id=item_id,
        pickup_library_id=body["pickup_library_id"],
        hold_date=now.date().isoformat(),
        priority=priority,
        expiration_date=body.get("expiration_date"),
        timestamp=now.isoformat(),
    )
    response.headers["Location"] = f"{request.url}/{hold_id}"
    return _hold_json(conn.execute("SELECT * FROM koha_holds WHERE hold_id = ?", (hold_id,)).fetchone())


@api.delete("/holds/{hold_id}", status_code=204, summary="Cancel a hold")
def delete_hold(hold_id: int, conn: DbDep) -> Response:
    if not conn.execute("DELETE FROM koha_holds WHERE hold_id = ?", (hold_id,)).rowcount:
        raise _not_found("Hold")
    return Response(status_code=204)


# --- libraries ---------------------------------------------------------------------------------


def _library_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "library_id": row["library_id"],
        "name": row["name"],
        "address1": row["address1"],
        "address2": row["address2"] or None,
        "address3": None,
        "postal_code": row["postal_code"],
        "city": row["city"],
        "state": "Wiltshire",
        "country": "United Kingdom",
        "phone": row["phone"],
        "fax": None,
        "email": row["email"],
        "url": row["url"],
        "notes": None,
        "pickup_location": True,
        "public": True,
    }


@api.get("/libraries", summary="List libraries")
def list_libraries(
    request: Request, response: Response, conn: DbDep, page: Page = Depends(paging)
) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM koha_libraries ORDER BY name").fetchall()
    return [_library_json(r) for r in page.apply(request, response, rows)]


@api.get("/libraries/{library_id}", summary="Get library")
def get_library(library_id: str, conn: DbDep) -> dict[str, Any]:
    return _library_json(_library(conn, library_id))


def _library(conn: sqlite3.Connection, library_id: str) -> sqlite3.Row:
    sql = "SELECT * FROM koha_libraries WHERE library_id = ?"
    return fetch_one(conn, sql, (library_id,), missing=_not_found("Library"))


# --- bookings --------------------------------------------------------------------------------------

_BOOKING_COLUMNS = {
    "booking_id": "booking_id",
    "biblio_id": "biblio_id",
    "item_id": "item_id",
    "patron_id": "patron_id",
    "pickup_library_id": "pickup_library_id",
    "start_date": "start_date",
    "end_date": "end_date",
    "status": "status",
    "extended_attributes.value": "reference",
}
_BOOKING_DATES = frozenset({"start_date", "end_date"})


def _booking_json(conn: sqlite3.Connection, row: sqlite3.Row, embeds: set[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "booking_id": row["booking_id"],
        "biblio_id": row["biblio_id"],
        "item_id": row["item_id"],
        "patron_id": row["patron_id"],
        "pickup_library_id": row["pickup_library_id"],
        "start_date": _rfc3339(row["start_date"]),
        "end_date": _rfc3339(row["end_date"]),
        "status": row["status"],
        "cancellation_reason": None,
        "creation_date": _rfc3339(row["creation_date"]),
        "modification_date": _rfc3339(row["modification_date"]),
        # Sandbox extension (see the contract): our reference, as additional field 1.
        "extended_attributes": (
            [{"field_id": REFERENCE_FIELD_ID, "value": row["reference"]}] if row["reference"] else []
        ),
    }
    if "biblio" in embeds:
        body["biblio"] = _biblio_json(_biblio(conn, row["biblio_id"]))
    if "item" in embeds:
        item = conn.execute("SELECT * FROM koha_items WHERE item_id = ?", (row["item_id"],)).fetchone()
        body["item"] = _item_json(conn, item, set())
    if "pickup_library" in embeds:
        library = conn.execute(
            "SELECT * FROM koha_libraries WHERE library_id = ?", (row["pickup_library_id"],)
        ).fetchone()
        body["pickup_library"] = _library_json(library)
    return body


def _active_bookings(conn: sqlite3.Connection, clauses: list[str], args: list[Any]) -> list[sqlite3.Row]:
    """Koha's filter_by_active: not cancelled or completed, and not yet ended."""
    where = " AND ".join(["status NOT IN ('cancelled', 'completed')", "end_date >= ?", *clauses])
    return conn.execute(
        f"SELECT * FROM koha_bookings WHERE {where} ORDER BY start_date, booking_id",
        [_now_local().isoformat(), *args],
    ).fetchall()


@api.get("/bookings", summary="List active bookings (q, patron_id, biblio_id, item_id; x-koha-embed)")
def list_bookings(
    request: Request,
    response: Response,
    conn: DbDep,
    page: Page = Depends(paging),
    q: str | None = Query(None),
    patron_id: int | None = Query(None),
    biblio_id: int | None = Query(None),
    item_id: int | None = Query(None),
    x_koha_embed: str | None = Header(None),
) -> list[dict[str, Any]]:
    clauses, args = where_from_q(q, _BOOKING_COLUMNS, _BOOKING_DATES)
    for column, wanted in (("patron_id", patron_id), ("biblio_id", biblio_id), ("item_id", item_id)):
        if wanted is not None:
            clauses.append(f"{column} = ?")
            args.append(wanted)
    rows = _active_bookings(conn, clauses, args)
    embeds = _embeds(x_koha_embed)
    return [_booking_json(conn, r, embeds) for r in page.apply(request, response, rows)]


@api.get("/biblios/{biblio_id}/bookings", summary="Active bookings of a record's items")
def biblio_bookings(
    biblio_id: int,
    request: Request,
    response: Response,
    conn: DbDep,
    page: Page = Depends(paging),
    q: str | None = Query(None),
    x_koha_embed: str | None = Header(None),
) -> list[dict[str, Any]]:
    _biblio(conn, biblio_id)
    clauses, args = where_from_q(q, _BOOKING_COLUMNS, _BOOKING_DATES)
    rows = _active_bookings(conn, ["biblio_id = ?", *clauses], [biblio_id, *args])
    embeds = _embeds(x_koha_embed)
    return [_booking_json(conn, r, embeds) for r in page.apply(request, response, rows)]


def _booking(conn: sqlite3.Connection, booking_id: int) -> sqlite3.Row:
    sql = "SELECT * FROM koha_bookings WHERE booking_id = ?"
    return fetch_one(conn, sql, (booking_id,), missing=_not_found("Booking"))


@api.get("/bookings/{booking_id}", summary="Get booking")
def get_booking(booking_id: int, conn: DbDep, x_koha_embed: str | None = Header(None)) -> dict[str, Any]:
    return _booking_json(conn, _booking(conn, booking_id), _embeds(x_koha_embed))


def _clashes(conn: sqlite3.Connection, item_id: int, start: str, end: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM koha_bookings WHERE item_id = ? AND status NOT IN ('cancelled', 'completed') "
            "AND start_date < ? AND end_date > ?",
            (item_id, end, start),
        ).fetchone()
        is not None
    )


def _reference_from(body: dict[str, Any]) -> str | None:
    attributes = body.get("extended_attributes") or []
    if not isinstance(attributes, list):
        raise _input_error("/body/extended_attributes", "Expected array.")
    for attribute in attributes:
        if isinstance(attribute, dict) and attribute.get("field_id") == REFERENCE_FIELD_ID:
            value = str(attribute.get("value", "")).strip().upper()
            if not re.fullmatch(r"LB-\d{6}", value):
                raise _error(400, "Booking reference must be LB- and 6 digits")
            return value
    return None


@api.post(
    "/bookings",
    status_code=201,
    summary="Add booking: an item of a record for a patron, from start_date to end_date",
    description="A booking that overlaps another on the same item is refused: 400 `Booking would conflict`.",
)
def add_booking(request: Request, response: Response, conn: DbDep, body: Any = Body(None)) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    for field in ("biblio_id", "patron_id", "pickup_library_id", "start_date", "end_date"):
        if body.get(field) is None:
            raise _missing(field)
    if "item_id" not in body:
        raise _missing("item_id")
    start = _parse_datetime(body["start_date"], "start_date")
    end = _parse_datetime(body["end_date"], "end_date")
    if end <= start:
        raise _error(400, "Booking end date must be after its start date")
    for field, table, column in (
        ("patron_id", "koha_patrons", "patron_id"),
        ("biblio_id", "koha_biblios", "biblio_id"),
        ("pickup_library_id", "koha_libraries", "library_id"),
    ):
        if not exists(conn, table, **{column: body[field]}):
            raise _error(400, f"Given {field} does not exist")
    reference = _reference_from(body)
    if reference and exists(conn, "koha_bookings", reference=reference):
        raise _error(409, "Duplicate booking reference", "duplicate")
    item_id = body["item_id"]
    if item_id is None:  # Koha assigns a free bookable item of the record
        free = [
            r["item_id"]
            for r in conn.execute(
                "SELECT item_id FROM koha_items WHERE biblio_id = ? AND bookable = 1 ORDER BY item_id",
                (body["biblio_id"],),
            )
            if not _clashes(conn, r["item_id"], start.isoformat(), end.isoformat())
        ]
        if not free:
            raise _error(400, "Booking would conflict")
        item_id = free[0]
    item = fetch_one(
        conn,
        "SELECT * FROM koha_items WHERE item_id = ?",
        (item_id,),
        missing=_error(400, "Given item_id does not exist"),
    )
    if item["biblio_id"] != body["biblio_id"]:
        raise _error(400, "Given item_id does not belong to biblio_id")
    if not item["bookable"]:
        raise _error(400, "Item is not bookable")
    if _clashes(conn, item_id, start.isoformat(), end.isoformat()):
        raise _error(400, "Booking would conflict")
    now = _now_local().isoformat()
    booking_id = insert(
        conn,
        "koha_bookings",
        biblio_id=body["biblio_id"],
        item_id=item_id,
        patron_id=body["patron_id"],
        pickup_library_id=body["pickup_library_id"],
        start_date=start.isoformat(),
        end_date=end.isoformat(),
        status="new",
        reference=reference,
        creation_date=now,
        modification_date=now,
    )
    response.headers["Location"] = f"{request.url}/{booking_id}"
    return _booking_json(conn, _booking(conn, booking_id), set())


@api.delete("/bookings/{booking_id}", status_code=204, summary="Cancel (delete) a booking")
def delete_booking(booking_id: int, conn: DbDep) -> Response:
    row = _booking(conn, booking_id)
    if row["status"] == "cancelled":
        raise _not_found("Booking")
    conn.execute(
        "UPDATE koha_bookings SET status = 'cancelled', modification_date = ? WHERE booking_id = ?",
        (_now_local().isoformat(), booking_id),
    )
    return Response(status_code=204)


# --- sandbox extension: opening hours and the session timetable ---------------------------------

contrib = APIRouter(
    prefix="/api/v1/contrib/council",
    tags=["Koha: council plugin routes (sandbox extension)"],
    dependencies=[Depends(require_token)],
)
DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _date_range(today: dt.date, start: dt.date | None, end: dt.date | None) -> tuple[dt.date, dt.date]:
    start = start or today
    end = end or start + dt.timedelta(days=13)
    if end < start or (end - start).days > 92:
        raise _error(400, "to must be on or after from, and at most 92 days later")
    return start, end


@contrib.get(
    "/libraries/{library_id}/opening_hours",
    summary="Opening hours by weekday and for each date in a range, closures (bank holidays) included",
    description="Not core Koha: the library calendar and hours as a council Koha plugin would publish them.",
)
def opening_hours(
    library_id: str,
    conn: DbDep,
    world: WorldDep,
    date_from: dt.date | None = Query(None, alias="from"),
    date_to: dt.date | None = Query(None, alias="to"),
) -> dict[str, Any]:
    row = _library(conn, library_id)
    start, end = _date_range(world.today, date_from, date_to)
    week = {int(k): v for k, v in json.loads(row["weekly_json"]).items()}
    closures = {
        r["date"]: r["title"]
        for r in conn.execute("SELECT * FROM koha_closures WHERE library_id = ?", (library_id,)).fetchall()
    }
    days = []
    for offset in range((end - start).days + 1):
        day = start + dt.timedelta(days=offset)
        hours = week[day.weekday()]
        note = closures.get(day.isoformat())
        closed = hours is None or note is not None
        days.append(
            {
                "date": day.isoformat(),
                "open_time": None if closed else hours[0],
                "close_time": None if closed else hours[1],
                "closed": closed,
                "note": note,
            }
        )
    return {
        "library_id": library_id,
        "weekly": [
            {
                "day": DAY_NAMES[d],
                "open_time": week[d][0] if week[d] else None,
                "close_time": week[d][1] if week[d] else None,
            }
            for d in range(7)
        ],
        "days": days,
    }


@contrib.get(
    "/sessions",
    summary="Bookable session windows (computers, study rooms, events) with the record that holds them",
    description="Not core Koha: which record (biblio_id) is bookable when; spaces come from core bookings.",
)
def sessions(
    request: Request,
    response: Response,
    conn: DbDep,
    world: WorldDep,
    page: Page = Depends(paging),
    resource: str | None = Query(None),
    library_id: str | None = Query(None),
    date_from: dt.date | None = Query(None, alias="from"),
    date_to: dt.date | None = Query(None, alias="to"),
) -> list[dict[str, Any]]:
    if resource is not None and resource.lower() not in RESOURCES:
        raise _error(400, f"Unknown resource; one of: {', '.join(RESOURCES)}")
    start, end = _date_range(world.today, date_from, date_to)
    clauses = ["s.start_date >= ?", "s.start_date < ?"]
    args: list[Any] = [start.isoformat(), (end + dt.timedelta(days=1)).isoformat()]
    if resource:
        clauses.append("s.resource = ?")
        args.append(resource.lower())
    if library_id:
        clauses.append("s.library_id = ?")
        args.append(library_id)
    rows = conn.execute(
        "SELECT s.*, (SELECT COUNT(*) FROM koha_items i WHERE i.biblio_id = s.biblio_id AND i.bookable = 1) "
        f"AS capacity FROM koha_sessions s WHERE {' AND '.join(clauses)} ORDER BY s.start_date, s.session_id",
        args,
    ).fetchall()
    return [
        {
            "session_id": r["session_id"],
            "biblio_id": r["biblio_id"],
            "resource": r["resource"],
            "library_id": r["library_id"],
            "start_date": _rfc3339(r["start_date"]),
            "end_date": _rfc3339(r["end_date"]),
            "capacity": r["capacity"],
        }
        for r in page.apply(request, response, rows)
    ]


router = APIRouter()
router.include_router(oauth_router)
router.include_router(api)
router.include_router(contrib)


# --- seed ----------------------------------------------------------------------------------------


def seed(conn: sqlite3.Connection, world: World) -> None:
    rng = random.Random(f"{SEED}-koha")
    today = world.today
    closures = _seed_libraries(conn, today)
    patrons = _seed_patrons(conn, rng, today)
    _seed_books_and_loans(conn, rng, today, patrons)
    windows = _seed_sessions(conn, today, closures)
    _seed_bookings(conn, rng, today, windows, [patron_id for patron_id, _ in patrons])


def _seed_libraries(conn: sqlite3.Connection, today: dt.date) -> set[tuple[str, str]]:
    holidays: dict[dt.date, str] = {}
    for year in (today.year, today.year + 1):
        holidays.update(bank_holiday_names(year))
    closures = {
        (library.library_id, day.isoformat()): name
        for library in LIBRARIES
        for day, name in holidays.items()
        if today - dt.timedelta(days=7) <= day <= today + dt.timedelta(days=400)
    }
    # A staff training day at Corsham inside the fortnight, on a day it would be open.
    training = next(
        d for d in (today + dt.timedelta(days=n) for n in range(8, 14)) if d.weekday() in (0, 1, 3)
    )
    closures[("CORS", training.isoformat())] = "Staff training day"
    for library in LIBRARIES:
        town = library.city.lower()
        insert(
            conn,
            "koha_libraries",
            library_id=library.library_id,
            name=library.name,
            address1=library.address1,
            address2=library.address2,
            city=library.city,
            postal_code=library.postal_code,
            phone=library.phone,
            email=f"{town}.library@wiltshire.gov.uk",
            url=f"https://www.wiltshire.gov.uk/libraries-{town}",
            weekly_json=json.dumps(library.week),
        )
    for (library_id, day), title in closures.items():
        insert(conn, "koha_closures", library_id=library_id, date=day, title=title)
    return set(closures)


def _seed_patrons(
    conn: sqlite3.Connection, rng: random.Random, today: dt.date
) -> list[tuple[int, PatronSeed]]:
    patrons = list(DEMO_PATRONS)
    first_names = ["Sam", "Jo", "Ravi", "Grace", "Liam", "Hannah", "Kwame", "Ellie", "Noah", "Zofia"]
    surnames = ["Taylor", "Davies", "Wilson", "Thomas", "Roberts", "Nowak", "Walker", "Wright", "Green"]
    book = 16  # random patrons borrow from the second half of the shelf first
    while len(patrons) < 15:
        card = f"21234{rng.randint(0, 999_999_999):09d}"
        if any(p.cardnumber == card for p in patrons):
            continue
        loans = []
        for _ in range(rng.randint(0, 3)):
            loans.append((book % len(BOOKS), rng.randint(-4, 20), rng.randint(0, 2)))
            book += 1
        name = (rng.choice(first_names), rng.choice(surnames))
        home = rng.choice(LIBRARIES).library_id
        patrons.append(PatronSeed(card, f"{rng.randint(0, 9999):04d}", *name, home, tuple(loans)))
    seeded = []
    for number, patron in enumerate(patrons, start=1):
        salt = f"{rng.getrandbits(64):016x}"
        patron_id = insert(
            conn,
            "koha_patrons",
            cardnumber=patron.cardnumber,
            surname=patron.surname,
            firstname=patron.firstname,
            userid=f"{patron.firstname}.{patron.surname}{number}".lower(),
            email=f"{patron.firstname}.{patron.surname}@example.com".lower(),
            phone=f"07700 9{rng.randint(0, 99999):05d}",
            library_id=patron.library_id,
            category_id="PT",
            date_enrolled=(today - dt.timedelta(days=rng.randint(200, 3000))).isoformat(),
            expiry_date=(today + dt.timedelta(days=rng.randint(100, 900))).isoformat(),
            restricted=int(patron.restricted),
            pin_salt=salt,
            pin_hash=_pin_hash(salt, patron.pin),
        )
        seeded.append((patron_id, patron))
    return seeded


def _seed_books_and_loans(
    conn: sqlite3.Connection, rng: random.Random, today: dt.date, patrons: list[tuple[int, PatronSeed]]
) -> None:
    copies: dict[int, list[tuple[int, str]]] = {}  # book index -> [(item_id, library)] not yet lent
    for index, (title, author, year) in enumerate(BOOKS):
        biblio_id = insert(
            conn, "koha_biblios", title=title, author=author, publication_year=year, item_type="BK"
        )
        for copy in (1, 2):
            library = rng.choice(LIBRARIES).library_id
            item_id = insert(
                conn,
                "koha_items",
                biblio_id=biblio_id,
                external_id=f"3900000{biblio_id:04d}{copy:03d}",
                home_library_id=library,
                item_type_id="BK",
                callnumber=f"F {author[:3].upper()}",
                copy_number=str(copy),
            )
            copies.setdefault(index, []).append((item_id, library))
    for patron_id, patron in patrons:
        for book, due_in, renewals in patron.loans:
            if not copies[book]:
                continue  # both copies already out
            item_id, library = copies[book].pop(0)
            due = dt.datetime.combine(today + dt.timedelta(days=due_in), dt.time(23, 59))
            issued = (due - dt.timedelta(days=LOAN_DAYS * (renewals + 1))).replace(hour=10, minute=12)
            renewed = (due - dt.timedelta(days=LOAN_DAYS)).replace(hour=11, minute=5) if renewals else None
            insert(
                conn,
                "koha_checkouts",
                patron_id=patron_id,
                item_id=item_id,
                library_id=library,
                checkout_date=issued.isoformat(),
                due_date=due.isoformat(),
                renewals_count=renewals,
                last_renewed_date=renewed.isoformat() if renewed else None,
                timestamp=(renewed or issued).isoformat(),
            )
    placed = dt.datetime.combine(today - dt.timedelta(days=4), dt.time(15, 20))
    for patron_index, book in DEMO_HOLDS:
        patron_id, patron = patrons[patron_index]
        insert(
            conn,
            "koha_holds",
            patron_id=patron_id,
            biblio_id=book + 1,
            pickup_library_id=patron.library_id,
            hold_date=placed.date().isoformat(),
            priority=1,
            timestamp=placed.isoformat(),
        )


@dataclass(frozen=True)
class Window:
    """One bookable session: a record (biblio) and its items, from start to end."""

    biblio_id: int
    items: tuple[int, ...]
    resource: str
    library_id: str
    start: dt.datetime
    end: dt.datetime


def _new_resource(
    conn: sqlite3.Connection, resource: str, library: LibrarySeed, seats: int
) -> tuple[int, tuple]:
    kind, label = {"public computer": ("PC", "PC"), "study room": ("ROOM", "Room")}.get(
        resource, ("EVENT", "Seat")
    )
    biblio_id = insert(
        conn,
        "koha_biblios",
        title=resource[0].upper() + resource[1:],
        subtitle=library.name,
        item_type=kind,
        resource=resource,
        library_id=library.library_id,
    )
    items = tuple(
        insert(
            conn,
            "koha_items",
            biblio_id=biblio_id,
            external_id=f"{library.library_id}-{kind}-{biblio_id}-{n:02d}",
            home_library_id=library.library_id,
            item_type_id=kind,
            callnumber=f"{label} {n}",
            copy_number=str(n),
            bookable=1,
        )
        for n in range(1, seats + 1)
    )
    return biblio_id, items


def _seed_sessions(conn: sqlite3.Connection, today: dt.date, closures: set[tuple[str, str]]) -> list[Window]:
    """Hourly computer and room windows within opening hours, and the events, for a fortnight."""
    days = [today + dt.timedelta(days=n) for n in range(14)]
    windows: list[Window] = []

    def open_hours(library: LibrarySeed, day: dt.date) -> tuple[str, str] | None:
        return None if (library.library_id, day.isoformat()) in closures else library.week[day.weekday()]

    def at(day: dt.date, clock: str) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.fromisoformat(clock))

    hour = dt.timedelta(hours=1)
    for library in LIBRARIES:
        for resource, count in (("public computer", library.computers), ("study room", library.study_rooms)):
            if not count:
                continue
            biblio_id, items = _new_resource(conn, resource, library, count)
            for day in days:
                hours = open_hours(library, day)
                if hours is None:
                    continue
                begin = at(day, hours[0])
                begin += (hour - dt.timedelta(minutes=begin.minute)) if begin.minute else dt.timedelta()
                while begin + hour <= at(day, hours[1]):
                    windows.append(
                        Window(biblio_id, items, resource, library.library_id, begin, begin + hour)
                    )
                    begin += hour
    by_id = {library.library_id: library for library in LIBRARIES}
    for resource, library_id, weekday, start, minutes, seats in WEEKLY_EVENTS:
        biblio_id, items = _new_resource(conn, resource, by_id[library_id], seats)
        for day in days:
            if day.weekday() == weekday and open_hours(by_id[library_id], day):
                begin = at(day, start)
                windows.append(
                    Window(biblio_id, items, resource, library_id, begin, begin + minutes * hour / 60)
                )
    for library_id, in_days, start, minutes, seats in AUTHOR_TALKS:
        biblio_id, items = _new_resource(conn, "author talk", by_id[library_id], seats)
        day = today + dt.timedelta(days=in_days)
        if (library_id, day.isoformat()) not in closures:  # evening talks may run after closing time
            begin = at(day, start)
            windows.append(
                Window(biblio_id, items, "author talk", library_id, begin, begin + minutes * hour / 60)
            )
    for w in windows:
        insert(
            conn,
            "koha_sessions",
            biblio_id=w.biblio_id,
            resource=w.resource,
            library_id=w.library_id,
            start_date=w.start.isoformat(),
            end_date=w.end.isoformat(),
        )
    return windows


def _seed_bookings(
    conn: sqlite3.Connection, rng: random.Random, today: dt.date, windows: list[Window], patron_ids: list[int]
) -> None:
    """Existing bookings: some computers and rooms taken, one event nearly full, one full."""
    taken: dict[tuple[int, dt.datetime], int] = {}  # (item, start) -> patron
    for w in windows:
        key = (w.resource, w.library_id)
        if w.resource in ("public computer", "study room"):
            chosen = [i for i in w.items if rng.random() < 0.3]
        elif key == ("lego club", "CALN"):
            chosen = list(w.items)  # always full
        elif key == ("rhyme time", "CHIP"):
            chosen = list(w.items[:-2])  # always nearly full: 2 places left
        elif w.resource == "author talk":
            chosen = list(w.items[:-5])
        else:
            chosen = list(w.items[: rng.randint(0, len(w.items) // 2)])
        for item_id in chosen:
            taken[(item_id, w.start)] = rng.choice(patron_ids[1:])
    # Alex Smith's public computer at Chippenham, the first hour from tomorrow 10:00, on the last PC.
    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(10))
    demo = next(
        w
        for w in windows
        if (w.resource, w.library_id) == ("public computer", "CHIP") and w.start >= tomorrow
    )
    taken[(demo.items[-1], demo.start)] = patron_ids[0]
    created = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(9, 30)).isoformat()
    used = {DEMO_BOOKING_REFERENCE}
    by_item_start = {(item, w.start): w for w in windows for item in w.items}
    for (item_id, start), patron_id in taken.items():
        w = by_item_start[(item_id, start)]
        if (item_id, start) == (demo.items[-1], demo.start):
            reference = DEMO_BOOKING_REFERENCE
        else:
            while (reference := f"LB-{rng.randint(100000, 999999)}") in used:
                pass
        used.add(reference)
        insert(
            conn,
            "koha_bookings",
            biblio_id=w.biblio_id,
            item_id=item_id,
            patron_id=patron_id,
            pickup_library_id=w.library_id,
            start_date=w.start.isoformat(),
            end_date=w.end.isoformat(),
            status="new",
            reference=reference,
            creation_date=created,
            modification_date=created,
        )
