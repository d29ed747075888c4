"""Unresolved requests grouped into themes, and a theme as Rasa NLU training data.

Each unresolved request is stored with the content lemmas of its redacted
text (our spaCy pipeline's lemmatiser, stop words dropped); greetings and
politeness ("hello", "please", "help") are dropped here too. Identical
wordings are counted once with their weight; the distinct wordings are
turned into TF-IDF vectors (words and pairs of words) and clustered
agglomeratively (average linkage, cosine distance), so the number of themes
follows the data and unrelated wordings are not forced together. A theme is
a cluster: its size is the requests in it, its top terms are the heaviest
terms of its centre (weighted by how often each wording came), its examples
are its most frequent redacted texts. The same input always gives the same themes,
so a theme's number is stable for the same filters.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The most frequent distinct wordings are clustered (its cost grows with the square); rarer ones join the
#: nearest theme when at least this similar, else "other".
MAX_CLUSTERED = 800
JOIN_SIMILARITY = 0.3
#: Wordings merge into a theme while their average cosine distance is below this.
MERGE_DISTANCE = 0.85
OTHER = "(other, rarer wordings)"
EXAMPLES = 30  # kept per theme: the report shows the first few, the NLU export all
NO_WORDS = "(nothing to group by: greetings only, or no words left after redaction)"
#: Words of greeting and politeness: in nearly every message, so they say nothing about the theme.
NOISE = frozenset(
    {
        "hello",
        "hi",
        "hiya",
        "hey",
        "morning",
        "afternoon",
        "evening",
        "good",
        "please",
        "pls",
        "thank",
        "thanks",
        "cheer",
        "ta",
        "help",
        "need",
        "want",
        "like",
        "asap",
        "ok",
        "okay",
        "yes",
        "yeah",
        "no",
        "know",
        "tell",
        "let",
        "just",
        "get",
        "mate",
        "sir",
        "madam",
        "urgent",
        "urgently",
    }
)


@dataclass
class Theme:
    number: int
    requests: int
    top_terms: list[str]
    examples: list[str]
    outcomes: dict[str, int] = field(default_factory=dict)
    topics: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ", ".join(self.top_terms[:3]) or NO_WORDS


@dataclass
class _Wording:
    lemmas: str
    requests: int = 0
    examples: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    topics: Counter[str] = field(default_factory=Counter)


def _gather(rows: Iterable[Mapping[str, Any]]) -> list[_Wording]:
    wordings: dict[str, _Wording] = {}
    for row in rows:
        key = " ".join(word for word in (row["lemmas"] or "").split() if word not in NOISE)
        w = wordings.setdefault(key, _Wording(key))
        n = int(row["requests"])
        w.requests += n
        if row.get("example"):
            w.examples[str(row["example"])] += n
        w.outcomes[str(row["outcome"])] += n
        if row.get("topic"):
            w.topics[str(row["topic"])] += n
    return sorted(wordings.values(), key=lambda w: (-w.requests, w.lemmas))


def warm_up() -> None:
    """Import scikit-learn ahead of the first themes report (it takes seconds on a busy machine)."""
    import sklearn.cluster  # noqa: F401
    import sklearn.feature_extraction.text  # noqa: F401


def build(rows: Iterable[Mapping[str, Any]]) -> list[Theme]:
    """Themes of unresolved wordings (rows of ``fetch_unresolved_wordings``), largest first."""
    wordings = _gather(rows)
    empty = [w for w in wordings if not w.lemmas]
    worded = [w for w in wordings if w.lemmas]
    groups: list[list[_Wording]] = []
    terms: list[list[str]] = []
    if len(worded) == 1:
        groups, terms = [worded], [worded[0].lemmas.split()[:5]]
    elif worded:
        groups, terms = _cluster(worded)
    if empty:
        groups.append(empty)
        terms.append([])
    themes = [_theme(group, top) for group, top in zip(groups, terms, strict=True) if group]
    themes.sort(key=lambda t: (-t.requests, t.label))
    for number, theme in enumerate(themes, start=1):
        theme.number = number
    return themes


def _cluster(worded: list[_Wording]) -> tuple[list[list[_Wording]], list[list[str]]]:
    """Agglomerative clustering (average linkage, cosine) of the most frequent wordings; the rest join
    the theme whose centre is nearest, or an "other" group when none is near."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    head, tail = worded[:MAX_CLUSTERED], worded[MAX_CLUSTERED:]
    vectorizer = TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True, lowercase=False)
    matrix = vectorizer.fit_transform([w.lemmas for w in head]).toarray()
    distance = (
        {"metric": "cosine"} if "metric" in AgglomerativeClustering().get_params() else {"affinity": "cosine"}
    )
    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=MERGE_DISTANCE, linkage="average", **distance
    )
    labels = list(model.fit(matrix).labels_) if len(head) > 1 else [0]
    count = max(labels) + 1
    weights = np.array([w.requests for w in head], dtype=float)
    centres = np.zeros((count, matrix.shape[1]))
    for row, label in enumerate(labels):
        centres[label] += matrix[row] * weights[row]
    centres = normalize(centres)
    groups: list[list[_Wording]] = [[] for _ in range(count + 1)]  # the last: wordings near no theme
    for wording, label in zip(head, labels, strict=True):
        groups[label].append(wording)
    if tail:
        similarity = normalize(vectorizer.transform([w.lemmas for w in tail])) @ centres.T
        for wording, row in zip(tail, np.asarray(similarity), strict=True):
            best = int(np.argmax(row))
            groups[best if row[best] >= JOIN_SIMILARITY else count].append(wording)
    vocabulary = vectorizer.get_feature_names_out()
    terms = [
        _distinct_terms([str(vocabulary[i]) for i in np.argsort(centre)[::-1][:8] if centre[i] > 0])[:5]
        for centre in centres
    ]
    return groups, terms + [[OTHER]]


def _distinct_terms(terms: list[str]) -> list[str]:
    """Drop a single word already shown inside a chosen pair ("garden waste" makes "garden" redundant)."""
    chosen: list[str] = []
    for term in terms:
        if any(term in other.split() or other in term.split() for other in chosen):
            continue
        chosen.append(term)
    return chosen


def _theme(group: list[_Wording], top_terms: list[str]) -> Theme:
    examples: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    for w in group:
        examples.update(w.examples)
        outcomes.update(w.outcomes)
        topics.update(w.topics)
    return Theme(
        number=0,
        requests=sum(w.requests for w in group),
        top_terms=top_terms,
        examples=[text for text, _ in examples.most_common(EXAMPLES)],
        outcomes=dict(outcomes.most_common()),
        topics=dict(topics.most_common()),
    )


# --- Rasa NLU export ------------------------------------------------------------------------------

#: Redaction placeholders -> example values, annotated as the domain's entities where one exists.
_EXAMPLE_VALUES = {
    "email": "[name@example.com](email)",
    "phone": "[07700 900123](phone_number)",
    "reference": "[BK-123456](booking_reference)",
    "account reference": "[12345678](account_reference)",
    "library card": "[21234567890123](library_card_number)",
    "name": "Sam",
    "address": "1 High Street",
    "card number": "4111 1111 1111 1111",
    "NI number": "QQ 12 34 56 C",
    "sort code": "00-00-00",
    "date of birth": "1 January 1980",
    "personal detail": "unwell",
    "vehicle registration": "AB12 CDE",
    "number": "123456",
}
_PLACEHOLDER = re.compile(r"\[(postcode ([A-Z0-9]+)|[a-zA-Z ]+)\]")


def training_text(text: str) -> str:
    """A redacted example as a Rasa training example: placeholders become example values."""

    def value(match: re.Match[str]) -> str:
        if match.group(2):
            return f"[{match.group(2)} 1AA](postcode)"
        return _EXAMPLE_VALUES.get(match.group(1), match.group(1))

    return " ".join(_PLACEHOLDER.sub(value, text).split())


def intent_name(theme: Theme) -> str:
    words = re.findall(r"[a-z0-9]+", " ".join(theme.top_terms[:2]).lower())
    return "theme_" + ("_".join(dict.fromkeys(words)) or str(theme.number))


def nlu_yaml(theme: Theme, examples: Iterable[str] | None = None) -> str:
    """The theme as a Rasa 3 NLU block, ready to become a new intent."""
    lines = [
        f"# Theme {theme.number}: {theme.label} ({theme.requests} unresolved requests).",
        "# Examples are residents' messages with personal data redacted; placeholders were",
        "# replaced by example values. Check them, rename the intent, and add it to the domain.",
        'version: "3.1"',
        "nlu:",
        f"- intent: {intent_name(theme)}",
        "  examples: |",
    ]
    seen: set[str] = set()
    for text in examples if examples is not None else theme.examples:
        example = training_text(text.replace("\n", " "))
        if example and example.lower() not in seen:
            seen.add(example.lower())
            lines.append(f"    - {example}")
    return "\n".join(lines) + "\n"
