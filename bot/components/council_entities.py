"""Rasa component: entities found by the project's spaCy rules, with normal values.

Runs after the learned extractor (DIET) and owns the rule entities
(postcode, references, card numbers, email, phone, date, time): DIET's
guesses of those are discarded in favour of the checked rule matches, whose
``value`` is the normal form actions use (``SN15 1ER``, ``2026-12-14``,
``18:00``).

It is also the backstop for ``bin_type`` in a missed-bin request:
the learned extractor sometimes misses "my recycling bin wasn't collected",
the message residents send most. The words for each bin are the synonyms of
the ``bin_type`` lookup table in ``data/nlu/synonyms.yml`` (one source).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

import bot.nlp.pipeline  # noqa: F401  registers the spaCy component the saved pipeline uses
from bot.nlp import dates
from bot.nlp.validate import RULE_ENTITIES

EXTRACTOR = "CouncilEntityExtractor"
SYNONYMS = Path(__file__).resolve().parents[2] / "data" / "nlu" / "synonyms.yml"
#: Where a bin named in the message is the bin the resident means (not in an answer such as
#: "12 Brown Street": the form's own question has buttons for the bins).
BIN_INTENTS = frozenset({"report_missed_bin"})


@functools.lru_cache(maxsize=1)
def bin_words() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(pattern, bin type) for every way of naming a bin, longest first."""
    items = yaml.safe_load(SYNONYMS.read_text(encoding="utf-8"))["nlu"]
    lookup = next(i for i in items if i.get("lookup") == "bin_type")
    kinds = {w.strip("- ").strip().lower() for w in lookup["examples"].splitlines() if w.strip()}
    words: dict[str, str] = {}
    for item in items:
        value = str(item.get("synonym", ""))
        if value.lower() in kinds:
            words[value.lower()] = value
            for line in item["examples"].splitlines():
                if line.strip():
                    words[line.strip("- ").strip().lower()] = value
    return tuple(
        (re.compile(rf"\b{re.escape(word)}\b"), value)
        for word, value in sorted(words.items(), key=lambda w: -len(w[0]))
    )


def bin_type_in(text: str) -> dict[str, Any] | None:
    """The first bin the text names, as a ``bin_type`` entity with its normal value."""
    lowered = text.lower()
    found = [(m.start(), m.end(), value) for pattern, value in bin_words() if (m := pattern.search(lowered))]
    if not found:
        return None
    start, end, value = min(found, key=lambda f: (f[0], -f[1]))
    return {
        "entity": "bin_type",
        "start": start,
        "end": end,
        "value": value,
        "confidence_entity": 1.0,
        "extractor": EXTRACTOR,
    }


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False, model_from="SpacyNLP"
)
class CouncilEntityExtractor(GraphComponent, EntityExtractorMixin):
    @classmethod
    def required_components(cls) -> list[type]:
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    @staticmethod
    def required_packages() -> list[str]:
        return ["spacy", "dateparser"]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CouncilEntityExtractor:
        dates.warm_up()
        return cls()

    def process(self, messages: list[Message], model: SpacyModel) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None or len(doc.text) != len(text):
                doc = model.model(text)  # offsets must match the original text
            found = [entity for span in doc.ents if (entity := self._entity(span, text)) is not None]
            learned = [
                e
                for e in message.get(ENTITIES, [])
                if e.get("entity") not in RULE_ENTITIES and not any(_overlaps(e, f) for f in found)
            ]
            intent = (message.get("intent") or {}).get("name")
            if intent in BIN_INTENTS and not any(e.get("entity") == "bin_type" for e in learned):
                named = bin_type_in(text)
                if named is not None and not any(_overlaps(named, f) for f in found):
                    found.append(named)
            message.set(ENTITIES, learned + found, add_to_output=True)
        return messages

    @staticmethod
    def _entity(span: Any, text: str) -> dict[str, Any] | None:
        label = span.label_
        surface = text[span.start_char : span.end_char]
        if label == "date":
            value = dates.resolve_date(surface)
        elif label == "time":
            value = dates.resolve_time(surface)
        else:
            value = span._.value
        if value is None:
            return None
        return {
            "entity": label,
            "start": span.start_char,
            "end": span.end_char,
            "value": value,
            "confidence_entity": 1.0,
            "extractor": EXTRACTOR,
        }


def _overlaps(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("start", 0) < b["end"] and b["start"] < a.get("end", 0)
