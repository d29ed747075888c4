"""The production profile as its Procfile runs it, on free ports, for tests and the load test.

Each process is started from its line in ``bot/profiles/production/Procfile``
(so the tests run what ``make run-production`` runs), with the environment a
host would give it, and stopped by its own process group. PostgreSQL, Redis
and RabbitMQ are the machine's, or private ones a fault test can break
(``tests.support.services``); each run gets its own databases, Redis key
prefix, RabbitMQ exchange and queue, and spool directory.
"""

from __future__ import annotations

import concurrent.futures
import os
import shlex
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from tests.support import services
from tests.support.processes import ROOT, Service, latest_model, start_service

PROFILE = ROOT / "bot" / "profiles" / "production"
PROCFILE = PROFILE / "Procfile"
#: Health check of each process: (port variable, path).
HEALTH = {
    "sandbox": ("SANDBOX_PORT", "/health"),
    "actions1": ("ACTION_PORT_1", "/health"),
    "actions2": ("ACTION_PORT_2", "/health"),
    "rasa1": ("RASA_PORT_1", "/"),
    "rasa2": ("RASA_PORT_2", "/"),
    "reports": ("REPORTS_PORT", "/health"),
    "lb": ("PUBLIC_PORT", "/webhooks/rest/"),
}


#: What the tests run (the reports app and the outbox worker are started by the tests that need them).
CORE = ("sandbox", "actions1", "actions2", "rasa1", "rasa2", "lb", "demand")


STARTUP_WAVES = (
    ("sandbox", "actions1", "actions2", "reports"),
    ("rasa1", "rasa2"),
    ("lb", "demand", "outbox"),
)


def procfile() -> dict[str, str]:
    lines = [line for line in PROCFILE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {name.strip(): command.strip() for name, _, command in (line.partition(":") for line in lines)}


@dataclass
class Backends:
    """Where the stack's PostgreSQL, Redis and RabbitMQ are."""

    pg_server: str
    redis_url: str
    rabbitmq_port: int
    rabbitmq_admin_url: str = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass
class ProductionStack:
    backends: Backends
    workdir: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    services: dict[str, Service] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tracker_db = f"council_tracker_{self.run_id}"
        self.app_db = f"council_app_{self.run_id}"
        ports = {name: str(services.free_port()) for name in (
            "PUBLIC_PORT", "ACTION_LB_PORT", "RASA_PORT_1", "RASA_PORT_2", "ACTION_PORT_1", "ACTION_PORT_2",
            "REPORTS_PORT", "SANDBOX_PORT",
        )}  # fmt: skip
        self.rasa_token = "rasa-" + uuid.uuid4().hex
        self.action_token = "act-" + uuid.uuid4().hex
        b = self.backends
        app_url = f"{b.pg_server}/{self.app_db}"
        self.queue = f"council-test-{self.run_id}"
        self.env = {
            **ports,
            "PUBLIC_BIND": "127.0.0.1",
            "PROFILE_DIR": str(PROFILE),
            "RASA_TOKEN": self.rasa_token,
            "ACTION_SERVER_TOKEN": self.action_token,
            "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{ports['ACTION_LB_PORT']}/webhook",
            "TRACKER_DB_URL": f"{b.pg_server}/{self.tracker_db}",
            "REDIS_URL": b.redis_url,
            "REDIS_KEY_PREFIX": f"test{self.run_id}",
            "RABBITMQ_HOST": "127.0.0.1",
            "RABBITMQ_PORT": str(b.rabbitmq_port),
            "RABBITMQ_USER": "guest",
            "RABBITMQ_PASSWORD": "guest",
            "RABBITMQ_EXCHANGE": self.queue,
            "RABBITMQ_QUEUE": self.queue,
            "RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{b.rabbitmq_port}/",
            "DEMAND_EVENTS_URL": app_url,
            "RASA_EVENTS_DB": app_url,
            "DEMAND_STORE_URL": app_url,
            "OUTBOX_DB_URL": app_url,
            "CHANNEL_DB_URL": app_url,
            "SPOOL_DIR": str(self.workdir),
            "SANDBOX_URL": f"http://127.0.0.1:{ports['SANDBOX_PORT']}",
            "SANDBOX_DB": str(self.workdir / "sandbox.db"),
            "RASA_MODEL": latest_model(),
            "INPUT_MAX_BODY_BYTES": "16384",
            "SANIC_REQUEST_MAX_SIZE": "1048576",
            "REQUIRE_DURABLE_STORES": "true",
            "TF_INTRA_OP_PARALLELISM_THREADS": "1",
            "TF_INTER_OP_PARALLELISM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "REPORTS_USER": "designer",
            "REPORTS_PASSWORD": "pw-" + uuid.uuid4().hex,
            "REPORTS_TOKEN": "rep-" + uuid.uuid4().hex,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "RASA_TELEMETRY_ENABLED": "false",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONWARNINGS": "ignore",
            "LOG_LEVEL": "WARNING",
        }

    # --- lifecycle ----------------------------------------------------------------

    def create_databases(self) -> None:
        """Fresh databases, their tables made once as ``make run-production`` makes them."""
        from bot.profiles.production.run import prepare_databases

        services.create_database(self.tracker_db, self.backends.pg_server)
        services.create_database(self.app_db, self.backends.pg_server)
        prepare_databases(self.env)

    def start(self, names: tuple[str, ...] = CORE) -> None:
        self.create_databases()
        commands = procfile()
        # In waves, each wave's processes side by side (the two replicas load their models together).
        waves = [[n for n in names if n in wave] for wave in STARTUP_WAVES]
        waves.append([n for n in names if not any(n in wave for wave in STARTUP_WAVES)])
        try:
            for wave in filter(None, waves):
                with concurrent.futures.ThreadPoolExecutor(len(wave)) as pool:
                    futures = [pool.submit(self.start_one, name, commands[name]) for name in wave]
                    for future in futures:
                        future.result()
        except BaseException:
            self.stop()
            raise

    def start_one(self, name: str, command: str | None = None, timeout: float = 300) -> Service:
        command = command or procfile()[name]
        port_var, path = HEALTH.get(name, (None, None))
        if port_var is None:  # no HTTP: started, checked to be alive
            service = _start_plain(name, command, self.env, self.workdir)
        else:
            service = start_service(
                name, ["/bin/sh", "-c", command], port=int(self.env[port_var]), health_path=path or "/",
                env=self.env, log_dir=self.workdir, timeout=timeout,
            )  # fmt: skip
        self.services[name] = service
        return service

    def stop_one(self, name: str) -> None:
        service = self.services.pop(name, None)
        if service is not None:
            service.stop()

    def stop(self) -> None:
        for name in reversed(list(self.services)):
            self.stop_one(name)

    def drop(self) -> None:
        services.drop_database(self.tracker_db, self.backends.pg_server)
        services.drop_database(self.app_db, self.backends.pg_server)

    # --- talking to it -----------------------------------------------------------

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.env['PUBLIC_PORT']}"

    def replica_url(self, n: int) -> str:
        return f"http://127.0.0.1:{self.env[f'RASA_PORT_{n}']}"

    @property
    def sandbox_url(self) -> str:
        return self.env["SANDBOX_URL"]

    def say(self, sender: str, text: str, *, url: str | None = None, timeout: float = 60) -> httpx.Response:
        return httpx.post(
            (url or self.public_url) + "/webhooks/rest/webhook",
            json={"sender": sender, "message": text}, timeout=timeout,
        )  # fmt: skip

    def tracker_events(self, sender: str) -> list[dict[str, Any]]:
        """Every event of a conversation as stored in PostgreSQL, in order."""
        engine = sa.create_engine(self.env["TRACKER_DB_URL"])
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
                ).all()
        finally:
            engine.dispose()
        import json

        return [json.loads(r.data) for r in rows]

    def query(self, url_var: str, sql: str, **params: Any) -> list[Any]:
        engine = sa.create_engine(self.env[url_var])
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(sql), params))
        finally:
            engine.dispose()

    def sandbox_rows(self, table: str) -> list[dict[str, Any]]:
        response = httpx.get(self.sandbox_url + f"/_admin/state/{table}", timeout=30)
        response.raise_for_status()
        return response.json()

    def fault(self, **fault: Any) -> None:
        httpx.post(self.sandbox_url + "/_admin/faults", json=fault, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        httpx.delete(self.sandbox_url + "/_admin/faults", timeout=5).raise_for_status()

    def wait_for_lb(self, timeout: float = 30) -> None:
        """Until the load balancer has seen both replicas and both action servers healthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.public_url + "/webhooks/rest/", timeout=2).status_code == 200:
                    time.sleep(2.5)  # HAProxy's "rise 2" at 1-2 s intervals
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the load balancer did not pass traffic")


@dataclass
class PrivateBackends:
    """PostgreSQL, Redis and a RabbitMQ proxy of the caller's own, which it may break at will."""

    pg: services.PrivatePostgres
    redis: services.PrivateRedis
    rabbitmq: services.FaultProxy

    @classmethod
    def start(cls) -> PrivateBackends:
        services.ensure_rabbitmq()
        services.ensure_haproxy()
        pg, redis = services.PrivatePostgres(), services.PrivateRedis()
        proxy = services.FaultProxy(services.RABBITMQ_PORT)
        try:
            pg.init()
            pg.start()
            redis.start()
            proxy.start()
        except BaseException:
            redis.stop()
            pg.remove()
            raise
        return cls(pg, redis, proxy)

    def as_backends(self) -> Backends:
        return Backends(
            pg_server=self.pg.server, redis_url=self.redis.url + "/0", rabbitmq_port=self.rabbitmq.port
        )

    def stop(self) -> None:
        self.rabbitmq.stop()
        self.redis.stop()
        self.pg.remove()


def _start_plain(name: str, command: str, env: dict[str, str], log_dir: Path) -> Service:
    import subprocess

    log_path = log_dir / f"{name}.log"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    time.sleep(1.0)
    service = Service(name=name, url="", process=process, log_path=log_path, env=full_env)
    if process.poll() is not None:
        raise RuntimeError(f"{name} exited with {process.returncode}:\n{service.log()}")
    return service


def shell_quote(env: dict[str, str]) -> str:
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(env.items()))
