"""The spaCy pipeline's rule entities: real formats found and normalised, impossible ones not."""

from __future__ import annotations

import pytest

from bot.nlp.pipeline import DEFAULT_OUTPUT, build, load


@pytest.fixture(scope="module")
def nlp():
    # The saved pipeline is what Rasa loads; build it fresh if it is missing.
    return load(DEFAULT_OUTPUT) if (DEFAULT_OUTPUT / "meta.json").exists() else build()


def ents(nlp, text: str) -> list[tuple[str, str, str | None]]:
    return [(e.label_, e.text, e._.value) for e in nlp(text).ents]


def values(nlp, text: str, label: str) -> list[str]:
    return [v for lab, _, v in ents(nlp, text) if lab == label]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("SN15 1ER", "SN15 1ER"),
        ("sn151er", "SN15 1ER"),
        ("my postcode is sn15 1er thanks", "SN15 1ER"),
        ("BA14 8JN", "BA14 8JN"),
        ("SP1 3JQ", "SP1 3JQ"),
        ("EC1A 1BB", "EC1A 1BB"),
        ("W1A 0AX", "W1A 0AX"),
        ("M1 1AE", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("CR2 6XH", "CR2 6XH"),
        ("DN55 1PT", "DN55 1PT"),
    ],
)
def test_valid_postcodes_are_found_and_normalised(nlp, text, expected):
    assert values(nlp, text, "postcode") == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "ZZ1 1AA",  # no such area
        "QQ15 1ER",  # no such area
        "SN15 1CI",  # C and I never appear in an inward code
        "SN15 1EK",  # nor K
        "SN15",  # outward code alone
        "1ER",
        "SN151E",  # too short
        "SNN15 1ER",
        "sn15 11er",
    ],
)
def test_impossible_postcodes_are_not_extracted(nlp, text):
    assert values(nlp, text, "postcode") == []


@pytest.mark.parametrize(
    "text,label,expected",
    [
        ("my account is 60012345", "account_reference", "60012345"),
        ("ref 6001 2345", "account_reference", "60012345"),
        ("card 21234000123456", "library_card_number", "21234000123456"),
        ("card no 2123 4000 1234 56", "library_card_number", "21234000123456"),
        ("21234 00098 7654", "library_card_number", "21234000987654"),
        ("cancel BK-104233", "booking_reference", "BK-104233"),
        ("gw104233", "booking_reference", "GW-104233"),
        ("its mb 102233", "booking_reference", "MB-102233"),
        ("email jo.bloggs@example.co.uk", "email", "jo.bloggs@example.co.uk"),
        ("Jo@Example.com", "email", "jo@example.com"),
        ("07700 900123", "phone_number", "07700900123"),
        ("07700900123", "phone_number", "07700900123"),
        ("+44 7700 900123", "phone_number", "07700900123"),
        ("+447700900123", "phone_number", "07700900123"),
        ("call 01225 713000", "phone_number", "01225713000"),
        ("(01225) 713000", "phone_number", "01225713000"),
        ("0117 496 0123", "phone_number", "01174960123"),
    ],
)
def test_references_and_contacts_are_found_and_normalised(nlp, text, label, expected):
    assert values(nlp, text, label) == [expected]


@pytest.mark.parametrize(
    "text,label",
    [
        ("6001234", "account_reference"),  # 7 digits
        ("600123456", "account_reference"),  # 9 digits
        ("31234000123456", "library_card_number"),  # does not start with 2
        ("2123400012345", "library_card_number"),  # 13 digits
        ("XX-104233", "booking_reference"),  # not one of our prefixes
        ("BK-10423", "booking_reference"),  # 5 digits
        ("jo@", "email"),
        ("0770090012", "phone_number"),  # 10 digits, mobile
        ("077009001234", "phone_number"),  # 12 digits
        ("05700 900123", "phone_number"),  # not a UK range we accept
        ("+33 6 12 34 56 78", "phone_number"),  # French
    ],
)
def test_invalid_references_and_contacts_are_not_extracted(nlp, text, label):
    assert values(nlp, text, label) == []


@pytest.mark.parametrize(
    "text,label,surface",
    [
        ("swim tmrw at 7pm", "date", "tmrw"),
        ("swim tmrw at 7pm", "time", "7pm"),
        ("next tuesday at 6", "date", "next tuesday"),
        ("next tuesday at 6", "time", "6"),
        ("on the 14th please", "date", "the 14th"),
        ("half 6 on saturday", "time", "half 6"),
        ("saturday morning", "time", "morning"),
        ("christmas day", "date", "christmas day"),
        ("14/12", "date", "14/12"),
        ("3rd december", "date", "3rd december"),
    ],
)
def test_dates_and_times_are_found(nlp, text, label, surface):
    assert surface in [t for lab, t, _ in ents(nlp, text) if lab == label]


def test_a_bare_number_is_not_a_time_without_a_cue(nlp):
    assert values(nlp, "2 bins please", "time") == []
    assert [t for lab, t, _ in ents(nlp, "book for 2 people") if lab == "time"] == []


def test_lookup_lemmatizer_is_in_the_pipeline(nlp):
    assert "lemmatizer" in nlp.pipe_names
    assert [t.lemma_ for t in nlp("bins were collected")] == ["bin", "be", "collect"]


@pytest.mark.parametrize(
    ("text", "value", "surface"),
    [
        ("my recycling bin wasn't collected SN15 1ER", "recycling", "recycling bin"),
        ("rubbish bin not emptied again", "general waste", "rubbish bin"),
        ("they missed the black box with the bottles", "glass", "black box"),
        ("food caddy left full", "food waste", "food caddy"),
        ("BROWN BIN wasnt done", "garden waste", "BROWN BIN"),
    ],
)
def test_the_bin_named_in_a_missed_bin_request_is_found_with_its_normal_value(text, value, surface):
    from bot.components.council_entities import bin_type_in

    found = bin_type_in(text)
    assert found is not None and found["value"] == value
    assert text[found["start"] : found["end"]] == surface


def test_no_bin_named_no_bin_type():
    from bot.components.council_entities import bin_type_in

    assert bin_type_in("my bin wasn't collected") is None
    assert bin_type_in("book a swim on saturday") is None
