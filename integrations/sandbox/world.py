"""The demo council every sandbox system is seeded from.

Deterministic: the same ``today`` gives the same world. Addresses are shared
by all systems (waste rounds, council tax accounts and reports refer to
them by UPRN).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
SEED = 20261127
LOCAL_CUSTODIAN_CODE = 3940  # Wiltshire

# (postcode, street, locality or "", post town, first house number, count, easting, northing)
STREETS: list[tuple[str, str, str, str, int, int, int, int]] = [
    ("SN15 1ER", "MARKET PLACE", "", "CHIPPENHAM", 1, 24, 392260, 173180),
    ("SN15 3HZ", "LONDON ROAD", "", "CHIPPENHAM", 2, 40, 392900, 172900),
    ("SN15 2BB", "HARDENHUISH LANE", "", "CHIPPENHAM", 1, 36, 391400, 174100),
    ("SN14 0AB", "BATH ROAD", "", "CHIPPENHAM", 3, 30, 390500, 172700),
    ("SN13 9DF", "HIGH STREET", "", "CORSHAM", 1, 28, 387200, 170300),
    ("SN11 8AA", "CHURCH STREET", "", "CALNE", 2, 26, 399800, 171000),
    ("SN12 6AB", "BANK STREET", "", "MELKSHAM", 1, 30, 390400, 163700),
    ("BA14 8JN", "COURT STREET", "", "TROWBRIDGE", 1, 34, 385600, 157900),
    ("SP1 3JQ", "CASTLE STREET", "", "SALISBURY", 2, 32, 414400, 130400),
    ("SN16 0EG", "HIGH STREET", "", "MALMESBURY", 1, 22, 393400, 187200),
    ("SN15 4LT", "LANGLEY ROAD", "LANGLEY BURRELL", "CHIPPENHAM", 1, 18, 393100, 175000),
]

# A postcode that exists but has no addresses in the demo council (for tests).
POSTCODE_WITHOUT_ADDRESSES = "SN15 9ZZ"

FIRST_NAMES = [
    "Alex",
    "Sam",
    "Jo",
    "Priya",
    "Tom",
    "Aisha",
    "Megan",
    "Oliver",
    "Zofia",
    "Ravi",
    "Grace",
    "Liam",
    "Hannah",
    "Kwame",
    "Ellie",
    "Noah",
    "Fatima",
    "Jack",
    "Chloe",
    "Dan",
]
SURNAMES = [
    "Smith",
    "Jones",
    "Patel",
    "Williams",
    "Brown",
    "Taylor",
    "Khan",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Roberts",
    "Nowak",
    "Walker",
    "Wright",
    "Green",
    "Hughes",
    "Hall",
]


@dataclass(frozen=True)
class Address:
    uprn: str
    udprn: str
    building_number: str
    street: str
    locality: str
    town: str
    postcode: str
    x: float
    y: float

    @property
    def single_line(self) -> str:
        parts = [f"{self.building_number}, {self.street}", self.locality, self.town, self.postcode]
        return ", ".join(p for p in parts if p)


@dataclass
class World:
    today: dt.date
    addresses: list[Address] = field(default_factory=list)
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))

    def by_postcode(self, postcode: str) -> list[Address]:
        return [a for a in self.addresses if a.postcode == postcode]

    def person(self) -> tuple[str, str]:
        return self.rng.choice(FIRST_NAMES), self.rng.choice(SURNAMES)


def today_in_london() -> dt.date:
    return dt.datetime.now(LONDON).date()


def build_world(today: dt.date | None = None) -> World:
    world = World(today=today or today_in_london())
    uprn = 100121000000
    udprn = 23000000
    for postcode, street, locality, town, first, count, east, north in STREETS:
        for i in range(count):
            uprn += 7
            udprn += 3
            number = first + i
            world.addresses.append(
                Address(
                    uprn=str(uprn),
                    udprn=str(udprn),
                    building_number=str(number),
                    street=street,
                    locality=locality,
                    town=town,
                    postcode=postcode,
                    x=float(east + i * 11),
                    y=float(north + (i % 7) * 9),
                )
            )
    return world
