"""Sandbox settings, read from the environment in one place."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from integrations.settings import Settings


@dataclass(frozen=True)
class SandboxSettings:
    #: SQLite file holding all systems' state.
    db_path: str
    #: Public base URL of the sandbox (payment page links, RPDE ``next`` URLs).
    public_url: str
    #: The day the demo data is built around (defaults to today, Europe/London).
    today: dt.date | None
    #: Faults active from start-up: a list of fault objects (see faults.py).
    faults: list[dict[str, Any]] = field(default_factory=list)
    #: Where the payment page sends GOV.UK Pay webhooks (empty: none sent).
    pay_webhook_url: str = ""
    #: Where Notify callbacks would go; unused by the sandbox itself for now.
    client: Settings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxSettings:
        env = os.environ if env is None else env
        port = env.get("SANDBOX_PORT", "8081")
        today = env.get("SANDBOX_TODAY")
        return cls(
            db_path=env.get("SANDBOX_DB", "var/sandbox.db"),
            public_url=env.get("SANDBOX_PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/"),
            today=dt.date.fromisoformat(today) if today else None,
            faults=json.loads(env.get("SANDBOX_FAULTS", "[]")),
            pay_webhook_url=env.get("SANDBOX_PAY_WEBHOOK_URL", ""),
            client=Settings.from_env(env),
        )
