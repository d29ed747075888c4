"""Open311 GeoReport v2 client: unit tests on MockTransport, contract tests on the sandbox."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from urllib.parse import parse_qs

import httpx
import pytest

from integrations.errors import AuthFailed, NotFound, Rejected, TimedOut, Unavailable
from integrations.office_hours import LONDON
from integrations.reports import ReportsClient
from integrations.sandbox.systems.open311 import grid_to_wgs84
from integrations.sandbox.systems.waste import is_working_day
from integrations.settings import Endpoint, Settings, Timeouts
from integrations.waste import WasteClient
from tests.integrations.contract import schema_assert
from tests.support.mock_http import Recorder, mock_client

UPRN = "100121000007"
KEY = "sandbox-open311-key"


assert_schema = schema_assert("open311")


def client_for(handler, **timeouts) -> tuple[ReportsClient, list[float]]:
    endpoint = Endpoint("http://311.test/open311/v2", key="k")
    return mock_client(ReportsClient, handler, endpoint, Timeouts(**timeouts))


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


CREATED = [{"service_request_id": "MB-123456", "service_notice": "We will return", "account_id": None}]
REQUEST = {
    "service_request_id": "MB-123456",
    "status": "open",
    "status_notes": "Passed to the collection crew.",
    "service_name": "Missed bin collection",
    "service_code": "missed_bin",
    "description": None,
    "requested_datetime": "2026-11-27T10:15:00Z",
    "updated_datetime": "2026-11-27T10:15:00+00:00",
    "expected_datetime": "2026-12-01T18:00:00+00:00",
    "address": "1, MARKET PLACE, CHIPPENHAM, SN15 1ER",
    "address_id": UPRN,
    "zipcode": "SN15 1ER",
    "lat": 51.45,
    "long": -2.11,
}


# --- unit: the client on MockTransport -----------------------------------------------


async def test_report_missed_bin_posts_the_standard_form_with_uprn_bin_type_and_idempotency_key():
    rec = Recorder(httpx.Response(200, json=CREATED))
    client, _ = client_for(rec)
    created = await client.report_missed_bin(
        UPRN, "recycling", idempotency_key="conv-1-mb", email="a@b.example"
    )
    request = rec.requests[0]
    assert request.method == "POST" and request.url.path == "/open311/v2/requests.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form(request) == {
        "api_key": "k",
        "service_code": "missed_bin",
        "address_id": UPRN,
        "email": "a@b.example",
        "attribute[uprn]": UPRN,
        "attribute[bin_type]": "recycling",
        "attribute[idempotency_key]": "conv-1-mb",
    }
    assert (created.service_request_id, created.service_notice) == ("MB-123456", "We will return")


@pytest.mark.parametrize(
    "failure", [httpx.Response(503, json=[{"code": 503, "description": "x"}]), httpx.ReadTimeout("slow")]
)
async def test_a_create_is_retried_with_the_same_generated_key_after_a_503_or_timeout(failure):
    rec = Recorder(failure, httpx.Response(200, json=CREATED))
    client, slept = client_for(rec)
    created = await client.create_request(
        "complaint", email="a@b.example", attributes={"complaint_about": "waste"}
    )
    keys = [form(r)["attribute[idempotency_key]"] for r in rec.requests]
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) >= 32
    assert form(rec.requests[0])["attribute[complaint_about]"] == "waste"
    assert created.service_request_id == "MB-123456" and len(slept) == 1


async def test_two_creates_without_a_key_get_different_keys():
    rec = Recorder(httpx.Response(200, json=CREATED))
    client, _ = client_for(rec)
    await client.create_request("complaint", email="a@b.example")
    await client.create_request("complaint", email="a@b.example")
    assert len({form(r)["attribute[idempotency_key]"] for r in rec.requests}) == 2


@pytest.mark.parametrize(
    "status,error",
    [(403, AuthFailed), (404, NotFound), (400, Rejected), (500, Unavailable)],
)
async def test_open311_errors_map_to_the_hierarchy(status, error):
    body = [{"code": status, "description": "attribute[bin_type] is required"}]
    client, _ = client_for(Recorder(httpx.Response(status, json=body)))
    with pytest.raises(error) as raised:
        await client.report_missed_bin(UPRN, "recycling", idempotency_key="k1")
    if error is Rejected:
        assert raised.value.reason == "attribute[bin_type] is required"


async def test_a_batch_answer_without_a_request_id_is_unavailable():
    client, _ = client_for(Recorder(httpx.Response(200, json=[{"token": "abc"}])))
    with pytest.raises(Unavailable):
        await client.create_request("complaint", email="a@b.example")


async def test_get_request_types_datetimes_with_z_or_offsets():
    rec = Recorder(httpx.Response(200, json=[REQUEST]))
    client, _ = client_for(rec)
    found = await client.get_request("MB-123456")
    assert rec.requests[0].url.path == "/open311/v2/requests/MB-123456.json"
    assert found.is_open and found.postcode == "SN15 1ER"
    assert found.requested_datetime == dt.datetime(2026, 11, 27, 10, 15, tzinfo=dt.timezone.utc)
    assert found.expected_datetime.date() == dt.date(2026, 12, 1)


async def test_find_requests_sends_the_standard_filters():
    rec = Recorder(httpx.Response(200, json=[REQUEST, {**REQUEST, "service_request_id": "MB-654321"}]))
    client, _ = client_for(rec)
    start = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    found = await client.find_requests(service_code="missed_bin", status="open", start=start)
    assert dict(rec.requests[0].url.params) == {
        "service_code": "missed_bin",
        "status": "open",
        "start_date": "2026-11-01T00:00:00+00:00",
    }
    assert [r.service_request_id for r in found] == ["MB-123456", "MB-654321"]
    await client.find_requests(ids=["MB-1", "CP-2"])
    assert rec.requests[1].url.params["service_request_id"] == "MB-1,CP-2"


async def test_services_and_definition_are_typed():
    services = [
        {
            "service_code": "missed_bin",
            "service_name": "Missed bin",
            "metadata": True,
            "type": "realtime",
            "keywords": "bin, missed",
            "group": "Waste",
            "description": "d",
        }
    ]
    definition = {
        "service_code": "missed_bin",
        "attributes": [
            {
                "variable": True,
                "code": "bin_type",
                "datatype": "singlevaluelist",
                "required": True,
                "order": 2,
                "description": "Which bin",
                "values": [{"key": "food", "name": "Food"}],
            },
            {
                "variable": True,
                "code": "uprn",
                "datatype": "string",
                "required": True,
                "order": 1,
                "description": "u",
            },
        ],
    }
    client, _ = client_for(Recorder(httpx.Response(200, json=services), httpx.Response(200, json=definition)))
    listed = await client.services()
    assert listed[0].keywords == ("bin", "missed") and listed[0].metadata
    typed = await client.service_definition("missed_bin")
    assert typed.required == ("uprn", "bin_type") and typed.attributes[1].values == (("food", "Food"),)


async def test_logs_carry_no_personal_data_or_key(caplog):
    client, _ = client_for(Recorder(httpx.Response(200, json=CREATED)))
    with caplog.at_level(logging.DEBUG):
        await client.create_request(
            "complaint",
            email="resident@home.example",
            phone="07700900123",
            first_name="Priya",
            description="my neighbour at 12 Market Place",
        )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "open311" in text
    for secret in ("resident@home.example", "07700900123", "Priya", "Market Place", "api_key"):
        assert secret not in text


def test_grid_reference_to_latitude_and_longitude_lands_in_chippenham():
    lat, long = grid_to_wgs84(392260, 173180)  # Market Place, Chippenham
    assert abs(lat - 51.458) < 0.01 and abs(long - -2.115) < 0.01


# --- contract: the real client against the running sandbox ------------------------------


@pytest.fixture
async def live(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    async with httpx.AsyncClient() as http:
        yield (
            ReportsClient(http, settings.open311, settings.timeouts),
            WasteClient(http, settings.waste, settings.timeouts),
            clean_sandbox,
        )


def case(sandbox, name: str) -> dict:
    found = {row["name"]: row for row in sandbox.rows("waste_demo_cases")}
    assert name in found, f"the sandbox has no {name} case today"  # these cases exist on every day
    return found[name]


def post(sandbox, **fields) -> httpx.Response:
    return httpx.post(sandbox.url + "/open311/v2/requests.json", data=fields, timeout=10)


async def test_sandbox_lists_the_services_and_their_attributes(live):
    reports, _, _ = live
    assert {s.code for s in await reports.services()} >= {"missed_bin", "complaint", "bin_delivery"}
    definition = await reports.service_definition("missed_bin")
    assert definition.required == ("uprn", "bin_type")
    bin_type = next(a for a in definition.attributes if a.code == "bin_type")
    assert {k for k, _ in bin_type.values} == {"general_waste", "recycling", "glass", "food", "garden"}
    assert any(a.code == "idempotency_key" and not a.required for a in definition.attributes)
    with pytest.raises(NotFound):
        await reports.service_definition("potholes")


async def test_sandbox_missed_bin_report_lines_up_with_the_waste_pre_check(live):
    reports, waste, sandbox = live
    eligible = case(sandbox, "missed_bin_eligible")
    uprn, bin_type = eligible["uprn"], eligible["bin_type"]
    assert (await waste.missed_bin_check(uprn, bin_type)).eligible
    created = await reports.report_missed_bin(
        uprn, bin_type, idempotency_key="flow-1", email="r@home.example"
    )
    assert created.service_request_id.startswith("MB-") and len(created.service_request_id) == 9
    assert created.service_notice and "We will return" in created.service_notice

    check = await waste.missed_bin_check(uprn, bin_type)
    assert (check.status, check.existing_reference) == ("already_reported", created.service_request_id)
    rounds = await waste.round_status(uprn, check.last_collection)
    assert (
        next(r for r in rounds if r.bin_type == bin_type).missed_report_reference
        == created.service_request_id
    )
    assert created.service_request_id in [r.reference for r in await waste.service_requests(uprn)]

    found = await reports.get_request(created.service_request_id)
    assert (found.status, found.service_code, found.address_id) == ("open", "missed_bin", uprn)
    assert found.postcode and found.lat and found.expected_datetime > found.requested_datetime
    assert [r.service_request_id for r in await reports.find_requests(ids=[created.service_request_id])] == [
        created.service_request_id
    ]
    open_missed = await reports.find_requests(service_code="missed_bin", status="open")
    assert created.service_request_id in [r.service_request_id for r in open_missed]
    assert all(r.is_open and r.service_code == "missed_bin" for r in open_missed)


async def test_sandbox_seeded_open_report_is_the_one_the_pre_check_names(live):
    reports, waste, sandbox = live
    reported = case(sandbox, "missed_bin_already_reported")
    check = await waste.missed_bin_check(reported["uprn"], reported["bin_type"])
    found = await reports.get_request(check.existing_reference)
    assert found.address_id == reported["uprn"] and found.is_open


@pytest.mark.parametrize(
    "name", ["missed_bin_already_reported", "missed_bin_not_out", "missed_bin_too_late", "garden_none"]
)
async def test_sandbox_refuses_a_missed_bin_the_pre_check_says_is_not_eligible(live, name):
    reports, waste, sandbox = live
    row = case(sandbox, name)
    check = await waste.missed_bin_check(row["uprn"], row["bin_type"])
    with pytest.raises(Rejected) as refused:
        await reports.report_missed_bin(row["uprn"], row["bin_type"], idempotency_key=f"refused-{name}")
    assert refused.value.status == 400 and refused.value.reason == check.message


async def test_sandbox_same_idempotency_key_returns_the_same_request_and_another_body_is_refused(live):
    reports, _, sandbox = live
    row = case(sandbox, "missed_bin_eligible")
    first = await reports.report_missed_bin(row["uprn"], row["bin_type"], idempotency_key="same-key")
    again = await reports.report_missed_bin(row["uprn"], row["bin_type"], idempotency_key="same-key")
    assert first == again
    assert [r["idempotency_key"] for r in sandbox.rows("open311_requests")].count("same-key") == 1
    with pytest.raises(Rejected):
        await reports.create_request(
            "complaint",
            idempotency_key="same-key",
            email="a@b.example",
            attributes={"complaint_about": "waste"},
        )


async def test_sandbox_create_retried_after_a_503_makes_one_request(live):
    reports, _, sandbox = live
    sandbox.fault(path="/open311/v2/requests.json", method="POST", status=503, times=1)
    created = await reports.create_request(
        "complaint",
        idempotency_key="after-503",
        email="a@b.example",
        attributes={"complaint_about": "leisure"},
    )
    rows = [r for r in sandbox.rows("open311_requests") if r["idempotency_key"] == "after-503"]
    assert [r["service_request_id"] for r in rows] == [created.service_request_id]


async def test_sandbox_create_retried_after_a_timeout_makes_one_request(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    clean_sandbox.fault(path="/open311/v2/requests.json", method="POST", latency_ms=1500, times=1)
    async with httpx.AsyncClient() as http:
        reports = ReportsClient(http, settings.open311, Timeouts(read=0.5, deadline=6.0))
        created = await reports.create_request(
            "complaint",
            idempotency_key="after-timeout",
            email="a@b.example",
            attributes={"complaint_about": "other"},
        )
    time.sleep(1.5)  # let the slow first attempt finish in the sandbox too
    rows = [r for r in clean_sandbox.rows("open311_requests") if r["idempotency_key"] == "after-timeout"]
    assert [r["service_request_id"] for r in rows] == [created.service_request_id]


async def test_sandbox_hang_times_out(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    clean_sandbox.fault(path="/open311/v2/requests/", hang=True)
    async with httpx.AsyncClient() as http:
        reports = ReportsClient(http, settings.open311, Timeouts(read=0.3, deadline=1.0, max_retries=1))
        with pytest.raises(TimedOut):
            await reports.get_request("MB-123456")


async def test_sandbox_complaint_needs_a_contact_and_gets_an_agency_and_a_reply_date(live):
    reports, _, _ = live
    with pytest.raises(Rejected):
        await reports.create_request("complaint", attributes={"complaint_about": "council_tax"})
    created = await reports.create_request(
        "complaint",
        email="r@home.example",
        phone="07700900123",
        description="Bill sent to the wrong name",
        attributes={"complaint_about": "council_tax"},
        lat=51.4580,
        long=-2.1118,
    )
    assert created.service_request_id.startswith("CP-")
    found = await reports.get_request(created.service_request_id)
    assert found.agency_responsible == "Revenues and Benefits"
    assert "MARKET PLACE" in (found.address or "")  # the nearest address to the point given
    # A reply within 10 working days (weekends and bank holidays not counted), whatever day it is today.
    asked, due = (
        moment.astimezone(LONDON).date() for moment in (found.requested_datetime, found.expected_datetime)
    )
    days = [asked + dt.timedelta(days=n) for n in range(1, (due - asked).days + 1)]
    assert sum(is_working_day(day) for day in days) == 10 and is_working_day(due)
    raw = httpx.get(f"{reports.endpoint.base_url}/requests/{created.service_request_id}.json").json()[0]
    assert "r@home.example" not in json.dumps(raw) and "07700900123" not in json.dumps(raw)


async def test_sandbox_bin_delivery_gets_a_bd_reference_seen_from_the_property(live):
    reports, waste, _ = live
    created = await reports.create_request(
        "bin_delivery", uprn=UPRN, bin_type="food", attributes={"reason": "stolen"}, idempotency_key="bd-1"
    )
    assert created.service_request_id.startswith("BD-")
    mine = [r for r in await waste.service_requests(UPRN) if r.reference == created.service_request_id]
    assert mine and mine[0].service == "bin_delivery" and mine[0].bin_type == "food"


async def test_sandbox_find_requests_filters_and_refuses_spans_over_90_days(live):
    reports, _, _ = live
    everything = await reports.find_requests()
    assert {r.service_code for r in everything} >= {"missed_bin", "complaint", "bin_delivery"}
    closed = await reports.find_requests(status="closed")
    assert closed and all(not r.is_open for r in closed)
    complaints = await reports.find_requests(service_code="complaint")
    assert complaints and all(r.service_code == "complaint" for r in complaints)
    now = dt.datetime.now(dt.timezone.utc)
    assert await reports.find_requests(start=now + dt.timedelta(days=1), end=now + dt.timedelta(days=2)) == []
    with pytest.raises(Rejected):
        await reports.find_requests(start=now - dt.timedelta(days=120), end=now)


async def test_sandbox_unknown_request_is_not_found_and_a_bad_key_is_auth_failed(live):
    reports, _, sandbox = live
    with pytest.raises(NotFound):
        await reports.get_request("MB-000000")
    async with httpx.AsyncClient() as http:
        wrong = ReportsClient(http, Endpoint(sandbox.url + "/open311/v2", key="wrong"))
        with pytest.raises(AuthFailed):
            await wrong.create_request(
                "complaint", email="a@b.example", attributes={"complaint_about": "waste"}
            )


async def test_sandbox_fault_on_services_is_retried_then_reported(live):
    reports, _, sandbox = live
    sandbox.fault(path="/open311/v2/services.json", status=502, times=1)
    assert await reports.services()
    sandbox.fault(path="/open311/v2/services.json", status=503)
    with pytest.raises(Unavailable):
        await reports.services()


# --- bad input: Open311's error list and status, never a 500 -------------------------------

GOOD = {
    "api_key": KEY,
    "service_code": "missed_bin",
    "address_id": UPRN,
    "attribute[uprn]": UPRN,
    "attribute[bin_type]": "food",
}


@pytest.mark.parametrize(
    "fields,status",
    [
        ({**GOOD, "api_key": "wrong"}, 403),
        ({k: v for k, v in GOOD.items() if k != "api_key"}, 403),
        ({k: v for k, v in GOOD.items() if k != "service_code"}, 400),
        ({**GOOD, "service_code": "potholes"}, 404),
        ({k: v for k, v in GOOD.items() if k != "attribute[bin_type]"}, 400),
        ({**GOOD, "attribute[bin_type]": "sofa"}, 400),
        ({k: v for k, v in GOOD.items() if k != "address_id"}, 400),
        ({**GOOD, "attribute[uprn]": "123", "address_id": "123"}, 400),
        ({**GOOD, "lat": "north", "long": "-2.1"}, 400),
        ({**GOOD, "email": "not-an-email"}, 400),
        ({**GOOD, "description": "x" * 5000}, 400),
        ({"api_key": KEY, "service_code": "complaint", "attribute[complaint_about]": "waste"}, 400),
    ],
)
def test_sandbox_bad_posts_get_the_open311_error_list(clean_sandbox, fields, status):
    response = post(clean_sandbox, **fields)
    assert response.status_code == status, response.text
    assert_schema(response.json(), "Errors")
    assert response.json()[0]["code"] == status


@pytest.mark.parametrize(
    "path,status",
    [
        ("/requests/MB-000000.json", 404),
        ("/services/potholes.json", 404),
        ("/requests.json?start_date=last-tuesday", 400),
        ("/requests.json?status=pending", 400),
        ("/requests.json?start_date=2026-12-01T00:00:00Z&end_date=2026-11-01T00:00:00Z", 400),
    ],
)
def test_sandbox_bad_reads_get_the_open311_error_list(clean_sandbox, path, status):
    response = httpx.get(clean_sandbox.url + "/open311/v2" + path, timeout=10)
    assert response.status_code == status
    assert_schema(response.json(), "Errors")


def test_sandbox_json_body_instead_of_a_form_is_refused_in_open311_shape(clean_sandbox):
    response = httpx.post(clean_sandbox.url + "/open311/v2/requests.json", json=GOOD, timeout=10)
    assert response.status_code in (400, 403)
    assert_schema(response.json(), "Errors")


# --- schema: the sandbox's answers against the GeoReport v2 field lists --------------------------


def test_sandbox_responses_match_the_open311_schemas(clean_sandbox):
    base = clean_sandbox.url + "/open311/v2"
    services = httpx.get(base + "/services.json").json()
    assert_schema(services, "Services")
    for service in services:
        assert_schema(
            httpx.get(f"{base}/services/{service['service_code']}.json").json(), "ServiceDefinition"
        )
    row = case(clean_sandbox, "missed_bin_eligible")
    created = post(
        clean_sandbox,
        **{
            **GOOD,
            "address_id": row["uprn"],
            "attribute[uprn]": row["uprn"],
            "attribute[bin_type]": row["bin_type"],
            "email": "a@b.example",
        },
    )
    assert created.status_code == 200, created.text
    assert_schema(created.json(), "CreatedRequests")
    assert_schema(created.json()[0]["service_request_id"], "ServiceRequestId")
    listed = httpx.get(base + "/requests.json").json()
    assert_schema(listed, "ServiceRequests")
    for item in listed:
        assert_schema(item["service_request_id"], "ServiceRequestId")
        assert_schema(
            httpx.get(f"{base}/requests/{item['service_request_id']}.json").json(), "ServiceRequests"
        )
