"""Every fault of the suite, injected during traffic: a defined reply, recovery, nothing lost."""

from __future__ import annotations

import pytest

from tests.production.faults import run_suite
from tests.production.stack import PrivateBackends, ProductionStack

pytestmark = pytest.mark.production


def test_each_fault_gets_a_defined_reply_recovers_and_loses_no_event(
    production: ProductionStack, private_backends: PrivateBackends
) -> None:
    report = run_suite(production, private_backends)
    print("\n" + report.table())
    for row in report.rows:
        assert row.recovered_after is not None, f"{row.fault}: never back to normal"
        assert set(row.seen) <= row.allowed, f"{row.fault}: residents saw {row.seen}"
    assert report.problems == {}
    assert report.events > 0 and report.events_missing == 0
