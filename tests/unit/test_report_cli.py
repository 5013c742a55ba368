"""`ffwatt report` in-process through `main(argv)`, and the extra's isolation from the exporters."""

from __future__ import annotations

import csv
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from ffwatt import exporters
from ffwatt.cli import main as cli
from tests.report_samples import write_results

ROOT = Path(__file__).resolve().parents[2]


def test_no_exporter_imports_the_report_extra():
    # Every exporter module, imported in a fresh interpreter: none may load the plotting stack.
    names = sorted(m.name for m in pkgutil.iter_modules(exporters.__path__) if not m.name.startswith("_"))
    assert "cost" in names and "qoe" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module('ffwatt.exporters.' + name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'bjontegaard')\n"
        "             or m.startswith('ffwatt.report'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_cli_parser_does_not_import_the_extra():
    code = ("import sys\nfrom ffwatt.cli import main as cli\ncli._parser({})\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'bjontegaard', 'numpy')))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_report_writes_every_file(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("bjontegaard")
    new = write_results(tmp_path / "test_results_20260102_000000.json", 0.8)
    old = write_results(tmp_path / "test_results_20260101_000000.json", 1.0)
    out = tmp_path / "report"
    assert cli.main(["report", str(new), "--out", str(out), "--baseline-run", str(old),
                     "--energy-price", "0.5", "--currency", "USD"], environ={}) == 0
    names = {p.name for p in out.iterdir()}
    charts = ["rd_vmaf", "rd_psnr", "quality_energy", "energy_vmaf", "scenario_energy", "power", "capacity",
              "compare_energy"]
    assert {f"{c}.{ext}" for c in charts for ext in ("png", "svg")} <= names
    assert "hull.png" not in names  # one encode size: no hull over sizes, and the page says why
    assert {"report.html", "scenarios.csv", "summary.md", "bd.csv", "operating_points.csv"} <= names
    bd = list(csv.DictReader((out / "bd.csv").open()))
    assert [r["figure"] for r in bd] == ["BD-rate (VMAF)", "BD-rate (PSNR)", "BD-PSNR", "BD-VMAF", "BD-energy (VMAF)",
                                         "BD-CPU-time (VMAF)"]
    page = (out / "report.html").read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "Convex hull over resolutions, with energy: no clip was encoded at two or more sizes" in page
    assert page.count('<img src="data:image/png;base64,') == len(charts)
    rows = list(csv.DictReader((out / "scenarios.csv").open()))
    assert len(rows) == 9 and rows[1]["scenario"] == "x264 @ 200k"
    # energy cost at 0.5 USD/kWh: mean energy (J) / 3.6e6 x 0.5
    energy = float(rows[1]["energy_(J)"])
    assert float(rows[1]["energy_cost_(USD)"]) == pytest.approx(energy / 3.6e6 * 0.5)
    summary = (out / "summary.md").read_text()
    assert "| (unnamed) | own size (320x180) | BD-rate (VMAF) | x264/fast | x265/fast |" in summary
    # every scenario 20 % less energy with a spread of +-2 J over 3 repetitions: significant
    assert "| x264 @ 200k |" in summary and "-20.00 % | yes |" in summary


def test_report_refuses_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "test_results_20260101_000000.json"
    bad.write_text("{not json")
    assert cli.main(["report", str(bad), "--out", str(tmp_path / "r")], environ={}) == 2
    assert capsys.readouterr().err.startswith("error: test_results_20260101_000000.json: $:")


def test_tsdb_power_traces_and_missing_energy(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("bjontegaard")
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    from ffwatt.report.build import ReportOptions, make_report

    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            query = parse_qs(urlparse(self.path).query)
            seen.append((urlparse(self.path).path, query))
            start = float(query["start"][0])
            # 20 W, 30 W, 40 W at 1 s steps: trapezoid = 1 x (20/2 + 30 + 40/2) = 60 J
            body = {"status": "success", "data": {"resultType": "matrix", "result": [
                {"metric": {}, "values": [[start + i, str(w)] for i, w in enumerate((20, 30, 40))]}]}}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = tmp_path / "test_results_20260101_000000.json"
        path.write_text(json.dumps({"scenarios": [
            {"name": "x264 @ 300k", "encoder": "x264", "duration": 2, "start_time": 1000.0, "end_time": 1002.0,
             "resolution": "320x180", "fps": 30, "bitrate": "300k"}]}))
        report = make_report(ReportOptions(results=(path,), out=tmp_path / "r",
                                           tsdb_url=f"http://127.0.0.1:{server.server_address[1]}"))
    finally:
        server.shutdown()
        server.server_close()
    assert seen and seen[0][0] == "/api/v1/query_range" and seen[0][1]["step"] == ["1s"]
    assert "ffwatt_cpu_power_watts" in seen[0][1]["query"][0]
    row = report.rows[0]
    assert row.energy_source == "tsdb" and row.energy_kind == "measured"
    assert row.energy_joules == pytest.approx(60.0)
    assert "power" in {c.name for c in report.charts}


def test_anchor_and_min_overlap_flags(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("bjontegaard")
    results = write_results(tmp_path / "test_results_20260101_000000.json")
    figures = {}
    for anchor in ("x264", "x265/fast"):
        out = tmp_path / anchor.replace("/", "-")
        assert cli.main(["report", str(results), "--out", str(out), "--anchor", anchor], environ={}) == 0
        row = next(r for r in csv.DictReader((out / "bd.csv").open()) if r["figure"] == "BD-rate (VMAF)")
        figures[anchor] = (row["anchor"], float(row["value"]))
    assert "anchor: x265/fast (--anchor x265/fast)" in capsys.readouterr().out
    (a1, v1), (a2, v2) = figures["x264"], figures["x265/fast"]
    assert (a1, a2) == ("x264/fast", "x265/fast")
    assert v1 < 0 < v2 and (1 + v1 / 100) * (1 + v2 / 100) == pytest.approx(1.0, abs=1e-12)
    # x264 VMAF 70-94, x265 68-93: they share 70-93 = 23 of 24 (96 %); above that minimum every figure is refused
    out = tmp_path / "strict"
    assert cli.main(["report", str(results), "--out", str(out), "--min-overlap", "0.97"], environ={}) == 0
    rows = list(csv.DictReader((out / "bd.csv").open()))
    assert rows[0]["value"] == "" and rows[0]["refused"].startswith("the VMAF ranges overlap on 96% of the shorter")
    with pytest.raises(SystemExit):
        cli.main(["report", str(results), "--out", str(out), "--min-overlap", "1.5"], environ={})
    assert cli.main(["report", str(results), "--out", str(out), "--anchor", "vp9"], environ={}) == 2
    assert "error: --anchor vp9: no curve has that encoder; the curves are x264/fast, x265/fast" in (
        capsys.readouterr().err)
