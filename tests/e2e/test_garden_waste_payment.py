"""Garden waste renewal end to end: first message, Rasa, actions, sandbox Pay page, webhook, renewed.

The resident's browser is an HTTP client that keeps cookies: it opens the
payment link and presses a button on the payment page (a form POST), as a
browser would. The sandbox then sends GOV.UK Pay's signed webhook to the
Rasa server's GOV.UK Pay channel, which renews the subscription in the waste
system before the resident says anything more.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from integrations.errors import Rejected
from integrations.payments import PaymentsClient
from integrations.settings import Settings
from tests.support.transcript import Chat

pytestmark = pytest.mark.e2e

LINK = re.compile(r"https?://\S+/pay/\S+")


def demo_case(sandbox: Any, name: str) -> dict[str, Any]:
    return next(c for c in sandbox.rows("waste_demo_cases") if c["name"] == name)


def house_number(case: dict[str, Any]) -> str:
    return case["note"].split(",")[0]


def press_on_payment_page(link: str, button: str) -> tuple[str, httpx.Response]:
    """Open the payment link and press a button, as a browser does; the payment id and the answer."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        opened = browser.get(link)
        assert opened.status_code == 303, opened.text
        card_page = opened.headers["location"]
        page = browser.get(httpx.URL(link).join(card_page))
        assert page.status_code == 200 and "<form" in page.text
        pressed = browser.post(httpx.URL(link).join(card_page), data={"action": button})
    return card_page.rsplit("/", 1)[-1], pressed


def wait_for(probe: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def subscriptions_paid_by(sandbox: Any, payment_id: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.rows("waste_garden_subscriptions") if r["payment_id"] == payment_id]


def outcomes(stack: Any, sender: str) -> list[dict[str, Any]]:
    return [
        e["value"]
        for e in stack.tracker(sender)["events"]
        if e.get("event") == "slot" and e.get("name") == "outcome" and e.get("value")
    ]


def up_to_the_payment_link(chat: Chat, sandbox: Any, email: str | None = "jo@example.com") -> str:
    case = demo_case(sandbox, "garden_current_renewable")  # 1 Market Place, SN15 1ER: renewable now
    assert "postcode" in chat.say("I want to renew my garden waste").lower()
    assert "house number" in chat.say("SN15 1ER").lower()
    answer = chat.say(house_number(case))
    assert "Your garden waste collection at 1 Market Place is paid until" in answer
    assert "You can renew it now" in answer and "How many garden waste bins do you want?" in answer
    assert "confirmation by email or text" in chat.say("2 bins")
    answer = chat.say(email or "no thanks")
    assert "for 2 bins" in answer and "The total is £92." in answer
    answer = chat.say("yes")
    assert "Pay £92 with GOV.UK Pay" in answer
    return LINK.search(answer).group(0)


def test_garden_waste_renewal_from_first_message_through_pay_page_and_webhook(stack, clean_sandbox):
    chat = Chat(stack, "renew_garden_waste")
    before = {r["reference"] for r in clean_sandbox.rows("waste_garden_subscriptions")}
    link = up_to_the_payment_link(chat, clean_sandbox)
    chat.note(
        "The resident opens the link: GOV.UK Pay shows 'Pay £92.00' for the garden waste renewal. "
        "They pay with their card and are sent back to the council's page."
    )
    payment_id, pressed = press_on_payment_page(link, "pay")
    assert pressed.status_code == 303

    # The webhook alone renews it: the resident has said nothing since paying.
    [renewed] = wait_for(
        lambda: subscriptions_paid_by(clean_sandbox, payment_id), "the renewal in the waste system"
    )
    assert renewed["reference"] not in before and renewed["bins"] == 2 and renewed["uprn"] == "100121000007"
    assert renewed["amount_pence"] == 9200 and renewed["start_date"] > renewed["created_at"][:10]

    def delivered() -> list[dict[str, Any]]:
        messages = [w for w in clean_sandbox.rows("pay_webhook_messages") if w["payment_id"] == payment_id]
        return messages if messages and all(w["last_status_code"] == 200 for w in messages) else []

    assert {w["event_type"] for w in wait_for(delivered, "the webhooks answered 200")} == {
        "card_payment_succeeded",
        "card_payment_captured",
    }
    sent = wait_for(
        lambda: [n for n in clean_sandbox.rows("notify_notifications") if n["recipient"] == "jo@example.com"],
        "the confirmation email",
    )
    assert len(sent) == 1 and renewed["reference"] in sent[0]["body"]
    chat.note(f'GOV.UK Notify emails jo@example.com: "{sent[0]["subject"]}. {sent[0]["body"]}"')

    chat.note("Back in the chat:")
    answer = chat.say("done")
    assert f"Your reference is {renewed['reference']}." in answer
    assert "is renewed until" in answer and "We've emailed you a confirmation." in answer
    assert len(subscriptions_paid_by(clean_sandbox, payment_id)) == 1
    assert (
        len([n for n in clean_sandbox.rows("notify_notifications") if n["recipient"] == "jo@example.com"])
        == 1
    )
    assert outcomes(stack, chat.sender)[-1] == {
        "outcome": "completed",
        "intent": "renew_garden_waste",
        "subscription": "renewal",
        "bins": 2,
    }
    chat.save(
        "Renew garden waste collection",
        "A resident at 1 Market Place, Chippenham, renews their garden waste collection for two bins, pays "
        "on GOV.UK Pay and comes back to the chat. GOV.UK Pay's webhook has already renewed the "
        "subscription and the confirmation email has gone by the time they say 'done'.",
    )


def test_a_declined_payment_changes_nothing_and_a_new_link_pays_once(stack, clean_sandbox):
    chat = Chat(stack, "garden_waste_declined")
    before = {r["reference"] for r in clean_sandbox.rows("waste_garden_subscriptions")}
    link = up_to_the_payment_link(chat, clean_sandbox, email=None)
    declined_id, _ = press_on_payment_page(link, "decline")
    wait_for(
        lambda: [
            w
            for w in clean_sandbox.rows("pay_webhook_messages")
            if w["payment_id"] == declined_id and w["last_status_code"] == 200
        ],
        "the failed webhook",
    )
    answer = chat.say("done")
    assert "Your card payment was declined. No money has been taken" in answer
    assert subscriptions_paid_by(clean_sandbox, declined_id) == []
    new_link = LINK.search(answer).group(0)
    assert new_link != link
    paid_id, _ = press_on_payment_page(new_link, "pay")
    assert paid_id != declined_id
    [renewed] = wait_for(lambda: subscriptions_paid_by(clean_sandbox, paid_id), "the renewal")
    assert f"Your reference is {renewed['reference']}." in chat.say("I've paid")
    assert [
        r
        for r in clean_sandbox.rows("waste_garden_subscriptions")
        if r["uprn"] == "100121000007" and r["reference"] not in before
    ] == [renewed]  # one new subscription: the declined payment made none


def test_without_a_webhook_the_residents_done_checks_the_payment_and_renews(stack, clean_sandbox):
    chat = Chat(stack, "garden_waste_no_webhook")
    httpx.put(clean_sandbox.url + "/_admin/pay/webhook-url", json={"url": None}).raise_for_status()
    link = up_to_the_payment_link(chat, clean_sandbox)
    payment_id, _ = press_on_payment_page(link, "pay")
    assert subscriptions_paid_by(clean_sandbox, payment_id) == []  # nobody told the council yet
    answer = chat.say("I've paid")
    [renewed] = subscriptions_paid_by(clean_sandbox, payment_id)
    assert f"Your reference is {renewed['reference']}." in answer
    chat.say("done")  # said again after it is all done: nothing more is renewed or paid
    assert len(subscriptions_paid_by(clean_sandbox, payment_id)) == 1


def test_paid_while_the_waste_system_is_down_is_kept_and_the_resident_told(stack, clean_sandbox):
    chat = Chat(stack, "garden_waste_fault")
    link = up_to_the_payment_link(chat, clean_sandbox)
    clean_sandbox.fault(path="/waste/v1/properties/100121000007/garden-waste/subscriptions", status=503)
    payment_id, _ = press_on_payment_page(link, "pay")
    wait_for(
        lambda: [
            w
            for w in clean_sandbox.rows("pay_webhook_messages")
            if w["payment_id"] == payment_id and w["last_status_code"]
        ],
        "the webhook",
    )
    answer = chat.say("done")
    assert "Your payment has gone through, but I couldn't finish renewing" in answer
    assert "Traceback" not in answer and subscriptions_paid_by(clean_sandbox, payment_id) == []
    assert outcomes(stack, chat.sender)[-1]["outcome"] == "integration_failed"


async def test_the_sandbox_takes_a_local_http_return_page_but_not_a_remote_one(clean_sandbox):
    settings = Settings.from_env({"SANDBOX_URL": clean_sandbox.url})
    async with httpx.AsyncClient() as http:
        pay = PaymentsClient(http, settings.pay, settings.timeouts)
        for local in ("http://127.0.0.1:8000/", "http://localhost:8000/thanks"):
            made = await pay.create_payment(100, "ref", "Test", local, f"local-{len(local)}")
            assert made.return_url == local
        with pytest.raises(Rejected):
            await pay.create_payment(100, "ref", "Test", "http://council.example/", "remote-http")
