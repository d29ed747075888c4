"""Rule patterns for the formats residents type: UK postcodes, references,
card numbers, emails, phone numbers, dates and times.

Token patterns for spaCy's ``EntityRuler`` find candidate spans; the
validators in ``bot.nlp.validate`` then drop spans that cannot be real
(a postcode area that does not exist, a phone number of the wrong length).
"""

from __future__ import annotations

from typing import Any

# Every UK postcode area (Royal Mail), so that "ZZ1 1AA" is not a postcode.
POSTCODE_AREAS = (
    "AB AL B BA BB BD BF BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY "
    "E EC EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA LD LE LL "
    "LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN "
    "SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE"
).split()

_AREA = "(?:" + "|".join(sorted(POSTCODE_AREAS, key=len, reverse=True)) + ")"
# District: A9, A99, AA9, AA99, A9A, AA9A (the area gives the letters).
_DISTRICT = "(?:[0-9][0-9]?|[0-9][A-Z])"
# Inward code: a digit and two letters, never C, I, K, M, O or V.
_INWARD = "[0-9][ABD-HJLNP-UW-Z]{2}"
OUTWARD_RE = f"(?i)^{_AREA}{_DISTRICT}$"
INWARD_RE = f"(?i)^{_INWARD}$"
POSTCODE_RE = f"(?i)^{_AREA}{_DISTRICT}{_INWARD}$"

REFERENCE_PREFIXES = ("BK", "LB", "GW", "MB", "CP", "CT", "HO", "CB")
_PREFIX = "(?:" + "|".join(REFERENCE_PREFIXES) + ")"

WEEKDAYS = {
    "monday": ["mon", "mond", "munday"],
    "tuesday": ["tue", "tues", "tuesdy", "tusday", "teusday"],
    "wednesday": ["wed", "weds", "wednsday", "wensday", "wendsday", "wednesdy"],
    "thursday": ["thu", "thur", "thurs", "thrusday", "thursdy"],
    "friday": ["fri", "fryday", "firday"],
    "saturday": ["sat", "satuday", "saturdy", "sataday"],
    "sunday": ["sun", "sundy", "sundya"],
}
RELATIVE_DAYS = {
    "today": ["today", "2day", "tday", "todya"],
    "tomorrow": [
        "tomorrow",
        "tomorow",
        "tommorow",
        "tommorrow",
        "tmrw",
        "tmw",
        "tmr",
        "2moro",
        "2morrow",
        "tomoz",
        "tomo",
        "tomrw",
    ],
}
MONTHS = [
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
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
]
HOLIDAYS = [
    "christmas eve",
    "christmas day",
    "boxing day",
    "new year's eve",
    "new years eve",
    "new year's day",
    "new years day",
    "good friday",
    "easter sunday",
    "easter monday",
]
PARTS_OF_DAY = {
    "morning": ["morning", "mornin", "morn", "am"],
    "afternoon": ["afternoon", "aftenoon", "arvo", "pm"],
    "evening": ["evening", "evenin", "eve", "tonight", "nite", "night"],
}

WEEKDAY_WORDS = [w for day, typos in WEEKDAYS.items() for w in [day, day + "s", *typos]]
RELATIVE_WORDS = [w for words in RELATIVE_DAYS.values() for w in words]
ORDINAL_RE = r"(?i)^(?:[1-9]|[12][0-9]|3[01])(?:st|nd|rd|th)$"
DAY_NUMBER_RE = r"^(?:[1-9]|[12][0-9]|3[01])$"
NUMERIC_DATE_RE = r"^(?:[0-3]?[0-9])[/.](?:[01]?[0-9])(?:[/.](?:20)?[0-9]{2})?$"
CLOCK_RE = r"(?i)^(?:[01]?[0-9]|2[0-3])[:.][0-5][0-9](?:am|pm)?$"
HOUR_AMPM_RE = r"(?i)^(?:1[0-2]|0?[1-9])(?:[:.][0-5][0-9])?(?:am|pm)$"
HOUR_RE = r"^(?:1[0-2]|0?[1-9])$"
AMPM = ["am", "pm", "a.m.", "p.m."]


def _in(words: list[str]) -> dict[str, Any]:
    return {"LOWER": {"IN": words}}


def postcode_patterns() -> list[dict[str, Any]]:
    return [
        {"label": "postcode", "pattern": [{"TEXT": {"REGEX": POSTCODE_RE}}]},
        {"label": "postcode", "pattern": [{"TEXT": {"REGEX": OUTWARD_RE}}, {"TEXT": {"REGEX": INWARD_RE}}]},
    ]


def reference_patterns() -> list[dict[str, Any]]:
    digits = lambda n: {"TEXT": {"REGEX": rf"^[0-9]{{{n}}}$"}}  # noqa: E731
    return [
        # Council tax account reference: 8 digits (or 4 + 4).
        {"label": "account_reference", "pattern": [digits(8)]},
        {"label": "account_reference", "pattern": [digits(4), digits(4)]},
        # Library card: 14 digits starting with 2, whole or in groups (checked after matching).
        {"label": "library_card_number", "pattern": [{"TEXT": {"REGEX": r"^2[0-9]{13}$"}}]},
        {
            "label": "library_card_number",
            "pattern": [
                {"TEXT": {"REGEX": r"^2[0-9]{2,6}$"}},
                {"TEXT": {"REGEX": r"^[0-9]{2,6}$"}, "OP": "+"},
            ],
        },
        # References this assistant gives: two letters, optional hyphen, six digits.
        {"label": "booking_reference", "pattern": [{"TEXT": {"REGEX": rf"(?i)^{_PREFIX}-?[0-9]{{6}}$"}}]},
        {
            "label": "booking_reference",
            "pattern": [{"TEXT": {"REGEX": rf"(?i)^{_PREFIX}-?$"}}, {"ORTH": "-", "OP": "?"}, digits(6)],
        },
    ]


def contact_patterns() -> list[dict[str, Any]]:
    def num(lo: int, hi: int, op: str | None = None) -> dict[str, Any]:
        token: dict[str, Any] = {"TEXT": {"REGEX": rf"^[0-9]{{{lo},{hi}}}$"}}
        if op:
            token["OP"] = op
        return token

    opening, closing = {"ORTH": "(", "OP": "?"}, {"ORTH": ")", "OP": "?"}
    return [
        {"label": "email", "pattern": [{"LIKE_EMAIL": True}]},
        # Whole number: 07700900123, +447700900123 (lengths checked after matching).
        {"label": "phone_number", "pattern": [{"TEXT": {"REGEX": r"^(?:\+?44|0)[0-9]{9,10}$"}}]},
        # Grouped: 07700 900123, 01225 713000, 0117 496 0123, (01225) 713000.
        {
            "label": "phone_number",
            "pattern": [opening, {"TEXT": {"REGEX": r"^0[0-9]{2,4}$"}}, closing, num(3, 8), num(3, 4, "?")],
        },
        # International: +44 7700 900123, +44 (0)1225 713000.
        {
            "label": "phone_number",
            "pattern": [
                {"TEXT": {"REGEX": r"^\+?44$"}},
                opening,
                {"TEXT": {"REGEX": r"^0?[0-9]{2,10}$"}},
                closing,
                num(3, 8, "?"),
                num(3, 4, "?"),
            ],
        },
    ]


def date_patterns() -> list[dict[str, Any]]:
    weekday = _in(WEEKDAY_WORDS)
    month = _in(MONTHS)
    ordinal = {"TEXT": {"REGEX": ORDINAL_RE}}
    day_number = {"TEXT": {"REGEX": DAY_NUMBER_RE}}
    optional_the = {"LOWER": "the", "OP": "?"}
    patterns: list[list[dict[str, Any]]] = [
        [_in(RELATIVE_WORDS)],
        [{"LOWER": "day"}, {"LOWER": "after"}, _in(RELATIVE_DAYS["tomorrow"])],
        [{"LOWER": {"IN": ["next", "this", "coming"]}, "OP": "?"}, weekday],
        [weekday, optional_the, ordinal],
        [weekday, day_number, month],
        [weekday, ordinal, {"LOWER": "of", "OP": "?"}, month],
        [{"LOWER": "the"}, ordinal],
        [ordinal, {"LOWER": "of", "OP": "?"}, month],
        [day_number, month],
        [month, ordinal],
        [month, day_number],
        [{"TEXT": {"REGEX": NUMERIC_DATE_RE}}],
        [{"LOWER": "tonight"}],
    ]
    for holiday in HOLIDAYS:
        patterns.append([{"LOWER": word} for word in holiday.replace("'s", " 's").split()])
    out = [{"label": "date", "pattern": p} for p in patterns]
    # A bare ordinal ("the 14th" handled above; "14th" alone) is a date too.
    out.append({"label": "date", "pattern": [ordinal]})
    return out


def time_patterns() -> list[dict[str, Any]]:
    hour = {"TEXT": {"REGEX": HOUR_RE}}
    parts = [w for words in PARTS_OF_DAY.values() for w in words if w not in ("am", "pm", "tonight")]
    patterns: list[list[dict[str, Any]]] = [
        [{"TEXT": {"REGEX": CLOCK_RE}}],
        [{"TEXT": {"REGEX": HOUR_AMPM_RE}}],
        [{"TEXT": {"REGEX": r"(?i)^(?:1[0-2]|0?[1-9])(?:[:.][0-5][0-9])?$"}}, _in(AMPM)],
        [{"LOWER": "half"}, {"LOWER": "past", "OP": "?"}, hour],
        [{"LOWER": {"IN": ["quarter", "qtr"]}}, {"LOWER": {"IN": ["past", "to"]}}, hour],
        [hour, {"LOWER": "o'clock"}],
        [hour, {"LOWER": "o"}, {"LOWER": "clock"}],
        [hour, {"LOWER": "oclock"}],
        [{"LOWER": {"IN": ["noon", "midday", "lunchtime", "lunch"]}}],
        [_in(parts)],
    ]
    out = [{"label": "time", "pattern": p} for p in patterns]
    # "at 6": the hour right after "at" (the span is the number alone).
    out.append({"label": "time", "pattern": [hour], "id": "after_at"})
    return out


def all_patterns() -> list[dict[str, Any]]:
    return postcode_patterns() + reference_patterns() + contact_patterns() + date_patterns() + time_patterns()
