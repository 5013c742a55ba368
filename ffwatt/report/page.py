"""`report.html`: one self-contained page (inline CSS, charts as `data:image/png;base64`, no script),
so it opens from disk with no network.

Top first: the incomplete scenarios (named, with their frames, left out of every curve), the
Bjøntegaard table per clip, rung, hull and average against the anchor, then what a target
quality costs (operating points), then the convex hull; the environment comes last.
Pure functions of a `report.model.Report`; standard library only.
"""

from __future__ import annotations

from ffwatt.report.cells import (
    DASH,
    POINT_HEADER,
    clip_text,
    curve_text,
    no_delta_reason,
    num,
    point_cells,
    point_sentences,
    two,
)
from ffwatt.report.curve import AVERAGE, KINDS, Delta, base_kind
from ffwatt.report.model import Report
from ffwatt.report.page_parts import (
    CSS,
    METHOD,
    all_figures,
    comparison,
    e,
    environment,
    figure_html,
    pareto,
    provenance,
    scenario_table,
    settings,
    sweeps,
    table_wrapped,
)
from ffwatt.report.provenance import kind_note

__all__ = ["render_html"]


def _incomplete(report: Report) -> str:
    if not report.incomplete:
        return ""
    body = [[e(r.label), e(r.scenario.source_name or "(unnamed)"), e(r.scenario.expected_frames or DASH),
             e(r.scenario.total_frames if r.scenario.total_frames is not None else DASH),
             e(num(r.scenario.media_seconds)), e(num(r.scenario.duration_seconds))] for r in report.incomplete]
    return ('<div class="incomplete"><h2>Incomplete scenarios</h2><p>These encodes got fewer frames than their '
            "source should give (a truncated file): they are left out of every curve, hull, BD figure and operating "
            "point. Their energy per second of video divides by the media time really encoded.</p>"
            + table_wrapped(["scenario", "clip", "expected frames", "got frames", "video encoded (s)", "asked (s)"],
                            body, left=2, wrap=(0,)) + "</div>")


def _anchor_sentence(report: Report) -> str:
    a = report.anchor
    if a is None:
        return ""
    how = (f"{e(a.chosen)}; choose another with <code>--anchor ENCODER[/PRESET]</code>" if a.default
           else f"<code>{e(a.chosen)}</code>")
    clips = sorted({d.clip or "(unnamed)" for d in report.deltas if d.clip != AVERAGE})
    return (f'<p class="anchor">Anchor: <b>{e(a.label)}</b> ({how}). Clips: {e(", ".join(clips) or DASH)}. '
            f"Interpolation: {e(report.options.method)}; curves compared when they overlap on at least "
            f"{report.options.min_overlap:.0%} of the shorter curve's range. Negative BD-rate, BD-energy, "
            "BD-CPU-time: the test needs less than the anchor at equal quality; positive BD-PSNR, BD-VMAF: the test "
            'is better at equal bitrate. Two decimals here; every figure at full precision in <a href="bd.csv">'
            "bd.csv</a>.</p>")


_HEADER = ["test", "clip", "curves", "BD-rate VMAF (%)", "BD-rate PSNR (%)", "BD-PSNR (dB)", "BD-VMAF (points)",
           "BD-energy (%)", "BD-CPU-time (%)"]


def _headline(report: Report) -> str:
    """One row per (test, curves, clip or average), in the figures' order; one column per figure (a
    hull figure in its per-size figure's column); a refusal shows a numbered reason under the table."""
    if not report.deltas:
        return f"<p>{e(no_delta_reason(report))}</p>"
    rows: dict[tuple, dict[str, Delta]] = {}
    for d in report.deltas:  # already in figure order: rows keep it
        rows.setdefault((d.test, d.hull, d.rung, d.clip, d.clip_class), {})[base_kind(d.kind)] = d
    reasons: list[str] = []
    body, classes = [], []
    for figures in rows.values():
        first = next(iter(figures.values()))
        cells = [e(first.test).replace("/", "/<wbr>"), e(clip_text(first)), e(curve_text(first))]
        for kind in KINDS:
            d = figures.get(kind)
            if d is None:
                cells.append(DASH)
            elif d.refused:
                cells.append(_numbered(reasons, d.refused).replace(">[", ">refused ["))
            else:
                text = two(d.value) + (f" ± {two(d.ci95, sign=False)}" if d.ci95 is not None else "")
                cells.append(e(text) + (f'<br><span class="{d.energy_kind}">{e(d.energy_kind)}</span>'
                                        if d.energy_kind else ""))
        body.append(cells)
        classes.append("average" if first.clip == AVERAGE else "")
    foot = _reasons(reasons)
    cautions = sorted({d.caution for d in report.deltas if d.caution and not d.refused and not d.energy_kind})
    if cautions:
        foot += '<p class="note">Note: ' + e("; ".join(cautions)) + ".</p>"
    if any(d.energy_kind for d in report.deltas):
        foot += "".join(f'<p class="note estimated">{e(line)}</p>' for line in report.model_notes)
    return (_anchor_sentence(report) + table_wrapped(_HEADER, body, left=3, wrap=(), cls="headline",
                                                     row_classes=classes) + foot)


def _numbered(reasons: list[str], reason: str | None) -> str:
    """A refusal as a numbered note ("[2]"), its text listed once under the table."""
    if not reason:
        return ""
    if reason not in reasons:
        reasons.append(reason)
    return f'<span class="refused">[{reasons.index(reason) + 1}]</span>'


def _reasons(reasons: list[str], title: str = "Refused") -> str:
    if not reasons:
        return ""
    return f'<p class="note">{e(title)}:</p><ol class="reasons">' + "".join(f"<li>{e(r)}</li>" for r in reasons) \
        + "</ol>"


def _points(report: Report) -> str:
    if not report.points:
        return ""
    verdict = "".join(f"<li>{e(line)}</li>" for line in point_sentences(report))
    reasons: list[str] = []
    body = []
    for p in report.points:
        cells = [e(c) for c in point_cells(p)]
        cells[2] = cells[2].replace("/", "/<wbr>")
        if report.anchor is not None and p.encoder == report.anchor.label:
            cells[5] = cells[7] = "anchor"
        cells[8] = _numbered(reasons, cells[8] and point_cells(p)[8])
        body.append(cells)
    return ("<h2>What a target quality costs</h2>"
            f'<ul class="verdict">{verdict}</ul>'
            "<p class=\"note\">Per clip and encoder, the bitrate and the energy per stream-second of video needed to "
            "reach each target, interpolated on the clip's curve (its convex hulls where it was encoded at several "
            "sizes) as the BD figures interpolate, refused outside the quality range measured; against the anchor "
            'in percent. Every figure at full precision in <a href="operating_points.csv">operating_points.csv</a>.'
            "</p>"
            + table_wrapped(POINT_HEADER, body, left=4, wrap=(), cls="points",
                            row_classes=["average" if p.clip == AVERAGE else "" for p in report.points])
            + _reasons(reasons, "Not given or not compared"))


def _hull_table(report: Report) -> str:
    """Per clip and encoder: the rungs on the rate hull (keep for quality) and on the energy hull (keep for joules)."""
    def rung(r) -> str:
        energy = ("" if r.joules_per_video_second is None
                  else f", {num(r.joules_per_video_second)} J/s{kind_note(r.energy_kind)}")
        return f"{r.resolution or '?'} {num(r.bitrate_bps / 1000)} kb/s: VMAF {r.vmaf:.2f}{energy}"

    body = []
    for lad in report.ladders:
        if not lad.over_sizes:
            continue
        quality = [rung(r) for r in lad.rungs if r.on_rate_hull]
        joules = [rung(r) for r in sorted((r for r in lad.rungs if r.on_energy_hull),
                                          key=lambda r: r.joules_per_video_second or 0.0)]
        both = sum(1 for r in lad.rungs if r.on_rate_hull and r.on_energy_hull)
        body.append([e(lad.clip or "(unnamed)"), e(lad.label).replace("/", "/<wbr>"),
                     f"{len(lad.rungs)} at {len(lad.resolutions)} sizes", "<br>".join(e(q) for q in quality),
                     "<br>".join(e(j) for j in joules) or DASH, f"{both} of {len(quality)}"])
    if not body:
        return ""
    return table_wrapped(["clip", "encoder", "encodes", "keep for quality (rate hull)",
                          "keep for joules (energy hull)", "on both hulls"], body, left=2, wrap=(1, 2, 3, 4))


def render_html(report: Report) -> str:
    """The self-contained report page."""
    charts = {c.name: c for c in report.charts}

    def figs(*names: str) -> str:
        return "".join(figure_html(charts[n]) for n in names if n in charts)

    capacity = [c for c in report.charts if c.name.startswith("capacity")]
    missing = notes = ""
    if report.missing_charts:
        missing = ("<h2>Charts left out</h2><ul class=\"note\">"
                   + "".join(f"<li>{e(t)}: {e(why)}</li>" for t, why in report.missing_charts) + "</ul>")
    if report.notes:
        notes = "<h2>Notes</h2><ul class=\"note\">" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>"
    sections = [
        f"<h1>{e(report.options.title)}</h1>",
        "<p class=\"note\">Made by <code>ffwatt report</code> from "
        + e(", ".join(r.run.path.name for r in report.runs)) + ". Self-contained: opens from disk. Environment and "
        "settings are at the end.</p>",
        _incomplete(report),
        "<h2>Bjøntegaard deltas against the anchor, per clip and averaged</h2>", _headline(report),
        _points(report),
        "<h2>Convex hull over resolutions, with energy</h2>", figs("hull"), _hull_table(report),
        "<h2>Rate-distortion</h2>", figs("rd_vmaf", "rd_psnr"),
        "<h2>Quality against energy</h2>", pareto(report), figs("quality_energy", "energy_vmaf"),
        "<h2>All BD figures</h2>", all_figures(report),
        "<h2>What was measured and what was modelled</h2>", provenance(report),
        "<h2>Scenarios</h2>", scenario_table(report), figs("scenario_energy"),
    ]
    if capacity or any(r.sweeps for r in report.runs):
        sections += ["<h2>Capacity sweep</h2>", sweeps(report), "".join(figure_html(c) for c in capacity)]
    sections += ["<h2>Power over time</h2>", figs("power"), comparison(report), figs("compare_energy"),
                 "<h2>Environment and settings</h2>", environment(report), "<h3>Report settings</h3>",
                 settings(report), missing, notes, METHOD]
    body = "\n".join(s for s in sections if s)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
            f"<title>{e(report.options.title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n")
