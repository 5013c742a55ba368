"""Report v2 (issue 23): per-clip BD figures against a chosen anchor, their average over clips,
refusals one by one, bd.csv, and the convex hull over resolutions.

Results files are written here with known curves and loaded with the contract's loader, so
the figures go through the same path as `ffwatt report`. The expected BD figures come from
an independent PCHIP computation written below with scipy's `PchipInterpolator` (as the
JCT-VC CTC sheet integrates), not from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("bjontegaard", reason="the report extra (pip install 'ffwatt[report]') is not installed")

from scipy.interpolate import PchipInterpolator  # noqa: E402

from ffwatt.report.corpus import all_deltas, build_curves, choose_anchor  # noqa: E402
from ffwatt.report.curve import AVERAGE  # noqa: E402
from ffwatt.report.data import Prices, ReportError, load_run, scenario_rows  # noqa: E402
from ffwatt.report.hull import ladders, upper_hull  # noqa: E402
from ffwatt.report.model import Report, ReportOptions  # noqa: E402
from ffwatt.report.page import render_html  # noqa: E402
from ffwatt.report.render import render_bd_csv  # noqa: E402

DURATION = 4.0

# Two clips of different complexity, two encoders each, 4 rate points: (kb/s, VMAF, PSNR, J).
# The test encoder needs less bitrate on the easy clip than on the hard one, and not by a constant factor,
# so the per-clip figures differ and the average is not either of them.
CURVES = {
    ("easy", "x264"): [(200, 70.0, 34.0, 80.0), (400, 80.0, 36.5, 100.0), (800, 88.0, 38.8, 120.0),
                       (1600, 94.0, 40.9, 140.0)],
    ("easy", "av1"): [(150, 69.0, 33.6, 110.0), (310, 80.5, 36.4, 130.0), (640, 89.0, 39.0, 160.0),
                      (1300, 95.0, 41.2, 190.0)],
    ("hard", "x264"): [(500, 55.0, 30.0, 90.0), (1000, 66.0, 32.4, 110.0), (2000, 76.0, 34.7, 130.0),
                       (4000, 85.0, 36.8, 150.0)],
    ("hard", "av1"): [(420, 56.0, 30.3, 120.0), (880, 67.5, 32.9, 140.0), (1800, 77.0, 35.1, 170.0),
                      (3700, 86.5, 37.3, 200.0)],
}


def _scenario(clip: str | None, encoder: str, kbps: float, vmaf: float, psnr: float, joules: float, *,
              measured: bool = True, source: str = "rapl", resolution: str = "1280x720") -> dict:
    s = {"name": f"{clip} {encoder} {resolution} @ {kbps:g}k", "encoder": encoder, "preset": "p",
         "resolution": resolution, "fps": 30, "duration": DURATION, "bitrate": f"{kbps:g}k", "vmaf_score": vmaf,
         "psnr_score": psnr, "energy_joules": joules, "energy_source": source, "start_time": 1000.0,
         "end_time": 1004.0}
    if measured:
        s["measured_bitrate_bps"] = kbps * 1000.0
    if clip is not None:
        s["source"] = {"name": clip, "path": f"{clip}.y4m"}
    return s


def _write(tmp_path: Path, scenarios: list[dict], name: str = "test_results_20260101_000000.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"format_version": 2, "test_date": "2026-01-01T00:00:00+00:00",
                                "scenarios": scenarios}))
    return path


def _all(tmp_path: Path, scenarios: list[dict], anchor: str | None = None, min_overlap: float = 0.5):
    run = load_run(_write(tmp_path, scenarios))
    rows = scenario_rows(run, Prices())
    curves = build_curves(rows)
    chosen, _ = choose_anchor(curves, anchor, [run])
    deltas, notes = all_deltas(curves, chosen, "pchip", min_overlap, ladders(rows))
    return chosen, {(d.clip, d.kind, d.test): d for d in deltas}, rows, curves, deltas


def _two_clips(order: tuple[str, ...] = ("x264", "av1")) -> list[dict]:
    return [_scenario(clip, enc, *pt) for enc in order for clip in ("easy", "hard") for pt in CURVES[(clip, enc)]]


# ---------------------------------------------------------------- the independent reference


def _pchip_mean(xs: list[float], ys: list[float], low: float, high: float) -> float:
    """Mean of the PCHIP interpolant of (xs, ys) over [low, high] (its integral / the width)."""
    order = sorted(range(len(xs)), key=xs.__getitem__)
    f = PchipInterpolator([xs[i] for i in order], [ys[i] for i in order])
    return float(f.integrate(low, high)) / (high - low)


def _reference_bd_rate(anchor: list[tuple], test: list[tuple], q: int) -> float:
    """BD-rate in %: log10(rate) against quality (column q), both integrated over the common quality range."""
    qa, qt = [p[q] for p in anchor], [p[q] for p in test]
    low, high = max(min(qa), min(qt)), min(max(qa), max(qt))
    d = (_pchip_mean(qt, [math.log10(p[0]) for p in test], low, high)
         - _pchip_mean(qa, [math.log10(p[0]) for p in anchor], low, high))
    return (10 ** d - 1) * 100


def _reference_bd_quality(anchor: list[tuple], test: list[tuple], q: int) -> float:
    """BD-PSNR/BD-VMAF: quality (column q) against log10(rate), over the common log-rate range."""
    ra, rt = [math.log10(p[0]) for p in anchor], [math.log10(p[0]) for p in test]
    low, high = max(min(ra), min(rt)), min(max(ra), max(rt))
    return _pchip_mean(rt, [p[q] for p in test], low, high) - _pchip_mean(ra, [p[q] for p in anchor], low, high)


# ---------------------------------------------------------------- per clip, average, anchor


def test_per_clip_bd_figures_and_their_average_equal_an_independent_pchip_computation(tmp_path):
    anchor, by, _, curves, _ = _all(tmp_path, _two_clips())
    assert anchor.label == "x264/p" and anchor.chosen.startswith("the first encoder in the results file's order")
    assert {(c.clip, c.encoder) for c in curves} == set(CURVES)  # curves keyed by clip: not merged
    for kind, reference, column in (("BD-rate (VMAF)", _reference_bd_rate, 1), ("BD-rate (PSNR)", _reference_bd_rate, 2),
                                    ("BD-PSNR", _reference_bd_quality, 2), ("BD-VMAF", _reference_bd_quality, 1)):
        expected = {clip: reference(CURVES[(clip, "x264")], CURVES[(clip, "av1")], column) for clip in ("easy", "hard")}
        for clip in ("easy", "hard"):
            d = by[(clip, kind, "av1/p")]
            assert d.refused is None and d.anchor == "x264/p"
            assert d.value == pytest.approx(expected[clip], abs=0.05), (clip, kind)
        average = by[(AVERAGE, kind, "av1/p")]
        assert average.clips == 2
        assert average.value == pytest.approx((expected["easy"] + expected["hard"]) / 2, abs=0.05), kind
    # the two clips really differ, so the average is neither of them
    easy, hard = by[("easy", "BD-rate (VMAF)", "av1/p")].value, by[("hard", "BD-rate (VMAF)", "av1/p")].value
    assert abs(easy - hard) > 5


def test_the_anchor_flag_chooses_the_anchor_and_inverts_the_sign(tmp_path):
    _, by_x264, _, _, _ = _all(tmp_path, _two_clips())
    anchor, by_av1, _, _, _ = _all(tmp_path, _two_clips(), anchor="av1")
    assert anchor.label == "av1/p" and anchor.chosen == "--anchor av1"
    for clip in ("easy", "hard"):
        forward = by_x264[(clip, "BD-rate (VMAF)", "av1/p")].percent
        backward = by_av1[(clip, "BD-rate (VMAF)", "x264/p")].percent
        assert forward < 0 < backward
        # same common range, log difference negated: (1 + f)(1 + b) = 1
        assert (1 + forward / 100) * (1 + backward / 100) == pytest.approx(1.0, abs=1e-12)
        assert by_av1[(clip, "BD-PSNR", "x264/p")].linear == pytest.approx(
            -by_x264[(clip, "BD-PSNR", "av1/p")].linear, abs=1e-12)
    # the default anchor follows the file order: av1 first -> av1 is the anchor
    assert _all(tmp_path, _two_clips(order=("av1", "x264")))[0].label == "av1/p"
    assert _all(tmp_path, _two_clips(), anchor="x264/p")[0].label == "x264/p"


def test_an_unknown_anchor_is_an_error_naming_the_choices(tmp_path):
    with pytest.raises(ReportError, match=r"--anchor vp9: no curve has that encoder; the curves are av1/p, x264/p"):
        _all(tmp_path, _two_clips(), anchor="vp9")
    with pytest.raises(ReportError, match=r"--anchor x264/slow: no curve has that encoder/preset"):
        _all(tmp_path, _two_clips(), anchor="x264/slow")


def test_an_old_file_without_source_identity_is_one_unnamed_clip(tmp_path):
    scenarios = [_scenario(None, enc, *pt) for enc in ("x264", "av1") for pt in CURVES[("easy", enc)]]
    anchor, by, rows, curves, deltas = _all(tmp_path, scenarios)
    assert {r.scenario.source_name for r in rows} == {None}
    d = by[(None, "BD-rate (VMAF)", "av1/p")]
    assert d.value == pytest.approx(_reference_bd_rate(CURVES[("easy", "x264")], CURVES[("easy", "av1")], 1), abs=0.05)
    assert not any(x.clip == AVERAGE for x in deltas)  # one clip: no average
    report = Report(ReportOptions(results=(tmp_path / "x.json",), out=tmp_path), [load_run(tmp_path / (
        "test_results_20260101_000000.json"))], rows, curves, deltas, anchor=anchor)
    page = render_html(report)
    assert "(unnamed)" in page and "Anchor: <b>x264/p</b>" in page


# ---------------------------------------------------------------- refusals, one by one


def test_target_and_measured_bitrates_mixed_are_refused(tmp_path):
    scenarios = [_scenario("easy", "x264", *pt) for pt in CURVES[("easy", "x264")]]
    scenarios += [_scenario("easy", "av1", *pt, measured=False) for pt in CURVES[("easy", "av1")]]
    _, by, _, _, _ = _all(tmp_path, scenarios)
    for kind in ("BD-rate (VMAF)", "BD-rate (PSNR)", "BD-PSNR", "BD-VMAF"):
        d = by[("easy", kind, "av1/p")]
        assert d.value is None
        assert d.refused.startswith("target and measured bitrates mixed: av1/p has target bitrates"), kind
    assert by[("easy", "BD-energy (VMAF)", "av1/p")].refused is None  # energy at equal VMAF needs no bitrate


def test_energy_from_different_sources_is_refused(tmp_path):
    for other, word in (("model", "modelled"), ("simulated", "simulated")):
        scenarios = [_scenario("easy", "x264", *pt) for pt in CURVES[("easy", "x264")]]
        scenarios += [_scenario("easy", "av1", *pt, source=other) for pt in CURVES[("easy", "av1")]]
        _, by, _, _, _ = _all(tmp_path, scenarios)
        d = by[("easy", "BD-energy (VMAF)", "av1/p")]
        assert d.percent is None and d.linear is None
        assert d.refused == (f"energy from different sources (x264/p: measured by a meter; av1/p: {word}): "
                             "they do not compare")
        assert by[("easy", "BD-rate (VMAF)", "av1/p")].refused is None  # the rate figures stand


def test_an_overlap_under_half_the_shorter_curve_is_refused_and_the_minimum_is_settable(tmp_path):
    # anchor VMAF 70-94 (24), test 88-99 (11, the shorter): they share 88-94 = 6 of 11 = 54.5 %; 90-99: 4 of 9 = 44 %
    anchor = [_scenario("easy", "x264", *pt) for pt in CURVES[("easy", "x264")]]
    narrow = [_scenario("easy", "av1", r, q, q / 2.4, j) for r, q, j in
              ((300, 90.0, 100.0), (500, 93.0, 120.0), (900, 96.0, 140.0), (1600, 99.0, 160.0))]
    _, by, _, _, _ = _all(tmp_path, anchor + narrow)
    d = by[("easy", "BD-rate (VMAF)", "av1/p")]
    assert d.refused == ("the VMAF ranges overlap on 44% of the shorter curve's range (under 50%): "
                         "x264/p 70-94, av1/p 90-99")
    assert by[("easy", "BD-energy (VMAF)", "av1/p")].refused == d.refused
    _, by, _, _, _ = _all(tmp_path, anchor + narrow, min_overlap=0.4)
    d = by[("easy", "BD-rate (VMAF)", "av1/p")]
    assert d.refused is None and d.overlap == pytest.approx(4 / 9)


def test_fewer_than_four_points_are_refused_and_the_average_says_which_clip(tmp_path):
    scenarios = _two_clips()
    scenarios = [s for s in scenarios if not (s["name"].startswith("hard av1") and s["bitrate"] == "3700k")]
    _, by, _, _, _ = _all(tmp_path, scenarios)
    assert by[("hard", "BD-rate (VMAF)", "av1/p")].refused == "av1/p has 3 rate point(s); BD needs at least 4"
    assert by[("easy", "BD-rate (VMAF)", "av1/p")].refused is None
    assert by[(AVERAGE, "BD-rate (VMAF)", "av1/p")].refused == "refused on 1 of 2 clips (hard)"


# ---------------------------------------------------------------- bd.csv and the headline


def test_bd_csv_has_every_figure_at_full_precision(tmp_path):
    anchor, _, rows, curves, deltas = _all(tmp_path, _two_clips())
    report = Report(ReportOptions(results=(), out=tmp_path), [], rows, curves, deltas, anchor=anchor)
    table = list(csv.DictReader(io.StringIO(render_bd_csv(report))))
    assert len(table) == len(deltas) == 3 * 6  # easy, hard, average x six figures
    row = next(r for r in table if r["clip"] == "easy" and r["figure"] == "BD-rate (VMAF)")
    d = next(d for d in deltas if d.clip == "easy" and d.kind == "BD-rate (VMAF)")
    assert float(row["value"]) == d.percent  # repr round-trips: full precision
    assert row["anchor"] == "x264/p" and row["test"] == "av1/p" and row["unit"] == "%" and row["metric"] == "VMAF"
    assert float(row["overlap"]) == d.overlap and row["refused"] == ""
    assert {r["clip"] for r in table} == {"easy", "hard", "average"}


def test_the_headline_comes_first_with_two_decimals(tmp_path):
    anchor, by, rows, curves, deltas = _all(tmp_path, _two_clips())
    report = Report(ReportOptions(results=(), out=tmp_path), [], rows, curves, deltas, anchor=anchor,
                    ladders=ladders(rows))
    page = render_html(report)
    order = [page.index(f"<h2>{title}") for title in ("Bjøntegaard deltas against the anchor",
                                                      "Convex hull over resolutions", "Environment and settings")]
    assert order == sorted(order)
    value = by[("easy", "BD-rate (VMAF)", "av1/p")].percent
    assert f"{value:+.2f}" in page and f"{value:+.1f}<" not in page
    assert "av1/<wbr>p <i>vs</i> x264/<wbr>p" in page  # the detail table's pair, breakable at the slash


# ---------------------------------------------------------------- the hull


def test_upper_hull_keeps_the_concave_frontier():
    # (1, 50) (2, 60) (3, 62) (4, 75) (3, 40): (3, 62) is under the chord (2, 60)-(4, 75) at x=3 (67.5); (3, 40) is
    # dominated; (5, 74) has more x and less y than (4, 75)
    points = [(1, 50), (2, 60), (3, 62), (4, 75), (3, 40), (5, 74)]
    assert upper_hull(points) == [0, 1, 3]
    assert upper_hull([]) == []
    assert upper_hull([(1, 10), (2, 20), (3, 30)]) == [0, 1, 2]  # on the chord: on the hull's edge, kept


def test_the_ladder_hull_picks_rungs_for_quality_and_for_joules(tmp_path):
    # clip "easy", one encoder at two resolutions. At 400k the 640x360 rung scores higher than the 1280x720 one (the
    # big one starves), at 1600k the 1280x720 rung wins. Energy: the 640x360 rungs cost less.
    rungs = [("640x360", 400, 78.0, 40.0), ("640x360", 1600, 86.0, 60.0),
             ("1280x720", 400, 70.0, 80.0), ("1280x720", 1600, 93.0, 120.0)]
    scenarios = [_scenario("easy", "x264", kbps, vmaf, vmaf / 2.4, joules, resolution=res)
                 for res, kbps, vmaf, joules in rungs]
    (ladder,) = ladders(scenario_rows(load_run(_write(tmp_path, scenarios)), Prices()))
    kept_quality = [(r.resolution, r.bitrate_bps) for r in ladder.rungs if r.on_rate_hull]
    kept_joules = [(r.resolution, r.bitrate_bps) for r in ladder.rungs if r.on_energy_hull]
    assert kept_quality == [("640x360", 400_000.0), ("1280x720", 1_600_000.0)]
    # energy per stream-second J/4: 10 (78), 15 (86), 20 (70), 30 (93); hull 10 -> 15 -> 30: slopes 1.6, 0.47
    assert kept_joules == [("640x360", 400_000.0), ("640x360", 1_600_000.0), ("1280x720", 1_600_000.0)]
    assert ladder.rungs[0].joules_per_video_second == pytest.approx(10.0)


def test_a_ladder_scored_at_each_encode_s_own_size_is_flagged(tmp_path):
    scenarios = [_scenario("easy", "x264", 400, 78.0, 32.0, 40.0, resolution="640x360"),
                 _scenario("easy", "x264", 1600, 93.0, 38.0, 120.0, resolution="1280x720")]
    (ladder,) = ladders(scenario_rows(load_run(_write(tmp_path, scenarios)), Prices()))
    assert ladder.scoring_problem is None  # nothing recorded: taken as scored at the display size
    scenarios[0]["quality_reference"] = {"reference": "source", "resolution": "640x360"}
    scenarios[1]["quality_reference"] = {"reference": "source", "resolution": "1280x720"}
    (ladder,) = ladders(scenario_rows(load_run(_write(tmp_path, scenarios)), Prices()))
    assert ladder.scoring_problem == (
        "clip easy, x264/p: VMAF was scored at 1280x720, 640x360 (each encode at its own size, not the display "
        "size): the hull across resolutions compares unlike scores")
