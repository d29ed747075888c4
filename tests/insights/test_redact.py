"""Redaction: every labelled item of personal data is removed; the rest of the message stays."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from insights.redact import Redactor, luhn

CASES = yaml.safe_load((Path(__file__).parent / "redaction_cases.yml").read_text())


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def test_the_labelled_set_has_at_least_sixty_messages_with_personal_data():
    assert len(CASES["cases"]) >= 60
    assert all(case["items"] for case in CASES["cases"] if case["message"] not in ("",))


@pytest.mark.parametrize("case", CASES["cases"], ids=lambda c: c["message"][:40])
def test_every_personal_data_item_is_removed_and_the_request_kept(redactor: Redactor, case: dict):
    redacted = redactor.redact(case["message"]).text
    for item in case["items"]:
        assert item.lower() not in redacted.lower(), f"{item!r} left in {redacted!r}"
        if len(digits(item)) >= 6:
            assert digits(item) not in digits(redacted), f"digits of {item!r} left in {redacted!r}"
    for word in case["keep"]:
        assert word.lower() in redacted.lower(), f"{word!r} lost from {redacted!r}"


@pytest.mark.parametrize("message", CASES["unchanged"])
def test_messages_without_personal_data_come_back_unchanged(redactor: Redactor, message: str):
    assert redactor.redact(message).text == message


def test_a_full_postcode_keeps_its_outward_code_for_the_geography_of_demand(redactor: Redactor):
    assert redactor.redact("bins at SN15 1ER not emptied").text == "bins at [postcode SN15] not emptied"


def test_the_kinds_removed_are_reported_without_values(redactor: Redactor):
    result = redactor.redact("I'm Dave, 07700 900123, dave@example.com")
    assert result.kinds == ("email", "name", "phone_number")


def test_card_numbers_are_checked_with_luhn():
    assert luhn("4111111111111111")
    assert not luhn("4111111111111112")


def test_a_sixteen_digit_number_failing_luhn_is_still_removed_as_a_number(redactor: Redactor):
    assert redactor.redact("ref 4111 1111 1111 1112 please").text == "ref [number] please"


def test_lemmas_come_from_the_redacted_text_only(redactor: Redactor):
    result = redactor.redact("my name is Sarah Jones and the bins were not collected")
    assert result.lemmas == "bin collect"
    assert "sarah" not in result.lemmas


def test_a_stored_script_tag_is_kept_as_plain_text_for_the_templates_to_escape(redactor: Redactor):
    assert redactor.redact("<script>alert(1)</script> pothole").text == "<script>alert(1)</script> pothole"
