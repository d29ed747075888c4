"""The fault suite: each fault injected while residents are talking to the production profile.

``python -m tests.production.faults`` (``make fault-suite``) starts the profile on servers of its
own, runs every fault, prints the table and writes it to ``docs/fault-suite.md``;
``tests/production/test_faults.py`` runs the same suite and asserts every row.

For each fault: what was injected, what the residents saw while it lasted (replies by kind), any
HTTP errors, how long until a new conversation worked end to end again, and, at the end, whether
any conversation lost, duplicated or reordered an event or any demand event failed to reach the
demand events table.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.production.checks import broker_gaps, reply_kind, turn_problems
from tests.production.stack import PrivateBackends, ProductionStack
from tests.support.processes import ROOT

#: One bin-day conversation: every turn goes through Rasa, the action server and the sandbox.
SCRIPT = ("hello", "when is my bin day", "SN15 1ER", "{house}", "thanks")


@dataclass
class Turn:
    phase: str
    sender: str
    text: str
    kind: str
    seconds: float
    stored: bool  # should the tracker have it (False when the resident was told to try again)


@dataclass
class Traffic:
    """A few residents talking all the time, each a bin-day conversation after another."""

    stack: ProductionStack
    residents: int = 6
    pause: float = 0.3
    phase: str = "before"
    turns: list[Turn] = field(default_factory=list)
    unclear: set[str] = field(default_factory=set)  # conversations with a turn of unknown fate
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for n in range(self.residents):
            thread = threading.Thread(target=self._resident, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def _resident(self, n: int) -> None:
        rng = random.Random(n)
        # A new connection per message (no race with the load balancer closing an idle one).
        with httpx.Client(timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not self._stop.is_set():
                sender = f"fault-{n}-{uuid.uuid4().hex[:8]}"
                for text in SCRIPT:
                    if self._stop.is_set():
                        break
                    text = text.format(house=rng.randint(1, 20))
                    phase, started = self.phase, time.monotonic()
                    try:
                        response = client.post(
                            self.stack.public_url + "/webhooks/rest/webhook",
                            json={"sender": sender, "message": text},
                        )
                        kind = reply_kind(response.status_code, _json(response))
                    except httpx.HTTPError as error:
                        kind = f"no answer ({type(error).__name__})"
                    turn = Turn(phase, sender, text, kind, time.monotonic() - started, stored=True)
                    if kind == "store unavailable":
                        turn.stored = False  # refused before anything was processed
                    with self._lock:
                        self.turns.append(turn)
                        if kind.startswith(("HTTP", "no answer")):
                            self.unclear.add(sender)
                    time.sleep(self.pause)

    def seen(self, phase: str) -> Counter[str]:
        with self._lock:
            return Counter(t.kind for t in self.turns if t.phase == phase)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@dataclass
class Fault:
    name: str
    how: str
    inject: Callable[[], None]
    heal: Callable[[], None]
    lasts: float
    #: Reply kinds that are acceptable while the fault lasts.
    allowed: frozenset[str]
    resolution: str


@dataclass
class Row:
    fault: str
    how: str
    seen: dict[str, int]
    healing: float
    recovered_after: float | None
    resolution: str
    allowed: frozenset[str]

    @property
    def ok(self) -> bool:
        return self.recovered_after is not None and set(self.seen) <= self.allowed


def probe(stack: ProductionStack) -> bool:
    """A new resident gets through a whole bin-day journey with normal replies."""
    sender = f"probe-{uuid.uuid4().hex[:8]}"
    try:
        for text in ("hello", "when is my bin day", "SN15 1ER", "3"):
            response = stack.say(sender, text, timeout=30)
            if reply_kind(response.status_code, _json(response)) != "normal":
                return False
        return "Your next collections" in response.text
    except httpx.HTTPError:
        return False


def wait_until_recovered(stack: ProductionStack, started: float, timeout: float = 240) -> float | None:
    while time.monotonic() - started < timeout:
        if probe(stack):
            return time.monotonic() - started
        time.sleep(1.0)
    return None


def faults(stack: ProductionStack, backends: PrivateBackends) -> list[Fault]:
    normal = frozenset({"normal"})
    honest = frozenset({"normal", "back-office honest"})
    return [
        Fault(
            "back-office slow (12 s, beyond the 8 s deadline)", "sandbox fault: /waste/v1 latency 12 s",
            lambda: stack.fault(path="/waste/v1", latency_ms=12_000), stack.clear_faults, 20, honest,
            "the action gives up at its deadline and says so; the conversation goes on",
        ),
        Fault(
            "back-office down", "sandbox fault: /waste/v1 answers 503",
            lambda: stack.fault(path="/waste/v1", status=503), stack.clear_faults, 12, honest,
            "honest reply and a person offered; nothing to keep for a look-up",
        ),
        Fault(
            "back-office erroring", "sandbox fault: /waste/v1 answers 500 with a broken body",
            lambda: stack.fault(path="/waste/v1", status=500, body="<html>oops"), stack.clear_faults,
            12, honest,
            "as down: the client turns any 5xx into one error type",
        ),
        Fault(
            "one of two action servers down", "actions1 stopped (SIGTERM)",
            lambda: stack.stop_one("actions1"), lambda: stack.start_one("actions1"), 12, normal,
            "HAProxy's health check takes it out; a refused connection is retried on actions2",
        ),
        Fault(
            "every action server down", "actions1 and actions2 stopped",
            lambda: (stack.stop_one("actions1"), stack.stop_one("actions2")),
            lambda: (stack.start_one("actions1"), stack.start_one("actions2")), 12,
            frozenset({"normal", "action fallback"}),
            "HAProxy answers for them with the fallback reply and the events that stop the form; "
            "replies that need no action still work",
        ),
        Fault(
            "a Rasa replica down", "rasa2 stopped (SIGTERM)",
            lambda: stack.stop_one("rasa2"), lambda: stack.start_one("rasa2"), 15,
            frozenset({"normal", "HTTP 502", "HTTP 503"}),
            "HAProxy stops sending to it within 2 checks; requests in flight on it may fail once",
        ),
        Fault(
            "Redis down", "private redis-server killed (SIGKILL), started again",
            backends.redis.stop, backends.redis.start, 12,
            frozenset({"normal", "store unavailable"}),
            "nothing processed without the lock: 'try again in a few minutes' at once, no stall; "
            "locks come back with Redis",
        ),
        Fault(
            "RabbitMQ down", "the TCP path to RabbitMQ cut, then restored",
            backends.rabbitmq.cut, backends.rabbitmq.restore, 20, normal,
            "residents notice nothing; events wait in each replica's spool on disk and are sent in order; "
            "the demand consumer reconnects afresh and reads on, dropping redelivered events by id",
        ),
        Fault(
            "PostgreSQL restarted mid-load", "private cluster: pg_ctl restart -m fast",
            backends.pg.restart, lambda: None, 5, frozenset({"normal", "store unavailable"}),
            "tracker store, channel store, outbox, consumer: dead pooled connections replaced, queries "
            "retried, turns wait a moment; a turn that meets the restart itself may get 'try again in a "
            "few minutes'",
        ),
        Fault(
            "PostgreSQL down 30 s", "private cluster stopped, started again 30 s later",
            backends.pg.stop, backends.pg.start, 30,
            frozenset({"normal", "store unavailable"}),
            "after 20 s of retries 'try again in a few minutes'; never kept in memory",
        ),
    ]  # fmt: skip


@dataclass
class Report:
    rows: list[Row]
    conversations: int
    turns: int
    problems: dict[str, list[str]]
    unclear: int
    events: int
    events_missing: int

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and not self.problems and not self.events_missing

    def table(self) -> str:
        lines = [
            "| fault | injected | residents saw while it lasted | healing took | then back to normal after "
            "| resolution | ok |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            seen = ", ".join(f"{k}: {v}" for k, v in sorted(r.seen.items(), key=lambda kv: -kv[1])) or "-"
            back = f"{r.recovered_after:.0f} s" if r.recovered_after is not None else "never"
            lines.append(
                f"| {r.fault} | {r.how} | {seen} | {r.healing:.0f} s | {back} | {r.resolution} "
                f"| {'yes' if r.ok else 'NO'} |"
            )
        lines += [
            "",
            f"Afterwards: {self.conversations} conversations, {self.turns} turns; "
            f"{len(self.problems)} with lost, duplicated or reordered events "
            f"({self.unclear} with a turn whose fate the resident could not know were checked too); "
            f"{self.events} tracker events, {self.events_missing} missing from the demand events table.",
        ]
        for sender, problems in list(self.problems.items())[:10]:
            lines.append(f"- {sender}: {'; '.join(problems)}")
        return "\n".join(lines)


def run_suite(stack: ProductionStack, backends: PrivateBackends, *, settle: float = 8.0) -> Report:
    traffic = Traffic(stack)
    traffic.start()
    rows = []
    try:
        time.sleep(settle)
        for fault in faults(stack, backends):
            traffic.phase = fault.name
            fault.inject()
            time.sleep(fault.lasts)
            healing = time.monotonic()
            traffic.phase = f"healing: {fault.name}"
            fault.heal()  # a process started again is healthy when this returns
            healed_at = time.monotonic()
            stack.wait_for_lb(timeout=60)
            recovered = wait_until_recovered(stack, healed_at)
            seen = dict(traffic.seen(fault.name))
            rows.append(
                Row(
                    fault.name,
                    fault.how,
                    seen,
                    healed_at - healing,
                    recovered,
                    fault.resolution,
                    fault.allowed,
                )
            )
            traffic.phase = "between"
            time.sleep(settle)
    finally:
        traffic.phase = "stopping"
        traffic.stop()
    return check(stack, traffic, rows)


def check(stack: ProductionStack, traffic: Traffic, rows: list[Row]) -> Report:
    sent: dict[str, list[list[str]]] = defaultdict(list)
    for turn in traffic.turns:
        if turn.stored:
            sent[turn.sender].append([turn.text])
    problems: dict[str, list[str]] = {}
    for sender, groups in sent.items():
        if sender in traffic.unclear:
            continue  # a turn cut off mid-way (a replica stopped under it) may or may not be stored
        found = turn_problems(stack.tracker_events(sender), groups)
        if found:
            problems[sender] = found
    # Every stored event reaches the demand events table (the spools may still be draining).
    deadline = time.monotonic() + 120
    while True:
        events, missing = broker_gaps(stack, sent)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    return Report(rows, len(sent), len(traffic.turns), problems, len(traffic.unclear), events, missing)


def markdown(report: Report) -> str:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# Fault suite

Each fault injected into the production profile (two Rasa replicas behind HAProxy, two action
servers, PostgreSQL, Redis, RabbitMQ, the sandbox as back office) while six residents kept
talking to it (bin-day conversations through the REST channel: every turn goes through Rasa,
the action server and the back office). Run with `make fault-suite`; the same suite runs in
`tests/production/test_faults.py`. Last run: {when}, on 2 cores.

What the residents saw is counted by reply kind: *normal*; *back-office honest* ("our … system
isn't working right now", with a person offered); *action fallback* ("something went wrong on
our side … try again in a few minutes, or talk to a person"); *store unavailable* ("the assistant
is having a technical problem … try again in a few minutes"); *HTTP n* (the load balancer's
answer while a replica went away). "Healing took" is the time to undo the fault (a process
started again is counted until it is healthy); "back to normal after" is the time from then until
a new resident got through a whole bin-day journey.

{report.table()}
"""


def main() -> None:
    import tempfile

    backends = PrivateBackends.start()
    stack = ProductionStack(backends.as_backends(), Path(tempfile.mkdtemp(prefix="council-faults-")))
    try:
        print("starting the production profile (two replicas, two action servers, HAProxy) ...", flush=True)
        stack.start()
        stack.wait_for_lb()
        print("running the faults ...", flush=True)
        report = run_suite(stack, backends)
    finally:
        stack.stop()
        backends.stop()
    print(report.table())
    out = ROOT / "docs" / "fault-suite.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(markdown(report))
    print(f"\nwritten to {out.relative_to(ROOT)}")
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
