"""The demand map covers the domain exactly, with valid kinds."""

from __future__ import annotations

from pathlib import Path

import yaml

from insights.demand_map import DEMAND_KINDS, load

ROOT = Path(__file__).resolve().parents[2]


def domain_intents() -> set[str]:
    intents: set[str] = set()
    for path in (ROOT / "bot" / "domain").glob("*.yml"):
        intents.update(yaml.safe_load(path.read_text()).get("intents") or [])
    return intents


def test_every_domain_intent_is_mapped_and_nothing_else():
    mapped = set(load().intents)
    assert domain_intents() - mapped == set(), "intents missing from data/demand_map.yml"
    assert mapped - domain_intents() == set(), "demand map names intents the domain does not have"


def test_catalogue_values_and_failures_as_designed():
    dm = load()
    assert {i.demand for i in dm.intents.values()} <= DEMAND_KINDS
    failures = {name for name, i in dm.intents.items() if i.demand == "failure"}
    assert failures == {"report_missed_bin", "check_request_status", "make_complaint"}
    assert dm.info("renew_garden_waste").category == "renew"
    assert dm.info(None).intent == "nlu_fallback"


def test_unsupported_topics_are_recognised_and_near_misses_are_not():
    dm = load()
    assert dm.unsupported_topic("who do I tell about a broken street light").key == "street_lights"
    assert dm.unsupported_topic("my PARKING permit has run out").key == "parking"
    assert dm.unsupported_topic("renew my tv licence") is None
    assert dm.unsupported_topic("what is the weather") is None
