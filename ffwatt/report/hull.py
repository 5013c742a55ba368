"""The rate-quality convex hull of a clip's encodes over resolutions, and the energy of each point.

Per clip and encoder/preset, every complete single-output encode with a bitrate and a VMAF is
a point (bitrate, VMAF, PSNR, joules per stream per second of video), whatever its resolution.
VMAF is taken as recorded: scored at the display size (the source's native size, the encode
upscaled), it compares across resolutions, which is what makes a hull meaningful.

* The **rate hull** is the upper-left convex hull of (bitrate, quality): the points no
  mixture of two others beats (the ladder rungs to keep for quality, as per-title
  encoding picks them). Found by keeping the points whose quality rises with bitrate (the
  Pareto front) and then the upper convex chain of those (Andrew's monotone chain): the
  upper hull from the lowest bitrate to the highest quality. Per quality metric: VMAF and PSNR.
* The **energy hull** is the same on (joules per stream-second, quality): the rungs to keep
  for joules (the least energy for the quality).

A ladder with two or more encode sizes gives hull curves (`hull_curves`) for BD figures and
operating points. Everything is a function of the set of encodes: they are sorted by what
they are before any hull is drawn, so the file's order never decides a tie.

Standard library and `report.curve` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ffwatt.report.curve import ENERGY, RATE, Curve, Point, encoder_label, point_of
from ffwatt.report.data import Row, per_video_second, pixels

__all__ = ["Rung", "Ladder", "upper_hull", "ladders", "hull_curves", "curve_rows"]


@dataclass(frozen=True, slots=True)
class Rung:
    """One encode of a ladder: its resolution, bitrate (bits/s), VMAF, energy (J per
    stream-second of video, with its 95 % CI half-width and kind) and whether it is on each hull."""

    scenario: str
    resolution: str | None
    height: int | None
    bitrate_bps: float
    vmaf: float
    joules_per_video_second: float | None
    joules_ci95: float | None
    on_rate_hull: bool
    on_energy_hull: bool
    scored_at: str | None = None
    energy_kind: str = "measured"
    point: Point | None = None


@dataclass(frozen=True, slots=True)
class Ladder:
    """The rungs of one clip and encoder/preset, sorted by bitrate."""

    clip: str | None
    encoder: str
    preset: str | None
    rungs: tuple[Rung, ...]
    clip_class: str | None = None

    @property
    def label(self) -> str:
        return encoder_label(self.encoder, self.preset)

    @property
    def scoring_problem(self) -> str | None:
        """Why VMAF does not compare across this ladder's resolutions, or None: the results
        say (`quality_reference.resolution`) the rungs were scored at different sizes."""
        sizes = {r.scored_at for r in self.rungs if r.scored_at}
        if len(self.resolutions) > 1 and len(sizes) > 1:
            return (f"clip {self.clip or '(unnamed)'}, {self.label}: VMAF was scored at {', '.join(sorted(sizes))} "
                    "(each encode at its own size, not the display size): the hull across resolutions compares "
                    "unlike scores")
        return None

    @property
    def resolutions(self) -> list[str]:
        return sorted({r.resolution for r in self.rungs if r.resolution}, key=pixels)

    @property
    def over_sizes(self) -> bool:
        """Encoded at two or more sizes: a hull over resolutions."""
        return len(self.resolutions) >= 2


def upper_hull(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the upper-left convex hull of `points` (x, y): sorted by x, y rising,
    every point on or above the chords between its neighbours. Ties on x keep the higher y;
    equal points keep the first."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    for i in order:  # Pareto: more x must buy more y
        if not front or points[i][1] > points[front[-1]][1]:
            if front and points[i][0] == points[front[-1]][0]:
                continue
            front.append(i)
    chain: list[int] = []
    for i in front:
        while len(chain) >= 2:
            (x0, y0), (x1, y1), (x2, y2) = points[chain[-2]], points[chain[-1]], points[i]
            # the middle point lies below the chord from chain[-2] to i: not on the hull (on it: kept, a rung on
            # the hull's edge is as good as a mix of its neighbours)
            if (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0) > 0:
                chain.pop()
            else:
                break
        chain.append(i)
    return chain


def _hull_of(points: Sequence[Point], axis: str, quality: str) -> list[Point]:
    """The points of the upper hull of (axis, quality), sorted along `axis`."""
    usable = [p for p in points if getattr(p, axis) is not None and getattr(p, quality) is not None]
    kept = upper_hull([(getattr(p, axis), getattr(p, quality)) for p in usable])
    return sorted((usable[i] for i in kept), key=lambda p: getattr(p, axis))


def curve_rows(rows: Sequence[Row]) -> list[Row]:
    """The rows that can be on a curve: complete, single-output encodes with a bitrate and a quality."""
    out = []
    for row in rows:
        s = row.scenario
        if s.is_baseline or s.encoder is None or not row.bitrate_bps or row.bitrate_bps <= 0 or row.incomplete:
            continue
        if len(s.outputs) > 1 or (s.vmaf is None and s.psnr is None):
            continue
        out.append(row)
    return out


def ladders(rows: Sequence[Row]) -> list[Ladder]:
    """One ladder per (clip, encoder, preset) with a VMAF, sorted by those, both hulls marked."""
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in curve_rows(rows):
        s = row.scenario
        if s.vmaf is not None:
            groups.setdefault((s.source_name or "", s.encoder or "", s.preset or ""), []).append(row)
    out = []
    for key in sorted(groups):
        members = sorted(groups[key], key=lambda r: (r.bitrate_bps, pixels(r.scenario.resolution), r.name))
        points = [point_of(r) for r in members]
        rate = {id(p) for p in _hull_of(points, RATE, "vmaf")}
        energy = {id(p) for p in _hull_of(points, ENERGY, "vmaf")}
        rungs = tuple(Rung(scenario=r.label, resolution=r.scenario.resolution, height=r.scenario.height,
                           bitrate_bps=p.bitrate_bps, vmaf=r.scenario.vmaf, joules_per_video_second=p.joules_per_video_second,
                           joules_ci95=per_video_second(r.energy_ci95, r.scenario), on_rate_hull=id(p) in rate,
                           on_energy_hull=id(p) in energy,
                           scored_at=dict(r.scenario.quality_reference).get("resolution"), energy_kind=r.energy_kind,
                           point=p)
                      for r, p in zip(members, points, strict=True))
        s = members[0].scenario
        out.append(Ladder(s.source_name, s.encoder or "", s.preset, rungs, members[0].clip_class))
    return out


def hull_curves(ladder: Ladder) -> dict[tuple[str, str], Curve]:
    """The ladder's hulls as curves: (`RATE` or `ENERGY`, `vmaf` or `psnr`) -> the hull's points
    sorted along that axis, marked `hull` (BD figures on them are named "..., convex hull")."""
    points = [r.point for r in ladder.rungs if r.point is not None]
    return {(axis, quality): Curve(ladder.label, ladder.encoder, ladder.preset, None,
                                   tuple(_hull_of(points, axis, quality)), ladder.clip, None, ladder.clip_class,
                                   hull=True, axis=axis)
            for axis in (RATE, ENERGY) for quality in ("vmaf", "psnr")}
