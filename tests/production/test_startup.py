"""A store that can't be reached stops the service at start, saying which and why.

Rasa on its own would retry the SQL store for ever, or fall back to memory
(losing conversations), or run without an event broker (losing demand).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.production.stack import PROFILE
from tests.support import services
from tests.support.processes import ROOT, latest_model

pytestmark = pytest.mark.production

RASA = str(Path(sys.executable).parent / "rasa")


def start_rasa(tmp_path: Path, endpoints: Path, **env: str) -> tuple[int, str]:
    """Run a Rasa replica of the production profile until it stops by itself (or 240 s); exit code and log."""
    base = {
        "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONWARNINGS": "ignore", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "ACTION_ENDPOINT_URL": "http://127.0.0.1:1/webhook", "ACTION_SERVER_TOKEN": "t",
        "TRACKER_DB_URL": services.ensure_postgres() + "/postgres",
        "REDIS_URL": services.ensure_redis() + "/3", "REDIS_KEY_PREFIX": "startup",
        "RABBITMQ_HOST": "127.0.0.1", "RABBITMQ_PORT": str(services.RABBITMQ_PORT), "RABBITMQ_USER": "guest",
        "RABBITMQ_PASSWORD": "guest", "RABBITMQ_EXCHANGE": "council-startup",
        "RABBITMQ_QUEUE": "council-startup",
        "BROKER_SPOOL": str(tmp_path / "spool.db"), "REQUIRE_DURABLE_STORES": "true",
    }  # fmt: skip
    services.ensure_rabbitmq()
    port = services.free_port()
    process = subprocess.run(
        [RASA, "run", "--enable-api", "--auth-token", "t", "--interface", "127.0.0.1", "--port", str(port),
         "--endpoints", str(endpoints), "--credentials", str(PROFILE / "credentials.yml"),
         "--model", latest_model()],
        cwd=ROOT, env={**os.environ, **base, **env}, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    return process.returncode, process.stdout + process.stderr


DEAD = f"127.0.0.1:{services.free_port()}"


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        ({"TRACKER_DB_URL": f"postgresql://postgres@{DEAD}/council"}, "The tracker store (postgresql://"),
        ({"REDIS_URL": f"redis://{DEAD}/0"}, "The lock store (Redis at"),
        ({"RABBITMQ_PORT": DEAD.split(":")[1]}, "The event broker (RabbitMQ at"),
    ],
    ids=["postgresql", "redis", "rabbitmq"],
)
def test_a_store_that_cannot_be_reached_stops_the_replica_with_a_clear_error(
    tmp_path: Path, broken: dict[str, str], says: str
) -> None:
    code, log = start_rasa(tmp_path, PROFILE / "endpoints.yml", **broken)
    assert code != 0
    assert says in log and "can't be reached" in log
    assert "Rasa server is up and running" not in log


def test_a_store_rasa_would_silently_replace_with_memory_stops_the_replica(tmp_path: Path) -> None:
    """A tracker store class that fails to import: Rasa uses memory with a warning; we stop."""
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        (PROFILE / "endpoints.yml")
        .read_text()
        .replace("type: bot.tracker_store.StrictSQLTrackerStore", "type: bot.tracker_store.NoSuchStore")
    )
    code, log = start_rasa(tmp_path, endpoints)
    assert code == 78
    assert "refusing to run without durable stores: the tracker store is in memory" in log


def test_the_action_server_refuses_to_start_without_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ACTION_SERVER_TOKEN"}
    process = subprocess.run(
        [sys.executable, "-m", "actions.server"], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert process.returncode == 2 and "ACTION_SERVER_TOKEN" in process.stderr
