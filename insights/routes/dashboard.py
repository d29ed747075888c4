"""The dashboard (``/reports``): each report as a GOV.UK-styled page with charts, tables and downloads."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from insights import charts, filters, queries, reports
from insights.routes.deps import TEMPLATES, ConnectionDep, KnownDep, SettingsDep, require_page_user

router = APIRouter(prefix="/reports", tags=["dashboard"], include_in_schema=False)
FILTER_NAMES = ("from", "to", "service", "channel", "period", "by", "limit")
#: Longer tables show this many rows on the page; the CSV has them all.
SHOWN_ROWS = 60
#: Tables read better as a grid: (row key, column key, value key, corner title).
PIVOTS = {
    ("hours", "hour_of_week"): ("day", "hour", "requests", "Day"),
    ("demand", "over_time"): ("period", "key", "requests", "Period"),
}


def _form(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "").strip() for k in FILTER_NAMES}


def _query(values: dict[str, str], **extra: str) -> str:
    pairs = {k: v for k, v in {**values, **extra}.items() if v}
    return urlencode(pairs)


def _choices(known: filters.Known) -> dict[str, Any]:
    return {
        "services": sorted(((s, reports.label("service", s)) for s in known.services), key=lambda p: p[1]),
        "channels": sorted(((c, reports.label("channel", c)) for c in known.channels), key=lambda p: p[1]),
        "periods": filters.PERIODS,
        "dimensions": filters.DIMENSIONS,
    }


def _context(request: Request, user: str, **values: Any) -> dict[str, Any]:
    return {
        "user_name": user,
        "signed_in": True,
        "all_reports": reports.REPORTS,
        "path": request.url.path,
        **values,
    }


@router.get("", response_class=HTMLResponse)
def overview(
    request: Request,
    conn: ConnectionDep,
    known: KnownDep,
    settings: SettingsDep,
    user: str = Depends(require_page_user),
) -> HTMLResponse:
    form = _form(request)
    error = None
    summary: dict[str, Any] = {}
    chart = None
    scope = None
    try:
        scope = filters.scope(
            form["from"],
            form["to"],
            form["service"],
            form["channel"],
            known=known,
            max_days=settings.max_days,
        )
    except filters.BadFilter as bad:
        error = str(bad)
    if scope is not None:
        totals = queries.fetch_totals(conn, scope)
        by_category = queries.fetch_breakdown(conn, scope, by=["category", "outcome"])
        transactions = sum(
            r["requests"] for r in by_category if r["category"] in reports.TRANSACTION_CATEGORIES
        )
        completed = sum(
            r["requests"]
            for r in by_category
            if r["category"] in reports.TRANSACTION_CATEGORIES and r["outcome"] == "completed"
        )
        requests_ = totals["requests"]
        summary = {
            "requests": reports.fmt(requests_),
            "automation": reports.pct(reports.share(completed, transactions)),
            "failure": reports.pct(reports.share(totals["failure"], requests_)),
            "unresolved": reports.pct(reports.share(totals["unresolved"], requests_)),
            "out_of_hours": reports.pct(reports.share(totals["out_of_hours"], requests_)),
            "repeats": reports.pct(reports.share(totals["repeats"], requests_)),
        }
        demand = reports.demand(conn, scope, period="month", by="service")
        chart = charts.render(demand.charts[0])
    return TEMPLATES.TemplateResponse(
        request,
        "overview.html",
        _context(
            request,
            user,
            form=form,
            query=_query(form),
            error=error,
            error_field=_error_field(error),
            scope=scope,
            summary=summary,
            chart=chart,
            **_choices(known),
        ),
        status_code=400 if error else 200,
    )


@router.get("/{name}", response_class=HTMLResponse)
def report_page(
    name: str,
    request: Request,
    conn: ConnectionDep,
    known: KnownDep,
    settings: SettingsDep,
    user: str = Depends(require_page_user),
) -> HTMLResponse:
    if name not in reports.REPORTS:
        return TEMPLATES.TemplateResponse(request, "not_found.html", _context(request, user), status_code=404)
    form = _form(request)
    error = None
    report = None
    try:
        report = filters.build_report(
            name,
            conn,
            known=known,
            max_days=settings.max_days,
            office=settings.office_hours,
            start=form["from"],
            end=form["to"],
            service=form["service"],
            channel=form["channel"],
            period=form["period"],
            by=form["by"],
            limit_=form["limit"],
        )
    except filters.BadFilter as bad:
        error = str(bad)
    tables = []
    if report is not None:
        for table in report.tables:
            tables.append(
                {
                    "table": table,
                    "cells": list(reports.iter_cells(table)),
                    "shown": SHOWN_ROWS,
                    "pivot": _pivot(report, table),
                    "csv": f"/api/v1/reports/{name}.csv?{_query(form, table=table.name)}",
                }
            )
    return TEMPLATES.TemplateResponse(
        request,
        "report.html",
        _context(
            request,
            user,
            name=name,
            spec=reports.REPORTS[name],
            report=report,
            error=error,
            form=form,
            query=_query(form),
            tables=tables,
            charts=charts.render_all(report.charts) if report else [],
            themes_nlu=name == "themes",
            error_field=_error_field(error),
            **_choices(known),
        ),
        status_code=400 if error else 200,
    )


def _error_field(error: str | None) -> str:
    """The form field an error is about, for the error summary's link (the dates when it is the range)."""
    if not error:
        return ""
    first = error.split(":")[0].split()[:2]
    for field in ("to", "service", "channel", "period", "by", "limit"):
        if field in first:
            return field
    return "from"


def _pivot(report: reports.Report, table: reports.Table) -> dict[str, Any] | None:
    shape = PIVOTS.get((report.name, table.name))
    if shape is None:
        return None
    row_key, column_key, value_key, corner = shape
    kind = next(c.kind for c in table.columns if c.key == column_key)
    rows: dict[Any, dict[Any, dict[str, Any]]] = {}
    columns: list[Any] = []
    for row in table.rows:
        if row[column_key] not in columns:
            columns.append(row[column_key])
        rows.setdefault(row[row_key], {})[row[column_key]] = {
            "text": reports.fmt(row[value_key]),
            "marked": row.get("office_hours") in ("yes", "partly"),
        }
    empty = {"text": "0", "marked": False}
    return {
        "corner": corner,
        "columns": [reports.label(kind, c) if kind not in ("text", "period") else c for c in columns],
        "rows": [
            {"name": name, "cells": [cells.get(c, empty) for c in columns]} for name, cells in rows.items()
        ],
    }
