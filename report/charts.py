"""The report's charts, drawn with matplotlib (Agg, no display) and written as PNG and SVG.

Each `*_chart` function returns a matplotlib `Figure`, or `None` when the input has
nothing to draw (the report then says why the chart is missing). `save` writes the
figure as `<name>.png` and `<name>.svg` and returns a `Chart` whose PNG bytes the HTML
embeds as a data URI. Output is deterministic: no dates in the metadata, a fixed SVG
hash salt.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from report.bd import Curve, Delta  # noqa: E402
from report.compare import Comparison  # noqa: E402
from report.data import Row, pareto_front  # noqa: E402

__all__ = ["Chart", "save", "rd_chart", "quality_energy_chart", "energy_vmaf_chart", "power_chart",
           "capacity_chart", "scenario_energy_chart", "compare_chart"]

matplotlib.rcParams.update({
    "svg.hashsalt": "ffwatt",
    "figure.dpi": 100,
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
})
_SIZE = (7.0, 4.2)
_KIND_COLOURS = {"measured": "#1f77b4", "estimated": "#ff7f0e", "simulated": "#9467bd", "none": "#7f7f7f"}


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart written to disk: `name` (file stem), `title`, the two files, the PNG bytes."""

    name: str
    title: str
    png: Path
    svg: Path
    png_bytes: bytes
    caption: str = ""


def save(fig: Figure, out_dir: Path, name: str, title: str, caption: str = "") -> Chart:
    """Write `fig` as PNG and SVG under `out_dir` (temp file + rename) and close it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    paths = {}
    for ext, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
        final = out_dir / f"{name}.{ext}"
        tmp = out_dir / f".{name}.{ext}.tmp"
        fig.savefig(tmp, format=ext, metadata=metadata)
        tmp.replace(final)
        paths[ext] = final
    plt.close(fig)
    return Chart(name, title, paths["png"], paths["svg"], paths["png"].read_bytes(), caption)


def _figure(title: str) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=_SIZE)
    ax.set_title(title)
    return fig, ax


def rd_chart(curves: Sequence[Curve], quality: str) -> Figure | None:
    """Quality (VMAF or PSNR) against the measured bitrate, one line per curve, log rate axis."""
    drawable = [c for c in curves if sum(1 for p in c.points if getattr(p, quality) is not None) >= 1]
    if not drawable:
        return None
    name = "VMAF" if quality == "vmaf" else "PSNR (dB)"
    fig, ax = _figure(f"Rate-distortion: {name.split(' ')[0]} against measured bitrate")
    for curve in drawable:
        pts = [(p.bitrate_bps / 1000, getattr(p, quality)) for p in curve.points if getattr(p, quality) is not None]
        ax.plot([x for x, _ in pts], [y for _, y in pts], marker="o", label=curve.label)
    ax.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("measured bitrate per stream (kb/s, log scale)")
    ax.set_ylabel(name)
    ax.legend(loc="lower right")
    return fig


def quality_energy_chart(rows: Sequence[Row]) -> Figure | None:
    """VMAF against energy per stream per second of video, error bars from repetitions,
    the Pareto front (least energy for the quality) drawn and its points ringed."""
    pts = [r for r in rows if r.scenario.vmaf is not None and r.joules_per_video_second is not None]
    if not pts:
        return None
    fig, ax = _figure("Quality against energy (Pareto front: no other scenario is better on both)")
    groups: dict[str, list[Row]] = {}
    for r in pts:
        groups.setdefault(f"{r.scenario.encoder}" + (f"/{r.scenario.preset}" if r.scenario.preset else ""),
                          []).append(r)
    for label, members in sorted(groups.items()):
        xs = [r.joules_per_video_second for r in members]
        ys = [r.scenario.vmaf for r in members]
        err = [_ci_per_second(r) for r in members]
        has_err = any(e is not None for e in err)
        ax.errorbar(xs, ys, xerr=[e or 0.0 for e in err] if has_err else None, fmt="o", capsize=3, label=label)
    front = pareto_front([(r.joules_per_video_second, r.scenario.vmaf, r.label) for r in pts])
    ax.plot([x for x, _, _ in front], [y for _, y, _ in front], "k--", linewidth=1, label="Pareto front")
    ax.scatter([x for x, _, _ in front], [y for _, y, _ in front], s=120, facecolors="none", edgecolors="k")
    kinds = sorted({r.energy_kind for r in pts})
    ax.set_xlabel(f"energy per stream per second of video (J/s; {', '.join(kinds)})")
    ax.set_ylabel("VMAF")
    ax.legend(loc="lower right")
    return fig


def _ci_per_second(row: Row) -> float | None:
    s = row.scenario
    if row.energy_ci95 is None or not s.duration_seconds:
        return None
    return row.energy_ci95 / (s.duration_seconds * s.streams)


def energy_vmaf_chart(curves: Sequence[Curve], deltas: Sequence[Delta], method: str) -> Figure | None:
    """The (VMAF, joules) curves BD-energy integrates: points, the interpolant, and the
    overlapping VMAF range shaded."""
    drawable = [c for c in curves
                if sum(1 for p in c.points if p.vmaf is not None and p.joules_per_video_second) >= 2]
    if not drawable:
        return None
    import numpy as np
    from scipy.interpolate import Akima1DInterpolator, PchipInterpolator

    fig, ax = _figure(f"Energy against VMAF (the BD-energy curves, {method} interpolation)")
    for curve in drawable:
        pts = sorted((p.vmaf, p.joules_per_video_second) for p in curve.points
                     if p.vmaf is not None and p.joules_per_video_second)
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        line = ax.plot(xs, ys, "o", label=curve.label)[0]
        if len(set(xs)) == len(xs) and len(xs) >= 3:
            interp = PchipInterpolator if method == "pchip" else Akima1DInterpolator
            grid = np.linspace(xs[0], xs[-1], 100)
            # the interpolant BD-energy integrates: log10(energy) as a function of VMAF
            ax.plot(grid, 10 ** interp(xs, np.log10(ys))(grid), color=line.get_color(), linewidth=1)
    shown = [d for d in deltas if d.kind.startswith("BD-energy") and d.quality_range]
    if shown:
        low, high = shown[0].quality_range
        ax.axvspan(low, high, color="grey", alpha=0.12, label="overlap of the first pair")
    ax.set_xlabel("VMAF")
    ax.set_ylabel("energy per stream per second of video (J/s)")
    ax.legend(loc="upper left")
    return fig


def scenario_energy_chart(rows: Sequence[Row]) -> Figure | None:
    """Energy per scenario, coloured by what produced it, with 95 % CI bars from repetitions."""
    pts = [r for r in rows if r.energy_joules is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(_SIZE[0], max(2.5, 0.32 * len(pts) + 1.2)))
    ax.set_title("Energy per scenario (bars: 95 % CI over the repetitions)")
    ys = list(range(len(pts)))
    ax.barh(ys, [r.energy_joules for r in pts], xerr=[r.energy_ci95 or 0.0 for r in pts], capsize=3,
            color=[_KIND_COLOURS.get(r.energy_kind, "#7f7f7f") for r in pts])
    ax.set_yticks(ys, [r.label for r in pts])
    ax.invert_yaxis()
    ax.set_xlabel("energy (J)")
    handles = [matplotlib.patches.Patch(color=_KIND_COLOURS[k], label=k) for k in _KIND_COLOURS
               if any(r.energy_kind == k for r in pts)]
    ax.legend(handles=handles, loc="lower right")
    return fig


def power_chart(traces: Mapping[str, tuple[Sequence[float], Sequence[float]]], source: str) -> Figure | None:
    """Power over time per scenario: `traces` maps a label to (seconds since start, watts)."""
    drawable = {k: v for k, v in traces.items() if len(v[0]) >= 2}
    if not drawable:
        return None
    fig, ax = _figure(f"Power over time per scenario ({source})")
    for label, (ts, ws) in drawable.items():
        ax.plot(ts, ws, label=label, linewidth=1.2, marker="." if len(ts) <= 30 else None)
    ax.set_xlabel("seconds since the scenario started")
    ax.set_ylabel("power (W)")
    ax.legend(loc="best", fontsize=7)
    return fig


def capacity_chart(sweep: Mapping[str, Any]) -> Figure | None:
    """Energy and speed against the stream count of one capacity sweep, the knee marked."""
    steps = [s for s in sweep.get("steps", []) if isinstance(s, dict) and _num(s.get("streams")) is not None]
    if not steps:
        return None
    steps.sort(key=lambda s: s["streams"])
    fig, ax = _figure(f"Capacity sweep {sweep.get('name', '')}: energy and speed against streams")
    ns = [s["streams"] for s in steps]
    energy = [_num(s.get("energy_joules")) for s in steps]
    speed = [_num(s.get("min_speed")) for s in steps]
    ax.plot([n for n, e in zip(ns, energy, strict=True) if e is not None], [e for e in energy if e is not None],
            "o-", color="#1f77b4", label="energy (J)")
    ax.set_xlabel("parallel streams")
    ax.set_ylabel("energy (J)", color="#1f77b4")
    right = ax.twinx()
    right.plot([n for n, v in zip(ns, speed, strict=True) if v is not None], [v for v in speed if v is not None],
               "s--", color="#d62728", label="slowest stream's speed")
    right.axhline(1.0, color="#d62728", linewidth=0.8, alpha=0.5)
    right.set_ylabel("speed (1.0 = real time)", color="#d62728")
    knee = _num(sweep.get("knee_streams"))
    if knee is not None:
        ax.axvline(knee, color="k", linestyle=":", label=f"knee: {knee:g} streams")
    ax.legend(loc="upper left")
    return fig


def compare_chart(comparisons: Sequence[Comparison]) -> Figure | None:
    """Energy change per scenario against the baseline run, in percent, with the 95 % CI."""
    pts = [c for c in comparisons if c.energy.percent is not None]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(_SIZE[0], max(2.5, 0.32 * len(pts) + 1.2)))
    ax.set_title("Energy change against the baseline run (bars: 95 % CI, Welch)")
    ys = list(range(len(pts)))
    err = [(c.energy.ci95 / c.energy.before * 100.0) if c.energy.ci95 is not None and c.energy.before else 0.0
           for c in pts]
    colours = ["#2ca02c" if c.energy.significant and c.energy.percent < 0 else
               "#d62728" if c.energy.significant else "#7f7f7f" for c in pts]
    ax.barh(ys, [c.energy.percent for c in pts], xerr=err, capsize=3, color=colours)
    ax.axvline(0, color="k", linewidth=0.8)
    ax.set_yticks(ys, [c.scenario for c in pts])
    ax.invert_yaxis()
    ax.set_xlabel("energy change (%; grey: not significant or no repetitions)")
    return fig


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
