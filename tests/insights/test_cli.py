"""The command line: reports as a table, CSV or JSON; bad input is exit status 2 with the reason."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
from pathlib import Path

import pytest

from insights import facts
from insights.store import DemandStore
from tests.insights.conftest import conversation, run_cli, settings_for
from tests.support.processes import ROOT

WHEN = dt.datetime(2026, 3, 3, 12, 0, tzinfo=dt.timezone.utc).timestamp()


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    settings = settings_for(tmp_path_factory.mktemp("cli"))
    store = DemandStore.from_settings(settings).create()
    with store.writing() as writer:
        writer.write(
            [
                conversation(
                    "1111111111111111",
                    WHEN,
                    {"intent": "renew_garden_waste", "outcome": "completed"},
                    channel="whatsapp",
                ),
                conversation(
                    "2222222222222222",
                    WHEN + 60,
                    {"intent": "renew_garden_waste", "outcome": "abandoned", "step": "number_of_bins"},
                ),
                conversation(
                    "3333333333333333", WHEN + 120, {"intent": "report_missed_bin", "outcome": "completed"}
                ),
            ]
        )
    facts.rebuild(store)
    store.engine.dispose()
    return settings.store_url


def run(store_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PYTHONPATH": str(ROOT),
        "DEMAND_HASH_KEY": "k",
        "PATH": "/usr/bin:/bin",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    return run_cli(env, "--store", store_url, *args)


def test_a_report_prints_as_a_table_csv_and_json(store_url: str):
    scope = ["--from", "2026-03-01", "--to", "2026-03-31", "--service", "waste"]
    table = run(store_url, "report", "outcomes", *scope)
    assert table.returncode == 0, table.stderr
    assert "Outcomes and automation rate by service" in table.stdout
    assert "Renew garden waste collection" in table.stdout and "50%" in table.stdout

    as_csv = run(store_url, "report", "outcomes", *scope, "--format", "csv", "--table", "by_journey")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    garden = next(r for r in rows if r["intent"] == "renew_garden_waste")
    assert (garden["requests"], garden["completed"], garden["automation_rate"]) == ("2", "1", "0.5")

    as_json = json.loads(run(store_url, "report", "drop-off", *scope, "--format", "json").stdout)
    assert as_json["tables"][0]["rows"][0]["step"] == "number_of_bins"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "demand", "--from", "31/03/2026"], "from: '31/03/2026' is not a date"),
        (["report", "demand", "--service", "dragons"], "unknown service 'dragons'"),
        (
            ["report", "demand", "--from", "2020-01-01", "--to", "2026-01-01"],
            "a report covers at most 732 days",
        ),
        (["report", "demand", "--format", "csv", "--table", "nope"], "no table 'nope'"),
    ],
)
def test_bad_input_exits_2_with_the_reason(store_url: str, args: list[str], message: str):
    done = run(store_url, *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_an_unknown_report_is_refused_by_name(store_url: str, tmp_path: Path):
    done = run(store_url, "report", "everything")
    assert done.returncode == 2 and "invalid choice: 'everything'" in done.stderr
