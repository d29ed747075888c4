"""Council tax journeys on tracker fixtures, with the back-office systems on httpx.MockTransport."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import council_tax as ct
from tests.support.trackers import DOMAIN, buttons, make_tracker, texts, user_event

REF, POSTCODE, TOKEN = "79243506", "SN15 1ER", "tok-secret"
PAY_URL = "https://pay.test/secure/one-use-token"
SETUP_URL = "https://backoffice.test/council-tax/v1/forms/direct-debit?session=secret-session"
VERIFIED = {
    "account_reference": REF,
    "postcode": POSTCODE,
    "token": TOKEN,
    "expires_at": "2099-01-01T00:00:00+00:00",
}
NOW = "2026-11-30T10:00:00"  # a Monday


def account(**changes: Any) -> dict[str, Any]:
    body = {
        "accountReference": REF,
        "address": "1, MARKET PLACE, CHIPPENHAM, SN15 1ER",
        "postcode": POSTCODE,
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
        "instalments": [],
    }
    return {**body, **changes}


def error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"status": status, "code": code, "message": code}})


def council_request(reference: str = "CT-204518", kind: str = "moving_home") -> dict[str, Any]:
    return {
        "reference": reference,
        "type": kind,
        "status": "received",
        "statusNotes": "We will close this account.",
        "receivedAt": "2026-11-30T10:00:00+00:00",
        "updatedAt": "2026-11-30T10:00:00+00:00",
        "expectedBy": "2026-12-14",
    }


class FakeBackoffice:
    """Council tax, GOV.UK Pay, Notify and the address finder, with what each was asked."""

    def __init__(self, **routes: Any) -> None:
        self.routes = routes
        self.calls: list[httpx.Request] = []

    def sent(self, path_end: str) -> list[dict[str, Any]]:
        return [json.loads(r.content or b"{}") for r in self.calls if r.url.path.endswith(path_end)]

    def headers(self, path_end: str) -> list[httpx.Headers]:
        return [r.headers for r in self.calls if r.url.path.endswith(path_end)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        path = request.url.path
        for suffix, answer in self.routes.items():
            if path.endswith(suffix.replace("__", "/")):
                return answer(request) if callable(answer) else answer
        if path.endswith("/verifications"):
            body = json.loads(request.content)
            if (body["accountReference"], body["postcode"].replace(" ", "").upper()) == (REF, "SN151ER"):
                return httpx.Response(
                    201,
                    json={"accountReference": REF, "token": TOKEN, "expiresAt": "2099-01-01T00:00:00+00:00"},
                )
            return error(422, "not_verified")
        if path.endswith(f"/accounts/{REF}"):
            return httpx.Response(200, json=account())
        if path.endswith("/v2/notifications/email") or path.endswith("/v2/notifications/sms"):
            return httpx.Response(
                201,
                json={
                    "id": "5b2f6c3e-0000-4000-8000-000000000001",
                    "reference": None,
                    "content": {"body": "x"},
                    "template": {"id": "t", "version": 1},
                },
            )
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "nothing here"}})


@pytest.fixture
def fake(backoffice):
    def install(**routes: Any) -> FakeBackoffice:
        office = FakeBackoffice(**routes)
        backoffice(office)
        return office

    return install


@pytest.fixture(autouse=True)
def pinned_now(monkeypatch):
    monkeypatch.setenv("COUNCIL_ASSISTANT_NOW", NOW)


def slot_events(slots: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"event": "slot", "name": k, "value": v} for k, v in slots.items()]


def turn(
    form: str,
    text: str,
    intent: str = "inform",
    entities: dict[str, str] | None = None,
    *,
    asked: str | None = None,
    slots: dict[str, Any] | None = None,
    starting: bool = False,
):
    """A tracker as Rasa sends it to a form's validation action for one message."""
    ents = [{"entity": k, "value": v} for k, v in (entities or {}).items()]
    filled = dict(entities or {})
    events = [
        user_event(text, intent, entities=ents),
        {"event": "action", "name": form},
        *slot_events(filled),
    ]
    all_slots = {"requested_slot": asked, **(slots or {}), **filled}
    return make_tracker(*events, slots=all_slots, active_loop=None if starting else form)


def postcode_turn(form: str, postcode: str = POSTCODE, **slots: Any):
    """The resident answers "What is your postcode?", having given the account reference."""
    return turn(
        form,
        postcode,
        entities={"postcode": postcode},
        asked="postcode",
        slots={"account_reference": REF, **slots},
    )


def date_turn(form: str, text: str, date: str, slots: dict[str, Any]):
    """The resident answers the date question; ``date`` is what the date entity reads it as."""
    return turn(form, text, entities={"date": date}, asked="date", slots=slots)


def next_question(slots: dict[str, Any], form: str, tracker) -> str | None:
    """The slot the form asks for next: the validator's choice, else Rasa's (the domain's order)."""
    if "requested_slot" in slots:
        return slots["requested_slot"]
    values = {**tracker.slots, **slots}
    return next(
        (s for s in DOMAIN_WITH_FORMS["forms"][form]["required_slots"] if values.get(s) is None), None
    )


async def validate(action, tracker) -> tuple[dict[str, Any], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, DOMAIN_WITH_FORMS)
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}, dispatcher


DOMAIN_WITH_FORMS: dict[str, Any] = {
    **DOMAIN,
    "forms": {
        "council_tax_balance_form": {"required_slots": ["account_reference", "postcode"]},
        "pay_council_tax_form": {"required_slots": ["account_reference", "postcode", "ct_amount", "confirm"]},
        "council_tax_moving_form": {
            "required_slots": [
                "account_reference",
                "postcode",
                "date",
                "moving_within",
                "new_postcode",
                "address",
                "ct_address_text",
                "ct_contact",
                "confirm",
            ]
        },
        "council_tax_discount_form": {
            "required_slots": ["account_reference", "postcode", "date", "ct_contact", "confirm"]
        },
        "council_tax_direct_debit_form": {
            "required_slots": [
                "account_reference",
                "postcode",
                "dd_action",
                "dd_day",
                "ct_contact",
                "confirm",
            ]
        },
    },
    "slots": {},
}


# --- verification ------------------------------------------------------------------------


async def test_everything_in_the_first_message_verifies_and_offers_the_amounts(fake):
    office = fake()
    tracker = turn(
        "pay_council_tax_form",
        f"pay my council tax {REF} {POSTCODE}",
        "pay_council_tax",
        {"account_reference": REF, "postcode": POSTCODE},
        starting=True,
    )
    slots, dispatcher = await validate(ct.ValidatePayCouncilTaxForm(), tracker)
    assert slots["ct_verification"]["token"] == TOKEN
    assert slots["ct_account"]["balance"] == 40864 and slots["ct_account"]["instalment"] == 20432
    assert slots["requested_slot"] == "ct_amount"
    assert slots["ct_key"].startswith("pay_council_tax-")
    assert texts(dispatcher) == ["Thanks, I've found your account."]
    assert office.sent("/verifications") == [{"accountReference": REF, "postcode": POSTCODE}]


async def test_a_wrong_pair_shows_nothing_of_the_account_and_asks_for_both_again(fake):
    fake()
    tracker = postcode_turn("council_tax_balance_form", "SN15 9ZZ")
    slots, dispatcher = await validate(ct.ValidateCouncilTaxBalanceForm(), tracker)
    assert slots["account_reference"] is None and slots["postcode"] is None and slots["ct_tries"] == 1
    assert next_question(slots, "council_tax_balance_form", tracker) == "account_reference"
    said = " ".join(texts(dispatcher))
    assert "don't match our records" in said and "£" not in said and "Market Place" not in said
    assert "ct_verification" not in slots


async def test_the_second_failure_explains_and_offers_a_person_and_the_third_ends_the_journey(fake):
    fake()
    form = ct.ValidateCouncilTaxBalanceForm()
    second = postcode_turn("council_tax_balance_form", "SN15 9ZZ", ct_tries=1)
    slots, dispatcher = await validate(form, second)
    assert "8-digit number" in texts(dispatcher)[0] and "/request_human" in [
        b["payload"] for b in buttons(dispatcher)
    ]
    assert next_question(slots, "council_tax_balance_form", second) == "account_reference"
    third = postcode_turn("council_tax_balance_form", "SN15 9ZZ", ct_tries=2)
    slots, dispatcher = await validate(form, third)
    assert slots["ct_ended"] is True and slots["requested_slot"] is None
    assert slots["outcome"] == {
        "outcome": "abandoned",
        "intent": "council_tax_balance",
        "step": "verification",
        "reason": "not_verified",
    }
    assert "0300 456 0100" in texts(dispatcher)[0]


async def test_a_locked_account_ends_at_once(fake):
    fake(verifications=error(422, "too_many_attempts"))
    tracker = postcode_turn("council_tax_balance_form")
    slots, dispatcher = await validate(ct.ValidateCouncilTaxBalanceForm(), tracker)
    assert slots["ct_ended"] is True and "15 minutes" in texts(dispatcher)[0]


async def test_the_council_tax_system_down_at_the_check_is_an_honest_failure(fake):
    fake(verifications=httpx.Response(503))
    tracker = postcode_turn("council_tax_balance_form")
    slots, dispatcher = await validate(ct.ValidateCouncilTaxBalanceForm(), tracker)
    assert slots["ct_ended"] is True and slots["requested_slot"] is None
    assert slots["outcome"]["outcome"] == "integration_failed" and slots["outcome"]["system"] == "council_tax"
    assert "council tax system isn't working" in texts(dispatcher)[0]


async def test_an_answer_that_is_not_an_account_reference_is_explained(fake):
    fake()
    tracker = turn("council_tax_balance_form", "6001234", asked="account_reference")
    slots, dispatcher = await validate(ct.ValidateCouncilTaxBalanceForm(), tracker)
    assert slots["account_reference"] is None
    assert texts(dispatcher) == ["That doesn't look like a council tax account reference."]


async def test_a_postcode_given_earlier_for_something_else_is_not_used_for_the_check(fake):
    office = fake()
    tracker = make_tracker(
        user_event(
            f"whats my council tax balance {REF}",
            "council_tax_balance",
            entities=[{"entity": "account_reference", "value": REF}],
        ),
        {"event": "action", "name": "council_tax_balance_form"},
        *slot_events({"account_reference": REF, "postcode": POSTCODE}),
        slots={"account_reference": REF, "postcode": POSTCODE, "requested_slot": None},
    )
    slots, _ = await validate(ct.ValidateCouncilTaxBalanceForm(), tracker)
    assert (
        slots["postcode"] is None and next_question(slots, "council_tax_balance_form", tracker) == "postcode"
    )
    assert office.sent("/verifications") == []


async def test_bank_details_are_refused_not_repeated_and_not_used_as_a_reference(fake):
    office = fake()
    text = "my sort code is 12-34-56 and account 12345678"
    tracker = turn(
        "council_tax_direct_debit_form",
        text,
        entities={"account_reference": "12345678"},
        asked="account_reference",
    )
    tracker.events.insert(0, {"event": "slot", "name": "account_reference", "value": None})
    slots, dispatcher = await validate(ct.ValidateCouncilTaxDirectDebitForm(), tracker)
    assert slots["account_reference"] is None and slots["requested_slot"] == "account_reference"
    said = " ".join(texts(dispatcher))
    assert "never take them in this chat" in said
    assert "12345678" not in said and "12-34-56" not in said
    assert office.sent("/verifications") == []


def test_bank_details_are_told_from_dates_and_references():
    from actions.common import looks_like_bank_details

    assert looks_like_bank_details("sort code 123456 acc 12345678")
    assert looks_like_bank_details("12-34-56 12345678")
    assert looks_like_bank_details("my bank account number is 12345678")
    assert not looks_like_bank_details("I moved out on 20-12-26, account 79243506")
    assert not looks_like_bank_details(f"council tax account {REF} {POSTCODE}")


# --- balance -----------------------------------------------------------------------------


async def test_the_balance_and_next_instalment_in_plain_words(fake):
    fake()
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        slots={"account_reference": REF, "ct_verification": VERIFIED, "postcode": POSTCODE}
    )
    events = await ct.ActionCouncilTaxBalance().run(dispatcher, tracker, DOMAIN)
    said = texts(dispatcher)[0]
    assert "Council tax for 1 Market Place, 2026/27 (band C)" in said
    assert "Left to pay this year: £408.64" in said
    assert "Next instalment: £204.32 on Tuesday 1 December by direct debit" in said
    assert events[-1]["value"] == {"outcome": "informed", "intent": "council_tax_balance"}
    assert {"event": "slot", "name": "postcode", "value": None} in [
        {k: e[k] for k in ("event", "name", "value")} for e in events
    ]


async def test_without_a_passed_check_the_balance_is_never_shown(fake):
    office = fake()
    dispatcher = CollectingDispatcher()
    await ct.ActionCouncilTaxBalance().run(dispatcher, make_tracker(slots={"account_reference": REF}), DOMAIN)
    assert texts(dispatcher) == [] and not office.sent(f"/accounts/{REF}")


async def test_a_lapsed_verification_is_renewed_with_the_same_details(fake):
    answers = iter([error(401, "verification_expired"), httpx.Response(200, json=account())])
    office = fake(**{f"accounts__{REF}": lambda request: next(answers)})
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"account_reference": REF, "ct_verification": VERIFIED})
    events = await ct.ActionCouncilTaxBalance().run(dispatcher, tracker, DOMAIN)
    assert office.sent("/verifications") == [{"accountReference": REF, "postcode": POSTCODE}]
    assert any(e.get("name") == "ct_verification" and e["value"]["token"] == TOKEN for e in events)
    assert "Left to pay" in texts(dispatcher)[0]


async def test_in_arrears_the_resident_is_told_and_offered_to_pay(fake):
    fake(
        **{
            f"accounts__{REF}": httpx.Response(
                200,
                json=account(inArrears=True, arrearsPence=40864, paymentMethod="cash", directDebitDay=None),
            )
        }
    )
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"account_reference": REF, "ct_verification": VERIFIED})
    await ct.ActionCouncilTaxBalance().run(dispatcher, tracker, DOMAIN)
    assert "You're behind by £408.64" in texts(dispatcher)[0]
    assert "/pay_council_tax" in [b["payload"] for b in buttons(dispatcher)]


# --- pay ---------------------------------------------------------------------------------

FACTS = {"address": "1 Market Place", "balance": 40864, "instalment": 20432, "instalment_due": "2026-12-01"}
PAYING = {
    "account_reference": REF,
    "ct_verification": VERIFIED,
    "ct_account": FACTS,
    "ct_key": "pay_council_tax-k",
}


@pytest.mark.parametrize(
    ("answer", "pence"),
    [
        ("The balance", 40864),
        ("The next instalment", 20432),
        ("£50", 5000),
        ("50.5", 5050),
        ("£1,00.00", None),
    ],
)
async def test_the_amount_to_pay(fake, answer, pence):
    fake()
    tracker = turn("pay_council_tax_form", answer, asked="ct_amount", slots=PAYING)
    slots, _ = await validate(ct.ValidatePayCouncilTaxForm(), tracker)
    if pence is None:
        assert slots.get("ct_amount") in (None, ct.INVALID)
    else:
        assert slots["ct_amount"] == pence and slots["requested_slot"] == "confirm"


async def test_more_than_the_balance_is_refused_and_another_amount_is_asked_for(fake):
    fake()
    form = ct.ValidatePayCouncilTaxForm()
    slots, dispatcher = await validate(
        form, turn("pay_council_tax_form", "£5000", asked="ct_amount", slots=PAYING)
    )
    assert slots["ct_amount"] is None and "up to £408.64" in texts(dispatcher)[0]
    slots, _ = await validate(
        form, turn("pay_council_tax_form", "Another amount", asked="ct_amount", slots=PAYING)
    )
    assert slots["ct_amount"] is None and slots["ct_account"]["custom"] is True
    ask = CollectingDispatcher()
    await ct.ActionAskCtAmount().run(ask, make_tracker(slots={"ct_account": slots["ct_account"]}), DOMAIN)
    assert texts(ask) == ["How much would you like to pay? Type the amount in pounds, like £50."]


async def test_the_amount_buttons_show_the_balance_and_the_instalment():
    dispatcher = CollectingDispatcher()
    await ct.ActionAskCtAmount().run(dispatcher, make_tracker(slots={"ct_account": FACTS}), DOMAIN)
    assert [b["title"] for b in buttons(dispatcher)] == [
        "The balance: £408.64",
        "Next instalment: £204.32 (Tuesday 1 December)",
        "Another amount",
    ]


async def test_no_with_a_new_amount_at_the_confirmation_corrects_it(fake):
    fake()
    tracker = turn(
        "pay_council_tax_form", "no, £50", "deny", asked="confirm", slots={**PAYING, "ct_amount": 40864}
    )
    slots, _ = await validate(ct.ValidatePayCouncilTaxForm(), tracker)
    assert slots["ct_amount"] == 5000 and slots["requested_slot"] == "confirm"


async def test_nothing_to_pay_when_in_credit(fake):
    fake(**{f"accounts__{REF}": httpx.Response(200, json=account(balancePence=-1850, inCredit=True))})
    tracker = postcode_turn("pay_council_tax_form")
    slots, dispatcher = await validate(ct.ValidatePayCouncilTaxForm(), tracker)
    assert slots["ct_ended"] is True and "in credit by £18.50" in texts(dispatcher)[0]


def pay_payment(status: str = "created", finished: bool = False, code: str = "") -> dict[str, Any]:
    return {
        "payment_id": "pay123abc",
        "amount": 5000,
        "reference": REF,
        "description": "Council tax payment",
        "state": {"status": status, "finished": finished, **({"code": code} if code else {})},
        "metadata": {
            "service": "council_tax",
            "journey": "pay_council_tax",
            "account_reference": REF,
            "amount_pence": 5000,
            "conversation": "test-resident",
        },
        "_links": {"next_url": {"href": PAY_URL}} if not finished else {},
    }


async def test_yes_gives_a_pay_link_with_a_key_per_payment_and_never_logs_it(fake, caplog):
    office = fake(**{"v1__payments": httpx.Response(201, json=pay_payment())})
    caplog.set_level(logging.DEBUG)
    form = ct.ValidatePayCouncilTaxForm()
    for _ in range(2):  # a re-sent "yes" makes no second payment: the same key gives the same one
        tracker = turn(
            "pay_council_tax_form", "yes", "affirm", asked="confirm", slots={**PAYING, "ct_amount": 5000}
        )
        slots, dispatcher = await validate(form, tracker)
    assert PAY_URL in texts(dispatcher)[0] and "Pay £50 securely" in texts(dispatcher)[0]
    assert slots["confirm"] is True and slots["requested_slot"] == "ct_paid"
    assert slots["ct_payment"] == {"payment_id": "pay123abc", "amount_pence": 5000, "account_reference": REF}
    assert PAY_URL not in json.dumps(slots)
    assert {h["Idempotency-Key"] for h in office.headers("/v1/payments")} == {"pay-council-tax-k-5000"}
    assert office.sent("/v1/payments")[0]["metadata"] == {
        "service": "council_tax",
        "journey": "pay_council_tax",
        "account_reference": REF,
        "amount_pence": 5000,
        "conversation": "test-resident",
    }
    assert PAY_URL not in caplog.text and "one-use-token" not in caplog.text


async def test_saying_no_at_the_confirmation_takes_no_payment(fake):
    office = fake()
    slots, _ = await validate(
        ct.ValidatePayCouncilTaxForm(),
        turn("pay_council_tax_form", "no", "deny", asked="confirm", slots={**PAYING, "ct_amount": 5000}),
    )
    assert slots["confirm"] is False and slots["requested_slot"] is None
    dispatcher = CollectingDispatcher()
    events = await ct.ActionPayCouncilTax().run(
        dispatcher, make_tracker(slots={**PAYING, "ct_amount": 5000, "confirm": False}), DOMAIN
    )
    assert not office.sent("/v1/payments") and events[-1]["value"]["outcome"] == "cancelled"


WAITING = {
    **PAYING,
    "ct_amount": 5000,
    "confirm": True,
    "ct_payment": {"payment_id": "pay123abc", "amount_pence": 5000, "account_reference": REF},
}
RECORDED = {
    "paymentId": "pay123abc",
    "accountReference": REF,
    "amountPence": 5000,
    "recordedAt": "2026-11-30T10:05:00+00:00",
    "balancePence": 35864,
}


async def back_from_paying(text: str = "I've paid", intent: str = "pay_council_tax"):
    return await validate(
        ct.ValidatePayCouncilTaxForm(),
        turn("pay_council_tax_form", text, intent, asked="ct_paid", slots=WAITING),
    )


async def test_back_from_paying_the_payment_is_recorded_and_a_receipt_given(fake):
    office = fake(
        **{
            "v1__payments__pay123abc": httpx.Response(200, json=pay_payment("success", True)),
            f"accounts__{REF}__payments": httpx.Response(201, json=RECORDED),
        }
    )
    slots, _ = await back_from_paying()
    assert office.sent(f"/accounts/{REF}/payments") == [{"paymentId": "pay123abc", "amountPence": 5000}]
    assert slots["ct_paid"]["status"] == "recorded" and slots["requested_slot"] is None
    dispatcher = CollectingDispatcher()
    events = await ct.ActionPayCouncilTax().run(dispatcher, make_tracker(slots={**WAITING, **slots}), DOMAIN)
    assert "received your council tax payment of £50" in texts(dispatcher)[0]
    assert "Your payment reference is pay123abc" in texts(dispatcher)[0]
    assert "Left to pay this year: £358.64" in texts(dispatcher)[0]
    assert events[-1]["value"] == {
        "outcome": "completed",
        "intent": "pay_council_tax",
        "reference": "pay123abc",
    }
    assert {"event": "slot", "name": "ct_payment", "value": None} in [
        {k: e.get(k) for k in ("event", "name", "value")} for e in events
    ]


async def test_pay_webhook_alone_records_a_council_tax_payment_the_resident_never_came_back_for(
    fake, memory_outbox
):
    from actions.payments import Status, complete_payment

    office = fake(
        **{
            "v1__payments__pay123abc": httpx.Response(200, json=pay_payment("success", True)),
            f"accounts__{REF}__payments": httpx.Response(201, json=RECORDED),
        }
    )
    done = await complete_payment("pay123abc")  # what GOV.UK Pay's webhook runs
    assert done.status is Status.NOT_OURS  # not a garden waste renewal...
    # ...but the council tax account is credited, once per payment id
    assert office.sent(f"/accounts/{REF}/payments") == [{"paymentId": "pay123abc", "amountPence": 5000}]
    assert memory_outbox.get("council_tax_payment-pay123abc") is None


async def test_not_paid_yet_keeps_waiting(fake):
    fake(**{"v1__payments__pay123abc": httpx.Response(200, json=pay_payment("started", False))})
    slots, dispatcher = await back_from_paying("done", "inform")
    assert slots["ct_paid"] is None and slots["requested_slot"] == "ct_paid"
    assert "hasn't finished yet" in texts(dispatcher)[0]


async def test_a_question_while_waiting_is_not_taken_for_i_have_paid(fake):
    office = fake()
    slots, _ = await back_from_paying("how much do i owe", "council_tax_balance")
    assert "ct_paid" not in slots and not office.sent("/v1/payments/pay123abc")


async def test_a_declined_payment_records_nothing_and_says_how_to_try_again(fake):
    office = fake(
        **{"v1__payments__pay123abc": httpx.Response(200, json=pay_payment("failed", True, "P0010"))}
    )
    slots, _ = await back_from_paying()
    assert not office.sent(f"/accounts/{REF}/payments")
    dispatcher = CollectingDispatcher()
    events = await ct.ActionPayCouncilTax().run(dispatcher, make_tracker(slots={**WAITING, **slots}), DOMAIN)
    assert "no money has been taken" in texts(dispatcher)[0]
    assert "/pay_council_tax" in [b["payload"] for b in buttons(dispatcher)]
    assert events[-1]["value"] == {
        "outcome": "abandoned",
        "intent": "pay_council_tax",
        "step": "payment",
        "reason": "P0010",
    }


async def test_a_payment_taken_while_the_council_tax_system_is_down_is_kept_to_record_later(
    fake, memory_outbox
):
    fake(
        **{
            "v1__payments__pay123abc": httpx.Response(200, json=pay_payment("success", True)),
            f"accounts__{REF}__payments": httpx.Response(503),
        }
    )
    slots, _ = await back_from_paying()
    dispatcher = CollectingDispatcher()
    await ct.ActionPayCouncilTax().run(dispatcher, make_tracker(slots={**WAITING, **slots}), DOMAIN)
    assert "You don't need to pay again" in texts(dispatcher)[0]
    kept = memory_outbox.get("council_tax_payment-pay123abc")
    assert kept is not None and kept.kind == "council_tax_payment"
    assert kept.payload == {"account_reference": REF, "payment_id": "pay123abc", "amount_pence": 5000}


async def test_the_outbox_worker_records_a_kept_payment(fake):
    from integrations.outbox import HANDLERS, OutboxItem

    office = fake(**{f"accounts__{REF}__payments": httpx.Response(201, json=RECORDED)})
    item = OutboxItem(
        1,
        "council_tax_payment-pay123abc",
        "council_tax_payment",
        "pay_council_tax",
        "council_tax",
        "c",
        {"account_reference": REF, "payment_id": "pay123abc", "amount_pence": 5000},
        "working",
        0,
        None,
        None,
        None,
    )
    from actions.clients import clients

    done = await HANDLERS["council_tax_payment"](clients(), item)
    assert done.result == {"payment_id": "pay123abc"} and "£50" in done.message
    assert office.sent(f"/accounts/{REF}/payments") == [{"paymentId": "pay123abc", "amountPence": 5000}]


async def test_pay_down_when_checking_is_said_honestly(fake):
    fake(**{"v1__payments__pay123abc": httpx.Response(503)})
    slots, _ = await back_from_paying()
    dispatcher = CollectingDispatcher()
    events = await ct.ActionPayCouncilTax().run(dispatcher, make_tracker(slots={**WAITING, **slots}), DOMAIN)
    assert "can't check your payment right now" in texts(dispatcher)[0]
    assert events[-1]["value"]["outcome"] == "integration_failed"


async def test_completion_records_only_successful_council_tax_payments(fake):
    from integrations.payments import Payment

    office = fake()
    failed = Payment.from_api(pay_payment("failed", True, "P0030"))
    garden = Payment.from_api({**pay_payment("success", True), "metadata": {"service": "waste"}})
    assert await ct.complete_council_tax_payment(failed) is None
    assert await ct.complete_council_tax_payment(garden) is None
    assert not office.sent(f"/accounts/{REF}/payments")


# --- moving home -------------------------------------------------------------------------

MOVING = {"account_reference": REF, "ct_verification": VERIFIED, "ct_account": FACTS, "ct_key": "moving-k"}
MOVING_AWAY = {
    **MOVING,
    "date": "2026-12-20",
    "moving_within": False,
    "ct_address_text": "4 Quay Street, Bristol BS1 4DJ",
}
DPA = [
    {
        "DPA": {
            "UPRN": str(100 + i),
            "ADDRESS": f"{i}, HIGH STREET, CALNE, SN11 0AA",
            "BUILDING_NUMBER": str(i),
            "THOROUGHFARE_NAME": "HIGH STREET",
            "POST_TOWN": "CALNE",
            "POSTCODE": "SN11 0AA",
        }
    }
    for i in range(1, 4)
]


async def test_moving_within_the_area_asks_for_the_new_postcode_then_the_address(fake):
    fake(postcode=httpx.Response(200, json={"header": {"totalresults": 3}, "results": DPA}))
    form = ct.ValidateCouncilTaxMovingForm()
    slots, _ = await validate(
        form,
        date_turn("council_tax_moving_form", "20 December", "2026-12-20", MOVING),
    )
    assert slots["date"] == "2026-12-20" and slots["requested_slot"] == "moving_within"
    slots, _ = await validate(
        form,
        turn(
            "council_tax_moving_form",
            "Yes, in the area",
            "affirm",
            asked="moving_within",
            slots={**MOVING, "date": "2026-12-20"},
        ),
    )
    assert slots["moving_within"] is True and slots["requested_slot"] == "new_postcode"
    state = {**MOVING, "date": "2026-12-20", "moving_within": True}
    slots, _ = await validate(
        form,
        turn(
            "council_tax_moving_form",
            "SN11 0AA",
            entities={"postcode": "SN11 0AA"},
            asked="new_postcode",
            slots=state,
        ),
    )
    assert slots["new_postcode"] == "SN11 0AA" and len(slots["address_options"]) == 3
    assert slots["requested_slot"] == "address"


async def test_a_new_address_not_listed_is_taken_as_text(fake):
    fake()
    state = {
        **MOVING,
        "date": "2026-12-20",
        "moving_within": True,
        "new_postcode": "SN11 0AA",
        "address_options": [{"uprn": "101", "label": "1 High Street"}],
    }
    slots, _ = await validate(
        ct.ValidateCouncilTaxMovingForm(),
        turn("council_tax_moving_form", "My address isn't listed", asked="address", slots=state),
    )
    assert slots["uprn"] == ct.NOT_LISTED and slots["requested_slot"] == "ct_address_text"


async def test_moving_away_asks_for_a_forwarding_address(fake):
    fake()
    slots, _ = await validate(
        ct.ValidateCouncilTaxMovingForm(),
        turn(
            "council_tax_moving_form",
            "No, I'm moving away",
            "deny",
            asked="moving_within",
            slots={**MOVING, "date": "2026-12-20"},
        ),
    )
    assert slots["moving_within"] is False and slots["requested_slot"] == "ct_address_text"
    ask = CollectingDispatcher()
    await ct.ActionAskCtAddressText().run(ask, make_tracker(slots={"moving_within": False}), DOMAIN)
    assert "final bill" in texts(ask)[0]


async def test_a_moving_date_too_far_ahead_is_refused(fake):
    fake()
    slots, dispatcher = await validate(
        ct.ValidateCouncilTaxMovingForm(),
        date_turn("council_tax_moving_form", "next june", "2027-06-01", MOVING),
    )
    assert slots["date"] is None and "next 90 days" in texts(dispatcher)[0]


async def test_a_move_is_read_back_before_it_is_recorded():
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots=MOVING_AWAY)
    await ct.ActionAskMovingConfirm().run(dispatcher, tracker, DOMAIN)
    assert texts(dispatcher) == [
        "You're moving out of 1 Market Place on Sunday 20 December, away from our area. We'll send your "
        "final "
        "bill to 4 Quay Street, Bristol BS1 4DJ. Is that right?"
    ]


async def test_a_confirmed_move_is_recorded_with_the_journey_key_and_confirmed_by_email(fake):
    office = fake(**{f"accounts__{REF}__moving-home": httpx.Response(201, json=council_request())})
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        slots={
            **MOVING,
            "date": "2026-12-20",
            "moving_within": True,
            "uprn": "102",
            "address": "2 High Street",
            "new_postcode": "SN11 0AA",
            "confirm": True,
            "ct_contact": {"method": "email", "value": "jo@example.com"},
        }
    )
    events = await ct.ActionCouncilTaxMovingHome().run(dispatcher, tracker, DOMAIN)
    assert office.sent("/moving-home") == [
        {
            "movingOutDate": "2026-12-20",
            "movingWithinArea": True,
            "newUprn": "102",
            "newAddress": None,
            "forwardingAddress": None,
        }
    ]
    assert office.headers("/moving-home")[0]["Idempotency-Key"] == "moving-k"
    assert "Your reference is CT-204518" in texts(dispatcher)[0]
    assert "Monday 14 December" in texts(dispatcher)[0]
    email = office.sent("/v2/notifications/email")[0]
    assert email["email_address"] == "jo@example.com"
    assert email["personalisation"] == {
        "change": "moving out on Sunday 20 December",
        "reference": "CT-204518",
    }
    assert events[-1]["value"] == {
        "outcome": "completed",
        "intent": "council_tax_moving_home",
        "reference": "CT-204518",
    }
    assert any(e.get("name") == "date" and e["value"] is None for e in events)  # the journey's slots cleared


async def test_a_move_not_recorded_because_the_system_is_down_is_kept(fake, memory_outbox):
    fake(**{f"accounts__{REF}__moving-home": httpx.Response(503)})
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={**MOVING_AWAY, "confirm": True})
    events = await ct.ActionCouncilTaxMovingHome().run(dispatcher, tracker, DOMAIN)
    assert "I've saved your request" in texts(dispatcher)[0]
    kept = memory_outbox.get("moving-k")  # the worker makes it with the journey's own key
    assert kept.kind == "council_tax_moving_home"
    assert kept.payload == {
        "account_reference": REF,
        "postcode": POSTCODE,
        "moving_out_date": "2026-12-20",
        "within_area": False,
        "new_uprn": None,
        "new_address": None,
        "forwarding_address": "4 Quay Street, Bristol BS1 4DJ",
    }
    assert events[-1]["value"]["outcome"] == "integration_failed"


async def test_a_move_already_reported_is_said_plainly(fake):
    fake(**{f"accounts__{REF}__moving-home": error(409, "move_already_reported")})
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={**MOVING_AWAY, "confirm": True})
    events = await ct.ActionCouncilTaxMovingHome().run(dispatcher, tracker, DOMAIN)
    assert "already have a move recorded" in texts(dispatcher)[0]
    assert events[-1]["value"]["reason"] == "move_already_reported"


# --- single person discount --------------------------------------------------------------


async def test_already_receiving_the_discount_is_said_and_the_journey_ends(fake):
    fake(**{f"accounts__{REF}": httpx.Response(200, json=account(singlePersonDiscount=True))})
    slots, dispatcher = await validate(
        ct.ValidateCouncilTaxDiscountForm(),
        postcode_turn("council_tax_discount_form"),
    )
    assert slots["ct_ended"] is True and slots["outcome"]["reason"] == "already_receiving_discount"
    assert "already gets the single person discount" in texts(dispatcher)[0]


async def test_a_date_without_a_year_is_the_one_that_has_passed(fake):
    fake()
    slots, _ = await validate(
        ct.ValidateCouncilTaxDiscountForm(),
        date_turn("council_tax_discount_form", "1 October", "2027-10-01", MOVING),
    )
    assert slots["date"] == "2026-10-01"


async def test_a_living_alone_date_in_the_future_is_refused(fake):
    fake()
    slots, dispatcher = await validate(
        ct.ValidateCouncilTaxDiscountForm(),
        date_turn("council_tax_discount_form", "next week", "2026-12-07", MOVING),
    )
    assert slots["date"] is None and "today or earlier" in texts(dispatcher)[0]


async def test_a_discount_application_gets_a_reference_and_a_text_confirmation(fake):
    office = fake(
        **{
            "single-person-discount": httpx.Response(
                201, json=council_request("CT-300111", "single_person_discount")
            )
        }
    )
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        slots={
            **MOVING,
            "date": "2026-10-01",
            "confirm": True,
            "ct_contact": {"method": "sms", "value": "07700900123"},
        }
    )
    events = await ct.ActionCouncilTaxDiscount().run(dispatcher, tracker, DOMAIN)
    assert office.sent("/single-person-discount") == [{"livingAloneFrom": "2026-10-01"}]
    assert "Your reference is CT-300111" in texts(dispatcher)[0]
    assert office.sent("/v2/notifications/sms")[0]["phone_number"] == "07700900123"
    assert events[-1]["value"]["outcome"] == "completed"


@pytest.mark.parametrize(
    ("answer", "intent", "entities", "expected"),
    [
        (
            "jo@example.com",
            "inform",
            {"email": "jo@example.com"},
            {"method": "email", "value": "jo@example.com"},
        ),
        (
            "07700 900123",
            "inform",
            {"phone_number": "07700900123"},
            {"method": "sms", "value": "07700900123"},
        ),
        ("No thanks", "deny", {}, "none"),
        ("01225 713000", "inform", {"phone_number": "01225713000"}, None),
    ],
)
async def test_contact_details_for_a_confirmation(fake, answer, intent, entities, expected):
    fake()
    slots, _ = await validate(
        ct.ValidateCouncilTaxDiscountForm(),
        turn(
            "council_tax_discount_form",
            answer,
            intent,
            entities,
            asked="ct_contact",
            slots={**MOVING, "date": "2026-10-01"},
        ),
    )
    assert slots["ct_contact"] == expected


# --- direct debit ------------------------------------------------------------------------

DD = {
    "active": True,
    "paymentDay": 1,
    "allowedDays": [1, 8, 15, 22, 28],
    "nextCollection": {"dueDate": "2026-12-01", "amountPence": 20432},
}


async def test_without_a_direct_debit_the_secure_form_link_is_given_never_logged(fake, caplog):
    fake(
        **{
            "direct-debit": httpx.Response(200, json={"active": False, "paymentDay": None}),
            "setup-links": httpx.Response(
                201, json={"url": SETUP_URL, "expiresAt": "2026-11-30T11:00:00+00:00"}
            ),
        }
    )
    caplog.set_level(logging.DEBUG)
    slots, _ = await validate(
        ct.ValidateCouncilTaxDirectDebitForm(),
        postcode_turn("council_tax_direct_debit_form"),
    )
    assert slots["dd_action"] == "setup" and slots["requested_slot"] is None
    dispatcher = CollectingDispatcher()
    events = await ct.ActionCouncilTaxDirectDebit().run(
        dispatcher,
        make_tracker(slots={"account_reference": REF, "ct_verification": VERIFIED, "dd_action": "setup"}),
        DOMAIN,
    )
    assert SETUP_URL in texts(dispatcher)[0] and "never in this chat" in texts(dispatcher)[0]
    assert "secret-session" not in caplog.text
    assert events[-1]["value"] == {
        "outcome": "informed",
        "intent": "council_tax_direct_debit",
        "action": "setup_link",
    }


async def test_with_a_direct_debit_the_resident_chooses_what_to_change(fake):
    fake(**{"direct-debit": httpx.Response(200, json=DD)})
    slots, dispatcher = await validate(
        ct.ValidateCouncilTaxDirectDebitForm(),
        postcode_turn("council_tax_direct_debit_form"),
    )
    assert slots["dd_action"] is None and slots["requested_slot"] == "dd_action"
    assert "taken on the 1st of each month" in texts(dispatcher)[0]


async def test_a_payment_day_we_cannot_use_is_refused_and_the_same_day_changes_nothing(fake):
    fake()
    form = ct.ValidateCouncilTaxDirectDebitForm()
    state = {
        "account_reference": REF,
        "ct_verification": VERIFIED,
        "ct_account": {"active": True, "day": 1},
        "dd_action": "change_day",
    }
    slots, dispatcher = await validate(
        form,
        turn(
            "council_tax_direct_debit_form",
            "the 20th",
            entities={"date": "2026-12-20"},
            asked="dd_day",
            slots=state,
        ),
    )
    assert slots["dd_day"] is None and "1st, 8th, 15th, 22nd or 28th" in texts(dispatcher)[0]
    slots, dispatcher = await validate(
        form, turn("council_tax_direct_debit_form", "1st", asked="dd_day", slots=state)
    )
    assert slots["ct_ended"] is True and "already taken on the 1st" in texts(dispatcher)[0]
    slots, _ = await validate(
        form, turn("council_tax_direct_debit_form", "15th", asked="dd_day", slots=state)
    )
    assert slots["dd_day"] == 15 and slots["requested_slot"] == "ct_contact"


async def test_a_confirmed_day_change_gets_a_reference(fake):
    office = fake(
        **{
            "direct-debit": httpx.Response(
                200,
                json={
                    "paymentDay": 15,
                    "changed": True,
                    "effectiveFrom": "2026-12-15",
                    "reference": "CT-612463",
                },
            )
        }
    )
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(
        slots={
            "account_reference": REF,
            "ct_verification": VERIFIED,
            "dd_action": "change_day",
            "dd_day": 15,
            "confirm": True,
            "ct_contact": "none",
        }
    )
    events = await ct.ActionCouncilTaxDirectDebit().run(dispatcher, tracker, DOMAIN)
    assert office.sent("/direct-debit") == [{"paymentDay": 15}]
    assert "taken on the 15th of each month from Tuesday 15 December" in texts(dispatcher)[0]
    assert "CT-612463" in texts(dispatcher)[0]
    assert events[-1]["value"]["reference"] == "CT-612463"
    assert not office.sent("/v2/notifications/sms") and not office.sent("/v2/notifications/email")


async def test_changing_the_bank_account_is_explained_without_asking_for_details(fake):
    fake()
    dispatcher = CollectingDispatcher()
    await ct.ActionCouncilTaxDirectDebit().run(
        dispatcher,
        make_tracker(slots={"account_reference": REF, "ct_verification": VERIFIED, "dd_action": "bank"}),
        DOMAIN,
    )
    assert "Current Account Switch Service" in texts(dispatcher)[0]
    assert "/request_human" in [b["payload"] for b in buttons(dispatcher)]


def test_addresses_and_amounts_read_the_way_residents_write_them():
    assert (
        ct.short_address("8, LANGLEY ROAD, LANGLEY BURRELL, CHIPPENHAM, SN15 4LT")
        == "8 Langley Road, Langley Burrell"
    )
    assert ct.amount_in("£1,200.50") == 120050
    assert ct.amount_in(f"account {REF}") is None
    assert [ct.ordinal(d) for d in (1, 2, 3, 11, 22, 28)] == ["1st", "2nd", "3rd", "11th", "22nd", "28th"]
