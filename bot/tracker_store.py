"""Rasa's SQL tracker store, made strict for production (PostgreSQL).

What Rasa 3.6's ``SQLTrackerStore`` does, and what this one does instead:

- Database unreachable at start: Rasa retries every 5 s for ever and never
  says why. Here: bounded retries, then ``TrackerStoreUnavailable`` naming
  the address (no password), and the server stops with that message.
- Every query runs on the event loop, so a slow or restarting database
  stalls the replica. Here: queries run in worker threads.
- A connection broken by a database restart fails the next request. Here:
  ``pool_pre_ping`` replaces dead connections, and a failed query is retried
  with backoff for ``retry_seconds`` (a restart takes a few seconds).
- After that, Rasa's ``FailSafeTrackerStore`` saves to memory and carries on:
  the conversation is lost without a word. Here ``TrackerStoreUnavailable``
  is raised; ``refuse_memory_fallback`` (installed by the channel guard)
  makes the wrapper re-raise it, and the resident is told to try again.
- Rasa streams events to the broker by loading the whole tracker again to
  diff it. Here exactly the rows inserted are streamed, after the commit,
  each with its row id as the message id (consumers drop duplicates by it).

- Both stores here withhold secret answers (``withhold_secret_answers``):
  the text of a message that answered a question for a secret (the library
  PIN) is replaced before anything is stored or sent to the broker. The
  action server has already checked it in the same turn; "I won't keep it"
  stays true in the tracker store, the demand events and the reports.

Configured in the production profile's ``endpoints.yml``::

    tracker_store:
      type: bot.tracker_store.StrictSQLTrackerStore
      url: ${TRACKER_DB_URL}

and in the embedded default (``bot/endpoints.yml``) as
``bot.tracker_store.WithholdingSQLTrackerStore`` on SQLite.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.exc
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import (
    FailSafeTrackerStore,
    SQLTrackerStore,
    TrackerStore,
    create_engine_kwargs,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import ConnectionException

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Start-up: try to reach the database this many times, this far apart.
CONNECT_ATTEMPTS = 5
CONNECT_DELAY = 1.0
#: At run time a failed query is retried for this long (a PostgreSQL restart takes a few seconds).
RETRY_SECONDS = 20.0
#: Errors that mean "the database is not there right now", worth retrying.
TRANSIENT = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)


#: Slots whose answer is a secret: the message answering them is never stored.
SECRET_SLOTS = frozenset({"library_pin"})
#: What stands in for a withheld message's text.
WITHHELD = "[withheld: secret answer]"


def withhold_secret_answers(tracker: DialogueStateTracker) -> int:
    """Replace the text (and entities) of every message that answered a secret question.

    A message answers the slot the form asked for last (``requested_slot``) while the
    form is active. Runs before every save; the events are changed in place, so the
    store, the broker and everything reading them later see only ``WITHHELD``.
    Returns how many messages were withheld now.
    """
    requested: Any = None
    withheld = 0
    for event in tracker.events:
        if isinstance(event, SlotSet) and event.key == "requested_slot":
            requested = event.value
        elif isinstance(event, ActiveLoop) and event.name is None:
            requested = None
        elif isinstance(event, UserUttered) and requested in SECRET_SLOTS and event.text != WITHHELD:
            event.text = WITHHELD
            event.entities = []
            event.parse_data["text"] = WITHHELD
            event.parse_data["entities"] = []
            withheld += 1
    return withheld


class WithholdingSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store, withholding secret answers (the embedded default)."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        withhold_secret_answers(tracker)
        await super().save(tracker)


class TrackerStoreUnavailable(ConnectionException):
    """The tracker store can't be reached: refuse to go on rather than lose conversations."""


class StrictSQLTrackerStore(SQLTrackerStore):
    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        *,
        retry_seconds: float | str = RETRY_SECONDS,
        connect_attempts: int | str = CONNECT_ATTEMPTS,
        **kwargs: Any,
    ) -> None:
        if not host or "://" not in host:
            raise TrackerStoreUnavailable("StrictSQLTrackerStore needs `url:` set to a database URL")
        self.retry_seconds = float(retry_seconds)
        url = sa.engine.make_url(host)
        self.where = url.render_as_string(hide_password=True)
        _wait_for_database(host, int(connect_attempts), self.where)
        super().__init__(domain=domain, host=host, event_broker=event_broker, **kwargs)
        # Replace Rasa's engine: same settings, plus a check that a pooled connection still works.
        self.engine.dispose()
        self.engine: sa.engine.Engine = sa.create_engine(
            host, pool_pre_ping=True, future=False, **create_engine_kwargs(host)
        )
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    # --- run blocking work off the event loop, with retries ---------------------

    async def _run(self, work: Callable[[], T], what: str) -> T:
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            try:
                return await asyncio.to_thread(work)
            except TRANSIENT as error:
                if time.monotonic() + delay > deadline:
                    raise TrackerStoreUnavailable(
                        f"tracker store ({self.where}) down for {self.retry_seconds:.0f} s while {what}"
                    ) from error
                logger.warning("tracker store: %s failed (%s); retrying", what, type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        return await self._run(lambda: self._retrieve_sync(sender_id, False), "reading a conversation")

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        return await self._run(lambda: self._retrieve_sync(conversation_id, True), "reading a conversation")

    async def keys(self) -> list[str]:
        def work() -> list[str]:
            with self.session_scope() as session:
                return [s for (s,) in session.query(self.SQLEvent.sender_id).distinct().all()]

        return await self._run(work, "listing conversations")

    def _retrieve_sync(self, sender_id: str, all_sessions: bool) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id, fetch_events_from_all_sessions=all_sessions).all()
            events = [json.loads(row.data) for row in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    async def save(self, tracker: DialogueStateTracker) -> None:
        withhold_secret_answers(tracker)
        stored = await self._run(lambda: self._save_sync(tracker), "saving a conversation")
        broker = self.event_broker
        if broker is None:
            return
        with_headers = "headers" in inspect.signature(broker.publish).parameters
        for row_id, data in stored:
            body = {"sender_id": tracker.sender_id, **data}
            if with_headers:
                broker.publish(body, headers={"event_id": str(row_id)})  # type: ignore[call-arg]
            else:
                broker.publish(body)

    def _save_sync(self, tracker: DialogueStateTracker) -> list[tuple[int, dict[str, Any]]]:
        """Insert the events the database doesn't have yet; their row ids and data."""
        with self.session_scope() as session:
            rows = []
            for event in self._additional_events(session, tracker):
                data = event.as_dict()
                rows.append(
                    (
                        data,
                        self.SQLEvent(
                            sender_id=tracker.sender_id,
                            type_name=event.type_name,
                            timestamp=data.get("timestamp"),
                            intent_name=(data.get("parse_data") or {}).get("intent", {}).get("name"),
                            action_name=data.get("name"),
                            data=json.dumps(data),
                        ),
                    )
                )
            session.add_all([row for _, row in rows])
            session.flush()  # assigns the row ids
            stored = [(row.id, data) for data, row in rows]
            session.commit()
            return stored


def _wait_for_database(url: str, attempts: int, where: str) -> None:
    engine = sa.create_engine(url, pool_pre_ping=True)
    try:
        for attempt in range(1, attempts + 1):
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                return
            except TRANSIENT as error:
                reason = str(getattr(error, "orig", error)).strip().splitlines()[0] if str(error) else ""
                if attempt == attempts:
                    raise TrackerStoreUnavailable(
                        f"The tracker store ({where}) can't be reached after {attempts} attempts: {reason}. "
                        "Refusing to start: Rasa would otherwise keep conversations in memory and lose them."
                    ) from error
                logger.warning("tracker store %s not reachable yet (%s); retrying", where, reason)
                time.sleep(CONNECT_DELAY)
    finally:
        engine.dispose()


def refuse_memory_fallback(store: TrackerStore) -> None:
    """Make Rasa's ``FailSafeTrackerStore`` re-raise instead of falling back to memory.

    The agent wraps every tracker store in a ``FailSafeTrackerStore`` that, on
    any error, saves to an in-memory store and reads ``None`` (a blank
    conversation). Its error callback is the one hook it offers: re-raising
    there lets the failure reach the channel, which answers the resident.
    """
    if isinstance(store, FailSafeTrackerStore):

        def reraise(error: Exception) -> None:
            raise error

        store._on_tracker_store_error = reraise
