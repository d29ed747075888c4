"""Shared fixtures: real processes started and stopped by the tests."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import Service, free_port, latest_model, python, start_service

# bot/endpoints.yml sends this to the action server; Rasa refuses to start if it is unset.
os.environ.setdefault("ACTION_SERVER_TOKEN", "test-action-token")


class Sandbox:
    """The running back-office sandbox, with its admin controls."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.url = service.url
        #: Where GOV.UK Pay webhooks go (the stack's Rasa server); kept across resets.
        self.pay_webhook_url: str | None = None

    def reset(self, today: dt.date | None = None) -> None:
        """Seed state again, for ``today`` if given (the sandbox's world for another day)."""
        params = {"today": today.isoformat()} if today else None
        httpx.post(self.url + "/_admin/reset", params=params, timeout=30).raise_for_status()
        if self.pay_webhook_url:
            self.send_pay_webhooks_to(self.pay_webhook_url)

    def send_pay_webhooks_to(self, url: str | None) -> None:
        """Set (None: clear) the URL the Pay sandbox sends webhooks to; a reset forgets it."""
        self.pay_webhook_url = url
        httpx.put(self.url + "/_admin/pay/webhook-url", json={"url": url}, timeout=5).raise_for_status()

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
        # No webhooks unless a test (or the stack) says where: never to a server outside the tests.
        env={"SANDBOX_PORT": str(port), "SANDBOX_DB": str(tmp / "sandbox.db"), "SANDBOX_PAY_WEBHOOK_URL": ""},
        log_dir=tmp,
    )
    try:
        yield Sandbox(service)
    finally:
        service.stop()


class Stack:
    """The assistant as residents reach it: Rasa server, action server and sandbox, over HTTP."""

    def __init__(
        self, rasa: Service, actions: Service, sandbox: Sandbox, token: str, files: Path | None = None
    ) -> None:
        self.rasa, self.actions, self.sandbox, self.token = rasa, actions, sandbox, token
        self.url = rasa.url
        #: Where the tracker store (tracker.db) and Rasa's event table (events.db) are.
        self.files = files

    def say(self, sender: str, text: str) -> list[dict[str, Any]]:
        """Send one message over the REST channel; the assistant's replies."""
        response = httpx.post(
            self.url + "/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=60
        )
        response.raise_for_status()
        return response.json()

    def tracker(self, sender: str) -> dict[str, Any]:
        response = httpx.get(
            self.url + f"/conversations/{sender}/tracker", params={"token": self.token}, timeout=30
        )
        response.raise_for_status()
        return response.json()


@contextmanager
def running_stack(sandbox: Sandbox, tmp: Path, **extra_env: str) -> Iterator[Stack]:
    """Start an action server and a Rasa server (REST channel) on free ports, with their own files
    in ``tmp``, wired to ``sandbox``; stop both (by pid) on leaving."""
    action_port, rasa_port = free_port(), free_port()
    token = "test-token"
    env = {
        "SANDBOX_URL": sandbox.url,
        "OUTBOX_DB_URL": f"sqlite:///{tmp / 'outbox.db'}",
        "CHANNEL_DB_URL": f"sqlite:///{tmp / 'channels.db'}",
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{action_port}/webhook",
        "RASA_TRACKER_DB": str(tmp / "tracker.db"),
        "RASA_EVENTS_DB": str(tmp / "events.db"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",
        **extra_env,
    }
    actions = start_service(
        "actions",
        [rasa_bin(), "run", "actions", "--port", str(action_port), "--actions", "actions"],
        port=action_port,
        health_path="/health",
        env=env,
        log_dir=tmp,
        timeout=120,
    )
    try:
        # Loading the model takes over 4 minutes on a busy 2-core machine.
        rasa = start_service(
            "rasa",
            [
                *(rasa_bin(), "run", "--enable-api", "--auth-token", token, "--port", str(rasa_port)),
                *("--endpoints", "bot/endpoints.yml", "--credentials", "bot/credentials.yml"),
                *("--model", latest_model()),
            ],
            port=rasa_port,
            health_path="/",
            env=env,
            log_dir=tmp,
            timeout=480,
        )
    except BaseException:
        actions.stop()
        raise
    try:
        yield Stack(rasa, actions, sandbox, token, tmp)
    finally:
        rasa.stop()
        actions.stop()


@pytest.fixture(scope="session")
def stack(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Rasa server (REST channel) + action server, wired to the session's sandbox."""
    with running_stack(sandbox, tmp_path_factory.mktemp("stack")) as running:
        # Pay's webhooks go to this Rasa server's GOV.UK Pay channel (its port is known only now).
        sandbox.send_pay_webhooks_to(running.url + "/webhooks/govuk_pay/webhook")
        try:
            yield running
        finally:
            sandbox.send_pay_webhooks_to(None)


def rasa_bin() -> str:
    import os
    import sys

    return os.path.join(os.path.dirname(sys.executable), "rasa")


@pytest.fixture
def clean_sandbox(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The sandbox reset to its seed state, with no faults, before and after the test."""
    sandbox.reset()
    yield sandbox
    sandbox.clear_faults()
