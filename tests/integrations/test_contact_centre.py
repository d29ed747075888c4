"""Contact centre: office hours, the client on MockTransport, and contract tests on the sandbox."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import httpx
import jsonschema
import pytest

from integrations.contact_centre import (
    CentreClosed,
    ContactCentreClient,
    ContactPreference,
    HandoverStatus,
    TranscriptLine,
)
from integrations.errors import AuthFailed, NotFound, Rejected, Unavailable
from integrations.office_hours import (
    CONTACT_CENTRE_HOURS,
    OfficeHours,
    bank_holiday_names,
    bank_holidays,
    easter_sunday,
    is_open,
    next_opening,
)
from integrations.settings import Endpoint, Settings
from tests.support.mock_http import Recorder, mock_client

UTC = dt.timezone.utc
LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args).replace(tzinfo=UTC)  # type: ignore[arg-type]


def london(*args: int) -> dt.datetime:
    return dt.datetime(*args).replace(tzinfo=LONDON)  # type: ignore[arg-type]


# --- office hours ----------------------------------------------------------------------------

# As published on GOV.UK for England and Wales.
PUBLISHED = {
    2020: ["01-01", "04-10", "04-13", "05-08", "05-25", "08-31", "12-25", "12-28"],
    2022: ["01-03", "04-15", "04-18", "05-02", "06-02", "06-03", "08-29", "09-19", "12-26", "12-27"],
    2023: ["01-02", "04-07", "04-10", "05-01", "05-08", "05-29", "08-28", "12-25", "12-26"],
    2024: ["01-01", "03-29", "04-01", "05-06", "05-27", "08-26", "12-25", "12-26"],
    2025: ["01-01", "04-18", "04-21", "05-05", "05-26", "08-25", "12-25", "12-26"],
    2026: ["01-01", "04-03", "04-06", "05-04", "05-25", "08-31", "12-25", "12-28"],
    2027: ["01-01", "03-26", "03-29", "05-03", "05-31", "08-30", "12-27", "12-28"],
}


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_bank_holidays_match_the_published_list(year):
    expected = {dt.date.fromisoformat(f"{year}-{day}") for day in PUBLISHED[year]}
    assert bank_holidays(year) == expected


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_bank_holiday_names_are_for_the_same_days_in_date_order(year):
    names = bank_holiday_names(year)
    assert set(names) == bank_holidays(year)
    assert list(names) == sorted(names)


def test_bank_holiday_names_as_published_substitute_days_named_for_the_day_they_replace():
    assert bank_holiday_names(2027) == {
        dt.date(2027, 1, 1): "New Year's Day",
        dt.date(2027, 3, 26): "Good Friday",
        dt.date(2027, 3, 29): "Easter Monday",
        dt.date(2027, 5, 3): "Early May bank holiday",
        dt.date(2027, 5, 31): "Spring bank holiday",
        dt.date(2027, 8, 30): "Summer bank holiday",
        dt.date(2027, 12, 27): "Christmas Day",
        dt.date(2027, 12, 28): "Boxing Day",
    }
    coronation = bank_holiday_names(2023)[dt.date(2023, 5, 8)]
    assert coronation == "Bank holiday for the coronation of King Charles III"


@pytest.mark.parametrize(
    "year,easter", [(2008, "03-23"), (2024, "03-31"), (2025, "04-20"), (2026, "04-05"), (2038, "04-25")]
)
def test_easter_sunday(year, easter):
    assert easter_sunday(year) == dt.date.fromisoformat(f"{year}-{easter}")


@pytest.mark.parametrize(
    "moment,expected",
    [
        (utc(2026, 11, 30, 8, 29), False),  # Monday in GMT: not yet
        (utc(2026, 11, 30, 8, 30), True),
        (utc(2026, 11, 30, 16, 59), True),
        (utc(2026, 11, 30, 17, 0), False),  # closing time is not open
        (utc(2026, 3, 30, 7, 15), False),  # Monday in BST: 08:15 on the wall
        (utc(2026, 3, 30, 7, 45), True),  # 08:45 BST, though 07:45 UTC
        (utc(2026, 3, 30, 15, 59), True),  # 16:59 BST
        (utc(2026, 3, 30, 16, 0), False),  # 17:00 BST
        (utc(2026, 10, 26, 8, 15), False),  # back in GMT: 08:15
        (utc(2026, 10, 26, 8, 45), True),
        (utc(2026, 11, 28, 10, 0), False),  # Saturday
        (utc(2026, 4, 3, 10, 0), False),  # Good Friday
        (utc(2026, 4, 6, 10, 0), False),  # Easter Monday
        (utc(2026, 12, 28, 10, 0), False),  # Boxing Day substitute
        (london(2026, 6, 1, 9, 0), True),  # London-aware input works the same
    ],
)
def test_is_open_in_london_wall_clock_time(moment, expected):
    assert is_open(moment) is expected


@pytest.mark.parametrize(
    "moment,expected",
    [
        (utc(2026, 11, 30, 7, 0), london(2026, 11, 30, 8, 30)),  # later the same morning
        (utc(2026, 3, 27, 17, 30), london(2026, 3, 30, 8, 30)),  # Friday, over the clocks going forward
        (utc(2026, 3, 29, 0, 30), london(2026, 3, 30, 8, 30)),  # the night the clocks change
        (
            utc(2026, 10, 23, 16, 30),
            london(2026, 10, 26, 8, 30),
        ),  # Friday 17:30 BST, over the clocks going back
        (
            london(2026, 4, 2, 18, 0),
            london(2026, 4, 7, 8, 30),
        ),  # Easter: Good Friday and Easter Monday closed
        (london(2026, 12, 24, 17, 30), london(2026, 12, 29, 8, 30)),  # Christmas, Boxing Day substitute
        (london(2026, 12, 31, 17, 30), london(2027, 1, 4, 8, 30)),  # New Year's Day on a Friday
    ],
)
def test_next_opening_skips_nights_weekends_and_bank_holidays_across_dst(moment, expected):
    opening = next_opening(moment)
    assert opening == expected and opening.tzinfo is not None
    assert opening.utcoffset() == expected.utcoffset()


def test_next_opening_while_open_is_now_and_closes_at_is_todays_close():
    now = utc(2026, 3, 30, 10, 0)
    assert next_opening(now) == now
    assert CONTACT_CENTRE_HOURS.closes_at(now) == london(2026, 3, 30, 17, 0)
    assert CONTACT_CENTRE_HOURS.closes_at(utc(2026, 3, 28, 10, 0)) is None


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        is_open(dt.datetime(2026, 11, 30, 10, 0))


def test_hours_are_configurable():
    saturdays = OfficeHours.parse("Mon-Sat 09:00-13:00", closed_dates="2026-11-30")
    assert saturdays.describe() == "Mon-Sat 09:00-13:00"
    assert is_open(london(2026, 11, 28, 9, 30), saturdays)  # Saturday
    assert not is_open(london(2026, 11, 30, 9, 30), saturdays)  # a closed date
    assert not is_open(london(2026, 12, 1, 13, 0), saturdays)
    assert next_opening(london(2026, 11, 29, 12, 0), saturdays) == london(2026, 12, 1, 9, 0)
    every_day = OfficeHours(weekdays=frozenset(range(7)), bank_holidays=False)
    assert is_open(london(2026, 12, 25, 10, 0), every_day)
    assert OfficeHours.parse("Mon-Fri 08:30-17:00") == CONTACT_CENTRE_HOURS


@pytest.mark.parametrize("text", ["", "Mon-Fri", "Mon-Fri 17:00-08:30", "Funday 09:00-10:00"])
def test_bad_hours_are_refused(text):
    with pytest.raises(ValueError):
        OfficeHours.parse(text)


# --- unit: the client ------------------------------------------------------------------------

KEY = "unit-contact-key"
HANDOVER = {
    "reference": "HO-123456",
    "status": "waiting",
    "conversation_id": "conv-abc12345",
    "channel": "webchat",
    "service": "waste",
    "intent": "renew_garden_waste",
    "summary": "Charged twice",
    "contact_method": "chat",
    "transcript_lines": 2,
    "created_at": "2026-11-30T10:00:00+00:00",
    "updated_at": "2026-11-30T10:00:00+00:00",
    "position": 3,
    "estimated_wait_minutes": 6,
    "agent": None,
    "messages": [],
    "closed_at": None,
    "close_reason": None,
}
TRANSCRIPT = [
    TranscriptLine("resident", "I think I paid twice", utc(2026, 11, 30, 9, 58)),
    TranscriptLine("assistant", "I'll pass you to a member of the team.", utc(2026, 11, 30, 9, 58, 2)),
]


def client_for(handler) -> ContactCentreClient:
    endpoint = Endpoint("https://cc.test/contact-centre/v1", key=KEY)
    client, _ = mock_client(ContactCentreClient, handler, endpoint)
    return client


def cc_error(status: int, code: str, message: str = "x", **extra) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, **extra}})


async def handover_for(client: ContactCentreClient, key: str = "ho-1"):
    return await client.create_handover(
        "conv-abc12345", key, "webchat", "waste", "Charged twice", TRANSCRIPT, intent="renew_garden_waste"
    )


async def test_availability_is_typed_and_sends_the_key():
    body = {
        "open": False,
        "now": "2026-11-28T10:00:00+00:00",
        "office_hours": "Mon-Fri 08:30-17:00",
        "bank_holiday": False,
        "closes_at": None,
        "next_opening": "2026-11-30T08:30:00+00:00",
        "queue": {"waiting": 2, "agents_on_duty": 0, "estimated_wait_minutes": None},
    }
    rec = Recorder(httpx.Response(200, json=body))
    found = await client_for(rec).availability()
    assert rec.requests[0].headers["X-Api-Key"] == KEY
    assert rec.requests[0].url.path == "/contact-centre/v1/availability"
    assert not found.open and found.next_opening == utc(2026, 11, 30, 8, 30) and found.waiting == 2


async def test_create_handover_sends_the_transcript_and_is_retried_safely_after_a_503():
    rec = Recorder(cc_error(503, "unavailable"), httpx.Response(201, json=HANDOVER))
    handover = await handover_for(client_for(rec))
    assert len(rec.requests) == 2  # idempotent by conversation id + handover key
    sent = json.loads(rec.requests[0].content)
    assert sent["handover_key"] == "ho-1" and sent["contact_preference"] == {"method": "chat"}
    assert sent["transcript"][0] == {
        "from": "resident",
        "text": "I think I paid twice",
        "time": "2026-11-30T09:58:00+00:00",
    }
    assert (
        handover.reference == "HO-123456" and handover.status is HandoverStatus.WAITING and handover.is_open
    )
    assert handover.position == 3 and handover.estimated_wait_minutes == 6


async def test_a_closed_centre_raises_centre_closed_with_the_next_opening():
    rec = Recorder(cc_error(409, "closed", "closed", next_opening="2026-11-30T08:30:00+00:00"))
    with pytest.raises(CentreClosed) as caught:
        await handover_for(client_for(rec))
    assert isinstance(caught.value, Rejected) and caught.value.reason == "closed"
    assert caught.value.next_opening == utc(2026, 11, 30, 8, 30)


@pytest.mark.parametrize(
    "response,error,reason",
    [
        (cc_error(401, "unauthorised"), AuthFailed, None),
        (cc_error(404, "not_found"), NotFound, None),
        (cc_error(400, "invalid_phone_number"), Rejected, "invalid_phone_number"),
        (cc_error(409, "handover_closed"), Rejected, "handover_closed"),
        (cc_error(500, "unavailable"), Unavailable, None),
    ],
)
async def test_contact_centre_errors_map_to_the_hierarchy_with_the_code_as_reason(response, error, reason):
    with pytest.raises(error) as caught:
        await client_for(Recorder(response)).add_agent_message("HO-123456", "Hello")
    if reason:
        assert caught.value.reason == reason


async def test_an_agent_message_is_not_repeated_after_a_503():
    rec = Recorder(
        cc_error(503, "unavailable"),
        httpx.Response(201, json={"id": 1, "agent_name": "Sam", "text": "Hello", "time": None}),
    )
    with pytest.raises(Unavailable):
        await client_for(rec).add_agent_message("HO-123456", "Hello", "Sam")
    assert len(rec.requests) == 1


async def test_get_handover_asks_for_newer_messages_only():
    body = {
        **HANDOVER,
        "status": "with_agent",
        "agent": {"name": "Sam"},
        "messages": [{"id": 8, "from": "agent", "agent_name": "Sam", "text": "Hi", "time": None}],
    }
    rec = Recorder(httpx.Response(200, json=body))
    handover = await client_for(rec).get_handover("HO-123456", after_message_id=7)
    assert rec.requests[0].url.params["after"] == "7"
    assert handover.agent_name == "Sam" and handover.last_message_id == 8


async def test_request_callback_sends_an_idempotency_key_and_is_retried_after_a_timeout():
    body = {
        "reference": "CB-123456",
        "status": "requested",
        "phone_number": "01225713000",
        "best_time": "morning",
        "date": "2026-11-30",
        "window_start": "2026-11-30T08:30:00+00:00",
        "window_end": "2026-11-30T12:00:00+00:00",
        "reason": "Refund",
        "conversation_id": None,
        "created_at": "2026-11-28T10:00:00+00:00",
    }
    rec = Recorder(httpx.ReadTimeout("slow"), httpx.Response(201, json=body))
    callback = await client_for(rec).request_callback(
        "01225 713000", "Refund", "cb-conv1", best_time="morning"
    )
    assert len(rec.requests) == 2 and rec.requests[1].headers["Idempotency-Key"] == "cb-conv1"
    assert callback.reference == "CB-123456" and callback.date == dt.date(2026, 11, 30)
    assert "01225713000" not in repr(callback) and "Refund" not in repr(callback)


def test_transcripts_and_contact_details_stay_out_of_reprs():
    assert "paid twice" not in repr(TRANSCRIPT[0])
    assert "07700900123" not in repr(ContactPreference("sms", "07700900123"))


# --- contract: the client against the running sandbox ----------------------------------------

OPEN_MONDAY = "2026-11-30T10:00:00+00:00"
SATURDAY = "2026-11-28T10:00:00+00:00"
AVAILABILITY_SCHEMA = {
    "type": "object",
    "required": [
        "open",
        "now",
        "timezone",
        "office_hours",
        "bank_holiday",
        "closes_at",
        "next_opening",
        "queue",
    ],
    "properties": {
        "open": {"type": "boolean"},
        "now": {"type": "string"},
        "timezone": {"const": "Europe/London"},
        "office_hours": {"type": "string"},
        "bank_holiday": {"type": "boolean"},
        "closes_at": {"type": ["string", "null"]},
        "next_opening": {"type": ["string", "null"]},
        "queue": {
            "type": "object",
            "required": ["waiting", "agents_on_duty", "estimated_wait_minutes"],
            "properties": {
                "waiting": {"type": "integer", "minimum": 0},
                "agents_on_duty": {"type": "integer", "minimum": 0},
                "estimated_wait_minutes": {"type": ["integer", "null"]},
            },
        },
    },
}
HANDOVER_SCHEMA = {
    "type": "object",
    "required": list(HANDOVER),
    "properties": {
        "reference": {"type": "string", "pattern": "^HO-[0-9]{6}$"},
        "status": {"enum": ["waiting", "with_agent", "closed"]},
        "transcript_lines": {"type": "integer"},
        "position": {"type": ["integer", "null"]},
        "estimated_wait_minutes": {"type": ["integer", "null"]},
        "agent": {"type": ["object", "null"], "required": ["name"]},
        "messages": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "from", "agent_name", "text", "time"],
                "properties": {"from": {"const": "agent"}, "id": {"type": "integer"}},
            },
        },
    },
}
CALLBACK_SCHEMA = {
    "type": "object",
    "required": [
        "reference",
        "status",
        "phone_number",
        "best_time",
        "date",
        "window_start",
        "window_end",
        "reason",
        "conversation_id",
        "created_at",
    ],
    "properties": {
        "reference": {"type": "string", "pattern": "^CB-[0-9]{6}$"},
        "status": {"enum": ["requested", "completed"]},
        "phone_number": {"type": "string", "pattern": "^0[0-9]{10}$"},
        "best_time": {"enum": ["morning", "afternoon", "any"]},
        "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
    },
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string", "pattern": "^[a-z_]+$"}, "message": {"type": "string"}},
        }
    },
}


def set_clock(sandbox, now: str | None) -> None:
    httpx.put(sandbox.url + "/_admin/contact-centre/clock", json={"now": now}).raise_for_status()


@pytest.fixture
async def live(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    set_clock(clean_sandbox, OPEN_MONDAY)
    async with httpx.AsyncClient() as http:
        yield ContactCentreClient(http, settings.contact_centre, settings.timeouts), clean_sandbox


def raw(sandbox, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"X-Api-Key": "sandbox-contact-key", **kwargs.pop("headers", {})}
    return httpx.request(method, sandbox.url + "/contact-centre/v1" + path, headers=headers, **kwargs)


async def test_sandbox_availability_when_open_has_a_queue_estimate(live):
    client, sandbox = live
    found = await client.availability()
    assert found.open and found.closes_at == utc(2026, 11, 30, 17, 0) and found.next_opening is None
    assert found.waiting == 2 and found.estimated_wait_minutes == 6  # the two seeded residents waiting
    jsonschema.validate(raw(sandbox, "GET", "/availability").json(), AVAILABILITY_SCHEMA)


@pytest.mark.parametrize(
    "now,bank_holiday,opens",
    [
        (SATURDAY, False, utc(2026, 11, 30, 8, 30)),
        ("2026-12-28T10:00:00+00:00", True, utc(2026, 12, 29, 8, 30)),  # Boxing Day substitute
        ("2026-03-27T17:30:00+00:00", False, utc(2026, 3, 30, 7, 30)),  # Friday evening, then BST
    ],
)
async def test_sandbox_availability_when_closed_says_when_it_opens(live, now, bank_holiday, opens):
    client, sandbox = live
    set_clock(sandbox, now)
    found = await client.availability()
    assert not found.open and found.next_opening == opens and found.bank_holiday is bank_holiday
    assert found.estimated_wait_minutes is None


async def test_sandbox_handover_joins_the_queue_and_a_repeat_returns_the_same_one(live):
    client, sandbox = live
    handover = await handover_for(client)
    assert handover.status is HandoverStatus.WAITING and handover.reference.startswith("HO-")
    assert handover.position == 3 and handover.estimated_wait_minutes == 6
    again = await handover_for(client)  # a retry
    another_key = await handover_for(client, key="ho-2")  # asked again while one is open
    assert again.reference == another_key.reference == handover.reference
    rows = [r for r in sandbox.rows("contact_centre_handovers") if r["conversation_id"] == "conv-abc12345"]
    assert len(rows) == 1 and len(json.loads(rows[0]["transcript"])) == 2
    jsonschema.validate(raw(sandbox, "GET", f"/handovers/{handover.reference}").json(), HANDOVER_SCHEMA)


async def test_sandbox_agent_messages_are_relayed_then_the_handover_is_closed(live):
    client, sandbox = live
    handover = await handover_for(client)
    first = await client.add_agent_message(handover.reference, "Hello, this is Sam.", "Sam")
    with_agent = await client.get_handover(handover.reference)
    assert with_agent.status is HandoverStatus.WITH_AGENT and with_agent.agent_name == "Sam"
    assert [m.text for m in with_agent.messages] == ["Hello, this is Sam."]
    await client.add_agent_message(handover.reference, "I've refunded the second payment.", "Sam")
    newer = await client.get_handover(handover.reference, after_message_id=first.id)
    assert [m.text for m in newer.messages] == ["I've refunded the second payment."]
    closed = await client.close_handover(handover.reference)
    assert closed.status is HandoverStatus.CLOSED and closed.close_reason == "returned_to_assistant"
    assert (await client.close_handover(handover.reference)).closed_at == closed.closed_at  # idempotent
    with pytest.raises(Rejected) as caught:
        await client.add_agent_message(handover.reference, "Anything else?")
    assert caught.value.reason == "handover_closed"
    next_one = await handover_for(client, key="ho-2")  # a new request after the first was closed
    assert next_one.reference != handover.reference


async def test_sandbox_refuses_a_handover_out_of_hours_with_the_next_opening(live):
    client, sandbox = live
    set_clock(sandbox, SATURDAY)
    with pytest.raises(CentreClosed) as caught:
        await handover_for(client)
    assert caught.value.next_opening == utc(2026, 11, 30, 8, 30)
    assert not [
        r for r in sandbox.rows("contact_centre_handovers") if r["conversation_id"] == "conv-abc12345"
    ]


async def test_sandbox_callback_in_and_out_of_hours(live):
    client, sandbox = live
    today = await client.request_callback("01225 713000", "Council tax refund", "cb-1", best_time="morning")
    assert today.date == dt.date(2026, 11, 30) and today.status == "requested"
    assert today.window_start == utc(2026, 11, 30, 8, 30) and today.window_end == utc(2026, 11, 30, 12, 0)
    assert (
        await client.request_callback("01225 713000", "Council tax refund", "cb-1")
    ).reference == today.reference
    assert (await client.get_callback(today.reference)).phone_number == "01225713000"
    jsonschema.validate(raw(sandbox, "GET", f"/callbacks/{today.reference}").json(), CALLBACK_SCHEMA)
    set_clock(sandbox, "2026-11-27T17:30:00+00:00")  # Friday evening
    monday = await client.request_callback("+44 7700 900123", "Bins", "cb-2", best_time="afternoon")
    assert monday.date == dt.date(2026, 11, 30) and monday.window_start == utc(2026, 11, 30, 12, 0)
    chosen = await client.request_callback("07700900123", "Bins", "cb-3", date=dt.date(2026, 12, 2))
    assert chosen.date == dt.date(2026, 12, 2) and chosen.best_time == "any"


@pytest.mark.parametrize(
    "phone,date,code",
    [
        ("12345", None, "invalid_phone_number"),
        ("07700 900123", dt.date(2026, 12, 5), "not_an_open_day"),  # a Saturday
        ("07700 900123", dt.date(2026, 11, 27), "date_in_past"),
        ("07700 900123", dt.date(2027, 1, 29), "too_far_ahead"),
    ],
)
async def test_sandbox_refuses_impossible_callbacks(live, phone, date, code):
    client, _ = live
    with pytest.raises(Rejected) as caught:
        await client.request_callback(phone, "Bins", f"cb-bad-{code}", date=date)
    assert caught.value.reason == code


async def test_sandbox_seeded_handovers_and_callbacks(live):
    client, _ = live
    assert (await client.get_handover("HO-939341")).agent_name == "Priya"
    assert (await client.get_handover("HO-601246")).status is HandoverStatus.CLOSED
    assert (await client.get_callback("CB-377196")).status == "completed"


async def test_sandbox_unknown_references_and_a_wrong_key(live):
    client, sandbox = live
    with pytest.raises(NotFound):
        await client.get_handover("HO-000000")
    with pytest.raises(NotFound):
        await client.get_callback("CB-000000")
    async with httpx.AsyncClient() as http:
        wrong = ContactCentreClient(http, Endpoint(sandbox.url + "/contact-centre/v1", key="wrong"))
        with pytest.raises(AuthFailed):
            await wrong.availability()


async def test_sandbox_faults_are_retried_where_safe(live):
    client, sandbox = live
    sandbox.fault(path="/contact-centre/v1/availability", status=503, times=1)
    assert (await client.availability()).open
    sandbox.fault(path="/contact-centre/v1/handovers", method="POST", status=502, times=1)
    handover = await handover_for(client)
    assert [r["reference"] for r in sandbox.rows("contact_centre_handovers")].count(handover.reference) == 1
    sandbox.fault(path="/contact-centre/v1/availability", status=503)
    with pytest.raises(Unavailable):
        await client.availability()


GOOD = {
    "conversation_id": "conv-raw12345",
    "handover_key": "k",
    "channel": "webchat",
    "service": "waste",
    "summary": "Help",
}


@pytest.mark.parametrize(
    "body,field",
    [
        ({k: v for k, v in GOOD.items() if k != "summary"}, "summary"),
        ({**GOOD, "conversation_id": "07700900123"}, "conversation_id"),
        ({**GOOD, "channel": "carrier pigeon"}, "channel"),
        ({**GOOD, "contact_preference": {"method": "phone"}}, "contact_preference"),
        (
            {**GOOD, "transcript": [{"from": "agent", "text": "x", "time": "2026-11-30T10:00:00Z"}]},
            "transcript",
        ),
    ],
)
def test_sandbox_bad_handover_is_400_naming_the_field(clean_sandbox, body, field):
    set_clock(clean_sandbox, OPEN_MONDAY)
    response = raw(clean_sandbox, "POST", "/handovers", json=body)
    assert response.status_code == 400
    jsonschema.validate(response.json(), ERROR_SCHEMA)
    assert (
        response.json()["error"]["code"] == "invalid_request" and field in response.json()["error"]["message"]
    )


def test_sandbox_malformed_json_and_missing_key_get_the_contract_error_shape(clean_sandbox):
    malformed = raw(
        clean_sandbox, "POST", "/handovers", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    jsonschema.validate(malformed.json(), ERROR_SCHEMA)
    unauthorised = httpx.get(clean_sandbox.url + "/contact-centre/v1/availability")
    assert unauthorised.status_code == 401 and unauthorised.json()["error"]["code"] == "unauthorised"


def test_sandbox_documents_the_contract_in_its_openapi(clean_sandbox):
    spec = httpx.get(clean_sandbox.url + "/openapi.json").json()
    paths = spec["paths"]
    for path, method in [
        ("/availability", "get"),
        ("/handovers", "post"),
        ("/handovers/{reference}", "get"),
        ("/handovers/{reference}/messages", "post"),
        ("/handovers/{reference}/close", "post"),
        ("/callbacks", "post"),
        ("/callbacks/{reference}", "get"),
    ]:
        operation = paths["/contact-centre/v1" + path][method]
        assert operation["summary"] and "Contact centre" in operation["tags"]
    assert "409" in paths["/contact-centre/v1/handovers"]["post"]["responses"]
