"""Themes of unresolved requests, and a theme as Rasa NLU training data."""

from __future__ import annotations

from insights import themes


def rows(*wordings: tuple[str, int, str]) -> list[dict]:
    return [
        {"lemmas": lemmas, "requests": n, "example": example, "outcome": "not_understood", "topic": None}
        for lemmas, n, example in wordings
    ]


SAMPLE = rows(
    ("park ticket", 40, "I got a parking ticket"),
    ("park permit", 30, "how do I get a parking permit"),
    ("appeal park ticket", 10, "appeal a parking ticket"),
    ("pothole road", 25, "pothole on my road"),
    ("report pothole", 20, "report a pothole"),
    ("hello", 5, "hello??"),
    ("", 3, "[phone]"),
)


def test_wordings_that_share_words_form_a_theme_and_unrelated_ones_do_not():
    found = themes.build(SAMPLE)
    by_terms = {t.label: t.requests for t in found}
    parking = next(t for t in found if "ticket" in t.label or "permit" in t.label)
    potholes = next(t for t in found if "pothole" in t.label)
    assert parking.requests == 80 and potholes.requests == 45
    assert parking is not potholes
    assert by_terms[themes.NO_WORDS] == 8  # "hello" (greeting only) and a message that was all personal data
    assert [t.number for t in found] == list(range(1, len(found) + 1))
    assert found[0] is parking  # largest first


def test_the_same_input_gives_the_same_themes():
    assert [(t.label, t.requests) for t in themes.build(SAMPLE)] == [
        (t.label, t.requests) for t in themes.build(SAMPLE)
    ]


def test_examples_are_the_most_frequent_texts_and_outcomes_are_counted():
    parking = themes.build(SAMPLE)[0]
    assert parking.examples[0] == "I got a parking ticket"
    assert parking.outcomes == {"not_understood": 80}


def test_rarer_wordings_beyond_the_clustered_ones_join_the_nearest_theme(monkeypatch):
    monkeypatch.setattr(themes, "MAX_CLUSTERED", 4)
    found = themes.build(
        SAMPLE
        + rows(
            ("park ticket cost", 1, "what does a parking ticket cost"),
            ("zebra crossing", 1, "zebra crossing"),
        )
    )
    parking = next(t for t in found if "ticket" in t.label)
    assert parking.requests == 81
    assert any(t.label == themes.OTHER and t.requests == 1 for t in found)


def test_a_theme_becomes_an_nlu_block_with_entities_for_redacted_values():
    theme = themes.Theme(
        number=2,
        requests=3,
        top_terms=["bin", "collect"],
        examples=[
            "my bin at [postcode SN15] wasn't collected",
            "call [phone] about my bin",
            "my bin at [postcode SN15] wasn't collected",
        ],
    )
    text = themes.nlu_yaml(theme)
    assert "- intent: theme_bin_collect" in text
    assert "    - my bin at [SN15 1AA](postcode) wasn't collected\n" in text
    assert "    - call [07700 900123](phone_number) about my bin\n" in text
    assert text.count("wasn't collected") == 1
