"""Book, cancel, renew and opening times end to end: REST channel -> Rasa -> action server -> sandbox.

Each test is a conversation as a resident has it, and ends by checking the sandbox's own
state (its tables through ``/_admin/state``, or the typed client against it): the booking,
the cancellation or the renewal really happened there, once.

With ``WRITE_TRANSCRIPTS=1`` the conversations are also written to ``docs/transcripts/``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bot.tracker_store import WITHHELD
from integrations.errors import NotFound
from integrations.http import new_http_client
from integrations.libraries import LibraryBooking, LibraryClient
from integrations.outbox import Outbox
from integrations.settings import Settings

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ALEX = ("21234000123456", "1234")  # seeded patron: renewable, reserved, at the limit and overdue loans
TOM = ("21234000345678", "1357")


# --- conversations, recorded as residents see them ------------------------------------------------


class Transcript:
    """A journey's transcript in docs/transcripts, from every test adding to it (if WRITE_TRANSCRIPTS)."""

    def __init__(self, name: str, title: str) -> None:
        self.name = name
        self.lines = [
            f"# {title}",
            "",
            f"Recorded from `tests/e2e/{Path(__file__).name}` against the sandbox "
            f"on {dt.date.today():%-d %B %Y}. "
            "Buttons are in brackets; a pressed button is shown as the resident sees it.",
            "",
        ]

    def save(self) -> None:
        if os.environ.get("WRITE_TRANSCRIPTS"):
            folder = ROOT / "docs" / "transcripts"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{self.name}.md").write_text("\n".join(self.lines).rstrip() + "\n")


TRANSCRIPTS = {
    name: Transcript(name, title)
    for name, title in [
        ("book_leisure_activity", "Book a leisure activity"),
        ("book_library_session", "Book a library session"),
        ("renew_library_loans", "Renew library loans"),
        ("cancel_booking", "Cancel a booking"),
        ("opening_times", "Leisure centre and library opening times"),
    ]
}
UNRECORDED = Transcript("unrecorded", "")


class Conversation:
    def __init__(self, stack: Any, transcript: Transcript, heading: str) -> None:
        self.stack, self.transcript = stack, transcript
        self.sender = f"e2e-{uuid.uuid4().hex[:10]}"
        self.replies: list[dict[str, Any]] = []
        transcript.lines += [f"## {heading}", ""]

    def say(self, text: str, shown: str | None = None) -> str:
        self.replies = self.stack.say(self.sender, text)
        lines = self.transcript.lines
        lines += [f"**Resident:** {shown or text}", ""]
        for reply in self.replies:
            if reply.get("text"):
                lines += ["**Assistant:** " + reply["text"].replace("\n", "  \n"), ""]
            if reply.get("buttons"):
                lines += [" ".join(f"[{b['title']}]" for b in reply["buttons"]), ""]
        return self.text

    def press(self, which: int | str = 0) -> str:
        """Press a button of the last replies: by position, or the first whose title starts with ``which``."""
        offered = self.buttons
        button = (
            offered[which]
            if isinstance(which, int)
            else next(b for b in offered if b["title"].startswith(which))
        )
        return self.say(button["payload"], shown=f"[{button['title']}]")

    @property
    def text(self) -> str:
        return "\n".join(r.get("text") or "" for r in self.replies)

    @property
    def buttons(self) -> list[dict[str, str]]:
        return [b for r in self.replies for b in r.get("buttons") or []]

    def slots(self) -> dict[str, Any]:
        return self.stack.tracker(self.sender)["slots"]

    def slot_events(self) -> list[dict[str, Any]]:
        return [e for e in self.stack.tracker(self.sender)["events"] if e.get("event") == "slot"]


def reference(text: str, prefix: str) -> str:
    found = re.search(rf"\b{prefix}-\d{{6}}\b", text)
    assert found, f"no {prefix} reference in: {text}"
    return found.group(0)


def order_items(sandbox: Any, order_number: str) -> list[dict[str, Any]]:
    orders = [o for o in sandbox.rows("oa_orders") if o["order_number"] == order_number]
    assert len(orders) == 1
    return [i for i in sandbox.rows("oa_order_items") if i["order_uuid"] == orders[0]["uuid"]]


def library_booking(sandbox: Any, ref: str) -> LibraryBooking | None:
    """The active library booking with this reference, read through the library client."""

    async def find() -> LibraryBooking | None:
        settings = Settings.from_env({"SANDBOX_URL": sandbox.url})
        async with new_http_client(settings.timeouts) as http:
            try:
                return await LibraryClient(http, settings.koha, settings.timeouts).get_session_booking(ref)
            except NotFound:
                return None

    return asyncio.run(find())


def next_day_with(weekdays: set[int]) -> dt.date:
    """The first day from tomorrow on whose weekday (Monday 0) is one of ``weekdays``."""
    day = dt.date.today() + dt.timedelta(days=1)
    while day.weekday() not in weekdays:
        day += dt.timedelta(days=1)
    return day


# --- book a leisure activity ------------------------------------------------------------------------


def test_leisure_booking_asked_step_by_step_is_made_once_and_confirmed_by_email(stack, clean_sandbox):
    transcript = TRANSCRIPTS["book_leisure_activity"]
    talk = Conversation(stack, transcript, "Step by step, with a question on the way and yes said twice")
    assert "Which leisure centre" in talk.say("I want to book a swim")
    assert [b["title"] for b in talk.buttons] == ["Calne", "Five Rivers", "Olympiad", "Springfield"]
    assert "What day" in talk.say("the olympiad")
    assert "These are the times with spaces for swimming at Olympiad Leisure Centre" in talk.press("Tomorrow")
    assert re.fullmatch(r"(\d{1,2}(:\d\d)?[ap]m|midday|midnight) \(\d+ spaces?\)", talk.buttons[0]["title"])
    assert "What email address or mobile number" in talk.press(0)
    answer = talk.say("what time does springfield close on sunday")
    assert "Springfield Campus is" in answer and "What email address or mobile number" in answer  # and back
    assert "Shall I book it?" in talk.say("jo.resident@example.com")
    booked = talk.say("yes")
    ref = reference(booked, "BK")
    assert f"Your booking reference is {ref}." in booked and "We've sent a confirmation by email." in booked
    assert "BK-" not in talk.say("yes")  # a second yes books nothing more
    transcript.save()

    mine = [o for o in clean_sandbox.rows("oa_orders") if o["customer_email"] == "jo.resident@example.com"]
    assert [o["order_number"] for o in mine] == [ref]
    assert [i["status"].rsplit("/", 1)[-1] for i in order_items(clean_sandbox, ref)] == ["OrderItemConfirmed"]
    sent = [n for n in clean_sandbox.rows("notify_notifications") if n["reference"] == ref]
    assert len(sent) == 1 and sent[0]["type"] == "email" and ref in sent[0]["body"]


def test_a_full_class_in_one_message_gets_alternatives_and_one_is_booked_by_phone(stack, clean_sandbox):
    transcript = TRANSCRIPTS["book_leisure_activity"]
    day = next_day_with({1, 3})  # spin at the Olympiad runs Tuesdays and Thursdays at 6pm, and is always full
    talk = Conversation(stack, transcript, "Everything in one message; the class is full")
    answer = talk.say(f"book spin at the olympiad on {day:%A} at 6pm")
    assert answer.startswith("There are no spaces left for spin at Olympiad Leisure Centre on")
    assert talk.buttons and not any(b["title"].startswith("Olympiad") for b in talk.buttons)
    assert "What email address or mobile number" in talk.press(0)
    assert "Confirmation by text message" in talk.say("07700 900456")
    ref = reference(talk.say("yes"), "BK")
    transcript.save()

    order = next(o for o in clean_sandbox.rows("oa_orders") if o["order_number"] == ref)
    assert order["customer_telephone"] == "07700900456"
    sms = [n for n in clean_sandbox.rows("notify_notifications") if n["reference"] == ref]
    assert len(sms) == 1 and sms[0]["type"] == "sms"


def test_booking_system_failing_is_honest_within_10_seconds_and_the_booking_kept(stack, clean_sandbox):
    talk = Conversation(stack, UNRECORDED, "fault")
    talk.say("book a swim at the olympiad tomorrow")
    talk.press(0)
    talk.say("fault.test@example.com")
    clean_sandbox.fault(path="/openactive/api/order", status=503)
    started = time.monotonic()
    answer = talk.say("yes")
    assert time.monotonic() - started < 10
    assert "leisure booking system isn't working right now" in answer and "saved your request" in answer
    assert "Traceback" not in answer
    assert not [o for o in clean_sandbox.rows("oa_orders") if o["customer_email"] == "fault.test@example.com"]
    kept = [i for i in Outbox(stack.actions.env["OUTBOX_DB_URL"]).items() if i.conversation == talk.sender]
    assert [i.kind for i in kept] == ["book_leisure_activity"] and kept[0].payload["order_uuid"]


# --- library sessions ---------------------------------------------------------------------------------


def test_library_computer_booking_checks_card_and_pin_and_is_in_koha(stack, clean_sandbox):
    transcript = TRANSCRIPTS["book_library_session"]
    talk = Conversation(stack, transcript, "A public computer, with card and PIN")
    assert "Which library?" in talk.say("can i book a computer at the library")
    assert "What day" in talk.say("chippenham library")
    times = talk.press("Tomorrow")  # on a Saturday, tomorrow is closed: the nearest times are offered
    assert "public computers at Chippenham Library" in times and "times with spaces" in times
    assert "library card number" in talk.press(0)
    assert "PIN" in talk.say(ALEX[0])
    assert "Would you like a confirmation?" in talk.say(ALEX[1])
    assert "No confirmation message" in talk.press("No thanks")
    ref = reference(talk.say("yes"), "LB")
    assert ref != "LB-310001"
    transcript.save()

    booking = library_booking(clean_sandbox, ref)
    assert booking is not None and booking.library_id == "CHIP" and booking.resource == "public computer"
    assert not any(e["value"] == ALEX[1] for e in talk.slot_events())  # the PIN was never in a slot
    assert_pin_not_kept(stack, talk.sender, ALEX[1])


def stored_user_texts(path: Path, sender: str) -> list[str]:
    """One conversation's user messages as a Rasa SQL table (tracker store or event broker) holds them."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT data FROM events WHERE sender_id = ?", (sender,)).fetchall()
    events = [json.loads(data) for (data,) in rows]
    return [e["text"] for e in events if e.get("event") == "user"]


def assert_pin_not_kept(stack: Any, sender: str, pin: str) -> None:
    """ "I won't show it or keep it": the PIN is in neither the tracker store nor the demand events."""
    api = [e.get("text") for e in stack.tracker(sender)["events"] if e.get("event") == "user"]
    for texts in (api, stored_user_texts(stack.files / "tracker.db", sender)):
        assert texts and pin not in texts and WITHHELD in texts, texts
    sent = stored_user_texts(stack.files / "events.db", sender)
    assert pin not in sent and WITHHELD in sent, sent
    for table in ("tracker.db", "events.db"):
        with closing(sqlite3.connect(stack.files / table)) as db:
            rows = db.execute("SELECT data FROM events WHERE sender_id = ?", (sender,)).fetchall()
        assert not any(f'"{pin}"' in data for (data,) in rows), f"the PIN is in {table}"


# --- renewals ------------------------------------------------------------------------------------


def test_renew_all_renews_what_can_be_and_says_why_not_for_the_rest(stack, clean_sandbox):
    transcript = TRANSCRIPTS["renew_library_loans"]
    patron = next(p for p in clean_sandbox.rows("koha_patrons") if p["cardnumber"] == ALEX[0])
    before = {
        c["checkout_id"]: c
        for c in clean_sandbox.rows("koha_checkouts")
        if c["patron_id"] == patron["patron_id"]
    }
    talk = Conversation(stack, transcript, "Renew all")
    assert "library card number" in talk.say("renew my library books")
    assert "PIN" in talk.say(ALEX[0])
    listed = talk.say(ALEX[1])
    assert f"You have {len(before)} items on loan:" in listed and ", due " in listed
    assert ALEX[1] not in listed
    result = talk.press("Renew all")
    assert "renewed. It's now due back on" in result
    assert "not renewed, because someone else has reserved it" in result
    assert "not renewed, because it has been renewed as many times as allowed" in result
    transcript.save()

    after = {
        c["checkout_id"]: c
        for c in clean_sandbox.rows("koha_checkouts")
        if c["patron_id"] == patron["patron_id"]
    }
    renewed = [i for i in before if after[i]["renewals_count"] == before[i]["renewals_count"] + 1]
    assert len(renewed) == result.count("renewed. It's now due back on") == 2
    assert all(after[i]["due_date"] > before[i]["due_date"] for i in renewed)
    slots = talk.slots()
    assert slots["library_pin"] is None and slots["patron_id"] is None
    assert not any(e["value"] == ALEX[1] for e in talk.slot_events())


def test_three_wrong_pins_end_the_attempt_and_offer_another_way(stack, clean_sandbox):
    transcript = TRANSCRIPTS["renew_library_loans"]
    talk = Conversation(stack, transcript, "Wrong PIN three times")
    talk.say(f"renew my books, card {TOM[0]}")
    assert "try 2 more times" in talk.say("9999")
    assert "try 1 more time" in talk.say("8888")
    ended = talk.say("7777")
    assert "stopped here to keep your account safe" in ended and "Talk to a person" in [
        b["title"] for b in talk.buttons
    ]
    assert not any(pin in ended for pin in ("9999", "8888", "7777"))
    transcript.save()

    tom = next(p for p in clean_sandbox.rows("koha_patrons") if p["cardnumber"] == TOM[0])
    assert tom["login_attempts"] == 3  # checked three times, not locked (Koha locks at five)
    talk.say("6666")
    tom = next(p for p in clean_sandbox.rows("koha_patrons") if p["cardnumber"] == TOM[0])
    assert tom["login_attempts"] == 3  # the attempt has ended: no fourth check
    assert talk.slots()["library_pin"] is None


# --- cancel a booking -------------------------------------------------------------------------------


def test_cancel_by_reference_is_confirmed_first_then_cancelled_in_the_booking_system(stack, clean_sandbox):
    transcript = TRANSCRIPTS["cancel_booking"]
    talk = Conversation(stack, transcript, "By reference")
    asked = talk.say("please cancel booking BK-104233")
    assert "Cancel your booking for family swim at Olympiad Leisure Centre" in asked
    assert [i["status"].rsplit("/", 1)[-1] for i in order_items(clean_sandbox, "BK-104233")] == [
        "OrderItemConfirmed"
    ]
    done = talk.say("yes")
    assert "is cancelled. Your reference is BK-104233." in done
    assert [i["status"].rsplit("/", 1)[-1] for i in order_items(clean_sandbox, "BK-104233")] == [
        "CustomerCancelled"
    ]

    library = Conversation(
        stack, transcript, "Without the reference: a library booking found by card and PIN"
    )
    assert "booking reference" in library.say("i need to cancel a booking")
    assert "library card number" in library.press("I don't have it")
    assert "PIN" in library.say(ALEX[0])
    assert "Which booking do you want to cancel?" in library.say(ALEX[1])
    assert "(LB-310001)" in library.press("Public computer")
    assert "is cancelled. Your reference is LB-310001." in library.say("yes")
    transcript.save()
    assert library_booking(clean_sandbox, "LB-310001") is None


def test_a_booking_that_already_happened_is_not_cancelled(stack, clean_sandbox):
    talk = Conversation(stack, UNRECORDED, "past")
    assert "already over" in talk.say("cancel BK-104235")
    assert [i["status"].rsplit("/", 1)[-1] for i in order_items(clean_sandbox, "BK-104235")] == [
        "OrderItemConfirmed"
    ]


# --- opening times -----------------------------------------------------------------------------------


def test_opening_times_come_from_the_systems_for_a_place_or_everywhere(stack, clean_sandbox):
    transcript = TRANSCRIPTS["opening_times"]
    talk = Conversation(stack, transcript, "A leisure centre")
    week = talk.say("what are the opening times for castle place")
    assert week.startswith("Castle Place Leisure Centre is") and "Opening times:" in week
    assert "Monday to Friday: 6:30am to 9pm" in week
    library = Conversation(stack, transcript, "A library on a day")
    day = next_day_with({2})
    assert f"Corsham Library is closed on {day:%A} {day.day} {day:%B}" in library.say(
        f"is corsham library open on {day:%A}"
    )
    everywhere = Conversation(stack, transcript, "No place named")
    listed = everywhere.say("library opening times")
    assert "Libraries today" in listed and "Chippenham Library:" in listed and "Melksham Library:" in listed
    transcript.save()
