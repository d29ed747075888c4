"""Values as the back-office systems write them: ISO dates and times, money in pence.

Shared by the clients, so that every one reads a ``...Z`` time and shows ``£92.00`` the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def iso_datetime(value: Any) -> dt.datetime:
    """An ISO 8601 / W3C datetime (``2026-11-27T10:15:00+00:00`` or ``...Z``); ``ValueError`` if none."""
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def optional_datetime(value: Any) -> dt.datetime | None:
    """``iso_datetime``, or ``None`` for a missing or empty value."""
    return iso_datetime(value) if value else None


def optional_date(value: Any) -> dt.date | None:
    """An ISO date (``2026-11-27``), or ``None`` for a missing or empty value."""
    return dt.date.fromisoformat(value) if value else None


def pounds(pence: int) -> str:
    """``9200`` -> ``£92.00``."""
    return f"£{pence // 100:,}.{pence % 100:02d}"
