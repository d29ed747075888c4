"""What the connectors in one Rasa server share: settings, the store, the delivery task.

One ``ChannelRuntime`` per process (``shared_runtime``). Each connector
registers how to build its sender; the delivery task and its HTTP client
start with the server (a Sanic listener) and stop with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from integrations.channels.delivery import Delivery
from integrations.channels.keywords import Notices
from integrations.channels.senders import Sender
from integrations.channels.settings import ChannelSettings
from integrations.channels.store import ChannelStore
from integrations.http import new_http_client

logger = logging.getLogger("integrations.channels")

SenderFactory = Callable[[httpx.AsyncClient], Sender]


class ChannelRuntime:
    def __init__(self, settings: ChannelSettings, store: ChannelStore | None = None) -> None:
        self.settings = settings
        self.store = store or ChannelStore(settings.db_url)
        self.notices = Notices.for_council(settings)
        self.delivery: Delivery | None = None
        self._factories: dict[str, SenderFactory] = {}
        self._http: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    def register_sender(self, channel: str, factory: SenderFactory) -> None:
        self._factories[channel] = factory

    async def start(self) -> None:
        """Start the delivery task (once, however many connectors ask)."""
        if self._task is not None:
            return
        self._http = new_http_client(self.settings.timeouts)
        senders = {channel: build(self._http) for channel, build in self._factories.items()}
        self.delivery = Delivery(
            self.store, senders, self.settings.retry, retention_days=self.settings.retention_days
        )
        self._task = asyncio.create_task(self.delivery.run(), name="channel-delivery")
        logger.info("channels: delivery started for %s", ", ".join(sorted(senders)) or "no senders")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, *self._background, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
        self._task = self._http = self.delivery = None

    def wake(self) -> None:
        if self.delivery is not None:
            self.delivery.wake()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after the webhook has answered, keeping a reference until it ends."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


_shared: ChannelRuntime | None = None


def shared_runtime() -> ChannelRuntime:
    """The process's runtime, built from the environment on first use."""
    global _shared
    if _shared is None:
        _shared = ChannelRuntime(ChannelSettings.from_env())
    return _shared
