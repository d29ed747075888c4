"""Waste journeys end to end: REST channel -> Rasa -> action server -> sandbox."""

from __future__ import annotations

import re
import uuid

import pytest

from integrations.sandbox.systems.waste import working_day_from
from integrations.sandbox.world import today_in_london

pytestmark = pytest.mark.e2e


def texts(replies: list[dict]) -> str:
    return "\n".join(r.get("text") or "" for r in replies)


def test_bin_day_asks_for_postcode_then_house_number_and_gives_dates(stack, clean_sandbox):
    sender = f"e2e-{uuid.uuid4().hex[:8]}"
    assert "postcode" in texts(stack.say(sender, "when is my bin day")).lower()
    replies = stack.say(sender, "SN15 1ER")
    assert "house number" in texts(replies).lower()  # 24 addresses: too many for buttons
    answer = texts(stack.say(sender, "3"))
    assert "Your next collections at 3 Market Place are:" in answer
    assert re.search(
        r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday) \d{1,2} \w+: (general waste|recycling)", answer
    )


def test_bin_day_with_postcode_in_first_message_and_a_wrong_postcode_first(stack, clean_sandbox):
    sender = f"e2e-{uuid.uuid4().hex[:8]}"
    first = texts(stack.say(sender, "what day are my bins collected SN15 9ZZ"))
    assert "couldn't find any addresses for SN15 9ZZ" in first
    assert "house number" in texts(stack.say(sender, "sorry its SN15 1ER")).lower()
    assert "Your next collections at 12 Market Place" in texts(stack.say(sender, "12 market place"))


def test_bin_day_when_the_waste_system_is_down_is_honest(stack, clean_sandbox):
    sender = f"e2e-{uuid.uuid4().hex[:8]}"
    stack.say(sender, "bin day please")
    stack.say(sender, "SN15 1ER")
    clean_sandbox.fault(path="/waste/v1/properties", status=503)
    answer = texts(stack.say(sender, "5"))
    assert "isn't working right now" in answer
    assert "Traceback" not in answer


def test_stop_leaves_the_journey(stack, clean_sandbox):
    sender = f"e2e-{uuid.uuid4().hex[:8]}"
    stack.say(sender, "bin collection day")
    assert "stopped" in texts(stack.say(sender, "stop")).lower()
    assert stack.tracker(sender)["active_loop"] in ({}, None) or not stack.tracker(sender)["active_loop"].get(
        "name"
    )


# --- missed bins ---------------------------------------------------------------------

from tests.support.transcript import Chat  # noqa: E402

BIN_WORDS = {
    "general_waste": "general waste",
    "recycling": "recycling",
    "glass": "glass",
    "food": "food waste",
    "garden": "garden waste",
}


def demo_case(sandbox, name: str) -> dict:
    """The sandbox's demo property for a case (which one depends on the day of the week)."""
    return next(c for c in sandbox.rows("waste_demo_cases") if c["name"] == name)


def where(case: dict) -> tuple[str, str]:
    """(house number, postcode) from a demo case's note: "2, LONDON ROAD, CHIPPENHAM, SN15 3HZ: ..."."""
    address = case["note"].split(":")[0].split(", ")
    return address[0], address[-1]


def label(case: dict) -> str:
    """The address as the assistant names it: "2 London Road"."""
    number, street = case["note"].split(":")[0].split(", ")[:2]
    return f"{number} {street.title()}"


def test_missed_bin_report_is_made_in_open311_with_its_reference(stack, clean_sandbox):
    case = demo_case(clean_sandbox, "missed_bin_eligible")
    number, postcode = where(case)
    name = BIN_WORDS[case["bin_type"]]
    chat = Chat(stack, "report_missed_bin")
    assert "postcode" in chat.say(f"my {name} wasn't collected").lower()
    assert "house number" in chat.say(postcode).lower()
    answer = chat.say(number)
    assert f"Report a missed {name} collection at {label(case)}?" in answer
    answer = chat.say("yes")
    reference = re.search(r"Your reference is (MB-\d{6})\.", answer).group(1)
    assert "The crew will come back to empty it by" in answer
    [report] = [r for r in clean_sandbox.rows("open311_requests") if r["service_request_id"] == reference]
    assert report["service_code"] == "missed_bin" and report["uprn"] == case["uprn"]
    assert report["bin_type"] == case["bin_type"] and report["status"] == "open"
    stack.say(chat.sender, "yes")  # said again: not a second report
    assert (
        len(
            [
                r
                for r in clean_sandbox.rows("open311_requests")
                if r["uprn"] == case["uprn"] and r["bin_type"] == case["bin_type"] and r["status"] == "open"
            ]
        )
        == 1
    )
    chat.save("Report a missed bin", "A resident's bin was not emptied; the round is checked, then reported.")


def test_missed_bin_not_due_yet_is_said_plainly_and_nothing_is_reported(stack, clean_sandbox):
    # Rounds run on working days only: on a weekend or bank holiday the sandbox's council is set to
    # the next working day, when a round is still under way.
    today = today_in_london()
    working_day = working_day_from(today)
    if working_day != today:
        clean_sandbox.reset(today=working_day)
    try:
        case = demo_case(clean_sandbox, "missed_bin_not_due")
        number, postcode = where(case)
        before = len(clean_sandbox.rows("open311_requests"))
        chat = Chat(stack, "missed_bin_not_due")
        chat.say(f"my {BIN_WORDS[case['bin_type']]} bin wasn't collected {postcode}")
        answer = chat.say(number)
        assert "still collecting" in answer
        assert len(clean_sandbox.rows("open311_requests")) == before
    finally:
        if working_day != today:
            clean_sandbox.reset()


def test_missed_bin_when_open311_is_down_is_kept_for_follow_up(stack, clean_sandbox):
    case = demo_case(clean_sandbox, "missed_bin_eligible")
    number, postcode = where(case)
    sender = f"e2e-{uuid.uuid4().hex[:8]}"
    stack.say(sender, f"report a missed {BIN_WORDS[case['bin_type']]} collection")
    stack.say(sender, postcode)
    stack.say(sender, number)
    clean_sandbox.fault(path="/open311/v2/requests.json", method="POST", status=503)
    answer = texts(stack.say(sender, "yes"))
    assert "isn't working right now" in answer and "I've saved your request" in answer
    assert not [
        r
        for r in clean_sandbox.rows("open311_requests")
        if r["uprn"] == case["uprn"] and r["bin_type"] == case["bin_type"] and r["status"] == "open"
    ]
