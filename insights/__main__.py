"""Demand reports from the command line.

    python -m insights report <name> [--from DATE] [--to DATE] [--service S] [--channel C]
                                     [--period day|week|month] [--by DIM] [--limit N]
                                     [--format table|csv|json] [--table NAME]
    python -m insights nlu <theme number> [--from DATE] [--to DATE] [--service S] [--channel C]
    python -m insights ingest [--idle-minutes N]       # Rasa's SQL event broker table -> the store
    python -m insights retention [--days N]            # delete text older than the retention period
    python -m insights generate [--from DATE] [--days N] [--scale F] [--seed N]   # a synthetic year
    python -m insights facts [--from DATE --to DATE]   # rebuild the fact tables (default: days marked)

Settings come from the environment (``insights.settings``); ``--store`` overrides
``DEMAND_STORE_URL``. Exit status 2 for bad input, with the reason on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import time
from collections.abc import Sequence

from insights import facts, filters, reports, themes
from insights.settings import Settings, database_url
from insights.store import DemandStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m insights", description="Council Assistant demand reports"
    )
    parser.add_argument("--store", help="demand store URL or SQLite path (default: DEMAND_STORE_URL)")
    commands = parser.add_subparsers(dest="command", required=True)

    def scoped(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--from", dest="start", help="first UK day, YYYY-MM-DD (default: a year before --to)"
        )
        command.add_argument(
            "--to", dest="end", help="last UK day, YYYY-MM-DD (default: the latest with demand)"
        )
        command.add_argument("--service", help="only this service, e.g. waste")
        command.add_argument("--channel", help="only this channel, e.g. whatsapp")

    report = commands.add_parser("report", help="print a report")
    report.add_argument("name", choices=list(reports.REPORTS))
    scoped(report)
    report.add_argument("--period", help="demand: day, week or month")
    report.add_argument("--by", help="demand: service, category, channel, demand, intent or outcome")
    report.add_argument("--limit", help="unresolved: how many (1-1000)")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument("--table", help="csv: which table (default: the first)")

    nlu = commands.add_parser("nlu", help="print a theme of unresolved requests as Rasa NLU YAML")
    nlu.add_argument("theme", type=int)
    scoped(nlu)

    ingest = commands.add_parser("ingest", help="ingest Rasa's SQL event broker table (RASA_EVENTS_DB)")
    ingest.add_argument(
        "--idle-minutes",
        type=int,
        help="a conversation quiet this long is finished "
        "(default: DEMAND_SESSION_MINUTES); 0 finishes every conversation now",
    )

    retention = commands.add_parser("retention", help="delete demand text and conversations past retention")
    retention.add_argument("--days", type=int, help="the period (default: DEMAND_RETENTION_DAYS)")

    generate = commands.add_parser("generate", help="write a synthetic year of demand into the store")
    generate.add_argument("--from", dest="start", help="first day (default: a year before today)")
    generate.add_argument("--days", type=int, default=365)
    generate.add_argument("--scale", type=float, default=1.0, help="1.0 is 3.3 million requests a year")
    generate.add_argument("--seed", type=int, default=7)

    rebuild = commands.add_parser("facts", help="rebuild the fact tables")
    rebuild.add_argument("--from", dest="start")
    rebuild.add_argument("--to", dest="end")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    if args.store:
        settings = dataclasses.replace(settings, store_url=database_url(args.store))
    store = DemandStore.from_settings(settings).create()
    try:
        return COMMANDS[args.command](args, store, settings)
    except filters.BadFilter as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        store.engine.dispose()


def _report(args: argparse.Namespace, store: DemandStore, settings: Settings) -> int:
    with store.engine.connect() as conn:
        report = filters.build_report(
            args.name,
            conn,
            known=filters.known(conn),
            max_days=settings.max_days,
            office=settings.office_hours,
            start=args.start,
            end=args.end,
            service=args.service,
            channel=args.channel,
            period=args.period,
            by=args.by,
            limit_=args.limit,
        )
    if args.format == "json":
        print(json.dumps(reports.as_json(report), indent=2, ensure_ascii=False))
    elif args.format == "csv":
        try:
            print(reports.as_csv(report.table(args.table)), end="")
        except KeyError:
            names = ", ".join(t.name for t in report.tables)
            raise filters.BadFilter(f"no table {args.table!r}; tables: {names}") from None
    else:
        print(_text(report))
    return 0


def _text(report: reports.Report) -> str:
    lines = [
        report.title,
        f"{report.scope.start} to {report.scope.end} (UK days)"
        + (f", service {report.scope.service}" if report.scope.service else "")
        + (f", channel {report.scope.channel}" if report.scope.channel else ""),
        "",
    ]
    lines += [f"* {finding}" for finding in report.findings]
    for table in report.tables:
        cells = list(reports.iter_cells(table))
        heads = [c.title for c in table.columns]
        widths = [min(60, max([len(h)] + [len(row[i]) for row in cells])) for i, h in enumerate(heads)]
        numeric = [c.numeric for c in table.columns]
        rule = ["-" * w for w in widths]
        lines += ["", table.title, _line(heads, widths, numeric), _line(rule, widths, numeric)]
        lines += [_line(row, widths, numeric) for row in cells] or ["(nothing in this range)"]
    return "\n".join(lines)


def _line(values: Sequence[str], widths: Sequence[int], numeric: Sequence[bool]) -> str:
    out = []
    for value, width, right in zip(values, widths, numeric, strict=True):
        value = value if len(value) <= width else value[: width - 1] + "…"
        out.append(value.rjust(width) if right else value.ljust(width))
    return "  ".join(out).rstrip()


def _nlu(args: argparse.Namespace, store: DemandStore, settings: Settings) -> int:
    with store.engine.connect() as conn:
        scope = filters.scope(
            args.start,
            args.end,
            args.service,
            args.channel,
            known=filters.known(conn),
            max_days=settings.max_days,
        )
        found, _ = reports.unresolved_themes(conn, scope)
    theme = next((t for t in found if t.number == args.theme), None)
    if theme is None:
        raise filters.BadFilter(f"no theme {args.theme}; there are {len(found)} themes")
    print(themes.nlu_yaml(theme), end="")
    return 0


def _ingest(args: argparse.Namespace, store: DemandStore, settings: Settings) -> int:
    from insights.ingest import ingest_sql

    started = time.monotonic()
    idle = args.idle_minutes * 60 if args.idle_minutes is not None else None
    result = ingest_sql(store, settings, idle_seconds=idle)
    print(f"ingested {result} in {time.monotonic() - started:.1f} s")
    return 0


def _retention(args: argparse.Namespace, store: DemandStore, settings: Settings) -> int:
    from insights import retention

    if args.days is not None:
        settings = dataclasses.replace(settings, retention_days=args.days)
    print(retention.apply(store, settings))
    return 0


def _generate(args: argparse.Namespace, store: DemandStore, settings: Settings) -> int:
    from insights.clock import today
    from insights.generate import generate

    start = filters.parse_date("from", args.start) or today() - dt.timedelta(days=args.days)
    started = time.monotonic()
    result = generate(store, start, days=args.days, scale=args.scale, seed=args.seed)
    w = result.written
    print(
        f"generated {start} + {args.days} days: {w.conversations:,} conversations, {w.requests:,} requests, "
        f"{w.messages:,} demand events, {w.redacted:,} texts redacted, facts for {result.fact_days} days, "
        f"in {time.monotonic() - started:.0f} s"
    )
    return 0


def _facts(args: argparse.Namespace, store: DemandStore, settings: Settings) -> int:
    first, last = filters.parse_date("from", args.start), filters.parse_date("to", args.end)
    days = None
    if first or last:
        if not (first and last) or first > last:
            raise filters.BadFilter("give both --from and --to, in order")
        days = [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]
    print(f"facts rebuilt for {facts.rebuild(store, days)} days")
    return 0


COMMANDS = {
    "report": _report,
    "nlu": _nlu,
    "ingest": _ingest,
    "retention": _retention,
    "generate": _generate,
    "facts": _facts,
}

if __name__ == "__main__":
    sys.exit(main())
