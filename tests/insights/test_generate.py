"""The synthetic year has the shape the issue asks for, seen through the reports' own queries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from insights import queries
from insights.generate import YEAR_REQUESTS, generate
from insights.queries import Scope

SCALE = 0.003  # about 10,000 requests: the same shape as 3.3 million
START = dt.date(2025, 4, 1)
YEAR = Scope(START, START + dt.timedelta(days=364))


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    from insights.settings import Settings
    from insights.store import DemandStore

    tmp = tmp_path_factory.mktemp("year")
    store = DemandStore.from_settings(
        Settings(store_url=f"sqlite:///{tmp / 'year.db'}", hash_key=b"k")
    ).create()
    result = generate(store, START, days=365, scale=SCALE, seed=11)
    with store.engine.connect() as conn:
        yield result, conn
    store.engine.dispose()


def test_the_year_has_the_councils_volume(year):
    result, conn = year
    total = queries.fetch_totals(conn, YEAR)["requests"]
    assert total == result.written.requests
    assert abs(total - YEAR_REQUESTS * SCALE) / (YEAR_REQUESTS * SCALE) < 0.05
    assert result.written.messages > total  # journeys take several messages


def test_a_third_of_requests_are_i_want_to_book(year):
    _, conn = year
    rows = queries.fetch_breakdown(conn, YEAR, by=["category"])
    share = sum(r["requests"] for r in rows if r["category"] == "book") / sum(r["requests"] for r in rows)
    assert 0.30 < share < 0.37


def test_garden_waste_renewals_peak_in_february_and_march(year):
    _, conn = year
    months = defaultdict(int)
    for row in queries.fetch_demand(
        conn, Scope(START, YEAR.end, service="waste"), by="intent", period="month"
    ):
        if row["key"] == "renew_garden_waste":
            months[row["period"]] += row["requests"]
    peak = months["2026-02"] + months["2026-03"]
    assert peak > 0.5 * sum(months.values())
    assert months["2026-03"] > 5 * months["2025-08"]


def test_demand_peaks_in_the_evening_and_at_weekends(year):
    _, conn = year
    hours = queries.fetch_hours(conn, YEAR)
    per_hour = defaultdict(int)
    per_day = defaultdict(int)
    for row in hours:
        per_day[row["dow"]] += row["requests"]
        if row["dow"] < 5:
            per_hour[row["hour"]] += row["requests"]
    assert max(per_hour, key=per_hour.get) in (19, 20, 21)
    assert min(per_day[5], per_day[6]) > max(per_day[d] for d in range(5))
    assert sum(r["out_of_hours"] for r in hours) / sum(r["requests"] for r in hours) > 0.5


def test_channels_are_mixed_and_a_share_is_unresolved_with_repeat_contact(year):
    _, conn = year
    totals = queries.fetch_totals(conn, YEAR)
    channels = {r["channel"]: r["requests"] for r in queries.fetch_breakdown(conn, YEAR, by=["channel"])}
    assert set(channels) == {"socketio", "whatsapp", "twilio"}
    assert min(channels.values()) > 0.1 * totals["requests"]
    assert 0.07 < totals["unresolved"] / totals["requests"] < 0.15
    assert totals["repeats"] > 0 and totals["failure"] > 0


def test_unresolved_text_went_through_redaction(year):
    result, conn = year
    assert result.written.redacted > 0
    texts = [r["text"] for r in queries.fetch_unresolved_requests(conn, YEAR, limit=1000)]
    assert texts and not any("07700" in t or "@example.com" in t for t in texts)
