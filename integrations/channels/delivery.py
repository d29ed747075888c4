"""The delivery queue: replies are sent by a background task, never inside a webhook.

A connector's output channel only stores each reply in the channel store's
outbox and wakes this task. The task sends, per conversation in order:

- sent: the provider's id is kept, the text is cleared;
- a failure worth retrying (connection refused, timeout, 429, 5xx): tried
  again after a jittered exponential backoff (``RetryPolicy``), up to its
  maximum number of attempts. A 5xx may mean the provider did send it, so a
  resident may rarely get a reply twice: better than not getting it;
- any other failure (refused, bad number, our credentials), or attempts used
  up: marked ``failed`` with the reason and the text kept for follow-up, and
  logged as an error;
- a conversation that opted out (STOP): ``suppressed``, not sent.

Several Rasa servers may share one store (PostgreSQL): each message is
claimed before it is sent, so only one of them sends it; one claimed by a
server that stopped mid-send is put back after ``STALE_SENDING_SECONDS``.

Logs carry the outbox id, channel, conversation id (a keyed hash) and the
error type: never a number or a message's text.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping

from integrations.channels.senders import Sender
from integrations.channels.settings import RetryPolicy
from integrations.channels.store import NOTICE, ChannelStore, OutboxItem
from integrations.errors import IntegrationError
from integrations.http import backoff_delay
from integrations.settings import Timeouts

logger = logging.getLogger("integrations.channels.delivery")

#: Longest the task sleeps without being woken: it also picks up retries that fell due.
IDLE_SECONDS = 1.0
#: At most this many conversations are sent to at once.
CONCURRENCY = 8
PURGE_EVERY_SECONDS = 3600.0
#: A message taken for sending this long ago by a server that then stopped is sent again.
STALE_SENDING_SECONDS = 600.0


class Delivery:
    def __init__(
        self,
        store: ChannelStore,
        senders: Mapping[str, Sender],
        policy: RetryPolicy,
        *,
        retention_days: int = 30,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.senders = senders
        self.policy = policy
        self.retention_days = retention_days
        self._backoff = Timeouts(backoff_start=policy.backoff_start, backoff_cap=policy.backoff_cap)
        self._rng = rng
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENCY)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Send due replies until cancelled; a failure of the store itself is logged and retried."""
        since_purge = PURGE_EVERY_SECONDS
        while True:
            try:
                while await self.deliver_due():
                    pass
                if since_purge >= PURGE_EVERY_SECONDS:
                    await self.store.purge(self.retention_days)
                    await self.store.release_stale(STALE_SENDING_SECONDS)
                    since_purge = 0.0
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("delivery: the channel store failed; trying again shortly")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=IDLE_SECONDS)
            except asyncio.TimeoutError:
                pass
            since_purge += IDLE_SECONDS

    async def deliver_due(self) -> int:
        """Send every message now due (the first waiting one of each conversation); how many were tried."""
        items = await self.store.due()
        await asyncio.gather(*(self._deliver(item) for item in items))
        return len(items)

    async def _deliver(self, item: OutboxItem) -> None:
        async with self._slots:
            if not await self.store.claim(item):
                return  # another Rasa server sharing the store is sending it
            if item.kind != NOTICE and await self.store.is_opted_out(item.conversation_id):
                await self.store.mark_suppressed(item, "opted out")
                logger.info("delivery: %s to %s not sent: opted out", item.id, item.conversation_id)
                return
            recipient = await self.store.recipient(item.conversation_id)
            sender = self.senders.get(item.channel)
            if recipient is None or sender is None:
                reason = "no number kept" if recipient is None else f"no sender for {item.channel}"
                await self.store.mark_failed(item, reason)
                logger.error("delivery: %s to %s failed: %s", item.id, item.conversation_id, reason)
                return
            try:
                provider_id = await sender.send(recipient.address, item.payload)
            except IntegrationError as exc:
                await self._failed(item, exc)
            except Exception as exc:  # a bug must not stop the queue, nor lose the reply
                logger.exception("delivery: %s to %s raised", item.id, item.conversation_id)
                await self.store.mark_failed(item, f"unexpected {type(exc).__name__}")
            else:
                await self.store.mark_sent(item, provider_id)
                logger.info(
                    "delivery: %s to %s sent by %s (attempt %d)",
                    item.id,
                    item.conversation_id,
                    item.channel,
                    item.attempts + 1,
                )

    async def _failed(self, item: OutboxItem, exc: IntegrationError) -> None:
        # The class and status only: a provider's own message can quote the number.
        reason = type(exc).__name__ + (f" ({exc.status})" if exc.status else "")
        attempt = item.attempts + 1
        if exc.retryable and attempt < self.policy.max_attempts:
            delay = backoff_delay(item.attempts, self._backoff, self._rng)
            await self.store.retry_later(item, reason, delay)
            logger.warning(
                "delivery: %s to %s attempt %d failed (%s); again in %.1f s",
                item.id,
                item.conversation_id,
                attempt,
                reason,
                delay,
            )
            return
        await self.store.mark_failed(item, reason)
        logger.error(
            "delivery: %s to %s failed after %d attempt(s): %s; kept for follow-up",
            item.id,
            item.conversation_id,
            attempt,
            reason,
        )
