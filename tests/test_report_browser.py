"""The report as a person sees it: opened from disk in headless Chromium, driven over DevTools.

Chromium is Debian's ``chromium`` (CI installs it with apt). Without it this test FAILS: a report
nobody has looked at in a browser is not tested. The DevTools protocol is spoken directly over
aiohttp's websocket client, so no browser-automation package is needed.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from history_docs import SCENARIO, history_doc
from PIL import Image
from results_factory import MARKUP_SCENARIO, XSS_CONTENT, make_results

from pytest_cerebras_perf.history.writer import record_run
from pytest_cerebras_perf.report import write_report
from pytest_cerebras_perf.report.charts import STUDY_FIGURES
from pytest_cerebras_perf.results_doc import HistoryDoc

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)
TIMEOUT = 60.0
WIDTH = 1400


def _chromium() -> str:
    for name in (os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser"):
        path = shutil.which(name) if name else None
        if path:
            return path
    pytest.fail("Chromium not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM=/path")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def devtools_url(workdir: Path) -> Iterator[str]:
    """A headless Chromium of our own; yields its browser websocket URL and stops it afterwards."""
    profile = workdir / "profile"
    process = subprocess.Popen(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if process.poll() is not None:
                pytest.fail(f"Chromium exited with status {process.returncode} before DevTools came up")
            if time.monotonic() > deadline:
                pytest.fail("Chromium did not open its DevTools port within 60 s")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        yield f"ws://127.0.0.1:{port}{path}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@dataclass
class PageVisit:
    """What happened while the page loaded, and what the page looked like afterwards."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


class DevTools:
    """A minimal DevTools-protocol client: numbered commands, events collected by method name."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        message: dict[str, Any] = {"id": command_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        await self._socket.send_json(message)
        while True:
            reply = await self._receive()
            if reply.get("id") == command_id:
                if "error" in reply:
                    raise AssertionError(f"{method} failed: {reply['error']}")
                return dict(reply.get("result", {}))

    async def wait_for(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            message = await self._receive()
            if message.get("method") == method:
                return message

    async def _receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await self._socket.receive_str())
        if "method" in message:
            self.events.append(message)
        return message


FACTS_SCRIPT = """JSON.stringify({
  figures: [...document.querySelectorAll('figure[data-figure]')].map(f => {
    const svg = f.querySelector('svg'); const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    return {key: f.dataset.figure, width: box.width, height: box.height,
            shapes: svg ? svg.querySelectorAll('path, use').length : 0};
  }),
  verdictRows: document.querySelectorAll('table[data-table="verdicts"] tbody tr').length,
  verdictCells: document.querySelectorAll('table[data-table="verdicts"] td[data-verdict]').length,
  verdictBox: document.querySelector('table[data-table="verdicts"]').getBoundingClientRect().height,
  scripts: document.querySelectorAll('script').length,
  outputs: [...document.querySelectorAll('pre[data-output]')].map(p => p.textContent),
  matrixText: document.querySelector('table[data-table="verdicts"]').textContent,
  boldTexts: [...document.querySelectorAll('b')].map(b => b.textContent),
  emulatorBanner: (document.querySelector('[data-banner="emulator"]') || {}).textContent || '',
  pageHeight: document.documentElement.scrollHeight,
  trends: (document.querySelector('#trends') || {}).textContent || '',
})"""


async def _visit(browser_url: str, page_url: str) -> PageVisit:
    visit = PageVisit()
    async with aiohttp.ClientSession() as http, http.ws_connect(browser_url, max_msg_size=0) as socket:
        tools = DevTools(socket)
        target = await tools.send("Target.createTarget", url="about:blank")
        attached = await tools.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        session = attached["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            await tools.send(f"{domain}.enable", session)
        await tools.send(
            "Emulation.setDeviceMetricsOverride", session, width=WIDTH, height=2500, deviceScaleFactor=1, mobile=False
        )
        await tools.send("Page.navigate", session, url=page_url)
        await tools.wait_for("Page.loadEventFired")
        evaluated = await tools.send("Runtime.evaluate", session, expression=FACTS_SCRIPT, returnByValue=True)
        visit.facts = json.loads(evaluated["result"]["value"])
        shot = await tools.send("Page.captureScreenshot", session, format="png")
        visit.screenshot = base64.b64decode(shot["data"])
    for event in tools.events:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            visit.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            visit.console_errors.append(json.dumps(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            visit.console_errors.append(json.dumps(params.get("exceptionDetails")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            visit.console_errors.append(params["entry"].get("text", ""))
        elif method == "Page.javascriptDialogOpening":
            visit.dialogs.append(params.get("message", ""))
    return visit


def _history_with_a_step(path: Path) -> HistoryDoc:
    """The trend section after 12 runs written through the history writer, decode 15 % slower from run 7."""
    url = f"sqlite:///{path}"
    for run in range(1, 13):
        doc = history_doc(run, decode=1.15 if run >= 7 else 1.0)
        section = record_run(url, doc, metrics=("ttft", "e2e"), accepted={SCENARIO: ["run-01", "run-02"]})
    return section


@pytest.fixture(scope="module")
def visit(workdir: Path, devtools_url: str) -> PageVisit:
    """One visit of a realistic report, shared by the checks below (Chromium starts once)."""
    results = make_results(iterations=10, concurrency=(1, 4))
    results["history"] = _history_with_a_step(workdir / "history.sqlite")
    report = write_report(results, workdir / "report.html")
    return asyncio.run(asyncio.wait_for(_visit(devtools_url, report.as_uri()), TIMEOUT))


def test_report_loads_offline_without_errors(visit: PageVisit, workdir: Path) -> None:
    page = (workdir / "report.html").as_uri()
    outside = [url for url in visit.requests if url != page and not url.startswith("data:")]
    assert outside == [], "the report fetched something besides itself"
    assert page in visit.requests
    assert visit.console_errors == []


def test_the_eight_study_figures_and_the_verdict_table_are_drawn(visit: PageVisit) -> None:
    figures = {figure["key"]: figure for figure in visit.facts["figures"]}
    for key in STUDY_FIGURES:
        assert key in figures, f"figure {key!r} missing"
        figure = figures[key]
        assert figure["width"] > 600 and figure["height"] > 150, f"figure {key!r} is not visible: {figure}"
        assert figure["shapes"] > 50, f"figure {key!r} has almost nothing drawn: {figure}"
    assert {"baseline-ttft", "baseline-e2e", "baseline-output_tps", "baseline-server_total", "concurrency"} <= set(
        figures
    )
    assert visit.facts["verdictRows"] == 9
    assert visit.facts["verdictCells"] == 34
    assert visit.facts["verdictBox"] > 300


def test_markup_from_the_model_and_the_scenario_stays_text(visit: PageVisit) -> None:
    assert visit.dialogs == []
    assert visit.facts["scripts"] == 0
    assert XSS_CONTENT in visit.facts["outputs"]
    assert MARKUP_SCENARIO in visit.facts["matrixText"]
    assert "endpoint" not in visit.facts["boldTexts"]


def test_the_screenshot_shows_a_real_page(visit: PageVisit) -> None:
    image = Image.open(io.BytesIO(visit.screenshot)).convert("RGB")
    assert image.width == WIDTH and image.height >= 2000
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the screenshot is nearly blank"
    assert "EMULATOR" in visit.facts["emulatorBanner"]
    assert visit.facts["pageHeight"] > 8000


def test_the_trend_charts_show_the_history_and_its_change_point(visit: PageVisit) -> None:
    figures = {figure["key"]: figure for figure in visit.facts["figures"]}
    for key in ("trend-ttft", "trend-e2e"):
        assert key in figures, f"figure {key!r} missing"
        assert figures[key]["width"] > 600 and figures[key]["height"] > 100, figures[key]
        assert figures[key]["shapes"] > 50, f"figure {key!r} has almost nothing drawn: {figures[key]}"
    assert "This run is number 12 in the run history" in visit.facts["trends"]
    assert "Apache Otava" in visit.facts["trends"]
    assert re.search(r"decode_heavy@c1: shifted since run run-0[678] on \S+, e2e \+1\d", visit.facts["trends"])
