"""Issue 29, item 5: truth in every cell, through `ffwatt report` in-process (`main(argv)`).

A run whose energy is the runner's per-thread model (its `meter` record: 7.5 W per thread, the
why, cpu-time-share) over a two-size ladder of one clip, with one truncated encode. The report
must name the incomplete encode at the top with its frames and leave it out of every curve,
divide its energy by the media time really encoded, say "estimated" wherever modelled joules
appear, describe the model from the meter record (never a formula of its own), and say that
BD-energy is BD-CPU-time x the model's constant. Each test fails on the code before issue 29.
"""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="the report extra (pip install 'ffwatt[report]') is not installed")
pytest.importorskip("bjontegaard", reason="the report extra (pip install 'ffwatt[report]') is not installed")

from ffwatt.cli.main import main  # noqa: E402
from tests.report_samples import encode, write_doc  # noqa: E402

WATTS = 7.5
WHY = "CPU 'Test CPU 9000' is 'test cpu 9000': 120 W TDP / 16 threads (16 threads per package)"
METER = {"mode": "in-process", "source": "model", "description": f"model (no RAPL/NVML; {WATTS:g} W per thread)",
         "model_watts_per_thread": WATTS, "model_idle_fraction": 0.1, "model_why": WHY,
         "attribution": "cpu-time-share", "cpu_model": "Test CPU 9000"}
LADDER = {"1280x720": [(400, 62.0), (800, 74.0), (1600, 84.0), (3200, 91.0)],
          "640x360": [(200, 60.0), (400, 68.0), (800, 74.5), (1600, 78.0)]}


def _run(tmp_path: Path) -> Path:
    scenarios = []
    for encoder, rate_share, cpu_per_s in (("x264", 1.0, 0.5), ("x265", 0.8, 1.2)):
        for resolution, points in LADDER.items():
            for kbps, vmaf in points:
                cpu = 4 * cpu_per_s * (1 + kbps / 4000)  # core-seconds over 4 s of video
                scenarios.append(encode("bike", encoder, resolution, kbps * rate_share, vmaf, 20 + vmaf / 5,
                                        WATTS * cpu, native="1280x720", source="model", cpu_core_seconds=cpu,
                                        energy_attribution="cpu-time-share"))
    # truncated: 40 of 100 frames, 1.6 s of video; its VMAF at the top bitrate would break the curve's rise
    scenarios.append(encode("bike", "x264", "1280x720", 6400, 30.0, 20.0, 16.0, native="1280x720", source="model",
                            name="bike x264 truncated", incomplete=True, total_frames=40, expected_frames=100,
                            media_seconds=1.6, cpu_core_seconds=16.0 / WATTS, energy_attribution="cpu-time-share"))
    return write_doc(tmp_path / "test_results_20260101_000000.json", scenarios, meter=METER,
                     anchor={"encoder": "x264", "preset": "p"}, environment={"energy_meter": "model"})


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("truth")
    out = tmp / "report"
    rc = main(["report", str(_run(tmp)), "--out", str(out)], environ={})
    read = {name: (out / name).read_text() for name in ("report.html", "summary.md", "bd.csv", "scenarios.csv")
            if (out / name).exists()}
    read["points"] = (out / "operating_points.csv").read_text() if (out / "operating_points.csv").exists() else ""
    read["hull.svg"] = (out / "hull.svg").read_text() if (out / "hull.svg").exists() else ""
    return {"rc": rc, **read}


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(text.splitlines()))


def test_an_incomplete_scenario_is_named_at_the_top_with_its_frames(report):
    assert report["rc"] == 0
    page = report["report.html"]
    top = page.index("<h2>Incomplete scenarios</h2>")
    assert top < page.index("<h2>Bjøntegaard deltas")
    section = page[top:page.index("</table>", top)]
    assert "bike x264 truncated" in section
    assert re.search(r"<td>100</td><td>40</td>", section)  # expected and got frames


def test_an_incomplete_scenario_enters_no_curve_and_its_energy_per_second_uses_the_media_time(report):
    bd = _rows(report["bd.csv"])
    assert bd and not any(r["refused"] for r in bd if r["figure"] == "BD-rate (VMAF)")  # with it: not monotonic
    assert "6,400" not in report["report.html"].split("<h3>Curves</h3>")[1].split("</table>")[0]
    row = next(r for r in _rows(report["scenarios.csv"]) if r["scenario"] == "bike x264 truncated")
    # 16 J over the 1.6 s really encoded: 10 J/s (over the 4 s asked it would read 4 J/s, 60 % low)
    assert float(row["energy_per_stream-second_of_video_(J/s)"]) == pytest.approx(10.0)
    assert row["incomplete"] == "yes" and row["expected frames"] == "100" and row["frames"] == "40"


def test_modelled_joules_say_estimated_in_every_table_axis_hull_and_operating_point(report):
    page = report["report.html"]
    hull = page.split("keep for joules (energy hull)")[1].split("</table>")[0]
    assert re.search(r"J/s \(estimated\)", hull)  # the hull table's energies
    headline = page.split('<table class="headline">')[1].split("</table>")[0]
    assert 'class="estimated">estimated</span>' in headline  # BD-energy, per clip and hull
    points = page.split('<table class="points">')[1].split("</table>")[0]
    assert re.search(r"\d \(estimated\)</td>", points)
    assert all(r["energy_source"] == "model (estimated)" for r in _rows(report["points"]) if r["energy_j_per_s"])
    assert "J/s, estimated" in report["hull.svg"]  # the hull chart's energy axis
    scenario_table = report["summary.md"].split("## Scenarios")[1]
    assert scenario_table.count("(estimated)") >= 16 * 3  # energy, J/s, cost... of every encode


def test_the_model_is_described_from_the_meter_record_not_a_formula_of_its_own(report):
    page = html.unescape(report["report.html"])
    assert f"{WATTS:g} W per hardware thread at full load" in page
    assert WHY in page
    assert "0.1 + 0.9" not in page and "load³" not in page and "load^3" not in page


def test_under_the_model_bd_energy_is_said_and_seen_to_be_bd_cpu_time_times_the_constant(report):
    page = html.unescape(report["report.html"])
    assert f"every estimated encode's energy is {WATTS:g} J per CPU-second" in page
    assert "BD-energy is BD-CPU-time x that constant" in page
    bd = {(r["clip"], r["rung"], r["figure"]): r for r in _rows(report["bd.csv"])}
    energy, cpu = bd[("bike", "", "BD-energy (VMAF)")], bd[("bike", "", "BD-CPU-time (VMAF)")]
    assert energy["energy_kind"] == "estimated"
    assert float(energy["value"]) == pytest.approx(float(cpu["value"]), abs=1e-9)
    assert float(energy["linear"]) == pytest.approx(WATTS * float(cpu["linear"]), rel=1e-9)
