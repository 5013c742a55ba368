"""The report's HTML in a real headless browser (Debian `chromium`), driven over the
DevTools protocol with a small websocket client (`websocket-client`).

Opens `report.html` from disk (file://, no network), collects every console message,
uncaught exception and log entry of level error while it loads, then checks each chart:
the `<img>` decoded (natural size > 0), and a screenshot of its element, and the chart's
PNG file, are not all one colour. Skips when chromium is missing, fails under CI=true.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import subprocess
import time

import pytest

pytest.importorskip("matplotlib", reason="the report extra (pip install 'ffwatt[report]') is not installed")
pytest.importorskip("bjontegaard", reason="the report extra (pip install 'ffwatt[report]') is not installed")
websocket = pytest.importorskip("websocket", reason="websocket-client (the test extra) is not installed")
Image = pytest.importorskip("PIL.Image", reason="Pillow (installed with matplotlib) is missing")

from ffwatt.cli import main as cli  # noqa: E402
from tests.report_samples import write_results  # noqa: E402
from tests.servers import require_binary  # noqa: E402

CHARTS = ["rd_vmaf", "rd_psnr", "quality_energy", "energy_vmaf", "scenario_energy", "power", "capacity",
          "compare_energy"]  # one encode size: no hull (the two-clip report below has one)


def _not_one_colour(png: bytes) -> bool:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return image.getcolors(maxcolors=2) is None  # None: more than 2 colours


class _Page:
    """One page target of a headless chromium, over the DevTools websocket."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=10, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 20.0, **params) -> dict:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)
        raise AssertionError(f"{method}: no answer in {timeout} s")

    def wait_event(self, method: str, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if e.get("method") == method:
                    return e
            self.events.append(json.loads(self.ws.recv()))
        raise AssertionError(f"no {method} in {timeout} s")


@pytest.fixture
def browser(tmp_path):
    binary = require_binary("chromium")
    log = (tmp_path / "chromium.log").open("w+")
    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox",  # root in a container: no user namespaces for the sandbox
         "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--remote-debugging-port=0",  # a free port; the URL is printed on stderr
         "--remote-allow-origins=*", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1280,900", "about:blank"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        port = None
        while time.monotonic() < deadline and port is None:
            log.seek(0)
            match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", log.read())
            if match:
                port = int(match.group(1))
            elif proc.poll() is not None:
                break
            else:
                time.sleep(0.1)
        if port is None:
            log.seek(0)
            pytest.fail(f"chromium did not open its DevTools port: {log.read()[-2000:]}")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _page(port: int) -> _Page:
    import urllib.request

    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
            pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
        if pages or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert pages, "chromium has no page target"
    return _Page(pages[0]["webSocketDebuggerUrl"])


def test_report_opens_in_chromium_without_errors_and_every_chart_shows(tmp_path, browser):
    new = write_results(tmp_path / "test_results_20260102_000000.json", 0.8)
    old = write_results(tmp_path / "test_results_20260101_000000.json", 1.0)
    out = tmp_path / "report"
    assert cli.main(["report", str(new), "--out", str(out), "--baseline-run", str(old)], environ={}) == 0

    page = _page(browser)
    try:
        for domain in ("Page", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.call("Page.navigate", url=(out / "report.html").resolve().as_uri())
        page.wait_event("Page.loadEventFired")
        info = page.call("Runtime.evaluate", returnByValue=True, expression="""
            Array.from(document.querySelectorAll('figure.chart')).map(f => {
              const img = f.querySelector('img'); const r = img.getBoundingClientRect();
              return {name: img.dataset.chart, complete: img.complete, w: img.naturalWidth, h: img.naturalHeight,
                      x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height};
            })""")["result"]["value"]
        shots = {}
        for chart in info:
            clip = {k: chart[k] for k in ("x", "y", "width", "height")} | {"scale": 1}
            shot = page.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
            shots[chart["name"]] = base64.b64decode(shot["data"])
        page.call("Runtime.evaluate", expression="1")  # drain: events that arrived during the screenshots
    finally:
        page.ws.close()

    problems = [e for e in page.events
                if e.get("method") == "Runtime.exceptionThrown"
                or e.get("method") == "Runtime.consoleAPICalled"
                or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error", "warning"))]
    assert problems == [], problems
    assert sorted(c["name"] for c in info) == sorted(CHARTS)
    for chart in info:
        assert chart["complete"] and chart["w"] > 100 and chart["h"] > 100, chart
        assert chart["width"] > 100 and chart["height"] > 100, chart
        assert _not_one_colour(shots[chart["name"]]), f"{chart['name']}: the on-screen chart is one colour"
        assert _not_one_colour((out / f"{chart['name']}.png").read_bytes()), f"{chart['name']}.png is one colour"
        svg = (out / f"{chart['name']}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<path" in svg


def _two_clip_results(path):
    """Two clips x two encoders x two resolutions x four bitrates, measured energy with repetitions."""
    scenarios = []
    for c, clip in enumerate(("bikes", "bbb")):
        for e, encoder in enumerate(("libx264", "libsvtav1")):
            for r, resolution in enumerate(("640x360", "1280x720")):
                for b, kbps in enumerate((300, 600, 1200, 2400)):
                    vmaf = 48 + 12 * b - 6 * c + (4 + 3 * c) * e + (8 * r if b >= 2 else -5 * r)
                    joules = 60.0 + 25 * r + 6 * b + 30 * e
                    scenarios.append({
                        "name": f"{clip} {encoder} {resolution} @ {kbps}k", "encoder": encoder, "preset": "medium",
                        "resolution": resolution, "fps": 30, "duration": 4, "bitrate": f"{kbps}k",
                        "measured_bitrate_bps": kbps * 1000 * (1 - 0.02 * e), "vmaf_score": vmaf,
                        "psnr_score": 26 + vmaf / 6, "energy_joules": joules, "energy_source": "rapl",
                        "start_time": 1000.0, "end_time": 1004.0, "source": {"name": clip},
                        "cpu_core_seconds": joules / 15 * (1 + 0.5 * e),
                        "repetitions": [{"energy_joules": joules + d * (1 + b)} for d in (-2, 0, 2)]})
    path.write_text(json.dumps({"format_version": 2, "test_date": "2026-01-01T00:00:00+00:00",
                                "scenarios": scenarios}))
    return path


@pytest.mark.parametrize("width", [1280, 720])
def test_headline_first_and_its_notes_fit_the_window(tmp_path, browser, width):
    results = _two_clip_results(tmp_path / "test_results_20260101_000000.json")
    out = tmp_path / "report"
    assert cli.main(["report", str(results), "--out", str(out)], environ={}) == 0
    page = _page(browser)
    try:
        page.call("Page.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
        page.call("Page.navigate", url=(out / "report.html").resolve().as_uri())
        page.wait_event("Page.loadEventFired")
        layout = page.call("Runtime.evaluate", returnByValue=True, expression="""(() => {
            const top = s => document.querySelector(s).getBoundingClientRect().top + window.scrollY;
            const h2 = t => Array.from(document.querySelectorAll('h2')).find(h => h.textContent.startsWith(t));
            const box = e => e.getBoundingClientRect();
            return {
              page: document.documentElement.scrollWidth, window: window.innerWidth,
              headline: top('table.headline'), hull: box(h2('Convex hull')).top + window.scrollY,
              environment: box(h2('Environment')).top + window.scrollY,
              headlineRight: box(document.querySelector('table.headline')).right,
              figuresRight: box(document.querySelector('table.figures')).right,
              pointsRight: box(document.querySelector('table.points')).right,
              points: top('table.points'), hullImage: document.querySelector('#chart-hull img').naturalWidth,
              reasonsRight: Math.max(0, ...Array.from(document.querySelectorAll('ol.reasons li, p.anchor'))
                                                 .map(e => box(e).right)),
            };})()""")["result"]["value"]
        shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": width, "height": 2400, "scale": 1})
        (tmp_path / f"report-{width}.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        page.ws.close()
    # nothing wider than the window: wide tables scroll inside their own box, the page never does
    assert layout["page"] <= layout["window"], layout
    # the headline table and its notes are whole inside the window, not clipped
    assert layout["headlineRight"] <= layout["window"] and layout["reasonsRight"] <= layout["window"], layout
    assert layout["figuresRight"] <= layout["window"], layout  # every BD figure with its note, no column cut off
    assert layout["pointsRight"] <= layout["window"], layout  # the operating points, whole
    assert layout["headline"] < layout["points"] < layout["hull"] < layout["environment"], layout
    assert layout["hullImage"] > 100  # two sizes per clip: the hull chart is drawn
    assert layout["headline"] < 900  # above the fold
