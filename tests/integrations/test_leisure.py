"""OpenActive leisure client: unit tests on MockTransport, contract tests on the sandbox."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from integrations.errors import AuthFailed, NotFound, Rejected, Unavailable
from integrations.leisure import (
    LONDON,
    Customer,
    LeisureClient,
    RpdeHarvester,
    booking_from_order,
)
from integrations.settings import Endpoint, Settings, Timeouts
from tests.integrations.contract import draft7_schema_assert
from tests.support.mock_http import mock_client

MEDIA_TYPE = "application/vnd.openactive.booking+json; version=1"
KEY = "sandbox-openactive-key"
BASE = "http://oa.test/openactive"
CUSTOMER = Customer("Jo", "Smith", email="jo@example.com", telephone="07700900123")


assert_schema = draft7_schema_assert("openactive")


# --- test doubles -------------------------------------------------------------------------


def place(name: str = "Olympiad Leisure Centre", identifier: str = "olympiad") -> dict:
    return {
        "@type": "Place",
        "@id": f"{BASE}/places/{identifier}",
        "identifier": identifier,
        "name": name,
        "address": {
            "@type": "PostalAddress",
            "streetAddress": "Monkton Park",
            "addressLocality": "Chippenham",
            "postalCode": "SN15 3PE",
        },
        "openingHoursSpecification": [
            {
                "@type": "OpeningHoursSpecification",
                "dayOfWeek": ["https://schema.org/Monday"],
                "opens": "06:30",
                "closes": "22:00",
            },
        ],
        "specialOpeningHoursSpecification": [
            {
                "@type": "OpeningHoursSpecification",
                "name": "Christmas Day",
                "opens": "00:00",
                "closes": "00:00",
                "validFrom": "2030-12-25",
                "validThrough": "2030-12-25",
            },
            {
                "@type": "OpeningHoursSpecification",
                "name": "Boxing Day",
                "opens": "08:00",
                "closes": "16:00",
                "validFrom": "2030-12-26",
                "validThrough": "2030-12-26",
            },
        ],
    }


def series(series_id: int, activity: str, centre: dict | None = None) -> dict:
    url = f"{BASE}/session-series/{series_id}"
    return {
        "@type": "SessionSeries",
        "@id": url,
        "url": url,
        "name": activity.capitalize(),
        "activity": [
            {
                "@type": "Concept",
                "@id": "https://openactive.io/activity-list#x",
                "prefLabel": activity.capitalize(),
                "inScheme": "https://openactive.io/activity-list",
            }
        ],
        "location": centre or place(),
        "offers": [{"@type": "Offer", "@id": url + "#/offers/0", "price": 7.5, "priceCurrency": "GBP"}],
    }


def session(session_id: int, series_id: int, start: dt.datetime, remaining: int = 5) -> dict:
    return {
        "@type": "ScheduledSession",
        "@id": f"{BASE}/session-series/{series_id}/scheduled-sessions/{session_id}",
        "superEvent": f"{BASE}/session-series/{series_id}",
        "startDate": start.isoformat(),
        "endDate": (start + dt.timedelta(hours=1)).isoformat(),
        "eventStatus": "https://schema.org/EventScheduled",
        "remainingAttendeeCapacity": remaining,
        "maximumAttendeeCapacity": 20,
    }


def item(kind: str, item_id: int, modified: int, data: dict | None) -> dict:
    if data is None:
        return {"state": "deleted", "kind": kind, "id": item_id, "modified": modified}
    return {"state": "updated", "kind": kind, "id": item_id, "modified": modified, "data": data}


class FeedServer:
    """Serves RPDE pages from lists of items, paging two at a time the way the spec says."""

    def __init__(self, feeds: dict[str, list[dict]]) -> None:
        self.feeds = feeds
        self.requests: list[httpx.Request] = []
        self.booking: list[httpx.Request] = []
        self.answers: dict[tuple[str, str], list[httpx.Response]] = {}

    def answer(self, method: str, path_start: str, *responses: httpx.Response) -> None:
        self.answers[(method, path_start)] = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if "/feeds/" in path:
            self.requests.append(request)
            items = self.feeds[path.rsplit("/", 1)[-1]]
            query = parse_qs(urlsplit(str(request.url)).query)
            after = (
                (int(query["afterTimestamp"][0]), int(query["afterId"][0])) if "afterId" in query else None
            )
            rest = [i for i in items if after is None or (i["modified"], i["id"]) > after]
            page = sorted(rest, key=lambda i: (i["modified"], i["id"]))[:2]
            nxt = (
                (
                    f"{BASE}/feeds/{path.rsplit('/', 1)[-1]}?afterTimestamp={page[-1]['modified']}"
                    f"&afterId={page[-1]['id']}"
                )
                if page
                else str(request.url)
            )
            return httpx.Response(200, json={"next": nxt, "items": page, "license": "x"})
        self.booking.append(request)
        for (method, start), responses in self.answers.items():
            if request.method == method and path.startswith(start):
                return responses.pop(0) if len(responses) > 1 else responses[0]
        return httpx.Response(404, json={"@type": "UnknownOrIncorrectEndpointError", "description": "no"})


def client_for(handler, **kwargs) -> LeisureClient:
    client, _ = mock_client(LeisureClient, handler, Endpoint(BASE, key="k"), **kwargs)
    return client


SOON = dt.datetime.now(LONDON).replace(microsecond=0) + dt.timedelta(days=2)


def yoga_feeds() -> dict[str, list[dict]]:
    morning = SOON.replace(hour=9, minute=0, second=0)
    return {
        "session-series": [
            item("SessionSeries", 101, 1, series(101, "yoga")),
            item("SessionSeries", 102, 1, series(102, "spin", place("Calne Leisure Centre", "calne"))),
        ],
        "scheduled-sessions": [
            item("ScheduledSession", 1, 5, session(1, 101, morning)),
            item("ScheduledSession", 2, 5, session(2, 101, morning.replace(hour=18, minute=30))),
            item("ScheduledSession", 3, 5, session(3, 101, morning.replace(hour=19, minute=30), remaining=0)),
            item("ScheduledSession", 4, 5, session(4, 102, morning.replace(hour=18))),
            item("ScheduledSession", 5, 6, session(5, 101, morning - dt.timedelta(days=5))),  # in the past
            item("ScheduledSession", 6, 7, None),  # deleted
        ],
        "facility-uses": [],
        "facility-use-slots": [],
    }


def order_body(order_uuid: str, status: str = "https://openactive.io/OrderItemConfirmed") -> dict:
    start = SOON.replace(hour=18, minute=30)
    return {
        "@context": "https://openactive.io/",
        "@type": "Order",
        "@id": f"{BASE}/api/orders/{order_uuid}",
        "identifier": order_uuid,
        "orderNumber": "BK-123456",
        "orderedItem": [
            {
                "@type": "OrderItem",
                "@id": f"{BASE}/api/orders/{order_uuid}#/orderedItem/7",
                "orderItemStatus": status,
                "acceptedOffer": {
                    "@type": "Offer",
                    "@id": f"{BASE}/session-series/101#/offers/0",
                    "price": 7.5,
                },
                "orderedItem": {**session(2, 101, start), "superEvent": series(101, "yoga")},
            }
        ],
        "totalPaymentDue": {"@type": "PriceSpecification", "price": 7.5, "priceCurrency": "GBP"},
    }


# --- unit: the RPDE harvester ----------------------------------------------------------------


async def test_harvester_follows_next_to_an_empty_page_and_drops_deleted_items():
    server = FeedServer(yoga_feeds())
    client = client_for(server)
    items = await client.harvester.items("scheduled-sessions")
    assert sorted(items) == [1, 2, 3, 4, 5]  # 6 was deleted
    assert len(server.requests) == 4  # pages of 2, 2, 2 (1 live + the deletion), then the empty last page
    assert "afterId" not in str(server.requests[0].url)
    # A later sync starts where the last one stopped, and only sees the change.
    server.feeds["scheduled-sessions"].append(
        item("ScheduledSession", 2, 9, session(2, 101, SOON, remaining=1))
    )
    server.feeds["scheduled-sessions"].append(item("ScheduledSession", 1, 9, None))
    client.harvester.invalidate()
    items = await client.harvester.items("scheduled-sessions")
    assert items[2]["remainingAttendeeCapacity"] == 1 and 1 not in items
    assert "afterTimestamp=7&afterId=6" in str(server.requests[4].url)


async def test_harvester_reads_the_feeds_again_only_after_the_ttl():
    server = FeedServer(yoga_feeds())
    now = [1000.0]
    client = client_for(server)
    client.harvester = RpdeHarvester(client._feed_page, ttl=30, clock=lambda: now[0])
    await client.harvester.items("session-series")
    count = len(server.requests)
    await client.harvester.items("session-series")
    assert len(server.requests) == count  # cached
    now[0] += 31
    await client.harvester.items("session-series")
    assert len(server.requests) == count + 1  # one page: nothing new since the last sync


async def test_a_feed_that_does_not_advance_is_reported_not_looped_on():
    def stuck(request: httpx.Request) -> httpx.Response:  # the ">=" bug: the same page for ever
        return httpx.Response(
            200, json={"next": str(request.url), "items": [item("SessionSeries", 1, 1, {})]}
        )

    with pytest.raises(Unavailable, match="does not advance"):
        await client_for(stuck).harvester.items("session-series")


async def test_feeds_are_read_without_the_api_key():
    server = FeedServer(yoga_feeds())
    await client_for(server).centres()
    assert server.requests and all("x-api-key" not in r.headers for r in server.requests)


# --- unit: availability and opening hours ------------------------------------------------------


async def test_find_availability_leaves_out_full_past_and_other_activities_and_sorts_by_time():
    found = await client_for(FeedServer(yoga_feeds())).find_availability("Yoga")
    assert [o.id.rsplit("/", 1)[-1] for o in found] == ["1", "2"]
    assert found[0].kind == "ScheduledSession" and found[0].price == Decimal("7.5")
    assert found[0].centre.name == "Olympiad Leisure Centre" and found[0].activity == "yoga"
    everything = await client_for(FeedServer(yoga_feeds())).find_availability("yoga", include_full=True)
    assert [o.remaining for o in everything] == [5, 5, 0]


async def test_find_availability_filters_by_centre_date_and_part_of_day_and_orders_by_nearest_time():
    client = client_for(FeedServer(yoga_feeds()))
    assert [o.start.hour for o in await client.find_availability("yoga", time_of_day="evening")] == [18]
    nearest = await client.find_availability("yoga", date=SOON.date(), time_of_day="18:00", include_full=True)
    assert [o.start.strftime("%H:%M") for o in nearest] == ["18:30", "19:30", "09:00"]
    assert await client.find_availability("yoga", centre="Calne") == []
    assert len(await client.find_availability("spin", centre="calne leisure centre")) == 1
    assert len(await client.find_availability("yoga", centre="Chippenham")) == 2  # the town works too
    assert await client.find_availability("yoga", date=SOON.date() + dt.timedelta(days=1)) == []
    with pytest.raises(ValueError):
        await client.find_availability("yoga", time_of_day="teatime")


async def test_opening_hours_has_the_week_and_the_bank_holidays():
    hours = await client_for(FeedServer(yoga_feeds())).opening_hours("Olympiad")
    assert hours.on(dt.date(2030, 12, 23)) == (dt.time(6, 30), dt.time(22, 0))  # a Monday
    assert hours.on(dt.date(2030, 12, 25)) is None  # Christmas Day: closed
    assert hours.on(dt.date(2030, 12, 26)) == (dt.time(8), dt.time(16))
    assert hours.on(dt.date(2030, 12, 24)) is None  # Tuesday: no hours given
    assert [s.name for s in hours.exceptions_between(dt.date(2030, 12, 1), dt.date(2030, 12, 31))] == [
        "Christmas Day",
        "Boxing Day",
    ]
    with pytest.raises(NotFound):
        await client_for(FeedServer(yoga_feeds())).opening_hours("Atlantis")


# --- unit: booking and cancelling ----------------------------------------------------------------


def quote(order_uuid: str, *, error: str | None = None) -> dict:
    order = order_body(order_uuid)
    body = {**order, "@type": "OrderQuote"}
    if error:
        body["orderedItem"][0]["error"] = [{"@type": error, "description": "There are no spaces remaining"}]
    return body


async def test_book_goes_c1_c2_b_with_one_uuid_and_returns_the_booking():
    server = FeedServer(yoga_feeds())
    key = str(uuid.uuid4())
    server.answer("PUT", "/openactive/api/order-quote-templates/", httpx.Response(200, json=quote(key)))
    server.answer("PUT", "/openactive/api/order-quotes/", httpx.Response(200, json=quote(key)))
    server.answer("PUT", "/openactive/api/orders/", httpx.Response(201, json=order_body(key)))
    client = client_for(server)
    opportunity = (await client.find_availability("yoga"))[1]
    booking = await client.book(opportunity, CUSTOMER, key)
    assert booking.reference == "BK-123456" and booking.status == "confirmed" and booking.activity == "yoga"
    assert [r.url.path for r in server.booking] == [
        f"/openactive/api/order-quote-templates/{key}",
        f"/openactive/api/order-quotes/{key}",
        f"/openactive/api/orders/{key}",
    ]
    c1, c2, b = (json.loads(r.content) for r in server.booking)
    assert "customer" not in c1 and c2["customer"]["email"] == "jo@example.com"
    assert b["@type"] == "Order" and b["totalPaymentDue"]["price"] == 7.5 and "payment" not in b
    assert b["orderedItem"][0]["orderedItem"] == {"@type": "ScheduledSession", "@id": opportunity.id}
    assert all(
        r.headers["x-api-key"] == "k" and r.headers["content-type"] == MEDIA_TYPE for r in server.booking
    )


async def test_a_full_session_at_c1_is_rejected_with_the_openactive_reason_and_nothing_booked():
    server = FeedServer(yoga_feeds())
    key = str(uuid.uuid4())
    server.answer(
        "PUT",
        "/openactive/api/order-quote-templates/",
        httpx.Response(409, json=quote(key, error="OpportunityIsFullError")),
    )
    client = client_for(server)
    with pytest.raises(Rejected) as caught:
        await client.book((await client.find_availability("yoga"))[0], CUSTOMER, key)
    assert caught.value.reason == "OpportunityIsFullError" and caught.value.status == 409
    assert len(server.booking) == 1


async def test_booking_again_with_the_same_uuid_returns_the_order_already_made():
    server = FeedServer(yoga_feeds())
    key = str(uuid.uuid4())
    exists = {"@context": "https://openactive.io/", "@type": "OrderAlreadyExistsError", "description": "used"}
    server.answer("PUT", "/openactive/api/order-quote-templates/", httpx.Response(500, json=exists))
    server.answer("GET", "/openactive/api/orders/", httpx.Response(200, json=order_body(key)))
    client = client_for(server)
    opportunity = (await client.find_availability("yoga"))[1]
    booking = await client.book(opportunity, CUSTOMER, key)
    assert booking.reference == "BK-123456"
    assert [r.method for r in server.booking] == ["PUT", "GET"]  # the 500 was final: not retried


async def test_b_is_retried_on_503_because_put_is_idempotent():
    server = FeedServer(yoga_feeds())
    key = str(uuid.uuid4())
    busy = {
        "@context": "https://openactive.io/",
        "@type": "TemporarilyUnableToCreateOrderError",
        "description": "x",
    }
    server.answer("PUT", "/openactive/api/order-quote-templates/", httpx.Response(200, json=quote(key)))
    server.answer("PUT", "/openactive/api/order-quotes/", httpx.Response(200, json=quote(key)))
    server.answer(
        "PUT",
        "/openactive/api/orders/",
        httpx.Response(503, json=busy),
        httpx.Response(201, json=order_body(key)),
    )
    client = client_for(server)
    booking = await client.book((await client.find_availability("yoga"))[1], CUSTOMER, key)
    assert booking.status == "confirmed"
    assert [r.url.path.split("/")[3] for r in server.booking] == [
        "order-quote-templates",
        "order-quotes",
        "orders",
        "orders",
    ]


async def test_book_needs_an_email_or_a_phone_number():
    client = client_for(FeedServer(yoga_feeds()))
    opportunity = (await client.find_availability("yoga"))[0]
    with pytest.raises(ValueError):
        await client.book(opportunity, Customer("Jo", "Smith"), uuid.uuid4())


async def test_cancel_by_reference_finds_the_order_and_cancels_every_live_item():
    server = FeedServer(yoga_feeds())
    key = str(uuid.uuid4())
    found = {"@type": "ItemList", "itemListElement": [order_body(key)]}
    server.answer("GET", "/openactive/api/ext/orders", httpx.Response(200, json=found))
    server.answer(
        "GET",
        f"/openactive/api/orders/{key}",
        httpx.Response(200, json=order_body(key)),
        httpx.Response(200, json=order_body(key, "https://openactive.io/CustomerCancelled")),
    )
    server.answer("PATCH", f"/openactive/api/orders/{key}", httpx.Response(204))
    booking = await client_for(server).cancel("bk-123456")
    assert booking.status == "cancelled"
    lookup, _, patch, _ = server.booking
    assert lookup.url.params["orderNumber"] == "BK-123456"
    assert json.loads(patch.content)["orderedItem"] == [
        {
            "@type": "OrderItem",
            "@id": f"{BASE}/api/orders/{key}#/orderedItem/7",
            "orderItemStatus": "https://openactive.io/CustomerCancelled",
        }
    ]


async def test_cancel_too_late_is_rejected_with_the_message_for_the_resident():
    server = FeedServer(yoga_feeds())
    key = str(uuid.uuid4())
    late = {
        "@context": "https://openactive.io/",
        "@type": "CancellationNotPermittedError",
        "description": "It is too late to cancel online. Please call the centre.",
    }
    server.answer("GET", "/openactive/api/orders/", httpx.Response(200, json=order_body(key)))
    server.answer("PATCH", "/openactive/api/orders/", httpx.Response(400, json=late))
    with pytest.raises(Rejected) as caught:
        await client_for(server).cancel(key)
    assert caught.value.reason == "CancellationNotPermittedError"
    assert "Please call the centre" in str(caught.value)


@pytest.mark.parametrize(
    "status,body,error",
    [
        (404, {"@type": "UnknownOrderError", "description": "no such order"}, NotFound),
        (401, {"@type": "InvalidAPITokenError", "description": "bad key"}, AuthFailed),
        (403, {"@type": "NoAPITokenError", "description": "no key"}, AuthFailed),
        (503, {"@type": "TemporarilyUnableToCreateOrderError", "description": "busy"}, Unavailable),
        (429, {"@type": "TooManyRequestsError", "description": "slow down"}, Unavailable),
        (500, {"@type": "InternalApplicationError", "description": "boom"}, Unavailable),
        (500, {"@type": "OrderAlreadyExistsError", "description": "clash"}, Rejected),
    ],
)
async def test_order_errors_map_to_the_hierarchy(status, body, error):
    server = FeedServer(yoga_feeds())
    server.answer("GET", "/openactive/api/orders/", httpx.Response(status, json=body))
    with pytest.raises(error):
        await client_for(server).get_order(uuid.uuid4())


async def test_an_unknown_reference_or_garbage_is_not_found():
    server = FeedServer(yoga_feeds())
    server.answer("GET", "/openactive/api/ext/orders", httpx.Response(200, json={"itemListElement": []}))
    with pytest.raises(NotFound):
        await client_for(server).cancel("BK-000000")
    with pytest.raises(NotFound):
        await client_for(server).get_order("not a reference")
    assert LeisureClient.is_reference("bk-123456") and not LeisureClient.is_reference("LB-123456")


def test_customer_details_stay_out_of_reprs_and_booking_parsing_is_typed():
    assert "jo@example.com" not in repr(CUSTOMER) and "07700900123" not in repr(CUSTOMER)
    booking = booking_from_order(order_body("8c1f1b3e-0000-4000-8000-000000000001"))
    assert booking.total == Decimal("7.5") and booking.start.tzinfo is not None
    assert booking.items[0].status == "confirmed" and booking.centre == "Olympiad Leisure Centre"


async def test_logs_name_operations_but_never_the_customer(caplog):
    server = FeedServer(yoga_feeds())
    key = str(uuid.uuid4())
    server.answer("PUT", "/openactive/api/orders/", httpx.Response(201, json=order_body(key)))
    server.answer("PUT", "/openactive/api/", httpx.Response(200, json=quote(key)))
    client = client_for(server)
    with caplog.at_level(logging.INFO, logger="integrations"):
        await client.book((await client.find_availability("yoga"))[1], CUSTOMER, key)
    text = caplog.text
    assert "openactive c1" in text and "openactive b" in text
    assert "jo@example.com" not in text and "07700900123" not in text and key not in text


# --- contract: the real client against the running sandbox -------------------------------------------


@pytest.fixture
async def live(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    async with httpx.AsyncClient() as http:
        client = LeisureClient(
            http, settings.openactive, settings.timeouts, seller_id=settings.openactive_seller_id
        )
        yield client, clean_sandbox


def harvest(url: str, max_pages: int = 50) -> list[dict]:
    """Every page of a feed, read with plain HTTP (a feed that never ends fails the test)."""
    pages = []
    for _ in range(max_pages):
        page = httpx.get(url, timeout=10).json()
        pages.append(page)
        if not page["items"]:
            assert page["next"] == url  # the last page points at itself
            return pages
        assert page["next"] != url, "the feed does not advance"
        url = page["next"]
    raise AssertionError(f"the feed did not end within {max_pages} pages")


def test_sandbox_feeds_page_through_ties_without_losing_or_repeating_items(clean_sandbox):
    pages = harvest(clean_sandbox.url + "/openactive/feeds/facility-use-slots")
    items = [i for page in pages for i in page["items"]]
    assert len(pages) > 3
    assert len({i["id"] for i in items}) == len(items) == len(clean_sandbox.rows("oa_slots?limit=100000"))
    # Page boundaries fall inside runs of equal `modified` (bulk-loaded), which is what the
    # (modified = ts AND id > id) OR (modified > ts) rule is for.
    assert any(
        a["items"][-1]["modified"] == b["items"][0]["modified"]
        for a, b in zip(pages[:-2], pages[1:-1], strict=True)
    )
    order = [(i["modified"], i["id"]) for i in items]
    assert order == sorted(order)


def test_sandbox_feed_pages_match_the_rpde_and_openactive_schemas(clean_sandbox):
    kinds = {
        "session-series": "SessionSeries",
        "scheduled-sessions": "ScheduledSession",
        "facility-uses": "FacilityUse",
        "facility-use-slots": "Slot",
    }
    for feed, definition in kinds.items():
        page = httpx.get(f"{clean_sandbox.url}/openactive/feeds/{feed}", timeout=10).json()
        assert_schema(page, "RpdePage")
        assert page["items"]
        for entry in page["items"]:
            if entry["state"] == "updated":
                assert_schema(entry["data"], definition)
    sessions = [
        i for p in harvest(clean_sandbox.url + "/openactive/feeds/scheduled-sessions") for i in p["items"]
    ]
    deleted = [i for i in sessions if i["state"] == "deleted"]
    assert deleted and all("data" not in i for i in deleted)


async def test_sandbox_booking_lowers_capacity_moves_modified_on_and_is_idempotent(live):
    client, sandbox = live
    opportunity = (await client.find_availability("swimming", date=dt.date.today() + dt.timedelta(days=3)))[0]
    feed_url = sandbox.url + "/openactive/feeds/scheduled-sessions"
    last_page = harvest(feed_url)[-1]["next"]
    key = uuid.uuid4()
    booking = await client.book(opportunity, CUSTOMER, key)
    assert (
        booking.status == "confirmed"
        and booking.reference.startswith("BK-")
        and booking.activity == "swimming"
    )
    again = await client.book(opportunity, CUSTOMER, key)
    assert again.reference == booking.reference
    orders = [o for o in sandbox.rows("oa_orders") if o["uuid"] == str(key)]
    assert len(orders) == 1 and orders[0]["order_number"] == booking.reference
    # The change shows up in the feed after where a consumer had read to, with a later `modified`.
    changed = httpx.get(last_page, timeout=10).json()["items"]
    mine = [i for i in changed if i["data"]["@id"] == opportunity.id]
    assert len(mine) == 1 and mine[0]["data"]["remainingAttendeeCapacity"] == opportunity.remaining - 1
    assert mine[0]["modified"] > int(parse_qs(urlsplit(last_page).query)["afterTimestamp"][0])
    after = [
        o
        for o in await client.find_availability("swimming", date=opportunity.start.date())
        if o.id == opportunity.id
    ]
    assert after[0].remaining == opportunity.remaining - 1
    # Cancelling by reference gives the place back; cancelling again is harmless.
    cancelled = await client.cancel(booking.reference)
    assert cancelled.status == "cancelled"
    assert (await client.cancel(booking.reference)).status == "cancelled"
    back = [
        o
        for o in await client.find_availability("swimming", date=opportunity.start.date())
        if o.id == opportunity.id
    ]
    assert back[0].remaining == opportunity.remaining


async def test_sandbox_full_and_nearly_full_sessions(live):
    client, _ = live
    assert await client.find_availability("spin", centre="Olympiad") == []
    full = await client.find_availability("spin", centre="Olympiad", include_full=True)
    assert full and all(o.is_full for o in full)
    with pytest.raises(Rejected) as caught:
        await client.book(full[0], CUSTOMER, uuid.uuid4())
    assert caught.value.reason == "OpportunityIsFullError"
    nearly = await client.find_availability("yoga", centre="Olympiad Leisure Centre")
    assert nearly and all(o.remaining == 2 for o in nearly)
    courts = await client.find_availability(
        "badminton", date=dt.date.today() + dt.timedelta(days=2), time_of_day="19:00"
    )
    assert courts and courts[0].kind == "Slot" and courts[0].start.hour in (18, 19, 20)


async def test_sandbox_centres_and_opening_hours_with_a_bank_holiday(live):
    client, _ = live
    names = [c.name for c in await client.centres()]
    assert names == sorted(
        [
            "Olympiad Leisure Centre",
            "Springfield Campus",
            "Castle Place Leisure Centre",
            "Five Rivers Health and Wellbeing Centre",
            "Calne Leisure Centre",
        ]
    )
    olympiad = await client.opening_hours("olympiad")
    assert olympiad.on(dt.date(2030, 1, 7)) == (
        dt.time(6, 30),
        dt.time(22, 0),
    )  # any Monday without exceptions
    assert olympiad.special, "the next bank holidays are listed"
    calne = await client.opening_hours("Calne")
    assert all(s.closed for s in calne.special)  # Calne closes on bank holidays
    christmas = [s for s in olympiad.special if s.name == "Christmas Day"]
    assert all(s.closed for s in christmas)


async def test_sandbox_find_bookings_and_cancel_rules_on_seeded_orders(live):
    client, _ = live
    upcoming = await client.find_bookings(email="JO@example.com")
    assert [b.reference for b in upcoming] == ["BK-104233"]
    assert upcoming[0].activity == "family swim" and upcoming[0].centre == "Olympiad Leisure Centre"
    every = await client.find_bookings(telephone="+44 7700 900123", upcoming_only=False)
    assert {b.reference for b in every} == {"BK-104233", "BK-104234", "BK-104235"}
    assert (await client.get_order("BK-104234")).status == "cancelled"
    with pytest.raises(Rejected) as caught:
        await client.cancel("BK-104235")  # yesterday's swim
    assert caught.value.reason == "CancellationNotPermittedError"
    with pytest.raises(NotFound):
        await client.cancel("BK-999999")


async def test_sandbox_orders_feed_shows_cancellations_without_customer_details(live):
    client, sandbox = live
    await client.cancel("BK-104233")
    headers = {"X-API-Key": KEY}
    page = httpx.get(sandbox.url + "/openactive/api/orders-rpde", headers=headers, timeout=10).json()
    assert_schema(page, "RpdePage")
    for entry in page["items"]:
        assert_schema(entry["data"], "OrdersFeedOrder")
    statuses = {e["data"]["orderedItem"][0]["orderItemStatus"].rsplit("/", 1)[-1] for e in page["items"]}
    assert "CustomerCancelled" in statuses
    assert page["items"][-1]["data"]["orderedItem"][0]["orderItemStatus"].endswith("CustomerCancelled")


def test_sandbox_booking_responses_match_the_open_booking_api_schemas(clean_sandbox):
    base = clean_sandbox.url + "/openactive"
    headers = {"X-API-Key": KEY, "Content-Type": MEDIA_TYPE}
    sessions = [
        i["data"] for p in harvest(base + "/feeds/scheduled-sessions") for i in p["items"] if i.get("data")
    ]
    now = dt.datetime.now(LONDON).isoformat()
    open_one = next(
        s
        for s in sessions
        if s["startDate"] > now
        and s["remainingAttendeeCapacity"] > 2
        and s["eventStatus"].endswith("Scheduled")
    )
    request = {
        "@context": "https://openactive.io/",
        "@type": "OrderQuote",
        "brokerRole": "https://openactive.io/AgentBroker",
        "broker": {"@type": "Organization", "name": "Test"},
        "seller": {"@type": "Organization", "@id": base + "/api/organisations/council-leisure"},
        "orderedItem": [
            {
                "@type": "OrderItem",
                "position": 0,
                "acceptedOffer": {"@type": "Offer", "@id": open_one["superEvent"] + "#/offers/0"},
                "orderedItem": {"@type": "ScheduledSession", "@id": open_one["@id"]},
            }
        ],
    }
    key = uuid.uuid4()
    c1 = httpx.put(f"{base}/api/order-quote-templates/{key}", json=request, headers=headers, timeout=10)
    assert c1.status_code == 200 and c1.headers["content-type"] == MEDIA_TYPE
    assert_schema(c1.json(), "OrderQuote")
    person = {"@type": "Person", "givenName": "Al", "familyName": "Test", "email": "al@example.com"}
    b_body = {
        **request,
        "@type": "Order",
        "customer": person,
        "totalPaymentDue": c1.json()["totalPaymentDue"],
    }
    b = httpx.put(f"{base}/api/orders/{key}", json=b_body, headers=headers, timeout=10)
    assert b.status_code == 201 and b.headers["location"] == f"{base}/api/orders/{key}"
    assert_schema(b.json(), "Order")
    assert_schema(httpx.get(f"{base}/api/orders/{key}", headers=headers, timeout=10).json(), "Order")
    full = next(s for s in sessions if s["startDate"] > now and s["remainingAttendeeCapacity"] == 0)
    request["orderedItem"][0]["orderedItem"]["@id"] = full["@id"]
    request["orderedItem"][0]["acceptedOffer"]["@id"] = full["superEvent"] + "#/offers/0"
    c1_full = httpx.put(
        f"{base}/api/order-quote-templates/{uuid.uuid4()}", json=request, headers=headers, timeout=10
    )
    assert c1_full.status_code == 409
    assert_schema(c1_full.json(), "OrderQuote")
    assert c1_full.json()["orderedItem"][0]["error"][0]["@type"] == "OpportunityIsFullError"


@pytest.mark.parametrize(
    "method,path,body,headers,status,error_type",
    [
        ("PUT", "/api/orders/{uuid}", b"{not json", {"X-API-Key": KEY}, 400, "OpenBookingError"),
        ("PUT", "/api/orders/{uuid}", {"@type": "Order"}, {}, 403, "NoAPITokenError"),
        (
            "PUT",
            "/api/orders/{uuid}",
            {"@type": "Order"},
            {"X-API-Key": "wrong"},
            401,
            "InvalidAPITokenError",
        ),
        ("PUT", "/api/orders/not-a-uuid", {"@type": "Order"}, {"X-API-Key": KEY}, 400, "OpenBookingError"),
        (
            "PUT",
            "/api/order-quotes/{uuid}",
            {"@type": "Order"},
            {"X-API-Key": KEY},
            500,
            "UnexpectedOrderTypeError",
        ),
        ("GET", "/api/orders/{uuid}", None, {"X-API-Key": KEY}, 404, "UnknownOrderError"),
        (
            "PATCH",
            "/api/orders/{uuid}",
            {"@type": "Order", "orderedItem": []},
            {"X-API-Key": KEY},
            404,
            "UnknownOrderError",
        ),
        ("GET", "/feeds/scheduled-sessions?afterId=3", None, {}, 400, "OpenBookingError"),
        ("GET", "/feeds/scheduled-sessions?afterTimestamp=x&afterId=3", None, {}, 400, "OpenBookingError"),
        ("GET", "/api/ext/orders", None, {"X-API-Key": KEY}, 400, "OpenBookingError"),
        ("GET", "/no/such/path", None, {}, 404, "UnknownOrIncorrectEndpointError"),
    ],
)
def test_sandbox_bad_input_gets_openactive_errors_never_a_500_crash(
    clean_sandbox, method, path, body, headers, status, error_type
):
    url = clean_sandbox.url + "/openactive" + path.replace("{uuid}", str(uuid.uuid4()))
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body} if body is not None else {}
    response = httpx.request(method, url, headers=headers, timeout=10, **kwargs)
    assert response.status_code == status
    assert_schema(response.json(), "OpenBookingError")
    assert response.json()["@type"] == error_type


async def test_sandbox_order_rules_customer_total_clash_and_patch(live):
    client, sandbox = live
    opportunity = (await client.find_availability("zumba"))[0]
    base = sandbox.url + "/openactive/api"
    headers = {"X-API-Key": KEY, "Content-Type": MEDIA_TYPE}
    order = {**client._order("Order", opportunity), "totalPaymentDue": {"price": float(opportunity.price)}}

    def put(key: str, body: dict) -> httpx.Response:
        return httpx.put(f"{base}/orders/{key}", json=body, headers=headers, timeout=10)

    no_contact = put(str(uuid.uuid4()), {**order, "customer": {"@type": "Person", "givenName": "Al"}})
    assert (no_contact.status_code, no_contact.json()["@type"]) == (400, "IncompleteCustomerDetailsError")
    person = CUSTOMER.as_person()
    wrong_total = put(str(uuid.uuid4()), {**order, "customer": person, "totalPaymentDue": {"price": 0.01}})
    assert (wrong_total.status_code, wrong_total.json()["@type"]) == (400, "TotalPaymentDueMismatchError")
    key = str(uuid.uuid4())
    assert put(key, {**order, "customer": person}).status_code == 201
    clash = put(key, {**order, "customer": {**person, "email": "someone.else@example.com"}})
    assert (clash.status_code, clash.json()["@type"]) == (500, "OrderAlreadyExistsError")
    item_id = (await client.get_order(key)).items[0].id
    bad_status = httpx.patch(
        f"{base}/orders/{key}",
        headers=headers,
        timeout=10,
        json={
            "@type": "Order",
            "orderedItem": [{"@id": item_id, "orderItemStatus": "https://openactive.io/SellerCancelled"}],
        },
    )
    assert (bad_status.status_code, bad_status.json()["@type"]) == (400, "PatchNotAllowedOnPropertyError")


async def test_sandbox_faults_are_retried_where_safe_and_reported_otherwise(live):
    client, sandbox = live
    sandbox.fault(path="/openactive/feeds/session-series", status=503, times=1)
    assert await client.centres()  # the feed read was retried
    opportunity = (await client.find_availability("pilates"))[0]
    sandbox.fault(path="/openactive/api/orders/", method="PUT", status=503)
    with pytest.raises(Unavailable):
        await client.book(opportunity, CUSTOMER, uuid.uuid4())
    assert not [o for o in sandbox.rows("oa_orders") if o["fingerprint"] != "seeded"]
    sandbox.clear_faults()
    sandbox.fault(path="/openactive/feeds/", latency_ms=3000, times=1)
    slow = LeisureClient(client.http, client.endpoint, Timeouts(read=1.0, deadline=5.0), feed_ttl=0)
    assert await slow.centres()  # timed out once, then answered
