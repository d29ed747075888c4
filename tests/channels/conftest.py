"""The running stack the channel tests talk to over HTTP (started once, stopped by pid)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels.stack import Stack, running_stack


@pytest.fixture(scope="session")
def stack(sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Action server, Rasa server with every connector in bot/credentials.yml, and the reports app.

    SMS are limited to 2 segments here, so that the help menu (3 segments) must be split.
    """
    with running_stack(
        sandbox.url, tmp_path_factory.mktemp("channels"), with_reports=True, SMS_MAX_SEGMENTS="2"
    ) as running:
        yield running
