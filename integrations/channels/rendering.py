"""One rendering of the assistant's messages for every text channel.

- Buttons become numbered options in the text ("Reply 1 for …"); payloads
  are never shown. A reply of "1", "one", or the option's own words picks
  that option (``choose``). A lone option is offered by its words only.
- Long replies are split at sentence boundaries (then words) so that each
  message fits its channel:

  * SMS: a message of at most ``SMS_MAX_SEGMENTS`` segments. One segment
    holds 160 GSM-7 characters (70 if any character needs UCS-2); a longer
    message is sent as concatenated segments of 153 (or 67) characters.
    Three segments (459 GSM-7 / 201 UCS-2 characters) keep a reply readable
    on any phone and its cost known; the help menu fits in one message.
    Typographic quotes, dashes and ellipses are replaced by their GSM-7
    equivalents first, so one curly apostrophe does not halve the room.
  * WhatsApp: 1,600 characters (Twilio's cap; Meta allows more, we don't need it).

- WhatsApp Cloud API interactive messages within Meta's limits: up to 3
  reply buttons (title ≤ 20), else a list of up to 10 rows (title ≤ 24,
  description ≤ 72), with a body of at most 1,024 characters; otherwise the
  numbered text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# --- limits -----------------------------------------------------------------

SMS_MAX_SEGMENTS = 3
GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
WHATSAPP_MAX_CHARS = 1600
WA_BUTTONS_MAX, WA_BUTTON_TITLE_MAX = 3, 20
WA_ROWS_MAX, WA_ROW_TITLE_MAX, WA_ROW_DESCRIPTION_MAX = 10, 24, 72
WA_BODY_MAX = 1024
WA_LIST_BUTTON = "Choose an option"  # the list's opening button, ≤ 20 characters

# GSM 03.38: the basic set (one septet each) and the extension table (two septets each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
# Characters residents never notice but that would force UCS-2.
GSM7_LOOKALIKES = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "′": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "″": '"',
        "–": "-",
        "—": "-",
        "‐": "-",
        "…": "...",
        "\u00a0": " ",
        "\u2009": " ",
        "•": "-",
    }
)

Fits = Callable[[str], bool]


# --- options ----------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One button the assistant offered: its number in the message, title and payload."""

    number: int
    title: str
    payload: str

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "title": self.title, "payload": self.payload}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Option:
        return cls(int(data["number"]), str(data["title"]), str(data["payload"]))


def options_from_buttons(buttons: Iterable[Mapping[str, Any]] | None) -> list[Option]:
    """Rasa buttons (``{"title", "payload"}``) as numbered options; buttons without a payload are dropped."""
    usable = [b for b in buttons or () if b.get("payload") and b.get("title")]
    return [Option(i, str(b["title"]).strip(), str(b["payload"])) for i, b in enumerate(usable, 1)]


def numbered(options: Sequence[Option]) -> str:
    """The options as lines of text: "Reply 1 for Renew library books".

    A lone option is a way out next to a question ("What is your house
    number? … My address isn't listed"), so it is offered by its words: a
    "1" then stays an answer to the question.
    """
    if len(options) == 1:
        return f'Or reply "{options[0].title}"'
    return "\n".join(f"Reply {o.number} for {o.title}" for o in options)


_NUMBER_WORDS = {w: i for i, w in enumerate("one two three four five six seven eight nine ten".split(), 1)}
_NUMBER_REPLY = re.compile(r"(?:option |number |no |reply )?(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")")


def _words(text: str) -> str:
    """Lower case, punctuation to spaces, single spaces: how replies are compared."""
    return " ".join(re.sub(r"[^\w£]+", " ", text.lower()).split())


def choose(reply: str, options: Sequence[Option]) -> Option | None:
    """The option a text reply picks, if it plainly picks one.

    In order: the option's title exactly; its number ("2", "2.", "two",
    "option 2") when there is more than one option; words found in exactly
    one title ("garden waste", "not listed"). Anything else is ordinary text
    for the assistant to understand.
    """
    said = _words(reply)
    if not said or not options:
        return None
    for option in options:
        if _words(option.title) == said:
            return option
    number = _NUMBER_REPLY.fullmatch(said) if len(options) > 1 else None
    if number:
        value = number.group(1)
        index = int(value) if value.isdigit() else _NUMBER_WORDS[value]
        return options[index - 1] if 1 <= index <= len(options) else None
    if len(said) >= 4:
        pattern = re.compile(rf"\b{re.escape(said)}\b")
        found = [o for o in options if pattern.search(_words(o.title))]
        if len(found) == 1:
            return found[0]
    return None


def option_by_id(option_id: str, options: Sequence[Option], title: str | None = None) -> Option | None:
    """The option an interactive reply id (its number) names, if still offered under that title."""
    for option in options:
        if str(option.number) == option_id and (title is None or title == _short(option.title)):
            return option
    return None


# --- SMS length ---------------------------------------------------------------


def to_gsm7_lookalikes(text: str) -> str:
    return text.translate(GSM7_LOOKALIKES)


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` takes (GSM-7 if it can, else UCS-2)."""
    if is_gsm7(text):
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        units = len(text.encode("utf-16-le")) // 2  # UTF-16 code units: an emoji takes two
        single, part = UCS2_SINGLE, UCS2_PART
    return 1 if units <= single else math.ceil(units / part)


def sms_fits(max_segments: int = SMS_MAX_SEGMENTS) -> Fits:
    return lambda text: sms_segments(text) <= max_segments


def chars_fit(limit: int) -> Fits:
    return lambda text: len(text) <= limit


# --- splitting ----------------------------------------------------------------

# A sentence ends at . ! or ? followed by space and a capital, digit or quote:
# "e.g. this" and "council.example/contact" stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?])[ \t]+(?=[A-Z0-9\"'(£])")


def _units(text: str) -> list[tuple[str, str]]:
    """``(separator before it, unit)`` for each sentence, keeping line and paragraph breaks."""
    units: list[tuple[str, str]] = []
    for p, paragraph in enumerate(re.split(r"\n\s*\n", text.strip())):
        for l_, line in enumerate(paragraph.split("\n")):
            for s, sentence in enumerate(_SENTENCE_END.split(line.strip())):
                if not sentence:
                    continue
                separator = " " if s else ("\n" if l_ else ("\n\n" if p else ""))
                units.append((separator, sentence))
    return units


def _split_long(unit: str, fits: Fits) -> list[str]:
    """A sentence too long for one message: split at spaces, a word too long at characters."""
    parts: list[str] = []
    current = ""
    for word in unit.split(" "):
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            continue
        if current:
            parts.append(current)
        while not fits(word):  # a very long link, say: cut where it must
            cut = max(n for n in range(1, len(word) + 1) if fits(word[:n]))
            parts.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        parts.append(current)
    return parts


def split_message(text: str, fits: Fits) -> list[str]:
    """``text`` as few messages as possible, each fitting, split at sentence boundaries."""
    messages: list[str] = []
    current = ""
    for separator, unit in _units(text):
        candidate = current + separator + unit if current else unit
        if fits(candidate):
            current = candidate
            continue
        if current:
            messages.append(current)
        if fits(unit):
            current = unit
        else:
            *whole, current = _split_long(unit, fits)
            messages.extend(whole)
    if current:
        messages.append(current)
    return messages


def render_text(text: str, options: Sequence[Option], fits: Fits) -> list[str]:
    """A message and its options as texts that each fit.

    The options follow the question: in its last message if they fit there,
    else together in a message of their own, else packed from the question on.
    """
    parts = split_message(text, fits) if text.strip() else []
    if not options:
        return parts
    block = numbered(options)
    if not parts:
        return split_message(block, fits)
    if fits(parts[-1] + "\n\n" + block):
        return [*parts[:-1], parts[-1] + "\n\n" + block]
    if fits(block):
        return [*parts, block]
    return [*parts[:-1], *split_message(parts[-1] + "\n\n" + block, fits)]


def render_sms(text: str, options: Sequence[Option], max_segments: int = SMS_MAX_SEGMENTS) -> list[str]:
    return render_text(
        to_gsm7_lookalikes(text),
        [Option(o.number, to_gsm7_lookalikes(o.title), o.payload) for o in options],
        sms_fits(max_segments),
    )


def render_whatsapp_text(text: str, options: Sequence[Option]) -> list[str]:
    return render_text(text, options, chars_fit(WHATSAPP_MAX_CHARS))


# --- WhatsApp interactive messages ----------------------------------------------


def _short(title: str, limit: int = WA_ROW_TITLE_MAX) -> str:
    """A title cut at a word boundary to ``limit`` characters, with an ellipsis if cut."""
    if len(title) <= limit:
        return title
    cut = title[: limit - 1]
    if title[limit - 1].isalnum():  # cut inside a word: drop the part word
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "…"


def whatsapp_interactive(text: str, options: Sequence[Option]) -> dict[str, Any] | None:
    """The Cloud API ``interactive`` object for a question and its options, or None if it can't fit.

    Reply buttons when there are at most three short titles; else a list, a
    title longer than a row allows shortened with the whole title as the
    row's description. Ids are the option numbers, checked on the way back.
    """
    if not options or not text.strip() or len(text) > WA_BODY_MAX:
        return None
    body = {"text": text}
    if len(options) <= WA_BUTTONS_MAX and all(len(o.title) <= WA_BUTTON_TITLE_MAX for o in options):
        buttons = [{"type": "reply", "reply": {"id": str(o.number), "title": o.title}} for o in options]
        return {"type": "button", "body": body, "action": {"buttons": buttons}}
    if len(options) <= WA_ROWS_MAX and all(len(o.title) <= WA_ROW_DESCRIPTION_MAX for o in options):
        rows = []
        for o in options:
            row = {"id": str(o.number), "title": _short(o.title)}
            if row["title"] != o.title:
                row["description"] = o.title
            rows.append(row)
        return {
            "type": "list",
            "body": body,
            "action": {"button": WA_LIST_BUTTON, "sections": [{"rows": rows}]},
        }
    return None
