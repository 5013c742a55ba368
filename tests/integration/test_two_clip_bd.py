"""Issues 23 and 29 (show): one real run over a small corpus, and a report whose figures each
equal an independent computation made here, whatever the order of the scenarios.

Clips made with the static ffmpeg (FFV1, 1 s at 25 fps), at different native sizes and of
different complexity: `calm` (lavfi `testsrc2`, 640x360, also encoded at 384x216 and 256x144:
a three-rung ladder) and `busy` (`mandelbrot`, fine detail everywhere, 352x288), both of
class B; `cut`, a `testsrc2` file truncated to half its bytes (its header still says 1 s).
`ffwatt run --min-window 0` encodes them with libx264 and libx265 (ultrafast, four bitrates)
and scores VMAF and PSNR at each source's native size; `ffwatt report` (no `--anchor`: the
header's) writes bd.csv and operating_points.csv.

The expected figures come from the results JSON read with `json` alone and the scipy
references of tests/report_samples.py (PchipInterpolator as the JCT-VC sheet integrates,
ConvexHull for the hull); nothing of report/ or contract/ is used for the expected side.
One run is shared by every test (module fixture): about 30 s of CPU on 2 cores.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffwatt.cli.main import main
from tests.integration.test_runner import NO_EXPORTERS, results_files
from tests.report_samples import pchip_at, pchip_bd_rate, scipy_upper_hull

pytest.importorskip("matplotlib", reason="the report extra (pip install 'ffwatt[report]') is not installed")
pytest.importorskip("bjontegaard", reason="the report extra (pip install 'ffwatt[report]') is not installed")
pytest.importorskip("scipy", reason="the independent references need scipy (comes with the report extra)")

from ffwatt.report.build import build_report  # noqa: E402
from ffwatt.report.model import ReportOptions  # noqa: E402
from ffwatt.report.operating import parse_targets  # noqa: E402
from ffwatt.report.render import render_bd_csv, render_csv, render_markdown, render_points_csv  # noqa: E402

CLIPS = {"calm": "testsrc2=size=640x360:rate=25", "busy": "mandelbrot=size=352x288:rate=25",
         "cut": "testsrc2=size=176x144:rate=25"}
NATIVE = {"calm": "640x360", "busy": "352x288"}
ANCHOR, TEST = "libx264", "libx265"
# Spread so that VMAF and PSNR rise strictly on every curve and the encoders' curves share most of their range.
SCENARIOS = """
defaults: {preset: ultrafast, fps: 25, duration: 1}
scenarios:
  - name: "calm {encoder} {resolution} @ {bitrate}"
    source: {file: CLIPS/calm.mkv, class: B}
    matrix:
      encoder: [libx264, libx265]
      resolution: [640x360, 384x216, 256x144]
      bitrate: [60k, 120k, 240k, 480k]
  - name: "busy {encoder} @ {bitrate}"
    source: {file: CLIPS/busy.mkv, class: B}
    resolution: 352x288
    matrix:
      encoder: [libx264, libx265]
      bitrate: [100k, 200k, 400k, 800k]
  - {name: "cut libx264 @ 100k", source: {file: CLIPS/cut.mkv}, encoder: libx264, resolution: 176x144, bitrate: 100k}
"""
BD_RATE = {"BD-rate (VMAF)": "vmaf_score", "BD-rate (PSNR)": "psnr_score"}
OUTPUTS = ("bd.csv", "operating_points.csv", "scenarios.csv", "summary.md")


def make_clip(ffmpeg: str, path: Path, lavfi: str) -> Path:
    subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", lavfi,
                    "-t", "1", "-c:v", "ffv1", "-pix_fmt", "yuv420p", "-y", str(path)], check=True, timeout=120)
    return path


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def report_of(results: Path, out: Path, *flags: str) -> Path:
    assert main(["report", str(results), "--out", str(out), *flags]) == 0
    return out


@pytest.fixture(scope="module")
def corpus_run(ffmpeg, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("corpus")
    clips = {name: make_clip(ffmpeg, tmp / f"{name}.mkv", lavfi) for name, lavfi in CLIPS.items()}
    data = clips["cut"].read_bytes()
    clips["cut"].write_bytes(data[:len(data) // 2])  # the frames of its second half are gone
    scenario_file = tmp / "corpus.yml"
    scenario_file.write_text(SCENARIOS.replace("CLIPS", str(tmp)))
    run_rc = main(["run", str(scenario_file), "--results-dir", str(tmp / "results"), "--work-dir", str(tmp / "work"),
                   "--ffmpeg", ffmpeg, "--min-window", "0", *NO_EXPORTERS])
    (results,) = results_files(tmp / "results")
    doc = json.loads(results.read_text())
    vmaf_target = _common_vmaf(doc)
    out = report_of(results, tmp / "report", "--targets", f"vmaf={vmaf_target},vmaf=99.5")
    return {"run_rc": run_rc, "clips": clips, "doc": doc, "results": results, "tmp": tmp, "out": out,
            "target": vmaf_target, "bd": _csv(out / "bd.csv"), "points": _csv(out / "operating_points.csv"),
            "html": (out / "report.html").read_text()}


# --- the independent side: json and scipy only --------------------------------------------

def points(doc: dict, clip: str, encoder: str, quality: str = "vmaf_score", resolution: str | None = None,
           x: str = "measured_bitrate_bps") -> list[tuple[float, float]]:
    """[(x, quality)] of the complete encodes of (clip, encoder), at `resolution` when given; x is the
    measured bitrate, or "energy" (J per second of the media encoded)."""
    out = []
    for s in doc["scenarios"]:
        if s["source"]["name"] != clip or s["encoder"] != encoder or s.get("incomplete"):
            continue
        if resolution is None or s["resolution"] == resolution:
            value = s["energy_joules"] / s["media_seconds"] if x == "energy" else s[x]
            out.append((float(value), float(s[quality])))
    return sorted(out)


def _common_vmaf(doc: dict) -> float:
    """A VMAF every rate curve the operating points use reaches (calm's hulls, busy's own curve)."""
    curves = [scipy_upper_hull(points(doc, "calm", e)) for e in (ANCHOR, TEST)]
    curves += [points(doc, "busy", e) for e in (ANCHOR, TEST)]
    low, high = max(min(q for _, q in c) for c in curves), min(max(q for _, q in c) for c in curves)
    assert high > low, curves
    return round(low + 0.4 * (high - low), 1)


# --- the tests ------------------------------------------------------------------------------

def test_the_run_records_the_first_encoder_the_classes_and_the_truncated_clip(corpus_run):
    assert corpus_run["run_rc"] == 0
    doc = corpus_run["doc"]
    assert doc["anchor"] == {"encoder": ANCHOR, "preset": "ultrafast"}  # the scenario file's first, not the run's
    assert len(doc["scenarios"]) == 24 + 8 + 1
    classes = {s["source"]["name"]: s["source"].get("class") for s in doc["scenarios"]}
    assert classes == {"calm": "B", "busy": "B", "cut": None}
    (cut,) = [s for s in doc["scenarios"] if s["source"]["name"] == "cut"]
    assert cut["incomplete"] and cut["total_frames"] < cut["expected_frames"] == 25
    assert all(s["total_frames"] == 25 and not s.get("incomplete") for s in doc["scenarios"] if s is not cut)


def test_the_results_record_three_sources_hashed_as_hashlib_does(corpus_run):
    recorded = {s["source"]["name"]: s["source"] for s in corpus_run["doc"]["scenarios"]}
    for name, path in corpus_run["clips"].items():
        assert recorded[name]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert {n: f"{recorded[n]['width']}x{recorded[n]['height']}" for n in NATIVE} == NATIVE


def test_per_clip_bd_rates_at_native_sizes_and_their_averages_equal_an_independent_pchip(corpus_run):
    doc = corpus_run["doc"]
    got = {(r["clip"], r["class"], r["figure"]): r for r in corpus_run["bd"] if r["rung"] == ""}
    for figure, quality in BD_RATE.items():
        expected = {clip: pchip_bd_rate(points(doc, clip, ANCHOR, quality, native),
                                        points(doc, clip, TEST, quality, native)) for clip, native in NATIVE.items()}
        for clip, native in NATIVE.items():
            row = got[(clip, "B", figure)]
            assert (row["anchor"], row["test"], row["resolution"], row["refused"]) == (
                f"{ANCHOR}/ultrafast", f"{TEST}/ultrafast", native, "")
            assert float(row["value"]) == pytest.approx(expected[clip], abs=0.01), (clip, figure)
        # 640x360 and 352x288 average together; class B is both clips
        for clip_class in ("", "B"):
            average = got[("average", clip_class, figure)]
            assert int(average["clips"]) == 2
            assert float(average["value"]) == pytest.approx(sum(expected.values()) / 2, abs=0.01), figure
    assert not any(r["clip"] == "cut" for r in corpus_run["bd"])  # the truncated clip is in no curve


def test_the_ladder_hull_bd_rate_equals_scipy_convex_hull_then_pchip(corpus_run):
    doc = corpus_run["doc"]
    got = {r["figure"]: r for r in corpus_run["bd"] if r["clip"] == "calm" and "convex hull" in r["figure"]}
    for quality, figure in (("vmaf_score", "BD-rate (VMAF, convex hull)"), ("psnr_score", "BD-rate (PSNR, convex hull)")):
        hulls = {e: scipy_upper_hull(points(doc, "calm", e, quality)) for e in (ANCHOR, TEST)}
        assert all(len(h) >= 4 for h in hulls.values()), hulls
        assert got[figure]["refused"] == ""
        assert float(got[figure]["value"]) == pytest.approx(pchip_bd_rate(hulls[ANCHOR], hulls[TEST]), abs=0.05)
    # the per-rung figures are there too, one per lower rung
    assert {r["rung"] for r in corpus_run["bd"] if r["clip"] == "calm"} == {"", "384x216", "256x144"}


def test_operating_points_equal_an_independent_pchip_inversion(corpus_run):
    doc, target = corpus_run["doc"], corpus_run["target"]
    got = {(r["clip"], r["encoder"].split("/")[0], float(r["target"])): r for r in corpus_run["points"]}
    for clip in NATIVE:
        for encoder in (ANCHOR, TEST):
            row = got[(clip, encoder, target)]
            rate_curve = points(doc, clip, encoder, resolution=NATIVE[clip] if clip == "busy" else None)
            energy_curve = points(doc, clip, encoder, x="energy")
            if clip == "calm":  # a ladder: its hulls
                rate_curve, energy_curve = scipy_upper_hull(rate_curve), scipy_upper_hull(energy_curve)
            assert float(row["bitrate_bps"]) == pytest.approx(pchip_at(rate_curve, target), rel=0.01), (clip, encoder)
            qualities = [q for _, q in energy_curve]
            if min(qualities) <= target <= max(qualities):
                assert float(row["energy_j_per_s"]) == pytest.approx(pchip_at(energy_curve, target), rel=0.01)
            else:  # outside the energy curve's measured range: refused, not extrapolated
                assert row["energy_j_per_s"] == "" and "not extrapolated" in row["refused"]
        assert "outside the range measured" in got[(clip, ANCHOR, 99.5)]["refused"]
    average = got[("average", TEST, target)]
    per_clip = [float(got[(c, TEST, target)]["bitrate_vs_anchor_percent"]) for c in NATIVE]
    assert float(average["bitrate_vs_anchor_percent"]) == pytest.approx(sum(per_clip) / 2, abs=1e-9)
    assert "libx265/ultrafast needs" in corpus_run["html"]  # the buyer's sentence


def test_the_same_report_from_the_scenarios_reversed_and_shuffled_is_byte_identical(corpus_run):
    doc, tmp = corpus_run["doc"], corpus_run["tmp"]
    outputs = {}
    for label, reorder in (("reversed", lambda s: s[::-1]), ("shuffled", lambda s: random.Random(29).sample(s, len(s)))):
        folder = tmp / label
        folder.mkdir()
        results = folder / corpus_run["results"].name
        results.write_text(json.dumps(dict(doc, scenarios=reorder(list(doc["scenarios"])))))
        outputs[label] = report_of(results, folder / "report", "--targets", f"vmaf={corpus_run['target']},vmaf=99.5")
    first = corpus_run["out"]
    for out in outputs.values():
        for name in OUTPUTS:
            assert (out / name).read_bytes() == (first / name).read_bytes(), name
        # the page differs only in where the results file was
        html = (out / "report.html").read_text().replace(str(out.parent / corpus_run["results"].name), "RESULTS")
        assert html == corpus_run["html"].replace(str(corpus_run["results"]), "RESULTS")
        for chart in sorted(p.name for p in first.glob("*.png")):
            assert (out / chart).read_bytes() == (first / chart).read_bytes(), chart


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.randoms(use_true_random=False))
def test_every_table_of_the_real_run_is_a_function_of_the_set_of_its_scenarios(corpus_run, tmp_path, order):
    doc = corpus_run["doc"]
    shuffled = list(doc["scenarios"])
    order.shuffle(shuffled)
    results = tmp_path / corpus_run["results"].name
    results.write_text(json.dumps(dict(doc, scenarios=shuffled)))
    options = ReportOptions(results=(results,), out=tmp_path / "report", targets=parse_targets(
        f"vmaf={corpus_run['target']},vmaf=99.5"))
    report = build_report(options)  # every figure and table, no chart
    for name, render in zip(OUTPUTS, (render_bd_csv, render_points_csv, render_csv, render_markdown), strict=True):
        assert render(report).encode() == (corpus_run["out"] / name).read_bytes(), name


def test_the_truncated_clip_is_named_at_the_top_with_its_frames(corpus_run):
    html = corpus_run["html"]
    top = html.index("<h2>Incomplete scenarios</h2>")
    assert top < html.index("<h2>Bjøntegaard deltas")
    (cut,) = [s for s in corpus_run["doc"]["scenarios"] if s["source"]["name"] == "cut"]
    assert re.search(rf"<td>25</td><td>{cut['total_frames']}</td>", html[top:])
    row = next(r for r in _csv(corpus_run["out"] / "scenarios.csv") if r["scenario"] == cut["name"])
    # energy per second of video over the media time really encoded (frames / 25 fps), not the 1 s asked
    assert float(row["energy_per_stream-second_of_video_(J/s)"]) == pytest.approx(
        cut["energy_joules"] / (cut["total_frames"] / 25), rel=1e-9)


def test_modelled_energy_says_so_and_bd_energy_is_bd_cpu_time(corpus_run):
    if corpus_run["doc"]["meter"]["source"] != "model":
        pytest.skip("this machine measured its energy: the model's statements do not apply")
    watts = corpus_run["doc"]["meter"]["model_watts_per_thread"]
    assert f"{watts:g} W per hardware thread at full load" in corpus_run["html"]
    rows = {(r["clip"], r["class"], r["rung"], r["figure"]): r for r in corpus_run["bd"]}
    for key, row in rows.items():
        if key[3] == "BD-energy (VMAF)" and not row["refused"]:
            cpu = rows[key[:3] + ("BD-CPU-time (VMAF)",)]
            assert row["energy_kind"] == "estimated"
            assert float(row["value"]) == pytest.approx(float(cpu["value"]), abs=1e-6), key
    assert all(r["energy_source"] == "model (estimated)" for r in corpus_run["points"] if r["energy_j_per_s"])
