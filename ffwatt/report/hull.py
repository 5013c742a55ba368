"""The rate-quality convex hull of a clip's encodes over resolutions, and the energy of each point.

Per clip and encoder/preset, every single-output encode with a bitrate and a VMAF is a
point (bitrate, VMAF, joules per stream per second of video), whatever its resolution.
VMAF is taken as recorded: scored at the display size (the source's native size, the
encode upscaled), it compares across resolutions, which is what makes a hull meaningful.

* The **rate hull** is the upper-left convex hull of (bitrate, VMAF): the points no
  mixture of two others beats (the ladder rungs to keep for quality, as per-title
  encoding picks them). Found by keeping the points whose VMAF rises with bitrate (the
  Pareto front) and then the upper convex chain of those (Andrew's monotone chain).
* The **energy hull** is the same on (joules per stream-second, VMAF): the rungs to keep
  for joules (the least energy for the quality).

Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ffwatt.report.data import Row

__all__ = ["Rung", "Ladder", "upper_hull", "ladders"]


@dataclass(frozen=True, slots=True)
class Rung:
    """One encode of a ladder: its resolution, bitrate (bits/s), VMAF, energy (J per
    stream-second of video, with its 95 % CI half-width) and whether it is on each hull."""

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


@dataclass(frozen=True, slots=True)
class Ladder:
    """The rungs of one clip and encoder/preset, sorted by bitrate."""

    clip: str | None
    encoder: str
    preset: str | None
    rungs: tuple[Rung, ...]

    @property
    def label(self) -> str:
        return self.encoder + (f"/{self.preset}" if self.preset else "")

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
        return sorted({r.resolution for r in self.rungs if r.resolution}, key=_pixels)


def _pixels(resolution: str) -> int:
    w, _, h = resolution.partition("x")
    return int(w) * int(h) if w.isdigit() and h.isdigit() else 0


def upper_hull(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the upper-left convex hull of `points` (x, y): sorted by x, y rising,
    every point on or above the chords between its neighbours. Ties on x keep the higher y."""
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


def ladders(rows: Sequence[Row]) -> list[Ladder]:
    """One ladder per (clip, encoder, preset) in file order, with both hulls marked."""
    groups: dict[tuple[str | None, str, str | None], list[Row]] = {}
    for row in rows:
        s = row.scenario
        if s.is_baseline or s.encoder is None or s.vmaf is None or not row.bitrate_bps or len(s.outputs) > 1:
            continue
        groups.setdefault((s.source_name, s.encoder, s.preset), []).append(row)
    out = []
    for (clip, encoder, preset), members in groups.items():
        rate = set(upper_hull([(r.bitrate_bps, r.scenario.vmaf) for r in members]))
        with_energy = [k for k, r in enumerate(members) if r.joules_per_video_second is not None]
        energy = {with_energy[k] for k in upper_hull([(members[i].joules_per_video_second, members[i].scenario.vmaf)
                                                      for i in with_energy])}
        rungs = [Rung(scenario=r.label, resolution=r.scenario.resolution, height=r.scenario.height,
                      bitrate_bps=float(r.bitrate_bps), vmaf=r.scenario.vmaf,
                      joules_per_video_second=r.joules_per_video_second, joules_ci95=_ci_per_second(r),
                      on_rate_hull=k in rate, on_energy_hull=k in energy,
                      scored_at=dict(r.scenario.quality_reference).get("resolution")) for k, r in enumerate(members)]
        rungs.sort(key=lambda r: (r.bitrate_bps, _pixels(r.resolution or "")))
        out.append(Ladder(clip, encoder, preset, tuple(rungs)))
    return out


def _ci_per_second(row: Row) -> float | None:
    s = row.scenario
    if row.energy_ci95 is None or not s.duration_seconds or s.streams <= 0:
        return None
    return row.energy_ci95 / (s.duration_seconds * s.streams)
