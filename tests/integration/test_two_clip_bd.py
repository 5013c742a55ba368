"""Issue 23 (show): a real run over two clips gives per-clip BD-rates and their average,
each equal to an independent PCHIP computation made here.

Two clips of different complexity are made with the static ffmpeg (lavfi `testsrc2`, a
flat test pattern, and `mandelbrot`, fine detail everywhere), written lossless (FFV1 in
Matroska). `ffwatt run` encodes each with libx264 and libx265 at four bitrates and scores
them (VMAF, PSNR); `ffwatt report --anchor libx264` writes bd.csv. The expected figures
come from the results JSON read with `json` alone and scipy's `PchipInterpolator`, the
JCT-VC way: log10(bitrate) as a function of quality per curve, both interpolants
integrated over the quality range the two curves share, the mean log difference d given
as (10^d - 1) x 100 %, and the average over clips their arithmetic mean. Nothing of
report/ or contract/ is used for the expected side.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
import subprocess
from pathlib import Path

import pytest

from ffwatt.cli.main import main
from tests.integration.test_runner import NO_EXPORTERS, results_files

pytest.importorskip("matplotlib", reason="the report extra (pip install 'ffwatt[report]') is not installed")
pytest.importorskip("bjontegaard", reason="the report extra (pip install 'ffwatt[report]') is not installed")
pytest.importorskip("scipy", reason="the independent PCHIP needs scipy (comes with the report extra)")
from scipy.interpolate import PchipInterpolator  # noqa: E402

TOLERANCE = 0.05  # percentage points, the bound
CLIPS = {"calm_pattern": "testsrc2=size=320x180:rate=25", "busy_fractal": "mandelbrot=size=320x180:rate=25"}
ANCHOR, TEST = "libx264", "libx265"
# Spread so that VMAF and PSNR rise strictly on both clips (50 kb/s is blocky, 400 kb/s
# near transparent on the pattern) and the curves share most of their quality range.
SCENARIOS = """
defaults: {preset: ultrafast, resolution: 320x180, fps: 25, duration: 2}
scenarios:
  - name: "{source} {encoder} @ {bitrate}"
    matrix:
      source: [{file: CLIPS/calm_pattern.mkv}, {file: CLIPS/busy_fractal.mkv}]
      encoder: [libx264, libx265]
      bitrate: [50k, 100k, 200k, 400k]
"""
BD_RATE = {"BD-rate (VMAF)": "vmaf", "BD-rate (PSNR)": "psnr"}


def make_clip(ffmpeg: str, path: Path, lavfi: str) -> Path:
    subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", lavfi,
                    "-t", "2", "-c:v", "ffv1", "-pix_fmt", "yuv420p", "-y", str(path)], check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def two_clip_run(ffmpeg, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("two_clip_bd")
    clips = {name: make_clip(ffmpeg, tmp / f"{name}.mkv", lavfi) for name, lavfi in CLIPS.items()}
    scenario_file = tmp / "two_clips.yml"
    scenario_file.write_text(SCENARIOS.replace("CLIPS", str(tmp)))
    run_rc = main(["run", str(scenario_file), "--results-dir", str(tmp / "results"), "--work-dir",
                   str(tmp / "work"), "--ffmpeg", ffmpeg, *NO_EXPORTERS])
    (results,) = results_files(tmp / "results")
    report_rc = main(["report", str(results), "--out", str(tmp / "report"), "--anchor", ANCHOR])
    with open(tmp / "report" / "bd.csv", newline="") as f:
        bd_rows = list(csv.DictReader(f))
    return {"run_rc": run_rc, "report_rc": report_rc, "clips": clips, "doc": json.loads(results.read_text()),
            "bd": bd_rows, "html": (tmp / "report" / "report.html").read_text()}


# --- the independent side: json and scipy only --------------------------------------------

def curves_from_json(doc: dict) -> dict[tuple[str, str], list[tuple[float, float, float]]]:
    """(clip, encoder) -> [(measured bits/s, VMAF, PSNR)] sorted by bitrate. The PSNR is the
    scenario's headline `psnr_score` (the figure the report's BD-rate (PSNR) is on)."""
    curves: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for s in doc["scenarios"]:
        curves.setdefault((s["source"]["name"], s["encoder"]), []).append(
            (float(s["measured_bitrate_bps"]), float(s["vmaf_score"]), float(s["psnr_score"])))
    return {key: sorted(points) for key, points in curves.items()}


def pchip_bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> tuple[float, float]:
    """(BD-rate %, overlap share) of `test` against `anchor`, each [(bits/s, quality)] with
    quality rising: log10 rate as a PCHIP of quality, integrated over the common range."""
    def interpolant(points):
        qualities = [q for _, q in points]
        return PchipInterpolator(qualities, [math.log10(r) for r, _ in points]), min(qualities), max(qualities)

    fa, a_low, a_high = interpolant(anchor)
    ft, t_low, t_high = interpolant(test)
    low, high = max(a_low, t_low), min(a_high, t_high)
    mean_log_difference = (ft.integrate(low, high) - fa.integrate(low, high)) / (high - low)
    return (10 ** mean_log_difference - 1) * 100, (high - low) / min(a_high - a_low, t_high - t_low)


def expected_bd_rates(doc: dict) -> dict[tuple[str, str], tuple[float, float]]:
    """(clip, figure) -> (percent, overlap) per clip, and (`average`, figure) -> (mean, None)."""
    curves = curves_from_json(doc)
    clips = sorted({clip for clip, _ in curves})
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for figure, quality in BD_RATE.items():
        column = 1 if quality == "vmaf" else 2
        for clip in clips:
            anchor = [(p[0], p[column]) for p in curves[(clip, ANCHOR)]]
            test = [(p[0], p[column]) for p in curves[(clip, TEST)]]
            out[(clip, figure)] = pchip_bd_rate(anchor, test)
        out[("average", figure)] = (sum(out[(c, figure)][0] for c in clips) / len(clips), None)
    return out


# --- the tests ------------------------------------------------------------------------------

def test_the_run_and_the_report_succeed_on_two_real_clips(two_clip_run):
    assert two_clip_run["run_rc"] == 0 and two_clip_run["report_rc"] == 0
    scenarios = two_clip_run["doc"]["scenarios"]
    assert len(scenarios) == 16  # 2 clips x 2 encoders x 4 bitrates
    assert all(s["total_frames"] == 50 and not s.get("incomplete") for s in scenarios)  # 25 fps x 2 s


def test_the_results_record_two_distinct_sources_hashed_as_hashlib_does(two_clip_run):
    recorded = {s["source"]["name"]: s["source"] for s in two_clip_run["doc"]["scenarios"]}
    assert sorted(recorded) == sorted(CLIPS)
    for name, path in two_clip_run["clips"].items():
        assert recorded[name]["path"] == str(path)
        assert recorded[name]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert recorded["calm_pattern"]["sha256"] != recorded["busy_fractal"]["sha256"]


def test_the_clips_differ_in_complexity_and_every_curve_rises_strictly(two_clip_run):
    curves = curves_from_json(two_clip_run["doc"])
    assert len(curves) == 4
    for key, points in curves.items():
        for column in (1, 2):  # VMAF, PSNR
            qualities = [p[column] for p in points]
            assert all(b > a for a, b in zip(qualities, qualities[1:], strict=False)), (key, column, points)
    # the fractal costs more bits for the same quality: at the anchor's top rate it scores lower
    assert curves[("busy_fractal", ANCHOR)][-1][1] < curves[("calm_pattern", ANCHOR)][-1][1] - 5


def test_no_bd_figure_is_refused(two_clip_run):
    refused = [(r["clip"], r["figure"], r["refused"]) for r in two_clip_run["bd"] if r["refused"]]
    assert refused == []


def test_per_clip_bd_rates_and_their_average_equal_an_independent_pchip(two_clip_run):
    expected = expected_bd_rates(two_clip_run["doc"])
    got = {(r["clip"], r["figure"]): r for r in two_clip_run["bd"] if r["figure"] in BD_RATE}
    assert sorted(got) == sorted(expected)  # two clips and the average, for each BD-rate
    for key, (percent, overlap) in expected.items():
        row = got[key]
        assert (row["anchor"], row["test"], row["unit"]) == (f"{ANCHOR}/ultrafast", f"{TEST}/ultrafast", "%")
        assert abs(float(row["value"]) - percent) <= TOLERANCE, (key, row["value"], percent)
        if overlap is not None:
            assert float(row["overlap"]) == pytest.approx(overlap, abs=1e-9), key
        assert int(row["clips"]) == (2 if key[0] == "average" else 1)
    # the average is the mean of the report's own per-clip figures, not only of ours
    for figure in BD_RATE:
        clips = [float(got[(c, figure)]["value"]) for c in CLIPS]
        assert float(got[("average", figure)]["value"]) == pytest.approx(sum(clips) / 2, abs=1e-12)


def test_the_html_headline_names_both_clips_with_the_same_figures(two_clip_run):
    html = two_clip_run["html"]
    headline = html.split('<table class="headline">', 1)[1].split("</table>", 1)[0]
    expected = expected_bd_rates(two_clip_run["doc"])
    rows = re.findall(r'<td class="l">([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>', headline)
    shown = {clip: (float(vmaf), float(psnr)) for clip, vmaf, psnr in rows}
    for clip in CLIPS:
        assert clip in shown, headline
        assert shown[clip][0] == pytest.approx(expected[(clip, "BD-rate (VMAF)")][0], abs=TOLERANCE)
        assert shown[clip][1] == pytest.approx(expected[(clip, "BD-rate (PSNR)")][0], abs=TOLERANCE)
    assert shown["average of 2 clips"][0] == pytest.approx(expected[("average", "BD-rate (VMAF)")][0], abs=TOLERANCE)
