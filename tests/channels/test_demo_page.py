"""The demo council page and the widget's files, from the reports app (in process)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from insights.web import create_app


@pytest.fixture(autouse=True)
def own_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reports app's databases in this test's folder, not the repo's var/."""
    for name in ("DEMAND_STORE_URL", "RASA_EVENTS_DB", "RASA_TRACKER_DB"):
        monkeypatch.setenv(name, str(tmp_path / f"{name.lower()}.db"))
    monkeypatch.setenv("DEMAND_HASH_KEY", "demo-page-tests")


def test_the_demo_page_embeds_the_widget_with_one_script_tag(monkeypatch):
    monkeypatch.setenv("RASA_PUBLIC_URL", "https://chat.council.example/")
    client = TestClient(create_app())
    for path in ("/", "/demo"):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        scripts = re.findall(r"<script[^>]*>", page.text)
        assert len(scripts) == 1
        assert 'src="/static/widget/widget.js"' in scripts[0]
        assert 'data-assistant-url="https://chat.council.example"' in scripts[0]
        assert '<html lang="en-GB"' in page.text and 'href="#main-content"' in page.text


def test_the_widget_files_are_served_with_their_types_and_nothing_else():
    client = TestClient(create_app())
    script = client.get("/static/widget/widget.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/widget/widget.css").headers["content-type"].startswith("text/css")
    for path in ("/static/widget/..%2Fdemo.py", "/static/widget/missing.js", "/static/widget/demo.py"):
        assert client.get(path).status_code == 404
