"""A way to a person end to end: handover with its transcript, agent messages, hand-back, call-backs.

In or out of office hours is decided twice: by the assistant (its clock is
``COUNCIL_ASSISTANT_NOW``, so these tests start their own Rasa server and
action server with the clock pinned) and by the contact centre sandbox (its
clock is set with ``PUT /_admin/contact-centre/clock``). Both are set to the
same moment, a Monday morning or a Saturday morning.

The hand-back is the documented one (``actions/contact.py``): the contact
centre calls Rasa's HTTP API, ``POST /conversations/<id>/execute`` with
``action_handover_update``, after an agent writes or closes the handover.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import Sandbox, Stack, running_stack
from tests.support.transcript import TRANSCRIPTS, Chat

pytestmark = pytest.mark.e2e

MONDAY_MORNING = "2026-11-30T10:00:00"  # Europe/London (GMT in November)
SATURDAY_MORNING = "2026-11-28T10:00:00"
IN_OFFICE_HOURS = pytest.mark.parametrize(
    "stack_at", [pytest.param(MONDAY_MORNING, id="monday_10am")], indirect=True
)
OUT_OF_HOURS = pytest.mark.parametrize(
    "stack_at", [pytest.param(SATURDAY_MORNING, id="saturday_10am")], indirect=True
)
CONTACT_KEY = {"X-Api-Key": "sandbox-contact-key"}


@pytest.fixture(
    scope="module", params=[MONDAY_MORNING, SATURDAY_MORNING], ids=["office_hours", "out_of_hours"]
)
def stack_at(
    request: pytest.FixtureRequest, sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Rasa server + action server with the assistant's clock pinned (tests ask for a time, one at a time)."""
    with running_stack(
        sandbox, tmp_path_factory.mktemp("pinned"), COUNCIL_ASSISTANT_NOW=request.param
    ) as running:
        yield running


def set_centre_clock(sandbox: Sandbox, london_time: str) -> None:
    httpx.put(
        sandbox.url + "/_admin/contact-centre/clock", json={"now": london_time + "+00:00"}, timeout=5
    ).raise_for_status()


def contact_centre_calls_rasa(stack: Stack, sender: str) -> list[str]:
    """What the contact centre does after an agent writes or closes: the replies sent to the resident."""
    response = httpx.post(
        f"{stack.url}/conversations/{sender}/execute",
        params={"output_channel": "latest", "token": stack.token},
        json={"name": "action_handover_update"},
        timeout=60,
    )
    response.raise_for_status()
    return [m.get("text") or "" for m in response.json().get("messages", [])]


def handover_of(sandbox: Sandbox, sender: str) -> dict[str, Any]:
    rows = [h for h in sandbox.rows("contact_centre_handovers") if h["conversation_id"] == sender]
    assert len(rows) == 1, rows
    return rows[0]


#: Conversations to write to docs/transcripts/request_human.md when the module is done.
RECORDED: dict[str, Chat] = {}


@pytest.fixture(scope="module", autouse=True)
def transcript_of_both_routes() -> Iterator[None]:
    yield
    if not os.environ.get("RECORD_TRANSCRIPTS") or not RECORDED:
        return
    body = "\n\n".join(
        f"## {heading}\n\n" + "\n\n".join(chat.lines) for heading, chat in sorted(RECORDED.items())
    )
    TRANSCRIPTS.mkdir(parents=True, exist_ok=True)
    (TRANSCRIPTS / "request_human.md").write_text(
        "# Talk to a person\n\nIn office hours the conversation goes to the contact centre with its "
        "transcript; out of hours the assistant takes a call-back request.\n\nRecorded from real runs "
        "through the Rasa server, the action server and the back-office sandbox "
        "(`RECORD_TRANSCRIPTS=1 pytest tests/e2e/test_handover.py`), with the assistant's and the "
        "contact centre's clocks set to a Monday or a Saturday morning. References come from the "
        "sandbox on the day of the run.\n\nWhile the conversation is with a person the assistant "
        "stays quiet. The agent's messages and the hand-back reach the resident through Rasa's HTTP "
        "API: the contact centre calls `POST /conversations/<id>/execute` with "
        "`action_handover_update` whenever an agent writes or closes the handover "
        "(`actions/contact.py`)."
        "\n\n---\n\n" + body + "\n"
    )


@IN_OFFICE_HOURS
def test_in_office_hours_the_handover_has_the_transcript_then_an_agent_replies_and_hands_back(
    stack_at: Stack, clean_sandbox: Sandbox
) -> None:
    set_centre_clock(clean_sandbox, MONDAY_MORNING)
    chat = Chat(stack_at, "request_human")
    assert "8-digit number" in chat.say("What's my council tax balance?")
    assert "postcode" in chat.say("79243506")
    handed = chat.say("Talk to a person")
    reference = re.search(r"HO-\d{6}", handed)
    assert reference and "I'll stay quiet" in handed and "minute" in handed

    row = handover_of(clean_sandbox, chat.sender)
    assert row["reference"] == reference.group(0) and row["status"] == "waiting"
    assert row["service"] == "council_tax" and row["intent"] == "council_tax_balance"
    assert "Check your council tax balance" in row["summary"] and "postcode" in row["summary"]
    lines = [(line["from"], line["text"]) for line in json.loads(row["transcript"])]
    assert ("resident", "What's my council tax balance?") in lines
    assert ("resident", "79243506") in lines and ("resident", "Talk to a person") in lines
    assert any(who == "assistant" and "8-digit number" in text for who, text in lines)
    tracker = stack_at.tracker(chat.sender)
    assert tracker["latest_message"]["intent"]["name"] == "request_human"
    assert not (tracker.get("active_loop") or {}).get("name")  # the journey ended

    assert chat.say("hello? is anyone there") == ""  # paused: the assistant stays quiet
    chat.note("The resident waits. An agent, Priya, picks up the conversation in the contact centre.")

    httpx.post(
        f"{clean_sandbox.url}/contact-centre/v1/handovers/{row['reference']}/messages",
        headers=CONTACT_KEY,
        json={"agent_name": "Priya", "text": "Hello, I'm Priya. I can see you were checking your balance."},
        timeout=5,
    ).raise_for_status()
    relayed = contact_centre_calls_rasa(stack_at, chat.sender)
    assert relayed == ["Priya: Hello, I'm Priya. I can see you were checking your balance."]
    assert contact_centre_calls_rasa(stack_at, chat.sender) == []  # each message relayed once
    chat.lines += [f"**Assistant:** {text}" for text in relayed]

    httpx.post(
        f"{clean_sandbox.url}/contact-centre/v1/handovers/{row['reference']}/close",
        headers=CONTACT_KEY,
        json={"reason": "returned_to_assistant"},
        timeout=5,
    ).raise_for_status()
    chat.note("Priya answers the question and hands the conversation back.")
    back = contact_centre_calls_rasa(stack_at, chat.sender)
    assert back and "digital assistant again" in back[-1]
    chat.lines += [f"**Assistant:** {text}" for text in back]
    assert stack_at.tracker(chat.sender)["paused"] is False
    assert "postcode" in chat.say("when is my bin day").lower()  # the assistant answers again
    RECORDED["1. In office hours: a handover, an agent, and back to the assistant"] = chat


@OUT_OF_HOURS
def test_out_of_hours_a_call_back_is_taken_and_recorded(stack_at: Stack, clean_sandbox: Sandbox) -> None:
    set_centre_clock(clean_sandbox, SATURDAY_MORNING)
    chat = Chat(stack_at, "request_human_out_of_hours")
    offered = chat.say("can I speak to someone please")
    assert "closed now" in offered and "Monday 30 November at 8:30am" in offered
    assert "What number should we call you on?" in offered
    assert "When is best" in chat.say("07700 900123")
    assert "not in the evening" in chat.say("evening")
    assert "What would you like to talk to us about?" in chat.say("Morning")
    assert "Is that right?" in chat.say("my council tax bill looks wrong")
    answer = chat.say("yes")
    reference = re.search(r"CB-\d{6}", answer)
    assert reference and "Monday 30 November between 8:30am and midday" in answer
    rows = [c for c in clean_sandbox.rows("contact_centre_callbacks") if c["reference"] == reference.group(0)]
    assert len(rows) == 1
    assert {
        k: rows[0][k] for k in ("phone_number", "best_time", "callback_date", "reason", "conversation_id")
    } == {
        "phone_number": "07700900123",
        "best_time": "morning",
        "callback_date": "2026-11-30",
        "reason": "my council tax bill looks wrong",
        "conversation_id": chat.sender,
    }
    assert [
        h for h in clean_sandbox.rows("contact_centre_handovers") if h["conversation_id"] == chat.sender
    ] == []
    outcomes = [
        e["value"]
        for e in stack_at.tracker(chat.sender)["events"]
        if e.get("event") == "slot" and e.get("name") == "outcome" and e.get("value")
    ]
    assert outcomes[-1] == {"outcome": "handed_over", "intent": "request_human", "route": "callback"}
    RECORDED["2. Out of hours: a call-back request"] = chat


@IN_OFFICE_HOURS
def test_in_office_hours_with_the_contact_centre_down_a_call_back_is_offered(
    stack_at: Stack, clean_sandbox: Sandbox
) -> None:
    set_centre_clock(clean_sandbox, MONDAY_MORNING)
    clean_sandbox.fault(path="/contact-centre/v1/handovers", method="POST", status=503)
    chat = Chat(stack_at, "request_human_fault")
    offered = chat.say("i want to talk to a human")
    assert "contact centre system isn't working" in offered and "call you back" in offered
    assert "Traceback" not in offered
    chat.say("01225 713000")
    chat.say("Any time")
    chat.say("question about my bins")
    answer = chat.say("yes")
    assert re.search(r"CB-\d{6}", answer)
    assert [c for c in clean_sandbox.rows("contact_centre_callbacks") if c["conversation_id"] == chat.sender]
