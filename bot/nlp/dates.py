"""Dates and times in residents' words, resolved in Europe/London.

``dateparser`` does the date arithmetic. Before it, a few UK and
text-speak forms it does not know are put into words it does ("2moro",
"weds", "next tuesday", "half 6"), and holidays are named. Choices:

- a bare weekday, or "next <weekday>", is the coming one (today if it is
  that day); the assistant reads the full date back, so a resident who meant
  the week after can say so;
- a day of the month alone ("the 14th") that has passed this month is next
  month's;
- an hour with no am/pm from 1 to 7 is in the afternoon or evening (council
  services are not open at 3 am), 8 to 11 in the morning, 12 at noon;
- parts of the day stay words: ``morning``, ``afternoon``, ``evening``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from zoneinfo import ZoneInfo

import dateparser
from dateutil.easter import easter

from bot.nlp.patterns import PARTS_OF_DAY, RELATIVE_DAYS, WEEKDAYS

LONDON = ZoneInfo("Europe/London")
_SETTINGS = {
    "PREFER_DATES_FROM": "future",
    "DATE_ORDER": "DMY",
    "RETURN_AS_TIMEZONE_AWARE": False,
    "PREFER_DAY_OF_MONTH": "first",
}
_WORD = {typo: day for day, typos in WEEKDAYS.items() for typo in [day + "s", *typos]}
_WORD.update({typo: word for word, typos in RELATIVE_DAYS.items() for typo in typos})
_PART = {typo: part for part, typos in PARTS_OF_DAY.items() for typo in typos}
_PART.update({"noon": "12:00", "midday": "12:00", "lunchtime": "12:00", "lunch": "12:00"})
_WEEKDAY_INDEX = {day: i for i, day in enumerate(WEEKDAYS)}


def now_in_london() -> dt.datetime:
    """The current time in Europe/London; ``COUNCIL_ASSISTANT_NOW`` pins it (tests, demos)."""
    pinned = os.environ.get("COUNCIL_ASSISTANT_NOW")
    if pinned:
        return dt.datetime.fromisoformat(pinned).replace(tzinfo=LONDON)
    return dt.datetime.now(LONDON)


def _holiday(text: str, today: dt.date) -> dt.date | None:
    text = text.replace("'", "")
    fixed = {
        "christmas eve": (12, 24),
        "christmas day": (12, 25),
        "boxing day": (12, 26),
        "new years eve": (12, 31),
        "new years day": (1, 1),
    }
    for year in (today.year, today.year + 1):
        if text in fixed:
            day = dt.date(year, *fixed[text])
        elif text in ("good friday", "easter sunday", "easter monday"):
            offset = {"good friday": -2, "easter sunday": 0, "easter monday": 1}[text]
            day = easter(year) + dt.timedelta(days=offset)
        else:
            return None
        if day >= today:
            return day
    return None


def resolve_date(text: str, now: dt.datetime | None = None) -> str | None:
    """ISO date for a date expression, or ``None`` if it cannot be read."""
    now = now or now_in_london()
    today = now.date()
    words = [_WORD.get(w, w) for w in re.findall(r"[a-z0-9/.']+", text.lower())]
    words = [w for w in words if w not in ("next", "this", "coming", "on", "of")]
    phrase = " ".join(words)
    if not phrase:
        return None
    if phrase == "tonight":
        return today.isoformat()
    holiday = _holiday(phrase, today)
    if holiday:
        return holiday.isoformat()
    if phrase in _WEEKDAY_INDEX:
        ahead = (_WEEKDAY_INDEX[phrase] - today.weekday()) % 7
        return (today + dt.timedelta(days=ahead)).isoformat()
    if phrase.startswith("the "):
        phrase = phrase[4:]
    parsed = dateparser.parse(
        phrase,
        languages=["en"],
        settings={**_SETTINGS, "RELATIVE_BASE": now.replace(tzinfo=None)},
    )
    if parsed is None:
        return None
    day = parsed.date()
    only_day_of_month = re.fullmatch(r"(?:[a-z]+ )?\d{1,2}(?:st|nd|rd|th)?", phrase) is not None
    if day < today and only_day_of_month:
        # "the 14th" on the 27th: next month's 14th (dateparser gives this month's).
        month = today.month % 12 + 1
        year = today.year + (today.month == 12)
        try:
            day = day.replace(year=year, month=month)
        except ValueError:
            return None
    elif day < today and re.search(r"[a-z]", phrase) and not re.search(r"\d{4}", phrase):
        # "14 november" on the 27th: next year's.
        try:
            day = day.replace(year=day.year + 1)
        except ValueError:
            return None
    return day.isoformat()


def resolve_time(text: str) -> str | None:
    """``HH:MM`` for a clock time, a part-of-day word, or ``None``."""
    lowered = text.lower().strip()
    if lowered in _PART:
        return _PART[lowered]
    lowered = lowered.replace("o'clock", "").replace("oclock", "").replace("o clock", "")
    lowered = lowered.replace("a.m.", "am").replace("p.m.", "pm").strip()
    half = re.fullmatch(r"half (?:past )?(\d{1,2})", lowered)
    quarter = re.fullmatch(r"(?:quarter|qtr) (past|to) (\d{1,2})", lowered)
    minute, suffix, clock_form = 0, "", False
    if half:
        hour, minute = int(half.group(1)), 30
    elif quarter:
        hour, minute = int(quarter.group(2)), 15 if quarter.group(1) == "past" else -15
    else:
        match = re.fullmatch(r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?", lowered)
        if not match:
            return None
        hour, minute, suffix = int(match.group(1)), int(match.group(2) or 0), match.group(3) or ""
        clock_form = match.group(2) is not None
    if hour > 12 and suffix == "pm" and clock_form:
        suffix = ""  # "19:30pm": already a 24-hour time
    if suffix and not 1 <= hour <= 12:
        return None
    if not suffix and 1 <= hour <= 12:
        suffix = "pm" if hour <= 7 or hour == 12 else "am"
    if minute < 0:  # "quarter to 8": the hour spoken decides am or pm
        hour, minute = hour - 1, 60 + minute
        if hour == 0:
            hour, suffix = 12, ("am" if suffix == "pm" else "pm")
    clock = f"{hour}:{minute:02d}{suffix}"
    parsed = dateparser.parse(clock, languages=["en"], settings={"RETURN_AS_TIMEZONE_AWARE": False})
    return parsed.strftime("%H:%M") if parsed else None


def warm_up() -> None:
    """Load dateparser's language data now rather than on a resident's first message."""
    resolve_date("tomorrow")
    resolve_date("14th december")
    resolve_time("7pm")
