"""The chat widget in headless Chromium against the real stack (tests/channels/browser/widget.mjs).

Needs Debian's chromium and the npm packages in package.json: ``make browser-deps``
(which ``make test`` runs first) installs them.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

from tests.channels.stack import Stack
from tests.support.processes import ROOT

SCRIPT = ROOT / "tests" / "channels" / "browser" / "widget.mjs"
SCREENSHOT = ROOT / "docs" / "screenshots" / "widget.png"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
GOVUK_FOCUS = "rgb(255, 221, 0)"


def drive(scenario: str, **options: Any) -> dict[str, Any]:
    missing = [
        what
        for what, there in (
            ("node", shutil.which("node")),
            ("chromium", Path(CHROMIUM).exists()),
            ("node_modules", (ROOT / "node_modules" / "playwright-core").exists()),
        )
        if not there
    ]
    assert not missing, f"browser test tools missing ({', '.join(missing)}): run `make browser-deps`"
    run = subprocess.run(
        ["node", str(SCRIPT), scenario, json.dumps({"chromium": CHROMIUM, **options})],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        result = json.loads(run.stdout)
    except ValueError:
        raise AssertionError(f"the browser driver failed:\n{run.stdout}\n{run.stderr}") from None
    assert result["ok"], result.get("error")
    return result


def demo_url(stack: Stack) -> str:
    assert stack.reports is not None
    return stack.reports.url + "/demo"


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_a_resident_finds_their_bin_day_in_the_widget_with_the_keyboard_only(stack):
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        {"say": "help"},
        {"choose": "Find your bin collection day"},
        {"say": "SN15 1ER"},
        {"say": "1"},  # house number
    ]
    result = drive("journey", url=demo_url(stack), steps=steps, screenshot=str(SCREENSHOT))

    launcher = result["opened"]["launcher"]["reached"]
    assert launcher["text"] == "Ask the council" and launcher["background"] == GOVUK_FOCUS
    assert result["opened"]["afterOpen"]["className"] == "ca-input"  # Enter opened it and focus moved in
    menu, choice, postcode, house = result["steps"]
    assert "Find your bin collection day" in menu["options"] and len(menu["options"]) == 10
    assert choice["focus"]["reached"]["background"] == GOVUK_FOCUS  # an option reached with Shift+Tab
    assert "postcode" in choice["replies"][0].lower()
    assert any(word in postcode["replies"][0].lower() for word in ("house number", "address"))
    answer = " ".join(house["replies"])
    assert "1 Market Place" in answer and "collection" in answer.lower()
    assert house["afterReply"]["className"] == "ca-input"  # ready for the next message
    assert result["typing"]["status"].startswith("The assistant is typing")
    assert result["typing"]["animation"] == "ca-typing"
    assert result["liveRegion"]["role"] == "log" and result["liveRegion"]["live"] == "polite"
    assert house["replies"][-1] in result["liveRegion"]["lastText"]  # the latest reply is in the live log
    assert png_size(SCREENSHOT) == (1280, 900)


def test_axe_core_finds_no_wcag_22_aa_violations_with_the_widget_closed_or_open(stack):
    result = drive("axe", url=demo_url(stack))
    assert result["optionsShown"] == 10
    assert result["closed"]["passes"] > 0 and result["open"]["passes"] > result["closed"]["passes"]
    assert result["closed"]["violations"] == []
    assert result["open"]["violations"] == []


def test_the_widget_fits_a_phone_large_text_a_reload_and_keeps_residents_apart(stack):
    result = drive("layout", url=demo_url(stack))
    for layout in (result["phoneLayout"], result["largeText"]):
        assert layout["panel"] == {"left": 0, "right": 390, "top": 0, "bottom": 844}  # the whole screen
        assert layout["inputVisible"]
        assert not layout["horizontalScroll"] and not layout["panelScrollsSideways"]
    assert min(result["optionHeights"]) >= 24  # WCAG 2.2 target size, at 200% text
    assert result["typingAnimation"]["typing"] and result["typingAnimation"]["animation"] == "none"
    assert result["afterReload"]["transcript"] == result["transcriptBefore"] != []
    assert result["afterReload"]["open"] and len(result["afterReload"]["options"]) == 10
    assert result["otherResident"]["transcript"] == []


def test_payment_links_and_references_stand_out_and_text_is_never_html(stack):
    pay = "https://card.payments.service.gov.uk/secure/0a1b2c3d-4e5f"
    messages = [
        {"text": f"Your reference is gw-123456. Pay here: {pay}"},
        {"text": "<img src=x onerror=alert(1)> See https://www.council.example/bins/garden-waste."},
    ]
    result = drive("render", url=demo_url(stack), messages=messages)
    shown = result["shown"]
    assert shown["payLinks"] == [{"href": pay, "text": "Pay now (GOV.UK Pay, a secure payment page)"}]
    assert shown["references"] == ["GW-123456"]
    assert shown["links"] == [
        "https://www.council.example/bins/garden-waste"
    ]  # the full stop is not the link's
    assert shown["images"] == 0 and "<img src=x onerror=alert(1)>" in shown["text"]
    assert result["sent"][:2] == [
        {"conversation": "token-1", "text": "hello"},
        {"conversation": "token-1", "text": "Talk to a person"},
    ]
    assert result["afterRestart"]["messages"] == 0
    assert result["afterRestart"]["focus"]["className"] == "ca-input"
    assert result["sent"][2] == {"conversation": "token-2", "text": "again"}  # a new conversation
    assert result["sessions"] == 2
    assert result["afterEscape"] == {"focus": result["afterEscape"]["focus"], "open": False}
    assert result["afterEscape"]["focus"]["className"] == "ca-launcher"
