"""Bjøntegaard deltas of one test curve against one anchor curve, and the energy counterpart.

A *curve* is a list of points (bitrate, VMAF, PSNR, joules per stream per second of video)
of one clip and encoder/preset: one encode size, or a convex hull over sizes (`report.hull`).
Which curves are compared, and the averages over clips, are `report.corpus`'s.

* **BD-rate** (VMAF or PSNR): the average bitrate difference of the test curve against
  the anchor at equal quality, in percent, over the qualities both curves reach, computed
  by the PyPI package `bjontegaard` (`bd_rate`): log10(bitrate) interpolated as a function
  of quality with PCHIP (piecewise cubic Hermite: shape-preserving; the JCT-VC reference
  sheet's method), both interpolants integrated over the overlapping quality range, the
  mean log difference d reported as (10^d - 1) x 100 %. Akima: `method="akima"`.
* **BD-PSNR** (dB) and **BD-VMAF** (points): the average quality difference at equal
  bitrate (`bjontegaard.bd_psnr`: quality interpolated against log10(bitrate), integrated
  over the overlapping log-rate range).
* **BD-energy**: BD-rate's computation on (VMAF, joules per stream per second of video)
  curves, in percent (log domain) and in J per stream per second of video (linear:
  `bjontegaard.bd_linear`). With repetitions at every point it is computed once per
  repetition (the k-th repetition's energy at every point of both curves) and reported as
  the mean of those n values ± the half-width of its 95 % CI, t(0.975, n-1) x s / sqrt(n)
  (`contract.formulas.mean_and_ci95`); n is the smallest repetition count of any point.
* **BD-CPU-time**: the same on the encoders' own CPU time (core-seconds per stream per
  second of video, exact from the kernel).

A figure is *refused*, with the reason in place of the number, rather than given a wild
one when: a curve has fewer than `MIN_POINTS` points; its quality does not rise strictly
along its axis (bitrate; energy for an energy hull) or two points share a value there; the
two curves overlap on less than `min_overlap` (default 50 %) of the shorter curve's range
along the integration axis (quality for BD-rate and BD-energy, log10(rate) for
BD-PSNR/BD-VMAF); target and measured bitrates are mixed in one comparison; the energy
comes from different sources (measured by a meter, estimated by the model, simulated; or
rapl against nvml) or attribution rules (`cpu-time-share` against `exclusive`); a point
has no positive energy; or the curves encode different lengths of video. BD-energy uses
each scenario's own, attributed energy (`energy_joules`), never the machine's.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from ffwatt.contract import formulas
from ffwatt.report.curve import (
    AVERAGE,
    DEFAULT_MIN_OVERLAP,
    ENERGY,
    HULL_KINDS,
    HULL_SUFFIX,
    KINDS,
    METHODS,
    MIN_POINTS,
    QUALITY_NAME,
    RATE,
    Curve,
    Delta,
    Point,
    base_kind,
)

__all__ = ["MIN_POINTS", "METHODS", "DEFAULT_MIN_OVERLAP", "KINDS", "HULL_KINDS", "AVERAGE", "Point", "Curve",
           "Delta", "base_kind", "bd_rate", "bd_quality", "bd_energy", "bd_cpu_time", "compare", "compare_hulls"]

def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _curve_problem(curve: Curve, quality: str) -> str | None:
    """Why `curve` cannot enter a BD computation on `quality`, or None."""
    name = QUALITY_NAME[quality]
    points = curve.points
    if len(points) < MIN_POINTS:
        what = "hull point(s)" if curve.hull else "rate point(s)"
        return f"{curve.display} has {len(points)} {what}; BD needs at least {MIN_POINTS}"
    missing = [p.scenario for p in points if getattr(p, quality) is None]
    if missing:
        return f"{curve.display}: no {name} for {', '.join(missing)}"
    along = "bitrate" if curve.axis == RATE else "energy"
    for p0, p1 in zip(points, points[1:], strict=False):
        x0, x1, q0, q1 = getattr(p0, curve.axis), getattr(p1, curve.axis), getattr(p0, quality), getattr(p1, quality)
        if x1 == x0:
            return f"{curve.display}: two points at the same {along} ({p0.scenario}, {p1.scenario})"
        if q1 <= q0:
            shown = _fmt(x1 / 1000) + " kb/s" if curve.axis == RATE else _fmt(x1) + " J/s"
            was = _fmt(x0 / 1000) + " kb/s" if curve.axis == RATE else _fmt(x0) + " J/s"
            return (f"{curve.display} is not monotonic: {name} {_fmt(q1)} at {shown} ({p1.scenario}) "
                    f"is not above {_fmt(q0)} at {was} ({p0.scenario})")
    return None


def _overlap(qa: Sequence[float], qt: Sequence[float]) -> tuple[float, float, float]:
    """(low, high, share): the common range and its share of the shorter curve's range."""
    low, high = max(min(qa), min(qt)), min(max(qa), max(qt))
    shorter = min(max(qa) - min(qa), max(qt) - min(qt))
    return low, high, (max(high - low, 0.0) / shorter if shorter > 0 else 0.0)


def _rate_problem(anchor: Curve, test: Curve) -> str | None:
    """Target and measured bitrates mixed in one comparison: the figure would compare unlike things."""
    kinds = {p.bitrate_measured for c in (anchor, test) for p in c.points}
    if len(kinds) > 1:
        target = [c.display for c in (anchor, test) if not all(p.bitrate_measured for p in c.points)]
        return (f"target and measured bitrates mixed: {', '.join(target)} has target bitrates where the other "
                "has measured ones (a target is not what the encoder produced)")
    return None


def _pair_problem(anchor: Curve, test: Curve, quality: str, axis: str,
                  min_overlap: float) -> tuple[str | None, tuple[float, float, float] | None]:
    """Why the pair cannot be compared on `quality` along `axis` ("quality" or "rate"), else
    the overlap (low, high, share)."""
    for curve in (anchor, test):
        problem = _curve_problem(curve, quality)
        if problem:
            return problem, None
    if anchor.resolution != test.resolution:
        return f"different resolutions ({anchor.resolution}, {test.resolution}): not the same source", None
    if anchor.clip != test.clip:
        return f"different clips ({anchor.clip}, {test.clip})", None
    name = QUALITY_NAME[quality]
    if axis == "quality":
        xa = [p for p in anchor.values(quality)[1] if p is not None]
        xt = [p for p in test.values(quality)[1] if p is not None]
        what, show = f"{name} ranges", _fmt
    else:
        xa = [math.log10(r) for r in anchor.values(quality)[0]]
        xt = [math.log10(r) for r in test.values(quality)[0]]
        what, show = "bitrate ranges (kb/s)", lambda v: _fmt(10 ** v / 1000)
    low, high, share = _overlap(xa, xt)
    ranges = f"{anchor.display} {show(min(xa))}-{show(max(xa))}, {test.display} {show(min(xt))}-{show(max(xt))}"
    if high <= low:
        return f"the {what} do not overlap: {ranges}", None
    if share < min_overlap:
        return f"the {what} overlap on {share:.0%} of the shorter curve's range (under {min_overlap:.0%}): {ranges}", None
    return None, (low, high, share)


def _quiet(fn, *args) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overlap is checked and reported here
        return float(fn(*args, require_matching_points=False, min_overlap=0))


def _bd_log(base_a, metric_a, base_t, metric_t, method: str) -> float:
    """bjontegaard.bd_rate: percent difference of `metric` (rate or energy) at equal `base` (quality)."""
    import bjontegaard

    return _quiet(bjontegaard.bd_rate, metric_a, base_a, metric_t, base_t, method)


def _bd_linear(base_a, metric_a, base_t, metric_t, method: str) -> float:
    import bjontegaard

    return _quiet(bjontegaard.bd_linear, base_a, metric_a, base_t, metric_t, method)


def _sorted_by_quality(qualities: Sequence[float], values: Sequence[float]) -> tuple[list[float], list[float]]:
    pairs = sorted(zip(qualities, values, strict=True))
    return [q for q, _ in pairs], [v for _, v in pairs]


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def _delta(kind: str, anchor: Curve, test: Curve, **values) -> Delta:
    return Delta(kind, anchor.label, test.label, clip=test.clip, resolution=None if test.hull else test.resolution,
                 rung=test.rung, clip_class=test.clip_class, **values)


def _rate_caution(anchor: Curve, test: Curve) -> str | None:
    if not any(p.bitrate_measured for c in (anchor, test) for p in c.points):
        return "target bitrates (the file has no measured bitrate)"
    return None


def bd_rate(anchor: Curve, test: Curve, quality: str = "vmaf", method: str = "pchip",
            min_overlap: float = DEFAULT_MIN_OVERLAP) -> Delta:
    """BD-rate of `test` against `anchor` at equal `quality` (`vmaf` or `psnr`), in percent."""
    kind = f"BD-rate ({QUALITY_NAME[quality]}{HULL_SUFFIX if test.hull else ''})"
    return _bd_on_rates(kind, anchor, test, quality, "quality", method, min_overlap)


def bd_quality(anchor: Curve, test: Curve, quality: str = "psnr", method: str = "pchip",
               min_overlap: float = DEFAULT_MIN_OVERLAP) -> Delta:
    """BD-PSNR (dB) or BD-VMAF (points): the average quality difference of `test` against
    `anchor` at equal bitrate, over the log-rate range both reach."""
    return _bd_on_rates(f"BD-{QUALITY_NAME[quality]}", anchor, test, quality, "rate", method, min_overlap)


def _bd_on_rates(kind: str, anchor: Curve, test: Curve, quality: str, axis: str, method: str,
                 min_overlap: float) -> Delta:
    """A figure of two (bitrate, `quality`) curves integrated along `axis`: "quality" gives BD-rate
    (percent, over a quality range), "rate" BD-quality (linear, over a bitrate range, from log10)."""
    import bjontegaard

    _check_method(method)
    problem, overlap = _pair_problem(anchor, test, quality, axis, min_overlap)
    problem = problem or _rate_problem(anchor, test)
    if problem or overlap is None:
        return _delta(kind, anchor, test, refused=problem)
    ra, qa = anchor.values(quality)
    rt, qt = test.values(quality)
    if axis == "quality":
        qa_s, ra_s = _sorted_by_quality(qa, ra)
        qt_s, rt_s = _sorted_by_quality(qt, rt)
        value = _bd_log(qa_s, ra_s, qt_s, rt_s, method)
    else:
        value = _quiet(bjontegaard.bd_psnr, ra, qa, rt, qt, method)
    if not math.isfinite(value):
        return _delta(kind, anchor, test, refused="the interpolation gave no finite value")
    low, high, share = overlap
    figure = (dict(percent=value, quality_range=(low, high)) if axis == "quality"
              else dict(linear=value, quality_range=(10 ** low, 10 ** high)))
    return _delta(kind, anchor, test, overlap=share, caution=_rate_caution(anchor, test), **figure)


def bd_energy(anchor: Curve, test: Curve, method: str = "pchip", min_overlap: float = DEFAULT_MIN_OVERLAP) -> Delta:
    """The energy counterpart of BD-rate: the average energy difference of `test` against
    `anchor` at equal VMAF, in percent and in J per stream per second of video, with a
    95 % CI from the repetitions when every point has at least two."""
    kind = f"BD-energy (VMAF{HULL_SUFFIX if test.hull else ''})"
    return _bd_resource(anchor, test, method, min_overlap, kind, ENERGY, "energy")


def bd_cpu_time(anchor: Curve, test: Curve, method: str = "pchip",
                min_overlap: float = DEFAULT_MIN_OVERLAP) -> Delta:
    """The same on the encoders' own CPU time (core-seconds per stream per second of video,
    measured exactly by the kernel): what the encoder costs in compute at equal VMAF, free
    of the noise of whole-machine power. No CI: CPU time is not kept per repetition."""
    return _bd_resource(anchor, test, method, min_overlap, "BD-CPU-time (VMAF)", "core_seconds_per_video_second",
                        "CPU time")


_KIND_WORDS = {"measured": "measured by a meter", "estimated": "modelled", "simulated": "simulated"}


def _energy_problem(anchor: Curve, test: Curve) -> str | None:
    """Why the energy of two curves does not compare (meter against model or simulation, different
    sources or attribution rules), or None."""
    kinds = {c.display: sorted({p.energy_kind for p in c.points}) for c in (anchor, test)}
    if len({k for ks in kinds.values() for k in ks}) > 1:
        said = "; ".join(f"{label}: {' and '.join(_KIND_WORDS.get(k, k) for k in ks)}" for label, ks in kinds.items())
        return f"energy from different sources ({said}): they do not compare"
    points = [p for c in (anchor, test) for p in c.points]
    for attr, what in (("energy_source", "energy sources"), ("energy_attribution", "attribution rules")):
        seen: dict[str, list[str]] = {}
        for p in points:
            seen.setdefault(getattr(p, attr) or "unrecorded", []).append(p.scenario)
        if len(seen) > 1:
            listed = "; ".join(f"{value}: {', '.join(names)}" for value, names in sorted(seen.items()))
            return f"the energy comes from different {what} ({listed}): the difference would be the meters'"
    return None


def _resource_problem(anchor: Curve, test: Curve, attr: str, what: str) -> str | None:
    for curve in (anchor, test):
        bad = [p.scenario for p in curve.points if getattr(p, attr) is None or getattr(p, attr) <= 0]
        if len(bad) == len(curve.points):
            return f"{curve.display}: no {what} recorded"
        if bad:
            listed = ", ".join(bad[:2]) + (f" and {len(bad) - 2} more" if len(bad) > 2 else "")
            return f"{curve.display}: no positive {what} for {listed}"
    if attr == ENERGY:
        problem = _energy_problem(anchor, test)
        if problem:
            return problem
    durations = {p.duration_seconds for c in (anchor, test) for p in c.points}
    if len(durations) > 1:
        listed = ", ".join(f"{d:g} s" for d in sorted(d for d in durations if d is not None))
        return f"the encodes cover different lengths of video ({listed}): their {what} does not compare"
    return None


def _bd_resource(anchor: Curve, test: Curve, method: str, min_overlap: float, kind: str, attr: str,
                 what: str) -> Delta:
    _check_method(method)
    problem, overlap = _pair_problem(anchor, test, "vmaf", "quality", min_overlap)
    problem = problem or (None if overlap is None else _resource_problem(anchor, test, attr, what))
    if problem or overlap is None:
        return _delta(kind, anchor, test, refused=problem)
    qa = [p.vmaf for p in anchor.points]
    qt = [p.vmaf for p in test.points]

    def both(ea: Sequence[float], et: Sequence[float]) -> tuple[float, float]:
        qa_s, ea_s = _sorted_by_quality(qa, ea)
        qt_s, et_s = _sorted_by_quality(qt, et)
        return _bd_log(qa_s, ea_s, qt_s, et_s, method), _bd_linear(qa_s, ea_s, qt_s, et_s, method)

    reps = min(len(p.repetition_joules) for c in (anchor, test) for p in c.points) if attr == ENERGY else 0
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
        return _delta(kind, anchor, test, refused="the interpolation gave no finite value")
    kinds = " and ".join(sorted({p.energy_kind for c in (anchor, test) for p in c.points} - {"measured"}))
    caution = f"the energy is {kinds}, not measured" if attr == ENERGY and kinds else None
    low, high, share = overlap
    return _delta(kind, anchor, test, percent=percent, linear=linear, ci95_percent=ci_percent,
                  ci95_linear=ci_linear, repetitions=reps, overlap=share, quality_range=(low, high), caution=caution,
                  energy_kind=(kinds or None) if attr == ENERGY else None)


def compare(anchor: Curve, test: Curve, method: str = "pchip", min_overlap: float = DEFAULT_MIN_OVERLAP) -> list[Delta]:
    """Every figure of `test` against `anchor`, in `KINDS` order."""
    return [bd_rate(anchor, test, "vmaf", method, min_overlap), bd_rate(anchor, test, "psnr", method, min_overlap),
            bd_quality(anchor, test, "psnr", method, min_overlap), bd_quality(anchor, test, "vmaf", method, min_overlap),
            bd_energy(anchor, test, method, min_overlap), bd_cpu_time(anchor, test, method, min_overlap)]


def compare_hulls(anchor: dict[tuple[str, str], Curve], test: dict[tuple[str, str], Curve], method: str = "pchip",
                  min_overlap: float = DEFAULT_MIN_OVERLAP) -> list[Delta]:
    """The hull figures, in `HULL_KINDS` order, of two ladders' hulls (`report.hull.hull_curves`):
    BD-rate on the rate hulls of VMAF and of PSNR, BD-energy on the energy hulls of VMAF."""
    return [bd_rate(anchor[RATE, "vmaf"], test[RATE, "vmaf"], "vmaf", method, min_overlap),
            bd_rate(anchor[RATE, "psnr"], test[RATE, "psnr"], "psnr", method, min_overlap),
            bd_energy(anchor[ENERGY, "vmaf"], test[ENERGY, "vmaf"], method, min_overlap)]
