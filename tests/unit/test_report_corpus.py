"""Issue 29, items 1-4: a corpus report whose conclusion cannot flip.

Results files are written here with known curves: three clips at different native sizes
(bike 640x360 and city 176x144 of class A, hall 352x288 of class B), x264 against x265, and
bike also at two lower rungs. Expected figures come from independent computations in
tests/report_samples.py (scipy's PchipInterpolator and ConvexHull), never from report/.
Items 1-4: the anchor the header records, whatever the order; every output a function of the
set of scenarios (permutations, hypothesis); averages over clips at their own sizes and per
class; hull BD figures; operating points.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

pytest.importorskip("bjontegaard", reason="the report extra (pip install 'ffwatt[report]') is not installed")
pytest.importorskip("scipy", reason="the independent references need scipy (comes with the report extra)")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ffwatt.report.build import build_report  # noqa: E402
from ffwatt.report.data import ReportError  # noqa: E402
from ffwatt.report.model import ReportOptions  # noqa: E402
from ffwatt.report.operating import Target, parse_targets  # noqa: E402
from ffwatt.report.page import render_html  # noqa: E402
from ffwatt.report.render import render_bd_csv, render_csv, render_markdown, render_points_csv  # noqa: E402
from ffwatt.runner.errors import RunnerError  # noqa: E402
from ffwatt.runner.plan.scenario import first_encode  # noqa: E402
from ffwatt.runner.plan.scenario_file import parse_scenarios  # noqa: E402
from tests.report_samples import encode, pchip_at, pchip_bd_rate, scipy_upper_hull, write_doc  # noqa: E402

HEADER = {"anchor": {"encoder": "x264", "preset": "p"}}
CLIPS = {"bike": ("640x360", "A", 0.80), "city": ("176x144", "A", 0.70), "hall": ("352x288", "B", 0.90)}
"""clip -> (native size, class, the share of the anchor's bitrate x265 needs at equal quality)."""
RATES = (300.0, 600.0, 1200.0, 2400.0)
RUNGS = {"384x216": (88.0, 22.0), "256x144": (78.0, 10.0)}
"""A lower rung's VMAF: top - drop x sqrt(300 / kb/s) (the native size: 98 - 38 x sqrt(300 / kb/s))."""


def _vmaf(kbps: float, top: float = 98.0, drop: float = 38.0) -> float:
    return top - drop * math.sqrt(300.0 / kbps)


def _curve(clip: str, encoder: str, resolution: str | None = None, rates=RATES) -> list[dict]:
    native, clip_class, share = CLIPS[clip]
    resolution = resolution or native
    top, drop = RUNGS.get(resolution, (98.0, 38.0)) if resolution != native else (98.0, 38.0)
    out = []
    for kbps in rates:
        # x265 reaches the anchor's quality at `share` of its rate, sampled 3 % off the anchor's points
        rate = kbps * share * 1.03 if encoder == "x265" else kbps
        quality = _vmaf(rate / share if encoder == "x265" else rate, top, drop)
        joules = 4 * ((18 + rate / 150) if encoder == "x265" else (10 + rate / 200))
        out.append(encode(clip, encoder, resolution, rate, quality, 25 + quality / 4, joules, native=native,
                          clip_class=clip_class))
    return out


def corpus(ladder: bool = True) -> list[dict]:
    scenarios = [s for clip in CLIPS for enc in ("x264", "x265") for s in _curve(clip, enc)]
    if ladder:
        scenarios += [s for enc in ("x264", "x265") for res in RUNGS for s in _curve("bike", enc, res)]
    return scenarios


def _report(tmp_path: Path, scenarios: list[dict], name: str = "test_results_20260101_000000.json", **options):
    path = write_doc(tmp_path / name, scenarios, **options.pop("header", HEADER))
    return build_report(ReportOptions(results=(path,), out=tmp_path / "out", **options))


def _bd(report) -> dict[tuple[str, str, str, str], dict]:
    """(clip, class, rung, figure) -> the bd.csv row."""
    rows = csv.DictReader(io.StringIO(render_bd_csv(report)))
    return {(r["clip"], r["class"], r["rung"], r["figure"]): r for r in rows}


def _points_of(scenarios: list[dict], clip: str, encoder: str, resolution: str | None = None,
               quality: str = "vmaf_score") -> list[tuple[float, float]]:
    return [(s["measured_bitrate_bps"], s[quality]) for s in scenarios
            if s["source"]["name"] == clip and s["encoder"] == encoder
            and (resolution is None or s["resolution"] == resolution)]


# ---------------------------------------------------------------- item 1: the anchor, and order


def test_the_default_anchor_is_the_first_encoder_the_header_records_whatever_the_file_order(tmp_path):
    scenarios = [s for s in corpus(ladder=False) if s["encoder"] == "x265"] + \
                [s for s in corpus(ladder=False) if s["encoder"] == "x264"]  # a shuffled run: x265 finished first
    report = _report(tmp_path, scenarios)
    assert report.anchor.label == "x264/p"
    assert report.anchor.chosen == "the first encoder of the scenario file, recorded in the results header"
    bd = _bd(report)
    assert float(bd[("bike", "A", "", "BD-rate (VMAF)")]["value"]) < 0  # x265 needs less: the sign the user compared


def test_a_file_without_the_record_falls_back_on_its_first_encode_and_says_so(tmp_path):
    scenarios = [s for s in corpus(ladder=False) if s["encoder"] == "x265"] + \
                [s for s in corpus(ladder=False) if s["encoder"] == "x264"]
    report = _report(tmp_path, scenarios, header={})
    assert report.anchor.label == "x265/p"
    assert "does not record its scenario file's first encoder" in report.anchor.chosen
    assert "give --anchor" in render_html(report)


def test_an_encoder_alone_takes_the_recorded_preset_or_must_name_one(tmp_path):
    scenarios = corpus(ladder=False) + [dict(s, preset="q", name=s["name"] + " q") for s in corpus(ladder=False)
                                        if s["encoder"] == "x264"]
    assert _report(tmp_path, scenarios, anchor="x264").anchor.label == "x264/p"  # the header's preset
    with pytest.raises(ReportError, match=r"--anchor x264: x264 has curves with several presets \(p, q\)"):
        _report(tmp_path, scenarios, anchor="x264", header={})


def _text_outputs(report) -> tuple[str, ...]:
    return (render_bd_csv(report), render_points_csv(report), render_csv(report), render_markdown(report),
            render_html(report))


@pytest.fixture(scope="module")
def rich_corpus() -> list[dict]:
    """The ladder corpus with repetitions, an idle baseline and an incomplete encode."""
    scenarios = corpus()
    for k, s in enumerate(scenarios):
        s["repetitions"] = [{"energy_joules": s["energy_joules"] + d * (1 + k % 3)} for d in (-1.0, 0.0, 1.0)]
    scenarios.append(encode("hall", "x264", "352x288", 500, 70.0, 42.0, 30.0, native="352x288", clip_class="B",
                            incomplete=True, total_frames=40, expected_frames=100, media_seconds=1.6,
                            name="hall x264 truncated"))
    scenarios.append({"name": "baseline idle", "encoder": "none", "duration": 4, "energy_joules": 20.0,
                      "energy_source": "rapl", "start_time": 990.0, "end_time": 994.0})
    return scenarios


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.randoms(use_true_random=False))
def test_every_output_is_a_function_of_the_set_of_scenarios(tmp_path, rich_corpus, order):
    expected = _text_outputs(_report(tmp_path, rich_corpus))
    shuffled = list(rich_corpus)
    order.shuffle(shuffled)
    got = _text_outputs(_report(tmp_path, shuffled))
    for name, a, b in zip(("bd.csv", "operating_points.csv", "scenarios.csv", "summary.md", "report.html"),
                          expected, got, strict=True):
        assert a == b, f"{name} changed with the order of the scenarios"


# ---------------------------------------------------------------- item 2: corpus averages


def test_clips_at_different_native_sizes_average_together_as_an_independent_pchip_says(tmp_path):
    scenarios = corpus()
    bd = _bd(_report(tmp_path, scenarios))
    for figure, quality in (("BD-rate (VMAF)", "vmaf_score"), ("BD-rate (PSNR)", "psnr_score")):
        expected = {clip: pchip_bd_rate(_points_of(scenarios, clip, "x264", native, quality),
                                        _points_of(scenarios, clip, "x265", native, quality))
                    for clip, (native, _, _) in CLIPS.items()}
        for clip, (native, clip_class, _) in CLIPS.items():
            row = bd[(clip, clip_class, "", figure)]
            assert row["resolution"] == native and row["refused"] == ""
            assert float(row["value"]) == pytest.approx(expected[clip], abs=0.01), (clip, figure)
        average = bd[("average", "", "", figure)]
        assert int(average["clips"]) == 3  # 640x360, 176x144 and 352x288 together: the CTC headline
        assert float(average["value"]) == pytest.approx(sum(expected.values()) / 3, abs=0.01)
        # class A: bike and city; class B has one clip, whose own row is its figure
        assert float(bd[("average", "A", "", figure)]["value"]) == pytest.approx(
            (expected["bike"] + expected["city"]) / 2, abs=0.01)
        assert ("average", "B", "", figure) not in bd
    # the clips really differ: x265's gain is 20 %, 30 %, 10 % of the rate
    assert float(bd[("city", "A", "", "BD-rate (VMAF)")]["value"]) < float(bd[("hall", "B", "", "BD-rate (VMAF)")][
        "value"]) - 10


def test_a_ladder_s_lower_rungs_are_figures_of_their_own_not_mixed_into_the_clips_average(tmp_path):
    scenarios = corpus()
    bd = _bd(_report(tmp_path, scenarios))
    for rung in RUNGS:
        row = bd[("bike", "A", rung, "BD-rate (VMAF)")]
        expected = pchip_bd_rate(_points_of(scenarios, "bike", "x264", rung), _points_of(scenarios, "bike", "x265", rung))
        assert float(row["value"]) == pytest.approx(expected, abs=0.01) and row["resolution"] == rung
        assert not any(key[0] == "average" and key[2] == rung for key in bd)  # one clip at that rung: no average


# ---------------------------------------------------------------- item 3: the convex hull


def test_hull_bd_rate_equals_scipy_s_convex_hull_then_pchip(tmp_path):
    scenarios = corpus()
    report = _report(tmp_path, scenarios)
    bd = _bd(report)
    for figure, quality in (("BD-rate (VMAF, convex hull)", "vmaf_score"), ("BD-rate (PSNR, convex hull)",
                                                                            "psnr_score")):
        hulls = {enc: scipy_upper_hull(_points_of(scenarios, "bike", enc, quality=quality)) for enc in ("x264", "x265")}
        assert all(len(h) >= 4 for h in hulls.values()), hulls  # the data make a hull BD figure possible
        # the hull mixes rungs: some points come from a lower rung
        rungs_on_hull = {s["resolution"] for s in scenarios if s["source"]["name"] == "bike" and s["encoder"] == "x264"
                         and (s["measured_bitrate_bps"], s[quality]) in hulls["x264"]}
        assert len(rungs_on_hull) >= 2, (figure, rungs_on_hull)
        row = bd[("bike", "A", "", figure)]
        assert row["refused"] == "" and row["resolution"] == ""
        assert float(row["value"]) == pytest.approx(pchip_bd_rate(hulls["x264"], hulls["x265"]), abs=0.05), figure
    energy = bd[("bike", "A", "", "BD-energy (VMAF, convex hull)")]
    assert energy["refused"] == "" and float(energy["value"]) > 0  # x265 spends more joules per second of video


def test_hull_figures_are_refused_when_the_rungs_were_scored_at_their_own_sizes(tmp_path):
    scenarios = corpus()
    for s in scenarios:
        s["quality_reference"] = {"reference": "source", "resolution": s["resolution"]}
    bd = _bd(_report(tmp_path, scenarios))
    row = bd[("bike", "A", "", "BD-rate (VMAF, convex hull)")]
    assert row["value"] == "" and "scored at 256x144, 384x216, 640x360" in row["refused"]


# ---------------------------------------------------------------- item 4: operating points


def _points_csv(report) -> dict[tuple[str, str, str, str], dict]:
    rows = csv.DictReader(io.StringIO(render_points_csv(report)))
    return {(r["clip"], r["encoder"], r["metric"], r["target"]): r for r in rows}


def test_operating_points_equal_an_independent_pchip_inversion(tmp_path):
    scenarios = corpus()
    report = _report(tmp_path, scenarios, targets=parse_targets("vmaf=75,psnr=43"))
    got = _points_csv(report)
    for clip, (native, _, _) in CLIPS.items():
        for enc in ("x264", "x265"):
            if clip == "bike":  # a ladder: its hulls (rate hull for the bitrate, energy hull for the joules)
                rate_curve = scipy_upper_hull(_points_of(scenarios, clip, enc))
                energy_points = [(s["energy_joules"] / 4, s["vmaf_score"]) for s in scenarios
                                 if s["source"]["name"] == clip and s["encoder"] == enc]
                energy_curve = scipy_upper_hull(energy_points)
            else:
                rate_curve = _points_of(scenarios, clip, enc)
                energy_curve = [(s["energy_joules"] / 4, s["vmaf_score"]) for s in scenarios
                                if s["source"]["name"] == clip and s["encoder"] == enc]
            row = got[(clip, f"{enc}/p", "VMAF", "75.0")]
            assert row["curve"] == ("convex hull" if clip == "bike" else native) and row["refused"] == ""
            assert float(row["bitrate_bps"]) == pytest.approx(pchip_at(rate_curve, 75.0), rel=0.01), (clip, enc)
            assert float(row["energy_j_per_s"]) == pytest.approx(pchip_at(energy_curve, 75.0), rel=0.01), (clip, enc)
            assert row["energy_source"] == "rapl (measured)"
    # the average over clips: the mean bitrate, and the mean of the per-clip differences against the anchor
    average = got[("average", "x265/p", "VMAF", "75.0")]
    per_clip = [float(got[(c, "x265/p", "VMAF", "75.0")]["bitrate_vs_anchor_percent"]) for c in CLIPS]
    assert float(average["bitrate_vs_anchor_percent"]) == pytest.approx(sum(per_clip) / 3, abs=1e-9)
    assert int(average["clips"]) == 3
    # x265's VMAF at rate r is x264's at r / 0.70 (city): at equal VMAF it needs 70 % of the rate, -30 % (within
    # the interpolation error of two curves sampled at different qualities)
    assert float(got[("city", "x265/p", "VMAF", "75.0")]["bitrate_vs_anchor_percent"]) == pytest.approx(-30.0, abs=1.0)


def test_operating_points_outside_the_measured_range_are_refused(tmp_path):
    report = _report(tmp_path, corpus(), targets=(Target("vmaf", 99.0),))
    row = _points_csv(report)[("city", "x264/p", "VMAF", "99.0")]
    assert row["bitrate_bps"] == "" and row["energy_j_per_s"] == ""
    assert row["refused"].startswith("bitrate: VMAF 99 is outside the range measured (")
    assert "not extrapolated" in row["refused"]


def test_targets_are_metric_value_pairs():
    assert parse_targets("vmaf=93, psnr=40,vmaf=80") == (Target("psnr", 40.0), Target("vmaf", 80.0),
                                                         Target("vmaf", 93.0))
    for bad in ("vmaf=101", "ssim=0.9", "vmaf", "vmaf=x", "psnr=-3", "vmaf=nan"):
        with pytest.raises(ValueError, match="expected METRIC=VALUE items like vmaf=93,psnr=40"):
            parse_targets(bad)


# ---------------------------------------------------------------- the runner's side


def test_the_scenario_file_gives_a_clip_its_class_and_its_first_encode_is_the_anchor(tmp_path):
    clip = tmp_path / "bike.mkv"
    clip.write_bytes(b"not probed here")
    text = """
scenarios:
  - {name: idle, idle: true, duration: 2}
  - name: "{encoder} @ {bitrate}"
    source: {file: bike.mkv, class: B}
    matrix: {encoder: [libx265, libx264], bitrate: [100k, 200k]}
    preset: medium
    resolution: 640x360
    fps: 25
    duration: 1
"""
    scenarios = parse_scenarios(text, base_dir=tmp_path)
    assert first_encode(scenarios) == ("libx265", "medium")  # the file's order, not the run's
    assert {s.source.clip_class for s in scenarios if not s.idle} == {"B"}
    assert first_encode(parse_scenarios("scenarios: [{name: idle, idle: true, duration: 1}]")) is None
    conflict = text + ("  - {name: other, encoder: libx264, bitrate: 1M, resolution: 640x360, fps: 25, duration: 1, "
                       "source: {file: bike.mkv, class: C}}\n")
    with pytest.raises(RunnerError, match=r'source\.class: clip "bike" is class "C" here and "B" in'):
        parse_scenarios(conflict, base_dir=tmp_path)
    with pytest.raises(RunnerError, match=r"source\.class: expected a clip class"):
        parse_scenarios(text.replace("class: B", "class: '=B'"), base_dir=tmp_path)
