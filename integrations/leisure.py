"""Leisure centres through OpenActive: RPDE open-data feeds and the Open Booking API.

What is on and how many spaces are left comes from the booking system's RPDE feeds
(``SessionSeries`` + ``ScheduledSession`` for classes and swims, ``FacilityUse`` +
``FacilityUse/Slot`` for courts, pitches and the gym), kept in sync by a small
harvester that follows each feed's ``next`` link and applies updates and deletions.
Booking is the Open Booking API's simple flow with one Order UUID throughout:
C1 (quote), C2 (quote with the customer), B (book); cancelling is a PATCH that sets
each item to ``CustomerCancelled``.

Our reference for a booking (``BK-123456``) is the Order's ``orderNumber``. The Open
Booking API leaves finding an Order by that number, or by the customer's email or
phone, to the Broker's own records (the Orders feed carries neither); this client
uses the booking system's lookup documented in ``integrations/contracts/openactive.md``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo

import httpx

from integrations.errors import AuthFailed, IntegrationError, NotFound, Rejected, Unavailable
from integrations.http import RETRYABLE_STATUSES, ApiClient, error_message, json_of

LONDON = ZoneInfo("Europe/London")
MEDIA_TYPE = "application/vnd.openactive.booking+json; version=1"
CONTEXT = "https://openactive.io/"
CUSTOMER_CANCELLED = "https://openactive.io/CustomerCancelled"
REFERENCE = re.compile(r"^BK-?\d{6}$", re.IGNORECASE)
#: How long harvested feed data is used before the feeds are read again.
DEFAULT_FEED_TTL = 30.0
#: A feed that has not reached its end after this many pages is treated as broken.
MAX_PAGES = 500
#: Parts of the day, as residents say them: [from, to).
TIME_OF_DAY = {
    "morning": (dt.time(0), dt.time(12)),
    "afternoon": (dt.time(12), dt.time(17)),
    "evening": (dt.time(17), dt.time.max),
}
DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


# --- typed results ------------------------------------------------------------------


@dataclass(frozen=True)
class DayHours:
    """Regular opening hours on one day of the week (Monday is 0)."""

    weekday: int
    opens: dt.time
    closes: dt.time

    @property
    def day_name(self) -> str:
        return DAY_NAMES[self.weekday]


@dataclass(frozen=True)
class SpecialHours:
    """Different hours (or a closure) for a date range, such as a bank holiday."""

    start: dt.date
    end: dt.date
    name: str
    opens: dt.time | None = None
    closes: dt.time | None = None

    @property
    def closed(self) -> bool:
        return self.opens is None


@dataclass(frozen=True)
class OpeningHours:
    """Weekly hours and exceptions; the one shape for leisure centres and libraries."""

    place: str
    weekly: tuple[DayHours, ...]
    special: tuple[SpecialHours, ...] = ()

    def on(self, day: dt.date) -> tuple[dt.time, dt.time] | None:
        """Opening and closing time on ``day``, or None when closed all day."""
        for exception in self.special:
            if exception.start <= day <= exception.end:
                return None if exception.closed else (exception.opens, exception.closes)  # type: ignore[return-value]
        regular = [h for h in self.weekly if h.weekday == day.weekday()]
        return (regular[0].opens, regular[0].closes) if regular else None

    def exceptions_between(self, start: dt.date, end: dt.date) -> tuple[SpecialHours, ...]:
        return tuple(s for s in self.special if s.end >= start and s.start <= end)


@dataclass(frozen=True)
class Centre:
    id: str  # the Place @id
    identifier: str
    name: str
    street: str
    town: str
    postcode: str
    telephone: str
    hours: OpeningHours

    def matches(self, wanted: str) -> bool:
        """``Olympiad``, ``olympiad leisure centre``, ``Chippenham`` or the identifier."""
        return matches_place(wanted, self.name, self.identifier, self.town)


@dataclass(frozen=True)
class Opportunity:
    """Something bookable: a session of a class or swim, or a slot of a court or the gym."""

    kind: ClassVar[str] = "Opportunity"
    id: str  # the opportunity @id
    offer_id: str
    name: str
    activity: str  # lower case, as the assistant's catalogue says it: "lane swimming"
    centre: Centre
    start: dt.datetime  # aware, Europe/London
    end: dt.datetime
    remaining: int
    capacity: int
    price: Decimal
    currency: str = "GBP"

    @property
    def is_full(self) -> bool:
        return self.remaining <= 0


@dataclass(frozen=True)
class Session(Opportunity):
    kind: ClassVar[str] = "ScheduledSession"
    series_id: str = ""


@dataclass(frozen=True)
class Slot(Opportunity):
    kind: ClassVar[str] = "Slot"
    facility_id: str = ""


@dataclass(frozen=True)
class Customer:
    """Who a booking is for; the booking system needs an email or a telephone number."""

    given_name: str
    family_name: str
    email: str = field(default="", repr=False)
    telephone: str = field(default="", repr=False)

    def as_person(self) -> dict[str, Any]:
        person: dict[str, Any] = {
            "@type": "Person",
            "givenName": self.given_name,
            "familyName": self.family_name,
        }
        if self.email:
            person["email"] = self.email
        if self.telephone:
            person["telephone"] = self.telephone
        return person


@dataclass(frozen=True)
class BookedItem:
    id: str  # the OrderItem @id
    status: str  # confirmed, customer_cancelled, seller_cancelled, attended
    opportunity_id: str
    activity: str
    centre: str
    start: dt.datetime
    end: dt.datetime
    price: Decimal


@dataclass(frozen=True)
class Booking:
    reference: str  # BK-123456, the Order's orderNumber
    order_uuid: str
    order_id: str
    items: tuple[BookedItem, ...]
    total: Decimal

    @property
    def status(self) -> str:
        """``confirmed`` while any item stands; otherwise why it does not."""
        statuses = {i.status for i in self.items}
        if statuses & {"confirmed", "attended"}:
            return "confirmed"
        return "cancelled_by_centre" if "seller_cancelled" in statuses else "cancelled"

    @property
    def activity(self) -> str:
        return self.items[0].activity

    @property
    def centre(self) -> str:
        return self.items[0].centre

    @property
    def start(self) -> dt.datetime:
        return self.items[0].start

    @property
    def end(self) -> dt.datetime:
        return self.items[0].end


# --- parsing --------------------------------------------------------------------------


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip().lower()


def matches_place(wanted: str, name: str, identifier: str, town: str) -> bool:
    """Whether ``wanted`` names a place: its name, identifier or town, or the start of its name."""
    text = norm(wanted)
    return bool(text) and (text in (norm(name), norm(identifier), norm(town)) or norm(name).startswith(text))


def _datetime(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=LONDON)).astimezone(LONDON)


def _clock(value: str) -> dt.time:
    return dt.time.fromisoformat(str(value)[:5])


def _activity(data: dict[str, Any]) -> str:
    concepts = data.get("activity") or []
    return norm(concepts[0].get("prefLabel", "")) if concepts else ""


def _place_hours(place: dict[str, Any]) -> OpeningHours:
    weekly = []
    for spec in place.get("openingHoursSpecification") or []:
        for day in spec.get("dayOfWeek") or []:
            name = str(day).rsplit("/", 1)[-1]
            if name in DAY_NAMES:
                weekly.append(DayHours(DAY_NAMES.index(name), _clock(spec["opens"]), _clock(spec["closes"])))
    special = []
    for spec in place.get("specialOpeningHoursSpecification") or []:
        opens, closes = _clock(spec.get("opens", "00:00")), _clock(spec.get("closes", "00:00"))
        closed = opens == closes  # schema.org: opens = closes = 00:00 means closed all day
        special.append(
            SpecialHours(
                dt.date.fromisoformat(spec["validFrom"][:10]),
                dt.date.fromisoformat((spec.get("validThrough") or spec["validFrom"])[:10]),
                str(spec.get("name") or spec.get("description") or ""),
                None if closed else opens,
                None if closed else closes,
            )
        )
    return OpeningHours(
        str(place.get("name", "")),
        tuple(sorted(weekly, key=lambda h: h.weekday)),
        tuple(sorted(special, key=lambda s: s.start)),
    )


def _centre(place: dict[str, Any]) -> Centre:
    address = place.get("address") or {}
    return Centre(
        id=str(place.get("@id", "")),
        identifier=str(place.get("identifier", "")),
        name=str(place.get("name", "")),
        street=str(address.get("streetAddress", "")),
        town=str(address.get("addressLocality", "")),
        postcode=str(address.get("postalCode", "")),
        telephone=str(place.get("telephone", "")),
        hours=_place_hours(place),
    )


def _offer(data: dict[str, Any]) -> tuple[str, Decimal, str]:
    offers = data.get("offers") or [{}]
    offer = offers[0]
    return (
        str(offer.get("@id", "")),
        Decimal(str(offer.get("price", 0))),
        str(offer.get("priceCurrency", "GBP")),
    )


def _item_status(value: str) -> str:
    name = str(value or "").rsplit("/", 1)[-1]
    return {
        "OrderItemConfirmed": "confirmed",
        "CustomerCancelled": "customer_cancelled",
        "SellerCancelled": "seller_cancelled",
        "CustomerAttended": "attended",
    }.get(name, name.lower())


def _booked_item(item: dict[str, Any]) -> BookedItem:
    opportunity = item.get("orderedItem") or {}
    parent = opportunity.get("superEvent") or opportunity.get("facilityUse") or {}
    parent = parent if isinstance(parent, dict) else {}
    return BookedItem(
        id=str(item.get("@id", "")),
        status=_item_status(item.get("orderItemStatus", "")),
        opportunity_id=str(opportunity.get("@id", "")),
        activity=_activity(parent),
        centre=str((parent.get("location") or {}).get("name", "")),
        start=_datetime(opportunity["startDate"]),
        end=_datetime(opportunity.get("endDate") or opportunity["startDate"]),
        price=Decimal(str((item.get("acceptedOffer") or {}).get("price", 0))),
    )


def booking_from_order(order: dict[str, Any]) -> Booking:
    return Booking(
        reference=str(order.get("orderNumber", "")),
        order_uuid=str(order.get("identifier") or str(order.get("@id", "")).rsplit("/", 1)[-1]),
        order_id=str(order.get("@id", "")),
        items=tuple(_booked_item(i) for i in order.get("orderedItem") or []),
        total=Decimal(str((order.get("totalPaymentDue") or {}).get("price", 0))),
    )


# --- the RPDE harvester ------------------------------------------------------------------------

FetchPage = Callable[[str], Awaitable[dict[str, Any]]]


class RpdeFeed:
    """One RPDE feed kept in sync: ``id -> data`` of every live item."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: dict[Any, dict[str, Any]] = {}
        self.next_url: str = path
        self.synced_at: float | None = None
        self.lock = asyncio.Lock()

    async def sync(self, fetch: FetchPage) -> None:
        """Read from where the last sync stopped until a page with no items."""
        url = self.next_url
        for _ in range(MAX_PAGES):
            page = await fetch(url)
            items = page.get("items")
            next_url = page.get("next")
            if not isinstance(items, list) or not isinstance(next_url, str):
                raise Unavailable("rpde: not an RPDE page", system="openactive")
            for item in items:
                if item.get("state") == "deleted":
                    self.items.pop(item.get("id"), None)
                else:
                    self.items[item.get("id")] = item.get("data") or {}
            if not items:
                self.next_url = next_url  # the last page points at itself: start here next time
                return
            if next_url == url:
                raise Unavailable("rpde: feed does not advance", system="openactive")
            url = next_url
        raise Unavailable("rpde: feed did not end", system="openactive")


class RpdeHarvester:
    """The booking system's open-data feeds, harvested and cached for ``ttl`` seconds."""

    FEEDS = ("session-series", "scheduled-sessions", "facility-uses", "facility-use-slots")

    def __init__(
        self, fetch: FetchPage, ttl: float = DEFAULT_FEED_TTL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._fetch = fetch
        self.ttl = ttl
        self._clock = clock
        self.feeds = {name: RpdeFeed(f"/feeds/{name}") for name in self.FEEDS}

    async def items(self, name: str) -> dict[Any, dict[str, Any]]:
        feed = self.feeds[name]
        async with feed.lock:
            now = self._clock()
            if feed.synced_at is None or now - feed.synced_at >= self.ttl:
                await feed.sync(self._fetch)
                feed.synced_at = self._clock()
        return feed.items

    def invalidate(self) -> None:
        """Read the feeds again on next use (after a booking or cancellation changed them)."""
        for feed in self.feeds.values():
            feed.synced_at = None


# --- the client ------------------------------------------------------------------------------


class LeisureClient(ApiClient):
    system = "openactive"

    def __init__(
        self, *args: Any, feed_ttl: float = DEFAULT_FEED_TTL, seller_id: str = "", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.harvester = RpdeHarvester(self._feed_page, ttl=feed_ttl)
        self.seller_id = seller_id or self.endpoint.base_url + "/api/organisations/council-leisure"

    @staticmethod
    def is_reference(text: str) -> bool:
        """Whether ``text`` is one of our leisure booking references (``BK-123456``)."""
        return bool(REFERENCE.match(str(text).strip()))

    async def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.endpoint.key}

    def url(self, path: str) -> str:
        # RPDE "next" links are absolute URLs given by the feed itself.
        return path if path.startswith(("https://", "http://")) else super().url(path)

    def translate_error(self, response: httpx.Response, op: str) -> IntegrationError:
        """OpenActive errors by ``@type``; item-level problems come as a 409 quote with ``error``."""
        status = response.status_code
        error_type, description = _openactive_error(response)
        kwargs: dict[str, Any] = {"system": self.system, "status": status}
        if status in (401, 403):
            return AuthFailed(f"{op}: credentials refused", **kwargs)
        if status == 404:
            return NotFound(f"{op}: {description}", **kwargs)
        if error_type and not error_type.startswith(("Internal", "TemporarilyUnable", "TooManyRequests")):
            # The booking system's own verdict, final even when sent as a 500 (OrderAlreadyExistsError).
            return Rejected(description, reason=error_type, **kwargs)
        if status in RETRYABLE_STATUSES or status >= 500:
            return Unavailable(f"{op}: system unavailable", **kwargs)
        return Rejected(description, reason=error_type or "rejected", **kwargs)

    # --- open data -------------------------------------------------------------------------

    async def _feed_page(self, url: str) -> dict[str, Any]:
        # Open data: no key is sent to the feeds.
        response = await self.request("GET", url, op="rpde.page", authenticate=False)
        return json_of(response, "rpde.page", self.system)

    async def centres(self) -> list[Centre]:
        found: dict[str, Centre] = {}
        for name in ("session-series", "facility-uses"):
            for data in (await self.harvester.items(name)).values():
                place = data.get("location") or {}
                if place.get("@id") and place["@id"] not in found:
                    found[place["@id"]] = _centre(place)
        return sorted(found.values(), key=lambda c: c.name)

    async def centre(self, wanted: str) -> Centre:
        for centre in await self.centres():
            if centre.matches(wanted):
                return centre
        raise NotFound("centre: no such leisure centre", system=self.system)

    async def opening_hours(self, centre: str) -> OpeningHours:
        return (await self.centre(centre)).hours

    async def sessions(self) -> list[Session]:
        series = await self.harvester.items("session-series")
        sessions = await self.harvester.items("scheduled-sessions")
        parents = {data.get("@id"): data for data in series.values()}
        result = []
        for data in sessions.values():
            parent = parents.get(data.get("superEvent"))
            if parent is None or data.get("eventStatus", "").endswith(("EventCancelled", "EventPostponed")):
                continue
            offer_id, price, currency = _offer(parent)
            result.append(
                Session(
                    id=data["@id"],
                    offer_id=offer_id,
                    name=str(parent.get("name", "")),
                    activity=_activity(parent),
                    centre=_centre(parent.get("location") or {}),
                    start=_datetime(data["startDate"]),
                    end=_datetime(data.get("endDate") or data["startDate"]),
                    remaining=int(data.get("remainingAttendeeCapacity", 0)),
                    capacity=int(data.get("maximumAttendeeCapacity", 0)),
                    price=price,
                    currency=currency,
                    series_id=str(parent["@id"]),
                )
            )
        return result

    async def slots(self) -> list[Slot]:
        facilities = await self.harvester.items("facility-uses")
        slots = await self.harvester.items("facility-use-slots")
        parents = {data.get("@id"): data for data in facilities.values()}
        result = []
        for data in slots.values():
            parent = parents.get(data.get("facilityUse"))
            if parent is None:
                continue
            offer_id, price, currency = _offer(data)
            result.append(
                Slot(
                    id=data["@id"],
                    offer_id=offer_id,
                    name=str(parent.get("name", "")),
                    activity=_activity(parent),
                    centre=_centre(parent.get("location") or {}),
                    start=_datetime(data["startDate"]),
                    end=_datetime(data.get("endDate") or data["startDate"]),
                    remaining=int(data.get("remainingUses", 0)),
                    capacity=int(data.get("maximumUses", 0)),
                    price=price,
                    currency=currency,
                    facility_id=str(parent["@id"]),
                )
            )
        return result

    async def find_availability(
        self,
        activity: str,
        centre: str | None = None,
        date: dt.date | None = None,
        time_of_day: str | dt.time | None = None,
        *,
        include_full: bool = False,
        limit: int | None = 20,
        now: dt.datetime | None = None,
    ) -> list[Opportunity]:
        """Future sessions or slots of ``activity``, nearest to the time asked for first.

        ``time_of_day`` is ``morning``/``afternoon``/``evening`` (a filter) or a clock time
        (``18:00`` or a ``datetime.time``: sorts by closeness to it). Without one, the
        earliest come first. Full ones are left out unless ``include_full``.
        """
        now = now or dt.datetime.now(LONDON)
        wanted = norm(activity)
        series_activities = {_activity(d) for d in (await self.harvester.items("session-series")).values()}
        pool: list[Opportunity] = list(await self.sessions()) if wanted in series_activities else []
        facility_activities = {_activity(d) for d in (await self.harvester.items("facility-uses")).values()}
        if wanted in facility_activities:
            pool.extend(await self.slots())
        part, clock = time_wanted(time_of_day)
        found = [
            o
            for o in pool
            if o.activity == wanted
            and o.start > now
            and (include_full or not o.is_full)
            and (centre is None or o.centre.matches(centre))
            and (date is None or o.start.date() == date)
            and (part is None or part[0] <= o.start.time() < part[1])
        ]
        found = nearest_first(found, date, clock, now, lambda o: o.centre.name)
        return found[:limit] if limit else found

    # --- the Open Booking API ----------------------------------------------------------------

    def _order(self, order_type: str, opportunity: Opportunity) -> dict[str, Any]:
        return {
            "@context": CONTEXT,
            "@type": order_type,
            "brokerRole": "https://openactive.io/AgentBroker",
            "broker": {"@type": "Organization", "name": "Council Assistant"},
            "seller": {"@type": "Organization", "@id": self.seller_id},
            "orderedItem": [
                {
                    "@type": "OrderItem",
                    "position": 0,
                    "acceptedOffer": {"@type": "Offer", "@id": opportunity.offer_id},
                    "orderedItem": {"@type": opportunity.kind, "@id": opportunity.id},
                }
            ],
        }

    async def _put(self, path: str, body: dict[str, Any], op: str) -> dict[str, Any]:
        headers = {"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE}
        response = await self.request("PUT", path, op=op, json=body, headers=headers)
        return json_of(response, op, self.system)

    async def book(
        self, opportunity: Opportunity, customer: Customer, order_uuid: str | uuid.UUID
    ) -> Booking:
        """Book one place: C1 -> C2 -> B with the same Order UUID.

        Idempotent: calling again with the same ``order_uuid`` (after a timeout, say) returns
        the booking already made rather than booking twice. Raises ``Rejected`` with the
        OpenActive error type as ``reason`` (``OpportunityIsFullError``, ...).
        """
        if not (customer.email or customer.telephone):
            raise ValueError("a customer needs an email or a telephone number")
        key = str(uuid.UUID(str(order_uuid)))
        try:
            await self._put(f"/api/order-quote-templates/{key}", self._order("OrderQuote", opportunity), "c1")
        except Rejected as exc:
            if exc.reason != "OrderAlreadyExistsError":
                raise
            existing = await self.get_order(key)  # booked already by an earlier call with this UUID
            if any(item.opportunity_id == opportunity.id for item in existing.items):
                return existing
            raise
        quote = await self._put(
            f"/api/order-quotes/{key}",
            {**self._order("OrderQuote", opportunity), "customer": customer.as_person()},
            "c2",
        )
        order = await self._put(
            f"/api/orders/{key}",
            {
                **self._order("Order", opportunity),
                "customer": customer.as_person(),
                "totalPaymentDue": quote.get("totalPaymentDue"),
            },
            "b",
        )
        self.harvester.invalidate()
        return booking_from_order(order)

    async def get_order(self, order: str | uuid.UUID) -> Booking:
        """An Order by its UUID or by our reference (``BK-123456``)."""
        key = await self._order_uuid(str(order))
        response = await self.request("GET", f"/api/orders/{key}", op="order", headers={"Accept": MEDIA_TYPE})
        return booking_from_order(json_of(response, "order", self.system))

    async def cancel(self, order: str | uuid.UUID) -> Booking:
        """Cancel every item of an Order, given its UUID or our reference; returns it cancelled.

        Cancelling again is harmless. Raises ``Rejected`` (``CancellationNotPermittedError``,
        with the booking system's message for the resident) when it is too late to cancel.
        """
        booking = await self.get_order(order)
        live = [i.id for i in booking.items if i.status in ("confirmed", "attended")]
        if not live:
            return booking
        patch = {
            "@context": CONTEXT,
            "@type": "Order",
            "orderedItem": [
                {"@type": "OrderItem", "@id": i, "orderItemStatus": CUSTOMER_CANCELLED} for i in live
            ],
        }
        await self.request(
            "PATCH",
            f"/api/orders/{booking.order_uuid}",
            op="cancel",
            json=patch,
            headers={"Content-Type": MEDIA_TYPE, "Accept": MEDIA_TYPE},
            safe_to_retry=True,  # setting a final status: repeating it changes nothing
        )
        self.harvester.invalidate()
        return await self.get_order(booking.order_uuid)

    async def find_bookings(
        self, email: str = "", telephone: str = "", *, upcoming_only: bool = True
    ) -> list[Booking]:
        """A resident's bookings by the email or phone number they booked with."""
        if not (email or telephone):
            raise ValueError("give an email or a telephone number")
        params = {k: v for k, v in (("email", email), ("telephone", telephone)) if v}
        bookings = await self._lookup(params)
        if upcoming_only:
            now = dt.datetime.now(LONDON)
            bookings = [b for b in bookings if b.status == "confirmed" and b.end > now]
        return sorted(bookings, key=lambda b: b.start)

    async def _lookup(self, params: dict[str, str]) -> list[Booking]:
        response = await self.request(
            "GET", "/api/ext/orders", op="orders.lookup", params=params, headers={"Accept": MEDIA_TYPE}
        )
        body = json_of(response, "orders.lookup", self.system)
        return [booking_from_order(o) for o in body.get("itemListElement") or []]

    async def _order_uuid(self, order: str) -> str:
        text = order.strip()
        if self.is_reference(text):
            reference = "BK-" + text[-6:]
            found = await self._lookup({"orderNumber": reference})
            if not found:
                raise NotFound("order: no booking with that reference", system=self.system)
            return found[0].order_uuid
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise NotFound("order: not a booking reference or Order UUID", system=self.system) from None


def _openactive_error(response: httpx.Response) -> tuple[str, str]:
    """The ``@type`` and description of an OpenActive error, or of the first item-level error."""
    try:
        body = response.json()
    except ValueError:
        return "", error_message(response)
    if not isinstance(body, dict):
        return "", error_message(response)
    for item in body.get("orderedItem") or []:
        for problem in (item or {}).get("error") or []:
            return str(problem.get("@type", "")), str(
                problem.get("description", "") or problem.get("@type", "")
            )
    error_type = str(body.get("@type", ""))
    if error_type.endswith("Error"):
        return error_type, str(body.get("description") or error_type)
    return "", error_message(response)


T = TypeVar("T")


def nearest_first(
    found: list[T], date: dt.date | None, clock: dt.time | None, now: dt.datetime, place: Callable[[T], str]
) -> list[T]:
    """Sorted by closeness to ``clock`` on ``date`` (or its next occurrence), else by start."""
    if clock is None:
        return sorted(found, key=lambda o: (o.start, place(o)))  # type: ignore[attr-defined]
    target = dt.datetime.combine(date or now.date(), clock, tzinfo=LONDON)
    if date is None and target < now:
        target += dt.timedelta(days=1)
    return sorted(
        found,
        key=lambda o: (abs((o.start - target).total_seconds()), o.start, place(o)),  # type: ignore[attr-defined]
    )


def time_wanted(value: str | dt.time | None) -> tuple[tuple[dt.time, dt.time] | None, dt.time | None]:
    """(part of the day, clock time) from ``morning`` or ``18:00`` or a ``time``."""
    if value is None or value == "":
        return None, None
    if isinstance(value, dt.time):
        return None, value
    text = norm(value)
    if text in TIME_OF_DAY:
        return TIME_OF_DAY[text], None
    try:
        return None, dt.time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"time_of_day must be morning, afternoon, evening or HH:MM, not {value!r}") from None
