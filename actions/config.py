"""Action server settings, read from the environment in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class ActionSettings:
    council_name: str
    website: str
    phone: str

    @classmethod
    def from_env(cls) -> ActionSettings:
        return cls(
            council_name=os.environ.get("COUNCIL_NAME", "the council"),
            website=os.environ.get("COUNCIL_WEBSITE", "https://www.council.example").rstrip("/"),
            phone=os.environ.get("COUNCIL_PHONE", "0300 456 0100"),
        )

    def page(self, path: str | None) -> str:
        return self.website + (path or "/")


@lru_cache(maxsize=1)
def settings() -> ActionSettings:
    return ActionSettings.from_env()
