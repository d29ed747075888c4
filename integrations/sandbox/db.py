"""SQLite state for the sandbox: one file, one connection per request."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


class Database:
    def __init__(self, path: str) -> None:
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Serialises writers inside this process; SQLite's own lock covers others.
        self.write_lock = threading.RLock()

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=15, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def session(self) -> Iterator[sqlite3.Connection]:
        """A connection for one request: committed on success, rolled back on error."""
        conn = self.connect()
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def tables(self) -> list[str]:
        conn = self.connect()
        try:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        finally:
            conn.close()
        return [r[0] for r in rows]


def fetch_one(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any], *, missing: Exception
) -> sqlite3.Row:
    """The first row ``sql`` selects, or raise ``missing`` (the system's own "not found" answer)."""
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise missing
    return row
