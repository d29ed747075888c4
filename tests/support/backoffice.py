"""Back-office clients on httpx.MockTransport, for action unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from actions.clients import Clients, use_clients
from actions.common import use_outbox
from integrations.outbox import Outbox
from integrations.settings import Settings

Handler = Callable[[httpx.Request], httpx.Response]


def mock_clients(handler: Handler) -> Clients:
    settings = Settings.from_env({"SANDBOX_URL": "http://backoffice.test", "BACKOFFICE_MAX_RETRIES": "0"})
    return Clients(settings=settings, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


@pytest.fixture
def backoffice() -> Iterator[Callable[[Handler], Clients]]:
    """Install mock clients for the actions: ``backoffice(handler)``."""

    def install(handler: Handler) -> Clients:
        installed = mock_clients(handler)
        use_clients(installed)
        return installed

    yield install
    use_clients(None)


@pytest.fixture
def memory_outbox(tmp_path) -> Iterator[Outbox]:
    box = Outbox(f"sqlite:///{tmp_path / 'outbox.db'}")
    use_outbox(box)
    yield box
    use_outbox(None)
