"""Council tax: balance, paying, moving home, single person discount and direct debits.

Every journey starts by verifying the resident: account reference + the
property's postcode (``CouncilTaxClient.verify``). Nothing about the account
is said before that check passes; a wrong pair is never told apart from an
unknown account; after three failed checks the journey ends and another route
is offered (a person, or the phone). The short-lived verification is kept in
the ``ct_verification`` slot for the rest of the conversation (so a second
council tax request does not ask again) and renewed with the same details
when it lapses.

Then each journey asks only what it needs, reads it back and asks to confirm
before any change, gives a ``CT-`` reference (or a receipt) and the next step,
and sends a GOV.UK Notify confirmation when the resident gives an email
address or mobile number. Bank details are never taken in chat: a resident who
types them is told so, they are not repeated and not used; a new direct debit
is set up on the secure form behind a one-use link (never logged).

Paying: the amount (the balance, the next instalment or another amount) →
a GOV.UK Pay link (idempotency key per payment, kept in ``ct_payment``) →
when Pay says the payment succeeded, ``complete_council_tax_payment`` records
it in the council tax system (idempotent by payment id) and the resident gets
a receipt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT
from rasa_sdk.types import DomainDict

from actions.clients import Clients, clients
from actions.common import (
    INVALID,
    PERSON_BUTTON,
    AddressSteps,
    AskConfirm,
    JourneyForm,
    backoffice_failed,
    intent_of,
    journey_key,
    looks_like_bank_details,
    outbox,
    outcome,
    plain_date,
    pounds,
)
from actions.config import settings
from bot.nlp.dates import now_in_london
from integrations.council_tax import (
    DIRECT_DEBIT_DAYS,
    Account,
    NotVerified,
    PaymentRecorded,
    Verification,
    VerificationExpired,
)
from integrations.errors import IntegrationError, Rejected
from integrations.outbox import Completed, OutboxItem, handler
from integrations.payments import Payment

logger = logging.getLogger("actions.council_tax")
T = TypeVar("T")

#: Failed checks of account reference + postcode before another route is offered.
MAX_VERIFY_TRIES = 3
VERIFY_SLOTS = ["account_reference", "postcode"]
NOT_LISTED = "not_listed"
#: The smallest payment we take (pence).
MIN_PAYMENT_PENCE = 100
#: Slots a council tax journey fills, cleared when it ends. ``account_reference`` and
#: ``ct_verification`` stay, so a second request in the conversation is not asked again.
JOURNEY_SLOTS = (
    "postcode",
    "date",
    "confirm",
    "attempts",
    "ct_tries",
    "ct_ended",
    "ct_key",
    "ct_account",
    "ct_amount",
    "moving_within",
    "new_postcode",
    "address",
    "uprn",
    "address_options",
    "ct_address_text",
    "dd_action",
    "dd_day",
    "ct_contact",
    "ct_payment",
    "ct_paid",
)
BANK_DETAILS_WARNING = (
    "Please don't type bank details here: we never take them in this chat. "
    "If you want to pay by direct debit, I can give you a link to our secure form."
)
PAY_BUTTON = {"title": "Pay council tax", "payload": "/pay_council_tax"}


# --- small readers ----------------------------------------------------------------------


def ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def short_address(address: str) -> str:
    """``1, MARKET PLACE, CHIPPENHAM, SN15 1ER`` -> ``1 Market Place`` (town and postcode left out)."""
    parts = [p.strip() for p in address.split(",") if p.strip()]
    kept = parts[:-2] if len(parts) > 2 else parts[:1]
    if len(kept) > 1 and re.fullmatch(r"\d+[A-Za-z]?", kept[0]):
        kept = [f"{kept[0]} {kept[1]}", *kept[2:]]
    return ", ".join(part.title() for part in kept)


_AMOUNT = re.compile(r"(?<![\d.,])£?\s*(\d{1,3}(?:,\d{3})+|\d{1,6})(?:\.(\d{1,2}))?(?![\d,])")


def amount_in(text: str) -> int | None:
    """Pence for the first amount of money in ``text``: ``£50``, ``50.5``, ``£1,200.00``."""
    match = _AMOUNT.search(text)
    if not match:
        return None
    pounds_part = int(match.group(1).replace(",", ""))
    pence_part = int((match.group(2) or "0").ljust(2, "0"))
    return pounds_part * 100 + pence_part


_DAY = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?(?!\d)", re.IGNORECASE)


def day_in(tracker: Tracker) -> int | None:
    """A day of the month from the latest message: a date entity's day, or ``15``, ``15th``."""
    for entity in tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "date" and entity.get("value"):
            try:
                return dt.date.fromisoformat(str(entity["value"])).day
            except ValueError:
                pass
    match = _DAY.search(tracker.latest_message.get("text") or "")
    return int(match.group(1)) if match else None


def entity(tracker: Tracker, name: str) -> Any:
    return next(tracker.get_latest_entity_values(name), None)


def previous_value(tracker: Tracker, name: str) -> Any:
    """A slot's value before the latest message (to undo what the message set)."""
    users = [i for i, e in enumerate(tracker.events) if e.get("event") == "user"]
    value = None
    for event in tracker.events[: users[-1] if users else 0]:
        if event.get("event") == "slot" and event.get("name") == name:
            value = event.get("value")
    return value


def year_before(day: dt.date) -> dt.date:
    return day.replace(year=day.year - 1) if (day.month, day.day) != (2, 29) else day - dt.timedelta(days=366)


def today() -> dt.date:
    return now_in_london().date()


# --- verification -----------------------------------------------------------------------


def verification_of(tracker: Tracker) -> Verification | None:
    """The resident's verification for the account in the ``account_reference`` slot, if any."""
    held = tracker.get_slot("ct_verification") or {}
    if not held.get("token") or held.get("account_reference") != tracker.get_slot("account_reference"):
        return None
    expires = held.get("expires_at")
    return Verification(
        held["account_reference"], held["token"], dt.datetime.fromisoformat(expires) if expires else None
    )


def verification_slot(verification: Verification, postcode: str) -> dict[str, Any]:
    return {
        "account_reference": verification.account_reference,
        "postcode": postcode,
        "token": verification.token,
        "expires_at": verification.expires_at.isoformat() if verification.expires_at else None,
    }


async def with_verification(
    tracker: Tracker, call: Callable[[Verification], Awaitable[T]]
) -> tuple[T, list[EventType]]:
    """Make an account call, verifying again with the same details when the verification lapsed."""
    held = tracker.get_slot("ct_verification") or {}
    verification = verification_of(tracker)
    if verification is None:
        raise VerificationExpired(
            "no verification held", reason="verification_required", system="council_tax"
        )
    expires = verification.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.timezone.utc)
    if expires is None or expires > dt.datetime.now(dt.timezone.utc):
        try:
            return await call(verification), []
        except VerificationExpired:
            pass
    verification = await clients().council_tax.verify(held["account_reference"], held["postcode"])
    renewed = [SlotSet("ct_verification", verification_slot(verification, held["postcode"]))]
    return await call(verification), renewed


def account_facts(account: Account) -> dict[str, Any]:
    """What the journeys need from the account later (no more than that)."""
    return {
        "address": short_address(account.address),
        "balance": account.balance_pence,
        "instalment": account.next_instalment.amount_pence if account.next_instalment else None,
        "instalment_due": account.next_instalment.due_date.isoformat() if account.next_instalment else None,
    }


def reset_journey(tracker: Tracker) -> list[EventType]:
    return [SlotSet(name, None) for name in JOURNEY_SLOTS if tracker.get_slot(name) is not None]


# --- the forms --------------------------------------------------------------------------


class CouncilTaxForm(JourneyForm, ABC):
    """Verification first (account reference + postcode), then the journey's own questions.

    A validator ends the journey early by setting ``ct_ended`` (after saying why and setting
    the outcome); the journey's action then only tidies up.
    """

    def journey_slots(self, tracker: Tracker) -> list[str]:
        """The journey's own questions after verification, in order."""
        return []

    async def after_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verification: Verification
    ) -> dict[str, Any]:
        """Look up what the journey needs once the resident is verified (may end the journey)."""
        return {}

    async def found_account(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verification: Verification, doing: str
    ) -> tuple[Account | None, dict[str, Any]]:
        """The account once verified, and the slots to set; no account when the journey ends here
        (the account can't be read now, or ``nothing_to_do`` says there's nothing to do)."""
        try:
            account = await clients().council_tax.account(verification)
        except IntegrationError as error:
            return None, await self.failed(dispatcher, tracker, error, doing)
        done = self.nothing_to_do(dispatcher, account)
        if done is not None:
            return None, done
        dispatcher.utter_message(text="Thanks, I've found your account.")
        return account, {"ct_account": account_facts(account)}

    def nothing_to_do(self, dispatcher: CollectingDispatcher, account: Account) -> dict[str, Any] | None:
        """The account shows there's nothing to do: end the journey (saying why). Else ``None``."""
        return None

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if tracker.get_slot("ct_ended"):
            return []
        steps = self.journey_slots(tracker)
        return steps if verification_of(tracker) else [*VERIFY_SLOTS, *steps]

    def activating(self, tracker: Tracker) -> bool:
        return (tracker.active_loop or {}).get("name") != self.form_name()

    def stale(self, tracker: Tracker, slot: str) -> bool:
        """A value left from earlier in the conversation, not given for this journey."""
        return self.activating(tracker) and entity(tracker, slot) is None

    def ended(self, dispatcher: CollectingDispatcher, text: str, kind: str, **details: Any) -> dict[str, Any]:
        """End the journey here: say why, mark the outcome, ask nothing more."""
        dispatcher.utter_message(text=text, buttons=[PERSON_BUTTON])
        return {
            "ct_ended": True,
            "outcome": outcome(kind, self.journey, **details)["value"],
            REQUESTED_SLOT: None,
        }

    async def failed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, error: IntegrationError, doing: str
    ) -> dict[str, Any]:
        events = await backoffice_failed(dispatcher, tracker, error, intent=self.journey, doing=doing)
        return {"ct_ended": True, REQUESTED_SLOT: None, **{e["name"]: e["value"] for e in events}}

    # -- bank details: never taken here --
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if not looks_like_bank_details(tracker.latest_message.get("text")):
            return await super().run(dispatcher, tracker, domain)
        # Say so, don't repeat them, and undo whatever the message filled (an account
        # number is not a council tax reference); then ask the same question again.
        dispatcher.utter_message(text=BANK_DETAILS_WARNING)
        undone = {name: previous_value(tracker, name) for name in tracker.slots_to_validate()}
        tracker.slots.update(undone)
        required = await self.required_slots(self.domain_slots(domain), dispatcher, tracker, domain)
        ask = next((slot for slot in required if tracker.get_slot(slot) is None), None)
        return [
            *(SlotSet(name, value) for name, value in undone.items()),
            SlotSet("attempts", tracker.get_slot("attempts")),
            SlotSet(REQUESTED_SLOT, ask),
        ]

    # -- account reference and postcode --
    async def extract_account_reference(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.not_recognised(tracker, "account_reference")

    def validate_account_reference(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == INVALID:
            return self.failed_answer(
                dispatcher,
                tracker,
                "account_reference",
                "That doesn't look like a council tax account reference.",
                "It's the 8-digit number at the top of your council tax bill, for example 60012345.",
            )
        held = tracker.get_slot("ct_verification") or {}
        if held and held.get("account_reference") != value:
            return {"account_reference": value, "ct_verification": None}  # another account: check it afresh
        return {"account_reference": value}

    async def extract_postcode(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.not_recognised(tracker, "postcode")

    def validate_postcode(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == INVALID:
            return self.failed_answer(
                dispatcher,
                tracker,
                "postcode",
                "That doesn't look like a postcode.",
                "I need the postcode of the home the council tax bill is for, like SN15 1ER.",
            )
        if self.stale(tracker, "postcode"):
            return {"postcode": None}  # given for something else earlier: ask for it here
        return {"postcode": value}

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Each answer checked on its own, then the pair verified once both are known."""
        events = await super().get_validation_events(dispatcher, tracker, domain)
        more = await self.verify_if_ready(dispatcher, tracker)
        if tracker.get_slot("ct_key") is None:  # this journey's idempotency key, from its first message
            more["ct_key"] = journey_key(tracker, self.journey)
        tracker.slots.update(more)
        return [*events, *(SlotSet(name, value) for name, value in more.items())]

    async def verify_if_ready(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> dict[str, Any]:
        reference, postcode = tracker.get_slot("account_reference"), tracker.get_slot("postcode")
        if tracker.get_slot("ct_ended") or verification_of(tracker) or not reference or not postcode:
            return {}
        if INVALID in (reference, postcode):
            return {}
        try:
            verification = await clients().council_tax.verify(reference, postcode)
        except NotVerified as refused:
            return self.not_verified(dispatcher, tracker, refused.reason)
        except IntegrationError as error:
            return await self.failed(dispatcher, tracker, error, "check your council tax account")
        slots = {
            "ct_verification": verification_slot(verification, postcode),
            "ct_tries": None,
            "attempts": None,
        }
        tracker.slots.update(slots)
        return {**slots, **await self.after_verified(dispatcher, tracker, verification)}

    def not_verified(self, dispatcher: CollectingDispatcher, tracker: Tracker, reason: str) -> dict[str, Any]:
        tries = (tracker.get_slot("ct_tries") or 0) + 1
        again = {"account_reference": None, "postcode": None, "ct_tries": tries, "attempts": None}
        phone = settings().phone
        if reason == "too_many_attempts":
            return {
                **again,
                **self.ended(
                    dispatcher,
                    "There have been too many tries to check this account, so I can't check it again for "
                    f"15 minutes. You can talk to a person, or call us on {phone}.",
                    "abandoned",
                    step="verification",
                    reason="too_many_attempts",
                ),
            }
        if tries >= MAX_VERIFY_TRIES:
            return {
                **again,
                **self.ended(
                    dispatcher,
                    "Sorry, I still can't find an account with those details, so I can't help with this "
                    "here. "
                    f"You can talk to a person, or call us on {phone}, Monday to Friday, 8:30am to 5pm.",
                    "abandoned",
                    step="verification",
                    reason="not_verified",
                ),
            }
        if tries == MAX_VERIFY_TRIES - 1:
            dispatcher.utter_message(
                text="Those details still don't match our records. Your account reference is the 8-digit "
                "number at the top of your council tax bill, and the postcode is the one for the home "
                "the bill is for. You can try once more, or talk to a person.",
                buttons=[PERSON_BUTTON],
            )
        else:
            dispatcher.utter_message(
                text="The account reference and postcode don't match our records. Please check them and try "
                "again."
            )
        return again

    # -- contact details for a confirmation --
    async def extract_ct_contact(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "ct_contact") and not (
            self.activating(tracker) and entity(tracker, "email")
        ):
            return {}
        if entity(tracker, "email"):
            return {"ct_contact": {"method": "email", "value": entity(tracker, "email")}}
        phone = entity(tracker, "phone_number")
        if phone:
            return {
                "ct_contact": {"method": "sms", "value": phone} if str(phone).startswith("07") else INVALID
            }
        text = (tracker.latest_message.get("text") or "").lower()
        if intent_of(tracker) == "deny" or re.search(r"\bno\b|not? thanks|don'?t|none", text):
            return {"ct_contact": "none"}
        return {"ct_contact": INVALID} if self.is_answer(tracker) else {}

    def validate_ct_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == INVALID:
            return self.failed_answer(
                dispatcher,
                tracker,
                "ct_contact",
                "I need an email address or a mobile number for that.",
                "For example jo@example.com or 07700 900123. Or choose 'No thanks'.",
            )
        return self.accepted({"ct_contact": value})

    # -- dates --
    async def extract_date(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.not_recognised(tracker, "date")

    #: For a journey that asks a date: the days it may be before and after today, and what to say if not.
    DATE_RANGE: ClassVar[tuple[int, int, str]] = (0, 0, "")

    def validate_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if self.stale(tracker, "date"):
            return {"date": None}
        back, ahead, out_of_range = self.DATE_RANGE
        now = today()
        earliest, latest = now - dt.timedelta(days=back), now + dt.timedelta(days=ahead)
        try:
            day = dt.date.fromisoformat(str(value)) if value != INVALID else None
        except ValueError:
            day = None
        if day is None:
            return self.failed_answer(
                dispatcher,
                tracker,
                "date",
                "Sorry, I didn't understand that date.",
                "Type the date like 20 December 2026, or 20/12/2026.",
            )
        said = (tracker.latest_message.get("text") or "").lower()
        if day > latest and not re.search(r"\bnext\b|\bin \d", said):
            day = (
                year_before(day) if earliest <= year_before(day) <= latest else day
            )  # "1 October": the last one
        if not earliest <= day <= latest:
            return self.failed_answer(dispatcher, tracker, "date", out_of_range, "Type the date again.")
        return self.accepted({"date": day.isoformat()})


class ValidateCouncilTaxBalanceForm(CouncilTaxForm):
    journey = "council_tax_balance"

    def name(self) -> str:
        return "validate_council_tax_balance_form"


# --- pay --------------------------------------------------------------------------------


class ValidatePayCouncilTaxForm(CouncilTaxForm):
    journey = "pay_council_tax"

    def name(self) -> str:
        return "validate_pay_council_tax_form"

    def journey_slots(self, tracker: Tracker) -> list[str]:
        # After "yes": the Pay link is given and the journey waits for the resident to come back.
        return ["ct_amount", "confirm", *(["ct_paid"] if tracker.get_slot("confirm") is True else [])]

    async def after_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verification: Verification
    ) -> dict[str, Any]:
        account, slots = await self.found_account(dispatcher, tracker, verification, "take a payment")
        amount = tracker.get_slot("ct_amount")
        if (
            account is not None
            and isinstance(amount, int)
            and not MIN_PAYMENT_PENCE <= amount <= account.balance_pence
        ):
            dispatcher.utter_message(
                text=f"You can pay between £1 and {pounds(account.balance_pence)}, what's left for this year."
            )
            return {**slots, "ct_amount": None}
        return slots

    def nothing_to_do(self, dispatcher: CollectingDispatcher, account: Account) -> dict[str, Any] | None:
        if account.balance_pence > 0:
            return None
        owed = (
            f"You're in credit by {pounds(-account.balance_pence)}"
            if account.in_credit
            else ("You've paid everything for this year")
        )
        return self.ended(
            dispatcher, f"There's nothing to pay on this account: {owed}.", "informed", balance="none"
        )

    def corrections(self, tracker: Tracker) -> dict[str, Any]:
        """ "No, £50": a new amount at the confirmation step."""
        pence = amount_in(tracker.latest_message.get("text") or "")
        return {**super().corrections(tracker), **({"ct_amount": pence} if pence else {})}

    async def extract_ct_amount(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = (tracker.latest_message.get("text") or "").lower()
        asked = self.asked(tracker, "ct_amount")
        if not asked and not (self.activating(tracker) and "£" in text):
            return {}
        facts = tracker.get_slot("ct_account") or {}
        if re.search(r"balance|everything|in full|the lot|all of it|whole", text):
            return {"ct_amount": facts.get("balance") or INVALID}
        if re.search(r"instal+ment|next payment", text):
            return {"ct_amount": facts.get("instalment") or INVALID}
        if re.search(r"another|other|different|something else", text):
            return {"ct_amount": "__other__"}
        pence = amount_in(text)
        if pence is not None and not entity(tracker, "account_reference"):
            return {"ct_amount": pence}
        return {"ct_amount": INVALID} if asked and self.is_answer(tracker) else {}

    def validate_ct_amount(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        facts = dict(tracker.get_slot("ct_account") or {})
        if value == "__other__":
            return {"ct_amount": None, "ct_account": {**facts, "custom": True}}
        if value == INVALID:
            return self.failed_answer(
                dispatcher,
                tracker,
                "ct_amount",
                "Sorry, I didn't understand how much you want to pay.",
                "Type an amount in pounds, like £50, or choose one of the options.",
            )
        balance = facts.get("balance")
        if balance is None:  # given before the account was checked: keep it for then
            return {"ct_amount": int(value)}
        if int(value) < MIN_PAYMENT_PENCE:
            return self.failed_answer(
                dispatcher,
                tracker,
                "ct_amount",
                "The smallest payment is £1.",
                "Type an amount in pounds, like £50.",
            )
        if int(value) > balance:
            return self.failed_answer(
                dispatcher,
                tracker,
                "ct_amount",
                f"You can pay up to {pounds(balance)}, what's left for this year.",
                "Type a smaller amount, or choose to pay the balance.",
            )
        return self.accepted({"ct_amount": int(value)})

    async def validate_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """On "yes": the GOV.UK Pay link, once per amount (the same key gives the same payment)."""
        checked = super().validate_confirm(value, dispatcher, tracker, domain)
        if checked.get("confirm") is not True:
            return checked
        try:
            payment = await council_tax_payment(tracker)
        except IntegrationError as error:
            return await self.failed(dispatcher, tracker, error, "take a payment. No money has been taken")
        amount = pounds(payment.amount_pence)
        if not payment.next_url:  # made earlier and already finished: check it now
            return {
                **checked,
                "ct_payment": pending_payment(payment),
                "ct_paid": await payment_result(payment, tracker.sender_id),
            }
        dispatcher.utter_message(
            text=f"Pay {amount} securely with GOV.UK Pay: {payment.next_url}\n\n"
            "The link works for 90 minutes. When you've paid, come back here and say 'I've paid' for your "
            "receipt."
        )
        return {**checked, "ct_payment": pending_payment(payment)}

    async def extract_ct_paid(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """Back from GOV.UK Pay ("I've paid", "done"): how did the payment go?"""
        if not self.asked(tracker, "ct_paid") or intent_of(tracker) in NOT_ABOUT_PAYING:
            return {}
        pending = tracker.get_slot("ct_payment") or {}
        try:
            payment = await clients().payments.get_payment(str(pending.get("payment_id")))
        except IntegrationError as error:
            logger.warning("council tax payment not checked: %s", error)
            return {"ct_paid": {"status": "unchecked", "system": error.system or "gov_uk_pay"}}
        if not payment.is_finished:
            dispatcher.utter_message(
                text="Your payment hasn't finished yet. Please finish it on the GOV.UK Pay page, then say "
                "'I've paid'. If you've closed the page, say 'stop' and start again: no money has been taken."
            )
            return {"ct_paid": None}
        return {"ct_paid": await payment_result(payment, tracker.sender_id)}

    def validate_ct_paid(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {"ct_paid": value}


#: While waiting for the payment, these are not "I've paid": the rules answer them.
NOT_ABOUT_PAYING = frozenset(
    {"stop", "request_human", "council_tax_balance", "bot_challenge", "help", "greet"}
)


async def council_tax_payment(tracker: Tracker) -> Payment:
    """The Pay payment for this journey and amount: made on the first call, the same one after."""
    amount = int(tracker.get_slot("ct_amount"))
    reference = str(tracker.get_slot("account_reference"))
    journey = tracker.get_slot("ct_key") or journey_key(tracker, "pay_council_tax")
    key = f"{journey}-{amount}".replace("_", "-")  # Pay takes letters, digits and hyphens
    return await clients().payments.create_payment(
        amount_pence=amount,
        reference=reference,
        description="Council tax payment",
        return_url=clients().settings.pay_return_url,
        idempotency_key=key,
        metadata={
            "service": "council_tax",
            "journey": "pay_council_tax",
            "account_reference": reference,
            "amount_pence": amount,
            "conversation": tracker.sender_id,
        },
    )


def pending_payment(payment: Payment) -> dict[str, Any]:
    """What the conversation keeps of a payment: never its link."""
    return {
        "payment_id": payment.payment_id,
        "amount_pence": payment.amount_pence,
        "account_reference": payment.metadata.get("account_reference"),
    }


async def payment_result(payment: Payment, conversation: str = "") -> dict[str, Any]:
    """A finished payment: recorded on the account if it succeeded (kept for later if that failed).

    Called when the resident comes back from Pay and from Pay's webhook (``actions.payments``);
    recording is idempotent by payment id, so both can run.
    """
    if not payment.is_success:
        return {"status": "failed", "code": payment.state.code}
    try:
        recorded = await complete_council_tax_payment(payment)
    except IntegrationError as error:
        logger.warning("council tax payment not recorded yet: %s", error)
        await keep_payment_for_follow_up(payment, conversation)
        return {"status": "kept", "payment_id": payment.payment_id, "amount": payment.amount_pence}
    return {
        "status": "recorded",
        "payment_id": payment.payment_id,
        "amount": payment.amount_pence,
        "balance": recorded.balance_pence if recorded else None,
    }


class ActionAskCtAmount(Action):
    """How much to pay: the balance, the next instalment, or another amount."""

    def name(self) -> str:
        return "action_ask_ct_amount"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        facts = tracker.get_slot("ct_account") or {}
        if facts.get("custom"):
            dispatcher.utter_message(
                text="How much would you like to pay? Type the amount in pounds, like £50."
            )
            return []
        buttons = [{"title": f"The balance: {pounds(facts['balance'])}", "payload": "The balance"}]
        if facts.get("instalment") and facts["instalment"] < facts["balance"]:
            due = plain_date(dt.date.fromisoformat(facts["instalment_due"]), today())
            buttons.append(
                {
                    "title": f"Next instalment: {pounds(facts['instalment'])} ({due})",
                    "payload": "The next instalment",
                }
            )
        buttons.append({"title": "Another amount", "payload": "Another amount"})
        dispatcher.utter_message(text="How much would you like to pay?", buttons=buttons)
        return []


# --- moving home ------------------------------------------------------------------------


class ValidateCouncilTaxMovingForm(CouncilTaxForm, AddressSteps):
    journey = "council_tax_moving_home"
    DATE_RANGE = (365, 90, "The moving date needs to be within the last year or the next 90 days.")

    def name(self) -> str:
        return "validate_council_tax_moving_form"

    def journey_slots(self, tracker: Tracker) -> list[str]:
        within = tracker.get_slot("moving_within")
        if within is True:
            where = ["new_postcode", "address"]
            if tracker.get_slot("uprn") == NOT_LISTED:
                where.append("ct_address_text")
        elif within is False:
            where = ["ct_address_text"]
        else:
            where = []
        return ["date", "moving_within", *where, "ct_contact", "confirm"]

    async def after_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verification: Verification
    ) -> dict[str, Any]:
        _, slots = await self.found_account(dispatcher, tracker, verification, "record your move")
        return slots

    def nothing_to_do(self, dispatcher: CollectingDispatcher, account: Account) -> dict[str, Any] | None:
        if not account.moving_out_date:
            return None
        return self.ended(
            dispatcher,
            f"We already have a move recorded for this account, moving out on "
            f"{plain_date(account.moving_out_date, today())}. If that's wrong, please talk to a person.",
            "informed",
            reason="move_already_reported",
        )

    async def extract_moving_within(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "moving_within"):
            return {}
        text = (tracker.latest_message.get("text") or "").lower()
        if re.search(r"\baway\b|outside|out of|leaving|abroad|another (?:council|area)|^no\b", text) or (
            intent_of(tracker) == "deny"
        ):
            return {"moving_within": False}
        if re.search(r"\bin (?:the|your|our) area|within|staying|same area|local|^yes\b", text) or (
            intent_of(tracker) == "affirm"
        ):
            return {"moving_within": True}
        return {"moving_within": INVALID} if self.is_answer(tracker) else {}

    def validate_moving_within(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == INVALID:
            return self.failed_answer(
                dispatcher,
                tracker,
                "moving_within",
                "Please answer yes or no.",
                "Yes if your new home is in our council's area, no if you're moving away.",
            )
        return self.accepted(
            {
                "moving_within": value,
                "new_postcode": None,
                "address": None,
                "uprn": None,
                "ct_address_text": None,
            }
        )

    async def extract_new_postcode(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "new_postcode"):
            return {}
        postcode = entity(tracker, "postcode")
        if postcode:
            return {"new_postcode": postcode}
        return {"new_postcode": "__not_a_postcode__"} if self.is_answer(tracker) else {}

    async def validate_new_postcode(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        # The shared address steps, on this journey's own slot (the postcode slot holds the old home's).
        result = await AddressSteps.validate_postcode(self, value, dispatcher, tracker, domain)
        slots = {("new_postcode" if name == "postcode" else name): v for name, v in result.items()}
        if "outcome" in slots:  # the address finder failed: the journey ends there
            slots["ct_ended"] = True
        return slots

    async def validate_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == "__not_listed__":  # then we take the new address as text
            return {"address": "not listed", "uprn": NOT_LISTED}
        return await AddressSteps.validate_address(self, value, dispatcher, tracker, domain)

    async def extract_ct_address_text(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.typed_answer(tracker, "ct_address_text")

    def validate_ct_address_text(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = re.sub(r"\s+", " ", str(value or "")).strip()
        if len(text) < 8 or not re.search(r"\d|[a-z]{3,}\s+[a-z]{3,}", text.lower()):
            return self.failed_answer(
                dispatcher,
                tracker,
                "ct_address_text",
                "That doesn't look like a full address.",
                "Type the house number or name, street, town and postcode.",
            )
        return self.accepted({"ct_address_text": text[:300]})


class ActionAskCtAddressText(Action):
    def name(self) -> str:
        return "action_ask_ct_address_text"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("moving_within") is False:
            text = "What address should we send your final bill to? Type the full address, with the postcode."
        else:
            text = "What is your new address? Type the full address, with the postcode."
        dispatcher.utter_message(text=text)
        return []


# --- single person discount -------------------------------------------------------------


class ValidateCouncilTaxDiscountForm(CouncilTaxForm):
    journey = "council_tax_discount"
    DATE_RANGE = (6 * 365, 0, "The date needs to be today or earlier, and within the last 6 years.")

    def name(self) -> str:
        return "validate_council_tax_discount_form"

    def journey_slots(self, tracker: Tracker) -> list[str]:
        return ["date", "ct_contact", "confirm"]

    async def after_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verification: Verification
    ) -> dict[str, Any]:
        _, slots = await self.found_account(dispatcher, tracker, verification, "apply for the discount")
        return slots

    def nothing_to_do(self, dispatcher: CollectingDispatcher, account: Account) -> dict[str, Any] | None:
        if not account.single_person_discount:
            return None
        return self.ended(
            dispatcher,
            "This account already gets the single person discount, so you don't need to apply. "
            "It takes 25% off your council tax bill.",
            "informed",
            reason="already_receiving_discount",
        )


# --- direct debit -----------------------------------------------------------------------


class ValidateCouncilTaxDirectDebitForm(CouncilTaxForm):
    journey = "council_tax_direct_debit"

    def name(self) -> str:
        return "validate_council_tax_direct_debit_form"

    def journey_slots(self, tracker: Tracker) -> list[str]:
        action = tracker.get_slot("dd_action")
        return ["dd_action", *(["dd_day", "ct_contact", "confirm"] if action == "change_day" else [])]

    @staticmethod
    def wanted(text: str) -> str | None:
        text = text.lower()
        if re.search(
            r"bank|sort code|account (?:number|details)|new account|closing|switch(?:ed)? bank", text
        ):
            return "bank"
        if re.search(r"date|day|move|later|earlier|payday|the \d|\d(?:st|nd|rd|th)\b", text):
            return "change_day"
        if re.search(r"set ?up|start|sign up|register|switch to|new direct debit|mandate", text):
            return "setup"
        return None

    async def extract_dd_action(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        wanted = self.wanted(tracker.latest_message.get("text") or "")
        if self.asked(tracker, "dd_action"):
            if wanted:
                return {"dd_action": wanted}
            return {"dd_action": INVALID} if self.is_answer(tracker) else {}
        if self.activating(tracker) and tracker.get_slot("dd_action") is None and wanted:
            return {"dd_action": wanted}
        return {}

    def validate_dd_action(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == INVALID:
            return self.failed_answer(
                dispatcher,
                tracker,
                "dd_action",
                "Sorry, I didn't understand that.",
                "Choose to change the payment day or the bank account.",
            )
        current = tracker.get_slot("ct_account") or {}
        if "active" in current and not current["active"]:
            return self.accepted({"dd_action": "setup"})  # nothing to change yet: set one up
        if value == "setup" and current.get("active"):
            return {"dd_action": None}  # one is already set up: ask what to change
        return self.accepted({"dd_action": value})

    async def after_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, verification: Verification
    ) -> dict[str, Any]:
        try:
            debit = await clients().council_tax.direct_debit(verification)
        except IntegrationError as error:
            return await self.failed(dispatcher, tracker, error, "look at your direct debit")
        facts = {"active": debit.active, "day": debit.payment_day}
        wanted = tracker.get_slot("dd_action")
        if debit.active and wanted == "change_day" and tracker.get_slot("dd_day") == debit.payment_day:
            return self.ended(
                dispatcher,
                f"Your direct debit is already taken on the {ordinal(debit.payment_day)}"
                ", so there's nothing to change.",
                "informed",
                reason="same_day",
            )
        if not debit.active:
            if wanted and wanted != "setup":
                dispatcher.utter_message(
                    text="You don't pay by direct debit at the moment, so I'll help you set one up."
                )
            return {"ct_account": facts, "dd_action": "setup"}
        dispatcher.utter_message(
            text=f"Thanks, I've found your account. Your direct debit is taken on the "
            f"{ordinal(debit.payment_day or 1)}"
            " of each month."
        )
        return {"ct_account": facts, "dd_action": None if wanted == "setup" else wanted}

    def corrections(self, tracker: Tracker) -> dict[str, Any]:
        """ "No, the 22nd": a new payment day at the confirmation step."""
        day = day_in(tracker)
        return {**super().corrections(tracker), **({"dd_day": day} if day else {})}

    async def extract_dd_day(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if self.asked(tracker, "dd_day"):
            day = day_in(tracker)
            return {"dd_day": day} if day else ({"dd_day": INVALID} if self.is_answer(tracker) else {})
        if self.activating(tracker) and tracker.get_slot("dd_day") is None and entity(tracker, "date"):
            return {"dd_day": day_in(tracker)}
        return {}

    def validate_dd_day(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value not in DIRECT_DEBIT_DAYS:
            return self.failed_answer(
                dispatcher,
                tracker,
                "dd_day",
                "We can take direct debits on the 1st, 8th, 15th, 22nd or 28th of the month.",
                "Choose one of those days.",
            )
        current = (tracker.get_slot("ct_account") or {}).get("day")
        if current == value:
            return self.ended(
                dispatcher,
                f"Your direct debit is already taken on the {ordinal(value)}, so there's nothing to change.",
                "informed",
                reason="same_day",
            )
        return self.accepted({"dd_day": value})


# --- confirmations ----------------------------------------------------------------------


def _address(tracker: Tracker) -> str:
    return (tracker.get_slot("ct_account") or {}).get("address") or "your home"


def _date(tracker: Tracker) -> str:
    return plain_date(dt.date.fromisoformat(tracker.get_slot("date")), today())


class ActionAskPayConfirm(AskConfirm):
    form = "pay_council_tax_form"

    def question(self, tracker: Tracker) -> str:
        return (
            f"You're paying {pounds(tracker.get_slot('ct_amount'))} towards the council tax for "
            f"{_address(tracker)}. Shall I give you a secure link to pay with GOV.UK Pay?"
        )


class ActionAskMovingConfirm(AskConfirm):
    form = "council_tax_moving_form"

    def question(self, tracker: Tracker) -> str:
        if tracker.get_slot("moving_within") and tracker.get_slot("uprn") != NOT_LISTED:
            where = f"to {tracker.get_slot('address')}, {tracker.get_slot('new_postcode')}"
        elif tracker.get_slot("moving_within"):
            where = f"to {tracker.get_slot('ct_address_text')}"
        else:
            where = f"away from our area. We'll send your final bill to {tracker.get_slot('ct_address_text')}"
        return f"You're moving out of {_address(tracker)} on {_date(tracker)}, {where}. Is that right?"


class ActionAskDiscountConfirm(AskConfirm):
    form = "council_tax_discount_form"

    def question(self, tracker: Tracker) -> str:
        return (
            f"You're applying for the single person discount for {_address(tracker)}, because you've been "
            f"the only adult living there since {_date(tracker)}. Is that right?"
        )


class ActionAskDirectDebitConfirm(AskConfirm):
    form = "council_tax_direct_debit_form"

    def question(self, tracker: Tracker) -> str:
        old = (tracker.get_slot("ct_account") or {}).get("day")
        change = f"from the {ordinal(old)} " if old else ""
        return (
            f"Change your direct debit {change}to the {ordinal(tracker.get_slot('dd_day'))} of each month? "
            "Payments due in the next 14 days stay as they are."
        )


# --- the journeys' actions --------------------------------------------------------------


class CouncilTaxAction(Action, ABC):
    """A journey's last step: what was asked is done here, then the journey's slots are cleared."""

    journey: ClassVar[str] = ""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.get_slot("ct_ended") or not verification_of(tracker):
            return reset_journey(tracker)  # ended early: already said why and marked the outcome
        try:
            events = await self.complete(dispatcher, tracker)
        except Rejected as refused:
            events = [self.refused(dispatcher, refused.reason)]
        except IntegrationError as error:
            events = await self.failed(dispatcher, tracker, error)
        return [*reset_journey(tracker), *events]

    @abstractmethod
    async def complete(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]: ...

    #: What a refusal's reason means to the resident.
    REFUSALS: ClassVar[dict[str, str]] = {}
    CHECK_AGAIN = "I need to check your account details again. Please start again, or talk to a person."

    def refused(self, dispatcher: CollectingDispatcher, reason: str) -> SlotSet:
        if reason in ("not_verified", "too_many_attempts", "verification_required", "verification_expired"):
            text = self.CHECK_AGAIN
        else:
            text = (
                self.REFUSALS.get(reason)
                or "Sorry, our council tax system couldn't accept that. A person can help."
            )
        dispatcher.utter_message(text=text, buttons=[PERSON_BUTTON])
        return outcome("informed", self.journey, reason=reason)

    async def failed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, error: IntegrationError
    ) -> list[EventType]:
        return await backoffice_failed(dispatcher, tracker, error, intent=self.journey, doing="do that")

    def key(self, tracker: Tracker) -> str:
        """The journey's idempotency key: the same for every try, and for the follow-up if it fails."""
        return str(tracker.get_slot("ct_key") or journey_key(tracker, self.journey))

    async def keep(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        error: IntegrationError,
        doing: str,
        details: dict[str, Any],
    ) -> list[EventType]:
        """Keep the change for the outbox worker, which verifies again and makes it with the same key."""
        held = tracker.get_slot("ct_verification") or {}
        contact = tracker.get_slot("ct_contact")
        reply = {}
        if isinstance(contact, dict):
            reply = {"email" if contact["method"] == "email" else "phone_number": contact["value"]}
        payload = {
            "account_reference": tracker.get_slot("account_reference"),
            "postcode": held.get("postcode"),
            **details,
            **reply,
        }
        return await backoffice_failed(
            dispatcher, tracker, error, intent=self.journey, doing=doing, keep=payload, key=self.key(tracker)
        )

    def cancelled(self, dispatcher: CollectingDispatcher, what: str) -> list[EventType]:
        dispatcher.utter_message(text=f"OK, I haven't {what}. What would you like to do?")
        return [outcome("cancelled", self.journey, step="confirm")]


async def send_confirmation(
    dispatcher: CollectingDispatcher, tracker: Tracker, change: str, reference: str
) -> None:
    """GOV.UK Notify confirmation of a change, if the resident gave an email or mobile number."""
    contact = tracker.get_slot("ct_contact")
    if not isinstance(contact, dict):
        return
    notify = clients().notify
    values = {"change": change, "reference": reference}
    try:
        if contact["method"] == "email":
            await notify.send_email(contact["value"], "council_tax_change", values, reference=reference)
        else:
            await notify.send_sms(contact["value"], "council_tax_change", values, reference=reference)
    except IntegrationError as error:
        logger.warning("council tax confirmation not sent: %s", error)
        dispatcher.utter_message(
            text="I couldn't send you a confirmation just now, but your change is recorded."
        )
        return
    sent = "an email" if contact["method"] == "email" else "a text message"
    dispatcher.utter_message(text=f"I've sent you {sent} with these details.")


class ActionCouncilTaxBalance(Action):
    """The balance and next instalment, once verified (also as a question in the middle of paying)."""

    journey = "council_tax_balance"

    def name(self) -> str:
        return "action_council_tax_balance"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        in_another_journey = (tracker.active_loop or {}).get("name") not in (None, "council_tax_balance_form")
        tidy = [] if in_another_journey else reset_journey(tracker)
        if tracker.get_slot("ct_ended"):
            return tidy
        if not verification_of(tracker):
            if in_another_journey:
                dispatcher.utter_message(
                    text="I can tell you your balance once I've checked your account details."
                )
            return tidy
        try:
            account, renewed = await with_verification(tracker, clients().council_tax.account)
        except IntegrationError as error:
            return [
                *tidy,
                *await backoffice_failed(
                    dispatcher, tracker, error, intent=self.journey, doing="show your balance"
                ),
            ]
        dispatcher.utter_message(
            text=balance_message(account), buttons=balance_buttons(account, in_another_journey)
        )
        return [*tidy, *renewed, outcome("informed", self.journey)]


def balance_message(account: Account) -> str:
    lines = [
        f"Council tax for {short_address(account.address)}, {account.financial_year} (band {account.band}):"
    ]
    if account.in_credit:
        lines.append(f"You're in credit by {pounds(-account.balance_pence)}.")
    else:
        lines.append(f"Left to pay this year: {pounds(account.balance_pence)}")
    if account.next_instalment:
        how = " by direct debit" if account.payment_method == "direct_debit" else ""
        when = plain_date(account.next_instalment.due_date, today())
        lines.append(f"Next instalment: {account.next_instalment.amount} on {when}{how}")
    if account.in_arrears:
        lines.append(
            f"You're behind by {pounds(account.arrears_pence)}. Please pay this as soon as you can, or "
            "talk to us if you're finding it hard to pay."
        )
    return "\n".join(lines)


def balance_buttons(account: Account, in_another_journey: bool) -> list[dict[str, str]]:
    if in_another_journey:
        return []
    owes = account.balance_pence > 0 and (account.in_arrears or account.payment_method != "direct_debit")
    return [PAY_BUTTON, PERSON_BUTTON] if owes else [PERSON_BUTTON]


class ActionPayCouncilTax(CouncilTaxAction):
    """After the resident is back from GOV.UK Pay: the receipt, or how to try again."""

    journey = "pay_council_tax"

    def name(self) -> str:
        return "action_pay_council_tax"

    async def complete(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        if tracker.get_slot("confirm") is not True:
            return self.cancelled(dispatcher, "taken a payment")
        paid = tracker.get_slot("ct_paid") or {}
        amount = pounds(int((tracker.get_slot("ct_payment") or {}).get("amount_pence") or 0))
        status = paid.get("status")
        if status == "recorded":
            dispatcher.utter_message(text=receipt(paid))
            return [outcome("completed", self.journey, reference=paid["payment_id"])]
        if status == "kept":
            dispatcher.utter_message(
                text=f"Thank you. Your payment of {amount} was taken (payment reference "
                f"{paid['payment_id']}). "
                "Our council tax system isn't updating right now, so it may take a day to show on your "
                "account. "
                "You don't need to pay again."
            )
            return [outcome("completed", self.journey, reference=paid["payment_id"], recorded=False)]
        if status == "failed":
            dispatcher.utter_message(
                text="Your payment didn't go through, so no money has been taken. You can try again.",
                buttons=[PAY_BUTTON, PERSON_BUTTON],
            )
            return [outcome("abandoned", self.journey, step="payment", reason=paid.get("code") or "failed")]
        dispatcher.utter_message(
            text="Sorry, I can't check your payment right now. If you paid, it will still reach your "
            "account, "
            "so you don't need to pay again. You can check your balance later.",
            buttons=[PERSON_BUTTON],
        )
        return [
            outcome("integration_failed", self.journey, system=paid.get("system") or "gov_uk_pay", kept=False)
        ]


def move_details(tracker: Tracker) -> dict[str, Any]:
    """The move as the council tax system (and the outbox worker) takes it."""
    within = bool(tracker.get_slot("moving_within"))
    uprn = tracker.get_slot("uprn")
    text = tracker.get_slot("ct_address_text")
    return {
        "moving_out_date": tracker.get_slot("date"),
        "within_area": within,
        "new_uprn": uprn if within and uprn and uprn != NOT_LISTED else None,
        "new_address": text if within else None,
        "forwarding_address": None if within else text,
    }


class ActionCouncilTaxMovingHome(CouncilTaxAction):
    journey = "council_tax_moving_home"
    REFUSALS: ClassVar[dict[str, str]] = {
        "move_already_reported": "We already have a move recorded for this account. A person can change it.",
        "not_in_area": "That address isn't in our council's area. If you're moving away, start again and "
        "choose 'No' when I ask if your new home is in our area.",
        "date_out_of_range": "The moving date needs to be within the last year or the next 90 days.",
    }

    def name(self) -> str:
        return "action_council_tax_moving_home"

    async def complete(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        if tracker.get_slot("confirm") is not True:
            return self.cancelled(dispatcher, "recorded your move")
        move = move_details(tracker)
        request, renewed = await with_verification(
            tracker,
            lambda v: clients().council_tax.report_moving_home(
                v,
                moving_out_date=dt.date.fromisoformat(move["moving_out_date"]),
                within_area=move["within_area"],
                new_uprn=move["new_uprn"],
                new_address=move["new_address"],
                forwarding_address=move["forwarding_address"],
                idempotency_key=self.key(tracker),
            ),
        )
        by = (
            f" You'll hear from us by {plain_date(request.expected_by, today())}."
            if request.expected_by
            else ""
        )
        dispatcher.utter_message(
            text=f"Thank you. We've recorded that you're moving out of {_address(tracker)} on "
            f"{_date(tracker)}. "
            f"Your reference is {request.reference}.\n\n{request.status_notes}{by}"
        )
        await send_confirmation(dispatcher, tracker, f"moving out on {_date(tracker)}", request.reference)
        return [*renewed, outcome("completed", self.journey, reference=request.reference)]

    async def failed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, error: IntegrationError
    ) -> list[EventType]:
        return await self.keep(dispatcher, tracker, error, "record your move", move_details(tracker))


class ActionCouncilTaxDiscount(CouncilTaxAction):
    journey = "council_tax_discount"
    REFUSALS: ClassVar[dict[str, str]] = {
        "already_receiving_discount": "This account already gets the single person discount, so you don't "
        "need to apply.",
        "application_pending": "You've already applied for the single person discount and we're looking at "
        "it. "
        "You don't need to apply again.",
        "date_out_of_range": "The date needs to be today or earlier, and within the last 6 years.",
    }

    def name(self) -> str:
        return "action_council_tax_discount"

    async def complete(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        if tracker.get_slot("confirm") is not True:
            return self.cancelled(dispatcher, "applied for the discount")
        since = dt.date.fromisoformat(tracker.get_slot("date"))
        request, renewed = await with_verification(
            tracker,
            lambda v: clients().council_tax.apply_single_person_discount(
                v,
                living_alone_from=since,
                idempotency_key=self.key(tracker),
            ),
        )
        by = f" by {plain_date(request.expected_by, today())}" if request.expected_by else ""
        dispatcher.utter_message(
            text=f"Thank you. We've received your application for the single person discount from "
            f"{_date(tracker)}. "
            f"Your reference is {request.reference}.\n\nWe'll check it and write to you{by}. If it's agreed, "
            "we'll send you a new bill with 25% off."
        )
        await send_confirmation(
            dispatcher, tracker, f"single person discount from {_date(tracker)}", request.reference
        )
        return [*renewed, outcome("completed", self.journey, reference=request.reference)]

    async def failed(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, error: IntegrationError
    ) -> list[EventType]:
        return await self.keep(
            dispatcher,
            tracker,
            error,
            "send your application",
            {"living_alone_from": tracker.get_slot("date")},
        )


class ActionCouncilTaxDirectDebit(CouncilTaxAction):
    journey = "council_tax_direct_debit"
    REFUSALS: ClassVar[dict[str, str]] = {
        "direct_debit_active": "You already pay by direct debit. To change the bank account, talk to a "
        "person.",
        "no_direct_debit": "You don't pay by direct debit at the moment, so there's no payment day to "
        "change.",
        "invalid_payment_day": "We can take direct debits on the 1st, 8th, 15th, 22nd or 28th of the month.",
    }

    def name(self) -> str:
        return "action_council_tax_direct_debit"

    async def complete(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        action = tracker.get_slot("dd_action")
        if action == "bank":
            dispatcher.utter_message(
                text="If you moved your bank account with the Current Account Switch Service, your direct "
                "debit "
                "moves with it and you don't need to do anything.\n\nOtherwise you need a new direct debit "
                "from your new account. A person can set this up with you. Please don't send bank details "
                "here.",
                buttons=[PERSON_BUTTON],
            )
            return [outcome("informed", self.journey, action="bank")]
        if action == "setup":
            link, renewed = await with_verification(tracker, clients().council_tax.direct_debit_setup_link)
            dispatcher.utter_message(
                text=f"Set up your direct debit on our secure form: {link.url}\n\nThe link works once, for "
                f"an hour. "
                "You'll give your bank details there, never in this chat. You can choose to pay on the 1st, "
                "8th, "
                "15th, 22nd or 28th of the month."
            )
            return [*renewed, outcome("informed", self.journey, action="setup_link")]
        if tracker.get_slot("confirm") is not True:
            return self.cancelled(dispatcher, "changed your direct debit")
        day = int(tracker.get_slot("dd_day"))
        change, renewed = await with_verification(
            tracker, lambda v: clients().council_tax.change_direct_debit_day(v, day)
        )
        start = f" from {plain_date(change.effective_from, today())}" if change.effective_from else ""
        reference = change.reference or ""
        dispatcher.utter_message(
            text=f"Done. Your council tax will be taken on the {ordinal(day)} of each month{start}. "
            f"Your reference is {reference}.\n\nPayments due in the next 14 days are taken on their usual "
            f"day."
        )
        await send_confirmation(
            dispatcher, tracker, f"direct debit day changed to the {ordinal(day)}", reference
        )
        return [*renewed, outcome("completed", self.journey, reference=reference, action="change_day")]


# --- payment completion -----------------------------------------------------------------


def is_council_tax_payment(payment: Payment) -> bool:
    return payment.metadata.get("service") == "council_tax" and bool(
        payment.metadata.get("account_reference")
    )


async def complete_council_tax_payment(payment: Payment) -> PaymentRecorded | None:
    """Record a successful council tax payment in the council tax system; idempotent by payment id.

    Called for every report of the payment (GOV.UK Pay's webhook, the resident coming back):
    recording the same payment id again answers the same, so the account is credited once.
    ``None`` when the payment did not succeed (nothing to record). A failure of the council
    tax system raises ``IntegrationError``: the caller keeps it for follow-up.
    """
    if not payment.is_success or not is_council_tax_payment(payment):
        return None
    return await clients().council_tax.record_payment(
        str(payment.metadata["account_reference"]),
        payment_id=payment.payment_id,
        amount_pence=payment.amount_pence,
    )


async def keep_payment_for_follow_up(payment: Payment, conversation: str) -> None:
    """The payment was taken but not recorded: keep it so it is recorded later (no verification needed)."""
    await asyncio.to_thread(
        outbox().add,
        key=f"council_tax_payment-{payment.payment_id}",
        kind="council_tax_payment",
        intent="pay_council_tax",
        system="council_tax",
        conversation=conversation,
        payload={
            "account_reference": payment.metadata.get("account_reference"),
            "payment_id": payment.payment_id,
            "amount_pence": payment.amount_pence,
        },
    )


@handler("council_tax_payment")
async def record_kept_payment(backoffice: Clients, item: OutboxItem) -> Completed:
    """Record a payment taken while the council tax system was down (``python -m integrations.outbox``)."""
    p = item.payload
    recorded = await backoffice.council_tax.record_payment(
        str(p["account_reference"]), payment_id=str(p["payment_id"]), amount_pence=int(p["amount_pence"])
    )
    return Completed(
        {"payment_id": recorded.payment_id},
        f"Your council tax payment of {pounds(recorded.amount_pence)} is now on your account.",
    )


def receipt(paid: dict[str, Any]) -> str:
    balance = paid.get("balance")
    if balance is None:
        left = ""
    elif balance < 0:
        left = f"\nYou're now {pounds(-balance)} in credit."
    else:
        left = f"\nLeft to pay this year: {pounds(balance)}."
    return (
        f"Thank you. We've received your council tax payment of {pounds(paid['amount'])}. "
        f"Your payment reference is {paid['payment_id']}.{left}\n"
        "GOV.UK Pay also emails you a receipt if you gave it your email address."
    )
