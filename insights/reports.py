"""The reports for service designers: each one tables (for JSON, CSV, the CLI and the dashboard),
plain-English findings, and chart specifications (drawn as SVG by ``insights.charts``).

Every report takes a ``Scope`` (UK days from/to, optional service and
channel) and reads through ``insights.queries``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from insights import demand_map, queries, themes
from insights.clock import LONDON
from insights.queries import Scope
from insights.records import OUTCOMES
from integrations.office_hours import DAY_NAMES, OfficeHours

SERVICE_NAMES = {
    "waste": "Bins and waste",
    "council_tax": "Council tax",
    "leisure": "Leisure",
    "libraries": "Libraries",
    "bookings": "Bookings (leisure or libraries)",
    "contact": "Contact centre",
    "any": "Any service (not known)",
    "general": "General (help, greetings)",
    "unknown": "Not understood",
    "unsupported": "Not served by the assistant",
}
CHANNEL_NAMES = {
    "socketio": "Website chat",
    "rest": "Website chat (REST)",
    "twilio": "SMS",
    "whatsapp": "WhatsApp",
}
OUTCOME_NAMES = {
    "completed": "Completed",
    "informed": "Informed",
    "handed_over": "Handed over",
    "not_understood": "Not understood",
    "unsupported": "Unsupported",
    "integration_failed": "System failed",
    "abandoned": "Abandoned",
    "cancelled": "Cancelled",
}
DEMAND_NAMES = {"value": "Value", "failure": "Failure", "marker": "Contact (marker)", "none": "None"}
#: Council services a redesign can be about (not the assistant's own categories).
COUNCIL_SERVICES = ("waste", "council_tax", "leisure", "libraries", "bookings")
#: Categories whose requests the assistant can finish end to end (the automation rate's denominator).
TRANSACTION_CATEGORIES = frozenset({"book", "change", "renew", "report", "pay", "tell", "apply", "complain"})


def label(kind: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    names: Mapping[str, str] = {
        "service": SERVICE_NAMES,
        "channel": CHANNEL_NAMES,
        "outcome": OUTCOME_NAMES,
        "demand": DEMAND_NAMES,
    }.get(kind, {})
    if kind == "intent":
        info = demand_map.load().intents.get(str(value))
        return info.title if info else str(value)
    if kind == "topic":
        topic = next((t for t in demand_map.load().topics if t.key == value), None)
        return topic.name if topic else str(value)
    return names.get(
        str(value), str(value).replace("_", " ").capitalize() if kind == "category" else str(value)
    )


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: str = "text"  # text, int, percent, date, datetime, or a label kind: service, channel, outcome…
    numeric: bool = False


def col(key: str, title: str, kind: str = "text") -> Column:
    return Column(key, title, kind, numeric=kind in ("int", "percent", "number"))


#: The columns most reports' tables share, defined once.
SERVICE_COLUMN = col("service", "Service", "service")
REQUESTS_COLUMN = col("requests", "Requests", "int")


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]


@dataclass
class Chart:
    kind: str  # bars, stacked, lines, heatmap
    title: str
    description: str  # the text alternative: what the chart shows, in words
    data: dict[str, Any]


@dataclass
class Report:
    name: str
    title: str
    scope: Scope
    findings: list[str]
    tables: list[Table]
    charts: list[Chart] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    def table(self, name: str | None) -> Table:
        if name is None:
            return self.tables[0]
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)


def share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def pct(value: float) -> str:
    return f"{value * 100:.0f}%" if value >= 0.01 or value == 0 else f"{value * 100:.1f}%"


def fmt(value: int) -> str:
    return f"{value:,}"


def day_name(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


# --- the reports ----------------------------------------------------------------------------------


def demand(
    conn: Connection, scope: Scope, *, period: queries.Period = "week", by: queries.Dimension = "service"
) -> Report:
    rows = queries.fetch_demand(conn, scope, by=by, period=period)
    totals: dict[str, int] = defaultdict(int)
    per_period: dict[Any, int] = defaultdict(int)
    for row in rows:
        totals[row["key"]] += row["requests"]
        per_period[row["period"]] += row["requests"]
    total = sum(totals.values())
    ranked = sorted(totals, key=lambda k: -totals[k])
    findings = [f"{fmt(total)} requests from {day_name(scope.start)} to {day_name(scope.end)}."]
    if ranked:
        findings.append(f"Most asked for: {label(by, ranked[0])} ({pct(share(totals[ranked[0]], total))}).")
    if per_period:
        busiest = max(per_period, key=lambda p: per_period[p])
        findings.append(
            f"Busiest {period}: {_period_name(busiest, period)} with {fmt(per_period[busiest])} requests."
        )
    shown = ranked[:6]
    series: dict[str, dict[str, int]] = {label(by, k): {} for k in shown}
    if len(ranked) > 6:
        series["Other"] = {}
    for row in rows:
        name = label(by, row["key"]) if row["key"] in shown else "Other"
        key = _period_key(row["period"])
        series[name][key] = series[name].get(key, 0) + row["requests"]
    periods = sorted({_period_key(p) for p in per_period})
    return Report(
        name="demand",
        title=f"Demand by {by} per {period}",
        scope=scope,
        findings=findings,
        options={"period": period, "by": by},
        tables=[
            Table(
                "totals",
                f"Requests by {by}",
                [
                    col("key", by.capitalize(), by),
                    REQUESTS_COLUMN,
                    col("share", "Share", "percent"),
                ],
                [{"key": k, "requests": totals[k], "share": share(totals[k], total)} for k in ranked],
            ),
            Table(
                "over_time",
                f"Requests per {period} by {by}",
                [
                    col("period", period.capitalize(), "period"),
                    col("key", by.capitalize(), by),
                    REQUESTS_COLUMN,
                    col("messages", "Messages", "int"),
                ],
                [{**row, "period": _period_key(row["period"])} for row in rows],
            ),
        ],
        charts=[
            Chart(
                "lines",
                f"Requests per {period}",
                f"Line chart of requests per {period} for the {len(series)} largest groups by {by}. "
                + " ".join(findings[1:]),
                {"x": periods, "labels": [_period_label(p, period) for p in periods], "series": series},
            ),
            Chart(
                "bars",
                f"Requests by {by}",
                f"Bar chart of requests by {by}. " + findings[0],
                {"bars": [(label(by, k), totals[k]) for k in ranked[:12]]},
            ),
        ],
    )


def value_failure(conn: Connection, scope: Scope) -> Report:
    rows = queries.fetch_breakdown(conn, scope, by=["service", "demand", "intent"])
    by_service: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures: list[dict[str, Any]] = []
    for row in rows:
        by_service[row["service"]][row["demand"]] += row["requests"]
        if row["demand"] == "failure":
            failures.append({"service": row["service"], "intent": row["intent"], "requests": row["requests"]})
    table: list[dict[str, Any]] = []
    for service, counts in by_service.items():
        value, failure = counts.get("value", 0), counts.get("failure", 0)
        if value + failure == 0:
            continue
        table.append(
            {
                "service": service,
                "value": value,
                "failure": failure,
                "failure_share": share(failure, value + failure),
                "requests": sum(counts.values()),
            }
        )
    table.sort(key=lambda r: -r["failure"])
    failure_total = sum(r["failure"] for r in table)
    value_total = sum(r["value"] for r in table)
    for f in failures:
        f["share_of_service_failure"] = share(f["requests"], by_service[f["service"]].get("failure", 0))
    failures.sort(key=lambda f: -f["requests"])
    findings = [
        f"{pct(share(failure_total, failure_total + value_total))} of value and failure demand is failure "
        f"demand ({fmt(failure_total)} requests): contact caused by something not done, or not done right."
    ]
    if failures:
        top = failures[0]
        findings.append(
            f"The largest kind: {label('intent', top['intent'])} ({label('service', top['service'])}), "
            f"{fmt(top['requests'])} requests."
        )
    return Report(
        name="value-failure",
        title="Value and failure demand by service",
        scope=scope,
        findings=findings,
        tables=[
            Table(
                "by_service",
                "Value and failure demand by service",
                [
                    SERVICE_COLUMN,
                    col("value", "Value demand", "int"),
                    col("failure", "Failure demand", "int"),
                    col("failure_share", "Failure share", "percent"),
                    col("requests", "All requests", "int"),
                ],
                table,
            ),
            Table(
                "failure_examples",
                "What the failure demand is",
                [
                    SERVICE_COLUMN,
                    col("intent", "Request", "intent"),
                    REQUESTS_COLUMN,
                    col("share_of_service_failure", "Share of the service's failure demand", "percent"),
                ],
                failures,
            ),
        ],
        charts=[
            Chart(
                "stacked",
                "Value and failure demand by service",
                "Stacked bar chart of value and failure demand for each service. " + " ".join(findings),
                {
                    "categories": [label("service", r["service"]) for r in table],
                    "series": {
                        "Value": [r["value"] for r in table],
                        "Failure": [r["failure"] for r in table],
                    },
                },
            )
        ],
    )


def outcomes(conn: Connection, scope: Scope) -> Report:
    rows = queries.fetch_breakdown(conn, scope, by=["service", "category", "intent", "outcome"])
    services: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    journeys: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        s = services[row["service"]]
        s[row["outcome"]] += row["requests"]
        s["requests"] += row["requests"]
        if row["category"] in TRANSACTION_CATEGORIES:
            s["transactions"] += row["requests"]
            s["transactions_completed"] += row["requests"] if row["outcome"] == "completed" else 0
            j = journeys[(row["service"], row["intent"])]
            j["requests"] += row["requests"]
            j[row["outcome"]] += row["requests"]
    by_service: list[dict[str, Any]] = []
    for service, s in sorted(services.items(), key=lambda kv: -kv[1]["requests"]):
        by_service.append(
            {
                "service": service,
                "requests": s["requests"],
                **{o: s.get(o, 0) for o in OUTCOMES},
                "transactions": s.get("transactions", 0),
                "automation_rate": share(s.get("transactions_completed", 0), s.get("transactions", 0)),
            }
        )
    by_journey: list[dict[str, Any]] = [
        {
            "service": service,
            "intent": intent,
            "requests": j["requests"],
            "completed": j.get("completed", 0),
            "abandoned": j.get("abandoned", 0),
            "integration_failed": j.get("integration_failed", 0),
            "automation_rate": share(j.get("completed", 0), j["requests"]),
        }
        for (service, intent), j in sorted(journeys.items(), key=lambda kv: -kv[1]["requests"])
    ]
    all_tx = sum(r["transactions"] for r in by_service)
    all_done = sum(j["completed"] for j in by_journey)
    findings = [
        f"The assistant completed {pct(share(all_done, all_tx))} of transactions end to end "
        f"({fmt(all_done)} of {fmt(all_tx)})."
    ]
    best = max(by_journey, key=lambda j: (j["automation_rate"], j["requests"]), default=None)
    if best:
        findings.append(
            f"Highest automation: {label('intent', best['intent'])}, "
            f"{pct(best['automation_rate'])} completed."
        )
    shown = [r for r in by_service if r["requests"]]
    return Report(
        name="outcomes",
        title="Outcomes and automation rate by service",
        scope=scope,
        findings=findings,
        tables=[
            Table(
                "by_service",
                "Outcomes by service",
                [
                    SERVICE_COLUMN,
                    REQUESTS_COLUMN,
                    *(col(o, OUTCOME_NAMES[o], "int") for o in OUTCOMES),
                    col("transactions", "Transactions", "int"),
                    col("automation_rate", "Automation rate", "percent"),
                ],
                by_service,
            ),
            Table(
                "by_journey",
                "Automation rate by transaction",
                [
                    SERVICE_COLUMN,
                    col("intent", "Transaction", "intent"),
                    REQUESTS_COLUMN,
                    col("completed", "Completed", "int"),
                    col("abandoned", "Abandoned", "int"),
                    col("integration_failed", "System failed", "int"),
                    col("automation_rate", "Automation rate", "percent"),
                ],
                by_journey,
            ),
        ],
        charts=[
            Chart(
                "stacked",
                "Outcomes by service (share of requests)",
                "Stacked bar chart: for each service, the share of requests ending in each outcome. "
                + " ".join(findings),
                {
                    "categories": [label("service", r["service"]) for r in shown],
                    "percent": True,
                    "series": {
                        OUTCOME_NAMES[o]: [share(r[o], r["requests"]) for r in shown] for o in OUTCOMES
                    },
                },
            )
        ],
    )


def hours(conn: Connection, scope: Scope, *, office: OfficeHours | None = None) -> Report:
    office = office or OfficeHours()
    rows = queries.fetch_hours(conn, scope)
    grid = [[0] * 24 for _ in range(7)]
    ooh_total = total = 0
    for row in rows:
        grid[row["dow"]][row["hour"]] = row["requests"]
        total += row["requests"]
        ooh_total += row["out_of_hours"]
    marks = [[_office_mark(office, dow, hour) for hour in range(24)] for dow in range(7)]
    table: list[dict[str, Any]] = [
        {
            "day": DAY_NAMES[dow],
            "hour": f"{hour:02d}:00",
            "requests": grid[dow][hour],
            "office_hours": marks[dow][hour],
        }
        for dow in range(7)
        for hour in range(24)
    ]
    peak = max(table, key=lambda r: r["requests"]) if total else None
    evening = sum(grid[d][h] for d in range(7) for h in range(18, 23))
    weekend = sum(grid[d][h] for d in (5, 6) for h in range(24))
    findings = [
        f"{pct(share(ooh_total, total))} of requests came when the contact centre was closed "
        f"({office.describe()}, and bank holidays): demand the assistant met out of hours."
    ]
    if peak:
        findings.append(
            f"The busiest hour of the week is {peak['day']} {peak['hour']}, "
            f"with {fmt(peak['requests'])} requests."
        )
    findings.append(
        f"Evenings (18:00–23:00) bring {pct(share(evening, total))} of demand; "
        f"weekends {pct(share(weekend, total))}."
    )
    return Report(
        name="hours",
        title="Demand by hour of the week",
        scope=scope,
        findings=findings,
        tables=[
            Table(
                "hour_of_week",
                "Requests by day and hour (UK time)",
                [
                    col("day", "Day"),
                    col("hour", "Hour"),
                    REQUESTS_COLUMN,
                    col("office_hours", "Contact centre open"),
                ],
                table,
            )
        ],
        charts=[
            Chart(
                "heatmap",
                "Requests by hour of the week",
                "Heat map of requests for each day of the week (rows) and hour (columns), darker for more; "
                "hours when the contact centre is open are outlined. " + " ".join(findings),
                {"rows": list(DAY_NAMES), "grid": grid, "marks": marks, "office": office.describe()},
            )
        ],
    )


def _office_mark(office: OfficeHours, dow: int, hour: int) -> str:
    if dow not in office.weekdays:
        return "no"
    start, end = dt.time(hour), dt.time(hour, 59, 59)
    if office.opens <= start and end < office.closes:
        return "yes"
    return "partly" if start < office.closes and end >= office.opens else "no"


def repeat_contact(conn: Connection, scope: Scope) -> Report:
    rows = [
        r
        for r in queries.fetch_breakdown(conn, scope, by=["service"])
        if r["service"] not in ("general", "unknown")
    ]
    table = sorted(
        (
            {
                "service": r["service"],
                "requests": r["requests"],
                "repeats": r["repeats"],
                "repeat_share": share(r["repeats"], r["requests"]),
            }
            for r in rows
        ),
        key=lambda r: -r["repeat_share"],
    )
    total = sum(r["requests"] for r in table)
    repeats = sum(r["repeats"] for r in table)
    findings = [
        f"{pct(share(repeats, total))} of requests came from a resident who had asked about the same "
        f"service in the 7 days before ({fmt(repeats)} requests).",
        "Residents are recognised by a keyed hash of their sender: the same phone on SMS or WhatsApp; "
        "on the website only while the browser keeps its chat session.",
    ]
    if table:
        findings.insert(
            1,
            f"Highest: {label('service', table[0]['service'])}, "
            f"{pct(table[0]['repeat_share'])} repeat contact.",
        )
    return Report(
        name="repeat-contact",
        title="Repeat contact within 7 days, by service",
        scope=scope,
        findings=findings,
        tables=[
            Table(
                "by_service",
                "Repeat contact by service",
                [
                    SERVICE_COLUMN,
                    REQUESTS_COLUMN,
                    col("repeats", "Repeat within 7 days", "int"),
                    col("repeat_share", "Repeat share", "percent"),
                ],
                table,
            )
        ],
        charts=[
            Chart(
                "bars",
                "Share of requests that are repeat contact",
                "Bar chart of the share of each service's requests that repeat a contact within 7 days. "
                + findings[0],
                {
                    "bars": [(label("service", r["service"]), r["repeat_share"]) for r in table],
                    "percent": True,
                },
            )
        ],
    )


def drop_off(conn: Connection, scope: Scope) -> Report:
    stops = queries.fetch_details(conn, scope, outcome="abandoned")
    totals = {
        (r["service"], r["intent"]): r["requests"]
        for r in queries.fetch_breakdown(conn, scope, by=["service", "intent"])
    }
    abandoned: dict[tuple[str, str], int] = defaultdict(int)
    for row in stops:
        abandoned[(row["service"], row["intent"])] += row["requests"]
    table = sorted(
        (
            {
                "service": r["service"],
                "intent": r["intent"],
                "step": r["detail"] or "(not known)",
                "abandoned": r["requests"],
                "share_of_abandoned": share(r["requests"], abandoned[(r["service"], r["intent"])]),
                "share_of_requests": share(r["requests"], totals.get((r["service"], r["intent"]), 0)),
            }
            for r in stops
        ),
        key=lambda r: -r["abandoned"],
    )
    total = sum(abandoned.values())
    findings = [f"{fmt(total)} journeys were left part way."]
    if table:
        top = table[0]
        findings.append(
            f"The most common place to stop: {label('intent', top['intent'])} at “{top['step']}” "
            f"({fmt(top['abandoned'])}; {pct(top['share_of_requests'])} of those requests)."
        )
    return Report(
        name="drop-off",
        title="Where abandoned journeys stop",
        scope=scope,
        findings=findings,
        tables=[
            Table(
                "steps",
                "Abandoned journeys by the question they stopped at",
                [
                    SERVICE_COLUMN,
                    col("intent", "Journey", "intent"),
                    col("step", "Stopped at"),
                    col("abandoned", "Abandoned", "int"),
                    col("share_of_abandoned", "Share of the journey's abandoned", "percent"),
                    col("share_of_requests", "Share of the journey's requests", "percent"),
                ],
                table,
            )
        ],
        charts=[
            Chart(
                "bars",
                "Abandoned journeys by step",
                "Bar chart of abandoned journeys by the question they stopped at. " + " ".join(findings),
                {
                    "bars": [
                        (f"{label('intent', r['intent'])}: {r['step']}", r["abandoned"]) for r in table[:12]
                    ]
                },
            )
        ],
    )


def unresolved_themes(conn: Connection, scope: Scope) -> tuple[list[themes.Theme], int]:
    found = themes.build(queries.fetch_unresolved_wordings(conn, scope))
    return found, sum(t.requests for t in found)


def themes_report(conn: Connection, scope: Scope) -> Report:
    found, total = unresolved_themes(conn, scope)
    topics = queries.fetch_details(conn, scope, outcome="unsupported")
    by_topic: dict[str, int] = defaultdict(int)
    for row in topics:
        by_topic[row["detail"] or ""] += row["requests"]
    topic_rows: list[dict[str, Any]] = sorted(
        ({"topic": k or None, "requests": v} for k, v in by_topic.items()), key=lambda r: -r["requests"]
    )
    theme_rows = [
        {
            "theme": t.number,
            "top_terms": t.label,
            "requests": t.requests,
            "share": share(t.requests, total),
            "outcomes": "; ".join(f"{label('outcome', o)} {fmt(n)}" for o, n in t.outcomes.items()),
            "examples": " | ".join(t.examples[:3]),
        }
        for t in found
    ]
    example_rows = [{"theme": t.number, "example": e} for t in found for e in t.examples[:5]]
    findings = [
        f"{fmt(total)} unresolved requests (not understood, not served, or a system failed) "
        f"fall into {len(found)} themes."
    ]
    if found:
        findings.append(f"The largest theme: “{found[0].label}”, {fmt(found[0].requests)} requests.")
    findings.append(
        "Texts are shown as stored: personal data was removed before they were kept, and they are "
        "deleted after the retention period, so themes cover that period only."
    )
    return Report(
        name="themes",
        title="Unresolved requests grouped into themes",
        scope=scope,
        findings=findings,
        tables=[
            Table(
                "themes",
                "Themes of unresolved requests",
                [
                    col("theme", "Theme", "int"),
                    col("top_terms", "Top terms"),
                    REQUESTS_COLUMN,
                    col("share", "Share", "percent"),
                    col("outcomes", "Outcomes"),
                    col("examples", "Examples"),
                ],
                theme_rows,
            ),
            Table(
                "examples",
                "Examples by theme",
                [col("theme", "Theme", "int"), col("example", "Example")],
                example_rows,
            ),
            Table(
                "unsupported_topics",
                "Council matters the assistant does not serve",
                [col("topic", "Topic", "topic"), REQUESTS_COLUMN],
                topic_rows,
            ),
        ],
        charts=[
            Chart(
                "bars",
                "Unresolved requests by theme",
                "Bar chart of unresolved requests in each theme. " + " ".join(findings[:2]),
                {"bars": [(f"{t.number}. {t.label}", t.requests) for t in found[:12]]},
            )
        ],
    )


def unresolved(conn: Connection, scope: Scope, *, limit: int = 100) -> Report:
    rows = queries.fetch_unresolved_requests(conn, scope, limit=limit)
    table = [
        {
            "time": dt.datetime.fromtimestamp(r["started"], LONDON).strftime("%Y-%m-%d %H:%M"),
            "channel": r["channel"],
            "service": r["service"],
            "outcome": r["outcome"],
            "detail": r["topic"] or r["system"],
            "text": r["text"],
        }
        for r in rows
    ]
    return Report(
        name="unresolved",
        title="Latest unresolved requests",
        scope=scope,
        findings=[
            f"The latest {len(table)} unresolved requests in the range, newest first, with personal data "
            "removed. System failures keep what was asked, for follow-up."
        ],
        options={"limit": str(limit)},
        tables=[
            Table(
                "requests",
                "Unresolved requests",
                [
                    col("time", "Time (UK)"),
                    col("channel", "Channel", "channel"),
                    SERVICE_COLUMN,
                    col("outcome", "Outcome", "outcome"),
                    col("detail", "Topic or system"),
                    col("text", "What the resident wrote"),
                ],
                table,
            )
        ],
    )


def opportunities(conn: Connection, scope: Scope) -> Report:
    rows = queries.fetch_breakdown(conn, scope, by=["service", "demand", "intent"])
    services: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failure_kinds: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        if row["service"] not in COUNCIL_SERVICES:
            continue
        s = services[row["service"]]
        s["requests"] += row["requests"]
        s["done"] += row["done"]
        if row["demand"] == "failure":
            s["failure"] += row["requests"]
            failure_kinds[row["service"]][row["intent"]] = row["requests"]
    table: list[dict[str, Any]] = []
    for service, s in services.items():
        not_done = 1 - share(s["done"], s["requests"])
        failure = share(s["failure"], s["requests"])
        score = round(s["requests"] * not_done * failure)
        kinds = sorted(failure_kinds[service].items(), key=lambda kv: -kv[1])
        because = (
            ", ".join(f"{label('intent', i).lower()} {fmt(n)}" for i, n in kinds[:3])
            if kinds
            else "no failure demand recorded"
        )
        table.append(
            {
                "service": service,
                "requests": s["requests"],
                "not_done_share": round(not_done, 4),
                "failure_share": failure,
                "score": score,
                "reasoning": (
                    f"{fmt(s['requests'])} requests × {pct(not_done)} not finished by the assistant × "
                    f"{pct(failure)} failure demand ({because}) = {fmt(score)}."
                ),
            }
        )
    table.sort(key=lambda r: (-r["score"], -r["requests"]))
    for rank, row in enumerate(table, start=1):
        row["rank"] = rank
    findings = [
        "Ranked by volume × share not finished by the assistant × share of failure demand: where a "
        "redesign removes the most avoidable contact. A request counts as finished when completed, or "
        "when a question was answered."
    ]
    if table and table[0]["score"]:
        findings.append(f"Start with {label('service', table[0]['service'])}: {table[0]['reasoning']}")
    return Report(
        name="opportunities",
        title="Redesign opportunities",
        scope=scope,
        findings=findings,
        tables=[
            Table(
                "ranked",
                "Redesign opportunities, ranked",
                [
                    col("rank", "Rank", "int"),
                    SERVICE_COLUMN,
                    REQUESTS_COLUMN,
                    col("not_done_share", "Not finished", "percent"),
                    col("failure_share", "Failure demand", "percent"),
                    col("score", "Score", "int"),
                    col("reasoning", "Reasoning"),
                ],
                table,
            )
        ],
        charts=[
            Chart(
                "bars",
                "Redesign opportunity score by service",
                "Bar chart of the opportunity score of each service. " + " ".join(findings[1:]),
                {"bars": [(label("service", r["service"]), r["score"]) for r in table]},
            )
        ],
    )


def _period_key(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _period_label(key: str, period: str) -> str:
    """An axis label: "Mar 2026" for a month, "2 Mar" for a day or week."""
    if period == "month":
        return dt.datetime.strptime(key, "%Y-%m").strftime("%b %Y")
    day = dt.date.fromisoformat(key)
    return f"{day.day} {day:%b}"


def _period_name(value: Any, period: str) -> str:
    if isinstance(value, dt.date):
        return f"week of {day_name(value)}" if period == "week" else f"{value:%A} {day_name(value)}"
    if period == "month":
        return dt.datetime.strptime(str(value), "%Y-%m").strftime("%B %Y")
    return str(value)


@dataclass(frozen=True)
class ReportSpec:
    name: str
    title: str
    summary: str
    build: Callable[..., Report]
    tables: tuple[str, ...]
    options: tuple[str, ...] = ()


def _spec(
    name: str, title: str, summary: str, build: Callable[..., Report], tables: str, options: str = ""
) -> ReportSpec:
    return ReportSpec(name, title, summary, build, tuple(tables.split()), tuple(options.split()))


REPORTS: dict[str, ReportSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "demand",
            "Demand",
            "Requests by service, category or channel per day, week or month.",
            demand,
            "totals over_time",
            "period by",
        ),
        _spec(
            "value-failure",
            "Value and failure demand",
            "Failure demand by service, with what it is.",
            value_failure,
            "by_service failure_examples",
        ),
        _spec(
            "outcomes",
            "Outcomes and automation",
            "How requests ended; the share of transactions completed end to end.",
            outcomes,
            "by_service by_journey",
        ),
        _spec(
            "hours",
            "Hour of the week",
            "When residents ask, against the contact centre's hours.",
            hours,
            "hour_of_week",
        ),
        _spec(
            "repeat-contact",
            "Repeat contact",
            "Residents asking again about the same service within 7 days.",
            repeat_contact,
            "by_service",
        ),
        _spec("drop-off", "Drop-off", "The question at which residents leave a journey.", drop_off, "steps"),
        _spec(
            "themes",
            "Unresolved themes",
            "What the assistant could not resolve, grouped into themes.",
            themes_report,
            "themes examples unsupported_topics",
        ),
        _spec(
            "unresolved",
            "Unresolved requests",
            "The latest unresolved requests, redacted, for follow-up.",
            unresolved,
            "requests",
            "limit",
        ),
        _spec(
            "opportunities",
            "Redesign opportunities",
            "Where to redesign first, with the reasoning.",
            opportunities,
            "ranked",
        ),
    )
}


def run(
    name: str, conn: Connection, scope: Scope, *, office: OfficeHours | None = None, **options: Any
) -> Report:
    """Build a report by name with the options it takes (others are ignored)."""
    spec = REPORTS[name]
    kwargs = {k: v for k, v in options.items() if k in spec.options and v is not None}
    if name == "hours":
        kwargs["office"] = office
    return spec.build(conn, scope, **kwargs)


def display(column: Column, value: Any) -> str:
    """A cell as people read it (the dashboard and the CLI's table): names, thousands, percentages."""
    if value is None:
        return "—"
    if column.kind == "int":
        return fmt(int(value))
    if column.kind == "percent":
        return pct(float(value))
    if column.kind in ("service", "channel", "outcome", "demand", "intent", "topic", "category"):
        return label(column.kind, value)
    return str(value)


def iter_cells(table: Table) -> Iterable[list[str]]:
    for row in table.rows:
        yield [display(c, row.get(c.key)) for c in table.columns]


def as_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data: codes (not display names), dates as ISO strings."""
    return {
        "report": report.name,
        "title": report.title,
        "from": report.scope.start.isoformat(),
        "to": report.scope.end.isoformat(),
        "service": report.scope.service,
        "channel": report.scope.channel,
        "options": report.options,
        "findings": report.findings,
        "tables": [
            {
                "name": t.name,
                "title": t.title,
                "columns": [{"key": c.key, "title": c.title, "kind": c.kind} for c in t.columns],
                "rows": [{c.key: _plain(row.get(c.key)) for c in t.columns} for row in t.rows],
            }
            for t in report.tables
        ],
    }


def as_csv(table: Table) -> str:
    """One table as CSV: a header of column keys, then codes and plain numbers (percentages as 0..1)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(row.get(c.key)) for c in table.columns])
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _csv_cell(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # never a formula when opened in a spreadsheet
    return "" if value is None else value
