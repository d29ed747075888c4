"""STOP, START and HELP as UK text services expect, and the channels' own notices."""

from __future__ import annotations

import pytest

from integrations.channels.keywords import Keyword, Notices, keyword
from integrations.channels.rendering import render_sms, sms_segments
from integrations.channels.settings import ChannelSettings


@pytest.mark.parametrize(
    "text", ["STOP", "stop", " Stop! ", "stop.", "STOPALL", "Unsubscribe", "END", "quit"]
)
def test_stop_words_opt_out(text):
    assert keyword(text) is Keyword.STOP


@pytest.mark.parametrize("text", ["START", "unstop"])
def test_start_words_opt_back_in(text):
    assert keyword(text) is Keyword.START


@pytest.mark.parametrize("text", ["HELP", "help?", "Info"])
def test_help_words_ask_who_we_are(text):
    assert keyword(text) is Keyword.HELP


@pytest.mark.parametrize(
    "text", ["stop that", "stop my garden waste", "cancel", "yes", "help me with my bins", ""]
)
def test_words_in_a_sentence_are_for_the_assistant(text):
    assert keyword(text) is None


def test_notices_say_who_is_texting_how_to_reach_a_person_and_how_to_stop():
    settings = ChannelSettings.from_env(
        {"COUNCIL_NAME": "Wiltshire Council", "COUNCIL_PHONE": "0300 456 0100"}
    )
    notices = Notices.for_council(settings)
    assert "Wiltshire Council's digital assistant" in notices.help
    assert "0300 456 0100" in notices.help and "Reply STOP" in notices.help
    assert "START" in notices.stopped and "won't get any more" in notices.stopped
    for text in (notices.help, notices.stopped, notices.started, notices.media_only, notices.empty):
        assert [text] == render_sms(text, [])  # each fits one message
        assert sms_segments(text) <= 2
