"""Council tax client: unit tests on MockTransport, contract tests on the sandbox (API and secure form)."""

from __future__ import annotations

import datetime as dt
import json
import logging

import httpx
import pytest

from integrations.council_tax import (
    CouncilTaxClient,
    NotVerified,
    SetupLink,
    Verification,
    VerificationExpired,
)
from integrations.errors import AuthFailed, NotFound, Rejected, TimedOut, Unavailable
from integrations.settings import Endpoint, Settings, Timeouts
from tests.integrations.contract import paid_payment as pay_in_sandbox
from tests.integrations.contract import schema_assert
from tests.support.mock_http import Recorder, mock_client
from tests.support.mock_http import contract_error as err

REF = "40212345"
V = Verification(REF, "tok-secret-123")


assert_schema = schema_assert("council_tax")


def client_for(handler, **timeouts) -> tuple[CouncilTaxClient, list[float]]:
    endpoint = Endpoint("http://ct.test/council-tax/v1", key="k")
    return mock_client(CouncilTaxClient, handler, endpoint, Timeouts(**timeouts))


ACCOUNT = {
    "accountReference": REF,
    "address": "1, MARKET PLACE, CHIPPENHAM, SN15 1ER",
    "postcode": "SN15 1ER",
    "band": "C",
    "financialYear": "2026/27",
    "grossChargePence": 204320,
    "singlePersonDiscount": False,
    "annualChargePence": 204320,
    "paidToDatePence": 163456,
    "dueToDatePence": 163456,
    "balancePence": 40864,
    "arrearsPence": 0,
    "inArrears": False,
    "inCredit": False,
    "nextInstalment": {"dueDate": "2026-12-01", "amountPence": 20432},
    "paymentMethod": "direct_debit",
    "directDebitDay": 1,
    "movingOutDate": None,
    "instalments": [
        {
            "number": n,
            "dueDate": f"2026-{n + 3:02d}-01",
            "amountPence": 20432,
            "outstandingPence": 0,
            "status": "paid",
        }
        for n in range(1, 10)
    ]
    + [
        {
            "number": 10,
            "dueDate": "2027-01-01",
            "amountPence": 20432,
            "outstandingPence": 20432,
            "status": "due",
        }
    ],
}
RECEIPT = {
    "reference": "CT-204518",
    "type": "moving_home",
    "status": "received",
    "statusNotes": "n",
    "receivedAt": "2026-11-27T10:00:00+00:00",
    "updatedAt": "2026-11-27T10:00:00+00:00",
    "expectedBy": "2026-12-11",
}


# --- unit: the client on MockTransport ------------------------------------------------


async def test_verify_posts_reference_and_postcode_and_keeps_the_token_out_of_reprs():
    rec = Recorder(
        httpx.Response(
            201,
            json={"accountReference": REF, "token": "tok-abc-secret", "expiresAt": "2026-11-27T10:15:00Z"},
        )
    )
    client, _ = client_for(rec)
    verification = await client.verify(f" {REF} ", "sn15 1er")
    assert rec.requests[0].headers["X-Api-Key"] == "k"
    assert json.loads(rec.requests[0].content) == {"accountReference": REF, "postcode": "sn15 1er"}
    assert verification.token == "tok-abc-secret" and "tok-abc-secret" not in repr(verification)
    assert verification.expires_at == dt.datetime(2026, 11, 27, 10, 15, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(
    "response,error,reason",
    [
        (err(422, "not_verified"), NotVerified, "not_verified"),
        (err(422, "too_many_attempts"), NotVerified, "too_many_attempts"),
        (err(401, "invalid_api_key"), AuthFailed, None),
        (err(503, "unavailable"), Unavailable, None),
    ],
)
async def test_verify_failures_map_to_their_own_errors(response, error, reason):
    client, _ = client_for(Recorder(response))
    with pytest.raises(error) as raised:
        await client.verify(REF, "SN15 1ER")
    if reason:
        assert isinstance(raised.value, Rejected) and raised.value.reason == reason


async def test_account_sends_the_verification_token_and_types_the_balance():
    rec = Recorder(httpx.Response(200, json=ACCOUNT))
    client, _ = client_for(rec)
    account = await client.account(V)
    request = rec.requests[0]
    assert request.url.path == f"/council-tax/v1/accounts/{REF}"
    assert request.headers["X-Verification-Token"] == "tok-secret-123"
    assert account.balance == "£408.64" and account.next_instalment.amount == "£204.32"
    assert len(account.instalments) == 10 and account.instalments[-1].status == "due"


@pytest.mark.parametrize(
    "code,error",
    [("verification_expired", VerificationExpired), ("verification_required", VerificationExpired)],
)
async def test_a_lapsed_verification_is_its_own_error_not_a_configuration_problem(code, error):
    client, _ = client_for(Recorder(err(401, code)))
    with pytest.raises(error) as raised:
        await client.direct_debit(V)
    assert not isinstance(raised.value, AuthFailed) and raised.value.reason == code


@pytest.mark.parametrize(
    "code,status",
    [("already_receiving_discount", 409), ("date_out_of_range", 422), ("application_pending", 409)],
)
async def test_refusals_are_rejected_with_the_contract_code_as_reason(code, status):
    client, _ = client_for(Recorder(err(status, code)))
    with pytest.raises(Rejected) as raised:
        await client.apply_single_person_discount(
            V, living_alone_from=dt.date(2026, 10, 1), idempotency_key="k1"
        )
    assert raised.value.reason == code and raised.value.status == status


async def test_record_payment_uses_the_payment_id_as_idempotency_key_and_is_retried_after_a_503():
    paid = {
        "paymentId": "pay-1",
        "accountReference": REF,
        "amountPence": 5000,
        "recordedAt": "2026-11-27T10:00:00+00:00",
        "balancePence": 35864,
    }
    rec = Recorder(err(503, "unavailable"), httpx.Response(201, json=paid))
    client, slept = client_for(rec)
    recorded = await client.record_payment(REF, payment_id="pay-1", amount_pence=5000)
    assert [r.headers["Idempotency-Key"] for r in rec.requests] == ["pay-1", "pay-1"]
    assert "X-Verification-Token" not in rec.requests[0].headers
    assert recorded.balance_pence == 35864 and len(slept) == 1


async def test_moving_home_is_retried_after_a_timeout_with_the_same_key():
    rec = Recorder(httpx.ReadTimeout("slow"), httpx.Response(201, json=RECEIPT))
    client, _ = client_for(rec)
    receipt = await client.report_moving_home(
        V,
        moving_out_date=dt.date(2026, 12, 20),
        within_area=False,
        forwarding_address="1 Elm Road, Bristol",
        idempotency_key="move-conv-1",
    )
    assert [r.headers["Idempotency-Key"] for r in rec.requests] == ["move-conv-1", "move-conv-1"]
    body = json.loads(rec.requests[0].content)
    assert body["movingOutDate"] == "2026-12-20" and body["movingWithinArea"] is False
    assert receipt.reference == "CT-204518" and receipt.expected_by == dt.date(2026, 12, 11)


async def test_a_conflict_is_not_retried():
    rec = Recorder(err(409, "move_already_reported"))
    client, slept = client_for(rec)
    with pytest.raises(Rejected):
        await client.report_moving_home(
            V, moving_out_date=dt.date(2026, 12, 20), within_area=True, new_uprn="1", idempotency_key="k"
        )
    assert len(rec.requests) == 1 and slept == []


async def test_change_of_day_is_a_put_and_retried_after_a_503():
    change = {"paymentDay": 15, "changed": True, "effectiveFrom": "2026-12-15", "reference": "CT-111111"}
    rec = Recorder(err(503, "unavailable"), httpx.Response(200, json=change))
    client, _ = client_for(rec)
    result = await client.change_direct_debit_day(V, 15)
    assert [r.method for r in rec.requests] == ["PUT", "PUT"]
    assert result.effective_from == dt.date(2026, 12, 15) and result.changed


async def test_setup_link_and_tokens_never_reach_reprs_or_logs(caplog):
    url = "http://ct.test/council-tax/v1/forms/direct-debit?session=secret-session-abc"
    rec = Recorder(httpx.Response(201, json={"url": url, "expiresAt": "2026-11-27T11:00:00+00:00"}))
    client, _ = client_for(rec)
    with caplog.at_level(logging.DEBUG):
        link = await client.direct_debit_setup_link(V)
    assert isinstance(link, SetupLink) and link.url == url
    assert "secret-session-abc" not in repr(link)
    # Our own log lines (httpx's INFO lines print URLs: the app sets the httpx logger to WARNING).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("integrations"))
    assert "council_tax" in ours
    for secret in ("secret-session-abc", "tok-secret-123", REF):
        assert secret not in ours


async def test_an_unexpected_account_shape_is_unavailable():
    client, _ = client_for(Recorder(httpx.Response(200, json={"accountReference": REF})))
    with pytest.raises(Unavailable):
        await client.account(V)


# --- contract: the real client against the running sandbox ---------------------------------


@pytest.fixture
async def live(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    async with httpx.AsyncClient() as http:
        yield CouncilTaxClient(http, settings.council_tax, settings.timeouts), clean_sandbox


def account_row(sandbox, profile: str, **match) -> dict:
    rows = sandbox.rows("ct_accounts")
    return next(
        r
        for r in rows
        if r["profile"] == profile and not r["moving_out_date"] and all(r[k] == v for k, v in match.items())
    )


async def verified(client: CouncilTaxClient, row: dict) -> Verification:
    return await client.verify(row["account_ref"], row["postcode"].lower().replace(" ", ""))


def paid_payment(sandbox, amount: int, action: str | None = "pay") -> str:
    return pay_in_sandbox(sandbox, amount, action, reference="CT-test", description="Council tax")


def raw(sandbox, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"X-Api-Key": "sandbox-council-tax-key", **kwargs.pop("headers", {})}
    return httpx.request(
        method, sandbox.url + "/council-tax/v1" + path, headers=headers, timeout=10, **kwargs
    )


async def test_sandbox_up_to_date_direct_debit_account_at_sn15_1er(live):
    client, sandbox = live
    row = account_row(sandbox, "up_to_date", postcode="SN15 1ER", dd_day=1)
    account = await client.account(await verified(client, row))
    assert (account.in_arrears, account.in_credit, account.arrears_pence) == (False, False, 0)
    assert account.balance_pence == account.annual_charge_pence - account.paid_to_date_pence
    assert account.paid_to_date_pence == account.due_to_date_pence
    assert account.payment_method == "direct_debit" and account.direct_debit_day == 1
    assert account.next_instalment is None or account.next_instalment.due_date.day == 1
    assert sum(i.amount_pence for i in account.instalments) == account.annual_charge_pence


async def test_sandbox_arrears_credit_and_discount_accounts(live):
    client, sandbox = live
    arrears = await client.account(
        await verified(client, account_row(sandbox, "in_arrears", payment_method="cash"))
    )
    assert arrears.in_arrears and arrears.arrears_pence > 0
    assert any(i.status == "overdue" for i in arrears.instalments)
    credit = await client.account(await verified(client, account_row(sandbox, "in_credit")))
    assert credit.in_credit and credit.balance_pence < 0 and credit.balance.endswith("in credit")
    spd = await client.account(
        await verified(client, account_row(sandbox, "up_to_date", single_person_discount=1))
    )
    assert spd.single_person_discount and spd.annual_charge_pence == round(spd.gross_charge_pence * 0.75)


async def test_sandbox_wrong_postcode_and_unknown_account_look_the_same(clean_sandbox):
    row = account_row(clean_sandbox, "up_to_date", postcode="SN15 1ER", dd_day=1)
    wrong = raw(
        clean_sandbox,
        "POST",
        "/verifications",
        json={"accountReference": row["account_ref"], "postcode": "SP1 3JQ"},
    )
    unknown = raw(
        clean_sandbox, "POST", "/verifications", json={"accountReference": "00000001", "postcode": "SN15 1ER"}
    )
    assert wrong.status_code == unknown.status_code == 422
    assert wrong.json() == unknown.json() and wrong.json()["error"]["code"] == "not_verified"


async def test_sandbox_locks_verification_after_five_failures(live):
    client, sandbox = live
    row = account_row(sandbox, "up_to_date", postcode="SN15 1ER", dd_day=1)
    for _ in range(5):
        with pytest.raises(NotVerified) as failed:
            await client.verify(row["account_ref"], "BA14 8JN")
        assert failed.value.reason == "not_verified"
    with pytest.raises(NotVerified) as locked:
        await client.verify(row["account_ref"], row["postcode"])
    assert locked.value.reason == "too_many_attempts"


async def test_sandbox_token_opens_only_its_own_account(live):
    client, sandbox = live
    first = account_row(sandbox, "up_to_date", postcode="SN15 1ER", dd_day=1)
    other = account_row(sandbox, "in_credit")
    verification = await verified(client, first)
    with pytest.raises(VerificationExpired):
        await client.account(Verification(other["account_ref"], verification.token))
    with pytest.raises(VerificationExpired):
        await client.account(Verification(first["account_ref"], "made-up-token"))


async def test_sandbox_payment_lowers_the_balance_once_and_needs_a_successful_pay_payment(live):
    client, sandbox = live
    row = account_row(sandbox, "in_arrears", payment_method="cash")
    verification = await verified(client, row)
    before = await client.account(verification)
    payment_id = paid_payment(sandbox, 12345)
    recorded = await client.record_payment(row["account_ref"], payment_id=payment_id, amount_pence=12345)
    again = await client.record_payment(row["account_ref"], payment_id=payment_id, amount_pence=12345)
    assert recorded == again and recorded.balance_pence == before.balance_pence - 12345
    after = await client.account(verification)
    assert after.paid_to_date_pence == before.paid_to_date_pence + 12345
    assert after.arrears_pence == max(0, before.arrears_pence - 12345)
    with pytest.raises(Rejected) as other_amount:
        await client.record_payment(row["account_ref"], payment_id=payment_id, amount_pence=100)
    assert other_amount.value.reason == "payment_already_recorded"
    with pytest.raises(Rejected) as unpaid:
        await client.record_payment(
            row["account_ref"], payment_id=paid_payment(sandbox, 500, action=None), amount_pence=500
        )
    assert unpaid.value.reason == "payment_not_successful" and unpaid.value.status == 402


async def test_sandbox_moving_home_records_the_move_and_its_reference_can_be_looked_up(live):
    client, sandbox = live
    row = account_row(sandbox, "up_to_date", postcode="SN15 1ER", dd_day=1)
    verification = await verified(client, row)
    moving = dt.date.today() + dt.timedelta(days=20)
    new_home = next(a["uprn"] for a in sandbox.rows("addresses") if a["postcode"] == "SP1 3JQ")
    receipt = await client.report_moving_home(
        verification, moving_out_date=moving, within_area=True, new_uprn=new_home, idempotency_key="move-1"
    )
    assert (
        receipt.reference.startswith("CT-") and len(receipt.reference) == 9 and receipt.status == "received"
    )
    again = await client.report_moving_home(
        verification, moving_out_date=moving, within_area=True, new_uprn=new_home, idempotency_key="move-1"
    )
    assert again == receipt
    assert (await client.account(verification)).moving_out_date == moving
    assert await client.request_status(receipt.reference.lower()) == receipt
    with pytest.raises(Rejected) as twice:
        await client.report_moving_home(
            verification,
            moving_out_date=moving,
            within_area=False,
            forwarding_address="1 Elm Road, Bristol",
            idempotency_key="move-2",
        )
    assert twice.value.reason == "move_already_reported"


@pytest.mark.parametrize(
    "kwargs,reason",
    [
        (
            {
                "moving_out_date": dt.date.today() + dt.timedelta(days=200),
                "within_area": False,
                "forwarding_address": "1 Elm Road",
            },
            "date_out_of_range",
        ),
        ({"moving_out_date": dt.date.today(), "within_area": True}, "new_address_required"),
        (
            {"moving_out_date": dt.date.today(), "within_area": True, "new_uprn": "999999999999"},
            "not_in_area",
        ),
        ({"moving_out_date": dt.date.today(), "within_area": False}, "forwarding_address_required"),
    ],
)
async def test_sandbox_moving_home_refusals(live, kwargs, reason):
    client, sandbox = live
    verification = await verified(client, account_row(sandbox, "up_to_date", payment_method="cash"))
    with pytest.raises(Rejected) as refused:
        await client.report_moving_home(verification, idempotency_key=f"refused-{reason}", **kwargs)
    assert refused.value.reason == reason


async def test_sandbox_single_person_discount_once_and_not_for_those_who_have_it(live):
    client, sandbox = live
    verification = await verified(client, account_row(sandbox, "up_to_date", payment_method="cash"))
    receipt = await client.apply_single_person_discount(
        verification, living_alone_from=dt.date.today() - dt.timedelta(days=30), idempotency_key="spd-1"
    )
    assert receipt.type == "single_person_discount" and receipt.expected_by > dt.date.today()
    with pytest.raises(Rejected) as pending:
        await client.apply_single_person_discount(
            verification, living_alone_from=dt.date.today(), idempotency_key="spd-2"
        )
    assert pending.value.reason == "application_pending"
    has_it = await verified(client, account_row(sandbox, "up_to_date", single_person_discount=1))
    with pytest.raises(Rejected) as already:
        await client.apply_single_person_discount(
            has_it, living_alone_from=dt.date.today(), idempotency_key="spd-3"
        )
    assert already.value.reason == "already_receiving_discount"
    with pytest.raises(Rejected) as future:
        await client.apply_single_person_discount(
            await verified(client, account_row(sandbox, "in_credit")),
            living_alone_from=dt.date.today() + dt.timedelta(days=30),
            idempotency_key="spd-4",
        )
    assert future.value.reason == "date_out_of_range"


async def test_sandbox_direct_debit_day_change_moves_later_instalments_and_repeats_harmlessly(live):
    client, sandbox = live
    verification = await verified(client, account_row(sandbox, "up_to_date", postcode="SN15 1ER", dd_day=1))
    assert (await client.direct_debit(verification)).payment_day == 1
    change = await client.change_direct_debit_day(verification, 22)
    assert change.changed and change.reference.startswith("CT-") and change.effective_from.day == 22
    repeat = await client.change_direct_debit_day(verification, 22)
    assert (repeat.changed, repeat.reference) == (False, change.reference)
    account = await client.account(verification)
    assert account.direct_debit_day == 22
    assert all(i.due_date.day == 22 for i in account.instalments if i.due_date >= change.effective_from)
    assert (await client.request_status(change.reference)).status == "completed"
    with pytest.raises(Rejected) as odd_day:
        await client.change_direct_debit_day(verification, 3)
    assert odd_day.value.reason == "invalid_payment_day"
    cash = await verified(client, account_row(sandbox, "in_arrears", payment_method="cash"))
    with pytest.raises(Rejected) as no_dd:
        await client.change_direct_debit_day(cash, 15)
    assert no_dd.value.reason == "no_direct_debit"


async def test_sandbox_new_direct_debit_is_set_up_on_the_secure_form_never_through_the_api(live):
    client, sandbox = live
    row = account_row(sandbox, "in_arrears", payment_method="cash")
    verification = await verified(client, row)
    link = await client.direct_debit_setup_link(verification)
    assert link.url.startswith(sandbox.url + "/council-tax/v1/forms/direct-debit?session=")
    with httpx.Client(timeout=10) as browser:
        page = browser.get(link.url)
        assert page.status_code == 200 and 'name="sort_code"' in page.text and "<label" in page.text
        session = link.url.split("session=")[1]
        bad = browser.post(
            sandbox.url + "/council-tax/v1/forms/direct-debit",
            data={
                "session": session,
                "account_holder": "A Smith",
                "sort_code": "12",
                "account_number": "00733445",
                "payment_day": "8",
                "confirm": "yes",
            },
        )
        assert bad.status_code == 400 and "sort code" in bad.text
        done = browser.post(
            sandbox.url + "/council-tax/v1/forms/direct-debit",
            data={
                "session": session,
                "account_holder": "A Smith",
                "sort_code": "30-94-57",
                "account_number": "00733445",
                "payment_day": "8",
                "confirm": "yes",
            },
        )
        assert done.status_code == 200 and "CT-" in done.text
        assert browser.get(link.url).status_code == 410  # one use only
    debit = await client.direct_debit(verification)
    assert debit.active and debit.payment_day == 8
    for table in ("ct_accounts", "ct_requests", "ct_dd_sessions"):
        assert "00733445" not in json.dumps(sandbox.rows(table))  # bank details are never kept
    with pytest.raises(Rejected) as already:
        await client.direct_debit_setup_link(verification)
    assert already.value.reason == "direct_debit_active"


async def test_sandbox_seeded_requests_can_be_looked_up_and_unknown_is_not_found(live):
    client, sandbox = live
    for row in sandbox.rows("ct_requests"):
        found = await client.request_status(row["reference"])
        assert (found.type, found.status) == (row["type"], row["status"])
    with pytest.raises(NotFound):
        await client.request_status("CT-000000")


async def test_sandbox_fault_on_the_account_is_retried_then_reported_and_a_slow_answer_times_out(live):
    client, sandbox = live
    row = account_row(sandbox, "in_credit")
    verification = await verified(client, row)
    sandbox.fault(path=f"/council-tax/v1/accounts/{row['account_ref']}", method="GET", status=503, times=1)
    assert (await client.account(verification)).in_credit
    sandbox.fault(path=f"/council-tax/v1/accounts/{row['account_ref']}", method="GET", status=500)
    with pytest.raises(Unavailable):
        await client.account(verification)
    sandbox.clear_faults()
    sandbox.fault(path="/council-tax/v1/requests/", latency_ms=3000)
    async with httpx.AsyncClient() as http:
        slow = CouncilTaxClient(http, client.endpoint, Timeouts(read=0.3, deadline=1.0, max_retries=1))
        with pytest.raises(TimedOut):
            await slow.request_status("CT-000000")


async def test_sandbox_bad_api_key_is_auth_failed(live):
    _, sandbox = live
    async with httpx.AsyncClient() as http:
        wrong = CouncilTaxClient(http, Endpoint(sandbox.url + "/council-tax/v1", key="wrong"))
        with pytest.raises(AuthFailed):
            await wrong.request_status("CT-000000")


# --- bad input: our error shape and status, never a 500 ------------------------------------------


@pytest.mark.parametrize(
    "method,path,kwargs,status,code",
    [
        (
            "POST",
            "/verifications",
            {"content": b"{oops", "headers": {"Content-Type": "application/json"}},
            400,
            "bad_request",
        ),
        ("POST", "/verifications", {"json": {"accountReference": "40212345"}}, 400, "bad_request"),
        (
            "POST",
            "/verifications",
            {"json": {"accountReference": "123", "postcode": "SN15 1ER"}},
            400,
            "bad_request",
        ),
        (
            "POST",
            "/verifications",
            {
                "json": {"accountReference": "40212345", "postcode": "SN15 1ER"},
                "headers": {"X-Api-Key": "wrong"},
            },
            401,
            "invalid_api_key",
        ),
        ("GET", "/accounts/40212345", {}, 401, "verification_required"),
        (
            "GET",
            "/accounts/40212345",
            {"headers": {"X-Verification-Token": "nope"}},
            401,
            "verification_expired",
        ),
        ("GET", "/accounts/not-a-ref", {"headers": {"X-Verification-Token": "nope"}}, 400, "bad_request"),
        (
            "POST",
            "/accounts/00000001/payments",
            {"json": {"paymentId": "test-success-1", "amountPence": 100}},
            404,
            "account_not_found",
        ),
        ("GET", "/requests/CT-000000", {}, 404, "request_not_found"),
    ],
)
def test_sandbox_bad_input_gets_the_contract_error_shape(clean_sandbox, method, path, kwargs, status, code):
    response = raw(clean_sandbox, method, path, **kwargs)
    assert response.status_code == status, response.text
    assert_schema(response.json(), "Error")
    assert response.json()["error"]["code"] == code


def test_sandbox_bad_payment_and_request_bodies_get_the_error_shape(clean_sandbox):
    row = account_row(clean_sandbox, "in_credit")
    token = raw(
        clean_sandbox,
        "POST",
        "/verifications",
        json={"accountReference": row["account_ref"], "postcode": row["postcode"]},
    ).json()["token"]
    auth = {"X-Verification-Token": token}
    base = f"/accounts/{row['account_ref']}"
    for path, body in [
        ("/payments", {"paymentId": "test-success-1", "amountPence": 0}),
        ("/payments", {"paymentId": "", "amountPence": 100}),
        ("/moving-home", {"movingOutDate": "soon", "movingWithinArea": False}),
        ("/single-person-discount", {}),
    ]:
        response = raw(clean_sandbox, "POST", base + path, json=body, headers=auth)
        assert response.status_code == 400, (path, response.text)
        assert_schema(response.json(), "Error")
    response = raw(clean_sandbox, "PUT", base + "/direct-debit", json={"paymentDay": "first"}, headers=auth)
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_request"


# --- schema: the sandbox's answers against the contract's JSON Schema ----------------------------


def test_sandbox_responses_match_the_contract_schemas(clean_sandbox):
    for row in clean_sandbox.rows("ct_accounts")[:12]:
        verification = raw(
            clean_sandbox,
            "POST",
            "/verifications",
            json={"accountReference": row["account_ref"], "postcode": row["postcode"]},
        )
        assert verification.status_code == 201
        assert_schema(verification.json(), "Verification")
        auth = {"X-Verification-Token": verification.json()["token"]}
        assert_schema(
            raw(clean_sandbox, "GET", f"/accounts/{row['account_ref']}", headers=auth).json(), "Account"
        )
        assert_schema(
            raw(clean_sandbox, "GET", f"/accounts/{row['account_ref']}/direct-debit", headers=auth).json(),
            "DirectDebit",
        )
    for row in clean_sandbox.rows("ct_requests"):
        assert_schema(raw(clean_sandbox, "GET", f"/requests/{row['reference']}").json(), "Request")
    row = account_row(clean_sandbox, "up_to_date", payment_method="cash")
    auth = {
        "X-Verification-Token": raw(
            clean_sandbox,
            "POST",
            "/verifications",
            json={"accountReference": row["account_ref"], "postcode": row["postcode"]},
        ).json()["token"]
    }
    base = f"/accounts/{row['account_ref']}"
    assert_schema(
        raw(
            clean_sandbox,
            "POST",
            base + "/payments",
            json={"paymentId": "test-success-schema", "amountPence": 1000},
        ).json(),
        "Payment",
    )
    assert_schema(
        raw(clean_sandbox, "POST", base + "/direct-debit/setup-links", headers=auth).json(), "SetupLink"
    )
    assert_schema(
        raw(
            clean_sandbox,
            "POST",
            base + "/single-person-discount",
            headers=auth,
            json={"livingAloneFrom": dt.date.today().isoformat()},
        ).json(),
        "Request",
    )
    dd = account_row(clean_sandbox, "up_to_date", payment_method="direct_debit", dd_day=15)
    auth = {
        "X-Verification-Token": raw(
            clean_sandbox,
            "POST",
            "/verifications",
            json={"accountReference": dd["account_ref"], "postcode": dd["postcode"]},
        ).json()["token"]
    }
    assert_schema(
        raw(
            clean_sandbox,
            "PUT",
            f"/accounts/{dd['account_ref']}/direct-debit",
            headers=auth,
            json={"paymentDay": 8},
        ).json(),
        "DayChange",
    )
