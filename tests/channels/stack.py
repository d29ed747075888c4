"""The real stack for channel tests: action server, Rasa server with our connectors, reports app.

Each process runs on a free port with its own files, started and stopped by
its pid (``tests.support.processes``). ``python -m tests.channels.stack``
starts the lot with a sandbox and prints the URLs, for trying the channels
by hand; Ctrl-C stops it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from integrations.channels.settings import ChannelSettings
from integrations.channels.signatures import meta_signature, twilio_signature
from tests.support.processes import Service, free_port, python, start_service

T = TypeVar("T")

RASA_TOKEN = "channel-tests-token"
CHANNEL_ID_KEY = "channel-tests-id-key"
#: The sandbox's own credentials: the connectors and the sandbox both default to them.
SANDBOX = ChannelSettings.from_env({})


def wait_for(probe: Callable[[], T | None], timeout: float = 60.0, what: str = "a condition") -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Stack:
    sandbox_url: str
    rasa: Service
    actions: Service
    channel_db: Path
    reports: Service | None = None
    _http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))

    @property
    def rasa_url(self) -> str:
        return self.rasa.url

    def webhook(self, channel: str, path: str = "webhook") -> str:
        return f"{self.rasa_url}/webhooks/{channel}/{path}"

    # --- the Rasa HTTP API ------------------------------------------------------------

    def tracker(self, sender_id: str) -> dict[str, Any]:
        response = self._http.get(
            f"{self.rasa_url}/conversations/{sender_id}/tracker", params={"token": RASA_TOKEN}
        )
        response.raise_for_status()
        return response.json()

    def user_events(self, sender_id: str) -> list[dict[str, Any]]:
        return [e for e in self.tracker(sender_id)["events"] if e["event"] == "user"]

    # --- providers calling us -------------------------------------------------------------

    def twilio_post(
        self,
        channel: str,
        form: dict[str, str],
        *,
        token: str = SANDBOX.twilio_auth_token,
        signature: str | None = None,
        sign: bool = True,
    ) -> httpx.Response:
        url = self.webhook(channel)
        headers = {}
        if sign:
            headers["X-Twilio-Signature"] = signature or twilio_signature(
                token, url, {k: [v] for k, v in form.items()}
            )
        return self._http.post(url, data=form, headers=headers)

    def meta_post(
        self, payload: dict[str, Any] | bytes, *, secret: str = SANDBOX.meta_app_secret
    ) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        signature = meta_signature(secret, body)
        return self._http.post(
            self.webhook("whatsapp_cloud"),
            content=body,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
        )

    # --- what the sandbox providers were asked to send ------------------------------------

    def twilio_sent(self, to: str) -> list[dict[str, Any]]:
        """Messages sent to ``to`` through the sandbox's Twilio, oldest first."""
        sid = SANDBOX.twilio_account_sid
        response = self._http.get(
            f"{self.sandbox_url}/2010-04-01/Accounts/{sid}/Messages.json",
            params={"To": to, "PageSize": 1000},
            auth=(sid, SANDBOX.twilio_auth_token),
        )
        response.raise_for_status()
        return list(reversed(response.json()["messages"]))

    def sandbox_rows(self, table: str) -> list[dict[str, Any]]:
        response = self._http.get(f"{self.sandbox_url}/_admin/state/{table}", params={"limit": 10000})
        response.raise_for_status()
        return response.json()

    def meta_sent(self, to: str) -> list[dict[str, Any]]:
        return [json.loads(r["message"]) for r in self.sandbox_rows("meta_messages") if r["to_number"] == to]

    def notify_sent(self, phone: str) -> list[dict[str, Any]]:
        return [r for r in self.sandbox_rows("notify_notifications") if r["recipient"] == phone]

    def wait_for_sent(self, fetch: Callable[[], list[T]], count: int, timeout: float = 60.0) -> list[T]:
        """Wait until ``fetch`` returns at least ``count`` messages; return them."""
        return wait_for(
            lambda: (lambda found: found if len(found) >= count else None)(fetch()),
            timeout,
            f"{count} message(s) to be sent",
        )


def stack_env(sandbox_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    return {
        "SANDBOX_URL": sandbox_url,
        "RASA_TRACKER_DB": str(tmp / "tracker.db"),
        "RASA_EVENTS_DB": str(tmp / "events.db"),
        "DEMAND_STORE_URL": str(tmp / "demand.db"),
        "DEMAND_HASH_KEY": "channel-tests-demand-key",
        "OUTBOX_DB_URL": f"sqlite:///{tmp / 'outbox.db'}",
        "CHANNEL_DB_URL": f"sqlite:///{tmp / 'channels.db'}",
        "CHANNEL_ID_KEY": CHANNEL_ID_KEY,
        "CHANNEL_SEND_BACKOFF_START": "0.2",
        "CHANNEL_SEND_BACKOFF_CAP": "0.5",
        "CHANNEL_SEND_MAX_ATTEMPTS": "3",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore",
        **extra,
    }


@contextmanager
def running_stack(
    sandbox_url: str, tmp: Path, *, with_reports: bool = False, **extra_env: str
) -> Iterator[Stack]:
    """Action server, Rasa server (our credentials, the latest model) and optionally the reports app."""
    rasa_port, action_port, reports_port = free_port(), free_port(), free_port()
    reports_url = f"http://127.0.0.1:{reports_port}"
    env = stack_env(
        sandbox_url,
        tmp,
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        REPORTS_PORT=str(reports_port),
        WEBCHAT_ORIGINS=reports_url,
        RASA_PUBLIC_URL=f"http://127.0.0.1:{rasa_port}",
        **extra_env,
    )
    bin_dir = Path(python()).parent
    with ExitStack() as cleanup:
        actions = start_service(
            "actions",
            [str(bin_dir / "rasa"), "run", "actions", "--port", str(action_port), "--actions", "actions"],
            port=action_port,
            health_path="/health",
            env=env,
            log_dir=tmp,
            timeout=120,
        )
        cleanup.callback(actions.stop)
        # --cors "*" as in the Procfile: the webchat channel must hold to its own origins.
        rasa_args = (
            f"run --enable-api --auth-token {RASA_TOKEN} --port {rasa_port} --endpoints bot/endpoints.yml "
            "--credentials bot/credentials.yml --model models --cors *"
        ).split()
        rasa = start_service(
            "rasa",
            [str(bin_dir / "rasa"), *rasa_args],
            port=rasa_port,
            health_path="/",
            env=env,
            log_dir=tmp,
            timeout=300,
        )
        cleanup.callback(rasa.stop)
        # Rasa answers "/" before the model is loaded; wait until it can parse.
        wait_for(lambda: _model_ready(rasa.url), 240, "the model to load")
        reports = None
        if with_reports:
            reports = start_service(
                "reports",
                [python(), "-m", "insights.web"],
                port=reports_port,
                health_path="/health",
                env=env,
                log_dir=tmp,
                timeout=60,
            )
            cleanup.callback(reports.stop)
        stack = Stack(sandbox_url, rasa, actions, tmp / "channels.db", reports)
        cleanup.callback(stack._http.close)
        yield stack


def _model_ready(rasa_url: str) -> bool:
    try:
        response = httpx.get(f"{rasa_url}/status", params={"token": RASA_TOKEN}, timeout=5)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and bool(response.json().get("model_id"))


def main() -> None:
    """Start a sandbox and the stack, print the URLs, and wait for Ctrl-C or SIGTERM."""
    import signal
    import sys
    import tempfile

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    tmp = Path(tempfile.mkdtemp(prefix="channels-stack-"))
    port = free_port()
    sandbox = start_service(
        "sandbox",
        [python(), "-m", "integrations.sandbox"],
        port=port,
        health_path="/health",
        env={"SANDBOX_PORT": str(port), "SANDBOX_DB": str(tmp / "sandbox.db")},
        log_dir=tmp,
    )
    try:
        with running_stack(sandbox.url, tmp, with_reports=True) as stack:
            assert stack.reports is not None
            print(f"demo page {stack.reports.url}/  rasa {stack.rasa_url}  sandbox {sandbox.url}  logs {tmp}")
            print(f"SMS webhook {stack.webhook('twilio_sms')}", flush=True)
            while True:
                time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
