"""BD-rate and its energy counterpart on results files with hand-checkable curves.

The files are written here as JSON and loaded with the contract's loader, so the
figures go through the same path as `ffwatt report`. Expected values show their
arithmetic; "within interpolation error" means the curves are sampled at different
qualities, so the PCHIP interpolants only approximate the underlying function.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("bjontegaard", reason="the report extra (pip install 'ffwatt[report]') is not installed")

from ffwatt.report.bd import bd_cpu_time, bd_energy, bd_rate  # noqa: E402
from ffwatt.report.corpus import build_curves  # noqa: E402
from ffwatt.report.data import Prices, load_run, pareto_front, scenario_rows  # noqa: E402

DURATION = 4.0  # seconds of video per encode, 1 stream: energy per stream-second = J / 4


def _scenario(encoder: str, kbps: float, vmaf: float, joules: float | None, *, psnr: float | None = None,
              reps: list[float] | None = None, source: str = "rapl", core_seconds: float | None = None,
              machine: float | None = None, attribution: str | None = None) -> dict:
    s = {"name": f"{encoder} @ {kbps:g}k", "encoder": encoder, "preset": "medium", "resolution": "640x360",
         "fps": 30, "duration": DURATION, "streams": 1, "bitrate": f"{kbps:g}k",
         "measured_bitrate_bps": kbps * 1000, "vmaf_score": vmaf, "psnr_score": psnr if psnr is not None else vmaf / 2,
         "start_time": 1000.0, "end_time": 1002.0}
    if joules is not None:
        s["energy_joules"] = joules
        s["energy_source"] = source
    if core_seconds is not None:
        s["cpu_core_seconds"] = core_seconds
    if reps is not None:
        s["repetitions"] = [{"energy_joules": j} for j in reps]
    if machine is not None:
        s["machine_energy_joules"] = machine
    if attribution is not None:
        s["energy_attribution"] = attribution
    return s


def _curves(tmp_path: Path, scenarios: list[dict], name: str = "test_results_20260101_000000.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"format_version": 2, "test_date": "2026-01-01T00:00:00+00:00",
                                "scenarios": scenarios}))
    rows = scenario_rows(load_run(path), Prices())
    return {c.encoder: c for c in build_curves(rows)}, rows


ANCHOR_KBPS = [150.0, 250.0, 400.0, 700.0]
ANCHOR_VMAF = [60.0, 70.0, 80.0, 90.0]
# energy per stream-second 20 + 0.5 x (VMAF - 60) = 20, 25, 30, 35 J/s -> x 4 s = 80, 100, 120, 140 J
ANCHOR_JOULES = [80.0, 100.0, 120.0, 140.0]


def _anchor(encoder: str = "a", **kw) -> list[dict]:
    return [_scenario(encoder, r, q, j, **kw) for r, q, j in zip(ANCHOR_KBPS, ANCHOR_VMAF, ANCHOR_JOULES, strict=True)]


def test_an_encoder_against_itself_is_zero(tmp_path):
    curves, _ = _curves(tmp_path, _anchor("a") + _anchor("b"))
    for method in ("pchip", "akima"):
        for quality in ("vmaf", "psnr"):
            d = bd_rate(curves["a"], curves["b"], quality, method)
            assert d.refused is None and d.percent == pytest.approx(0.0, abs=1e-9)
        e = bd_energy(curves["a"], curves["b"], method)
        assert e.percent == pytest.approx(0.0, abs=1e-9) and e.linear == pytest.approx(0.0, abs=1e-9)
        assert e.overlap == pytest.approx(1.0) and e.quality_range == (60.0, 90.0)


def test_ten_percent_less_bitrate_at_every_quality_is_minus_ten_percent(tmp_path):
    # the same VMAF at 0.9 x the bitrate: log10(rate) shifts by log10(0.9) everywhere,
    # PCHIP of a shifted series is the shifted interpolant, so BD-rate = (0.9 - 1) x 100 = -10 % exactly
    test = [_scenario("b", 0.9 * r, q, j) for r, q, j in zip(ANCHOR_KBPS, ANCHOR_VMAF, ANCHOR_JOULES, strict=True)]
    curves, _ = _curves(tmp_path, _anchor("a") + test)
    assert bd_rate(curves["a"], curves["b"]).percent == pytest.approx(-10.0, abs=1e-9)
    assert bd_rate(curves["b"], curves["a"]).percent == pytest.approx(100 / 0.9 - 100, abs=1e-9)  # +11.1 %


def _vmaf_of(kbps: float) -> float:
    """A smooth, concave rate-distortion curve: VMAF = 100 - 40 x (100 / kbps)^0.7."""
    return 100.0 - 40.0 * (100.0 / kbps) ** 0.7


def test_ten_percent_less_bitrate_sampled_elsewhere_within_interpolation_error(tmp_path):
    # anchor on VMAF(r); test on VMAF(r / 0.9): at every quality the test needs 0.9 x the rate.
    # The two curves are sampled at different rates, so only the interpolants differ from the truth.
    anchor = [_scenario("a", r, _vmaf_of(r), 100.0) for r in (150.0, 250.0, 400.0, 700.0)]
    test = [_scenario("b", r, _vmaf_of(r / 0.9), 100.0) for r in (140.0, 230.0, 380.0, 650.0)]
    curves, _ = _curves(tmp_path, anchor + test)
    for method in ("pchip", "akima"):
        d = bd_rate(curves["a"], curves["b"], "vmaf", method)
        assert d.refused is None
        assert d.percent == pytest.approx(-10.0, abs=0.5)


def test_energy_delta_ten_percent_less_at_every_vmaf(tmp_path):
    # test: the same VMAFs (other bitrates) at 0.9 x the energy -> BD-energy -10 % exactly (log shift);
    # linear: the anchor is 20 + 0.5 (q - 60) J/s, linear in VMAF (PCHIP reproduces a line), so the mean
    # difference over [60, 90] is -0.1 x mean(anchor) = -0.1 x (20 + 35) / 2 = -2.75 J per stream-second
    test = [_scenario("b", 0.8 * r, q, 0.9 * j) for r, q, j in zip(ANCHOR_KBPS, ANCHOR_VMAF, ANCHOR_JOULES,
                                                                    strict=True)]
    curves, _ = _curves(tmp_path, _anchor("a") + test)
    d = bd_energy(curves["a"], curves["b"])
    assert d.refused is None
    assert d.percent == pytest.approx(-10.0, abs=1e-9)
    assert d.linear == pytest.approx(-2.75, abs=1e-9)
    assert d.ci95_percent is None and d.repetitions == 0  # no repetitions: no CI
    assert bd_rate(curves["a"], curves["b"]).percent == pytest.approx(-20.0, abs=1e-9)  # 0.8 x the rate


def test_energy_delta_sampled_elsewhere_within_interpolation_error(tmp_path):
    # energy E(q) = 5 x 1.02^q J/s for the anchor, 0.9 x that for the test, at different VMAFs
    def joules(q: float, scale: float) -> float:
        return scale * 5.0 * 1.02**q * DURATION

    anchor = [_scenario("a", r, q, joules(q, 1.0)) for r, q in zip(ANCHOR_KBPS, ANCHOR_VMAF, strict=True)]
    test_q = [62.0, 71.0, 83.0, 92.0]
    test = [_scenario("b", r, q, joules(q, 0.9)) for r, q in zip(ANCHOR_KBPS, test_q, strict=True)]
    curves, _ = _curves(tmp_path, anchor + test)
    d = bd_energy(curves["a"], curves["b"])
    assert d.percent == pytest.approx(-10.0, abs=0.5)
    assert d.quality_range == (62.0, 90.0)


def test_energy_delta_confidence_interval_from_the_repetitions(tmp_path):
    # repetition k of the test uses 0.85, 0.90, 0.95 x the anchor's energy at every point:
    # per-repetition BD-energy -15, -10, -5 % -> mean -10 %, s = 5,
    # half-width = t(0.975, 2) x 5 / sqrt(3) = 4.302653 x 2.886751 = 12.420576
    anchor = [_scenario("a", r, q, j, reps=[j, j, j])
              for r, q, j in zip(ANCHOR_KBPS, ANCHOR_VMAF, ANCHOR_JOULES, strict=True)]
    test = [_scenario("b", 0.9 * r, q, 0.9 * j, reps=[0.85 * j, 0.90 * j, 0.95 * j])
            for r, q, j in zip(ANCHOR_KBPS, ANCHOR_VMAF, ANCHOR_JOULES, strict=True)]
    curves, _ = _curves(tmp_path, anchor + test)
    d = bd_energy(curves["a"], curves["b"])
    assert d.repetitions == 3
    assert d.percent == pytest.approx(-10.0, abs=1e-9)
    assert d.ci95_percent == pytest.approx(4.302653 * 5 / math.sqrt(3), rel=1e-6)
    # linear: per repetition -0.15, -0.10, -0.05 x 27.5 J/s -> mean -2.75, s = 1.375,
    # half-width = 4.302653 x 1.375 / sqrt(3) = 3.415658
    assert d.linear == pytest.approx(-2.75, abs=1e-9)
    assert d.ci95_linear == pytest.approx(4.302653 * 1.375 / math.sqrt(3), rel=1e-6)


def test_cpu_time_delta(tmp_path):
    # core-seconds 2, 3, 4, 5 (per 4 s of video) for the anchor, twice that for the test: +100 %
    anchor = [_scenario("a", r, q, j, core_seconds=c)
              for r, q, j, c in zip(ANCHOR_KBPS, ANCHOR_VMAF, ANCHOR_JOULES, [2.0, 3.0, 4.0, 5.0], strict=True)]
    test = [_scenario("b", r, q, j, core_seconds=2 * c)
            for r, q, j, c in zip(ANCHOR_KBPS, ANCHOR_VMAF, ANCHOR_JOULES, [2.0, 3.0, 4.0, 5.0], strict=True)]
    curves, _ = _curves(tmp_path, anchor + test)
    assert bd_cpu_time(curves["a"], curves["b"]).percent == pytest.approx(100.0, abs=1e-9)


def test_curves_that_do_not_overlap_are_refused_with_the_reason(tmp_path):
    test = [_scenario("b", r, q + 40.0, j) for r, q, j in zip(ANCHOR_KBPS, [50.0, 52.0, 55.0, 58.0], ANCHOR_JOULES,
                                                               strict=True)]
    anchor = [_scenario("a", r, q, j) for r, q, j in zip(ANCHOR_KBPS, [40.0, 45.0, 50.0, 55.0], ANCHOR_JOULES,
                                                          strict=True)]
    curves, _ = _curves(tmp_path, anchor + test)
    for d in (bd_rate(curves["a"], curves["b"]), bd_energy(curves["a"], curves["b"])):
        assert d.percent is None
        assert d.refused == "the VMAF ranges do not overlap: a/medium 40-55, b/medium 90-98"


def test_a_curve_that_is_not_monotonic_is_refused_with_the_reason(tmp_path):
    # VMAF falls from 75 to 70 while the bitrate rises from 250k to 400k
    bumpy = [_scenario("b", r, q, j) for r, q, j in zip(ANCHOR_KBPS, [60.0, 75.0, 70.0, 90.0], ANCHOR_JOULES,
                                                         strict=True)]
    curves, _ = _curves(tmp_path, _anchor("a") + bumpy)
    for d in (bd_rate(curves["a"], curves["b"]), bd_energy(curves["a"], curves["b"])):
        assert d.percent is None
        assert d.refused == ("b/medium is not monotonic: VMAF 70 at 400 kb/s (b @ 400k) is not above 75 at "
                             "250 kb/s (b @ 250k)")


def test_too_few_points_and_missing_energy_are_refused(tmp_path):
    three = [_scenario("b", r, q, j) for r, q, j in zip(ANCHOR_KBPS[:3], ANCHOR_VMAF[:3], ANCHOR_JOULES[:3],
                                                         strict=True)]
    no_energy = [_scenario("c", r, q, None) for r, q in zip(ANCHOR_KBPS, ANCHOR_VMAF, strict=True)]
    curves, _ = _curves(tmp_path, _anchor("a") + three + no_energy)
    assert bd_rate(curves["a"], curves["b"]).refused == "b/medium has 3 rate point(s); BD needs at least 4"
    assert bd_rate(curves["a"], curves["c"]).percent == pytest.approx(0.0, abs=1e-9)  # rate needs no energy
    assert bd_energy(curves["a"], curves["c"]).refused == "c/medium: no energy recorded"
    some = [_scenario("d", r, q, j) for r, q, j in zip(ANCHOR_KBPS, ANCHOR_VMAF, [None, None, None, 140.0],
                                                        strict=True)]
    curves, _ = _curves(tmp_path, _anchor("a") + some)
    assert bd_energy(curves["a"], curves["d"]).refused == (
        "d/medium: no positive energy for d @ 150k, d @ 250k and 1 more")


def test_a_narrow_overlap_is_refused_unless_the_minimum_is_lowered(tmp_path):
    # anchor VMAF 60-90 (range 30), test 80-99 (range 19, the shorter): they share 80-90 = 10 of 19 (52.6 %)
    test = [_scenario("b", r, q, j) for r, q, j in zip(ANCHOR_KBPS, [80.0, 88.0, 95.0, 99.0], ANCHOR_JOULES,
                                                        strict=True)]
    curves, _ = _curves(tmp_path, _anchor("a") + test)
    d = bd_rate(curves["a"], curves["b"])
    assert d.percent is not None and d.overlap == pytest.approx(10 / 19)
    assert bd_rate(curves["a"], curves["b"], min_overlap=0.6).refused == (
        "the VMAF ranges overlap on 53% of the shorter curve's range (under 60%): a/medium 60-90, b/medium 80-99")


def test_energy_kind_and_pareto_front(tmp_path):
    scenarios = [_scenario("a", 100, 60.0, 40.0, source="model"), _scenario("a", 200, 80.0, 80.0),
                 _scenario("b", 200, 70.0, 90.0, source="simulated")]
    _, rows = _curves(tmp_path, scenarios)
    assert [r.energy_kind for r in rows] == ["estimated", "measured", "simulated"]
    # (J/s, VMAF): (10, 60), (20, 80), (22.5, 70): the last has more energy and less VMAF than the second
    front = pareto_front([(r.joules_per_video_second, r.scenario.vmaf, r.name) for r in rows])
    assert [label for _, _, label in front] == ["a @ 100k", "a @ 200k"]


def _same_energy(encoder: str, **kw) -> list[dict]:
    """The anchor's VMAFs and energies at 0.8 x its bitrates: BD-energy 0 %, BD-rate -20 %."""
    return [_scenario(encoder, 0.8 * r, q, j, **kw)
            for r, q, j in zip(ANCHOR_KBPS, ANCHOR_VMAF, ANCHOR_JOULES, strict=True)]


def test_bd_energy_uses_the_attributed_energy_not_the_machines(tmp_path):
    # the same attributed energy on both curves, the test's machine 3 x busier: BD-energy 0 %
    anchor = [_scenario("a", r, q, j, machine=1.2 * j, attribution="cpu-time-share")
              for r, q, j in zip(ANCHOR_KBPS, ANCHOR_VMAF, ANCHOR_JOULES, strict=True)]
    test = [_scenario("b", 0.8 * r, q, j, machine=3.6 * j, attribution="cpu-time-share")
            for r, q, j in zip(ANCHOR_KBPS, ANCHOR_VMAF, ANCHOR_JOULES, strict=True)]
    curves, rows = _curves(tmp_path, anchor + test)
    d = bd_energy(curves["a"], curves["b"])
    assert d.refused is None
    assert d.percent == pytest.approx(0.0, abs=1e-9)
    assert rows[4].machine_energy_joules == pytest.approx(3.6 * 80.0)
    assert rows[4].energy_joules == 80.0 and rows[4].energy_attribution == "cpu-time-share"


def test_bd_energy_across_energy_sources_is_refused_with_the_reason(tmp_path):
    # two meters (the CPU's RAPL against a GPU's NVML): both measured, still not the same figure
    curves, _ = _curves(tmp_path, _anchor("a", source="rapl") + _same_energy("b", source="nvml"))
    d = bd_energy(curves["a"], curves["b"])
    assert d.percent is None and d.linear is None
    assert "different energy sources" in d.refused
    assert "nvml: b @ 120k" in d.refused and "rapl: a @ 150k" in d.refused
    # measured against modelled: refused, naming the kinds
    curves, _ = _curves(tmp_path, _anchor("a", source="rapl") + _same_energy("b", source="model"),
                        name="test_results_20260104_000000.json")
    d = bd_energy(curves["a"], curves["b"])
    assert d.percent is None and "measured by a meter" in d.refused and "modelled" in d.refused
    # the bitrate and CPU-time figures do not depend on the meter
    assert bd_rate(curves["a"], curves["b"]).percent == pytest.approx(-20.0, abs=1e-9)


def test_bd_energy_across_attribution_rules_is_refused_with_the_reason(tmp_path):
    anchor = _anchor("a", attribution="exclusive")
    test = _same_energy("b", attribution="cpu-time-share")
    curves, _ = _curves(tmp_path, anchor + test)
    d = bd_energy(curves["a"], curves["b"])
    assert d.percent is None and "different attribution rules" in d.refused
    assert "cpu-time-share: b @ 120k" in d.refused and "exclusive: a @ 150k" in d.refused
    # a file that did not record the rule does not compare with one that did either
    curves, _ = _curves(tmp_path, _anchor("a") + test, name="test_results_20260102_000000.json")
    assert "unrecorded: a @ 150k" in bd_energy(curves["a"], curves["b"]).refused
    # one rule on both sides: a figure
    curves, _ = _curves(tmp_path, _anchor("a", attribution="cpu-time-share") + test,
                        name="test_results_20260103_000000.json")
    assert bd_energy(curves["a"], curves["b"]).percent == pytest.approx(0.0, abs=1e-9)


def test_the_scenario_table_shows_machine_energy_beside_the_attributed(tmp_path):
    from ffwatt.report.model import Report, ReportOptions
    from ffwatt.report.render import render_csv, render_markdown

    path = tmp_path / "test_results_20260101_000000.json"
    scenarios = [_scenario("a", 150.0, 60.0, 80.0, machine=200.0, attribution="cpu-time-share",
                           reps=[78.0, 80.0, 82.0]),
                 _scenario("b", 150.0, 60.0, 80.0)]
    path.write_text(json.dumps({"format_version": 2, "test_date": "2026-01-01T00:00:00+00:00",
                                "scenarios": scenarios}))
    run = load_run(path)
    rows = scenario_rows(run, Prices())
    report = Report(options=ReportOptions(results=(path,), out=tmp_path), runs=[run], rows=rows, curves=[],
                    deltas=[])
    summary = render_markdown(report)
    # energy: mean of the rounds 80 ± t(0.975, 2) x 2 / sqrt(3) = 4.97 (two digits: 5.0), machine energy
    # beside it; unknown machine energy and rule are dashes, never 0
    assert "| a @ 150k | 150 | 60.0 | 30.0 | 80.0 ± 5.0 | 200 | cpu-time-share | rapl (measured) |" in summary
    assert "| b @ 150k | 150 | 60.0 | 30.0 | 80.0 | – | – | rapl (measured) |" in summary
    header = render_csv(report).splitlines()[0].split(",")
    first = dict(zip(header, render_csv(report).splitlines()[1].split(","), strict=True))
    assert first["machine_energy_(J)"] == "200.0" and first["energy_attribution"] == "cpu-time-share"
