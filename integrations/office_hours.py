"""When the contact centre is open: office hours in Europe/London, bank holidays excluded.

One small module that the assistant (to choose between a handover and a
call-back) and the contact-centre sandbox both use. Times are compared in
Europe/London with ``zoneinfo``, so "08:30" means 08:30 on the clock on the
wall in both GMT and BST. Bank holidays are England and Wales's, computed
(the fixed rules, Easter, the Monday substitutes and the one-off days
announced so far), so nothing is downloaded; they are the one calendar every
sandbox system that closes or shifts on bank holidays uses too (waste rounds,
library closures, leisure centre hours), with their names.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Days that moved or were added by proclamation, as published on GOV.UK.
_MOVED = {
    # year: {usual date: replacement date}
    1995: {dt.date(1995, 5, 1): dt.date(1995, 5, 8)},  # VE Day 50th anniversary
    2002: {dt.date(2002, 5, 27): dt.date(2002, 6, 4)},  # Golden Jubilee
    2012: {dt.date(2012, 5, 28): dt.date(2012, 6, 4)},  # Diamond Jubilee
    2020: {dt.date(2020, 5, 4): dt.date(2020, 5, 8)},  # VE Day 75th anniversary
    2022: {dt.date(2022, 5, 30): dt.date(2022, 6, 2)},  # Platinum Jubilee
}
_EXTRA = {
    dt.date(1999, 12, 31): "Millennium bank holiday",
    dt.date(2002, 6, 3): "Golden Jubilee bank holiday",
    dt.date(2011, 4, 29): "Royal wedding bank holiday",
    dt.date(2012, 6, 5): "Diamond Jubilee bank holiday",
    dt.date(2022, 6, 3): "Platinum Jubilee bank holiday",
    dt.date(2022, 9, 19): "Bank holiday for the State Funeral of Queen Elizabeth II",
    dt.date(2023, 5, 8): "Bank holiday for the coronation of King Charles III",
}


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday in the Gregorian calendar (the anonymous algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _first_monday(year: int, month: int) -> dt.date:
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(7 - first.weekday()) % 7)


def _last_monday(year: int, month: int) -> dt.date:
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=last.weekday())


def _next_weekday(day: dt.date, taken: set[dt.date]) -> dt.date:
    """``day`` or, if it is a weekend day or already a holiday, the next free weekday."""
    while day.weekday() >= 5 or day in taken:
        day += dt.timedelta(days=1)
    return day


@lru_cache(maxsize=64)
def _named_bank_holidays(year: int) -> tuple[tuple[dt.date, str], ...]:
    easter = easter_sunday(year)
    # Christmas Day first, then Boxing Day on the next free weekday after it.
    christmas = _next_weekday(dt.date(year, 12, 25), set())
    boxing_day = _next_weekday(max(dt.date(year, 12, 26), christmas + dt.timedelta(days=1)), {christmas})
    days: dict[dt.date, str] = {
        _next_weekday(dt.date(year, 1, 1), set()): "New Year's Day",
        easter - dt.timedelta(days=2): "Good Friday",
        easter + dt.timedelta(days=1): "Easter Monday",
        _first_monday(year, 5): "Early May bank holiday",
        _last_monday(year, 5): "Spring bank holiday",
        _last_monday(year, 8): "Summer bank holiday",
        christmas: "Christmas Day",
        boxing_day: "Boxing Day",
    }
    for usual, moved in _MOVED.get(year, {}).items():
        days[moved] = days.pop(usual)
    days.update((day, name) for day, name in _EXTRA.items() if day.year == year)
    return tuple(sorted(days.items()))


def bank_holiday_names(year: int) -> dict[dt.date, str]:
    """England and Wales bank holidays in ``year`` with their names, in date order.

    A substitute day carries the name of the holiday it stands in for
    (``2026-12-28``: "Boxing Day").
    """
    return dict(_named_bank_holidays(year))


@lru_cache(maxsize=64)
def bank_holidays(year: int) -> frozenset[dt.date]:
    """England and Wales bank holidays in ``year``, substitute days included."""
    return frozenset(day for day, _ in _named_bank_holidays(year))


def is_bank_holiday(day: dt.date) -> bool:
    return day in bank_holidays(day.year)


def _london(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("office hours need an aware datetime (UTC or Europe/London), not a naive one")
    return now.astimezone(LONDON)


@dataclass(frozen=True)
class OfficeHours:
    """Opening hours on open days, in Europe/London wall-clock time."""

    opens: dt.time = dt.time(8, 30)
    closes: dt.time = dt.time(17, 0)
    #: Open weekdays, Monday = 0.
    weekdays: frozenset[int] = frozenset(range(5))
    #: Closed on England and Wales bank holidays.
    bank_holidays: bool = True
    #: Other whole days closed (training days, Christmas Eve...).
    closed_dates: frozenset[dt.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.opens >= self.closes:
            raise ValueError("office hours must open before they close")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("weekdays must be a non-empty set of 0 (Monday) to 6 (Sunday)")

    @classmethod
    def parse(cls, text: str, closed_dates: str = "") -> OfficeHours:
        """``"Mon-Fri 08:30-17:00"`` (days a range or a comma list) -> ``OfficeHours``.

        ``closed_dates`` is a comma-separated list of ISO dates. Meant for a
        single configuration value, e.g. ``CONTACT_CENTRE_HOURS``.
        """
        match = re.fullmatch(r"\s*([A-Za-z,\-\s]+?)\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", text)
        if not match:
            raise ValueError(f"office hours not understood: {text!r} (expected e.g. 'Mon-Fri 08:30-17:00')")
        days: set[int] = set()
        for part in match.group(1).replace(" ", "").split(","):
            first, _, last = part.partition("-")
            try:
                start = DAY_NAMES.index(first[:3].title())
                end = DAY_NAMES.index((last or first)[:3].title())
            except ValueError as exc:
                raise ValueError(f"unknown day in office hours: {part!r}") from exc
            days.update(range(start, end + 1) if start <= end else [*range(start, 7), *range(0, end + 1)])
        closed = frozenset(dt.date.fromisoformat(d.strip()) for d in closed_dates.split(",") if d.strip())
        return cls(
            opens=dt.time.fromisoformat(match.group(2).zfill(5)),
            closes=dt.time.fromisoformat(match.group(3).zfill(5)),
            weekdays=frozenset(days),
            closed_dates=closed,
        )

    def describe(self) -> str:
        """``"Mon-Fri 08:30-17:00"``, for messages and the availability answer."""
        days = sorted(self.weekdays)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            names = f"{DAY_NAMES[days[0]]}-{DAY_NAMES[days[-1]]}"
        else:
            names = ",".join(DAY_NAMES[d] for d in days)
        return f"{names} {self.opens:%H:%M}-{self.closes:%H:%M}"

    def is_open_day(self, day: dt.date) -> bool:
        if day.weekday() not in self.weekdays or day in self.closed_dates:
            return False
        return not (self.bank_holidays and is_bank_holiday(day))

    def is_open(self, now: dt.datetime) -> bool:
        local = _london(now)
        return self.is_open_day(local.date()) and self.opens <= local.time() < self.closes

    def opening_on(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.opens, tzinfo=LONDON)

    def closing_on(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, self.closes, tzinfo=LONDON)

    def next_opening(self, now: dt.datetime) -> dt.datetime:
        """``now`` (in London time) if open, else when it next opens (aware, Europe/London)."""
        local = _london(now)
        if self.is_open(local):
            return local
        day = local.date()
        if local.time() >= self.opens:
            day += dt.timedelta(days=1)
        for _ in range(366 * 2):  # closed for two years running means a configuration mistake
            if self.is_open_day(day):
                return self.opening_on(day)
            day += dt.timedelta(days=1)
        raise ValueError("no open day within two years: check the office hours")

    def closes_at(self, now: dt.datetime) -> dt.datetime | None:
        """When the current open period ends, or ``None`` if closed now."""
        local = _london(now)
        return self.closing_on(local.date()) if self.is_open(local) else None


#: The council's contact centre: Monday to Friday 08:30-17:00, closed on bank holidays.
CONTACT_CENTRE_HOURS = OfficeHours()


def is_open(now: dt.datetime, hours: OfficeHours = CONTACT_CENTRE_HOURS) -> bool:
    """Whether the contact centre is open at ``now`` (an aware datetime)."""
    return hours.is_open(now)


def next_opening(now: dt.datetime, hours: OfficeHours = CONTACT_CENTRE_HOURS) -> dt.datetime:
    """``now`` if open, else the next opening time, in Europe/London."""
    return hours.next_opening(now)
