"""The production profile on real PostgreSQL, Redis and RabbitMQ, shared by this folder's tests.

The stack runs on servers of the tests' own (a private PostgreSQL cluster, a
private Redis, RabbitMQ behind a proxy the tests can cut), so the fault tests
can stop and restart them without touching anyone else's; the stack is
healthy again after each fault test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.production.stack import PrivateBackends, ProductionStack


@pytest.fixture(scope="session")
def private_backends() -> Iterator[PrivateBackends]:
    backends = PrivateBackends.start()
    try:
        yield backends
    finally:
        backends.stop()


@pytest.fixture(scope="session")
def production(
    private_backends: PrivateBackends, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProductionStack]:
    """Sandbox, two action servers, two Rasa replicas, HAProxy and the demand consumer."""
    stack = ProductionStack(private_backends.as_backends(), tmp_path_factory.mktemp("production"))
    stack.start()
    try:
        stack.wait_for_lb()
        yield stack
    finally:
        stack.stop()
