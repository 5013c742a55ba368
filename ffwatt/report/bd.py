"""Bjøntegaard deltas per clip against an anchor, their average over clips, and the energy counterpart.

A *curve* is the scenarios of one clip (the scenario's source, `Scenario.source_name`;
files without source identity are one unnamed clip), one encoder/preset and one
resolution, each a point (bitrate, VMAF, PSNR, joules per stream per second of video),
sorted by bitrate. Points come from every results file given.

Every test curve is compared with the *anchor* curve of the same clip and resolution:
the anchor is an encoder (and preset) chosen with `--anchor ENCODER[/PRESET]`, by default
the first encoder of the scenario file. The *average* over clips is the arithmetic mean
of the per-clip figures, as the JVET/JCT-VC CTC sheets give it; it is refused when a clip's
figure is refused.

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
with bitrate (rate as a function of quality is then not a function) or two points share a
bitrate; the two curves overlap on less than `min_overlap` (default 50 %) of the shorter
curve's range along the integration axis (quality for BD-rate and BD-energy, log10(rate)
for BD-PSNR/BD-VMAF); target and measured bitrates are mixed in one comparison; the energy
comes from different sources (measured by a meter, estimated by the model, simulated; or
rapl against nvml) or attribution rules (`cpu-time-share` against `exclusive`); a
point has no positive energy; or the curves encode different lengths of video.
BD-energy uses each scenario's own, attributed energy (`energy_joules`), never the machine's.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ffwatt.contract import formulas
from ffwatt.report.data import ReportError, Row

__all__ = ["MIN_POINTS", "METHODS", "DEFAULT_MIN_OVERLAP", "KINDS", "AVERAGE", "Point", "Curve", "Delta", "Anchor",
           "build_curves", "choose_anchor", "bd_rate", "bd_quality", "bd_energy", "bd_cpu_time", "compare",
           "all_deltas", "average_over_clips"]

MIN_POINTS = 4
METHODS = ("pchip", "akima")
DEFAULT_MIN_OVERLAP = 0.5
"""Below this share of the shorter curve's range the two curves are not compared."""
AVERAGE = "average"
"""The `clip` of a figure averaged over clips."""
KINDS = ("BD-rate (VMAF)", "BD-rate (PSNR)", "BD-PSNR", "BD-VMAF", "BD-energy (VMAF)", "BD-CPU-time (VMAF)")
_UNITS = {"BD-rate (VMAF)": "%", "BD-rate (PSNR)": "%", "BD-PSNR": "dB", "BD-VMAF": "VMAF points",
          "BD-energy (VMAF)": "%", "BD-CPU-time (VMAF)": "%"}
_QUALITY_NAME = {"vmaf": "VMAF", "psnr": "PSNR"}


@dataclass(frozen=True, slots=True)
class Point:
    """One operating point: a scenario's bitrate (bits/s; `bitrate_measured` False for a
    target), quality and energy per stream per second of video (J/s), with the same
    energy per repetition."""

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
    bitrate_measured: bool = True


@dataclass(frozen=True, slots=True)
class Curve:
    """The points of one clip, encoder/preset and resolution, sorted by bitrate. `label`
    names the encoder/preset (and resolution when there are several), not the clip."""

    label: str
    encoder: str
    preset: str | None
    resolution: str | None
    points: tuple[Point, ...]
    clip: str | None = None

    def values(self, quality: str) -> tuple[list[float], list[float | None]]:
        return [p.bitrate_bps for p in self.points], [getattr(p, quality) for p in self.points]


@dataclass(frozen=True, slots=True)
class Anchor:
    """The curves every other is compared with: `encoder` and `preset`; `chosen` says how
    (`--anchor` or the default)."""

    encoder: str
    preset: str | None
    chosen: str

    @property
    def label(self) -> str:
        return self.encoder + (f"/{self.preset}" if self.preset else "")

    def matches(self, curve: Curve) -> bool:
        return curve.encoder == self.encoder and curve.preset == self.preset


@dataclass(frozen=True, slots=True)
class Delta:
    """A Bjøntegaard delta of `test` against `anchor` on one `clip` (`AVERAGE`: the mean
    over clips); `refused` says why there is no value.

    `percent`: BD-rate, BD-energy or BD-CPU-time in percent (negative: the test needs
    less); `linear`: BD-PSNR in dB, BD-VMAF in points (positive: the test is better), or
    BD-energy in J per stream per second of video; `ci95_*`: half-widths of the 95 %
    confidence interval from `repetitions` per-repetition recomputations; `overlap`: the
    overlapping range over the shorter curve's range (0..1) on the integration axis."""

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
    clip: str | None = None
    resolution: str | None = None
    clips: int = 1

    @property
    def unit(self) -> str:
        return _UNITS.get(self.kind, "%")

    @property
    def value(self) -> float | None:
        """The headline figure in `unit`."""
        return self.percent if self.unit == "%" else self.linear

    @property
    def ci95(self) -> float | None:
        return self.ci95_percent if self.unit == "%" else self.ci95_linear


def build_curves(rows: Sequence[Row]) -> list[Curve]:
    """Curves from the scenario rows: every non-baseline single-output scenario with a
    bitrate and a VMAF or PSNR, grouped by (clip, encoder, preset, resolution), in the
    order each group first appears in the files."""
    groups: dict[tuple[str | None, str, str | None, str | None], list[Point]] = {}
    for row in rows:
        s = row.scenario
        if s.is_baseline or s.encoder is None or row.bitrate_bps is None or row.bitrate_bps <= 0:
            continue
        if len(s.outputs) > 1 or (s.vmaf is None and s.psnr is None):
            continue
        groups.setdefault((s.source_name, s.encoder, s.preset, s.resolution), []).append(Point(
            scenario=row.label, bitrate_bps=float(row.bitrate_bps), vmaf=s.vmaf, psnr=s.psnr,
            joules_per_video_second=row.joules_per_video_second,
            repetition_joules=row.repetition_joules_per_video_second, duration_seconds=s.duration_seconds,
            core_seconds_per_video_second=_per_video_second(row.core_seconds, s), energy_kind=row.energy_kind,
            energy_source=row.energy_source, energy_attribution=row.energy_attribution,
            bitrate_measured=row.bitrate_measured))
    several_resolutions = len({key[3] for key in groups}) > 1
    curves = []
    for (clip, encoder, preset, resolution), points in groups.items():
        label = encoder + (f"/{preset}" if preset else "")
        if several_resolutions and resolution:
            label += f" {resolution}"
        points.sort(key=lambda p: p.bitrate_bps)
        curves.append(Curve(label, encoder, preset, resolution, tuple(points), clip))
    return curves


def choose_anchor(curves: Sequence[Curve], spec: str | None = None) -> Anchor | None:
    """The anchor named by `spec` (`ENCODER` or `ENCODER/PRESET`; an encoder alone takes its
    first preset in file order), else the first curve's encoder/preset. `ReportError` when
    `spec` names no curve. None without curves."""
    if not curves:
        if spec:
            raise ReportError(f"--anchor {spec}: no rate-quality curve to anchor (no encode with a bitrate and a "
                              "quality score)")
        return None
    if not spec:
        first = curves[0]
        return Anchor(first.encoder, first.preset, "the first encoder in the scenario file")
    encoder, _, preset = spec.partition("/")
    for curve in curves:
        if curve.encoder == encoder and (not preset or curve.preset == preset):
            return Anchor(curve.encoder, curve.preset, f"--anchor {spec}")
    known = sorted({c.encoder + (f"/{c.preset}" if c.preset else "") for c in curves})
    raise ReportError(f"--anchor {spec}: no curve has that encoder{'/preset' if preset else ''}; "
                      f"the curves are {', '.join(known)}")


def _per_video_second(value: float | None, s) -> float | None:
    if value is None or not s.duration_seconds or s.streams <= 0:
        return None
    return value / (s.duration_seconds * s.streams)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _curve_problem(curve: Curve, quality: str) -> str | None:
    """Why `curve` cannot enter a BD computation on `quality`, or None."""
    rates, qualities = curve.values(quality)
    name = _QUALITY_NAME[quality]
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
    """(low, high, share): the common range and its share of the shorter curve's range."""
    low, high = max(min(qa), min(qt)), min(max(qa), max(qt))
    shorter = min(max(qa) - min(qa), max(qt) - min(qt))
    return low, high, (max(high - low, 0.0) / shorter if shorter > 0 else 0.0)


def _rate_problem(anchor: Curve, test: Curve) -> str | None:
    """Target and measured bitrates mixed in one comparison: the figure would compare unlike things."""
    kinds = {p.bitrate_measured for c in (anchor, test) for p in c.points}
    if len(kinds) > 1:
        target = [c.label for c in (anchor, test) if not all(p.bitrate_measured for p in c.points)]
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
    name = _QUALITY_NAME[quality]
    if axis == "quality":
        xa = [p for p in anchor.values(quality)[1] if p is not None]
        xt = [p for p in test.values(quality)[1] if p is not None]
        what, show = f"{name} ranges", _fmt
    else:
        xa = [math.log10(r) for r in anchor.values(quality)[0]]
        xt = [math.log10(r) for r in test.values(quality)[0]]
        what, show = "bitrate ranges (kb/s)", lambda v: _fmt(10 ** v / 1000)
    low, high, share = _overlap(xa, xt)
    if high <= low:
        return (f"the {what} do not overlap: {anchor.label} {show(min(xa))}-{show(max(xa))}, "
                f"{test.label} {show(min(xt))}-{show(max(xt))}"), None
    if share < min_overlap:
        return (f"the {what} overlap on {share:.0%} of the shorter curve's range (under {min_overlap:.0%}): "
                f"{anchor.label} {show(min(xa))}-{show(max(xa))}, {test.label} {show(min(xt))}-{show(max(xt))}"), None
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


def _refused(kind: str, anchor: Curve, test: Curve, reason: str | None) -> Delta:
    return Delta(kind, anchor.label, test.label, refused=reason, clip=test.clip, resolution=test.resolution)


def _rate_caution(anchor: Curve, test: Curve) -> str | None:
    if not any(p.bitrate_measured for c in (anchor, test) for p in c.points):
        return "target bitrates (the file has no measured bitrate)"
    return None


def bd_rate(anchor: Curve, test: Curve, quality: str = "vmaf", method: str = "pchip",
            min_overlap: float = DEFAULT_MIN_OVERLAP) -> Delta:
    """BD-rate of `test` against `anchor` at equal `quality` (`vmaf` or `psnr`), in percent."""
    _check_method(method)
    kind = f"BD-rate ({_QUALITY_NAME[quality]})"
    problem, overlap = _pair_problem(anchor, test, quality, "quality", min_overlap)
    problem = problem or _rate_problem(anchor, test)
    if problem or overlap is None:
        return _refused(kind, anchor, test, problem)
    ra, qa = anchor.values(quality)
    rt, qt = test.values(quality)
    qa_s, ra_s = _sorted_by_quality(qa, ra)
    qt_s, rt_s = _sorted_by_quality(qt, rt)
    value = _bd_log(qa_s, ra_s, qt_s, rt_s, method)
    if not math.isfinite(value):
        return _refused(kind, anchor, test, "the interpolation gave no finite value")
    low, high, share = overlap
    return Delta(kind, anchor.label, test.label, percent=value, overlap=share, quality_range=(low, high),
                 caution=_rate_caution(anchor, test), clip=test.clip, resolution=test.resolution)


def bd_quality(anchor: Curve, test: Curve, quality: str = "psnr", method: str = "pchip",
               min_overlap: float = DEFAULT_MIN_OVERLAP) -> Delta:
    """BD-PSNR (dB) or BD-VMAF (points): the average quality difference of `test` against
    `anchor` at equal bitrate, over the log-rate range both reach."""
    import bjontegaard

    _check_method(method)
    kind = f"BD-{_QUALITY_NAME[quality]}"
    problem, overlap = _pair_problem(anchor, test, quality, "rate", min_overlap)
    problem = problem or _rate_problem(anchor, test)
    if problem or overlap is None:
        return _refused(kind, anchor, test, problem)
    ra, qa = anchor.values(quality)
    rt, qt = test.values(quality)
    value = _quiet(bjontegaard.bd_psnr, ra, qa, rt, qt, method)
    if not math.isfinite(value):
        return _refused(kind, anchor, test, "the interpolation gave no finite value")
    low, high, share = overlap
    return Delta(kind, anchor.label, test.label, linear=value, overlap=share,
                 quality_range=(10 ** low, 10 ** high), caution=_rate_caution(anchor, test), clip=test.clip,
                 resolution=test.resolution)


def bd_energy(anchor: Curve, test: Curve, method: str = "pchip", min_overlap: float = DEFAULT_MIN_OVERLAP) -> Delta:
    """The energy counterpart of BD-rate: the average energy difference of `test` against
    `anchor` at equal VMAF, in percent and in J per stream per second of video, with a
    95 % CI from the repetitions when every point has at least two."""
    return _bd_resource(anchor, test, method, min_overlap, "BD-energy (VMAF)", "joules_per_video_second", "energy")


def bd_cpu_time(anchor: Curve, test: Curve, method: str = "pchip",
                min_overlap: float = DEFAULT_MIN_OVERLAP) -> Delta:
    """The same on the encoders' own CPU time (core-seconds per stream per second of video,
    measured exactly by the kernel): what the encoder costs in compute at equal VMAF, free
    of the noise of whole-machine power. No CI: CPU time is not kept per repetition."""
    return _bd_resource(anchor, test, method, min_overlap, "BD-CPU-time (VMAF)", "core_seconds_per_video_second",
                        "CPU time")


_KIND_WORDS = {"measured": "measured by a meter", "estimated": "modelled", "simulated": "simulated"}


def _energy_problem(anchor: Curve, test: Curve) -> str | None:
    """Energy from different sources (meter, model, simulation) does not compare."""
    kinds = {c.label: sorted({p.energy_kind for p in c.points}) for c in (anchor, test)}
    if len({k for ks in kinds.values() for k in ks}) > 1:
        said = "; ".join(f"{label}: {' and '.join(_KIND_WORDS.get(k, k) for k in ks)}" for label, ks in kinds.items())
        return f"energy from different sources ({said}): they do not compare"
    return None


def _bd_resource(anchor: Curve, test: Curve, method: str, min_overlap: float, kind: str, attr: str,
                 what: str) -> Delta:
    _check_method(method)
    problem, overlap = _pair_problem(anchor, test, "vmaf", "quality", min_overlap)
    if problem or overlap is None:
        return _refused(kind, anchor, test, problem)
    for curve in (anchor, test):
        bad = [p.scenario for p in curve.points if getattr(p, attr) is None or getattr(p, attr) <= 0]
        if len(bad) == len(curve.points):
            return _refused(kind, anchor, test, f"{curve.label}: no {what} recorded")
        if bad:
            listed = ", ".join(bad[:2]) + (f" and {len(bad) - 2} more" if len(bad) > 2 else "")
            return _refused(kind, anchor, test, f"{curve.label}: no positive {what} for {listed}")
    if attr == "joules_per_video_second":
        problem = _energy_problem(anchor, test)
        if problem:
            return _refused(kind, anchor, test, problem)
    durations = {p.duration_seconds for c in (anchor, test) for p in c.points}
    if len(durations) > 1:
        listed = ", ".join(f"{d:g} s" for d in sorted(d for d in durations if d is not None))
        return _refused(kind, anchor, test,
                        f"the encodes cover different lengths of video ({listed}): their {what} does not compare")
    if attr == "joules_per_video_second":
        mixed = _mixed_energy(anchor, test)
        if mixed:
            return _refused(kind, anchor, test, mixed)
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
        return _refused(kind, anchor, test, "the interpolation gave no finite value")
    caution = None
    kinds = sorted({p.energy_kind for c in (anchor, test) for p in c.points} - {"measured"})
    if attr == "joules_per_video_second" and kinds:
        caution = f"the energy is {' and '.join(kinds)}, not measured"
    return Delta(kind, anchor.label, test.label, percent=percent, linear=linear, ci95_percent=ci_percent,
                 ci95_linear=ci_linear, repetitions=reps, overlap=share, quality_range=(low, high),
                 caution=caution, clip=test.clip, resolution=test.resolution)


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


def compare(anchor: Curve, test: Curve, method: str = "pchip", min_overlap: float = DEFAULT_MIN_OVERLAP) -> list[Delta]:
    """Every figure of `test` against `anchor`, in `KINDS` order."""
    return [bd_rate(anchor, test, "vmaf", method, min_overlap), bd_rate(anchor, test, "psnr", method, min_overlap),
            bd_quality(anchor, test, "psnr", method, min_overlap), bd_quality(anchor, test, "vmaf", method, min_overlap),
            bd_energy(anchor, test, method, min_overlap), bd_cpu_time(anchor, test, method, min_overlap)]


def all_deltas(curves: Sequence[Curve], anchor: Anchor | None, method: str = "pchip",
               min_overlap: float = DEFAULT_MIN_OVERLAP) -> tuple[list[Delta], list[str]]:
    """Every curve against the anchor's curve of the same clip and resolution, then the
    averages over clips (when there are two or more). Returns the figures and notes (a
    clip/resolution without an anchor curve)."""
    if anchor is None:
        return [], []
    anchors = {(c.clip, c.resolution): c for c in curves if anchor.matches(c)}
    deltas: list[Delta] = []
    notes: list[str] = []
    unanchored: set[tuple[str | None, str | None]] = set()
    for test in curves:
        if anchor.matches(test):
            continue
        base = anchors.get((test.clip, test.resolution))
        if base is None:
            unanchored.add((test.clip, test.resolution))
            continue
        deltas.extend(compare(base, test, method, min_overlap))
    for clip, resolution in sorted(unanchored, key=lambda k: (k[0] or "", k[1] or "")):
        notes.append(f"clip {clip or '(unnamed)'}" + (f" at {resolution}" if resolution else "")
                     + f": no {anchor.label} curve to compare with (the anchor)")
    return deltas + average_over_clips(deltas), notes


def average_over_clips(deltas: Sequence[Delta]) -> list[Delta]:
    """The arithmetic mean of each figure over the clips (the CTC sheets' average), one
    per (kind, anchor, test) seen on two or more clips; refused, naming the clips, when
    any clip's figure is refused."""
    groups: dict[tuple[str, str, str], list[Delta]] = {}
    for d in deltas:
        if d.clip != AVERAGE:
            groups.setdefault((d.kind, d.anchor, d.test), []).append(d)
    out = []
    for (kind, anchor, test), members in groups.items():
        if len(members) < 2:
            continue
        base = Delta(kind, anchor, test, clip=AVERAGE, resolution=members[0].resolution, clips=len(members))
        refused = [d for d in members if d.refused]
        if refused:
            names = ", ".join(d.clip or "(unnamed)" for d in refused)
            out.append(replace(base, refused=f"refused on {len(refused)} of {len(members)} clips ({names})"))
            continue
        percents = [d.percent for d in members]
        linears = [d.linear for d in members]
        out.append(replace(
            base,
            percent=None if None in percents else math.fsum(percents) / len(members),
            linear=None if None in linears else math.fsum(linears) / len(members),
            overlap=min(d.overlap for d in members if d.overlap is not None),
            caution="; ".join(sorted({d.caution for d in members if d.caution})) or None))
    return out
