"""Personal data removed from what residents typed, before any of it is stored.

Two sources of spans, merged (the longest wins where they overlap):

* the project's spaCy pipeline (``bot.nlp``): postcodes, council tax account
  references, library card numbers, booking references, emails and phone
  numbers, found by the same patterns and checks the assistant uses. It runs
  only on texts with a digit or an ``@``, since every one of those formats
  has one.
* checks of our own on the raw text: names after cues ("my name is…", "Mrs…",
  "thanks, Sam"), National Insurance numbers, payment card numbers (Luhn),
  house numbers with street names and flats, full postcodes and UK phone
  numbers (a second net under the pipeline's), sort codes, vehicle
  registrations, dates of birth, special category words (health, religion,
  sexuality: unsolicited, never kept), and, last, any other run of six or
  more digits.

A full postcode keeps its outward code (``SN15 1ER`` -> ``[postcode SN15]``)
for the geography of demand. The redacted text's content lemmas (for the
themes report) are computed from the redacted text, so they never hold what
was removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from bot.nlp import validate
from bot.nlp.patterns import POSTCODE_AREAS

if TYPE_CHECKING:
    from spacy.language import Language

PLACEHOLDERS = {
    "name": "[name]",
    "email": "[email]",
    "phone_number": "[phone]",
    "account_reference": "[account reference]",
    "library_card_number": "[library card]",
    "booking_reference": "[reference]",
    "ni_number": "[NI number]",
    "card_number": "[card number]",
    "sort_code": "[sort code]",
    "address": "[address]",
    "vehicle": "[vehicle registration]",
    "date_of_birth": "[date of birth]",
    "special_category": "[personal detail]",
    "number": "[number]",
}
#: Anything we put in the text: skipped when lemmatising.
PLACEHOLDER_RE = re.compile(r"\[(?:postcode [A-Z0-9]+|[a-zA-Z ]+)\]")
PIPELINE_KINDS = {
    "postcode",
    "email",
    "phone_number",
    "account_reference",
    "library_card_number",
    "booking_reference",
}

_AREA = "(?:" + "|".join(sorted(POSTCODE_AREAS, key=len, reverse=True)) + ")"
_WORD = r"[A-Za-z][A-Za-z'\-]*"
_NAME = r"[A-Z][a-z'\-]+(?:[A-Z][a-z]+)?"  # Sam, O'Neil, McDonald
_STREET_TYPES = (
    "road|rd|street|st|avenue|ave|close|cl|lane|ln|drive|dr|way|crescent|cres|place|pl|gardens|gdns|court|ct|"
    "terrace|tce|grove|gr|hill|park|square|sq|walk|row|mews|rise|view|green|parade|vale|end|croft|meadow|"
    "meadows|fields|bank|wharf|yard|gate|mount|heights|boulevard|chase|approach|brow|side|orchard|way"
)
_DATE = (
    r"(?:\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?[A-Za-z]{3,9},?\s+\d{4}"
    r"|[A-Za-z]{3,9}\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})"
)
#: Words that are not names even when capitalised after "I'm" or "this is".
_NOT_NAMES = {
    "a",
    "an",
    "the",
    "not",
    "just",
    "still",
    "trying",
    "looking",
    "moving",
    "having",
    "wondering",
    "sorry",
    "afraid",
    "unable",
    "disabled",
    "elderly",
    "new",
    "here",
    "there",
    "back",
    "away",
    "off",
    "out",
    "in",
    "on",
    "at",
    "so",
    "very",
    "really",
    "currently",
    "now",
    "also",
    "from",
    "your",
    "my",
    "it",
    "that",
    "this",
    "calling",
    "writing",
    "messaging",
    "contacting",
    "asking",
    "going",
    "getting",
    "unhappy",
    "happy",
    "fed",
    "sick",
    "tired",
    "annoyed",
    "angry",
    "interested",
    "late",
    "due",
    "about",
    "owed",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "council",
    "bin",
    "bins",
    "hi",
    "hello",
    "please",
    "ok",
    "okay",
    "yes",
    "no",
}
_ADDRESS_STOP = (
    "on|in|at|the|a|an|to|by|of|for|and|or|is|was|are|my|your|our|their|from|near|outside|down|up|off|this|"
    "that|it|bin|bins|bag|bags|box|boxes|week|weeks|day|days|times|more|other|of"
)
_ADDRESS_WORD = rf"(?!(?:{_ADDRESS_STOP})\b){_WORD}"
_SPECIAL_CATEGORY = (
    "disabled|disability|wheelchair|cancer|chemo|chemotherapy|dementia|alzheimer'?s|depression|depressed|"
    "anxiety|pregnant|pregnancy|diabetes|diabetic|stroke|dialysis|hiv|aids|mental health|blind|deaf|autism|"
    "autistic|arthritis|parkinson'?s|epilepsy|epileptic|terminally ill|terminal illness|in hospital|"
    "hospitalised|hospitalized|my surgery|my operation|hip replacement|knee replacement|carer's allowance|"
    "muslim|christian|jewish|hindu|sikh|buddhist|mosque|synagogue|gurdwara|gay|lesbian|bisexual|transgender"
)
_RULES: list[tuple[str, re.Pattern[str], int]] = [
    # (kind, pattern, group holding the personal data)
    ("email", re.compile(r"[\w.+'\-]+@[\w\-]+(?:\.[\w\-]+)+"), 0),
    (
        "ni_number",
        re.compile(
            r"(?i)\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"
        ),
        0,
    ),
    ("card_number", re.compile(r"(?<![\d])\d(?:[ \-]?\d){12,18}(?![\d])"), 0),
    ("sort_code", re.compile(r"\b\d{2}-\d{2}-\d{2}\b"), 0),
    ("phone_number", re.compile(r"(?<![\w+])(?:\+44\s?(?:\(0\)\s?)?|0)\d(?:[ \-]?\d){8,9}(?!\d)"), 0),
    ("postcode", re.compile(rf"(?i)\b({_AREA}(?:\d[A-Z\d]?))\s*(\d[A-Z]{{2}})\b"), 0),
    ("vehicle", re.compile(r"(?i)\b[A-Z]{2}\d{2}\s?[A-Z]{3}\b"), 0),
    (
        "date_of_birth",
        re.compile(
            rf"(?i)\b(?:date of birth|d\.?o\.?b\.?|born on|born|birthday)\s*(?:is|was|:|-)?\s*({_DATE})"
        ),
        1,
    ),
    ("address", re.compile(r"(?i)\b(?:flat|apartment|apt|unit)\s*\d+[a-z]?\b"), 0),
    (
        "address",
        re.compile(
            rf"(?i)\b\d{{1,4}}[a-z]?,?\s+(?:the\s+(?:{_ADDRESS_WORD}\s+){{0,2}}|(?:{_ADDRESS_WORD}\s+){{1,3}})"
            rf"(?:{_STREET_TYPES})\b"
        ),
        0,
    ),
    (
        "name",
        re.compile(
            rf"(?i:\b(?:my name is|my name's|name is|i am called|i'm called|im called|call me|"
            rf"my full name is|first name is|surname is|last name is)\b)[\s:,\-]*"
            rf"((?:(?!(?:and|but|i|my|im|i'm|from|at|of|in|on|the|please|can|could|would)\b){_WORD}"
            rf"(?:\s+|$|(?=[,.!?]))){{1,3}})"
        ),
        1,
    ),
    (
        "name",
        re.compile(rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Sir|Dame|Rev)\.?\s+((?:{_NAME})(?:[ \-]{_NAME}){{0,2}})"),
        1,
    ),
    ("name", re.compile(rf"(?i:\b(?:this is|i am|i'm|im)\s+)({_NAME}(?:\s+{_NAME})?)(?=\s|[,.!?]|$)"), 1),
    (
        "name",
        re.compile(
            r"(?i:\bmy\s+(?:husband|wife|partner|son|daughter|mum|mother|dad|father|neighbour|neighbor|carer|"
            r"brother|sister|friend|grandson|granddaughter|nan|nana|grandma|grandmother|grandad|grandfather|"
            r"uncle|aunt|auntie|tenant|landlord|lodger)\s+(?:is\s+(?:called\s+)?)?)"
            rf"({_NAME}(?:\s+{_NAME})?)"
        ),
        1,
    ),
    (
        "name",
        re.compile(
            rf"(?i:\b(?:thanks|thank you|thankyou|cheers|regards|kind regards|many thanks|best wishes|ta|"
            rf"best|love|signed)[,!.]?\s+)({_NAME}(?:\s+{_NAME})?)\s*[.!]?\s*$"
        ),
        1,
    ),
    ("special_category", re.compile(rf"(?i)\b(?:{_SPECIAL_CATEGORY})\b"), 0),
]
_LONG_DIGITS = re.compile(r"(?<!\d)\d(?:[ \-]?\d){5,}(?!\d)")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str
    replacement: str


@dataclass(frozen=True)
class Redacted:
    text: str
    #: The kinds of personal data removed (no values), e.g. ``("email", "postcode")``.
    kinds: tuple[str, ...]
    #: Content lemmas of the redacted text, for grouping into themes.
    lemmas: str


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _replacement(kind: str, matched: str) -> str | None:
    """The placeholder for a candidate, or ``None`` when the candidate fails its check."""
    if kind == "postcode":
        value = validate.postcode(matched)
        return f"[postcode {value.split()[0]}]" if value else None
    if kind == "phone_number":
        return PLACEHOLDERS[kind] if validate.phone_number(matched) else None
    if kind == "card_number":
        return PLACEHOLDERS[kind] if luhn(validate.digits(matched)) else None
    if kind == "name":
        first = matched.split()[0].lower().strip(",.!?")
        return None if first in _NOT_NAMES else PLACEHOLDERS[kind]
    return PLACEHOLDERS[kind]


#: Kinds that always hold a digit (or, for email, an "@"): skipped for texts without one.
_NEEDS_DIGIT = frozenset(
    {
        "ni_number",
        "card_number",
        "sort_code",
        "phone_number",
        "postcode",
        "vehicle",
        "date_of_birth",
        "address",
    }
)


def rule_spans(text: str) -> list[Span]:
    """Candidates from our own checks on the raw text."""
    spans: list[Span] = []
    has_digit = any(ch.isdigit() for ch in text)
    for kind, pattern, group in _RULES:
        if (kind in _NEEDS_DIGIT and not has_digit) or (kind == "email" and "@" not in text):
            continue
        for match in pattern.finditer(text):
            start, end = match.span(group)
            matched = text[start:end].rstrip(" ,.!?")
            end = start + len(matched)
            if not matched:
                continue
            replacement = _replacement(kind, matched)
            if replacement is not None:
                spans.append(Span(start, end, kind, replacement))
    return spans


def _pipeline_span(label: str, start: int, end: int, value: str | None) -> Span:
    if label == "postcode" and value:
        return Span(start, end, label, f"[postcode {value.split()[0]}]")
    return Span(start, end, label, PLACEHOLDERS[label])


def merge(text: str, spans: Iterable[Span]) -> tuple[str, tuple[str, ...]]:
    """Apply the longest non-overlapping spans; any other run of six or more digits is a number.

    Spans are ranked by length, then by position; on a tie the earlier candidate wins, so the
    catch-all number comes after every named kind.
    """
    candidates = [
        *spans,
        *(Span(m.start(), m.end(), "number", PLACEHOLDERS["number"]) for m in _LONG_DIGITS.finditer(text)),
    ]
    chosen: list[Span] = []
    for span in sorted(candidates, key=lambda s: (-(s.end - s.start), s.start)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    out, position = [], 0
    for span in sorted(chosen, key=lambda s: s.start):
        out.append(text[position : span.start])
        out.append(span.replacement)
        position = span.end
    out.append(text[position:])
    return "".join(out), tuple(sorted({s.kind for s in chosen}))


class Redactor:
    """Redacts texts in batches with the project's spaCy pipeline; safe to reuse, loads on first use."""

    def __init__(self, nlp: Language | None = None, cache_size: int = 50_000) -> None:
        self._nlp = nlp
        self._cache: dict[str, Redacted] = {}
        self._lemmas: dict[str, str] = {}
        self._cache_size = cache_size

    @cached_property
    def nlp(self) -> Language:
        """The project's pipeline, its rules cut to the formats that are personal data (dates and times
        are not, and their many patterns would triple the cost)."""
        if self._nlp is not None:
            return self._nlp
        from bot.nlp import pipeline
        from bot.nlp.patterns import contact_patterns, postcode_patterns, reference_patterns

        nlp = pipeline.load()
        ruler = nlp.get_pipe("entity_ruler")
        ruler.clear()  # type: ignore[attr-defined]
        ruler.add_patterns(postcode_patterns() + reference_patterns() + contact_patterns())  # type: ignore[attr-defined]
        return nlp

    def redact(self, text: str) -> Redacted:
        return self.redact_many([text])[0]

    def redact_many(self, texts: Sequence[str]) -> list[Redacted]:
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            # The pipeline's spans first: on a tie in length, the project's own label wins.
            spans: list[list[Span]] = [[] for _ in todo]
            needs_pipeline = [i for i, t in enumerate(todo) if _may_hold_pipeline_entity(t)]
            if needs_pipeline:
                with self.nlp.select_pipes(enable=["entity_ruler", "council_entity_checks"]):
                    docs = self.nlp.pipe((todo[i] for i in needs_pipeline), batch_size=256)
                    for i, doc in zip(needs_pipeline, docs, strict=True):
                        spans[i].extend(
                            _pipeline_span(e.label_, e.start_char, e.end_char, e._.value)
                            for e in doc.ents
                            if e.label_ in PIPELINE_KINDS
                        )
            for i, text in enumerate(todo):
                spans[i].extend(rule_spans(text))
            merged = [merge(t, s) for t, s in zip(todo, spans, strict=True)]
            # Different messages often read the same once redacted: lemmatise each redacted text once.
            fresh = list(dict.fromkeys(text for text, _ in merged if text not in self._lemmas))
            self._lemmas.update(zip(fresh, self.lemmas(fresh), strict=True))
            if len(self._cache) + len(todo) > self._cache_size:
                self._cache.clear()
            for raw, (text, kinds) in zip(todo, merged, strict=True):
                self._cache[raw] = Redacted(text, kinds, self._lemmas[text])
            if len(self._lemmas) > self._cache_size:
                self._lemmas.clear()
        return [self._cache[t] for t in texts]

    def lemmas(self, texts: Sequence[str]) -> list[str]:
        """Lower-case content lemmas (no stop words, numbers or placeholders), in order."""
        cleaned = (PLACEHOLDER_RE.sub(" ", t) for t in texts)
        with self.nlp.select_pipes(enable=["lemmatizer"]):
            return [
                " ".join(
                    _lemma(tok.lower_, tok.lemma_)
                    for tok in doc
                    if tok.is_alpha and not tok.is_stop and len(tok.text) > 1
                )
                for doc in self.nlp.pipe(cleaned, batch_size=512)
            ]


#: Where the lookup lemmatiser (no part of speech to go on) picks the wrong word for council matters.
LEMMA_FIXES = {
    "number": "number",
    "numbers": "number",
    "rent": "rent",
    "planning": "planning",
    "parking": "parking",
    "born": "born",
    "best": "best",
    "crew": "crew",
    "crews": "crew",
    "hi": "hi",
    "booking": "booking",
    "bookings": "booking",
    "recycling": "recycling",
    "housing": "housing",
    "building": "building",
    "rates": "rate",
    "council": "council",
    "lid": "lid",
    "meeting": "meeting",
    "opening": "opening",
}


def _lemma(lower: str, lemma: str) -> str:
    return LEMMA_FIXES.get(lower) or (lemma or lower).lower()


@lru_cache(maxsize=1)
def shared() -> Redactor:
    """One redactor per process: the spaCy pipeline is loaded once, on first use."""
    return Redactor()


def _may_hold_pipeline_entity(text: str) -> bool:
    return "@" in text or any(ch.isdigit() for ch in text)
