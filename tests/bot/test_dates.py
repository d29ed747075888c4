"""Dates and times in residents' words, resolved in Europe/London."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.nlp.dates import LONDON, resolve_date, resolve_time

# Friday 27 November 2026, 5 pm.
NOW = dt.datetime(2026, 11, 27, 17, 0, tzinfo=LONDON)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("today", "2026-11-27"),
        ("tonight", "2026-11-27"),
        ("tomorrow", "2026-11-28"),
        ("tmrw", "2026-11-28"),
        ("2moro", "2026-11-28"),
        ("day after tomorrow", "2026-11-29"),
        ("saturday", "2026-11-28"),
        ("sat", "2026-11-28"),
        ("next tuesday", "2026-12-01"),
        ("this weds", "2026-12-02"),
        ("friday", "2026-11-27"),  # said on a Friday: today
        ("the 14th", "2026-12-14"),  # passed this month: next month's
        ("30th", "2026-11-30"),
        ("14th december", "2026-12-14"),
        ("3rd of december", "2026-12-03"),
        ("14/12", "2026-12-14"),
        ("14/12/2026", "2026-12-14"),
        ("2 november", "2027-11-02"),  # passed this year: next year's
        ("christmas day", "2026-12-25"),
        ("boxing day", "2026-12-26"),
        ("new year's day", "2027-01-01"),
        ("good friday", "2027-03-26"),
    ],
)
def test_dates_resolve_in_london(text, expected):
    assert resolve_date(text, NOW) == expected


def test_late_evening_utc_is_already_tomorrow_in_london_during_summer_time():
    # 23:30 UTC on 30 June is 00:30 on 1 July in London.
    late = dt.datetime(2026, 6, 30, 23, 30, tzinfo=dt.timezone.utc).astimezone(LONDON)
    assert resolve_date("today", late) == "2026-07-01"


def test_nonsense_is_not_a_date():
    assert resolve_date("the", NOW) is None


@pytest.mark.parametrize(
    "text,expected",
    [
        ("7pm", "19:00"),
        ("7 pm", "19:00"),
        ("7", "19:00"),  # 1 to 7 with no am/pm: evening
        ("10", "10:00"),  # 8 to 11: morning
        ("12", "12:00"),
        ("19:30", "19:30"),
        ("7.30pm", "19:30"),
        ("9am", "09:00"),
        ("half 6", "18:30"),
        ("half past 10", "10:30"),
        ("quarter past 7", "19:15"),
        ("quarter to 8", "07:45"),
        ("6 o'clock", "18:00"),
        ("noon", "12:00"),
        ("morning", "morning"),
        ("arvo", "afternoon"),
        ("tonight", "evening"),
    ],
)
def test_times_resolve(text, expected):
    assert resolve_time(text) == expected


def test_impossible_times_are_refused():
    assert resolve_time("25:00") is None
    assert resolve_time("13pm") is None
