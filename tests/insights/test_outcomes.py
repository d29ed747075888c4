"""The outcome rules on recorded conversations (Rasa's own event stream) and on journeys with forms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from insights import capture, demand_map
from insights.outcomes import decide

FIXTURES = Path(__file__).parent / "fixtures"
JOURNEYS = yaml.safe_load((FIXTURES / "journeys.yml").read_text())["conversations"]


def recorded(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / f"{name}.json").read_text())["events"]


def with_timestamps(events: list[dict[str, Any]], start: float = 1_764_252_000.0) -> list[dict[str, Any]]:
    out, ts = [], start
    for event in events:
        ts = event.get("timestamp", ts + 5.0)
        out.append({**event, "timestamp": ts})
    return out


def outcomes_of(events: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    decided = decide(events, demand_map.load())
    assert decided is not None
    return [(r.intent, r.outcome, r.step or r.topic or r.system) for r in decided.requests]


# Recorded through the Rasa server (REST channel, SQL event broker): what the assistant does today.
RECORDED = {
    "bin_day_answered": ([("bin_collection_day", "informed", None)], "informed"),
    "bin_day_left_at_postcode": ([("bin_collection_day", "abandoned", "postcode")], "abandoned"),
    "book_swim_then_postcode": ([("book_leisure_activity", "informed", None)], "informed"),
    "fallback_then_chase": (
        [("out_of_scope", "unsupported", None), ("check_request_status", "informed", None)],
        "informed",
    ),
    "garden_waste_signposted_then_stop": ([("renew_garden_waste", "cancelled", None)], "cancelled"),
    "missed_bin_then_library_hours": (
        [("report_missed_bin", "informed", None), ("library_opening_times", "informed", None)],
        "informed",
    ),
    "pothole_then_stop": ([("out_of_scope", "unsupported", "potholes")], "unsupported"),
    "talk_to_a_person": ([("request_human", "handed_over", None)], "handed_over"),
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_conversations_get_the_outcomes_the_rules_give(name: str):
    events = recorded(name)
    expected_requests, expected_conversation = RECORDED[name]
    assert outcomes_of(events) == expected_requests
    decided = decide(events, demand_map.load())
    assert decided.outcome == expected_conversation
    assert decided.channel == "rest"


def test_every_user_message_of_a_recording_is_a_demand_event_with_entity_types_only():
    events = recorded("bin_day_answered")
    decided = decide(events, demand_map.load())
    users = [e for e in events if e["event"] == "user"]
    assert len(decided.messages) == len(users) == 4
    assert [m.intent for m in decided.messages] == ["bin_collection_day", "inform", "inform", "thank"]
    assert decided.messages[1].entity_types == "postcode"
    assert "SN15" not in repr(decided.messages)
    # "thank you" after the answer belongs to no request: the request was finished.
    assert [m.request_seq for m in decided.messages] == [0, 0, 0, None]


@pytest.mark.parametrize("case", JOURNEYS, ids=lambda c: c["name"])
def test_journeys_with_forms_and_markers_end_as_the_rules_say(case: dict[str, Any]):
    decided = decide(with_timestamps(case["events"]), demand_map.load())
    assert decided is not None
    expect = case["expect"]
    assert len(decided.requests) == len(expect["requests"])
    for request, wanted in zip(decided.requests, expect["requests"], strict=True):
        got = request._asdict()
        assert {key: got[key] for key in wanted} == wanted, f"request {request.seq} of {case['name']!r}"
    assert decided.outcome == expect["conversation"]
    if "step" in expect:
        assert decided.step == expect["step"]
    if "channel" in expect:
        assert decided.channel == expect["channel"]


def test_a_conversation_where_nobody_spoke_has_no_demand():
    assert (
        decide(
            with_timestamps([{"event": "session_started"}, {"event": "bot", "text": "hi"}]), demand_map.load()
        )
        is None
    )


def test_an_unsupported_request_without_the_slot_gets_its_topic_from_the_words():
    events = with_timestamps(
        [
            {
                "event": "user",
                "text": "my parking permit ran out",
                "parse_data": {"intent": {"name": "out_of_scope", "confidence": 0.8}},
            },
            {"event": "bot", "text": "I can't help with that here."},
        ]
    )
    assert outcomes_of(events) == [("out_of_scope", "unsupported", "parking")]


def test_the_last_marker_wins_so_a_retry_that_works_is_completed():
    events = with_timestamps(
        [
            {
                "event": "user",
                "text": "renew garden waste",
                "parse_data": {"intent": {"name": "renew_garden_waste", "confidence": 0.9}},
            },
            {"event": "bot", "text": "The payment system is down."},
            {
                "event": "slot",
                "name": "outcome",
                "value": {"outcome": "integration_failed", "intent": "renew_garden_waste", "system": "pay"},
            },
            {"event": "bot", "text": "It's back: here is your link."},
            {
                "event": "slot",
                "name": "outcome",
                "value": {"outcome": "completed", "intent": "renew_garden_waste"},
            },
        ]
    )
    assert outcomes_of(events) == [("renew_garden_waste", "completed", None)]


def test_conversations_split_at_session_starts_restarts_and_long_silences():
    events = with_timestamps(
        [
            {"event": "action", "name": "action_session_start"},
            {"event": "session_started"},
            {"event": "user", "text": "hi"},
            {"event": "restart"},
            {"event": "user", "text": "bin day"},
            {"event": "user", "text": "hello again", "timestamp": 1_764_252_000.0 + 7200},
            {"event": "session_started", "timestamp": 1_764_252_000.0 + 7300},
            {"event": "restart", "timestamp": 1_764_252_000.0 + 7301},
            {"event": "user", "text": "council tax", "timestamp": 1_764_252_000.0 + 7302},
        ]
    )
    parts = capture.split(events, gap_seconds=3600)
    assert [[e.get("text") for e in part if e["event"] == "user"] for part in parts] == [
        ["hi"],
        ["bin day"],
        ["hello again"],
        ["council tax"],
    ]


def test_residents_are_a_keyed_hash_stable_for_one_key_and_different_for_another():
    one = capture.resident_id("whatsapp:+447700900123", b"key-one")
    assert one == capture.resident_id("whatsapp:+447700900123", b"key-one")
    assert one != capture.resident_id("whatsapp:+447700900123", b"key-two")
    assert "7700" not in one and len(one) == 16


def test_a_conversation_record_has_a_stable_key_and_the_resident_but_never_the_sender():
    events = recorded("talk_to_a_person")
    record = capture.record("abcdef0123456789", events, demand_map.load())
    assert record.key == capture.record("abcdef0123456789", events, demand_map.load()).key
    assert record.key.endswith("-abcdef0123456789")
    assert "r5" not in repr(record)
