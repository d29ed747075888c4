"""Garden waste payments: the payment link, and finishing a renewal once, however often it is asked."""

from __future__ import annotations

import asyncio

import pytest

from actions.payments import (
    RenewalOrder,
    Status,
    complete_payment,
    finish_kept_renewal,
    follow_up_key,
    renewal_payment,
)
from integrations.errors import IntegrationError, Rejected, Unavailable
from tests.support.waste_backoffice import FakeBackOffice

ORDER = RenewalOrder(
    uprn="101",
    address="1 Market Place",
    bins=2,
    total_pence=9200,
    kind="renewal",
    renewal_key="gw-abc123",
    conversation="resident-1",
    email="jo@example.com",
)


@pytest.fixture
def office(backoffice, memory_outbox):
    fake = FakeBackOffice()
    backoffice(fake)
    return fake


async def paid_payment(office: FakeBackOffice, order: RenewalOrder = ORDER) -> str:
    payment = await renewal_payment(order, 1)
    office.pay(payment.payment_id)
    return payment.payment_id


async def test_the_payment_link_is_made_once_per_attempt_and_carries_what_finishes_the_renewal(office):
    first = await renewal_payment(ORDER, 1)
    again = await renewal_payment(ORDER, 1)
    assert again.payment_id == first.payment_id and office.created("POST", "/v1/payments") == 2
    assert len(office.payments) == 1
    stored = office.payments[first.payment_id]
    assert stored["key"] == "gw-abc123-1" and stored["amount"] == 9200 and stored["email"] == "jo@example.com"
    assert stored["metadata"] == {
        "service": "garden_waste",
        "uprn": "101",
        "bins": 2,
        "renewal_key": "gw-abc123",
        "address": "1 Market Place",
        "conversation": "resident-1",
    }
    assert first.next_url  # the resident's page
    second = await renewal_payment(ORDER, 2)
    assert (
        second.payment_id != first.payment_id and office.payments[second.payment_id]["key"] == "gw-abc123-2"
    )


async def test_a_conversation_id_too_long_for_pay_is_left_out_of_the_metadata(office):
    order = RenewalOrder(**{**ORDER.__dict__, "conversation": "x" * 101})
    assert "conversation" not in order.metadata()


async def test_an_unpaid_payment_renews_nothing(office):
    payment = await renewal_payment(ORDER, 1)
    done = await complete_payment(payment.payment_id)
    assert done.status is Status.UNPAID and done.pay_status == "created"
    assert office.subscriptions == {} and office.sent == []


async def test_a_declined_payment_renews_nothing_and_says_why(office):
    payment = await renewal_payment(ORDER, 1)
    office.pay(payment.payment_id, "failed", "P0010")
    done = await complete_payment(payment.payment_id)
    assert done.status is Status.FAILED and done.failure_code == "P0010" and not done.paid
    assert office.created("POST", "/waste/") == 0


async def test_a_success_renews_with_the_payment_and_renewal_key_and_confirms_once(office):
    payment_id = await paid_payment(office)
    done = await complete_payment(payment_id)
    assert done.status is Status.RENEWED and done.notified == "email" and done.conversation == "resident-1"
    assert list(office.subscriptions) == ["gw-abc123"]
    assert office.subscriptions["gw-abc123"]["paymentId"] == payment_id
    [message] = office.sent
    assert message["email_address"] == "jo@example.com"
    assert message["personalisation"] == {
        "address": "1 Market Place",
        "end_date": "17 December 2027",
        "reference": done.subscription.reference,
    }
    again = await complete_payment(payment_id)  # the webhook, then the resident's "done"
    assert again.status is Status.RENEWED and again.subscription.reference == done.subscription.reference
    assert again.notified is None and len(office.sent) == 1


async def test_running_twice_at_the_same_time_renews_once_and_confirms_once(office):
    payment_id = await paid_payment(office)
    first, second = await asyncio.gather(complete_payment(payment_id), complete_payment(payment_id))
    assert {first.status, second.status} == {Status.RENEWED}
    assert len(office.subscriptions) == 1 and len(office.sent) == 1


async def test_a_text_confirmation_goes_to_the_mobile_number(office):
    order = RenewalOrder(**{**ORDER.__dict__, "email": None, "phone": "07700900123"})
    done = await complete_payment(await paid_payment(office, order))
    assert done.notified == "sms" and office.sent[0]["phone_number"] == "07700900123"


async def test_no_contact_no_confirmation(office):
    order = RenewalOrder(**{**ORDER.__dict__, "email": None})
    done = await complete_payment(await paid_payment(office, order))
    assert done.status is Status.RENEWED and done.notified is None and office.sent == []


async def test_paid_but_waste_system_down_is_kept_then_finished_by_the_outbox(office, memory_outbox):
    payment_id = await paid_payment(office)
    office.fail("/waste/")
    done = await complete_payment(payment_id)
    assert done.status is Status.KEPT and done.paid
    item = memory_outbox.get(follow_up_key("gw-abc123"))
    assert item.status == "pending" and item.payload == {"payment_id": payment_id}  # no personal data kept
    office.heal()
    done = await complete_payment(payment_id)  # the resident's "done", or the webhook again
    assert done.status is Status.RENEWED and memory_outbox.get(follow_up_key("gw-abc123")).status == "done"
    assert len(office.sent) == 1


async def test_the_outbox_worker_finishes_a_kept_renewal_or_asks_to_retry(office, memory_outbox, backoffice):
    from actions.clients import clients

    payment_id = await paid_payment(office)
    office.fail("/waste/")
    await complete_payment(payment_id)
    item = memory_outbox.get(follow_up_key("gw-abc123"))
    with pytest.raises(Unavailable):
        await finish_kept_renewal(clients(), item)
    office.heal()
    completed = await finish_kept_renewal(clients(), item)
    assert completed.result["reference"].startswith("GW-") and "has now gone through" in completed.message


async def test_paid_but_refused_needs_a_person(office, memory_outbox):
    payment_id = await paid_payment(office)
    office.fail("/waste/", 409)
    done = await complete_payment(payment_id)
    assert done.status is Status.REFUSED
    assert memory_outbox.get(follow_up_key("gw-abc123")).status == "needs_person"
    from actions.clients import clients

    with pytest.raises(Rejected):
        await finish_kept_renewal(clients(), memory_outbox.get(follow_up_key("gw-abc123")))


async def test_notify_down_still_renews_and_keeps_the_confirmation(office, memory_outbox):
    payment_id = await paid_payment(office)
    office.fail("/v2/notifications")
    done = await complete_payment(payment_id)
    assert done.status is Status.RENEWED and done.notified is None
    item = memory_outbox.get(f"renewal_confirmation:{payment_id}")
    assert item.payload == {"payment_id": payment_id, "reference": done.subscription.reference}


async def test_another_services_payment_is_not_ours(office):
    payment = await renewal_payment(ORDER, 1)
    office.payments[payment.payment_id]["metadata"] = {"service": "council_tax"}
    office.pay(payment.payment_id)
    assert (await complete_payment(payment.payment_id)).status is Status.NOT_OURS
    assert office.subscriptions == {}


async def test_pay_down_raises_and_does_nothing(office):
    payment_id = await paid_payment(office)
    office.fail("/v1/payments")
    with pytest.raises(IntegrationError):
        await complete_payment(payment_id)
    assert office.subscriptions == {}
