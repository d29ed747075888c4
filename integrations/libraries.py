"""The libraries' Koha ILS through its REST API (``/api/v1``).

Authentication is OAuth2 client credentials: a Bearer token fetched once, reused until
shortly before it expires, and fetched again once if Koha answers 401. A resident proves
who they are with their library card number and PIN, which Koha checks as the patron's
password (``POST /auth/password/validation``); the PIN is sent there and nowhere else,
never logged and never kept.

Loans are Koha checkouts; renewing asks ``allows_renewal`` or simply tries
(``POST /checkouts/{id}/renewal``) and maps Koha's refusal reasons to ``RenewalReason``.
Public computers, study rooms and events are Koha item bookings: a record (biblio) per
resource per library with one bookable item per computer, room or seat. Which hours are
bookable, and a library's dated opening hours, come from the council's Koha plugin routes
(``/api/v1/contrib/council/...``), documented in ``integrations/contracts/koha.md``;
our booking reference (``LB-123456``) is stored in the booking's additional field 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

import httpx

from integrations.errors import AuthFailed, IntegrationError, NotFound, Rejected, TimedOut, Unavailable
from integrations.http import ApiClient, error_message, json_of
from integrations.leisure import (
    LONDON,
    DayHours,
    OpeningHours,
    SpecialHours,
    matches_place,
    nearest_first,
    norm,
    time_wanted,
)

API = "/api/v1"
#: Fetch a new token this long before the old one expires.
TOKEN_MARGIN = 60.0
#: The bookings additional field holding our reference.
REFERENCE_FIELD_ID = 1
REFERENCE = re.compile(r"^LB-?\d{6}$", re.IGNORECASE)
RESOURCES = (
    "public computer",
    "study room",
    "rhyme time",
    "code club",
    "author talk",
    "lego club",
    "knit and natter",
)
PAGE_SIZE = 50
DAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class RenewalReason(str, Enum):
    """Why a loan cannot be renewed, in words the assistant can explain."""

    ON_RESERVE = "on_reserve"  # someone else is waiting for it
    TOO_MANY = "too_many"  # renewed as many times as allowed
    TOO_SOON = "too_soon"  # not yet: renewals open nearer the due date
    OVERDUE = "overdue"  # overdue loans may not be renewed here
    RESTRICTED = "restricted"  # the account is restricted (fines, lost items)
    AUTO_RENEW = "auto_renew"  # it will renew by itself
    OTHER = "other"


_KOHA_REASONS = {
    "on_reserve": RenewalReason.ON_RESERVE,
    "too_many": RenewalReason.TOO_MANY,
    "too_soon": RenewalReason.TOO_SOON,
    "auto_too_soon": RenewalReason.TOO_SOON,
    "overdue": RenewalReason.OVERDUE,
    "auto_too_much_oweing": RenewalReason.RESTRICTED,
    "restriction": RenewalReason.RESTRICTED,
    "debarred": RenewalReason.RESTRICTED,
    "auto_renew": RenewalReason.AUTO_RENEW,
}


def renewal_reason(koha_reason: str | None) -> RenewalReason:
    return _KOHA_REASONS.get(str(koha_reason or "").strip().lower(), RenewalReason.OTHER)


class RenewalRefused(Rejected):
    """Koha refused a renewal; ``why`` says why in our terms."""

    def __init__(self, message: str, *, why: RenewalReason, system: str = "koha", status: int | None = None):
        super().__init__(message, reason=why.value, system=system, status=status)
        self.why = why


# --- typed results ----------------------------------------------------------------------


@dataclass(frozen=True)
class Patron:
    patron_id: int
    cardnumber: str = field(repr=False)
    firstname: str
    surname: str
    library_id: str
    email: str = field(default="", repr=False)
    expiry_date: dt.date | None = None

    @property
    def name(self) -> str:
        return f"{self.firstname} {self.surname}".strip()


@dataclass(frozen=True)
class Loan:
    checkout_id: int
    item_id: int
    title: str
    author: str
    due: dt.datetime  # aware, Europe/London
    checked_out: dt.datetime | None
    renewals: int
    library_id: str

    @property
    def due_date(self) -> dt.date:
        return self.due.date()

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        return self.due < (now or dt.datetime.now(LONDON))


@dataclass(frozen=True)
class RenewalCheck:
    checkout_id: int
    allowed: bool
    reason: RenewalReason | None
    renewals: int
    max_renewals: int


@dataclass(frozen=True)
class RenewalOutcome:
    """One loan of a "renew all": renewed (``loan``) or refused (``refused``)."""

    checkout_id: int
    loan: Loan | None = None
    refused: RenewalReason | None = None


@dataclass(frozen=True)
class Hold:
    hold_id: int
    patron_id: int
    biblio_id: int
    pickup_library_id: str
    priority: int | None
    hold_date: dt.date | None


@dataclass(frozen=True)
class Library:
    library_id: str
    name: str
    address: str
    town: str
    postcode: str
    phone: str
    email: str
    url: str

    def matches(self, wanted: str) -> bool:
        """``Chippenham Library``, ``chippenham``, or the id ``CHIP``."""
        return matches_place(wanted, self.name, self.library_id, self.town)


@dataclass(frozen=True)
class LibrarySession:
    """A bookable window of a resource at a library, and how many places are left."""

    resource: str
    library_id: str
    library_name: str
    start: dt.datetime
    end: dt.datetime
    capacity: int
    biblio_id: int
    free_item_ids: tuple[int, ...]

    @property
    def spaces(self) -> int:
        return len(self.free_item_ids)

    @property
    def is_full(self) -> bool:
        return not self.free_item_ids


@dataclass(frozen=True)
class LibraryBooking:
    reference: str  # LB-123456
    booking_id: int
    resource: str
    library_id: str
    start: dt.datetime
    end: dt.datetime
    item_id: int
    patron_id: int
    status: str  # new, cancelled, completed


# --- parsing ------------------------------------------------------------------------------


def _datetime(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=LONDON)).astimezone(LONDON)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(str(value)[:10]) if value else None


def _patron(body: dict[str, Any]) -> Patron:
    return Patron(
        patron_id=int(body["patron_id"]),
        cardnumber=str(body.get("cardnumber") or ""),
        firstname=str(body.get("firstname") or ""),
        surname=str(body.get("surname") or ""),
        library_id=str(body.get("library_id") or ""),
        email=str(body.get("email") or ""),
        expiry_date=_date(body.get("expiry_date")),
    )


def _loan(body: dict[str, Any], titles: dict[int, tuple[str, str]]) -> Loan:
    title, author = titles.get(int(body["item_id"]), ("", ""))
    due = _datetime(body["due_date"])
    assert due is not None
    return Loan(
        checkout_id=int(body["checkout_id"]),
        item_id=int(body["item_id"]),
        title=title,
        author=author,
        due=due,
        checked_out=_datetime(body.get("checkout_date")),
        renewals=int(body.get("renewals_count") or 0),
        library_id=str(body.get("library_id") or ""),
    )


def _library(body: dict[str, Any]) -> Library:
    lines = [body.get(k) for k in ("address1", "address2", "address3")]
    return Library(
        library_id=str(body["library_id"]),
        name=str(body.get("name") or ""),
        address=", ".join(str(line) for line in lines if line),
        town=str(body.get("city") or ""),
        postcode=str(body.get("postal_code") or ""),
        phone=str(body.get("phone") or ""),
        email=str(body.get("email") or ""),
        url=str(body.get("url") or ""),
    )


def _reference(body: dict[str, Any]) -> str:
    for attribute in body.get("extended_attributes") or []:
        if attribute.get("field_id") == REFERENCE_FIELD_ID:
            return str(attribute.get("value") or "")
    return ""


def _booking(body: dict[str, Any]) -> LibraryBooking:
    biblio = body.get("biblio") or {}
    start, end = _datetime(body["start_date"]), _datetime(body["end_date"])
    assert start is not None and end is not None
    return LibraryBooking(
        reference=_reference(body),
        booking_id=int(body["booking_id"]),
        resource=norm(biblio.get("title", "")),
        library_id=str(body.get("pickup_library_id") or ""),
        start=start,
        end=end,
        item_id=int(body["item_id"]),
        patron_id=int(body["patron_id"]),
        status=str(body.get("status") or "new"),
    )


def _next_link(response: httpx.Response) -> str | None:
    """The ``rel="next"`` URL of a Koha ``Link`` header."""
    for part in response.headers.get("link", "").split(","):
        match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', part)
        if match:
            return match.group(1)
    return None


# --- the client -------------------------------------------------------------------------------


class LibraryClient(ApiClient):
    system = "koha"

    def __init__(self, *args: Any, clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self._libraries: list[Library] | None = None

    @staticmethod
    def is_reference(text: str) -> bool:
        """Whether ``text`` is one of our library booking references (``LB-123456``)."""
        return bool(REFERENCE.match(str(text).strip()))

    # --- authentication ------------------------------------------------------------------

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token and self._clock() < self._token_expires - TOKEN_MARGIN:
                return self._token
            try:
                response = await self.request(
                    "POST",
                    f"{API}/oauth/token",
                    op="token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.endpoint.key,
                        "client_secret": self.endpoint.secret,
                    },
                    authenticate=False,
                    safe_to_retry=True,  # asking for a token changes nothing
                )
            except Rejected as exc:
                raise AuthFailed(
                    "token: client credentials refused", system=self.system, status=exc.status
                ) from exc
            body = json_of(response, "token", self.system)
            self._token = str(body["access_token"])
            self._token_expires = self._clock() + float(body.get("expires_in", 3600))
            return self._token

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._access_token()}"}

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Koha's pipeline, plus: on 401 drop the token, fetch a new one and try once more."""
        try:
            return await super().request(method, path, **kwargs)
        except AuthFailed as exc:
            if exc.status != 401 or not kwargs.get("authenticate", True):
                raise
            self._token = None  # expired, revoked, or Koha restarted: a 401 means nothing was done
            return await super().request(method, path, **kwargs)

    def translate_error(self, response: httpx.Response, op: str) -> IntegrationError:
        status = response.status_code
        message = error_message(response)
        kwargs: dict[str, Any] = {"system": self.system, "status": status}
        refused = re.match(r"Renewal not authorized \((\w+)\)", message)
        if status == 403 and refused:
            return RenewalRefused(
                f"{op}: renewal refused", why=renewal_reason(refused.group(1)), status=status
            )
        hold = re.match(r"Hold cannot be placed\. Reason: (\w+)", message)
        if status == 403 and hold:
            return Rejected(f"{op}: hold refused", reason=hold.group(1), **kwargs)
        failure = super().translate_error(response, op)
        if isinstance(failure, Rejected):
            failure.reason = {
                "Validation failed": "invalid_credentials",
                "Booking would conflict": "conflict",
                "Duplicate booking reference": "duplicate_reference",
            }.get(message, _error_code(response) or message) or failure.reason
        return failure

    async def _get_all(
        self, path: str, op: str, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[Any]:
        """Every page of a Koha list, following the ``Link: rel="next"`` header."""
        response = await self.request(
            "GET", path, op=op, params={"_per_page": PAGE_SIZE, **(params or {})}, **kwargs
        )
        rows = list(json_of(response, op, self.system))
        while (next_url := _next_link(response)) is not None:
            response = await self.request("GET", next_url, op=op, **kwargs)
            rows.extend(json_of(response, op, self.system))
        return rows

    def url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else super().url(path)

    # --- patrons -------------------------------------------------------------------------

    async def verify_patron(self, cardnumber: str, pin: str) -> Patron:
        """The patron whose card this is, if the PIN is right; ``Rejected`` otherwise.

        Koha locks an account after repeated wrong PINs; the answer is the same
        (``invalid_credentials``), so the assistant says "card number or PIN not recognised".
        """
        card = re.sub(r"[\s-]", "", cardnumber)
        try:
            response = await self.request(
                "POST",
                f"{API}/auth/password/validation",
                op="verify_patron",
                json={"identifier": card, "password": pin},
            )
        except Rejected as exc:
            raise Rejected(
                "verify_patron: card number or PIN not recognised",
                reason="invalid_credentials",
                system=self.system,
                status=exc.status,
            ) from None
        patron_id = int(json_of(response, "verify_patron", self.system)["patron_id"])
        found = await self._get_all(f"{API}/patrons", "patron", {"q": json.dumps({"cardnumber": card})})
        patron = next((_patron(p) for p in found if int(p["patron_id"]) == patron_id), None)
        if patron is None:
            raise NotFound("patron: card not found", system=self.system)
        return patron

    async def patron(self, patron_id: int) -> Patron:
        response = await self.request("GET", f"{API}/patrons/{int(patron_id)}", op="patron")
        return _patron(json_of(response, "patron", self.system))

    # --- loans ---------------------------------------------------------------------------

    async def _titles(self, item_ids: list[int]) -> dict[int, tuple[str, str]]:
        """(title, author) of each item, from its record, in one request."""
        if not item_ids:
            return {}
        items = await self._get_all(
            f"{API}/items",
            "items",
            {"q": json.dumps({"item_id": sorted(set(item_ids))})},
            headers={"x-koha-embed": "biblio"},
        )
        titles = {}
        for item in items:
            biblio = item.get("biblio") or {}
            titles[int(item["item_id"])] = (str(biblio.get("title") or ""), str(biblio.get("author") or ""))
        return titles

    async def checkouts(self, patron_id: int) -> list[Loan]:
        """The patron's current loans with their titles, soonest due first."""
        rows = await self._get_all(f"{API}/checkouts", "checkouts", {"patron_id": int(patron_id)})
        titles = await self._titles([int(r["item_id"]) for r in rows])
        return sorted((_loan(r, titles) for r in rows), key=lambda loan: (loan.due, loan.checkout_id))

    async def can_renew(self, checkout_id: int) -> RenewalCheck:
        response = await self.request(
            "GET", f"{API}/checkouts/{int(checkout_id)}/allows_renewal", op="allows_renewal"
        )
        body = json_of(response, "allows_renewal", self.system)
        allowed = bool(body.get("allows_renewal"))
        return RenewalCheck(
            checkout_id=int(checkout_id),
            allowed=allowed,
            reason=None if allowed else renewal_reason(body.get("error")),
            renewals=int(body.get("current_renewals") or 0),
            max_renewals=int(body.get("max_renewals") or 0),
        )

    async def renew(self, checkout_id: int) -> Loan:
        """Renew one loan: the loan with its new due date, or ``RenewalRefused`` saying why.

        Not retried on a lost answer: Koha would renew twice.
        """
        response = await self.request("POST", f"{API}/checkouts/{int(checkout_id)}/renewal", op="renew")
        body = json_of(response, "renew", self.system)
        return _loan(body, await self._titles([int(body["item_id"])]))

    async def renew_many(self, checkout_ids: list[int]) -> list[RenewalOutcome]:
        """Renew each loan in turn; refusals are outcomes, other failures are raised."""
        outcomes = []
        for checkout_id in checkout_ids:
            try:
                outcomes.append(RenewalOutcome(checkout_id, loan=await self.renew(checkout_id)))
            except RenewalRefused as exc:
                outcomes.append(RenewalOutcome(checkout_id, refused=exc.why))
        return outcomes

    # --- holds ---------------------------------------------------------------------------

    @staticmethod
    def _hold(body: dict[str, Any]) -> Hold:
        return Hold(
            hold_id=int(body["hold_id"]),
            patron_id=int(body["patron_id"]),
            biblio_id=int(body["biblio_id"]),
            pickup_library_id=str(body.get("pickup_library_id") or ""),
            priority=body.get("priority"),
            hold_date=_date(body.get("hold_date")),
        )

    async def holds(self, patron_id: int) -> list[Hold]:
        rows = await self._get_all(f"{API}/holds", "holds", {"patron_id": int(patron_id)})
        return [self._hold(r) for r in rows]

    async def place_hold(self, patron_id: int, biblio_id: int, pickup_library_id: str) -> Hold:
        response = await self.request(
            "POST",
            f"{API}/holds",
            op="place_hold",
            json={
                "patron_id": int(patron_id),
                "biblio_id": int(biblio_id),
                "pickup_library_id": pickup_library_id,
            },
        )
        return self._hold(json_of(response, "place_hold", self.system))

    async def cancel_hold(self, hold_id: int) -> None:
        await self.request("DELETE", f"{API}/holds/{int(hold_id)}", op="cancel_hold")

    # --- libraries and opening hours -----------------------------------------------------------

    async def libraries(self) -> list[Library]:
        if self._libraries is None:
            rows = await self._get_all(f"{API}/libraries", "libraries")
            self._libraries = sorted((_library(r) for r in rows), key=lambda lib: lib.name)
        return self._libraries

    async def library(self, wanted: str) -> Library:
        for library in await self.libraries():
            if library.matches(wanted):
                return library
        raise NotFound("library: no such library", system=self.system)

    async def opening_hours(self, library: str, start: dt.date | None = None, days: int = 14) -> OpeningHours:
        """Weekly hours and, for the ``days`` from ``start``, dates that differ (closures)."""
        found = await self.library(library)
        start = start or dt.datetime.now(LONDON).date()
        params = {"from": start.isoformat(), "to": (start + dt.timedelta(days=days - 1)).isoformat()}
        response = await self.request(
            "GET",
            f"{API}/contrib/council/libraries/{found.library_id}/opening_hours",
            op="opening_hours",
            params=params,
        )
        body = json_of(response, "opening_hours", self.system)
        weekly = tuple(
            DayHours(
                DAY_NAMES.index(d["day"]),
                dt.time.fromisoformat(d["open_time"]),
                dt.time.fromisoformat(d["close_time"]),
            )
            for d in body.get("weekly") or []
            if d.get("open_time") and d.get("close_time")
        )
        regular = {h.weekday: (h.opens, h.closes) for h in weekly}
        special = []
        for day in body.get("days") or []:
            date = dt.date.fromisoformat(day["date"])
            hours = (
                None
                if day.get("closed")
                else (dt.time.fromisoformat(day["open_time"]), dt.time.fromisoformat(day["close_time"]))
            )
            if hours != regular.get(date.weekday()):
                opens, closes = hours or (None, None)
                special.append(SpecialHours(date, date, str(day.get("note") or ""), opens, closes))
        return OpeningHours(found.name, weekly, tuple(special))

    # --- sessions: computers, study rooms, events ----------------------------------------------

    async def session_availability(
        self,
        resource: str,
        library: str | None = None,
        date: dt.date | None = None,
        time_of_day: str | dt.time | None = None,
        *,
        include_full: bool = False,
        limit: int | None = 20,
        now: dt.datetime | None = None,
    ) -> list[LibrarySession]:
        """Future windows of ``resource`` with free places, nearest to the time asked for first."""
        wanted = norm(resource)
        if wanted not in RESOURCES:
            raise ValueError(f"resource must be one of {', '.join(RESOURCES)}")
        now = now or dt.datetime.now(LONDON)
        libraries = {lib.library_id: lib for lib in await self.libraries()}
        params: dict[str, Any] = {"resource": wanted}
        if library is not None:
            params["library_id"] = (await self.library(library)).library_id
        first = date or now.date()
        params.update({"from": first.isoformat(), "to": (date or first + dt.timedelta(days=13)).isoformat()})
        windows = await self._get_all(f"{API}/contrib/council/sessions", "sessions", params)
        part, clock = time_wanted(time_of_day)
        windows = [
            w
            for w in windows
            if (start := _datetime(w["start_date"])) is not None
            and start > now
            and (part is None or part[0] <= start.time() < part[1])
        ]
        biblio_ids = sorted({int(w["biblio_id"]) for w in windows})
        items_and_bookings = await asyncio.gather(*(self._items_and_bookings(b) for b in biblio_ids))
        by_biblio = dict(zip(biblio_ids, items_and_bookings, strict=True))
        sessions = []
        for w in windows:
            items, bookings = by_biblio[int(w["biblio_id"])]
            start, end = _datetime(w["start_date"]), _datetime(w["end_date"])
            assert start is not None and end is not None
            busy = {b.item_id for b in bookings if b.start < end and b.end > start}
            session = LibrarySession(
                resource=wanted,
                library_id=str(w["library_id"]),
                library_name=libraries[w["library_id"]].name
                if w["library_id"] in libraries
                else w["library_id"],
                start=start,
                end=end,
                capacity=len(items),
                biblio_id=int(w["biblio_id"]),
                free_item_ids=tuple(i for i in items if i not in busy),
            )
            if include_full or not session.is_full:
                sessions.append(session)
        sessions = nearest_first(sessions, date, clock, now, lambda s: s.library_name)
        return sessions[:limit] if limit else sessions

    async def _items_and_bookings(self, biblio_id: int) -> tuple[list[int], list[LibraryBooking]]:
        items, bookings = await asyncio.gather(
            self._get_all(f"{API}/biblios/{biblio_id}/items", "biblio.items"),
            self._get_all(f"{API}/biblios/{biblio_id}/bookings", "biblio.bookings"),
        )
        return [int(i["item_id"]) for i in items if i.get("bookable", True)], [_booking(b) for b in bookings]

    async def book_session(self, session: LibrarySession, patron_id: int) -> LibraryBooking:
        """Book one place (a computer, a room, a seat) in ``session`` for the patron.

        Tries the next free item when another booking got there first; ``Rejected``
        (reason ``full``) when none is left. The reference is ours (``LB-123456``),
        so a booking whose answer was lost can be found again instead of made twice.
        """
        for item_id in session.free_item_ids[:3]:
            reference = f"LB-{secrets.randbelow(900_000) + 100_000}"
            body = {
                "biblio_id": session.biblio_id,
                "item_id": item_id,
                "patron_id": int(patron_id),
                "pickup_library_id": session.library_id,
                "start_date": session.start.isoformat(),
                "end_date": session.end.isoformat(),
                "extended_attributes": [{"field_id": REFERENCE_FIELD_ID, "value": reference}],
            }
            try:
                response = await self.request("POST", f"{API}/bookings", op="book_session", json=body)
            except Rejected as exc:
                if exc.reason in ("conflict", "duplicate_reference"):
                    continue  # taken meanwhile, or (rarely) our random reference was: try again
                raise
            except (TimedOut, Unavailable):
                found = await self._find_by_reference(reference)  # did it land before the answer was lost?
                if found is not None:
                    return found
                raise
            return replace(
                _booking(json_of(response, "book_session", self.system)), resource=session.resource
            )
        raise Rejected("book_session: no places left", reason="full", system=self.system)

    async def _find_by_reference(self, reference: str) -> LibraryBooking | None:
        rows = await self._get_all(
            f"{API}/bookings",
            "booking.by_reference",
            {"q": json.dumps({"extended_attributes.value": reference.upper()})},
            headers={"x-koha-embed": "biblio,extended_attributes"},
        )
        return _booking(rows[0]) if rows else None

    async def get_session_booking(self, reference: str) -> LibraryBooking:
        if not self.is_reference(reference):
            raise NotFound("booking: not a library booking reference", system=self.system)
        found = await self._find_by_reference("LB-" + reference.strip()[-6:])
        if found is None:
            raise NotFound("booking: no current booking with that reference", system=self.system)
        return found

    async def cancel_session(self, reference: str) -> LibraryBooking:
        """Cancel a library booking given only its reference; returns it, now cancelled."""
        booking = await self.get_session_booking(reference)
        try:
            await self.request("DELETE", f"{API}/bookings/{booking.booking_id}", op="cancel_session")
        except NotFound:
            # A retried DELETE whose first attempt worked: check it is cancelled, not gone astray.
            response = await self.request("GET", f"{API}/bookings/{booking.booking_id}", op="booking")
            if json_of(response, "booking", self.system).get("status") != "cancelled":
                raise
        return replace(booking, status="cancelled")

    async def find_session_bookings(self, patron_id: int) -> list[LibraryBooking]:
        """The patron's current and future bookings of computers, rooms and events."""
        rows = await self._get_all(
            f"{API}/bookings",
            "bookings",
            {"patron_id": int(patron_id)},
            headers={"x-koha-embed": "biblio,extended_attributes"},
        )
        return sorted((_booking(r) for r in rows), key=lambda b: b.start)


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error_code") or "") if isinstance(body, dict) else ""
