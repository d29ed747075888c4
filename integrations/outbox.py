"""A durable outbox for requests a back-office system could not take.

When a system is down or times out, the action keeps what was asked here
(the least data needed to finish it) and tells the resident what will
happen. Each item has an idempotency key, so keeping the same request twice
keeps it once. A worker retries due items with backoff until they are done
or need a person (``python -m integrations.outbox``).

The worker (``Worker``, one pass: ``run_once``; for ever: ``run``):

- takes a due item by an atomic claim (``pending`` -> ``working`` with a
  lease), so two workers never run one item; an item whose worker died is
  taken again when its lease ends;
- runs the handler registered for its ``kind`` (``@handler("kind")``),
  which passes the item's key to the back-office system as its idempotency
  key: if a worker dies after the system did the request but before it was
  marked done, the repeat returns the same result, so nothing is done twice;
- done: keeps the result and a message for the resident; sends it through
  GOV.UK Notify if the payload kept an ``email`` or ``phone_number``,
  otherwise (or if Notify fails) the conversation can show it next time
  (``Outbox.messages_for``);
- a failure worth retrying (down, timed out, 429, 5xx): tried again after a
  jittered exponential backoff (``RetryPolicy``); after ``max_attempts``, or a
  refusal, or a kind with no handler: ``needs_person``, with the reason.

Handlers registered here, with the payload each expects (the journeys keep it):

- ``report_missed_bin``: ``uprn``, ``bin_type``, optional ``email`` /
  ``phone_number``; an Open311 missed-bin report;
- ``make_complaint``: ``service_code``, ``description``, optional ``uprn``
  and contact; an Open311 request;
- ``request_callback``: ``phone_number``, ``reason``, optional ``best_time``
  and ``date``; a contact-centre call-back;
- ``council_tax_moving_home``: ``account_reference``, ``postcode``,
  ``moving_out_date``, ``within_area``, optional ``new_uprn``,
  ``new_address``, ``forwarding_address``; the change recorded;
- ``council_tax_discount``: ``account_reference``, ``postcode``,
  ``living_alone_from``; a single person discount application;
- ``booking_confirmation`` (or any Notify template): ``template``,
  ``email`` or ``phone_number``, ``personalisation``; the message sent;
- ``cancel_booking``: ``system`` (``openactive`` or ``koha``), ``reference``.

A journey with another kind registers its handler in its own module
(``@handler("renew_garden_waste")``): the worker imports every module of
``actions`` at start, as the action server does.

SQLite by default (``OUTBOX_DB_URL``, default ``sqlite:///var/outbox.db``);
PostgreSQL in the production profile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import importlib
import json
import logging
import os
import pkgutil
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from integrations.errors import IntegrationError

if TYPE_CHECKING:
    from actions.clients import Clients

logger = logging.getLogger("integrations.outbox")

metadata = sa.MetaData()
outbox_table = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("kind", sa.String(80), nullable=False),
    sa.Column("intent", sa.String(80), nullable=False),
    sa.Column("system", sa.String(40), nullable=False),
    sa.Column("conversation", sa.String(80), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(20), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.DateTime, nullable=False),
    sa.Column("last_error", sa.String(200), nullable=True),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)
STATUSES = ("pending", "working", "done", "needs_person")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    kind: str
    intent: str
    system: str
    conversation: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    result: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> OutboxItem:
        return cls(
            id=row.id,
            key=row.key,
            kind=row.kind,
            intent=row.intent,
            system=row.system,
            conversation=row.conversation,
            payload=json.loads(row.payload),
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            result=json.loads(row.result) if row.result else None,
        )


class Outbox:
    def __init__(self, url: str | None = None) -> None:
        url = url or os.environ.get("OUTBOX_DB_URL", "sqlite:///var/outbox.db")
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # pool_pre_ping: a connection broken by a database restart is replaced, not used.
        self.engine = sa.create_engine(url, future=True, pool_pre_ping=True)
        metadata.create_all(self.engine)

    def add(
        self, *, key: str, kind: str, intent: str, system: str, conversation: str, payload: dict[str, Any]
    ) -> OutboxItem:
        """Keep a request; the same key keeps it once and returns what is kept."""
        now = utcnow()
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(outbox_table).where(outbox_table.c.key == key)).first()
            if existing is None:
                conn.execute(
                    outbox_table.insert().values(
                        key=key,
                        kind=kind,
                        intent=intent,
                        system=system,
                        conversation=conversation,
                        payload=json.dumps(payload, sort_keys=True),
                        status="pending",
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
            row = conn.execute(sa.select(outbox_table).where(outbox_table.c.key == key)).one()
        return OutboxItem.from_row(row)

    def get(self, key: str) -> OutboxItem | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(outbox_table).where(outbox_table.c.key == key)).first()
        return OutboxItem.from_row(row) if row else None

    def items(self, status: str | None = None) -> list[OutboxItem]:
        query = sa.select(outbox_table).order_by(outbox_table.c.id)
        if status:
            query = query.where(outbox_table.c.status == status)
        with self.engine.connect() as conn:
            return [OutboxItem.from_row(r) for r in conn.execute(query)]

    def due(self, now: dt.datetime | None = None, limit: int = 50) -> list[OutboxItem]:
        now = now or utcnow()
        query = (
            sa.select(outbox_table)
            .where(outbox_table.c.status == "pending", outbox_table.c.next_attempt_at <= now)
            .order_by(outbox_table.c.next_attempt_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [OutboxItem.from_row(r) for r in conn.execute(query)]

    def _update(self, item_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                outbox_table.update()
                .where(outbox_table.c.id == item_id)
                .values(updated_at=utcnow(), **values)
            )

    def done(self, item: OutboxItem, result: dict[str, Any]) -> None:
        self._update(
            item.id, status="done", result=json.dumps(result, sort_keys=True), attempts=item.attempts + 1
        )

    def needs_person(self, item: OutboxItem, error: str) -> None:
        self._update(item.id, status="needs_person", attempts=item.attempts + 1, last_error=error[:200])

    # --- used by the worker -----------------------------------------------------

    def claim(self, item: OutboxItem, lease: dt.timedelta) -> bool:
        """Take a due item for this worker (atomic); ``False`` if another worker has it."""
        now = utcnow()
        with self.engine.begin() as conn:
            taken = conn.execute(
                outbox_table.update()
                .where(
                    outbox_table.c.id == item.id,
                    outbox_table.c.status == "pending",
                    outbox_table.c.next_attempt_at <= now,
                )
                .values(status="working", next_attempt_at=now + lease, updated_at=now)
            ).rowcount
        return taken == 1

    def release_stale(self) -> int:
        """Items whose worker died mid-way (lease over) become due again."""
        now = utcnow()
        with self.engine.begin() as conn:
            return conn.execute(
                outbox_table.update()
                .where(outbox_table.c.status == "working", outbox_table.c.next_attempt_at <= now)
                .values(status="pending", updated_at=now)
            ).rowcount

    def set_result(self, item: OutboxItem, result: dict[str, Any]) -> None:
        self._update(item.id, result=json.dumps(result, sort_keys=True))

    def retry_later(self, item: OutboxItem, error: str, delay: dt.timedelta) -> None:
        self._update(
            item.id,
            status="pending",
            attempts=item.attempts + 1,
            last_error=error[:200],
            next_attempt_at=utcnow() + delay,
        )

    def messages_for(self, conversation: str) -> list[tuple[OutboxItem, str]]:
        """Messages about finished requests that this conversation has not shown yet."""
        shown = []
        for item in self.items("done") + self.items("needs_person"):
            if item.conversation != conversation or not item.result:
                continue
            if item.result.get("message") and not item.result.get("shown"):
                shown.append((item, str(item.result["message"])))
        return shown

    def mark_shown(self, item: OutboxItem) -> None:
        current = self.get(item.key)
        if current is not None and current.result is not None:
            self.set_result(current, {**current.result, "shown": True})


# --- the worker ---------------------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    """What a handler returns: the system's answer (no personal data) and what to tell the resident."""

    result: dict[str, Any]
    message: str


Handler = Callable[["Clients", OutboxItem], Awaitable[Completed]]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that finishes items of ``kind``."""

    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register


@dataclass(frozen=True)
class RetryPolicy:
    """A system down for a morning is ridden out; after that a person takes it on.

    Eight attempts from 1 minute doubling to a 1 hour cap span about 4 hours.
    """

    max_attempts: int = 8
    backoff_start: float = 60.0
    backoff_cap: float = 3600.0
    #: A claimed item is taken again if its worker has not finished it in this time.
    lease: float = 300.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        env = os.environ
        return cls(
            max_attempts=int(env.get("OUTBOX_MAX_ATTEMPTS", cls.max_attempts)),
            backoff_start=float(env.get("OUTBOX_BACKOFF_START", cls.backoff_start)),
            backoff_cap=float(env.get("OUTBOX_BACKOFF_CAP", cls.backoff_cap)),
        )

    def delay(self, attempts: int, rng: random.Random | None = None) -> dt.timedelta:
        step = min(self.backoff_cap, self.backoff_start * (2 ** max(0, attempts - 1)))
        return dt.timedelta(seconds=step * (0.5 + 0.5 * (rng or random).random()))


NEEDS_PERSON_TEXT = (
    "We couldn't finish your {what} automatically, so a member of staff will pick it up and contact you "
    "if they need to."
)


class Worker:
    """Finishes kept requests (see the module notes)."""

    def __init__(
        self,
        outbox: Outbox,
        clients: Clients,
        *,
        policy: RetryPolicy | None = None,
        handlers: dict[str, Handler] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = outbox
        self.clients = clients
        self.policy = policy or RetryPolicy.from_env()
        self.handlers = HANDLERS if handlers is None else handlers
        self.rng = rng

    async def run_once(self) -> dict[str, int]:
        """One pass over the due items; counts by what happened."""
        counts = {"done": 0, "retry": 0, "needs_person": 0, "skipped": 0}
        await asyncio.to_thread(self.outbox.release_stale)
        for item in await asyncio.to_thread(self.outbox.due):
            if not await asyncio.to_thread(self.outbox.claim, item, dt.timedelta(seconds=self.policy.lease)):
                counts["skipped"] += 1
                continue
            counts[await self._process(item)] += 1
        return counts

    async def run(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        while not stop.is_set():
            try:
                counts = await self.run_once()
                if any(counts[k] for k in ("done", "retry", "needs_person")):
                    logger.info("outbox: %s", counts)
            except Exception:  # the outbox database itself is down: try again next round
                logger.exception("outbox: a pass failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except asyncio.TimeoutError:
                pass

    async def _process(self, item: OutboxItem) -> str:
        work = self.handlers.get(item.kind)
        what = item.intent.replace("_", " ") or "request"
        if work is None:
            await self._needs_person(item, f"no handler for kind {item.kind}", what)
            return "needs_person"
        try:
            completed = await work(self.clients, item)
        except IntegrationError as error:
            attempts = item.attempts + 1
            if error.retryable and attempts < self.policy.max_attempts:
                delay = self.policy.delay(attempts, self.rng)
                await asyncio.to_thread(self.outbox.retry_later, item, str(error), delay)
                logger.info(
                    "outbox: %s %s failed (%s); retry in %.0f s",
                    item.kind,
                    item.id,
                    error.system,
                    delay.total_seconds(),
                )
                return "retry"
            await self._needs_person(item, str(error), what)
            return "needs_person"
        except Exception as error:  # a bug or bad payload: a person looks at it
            logger.exception("outbox: handler for %s failed", item.kind)
            await self._needs_person(item, f"{type(error).__name__}", what)
            return "needs_person"
        result = {**completed.result, "message": completed.message, "shown": False, "notified": False}
        await asyncio.to_thread(self.outbox.done, item, result)
        if completed.message:
            await self._notify(item, completed.message)
        return "done"

    async def _needs_person(self, item: OutboxItem, reason: str, what: str) -> None:
        await asyncio.to_thread(self.outbox.needs_person, item, reason)
        text = NEEDS_PERSON_TEXT.format(what=what)
        stored = await asyncio.to_thread(self.outbox.get, item.key)
        if stored is not None:
            await asyncio.to_thread(
                self.outbox.set_result, stored, {"message": text, "shown": False, "notified": False}
            )
            await self._notify(stored, text)

    async def _notify(self, item: OutboxItem, text: str) -> None:
        """Tell the resident through Notify when contact details were kept; else the chat shows it."""
        email, phone = item.payload.get("email"), item.payload.get("phone_number")
        if not (email or phone):
            return
        try:
            personalisation = {"message": text}
            if email:
                await self.clients.notify.send_email(
                    str(email), "chat_reply", personalisation, reference=backoffice_key(item)
                )
            else:
                await self.clients.notify.send_sms(
                    str(phone), "chat_reply", personalisation, reference=backoffice_key(item)
                )
        except IntegrationError as error:
            logger.warning("outbox: could not notify for item %s (%s); the chat will show it", item.id, error)
            return
        stored = await asyncio.to_thread(self.outbox.get, item.key)
        if stored is not None and stored.result is not None:
            await asyncio.to_thread(self.outbox.set_result, stored, {**stored.result, "notified": True})


# --- handlers --------------------------------------------------------------------


def backoffice_key(item: OutboxItem) -> str:
    """The idempotency key sent to the system: the item's own (the one the action used when it
    first tried), or a hash of it when the system's limit (64 characters) is shorter."""
    if len(item.key) <= 64:
        return item.key
    return "outbox-" + hashlib.sha256(item.key.encode()).hexdigest()[:40]


def _contact(payload: dict[str, Any]) -> dict[str, str]:
    return {k: str(payload[k]) for k in ("email", "phone_number") if payload.get(k)}


@handler("report_missed_bin")
async def _report_missed_bin(clients: Clients, item: OutboxItem) -> Completed:
    p = item.payload
    contact = _contact(p)
    created = await clients.reports.report_missed_bin(
        str(p["uprn"]),
        str(p["bin_type"]),
        idempotency_key=backoffice_key(item),
        email=contact.get("email"),
        phone=contact.get("phone_number"),
    )
    ref = created.service_request_id
    return Completed(
        {"reference": ref}, f"Your missed bin report has now been made. Your reference is {ref}."
    )


@handler("make_complaint")
async def _make_complaint(clients: Clients, item: OutboxItem) -> Completed:
    p = item.payload
    contact = _contact(p)
    created = await clients.reports.create_request(
        str(p["service_code"]),
        idempotency_key=backoffice_key(item),
        description=str(p.get("description", "")),
        email=contact.get("email"),
        phone=contact.get("phone_number"),
        uprn=str(p["uprn"]) if p.get("uprn") else None,
    )
    ref = created.service_request_id
    return Completed({"reference": ref}, f"Your complaint has now been recorded. Your reference is {ref}.")


@handler("request_callback")
async def _request_callback(clients: Clients, item: OutboxItem) -> Completed:
    p = item.payload
    date = dt.date.fromisoformat(str(p["date"])) if p.get("date") else None
    callback = await clients.contact.request_callback(
        str(p["phone_number"]),
        str(p.get("reason", "")),
        item.key,
        best_time=p.get("best_time", "any"),
        date=date,
        conversation_id=item.conversation,
    )
    return Completed(
        {"reference": callback.reference},
        f"Your call-back request has now been made (reference {callback.reference}). We'll ring you then.",
    )


@handler("council_tax_moving_home")
async def _moving_home(clients: Clients, item: OutboxItem) -> Completed:
    p = item.payload
    verification = await clients.council_tax.verify(str(p["account_reference"]), str(p["postcode"]))
    request = await clients.council_tax.report_moving_home(
        verification,
        moving_out_date=dt.date.fromisoformat(str(p["moving_out_date"])),
        within_area=bool(p.get("within_area")),
        new_uprn=p.get("new_uprn"),
        new_address=p.get("new_address"),
        forwarding_address=p.get("forwarding_address"),
        idempotency_key=backoffice_key(item),
    )
    ref = request.reference
    return Completed(
        {"reference": ref}, f"Your change of address has now been recorded. Your reference is {ref}."
    )


@handler("council_tax_discount")
async def _discount(clients: Clients, item: OutboxItem) -> Completed:
    p = item.payload
    verification = await clients.council_tax.verify(str(p["account_reference"]), str(p["postcode"]))
    request = await clients.council_tax.apply_single_person_discount(
        verification,
        living_alone_from=dt.date.fromisoformat(str(p["living_alone_from"])),
        idempotency_key=backoffice_key(item),
    )
    ref = request.reference
    return Completed(
        {"reference": ref},
        f"Your single person discount application has now been made. Your reference is {ref}.",
    )


@handler("booking_confirmation")
async def _send_notification(clients: Clients, item: OutboxItem) -> Completed:
    """A confirmation Notify could not take: sent now (Notify has no idempotency key; see notify.py)."""
    p = item.payload
    values = dict(p.get("personalisation") or {})
    template = str(p.get("template") or item.kind)
    if p.get("email"):
        sent = await clients.notify.send_email(
            str(p["email"]), template, values, reference=backoffice_key(item)
        )
    else:
        sent = await clients.notify.send_sms(
            str(p["phone_number"]), template, values, reference=backoffice_key(item)
        )
    return Completed({"notification_id": sent.id}, "")


@handler("cancel_booking")
async def _cancel_booking(clients: Clients, item: OutboxItem) -> Completed:
    p = item.payload
    reference = str(p["reference"])
    if p.get("system") == "koha":
        await clients.libraries.cancel_session(reference)
    else:
        await clients.leisure.cancel(reference)  # cancelling again is harmless
    return Completed({"reference": reference}, f"Your booking {reference} has now been cancelled.")


def register_journey_handlers(package: str = "actions") -> None:
    """Import every module of the actions package, so handlers journeys register are known."""
    root = importlib.import_module(package)
    for module in pkgutil.iter_modules(root.__path__):
        if module.name != "server":
            importlib.import_module(f"{package}.{module.name}")


def main() -> None:
    """Run the worker until SIGTERM (``--once``: one pass, then exit)."""
    import signal
    import sys

    from actions.clients import Clients as ClientSet

    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    register_journey_handlers()
    worker = Worker(Outbox(), ClientSet())
    interval = float(os.environ.get("OUTBOX_INTERVAL", "5"))

    async def run() -> None:
        if "--once" in sys.argv:
            print(await worker.run_once())
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        logger.info("outbox worker: every %.0f s", interval)
        await worker.run(stop, interval)

    asyncio.run(run())


if __name__ == "__main__":
    main()
