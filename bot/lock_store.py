"""A conversation lock on Redis that is atomic across Rasa replicas.

Rasa serialises the messages of one conversation with a ticket lock: each
message takes a ticket and waits until its ticket is the lowest one still
held. Rasa's open-source ``RedisLockStore`` keeps the whole lock as one JSON
value and updates it with a GET, a change in Python and a SET. Two replicas
taking a ticket at the same moment both read the same value, both issue the
same number and one SET overwrites the other: both messages run at once,
the second save of the tracker counts the first one's events as its own,
and events are lost or interleaved (RasaHQ/rasa PR #11256).

Here every step is one Lua script, which Redis runs atomically:

- ``issue``: ``INCR`` a per-conversation counter and add the ticket, with its
  expiry from Redis's own clock (no clock skew between replicas);
- ``acquire``: drop expired tickets, then the caller holds the lock if its
  ticket is the lowest; a waiter's ticket is kept alive while it waits, the
  holder's lives ``lifetime`` seconds from when it got the lock (so a replica
  that died holding it blocks the conversation for at most that long);
- ``release``: remove the ticket and publish the conversation id, which wakes
  the next waiter at once (waiters also poll, so a lost wake-up costs at
  most ``poll_interval``).

Failures are never silent: Redis unreachable, or a wait longer than
``max_wait``, raises ``LockError``, which the channel guard turns into a
"try again in a few minutes" reply. Nothing is processed without the lock.

Configured in the production profile's ``endpoints.yml``::

    lock_store:
      type: bot.lock_store.AtomicRedisLockStore
      url: ${REDIS_URL}
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import redis
import redis.asyncio as aioredis
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "council"
#: Longest a message waits for the conversation's earlier messages before giving up.
DEFAULT_MAX_WAIT = 30.0
#: Waiters re-check at least this often even if no release was heard.
DEFAULT_POLL_INTERVAL = 0.1
#: Redis must answer within these (seconds): a dead Redis fails fast, it never stalls a replica.
CONNECT_TIMEOUT = 1.0
SOCKET_TIMEOUT = 2.0

# KEYS: counter, tickets (sorted set, score = number), expiries (hash). ARGV: lifetime ms.
_ISSUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local life = tonumber(ARGV[1])
local n = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], n, n)
redis.call('HSET', KEYS[3], n, now + life)
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], life * 2) end
return n
"""

# KEYS as above. ARGV: ticket, lifetime ms. Returns 1 held, 0 wait, -1 ticket expired.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local life = tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < now then
    redis.call('HDEL', KEYS[3], all[i])
    redis.call('ZREM', KEYS[2], all[i])
  end
end
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return -1 end
redis.call('HSET', KEYS[3], ARGV[1], now + life)
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], life * 2) end
local head = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if head == ARGV[1] then return 1 end
return 0
"""

# KEYS as above, then the release channel. ARGV: ticket, conversation id.
_RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
end
redis.call('PUBLISH', KEYS[4], ARGV[2])
return 1
"""


class AtomicRedisLockStore(LockStore):
    """Ticket locks on Redis, each step one atomic script (see the module notes)."""

    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        *,
        url: str | None = None,
        key_prefix: str | None = None,
        max_wait: float | None = None,
        poll_interval: float | None = None,
    ) -> None:
        kwargs: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config else {}
        self.url = (
            url
            or (endpoint_config.url if endpoint_config else None)
            or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
        )
        prefix = key_prefix or kwargs.get("key_prefix") or DEFAULT_PREFIX
        if not str(prefix).replace("-", "").replace("_", "").isalnum():
            raise ValueError("key_prefix must be letters, digits, - or _")
        self.prefix = f"{prefix}:lock:"
        self.channel = f"{prefix}:lock-released"
        self.max_wait = float(max_wait or kwargs.get("max_wait") or DEFAULT_MAX_WAIT)
        self.poll_interval = float(poll_interval or kwargs.get("poll_interval") or DEFAULT_POLL_INTERVAL)
        options = {"socket_connect_timeout": CONNECT_TIMEOUT, "socket_timeout": SOCKET_TIMEOUT}
        self._sync = redis.Redis.from_url(self.url, **options)
        self._options = options
        # The async client and the wake-up listener belong to the event loop that first uses them.
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._listener: asyncio.Task[None] | None = None
        try:
            self._sync.ping()
        except redis.RedisError as error:
            raise LockError(
                f"The lock store (Redis at {_safe(self.url)}) can't be reached: {error}"
            ) from error
        super().__init__()

    # --- keys and clients ------------------------------------------------------

    def _keys(self, conversation_id: str) -> list[str]:
        base = self.prefix + conversation_id
        return [base + ":seq", base + ":tickets", base + ":expires"]

    def _async(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aioredis.Redis.from_url(self.url, **self._options)
            self._loop = loop
            self._issue = self._client.register_script(_ISSUE)
            self._acquire = self._client.register_script(_ACQUIRE)
            self._release = self._client.register_script(_RELEASE)
            self._listener = loop.create_task(self._listen(), name="lock-release-listener")
        return self._client

    async def _listen(self) -> None:
        """Wake local waiters when any replica releases a conversation's lock."""
        delay = 0.1
        while True:
            pubsub = None
            try:
                pubsub = aioredis.Redis.from_url(
                    self.url, **{**self._options, "socket_timeout": None}
                ).pubsub()
                await pubsub.subscribe(self.channel)
                delay = 0.1
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    conversation = message["data"].decode("utf-8", "replace")
                    for event in self._waiters.get(conversation, ()):
                        event.set()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis gone: waiters keep polling; try again later
                logger.warning("lock store: release listener lost Redis (%s); retrying", type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                if pubsub is not None:
                    try:
                        await pubsub.close()
                    except Exception:  # noqa: BLE001 - closing a dead connection
                        pass

    # --- the lock Rasa uses -----------------------------------------------------

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = DEFAULT_POLL_INTERVAL,
    ) -> AsyncGenerator[TicketLock, None]:
        client = self._async()
        keys = self._keys(conversation_id)
        life_ms = int(lock_lifetime * 1000)
        try:
            ticket = int(await self._issue(keys=keys, args=[life_ms], client=client))
        except redis.RedisError as error:
            raise LockError(f"lock store unavailable: {type(error).__name__}") from error
        try:
            await self._wait_for_turn(conversation_id, keys, ticket, life_ms)
            yield TicketLock(conversation_id, _deque_of(ticket, lock_lifetime))
        finally:
            try:
                await self._release(keys=[*keys, self.channel], args=[ticket, conversation_id], client=client)
            except redis.RedisError:
                # The ticket expires by itself within the lifetime.
                logger.warning("lock store: could not release a ticket; it will expire")

    async def _wait_for_turn(self, conversation_id: str, keys: list[str], ticket: int, life_ms: int) -> None:
        deadline = time.monotonic() + self.max_wait
        wake = asyncio.Event()
        self._waiters.setdefault(conversation_id, set()).add(wake)
        try:
            while True:
                wake.clear()
                try:
                    state = int(await self._acquire(keys=keys, args=[ticket, life_ms], client=self._client))
                except redis.RedisError as error:
                    raise LockError(f"lock store unavailable: {type(error).__name__}") from error
                if state == 1:
                    return
                if state == -1:
                    raise LockError("conversation lock ticket expired while waiting")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LockError(f"waited more than {self.max_wait:.0f} s for the conversation lock")
                try:
                    await asyncio.wait_for(wake.wait(), timeout=min(self.poll_interval, remaining))
                except asyncio.TimeoutError:
                    pass
        finally:
            waiting = self._waiters.get(conversation_id)
            if waiting is not None:
                waiting.discard(wake)
                if not waiting:
                    del self._waiters[conversation_id]

    # --- Rasa's synchronous interface (inspection only) ------------------------------

    def get_lock(self, conversation_id: str) -> TicketLock | None:
        _, tickets_key, expires_key = self._keys(conversation_id)
        numbers = [int(n) for n in self._sync.zrange(tickets_key, 0, -1)]
        if not numbers:
            return None
        expires = {int(k): int(v) / 1000 for k, v in self._sync.hgetall(expires_key).items()}
        lock = TicketLock(conversation_id)
        for number in numbers:
            lock.tickets.append(Ticket(number, expires.get(number, 0.0)))
        return lock

    def delete_lock(self, conversation_id: str) -> None:
        self._sync.delete(*self._keys(conversation_id))

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError("tickets are only changed by the atomic scripts")

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        raise NotImplementedError("use lock(): tickets are issued atomically inside it")


def _deque_of(ticket: int, lifetime: float) -> Any:
    from collections import deque

    return deque([Ticket(ticket, time.time() + lifetime)])


def _safe(url: str) -> str:
    """The URL without a password, for error messages."""
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
