"""The report's charts, drawn with matplotlib (Agg, no display) and written as PNG and SVG.

Each `*_chart` function returns a matplotlib `Figure`, or `None` when the input has
nothing to draw (the report then says why the chart is missing). `save` writes the
figure as `<name>.png` and `<name>.svg` and returns a `Chart` whose PNG bytes the HTML
embeds as a data URI. Output is deterministic: no dates in the metadata, a fixed SVG
hash salt. Text is never parsed as mathtext (`text.parse_math`): a name like
`$\\undefinedmacro$` is shown as written. This module: the shared layout and the rate charts;
`report.energy_charts`: the energy charts.
"""

from __future__ import annotations

from collections.abc import Sequence
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

from ffwatt.report.curve import Curve  # noqa: E402
from ffwatt.report.files import exclusive_file  # noqa: E402
from ffwatt.report.provenance import kinds_note  # noqa: E402

__all__ = ["Chart", "save", "figure", "clip_name", "facets", "clips_of", "legend_outside", "clipped_err", "curve_styles",
           "style_key", "energy_label", "hull_chart", "rd_chart", "SIZE", "KIND_COLOURS"]

matplotlib.rcParams.update({
    "text.parse_math": False,  # names and presets are text: "$\x$" would be mathtext, and crash the report
    "svg.hashsalt": "ffwatt",
    "svg.fonttype": "none",  # text stays text: smaller files, a third faster to write
    "figure.dpi": 100,
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
})
SIZE = (7.0, 4.2)
KIND_COLOURS = {"measured": "#1f77b4", "estimated": "#ff7f0e", "simulated": "#9467bd", "none": "#7f7f7f"}


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
    """Write `fig` as PNG and SVG under `out_dir` (`report.files.exclusive_file`) and close it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None and fig.get_label() != "fixed":
        fig.set_layout_engine("tight")
    paths = {}
    for ext, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
        # zlib level 1: a third less time than the default 6 for 5 % more bytes
        options = {"pil_kwargs": {"compress_level": 1}} if ext == "png" else {}
        with exclusive_file(out_dir, f"{name}.{ext}") as f:
            fig.savefig(f, format=ext, metadata=metadata, **options)
        paths[ext] = out_dir / f"{name}.{ext}"
    plt.close(fig)
    return Chart(name, title, paths["png"], paths["svg"], paths["png"].read_bytes(), caption)


def figure(title: str) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=SIZE)
    ax.set_title(title)
    return fig, ax


def clip_name(clip: str | None) -> str:
    return clip if clip else "(unnamed clip)"


_LEGEND_INCHES = 2.4
"""Room right of the axes for the figure's legend."""


def facets(title: str, clips: Sequence[str | None], columns: int = 1, width: float = SIZE[0],
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


def clips_of(items: Sequence[Any]) -> list[str | None]:
    """The clips of `items` (each with a `clip`) in first-seen order."""
    return list(dict.fromkeys(item.clip for item in items))


def legend_outside(fig: Figure, axes: Sequence[Any], title: str | None = None, handles: Sequence[Any] = ()) -> None:
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


def energy_label(what: str, unit: str, kinds: Sequence[str | None]) -> str:
    """An energy axis's label, saying when its joules are estimated or simulated: "energy (J, estimated)"."""
    note = kinds_note(kinds)
    return f"{what} ({unit}{', ' + note[2:-1] if note else ''})"


def _log_rate_axis(ax: Any) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))  # 100, 200, 500, 1000...
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def clipped_err(values: Sequence[float], errors: Sequence[float | None]) -> list[list[float]] | None:
    """Asymmetric error bars that stop at 0 (an energy is never negative): [[lower], [upper]]."""
    if all(e is None for e in errors):
        return None
    return [[min(e or 0.0, v) for v, e in zip(values, errors, strict=True)], [e or 0.0 for e in errors]]


_MARKERS = "osD^v<>ph*"


def hull_chart(ladders: Sequence[Any]) -> Figure | None:
    """The signature chart: per clip, each encoder's rate-quality hull over resolutions
    (left) and the same encodes on energy against VMAF with the energy hull (right);
    markers by resolution, hull points filled, the rest hollow. Ladders over two or more sizes only."""
    drawable = [lad for lad in ladders if lad.over_sizes]
    if not drawable:
        return None
    clips = clips_of(drawable)
    fig, panels = facets("Convex hull over resolutions: which rung to keep for quality (left) and for joules "
                          "(right)", clips, columns=2, width=10.5, height=3.4)
    resolutions = sorted({r.resolution or "?" for lad in drawable for r in lad.rungs},
                         key=lambda res: (len(res), res))
    marker = {res: _MARKERS[k % len(_MARKERS)] for k, res in enumerate(resolutions)}
    colours = {label: f"C{k % 10}" for k, label in enumerate(dict.fromkeys(lad.label for lad in drawable))}
    for lad in drawable:
        left, right = panels[lad.clip]
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
    kinds = [r.energy_kind for lad in drawable for r in lad.rungs if r.joules_per_video_second is not None]
    for clip, (left, right) in panels.items():
        _log_rate_axis(left)
        left.set_title(f"{clip_name(clip)}: VMAF against bitrate", fontsize=9)
        left.set_xlabel("bitrate (kb/s, log scale)")
        left.set_ylabel("VMAF (display size)")
        right.set_title(f"{clip_name(clip)}: VMAF against energy", fontsize=9)
        right.set_xlabel(energy_label("energy per stream-second of video", "J/s", kinds))
        right.set_xlim(left=0)
    shapes = [matplotlib.lines.Line2D([], [], linestyle="none", marker=marker[res], markerfacecolor="none",
                                      markeredgecolor="k", label=res) for res in resolutions]
    legend_outside(fig, fig.axes, "encoder (line: hull) · resolution", shapes)
    return fig


def curve_styles(curves: Sequence[Curve]) -> dict[tuple[str, str | None, str | None], dict[str, Any]]:
    """(encoder, preset, size) -> colour by encoder/preset, marker and dash by size: 20 curves stay
    apart with 10 colours."""
    encoders = list(dict.fromkeys((c.encoder, c.preset) for c in curves))
    resolutions = list(dict.fromkeys(c.resolution for c in curves))
    dashes = ("-", "--", "-.", ":")
    return {style_key(c): {"color": f"C{encoders.index((c.encoder, c.preset)) % 10}",
                           "marker": _MARKERS[resolutions.index(c.resolution) % len(_MARKERS)],
                           "linestyle": dashes[resolutions.index(c.resolution) % len(dashes)]} for c in curves}


def style_key(curve: Curve) -> tuple[str, str | None, str | None]:
    return curve.encoder, curve.preset, curve.resolution


def rd_chart(curves: Sequence[Curve], quality: str) -> Figure | None:
    """Quality (VMAF or PSNR) against bitrate, one facet per clip, one line per curve, log rate axis."""
    drawable = [c for c in curves if sum(1 for p in c.points if getattr(p, quality) is not None) >= 1]
    if not drawable:
        return None
    name = "VMAF" if quality == "vmaf" else "PSNR (dB)"
    measured = all(p.bitrate_measured for c in drawable for p in c.points)
    rate = "measured bitrate" if measured else "bitrate (some are targets, not measured)"
    fig, panels = facets(f"Rate-distortion: {name.split(' ')[0]} against {rate}", clips_of(drawable))
    styles = curve_styles(drawable)
    for curve in drawable:
        ax = panels[curve.clip][0]
        pts = [(p.bitrate_bps / 1000, getattr(p, quality)) for p in curve.points if getattr(p, quality) is not None]
        ax.plot([x for x, _ in pts], [y for _, y in pts], markersize=3, linewidth=1, label=curve.display,
                **styles[style_key(curve)])
    for clip, (ax,) in panels.items():
        _log_rate_axis(ax)
        ax.set_title(clip_name(clip), fontsize=9)
        ax.set_xlabel(f"{rate} per stream (kb/s, log scale)")
        ax.set_ylabel(name)
    legend_outside(fig, fig.axes)
    return fig


