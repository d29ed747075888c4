"""The load test (``make loadtest``): the production profile under 100 concurrent conversations.

Starts the production profile (two Rasa replicas, two action servers, HAProxy, the demand
consumer, the sandbox as back office) on this machine's PostgreSQL, Redis and RabbitMQ (its own
databases, key prefix and queue), then runs ``--conversations`` conversations at once through the
REST channel on the load balancer. Each has 10-20 messages: a greeting, a bin-day journey, a
burst of several messages sent at once, a missed-bin report (a transaction: each conversation
its own eligible bin, found in the sandbox beforehand) and small talk, with ``--think`` seconds
between turns as a resident reads and types.

It prints throughput, reply latency (p50/p95/p99), errors, and then checks that every
conversation's events are stored complete and in order (each turn alone, bursts included), that
every event reached the demand events table through RabbitMQ, and that every missed-bin report
a resident was given a reference for exists exactly once in the sandbox.

Bounded: a fixed number of conversations and messages, loopback only, and ``--max-seconds``
for the whole run. Exit code 0 only if there were no errors and every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from actions.clients import Clients
from integrations.settings import Settings
from tests.production.checks import broker_gaps, reply_kind, turn_problems
from tests.production.stack import Backends, ProductionStack
from tests.support import services

BIN_WORDS = {
    "general_waste": "general waste",
    "recycling": "recycling",
    "glass": "glass",
    "food": "food waste",
}
POSTCODES = ("SN15 1ER", "SN15 3HZ", "SN15 2BB", "SN14 0AB", "SN13 9DF", "SN11 8AA", "SN12 6AB", "BA14 8JN")
SMALL_TALK = ("thanks", "hello", "what can you do", "thank you", "hi there")
REFERENCE = re.compile(r"\b(MB-\d{6})\b")


@dataclass(frozen=True)
class MissedBin:
    uprn: str
    bin_type: str
    postcode: str
    house: str


@dataclass(frozen=True)
class Journey:
    """An opening message, then answers to what the assistant asks (postcode, address, confirm)."""

    opener: str
    postcode: str
    house: str

    def answer(self, asked: str) -> str | None:
        asked = asked.lower()
        if "postcode" in asked and "couldn't find" not in asked:
            return self.postcode
        if "house number" in asked or "which is your address" in asked or "which one is yours" in asked:
            return self.house
        if "report a missed" in asked and "?" in asked:
            return "yes"
        return None


@dataclass
class Conversation:
    sender: str
    steps: list[list[str] | Journey]  # in order; a burst is a group of several messages
    missed_bin: MissedBin | None
    reference: str | None = None
    sent: list[list[str]] = field(default_factory=list)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    #: Messages the assistant answered (so the tracker must have them), as sent.
    answered: list[list[str]] = field(default_factory=list)
    #: A message whose fate the resident could not know (a time-out): the conversation is reported apart.
    unclear: bool = False

    def planned(self) -> int:
        """Messages planned (a journey counts its opener and up to three answers)."""
        return sum(len(s) if isinstance(s, list) else 4 for s in self.steps)


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


async def eligible_missed_bins(sandbox_url: str, wanted: int) -> list[MissedBin]:
    """Bins the sandbox would accept a missed-collection report for today, one per conversation."""
    clients = Clients(settings=Settings.from_env({"SANDBOX_URL": sandbox_url}))
    found: list[MissedBin] = []
    limit = asyncio.Semaphore(16)

    async def check(address: Any, postcode: str, bin_type: str) -> None:
        async with limit:
            try:
                result = await clients.waste.missed_bin_check(address.uprn, bin_type)
            except Exception:
                return
            if result.eligible:
                found.append(MissedBin(address.uprn, bin_type, postcode, address.short.split()[0]))

    try:
        for postcode in POSTCODES:
            addresses = await clients.addresses.find_by_postcode(postcode)
            await asyncio.gather(*(check(a, postcode, b) for a in addresses for b in BIN_WORDS))
            if len(found) >= wanted:
                break
    finally:
        if clients.http is not None:
            await clients.http.aclose()
    # One report per property and bin, and at most one bin per property (the journey names the address).
    unique = {m.uprn: m for m in sorted(found, key=lambda m: (m.uprn, m.bin_type))}
    return list(unique.values())[:wanted]


def conversation(n: int, missed_bin: MissedBin | None, rng: random.Random) -> Conversation:
    steps: list[list[str] | Journey] = [["hello"]]
    if missed_bin is not None:
        opener = f"my {BIN_WORDS[missed_bin.bin_type]} bin wasn't collected"
        steps.append(Journey(opener, missed_bin.postcode, missed_bin.house))
    steps.append(rng.sample(SMALL_TALK, rng.randint(3, 4)))  # a burst: several messages at once
    steps.append(Journey("when is my bin day", rng.choice(POSTCODES), str(rng.randint(1, 20))))
    convo = Conversation(f"load-{n:03d}-{uuid.uuid4().hex[:6]}", steps, missed_bin)
    target = rng.randint(10, 20)
    while convo.planned() < target:
        if target - convo.planned() >= 3 and rng.random() < 0.3:
            steps.append(rng.sample(SMALL_TALK, 3))
        else:
            steps.append([rng.choice(SMALL_TALK)])
    return convo


async def talk(
    client: httpx.AsyncClient, url: str, convo: Conversation, result: Result, think: tuple[float, float],
    rng: random.Random,
) -> None:  # fmt: skip
    async def send(text: str) -> tuple[str, bool]:
        started = time.perf_counter()
        try:
            response = await client.post(url, json={"sender": convo.sender, "message": text})
        except httpx.HTTPError as error:
            result.errors.append(f"{convo.sender}: {text!r}: {type(error).__name__}")
            result.kinds["no answer"] += 1
            convo.unclear = True
            return "", False
        result.latencies.append(time.perf_counter() - started)
        try:
            replies = response.json()
        except ValueError:
            replies = []
        kind = reply_kind(response.status_code, replies)
        result.kinds[kind] += 1
        if kind != "normal":
            result.errors.append(f"{convo.sender}: {text!r}: {kind}")
        if response.status_code in (502, 504):
            convo.unclear = True  # the load balancer gave up; the replica may still have done it
        if response.status_code != 200 or not isinstance(replies, list):
            return "", False
        said = "\n".join(str(r.get("text") or "") for r in replies if isinstance(r, dict))
        convo.transcript.append((text, said))
        match = REFERENCE.search(said)
        if match and convo.missed_bin is not None and "reference" in said.lower():
            convo.reference = match.group(1)
        return said, kind != "store unavailable"

    async def turn(group: list[str]) -> list[str]:
        convo.sent.append(group)
        answers = await asyncio.gather(*(send(text) for text in group))
        processed = [text for text, (_, done) in zip(group, answers, strict=True) if done]
        if processed:
            convo.answered.append(processed)
        await asyncio.sleep(rng.uniform(*think))
        return [said for said, _ in answers]

    for step in convo.steps:
        if isinstance(step, list):
            await turn(step)
            continue
        [asked] = await turn([step.opener])
        for _ in range(3):
            answer = step.answer(asked)
            if answer is None:
                break
            [asked] = await turn([answer])


async def quiescent(
    stack: ProductionStack, senders: list[str], quiet: float = 6.0, limit: float = 180.0
) -> None:
    """Wait until the replicas have finished every message (no new tracker events for ``quiet`` s)."""
    started, last, since = time.monotonic(), -1, time.monotonic()
    while time.monotonic() - started < limit:
        rows = stack.query(
            "TRACKER_DB_URL", "SELECT count(*) AS n FROM events WHERE sender_id = ANY(:s)", s=senders
        )
        if rows[0].n != last:
            last, since = rows[0].n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        await asyncio.sleep(1.0)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def check_transactions(stack: ProductionStack, convos: list[Conversation]) -> tuple[int, int, list[str]]:
    """(reports attempted, completed with a reference, problems): each exists exactly once."""
    rows = stack.sandbox_rows("open311_requests")
    problems = []
    attempted = [c for c in convos if c.missed_bin is not None]
    completed = [c for c in attempted if c.reference]
    for c in completed:
        assert c.missed_bin is not None
        same_reference = [r for r in rows if r["service_request_id"] == c.reference]
        bin_ = c.missed_bin
        same_bin = [
            r for r in rows if (r["uprn"], r["bin_type"], r["status"]) == (bin_.uprn, bin_.bin_type, "open")
        ]
        if len(same_reference) != 1 or len(same_bin) != 1:
            problems.append(
                f"{c.reference}: {len(same_reference)} with the reference, {len(same_bin)} for the bin"
            )
    return len(attempted), len(completed), problems


async def run_load(stack: ProductionStack, args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    missed = await eligible_missed_bins(stack.sandbox_url, args.conversations)
    convos = [
        conversation(n, missed[n] if n < len(missed) else None, random.Random(args.seed + n))
        for n in range(args.conversations)
    ]
    planned = [c.planned() for c in convos]
    print(
        f"{len(convos)} conversations of {min(planned)}-{max(planned)} messages (journeys answer what the "
        f"assistant asks), {sum(1 for c in convos if c.missed_bin)} with a missed-bin report, "
        f"think time {args.think[0]}-{args.think[1]} s, ramp-up {args.ramp} s",
        flush=True,
    )
    result = Result()
    url = stack.public_url + "/webhooks/rest/webhook"
    # A new connection per message, as residents on their own devices make (and no race with the
    # load balancer closing an idle kept-alive connection just as a message is sent on it).
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def start(i: int, c: Conversation) -> None:
            await asyncio.sleep(args.ramp * i / len(convos))
            await talk(client, url, c, result, tuple(args.think), random.Random(rng.random()))

        started = time.perf_counter()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(start(i, c) for i, c in enumerate(convos))), args.max_seconds
            )
        except asyncio.TimeoutError:
            result.errors.append(f"stopped after --max-seconds {args.max_seconds}")
        elapsed = time.perf_counter() - started

    lat = result.latencies
    messages = sum(len(g) for c in convos for g in c.sent)
    sizes = [sum(len(g) for g in c.sent) for c in convos]
    bursts = sum(1 for c in convos for g in c.sent if len(g) > 1)
    transcripts = stack.workdir / "transcripts.json"
    transcripts.write_text(json.dumps({c.sender: c.transcript for c in convos}, indent=1, ensure_ascii=False))
    print("\n== load ==")
    print(f"conversations       {len(convos)} of {min(sizes)}-{max(sizes)} messages, {bursts} bursts")
    print(f"messages answered   {len(lat)} of {messages} in {elapsed:.1f} s")
    print(f"throughput          {len(lat) / elapsed:.1f} messages/s")
    ms = {p: percentile(lat, p) * 1000 for p in (50, 95, 99)}
    mean = statistics.fmean(lat) * 1000 if lat else 0.0
    print(
        f"reply latency       p50 {ms[50]:.0f} ms, p95 {ms[95]:.0f} ms, p99 {ms[99]:.0f} ms, "
        f"max {max(lat, default=0) * 1000:.0f} ms, mean {mean:.0f} ms"
    )
    print(f"replies by kind     {dict(result.kinds)}")
    print(f"errors              {len(result.errors)}")
    for error in result.errors[:10]:
        print(f"  {error}")

    print("\n== checks ==")
    await quiescent(stack, [c.sender for c in convos])
    broken = {}
    clear = [c for c in convos if not c.unclear]
    for c in clear:
        problems = turn_problems(stack.tracker_events(c.sender), c.answered)
        if problems:
            broken[c.sender] = problems
    print(
        f"conversations complete and in order   {len(clear) - len(broken)} of {len(clear)}"
        + (
            f" ({len(convos) - len(clear)} with a timed-out message not checked)"
            if len(clear) < len(convos)
            else ""
        )
    )
    for sender, problems in list(broken.items())[:10]:
        print(f"  {sender}: {'; '.join(problems)}")
    deadline = time.monotonic() + 120
    while True:
        events, missing = broker_gaps(stack, [c.sender for c in convos])
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    print(f"events through RabbitMQ               {events - missing} of {events} in the demand events table")
    attempted, completed, problems = check_transactions(stack, convos)
    print(f"missed-bin reports                    {completed} completed of {attempted}; "
          f"{completed - len(problems)} exist exactly once in the sandbox")  # fmt: skip
    for problem in problems[:10]:
        print(f"  {problem}")
    ok = not result.errors and not broken and not missing and not problems
    print(f"transcripts                           {transcripts}")
    print(f"\n{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100)
    # Residents read the answer and type the next message on a phone: 20-60 s.
    parser.add_argument("--think", type=float, nargs=2, default=(20.0, 60.0), metavar=("MIN", "MAX"))
    parser.add_argument("--ramp", type=float, default=60.0, help="seconds over which the conversations start")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not 1 <= args.conversations <= 500:
        parser.error("--conversations is 1-500")
    backends = Backends(
        pg_server=services.ensure_postgres(), redis_url=services.ensure_redis() + "/0",
        rabbitmq_port=services.RABBITMQ_PORT,
    )  # fmt: skip
    services.ensure_rabbitmq()
    services.ensure_haproxy()
    stack = ProductionStack(backends, Path(tempfile.mkdtemp(prefix="council-load-")))
    code = 1
    try:
        print(
            "starting the production profile (two Rasa replicas, two action servers, HAProxy) ...", flush=True
        )
        stack.start()
        stack.wait_for_lb()
        code = asyncio.run(run_load(stack, args))
    finally:
        stack.stop()
        stack.drop()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
