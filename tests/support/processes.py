"""Start and stop the project's real processes for tests, by their own pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the process group we started (the service and any children).

        The group, not just the process we started: a ``sh -c`` line exits at SIGTERM at once
        while its child may still be shutting down, so we wait for the whole group to be gone
        and kill what is left after 15 s.
        """
        group = self.process.pid
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _group_alive(group):
            self.process.poll()  # reap our own child so it doesn't count as alive
            time.sleep(0.1)
        if _group_alive(group):
            os.killpg(group, signal.SIGKILL)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def start_service(
    name: str,
    args: list[str],
    *,
    port: int,
    health_path: str,
    env: dict[str, str] | None = None,
    log_dir: Path,
    timeout: float = 60.0,
) -> Service:
    """Start ``args`` from the repo root in its own process group and wait until healthy."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    log = open(log_path, "wb")
    process = subprocess.Popen(
        args, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    service = Service(name=name, url=url, process=process, log_path=log_path, env=full_env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{service.log()}")
        try:
            if httpx.get(url + health_path, timeout=1.0).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    service.stop()
    raise RuntimeError(f"{name} did not become healthy in {timeout:.0f} s:\n{service.log()}")


def python() -> str:
    return sys.executable


def latest_model(chosen: str | Path | None = None) -> str:
    """A trained model: ``chosen`` (else ``RASA_MODEL``) if it is a file, else the newest model in
    that folder (default ``models/``)."""
    chosen = chosen or os.environ.get("RASA_MODEL")
    if chosen and Path(chosen).is_file():
        return str(chosen)
    folder = Path(chosen) if chosen else ROOT / "models"
    models = sorted(folder.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise RuntimeError(f"no trained model in {folder}: run `make train`")
    return str(models[-1])
