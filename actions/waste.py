"""Bins: collection days, garden waste renewals (paid with GOV.UK Pay) and missed bin reports.

- Bin collection day: postcode -> address -> the next collection of each bin.
- Garden waste: postcode -> address -> the subscription found (current until,
  lapsed, none; too early to renew says when renewal opens) -> number of bins
  -> price -> email or mobile for a confirmation (or none) -> confirm -> a
  GOV.UK Pay link. The form then waits for the payment: whatever the resident
  says next ("done", "I've paid") is a check of the payment, and so is the
  GOV.UK Pay webhook's external intent. ``actions.payments.complete_payment``
  finishes the renewal either way. A declined or expired payment gets a new
  link; the subscription is untouched until a payment succeeds.
- Missed bin: postcode -> address -> bin type -> the round checked first (not
  due, already reported, bin not out, too late, round delayed: said plainly,
  nothing reported) -> confirm -> an Open311 report, its reference and when
  the crew will come back.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import clients
from actions.common import (
    AddressSteps,
    and_list,
    ask_address_message,
    backoffice_failed,
    call,
    ended,
    intent_of,
    journey_key,
    journey_outcome,
    outcome,
    plain_date,
    plain_time,
    pounds,
)
from actions.payments import (
    Completion,
    RenewalOrder,
    Status,
    complete_payment,
    follow_up_key,
    renewal_payment,
)
from bot.nlp.dates import now_in_london
from integrations.errors import IntegrationError, NotFound, Rejected
from integrations.office_hours import LONDON
from integrations.payments import PaymentStatus
from integrations.waste import GardenWaste, GardenWasteQuote, MissedBinCheck, soonest_of_each

#: Bins go out by this time on collection day; after it the day's round is under way.
BINS_OUT_BY = dt.time(7, 0)

#: The waste system's bin types, as residents call them (NLU canonical values).
BIN_NAMES = {
    "general_waste": "general waste",
    "recycling": "recycling",
    "glass": "glass",
    "food": "food waste",
    "garden": "garden waste",
}


def bin_name(bin_type: str) -> str:
    """The bin as residents call it (``food`` -> ``food waste``)."""
    return BIN_NAMES.get(bin_type, bin_type)


BIN_TYPES = {name: key for key, name in BIN_NAMES.items()}
#: Words that name a bin when the resident types it their own way, checked in this order.
BIN_WORDS = (
    ("glass", ("glass", "box", "bottle", "jar")),
    ("food", ("food", "caddy")),
    ("garden", ("garden", "brown", "green waste", "grass")),
    ("recycling", ("recycl", "blue", "paper", "plastic", "can")),
    ("general_waste", ("general", "black", "rubbish", "refuse", "landfill", "household")),
)
YES_NO = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
NOT_LISTED_UPRN = "not_listed"


def bin_type_key(value: Any) -> str | None:
    """The waste system's key for a bin type the resident named."""
    return BIN_TYPES.get(str(value).lower()) if value else None


def bin_type_from_text(text: str) -> str | None:
    """A bin type (canonical name) from the resident's own words: "the blue one" -> recycling."""
    lowered = text.lower()
    for key, words in BIN_WORDS:
        if any(re.search(r"\b" + re.escape(word), lowered) for word in words):
            return BIN_NAMES[key]
    return None


def iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def day_of(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def chose_address(result: dict[str, Any]) -> bool:
    """Whether an address validation settled on one of the listed addresses."""
    return bool(result.get("uprn")) and result.get("uprn") != NOT_LISTED_UPRN


def reset(*names: str) -> list[EventType]:
    return [SlotSet(name, None) for name in names]


def address_reset(tracker: Tracker) -> list[EventType]:
    """A "not listed" answer is not an address to remember for the next journey."""
    return reset("address", "uprn") if tracker.get_slot("uprn") == NOT_LISTED_UPRN else []


def abandoned_or_silent(tracker: Tracker, form: str, intent: str) -> list[EventType]:
    """A journey that ended before its last step: whoever ended it marked the outcome, else abandoned."""
    if journey_outcome(tracker, form, intent):
        return []
    step = "address" if tracker.get_slot("uprn") == NOT_LISTED_UPRN else tracker.get_slot("requested_slot")
    return [outcome("abandoned", intent, step=step or "unknown")]


# --- bin collection day ------------------------------------------------------------


class ActionAskAddress(Action):
    """Ask for the address at the postcode: buttons for a few, else the house number."""

    def name(self) -> str:
        return "action_ask_address"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text, buttons = ask_address_message(tracker.get_slot("address_options") or [])
        dispatcher.utter_message(text=text, buttons=buttons)
        return []


class ValidateBinDayForm(AddressSteps):
    journey = "bin_collection_day"

    def name(self) -> str:
        return "validate_bin_day_form"


class ActionBinCollectionDay(Action):
    """The next collections at the chosen address; also answers mid-way through another journey."""

    def name(self) -> str:
        return "action_bin_collection_day"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = "bin_collection_day"
        uprn = tracker.get_slot("uprn")
        done = [SlotSet("attempts", None)]
        if not uprn or uprn == NOT_LISTED_UPRN:
            if tracker.active_loop.get("name") not in (None, "bin_day_form"):
                # Asked in the middle of another journey, before we have the address.
                dispatcher.utter_message(text="I can tell you your collection days once I have your address.")
                return []
            return [*done, *address_reset(tracker), *abandoned_or_silent(tracker, "bin_day_form", intent)]
        now = now_in_london()
        try:
            collections, failed = await call(
                dispatcher,
                tracker,
                clients().waste.collections(uprn),
                intent=intent,
                doing="find your collection days",
            )
        except NotFound:
            dispatcher.utter_message(
                text="I couldn't find bin collections for that address. It may not be on one of our rounds. "
                "You can talk to a person about it."
            )
            return [*done, outcome("informed", intent, found=False)]
        if failed:
            return [*done, *failed]
        today = now.date()
        # Once the crews are out (BINS_OUT_BY), today's collections are no longer "next": name them apart.
        under_way = [c for c in collections if c.date == today] if now.time() >= BINS_OUT_BY else []
        upcoming = soonest_of_each(collections, after=today if under_way else None)
        if not upcoming and not under_way:
            dispatcher.utter_message(
                text="There are no collections booked at that address in the next 4 weeks."
            )
            return [*done, outcome("informed", intent, found=False)]
        lines = []
        for c in upcoming:
            moved = " (moved because of the bank holiday)" if c.moved else ""
            day = f"Today, {plain_date(c.date, today)}" if c.date == today else plain_date(c.date, today)
            lines.append(f"{day}: {bin_name(c.bin_type)}{moved}")
        address = tracker.get_slot("address")
        text = (
            f"Your next collections at {address} are:\n" + "\n".join(lines)
            if lines
            else f"There are no more collections booked at {address} in the next 4 weeks."
        )
        if under_way:
            names = and_list(sorted({bin_name(c.bin_type) for c in under_way}))
            text += (
                f"\n\nToday's {names} collection is already under way. "
                "If your bin has not been emptied by 6pm today, you can report it tomorrow."
            )
        dispatcher.utter_message(
            text=text + f"\n\nPut your bins out by {plain_time(BINS_OUT_BY)} on the day."
        )
        return [*done, outcome("informed", intent)]


# --- garden waste ---------------------------------------------------------------------

GARDEN_INTENT = "renew_garden_waste"
GARDEN_FORM = "garden_waste_form"
#: The journey's own slots, cleared when it ends (the address is kept, as for bin day).
GARDEN_SLOTS = (
    "number_of_bins",
    "bin_type",
    "garden_waste_terms",
    "garden_waste_contact",
    "confirm",
    "renewal_key",
    "renewal_payment",
    "renewal_paid",
    "email",
    "phone_number",
    "attempts",
)
#: While waiting for the payment, everything else the resident says is "have I paid?"
#: ("I've paid" is often read as pay_council_tax); these still do what they say.
NOT_ABOUT_PAYMENT = frozenset({"stop", "request_human", "help", "bot_challenge", "bin_collection_day"})
NEW_LINK = re.compile(r"\bnew\s+(?:payment\s+)?link\b|\banother\s+link\b", re.IGNORECASE)
NO_CONTACT = re.compile(
    r"^\s*(no|nope|none|no thanks?|no thank you|skip|not needed|no need)\b", re.IGNORECASE
)
NUMBER_WORDS = {"one": 1, "single": 1, "two": 2, "couple": 2, "both": 2, "three": 3}
#: Why a payment finished without taking money, in the resident's words (Pay's ``state.code``).
PAYMENT_FAILURES = {
    "P0010": "Your card payment was declined.",
    "P0020": "Your payment link ran out of time.",
    "P0030": "You cancelled the payment.",
    "P0040": "The payment was cancelled.",
}


def parse_count(value: Any) -> int | None:
    """A number of bins from "2", "two bins", "a couple"."""
    text = str(value or "").lower()
    digits = re.search(r"\b(\d+)\b", text)
    if digits:
        return int(digits.group(1))
    return next((n for word, n in NUMBER_WORDS.items() if re.search(rf"\b{word}\b", text)), None)


def is_mobile(number: str | None) -> bool:
    """A UK mobile (Notify only texts mobiles): 07... or +447..."""
    digits = re.sub(r"[^\d+]", "", number or "")
    return digits.startswith("07") or digits.startswith("+447") or digits.startswith("447")


def subscription_news(found: GardenWaste, address: str) -> str:
    """What the waste system holds for this address, in a sentence."""
    if found.status == "current" and found.expiry_date:
        until = f"Your garden waste collection at {address} is paid until {plain_date(found.expiry_date)}."
        if found.can_renew:
            return f"{until} You can renew it now for another year."
        opens = (
            plain_date(found.renewal_window_opens) if found.renewal_window_opens else "6 weeks before then"
        )
        return (
            f"{until} It's too early to renew: you can renew from {opens}. "
            "Come back then and I'll renew it for you."
        )
    if found.status == "lapsed" and found.expiry_date:
        return (
            f"Your garden waste collection at {address} ended on {plain_date(found.expiry_date)}. "
            "You can start it again today."
        )
    return f"There's no garden waste collection at {address} at the moment. You can start one today."


def quote_terms(quote: GardenWasteQuote) -> dict[str, Any]:
    return {
        "kind": quote.kind,
        "first_pence": quote.first_bin_pence,
        "extra_pence": quote.additional_bin_pence,
        "max_bins": quote.max_bins,
        "bins": quote.bins,
        "total_pence": quote.total_pence,
        "start": iso(quote.start_date),
        "expiry": iso(quote.expiry_date),
    }


class ValidateGardenWasteForm(AddressSteps):
    journey = GARDEN_INTENT

    def name(self) -> str:
        return "validate_garden_waste_form"

    async def validate_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        result = await super().validate_address(value, dispatcher, tracker, domain)
        if not chose_address(result):
            return result
        uprn = result["uprn"]
        bins = parse_count(tracker.get_slot("number_of_bins")) or 1
        try:
            found = await clients().waste.garden_waste(uprn)
            quote = await clients().waste.garden_waste_quote(uprn, min(bins, 3)) if found.can_renew else None
        except NotFound:
            dispatcher.utter_message(
                text="I couldn't find bin collections for that address, so I can't set up garden waste here. "
                "A person can help you with it.",
                buttons=[{"title": "Talk to a person", "payload": "/request_human"}],
            )
            return ended([outcome("informed", self.journey, found=False)], **result)
        except IntegrationError as error:
            events = await backoffice_failed(
                dispatcher, tracker, error, intent=self.journey, doing="check your garden waste collection"
            )
            return ended(events, **result)
        dispatcher.utter_message(text=subscription_news(found, result["address"]))
        if quote is None:
            return ended([outcome("informed", self.journey, status=found.status, renewable=False)], **result)
        terms = {"status": found.status, "until": iso(found.expiry_date), **quote_terms(quote)}
        return {**result, "garden_waste_terms": terms}

    async def extract_number_of_bins(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "number_of_bins") or not self.is_answer(tracker):
            return {}
        if next(tracker.get_latest_entity_values("number_of_bins"), None) is not None:
            return {}  # the slot's own mapping has it
        return {"number_of_bins": tracker.latest_message.get("text") or ""}

    async def validate_number_of_bins(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        terms = tracker.get_slot("garden_waste_terms") or {}
        most = int(terms.get("max_bins") or 3)
        bins = parse_count(value)
        if bins is None or not 1 <= bins <= most:
            return self.failed_answer(
                dispatcher,
                tracker,
                "number_of_bins",
                f"Please tell me how many bins, from 1 to {most}.",
                f"You can have up to {most} garden waste bins at one address.",
            )
        uprn = tracker.get_slot("uprn")
        if not uprn or uprn == NOT_LISTED_UPRN:  # given before the address: priced once we have it
            return self.accepted({"number_of_bins": str(bins)})
        try:
            quote = await clients().waste.garden_waste_quote(uprn, bins)
        except IntegrationError as error:
            events = await backoffice_failed(
                dispatcher, tracker, error, intent=self.journey, doing="price your bins"
            )
            return ended(events)
        return self.accepted(
            {"number_of_bins": str(bins), "garden_waste_terms": {**terms, **quote_terms(quote)}}
        )

    async def extract_garden_waste_contact(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "garden_waste_contact"):
            return {}
        if next(tracker.get_latest_entity_values("email"), None):
            return {"garden_waste_contact": "email"}
        if next(tracker.get_latest_entity_values("phone_number"), None):
            return {"garden_waste_contact": "phone"}
        text = tracker.latest_message.get("text") or ""
        intent = intent_of(tracker)
        if intent == "deny" or NO_CONTACT.match(text):
            return {"garden_waste_contact": "none"}
        if intent == "affirm" and (tracker.get_slot("email") or tracker.get_slot("phone_number")):
            return {"garden_waste_contact": "email" if tracker.get_slot("email") else "phone"}
        return {"garden_waste_contact": "unclear"} if self.is_answer(tracker) else {}

    async def validate_garden_waste_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == "phone" and not is_mobile(tracker.get_slot("phone_number")):
            return self.failed_answer(
                dispatcher,
                tracker,
                "garden_waste_contact",
                "I can only send a text to a mobile number. "
                "Type a mobile number or an email address, or say no.",
                "A mobile number starts with 07.",
            )
        if value not in ("email", "phone", "none"):
            return self.failed_answer(
                dispatcher,
                tracker,
                "garden_waste_contact",
                "Type your email address or mobile number, or say no if you don't want a confirmation.",
                "An email address looks like name@example.com; a mobile number starts with 07.",
            )
        return self.accepted({"garden_waste_contact": value})

    def validate_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        result = super().validate_confirm(value, dispatcher, tracker, domain)
        if next(tracker.get_latest_entity_values("email"), None):  # "no, send it to jo@example.com"
            result["garden_waste_contact"] = "email"
        elif next(tracker.get_latest_entity_values("phone_number"), None):
            result["garden_waste_contact"] = "phone"
        if result.get("confirm") is False:
            return {**result, "requested_slot": None}
        if result.get("confirm") is True and not tracker.get_slot("renewal_key"):
            result["renewal_key"] = journey_key(tracker, "gw")
        return result

    async def extract_renewal_paid(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "renewal_paid") or intent_of(tracker) in NOT_ABOUT_PAYMENT:
            return {}
        text = tracker.latest_message.get("text") or ""
        return {"renewal_paid": "new_link" if NEW_LINK.search(text) else "check"}

    async def validate_renewal_paid(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        current = tracker.get_slot("renewal_payment") or {}
        payment_id, attempt = current.get("payment_id"), int(current.get("attempt") or 1)
        if not payment_id:
            return {"renewal_paid": None}
        try:
            if value == "new_link" and await cancel_unfinished(payment_id):
                dispatcher.utter_message(text="I've cancelled the old payment link, so it can't be used.")
                return {"renewal_paid": None, "renewal_payment": {"attempt": attempt + 1}}
            done = await complete_payment(payment_id)
        except IntegrationError as error:
            # If the resident has paid, the webhook or the outbox finishes the renewal all the same.
            events = await backoffice_failed(
                dispatcher,
                tracker,
                error,
                intent=self.journey,
                doing="check your payment",
                keep={"payment_id": payment_id},
                kind="renew_garden_waste",
                key=follow_up_key(str(tracker.get_slot("renewal_key"))),
            )
            return ended(events, renewal_paid=None)
        return self.payment_answer(done, attempt, dispatcher)

    def payment_answer(
        self, done: Completion, attempt: int, dispatcher: CollectingDispatcher
    ) -> dict[str, Any]:
        if done.status is Status.RENEWED and done.subscription is not None:
            sub = done.subscription
            paid = {"reference": sub.reference, "until": iso(sub.expiry_date), "bins": sub.bins}
            return self.accepted({"renewal_paid": paid})
        if done.status in (Status.KEPT, Status.REFUSED):
            dispatcher.utter_message(
                text="Your payment has gone through, but I couldn't finish renewing your garden waste "
                "collection just now. I've saved it and our waste team will finish it for you. "
                "You don't need to pay again or do anything else."
            )
            return ended([outcome("integration_failed", self.journey, system="waste", kept=True, paid=True)])
        if done.status is Status.UNPAID:
            dispatcher.utter_message(text="I can't see your payment yet.")
            return {"renewal_paid": None}
        why = PAYMENT_FAILURES.get(done.failure_code, "Your payment didn't go through.")
        dispatcher.utter_message(
            text=f"{why} No money has been taken and your garden waste collection hasn't changed. "
            "You can try again with a new link."
        )
        return {"renewal_paid": None, "renewal_payment": {"attempt": attempt + 1}}


async def cancel_unfinished(payment_id: str) -> bool:
    """Cancel a payment that can still be paid; ``False`` if it has already finished (check it instead)."""
    try:
        await clients().payments.cancel_payment(payment_id)
    except Rejected:
        return False
    return True


def renewal_order(tracker: Tracker) -> RenewalOrder:
    terms = tracker.get_slot("garden_waste_terms") or {}
    contact = tracker.get_slot("garden_waste_contact")
    return RenewalOrder(
        uprn=str(tracker.get_slot("uprn")),
        address=str(tracker.get_slot("address")),
        bins=int(terms["bins"]),
        total_pence=int(terms["total_pence"]),
        kind=str(terms.get("kind") or "renewal"),
        renewal_key=str(tracker.get_slot("renewal_key")),
        conversation=tracker.sender_id,
        email=tracker.get_slot("email") if contact == "email" else None,
        phone=tracker.get_slot("phone_number") if contact == "phone" else None,
    )


class ActionAskGardenWasteBins(Action):
    def name(self) -> str:
        return "action_ask_garden_waste_form_number_of_bins"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        terms = tracker.get_slot("garden_waste_terms") or {}
        most = int(terms.get("max_bins") or 3)
        price = ""
        if terms.get("first_pence"):
            price = (
                f" It's {pounds(terms['first_pence'])} a year for the first bin and "
                f"{pounds(terms['extra_pence'])} for each extra bin, up to {most}."
            )
        dispatcher.utter_message(
            text=f"How many garden waste bins do you want?{price}",
            buttons=[{"title": str(n), "payload": str(n)} for n in range(1, most + 1)],
        )
        return []


class ActionAskGardenWasteConfirm(Action):
    def name(self) -> str:
        return "action_ask_garden_waste_form_confirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        terms = tracker.get_slot("garden_waste_terms") or {}
        bins = int(terms.get("bins") or 1)
        what = "Renew" if terms.get("kind") == "renewal" else "Start"
        start, expiry = day_of(terms.get("start")), day_of(terms.get("expiry"))
        first = "today" if start == dt.datetime.now(LONDON).date() else plain_date(start) if start else ""
        period = f" from {first} to {plain_date(expiry)}" if start and expiry else ""
        contact = {
            "email": f"We'll email a confirmation to {tracker.get_slot('email')}.",
            "phone": f"We'll text a confirmation to {tracker.get_slot('phone_number')}.",
        }.get(tracker.get_slot("garden_waste_contact") or "", "")
        summary = [
            f"{what} garden waste collection at {tracker.get_slot('address')} for "
            f"{bins} bin{'s' if bins > 1 else ''}{period}.",
            f"The total is {pounds(int(terms.get('total_pence') or 0))}.",
            contact,
        ]
        dispatcher.utter_message(
            text=" ".join(part for part in summary if part) + "\n\nShall I get you a secure payment link?",
            buttons=YES_NO,
        )
        return []


class ActionAskGardenWastePayment(Action):
    """The payment step: the link for this attempt (made once), or how to finish paying."""

    def name(self) -> str:
        return "action_ask_garden_waste_form_renewal_paid"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        order = renewal_order(tracker)
        attempt = int((tracker.get_slot("renewal_payment") or {}).get("attempt") or 1)
        try:
            payment = await renewal_payment(order, attempt)
            if payment.is_finished and not payment.is_success:  # it ran out of time meanwhile
                attempt += 1
                payment = await renewal_payment(order, attempt)
        except IntegrationError as error:
            events = await backoffice_failed(
                dispatcher, tracker, error, intent=GARDEN_INTENT, doing="make your payment link"
            )
            return [*events, SlotSet("requested_slot", None)]
        if payment.is_success:
            text = "It looks like you've already paid. Say 'done' and I'll finish your renewal."
        elif payment.status is PaymentStatus.CREATED and payment.next_url:
            text = (
                f"Pay {pounds(order.total_pence)} with GOV.UK Pay using this secure link:\n"
                f"{payment.next_url}\n\n"
                "The link works for 90 minutes. When you've paid, come back here and say 'done'."
            )
        else:
            text = (
                "Your payment is still open on the GOV.UK Pay page. Finish paying there, then say 'done'. "
                "If you've closed the page, say 'new link'."
            )
        dispatcher.utter_message(text=text)
        return [SlotSet("renewal_payment", {"payment_id": payment.payment_id, "attempt": attempt})]


class ActionRenewGardenWaste(Action):
    """The end of the garden waste journey: the reference and what happens next, or nothing more to say."""

    def name(self) -> str:
        return "action_renew_garden_waste"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        paid = tracker.get_slot("renewal_paid")
        terms = tracker.get_slot("garden_waste_terms") or {}
        done = [*reset(*GARDEN_SLOTS), *address_reset(tracker)]
        if isinstance(paid, dict) and paid.get("reference"):
            reference, until = paid["reference"], plain_date(dt.date.fromisoformat(paid["until"]))
            address = tracker.get_slot("address")
            renewed = terms.get("kind") == "renewal"
            contact = tracker.get_slot("garden_waste_contact")
            sent = {
                "email": " We've emailed you a confirmation.",
                "phone": " We've texted you a confirmation.",
            }
            next_step = (
                "Keep putting your garden waste bin out on your usual collection day."
                if renewed
                else "Put your garden waste bin out on your collection day. Ask me "
                "'when is my bin day' to find it."
            )
            dispatcher.utter_message(
                text="Thank you, your payment has gone through. "
                f"Your garden waste collection at {address} is "
                f"{'renewed' if renewed else 'set up'} until {until}. Your reference is {reference}."
                f"{sent.get(contact or '', '')}\n\n{next_step}"
            )
            return [
                *done,
                outcome("completed", GARDEN_INTENT, subscription=terms.get("kind"), bins=paid.get("bins")),
                SlotSet("last_request", {"reference": reference}),
            ]
        if tracker.get_slot("confirm") is False:
            dispatcher.utter_message(text="OK, I haven't renewed anything and you haven't paid anything.")
            return [*done, outcome("cancelled", GARDEN_INTENT, step="confirm")]
        return [*done, *abandoned_or_silent(tracker, GARDEN_FORM, GARDEN_INTENT)]


# --- missed bins ---------------------------------------------------------------------

MISSED_INTENT = "report_missed_bin"
MISSED_FORM = "missed_bin_form"
MISSED_SLOTS = ("bin_type", "missed_bin", "confirm", "missed_bin_key", "attempts")


def round_news(check: MissedBinCheck, today: dt.date | None = None) -> str:
    """Why a missed collection can't be reported, and what happens instead."""
    name = bin_name(check.bin_type)
    last = plain_date(check.last_collection, today) if check.last_collection else None
    then = (
        f" Your next {name} collection is {plain_date(check.next_collection, today)}."
        if check.next_collection
        else ""
    )
    if check.status == "not_due":
        if check.round_status in ("scheduled", "in_progress"):
            return (
                f"The crew is still collecting {name} on your street today: they work until 6pm. "
                "If your bin hasn't been emptied by then, you can report it tomorrow."
            )
        return f"Your {name} collection isn't due yet.{then}"
    if check.status == "already_reported":
        return (
            f"A missed {name} collection has already been reported at this address: the reference is "
            f"{check.existing_reference}. You don't need to report it again: "
            "the crew will come back to empty it."
        )
    if check.status == "not_out":
        return (
            f"The crew recorded that your {name} bin wasn't out when they came on {last}, so I can't report "
            f"it as missed.{then} Please put it out by {plain_time(BINS_OUT_BY)} that day."
        )
    if check.status == "too_late":
        return (
            f"Your {name} was due on {last}. Missed collections need to be reported within 2 working days, "
            f"so I can't report this one.{then}"
        )
    if check.status == "round_delayed":
        back = plain_date(check.catch_up_date, today) if check.catch_up_date else "as soon as they can"
        return (
            f"The {name} round on {last} was delayed. The crew will come back on {back}, "
            "so you don't need to report it. Please leave your bin out."
        )
    if check.status == "no_service":
        return (
            "There's no garden waste collection at this address at the moment, so there's no collection to "
            "report. You can start one: just say 'renew garden waste'."
        )
    return "I can't report this collection as missed."


class ValidateMissedBinForm(AddressSteps):
    journey = MISSED_INTENT

    def name(self) -> str:
        return "validate_missed_bin_form"

    async def validate_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        result = await super().validate_address(value, dispatcher, tracker, domain)
        bin_type = bin_type_key(tracker.get_slot("bin_type"))
        if chose_address(result) and bin_type:
            return {**result, **await self.check_round(dispatcher, tracker, result["uprn"], bin_type)}
        return result

    async def extract_bin_type(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "bin_type") or not self.is_answer(tracker):
            return {}
        if next(tracker.get_latest_entity_values("bin_type"), None) is not None:
            return {}
        return {"bin_type": bin_type_from_text(tracker.latest_message.get("text") or "") or "unknown"}

    async def validate_bin_type(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        key = bin_type_key(value) or bin_type_key(bin_type_from_text(str(value or "")))
        if key is None:
            return self.failed_answer(
                dispatcher,
                tracker,
                "bin_type",
                "Which bin wasn't emptied?",
                "Choose general waste, recycling, glass, food waste or garden waste.",
            )
        result = self.accepted({"bin_type": BIN_NAMES[key]})
        uprn = tracker.get_slot("uprn")
        if uprn and uprn != NOT_LISTED_UPRN:
            return {**result, **await self.check_round(dispatcher, tracker, uprn, key)}
        return result

    async def check_round(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, uprn: str, bin_type: str
    ) -> dict[str, Any]:
        """Ask the waste system first; say plainly why a collection can't be reported."""
        try:
            check = await clients().waste.missed_bin_check(uprn, bin_type)
        except NotFound:
            dispatcher.utter_message(
                text="I couldn't find bin collections for that address. A person can help you with it.",
                buttons=[{"title": "Talk to a person", "payload": "/request_human"}],
            )
            return ended([outcome("informed", self.journey, found=False)])
        except IntegrationError as error:
            events = await backoffice_failed(
                dispatcher, tracker, error, intent=self.journey, doing="check your bin round"
            )
            return ended(events)
        if check.eligible:
            return {"missed_bin": {"last": iso(check.last_collection)}}
        dispatcher.utter_message(text=round_news(check))
        return ended([outcome("informed", self.journey, check=check.status)])

    def validate_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        result = super().validate_confirm(value, dispatcher, tracker, domain)
        if result.get("confirm") is False:
            return {**result, "requested_slot": None}
        if result.get("confirm") is True and not tracker.get_slot("missed_bin_key"):
            result["missed_bin_key"] = journey_key(tracker, "mb")
        return result


class ActionAskMissedBinConfirm(Action):
    def name(self) -> str:
        return "action_ask_missed_bin_form_confirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        last = day_of((tracker.get_slot("missed_bin") or {}).get("last"))
        due = f" It was due on {plain_date(last)}." if last else ""
        dispatcher.utter_message(
            text=f"Report a missed {tracker.get_slot('bin_type')} collection "
            f"at {tracker.get_slot('address')}?{due}",
            buttons=YES_NO,
        )
        return []


class ActionReportMissedBin(Action):
    """Open the Open311 report (once, however often asked): its reference and when the crew comes back."""

    def name(self) -> str:
        return "action_report_missed_bin"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        done = [*reset(*MISSED_SLOTS), *address_reset(tracker)]
        key = tracker.get_slot("missed_bin_key")
        if tracker.get_slot("confirm") is True and key:
            return [*done, *await self.report(dispatcher, tracker, key)]
        if tracker.get_slot("confirm") is False:
            dispatcher.utter_message(text="OK, I haven't reported anything.")
            return [*done, outcome("cancelled", MISSED_INTENT, step="confirm")]
        return [*done, *abandoned_or_silent(tracker, MISSED_FORM, MISSED_INTENT)]

    async def report(self, dispatcher: CollectingDispatcher, tracker: Tracker, key: str) -> list[EventType]:
        uprn, name = str(tracker.get_slot("uprn")), str(tracker.get_slot("bin_type"))
        bin_type = bin_type_key(name) or name
        reports = clients().reports
        try:
            created = await reports.report_missed_bin(uprn, bin_type, idempotency_key=key)
        except (Rejected, NotFound):
            return await self.refused(dispatcher, uprn, bin_type)
        except IntegrationError as error:
            return await backoffice_failed(
                dispatcher,
                tracker,
                error,
                intent=MISSED_INTENT,
                doing="report your missed bin",
                keep={"uprn": uprn, "bin_type": bin_type},
                kind="report_missed_bin",
                key=key,
            )
        reference = created.service_request_id
        try:
            expected = (await reports.get_request(reference)).expected_datetime
        except IntegrationError:
            expected = None
        when = f"by {plain_date(expected.astimezone(LONDON).date())}" if expected else "within 2 working days"
        dispatcher.utter_message(
            text=f"I've reported your missed {name} collection. Your reference is {reference}.\n\n"
            f"The crew will come back to empty it {when}. Please leave your bin out until then."
        )
        return [
            outcome("completed", MISSED_INTENT, bin_type=bin_type),
            SlotSet("last_request", {"reference": reference}),
        ]

    async def refused(self, dispatcher: CollectingDispatcher, uprn: str, bin_type: str) -> list[EventType]:
        """The round changed since we checked it (reported meanwhile, say): say why, from the waste system."""
        try:
            check = await clients().waste.missed_bin_check(uprn, bin_type)
        except IntegrationError:
            check = None
        if check is None or check.eligible:
            dispatcher.utter_message(
                text="Our waste system wouldn't take this report. A person can look into it for you.",
                buttons=[{"title": "Talk to a person", "payload": "/request_human"}],
            )
            return [outcome("informed", MISSED_INTENT, check="refused")]
        dispatcher.utter_message(text=round_news(check))
        return [outcome("informed", MISSED_INTENT, check=check.status)]
