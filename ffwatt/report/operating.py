"""Operating points: what a target quality costs, in bitrate and in energy per second of video.

For each clip and encoder/preset, at each target quality (default VMAF 80, 90 and 95;
`--targets vmaf=93,psnr=40`): the bitrate and the energy per stream-second of video the encoder
needs, interpolated on its curve with the interpolation of the BD figures
(`bjontegaard.interpolation.interpolate`, PCHIP by default): log10(bitrate), and log10(energy),
as a function of quality, evaluated at the target. Refused, with the reason, outside the
quality range the curve measured (no extrapolation), on a curve whose quality does not rise
along its axis, and for the energy where its points mix sources.

The curve of a clip is its own-size curve (`report.corpus`), or, where the encoder's ladder spans
several sizes, its convex hulls (`report.hull`): the rate hull for the bitrate, the energy hull
for the energy. Against the anchor: the per-clip difference in percent, (test / anchor - 1) x 100.
The average over clips (two or more, each with the anchor's curve) is the mean bitrate and
energy and the mean of the per-clip differences; refused, naming the clips, when a clip is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ffwatt.report.corpus import Anchor
from ffwatt.report.curve import AVERAGE, ENERGY, QUALITY_NAME, RATE, Curve
from ffwatt.report.hull import Ladder, hull_curves

__all__ = ["Target", "OperatingPoint", "DEFAULT_TARGETS", "parse_targets", "operating_points"]


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """A target quality: `metric` `vmaf` (0-100) or `psnr` (dB) at `value`."""

    metric: str
    value: float

    def __str__(self) -> str:
        return f"{QUALITY_NAME[self.metric]} {self.value:g}"


DEFAULT_TARGETS = (Target("vmaf", 80.0), Target("vmaf", 90.0), Target("vmaf", 95.0))


def parse_targets(text: str) -> tuple[Target, ...]:
    """`vmaf=93,psnr=40` (a metric may repeat) -> targets; ValueError naming the bad item."""
    out = []
    for item in (part.strip() for part in text.split(",")):
        metric, sep, number = item.partition("=")
        metric = metric.strip().lower()
        try:
            value = float(number) if sep else math.nan
        except ValueError:
            value = math.nan
        top = 100.0 if metric == "vmaf" else math.inf
        if metric not in QUALITY_NAME or not 0 < value <= top:
            raise ValueError(f"expected METRIC=VALUE items like vmaf=93,psnr=40 (VMAF 0-100, PSNR dB), got {item!r}")
        out.append(Target(metric, value))
    return tuple(sorted(set(out)))


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """What `encoder` needs on `clip` (`AVERAGE`: the mean over `clips` clips) to reach `target`:
    bits/s and J per stream-second of video (`energy_source` says where the joules came from:
    "model (estimated)"), each against the anchor's in percent; `curve` the size or "convex hull";
    a refusal in place of each number that cannot be given."""

    clip: str | None
    encoder: str
    target: Target
    curve: str
    bitrate_bps: float | None = None
    energy_j_per_s: float | None = None
    energy_source: str | None = None
    bitrate_refused: str | None = None
    energy_refused: str | None = None
    bitrate_vs_anchor: float | None = None
    energy_vs_anchor: float | None = None
    clips: int = 1
    clip_class: str | None = None
    vs_anchor_missing: str | None = None  # why a difference against the anchor is not given, where the value is

    @property
    def refused(self) -> str | None:
        parts = [f"{what}: {why}" for what, why in (("bitrate", self.bitrate_refused),
                                                     ("energy", self.energy_refused)) if why]
        return "; ".join(parts) or None


def _at(curve: Curve, quality: str, attr: str, target: float, method: str) -> tuple[float | None, str | None]:
    """log10(attr) interpolated against `quality` on `curve`'s points, at `target`: (value, None) or
    (None, why). The curve's quality must rise along its axis."""
    from bjontegaard.interpolation import interpolate

    name = QUALITY_NAME[quality]
    points = [p for p in curve.points if getattr(p, quality) is not None]
    if len(points) < 2:
        return None, f"{curve.display} has {len(points)} point(s) with a {name}; 2 or more are needed"
    qualities = [getattr(p, quality) for p in points]
    if any(b <= a for a, b in zip(qualities, qualities[1:], strict=False)):
        along = "bitrate" if curve.axis == RATE else "energy"
        return None, f"{curve.display}: {name} does not rise with {along}"
    values = [getattr(p, attr) for p in points]
    if any(v is None or v <= 0 for v in values):
        return None, f"{curve.display}: a point has no positive {'bitrate' if attr == RATE else 'energy'}"
    if not qualities[0] <= target <= qualities[-1]:
        return None, (f"{name} {target:g} is outside the range measured ({qualities[0]:.2f}-{qualities[-1]:.2f}); "
                      "not extrapolated")
    order = sorted(range(len(points)), key=qualities.__getitem__)  # an energy curve sorted by energy is already
    value = 10 ** float(interpolate([qualities[i] for i in order], [math.log10(values[i]) for i in order],
                                    method)(target))
    return (value, None) if math.isfinite(value) else (None, "the interpolation gave no finite value")


def _energy_source(curve: Curve) -> tuple[str | None, str | None]:
    """("source (kind)", None) of the curve's joules, or (None, why) when its points mix sources."""
    labels = sorted({f"{p.energy_source} ({p.energy_kind})" for p in curve.points if p.energy_source})
    rules = {p.energy_attribution for p in curve.points}
    if len(labels) > 1 or len(rules) > 1:
        return None, f"{curve.display}: the energy mixes sources or attribution rules ({', '.join(labels)})"
    return (labels[0] if labels else None), None


def _point(clip: str | None, clip_class: str | None, rate: Curve, energy: Curve, target: Target,
           method: str) -> OperatingPoint:
    bitrate, bitrate_why = _at(rate, target.metric, RATE, target.value, method)
    source, energy_why = _energy_source(energy)
    joules = None
    if energy_why is None:
        joules, energy_why = _at(energy, target.metric, ENERGY, target.value, method)
    return OperatingPoint(clip, rate.label, target, "convex hull" if rate.hull else (rate.resolution or ""),
                          bitrate, joules, source, bitrate_why, energy_why, clip_class=clip_class)


def _curves_by_clip(curves: Sequence[Curve], ladders: Sequence[Ladder],
                    quality: str) -> dict[tuple[str | None, str], tuple[Curve, Curve]]:
    """(clip, encoder label) -> (rate curve, energy curve): the hulls of a ladder over sizes, else
    the clip's own-size curve for both."""
    out: dict[tuple[str | None, str], tuple[Curve, Curve]] = {}
    for lad in ladders:
        if lad.over_sizes:
            hulls = hull_curves(lad)
            out[(lad.clip, lad.label)] = (hulls[RATE, quality], hulls[ENERGY, quality])
    for c in curves:
        if c.rung is None and (c.clip, c.label) not in out:
            out[(c.clip, c.label)] = (c, c)
    return out


def _percent(test: float | None, anchor: float | None) -> float | None:
    return None if test is None or not anchor else (test / anchor - 1) * 100


def _against(p: OperatingPoint, a: OperatingPoint) -> OperatingPoint:
    """`p` with its differences against the anchor's point `a` of the same clip and target."""
    missing = []
    if p.bitrate_bps is not None and a.bitrate_bps is None:
        missing.append(f"bitrate: the anchor's is not given ({a.bitrate_refused})")
    same_meter = p.energy_source == a.energy_source  # joules of two meters do not compare
    if p.energy_j_per_s is not None and a.energy_j_per_s is None:
        missing.append(f"energy: the anchor's is not given ({a.energy_refused})")
    elif p.energy_j_per_s is not None and not same_meter:
        missing.append(f"energy: from another source than the anchor's ({p.energy_source}, {a.energy_source})")
    return replace(p, bitrate_vs_anchor=_percent(p.bitrate_bps, a.bitrate_bps),
                   energy_vs_anchor=_percent(p.energy_j_per_s, a.energy_j_per_s) if same_meter else None,
                   vs_anchor_missing="; ".join(missing) or None)


def _average(encoder: str, target: Target, members: Sequence[OperatingPoint], missing: Sequence[str]) -> OperatingPoint:
    base = OperatingPoint(AVERAGE, encoder, target, "", clips=len(members) + len(missing),
                          energy_source=", ".join(sorted({m.energy_source for m in members if m.energy_source})) or None)

    def mean(attr: str, why_attr: str) -> tuple[float | None, str | None]:
        refused = [m.clip or "(unnamed)" for m in members if getattr(m, why_attr) or getattr(m, attr) is None]
        if refused or missing:
            names = ", ".join(sorted(refused) + [f"{c} (no curve)" for c in missing])
            return None, f"not given on {len(refused) + len(missing)} of {base.clips} clips ({names})"
        return math.fsum(getattr(m, attr) for m in members) / len(members), None

    bitrate, bitrate_why = mean("bitrate_bps", "bitrate_refused")
    joules, energy_why = mean("energy_j_per_s", "energy_refused")
    vs_rate, vs_rate_why = mean("bitrate_vs_anchor", "bitrate_refused") if bitrate_why is None else (None, None)
    vs_energy, vs_energy_why = mean("energy_vs_anchor", "energy_refused") if energy_why is None else (None, None)
    missing = [f"{what} against the anchor: {why}" for what, why in (("bitrate", vs_rate_why),
                                                                      ("energy", vs_energy_why)) if why]
    return replace(base, bitrate_bps=bitrate, energy_j_per_s=joules, bitrate_refused=bitrate_why,
                   energy_refused=energy_why, bitrate_vs_anchor=vs_rate, energy_vs_anchor=vs_energy,
                   vs_anchor_missing="; ".join(missing) or None)


def operating_points(curves: Sequence[Curve], ladders: Sequence[Ladder], anchor: Anchor | None,
                     targets: Sequence[Target] = DEFAULT_TARGETS, method: str = "pchip") -> list[OperatingPoint]:
    """Per target, encoder (the anchor first) and clip, then the average over clips; sorted by those."""
    if anchor is None:
        return []
    out = []
    # the curves (hulls included) depend on the target's metric only: drawn once per metric, not per target
    by_metric = {metric: _curves_by_clip(curves, ladders, metric) for metric in {t.metric for t in targets}}
    for target in sorted(set(targets)):
        by_clip = by_metric[target.metric]
        points = {key: _point(key[0], rate.clip_class, rate, energy, target, method)
                  for key, (rate, energy) in by_clip.items()}
        clips = sorted({clip for clip, label in points if label == anchor.label}, key=lambda c: c or "")
        encoders = sorted({label for _, label in points}, key=lambda e: (e != anchor.label, e))
        for encoder in encoders:
            members = []
            for clip in clips:
                p = points.get((clip, encoder))
                if p is not None:
                    members.append(_against(p, points[(clip, anchor.label)]))
            out.extend(members)
            out.extend(points[key] for key in sorted(points, key=lambda k: k[0] or "")
                       if key[1] == encoder and key[0] not in clips)  # a clip without the anchor: no difference
            if len(clips) >= 2 and members:
                missing = [c or "(unnamed)" for c in clips if (c, encoder) not in points]
                out.append(_average(encoder, target, members, missing))
    return out
