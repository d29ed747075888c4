"""One rendering for text channels: numbered options, replies that pick them, splitting, SMS segments."""

from __future__ import annotations

import pytest

from integrations.channels.rendering import (
    WA_ROW_DESCRIPTION_MAX,
    WA_ROW_TITLE_MAX,
    WHATSAPP_MAX_CHARS,
    Option,
    chars_fit,
    choose,
    option_by_id,
    options_from_buttons,
    render_sms,
    render_whatsapp_text,
    sms_segments,
    split_message,
    whatsapp_interactive,
)

MENU_TITLES = [
    "Book a swim, class or court",
    "Renew library books",
    "Book a library computer, room or event",
    "Renew garden waste collection",
    "Find your bin collection day",
    "Report a missed bin",
    "Check your council tax balance",
    "Cancel a booking",
    "Check on a request",
    "Talk to a person",
]
MENU = options_from_buttons([{"title": t, "payload": f"/intent_{i}"} for i, t in enumerate(MENU_TITLES, 1)])
YES_NO = options_from_buttons([{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}])


def sentences(count: int, words: int = 12) -> str:
    return " ".join(
        f"Sentence {n} says " + " ".join(["something"] * words) + "." for n in range(1, count + 1)
    )


# --- options --------------------------------------------------------------------------


def test_buttons_become_numbered_options_without_their_payloads():
    [message] = render_sms("I can help you to:", MENU)
    assert message.startswith("I can help you to:\n\nReply 1 for Book a swim, class or court\n")
    assert "Reply 10 for Talk to a person" in message
    assert "/" not in message and "intent_" not in message


def test_buttons_without_a_payload_are_not_offered():
    options = options_from_buttons([{"title": "Visit the website"}, {"title": "Yes", "payload": "/affirm"}])
    assert options == [Option(1, "Yes", "/affirm")]


@pytest.mark.parametrize("reply", ["2", " 2 ", "2.", "two", "Two!", "option 2", "no 2"])
def test_a_number_picks_that_option(reply):
    assert choose(reply, MENU) == MENU[1]


@pytest.mark.parametrize(
    "reply", ["renew library books", "Renew Library Books.", "garden waste", "missed bin"]
)
def test_the_options_own_words_pick_it(reply):
    picked = choose(reply, MENU)
    assert picked is not None and reply.strip(".").lower() in picked.title.lower()


@pytest.mark.parametrize("reply", ["11", "0", "book", "book a", "I want to book a swim please", "", "yes"])
def test_anything_else_is_text_for_the_assistant(reply):
    assert choose(reply, MENU) is None


def test_a_title_that_is_a_number_wins_over_the_position():
    options = options_from_buttons([{"title": "2", "payload": "/two"}, {"title": "1", "payload": "/one"}])
    assert choose("1", options).payload == "/one"


def test_a_lone_option_is_offered_by_its_words_so_a_number_stays_an_answer():
    lone = options_from_buttons([{"title": "My address isn't listed", "payload": "My address isn't listed"}])
    [message] = render_sms("What is your house number or name?", lone)
    assert message.endswith('Or reply "My address isn\'t listed"')
    assert choose("1", lone) is None
    assert choose("isn't listed", lone) == lone[0]


def test_an_interactive_reply_must_name_an_option_still_offered_under_its_title():
    assert option_by_id("2", YES_NO, "No") == YES_NO[1]
    assert option_by_id("2", YES_NO, "Yes") is None
    assert option_by_id("3", YES_NO, "No") is None
    long_row = MENU[2]  # shown shortened in a WhatsApp list
    assert option_by_id("3", MENU, "Book a library computer…") == long_row


# --- SMS segments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("£" * 160, 1),  # £ is in the GSM-7 basic set
        ("€" * 80, 1),  # € takes two septets
        ("€" * 81, 2),
        ("ł" * 70, 1),  # not GSM-7: UCS-2, 70 a segment
        ("ł" * 71, 2),
        ("🙂" * 35, 1),  # an emoji is two UTF-16 units
        ("🙂" * 36, 2),
    ],
)
def test_sms_segments_are_counted_as_the_networks_do(text, segments):
    assert sms_segments(text) == segments


def test_typographic_quotes_do_not_force_ucs2():
    [message] = render_sms("You’re all set – thanks… “Great”", [])
    assert message == 'You\'re all set - thanks... "Great"'
    assert sms_segments(message) == 1


# --- splitting ----------------------------------------------------------------------------------


def test_a_long_reply_is_split_at_sentence_boundaries_into_messages_of_at_most_3_segments():
    text = sentences(12)
    parts = render_sms(text, [])
    assert len(parts) > 1
    assert all(sms_segments(p) <= 3 for p in parts)
    assert all(p.endswith(".") and p.startswith("Sentence") for p in parts)
    assert " ".join(parts) == text


def test_the_maximum_number_of_segments_is_a_setting():
    parts = render_sms(sentences(4), [], max_segments=1)
    assert len(parts) == 4 and all(sms_segments(p) == 1 for p in parts)


def test_a_sentence_too_long_for_one_message_is_split_between_words():
    text = "word " * 200
    parts = split_message(text, chars_fit(100))
    assert all(len(p) <= 100 for p in parts)
    assert " ".join(parts).split() == text.split()


def test_a_link_longer_than_a_message_is_cut_only_where_it_must_be():
    link = "https://www.council.example/" + "x" * 250
    parts = split_message(f"Pay here: {link}", chars_fit(160))
    assert parts[0] == "Pay here:" and "".join(parts[1:]) == link


def test_paragraphs_and_lines_are_kept_within_a_message():
    text = "Your collections:\nMonday: recycling\nTuesday: food waste\n\nPut your bins out by 7am."
    assert render_sms(text, []) == [text]


def test_options_stay_together_after_the_question_when_the_question_fills_a_message():
    question = sentences(3)
    parts = render_sms(question, MENU)
    assert "Reply 1 for" in parts[-1] and "Reply 10 for" in parts[-1]
    assert all(sms_segments(p) <= 3 for p in parts)
    assert parts[0].startswith("Sentence 1")


def test_a_menu_too_long_for_one_message_is_split_between_options_in_order():
    parts = render_sms("I can help you to:", MENU, max_segments=2)
    assert len(parts) == 2 and all(sms_segments(p) <= 2 for p in parts)
    lines = "\n".join(parts).splitlines()
    numbers = [int(line.split()[1]) for line in lines if line.startswith("Reply ")]
    assert numbers == list(range(1, 11))


def test_whatsapp_texts_hold_up_to_1600_characters():
    parts = render_whatsapp_text(sentences(40), [])
    assert len(parts) >= 2
    assert all(len(p) <= WHATSAPP_MAX_CHARS for p in parts)
    assert len(parts[0]) > 1400  # full messages, not SMS-sized ones


# --- WhatsApp interactive messages ------------------------------------------------------------------


def test_up_to_three_short_options_become_reply_buttons():
    interactive = whatsapp_interactive("Is that right?", YES_NO)
    assert interactive == {
        "type": "button",
        "body": {"text": "Is that right?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "1", "title": "Yes"}},
                {"type": "reply", "reply": {"id": "2", "title": "No"}},
            ]
        },
    }


def test_the_menu_becomes_a_list_within_its_limits_with_long_titles_in_the_description():
    interactive = whatsapp_interactive("I can help you to:", MENU)
    assert interactive is not None and interactive["type"] == "list"
    rows = interactive["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [str(n) for n in range(1, 11)]
    assert all(len(r["title"]) <= WA_ROW_TITLE_MAX for r in rows)
    assert all(len(r.get("description", "")) <= WA_ROW_DESCRIPTION_MAX for r in rows)
    long = rows[2]
    assert long["title"] == "Book a library computer…" and long["description"] == MENU_TITLES[2]
    assert "description" not in rows[1]  # "Renew library books" fits as it is
    assert len(interactive["action"]["button"]) <= 20


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ("Pick one", [f"Option {n}" for n in range(11)]),  # more than 10 rows
        ("Pick one", ["x" * 73, "y"]),  # a title longer than a row description
        ("x" * 1025, ["Yes", "No"]),  # body over 1,024 characters
        ("", ["Yes", "No"]),  # interactive messages need a body
    ],
)
def test_what_does_not_fit_falls_back_to_numbered_text(text, titles):
    options = options_from_buttons([{"title": t, "payload": f"/p{i}"} for i, t in enumerate(titles)])
    assert whatsapp_interactive(text, options) is None
