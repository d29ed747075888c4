"""Start the production profile with honcho: ``make run-production``.

1. Non-secret defaults from ``defaults.env`` (the environment wins).
2. Every secret must come from the environment (``REQUIRED``); with ``--local`` the missing ones
   are made up for this machine (random tokens, the local servers' default accounts) and said so.
3. Start-up checks: PostgreSQL (both databases, created with ``--local``), Redis and RabbitMQ are
   reachable, or it stops here naming the one that is not. Each Rasa replica checks again itself.
4. Every table created once (``prepare_databases``): replicas starting together would race.
5. ``honcho start`` on ``bot/profiles/production/Procfile``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

PROFILE = Path(__file__).resolve().parent
ROOT = PROFILE.parents[2]
#: Secrets and addresses a host must give; nothing here has a usable default.
REQUIRED = (
    "RASA_TOKEN", "ACTION_SERVER_TOKEN", "TRACKER_DB_URL", "DEMAND_DB_URL", "REDIS_URL",
    "RABBITMQ_USER", "RABBITMQ_PASSWORD", "DEMAND_HASH_KEY", "REPORTS_USER", "REPORTS_PASSWORD",
    "REPORTS_SESSION_SECRET", "CHANNEL_ID_KEY",
)  # fmt: skip
DEV_VALUES = {"local-dev-token", "changeme", "secret", "password"}


def load_defaults(env: dict[str, str]) -> None:
    for line in (PROFILE / "defaults.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env.setdefault(key.strip(), value.strip())


def fill_local(env: dict[str, str]) -> list[str]:
    """Values for this machine only: never for a council's host."""
    made = {
        "RASA_TOKEN": secrets.token_urlsafe(24), "ACTION_SERVER_TOKEN": secrets.token_urlsafe(24),
        "TRACKER_DB_URL": "postgresql://postgres@127.0.0.1:5432/council_tracker",
        "DEMAND_DB_URL": "postgresql://postgres@127.0.0.1:5432/council",
        "REDIS_URL": "redis://127.0.0.1:6379/1", "RABBITMQ_USER": "guest", "RABBITMQ_PASSWORD": "guest",
        "DEMAND_HASH_KEY": secrets.token_hex(32), "REPORTS_USER": "designer",
        "REPORTS_PASSWORD": secrets.token_urlsafe(12), "REPORTS_SESSION_SECRET": secrets.token_hex(32),
        "CHANNEL_ID_KEY": secrets.token_hex(32),
    }  # fmt: skip
    filled = []
    for key, value in made.items():
        if not env.get(key) or (key == "RASA_TOKEN" and env[key] in DEV_VALUES):
            env[key] = value
            filled.append(key)
    return filled


def derive(env: dict[str, str]) -> None:
    """Settings that follow from others, each overridable."""
    demand = env["DEMAND_DB_URL"]
    for key in ("DEMAND_STORE_URL", "DEMAND_EVENTS_URL", "RASA_EVENTS_DB", "OUTBOX_DB_URL", "CHANNEL_DB_URL"):
        env.setdefault(key, demand)
    env.setdefault("RASA_TRACKER_DB", env["TRACKER_DB_URL"])  # for the retention job
    env.setdefault("ACTION_ENDPOINT_URL", f"http://127.0.0.1:{env['ACTION_LB_PORT']}/webhook")
    env.setdefault("RABBITMQ_URL", f"amqp://{env['RABBITMQ_USER']}:{env['RABBITMQ_PASSWORD']}@"
                   f"{env['RABBITMQ_HOST']}:{env['RABBITMQ_PORT']}/")  # fmt: skip
    env.setdefault("SANDBOX_URL", f"http://127.0.0.1:{env['SANDBOX_PORT']}")
    env.setdefault("PROFILE_DIR", str(PROFILE))
    env.setdefault("PYTHONPATH", str(ROOT))


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def check(env: dict[str, str], create_databases: bool) -> list[str]:
    problems = []
    for key in ("TRACKER_DB_URL", "DEMAND_DB_URL", "REDIS_URL"):
        url = urlsplit(env[key])
        if not reachable(url.hostname or "127.0.0.1", url.port or {"redis": 6379}.get(url.scheme, 5432)):
            problems.append(f"{key}: nothing answers at {url.hostname}:{url.port}")
    if not reachable(env["RABBITMQ_HOST"], int(env["RABBITMQ_PORT"])):
        problems.append(f"RabbitMQ: nothing answers at {env['RABBITMQ_HOST']}:{env['RABBITMQ_PORT']}")
    if not problems and create_databases:
        for key in ("TRACKER_DB_URL", "DEMAND_DB_URL"):
            ensure_database(env[key])
    if not shutil.which("haproxy"):
        problems.append("haproxy is not installed (make lb)")
    return problems


def ensure_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(parts._replace(path="/postgres").geturl())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def prepare_databases(env: dict[str, str]) -> None:
    """Create every table once, before the processes start: several replicas creating the same
    PostgreSQL tables at the same moment make all but one fail."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore

    from bot.broker import EventsTable
    from insights.store import DemandStore
    from integrations.channels.store import ChannelStore
    from integrations.outbox import Outbox

    engine = sa.create_engine(env["TRACKER_DB_URL"])
    SQLTrackerStore.Base.metadata.create_all(engine)
    engine.dispose()
    ChannelStore(env["CHANNEL_DB_URL"]).engine.dispose()
    Outbox(env["OUTBOX_DB_URL"]).engine.dispose()
    EventsTable(env["DEMAND_EVENTS_URL"]).engine.dispose()
    DemandStore(env["DEMAND_STORE_URL"]).create().engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Start the production profile")
    parser.add_argument("--local", action="store_true", help="make up missing secrets for this machine")
    args = parser.parse_args()
    env = dict(os.environ)
    load_defaults(env)
    filled = fill_local(env) if args.local else []
    missing = [key for key in REQUIRED if not env.get(key)]
    weak = [key for key in ("RASA_TOKEN", "ACTION_SERVER_TOKEN") if env.get(key) in DEV_VALUES]
    if missing or weak:
        print("error: the production profile needs these in the environment (README, Production profile):",
              file=sys.stderr)  # fmt: skip
        for key in missing:
            print(f"  {key} is not set", file=sys.stderr)
        for key in weak:
            print(f"  {key} is a development value", file=sys.stderr)
        print("  (on a developer's machine: make run-production LOCAL=1)", file=sys.stderr)
        sys.exit(2)
    derive(env)
    problems = check(env, create_databases=args.local)
    if problems:
        print("error: the production profile can't start:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        sys.exit(3)
    prepare_databases(env)
    if filled:
        print(f"--local: made up {', '.join(filled)} for this machine (reports login: "
              f"{env['REPORTS_USER']} / {env['REPORTS_PASSWORD']})")  # fmt: skip
    print(f"Council Assistant, production profile: public port {env['PUBLIC_BIND']}:{env['PUBLIC_PORT']} "
          f"(HAProxy); Rasa replicas on 127.0.0.1:{env['RASA_PORT_1']} and :{env['RASA_PORT_2']} "
          f"(API token in RASA_TOKEN)", flush=True)  # fmt: skip
    honcho = str(Path(sys.executable).parent / "honcho")
    os.chdir(ROOT)
    os.execve(honcho, [honcho, "start", "-f", str(PROFILE / "Procfile"), "-d", str(ROOT)], env)


if __name__ == "__main__":
    main()
