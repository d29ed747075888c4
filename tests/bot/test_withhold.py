"""Secret answers (the library PIN) are withheld before a conversation is stored."""

from __future__ import annotations

from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.tracker_store import WITHHELD, withhold_secret_answers


def user(text: str) -> UserUttered:
    return UserUttered(
        text,
        intent={"name": "inform", "confidence": 0.9},
        entities=[{"entity": "number", "value": text, "start": 0, "end": len(text)}],
    )


def conversation(*events) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("resident", list(events))


def test_the_answer_to_the_pin_question_is_withheld_and_nothing_else():
    card, pin, after = user("21234000123456"), user("1234"), user("1234 is my lucky number")
    tracker = conversation(
        user("renew my books"),
        ActiveLoop("library_renewal_form"),
        SlotSet("requested_slot", "library_card_number"),
        ActionExecuted("action_listen"),
        card,
        SlotSet("requested_slot", "library_pin"),
        ActionExecuted("action_listen"),
        pin,
        SlotSet("library_pin", "verified"),
        SlotSet("requested_slot", "renew_choice"),
        ActionExecuted("action_listen"),
        user("renew all"),
        ActiveLoop(None),
        SlotSet("requested_slot", "library_pin"),  # left over, but the form is no longer active
        ActiveLoop(None),
        ActionExecuted("action_listen"),
        after,
    )
    assert withhold_secret_answers(tracker) == 1
    stored = [e.as_dict() for e in tracker.events if isinstance(e, UserUttered)]
    assert [e["text"] for e in stored] == [
        "renew my books",
        "21234000123456",
        WITHHELD,
        "renew all",
        after.text,
    ]
    withheld = stored[2]
    assert withheld["parse_data"]["text"] == WITHHELD and withheld["parse_data"]["entities"] == []
    assert "1234" not in str(withheld)
    assert withhold_secret_answers(tracker) == 0  # saving again changes nothing
