"""Council tax journeys end to end: REST channel -> Rasa -> action server -> council tax sandbox.

Each test ends with the change really present in the sandbox's state (its
``ct_*`` tables), or, for a fault, really absent. Accounts are the sandbox's
seed (``integrations/sandbox/systems/council_tax.py``): 1-8 Market Place,
SN15 1ER, one of each profile. With ``RECORD_TRANSCRIPTS=1`` the happy paths
write ``docs/transcripts/<journey>.md``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support.transcript import Chat

pytestmark = pytest.mark.e2e

DD_1ST, IN_ARREARS, PAYS_CASH = "79243506", "51344358", "59020921"
POSTCODE = "SN15 1ER"
PAY_LINK = re.compile(r"https?://\S+/pay/\S+")
FORM_LINK = re.compile(r"https?://\S+/forms/direct-debit\?session=\S+")


class CouncilTaxChat(Chat):
    """A chat whose transcript also cuts the direct debit form's one-use link short."""

    def save(self, title: str, intro: str) -> Any:
        self.lines = [
            FORM_LINK.sub(lambda m: m.group(0).split("?")[0] + "?session=…", line) for line in self.lines
        ]
        return super().save(title, intro)


def account(sandbox: Any, reference: str) -> dict[str, Any]:
    return next(a for a in sandbox.rows("ct_accounts") if a["account_ref"] == reference)


def requests_for(sandbox: Any, reference: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.rows("ct_requests") if r["account_ref"] == reference]


def reference_in(text: str) -> str:
    found = re.search(r"CT-\d{6}", text)
    assert found, text
    return found.group(0)


def press_on_payment_page(link: str, button: str = "pay") -> str:
    """Open the payment link and press a button, as a browser does; the payment id."""
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        opened = browser.get(link)
        assert opened.status_code == 303, opened.text
        card_page = httpx.URL(link).join(opened.headers["location"])
        assert "<form" in browser.get(card_page).text
        assert browser.post(card_page, data={"action": button}).status_code == 303
    return str(card_page).rsplit("/", 1)[-1]


def test_balance_after_the_check_and_nothing_before_it(stack, clean_sandbox):
    chat = CouncilTaxChat(stack, "council_tax_balance")
    assert "8-digit number" in chat.say("Hi, how much council tax do I owe?")
    assert "postcode of the home" in chat.say(DD_1ST)
    wrong = chat.say("SN15 9ZZ")
    assert "don't match our records" in wrong and "£" not in wrong and "Market Place" not in wrong
    chat.say(DD_1ST)
    answer = chat.say("sn151er")
    assert "Council tax for 1 Market Place" in answer and "(band C)" in answer
    assert "Left to pay this year: £408.64" in answer
    assert re.search(r"Next instalment: £204\.32 on \w+day \d{1,2} \w+ by direct debit", answer)
    chat.save(
        "Check your council tax balance", "A resident checks their balance; the first postcode is wrong."
    )


def test_three_failed_checks_end_the_journey_and_offer_another_route(stack, clean_sandbox):
    chat = CouncilTaxChat(stack, "ct_failed_check")
    chat.say("whats my council tax balance")
    said = []
    for wrong in ("SN15 9ZZ", "BA14 8JN", "SN11 8AA"):
        chat.say(DD_1ST)
        said.append(chat.say(wrong))
    assert "don't match our records" in said[0]
    assert "You can try once more, or talk to a person" in said[1]
    assert "can't find an account with those details" in said[2] and "0300 456 0100" in said[2]
    assert not any("£" in s for s in said)
    tracker = stack.tracker(chat.sender)
    assert not (tracker.get("active_loop") or {}).get("name")
    assert tracker["slots"]["ct_verification"] is None


def test_paying_through_gov_uk_pay_records_the_payment_on_the_account(stack, clean_sandbox):
    before = account(clean_sandbox, IN_ARREARS)["paid_pence"]
    chat = CouncilTaxChat(stack, "pay_council_tax")
    assert "8-digit number" in chat.say("I want to pay my council tax")
    chat.say(IN_ARREARS)
    assert "How much would you like to pay?" in chat.say(POSTCODE)
    assert "£50 towards the council tax for 2 Market Place" in chat.say("£50")
    answer = chat.say("yes")
    link = PAY_LINK.search(answer)
    assert link, answer
    chat.note("The resident opens the link and pays £50 on the GOV.UK Pay page.")
    payment_id = press_on_payment_page(link.group(0))
    receipt = chat.say("I've paid")
    assert "We've received your council tax payment of £50" in receipt and payment_id in receipt
    rows = [p for p in clean_sandbox.rows("ct_payments") if p["payment_id"] == payment_id]
    assert rows == [{**rows[0], "account_ref": IN_ARREARS, "amount_pence": 5000}]
    assert account(clean_sandbox, IN_ARREARS)["paid_pence"] == before + 5000
    chat.save(
        "Pay council tax", "A resident in arrears pays £50 through GOV.UK Pay and comes back for a receipt."
    )


def test_a_declined_payment_changes_nothing(stack, clean_sandbox):
    before = account(clean_sandbox, IN_ARREARS)["paid_pence"]
    chat = CouncilTaxChat(stack, "ct_declined")
    chat.say(f"pay my council tax {IN_ARREARS} {POSTCODE}")
    chat.say("The balance")
    link = PAY_LINK.search(chat.say("yes"))
    assert link
    press_on_payment_page(link.group(0), "decline")
    assert "no money has been taken" in chat.say("done")
    assert account(clean_sandbox, IN_ARREARS)["paid_pence"] == before
    assert not [p for p in clean_sandbox.rows("ct_payments") if p["account_ref"] == IN_ARREARS]


def test_moving_home_is_recorded_in_the_council_tax_system(stack, clean_sandbox):
    chat = CouncilTaxChat(stack, "council_tax_moving_home")
    assert "8-digit number" in chat.say("I'm moving house and need to tell you for council tax")
    chat.say(PAYS_CASH)
    assert "What date are you moving out?" in chat.say(POSTCODE)
    assert "Is your new home in our council's area?" in chat.say("20 December")
    assert "postcode of your new home" in chat.say("Yes, in the area")
    assert "house number" in chat.say("SN11 8AA").lower()
    assert "Would you like a confirmation?" in chat.say("7")
    question = chat.say("jo@example.com")
    assert "You're moving out of 5 Market Place on" in question and "to 7 Church Street, SN11 8AA" in question
    answer = chat.say("yes")
    reference = reference_in(answer)
    assert "I've sent you an email" in answer
    recorded = [r for r in requests_for(clean_sandbox, PAYS_CASH) if r["reference"] == reference]
    assert recorded and recorded[0]["type"] == "moving_home" and recorded[0]["status"] == "received"
    assert '"movingWithinArea": true' in recorded[0]["details"]
    assert account(clean_sandbox, PAYS_CASH)["moving_out_date"].endswith("-12-20")
    emails = [n for n in clean_sandbox.rows("notify_notifications") if n["reference"] == reference]
    assert len(emails) == 1 and emails[0]["recipient"] == "jo@example.com"
    chat.save("Tell us you're moving home", "A resident moving to another home in the area.")


def test_moving_home_when_the_council_tax_system_fails_is_kept_not_lost(stack, clean_sandbox):
    chat = CouncilTaxChat(stack, "ct_moving_fault")
    chat.say(f"moving out on 20 december, account {PAYS_CASH} {POSTCODE}")
    chat.say("No, I'm moving away")
    chat.say("4 Quay Street, Bristol BS1 4DJ")
    assert "Is that right?" in chat.say("No thanks")
    clean_sandbox.fault(path="/council-tax/v1/accounts", method="POST", status=503)
    answer = chat.say("yes")
    assert "council tax system isn't working" in answer and "I've saved your request" in answer
    assert "Traceback" not in answer
    assert [r for r in requests_for(clean_sandbox, PAYS_CASH) if r["type"] == "moving_home"] == []


def test_single_person_discount_application_is_recorded(stack, clean_sandbox):
    chat = CouncilTaxChat(stack, "council_tax_discount")
    chat.say("I live on my own now, can I get the single person discount?")
    chat.say(PAYS_CASH)
    assert "only adult" in chat.say(POSTCODE)
    assert "Would you like a confirmation?" in chat.say("1 October")
    assert "since Thursday 1 October" in chat.say("No thanks")
    answer = chat.say("yes")
    reference = reference_in(answer)
    recorded = [r for r in requests_for(clean_sandbox, PAYS_CASH) if r["reference"] == reference]
    assert recorded and recorded[0]["type"] == "single_person_discount"
    assert '"livingAloneFrom": "2026-10-01"' in recorded[0]["details"]
    chat.save("Apply for single person discount", "A resident who now lives alone applies for the discount.")


def test_already_receiving_the_discount_is_said_after_the_check(stack, clean_sandbox):
    has_discount = next(
        a["account_ref"] for a in clean_sandbox.rows("ct_accounts") if a["single_person_discount"]
    )
    chat = CouncilTaxChat(stack, "ct_discount_already")
    answer = chat.say(f"single person discount please {has_discount} {POSTCODE}")
    assert "already gets the single person discount" in answer
    assert requests_for(clean_sandbox, has_discount) == []


def test_direct_debit_day_changed_after_bank_details_were_refused(stack, clean_sandbox):
    chat = CouncilTaxChat(stack, "council_tax_direct_debit")
    refused = chat.say(
        "I changed bank for my direct debit, my sort code is 12-34-56 and account number 12345678"
    )
    assert "we never take them in this chat" in refused
    assert "12345678" not in refused and "12-34-56" not in refused
    assert "8-digit number" in refused
    chat.say(DD_1ST)
    assert "What would you like to change?" in chat.say(POSTCODE)
    assert "Which day of the month" in chat.say("The payment day")
    assert "Would you like a confirmation?" in chat.say("28th")
    assert "from the 1st to the 28th" in chat.say("07700 900123")
    answer = chat.say("yes")
    reference = reference_in(answer)
    assert "taken on the 28th of each month" in answer and "I've sent you a text message" in answer
    assert account(clean_sandbox, DD_1ST)["dd_day"] == 28
    texts = [n for n in clean_sandbox.rows("notify_notifications") if n["reference"] == reference]
    assert len(texts) == 1 and texts[0]["type"] == "sms"
    chat.save(
        "Change a direct debit",
        "A resident types bank details (refused), then moves their direct debit to the 28th.",
    )


def test_a_new_direct_debit_is_set_up_on_the_secure_form(stack, clean_sandbox):
    chat = CouncilTaxChat(stack, "ct_dd_setup")
    answer = chat.say(f"set up a direct debit for council tax {PAYS_CASH} {POSTCODE}")
    link = FORM_LINK.search(answer)
    assert link and "never in this chat" in answer
    form = httpx.get(link.group(0), timeout=10)
    assert form.status_code == 200 and "sort code" in form.text.lower()
