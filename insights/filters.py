"""The filters every report takes, checked once for the API, the dashboard and the CLI.

Bad input gets a message that says what was wrong and what is accepted; the
callers turn ``BadFilter`` into a 400 or an error message, never a 500.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from insights import clock, demand_map, queries, reports
from insights.outcomes import REFERENCE_SERVICES
from insights.queries import Scope
from insights.reports import CHANNEL_NAMES, SERVICE_NAMES
from integrations.office_hours import OfficeHours

PERIODS = ("day", "week", "month")
DIMENSIONS = ("service", "category", "channel", "demand", "intent", "outcome")
#: Without dates: the year up to the latest day with demand.
DEFAULT_DAYS = 365


class BadFilter(ValueError):
    """A filter that cannot be used; the message is for the person who sent it."""


@dataclass(frozen=True)
class Known:
    services: frozenset[str]
    channels: frozenset[str]
    latest: dt.date | None


def known(conn: Connection) -> Known:
    """Services and channels a filter may name: the catalogue's, and any with demand in the store."""
    mapped = {info.service for info in demand_map.load().intents.values()}
    _, latest = queries.fetch_span(conn)
    return Known(
        services=frozenset(
            mapped
            | set(REFERENCE_SERVICES.values())
            | set(SERVICE_NAMES)
            | set(queries.fetch_values(conn, "service"))
        ),
        channels=frozenset(set(CHANNEL_NAMES) | set(queries.fetch_values(conn, "channel"))),
        latest=latest,
    )


def parse_date(name: str, value: str | dt.date | None) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise BadFilter(f"{name}: {value!r} is not a date; use YYYY-MM-DD, e.g. 2026-03-31") from None


def scope(
    start: str | dt.date | None,
    end: str | dt.date | None,
    service: str | None,
    channel: str | None,
    *,
    known: Known,
    max_days: int,
    today: dt.date | None = None,
) -> Scope:
    first, last = parse_date("from", start), parse_date("to", end)
    if last is None:
        latest = known.latest or today or clock.today()
        last = first + dt.timedelta(days=DEFAULT_DAYS - 1) if first else latest
    if first is None:
        first = last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise BadFilter(f"from ({first}) is after to ({last}): the range must run forwards")
    days = (last - first).days + 1
    if days > max_days:
        raise BadFilter(f"the range is {days:,} days long; a report covers at most {max_days:,} days")
    return Scope(
        first, last, _choice("service", service, known.services), _choice("channel", channel, known.channels)
    )


def _choice(name: str, value: str | None, allowed: Collection[str]) -> str | None:
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if value not in allowed:
        raise BadFilter(f"unknown {name} {value!r}; use one of: {', '.join(sorted(allowed))}")
    return value


def choice(name: str, value: str | None, allowed: Collection[str], default: str) -> str:
    return _choice(name, value, allowed) or default


def limit(value: str | int | None, *, default: int = 100, most: int = 1000) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadFilter(f"limit: {value!r} is not a whole number") from None
    if not 1 <= number <= most:
        raise BadFilter(f"limit: {number} is out of range; use 1 to {most}")
    return number


def build_report(
    name: str,
    conn: Connection,
    *,
    known: Known,
    max_days: int,
    office: OfficeHours,
    start: str | dt.date | None = None,
    end: str | dt.date | None = None,
    service: str | None = None,
    channel: str | None = None,
    period: str | None = None,
    by: str | None = None,
    limit_: str | int | None = None,
) -> reports.Report:
    """A report by name from raw filter values, checked: ``BadFilter`` says what was wrong."""
    if name not in reports.REPORTS:
        raise BadFilter(f"no report {name!r}; reports: {', '.join(reports.REPORTS)}")
    chosen = scope(start, end, service, channel, known=known, max_days=max_days)
    options: dict[str, object] = {}
    if "period" in reports.REPORTS[name].options:
        options["period"] = choice("period", period, PERIODS, "week")
        options["by"] = choice("by", by, DIMENSIONS, "service")
    if "limit" in reports.REPORTS[name].options:
        options["limit"] = limit(limit_)
    return reports.run(name, conn, chosen, office=office, **options)
