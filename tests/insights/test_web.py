"""The reports app: nothing without sign-in, bad input answered 4xx with a reason, residents' text escaped."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.machinery
import io
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from insights import facts, reports
from insights.generate import generate
from insights.settings import Settings
from insights.store import DemandStore
from insights.web import create_app
from tests.insights.conftest import conversation, settings_for

TOKEN = "test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SCRIPT = "<script>alert('x')</script> my bin"
DAY = dt.datetime(2026, 3, 10, 19, 0, tzinfo=dt.timezone.utc).timestamp()
RANGE = "from=2026-03-01&to=2026-03-31"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    tmp = tmp_path_factory.mktemp("web")
    settings = settings_for(tmp, token=TOKEN, user="designer", password="correct horse")
    store = DemandStore.from_settings(settings).create()
    generate(store, dt.date(2026, 3, 1), days=14, scale=0.004, seed=3, rebuild_facts=False)
    with store.writing() as writer:
        writer.write(
            [
                conversation(
                    "aaaaaaaaaaaaaaaa",
                    DAY,
                    {"intent": "nlu_fallback", "outcome": "not_understood", "text": SCRIPT},
                ),
                conversation(
                    "bbbbbbbbbbbbbbbb",
                    DAY + 60,
                    {
                        "intent": "out_of_scope",
                        "outcome": "unsupported",
                        "topic": "potholes",
                        "text": '=HYPERLINK("x") pothole',
                    },
                ),
            ]
        )
    facts.rebuild(store)
    store.engine.dispose()
    return settings


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def signed_in(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        response = test_client.post(
            "/login", data={"username": "designer", "password": "correct horse"}, follow_redirects=False
        )
        assert response.status_code == 303
        yield test_client


API_PATHS = [
    "/api/v1/reports",
    "/api/v1/filters",
    "/api/v1/reports/demand",
    "/api/v1/reports/themes.csv",
    "/api/v1/themes/1/nlu.yml",
    "/api/openapi.json",
]


@pytest.mark.parametrize("path", API_PATHS)
def test_the_api_without_a_token_is_401_and_says_how_to_authenticate(client: TestClient, path: str):
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in response.json()["detail"]


@pytest.mark.parametrize("path", API_PATHS)
def test_the_api_with_a_wrong_token_is_401(client: TestClient, path: str):
    assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.parametrize("path", ["/reports", "/reports/themes", "/reports/unresolved", "/api/docs"])
def test_pages_without_sign_in_send_you_to_sign_in_and_show_nothing(client: TestClient, path: str):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert "requests" not in response.text


def test_only_health_and_sign_in_are_public(client: TestClient):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/login").status_code == 200
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-01", "from: invalid date format; use YYYY-MM-DD"),
        ("to=yesterday", "to: invalid date format; use YYYY-MM-DD"),
        (
            "from=2026-03-31&to=2026-03-01",
            "from (2026-03-31) is after to (2026-03-01): the range must run forwards",
        ),
        ("from=1900-01-01&to=2100-12-31", "the range is 73,414 days long; a report covers at most 732 days"),
        ("service=potholes", "unknown service 'potholes'; use one of: any, bookings,"),
        ("channel=carrier-pigeon", "unknown channel 'carrier-pigeon'; use one of:"),
        ("period=fortnight", "unknown period 'fortnight'; use one of: day, month, week"),
        ("by=colour", "unknown by 'colour'; use one of:"),
    ],
)
def test_bad_filters_are_400_with_what_was_wrong(client: TestClient, query: str, message: str):
    response = client.get(f"/api/v1/reports/demand?{query}", headers=BEARER)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(message)


def test_other_bad_requests_are_4xx_never_500(client: TestClient):
    assert client.get("/api/v1/reports/unresolved?limit=0", headers=BEARER).status_code == 400
    assert client.get("/api/v1/reports/unresolved?limit=lots", headers=BEARER).status_code == 400
    assert client.get("/api/v1/reports/nonsense", headers=BEARER).status_code == 404
    missing_table = client.get("/api/v1/reports/outcomes.csv?table=nope", headers=BEARER)
    assert missing_table.status_code == 400 and "by_journey" in missing_table.json()["detail"]
    assert client.get(f"/api/v1/themes/999/nlu.yml?{RANGE}", headers=BEARER).status_code == 404
    assert client.get("/api/v1/themes/one/nlu.yml", headers=BEARER).status_code == 400


@pytest.mark.parametrize("name", list(reports.REPORTS))
def test_every_report_answers_json_with_its_tables(client: TestClient, name: str):
    response = client.get(f"/api/v1/reports/{name}?{RANGE}", headers=BEARER)
    assert response.status_code == 200
    body = response.json()
    assert (body["report"], body["from"], body["to"]) == (name, "2026-03-01", "2026-03-31")
    assert body["findings"] and [t["name"] for t in body["tables"]] == list(reports.REPORTS[name].tables)
    for table in body["tables"]:
        keys = [c["key"] for c in table["columns"]]
        assert all(list(row) == keys for row in table["rows"])


@pytest.mark.parametrize("name", list(reports.REPORTS))
def test_every_table_exports_as_csv_with_the_same_rows_as_json(client: TestClient, name: str):
    body = client.get(f"/api/v1/reports/{name}?{RANGE}", headers=BEARER).json()
    for table in body["tables"]:
        response = client.get(f"/api/v1/reports/{name}.csv?{RANGE}&table={table['name']}", headers=BEARER)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == [c["key"] for c in table["columns"]]
        assert len(rows) - 1 == len(table["rows"])


def test_filters_narrow_the_figures(client: TestClient):
    def total(query: str) -> int:
        body = client.get(f"/api/v1/reports/demand?{RANGE}&{query}", headers=BEARER).json()
        return sum(row["requests"] for row in body["tables"][0]["rows"])

    everything, waste, whatsapp = total(""), total("service=waste"), total("channel=whatsapp")
    assert 0 < waste < everything and 0 < whatsapp < everything


def test_a_stored_script_is_shown_as_text_and_never_runs(signed_in: TestClient):
    page = signed_in.get(f"/reports/unresolved?{RANGE}")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; my bin" in page.text
    assert "<script" not in page.text
    assert "script-src 'none'" in page.headers["content-security-policy"]


def test_a_stored_formula_is_not_a_formula_in_the_csv(client: TestClient):
    text = client.get(f"/api/v1/reports/unresolved.csv?{RANGE}", headers=BEARER).text
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


@pytest.mark.parametrize("name", list(reports.REPORTS))
def test_every_report_page_has_accessible_charts_and_tables(signed_in: TestClient, name: str):
    page = signed_in.get(f"/reports/{name}?{RANGE}").text
    assert '<a href="#main-content" class="govuk-skip-link">' in page
    assert len(re.findall(r"<h1 ", page)) == 1
    for svg in re.findall(r"<svg[^>]*>", page):
        labelled = re.search(r'aria-labelledby="(chart-\d+-title) (chart-\d+-desc)"', svg)
        assert 'role="img"' in svg and labelled
        assert f'id="{labelled.group(1)}"' in page and f'id="{labelled.group(2)}"' in page
    assert page.count("<caption") == page.count("<table")
    assert 'scope="col"' in page
    assert 'for="filter-from"' in page and 'id="filter-from"' in page


def test_a_bad_filter_on_a_page_is_an_error_summary_not_a_crash(signed_in: TestClient):
    page = signed_in.get("/reports/outcomes?from=2026-02-30")
    assert page.status_code == 400
    assert "There is a problem" in page.text and 'href="#filter-from"' in page.text
    assert "is not a date" in page.text


def test_the_hours_report_marks_office_hours_in_the_grid(signed_in: TestClient):
    page = signed_in.get(f"/reports/hours?{RANGE}").text
    assert "Contact centre open (Mon-Fri 08:30-17:00)" in page
    assert page.count("app-cell--marked") == 5 * 9  # 08:00 (from 08:30) to 16:00 on five weekdays


def test_a_theme_exports_as_rasa_nlu_training_data(client: TestClient):
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    themes = client.get(f"/api/v1/reports/themes?{RANGE}", headers=BEARER).json()["tables"][0]["rows"]
    number = themes[0]["theme"]
    response = client.get(f"/api/v1/themes/{number}/nlu.yml?{RANGE}", headers=BEARER)
    assert response.status_code == 200
    data = RasaYAMLReader().reads(response.text)
    assert len(data.intents) == 1 and data.training_examples
    assert next(iter(data.intents)).startswith("theme_")


def test_sign_in_refuses_wrong_passwords_throttles_and_never_redirects_away(settings: Settings):
    with TestClient(create_app(settings)) as fresh:
        wrong = fresh.post("/login", data={"username": "designer", "password": "nope"})
        assert wrong.status_code == 401 and "not right" in wrong.text
        for _ in range(5):
            fresh.post("/login", data={"username": "designer", "password": "nope"})
        assert (
            fresh.post("/login", data={"username": "designer", "password": "correct horse"}).status_code
            == 429
        )
    with TestClient(create_app(settings)) as other:
        response = other.post(
            "/login",
            data={"username": "designer", "password": "correct horse", "next": "//evil.example/"},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/reports"
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_a_cookie_signed_with_another_secret_is_not_a_session(settings: Settings):
    from insights import auth

    forged = auth.session_cookie(Settings(user="designer", session_secret=b"other"), "designer")
    with TestClient(create_app(settings), cookies={auth.COOKIE: forged}) as client:
        assert client.get("/api/v1/reports", follow_redirects=False).status_code == 401


def test_unset_credentials_grant_nothing(tmp_path: Path):
    with TestClient(create_app(settings_for(tmp_path))) as client:
        assert client.get("/api/v1/reports", headers={"Authorization": "Bearer "}).status_code == 401
        assert client.post("/login", data={"username": "", "password": ""}).status_code == 401


def test_the_openapi_document_describes_the_reports(client: TestClient):
    spec = client.get("/api/openapi.json", headers=BEARER).json()
    operation = spec["paths"]["/api/v1/reports/{name}"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"name", "from", "to", "service", "channel", "period", "by"} <= names
    assert (
        "/api/v1/reports/{name}.csv" in spec["paths"] and "/api/v1/themes/{number}/nlu.yml" in spec["paths"]
    )


def test_the_demo_page_router_is_included_when_its_module_exists(settings: Settings, monkeypatch):
    demo = types.ModuleType("insights.demo")
    demo.__spec__ = importlib.machinery.ModuleSpec("insights.demo", None)
    demo.router = APIRouter()

    @demo.router.get("/")
    def page() -> dict[str, str]:
        return {"page": "demo"}

    monkeypatch.setitem(sys.modules, "insights.demo", demo)
    with TestClient(create_app(settings)) as client:
        assert client.get("/").json() == {"page": "demo"}


def test_the_app_ingests_rasa_events_by_itself_while_it_runs(tmp_path: Path):
    import time

    from rasa.core.brokers.sql import SQLEventBroker
    from sqlalchemy.engine import make_url

    from tests.insights.conftest import T0, recording

    settings = settings_for(tmp_path, token=TOKEN, ingest_seconds=1)
    broker = SQLEventBroker(db=make_url(settings.events_url).database)
    for event in recording("talk_to_a_person", sender="+447700900099", start=T0):
        broker.publish(event)
    broker.engine.dispose()
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = client.get(
                "/api/v1/reports/outcomes?from=2026-03-01&to=2026-03-31", headers=BEARER
            ).json()["tables"][0]["rows"]
            if rows:
                break
            time.sleep(0.5)
    assert [(r["service"], r["handed_over"]) for r in rows] == [("contact", 1)]
