"""The report's energy charts (matplotlib, via `report.charts`' layout and `save`): quality against
energy, the BD-energy curves, energy per scenario, power over time, capacity sweeps and the change
against a baseline run. Every energy axis says when its joules are estimated or simulated.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.patches
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ffwatt.report.charts import (
    KIND_COLOURS,
    SIZE,
    clip_name,
    clipped_err,
    clips_of,
    curve_styles,
    energy_label,
    facets,
    figure,
    legend_outside,
    style_key,
)
from ffwatt.report.compare import Comparison
from ffwatt.report.curve import Curve, Delta, encoder_label
from ffwatt.report.data import Row, pareto_front, per_video_second

__all__ = ["quality_energy_chart", "energy_vmaf_chart", "scenario_energy_chart", "power_chart", "capacity_chart",
           "compare_chart"]


def _group(row: Row) -> str:
    return encoder_label(str(row.scenario.encoder), row.scenario.preset)


def quality_energy_chart(rows: Sequence[Row]) -> Figure | None:
    """VMAF against energy per stream per second of video, one facet per clip, error bars
    from repetitions (stopping at 0 J), the Pareto front of each clip drawn and its points ringed."""
    pts = [r for r in rows if r.scenario.vmaf is not None and r.joules_per_video_second is not None
           and not r.incomplete]
    if not pts:
        return None
    clips = list(dict.fromkeys(r.scenario.source_name for r in pts))
    fig, panels = facets("Quality against energy (Pareto front: no other scenario is better on both)", clips)
    groups: dict[tuple[str | None, str], list[Row]] = {}
    for r in pts:
        groups.setdefault((r.scenario.source_name, _group(r)), []).append(r)
    colours = {label: f"C{k % 10}" for k, label in enumerate(dict.fromkeys(label for _, label in groups))}
    for (clip, label), members in groups.items():
        xs = [r.joules_per_video_second for r in members]
        panels[clip][0].errorbar(xs, [r.scenario.vmaf for r in members],
                                 xerr=clipped_err(xs, [_ci_per_second(r) for r in members]), fmt="o", markersize=3,
                                 capsize=2, color=colours[label], label=label)
    kinds = [r.energy_kind for r in pts]
    for clip, (ax,) in panels.items():
        front = pareto_front([(r.joules_per_video_second, r.scenario.vmaf, r.label) for r in pts
                              if r.scenario.source_name == clip])
        ax.plot([x for x, _, _ in front], [y for _, y, _ in front], "k--", linewidth=1, label="Pareto front")
        ax.scatter([x for x, _, _ in front], [y for _, y, _ in front], s=80, facecolors="none", edgecolors="k")
        ax.set_title(clip_name(clip), fontsize=9)
        ax.set_xlim(left=0)
        ax.set_xlabel(energy_label("energy per stream per second of video", "J/s", kinds))
        ax.set_ylabel("VMAF")
    legend_outside(fig, fig.axes)
    return fig


def _ci_per_second(row: Row) -> float | None:
    return per_video_second(row.energy_ci95, row.scenario)


def energy_vmaf_chart(curves: Sequence[Curve], deltas: Sequence[Delta], method: str) -> Figure | None:
    """The (VMAF, joules) curves BD-energy integrates, one facet per clip: points, the
    interpolant, and the overlapping VMAF range of the clip's first BD-energy figure shaded."""
    drawable = [c for c in curves
                if sum(1 for p in c.points if p.vmaf is not None and p.joules_per_video_second) >= 2]
    if not drawable:
        return None
    import numpy as np
    from bjontegaard.interpolation import interpolate

    fig, panels = facets(f"Energy against VMAF (the BD-energy curves, {method} interpolation)", clips_of(drawable))
    styles = curve_styles(drawable)
    for curve in drawable:
        ax = panels[curve.clip][0]
        style = styles[style_key(curve)]
        pts = sorted((p.vmaf, p.joules_per_video_second) for p in curve.points
                     if p.vmaf is not None and p.joules_per_video_second)
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        ax.plot(xs, ys, linestyle="none", marker=style["marker"], markersize=3, color=style["color"],
                label=curve.display)
        if len(set(xs)) == len(xs) and len(xs) >= 3:
            grid = np.linspace(xs[0], xs[-1], 60)
            # the interpolant BD-energy integrates (bjontegaard's own): log10(energy) as a function of VMAF
            ax.plot(grid, 10 ** interpolate(xs, np.log10(ys), method)(grid), color=style["color"],
                    linestyle=style["linestyle"], linewidth=1)
    kinds = [p.energy_kind for c in drawable for p in c.points]
    for clip, (ax,) in panels.items():
        shown = [d for d in deltas if d.kind == "BD-energy (VMAF)" and d.quality_range and d.clip == clip]
        if shown:
            low, high = shown[0].quality_range
            ax.axvspan(low, high, color="grey", alpha=0.12, label="overlap of the first pair")
        ax.set_title(clip_name(clip), fontsize=9)
        ax.set_xlabel("VMAF")
        ax.set_ylabel(energy_label("energy per stream-second", "J/s", kinds))
    legend_outside(fig, fig.axes)
    return fig


_MAX_BARS = 40
"""Above this many scenarios the energy chart is a strip per encoder, not a bar per scenario."""


def scenario_energy_chart(rows: Sequence[Row]) -> Figure | None:
    """Energy per scenario, coloured by what produced it, with 95 % CI bars (stopping at 0 J):
    a bar per scenario up to `_MAX_BARS`, else per clip a strip of points per encoder/preset."""
    pts = [r for r in rows if r.energy_joules is not None]
    if not pts:
        return None
    colours = [KIND_COLOURS.get(r.energy_kind, "#7f7f7f") for r in pts]
    handles = [matplotlib.patches.Patch(color=KIND_COLOURS[k], label=k) for k in KIND_COLOURS
               if any(r.energy_kind == k for r in pts)]
    values = [r.energy_joules for r in pts]
    if len(pts) <= _MAX_BARS:
        fig, ax = plt.subplots(figsize=(SIZE[0] + 1.2, max(2.5, 0.32 * len(pts) + 1.2)))
        fig.set_layout_engine("tight", rect=(0, 0, SIZE[0] / (SIZE[0] + 1.2), 1))
        ax.set_title("Energy per scenario (bars: 95 % CI over the repetitions)")
        ys = list(range(len(pts)))
        ax.barh(ys, values, xerr=clipped_err(values, [r.energy_ci95 for r in pts]), capsize=3, color=colours)
        ax.set_yticks(ys, [r.label for r in pts])
        ax.invert_yaxis()
        ax.set_xlabel(energy_label("energy", "J", [r.energy_kind for r in pts]))
        fig.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
        return fig
    encodes = [r for r in pts if not r.scenario.is_baseline]
    baselines = [r for r in pts if r.scenario.is_baseline]
    clips = list(dict.fromkeys(r.scenario.source_name for r in encodes))
    fig, panels = facets(f"Energy of the {len(encodes)} encodes, per encoder (bars: 95 % CI over the repetitions)",
                          clips, height=2.6, left=1.7)
    for clip, (ax,) in panels.items():
        members = [r for r in encodes if r.scenario.source_name == clip]
        groups = list(dict.fromkeys(_group(r) for r in members))
        for kind in KIND_COLOURS:  # one artist per kind: 200 separate errorbars cost a second
            these = [r for r in members if r.energy_kind == kind]
            if not these:
                continue
            ys = [groups.index(_group(r)) + ((zlib.crc32(r.name.encode()) % 1000) / 1000 - 0.5) * 0.5  # same each run
                  for r in these]
            xs = [r.energy_joules for r in these]
            ax.errorbar(xs, ys, xerr=clipped_err(xs, [r.energy_ci95 for r in these]), fmt="o", markersize=3,
                        color=KIND_COLOURS[kind], elinewidth=0.8, linestyle="none")
        for base in baselines:
            ax.axvline(base.energy_joules, color="k", linestyle=":", linewidth=1, label=f"idle: {base.label}")
        ax.set_yticks(range(len(groups)), groups)
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_title(clip_name(clip), fontsize=9)
        ax.set_xlabel(energy_label("energy", "J", [r.energy_kind for r in pts]))
    legend_outside(fig, fig.axes, "energy", handles)
    return fig


def power_chart(traces: Mapping[str, tuple[Sequence[float], Sequence[float]]], source: str,
                groups: Mapping[str, str] | None = None) -> Figure | None:
    """Power over time per scenario: `traces` maps a label to (seconds since start, watts).
    Beyond `_MAX_TRACES` traces the lines are coloured by `groups` (label -> encoder) and the
    legend names the groups, not the scenarios."""
    drawable = {k: v for k, v in traces.items() if len(v[0]) >= 2}
    if not drawable:
        return None
    fig, panels = facets(f"Power over time per scenario ({source})", [None])
    ax = panels[None][0]
    by_group = len(drawable) > _MAX_TRACES and groups is not None
    colours = {}
    if by_group:
        colours = {g: f"C{k % 10}" for k, g in enumerate(dict.fromkeys(groups.get(k, "other") for k in drawable))}
    seen: set[str] = set()
    for label, (ts, ws) in drawable.items():
        if by_group:
            group = groups.get(label, "other")
            ax.plot(ts, ws, color=colours[group], linewidth=0.6, alpha=0.6,
                    label=None if group in seen else group)
            seen.add(group)
        else:
            ax.plot(ts, ws, label=label, linewidth=1.2, marker="." if len(ts) <= 30 else None)
    ax.set_xlabel("seconds since the scenario started")
    ax.set_ylabel("power (W)")
    ax.set_ylim(bottom=0)
    legend_outside(fig, [ax], f"{len(drawable)} scenarios by encoder" if by_group else None)
    return fig


_MAX_TRACES = 12


def capacity_chart(sweep: Mapping[str, Any]) -> Figure | None:
    """Energy and speed against the stream count of one capacity sweep, the knee marked."""
    steps = [s for s in sweep.get("steps", []) if isinstance(s, dict) and _num(s.get("streams")) is not None]
    if not steps:
        return None
    steps.sort(key=lambda s: s["streams"])
    fig, ax = figure(f"Capacity sweep {sweep.get('name', '')}: energy and speed against streams")
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
    fig, ax = plt.subplots(figsize=(SIZE[0], max(2.5, 0.32 * len(pts) + 1.2)))
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
