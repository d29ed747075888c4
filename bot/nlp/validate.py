"""Checks and normal forms for rule-extracted entities.

A span that matches a pattern but cannot be real is dropped; one that can is
given its normal form (``sn151er`` -> ``SN15 1ER``). Dates and times are
resolved against "now" in ``bot.nlp.dates``, at parse time.
"""

from __future__ import annotations

import re

from bot.nlp.patterns import POSTCODE_RE

_POSTCODE = re.compile(POSTCODE_RE)
_DIGITS = re.compile(r"[^0-9]")
#: Words before a bare hour that make it a time: "at 6", "around 7", "after 5".
TIME_CUES = {"at", "@", "around", "about", "after", "before", "from", "by", "til", "till", "until", "for"}


def postcode(text: str) -> str | None:
    compact = re.sub(r"\s+", "", text).upper()
    if not _POSTCODE.match(compact):
        return None
    return f"{compact[:-3]} {compact[-3:]}"


def digits(text: str) -> str:
    return _DIGITS.sub("", text)


def account_reference(text: str) -> str | None:
    value = digits(text)
    return value if len(value) == 8 else None


def library_card_number(text: str) -> str | None:
    value = digits(text)
    return value if len(value) == 14 and value.startswith("2") else None


def booking_reference(text: str) -> str | None:
    match = re.fullmatch(r"([A-Za-z]{2})\s*-?\s*([0-9]{6})", text.strip())
    return f"{match.group(1).upper()}-{match.group(2)}" if match else None


def email(text: str) -> str | None:
    value = text.strip().lower()
    return value if re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", value) else None


def phone_number(text: str) -> str | None:
    """UK numbers in national form: 11 digits from 01, 02, 03, 07 or 08 (10 for a few 01 areas)."""
    stripped = text.strip()
    value = digits(stripped)
    if stripped.startswith("+") or value.startswith("44"):
        if not value.startswith("44"):
            return None
        value = value[2:]
        value = value[1:] if value.startswith("0") else value  # +44 (0)1225 …
        value = "0" + value
    if not value.startswith(("01", "02", "03", "07", "08")):
        return None
    if len(value) == 11 or (len(value) == 10 and value.startswith("01")):
        return value
    return None


VALIDATORS = {
    "postcode": postcode,
    "account_reference": account_reference,
    "library_card_number": library_card_number,
    "booking_reference": booking_reference,
    "email": email,
    "phone_number": phone_number,
}

#: Entities found by rules; the learned extractor's guesses of these are discarded.
RULE_ENTITIES = frozenset({*VALIDATORS, "date", "time"})
