"""Every aggregate query of the reports: one ``fetch_…`` function each, with explicit dates.

All read the per-day fact tables (``insights.facts``), apart from
``fetch_unresolved_requests``, which lists individual unresolved requests (a
bounded, indexed read). Days are UK days, inclusive at both ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from insights.clock import day_start
from insights.records import UNRESOLVED
from insights.store import UNRESOLVED_SQL, fact_hours, fact_requests, fact_unresolved, requests

Period = Literal["day", "week", "month"]
Dimension = Literal["service", "category", "channel", "demand", "intent", "outcome"]
#: Intents of these categories are answered when informed; the others are done only when completed.
ANSWER_CATEGORIES = ("know", "chase")


@dataclass(frozen=True)
class Scope:
    """The filters every report takes: a range of UK days, and optionally one service and one channel."""

    start: dt.date
    end: dt.date
    service: str | None = None
    channel: str | None = None


def _where(table: sa.Table, scope: Scope) -> list[Any]:
    conditions = [table.c.day.between(scope.start, scope.end)]
    if scope.service:
        conditions.append(table.c.service == scope.service)
    if scope.channel:
        conditions.append(table.c.channel == scope.channel)
    return conditions


def _rows(conn: Connection, query: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(query)]


def _sum(column: Any, label: str) -> Any:
    return sa.func.coalesce(sa.func.sum(column), 0).label(label)


def fetch_totals(conn: Connection, scope: Scope) -> dict[str, int]:
    f = fact_requests.c
    done = sa.case(
        (
            sa.or_(
                f.outcome == "completed", sa.and_(f.outcome == "informed", f.category.in_(ANSWER_CATEGORIES))
            ),
            f.requests,
        ),
        else_=0,
    )
    query = sa.select(
        _sum(f.requests, "requests"),
        _sum(f.messages, "messages"),
        _sum(f.out_of_hours, "out_of_hours"),
        _sum(f.repeats, "repeats"),
        _sum(sa.case((f.outcome == "completed", f.requests), else_=0), "completed"),
        _sum(done, "done"),
        _sum(sa.case((f.outcome.in_(sorted(UNRESOLVED)), f.requests), else_=0), "unresolved"),
        _sum(sa.case((f.demand == "failure", f.requests), else_=0), "failure"),
    ).where(*_where(fact_requests, scope))
    return {k: int(v or 0) for k, v in conn.execute(query).one()._mapping.items()}


def fetch_demand(conn: Connection, scope: Scope, *, by: Dimension, period: Period) -> list[dict[str, Any]]:
    """Requests and messages per period (its first day) and per value of ``by``."""
    f = fact_requests.c
    when = {"day": f.day, "week": f.week, "month": f.month}[period]
    key = getattr(f, by)
    query = (
        sa.select(
            when.label("period"), key.label("key"), _sum(f.requests, "requests"), _sum(f.messages, "messages")
        )
        .where(*_where(fact_requests, scope))
        .group_by(when, key)
        .order_by(when, key)
    )
    return _rows(conn, query)


def fetch_breakdown(conn: Connection, scope: Scope, *, by: Sequence[Dimension]) -> list[dict[str, Any]]:
    """Requests, out-of-hours and repeats, grouped by the given dimensions (plus ``done`` requests)."""
    f = fact_requests.c
    keys = [getattr(f, name) for name in by]
    done = sa.case(
        (
            sa.or_(
                f.outcome == "completed", sa.and_(f.outcome == "informed", f.category.in_(ANSWER_CATEGORIES))
            ),
            f.requests,
        ),
        else_=0,
    )
    query = (
        sa.select(
            *keys,
            _sum(f.requests, "requests"),
            _sum(f.out_of_hours, "out_of_hours"),
            _sum(f.repeats, "repeats"),
            _sum(done, "done"),
        )
        .where(*_where(fact_requests, scope))
        .group_by(*keys)
        .order_by(*keys)
    )
    return _rows(conn, query)


def fetch_details(conn: Connection, scope: Scope, *, outcome: str) -> list[dict[str, Any]]:
    """Requests with one outcome by service, intent and detail (the step, topic or failed system)."""
    f = fact_requests.c
    query = (
        sa.select(f.service, f.intent, f.detail, _sum(f.requests, "requests"))
        .where(*_where(fact_requests, scope), f.outcome == outcome)
        .group_by(f.service, f.intent, f.detail)
        .order_by(f.service, f.intent, f.detail)
    )
    return _rows(conn, query)


def fetch_hours(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Requests per weekday (Monday = 0) and UK hour, with those outside the contact centre's hours."""
    h = fact_hours.c
    query = (
        sa.select(h.dow, h.hour, _sum(h.requests, "requests"), _sum(h.out_of_hours, "out_of_hours"))
        .where(*_where(fact_hours, scope))
        .group_by(h.dow, h.hour)
        .order_by(h.dow, h.hour)
    )
    return _rows(conn, query)


def fetch_unresolved_wordings(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Distinct wordings (content lemmas) of unresolved requests, with counts and an example each."""
    u = fact_unresolved.c
    query = (
        sa.select(
            u.lemmas,
            u.outcome,
            u.topic,
            _sum(u.requests, "requests"),
            sa.func.max(u.example).label("example"),
        )
        .where(*_where(fact_unresolved, scope))
        .group_by(u.lemmas, u.outcome, u.topic)
    )
    return _rows(conn, query)


def fetch_unresolved_requests(conn: Connection, scope: Scope, *, limit: int = 100) -> list[dict[str, Any]]:
    """The latest unresolved requests in the range, with their redacted text, newest first."""
    r = requests.c
    first, after = day_start(scope.start), day_start(scope.end + dt.timedelta(days=1))
    conditions = [r.started >= first, r.started < after, UNRESOLVED_SQL]  # the partial index's own terms
    conditions += [c == v for c, v in ((r.service, scope.service), (r.channel, scope.channel)) if v]
    query = (
        sa.select(r.started, r.channel, r.service, r.intent, r.outcome, r.topic, r.system, r.text)
        .where(*conditions)
        .order_by(r.started.desc())
        .limit(limit)
    )
    return _rows(conn, query)


def fetch_values(conn: Connection, column: Literal["service", "channel"]) -> list[str]:
    """Every service or channel with demand in the store."""
    c = getattr(fact_requests.c, column)
    return [str(v) for v in conn.execute(sa.select(c).distinct().order_by(c)).scalars()]


def fetch_span(conn: Connection) -> tuple[dt.date | None, dt.date | None]:
    """The first and last UK day with demand."""
    first, last = conn.execute(
        sa.select(sa.func.min(fact_requests.c.day), sa.func.max(fact_requests.c.day))
    ).one()
    return _date(first), _date(last)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
