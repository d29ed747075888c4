"""Back-office clients on ``httpx.MockTransport``, for the clients' unit tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from integrations.http import ApiClient
from integrations.settings import Endpoint, Timeouts

Handler = Callable[[httpx.Request], httpx.Response]
C = TypeVar("C", bound=ApiClient)


class Recorder:
    """A MockTransport handler: answers from a script (the last answer repeats) and keeps the requests.

    An exception in the script is raised instead of answering (a timeout, a refused connection).
    """

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item


def mock_client(
    cls: type[C], handler: Handler, endpoint: Endpoint, timeouts: Timeouts | None = None, **kwargs: Any
) -> tuple[C, list[float]]:
    """A ``cls`` client whose requests go to ``handler`` and whose retries do not wait.

    Returns the client and the list of the delays it would have slept, in order.
    """
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return cls(http, endpoint, timeouts or Timeouts(), sleep=sleep, **kwargs), slept


def contract_error(status: int, code: str) -> httpx.Response:
    """An error of our own contracts (waste, council tax): ``{"error": {"status", "code", "message"}}``."""
    return httpx.Response(status, json={"error": {"status": status, "code": code, "message": "m"}})
