"""UTC instants -> UK days and hours, fast enough for a year of requests.

Every "per day" and "per hour" figure is in Europe/London (GMT or BST, as on
the clock on the wall). ``zoneinfo`` gives the offset; it is cached per UTC
hour, because the offset only changes on an hour boundary, so a year of
requests costs a few thousand zone look-ups, not millions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from integrations.office_hours import OfficeHours

LONDON = ZoneInfo("Europe/London")
_EPOCH = dt.date(1970, 1, 1)


def today() -> dt.date:
    """Today in the UK (never ``utcnow``)."""
    return dt.datetime.now(LONDON).date()


def day_start(day: dt.date) -> float:
    """The UTC instant a UK day begins."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=LONDON).timestamp()


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


@dataclass
class LocalClock:
    """``(day, hour, weekday, out of hours)`` in the UK for a UTC timestamp."""

    hours: OfficeHours = field(default_factory=OfficeHours)
    _offsets: dict[int, int] = field(default_factory=dict, repr=False)
    _days: dict[int, tuple[dt.date, bool]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._opens = self.hours.opens.hour * 3600 + self.hours.opens.minute * 60
        self._closes = self.hours.closes.hour * 3600 + self.hours.closes.minute * 60

    def _offset(self, ts: float) -> int:
        key = int(ts // 3600)
        offset = self._offsets.get(key)
        if offset is None:
            when = dt.datetime.fromtimestamp(key * 3600, LONDON)
            offset = int(when.utcoffset().total_seconds())  # type: ignore[union-attr]
            self._offsets[key] = offset
        return offset

    def _day(self, number: int) -> tuple[dt.date, bool]:
        found = self._days.get(number)
        if found is None:
            day = _EPOCH + dt.timedelta(days=number)
            found = (day, self.hours.is_open_day(day))
            self._days[number] = found
        return found

    def local(self, ts: float) -> tuple[dt.date, int, int, bool]:
        seconds = int(ts) + self._offset(ts)
        number, second_of_day = divmod(seconds, 86_400)
        day, open_day = self._day(number)
        out_of_hours = not (open_day and self._opens <= second_of_day < self._closes)
        return day, second_of_day // 3600, (number + 3) % 7, out_of_hours  # 1 Jan 1970 was a Thursday
