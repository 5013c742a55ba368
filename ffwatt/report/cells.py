"""How the report's figures read, shared by the CSV, Markdown and HTML renderers.

Unknown is a dash, never 0. A figure made of modelled or simulated joules says so in its own
cell (" (estimated)", " (simulated)"): energy, power, cost, emissions, joules per second of
video, BD-energy and operating points alike. Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ffwatt.report.curve import AVERAGE, MIN_POINTS, Delta
from ffwatt.report.data import Row
from ffwatt.report.model import Report
from ffwatt.report.operating import OperatingPoint
from ffwatt.report.provenance import kind_note

__all__ = ["DASH", "num", "pm", "kbps", "two", "columns", "head", "source_text", "clip_text", "curve_text",
           "value_text", "delta_cells", "DELTA_HEADER", "no_delta_reason", "point_cells", "POINT_HEADER",
           "point_sentences", "pct", "yes_no"]

DASH = "–"


def num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude < 0.01:
        return f"{value:.{digits}g}"
    return f"{value:.{max(0, digits - 1 - int(math.floor(math.log10(magnitude))))}f}"


def pm(value: float | None, ci: float | None, digits: int = 3) -> str:
    if value is None:
        return DASH
    return num(value, digits) if ci is None else f"{num(value, digits)} ± {num(ci, 2)}"


def kbps(bps: float | None) -> float | None:
    return None if bps is None else bps / 1000.0


def two(value: float | None, sign: bool = True) -> str:
    """Two decimals, as the tables show every BD figure (full precision is in bd.csv)."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:+.2f}" if sign else f"{value:.2f}"


def pct(value: float | None) -> str:
    return DASH if value is None else f"{value:+.2f} %"


def yes_no(value: bool | None) -> str:
    return "unknown (no repetitions)" if value is None else ("yes" if value else "no")


def _joules(text: Callable[[Row], str]) -> Callable[[Row], str]:
    """A cell made of the row's joules: says "(estimated)" or "(simulated)" after a known figure."""
    return lambda r: (lambda t: t if t == DASH else t + kind_note(r.energy_kind))(text(r))


# (header, unit, value for the CSV, text for the tables)
def columns(currency: str) -> list[tuple[str, str, Any, Any]]:
    def stats(row: Row, metric: str, part: str) -> float | None:
        q = getattr(row.scenario, metric + "_stats")
        return None if q is None else getattr(q, part)

    return [
        ("bitrate", "kb/s", lambda r: kbps(r.bitrate_bps),
         lambda r: num(kbps(r.bitrate_bps)) + ("" if r.bitrate_measured or r.bitrate_bps is None else " (target)")),
        ("energy", "J", lambda r: r.energy_joules, _joules(lambda r: pm(r.energy_joules, r.energy_ci95))),
        ("energy CI95", "J", lambda r: r.energy_ci95, None),
        ("machine energy", "J", lambda r: r.machine_energy_joules, _joules(lambda r: num(r.machine_energy_joules))),
        ("energy attribution", "", lambda r: r.energy_attribution, lambda r: r.energy_attribution or DASH),
        ("energy source", "", lambda r: r.energy_source, lambda r: source_text(r)),
        ("net energy", "J", lambda r: r.net_energy_joules, _joules(lambda r: num(r.net_energy_joules))),
        ("mean power", "W", lambda r: r.mean_power_watts, _joules(lambda r: num(r.mean_power_watts))),
        ("net power", "W", lambda r: r.net_power_watts, _joules(lambda r: num(r.net_power_watts))),
        ("core-seconds", "core-s", lambda r: r.core_seconds, lambda r: num(r.core_seconds)),
        ("VMAF", "", lambda r: r.scenario.vmaf, lambda r: num(r.scenario.vmaf)),
        ("VMAF harmonic mean", "", lambda r: stats(r, "vmaf", "harmonic_mean"),
         lambda r: num(stats(r, "vmaf", "harmonic_mean"))),
        ("VMAF min", "", lambda r: stats(r, "vmaf", "min"), lambda r: num(stats(r, "vmaf", "min"))),
        ("PSNR", "dB", lambda r: r.scenario.psnr, lambda r: num(r.scenario.psnr)),
        ("SSIM", "", lambda r: r.scenario.ssim, lambda r: num(r.scenario.ssim, 4)),
        ("fps", "frames/s", lambda r: r.scenario.avg_fps, lambda r: pm(r.scenario.avg_fps, r.scenario.fps_ci95)),
        ("fps CI95", "frames/s", lambda r: r.scenario.fps_ci95, None),
        ("speed", "x", lambda r: r.scenario.speed, lambda r: num(r.scenario.speed)),
        ("dropped frames", "", lambda r: r.scenario.dropped_frames,
         lambda r: DASH if r.scenario.dropped_frames is None else str(r.scenario.dropped_frames)),
        ("energy cost", currency, lambda r: r.energy_cost, _joules(lambda r: num(r.energy_cost))),
        ("compute cost", currency, lambda r: r.compute_cost, lambda r: num(r.compute_cost)),
        ("total cost", currency, lambda r: r.total_cost, _joules(lambda r: num(r.total_cost))),
        ("emissions", "g CO2e", lambda r: r.emissions_grams, _joules(lambda r: num(r.emissions_grams))),
        ("cost per viewer-hour", currency, lambda r: r.cost_per_viewer_hour,
         _joules(lambda r: num(r.cost_per_viewer_hour))),
        ("emissions per viewer-hour", "g CO2e", lambda r: r.emissions_per_viewer_hour,
         _joules(lambda r: num(r.emissions_per_viewer_hour))),
        ("energy per stream-second of video", "J/s", lambda r: r.joules_per_video_second,
         _joules(lambda r: num(r.joules_per_video_second))),
    ]


def head(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


def source_text(row: Row) -> str:
    if row.energy_source is None:
        return "none"
    return f"{row.energy_source} ({row.energy_kind})"


def clip_text(d: Delta | OperatingPoint) -> str:
    if d.clip == AVERAGE:
        what = f"class {d.clip_class}" if d.clip_class else "all"
        return f"average of {d.clips} clips ({what})" if d.clips != 1 else f"average of 1 clip ({what})"
    return (d.clip or "(unnamed)") + (f" (class {d.clip_class})" if d.clip_class else "")


def curve_text(d: Delta) -> str:
    """Which curves a figure compares: the hulls, a lower rung, or the clip at its own size."""
    if d.hull:
        return "convex hull"
    if d.rung:
        return f"rung {d.rung}"
    if d.clip == AVERAGE:
        return "each at its own size"
    return f"own size ({d.resolution})" if d.resolution else "own size"


def _estimated(d: Delta) -> str:
    """" (estimated)" after a BD-energy made of modelled joules."""
    return f" ({d.energy_kind})" if d.energy_kind else ""


def value_text(d: Delta) -> str:
    if d.refused:
        return "refused"
    text = f"{two(d.value)} {d.unit}"
    if d.ci95 is not None:
        text += f" ± {two(d.ci95, sign=False)}"
    return text + _estimated(d)


DELTA_HEADER = ["clip", "curves", "figure", "anchor", "test", "difference (test vs anchor)",
                "per stream-second of video", "overlap (share of the shorter curve)", "note or reason"]


def delta_cells(d: Delta) -> list[str]:
    if d.refused:
        return [clip_text(d), curve_text(d), d.kind, d.anchor, d.test, "refused", DASH, DASH, d.refused]
    linear = DASH
    if d.kind.startswith(("BD-energy", "BD-CPU")) and d.linear is not None:
        unit = "core-s/s" if d.kind.startswith("BD-CPU") else "J/s"
        linear = f"{two(d.linear)} {unit}" + (f" ± {two(d.ci95_linear, sign=False)}" if d.ci95_linear is not None
                                              else "") + _estimated(d)
    overlap = DASH
    if d.quality_range and d.overlap is not None:
        low, high = d.quality_range
        axis = "kb/s" if d.kind in ("BD-PSNR", "BD-VMAF") else ""
        scale = 1000 if axis else 1
        overlap = f"{low / scale:.4g}–{high / scale:.4g}{' ' + axis if axis else ''} ({d.overlap:.0%})"
    elif d.overlap is not None:
        overlap = f"{d.overlap:.0%} (smallest)"
    notes = [f"mean of {d.repetitions} per-repetition values" if d.repetitions else "", d.caution or ""]
    return [clip_text(d), curve_text(d), d.kind, d.anchor, d.test, value_text(d), linear, overlap,
            "; ".join(n for n in notes if n)]


def no_delta_reason(report: Report) -> str:
    if report.anchor is not None and len(report.curves) >= 2:
        return f"No BD figures: no curve shares a clip and a resolution with the anchor's ({report.anchor.label})."
    if len(report.curves) < 2:
        return (f"No BD figures: they compare two rate-distortion curves (an encoder/preset at {MIN_POINTS} or more "
                f"bitrates each on the same source); this input has {len(report.curves)} curve(s).")
    return "No BD figures: the curves are at different resolutions (not the same source)."


POINT_HEADER = ["target", "clip", "encoder", "curve", "bitrate (kb/s)", "bitrate vs anchor",
                "energy per stream-second (J/s)", "energy vs anchor", "not given"]


def point_cells(p: OperatingPoint) -> list[str]:
    energy = DASH if p.energy_j_per_s is None else num(p.energy_j_per_s) + _kind_of(p.energy_source)
    return [str(p.target), clip_text(p), p.encoder, p.curve or DASH, num(kbps(p.bitrate_bps)),
            pct(p.bitrate_vs_anchor), energy, pct(p.energy_vs_anchor),
            "; ".join(why for why in (p.refused, p.vs_anchor_missing) if why)]


def _kind_of(source: str | None) -> str:
    """" (estimated)" for a source text like "model (estimated)"."""
    for kind in ("estimated", "simulated"):
        if source and f"({kind})" in source:
            return f" ({kind})"
    return ""


def _more_less(value: float, what: str) -> str:
    return f"{abs(value):.1f} % {'less' if value < 0 else 'more'} {what}"


def point_sentences(report: Report) -> list[str]:
    """"To deliver VMAF 93 on this corpus, B needs X % less bitrate and Y % more joules than A": per
    target and test encoder, from the average over clips (or the one clip)."""
    if report.anchor is None:
        return []
    anchor = report.anchor.label
    several = any(p.clip == AVERAGE for p in report.points)
    out = []
    for p in report.points:
        if p.encoder == anchor or (several and p.clip != AVERAGE):
            continue
        where = f"on this corpus ({p.clips} clips, mean of the per-clip differences)" if several else \
            f"on {p.clip or 'the (unnamed) clip'}"
        parts = [_more_less(value, what) + note for value, what, note in (
            (p.bitrate_vs_anchor, "bitrate", ""),
            (p.energy_vs_anchor, "joules per second of video", _kind_of(p.energy_source))) if value is not None]
        unknown = "; ".join(why for why in (p.refused, p.vs_anchor_missing) if why)
        if not parts:
            out.append(f"{p.target} {where}: no comparison of {p.encoder} with {anchor} ({unknown}).")
            continue
        out.append(f"To deliver {p.target} {where}, {p.encoder} needs {' and '.join(parts)} than {anchor}"
                   + (f" ({unknown})" if unknown else "") + ".")
    return out
