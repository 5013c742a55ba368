"""The report page's building blocks and its detail sections (below the headline tables).

`report.page` assembles the page; this module escapes and lays out tables and charts and writes
the sections a reader scrolls to: every BD figure and its curves, the Pareto fronts, what was
measured and what modelled, the scenario table, sweeps, the baseline comparison, the
environment and the report's settings. Standard library only; every text is escaped.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from typing import Any

from ffwatt.report.cells import DASH, columns, delta_cells, head, no_delta_reason, num, pct, yes_no
from ffwatt.report.curve import encoder_label
from ffwatt.report.data import pareto_front
from ffwatt.report.model import Report
from ffwatt.report.provenance import KIND_MEANING, kind_note

__all__ = ["CSS", "e", "table", "table_wrapped", "figure_html", "all_figures", "pareto", "sweeps", "comparison",
           "environment", "settings", "provenance", "scenario_table", "METHOD"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;
color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.2rem .45rem;text-align:right;vertical-align:top}
td{white-space:nowrap}
th{background:#f4f4f4}td.l,th.l{text-align:left}
td.wrap,th.wrap{white-space:normal;min-width:5rem;text-align:left;overflow-wrap:break-word}
.wide{overflow-x:auto;max-width:100%}
table.headline td,table.points td{font-variant-numeric:tabular-nums}
table.headline th,table.headline td,table.points th,table.points td{white-space:normal;overflow-wrap:break-word}
tr.average td{font-weight:600;background:#fafafa}
table.figures th{white-space:normal}table.figures td.wrap{min-width:4rem}
ol.reasons{font-size:.85rem;color:#444;overflow-wrap:anywhere}
.anchor{font-size:.95rem}
.incomplete{border-left:4px solid #a00;padding-left:.6rem}
ul.verdict{font-size:.95rem}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#444}
.estimated{color:#b35900}.simulated{color:#6a3d9a}.none{color:#777}.refused{color:#a00}
.note{font-size:.85rem;color:#444;overflow-wrap:anywhere}
code{background:#f4f4f4;padding:0 .2rem}
"""


def e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def table(header: Sequence[str], body: Iterable[Sequence[str]], left: int = 1, raw: bool = False) -> str:
    """An HTML table; the first `left` columns are left-aligned. Cells are escaped unless `raw`."""
    heads = "".join(f'<th class="l">{e(h)}</th>' if i < left else f"<th>{e(h)}</th>" for i, h in enumerate(header))
    rows = []
    for cells in body:
        tds = [(f'<td class="l">{c if raw else e(c)}</td>' if i < left else f"<td>{c if raw else e(c)}</td>")
               for i, c in enumerate(cells)]
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return f'<div class="wide"><table><thead><tr>{heads}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def table_wrapped(header: Sequence[str], body: Iterable[Sequence[str]], left: int, wrap: Sequence[int],
                  cls: str = "", row_classes: Sequence[str] | None = None) -> str:
    """An HTML table of already-escaped cells whose `wrap` columns wrap (never clipped by the layout)."""
    def cell(tag: str, i: int, content: str) -> str:
        klass = "wrap" if i in wrap else ("l" if i < left else "")
        return f'<{tag} class="{klass}">{content}</{tag}>' if klass else f"<{tag}>{content}</{tag}>"

    heads = "".join(cell("th", i, e(h)) for i, h in enumerate(header))
    rows = []
    for k, cells in enumerate(body):
        klass = f' class="{row_classes[k]}"' if row_classes and row_classes[k] else ""
        rows.append(f"<tr{klass}>" + "".join(cell("td", i, c) for i, c in enumerate(cells)) + "</tr>")
    table_class = f' class="{cls}"' if cls else ""
    return (f'<div class="wide"><table{table_class}><thead><tr>{heads}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table></div>")


def figure_html(chart) -> str:
    data = base64.b64encode(chart.png_bytes).decode("ascii")
    return (f'<figure id="chart-{e(chart.name)}" class="chart"><img src="data:image/png;base64,{data}" '
            f'alt="{e(chart.title)}" data-chart="{e(chart.name)}">'
            f"<figcaption><b>{e(chart.title)}.</b> {e(chart.caption)} Files: "
            f'<a href="{e(chart.png.name)}">{e(chart.png.name)}</a>, '
            f'<a href="{e(chart.svg.name)}">{e(chart.svg.name)}</a>.</figcaption></figure>')


def all_figures(report: Report) -> str:
    """Every BD figure with its overlap and notes, and the curves they come from."""
    if not report.deltas:
        return f"<p>{e(no_delta_reason(report))}</p>"
    body = []
    for d in report.deltas:
        clip, curve, kind, anchor, test, value, linear, overlap, note = (e(c) for c in delta_cells(d))
        if d.refused:
            value = f'<span class="refused">{value}</span>'
        elif linear != DASH:
            value += f"<br>{linear}"
        pair = test.replace("/", "/<wbr>") + " <i>vs</i> " + anchor.replace("/", "/<wbr>")
        body.append([f"{clip}<br>{curve}", kind, pair, value, overlap, note])
    curves = table_wrapped(["clip", "curve", "size", "points", "bitrates (kb/s)", "VMAF"],
                           [[e(c.clip or "(unnamed)"), e(c.label), e(c.resolution or DASH), str(len(c.points)),
                             e(", ".join(num(p.bitrate_bps / 1000) for p in c.points)
                               + ("" if all(p.bitrate_measured for p in c.points) else " (targets)")),
                             e(", ".join(num(p.vmaf) for p in c.points))] for c in report.curves],
                           left=3, wrap=(4, 5))
    return ("<p>Every figure, per clip and averaged over clips (PyPI <code>bjontegaard</code>). The energy "
            "counterpart is computed on (VMAF, joules per stream per second of video) curves the same way; with "
            "repetitions at every point it is recomputed per repetition and shown as mean ± 95 % CI.</p>"
            + table_wrapped(["clip, curves", "figure", "test vs anchor", "difference (per stream-second of video)",
                             "overlap (share of the shorter curve)", "note or reason"], body, left=3,
                            wrap=(0, 1, 2, 4, 5), cls="figures")
            + "<h3>Curves</h3>" + curves)


def pareto(report: Report) -> str:
    """The Pareto front of each clip (scenarios of different clips do not compete; incomplete ones do not enter)."""
    clips: dict[str | None, list[tuple[float, float, str]]] = {}
    kinds = {r.label: r.energy_kind for r in report.rows}
    for r in report.rows:
        if r.joules_per_video_second is not None and r.scenario.vmaf is not None and not r.incomplete:
            clips.setdefault(r.scenario.source_name, []).append((r.joules_per_video_second, r.scenario.vmaf, r.label))
    if not clips:
        return ""
    items = []
    for clip, pts in clips.items():
        front = ", ".join(f"{label} ({q:.1f} VMAF, {j:.3g} J/s{kind_note(kinds[label])})"
                          for j, q, label in pareto_front(pts))
        items.append(f"<li>{e(clip or '(unnamed clip)') + ': ' if len(clips) > 1 else ''}{e(front)}</li>")
    return ("<p>Pareto front (least energy for the quality; no other scenario of the clip has both less energy and "
            'higher VMAF):</p><ul class="note">' + "".join(items) + "</ul>")


def _f(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def sweeps(report: Report) -> str:
    parts = []
    for r in report.runs:
        for sweep in r.sweeps:
            steps = sorted((s for s in sweep.get("steps", []) if isinstance(s, dict)),
                           key=lambda s: s.get("streams") if isinstance(s.get("streams"), (int, float)) else 0)
            body = [[str(s.get("streams", DASH)), str(s.get("scenario", DASH)),
                     {True: "yes", False: "no"}.get(s.get("held_real_time"), DASH),
                     num(_f(s.get("energy_joules"))), num(_f(s.get("net_power_watts"))),
                     num(_f(s.get("min_speed"))), num(_f(s.get("vmaf")))] for s in steps]
            parts.append(f"<h3>{e(sweep.get('name', ''))}</h3><p>Knee: <b>{e(sweep.get('knee_streams', DASH))}"
                         f"</b> streams; marginal energy per extra stream: "
                         f"<b>{e(num(_f(sweep.get('marginal_joules_per_stream'))))} J</b>.</p>"
                         + table(["streams", "scenario", "held real time", "energy (J)", "net power (W)",
                                  "slowest speed", "VMAF"], body, left=2))
    return "".join(parts)


def comparison(report: Report) -> str:
    if report.baseline is None:
        return ""
    body = [[c.scenario, num(c.energy.before), num(c.energy.after), pct(c.energy.percent),
             DASH if c.energy.ci95 is None else f"± {num(c.energy.ci95)} J", yes_no(c.energy.significant),
             num(c.fps.before), num(c.fps.after), pct(c.fps.percent), yes_no(c.fps.significant),
             num(c.vmaf.delta), pct(c.bitrate.percent), pct(c.speed.percent),
             f"{c.repetitions[0]} / {c.repetitions[1]}"] for c in report.comparisons]
    return (f"<h2>Against the baseline run</h2><p>Baseline: <code>{e(report.baseline.run.path)}</code>. "
            "Scenarios matched by name. Energy and fps deltas carry a 95 % confidence interval from Welch's "
            "t-test where both runs repeated the scenario (2 or more repetitions each); significant: the interval "
            "excludes 0.</p>"
            + table(["scenario", "energy before (J)", "energy after (J)", "energy change", "CI95 of the change",
                     "significant", "fps before", "fps after", "fps change", "significant", "VMAF change",
                     "bitrate change", "speed change", "repetitions (before / after)"], body, left=1))


def environment(report: Report) -> str:
    parts = []
    keys = ["hostname", "cpu_model", "cpu_cores", "kernel", "gpu_model", "gpu_driver", "ffmpeg_version",
            "ffmpeg_path", "ffwatt_version", "energy_meter", "tdp_watts"]
    for r in report.runs:
        env = r.run.environment
        body = [["results file", str(r.run.path)], ["test date", r.run.test_date or DASH],
                ["format version", str(r.run.format_version)],
                ["scenarios", f"{len(r.run.scenarios)}" + (f" of {r.run.planned_scenarios} planned"
                                                           if r.run.planned_scenarios else "")]]
        if r.runner:
            body.append(["scenario file", str(r.runner.get("scenario_file", DASH))])
        if r.run.anchor is not None:
            body.append(["first encoder of the scenario file",
                         encoder_label(r.run.anchor.encoder, r.run.anchor.preset)])
        if r.run.meter is not None and r.run.meter.description:
            body.append(["energy meter (the run's record)", r.run.meter.description])
        body += [[k.replace("_", " "), str(env[k])] for k in keys if env.get(k) not in (None, "")]
        for enc, version in sorted((env.get("encoder_versions") or {}).items()):
            body.append([f"encoder {enc}", str(version)])
        for nr in r.run.not_run:
            body.append([f"not run: {nr.name}", f"{nr.status}: {nr.reason}"])
        for err in r.run.skipped:
            body.append(["skipped (invalid)", str(err)])
        parts.append(f"<h3>{e(r.label)}</h3>" + table(["", "value"], body, left=2))
    return "".join(parts)


def settings(report: Report) -> str:
    p = report.options.prices
    body = [["energy price", f"{p.energy_price:g} {p.currency}/kWh"],
            ["compute price", f"{p.core_hour_price:g} {p.currency}/core-hour"],
            ["carbon intensity", f"{p.carbon_intensity:g} g CO2e/kWh"],
            ["PUE", f"{p.pue:g}"],
            ["BD interpolation", report.options.method],
            ["BD anchor", DASH if report.anchor is None else f"{report.anchor.label} ({report.anchor.chosen})"],
            ["BD minimum overlap", f"{report.options.min_overlap:.0%} of the shorter curve's range"],
            ["operating point targets", ", ".join(str(t) for t in report.options.targets)],
            ["power traces", report.power_source]]
    if report.baseline is not None:
        body.append(["baseline run", str(report.baseline.run.path)])
    return table(["setting", "value"], body, left=2)


def provenance(report: Report) -> str:
    counts: dict[str, list[str]] = {}
    for row in report.rows:
        counts.setdefault(row.energy_kind, []).append(row.label)
    lines = [f'<li class="{kind}"><b>{len(counts[kind])} scenario(s) {KIND_MEANING[kind]}</b>: '
             f'{e(", ".join(counts[kind]))}</li>' for kind in KIND_MEANING if kind in counts]
    model = "".join(f'<p class="note estimated">{e(line)}</p>' for line in report.model_notes)
    return ("<p>Measured: bitrate (from the output files), quality (VMAF, PSNR, SSIM against the source), "
            "frame rate, speed, drops and CPU time (from the kernel). Energy, per scenario:</p><ul>"
            + "".join(lines) + "</ul>" + model)


def scenario_table(report: Report) -> str:
    cols = [c for c in columns(report.options.prices.currency) if c[3] is not None]
    header = ["scenario", "encoder", "preset"] + [head(n, u) for n, u, _, _ in cols]
    body = []
    for row in report.rows:
        s = row.scenario
        cells = [e(row.label) + (' <span class="refused">(incomplete)</span>' if row.incomplete else ""),
                 e(s.encoder or DASH), e(s.preset or DASH)]
        for _name, _, _, text in cols:
            value = e(text(row))
            if row.energy_kind in ("estimated", "simulated") and value.endswith(f"({row.energy_kind})"):
                value = f'<span class="{row.energy_kind}">{value}</span>'
            cells.append(value)
        body.append(cells)
    return table(header, body, left=3, raw=True)


METHOD = """
<h2>Method</h2>
<ul class="note">
<li><b>Energy</b> of a scenario is its own, attributed share of the machine's energy over its wall-clock span
(<code>end_time - start_time</code>), by the rule in the <i>energy attribution</i> column; the whole machine's
energy over the span is shown beside it (<i>machine energy</i>) and used in no figure. With repetitions (rounds)
it is their mean, ± the half-width of the 95 % confidence interval t(0.975, n-1) x s / sqrt(n).
<b>Net</b> energy and power subtract the run's idle baseline (mean power x span). Where the energy is not a
meter's reading, every cell says so: <i>estimated</i> (the power model) or <i>simulated</i>.</li>
<li><b>Energy per stream-second of video</b> = energy / (seconds of video really encoded x streams): encodes of
different lengths compare on it. The quality-energy chart, BD-energy and the operating points use it.</li>
<li><b>Incomplete</b> scenarios (fewer frames than the source should give) are listed at the top and enter no
curve, hull, BD figure or operating point.</li>
<li><b>Cost</b> = energy / 3.6e6 x price per kWh + core-seconds / 3600 x price per core-hour; <b>emissions</b> =
energy / 3.6e6 x carbon intensity x PUE; per viewer-hour: divided by (seconds of video / 3600 x viewers).</li>
<li><b>BD-rate</b> (Bjøntegaard delta rate): log10(bitrate) interpolated as a function of quality for each curve,
both integrated over the quality range the two curves share, the mean log difference d reported as
(10^d - 1) x 100 %. <b>BD-energy</b>: the same on (VMAF, energy per stream-second) curves, in percent, and in
J per stream-second on the linear scale. With repetitions at every point it is computed for each repetition
(the k-th repetition's energies at every point of both curves) and shown as the mean ± 95 % CI over them.
<b>BD-PSNR</b> (dB) and <b>BD-VMAF</b> (points): the quality difference at equal bitrate, quality interpolated
against log10(bitrate). Every test curve is compared with the anchor's curve of the same clip and size. A clip at
its own size (its native size, or the one size it was encoded at) averages with the other clips at theirs; the
lower rungs of a ladder average per rung. The <b>average</b> is the arithmetic mean over clips, and per class, as
the CTC sheets give it. A figure is refused, with the reason, when a curve has fewer than four points, its
quality does not rise strictly with bitrate, the curves overlap on less than the minimum share of the shorter
curve's range, target and measured bitrates are mixed, or the energy comes from different sources (measured,
modelled, simulated) or attribution rules.</li>
<li><b>Convex hull</b>: per clip and encoder, the upper-left convex hull of (bitrate, quality) over every size
(the rungs to keep for quality; VMAF and PSNR each) and of (energy per stream-second, VMAF) (the rungs to keep
for joules). Where a clip was encoded at several sizes, BD-rate and BD-energy are also computed between the
test's hull and the anchor's (<i>convex hull</i> figures).</li>
<li><b>Operating points</b>: the bitrate and the energy per stream-second at a target quality, interpolated on the
clip's curve (its hulls where it was encoded at several sizes) as BD interpolates: log10 of the bitrate or the
energy as a function of quality; refused outside the quality range measured.</li>
<li><b>Against a baseline run</b>: Welch's unequal-variance t-test on the per-repetition values; the change is
significant when its 95 % interval excludes 0.</li>
</ul>
"""
