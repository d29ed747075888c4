"""The JSON API (``/api/v1``): every report as JSON, each of its tables as CSV, a theme as Rasa NLU YAML."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from insights import filters, reports, themes
from insights.queries import Scope
from insights.routes.deps import ConnectionDep, KnownDep, SettingsDep, require_api_user
from insights.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["reports"], dependencies=[Depends(require_api_user)])

ReportName = Enum("ReportName", {name.replace("-", "_"): name for name in reports.REPORTS}, type=str)  # type: ignore[misc]


class ColumnOut(BaseModel):
    key: str
    title: str
    kind: str = Field(
        description="text, int, percent (a share from 0 to 1), period, or what the codes name: "
        "service, channel, outcome, intent, topic…"
    )


class TableOut(BaseModel):
    name: str
    title: str
    columns: list[ColumnOut]
    rows: list[dict[str, Any]] = Field(
        description="One object per row, keyed by column key; codes, not names"
    )


class ReportOut(BaseModel):
    report: str
    title: str
    from_: dt.date = Field(alias="from")
    to: dt.date
    service: str | None
    channel: str | None
    options: dict[str, str]
    findings: list[str] = Field(description="What the figures say, in plain English")
    tables: list[TableOut]

    class Config:
        allow_population_by_field_name = True


class ReportInfo(BaseModel):
    name: str
    title: str
    summary: str
    tables: list[str]
    options: list[str]


class FiltersOut(BaseModel):
    services: list[str]
    channels: list[str]
    latest_day: dt.date | None
    max_days: int
    periods: list[str]
    dimensions: list[str]


class Filters:
    """The query parameters every report takes."""

    def __init__(
        self,
        from_: Annotated[
            dt.date | None,
            Query(alias="from", description="First UK day (YYYY-MM-DD). Default: a year before `to`."),
        ] = None,
        to: Annotated[
            dt.date | None,
            Query(description="Last UK day (YYYY-MM-DD), inclusive. Default: the latest day with demand."),
        ] = None,
        service: Annotated[
            str | None, Query(description="Only this service, e.g. `waste` (see /filters)")
        ] = None,
        channel: Annotated[
            str | None, Query(description="Only this channel, e.g. `whatsapp` (see /filters)")
        ] = None,
        period: Annotated[str | None, Query(description="demand only: day, week (default) or month")] = None,
        by: Annotated[
            str | None,
            Query(description="demand only: service (default), category, channel, demand, intent or outcome"),
        ] = None,
        limit: Annotated[
            str | None, Query(description="unresolved only: how many, 1 to 1000 (default 100)")
        ] = None,
    ) -> None:
        self.start, self.end, self.service, self.channel = from_, to, service, channel
        self.period, self.by, self.limit = period, by, limit

    def scope(self, known: filters.Known, settings: Settings) -> Scope:
        try:
            return filters.scope(
                self.start, self.end, self.service, self.channel, known=known, max_days=settings.max_days
            )
        except filters.BadFilter as error:
            raise HTTPException(400, str(error)) from error

    def report(self, name: str, conn: Connection, known: filters.Known, settings: Settings) -> reports.Report:
        try:
            return filters.build_report(
                name,
                conn,
                known=known,
                max_days=settings.max_days,
                office=settings.office_hours,
                start=self.start,
                end=self.end,
                service=self.service,
                channel=self.channel,
                period=self.period,
                by=self.by,
                limit_=self.limit,
            )
        except filters.BadFilter as error:
            raise HTTPException(400, str(error)) from error


FiltersDep = Annotated[Filters, Depends()]


@router.get("/reports", response_model=list[ReportInfo], summary="The reports and what each holds")
def list_reports() -> list[ReportInfo]:
    return [
        ReportInfo(
            name=s.name,
            title=s.title,
            summary=s.summary,
            tables=list(s.tables),
            options=list(s.options) + (["by"] if "period" in s.options else []),
        )
        for s in reports.REPORTS.values()
    ]


@router.get("/filters", response_model=FiltersOut, summary="The values the filters accept")
def list_filters(known: KnownDep, settings: SettingsDep) -> FiltersOut:
    return FiltersOut(
        services=sorted(known.services),
        channels=sorted(known.channels),
        latest_day=known.latest,
        max_days=settings.max_days,
        periods=list(filters.PERIODS),
        dimensions=list(filters.DIMENSIONS),
    )


@router.get(
    "/reports/{name}.csv",
    response_class=PlainTextResponse,
    summary="One table of a report as CSV",
    responses={200: {"content": {"text/csv": {}}, "description": "CSV with a header row of column keys"}},
)
def report_csv(
    name: ReportName,
    conn: ConnectionDep,
    known: KnownDep,
    settings: SettingsDep,
    query: FiltersDep,
    table: Annotated[str | None, Query(description="Which table (default: the first); see /reports")] = None,
) -> Response:
    report = query.report(name.value, conn, known, settings)
    try:
        chosen = report.table(table)
    except KeyError:
        raise HTTPException(
            400,
            f"table: {report.name} has no table {table!r}; "
            f"tables: {', '.join(t.name for t in report.tables)}",
        ) from None
    filename = f"{report.name}-{chosen.name}-{report.scope.start}-{report.scope.end}.csv"
    return Response(
        reports.as_csv(chosen),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/reports/{name}", response_model=ReportOut, response_model_by_alias=True, summary="A report as JSON"
)
def report_json(
    name: ReportName, conn: ConnectionDep, known: KnownDep, settings: SettingsDep, query: FiltersDep
) -> dict[str, Any]:
    return reports.as_json(query.report(name.value, conn, known, settings))


@router.get(
    "/themes/{number}/nlu.yml",
    response_class=PlainTextResponse,
    summary="A theme as Rasa NLU YAML",
    responses={200: {"content": {"application/x-yaml": {}}}},
)
def theme_nlu(
    number: int, conn: ConnectionDep, known: KnownDep, settings: SettingsDep, query: FiltersDep
) -> Response:
    scope = query.scope(known, settings)
    found, _ = reports.unresolved_themes(conn, scope)
    theme = next((t for t in found if t.number == number), None)
    if theme is None:
        raise HTTPException(404, f"no theme {number} for these filters; there are {len(found)} themes")
    return Response(
        themes.nlu_yaml(theme),
        media_type="application/x-yaml; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{themes.intent_name(theme)}.yml"'},
    )
