"""The demand map (``data/demand_map.yml``): intent -> service, category, value or failure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "demand_map.yml"
DEMAND_KINDS = {"value", "failure", "marker", "none"}


@dataclass(frozen=True)
class IntentInfo:
    intent: str
    service: str
    category: str
    demand: str
    title: str
    page: str | None


@dataclass(frozen=True)
class Topic:
    key: str
    name: str
    words: tuple[str, ...]
    page: str


@dataclass(frozen=True)
class DemandMap:
    intents: dict[str, IntentInfo]
    topics: tuple[Topic, ...]
    not_council_words: tuple[str, ...]

    def info(self, intent: str | None) -> IntentInfo:
        return self.intents.get(intent or "nlu_fallback") or self.intents["nlu_fallback"]

    def is_service_intent(self, intent: str) -> bool:
        info = self.intents.get(intent)
        return info is not None and info.demand in ("value", "failure", "marker")

    def unsupported_topic(self, text: str) -> Topic | None:
        """The council matter a message is about, if it is one we can name."""
        lowered = " " + re.sub(r"[^a-z0-9' -]+", " ", text.lower()) + " "
        if any(_has(lowered, w) for w in self.not_council_words):
            return None
        for topic in self.topics:
            if any(_has(lowered, w) for w in topic.words):
                return topic
        return None


def _has(text: str, phrase: str) -> bool:
    return re.search(r"(?<![a-z])" + re.escape(phrase) + r"s?(?![a-z])", text) is not None


@lru_cache(maxsize=4)
def load(path: Path | str = DEFAULT_PATH) -> DemandMap:
    raw = yaml.safe_load(Path(path).read_text())
    intents = {
        name: IntentInfo(
            intent=name,
            service=entry["service"],
            category=entry["category"],
            demand=entry["demand"],
            title=entry["title"],
            page=entry.get("page"),
        )
        for name, entry in raw["intents"].items()
    }
    topics = tuple(
        Topic(key=key, name=entry["name"], words=tuple(entry["words"]), page=entry["page"])
        for key, entry in raw.get("unsupported_topics", {}).items()
    )
    return DemandMap(intents, topics, tuple(raw.get("not_council_words", ())))
