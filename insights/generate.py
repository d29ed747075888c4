"""A synthetic year of demand at a large county council's scale, written through the store's write path.

About 3.3 million requests (``--scale`` changes that): a third "I want to
book" (leisure and library bookings), garden waste renewals peaking in
February and March, evening and weekend peaks, website chat, WhatsApp and SMS
mixed, failure demand followed by chasing (repeat contact), and a share
unresolved: not understood, not served (potholes, parking…) and back-office
failures, with what residents typed, some of it holding personal data for
the write path to redact.

It makes ``ConversationRecord``s, the store's input, directly (running a
year of Rasa event streams through the outcome rules would measure the
generator, not the store), and writes them with ``Writer.write`` and
``facts.rebuild``: the same path the ingest of Rasa events uses, redaction
included. The outcome rules are tested on real event streams instead.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from bisect import bisect
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import numpy as np

from insights import capture, demand_map, facts
from insights.clock import LONDON
from insights.records import UNRESOLVED, ConversationRecord, MessageRecord, RequestRecord
from insights.store import DemandStore, WriteResult
from integrations.office_hours import is_bank_holiday

YEAR_REQUESTS = 3_300_000
RESIDENTS = 800_000
CHANNELS = (("socketio", 0.55), ("whatsapp", 0.28), ("twilio", 0.17))

#: intent: (share of the year's requests, month weights Jan..Dec)
FLAT = (1,) * 12
MIX: dict[str, tuple[float, Sequence[float]]] = {
    "book_leisure_activity": (0.235, (1.35, 1.15, 1.0, 1.0, 1.0, 0.95, 1.15, 1.2, 1.0, 0.95, 0.9, 0.7)),
    "book_library_session": (0.095, (1.1, 1.1, 1.1, 1.0, 1.0, 0.9, 1.0, 1.05, 1.0, 1.0, 1.0, 0.8)),
    "cancel_booking": (0.03, (1.3, 1.1, 1.0, 1.0, 1.0, 0.95, 1.1, 1.15, 1.0, 0.95, 0.9, 0.8)),
    "leisure_opening_times": (0.04, (1.2, 1.0, 1.0, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.4)),
    "renew_library_loans": (0.07, FLAT),
    "library_opening_times": (0.025, (1.1, 1.0, 1.0, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.4)),
    "renew_garden_waste": (0.05, (0.6, 3.6, 4.0, 1.1, 0.5, 0.35, 0.3, 0.3, 0.3, 0.3, 0.3, 0.35)),
    "bin_collection_day": (0.09, (1.6, 0.9, 0.9, 1.1, 1.0, 0.9, 0.9, 1.0, 0.9, 0.9, 0.9, 1.7)),
    "report_missed_bin": (0.05, (1.7, 1.0, 0.9, 1.0, 1.0, 1.0, 1.0, 1.0, 0.9, 0.9, 0.9, 1.2)),
    "council_tax_balance": (0.04, (1.0, 1.0, 1.6, 1.5, 1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8)),
    "pay_council_tax": (0.035, (1.0, 1.0, 1.2, 1.5, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8)),
    "council_tax_moving_home": (0.015, (0.8, 0.9, 1.0, 1.0, 1.0, 1.1, 1.3, 1.4, 1.3, 1.0, 0.8, 0.6)),
    "council_tax_discount": (0.01, (1.0, 1.0, 1.3, 1.3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8)),
    "council_tax_direct_debit": (0.015, (1.0, 1.0, 1.4, 1.6, 1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8)),
    "check_request_status": (0.03, (1.2, 1.4, 1.4, 1.0, 1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.1)),
    "make_complaint": (0.01, (1.4, 1.1, 1.1, 1.0, 1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 1.2)),
    "request_human": (0.025, FLAT),
    "help": (0.015, FLAT),
    "out_of_scope": (0.055, (1.1, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.1)),
    "nlu_fallback": (0.04, FLAT),
}
#: The journey's questions, in order: an abandoned journey stops at one of them.
STEPS = {
    "book_leisure_activity": ("activity", "date", "time", "confirm"),
    "book_library_session": ("resource", "date", "time", "confirm"),
    "cancel_booking": ("booking_reference", "confirm"),
    "renew_library_loans": ("library_card_number", "pin", "choose_loans"),
    "renew_garden_waste": ("postcode", "address", "number_of_bins", "payment"),
    "bin_collection_day": ("postcode", "address"),
    "report_missed_bin": ("postcode", "address", "bin_type"),
    "council_tax_balance": ("account_reference", "postcode"),
    "pay_council_tax": ("account_reference", "amount", "payment"),
    "council_tax_moving_home": ("account_reference", "moving_date", "new_address", "confirm"),
    "council_tax_discount": ("account_reference", "date_living_alone", "confirm"),
    "council_tax_direct_debit": ("account_reference", "payment_date"),
    "check_request_status": ("booking_reference",),
    "make_complaint": ("details", "email"),
    "request_human": ("callback_time",),
}
SYSTEMS = {
    "book_leisure_activity": "openactive",
    "book_library_session": "koha",
    "cancel_booking": "openactive",
    "renew_library_loans": "koha",
    "renew_garden_waste": "pay",
    "bin_collection_day": "waste",
    "report_missed_bin": "open311",
    "council_tax_balance": "council_tax",
    "pay_council_tax": "pay",
    "council_tax_moving_home": "council_tax",
    "council_tax_discount": "council_tax",
    "council_tax_direct_debit": "council_tax",
    "check_request_status": "open311",
    "make_complaint": "open311",
    "request_human": "contact_centre",
}
#: Outcome weights (the rest of a journey's requests); "know" questions are mostly answered.
TRANSACTION = {
    "completed": 70,
    "abandoned": 14,
    "cancelled": 3,
    "integration_failed": 2.5,
    "handed_over": 3,
    "informed": 7.5,
}
OUTCOME_MIX: dict[str, dict[str, float]] = {
    "renew_garden_waste": {
        "completed": 76,
        "abandoned": 14,
        "cancelled": 2,
        "integration_failed": 3,
        "handed_over": 3,
        "informed": 2,
    },
    "bin_collection_day": {"informed": 90, "abandoned": 8, "integration_failed": 1.5, "handed_over": 0.5},
    "council_tax_balance": {"informed": 80, "abandoned": 14, "integration_failed": 2, "handed_over": 4},
    "council_tax_moving_home": {"completed": 55, "abandoned": 25, "handed_over": 15, "integration_failed": 5},
    "council_tax_discount": {"completed": 60, "abandoned": 22, "handed_over": 14, "integration_failed": 4},
    "council_tax_direct_debit": {
        "completed": 58,
        "abandoned": 20,
        "handed_over": 18,
        "integration_failed": 4,
    },
    "check_request_status": {"informed": 82, "abandoned": 8, "handed_over": 8, "integration_failed": 2},
    "make_complaint": {"completed": 70, "abandoned": 15, "handed_over": 15},
    "request_human": {"handed_over": 95, "abandoned": 5},
    "leisure_opening_times": {"informed": 99, "handed_over": 1},
    "library_opening_times": {"informed": 99, "handed_over": 1},
    "help": {"informed": 99, "handed_over": 1},
}
#: Where "any service" requests turn out to belong.
SERVICE_OF = {
    "check_request_status": {"waste": 55, "leisure": 12, "libraries": 8, "council_tax": 18, "any": 7},
    "make_complaint": {"waste": 50, "council_tax": 20, "leisure": 10, "libraries": 5, "any": 15},
    "cancel_booking": {"leisure": 75, "libraries": 25},
}
TOPICS = {
    "potholes": 18,
    "parking": 14,
    "new_bin": 11,
    "housing": 10,
    "planning": 7,
    "fly_tipping": 8,
    "bulky_waste": 8,
    "tip": 6,
    "street_lights": 5,
    "benefits": 5,
    "schools": 3,
    "noise": 3,
    "pests": 3,
    "blue_badge": 3,
    "registrars": 2,
    "": 6,
}
#: Hourly weights, 00:00..23:00: weekdays peak in the evening, weekends late morning and evening.
WEEKDAY_HOURS = (
    0.5,
    0.3,
    0.2,
    0.15,
    0.15,
    0.3,
    0.9,
    2.2,
    3.6,
    4.4,
    4.6,
    4.6,
    4.8,
    4.5,
    4.2,
    4.0,
    4.0,
    4.3,
    5.2,
    6.4,
    6.9,
    6.1,
    3.9,
    1.6,
)
WEEKEND_HOURS = (
    0.8,
    0.5,
    0.3,
    0.2,
    0.2,
    0.25,
    0.5,
    1.2,
    2.8,
    4.6,
    5.8,
    6.2,
    5.9,
    5.2,
    4.8,
    4.6,
    4.5,
    4.7,
    5.3,
    6.3,
    6.6,
    5.7,
    3.8,
    1.9,
)
WEEKDAYS = (1.0, 0.95, 0.94, 0.95, 0.9, 1.18, 1.24)  # Monday..Sunday

NOT_UNDERSTOOD = (
    "can i get an assisted bin collection",
    "the bin men leave my bin in the road every week",
    "my recycling box blew away",
    "where do i get more food caddy liners",
    "do you take clinical waste",
    "can i put pizza boxes in recycling",
    "what goes in the blue bin",
    "the lorry damaged my wall",
    "why is my bin day changed",
    "the crew didn't put my bin back",
    "my bin has been stolen again",
    "i need a bigger bin we are a family of six",
    "do you collect christmas trees",
    "trade waste collection",
    "swimming lessons for my kids waiting list",
    "can i freeze my gym membership",
    "lost property at the pool",
    "is the sauna open",
    "parent and toddler swim times",
    "junior tennis coaching",
    "the gym was too busy",
    "i lost my library card",
    "can i pay my library fine",
    "do you have audiobooks for kids",
    "print something at the library",
    "my ebook won't download",
    "library card pin reset",
    "the council tax bill has the wrong name",
    "why has my council tax gone up",
    "i'm a student do i pay",
    "council tax refund from my old address",
    "two bills came for the same house",
    "annexe exemption",
    "severe mental impairment discount",
    "can i pay weekly",
    "bailiffs letter",
    "summons costs",
    "garden waste sticker not arrived",
    "i paid for garden waste but no bin",
    "can i share a garden bin",
    "green bin collection stopped",
    "renewal email never came",
    "asdfgh",
    "hello??",
    "yes the thing",
    "erm",
    "what",
    "not that",
    "the other one",
    "you're useless",
    "i already told you",
)
UNSUPPORTED = {
    "potholes": (
        "there's a pothole on {street}",
        "huge pothole damaged my tyre",
        "report a pothole",
        "the pavement is broken outside the school",
    ),
    "parking": (
        "i got a parking ticket",
        "how do i get a parking permit",
        "appeal a pcn",
        "residents parking zone",
    ),
    "new_bin": (
        "i need a new bin",
        "my bin is broken",
        "order a replacement bin",
        "bin stolen need another one",
    ),
    "housing": (
        "i'm homeless tonight",
        "repairs to my flat",
        "council house waiting list",
        "rent arrears help",
    ),
    "planning": (
        "planning permission for an extension",
        "object to a planning application",
        "do i need planning for a conservatory",
    ),
    "fly_tipping": (
        "someone dumped rubbish in the lane",
        "fly tipping on {street}",
        "dumped mattress outside",
    ),
    "bulky_waste": ("collect my old sofa", "bulky waste collection", "get rid of a fridge"),
    "tip": ("is the tip open", "recycling centre opening hours", "do i need to book the tip"),
    "street_lights": ("street light out on {street}", "the lamp post is flickering"),
    "benefits": ("universal credit help", "council tax reduction form", "housing benefit"),
    "schools": ("school place for my son", "school transport", "term dates"),
    "noise": ("noisy neighbours every night", "dog barking all day"),
    "pests": ("rats in my garden", "wasp nest removal"),
    "blue_badge": ("renew my blue badge", "disabled parking bay"),
    "registrars": ("register a birth", "copy of a death certificate"),
    "": ("book a table for two", "what's the weather", "renew my passport", "tv licence"),
}
ASKED = {
    "renew_garden_waste": ("renew my garden waste", "garden bin renewal", "pay for brown bin"),
    "pay_council_tax": ("pay my council tax", "pay council tax now"),
    "book_leisure_activity": ("book a swim", "book badminton on saturday", "book a spin class"),
    "book_library_session": ("book a computer at the library", "book the study room"),
    "renew_library_loans": ("renew my books", "renew library loans"),
    "report_missed_bin": ("my bin wasn't collected", "missed bin", "recycling not taken"),
    "bin_collection_day": ("when is my bin day", "which bin this week"),
}
PREFIXES = ("", "", "", "hi ", "hello ", "please ", "can you help ", "hiya ", "morning ", "i need help ")
SUFFIXES = ("", "", "", " please", "?", " thanks", " asap", "!!")
NAMES = (
    "John Smith",
    "Sarah Jones",
    "Priya Patel",
    "Dave",
    "Mohammed Ali",
    "Karen",
    "Tom Baker",
    "Aisha Khan",
)
STREETS = (
    "High Street",
    "Station Road",
    "Church Lane",
    "Mill Road",
    "Park Avenue",
    "London Road",
    "The Green",
)
OUTWARD = ("SN15", "SN14", "SN13", "SN12", "SN11", "BA14", "BA12", "SP1", "SP2", "SN16", "SN10", "SN8")


def _weighted(mapping: Mapping[str, float]) -> tuple[list[str], list[float]]:
    keys = list(mapping)
    return keys, list(accumulate(mapping[k] for k in keys))


def _pick(rng: random.Random, table: tuple[list[str], list[float]]) -> str:
    keys, cumulative = table
    return keys[bisect(cumulative, rng.random() * cumulative[-1])]


@dataclass(frozen=True)
class _Variant:
    """One pre-drawn way a request of an intent goes: drawn per request by index, so a year is cheap."""

    outcome: str
    step: str | None
    system: str | None
    service: str
    confidence: float
    answers: tuple[tuple[float, str | None], ...]  # (seconds after the first message, entity type)


@dataclass
class YearGenerator:
    start: dt.date
    days: int = 365
    requests: int = YEAR_REQUESTS  # in a whole year from ``start``
    seed: int = 7
    hash_key: bytes = b"synthetic"
    dm: demand_map.DemandMap = field(default_factory=demand_map.load)
    variants_per_intent: int = 2048

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.np = np.random.default_rng(self.seed)
        self._residents: dict[int, str] = {}
        self._recent: dict[str, deque[tuple[int, float]]] = defaultdict(lambda: deque(maxlen=4000))
        self._chases: dict[dt.date, list[int]] = defaultdict(list)
        self._topics = _weighted(TOPICS)
        self.intents = list(MIX)
        self._variants = {
            i: [self._variant(i) for _ in range(self.variants_per_intent)] for i in self.intents
        }
        self._hour_p = [np.array(h) / sum(h) for h in (WEEKDAY_HOURS, WEEKEND_HOURS)]
        year = [self.start + dt.timedelta(days=d) for d in range(365)]
        scale = self.requests / sum(share for share, _ in MIX.values())
        self._expected: dict[dt.date, np.ndarray] = {}
        per_intent = []
        for intent in self.intents:
            share, months = MIX[intent]
            weights = np.array([self._day_weight(d) * months[d.month - 1] for d in year])
            per_intent.append(share * scale * weights / weights.sum())
        table = np.array(per_intent)  # intents x days
        self._expected = {d: table[:, k] for k, d in enumerate(year)}

    @staticmethod
    def _day_weight(day: dt.date) -> float:
        return WEEKDAYS[day.weekday()] * (1.25 if is_bank_holiday(day) else 1.0)

    def _variant(self, intent: str) -> _Variant:
        rng = self.rng
        info = self.dm.info(intent)
        steps = STEPS.get(intent, ())
        step = system = None
        reached = len(steps)
        if intent == "nlu_fallback":
            outcome, reached = "not_understood", 0
        elif intent == "out_of_scope":
            outcome, reached = "unsupported", 0
        else:
            outcome = _pick(rng, _weighted(OUTCOME_MIX.get(intent, TRANSACTION))) if steps else "informed"
            if outcome in ("abandoned", "cancelled") and steps:
                reached = rng.randrange(len(steps))
                step = steps[reached]
            elif outcome == "integration_failed":
                system = SYSTEMS.get(intent, "assistant")
        service = _pick(rng, _weighted(SERVICE_OF[intent])) if intent in SERVICE_OF else info.service
        gap = 25.0 + rng.random() * 20
        confidence = round(
            0.3 + rng.random() * 0.3 if intent == "nlu_fallback" else 0.75 + rng.random() * 0.25, 3
        )
        answers = tuple((gap * (k + 1), _ENTITY.get(s)) for k, s in enumerate(steps[:reached]))
        return _Variant(outcome, step, system, service, confidence, answers)

    def resident(self, number: int) -> str:
        found = self._residents.get(number)
        if found is None:
            found = self._residents[number] = capture.resident_id(f"synthetic:{number}", self.hash_key)
        return found

    def __iter__(self) -> Iterator[list[ConversationRecord]]:
        for offset in range(self.days):
            yield self.day(self.start + dt.timedelta(days=offset))

    def day(self, day: dt.date) -> list[ConversationRecord]:
        """One UK day of conversations, in time order."""
        rng, gen = self.rng, self.np
        expected = self._expected[day]
        counts = np.floor(expected).astype(int) + (gen.random(len(expected)) < expected % 1)
        intents = np.repeat(np.arange(len(self.intents)), counts)
        n = len(intents)
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=LONDON).timestamp()
        hours = gen.choice(24, size=n, p=self._hour_p[day.weekday() >= 5])
        times = midnight + hours * 3600 + gen.random(n) * 3600
        residents = gen.integers(0, RESIDENTS, n)
        chase = self.intents.index("check_request_status")
        chasers = self._chases.pop(day, [])
        slots = np.flatnonzero(intents == chase)[: len(chasers)]
        residents[slots] = chasers[: len(slots)]
        variants = gen.integers(0, self.variants_per_intent, n)
        follow_on = gen.random(n) < 0.1  # a second request in the same conversation
        again = gen.random(n) < 0.06  # someone who asked about the same service this week
        again[slots] = False  # a chaser is who they are
        order = np.argsort(times, kind="stable")
        columns = zip(
            *(a[order].tolist() for a in (intents, variants, times, residents, again, follow_on)), strict=True
        )
        conversations: list[ConversationRecord] = []
        last_on: dict[str, list[Any]] = {}
        for intent_index, variant_index, when, number, repeat, follow in columns:
            intent = self.intents[intent_index]
            variant = self._variants[intent][variant_index]
            if repeat:
                number = self._recent_resident(variant.service, number, when)
            channel = _channel(number)
            text = self._text_for(intent, variant) if variant.outcome in UNRESOLVED else None
            messages = [MessageRecord(when, intent, variant.confidence, None, 0)]
            messages += [
                MessageRecord(when + offset, "inform", 0.95, entity, 0) for offset, entity in variant.answers
            ]
            ended = messages[-1].ts + 8.0
            info = self.dm.intents[intent]
            request = RequestRecord(
                0,
                when,
                ended,
                channel,
                intent,
                variant.service,
                info.category,
                info.demand,
                variant.outcome,
                variant.step,
                _topic(text),
                variant.system,
                len(messages),
                variant.confidence,
                text[0] if text else None,
            )
            if variant.outcome == "completed" and rng.random() < CHASED.get(intent, 0.0):
                self._chases[day + dt.timedelta(days=rng.randint(1, 5))].append(number)
            previous = last_on.get(channel)
            if previous is not None and follow and when - previous[2] < 1800 and len(previous[3]) == 1:
                seq = len(previous[3])
                previous[3].append(request._replace(seq=seq))
                previous[4] += [m._replace(request_seq=seq) for m in messages]
                previous[2] = ended
                continue
            if previous is not None:
                conversations.append(self._close(previous))
            last_on[channel] = [number, when, ended, [request], messages]
        conversations += [self._close(c) for c in last_on.values()]
        conversations += self._hellos(day, midnight, int(n * 0.03))
        return conversations

    def _recent_resident(self, service: str, number: int, when: float) -> int:
        recent = self._recent[service]
        if recent:
            other, at = recent[self.rng.randrange(len(recent))]
            if when - at < 6 * 86_400:
                return other
        recent.append((number, when))
        return number

    def _text_for(self, intent: str, variant: _Variant) -> tuple[str, str | None] | None:
        """What an unresolved request said (and its topic), or ``None``."""
        rng = self.rng
        if variant.outcome == "not_understood":
            return self._text(rng.choice(NOT_UNDERSTOOD)), None
        if variant.outcome == "unsupported":
            topic = _pick(rng, self._topics)
            return self._text(rng.choice(UNSUPPORTED[topic])), topic or None
        if variant.outcome == "integration_failed":
            asked = self._text(rng.choice(ASKED.get(intent, (self.dm.info(intent).title.lower(),))))
            return " / ".join([asked, *self._answers([e for _, e in variant.answers])]), None
        return None

    def _hellos(self, day: dt.date, midnight: float, count: int) -> list[ConversationRecord]:
        """People who only say hello: conversations with no request."""
        out = []
        for _ in range(count):
            number = self.rng.randrange(RESIDENTS)
            when = midnight + self.rng.random() * 86_400
            resident = self.resident(number)
            out.append(
                ConversationRecord(
                    capture.conversation_key(resident, when),
                    resident,
                    _channel(number),
                    when,
                    when + 30,
                    "abandoned",
                    "no_request",
                    (),
                    (MessageRecord(when, "greet", 0.97, None, None),),
                )
            )
        return out

    def _text(self, phrase: str) -> str:
        rng = self.rng
        text = rng.choice(PREFIXES) + phrase.format(street=rng.choice(STREETS)) + rng.choice(SUFFIXES)
        if rng.random() < 0.05:  # personal data the write path must remove
            text += rng.choice(
                (
                    f", my name is {rng.choice(NAMES)}",
                    f" at {rng.randint(1, 120)} {rng.choice(STREETS)}",
                    f" {rng.choice(OUTWARD)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"
                    f"{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
                    f" call me on 07700 900{rng.randint(0, 999):03d}",
                    f" email {rng.choice(('jo', 'sam', 'pat'))}{rng.randint(1, 999)}@example.com",
                )
            )
        return text

    def _answers(self, entities: Sequence[str | None]) -> list[str]:
        rng = self.rng
        examples = {
            "postcode": f"{rng.choice(OUTWARD)} {rng.randint(1, 9)}AB",
            "number_of_bins": "2",
            "account_reference": f"{rng.randint(10_000_000, 99_999_999)}",
            "date": "saturday",
            "time": "10am",
            "activity": "swimming",
        }
        return [examples.get(e or "", "yes") for e in entities]

    def _close(self, c: list[Any]) -> ConversationRecord:
        number, started, ended, requests, messages = c
        resident = self.resident(number)
        last = requests[-1]
        return ConversationRecord(
            key=capture.conversation_key(resident, started),
            resident=resident,
            channel=last.channel,
            started=started,
            ended=ended,
            outcome=last.outcome,
            step=last.step,
            requests=tuple(requests),
            messages=tuple(messages),
        )


#: Share of completed requests of these intents chased within days ("has it gone through?").
CHASED = {"report_missed_bin": 0.3, "renew_garden_waste": 0.08}


def _channel(resident: int) -> str:
    """A resident's channel, always the same (a phone on SMS is another sender on WhatsApp)."""
    point = (resident * 2654435761 % 1000) / 1000
    for name, weight in CHANNELS:
        if point < weight:
            return name
        point -= weight
    return CHANNELS[0][0]


def _topic(text: tuple[str, str | None] | None) -> str | None:
    return text[1] if text else None


_ENTITY = {
    "postcode": "postcode",
    "account_reference": "account_reference",
    "booking_reference": "booking_reference",
    "library_card_number": "library_card_number",
    "date": "date",
    "time": "time",
    "number_of_bins": "number_of_bins",
    "activity": "activity",
    "resource": "resource",
    "email": "email",
    "moving_date": "date",
    "payment_date": "date",
    "date_living_alone": "date",
    "bin_type": "bin_type",
}


@dataclass
class Generated:
    written: WriteResult
    days: int
    fact_days: int


def generate(
    store: DemandStore,
    start: dt.date,
    *,
    days: int = 365,
    scale: float = 1.0,
    seed: int = 7,
    batch_days: int = 7,
    rebuild_facts: bool = True,
) -> Generated:
    """Write a synthetic period through the store's write path; returns what was written."""
    generator = YearGenerator(
        start,
        days=days,
        requests=math.ceil(YEAR_REQUESTS * scale),
        seed=seed,
        hash_key=store.settings.hash_key or b"synthetic",
    )
    written = WriteResult()
    batch: list[ConversationRecord] = []
    for number, conversations in enumerate(generator, start=1):
        batch += conversations
        if number % batch_days == 0 or number == days:
            batch.sort(key=lambda c: c.key)
            with store.writing() as writer:
                written.add(writer.write(batch))
            batch = []
    return Generated(written, days, facts.rebuild(store) if rebuild_facts else 0)
