"""The report's charts, drawn with matplotlib (Agg, no display) and written as PNG and SVG.

Each `*_chart` function returns a matplotlib `Figure`, or `None` when the input has
nothing to draw (the report then says why the chart is missing). `save` writes the
figure as `<name>.png` and `<name>.svg` and returns a `Chart` whose PNG bytes the HTML
embeds as a data URI. Output is deterministic: no dates in the metadata, a fixed SVG
hash salt.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.lines  # noqa: E402
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ffwatt.report.bd import Curve, Delta  # noqa: E402
from ffwatt.report.compare import Comparison  # noqa: E402
from ffwatt.report.data import Row, pareto_front  # noqa: E402

__all__ = ["Chart", "save", "clip_name", "hull_chart", "rd_chart", "quality_energy_chart", "energy_vmaf_chart", "power_chart",
           "capacity_chart", "scenario_energy_chart", "compare_chart"]

matplotlib.rcParams.update({
    "svg.hashsalt": "ffwatt",
    "svg.fonttype": "none",  # text stays text: smaller files, a third faster to write
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
    if fig.get_layout_engine() is None and fig.get_label() != "fixed":
        fig.set_layout_engine("tight")
    paths = {}
    for ext, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
        # zlib level 1: a third less time than the default 6 for 5 % more bytes
        options = {"pil_kwargs": {"compress_level": 1}} if ext == "png" else {}
        final = out_dir / f"{name}.{ext}"
        tmp = out_dir / f".{name}.{ext}.tmp"
        fig.savefig(tmp, format=ext, metadata=metadata, **options)
        tmp.replace(final)
        paths[ext] = final
    plt.close(fig)
    return Chart(name, title, paths["png"], paths["svg"], paths["png"].read_bytes(), caption)


def _figure(title: str) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=_SIZE)
    ax.set_title(title)
    return fig, ax


def clip_name(clip: str | None) -> str:
    return clip if clip else "(unnamed clip)"


_LEGEND_INCHES = 2.4
"""Room right of the axes for the figure's legend."""


def _facets(title: str, clips: Sequence[str | None], columns: int = 1, width: float = _SIZE[0],
            height: float = 3.0, left: float = 0.75) -> tuple[Figure, dict[str | None, list[Any]]]:
    """One row of `columns` axes per clip, margins fixed in inches with room for a legend on
    the right (a fixed layout: constrained or tight layout cost seconds at 200 scenarios)."""
    top, bottom, gap, column_gap = 0.6, 0.55, 0.85, 0.75
    rows = len(clips)
    axes_h = height - gap
    fig_h = top + bottom + rows * axes_h + (rows - 1) * gap
    fig_w = width + _LEGEND_INCHES
    axes_w = (width - left - (columns - 1) * column_gap) / columns
    fig, axes = plt.subplots(rows, columns, figsize=(fig_w, fig_h), squeeze=False)
    fig.subplots_adjust(left=left / fig_w, right=(width - 0.1) / fig_w, top=1 - top / fig_h, bottom=bottom / fig_h,
                        hspace=gap / axes_h, wspace=column_gap / axes_w)
    fig.set_label("fixed")
    fig.suptitle(title, x=width / 2 / fig_w)
    return fig, {clip: list(axes[k]) for k, clip in enumerate(clips)}


def _clips(items: Sequence[Any]) -> list[str | None]:
    """The clips of `items` (each with a `clip`) in first-seen order."""
    return list(dict.fromkeys(item.clip for item in items))


def _legend_outside(fig: Figure, axes: Sequence[Any], title: str | None = None, handles: Sequence[Any] = ()) -> None:
    """One legend for the figure, right of the axes, each label once."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    for handle in handles:
        seen.setdefault(handle.get_label(), handle)
    if seen:
        right = fig.subplotpars.right if fig.get_label() == "fixed" else 0.99
        fig.legend(list(seen.values()), list(seen.keys()), loc="upper left", bbox_to_anchor=(right + 0.01, 0.97),
                   fontsize=8, title=title, title_fontsize=8, frameon=False)


def _log_rate_axis(ax: Any) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))  # 100, 200, 500, 1000...
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _clipped_err(values: Sequence[float], errors: Sequence[float | None]) -> list[list[float]] | None:
    """Asymmetric error bars that stop at 0 (an energy is never negative): [[lower], [upper]]."""
    if all(e is None for e in errors):
        return None
    return [[min(e or 0.0, v) for v, e in zip(values, errors, strict=True)], [e or 0.0 for e in errors]]


_MARKERS = "osD^v<>ph*"


def hull_chart(ladders: Sequence[Any]) -> Figure | None:
    """The signature chart: per clip, each encoder's rate-quality hull over resolutions
    (left) and the same encodes on energy against VMAF with the energy hull (right);
    markers by resolution, hull points filled, the rest hollow."""
    drawable = [lad for lad in ladders if len(lad.rungs) >= 2]
    if not drawable:
        return None
    clips = _clips(drawable)
    fig, facets = _facets("Convex hull over resolutions: which rung to keep for quality (left) and for joules "
                          "(right)", clips, columns=2, width=10.5, height=3.4)
    resolutions = sorted({r.resolution or "?" for lad in drawable for r in lad.rungs},
                         key=lambda res: (len(res), res))
    marker = {res: _MARKERS[k % len(_MARKERS)] for k, res in enumerate(resolutions)}
    colours = {label: f"C{k % 10}" for k, label in enumerate(dict.fromkeys(lad.label for lad in drawable))}
    for lad in drawable:
        left, right = facets[lad.clip]
        colour = colours[lad.label]
        for ax, xs_of, on_hull in ((left, lambda r: r.bitrate_bps / 1000, "on_rate_hull"),
                                   (right, lambda r: r.joules_per_video_second, "on_energy_hull")):
            rungs = [r for r in lad.rungs if xs_of(r) is not None]
            for res in resolutions:
                pts = [r for r in rungs if (r.resolution or "?") == res]
                if pts:
                    ax.scatter([xs_of(r) for r in pts], [r.vmaf for r in pts], marker=marker[res], s=22,
                               facecolors=[colour if getattr(r, on_hull) else "none" for r in pts],
                               edgecolors=colour, linewidths=0.8)
            hull = sorted((r for r in rungs if getattr(r, on_hull)), key=xs_of)
            ax.plot([xs_of(r) for r in hull], [r.vmaf for r in hull], color=colour, linewidth=1.6, label=lad.label)
    for clip, (left, right) in facets.items():
        _log_rate_axis(left)
        left.set_title(f"{clip_name(clip)}: VMAF against bitrate", fontsize=9)
        left.set_xlabel("bitrate (kb/s, log scale)")
        left.set_ylabel("VMAF (display size)")
        right.set_title(f"{clip_name(clip)}: VMAF against energy", fontsize=9)
        right.set_xlabel("energy per stream-second of video (J/s)")
        right.set_xlim(left=0)
    shapes = [matplotlib.lines.Line2D([], [], linestyle="none", marker=marker[res], markerfacecolor="none",
                                      markeredgecolor="k", label=res) for res in resolutions]
    _legend_outside(fig, fig.axes, "encoder (line: hull) · resolution", shapes)
    return fig


def _curve_styles(curves: Sequence[Curve]) -> dict[str, dict[str, Any]]:
    """Colour by encoder/preset, marker and dash by resolution: 20 curves stay apart with 10 colours."""
    encoders = list(dict.fromkeys((c.encoder, c.preset) for c in curves))
    resolutions = list(dict.fromkeys(c.resolution for c in curves))
    dashes = ("-", "--", "-.", ":")
    return {c.label: {"color": f"C{encoders.index((c.encoder, c.preset)) % 10}",
                      "marker": _MARKERS[resolutions.index(c.resolution) % len(_MARKERS)],
                      "linestyle": dashes[resolutions.index(c.resolution) % len(dashes)]} for c in curves}


def rd_chart(curves: Sequence[Curve], quality: str) -> Figure | None:
    """Quality (VMAF or PSNR) against bitrate, one facet per clip, one line per curve, log rate axis."""
    drawable = [c for c in curves if sum(1 for p in c.points if getattr(p, quality) is not None) >= 1]
    if not drawable:
        return None
    name = "VMAF" if quality == "vmaf" else "PSNR (dB)"
    measured = all(p.bitrate_measured for c in drawable for p in c.points)
    rate = "measured bitrate" if measured else "bitrate (some are targets, not measured)"
    fig, facets = _facets(f"Rate-distortion: {name.split(' ')[0]} against {rate}", _clips(drawable))
    styles = _curve_styles(drawable)
    for curve in drawable:
        ax = facets[curve.clip][0]
        pts = [(p.bitrate_bps / 1000, getattr(p, quality)) for p in curve.points if getattr(p, quality) is not None]
        ax.plot([x for x, _ in pts], [y for _, y in pts], markersize=3, linewidth=1, label=curve.label,
                **styles[curve.label])
    for clip, (ax,) in facets.items():
        _log_rate_axis(ax)
        ax.set_title(clip_name(clip), fontsize=9)
        ax.set_xlabel(f"{rate} per stream (kb/s, log scale)")
        ax.set_ylabel(name)
    _legend_outside(fig, fig.axes)
    return fig


def _group(row: Row) -> str:
    return f"{row.scenario.encoder}" + (f"/{row.scenario.preset}" if row.scenario.preset else "")


def quality_energy_chart(rows: Sequence[Row]) -> Figure | None:
    """VMAF against energy per stream per second of video, one facet per clip, error bars
    from repetitions (stopping at 0 J), the Pareto front of each clip drawn and its points ringed."""
    pts = [r for r in rows if r.scenario.vmaf is not None and r.joules_per_video_second is not None]
    if not pts:
        return None
    clips = list(dict.fromkeys(r.scenario.source_name for r in pts))
    fig, facets = _facets("Quality against energy (Pareto front: no other scenario is better on both)", clips)
    groups: dict[tuple[str | None, str], list[Row]] = {}
    for r in pts:
        groups.setdefault((r.scenario.source_name, _group(r)), []).append(r)
    colours = {label: f"C{k % 10}" for k, label in enumerate(dict.fromkeys(label for _, label in groups))}
    for (clip, label), members in groups.items():
        xs = [r.joules_per_video_second for r in members]
        facets[clip][0].errorbar(xs, [r.scenario.vmaf for r in members],
                                 xerr=_clipped_err(xs, [_ci_per_second(r) for r in members]), fmt="o", markersize=3,
                                 capsize=2, color=colours[label], label=label)
    kinds = sorted({r.energy_kind for r in pts})
    for clip, (ax,) in facets.items():
        front = pareto_front([(r.joules_per_video_second, r.scenario.vmaf, r.label) for r in pts
                              if r.scenario.source_name == clip])
        ax.plot([x for x, _, _ in front], [y for _, y, _ in front], "k--", linewidth=1, label="Pareto front")
        ax.scatter([x for x, _, _ in front], [y for _, y, _ in front], s=80, facecolors="none", edgecolors="k")
        ax.set_title(clip_name(clip), fontsize=9)
        ax.set_xlim(left=0)
        ax.set_xlabel(f"energy per stream per second of video (J/s; {', '.join(kinds)})")
        ax.set_ylabel("VMAF")
    _legend_outside(fig, fig.axes)
    return fig


def _ci_per_second(row: Row) -> float | None:
    s = row.scenario
    if row.energy_ci95 is None or not s.duration_seconds:
        return None
    return row.energy_ci95 / (s.duration_seconds * s.streams)


def energy_vmaf_chart(curves: Sequence[Curve], deltas: Sequence[Delta], method: str) -> Figure | None:
    """The (VMAF, joules) curves BD-energy integrates, one facet per clip: points, the
    interpolant, and the overlapping VMAF range of the clip's first BD-energy figure shaded."""
    drawable = [c for c in curves
                if sum(1 for p in c.points if p.vmaf is not None and p.joules_per_video_second) >= 2]
    if not drawable:
        return None
    import numpy as np
    from scipy.interpolate import Akima1DInterpolator, PchipInterpolator

    fig, facets = _facets(f"Energy against VMAF (the BD-energy curves, {method} interpolation)", _clips(drawable))
    styles = _curve_styles(drawable)
    for curve in drawable:
        ax = facets[curve.clip][0]
        style = styles[curve.label]
        pts = sorted((p.vmaf, p.joules_per_video_second) for p in curve.points
                     if p.vmaf is not None and p.joules_per_video_second)
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        ax.plot(xs, ys, linestyle="none", marker=style["marker"], markersize=3, color=style["color"],
                label=curve.label)
        if len(set(xs)) == len(xs) and len(xs) >= 3:
            interp = PchipInterpolator if method == "pchip" else Akima1DInterpolator
            grid = np.linspace(xs[0], xs[-1], 60)
            # the interpolant BD-energy integrates: log10(energy) as a function of VMAF
            ax.plot(grid, 10 ** interp(xs, np.log10(ys))(grid), color=style["color"], linestyle=style["linestyle"],
                    linewidth=1)
    for clip, (ax,) in facets.items():
        shown = [d for d in deltas if d.kind.startswith("BD-energy") and d.quality_range and d.clip == clip]
        if shown:
            low, high = shown[0].quality_range
            ax.axvspan(low, high, color="grey", alpha=0.12, label="overlap of the first pair")
        ax.set_title(clip_name(clip), fontsize=9)
        ax.set_xlabel("VMAF")
        ax.set_ylabel("energy per stream-second (J/s)")
    _legend_outside(fig, fig.axes)
    return fig


_MAX_BARS = 40
"""Above this many scenarios the energy chart is a strip per encoder, not a bar per scenario."""


def scenario_energy_chart(rows: Sequence[Row]) -> Figure | None:
    """Energy per scenario, coloured by what produced it, with 95 % CI bars (stopping at 0 J):
    a bar per scenario up to `_MAX_BARS`, else per clip a strip of points per encoder/preset."""
    pts = [r for r in rows if r.energy_joules is not None]
    if not pts:
        return None
    colours = [_KIND_COLOURS.get(r.energy_kind, "#7f7f7f") for r in pts]
    handles = [matplotlib.patches.Patch(color=_KIND_COLOURS[k], label=k) for k in _KIND_COLOURS
               if any(r.energy_kind == k for r in pts)]
    values = [r.energy_joules for r in pts]
    if len(pts) <= _MAX_BARS:
        fig, ax = plt.subplots(figsize=(_SIZE[0] + 1.2, max(2.5, 0.32 * len(pts) + 1.2)))
        fig.set_layout_engine("tight", rect=(0, 0, _SIZE[0] / (_SIZE[0] + 1.2), 1))
        ax.set_title("Energy per scenario (bars: 95 % CI over the repetitions)")
        ys = list(range(len(pts)))
        ax.barh(ys, values, xerr=_clipped_err(values, [r.energy_ci95 for r in pts]), capsize=3, color=colours)
        ax.set_yticks(ys, [r.label for r in pts])
        ax.invert_yaxis()
        ax.set_xlabel("energy (J)")
        fig.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
        return fig
    encodes = [r for r in pts if not r.scenario.is_baseline]
    baselines = [r for r in pts if r.scenario.is_baseline]
    clips = list(dict.fromkeys(r.scenario.source_name for r in encodes))
    fig, facets = _facets(f"Energy of the {len(encodes)} encodes, per encoder (bars: 95 % CI over the repetitions)",
                          clips, height=2.6, left=1.7)
    for clip, (ax,) in facets.items():
        members = [r for r in encodes if r.scenario.source_name == clip]
        groups = list(dict.fromkeys(_group(r) for r in members))
        for kind in _KIND_COLOURS:  # one artist per kind: 200 separate errorbars cost a second
            these = [r for r in members if r.energy_kind == kind]
            if not these:
                continue
            ys = [groups.index(_group(r)) + ((zlib.crc32(r.name.encode()) % 1000) / 1000 - 0.5) * 0.5  # same each run
                  for r in these]
            xs = [r.energy_joules for r in these]
            ax.errorbar(xs, ys, xerr=_clipped_err(xs, [r.energy_ci95 for r in these]), fmt="o", markersize=3,
                        color=_KIND_COLOURS[kind], elinewidth=0.8, linestyle="none")
        for base in baselines:
            ax.axvline(base.energy_joules, color="k", linestyle=":", linewidth=1, label=f"idle: {base.label}")
        ax.set_yticks(range(len(groups)), groups)
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_title(clip_name(clip), fontsize=9)
        ax.set_xlabel("energy (J)")
    _legend_outside(fig, fig.axes, "energy", handles)
    return fig


def power_chart(traces: Mapping[str, tuple[Sequence[float], Sequence[float]]], source: str,
                groups: Mapping[str, str] | None = None) -> Figure | None:
    """Power over time per scenario: `traces` maps a label to (seconds since start, watts).
    Beyond `_MAX_TRACES` traces the lines are coloured by `groups` (label -> encoder) and the
    legend names the groups, not the scenarios."""
    drawable = {k: v for k, v in traces.items() if len(v[0]) >= 2}
    if not drawable:
        return None
    fig, facets = _facets(f"Power over time per scenario ({source})", [None])
    ax = facets[None][0]
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
    _legend_outside(fig, [ax], f"{len(drawable)} scenarios by encoder" if by_group else None)
    return fig


_MAX_TRACES = 12


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
