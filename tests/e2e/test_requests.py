"""Checking on a request and making a complaint, end to end: REST channel -> Rasa -> actions -> sandbox."""

from __future__ import annotations

import re

import pytest

from tests.support.transcript import Chat

pytestmark = pytest.mark.e2e


def demo_case(sandbox, name: str) -> dict:
    return next(c for c in sandbox.rows("waste_demo_cases") if c["name"] == name)


def outcomes(stack, sender: str) -> list[dict]:
    return [
        e["value"]
        for e in stack.tracker(sender)["events"]
        if e.get("event") == "slot" and e.get("name") == "outcome" and e.get("value")
    ]


def test_a_missed_bin_report_is_checked_by_its_reference(stack, clean_sandbox):
    reported = demo_case(clean_sandbox, "missed_bin_already_reported")
    reference = re.search(r"MB-\d{6}", reported["note"]).group(0)
    chat = Chat(stack, "check_request_status")
    answer = chat.say(f"any news on {reference}")
    assert f"Your missed bin report {reference} is with the collection crew." in answer
    assert outcomes(stack, chat.sender)[-1] == {
        "outcome": "informed",
        "intent": "check_request_status",
        "by": "reference",
        "prefix": "MB",
    }
    chat.say("where is my new bin")
    chat.say("I don't have a reference")
    chat.say("SN15 1ER")
    answer = chat.say("5")
    assert "Here's what I can see for 5 Market Place:" in answer and "Bin delivery BD-" in answer
    chat.save(
        "Check on a request",
        "A resident chases a missed bin report by its reference, "
        "then asks where their new bin is without one.",
    )


def test_an_unknown_reference_is_asked_again(stack, clean_sandbox):
    chat = Chat(stack, "status_unknown")
    assert "I couldn't find MB-999999" in chat.say("any update on MB-999999")


def test_a_complaint_is_recorded_in_open311_with_reference_team_and_reply_date(stack, clean_sandbox):
    chat = Chat(stack, "make_complaint")
    assert "What is your complaint about?" in chat.say("I want to make a complaint")
    text = "The crew left rubbish all over the road on Tuesday and didn't clear it up"
    assert "email address or phone number" in chat.say(text)
    answer = chat.say("jo@example.com")
    assert "Your complaint about bins and recycling" in answer and "Shall I send it?" in answer
    answer = chat.say("yes")
    reference = re.search(r"Your reference is (CP-\d{6})\.", answer).group(1)
    assert "the Waste and Recycling team" in answer and "They'll reply to you by" in answer
    [complaint] = [r for r in clean_sandbox.rows("open311_requests") if r["service_request_id"] == reference]
    assert complaint["service_code"] == "complaint" and complaint["description"] == text
    assert complaint["email"] == "jo@example.com" and '"complaint_about": "waste"' in complaint["attributes"]
    assert outcomes(stack, chat.sender)[-1] == {
        "outcome": "completed",
        "intent": "make_complaint",
        "about": "waste",
    }
    answer = chat.say(f"whats happening with {reference}")
    assert f"Your complaint {reference} is with the Waste and Recycling team." in answer
    chat.save("Make a complaint", "A resident complains about the bin crew, then checks on the complaint.")


def test_a_complaint_when_open311_is_down_is_kept_and_said_honestly(stack, clean_sandbox):
    chat = Chat(stack, "complaint_fault")
    chat.say("the bin men were rude and left rubbish everywhere")
    chat.say("07700 900123")
    clean_sandbox.fault(path="/open311/v2/requests.json", method="POST", status=503)
    answer = chat.say("yes")
    assert "isn't working right now" in answer and "I've saved your request" in answer
    assert not [
        r
        for r in clean_sandbox.rows("open311_requests")
        if r["service_code"] == "complaint" and (r["description"] or "").startswith("the bin men")
    ]
