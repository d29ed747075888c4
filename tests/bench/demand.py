"""Demand benchmark: a synthetic year ingested, and every report over it, on SQLite and on PostgreSQL.

    python -m tests.bench.demand [--scale 1.0] [--days 365] [--keep DIR] [--skip-postgres]

- The year (3.3 million requests at scale 1) comes from ``insights.generate``
  and is written through the store's own write path (``Writer.write``, with
  redaction) into both stores at once; time spent generating is kept apart
  from time spent writing and rebuilding facts, which is the ingest.
- The outcome rules' own rate (Rasa events -> conversations) is measured on a
  sample of recorded Rasa event streams through ``ingest_events``.
- Each report is asked for over the whole year through the JSON API
  (in-process), first call and the median of three more.
Goals (2 cores): the year ingested in <= 3 minutes; every report <= 2 s.
No figure here is asserted by a test: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from insights import facts, reports
from insights.generate import YEAR_REQUESTS, YearGenerator
from insights.ingest import ingest_events
from insights.redact import Redactor
from insights.settings import Settings
from insights.store import DemandStore, WriteResult

GOALS = {"ingest_s": 180.0, "report_s": 2.0}
FIXTURES = Path(__file__).resolve().parents[1] / "insights" / "fixtures"
START = dt.date(2025, 4, 1)


@dataclass
class Target:
    name: str
    store: DemandStore
    write_s: float = 0.0
    facts_s: float = 0.0
    cpu_s: float = 0.0  # of this process: all of SQLite's work; PostgreSQL's server works in its own
    written: WriteResult = field(default_factory=WriteResult)
    reports: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # first, median, its CPU
    baseline_s: float = 0.0  # the plainest report: one GROUP BY over the raw requests table

    @property
    def ingest_s(self) -> float:
        return self.write_s + self.facts_s


def _store(name: str, url: str) -> Target:
    store = DemandStore(
        url, Settings(store_url=url, hash_key=b"bench"), redactor=Redactor()
    )  # own cache each
    store.drop()
    store.create()
    return Target(name, store)


def load_year(targets: list[Target], *, days: int, scale: float) -> tuple[float, int]:
    generator = YearGenerator(
        START, days=days, requests=round(YEAR_REQUESTS * scale), seed=7, hash_key=b"bench"
    )
    generating = 0.0
    batch: list = []
    day_iter = iter(generator)
    for number in range(1, days + 1):
        started = time.perf_counter()
        batch += next(day_iter)
        generating += time.perf_counter() - started
        if number % 7 and number != days:
            continue
        batch.sort(key=lambda c: c.key)
        for target in targets:
            started, cpu = time.perf_counter(), time.process_time()
            with target.store.writing() as writer:
                target.written.add(writer.write(batch))
            target.write_s += time.perf_counter() - started
            target.cpu_s += time.process_time() - cpu
        batch = []
        if number % 28 == 0:
            print(f"  ... {number} days written", flush=True)
    for target in targets:
        started, cpu = time.perf_counter(), time.process_time()
        facts.rebuild(target.store)
        target.facts_s = time.perf_counter() - started
        target.cpu_s += time.process_time() - cpu
    return generating, targets[0].written.requests


#: The baseline every report is compared with, measured in the same run on the same store:
#: requests per service over the same range, straight from the raw requests table.
BASELINE_SQL = sa.text(
    "SELECT service, count(*) FROM requests WHERE day BETWEEN :start AND :end GROUP BY service"
)


def time_baseline(target: Target, *, days: int) -> None:
    """Median of 3 runs of ``BASELINE_SQL`` (after one to warm the cache)."""
    window = {"start": START, "end": START + dt.timedelta(days=days - 1)}
    times = []
    with target.store.engine.connect() as conn:
        for _ in range(4):
            started = time.perf_counter()
            conn.execute(BASELINE_SQL, window).all()
            times.append(time.perf_counter() - started)
    target.baseline_s = statistics.median(times[1:])


def time_reports(target: Target, *, days: int) -> None:
    from fastapi.testclient import TestClient

    from insights.web import create_app

    settings = Settings(store_url=target.store.url, token="bench", hash_key=b"bench")
    year = {"from": str(START), "to": str(START + dt.timedelta(days=days - 1))}
    with TestClient(create_app(settings)) as client:
        for name in reports.REPORTS:
            times, cpu_times = [], []
            for _ in range(4):
                started, cpu = time.perf_counter(), time.process_time()
                response = client.get(
                    f"/api/v1/reports/{name}", params=year, headers={"Authorization": "Bearer bench"}
                )
                times.append(time.perf_counter() - started)
                cpu_times.append(time.process_time() - cpu)
                if response.status_code != 200:
                    raise RuntimeError(
                        f"{name} on {target.name}: {response.status_code} {response.text[:300]}"
                    )
            target.reports[name] = (times[0], statistics.median(times[1:]), statistics.median(cpu_times[1:]))


def rasa_event_rate(conversations: int = 3000) -> tuple[int, float]:
    """Recorded Rasa event streams, many senders, through ``ingest_events``: events per second."""
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    recorded = {n: json.loads((FIXTURES / f"{n}.json").read_text())["events"] for n in names}
    stream = []
    for i in range(conversations):
        events = recorded[names[i % len(names)]]
        first = events[0]["timestamp"]
        start = 1_743_465_600.0 + i * 37.0
        stream += [(None, f"bench-{i}", {**e, "timestamp": start + e["timestamp"] - first}) for e in events]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(store_url=f"sqlite:///{tmp}/events.db", hash_key=b"bench")
        store = DemandStore.from_settings(settings).create()
        started = time.perf_counter()
        for i in range(0, len(stream), 5000):
            ingest_events(
                store, stream[i : i + 5000], settings=settings, now=start + 86_400, rebuild_facts=False
            )
        facts.rebuild(store)
        elapsed = time.perf_counter() - started
        store.engine.dispose()
    return len(stream), elapsed


def mark(ok: bool) -> str:
    return "ok" if ok else "OVER"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 3.3 million requests a year")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--keep", type=Path, help="keep the SQLite store in this folder")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    print(
        f"Demand benchmark: {args.days} days at scale {args.scale} ({round(YEAR_REQUESTS * args.scale):,} "
        f"requests a year); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    folder = args.keep or Path(tempfile.mkdtemp(prefix="demand-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    targets = [_store("SQLite", f"sqlite:///{folder / 'demand-year.db'}")]
    pg_name = None
    if not args.skip_postgres:
        from tests.support.services import create_database

        pg_name = f"demand_bench_{uuid.uuid4().hex[:6]}"
        targets.append(_store("PostgreSQL", create_database(pg_name)))
    try:
        generating, requests = load_year(targets, days=args.days, scale=args.scale)
        w = targets[0].written
        print(
            f"\nThe year: {w.conversations:,} conversations, {requests:,} requests, "
            f"{w.messages:,} demand events (user messages), {w.redacted:,} unresolved texts redacted; "
            f"generating them took {generating:.0f} s "
            "(not counted as ingest)"
        )
        print(
            f"\nIngest (wall clock; CPU of this process; load average now {os.getloadavg()[0]:.1f})\n"
            f"{'store':<11} {'write':>8} {'facts':>8} {'ingest':>8} {'CPU':>8} {'requests/s':>11} "
            f"{'events/s':>10}  goal <= {GOALS['ingest_s']:.0f} s"
        )
        for t in targets:
            print(
                f"{t.name:<11} {t.write_s:>7.0f}s {t.facts_s:>7.0f}s {t.ingest_s:>7.0f}s {t.cpu_s:>7.0f}s "
                f"{requests / t.ingest_s:>11,.0f} {t.written.messages / t.ingest_s:>10,.0f}  "
                f"{mark(t.ingest_s <= GOALS['ingest_s'] * args.days / 365)}"
            )
        events, elapsed = rasa_event_rate()
        print(
            f"\nOutcome rules on recorded Rasa event streams: {events:,} events in {elapsed:.1f} s = "
            f"{events / elapsed:,.0f} events/s (rules, pending buffer, write and facts)"
        )
        for t in targets:
            time_baseline(t, days=args.days)
            time_reports(t, days=args.days)
        print(
            f"\nReports over the whole range through the JSON API (goal <= {GOALS['report_s']:.0f} s): "
            "first call, median of 3 more, and that median's CPU in this process; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        print(
            "Baseline, same run and store: requests per service straight from the raw requests table, "
            + ", ".join(f"{t.name} {t.baseline_s:.3f} s" for t in targets)
            + "; x = a report's median / that baseline"
        )
        print(f"{'report':<16}" + "".join(f"{t.name + ': first / median / CPU / x':>46}" for t in targets))
        for name in reports.REPORTS:
            cells = "".join(
                f"{first:>14.2f}s {median:>7.2f}s {cpu:>7.2f}s {median / t.baseline_s:>6.2f}x "
                f"{mark(median <= GOALS['report_s']):>5}"
                for t in targets
                for first, median, cpu in [t.reports[name]]
            )
            print(f"{name:<16}{cells}")
    finally:
        for t in targets:
            t.store.engine.dispose()
        if pg_name:
            from tests.support.services import drop_database

            drop_database(pg_name)
        if not args.keep:
            for path in folder.glob("*"):
                path.unlink()
            folder.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
