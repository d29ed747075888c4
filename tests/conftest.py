"""Shared fixtures: real processes started and stopped by the tests."""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from tests.support.processes import Service, free_port, python, start_service


class Sandbox:
    """The running back-office sandbox, with its admin controls."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.url = service.url

    def reset(self) -> None:
        httpx.post(self.url + "/_admin/reset", timeout=30).raise_for_status()

    def fault(self, **fault: Any) -> None:
        httpx.post(self.url + "/_admin/faults", json=fault, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        httpx.delete(self.url + "/_admin/faults", timeout=5).raise_for_status()

    def rows(self, table: str) -> list[dict[str, Any]]:
        response = httpx.get(self.url + f"/_admin/state/{table}", timeout=10)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The sandbox as a real HTTP service on a free port, with its own SQLite file."""
    tmp = tmp_path_factory.mktemp("sandbox")
    port = free_port()
    service = start_service(
        "sandbox",
        [python(), "-m", "integrations.sandbox"],
        port=port,
        health_path="/health",
        env={"SANDBOX_PORT": str(port), "SANDBOX_DB": str(tmp / "sandbox.db")},
        log_dir=tmp,
    )
    try:
        yield Sandbox(service)
    finally:
        service.stop()


@pytest.fixture
def clean_sandbox(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The sandbox reset to its seed state, with no faults, before and after the test."""
    sandbox.reset()
    yield sandbox
    sandbox.clear_faults()
