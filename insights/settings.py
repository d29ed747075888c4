"""Every setting of demand capture and the reports app, read from the environment in one place.

| variable | default | what |
|---|---|---|
| ``DEMAND_STORE_URL`` | ``sqlite:///var/demand.db`` | the demand store (SQLite or PostgreSQL URL) |
| ``RASA_EVENTS_DB`` | ``var/events.db`` | Rasa's SQL event broker table (a SQLite path or a URL) |
| ``RASA_TRACKER_DB`` | ``var/tracker.db`` | Rasa's SQL tracker store (SQLite path or URL), for retention |
| ``DEMAND_HASH_KEY`` | random, kept in ``DEMAND_HASH_KEY_FILE`` | the key of the residents' keyed hash |
| ``DEMAND_HASH_KEY_FILE`` | ``var/demand-hash.key`` | where the generated key lives when none is set |
| ``DEMAND_RETENTION_DAYS`` | ``30`` | after this, demand text and tracker conversations are deleted |
| ``DEMAND_SESSION_MINUTES`` | ``60`` | a conversation idle this long is finished (Rasa's session expiry) |
| ``DEMAND_OFFICE_HOURS`` | ``Mon-Fri 08:30-17:00`` | the contact centre's hours, for the heat map |
| ``REPORTS_TOKEN`` | none | bearer token for the JSON API (unset: no token accepted) |
| ``REPORTS_USER`` / ``REPORTS_PASSWORD`` | none | the dashboard login (unset: no login possible) |
| ``REPORTS_SESSION_SECRET`` | random per process | signs the login cookie |
| ``REPORTS_COOKIE_SECURE`` | ``false`` | send the login cookie over HTTPS only |
| ``REPORTS_MAX_DAYS`` | ``732`` | the longest date range a report accepts |
| ``REPORTS_ASSETS_DIR`` | ``node_modules/govuk-frontend/dist/govuk/assets`` | GOV.UK Frontend's images |
| ``REPORTS_CSS`` | ``var/build/reports.css`` | the stylesheet compiled by ``make setup`` |
| ``DEMAND_INGEST_SECONDS`` | ``60`` | the reports app ingests Rasa's events this often (0: never) |
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from integrations.office_hours import OfficeHours

ROOT = Path(__file__).resolve().parents[1]


def database_url(value: str) -> str:
    """A URL as given, or ``sqlite:///<path>`` for a bare path (Rasa's ``db:`` for SQLite)."""
    return value if "://" in value else f"sqlite:///{value}"


@dataclass(frozen=True)
class Settings:
    store_url: str = "sqlite:///var/demand.db"
    events_url: str = "sqlite:///var/events.db"
    tracker_url: str = "sqlite:///var/tracker.db"
    hash_key: bytes = field(default=b"", repr=False)
    retention_days: int = 30
    session_minutes: int = 60
    office_hours: OfficeHours = field(default_factory=OfficeHours)
    token: str = field(default="", repr=False)
    user: str = ""
    password: str = field(default="", repr=False)
    session_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    cookie_secure: bool = False
    max_days: int = 732
    assets_dir: Path = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk" / "assets"
    css_path: Path = ROOT / "var" / "build" / "reports.css"
    #: How often the reports app ingests events (and applies retention daily); 0 leaves it to the CLI.
    ingest_seconds: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        secret = env.get("REPORTS_SESSION_SECRET", "")
        return cls(
            store_url=database_url(env.get("DEMAND_STORE_URL", "var/demand.db")),
            events_url=database_url(env.get("RASA_EVENTS_DB", "var/events.db")),
            tracker_url=database_url(env.get("RASA_TRACKER_DB", "var/tracker.db")),
            hash_key=hash_key(env),
            retention_days=_int(env, "DEMAND_RETENTION_DAYS", 30, minimum=1),
            session_minutes=_int(env, "DEMAND_SESSION_MINUTES", 60, minimum=1),
            office_hours=OfficeHours.parse(env.get("DEMAND_OFFICE_HOURS", "Mon-Fri 08:30-17:00")),
            token=env.get("REPORTS_TOKEN", ""),
            user=env.get("REPORTS_USER", ""),
            password=env.get("REPORTS_PASSWORD", ""),
            session_secret=secret.encode() if secret else secrets.token_bytes(32),
            cookie_secure=env.get("REPORTS_COOKIE_SECURE", "false").lower() in ("1", "true", "yes"),
            max_days=_int(env, "REPORTS_MAX_DAYS", 732, minimum=1),
            assets_dir=Path(env.get("REPORTS_ASSETS_DIR", str(cls.assets_dir))),
            css_path=Path(env.get("REPORTS_CSS", str(cls.css_path))),
            ingest_seconds=_int(env, "DEMAND_INGEST_SECONDS", 60, minimum=0),
        )


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "")
    try:
        value = int(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


def hash_key(env: Mapping[str, str]) -> bytes:
    """``DEMAND_HASH_KEY``, or a random key generated once and kept (readable by us only) in a file.

    The key must stay secret and stable: with it, anyone could test phone
    numbers against the stored ids; without stability, repeat contact breaks.
    """
    if env.get("DEMAND_HASH_KEY"):
        return env["DEMAND_HASH_KEY"].encode()
    path = Path(env.get("DEMAND_HASH_KEY_FILE", "var/demand-hash.key"))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
