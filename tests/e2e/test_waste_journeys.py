"""Waste journeys end to end: REST channel -> Rasa -> action server -> sandbox."""

from __future__ import annotations

import re
import uuid

import pytest

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
    assert re.search(r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday) \d{1,2} \w+: (general waste|recycling)", answer)


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
    assert stack.tracker(sender)["active_loop"] in ({}, None) or not stack.tracker(sender)["active_loop"].get("name")
