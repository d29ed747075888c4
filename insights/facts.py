"""Fact tables rebuilt per UK day, idempotently: delete the day's rows, aggregate the day again.

Writes mark the days they touch (and the 7 after, since repeat contact looks a
week back) in ``dirty_days``; ``rebuild`` aggregates those days and clears
them in the same transaction, so a rebuild that stops half way is simply
done again. Consecutive days are rebuilt together, one statement per table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

import sqlalchemy as sa

from insights.store import REPEAT_DAYS, REPEAT_SECONDS, DemandStore, as_dates, dirty_days

_DELETE = "DELETE FROM {table} WHERE day BETWEEN :lo AND :hi"

_FACT_REQUESTS = f"""
INSERT INTO fact_requests (day, week, month, service, category, channel, intent, demand, outcome, detail,
                           requests, messages, out_of_hours, repeats)
SELECT r.day, c.week, c.month, r.service, r.category, r.channel, r.intent, r.demand, r.outcome, r.detail,
       COUNT(*), SUM(r.messages), SUM(r.out_of_hours), SUM(r.is_repeat)
FROM (
    SELECT q.day, q.service, q.category, q.channel, q.intent, q.demand, q.outcome, q.messages, q.out_of_hours,
           CASE q.outcome WHEN 'abandoned' THEN q.step WHEN 'cancelled' THEN q.step
                          WHEN 'unsupported' THEN q.topic
                          WHEN 'integration_failed' THEN q.system END AS detail,
           CASE WHEN q.started - LAG(q.started) OVER (PARTITION BY q.resident, q.service ORDER BY q.started)
                     <= {REPEAT_SECONDS} THEN 1 ELSE 0 END AS is_repeat
    FROM requests q
    WHERE q.day BETWEEN :lo_repeat AND :hi
) r
JOIN calendar c ON c.day = r.day
WHERE r.day BETWEEN :lo AND :hi
GROUP BY r.day, c.week, c.month, r.service, r.category, r.channel, r.intent, r.demand, r.outcome, r.detail
"""

_FACT_HOURS = """
INSERT INTO fact_hours (day, dow, hour, service, channel, requests, out_of_hours)
SELECT day, dow, hour, service, channel, COUNT(*), SUM(out_of_hours)
FROM requests WHERE day BETWEEN :lo AND :hi
GROUP BY day, dow, hour, service, channel
"""

_FACT_UNRESOLVED = """
INSERT INTO fact_unresolved (day, service, channel, outcome, topic, lemmas, requests, example)
SELECT day, service, channel, outcome, topic, lemmas, COUNT(*), MAX(text)
FROM requests WHERE day BETWEEN :lo AND :hi AND lemmas IS NOT NULL
GROUP BY day, service, channel, outcome, topic, lemmas
"""

TABLES = {"fact_requests": _FACT_REQUESTS, "fact_hours": _FACT_HOURS, "fact_unresolved": _FACT_UNRESOLVED}


def ranges(days: Iterable[dt.date]) -> Iterator[tuple[dt.date, dt.date]]:
    """Runs of consecutive days as ``(first, last)``."""
    ordered = sorted(set(days))
    if not ordered:
        return
    start = previous = ordered[0]
    for day in ordered[1:]:
        if day != previous + dt.timedelta(days=1):
            yield start, previous
            start = day
        previous = day
    yield start, previous


def rebuild(store: DemandStore, days: Iterable[dt.date] | None = None, *, chunk_days: int = 400) -> int:
    """Rebuild the facts of ``days`` (default: every day marked dirty); returns how many days."""
    if days is None:
        with store.engine.connect() as conn:
            days = list(as_dates(conn.execute(sa.select(dirty_days.c.day))))
    total = 0
    for first, last in ranges(days):
        while first <= last:
            hi = min(last, first + dt.timedelta(days=chunk_days - 1))
            rebuild_range(store, first, hi)
            total += (hi - first).days + 1
            first = hi + dt.timedelta(days=1)
    return total


def rebuild_range(store: DemandStore, lo: dt.date, hi: dt.date) -> None:
    params = {"lo": lo, "hi": hi, "lo_repeat": lo - dt.timedelta(days=REPEAT_DAYS)}
    with store.engine.begin() as conn:
        for table, insert in TABLES.items():
            conn.execute(sa.text(_DELETE.format(table=table)), params)
            conn.execute(sa.text(insert), params)
        conn.execute(sa.text(_DELETE.format(table="dirty_days")), params)
