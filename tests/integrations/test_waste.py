"""Waste client: unit tests on MockTransport, the sandbox's calendar, contract tests on the sandbox."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from integrations.errors import AuthFailed, NotFound, Rejected, TimedOut, Unavailable
from integrations.sandbox.systems import waste as sandbox_waste
from integrations.sandbox.world import today_in_london
from integrations.settings import Endpoint, Settings, Timeouts
from integrations.waste import Collection, WasteClient, pounds
from tests.integrations.contract import paid_payment as pay_in_sandbox
from tests.integrations.contract import schema_assert
from tests.support.mock_http import Recorder, mock_client
from tests.support.mock_http import contract_error as err

UPRN = "100121000007"  # 1 Market Place, SN15 1ER: rounds on Friday


assert_schema = schema_assert("waste")


def client_for(handler, **timeouts) -> tuple[WasteClient, list[float]]:
    endpoint = Endpoint("http://waste.test/waste/v1", key="k")
    return mock_client(WasteClient, handler, endpoint, Timeouts(**timeouts))


SUBSCRIPTION = {
    "reference": "GW-123456",
    "uprn": UPRN,
    "bins": 2,
    "startDate": "2026-12-18",
    "expiryDate": "2027-12-17",
    "status": "current",
    "paymentId": "pay-1",
}


# --- unit: the client on MockTransport -----------------------------------------------


async def test_collections_sends_the_key_and_dates_and_types_each_collection():
    rec = Recorder(
        httpx.Response(
            200,
            json=[
                {
                    "type": "food",
                    "collectionDate": "2026-12-26",
                    "round": "FOOD-FRI",
                    "scheduledDate": "2026-12-25",
                },
                {
                    "type": "recycling",
                    "collectionDate": "2027-01-08",
                    "round": "REC-FRI",
                    "scheduledDate": "2027-01-08",
                },
            ],
        )
    )
    client, _ = client_for(rec)
    found = await client.collections(UPRN, dt.date(2026, 12, 20), dt.date(2027, 1, 10))
    request = rec.requests[0]
    assert request.url.path == f"/waste/v1/properties/{UPRN}/collections"
    assert request.headers["X-Api-Key"] == "k"
    assert dict(request.url.params) == {"from": "2026-12-20", "to": "2027-01-10"}
    assert found[0] == Collection("food", dt.date(2026, 12, 26), "FOOD-FRI", dt.date(2026, 12, 25))
    assert found[0].moved and not found[1].moved


async def test_next_collections_keeps_the_first_of_each_bin_type_soonest_first():
    items = [
        {"type": t, "collectionDate": d, "round": "R", "scheduledDate": d}
        for t, d in [
            ("recycling", "2026-11-27"),
            ("food", "2026-11-27"),
            ("food", "2026-12-04"),
            ("general_waste", "2026-12-04"),
            ("recycling", "2026-12-11"),
        ]
    ]
    client, _ = client_for(Recorder(httpx.Response(200, json=items)))
    found = await client.next_collections(UPRN)
    assert [(c.bin_type, c.date.isoformat()) for c in found] == [
        ("recycling", "2026-11-27"),
        ("food", "2026-11-27"),
        ("general_waste", "2026-12-04"),
    ]


async def test_missed_bin_check_types_the_answer_and_sends_the_bin_type():
    body = {
        "uprn": UPRN,
        "type": "recycling",
        "status": "already_reported",
        "eligible": False,
        "round": "REC-FRI",
        "lastCollectionDate": "2026-11-27",
        "nextCollectionDate": "2026-12-11",
        "reportBy": "2026-12-01",
        "roundStatus": "completed",
        "catchUpDate": None,
        "existingReference": "MB-104233",
        "message": "m",
    }
    rec = Recorder(httpx.Response(200, json=body))
    client, _ = client_for(rec)
    check = await client.missed_bin_check(UPRN, "recycling")
    assert rec.requests[0].url.params["type"] == "recycling"
    assert (check.status, check.eligible, check.existing_reference) == (
        "already_reported",
        False,
        "MB-104233",
    )
    assert check.report_by == dt.date(2026, 12, 1) and check.catch_up_date is None


@pytest.mark.parametrize(
    "status,code,error",
    [
        (401, "invalid_api_key", AuthFailed),
        (404, "property_not_found", NotFound),
        (400, "bad_request", Rejected),
        (402, "payment_not_successful", Rejected),
        (409, "outside_renewal_window", Rejected),
        (503, "unavailable", Unavailable),
    ],
)
async def test_contract_errors_map_to_the_hierarchy_with_the_code_as_reason(status, code, error):
    client, _ = client_for(Recorder(err(status, code)))
    with pytest.raises(error) as raised:
        await client.renew_garden_waste(UPRN, bins=1, payment_id="pay-1")
    if error is Rejected:
        assert raised.value.reason == code


async def test_renewal_sends_the_renewal_key_and_is_retried_after_a_503_with_the_same_key():
    rec = Recorder(err(503, "unavailable"), httpx.Response(201, json=SUBSCRIPTION))
    client, slept = client_for(rec)
    sub = await client.renew_garden_waste(UPRN, bins=2, payment_id="pay-1", renewal_key="gw-conv-1")
    assert [r.headers["Idempotency-Key"] for r in rec.requests] == ["gw-conv-1", "gw-conv-1"]
    assert json.loads(rec.requests[0].content) == {"bins": 2, "paymentId": "pay-1"}
    assert len(slept) == 1
    assert (sub.reference, sub.expiry_date) == ("GW-123456", dt.date(2027, 12, 17))


async def test_renewal_key_defaults_to_the_payment_id_and_a_200_replay_is_the_same_subscription():
    rec = Recorder(httpx.Response(200, json=SUBSCRIPTION))
    client, _ = client_for(rec)
    sub = await client.renew_garden_waste(UPRN, bins=2, payment_id="pay-1")
    assert rec.requests[0].headers["Idempotency-Key"] == "pay-1"
    assert sub.payment_id == "pay-1"


async def test_a_get_waits_for_retry_after_then_succeeds():
    limited = httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {"code": "rate_limited"}})
    garden = {"uprn": UPRN, "status": "none", "canRenew": True}
    client, slept = client_for(Recorder(limited, httpx.Response(200, json=garden)))
    assert (await client.garden_waste(UPRN)).status == "none"
    assert slept == [1.0]


async def test_a_read_timeout_on_a_get_is_retried_then_reported_as_timed_out():
    rec = Recorder(httpx.ReadTimeout("slow"))
    client, slept = client_for(rec, max_retries=2)
    with pytest.raises(TimedOut):
        await client.property(UPRN)
    assert len(rec.requests) == 3 and len(slept) == 2


async def test_an_unexpected_success_body_is_unavailable_not_a_key_error():
    client, _ = client_for(Recorder(httpx.Response(200, json={"uprn": UPRN})))
    with pytest.raises(Unavailable):
        await client.garden_waste_quote(UPRN, 2)


async def test_user_input_stays_inside_one_path_segment():
    rec = Recorder(err(404, "subscription_not_found"))
    client, _ = client_for(rec)
    with pytest.raises(NotFound):
        await client.garden_waste_subscription("../../properties/1")
    assert rec.requests[0].url.raw_path.decode().startswith("/waste/v1/garden-waste/subscriptions/..%2F")


def test_pounds():
    assert pounds(9200) == "£92.00" and pounds(5) == "£0.05" and pounds(123456) == "£1,234.56"


# --- the sandbox's calendar (pure functions) ----------------------------------------------


@pytest.mark.parametrize(
    "weekday,planned,actual",
    [
        (0, "2026-04-06", "2026-04-07"),  # Easter Monday 2026: Monday's round on Tuesday
        (4, "2026-04-03", "2026-04-04"),  # Good Friday 2026: Friday's round on Saturday
        (2, "2026-05-27", "2026-05-28"),  # Spring bank holiday Monday moves the whole week
        (3, "2026-05-21", "2026-05-21"),  # a week with no bank holiday stays put
        (4, "2026-12-25", "2026-12-26"),  # Christmas Day 2026 (Friday) on Boxing Day Saturday
        (0, "2026-12-28", "2026-12-29"),  # substitute Boxing Day
        (3, "2026-12-31", "2027-01-02"),  # Thursday moves to Friday = New Year's Day, so Saturday
        (4, "2027-01-01", "2027-01-02"),
        (4, "2027-03-26", "2027-03-27"),  # Good Friday 2027
        (0, "2027-12-27", "2027-12-29"),  # two substitute days in Christmas week 2027
        (4, "2027-12-31", "2028-01-04"),  # Saturday New Year's Day, then its substitute Monday
    ],
)
def test_bank_holiday_shifts(weekday, planned, actual):
    planned_day = dt.date.fromisoformat(planned)
    assert planned_day.weekday() == weekday
    assert sandbox_waste.shift_for_holidays(planned_day).isoformat() == actual


def test_every_england_and_wales_bank_holiday_of_2026_and_2027_is_known():
    listed = {
        "2026-01-01",
        "2026-04-03",
        "2026-04-06",
        "2026-05-04",
        "2026-05-25",
        "2026-08-31",
        "2026-12-25",
        "2026-12-28",
        "2027-01-01",
        "2027-03-26",
        "2027-03-29",
        "2027-05-03",
        "2027-05-31",
        "2027-08-30",
        "2027-12-27",
        "2027-12-28",
    }
    days = {dt.date.fromisoformat(day) for day in listed}
    assert {day for day in days if not sandbox_waste.is_bank_holiday(day)} == set()
    assert {day for day in days if sandbox_waste.is_working_day(day)} == set()


def test_the_sandbox_calendar_is_the_office_hours_one():
    from integrations.office_hours import bank_holidays

    for year in (2025, 2026, 2027):
        days = [dt.date(year, 1, 1) + dt.timedelta(days=n) for n in range(366)]
        holidays = {d for d in days if d.year == year and sandbox_waste.is_bank_holiday(d)}
        assert holidays == set(bank_holidays(year))
        for day in days:
            working = day.weekday() < 5 and day not in bank_holidays(day.year)
            assert sandbox_waste.is_working_day(day) == working


def test_working_days_skip_weekends_and_bank_holidays():
    add = sandbox_waste.add_working_days
    assert add(dt.date(2026, 11, 27), 2) == dt.date(2026, 12, 1)  # Friday + 2 = Tuesday
    assert add(dt.date(2026, 12, 24), 2) == dt.date(2026, 12, 30)  # over Christmas and the substitute day
    assert add(dt.date(2026, 12, 1), -2) == dt.date(2026, 11, 27)


def test_seed_plan_is_the_same_for_the_same_day_and_puts_sn15_1er_on_fridays():
    from integrations.sandbox.world import build_world

    day = dt.date(2026, 11, 27)
    first, second = (
        sandbox_waste._plan.__wrapped__(day, tuple(build_world(day).addresses)),
        sandbox_waste.plan(build_world(day)),
    )
    assert first.demo_cases == second.demo_cases and first.reports == second.reports
    assert first.day_of_postcode["SN15 1ER"] == 4


# --- contract: the real client against the running sandbox ------------------------------


@pytest.fixture
async def live(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    async with httpx.AsyncClient() as http:
        yield WasteClient(http, settings.waste, settings.timeouts), clean_sandbox


def demo_cases(sandbox) -> dict[str, dict]:
    return {row["name"]: row for row in sandbox.rows("waste_demo_cases")}


def raw(sandbox, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"X-Api-Key": "sandbox-waste-key", **kwargs.pop("headers", {})}
    return httpx.request(method, sandbox.url + "/waste/v1" + path, headers=headers, timeout=10, **kwargs)


def paid_payment(sandbox, amount: int, action: str | None = "pay") -> str:
    return pay_in_sandbox(sandbox, amount, action, reference="GW-test", description="Garden waste")


async def test_sandbox_property_lists_a_round_per_bin_type(live):
    client, _ = live
    prop = await client.property(UPRN)
    assert prop.postcode == "SN15 1ER"
    assert {s.bin_type for s in prop.services} == {"general_waste", "recycling", "glass", "food", "garden"}
    assert {s.day for s in prop.services} == {"Friday"}
    assert {s.bin_type: s.frequency_weeks for s in prop.services} == {
        "general_waste": 2,
        "recycling": 2,
        "glass": 4,
        "food": 1,
        "garden": 2,
    }


async def test_sandbox_collections_alternate_general_waste_and_recycling_weekly_food_and_four_weekly_glass(
    live,
):
    client, _ = live
    start = dt.date(2026, 6, 1)  # no bank holidays in June 2026
    found = await client.collections(UPRN, start, start + dt.timedelta(days=55))
    by_type: dict[str, list[dt.date]] = {}
    for c in found:
        by_type.setdefault(c.bin_type, []).append(c.date)
        assert c.date.weekday() == 4 and not c.moved
    assert len(by_type["food"]) == 8 and len(by_type["general_waste"]) == 4 and len(by_type["recycling"]) == 4
    assert len(by_type["glass"]) == 2
    assert not set(by_type["general_waste"]) & set(by_type["recycling"])  # alternate weeks
    gaps = {
        (b - a).days for a, b in zip(by_type["general_waste"], by_type["general_waste"][1:], strict=False)
    }
    assert gaps == {14}


async def test_sandbox_christmas_collections_move_and_say_when_they_were_due(live):
    client, _ = live
    found = await client.collections(UPRN, dt.date(2026, 12, 21), dt.date(2027, 1, 8))
    food = [(c.scheduled_date.isoformat(), c.date.isoformat()) for c in found if c.bin_type == "food"]
    assert food == [("2026-12-25", "2026-12-26"), ("2027-01-01", "2027-01-02"), ("2027-01-08", "2027-01-08")]
    assert not [c.date for c in found if sandbox_waste.is_bank_holiday(c.date)]


async def test_sandbox_garden_waste_is_collected_only_with_a_current_subscription(live):
    client, sandbox = live
    cases = demo_cases(sandbox)
    with_sub = await client.collections(cases["garden_current"]["uprn"])
    without = await client.collections(cases["garden_none"]["uprn"])
    lapsed = await client.collections(cases["garden_lapsed"]["uprn"])
    assert any(c.bin_type == "garden" for c in with_sub)
    assert not any(c.bin_type == "garden" for c in without + lapsed)
    assert any(c.bin_type == "general_waste" for c in without)


@pytest.mark.parametrize(
    "case,status",
    [
        ("missed_bin_eligible", "eligible"),
        ("missed_bin_already_reported", "already_reported"),
        ("missed_bin_not_out", "not_out"),
        ("missed_bin_too_late", "too_late"),
        ("missed_bin_not_due", "not_due"),
        ("missed_bin_round_delayed", "round_delayed"),
        ("garden_none", "no_service"),
    ],
)
async def test_sandbox_missed_bin_check_for_each_demo_case(live, case, status):
    client, sandbox = live
    row = demo_cases(sandbox).get(case)
    pinned = row is None  # no round runs on a weekend or bank holiday: the next working day's council
    if pinned:
        today = today_in_london()
        sandbox.reset(today=sandbox_waste.working_day_from(today))
        row = demo_cases(sandbox)[case]
    try:
        check = await client.missed_bin_check(row["uprn"], row["bin_type"])
    finally:
        if pinned:
            sandbox.reset()
    assert check.status == status
    assert check.eligible is (status == "eligible")
    if status == "already_reported":
        assert check.existing_reference and check.existing_reference.startswith("MB-")
    if status == "eligible":
        assert check.last_collection and check.report_by
        assert check.report_by == sandbox_waste.add_working_days(check.last_collection, 2)


async def test_sandbox_round_status_shows_completion_the_not_out_flag_and_reports(live):
    client, sandbox = live
    cases = demo_cases(sandbox)
    not_out = cases["missed_bin_not_out"]
    check = await client.missed_bin_check(not_out["uprn"], not_out["bin_type"])
    rounds = await client.round_status(not_out["uprn"], check.last_collection)
    flagged = next(r for r in rounds if r.bin_type == not_out["bin_type"])
    assert flagged.status == "completed" and flagged.bin_not_out and flagged.completed_at
    reported = cases["missed_bin_already_reported"]
    check = await client.missed_bin_check(reported["uprn"], reported["bin_type"])
    rounds = await client.round_status(reported["uprn"], check.last_collection)
    row = next(r for r in rounds if r.bin_type == reported["bin_type"])
    assert row.missed_report_reference == check.existing_reference and row.missed_report_status == "open"
    assert (
        await client.round_status(UPRN, dt.date(2026, 6, 2)) == []
    )  # a Tuesday: nothing due at a Friday house


async def test_sandbox_service_requests_list_bin_deliveries_for_where_is_my_new_bin(live):
    client, sandbox = live
    five = next(
        a["uprn"]
        for a in sandbox.rows("addresses")
        if a["postcode"] == "SN15 1ER" and a["building_number"] == "5"
    )
    found = await client.service_requests(five)
    delivery = next(r for r in found if r.service == "bin_delivery")
    assert delivery.reference.startswith("BD-") and delivery.status == "open" and delivery.expected_by


@pytest.mark.parametrize(
    "case,status,can_renew",
    [
        ("garden_current_renewable", "current", True),
        ("garden_current", "current", False),
        ("garden_lapsed", "lapsed", True),
        ("garden_none", "none", True),
    ],
)
async def test_sandbox_garden_waste_subscription_states(live, case, status, can_renew):
    client, sandbox = live
    garden = await client.garden_waste(demo_cases(sandbox)[case]["uprn"])
    assert (garden.status, garden.can_renew) == (status, can_renew)
    if status == "none":
        assert garden.reference is None and garden.expiry_date is None
    else:
        assert garden.reference.startswith("GW-") and garden.expiry_date


async def test_sandbox_quote_prices_52_then_40_per_bin_up_to_3(live):
    client, sandbox = live
    uprn = demo_cases(sandbox)["garden_current_renewable"]["uprn"]
    quotes = [await client.garden_waste_quote(uprn, n) for n in (1, 2, 3)]
    assert [q.total_pence for q in quotes] == [5200, 9200, 13200]
    assert quotes[1].total == "£92.00" and quotes[0].kind == "renewal"
    current = await client.garden_waste(uprn)
    assert quotes[0].start_date == current.expiry_date + dt.timedelta(days=1)
    with pytest.raises(Rejected):
        await client.garden_waste_quote(uprn, 4)


async def test_sandbox_renewal_extends_the_subscription_by_a_year_and_a_replay_makes_no_second_one(live):
    client, sandbox = live
    uprn = demo_cases(sandbox)["garden_current_renewable"]["uprn"]
    before = await client.garden_waste(uprn)
    sub = await client.renew_garden_waste(uprn, bins=2, payment_id="test-success-renew-1")
    again = await client.renew_garden_waste(uprn, bins=2, payment_id="test-success-renew-1")
    assert sub == again and sub.reference.startswith("GW-") and len(sub.reference) == 9
    assert sub.start_date == before.expiry_date + dt.timedelta(days=1)
    assert sub.expiry_date == dt.date(
        sub.start_date.year + 1, sub.start_date.month, sub.start_date.day
    ) - dt.timedelta(days=1)
    after = await client.garden_waste(uprn)
    assert (after.reference, after.expiry_date, after.bins) == (sub.reference, sub.expiry_date, 2)
    assert [r["reference"] for r in sandbox.rows("waste_garden_subscriptions")].count(sub.reference) == 1
    assert await client.garden_waste_subscription(sub.reference) == sub


async def test_sandbox_lapsed_subscription_restarts_today_with_a_paid_pay_sandbox_payment(live):
    client, sandbox = live
    uprn = demo_cases(sandbox)["garden_lapsed"]["uprn"]
    payment_id = paid_payment(sandbox, 5200)
    sub = await client.renew_garden_waste(uprn, bins=1, payment_id=payment_id)
    assert sub.status == "current" and sub.payment_id == payment_id
    assert (await client.garden_waste(uprn)).status == "current"
    assert any(c.bin_type == "garden" for c in await client.collections(uprn))


@pytest.mark.parametrize(
    "payment,reason",
    [
        ("unfinished", "payment_not_successful"),
        ("declined", "payment_not_successful"),
        ("wrong_amount", "payment_amount_mismatch"),
        ("unknown", "payment_not_found"),
    ],
)
async def test_sandbox_renewal_is_refused_without_a_successful_payment_of_the_price(live, payment, reason):
    client, sandbox = live
    uprn = demo_cases(sandbox)["garden_none"]["uprn"]
    payment_id = {
        "unfinished": lambda: paid_payment(sandbox, 5200, action=None),
        "declined": lambda: paid_payment(sandbox, 5200, action="decline"),
        "wrong_amount": lambda: paid_payment(sandbox, 4000),
        "unknown": lambda: "no-such-payment",
    }[payment]()
    with pytest.raises(Rejected) as refused:
        await client.renew_garden_waste(uprn, bins=1, payment_id=payment_id)
    assert refused.value.reason == reason and refused.value.status == 402
    assert (await client.garden_waste(uprn)).status == "none"


async def test_sandbox_renewal_refuses_outside_the_window_and_a_payment_used_twice(live):
    client, sandbox = live
    cases = demo_cases(sandbox)
    with pytest.raises(Rejected) as early:
        await client.renew_garden_waste(
            cases["garden_current"]["uprn"], bins=1, payment_id="test-success-early"
        )
    assert early.value.reason == "outside_renewal_window"
    await client.renew_garden_waste(cases["garden_none"]["uprn"], bins=1, payment_id="test-success-once")
    with pytest.raises(Rejected) as twice:
        await client.renew_garden_waste(
            cases["garden_lapsed"]["uprn"], bins=1, payment_id="test-success-once", renewal_key="another-key"
        )
    assert twice.value.reason == "payment_already_used"
    with pytest.raises(Rejected) as reused:
        await client.renew_garden_waste(
            cases["garden_none"]["uprn"], bins=2, payment_id="test-success-x", renewal_key="test-success-once"
        )
    assert reused.value.reason == "idempotency_key_reused"


async def test_sandbox_unknown_uprn_and_reference_are_not_found_and_a_bad_key_is_auth_failed(live):
    client, sandbox = live
    with pytest.raises(NotFound):
        await client.collections("999999999999")
    with pytest.raises(NotFound):
        await client.garden_waste_subscription("GW-000000")
    async with httpx.AsyncClient() as http:
        wrong = WasteClient(http, Endpoint(sandbox.url + "/waste/v1", key="wrong"))
        with pytest.raises(AuthFailed):
            await wrong.property(UPRN)


async def test_sandbox_fault_on_collections_is_retried_then_reported(live):
    client, sandbox = live
    sandbox.fault(path=f"/waste/v1/properties/{UPRN}/collections", status=503, times=1)
    assert await client.collections(UPRN)
    sandbox.fault(path=f"/waste/v1/properties/{UPRN}/collections", status=503)
    with pytest.raises(Unavailable):
        await client.collections(UPRN)


async def test_sandbox_renewal_retried_after_a_503_makes_one_subscription(live):
    client, sandbox = live
    uprn = demo_cases(sandbox)["garden_none"]["uprn"]
    sandbox.fault(
        path=f"/waste/v1/properties/{uprn}/garden-waste/subscriptions", method="POST", status=503, times=1
    )
    sub = await client.renew_garden_waste(uprn, bins=1, payment_id="test-success-after-fault")
    assert [r["uprn"] for r in sandbox.rows("waste_garden_subscriptions")].count(uprn) == 1
    assert sub.uprn == uprn


async def test_sandbox_slow_answer_times_out(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    clean_sandbox.fault(path="/waste/v1/properties", latency_ms=3000)
    async with httpx.AsyncClient() as http:
        client = WasteClient(http, settings.waste, Timeouts(read=0.3, deadline=1.0, max_retries=1))
        with pytest.raises(TimedOut):
            await client.property(UPRN)


# --- bad input to the sandbox: our error shape and status, never a 500 -------------------------


@pytest.mark.parametrize(
    "method,path,kwargs,status,code",
    [
        ("GET", f"/properties/{UPRN}", {"headers": {"X-Api-Key": "nope"}}, 401, "invalid_api_key"),
        ("GET", "/properties/not-a-uprn", {}, 400, "bad_request"),
        ("GET", "/properties/1", {}, 404, "property_not_found"),
        ("GET", f"/properties/{UPRN}/collections?from=2026-12-10&to=2026-12-01", {}, 400, "bad_request"),
        ("GET", f"/properties/{UPRN}/collections?from=2026-01-01&to=2027-06-01", {}, 400, "bad_request"),
        ("GET", f"/properties/{UPRN}/collections?from=yesterday", {}, 400, "bad_request"),
        ("GET", f"/properties/{UPRN}/missed-bin-check", {}, 400, "bad_request"),
        ("GET", f"/properties/{UPRN}/missed-bin-check?type=sofa", {}, 400, "bad_request"),
        ("GET", f"/properties/{UPRN}/garden-waste/quote?bins=0", {}, 400, "bad_request"),
        (
            "POST",
            f"/properties/{UPRN}/garden-waste/subscriptions",
            {
                "content": b"{not json",
                "headers": {"Idempotency-Key": "k", "Content-Type": "application/json"},
            },
            400,
            "bad_request",
        ),
        (
            "POST",
            f"/properties/{UPRN}/garden-waste/subscriptions",
            {"json": {"bins": 1}, "headers": {"Idempotency-Key": "k"}},
            400,
            "bad_request",
        ),
        (
            "POST",
            f"/properties/{UPRN}/garden-waste/subscriptions",
            {"json": {"bins": 1, "paymentId": "test-success-1"}},
            400,
            "idempotency_key_required",
        ),
        ("GET", "/garden-waste/subscriptions/GW-000000", {}, 404, "subscription_not_found"),
    ],
)
def test_sandbox_bad_input_gets_the_contract_error_shape(clean_sandbox, method, path, kwargs, status, code):
    response = raw(clean_sandbox, method, path, **kwargs)
    assert response.status_code == status, response.text
    assert_schema(response.json(), "Error")
    assert response.json()["error"]["code"] == code


# --- the sandbox's answers against the contract's JSON Schema ----------------------------------


def test_sandbox_responses_match_the_contract_schemas(clean_sandbox):
    cases = demo_cases(clean_sandbox)
    get = lambda path: raw(clean_sandbox, "GET", path).json()  # noqa: E731
    assert_schema(get(f"/properties/{UPRN}"), "Property")
    assert_schema(get(f"/properties/{UPRN}/collections"), "Collections")
    for case in cases.values():
        bin_type = case["bin_type"]
        assert_schema(get(f"/properties/{case['uprn']}/missed-bin-check?type={bin_type}"), "MissedBinCheck")
        assert_schema(get(f"/properties/{case['uprn']}/garden-waste"), "GardenWaste")
        assert_schema(get(f"/properties/{case['uprn']}/round-status"), "RoundStatuses")
        assert_schema(get(f"/properties/{case['uprn']}/service-requests"), "ServiceRequests")
    assert_schema(get(f"/properties/{UPRN}/garden-waste/quote?bins=2"), "Quote")
    created = raw(
        clean_sandbox,
        "POST",
        f"/properties/{cases['garden_none']['uprn']}/garden-waste/subscriptions",
        json={"bins": 1, "paymentId": "test-success-schema"},
        headers={"Idempotency-Key": "schema-1"},
    )
    assert created.status_code == 201
    assert_schema(created.json(), "Subscription")
