"""Bjøntegaard deltas: BD-rate between rate-distortion curves, and its energy counterpart.

A *curve* is the scenarios of one encoder/preset at one resolution, each a point
(measured bitrate, VMAF, PSNR, joules per stream per second of video). Points come
from every results file given, sorted by bitrate.

* **BD-rate** (VMAF or PSNR): the average bitrate difference of the test curve against
  the anchor at equal quality, in percent, over the qualities both curves reach. It is
  computed by the PyPI package `bjontegaard` (`bd_rate`): log10(bitrate) is interpolated
  as a function of quality with PCHIP (piecewise cubic Hermite: shape-preserving, no
  overshoot between points; the JCT-VC common-test-conditions spreadsheet's method),
  both interpolants are integrated over the overlapping quality range, and the mean
  log difference d gives (10^d - 1) x 100 %. Akima is available (`method="akima"`).
* **BD-energy**: the same computation on (VMAF, joules per stream per second of video)
  curves: the average energy difference at equal VMAF, in percent (log domain, as
  BD-rate) and in joules per stream per second of video (linear: `bjontegaard.bd_linear`).
  With repetitions at every point, the BD-energy is computed once per repetition (the
  k-th repetition's energy at every point of both curves) and reported as the mean of
  those n values with the half-width of its 95 % confidence interval, t(0.975, n-1) x
  s / sqrt(n) (`contract.formulas.mean_and_ci95`); n is the smallest repetition count
  of any point. VMAF is scored once per scenario, so it carries no spread.
* **BD-CPU-time**: the same on the encoders' own CPU time (core-seconds per stream per
  second of video, exact from the kernel): the compute counterpart, free of the noise of
  whole-machine power (and the only solid figure where energy is a model estimate).

A pair is *refused*, with the reason, rather than given a wild number when a curve has
fewer than `MIN_POINTS` points, its quality does not rise strictly with bitrate (not
monotonic: rate as a function of quality is then not a function), two points share a
quality, the quality ranges do not overlap, or (BD-energy) a point has no positive energy
or the curves encode different lengths of video, or their points' energy comes from different
sources (`rapl` against `model`...) or attribution rules (`cpu-time-share` against
`exclusive`...): such figures do not compare, so the difference would be the meters'. The
energy itself need not be monotonic in VMAF: PCHIP interpolates it without overshoot.
BD-energy uses each scenario's own, attributed energy (`energy_joules`), never the machine's.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from contract import formulas
from report.data import Row

__all__ = ["MIN_POINTS", "METHODS", "Point", "Curve", "Delta", "build_curves", "bd_rate", "bd_energy",
           "bd_cpu_time", "all_deltas"]

MIN_POINTS = 4
METHODS = ("pchip", "akima")
MIN_OVERLAP = 0.75
"""Below this share of the union of both quality ranges the result carries a caution
(the `bjontegaard` package's own threshold)."""


@dataclass(frozen=True, slots=True)
class Point:
    """One operating point: a scenario's bitrate (bits/s), quality and energy per stream per
    second of video (J/s), with the same energy per repetition."""

    scenario: str
    bitrate_bps: float
    vmaf: float | None
    psnr: float | None
    joules_per_video_second: float | None
    repetition_joules: tuple[float, ...] = ()
    duration_seconds: float | None = None
    core_seconds_per_video_second: float | None = None
    energy_kind: str = "measured"
    energy_source: str | None = None
    energy_attribution: str | None = None


@dataclass(frozen=True, slots=True)
class Curve:
    """The points of one encoder/preset at one resolution, sorted by bitrate."""

    label: str
    encoder: str
    preset: str | None
    resolution: str | None
    points: tuple[Point, ...]

    def values(self, quality: str) -> tuple[list[float], list[float | None]]:
        return [p.bitrate_bps for p in self.points], [getattr(p, quality) for p in self.points]


@dataclass(frozen=True, slots=True)
class Delta:
    """A Bjøntegaard delta of `test` against `anchor`; `refused` says why there is no value.

    `percent`: BD-rate or BD-energy in percent (negative: the test needs less);
    `linear`: BD-energy in J per stream per second of video; `ci95_*`: half-widths of the
    95 % confidence interval from `repetitions` per-repetition recomputations;
    `overlap`: the overlapping quality range over the union of both ranges (0..1)."""

    kind: str
    anchor: str
    test: str
    percent: float | None = None
    linear: float | None = None
    ci95_percent: float | None = None
    ci95_linear: float | None = None
    repetitions: int = 0
    overlap: float | None = None
    quality_range: tuple[float, float] | None = None
    refused: str | None = None
    caution: str | None = None


def build_curves(rows: Sequence[Row]) -> list[Curve]:
    """Curves from the scenario rows: every non-baseline single-output scenario with a
    bitrate and a VMAF or PSNR, grouped by (encoder, preset, resolution)."""
    groups: dict[tuple[str, str | None, str | None], list[Point]] = {}
    for row in rows:
        s = row.scenario
        if s.is_baseline or s.encoder is None or row.bitrate_bps is None or row.bitrate_bps <= 0:
            continue
        if len(s.outputs) > 1 or (s.vmaf is None and s.psnr is None):
            continue
        groups.setdefault((s.encoder, s.preset, s.resolution), []).append(Point(
            scenario=row.label, bitrate_bps=float(row.bitrate_bps), vmaf=s.vmaf, psnr=s.psnr,
            joules_per_video_second=row.joules_per_video_second,
            repetition_joules=row.repetition_joules_per_video_second, duration_seconds=s.duration_seconds,
            core_seconds_per_video_second=_per_video_second(row.core_seconds, s), energy_kind=row.energy_kind,
            energy_source=row.energy_source, energy_attribution=row.energy_attribution))
    several_resolutions = len({key[2] for key in groups}) > 1
    curves = []
    for (encoder, preset, resolution), points in groups.items():
        label = encoder + (f"/{preset}" if preset else "")
        if several_resolutions and resolution:
            label += f" {resolution}"
        points.sort(key=lambda p: p.bitrate_bps)
        curves.append(Curve(label, encoder, preset, resolution, tuple(points)))
    curves.sort(key=lambda c: c.label)
    return curves


def _per_video_second(value: float | None, s) -> float | None:
    if value is None or not s.duration_seconds or s.streams <= 0:
        return None
    return value / (s.duration_seconds * s.streams)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _curve_problem(curve: Curve, quality: str) -> str | None:
    """Why `curve` cannot enter a BD computation on `quality`, or None."""
    rates, qualities = curve.values(quality)
    name = "VMAF" if quality == "vmaf" else "PSNR"
    if len(rates) < MIN_POINTS:
        return f"{curve.label} has {len(rates)} rate point(s); BD needs at least {MIN_POINTS}"
    missing = [p.scenario for p, q in zip(curve.points, qualities, strict=True) if q is None]
    if missing:
        return f"{curve.label}: no {name} for {', '.join(missing)}"
    for (r0, q0, p0), (r1, q1, p1) in zip(zip(rates, qualities, curve.points, strict=True),
                                          zip(rates[1:], qualities[1:], curve.points[1:], strict=True),
                                          strict=False):
        if r1 == r0:
            return f"{curve.label}: two points at the same bitrate ({p0.scenario}, {p1.scenario})"
        if q1 <= q0:
            return (f"{curve.label} is not monotonic: {name} {_fmt(q1)} at {_fmt(r1 / 1000)} kb/s ({p1.scenario}) "
                    f"is not above {_fmt(q0)} at {_fmt(r0 / 1000)} kb/s ({p0.scenario})")
    return None


def _overlap(qa: Sequence[float], qt: Sequence[float]) -> tuple[float, float, float]:
    low, high = max(min(qa), min(qt)), min(max(qa), max(qt))
    union = max(max(qa), max(qt)) - min(min(qa), min(qt))
    return low, high, (max(high - low, 0.0) / union if union > 0 else 0.0)


def _pair_problem(anchor: Curve, test: Curve, quality: str) -> tuple[str | None, tuple[float, float, float] | None]:
    for curve in (anchor, test):
        problem = _curve_problem(curve, quality)
        if problem:
            return problem, None
    if anchor.resolution != test.resolution:
        return f"different resolutions ({anchor.resolution}, {test.resolution}): not the same source", None
    qa = [p for p in anchor.values(quality)[1] if p is not None]
    qt = [p for p in test.values(quality)[1] if p is not None]
    low, high, share = _overlap(qa, qt)
    if high <= low:
        name = "VMAF" if quality == "vmaf" else "PSNR"
        return (f"the {name} ranges do not overlap: {anchor.label} {_fmt(min(qa))}-{_fmt(max(qa))}, "
                f"{test.label} {_fmt(min(qt))}-{_fmt(max(qt))}"), None
    return None, (low, high, share)


def _caution(share: float) -> str | None:
    if share < MIN_OVERLAP:
        return (f"the curves overlap on {share:.0%} of their quality range (under {MIN_OVERLAP:.0%}): "
                "the figure rests on a narrow range")
    return None


def _bd_log(base_a, metric_a, base_t, metric_t, method: str) -> float:
    """bjontegaard.bd_rate: percent difference of `metric` (rate or energy) at equal `base` (quality)."""
    import bjontegaard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overlap is checked and reported here
        return float(bjontegaard.bd_rate(metric_a, base_a, metric_t, base_t, method,
                                         require_matching_points=False, min_overlap=0))


def _bd_linear(base_a, metric_a, base_t, metric_t, method: str) -> float:
    import bjontegaard

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(bjontegaard.bd_linear(base_a, metric_a, base_t, metric_t, method,
                                           require_matching_points=False, min_overlap=0))


def _sorted_by_quality(qualities: Sequence[float], values: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = sorted(zip(qualities, values, strict=True))
    return [q for q, _ in pairs], [v for _, v in pairs]


def bd_rate(anchor: Curve, test: Curve, quality: str = "vmaf", method: str = "pchip") -> Delta:
    """BD-rate of `test` against `anchor` at equal `quality` (`vmaf` or `psnr`)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    kind = "BD-rate (VMAF)" if quality == "vmaf" else "BD-rate (PSNR)"
    problem, overlap = _pair_problem(anchor, test, quality)
    if problem or overlap is None:
        return Delta(kind, anchor.label, test.label, refused=problem)
    ra, qa = anchor.values(quality)
    rt, qt = test.values(quality)
    qa_s, ra_s = _sorted_by_quality(qa, ra)
    qt_s, rt_s = _sorted_by_quality(qt, rt)
    value = _bd_log(qa_s, ra_s, qt_s, rt_s, method)
    if not math.isfinite(value):
        return Delta(kind, anchor.label, test.label, refused="the interpolation gave no finite value")
    low, high, share = overlap
    return Delta(kind, anchor.label, test.label, percent=value, overlap=share, quality_range=(low, high),
                 caution=_caution(share))


def bd_energy(anchor: Curve, test: Curve, method: str = "pchip") -> Delta:
    """The energy counterpart of BD-rate: the average energy difference of `test` against
    `anchor` at equal VMAF, in percent and in J per stream per second of video, with a
    95 % CI from the repetitions when every point has at least two."""
    return _bd_resource(anchor, test, method, "BD-energy (VMAF)", "joules_per_video_second", "energy")


def bd_cpu_time(anchor: Curve, test: Curve, method: str = "pchip") -> Delta:
    """The same on the encoders' own CPU time (core-seconds per stream per second of video,
    measured exactly by the kernel): what the encoder costs in compute at equal VMAF, free
    of the noise of whole-machine power. No CI: CPU time is not kept per repetition."""
    return _bd_resource(anchor, test, method, "BD-CPU-time (VMAF)", "core_seconds_per_video_second", "CPU time")


def _bd_resource(anchor: Curve, test: Curve, method: str, kind: str, attr: str, what: str) -> Delta:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    problem, overlap = _pair_problem(anchor, test, "vmaf")
    if problem or overlap is None:
        return Delta(kind, anchor.label, test.label, refused=problem)
    for curve in (anchor, test):
        bad = [p.scenario for p in curve.points if getattr(p, attr) is None or getattr(p, attr) <= 0]
        if bad:
            return Delta(kind, anchor.label, test.label,
                         refused=f"{curve.label}: no positive {what} for {', '.join(bad)}")
    durations = {p.duration_seconds for c in (anchor, test) for p in c.points}
    if len(durations) > 1:
        listed = ", ".join(f"{d:g} s" for d in sorted(d for d in durations if d is not None))
        return Delta(kind, anchor.label, test.label,
                     refused=f"the encodes cover different lengths of video ({listed}): their {what} does not compare")
    if attr == "joules_per_video_second":
        mixed = _mixed_energy(anchor, test)
        if mixed:
            return Delta(kind, anchor.label, test.label, refused=mixed)
    qa = [p.vmaf for p in anchor.points]
    qt = [p.vmaf for p in test.points]

    def both(ea: Sequence[float], et: Sequence[float]) -> tuple[float, float]:
        qa_s, ea_s = _sorted_by_quality(qa, ea)
        qt_s, et_s = _sorted_by_quality(qt, et)
        return _bd_log(qa_s, ea_s, qt_s, et_s, method), _bd_linear(qa_s, ea_s, qt_s, et_s, method)

    low, high, share = overlap
    reps = 0
    if attr == "joules_per_video_second":
        reps = min(len(p.repetition_joules) for c in (anchor, test) for p in c.points)
    if reps >= 2:
        per_rep = [both([p.repetition_joules[k] for p in anchor.points], [p.repetition_joules[k] for p in test.points])
                   for k in range(reps)]
        percent, ci_percent = formulas.mean_and_ci95([v for v, _ in per_rep])
        linear, ci_linear = formulas.mean_and_ci95([v for _, v in per_rep])
    else:
        percent, linear = both([getattr(p, attr) for p in anchor.points], [getattr(p, attr) for p in test.points])
        ci_percent = ci_linear = None
        reps = 0
    if percent is None or not math.isfinite(percent) or linear is None or not math.isfinite(linear):
        return Delta(kind, anchor.label, test.label, refused="the interpolation gave no finite value")
    caution = _caution(share)
    kinds = sorted({p.energy_kind for c in (anchor, test) for p in c.points} - {"measured"})
    if attr == "joules_per_video_second" and kinds:
        what_kind = " and ".join(kinds)
        caution = "; ".join(filter(None, [f"the energy is {what_kind}, not measured", caution]))
    return Delta(kind, anchor.label, test.label, percent=percent, linear=linear, ci95_percent=ci_percent,
                 ci95_linear=ci_linear, repetitions=reps, overlap=share, quality_range=(low, high),
                 caution=caution)


def _mixed_energy(anchor: Curve, test: Curve) -> str | None:
    """Why the energy of two curves does not compare (different sources or attribution rules), or None."""
    points = [p for c in (anchor, test) for p in c.points]
    for attr, what in (("energy_source", "energy sources"), ("energy_attribution", "attribution rules")):
        seen: dict[str, list[str]] = {}
        for p in points:
            seen.setdefault(getattr(p, attr) or "unrecorded", []).append(p.scenario)
        if len(seen) > 1:
            listed = "; ".join(f"{value}: {', '.join(names)}" for value, names in sorted(seen.items()))
            return f"the energy comes from different {what} ({listed}): the difference would be the meters'"
    return None


def all_deltas(curves: Sequence[Curve], method: str = "pchip") -> list[Delta]:
    """BD-rate (VMAF, PSNR) and BD-energy for every pair of curves, the first in label order
    as the anchor. Pairs whose resolutions differ are left out (not the same source)."""
    deltas = []
    for anchor, test in combinations(curves, 2):
        if anchor.resolution != test.resolution:
            continue
        deltas.append(bd_rate(anchor, test, "vmaf", method))
        deltas.append(bd_rate(anchor, test, "psnr", method))
        deltas.append(bd_energy(anchor, test, method))
        deltas.append(bd_cpu_time(anchor, test, method))
    return deltas
