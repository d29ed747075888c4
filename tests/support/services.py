"""The servers the production profile needs, for tests: found running, or started.

- ``ensure_postgres`` / ``ensure_redis`` / ``ensure_rabbitmq``: the machine's
  own servers on their usual ports, started with the commands in
  DEVELOPERS.md if they are down (and left running: other work uses them).
- ``create_database`` / ``drop_database``: a database per test run on the
  machine's PostgreSQL.
- ``PrivateRedis`` and ``PrivatePostgres``: servers of the test's own, on
  free ports, that a fault test may stop and restart without touching anyone
  else's; each is stopped by its own pid (or its own data directory).
- ``FaultProxy``: a TCP proxy a test can cut, to make a server unreachable
  (RabbitMQ down) without stopping the shared one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

PG_PORT = 5432
REDIS_PORT = 6379
RABBITMQ_PORT = 5672
PG_BIN = Path("/usr/lib/postgresql")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(check, what: str, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up in {timeout:.0f} s")


def ensure_postgres() -> str:
    """The machine's PostgreSQL (trust auth, user postgres); its URL prefix."""
    if not port_open(PG_PORT):
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True, timeout=60
        )
        _wait_for(lambda: port_open(PG_PORT), "PostgreSQL", 30)
    return f"postgresql://postgres@127.0.0.1:{PG_PORT}"


def ensure_redis() -> str:
    if not port_open(REDIS_PORT):
        subprocess.run(
            ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(REDIS_PORT),
             "--save", "", "--appendonly", "no"],
            check=True, timeout=30,
        )  # fmt: skip
        _wait_for(lambda: port_open(REDIS_PORT), "Redis", 30)
    return f"redis://127.0.0.1:{REDIS_PORT}"


def ensure_rabbitmq() -> str:
    if not port_open(RABBITMQ_PORT):
        subprocess.run(["rabbitmq-server", "-detached"], check=True, timeout=60)
        _wait_for(lambda: port_open(RABBITMQ_PORT), "RabbitMQ", 90)
    return f"amqp://guest:guest@127.0.0.1:{RABBITMQ_PORT}/"


def ensure_haproxy() -> str:
    path = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(path).exists():
        raise RuntimeError("haproxy is not installed: run `make lb`")
    return path


def create_database(name: str, server: str | None = None) -> str:
    """A fresh database ``name`` (dropped first if it exists); its URL."""
    import psycopg2

    server = server or ensure_postgres()
    conn = psycopg2.connect(server + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return f"{server}/{name}"


def drop_database(name: str, server: str | None = None) -> None:
    import psycopg2

    server = server or f"postgresql://postgres@127.0.0.1:{PG_PORT}"
    with contextlib.suppress(psycopg2.Error):
        conn = psycopg2.connect(server + "/postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


class PrivateRedis:
    """A redis-server of the test's own; ``stop``/``start`` simulate Redis going down and back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        _wait_for(lambda: port_open(self.port), "private Redis", 20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (run as the postgres user), restartable at will."""

    def __init__(self) -> None:
        version = sorted(os.listdir(PG_BIN))[-1]
        self.bin = PG_BIN / version / "bin"
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="council-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = self.dir / "data"
        self.server = f"postgresql://postgres@127.0.0.1:{self.port}"

    def _as_postgres(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], check=True, timeout=timeout,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def init(self) -> None:
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        pg_ctl, log = str(self.bin / "pg_ctl"), str(self.dir / "log")
        self._as_postgres(pg_ctl, "-D", str(self.data), "-o", self._options(), "-l", log, "-w", "start")

    def _options(self) -> str:
        return f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "restart",
            "-o", self._options(),
        )  # fmt: skip

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class FaultProxy:
    """A TCP proxy on a free port to ``target``; ``cut()`` drops every connection and refuses new ones."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._up = True
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        def close_all() -> None:
            self._up = False
            for writer in list(self._writers):
                transport = writer.transport
                transport.abort()
            self._writers.clear()

        self._loop.call_soon_threadsafe(close_all)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(lambda: setattr(self, "_up", True))

    def stop(self) -> None:
        self.cut()

        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
