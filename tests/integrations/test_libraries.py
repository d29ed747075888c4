"""Koha libraries client: unit tests on MockTransport, contract tests on the sandbox."""

from __future__ import annotations

import datetime as dt
import json
import logging
from urllib.parse import parse_qs

import httpx
import pytest

from integrations.errors import AuthFailed, NotFound, Rejected, TimedOut, Unavailable
from integrations.leisure import LONDON
from integrations.libraries import (
    LibraryClient,
    LibrarySession,
    RenewalReason,
    RenewalRefused,
    renewal_reason,
)
from integrations.settings import Endpoint, Settings, Timeouts
from tests.integrations.contract import draft7_schema_assert
from tests.support.mock_http import mock_client

BASE = "http://koha.test"
ALEX = ("21234000123456", "1234")  # renewable, on_reserve, too_many, overdue loans
PRIYA = ("21234000234567", "2468")  # no loans
TOM = ("21234000345678", "1357")  # two renewable loans
OLIVER = ("21234000678901", "5555")  # restricted


assert_schema = draft7_schema_assert("koha")


# --- test doubles ----------------------------------------------------------------------------


def checkout(
    checkout_id: int, item_id: int, due: str = "2030-01-10T23:59:00+00:00", renewals: int = 0
) -> dict:
    return {
        "checkout_id": checkout_id,
        "patron_id": 7,
        "item_id": item_id,
        "due_date": due,
        "checkout_date": "2029-12-20T10:12:00+00:00",
        "renewals_count": renewals,
        "library_id": "CHIP",
    }


def booking(booking_id: int, item_id: int, start: str, end: str, reference: str = "LB-100200") -> dict:
    return {
        "booking_id": booking_id,
        "biblio_id": 40,
        "item_id": item_id,
        "patron_id": 7,
        "pickup_library_id": "CHIP",
        "start_date": start,
        "end_date": end,
        "status": "new",
        "extended_attributes": [{"field_id": 1, "value": reference}],
        "biblio": {"title": "Public computer"},
    }


class Koha:
    """A scripted Koha: a token endpoint and routes answered from a table, requests recorded."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.tokens = 0
        self.routes: dict[tuple[str, str], list] = {}
        self.expired: set[str] = set()

    def on(self, method: str, path: str, *responses) -> None:
        self.routes[(method, path)] = list(responses)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/v1/oauth/token":
            self.tokens += 1
            return httpx.Response(
                200, json={"access_token": f"token-{self.tokens}", "token_type": "Bearer", "expires_in": 3600}
            )
        if request.headers.get("authorization", "").removeprefix("Bearer ") in self.expired:
            return httpx.Response(401, json={"error": "Authentication failure."})
        responses = self.routes.get((request.method, request.url.path))
        if responses is None:
            return httpx.Response(
                404, json={"errors": [{"message": "Not Found.", "path": "/"}], "status": 404}
            )
        answer = responses.pop(0) if len(responses) > 1 else responses[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


def client_koha(client: LibraryClient) -> Koha:
    return client.http._transport.handler  # type: ignore[attr-defined]


def client_for(koha: Koha, clock=None, **timeouts) -> LibraryClient:
    kwargs = {"clock": clock} if clock else {}
    endpoint = Endpoint(BASE, key="client", secret="secret")
    client, _ = mock_client(LibraryClient, koha, endpoint, Timeouts(**timeouts), **kwargs)
    return client


def json_response(status: int, body) -> httpx.Response:
    return httpx.Response(status, json=body)


# --- unit: authentication --------------------------------------------------------------------


async def test_token_is_fetched_once_with_client_credentials_and_sent_as_bearer():
    koha = Koha()
    koha.on(
        "GET",
        "/api/v1/patrons/7",
        json_response(200, {"patron_id": 7, "surname": "Smith", "library_id": "CHIP", "category_id": "PT"}),
    )
    client = client_for(koha)
    await client.patron(7)
    await client.patron(7)
    token_calls = koha.calls("/api/v1/oauth/token")
    assert len(token_calls) == 1
    assert parse_qs(token_calls[0].content.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["client"],
        "client_secret": ["secret"],
    }
    assert all(r.headers["authorization"] == "Bearer token-1" for r in koha.calls("/api/v1/patrons/7"))


async def test_token_is_renewed_shortly_before_it_expires():
    koha = Koha()
    koha.on(
        "GET",
        "/api/v1/patrons/7",
        json_response(200, {"patron_id": 7, "surname": "S", "library_id": "C", "category_id": "PT"}),
    )
    now = [0.0]
    client = client_for(koha, clock=lambda: now[0])
    await client.patron(7)
    now[0] = 3550.0  # less than a minute left
    await client.patron(7)
    assert koha.tokens == 2
    assert koha.calls("/api/v1/patrons/7")[-1].headers["authorization"] == "Bearer token-2"


async def test_a_401_fetches_a_new_token_and_tries_once_more():
    koha = Koha()
    koha.on(
        "GET",
        "/api/v1/patrons/7",
        json_response(200, {"patron_id": 7, "surname": "S", "library_id": "C", "category_id": "PT"}),
    )
    client = client_for(koha)
    await client.patron(7)
    koha.expired.add("token-1")  # Koha restarted, or revoked the token
    assert (await client.patron(7)).patron_id == 7
    assert koha.tokens == 2
    koha.expired.add("token-2")
    koha.expired.add("token-3")
    with pytest.raises(AuthFailed):
        await client.patron(7)  # refreshed once, still refused: give up
    assert koha.tokens == 3


async def test_refused_client_credentials_are_auth_failed_and_not_retried():
    koha = Koha()
    refusals = []

    def refuse(request: httpx.Request) -> httpx.Response:
        refusals.append(request)
        return httpx.Response(403, json={"error": "unauthorized_client"})

    client = LibraryClient(httpx.AsyncClient(transport=httpx.MockTransport(refuse)), Endpoint(BASE, "x", "y"))
    with pytest.raises(AuthFailed):
        await client.libraries()
    assert len(refusals) == 1 and not koha.requests


# --- unit: patrons and loans ---------------------------------------------------------------------


async def test_verify_patron_checks_the_pin_then_reads_the_patron_by_card_number():
    koha = Koha()
    koha.on(
        "POST",
        "/api/v1/auth/password/validation",
        json_response(201, {"cardnumber": ALEX[0], "patron_id": 7, "userid": "alex"}),
    )
    koha.on(
        "GET",
        "/api/v1/patrons",
        json_response(
            200,
            [
                {
                    "patron_id": 7,
                    "cardnumber": ALEX[0],
                    "firstname": "Alex",
                    "surname": "Smith",
                    "library_id": "CHIP",
                    "category_id": "PT",
                }
            ],
        ),
    )
    patron = await client_for(koha).verify_patron("2123 4000 1234 56", "1234")
    assert patron.patron_id == 7 and patron.name == "Alex Smith"
    sent = json.loads(koha.calls("/api/v1/auth/password/validation")[0].content)
    assert sent == {"identifier": ALEX[0], "password": "1234"}
    assert json.loads(koha.calls("/api/v1/patrons")[0].url.params["q"]) == {"cardnumber": ALEX[0]}
    assert ALEX[0] not in repr(patron)


async def test_a_wrong_pin_is_rejected_without_the_pin_in_the_error_or_the_logs(caplog):
    koha = Koha()
    koha.on("POST", "/api/v1/auth/password/validation", json_response(400, {"error": "Validation failed"}))
    with caplog.at_level(logging.DEBUG, logger="integrations"), pytest.raises(Rejected) as caught:
        await client_for(koha).verify_patron(ALEX[0], "9876")
    assert caught.value.reason == "invalid_credentials"
    assert "9876" not in str(caught.value) and "9876" not in caplog.text and ALEX[0] not in caplog.text
    assert len(koha.calls("/api/v1/auth/password/validation")) == 1


async def test_checkouts_follow_the_link_header_and_get_titles_in_one_request():
    koha = Koha()
    page2 = f"{BASE}/api/v1/checkouts?patron_id=7&_page=2&_per_page=50"
    koha.on(
        "GET",
        "/api/v1/checkouts",
        httpx.Response(
            200,
            json=[checkout(1, 11, "2030-01-12T23:59:00+00:00")],
            headers={"Link": f'<{page2}>; rel="next", <{page2}>; rel="last"', "X-Total-Count": "2"},
        ),
        httpx.Response(
            200,
            json=[checkout(2, 12, "2030-01-05T23:59:00+00:00", renewals=3)],
            headers={"X-Total-Count": "2"},
        ),
    )
    koha.on(
        "GET",
        "/api/v1/items",
        json_response(
            200,
            [
                {"item_id": 11, "biblio_id": 1, "biblio": {"title": "Emma", "author": "Austen, Jane"}},
                {"item_id": 12, "biblio_id": 2, "biblio": {"title": "Dracula", "author": "Stoker, Bram"}},
            ],
        ),
    )
    loans = await client_for(koha).checkouts(7)
    assert [(loan.title, loan.due_date.isoformat(), loan.renewals) for loan in loans] == [
        ("Dracula", "2030-01-05", 3),
        ("Emma", "2030-01-12", 0),
    ]
    assert loans[0].due.tzinfo is not None
    items_call = koha.calls("/api/v1/items")
    assert len(items_call) == 1 and items_call[0].headers["x-koha-embed"] == "biblio"
    assert json.loads(items_call[0].url.params["q"]) == {"item_id": [11, 12]}


async def test_can_renew_maps_koha_reasons():
    koha = Koha()
    koha.on(
        "GET",
        "/api/v1/checkouts/5/allows_renewal",
        json_response(
            200,
            {
                "allows_renewal": False,
                "max_renewals": 3,
                "current_renewals": 0,
                "unseen_renewals": 0,
                "error": "on_reserve",
            },
        ),
    )
    check = await client_for(koha).can_renew(5)
    assert (check.allowed, check.reason, check.max_renewals) == (False, RenewalReason.ON_RESERVE, 3)
    assert renewal_reason("too_many") is RenewalReason.TOO_MANY
    assert renewal_reason("restriction") is RenewalReason.RESTRICTED
    assert renewal_reason("something_new") is RenewalReason.OTHER


async def test_renew_returns_the_new_due_date_or_says_why_not():
    koha = Koha()
    koha.on(
        "POST",
        "/api/v1/checkouts/1/renewal",
        json_response(201, checkout(1, 11, "2030-02-02T23:59:00+00:00", 1)),
    )
    koha.on(
        "POST",
        "/api/v1/checkouts/2/renewal",
        json_response(403, {"error": "Renewal not authorized (too_many)"}),
    )
    koha.on(
        "POST",
        "/api/v1/checkouts/3/renewal",
        json_response(403, {"error": "Renewal not authorized (on_reserve)"}),
    )
    koha.on(
        "POST",
        "/api/v1/checkouts/9/renewal",
        json_response(404, {"error": "Checkout not found", "error_code": "not_found"}),
    )
    koha.on(
        "GET",
        "/api/v1/items",
        json_response(200, [{"item_id": 11, "biblio": {"title": "Emma", "author": "A"}}]),
    )
    client = client_for(koha)
    loan = await client.renew(1)
    assert loan.title == "Emma" and loan.due_date == dt.date(2030, 2, 2) and loan.renewals == 1
    with pytest.raises(RenewalRefused) as caught:
        await client.renew(2)
    assert caught.value.why is RenewalReason.TOO_MANY and caught.value.reason == "too_many"
    with pytest.raises(NotFound):
        await client.renew(9)
    outcomes = await client.renew_many([1, 3])
    assert [(o.checkout_id, o.refused, o.loan is not None) for o in outcomes] == [
        (1, None, True),
        (3, RenewalReason.ON_RESERVE, False),
    ]


async def test_a_renewal_is_not_retried_when_koha_fails_because_it_could_renew_twice():
    koha = Koha()
    koha.on(
        "POST", "/api/v1/checkouts/1/renewal", json_response(503, {"error": "System is under maintenance."})
    )
    with pytest.raises(Unavailable):
        await client_for(koha).renew(1)
    assert len(koha.calls("/api/v1/checkouts/1/renewal")) == 1


async def test_reads_are_retried_on_a_503():
    koha = Koha()
    koha.on(
        "GET",
        "/api/v1/checkouts",
        json_response(503, {"error": "System is under maintenance."}),
        json_response(200, []),
    )
    assert await client_for(koha).checkouts(7) == []
    assert len(koha.calls("/api/v1/checkouts")) == 2


# --- unit: sessions -----------------------------------------------------------------------------------


def session_window(start: str, end: str, biblio: int = 40) -> dict:
    return {
        "session_id": 1,
        "biblio_id": biblio,
        "resource": "public computer",
        "library_id": "CHIP",
        "start_date": start,
        "end_date": end,
        "capacity": 2,
    }


def koha_with_sessions() -> Koha:
    koha = Koha()
    koha.on(
        "GET",
        "/api/v1/libraries",
        json_response(200, [{"library_id": "CHIP", "name": "Chippenham Library", "city": "Chippenham"}]),
    )
    koha.on(
        "GET",
        "/api/v1/contrib/council/sessions",
        json_response(
            200,
            [
                session_window("2030-01-07T10:00:00+00:00", "2030-01-07T11:00:00+00:00"),
                session_window("2030-01-07T11:00:00+00:00", "2030-01-07T12:00:00+00:00"),
                session_window("2030-01-07T14:00:00+00:00", "2030-01-07T15:00:00+00:00"),
            ],
        ),
    )
    koha.on(
        "GET",
        "/api/v1/biblios/40/items",
        json_response(200, [{"item_id": 1, "bookable": True}, {"item_id": 2, "bookable": True}]),
    )
    koha.on(
        "GET",
        "/api/v1/biblios/40/bookings",
        json_response(
            200,
            [
                booking(5, 1, "2030-01-07T10:00:00+00:00", "2030-01-07T11:00:00+00:00"),
                booking(
                    6, 2, "2030-01-07T10:30:00+00:00", "2030-01-07T11:30:00+00:00"
                ),  # overlaps both 10:00 and 11:00
            ],
        ),
    )
    return koha


NOW = dt.datetime(2030, 1, 6, 12, tzinfo=LONDON)


async def test_session_availability_counts_free_items_from_overlapping_bookings():
    client = client_for(koha_with_sessions())
    found = await client.session_availability("Public computer", "Chippenham", include_full=True, now=NOW)
    assert [(s.start.hour, s.free_item_ids) for s in found] == [(10, ()), (11, (1,)), (14, (1, 2))]
    assert found[1].library_name == "Chippenham Library" and found[1].capacity == 2
    free = await client.session_availability("public computer", "Chippenham", now=NOW)
    assert [s.start.hour for s in free] == [11, 14]  # the full 10:00 left out


async def test_session_availability_filters_by_part_of_day_and_sorts_by_nearest_time():
    client = client_for(koha_with_sessions())
    assert [
        s.start.hour
        for s in await client.session_availability("public computer", time_of_day="afternoon", now=NOW)
    ] == [14]
    nearest = await client.session_availability(
        "public computer", date=dt.date(2030, 1, 7), time_of_day="13:30", now=NOW
    )
    assert [s.start.hour for s in nearest] == [14, 11]
    asked = client_koha(client).calls("/api/v1/contrib/council/sessions")[-1].url.params
    assert (asked["from"], asked["to"], asked["resource"]) == ("2030-01-07", "2030-01-07", "public computer")
    with pytest.raises(ValueError):
        await client.session_availability("swimming pool", now=NOW)


def a_session(*free: int) -> LibrarySession:
    start = dt.datetime(2030, 1, 7, 14, tzinfo=LONDON)
    return LibrarySession(
        "public computer",
        "CHIP",
        "Chippenham Library",
        start,
        start + dt.timedelta(hours=1),
        2,
        40,
        tuple(free),
    )


async def test_book_session_tries_the_next_item_when_one_was_taken_meanwhile():
    koha = Koha()

    def created(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        reference = body["extended_attributes"][0]["value"]
        return httpx.Response(
            201, json=booking(9, body["item_id"], body["start_date"], body["end_date"], reference)
        )

    koha.on("POST", "/api/v1/bookings", json_response(400, {"error": "Booking would conflict"}), created)
    made = await client_for(koha).book_session(a_session(1, 2), patron_id=7)
    sent = [json.loads(r.content) for r in koha.calls("/api/v1/bookings")]
    assert [b["item_id"] for b in sent] == [1, 2]
    assert made.item_id == 2 and made.resource == "public computer" and made.reference.startswith("LB-")
    assert sent[1]["pickup_library_id"] == "CHIP" and sent[1]["start_date"] == "2030-01-07T14:00:00+00:00"
    assert sent[1]["extended_attributes"][0]["field_id"] == 1
    with pytest.raises(Rejected) as caught:
        await client_for(koha).book_session(a_session(), patron_id=7)
    assert caught.value.reason == "full"


async def test_a_booking_whose_answer_was_lost_is_found_by_its_reference_not_made_twice():
    koha = Koha()
    koha.on("POST", "/api/v1/bookings", httpx.ReadTimeout("lost"))

    def lookup(request: httpx.Request) -> httpx.Response:
        reference = json.loads(request.url.params["q"])["extended_attributes.value"]
        return httpx.Response(
            200, json=[booking(9, 1, "2030-01-07T14:00:00+00:00", "2030-01-07T15:00:00+00:00", reference)]
        )

    koha.on("GET", "/api/v1/bookings", lookup)
    made = await client_for(koha).book_session(a_session(1), patron_id=7)
    assert made.booking_id == 9 and len(koha.calls("/api/v1/bookings")) == 2  # one POST, one lookup
    koha.on("GET", "/api/v1/bookings", json_response(200, []))
    with pytest.raises(TimedOut):
        await client_for(koha).book_session(a_session(1), patron_id=7)


async def test_cancel_session_by_reference_and_a_delete_that_already_worked():
    koha = Koha()
    found = [booking(9, 1, "2030-01-07T14:00:00+00:00", "2030-01-07T15:00:00+00:00", "LB-100200")]
    koha.on("GET", "/api/v1/bookings", json_response(200, found))
    koha.on(
        "DELETE",
        "/api/v1/bookings/9",
        json_response(404, {"error": "Booking not found", "error_code": "not_found"}),
    )
    koha.on("GET", "/api/v1/bookings/9", json_response(200, {**found[0], "status": "cancelled"}))
    cancelled = await client_for(koha).cancel_session("lb100200")
    assert cancelled.status == "cancelled" and cancelled.reference == "LB-100200"
    assert json.loads(koha.calls("/api/v1/bookings")[0].url.params["q"]) == {
        "extended_attributes.value": "LB-100200"
    }
    koha.on("GET", "/api/v1/bookings", json_response(200, []))
    with pytest.raises(NotFound):
        await client_for(koha).cancel_session("LB-999999")
    with pytest.raises(NotFound):
        await client_for(koha).cancel_session("BK-100200")  # a leisure reference is not ours
    assert LibraryClient.is_reference("LB-100200") and not LibraryClient.is_reference("BK-100200")


async def test_opening_hours_turn_closures_into_exceptions():
    koha = Koha()
    koha.on(
        "GET", "/api/v1/libraries", json_response(200, [{"library_id": "CORS", "name": "Corsham Library"}])
    )
    week = [
        {"day": d, "open_time": "09:30", "close_time": "17:30"}
        for d in ("monday", "tuesday", "thursday", "friday")
    ]
    week += [{"day": d, "open_time": None, "close_time": None} for d in ("wednesday", "saturday", "sunday")]
    koha.on(
        "GET",
        "/api/v1/contrib/council/libraries/CORS/opening_hours",
        json_response(
            200,
            {
                "library_id": "CORS",
                "weekly": week,
                "days": [
                    {
                        "date": "2030-01-07",
                        "open_time": None,
                        "close_time": None,
                        "closed": True,
                        "note": "Staff training day",
                    },
                    {
                        "date": "2030-01-08",
                        "open_time": "09:30",
                        "close_time": "17:30",
                        "closed": False,
                        "note": None,
                    },
                    {
                        "date": "2030-01-09",
                        "open_time": None,
                        "close_time": None,
                        "closed": True,
                        "note": None,
                    },
                ],
            },
        ),
    )
    hours = await client_for(koha).opening_hours("corsham", start=dt.date(2030, 1, 7), days=3)
    assert hours.place == "Corsham Library"
    assert [s.name for s in hours.special] == ["Staff training day"]  # Wednesday closure is the norm
    assert hours.on(dt.date(2030, 1, 7)) is None and hours.on(dt.date(2030, 1, 8)) == (
        dt.time(9, 30),
        dt.time(17, 30),
    )
    params = koha.calls("/api/v1/contrib/council/libraries/CORS/opening_hours")[0].url.params
    assert (params["from"], params["to"]) == ("2030-01-07", "2030-01-09")


# --- contract: the real client against the running sandbox -----------------------------------------------


@pytest.fixture
async def live(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    async with httpx.AsyncClient() as http:
        yield LibraryClient(http, settings.koha, settings.timeouts), clean_sandbox


def token(sandbox) -> dict[str, str]:
    response = httpx.post(
        sandbox.url + "/api/v1/oauth/token",
        timeout=10,
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox-koha-client",
            "client_secret": "sandbox-koha-secret",
        },
    )
    assert_schema(response.json(), "Token")
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_sandbox_verifies_card_and_pin_and_locks_after_five_wrong_pins(live):
    client, _ = live
    alex = await client.verify_patron(*ALEX)
    assert (alex.name, alex.library_id) == ("Alex Smith", "CHIP")
    with pytest.raises(Rejected) as caught:
        await client.verify_patron(ALEX[0], "0000")
    assert caught.value.reason == "invalid_credentials"
    with pytest.raises(Rejected):
        await client.verify_patron("29999999999999", "1234")  # no such card: the same answer
    for _ in range(5):
        with pytest.raises(Rejected):
            await client.verify_patron(PRIYA[0], "0000")
    with pytest.raises(Rejected):
        await client.verify_patron(*PRIYA)  # locked now, even with the right PIN


async def test_sandbox_loans_renewal_reasons_and_renewing_changes_the_due_date(live):
    client, sandbox = live
    alex = await client.verify_patron(*ALEX)
    loans = await client.checkouts(alex.patron_id)
    by_title = {loan.title: loan for loan in loans}
    assert set(by_title) == {"Pride and Prejudice", "Middlemarch", "Great Expectations", "Jane Eyre"}
    assert by_title["Jane Eyre"].is_overdue()
    checks = {title: await client.can_renew(loan.checkout_id) for title, loan in by_title.items()}
    assert checks["Pride and Prejudice"].allowed and checks["Jane Eyre"].allowed
    assert checks["Middlemarch"].reason is RenewalReason.ON_RESERVE
    assert checks["Great Expectations"].reason is RenewalReason.TOO_MANY
    outcomes = {o.checkout_id: o for o in await client.renew_many([loan.checkout_id for loan in loans])}
    renewed = outcomes[by_title["Pride and Prejudice"].checkout_id].loan
    assert renewed is not None and renewed.due_date == by_title[
        "Pride and Prejudice"
    ].due_date + dt.timedelta(days=21)
    overdue = outcomes[by_title["Jane Eyre"].checkout_id].loan
    assert overdue is not None and overdue.due_date == dt.datetime.now(LONDON).date() + dt.timedelta(days=21)
    assert outcomes[by_title["Middlemarch"].checkout_id].refused is RenewalReason.ON_RESERVE
    rows = {r["checkout_id"]: r for r in sandbox.rows("koha_checkouts")}
    assert rows[renewed.checkout_id]["renewals_count"] == 2
    assert rows[renewed.checkout_id]["due_date"].startswith(renewed.due_date.isoformat())
    with pytest.raises(NotFound):
        await client.renew(999999)


async def test_sandbox_a_new_hold_stops_renewal_until_it_is_cancelled(live):
    client, _ = live
    tom = await client.verify_patron(*TOM)
    priya = await client.verify_patron(*PRIYA)
    loan = (await client.checkouts(tom.patron_id))[0]
    assert (await client.can_renew(loan.checkout_id)).allowed
    item = httpx.get(
        f"{client.endpoint.base_url}/api/v1/items/{loan.item_id}", headers=await client.auth_headers()
    )
    hold = await client.place_hold(priya.patron_id, item.json()["biblio_id"], "TROW")
    assert [h.hold_id for h in await client.holds(priya.patron_id)] == [hold.hold_id]
    assert (await client.can_renew(loan.checkout_id)).reason is RenewalReason.ON_RESERVE
    with pytest.raises(Rejected) as caught:
        await client.place_hold(priya.patron_id, item.json()["biblio_id"], "TROW")
    assert caught.value.reason == "alreadyReserved"
    await client.cancel_hold(hold.hold_id)
    assert (await client.can_renew(loan.checkout_id)).allowed
    oliver = await client.verify_patron(*OLIVER)
    with pytest.raises(RenewalRefused) as refused:
        await client.renew((await client.checkouts(oliver.patron_id))[0].checkout_id)
    assert refused.value.why is RenewalReason.RESTRICTED
    assert await client.checkouts(priya.patron_id) == []


async def test_sandbox_libraries_and_opening_hours_with_closures(live):
    client, _ = live
    names = [library.name for library in await client.libraries()]
    assert names == [
        "Calne Library",
        "Chippenham Library",
        "Corsham Library",
        "Melksham Library",
        "Salisbury Library",
        "Trowbridge Library",
    ]
    corsham = await client.opening_hours("Corsham", days=14)
    assert 2 not in {h.weekday for h in corsham.weekly}  # shut on Wednesdays
    assert any(s.name == "Staff training day" and s.closed for s in corsham.special)
    today = dt.datetime.now(LONDON).date()
    christmas = dt.date(today.year, 12, 25)
    christmas = christmas if christmas >= today else christmas.replace(year=today.year + 1)
    around = await client.opening_hours("Chippenham", start=christmas - dt.timedelta(days=3), days=10)
    assert any(s.closed and s.name == "Christmas Day" for s in around.special)


async def test_sandbox_session_availability_bookings_and_cancel_by_reference(live):
    client, sandbox = live
    alex = await client.verify_patron(*ALEX)
    sessions = await client.session_availability("public computer", "Chippenham")
    assert sessions and all(s.library_id == "CHIP" and s.capacity == 8 and s.spaces > 0 for s in sessions)
    chosen = sessions[0]
    made = await client.book_session(chosen, alex.patron_id)
    assert made.reference.startswith("LB-") and made.status == "new" and made.start == chosen.start
    again = [
        s
        for s in await client.session_availability("public computer", "Chippenham", include_full=True)
        if s.start == chosen.start
    ][0]
    assert again.spaces == chosen.spaces - 1 and made.item_id not in again.free_item_ids
    # The same computer at the same time cannot be booked twice.
    clash = httpx.post(
        sandbox.url + "/api/v1/bookings",
        headers=token(sandbox),
        timeout=10,
        json={
            "biblio_id": chosen.biblio_id,
            "item_id": made.item_id,
            "patron_id": alex.patron_id,
            "pickup_library_id": "CHIP",
            "start_date": chosen.start.isoformat(),
            "end_date": chosen.end.isoformat(),
        },
    )
    assert clash.status_code == 400 and clash.json() == {"error": "Booking would conflict"}
    mine = await client.find_session_bookings(alex.patron_id)
    assert {"LB-310001", made.reference} <= {b.reference for b in mine}
    assert {b.resource for b in mine} == {"public computer"}
    cancelled = await client.cancel_session(made.reference)
    assert cancelled.status == "cancelled"
    assert [
        r["status"] for r in sandbox.rows("koha_bookings?limit=100000") if r["reference"] == made.reference
    ] == ["cancelled"]
    with pytest.raises(NotFound):
        await client.cancel_session(made.reference)
    assert made.reference not in {b.reference for b in await client.find_session_bookings(alex.patron_id)}


async def test_sandbox_events_full_and_nearly_full(live):
    client, _ = live
    lego = await client.session_availability("lego club", "Calne", include_full=True)
    assert lego[0].is_full and lego[0].capacity == 10
    assert lego[0] not in await client.session_availability("lego club", "Calne")
    rhyme = await client.session_availability("rhyme time", "Chippenham")
    assert rhyme and rhyme[0].spaces == 2 and rhyme[0].end - rhyme[0].start == dt.timedelta(minutes=30)
    talks = await client.session_availability("author talk")
    assert {t.library_id for t in talks} <= {"SALI", "CHIP"} and all(t.start.hour >= 18 for t in talks)


async def test_sandbox_token_is_renewed_after_koha_forgets_it(live):
    client, sandbox = live
    await client.libraries()
    old = client._token
    sandbox.reset()  # the sandbox forgets every token, as a restarted Koha would
    patron = await client.verify_patron(*TOM)
    assert patron.firstname == "Tom" and client._token != old


async def test_sandbox_faults_reads_retried_renewals_not(live):
    client, sandbox = live
    tom = await client.verify_patron(*TOM)
    sandbox.fault(path="/api/v1/checkouts", method="GET", status=503, times=1)
    loans = await client.checkouts(tom.patron_id)
    assert len(loans) == 2
    sandbox.fault(path=f"/api/v1/checkouts/{loans[0].checkout_id}/renewal", status=503, times=1)
    with pytest.raises(Unavailable):
        await client.renew(loans[0].checkout_id)
    assert (await client.checkouts(tom.patron_id))[0].due == loans[0].due  # not renewed behind our back
    renewed = await client.renew(loans[0].checkout_id)
    assert renewed.due > loans[0].due


def test_sandbox_responses_match_the_koha_schemas(clean_sandbox):
    base = clean_sandbox.url + "/api/v1"
    headers = token(clean_sandbox)

    def get(path: str, **params) -> httpx.Response:
        return httpx.get(base + path, headers=headers, params=params, timeout=10)

    validation = httpx.post(
        base + "/auth/password/validation",
        headers=headers,
        timeout=10,
        json={"identifier": ALEX[0], "password": ALEX[1]},
    )
    assert validation.status_code == 201
    assert_schema(validation.json(), "PasswordValidation")
    patron_id = validation.json()["patron_id"]
    patrons = get("/patrons", q=json.dumps({"cardnumber": ALEX[0]})).json()
    assert len(patrons) == 1
    assert_schema(patrons[0], "Patron")
    checkouts = get("/checkouts", patron_id=patron_id, _per_page=2)
    assert checkouts.headers["X-Total-Count"] == "4" and 'rel="next"' in checkouts.headers["Link"]
    assert_schema(checkouts.json(), "Checkouts")
    for loan in get("/checkouts", patron_id=patron_id).json():
        assert_schema(get(f"/checkouts/{loan['checkout_id']}/allows_renewal").json(), "AllowsRenewal")
    renewal = httpx.post(
        f"{base}/checkouts/{checkouts.json()[0]['checkout_id']}/renewal", headers=headers, timeout=10
    )
    assert_schema(renewal.json(), "Checkout" if renewal.status_code == 201 else "Error")
    for hold in get("/holds").json():
        assert_schema(hold, "Hold")
    for library in get("/libraries").json():
        assert_schema(library, "Library")
    for item in httpx.get(
        base + "/items",
        params={"q": json.dumps({"item_id": [1, 2, 3]})},
        headers={**headers, "x-koha-embed": "biblio"},
        timeout=10,
    ).json():
        assert_schema(item, "Item")
    sessions = get("/contrib/council/sessions", resource="rhyme time").json()
    assert_schema(sessions, "Sessions")
    for found in get(f"/biblios/{sessions[0]['biblio_id']}/bookings").json():
        assert_schema(found, "Booking")
    assert_schema(get("/contrib/council/libraries/CHIP/opening_hours").json(), "OpeningHours")


@pytest.mark.parametrize(
    "method,path,kwargs,status,definition,message",
    [
        ("GET", "/patrons", {}, 401, "Error", "Authentication failure."),
        ("GET", "/checkouts/999999", {"auth": True}, 404, "Error", "Checkout not found"),
        ("POST", "/checkouts/999999/renewal", {"auth": True}, 404, "Error", "Checkout not found"),
        ("GET", "/checkouts", {"auth": True, "params": {"patron_id": "abc"}}, 400, "ValidationErrors", None),
        (
            "GET",
            "/checkouts",
            {"auth": True, "params": {"q": "{not json"}},
            400,
            "Error",
            "Malformed query string",
        ),
        ("GET", "/patrons", {"auth": True, "params": {"q": '{"password": "x"}'}}, 400, "Error", None),
        ("POST", "/bookings", {"auth": True, "content": b"{not json"}, 400, "ValidationErrors", None),
        ("POST", "/bookings", {"auth": True, "json": {"biblio_id": 1}}, 400, "ValidationErrors", None),
        (
            "POST",
            "/bookings",
            {
                "auth": True,
                "json": {
                    "biblio_id": 999999,
                    "item_id": None,
                    "patron_id": 1,
                    "pickup_library_id": "CHIP",
                    "start_date": "2030-01-01T10:00:00Z",
                    "end_date": "2030-01-01T11:00:00Z",
                },
            },
            400,
            "Error",
            "Given biblio_id does not exist",
        ),
        ("DELETE", "/bookings/999999", {"auth": True}, 404, "Error", "Booking not found"),
        (
            "POST",
            "/auth/password/validation",
            {"auth": True, "json": {"password": "1234"}},
            400,
            "Error",
            "Validation failed",
        ),
        (
            "POST",
            "/holds",
            {"auth": True, "json": {"patron_id": 1, "biblio_id": 999999, "pickup_library_id": "CHIP"}},
            400,
            "Error",
            "Biblio not found.",
        ),
        (
            "POST",
            "/oauth/token",
            {"data": {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}},
            403,
            "Error",
            "unauthorized_client",
        ),
        (
            "GET",
            "/contrib/council/sessions",
            {"auth": True, "params": {"resource": "swimming"}},
            400,
            "Error",
            None,
        ),
        ("GET", "/no/such/route", {"auth": True}, 404, "ValidationErrors", None),
    ],
)
def test_sandbox_bad_input_gets_koha_errors_never_a_500(
    clean_sandbox, method, path, kwargs, status, definition, message
):
    kwargs = dict(kwargs)
    headers = token(clean_sandbox) if kwargs.pop("auth", False) else {}
    if "content" in kwargs:
        headers["Content-Type"] = "application/json"
    response = httpx.request(
        method, clean_sandbox.url + "/api/v1" + path, headers=headers, timeout=10, **kwargs
    )
    assert response.status_code == status
    assert_schema(response.json(), definition)
    if message:
        assert response.json()["error"] == message
