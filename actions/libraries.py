"""Libraries (Koha): book a public computer, study room or event, and renew loans.

Book a library session: what, which library, which day -> the times with places
left, as buttons -> library card number and PIN -> a confirmation by email or text
if wanted -> read back and confirmed -> booked, reference (``LB-``) and what to do next.
A booking already made for the same patron, place and time is found and given back
instead of booking twice.

Renew library loans: card number and PIN -> the loans with their due dates ->
renew all or the ones chosen -> for each item, renewed (the new due date) or not,
and why not in plain words (someone has reserved it, renewed as often as allowed...).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.bookings import (
    BOOKING_SLOTS,
    AskBookingConfirm,
    AskBookingDay,
    Choice,
    ChoiceSteps,
    ContactSteps,
    Fetch,
    PatronSteps,
    Wanted,
    availability,
    booking_failed,
    booking_refused,
    confirm_booking,
    day_of,
    inform,
    now,
    outcome_value,
    taken,
    text_of,
    time_of_day,
)
from actions.clients import clients
from actions.common import backoffice_failed, ended, intent_of, outcome, plain_date
from integrations.errors import IntegrationError, Rejected
from integrations.libraries import RESOURCES, LibrarySession, RenewalReason

BOOK = "book_library_session"
RENEW = "renew_library_loans"
FORM = "library_booking_form"
PATRON_SLOTS = ("library_card_number", "library_pin", "pin_tries", "patron_id")
LIBRARY_SLOTS = ("resource", "library", *BOOKING_SLOTS, *PATRON_SLOTS)
RENEWAL_SLOTS = ("loans", "renew_choice", "attempts", *PATRON_SLOTS)
#: Why a loan could not be renewed, in plain words ("…, because …").
REASONS = {
    RenewalReason.ON_RESERVE: "someone else has reserved it",
    RenewalReason.TOO_MANY: "it has been renewed as many times as allowed",
    RenewalReason.TOO_SOON: "it's too soon: you can renew it nearer the due date",
    RenewalReason.OVERDUE: "it's overdue, so it needs to go back to the library",
    RenewalReason.RESTRICTED: "there's a block on your library account. Any library can tell you why",
    RenewalReason.AUTO_RENEW: "it will renew by itself before it's due",
    RenewalReason.OTHER: "the library system wouldn't allow it",
}
#: How a resource reads in "times with spaces for …" (events keep their names).
PLURALS = {"public computer": "public computers", "study room": "study rooms"}
#: Loans offered one by one as buttons (with "Renew all" and "Don't renew": a WhatsApp list holds 10).
LOAN_BUTTONS = 8
RESOURCE_BUTTONS = [
    "public computer",
    "study room",
    "rhyme time",
    "code club",
    "lego club",
    "knit and natter",
    "author talk",
]


def library_choice(session: LibrarySession) -> Choice:
    return Choice(
        key=f"{session.biblio_id}@{session.start.isoformat()}",
        start=session.start,
        end=session.end,
        place=session.library_name,
        spaces=session.spaces,
        extra={
            "resource": session.resource,
            "library_id": session.library_id,
            "biblio_id": session.biblio_id,
        },
    )


class ValidateLibraryBookingForm(ContactSteps, PatronSteps, ChoiceSteps):
    journey = BOOK
    place_entity = "library"
    criteria_slots = ("resource", "library", "date", "time")
    contact_optional = True
    try_instead = "another day or library"

    def name(self) -> str:
        return "validate_library_booking_form"

    def wanted(self, slots: dict[str, Any]) -> Wanted | None:
        if not (slots.get("resource") and slots.get("library") and slots.get("date")):
            return None
        what = PLURALS.get(slots["resource"], slots["resource"])
        return Wanted(what, slots["library"], day_of(slots["date"]), time_of_day(slots.get("time")))

    async def fetch(self, slots: dict[str, Any]) -> Fetch:
        return availability(clients().libraries.session_availability, slots["resource"], library_choice)

    async def validate_resource(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return self.offered_answer(value, dispatcher, tracker, "resource", RESOURCES, "our libraries")

    async def validate_library(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return await self.validate_place(
            value, dispatcher, tracker, clients().libraries.libraries, "library", "libraries"
        )


class ActionAskLibraryBookingFormResource(Action):
    def name(self) -> str:
        return "action_ask_library_booking_form_resource"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        dispatcher.utter_message(
            text="What would you like to book? A public computer, a study room, or a place at an event.",
            buttons=[{"title": r.capitalize(), "payload": inform(resource=r)} for r in RESOURCE_BUTTONS],
        )
        return []


class ActionAskLibraryBookingFormLibrary(Action):
    def name(self) -> str:
        return "action_ask_library_booking_form_library"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            names = [lib.name for lib in await clients().libraries.libraries()]
        except IntegrationError:
            names = []
        dispatcher.utter_message(
            text="Which library?",
            buttons=[{"title": n, "payload": inform(library=n)} for n in names],
        )
        return []


class ActionAskLibraryBookingFormDate(AskBookingDay):
    question = "What day would you like?"

    def name(self) -> str:
        return "action_ask_library_booking_form_date"


class ActionAskLibraryBookingFormConfirm(AskBookingConfirm):
    what = "resource"

    def name(self) -> str:
        return "action_ask_library_booking_form_confirm"


class ActionBookLibrarySession(Action):
    """Book the confirmed place for the patron, give the reference and the next step."""

    def name(self) -> str:
        return "action_book_library_session"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = [SlotSet(name, None) for name in LIBRARY_SLOTS]
        choice = tracker.get_slot("session_choice")
        patron_id = tracker.get_slot("patron_id")
        if tracker.get_slot("confirm") is not True or not isinstance(choice, dict) or not patron_id:
            return reset  # ended earlier, and the resident was told why
        client = clients().libraries
        start = dt.datetime.fromisoformat(choice["start"])
        try:
            # Booked already (a second "yes", or an answer lost on the way back)? Then that is the booking.
            mine = await client.find_session_bookings(int(patron_id))
            booking = next(
                (
                    b
                    for b in mine
                    if b.library_id == choice["library_id"]
                    and b.start == start
                    and b.resource == choice["resource"]
                    and b.status != "cancelled"
                ),
                None,
            )
            already = booking is not None
            if booking is None:
                sessions = await client.session_availability(
                    choice["resource"],
                    choice["place"],
                    start.date(),
                    include_full=True,
                    limit=None,
                    now=now(),
                )
                session = next(
                    (s for s in sessions if s.biblio_id == choice["biblio_id"] and s.start == start), None
                )
                if session is None or session.is_full:
                    return taken(dispatcher, FORM)
                booking = await client.book_session(session, int(patron_id))
        except Rejected as refused:
            if refused.reason in ("full", "conflict"):
                return taken(dispatcher, FORM)
            refusal = booking_refused(dispatcher, refused, intent=BOOK, system="koha", words="library system")
            return [*reset, *refusal]
        except IntegrationError as error:
            keep = {
                "patron_id": patron_id,
                "resource": choice["resource"],
                "library_id": choice["library_id"],
                "biblio_id": choice["biblio_id"],
                "start": choice["start"],
                "end": choice["end"],
            }
            key = tracker.get_slot("booking_key") or choice["key"]
            failed = await booking_failed(dispatcher, tracker, error, intent=BOOK, keep=keep, key=key)
            return [*reset, *failed]
        what, sent = await confirm_booking(
            tracker, intent=BOOK, reference=booking.reference, choice=choice, what="resource"
        )
        booked = "You already have this booked" if already else "You're booked"
        dispatcher.utter_message(
            text=f"{booked}: {what}. {sent}".rstrip()
            + f"\n\nYour booking reference is {booking.reference}. Bring your library card with you. "
            f"To cancel, say 'cancel {booking.reference}'."
        )
        return [
            *reset,
            outcome("completed", BOOK, system="koha", resource=choice["resource"], existing=already),
        ]


# --- renew loans -------------------------------------------------------------------------


def loan_line(number: int, loan: dict[str, Any], today: dt.date) -> str:
    due = dt.date.fromisoformat(loan["due"])
    late = " (overdue)" if due < today else ""
    return f"{number}. {loan['title']}, due {plain_date(due)}{late}"


def chosen_loans(text: str, loans: list[dict[str, Any]]) -> list[int] | None:
    """The numbers (1-based) or title words of the loans the resident chose; None if not understood."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if numbers:
        return numbers if all(1 <= n <= len(loans) for n in numbers) else None
    words = set(re.findall(r"[a-z']+", text.lower())) - {
        "the",
        "a",
        "and",
        "renew",
        "please",
        "just",
        "one",
        "book",
    }
    found = [
        i + 1
        for i, loan in enumerate(loans)
        if words and words <= set(re.findall(r"[a-z']+", loan["title"].lower()))
    ]
    return found or None


class ValidateLibraryRenewalForm(PatronSteps):
    journey = RENEW

    def name(self) -> str:
        return "validate_library_renewal_form"

    async def patron_verified(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, patron_id: int
    ) -> dict[str, Any]:
        try:
            loans = await clients().libraries.checkouts(patron_id)
        except IntegrationError as error:
            failed = await backoffice_failed(
                dispatcher, tracker, error, intent=RENEW, doing="look up your loans"
            )
            return ended(failed)
        if not loans:
            dispatcher.utter_message(
                text="You have nothing on loan at the moment, so there's nothing to renew."
            )
            return {"requested_slot": None, **outcome_value("informed", RENEW, loans=0)}
        return {
            "loans": [
                {"id": loan.checkout_id, "title": loan.title or "An item", "due": loan.due_date.isoformat()}
                for loan in loans
            ]
        }

    async def extract_renew_choice(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not self.asked(tracker, "renew_choice"):
            return {}
        text = text_of(tracker).lower()
        intent = intent_of(tracker)
        if intent == "affirm" or re.search(r"\b(all|everything|every one|them all)\b", text):
            return {"renew_choice": "all"}
        if intent == "deny" or re.fullmatch(r"(none|nothing|no|don'?t renew)\W*", text):
            return {"renew_choice": "none"}
        chosen = chosen_loans(text, tracker.get_slot("loans") or [])
        if chosen:
            return {"renew_choice": chosen}
        return {"renew_choice": "__unclear__"} if self.is_answer(tracker) else {}

    async def validate_renew_choice(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == "__unclear__":
            return self.failed_answer(
                dispatcher,
                tracker,
                "renew_choice",
                "Sorry, I didn't get which ones.",
                "Choose 'Renew all', or reply with the numbers of the items, for example 1 and 3.",
            )
        return self.accepted({"renew_choice": value})


class ActionAskRenewChoice(Action):
    """List the loans with their due dates; renew all, or the ones chosen."""

    def name(self) -> str:
        return "action_ask_renew_choice"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        loans = tracker.get_slot("loans") or []
        today = now().date()
        count = f"{len(loans)} items" if len(loans) > 1 else "1 item"
        lines = [
            f"You have {count} on loan:",
            *(loan_line(n, loan, today) for n, loan in enumerate(loans, 1)),
        ]
        lines += [
            "",
            "Which would you like to renew? Choose 'Renew all', or reply with their numbers, like 1 and 3.",
        ]
        buttons = [{"title": "Renew all", "payload": "/affirm"}]
        if len(loans) <= LOAN_BUTTONS:
            buttons += [
                {"title": f"{n}. {loan['title']}"[:24], "payload": str(n)} for n, loan in enumerate(loans, 1)
            ]
        buttons.append({"title": "Don't renew", "payload": "/deny"})
        dispatcher.utter_message(text="\n".join(lines), buttons=buttons)
        return []


class ActionRenewLibraryLoans(Action):
    """Renew the loans chosen; say for each what happened, and why not in plain words."""

    def name(self) -> str:
        return "action_renew_library_loans"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset = [SlotSet(name, None) for name in RENEWAL_SLOTS]
        loans = tracker.get_slot("loans") or []
        choice = tracker.get_slot("renew_choice")
        if not tracker.get_slot("patron_id") or not loans or choice is None:
            return reset  # ended earlier, and the resident was told why
        if choice == "none":
            dispatcher.utter_message(
                text="OK, I haven't renewed anything. Please return your items by their due dates."
            )
            return [*reset, outcome("informed", RENEW, renewed=0)]
        chosen = loans if choice == "all" else [loans[n - 1] for n in choice]
        try:
            results = await clients().libraries.renew_many([loan["id"] for loan in chosen])
        except IntegrationError as error:
            keep = {
                "patron_id": tracker.get_slot("patron_id"),
                "checkout_ids": [loan["id"] for loan in chosen],
            }
            failed = await backoffice_failed(
                dispatcher, tracker, error, intent=RENEW, doing="renew your loans", keep=keep, kind=RENEW
            )
            return [*reset, *failed]
        by_id = {loan["id"]: loan for loan in chosen}
        lines, renewed = [], 0
        for result in results:
            loan = by_id[result.checkout_id]
            if result.loan is not None:
                renewed += 1
                lines.append(
                    f"{loan['title']}: renewed. It's now due back on {plain_date(result.loan.due_date)}."
                )
            else:
                why = REASONS.get(result.refused or RenewalReason.OTHER, REASONS[RenewalReason.OTHER])
                due = plain_date(dt.date.fromisoformat(loan["due"]))
                lines.append(f"{loan['title']}: not renewed, because {why}. Please return it by {due}.")
        refused = len(results) - renewed
        if refused:
            lines += ["", "If you need more time with an item that wasn't renewed, any library can help."]
        else:
            lines += [
                "",
                "You'll see the new due dates in your library account. You don't need to do anything else.",
            ]
        dispatcher.utter_message(text="\n".join(lines))
        kind = "completed" if renewed else "informed"
        return [*reset, outcome(kind, RENEW, system="koha", renewed=renewed, refused=refused)]
