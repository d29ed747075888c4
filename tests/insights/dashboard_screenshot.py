"""Screenshots of the dashboard in headless Chromium, with an axe-core check of each page (WCAG 2.2 AA).

    python -m tests.insights.dashboard_screenshot --store sqlite:///var/demand.db [--out docs/screenshots]

Starts the reports app on a free port (signing in with a session cookie made
from a secret of this run), starts Debian's ``chromium`` headless with a fresh
profile, drives it over the DevTools protocol, saves ``dashboard.png`` (the
overview) and one picture per report named in ``--pages``, and prints axe-core's
WCAG 2.2 A/AA violations for each page (``node_modules/axe-core``, when installed).
Both processes are stopped by their own pid.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

from insights import auth
from insights.settings import Settings
from tests.support.processes import ROOT, free_port, start_service

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDTH = 1280


class DevTools:
    """The few DevTools protocol calls a screenshot needs."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.next_id = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        for _ in range(200):
            ready = await self.call("Runtime.evaluate", expression="document.readyState", returnByValue=True)
            if ready["result"].get("value") == "complete":
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{url} did not finish loading")

    async def screenshot(self, path: Path) -> None:
        height = await self.call(
            "Runtime.evaluate", expression="document.documentElement.scrollHeight", returnByValue=True
        )
        await self.call(
            "Emulation.setDeviceMetricsOverride",
            width=WIDTH,
            height=int(height["result"]["value"]),
            deviceScaleFactor=1,
            mobile=False,
        )
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    async def axe(self) -> list[dict[str, Any]]:
        if not AXE.exists():
            return []
        await self.call("Runtime.evaluate", expression=AXE.read_text())
        tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
        result = await self.call(
            "Runtime.evaluate",
            awaitPromise=True,
            returnByValue=True,
            expression=f"axe.run(document, {{runOnly: {json.dumps(tags)}}}).then(r => r.violations.map("
            "v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length})))",
        )
        return result["result"]["value"]


async def capture(base: str, cookie: str, pages: dict[str, str], out: Path, port: int) -> dict[str, list]:
    version = httpx.get(f"http://127.0.0.1:{port}/json/version", timeout=10).json()
    async with websockets.connect(version["webSocketDebuggerUrl"], max_size=None) as browser_socket:
        browser = DevTools(browser_socket)
        target = await browser.call("Target.createTarget", url="about:blank")
        session = await browser.call("Target.attachToTarget", targetId=target["targetId"], flatten=False)
    targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
    page_socket = next(t["webSocketDebuggerUrl"] for t in targets if t["id"] == target["targetId"])
    del session
    findings: dict[str, list] = {}
    async with websockets.connect(page_socket, max_size=None) as socket:
        page = DevTools(socket)
        await page.call("Page.enable")
        await page.call("Network.enable")
        await page.call("Page.setBypassCSP", enabled=True)  # to run axe-core; the app's CSP allows no script
        await page.call(
            "Emulation.setDeviceMetricsOverride", width=WIDTH, height=900, deviceScaleFactor=1, mobile=False
        )
        await page.call(
            "Network.setCookie", name=auth.COOKIE, value=cookie, url=base, httpOnly=True, sameSite="Strict"
        )
        for name, path in pages.items():
            await page.open(base + path)
            await page.screenshot(out / f"{name}.png")
            findings[name] = await page.axe()
    return findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="the demand store URL to show")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument(
        "--query", default="", help="filters for every page, e.g. from=2025-04-01&to=2026-03-31"
    )
    parser.add_argument(
        "--pages", default="hours,outcomes,themes", help="reports to picture besides the overview"
    )
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(16)
    cookie = auth.session_cookie(Settings(user="designer", session_secret=secret.encode()), "designer")
    query = f"?{args.query}" if args.query else ""
    pages = {"dashboard": f"/reports{query}"}
    pages.update({f"dashboard-{p}": f"/reports/{p}{query}" for p in args.pages.split(",") if p})
    with tempfile.TemporaryDirectory() as tmp:
        port, debug_port = free_port(), free_port()
        app = start_service(
            "reports",
            [sys.executable, "-m", "insights.web"],
            port=port,
            health_path="/health",
            log_dir=Path(tmp),
            env={
                "REPORTS_PORT": str(port),
                "DEMAND_STORE_URL": args.store,
                "REPORTS_USER": "designer",
                "REPORTS_PASSWORD": secrets.token_hex(8),
                "REPORTS_SESSION_SECRET": secret,
                "DEMAND_INGEST_SECONDS": "0",
                "DEMAND_HASH_KEY": "screenshot",
            },
            timeout=120,
        )
        browser = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp}/profile",
                f"--remote-debugging-port={debug_port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{debug_port}/json/version", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            findings = asyncio.run(capture(f"http://127.0.0.1:{port}", cookie, pages, args.out, debug_port))
        finally:
            browser.terminate()
            try:
                browser.wait(timeout=15)
            except subprocess.TimeoutExpired:
                browser.kill()
            app.stop()
    for name, violations in findings.items():
        print(
            f"{args.out / (name + '.png')}: axe-core WCAG 2.2 A/AA violations: "
            + (", ".join(f"{v['id']} ({v['impact']}, {v['nodes']} nodes)" for v in violations) or "none")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
