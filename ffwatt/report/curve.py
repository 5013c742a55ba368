"""What Bjøntegaard figures are computed on and what they are: `Point`, `Curve`, `Delta`.

`report.bd` computes a figure of two curves; `report.corpus` decides which curves are compared and
averages over clips; `report.hull` makes hull curves. Standard library and `report.data` only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffwatt.report.data import Row, per_video_second

__all__ = ["MIN_POINTS", "METHODS", "DEFAULT_MIN_OVERLAP", "KINDS", "HULL_KINDS", "AVERAGE", "Point", "Curve",
           "Delta", "QUALITY_NAME", "RATE", "ENERGY", "HULL_SUFFIX", "base_kind", "encoder_label", "point_of"]

MIN_POINTS = 4
METHODS = ("pchip", "akima")
DEFAULT_MIN_OVERLAP = 0.5
"""Below this share of the shorter curve's range the two curves are not compared."""
AVERAGE = "average"
"""The `clip` of a figure averaged over clips (over a class's clips too: `Delta.clip_class` names it)."""
KINDS = ("BD-rate (VMAF)", "BD-rate (PSNR)", "BD-PSNR", "BD-VMAF", "BD-energy (VMAF)", "BD-CPU-time (VMAF)")
HULL_KINDS = ("BD-rate (VMAF, convex hull)", "BD-rate (PSNR, convex hull)", "BD-energy (VMAF, convex hull)")
HULL_SUFFIX = ", convex hull"
"""What a hull figure's name adds to its per-size figure's."""
_UNITS = {"BD-rate (VMAF)": "%", "BD-rate (PSNR)": "%", "BD-PSNR": "dB", "BD-VMAF": "VMAF points",
          "BD-energy (VMAF)": "%", "BD-CPU-time (VMAF)": "%"}
QUALITY_NAME = {"vmaf": "VMAF", "psnr": "PSNR"}
RATE, ENERGY = "bitrate_bps", "joules_per_video_second"
"""The axes a curve's quality rises along: bitrate (rate curves) or energy (energy hulls)."""


def encoder_label(encoder: str, preset: str | None) -> str:
    """How the report names an encoder/preset: "x264/medium", or "x264" without a preset."""
    return encoder + (f"/{preset}" if preset else "")


def base_kind(kind: str) -> str:
    """The figure a hull figure is the hull version of: "BD-rate (VMAF, convex hull)" -> "BD-rate (VMAF)"."""
    return kind.replace(HULL_SUFFIX, "")


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
    resolution: str | None = None


@dataclass(frozen=True, slots=True)
class Curve:
    """The points of one clip and encoder/preset, sorted along `axis` (bitrate, or energy for an
    energy hull). `label` names the encoder/preset, not the clip; `rung` is the encode size where
    the clip was encoded at several sizes and this is not its native one (None: the clip at its
    own size, which averages with other clips); `hull` marks a convex hull over sizes."""

    label: str
    encoder: str
    preset: str | None
    resolution: str | None
    points: tuple[Point, ...]
    clip: str | None = None
    rung: str | None = None
    clip_class: str | None = None
    hull: bool = False
    axis: str = RATE

    @property
    def display(self) -> str:
        """The label a chart's legend shows: the rung's size where there is one."""
        return self.label + (f" {self.rung}" if self.rung else "")

    def values(self, quality: str) -> tuple[list[float], list[float | None]]:
        return [p.bitrate_bps for p in self.points], [getattr(p, quality) for p in self.points]


@dataclass(frozen=True, slots=True)
class Delta:
    """A Bjøntegaard delta of `test` against `anchor` on one `clip` (`AVERAGE`: the mean
    over clips, or over the clips of `clip_class`); `refused` says why there is no value.

    `percent`: BD-rate, BD-energy or BD-CPU-time in percent (negative: the test needs
    less); `linear`: BD-PSNR in dB, BD-VMAF in points (positive: the test is better), or
    BD-energy in J per stream per second of video; `ci95_*`: half-widths of the 95 %
    confidence interval from `repetitions` per-repetition recomputations; `overlap`: the
    overlapping range over the shorter curve's range (0..1) on the integration axis;
    `resolution`: the encode size of a per-clip figure; `rung`: see `Curve`."""

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
    rung: str | None = None
    clip_class: str | None = None
    energy_kind: str | None = None  # "estimated", "simulated": what the joules of a BD-energy are, if not measured

    @property
    def unit(self) -> str:
        return _UNITS.get(base_kind(self.kind), "%")

    @property
    def hull(self) -> bool:
        return self.kind.endswith(HULL_SUFFIX + ")")

    @property
    def value(self) -> float | None:
        """The headline figure in `unit`."""
        return self.percent if self.unit == "%" else self.linear

    @property
    def ci95(self) -> float | None:
        return self.ci95_percent if self.unit == "%" else self.ci95_linear


def point_of(row: Row) -> Point:
    """The point a scenario's row is on a curve (its energy and CPU time per stream-second of video)."""
    s = row.scenario
    return Point(scenario=row.label, bitrate_bps=float(row.bitrate_bps or 0.0), vmaf=s.vmaf, psnr=s.psnr,
                 joules_per_video_second=row.joules_per_video_second,
                 repetition_joules=row.repetition_joules_per_video_second, duration_seconds=s.duration_seconds,
                 core_seconds_per_video_second=per_video_second(row.core_seconds, s), energy_kind=row.energy_kind,
                 energy_source=row.energy_source, energy_attribution=row.energy_attribution,
                 bitrate_measured=row.bitrate_measured, resolution=s.resolution)
