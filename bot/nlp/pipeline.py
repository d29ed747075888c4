"""The project's own spaCy pipeline, built reproducibly from ``spacy.blank("en")``.

    tokenizer -> lemmatizer (lookup tables from spacy-lookups-data)
              -> entity_ruler (bot.nlp.patterns) -> council_entity_checks

Rasa loads the saved pipeline through ``SpacyNLP`` (``model: bot/nlp/council_en``);
demand capture uses the same pipeline to redact personal data.

    python -m bot.nlp.pipeline [OUTPUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from bot.nlp import validate
from bot.nlp.patterns import all_patterns

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "council_en"
PIPELINE_NAME = "council_en"
PIPELINE_VERSION = "1.0.0"

if not Span.has_extension("value"):
    Span.set_extension("value", default=None)


@Language.component("council_entity_checks")
def council_entity_checks(doc: Doc) -> Doc:
    """Drop rule matches that cannot be real, and give the rest their normal form."""
    kept: list[Span] = []
    for span in doc.ents:
        label = span.label_
        if label in validate.VALIDATORS:
            value = validate.VALIDATORS[label](span.text)
            if value is None:
                continue
            span._.value = value
        elif label == "time" and span.ent_id_ == "after_at":
            # A bare hour is a time only after a cue: "at 6", not "2 bins".
            previous = doc[span.start - 1].lower_ if span.start > 0 else ""
            if previous not in validate.TIME_CUES or _followed_by_count_noun(doc, span):
                continue
        kept.append(span)
    doc.ents = kept
    return doc


def _followed_by_count_noun(doc: Doc, span: Span) -> bool:
    """ "for 2 people", "for 3 bins": a number of things, not a time."""
    if span.end >= len(doc):
        return doc[span.start - 1].lower_ == "for"
    following = doc[span.end].lower_
    if doc[span.start - 1].lower_ == "for":
        return True
    return following in {"people", "persons", "adults", "kids", "children", "bins", "bin", "of", "x"}


def build() -> Language:
    nlp = spacy.blank("en")
    nlp.meta.update(
        {
            "name": PIPELINE_NAME,
            "version": PIPELINE_VERSION,
            "description": "Council Assistant rules: UK postcodes, references, contacts, dates",
        }
    )
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    ruler = nlp.add_pipe("entity_ruler", config={"validate": True, "overwrite_ents": True})
    nlp.add_pipe("council_entity_checks")
    nlp.initialize()  # loads the lemma lookup tables from spacy-lookups-data
    ruler.add_patterns(all_patterns())  # after initialize, which would clear them
    return nlp


def load(path: Path | str = DEFAULT_OUTPUT) -> Language:
    return spacy.load(path)


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else DEFAULT_OUTPUT
    nlp = build()
    nlp.to_disk(output)
    print(f"spaCy pipeline {PIPELINE_NAME} {PIPELINE_VERSION} -> {output} ({', '.join(nlp.pipe_names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
