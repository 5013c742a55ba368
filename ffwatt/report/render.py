"""The report's text outputs: the HTML page, the CSV and the Markdown summary.

Pure functions of a `report.model.Report`; standard library only. The HTML is one file
with inline CSS, charts as `data:image/png;base64` images and no script, so it opens
from disk with no network. Unknown values are shown as a dash, never as 0.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

from ffwatt.report.bd import AVERAGE, KINDS, MIN_POINTS, Delta
from ffwatt.report.data import Row, pareto_front
from ffwatt.report.model import Report

__all__ = ["render_html", "render_csv", "render_bd_csv", "render_markdown", "SCENARIO_COLUMNS", "BD_COLUMNS"]

DASH = "–"


def _num(value: float | None, digits: int = 3) -> str:
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


def _pm(value: float | None, ci: float | None, digits: int = 3) -> str:
    if value is None:
        return DASH
    return _num(value, digits) if ci is None else f"{_num(value, digits)} ± {_num(ci, 2)}"


def _kbps(bps: float | None) -> float | None:
    return None if bps is None else bps / 1000.0


# (header, unit, value for the CSV, text for the tables)
def _columns(currency: str) -> list[tuple[str, str, Any, Any]]:
    def stats(row: Row, metric: str, part: str) -> float | None:
        q = getattr(row.scenario, metric + "_stats")
        return None if q is None else getattr(q, part)

    return [
        ("bitrate", "kb/s", lambda r: _kbps(r.bitrate_bps),
         lambda r: _num(_kbps(r.bitrate_bps)) + ("" if r.bitrate_measured or r.bitrate_bps is None else " (target)")),
        ("energy", "J", lambda r: r.energy_joules, lambda r: _pm(r.energy_joules, r.energy_ci95)),
        ("energy CI95", "J", lambda r: r.energy_ci95, None),
        ("machine energy", "J", lambda r: r.machine_energy_joules, lambda r: _num(r.machine_energy_joules)),
        ("energy attribution", "", lambda r: r.energy_attribution, lambda r: r.energy_attribution or DASH),
        ("energy source", "", lambda r: r.energy_source, lambda r: _source(r)),
        ("net energy", "J", lambda r: r.net_energy_joules, lambda r: _num(r.net_energy_joules)),
        ("mean power", "W", lambda r: r.mean_power_watts, lambda r: _num(r.mean_power_watts)),
        ("net power", "W", lambda r: r.net_power_watts, lambda r: _num(r.net_power_watts)),
        ("core-seconds", "core-s", lambda r: r.core_seconds, lambda r: _num(r.core_seconds)),
        ("VMAF", "", lambda r: r.scenario.vmaf, lambda r: _num(r.scenario.vmaf)),
        ("VMAF harmonic mean", "", lambda r: stats(r, "vmaf", "harmonic_mean"),
         lambda r: _num(stats(r, "vmaf", "harmonic_mean"))),
        ("VMAF min", "", lambda r: stats(r, "vmaf", "min"), lambda r: _num(stats(r, "vmaf", "min"))),
        ("PSNR", "dB", lambda r: r.scenario.psnr, lambda r: _num(r.scenario.psnr)),
        ("SSIM", "", lambda r: r.scenario.ssim, lambda r: _num(r.scenario.ssim, 4)),
        ("fps", "frames/s", lambda r: r.scenario.avg_fps, lambda r: _pm(r.scenario.avg_fps, r.scenario.fps_ci95)),
        ("fps CI95", "frames/s", lambda r: r.scenario.fps_ci95, None),
        ("speed", "x", lambda r: r.scenario.speed, lambda r: _num(r.scenario.speed)),
        ("dropped frames", "", lambda r: r.scenario.dropped_frames,
         lambda r: DASH if r.scenario.dropped_frames is None else str(r.scenario.dropped_frames)),
        ("energy cost", currency, lambda r: r.energy_cost, lambda r: _num(r.energy_cost)),
        ("compute cost", currency, lambda r: r.compute_cost, lambda r: _num(r.compute_cost)),
        ("total cost", currency, lambda r: r.total_cost, lambda r: _num(r.total_cost)),
        ("emissions", "g CO2e", lambda r: r.emissions_grams, lambda r: _num(r.emissions_grams)),
        ("cost per viewer-hour", currency, lambda r: r.cost_per_viewer_hour, lambda r: _num(r.cost_per_viewer_hour)),
        ("emissions per viewer-hour", "g CO2e", lambda r: r.emissions_per_viewer_hour,
         lambda r: _num(r.emissions_per_viewer_hour)),
        ("energy per stream-second of video", "J/s", lambda r: r.joules_per_video_second,
         lambda r: _num(r.joules_per_video_second)),
    ]


SCENARIO_COLUMNS = [c[0] for c in _columns("EUR")]


def _source(row: Row) -> str:
    if row.energy_source is None:
        return "none"
    return f"{row.energy_source} ({row.energy_kind})"


def _head(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


# --------------------------------------------------------------------------
# CSV


def render_csv(report: Report) -> str:
    """One row per scenario, full precision, empty cells for unknown values."""
    columns = _columns(report.options.prices.currency)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["run", "scenario", "encoder", "preset", "resolution", "streams", "duration (s)",
                     "energy kind"] + [_head(n, u).replace(" ", "_") for n, u, _, _ in columns])
    for row in report.rows:
        s = row.scenario
        values = [get(row) for _, _, get, _ in columns]
        writer.writerow([row.run or report.runs[0].label, s.name, s.encoder or "", s.preset or "", s.resolution or "",
                         s.streams, s.duration_seconds, row.energy_kind]
                        + ["" if v is None else (repr(v) if isinstance(v, float) else v) for v in values])
    return buf.getvalue()


# --------------------------------------------------------------------------
# Markdown


def _md_table(header: Sequence[str], body: Iterable[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def _two(value: float | None, sign: bool = True) -> str:
    """Two decimals, as the tables show every BD figure (full precision is in bd.csv)."""
    if value is None or not math.isfinite(value):
        return DASH
    return f"{value:+.2f}" if sign else f"{value:.2f}"


def _clip(d: Delta) -> str:
    if d.clip == AVERAGE:
        return f"average of {d.clips} clips"
    return d.clip or "(unnamed)"


def _value_text(d: Delta) -> str:
    if d.refused:
        return "refused"
    text = f"{_two(d.value)} {d.unit}"
    if d.ci95 is not None:
        text += f" ± {_two(d.ci95, sign=False)}"
    return text


def _delta_cells(d: Delta) -> list[str]:
    if d.refused:
        return [_clip(d), d.kind, d.anchor, d.test, "refused", DASH, DASH, d.refused]
    linear = DASH
    if d.kind.startswith(("BD-energy", "BD-CPU")) and d.linear is not None:
        unit = "core-s/s" if d.kind.startswith("BD-CPU") else "J/s"
        linear = f"{_two(d.linear)} {unit}" + (f" ± {_two(d.ci95_linear, sign=False)}" if d.ci95_linear is not None
                                                else "")
    overlap = DASH
    if d.quality_range and d.overlap is not None:
        low, high = d.quality_range
        axis = "kb/s" if d.kind in ("BD-PSNR", "BD-VMAF") else ""
        scale = 1000 if axis else 1
        overlap = f"{low / scale:.4g}–{high / scale:.4g}{' ' + axis if axis else ''} ({d.overlap:.0%})"
    elif d.overlap is not None:
        overlap = f"{d.overlap:.0%} (smallest)"
    notes = [f"mean of {d.repetitions} per-repetition values" if d.repetitions else "", d.caution or ""]
    return [_clip(d), d.kind, d.anchor, d.test, _value_text(d), linear, overlap, "; ".join(n for n in notes if n)]


_DELTA_HEADER = ["clip", "figure", "anchor", "test", "difference (test vs anchor)", "per stream-second of video",
                 "overlap (share of the shorter curve)", "note or reason"]

BD_COLUMNS = ["clip", "resolution", "anchor", "test", "figure", "metric", "unit", "value", "ci95", "linear",
              "linear_unit", "ci95_linear", "repetitions", "overlap", "range_low", "range_high", "clips", "refused",
              "caution"]


def render_bd_csv(report: Report) -> str:
    """Every BD figure: the value in its unit at full precision (`repr`), the CI, the overlap
    (share of the shorter curve's range) and any refusal; empty cells for unknown values."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(BD_COLUMNS)

    def cell(v: Any) -> Any:
        return "" if v is None else (repr(v) if isinstance(v, float) else v)

    for d in report.deltas:
        metric = "PSNR" if "PSNR" in d.kind else "VMAF"
        linear_unit = {"BD-energy (VMAF)": "J/s", "BD-CPU-time (VMAF)": "core-s/s"}.get(d.kind, d.unit)
        low, high = d.quality_range or (None, None)
        writer.writerow([cell(v) for v in (
            "" if d.clip is None else d.clip, d.resolution or "", d.anchor, d.test, d.kind, metric, d.unit, d.value,
            d.ci95, d.linear, linear_unit, d.ci95_linear, d.repetitions, d.overlap, low, high, d.clips,
            d.refused or "", d.caution or "")])
    return buf.getvalue()


def render_markdown(report: Report) -> str:
    """The scenario table (main columns) and the BD table, as GitHub Markdown."""
    prices = report.options.prices
    out = [f"# {report.options.title}", ""]
    out.append("Files: " + ", ".join(f"`{r.run.path.name}`" for r in report.runs))
    out.append("")
    header = ["scenario", "bitrate (kb/s)", "VMAF", "PSNR (dB)", "energy (J)", "machine energy (J)", "attribution",
              "source", "J per stream-s of video", "fps", f"total cost ({prices.currency})", "g CO2e"]
    body = [[row.label, _num(_kbps(row.bitrate_bps)), _num(row.scenario.vmaf), _num(row.scenario.psnr),
             _pm(row.energy_joules, row.energy_ci95), _num(row.machine_energy_joules),
             row.energy_attribution or DASH, _source(row), _num(row.joules_per_video_second),
             _pm(row.scenario.avg_fps, row.scenario.fps_ci95), _num(row.total_cost), _num(row.emissions_grams)]
            for row in report.rows]
    out += ["## Scenarios", "", _md_table(header, body), ""]
    out += ["## Bjøntegaard deltas", ""]
    if report.deltas:
        out += [f"Anchor: {report.anchor.label} ({report.anchor.chosen}). Interpolation: {report.options.method}. "
                "Negative: the test curve needs less bitrate (BD-rate) or less energy (BD-energy) than the anchor at "
                "equal quality; positive BD-PSNR/BD-VMAF: the test is better at equal bitrate. Full precision: "
                "bd.csv.", "",
                _md_table(_DELTA_HEADER, [_delta_cells(d) for d in report.deltas]), ""]
    else:
        out += [_no_delta_reason(report), ""]
    if report.comparisons:
        out += ["## Against the baseline run", "",
                _md_table(["scenario", "energy before (J)", "energy after (J)", "change", "significant"],
                          [[c.scenario, _num(c.energy.before), _num(c.energy.after), _pct(c.energy.percent),
                            _yes_no(c.energy.significant)] for c in report.comparisons]), ""]
    return "\n".join(out)


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{value:+.2f} %"


def _yes_no(value: bool | None) -> str:
    return "unknown (no repetitions)" if value is None else ("yes" if value else "no")


def _no_delta_reason(report: Report) -> str:
    if report.anchor is not None and len(report.curves) >= 2:
        return (f"No BD figures: no curve shares a clip and a resolution with the anchor's ({report.anchor.label}).")
    if len(report.curves) < 2:
        return (f"No BD figures: they compare two rate-distortion curves (an encoder/preset at {MIN_POINTS} or more "
                f"bitrates each on the same source); this input has {len(report.curves)} curve(s).")
    return "No BD figures: the curves are at different resolutions (not the same source)."


# --------------------------------------------------------------------------
# HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;
color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.82rem;margin:.5rem 0}
th,td{border:1px solid #ddd;padding:.2rem .45rem;text-align:right;vertical-align:top}
td{white-space:nowrap}
th{background:#f4f4f4}td.l,th.l{text-align:left}
td.wrap,th.wrap{white-space:normal;min-width:5rem;text-align:left;overflow-wrap:break-word}
.wide{overflow-x:auto;max-width:100%}
table.headline td{font-variant-numeric:tabular-nums}
table.headline th,table.headline td:nth-child(-n+2){white-space:normal;overflow-wrap:break-word}
tr.average td{font-weight:600;background:#fafafa}
table.figures th{white-space:normal}table.figures td.wrap{min-width:4rem}
ol.reasons{font-size:.85rem;color:#444;overflow-wrap:anywhere}
.anchor{font-size:.95rem}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85rem;color:#444}
.estimated{color:#b35900}.simulated{color:#6a3d9a}.none{color:#777}.refused{color:#a00}
.note{font-size:.85rem;color:#444}
code{background:#f4f4f4;padding:0 .2rem}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(header: Sequence[str], body: Iterable[Sequence[str]], left: int = 1, raw: bool = False) -> str:
    """An HTML table; the first `left` columns are left-aligned. Cells are escaped unless `raw`."""
    head = "".join(f'<th class="l">{_e(h)}</th>' if i < left else f"<th>{_e(h)}</th>" for i, h in enumerate(header))
    rows = []
    for cells in body:
        tds = []
        for i, c in enumerate(cells):
            content = c if raw else _e(c)
            tds.append(f'<td class="l">{content}</td>' if i < left else f"<td>{content}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _environment(report: Report) -> str:
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
        body += [[k.replace("_", " "), str(env[k])] for k in keys if env.get(k) not in (None, "")]
        for enc, version in sorted((env.get("encoder_versions") or {}).items()):
            body.append([f"encoder {enc}", str(version)])
        for nr in r.run.not_run:
            body.append([f"not run: {nr.name}", f"{nr.status}: {nr.reason}"])
        for err in r.run.skipped:
            body.append(["skipped (invalid)", str(err)])
        parts.append(f"<h3>{_e(r.label)}</h3>" + _table(["", "value"], body, left=2))
    return "".join(parts)


def _settings(report: Report) -> str:
    p = report.options.prices
    body = [["energy price", f"{p.energy_price:g} {p.currency}/kWh"],
            ["compute price", f"{p.core_hour_price:g} {p.currency}/core-hour"],
            ["carbon intensity", f"{p.carbon_intensity:g} g CO2e/kWh"],
            ["PUE", f"{p.pue:g}"],
            ["BD interpolation", report.options.method],
            ["BD anchor", DASH if report.anchor is None else f"{report.anchor.label} ({report.anchor.chosen})"],
            ["BD minimum overlap", f"{report.options.min_overlap:.0%} of the shorter curve's range"],
            ["power traces", report.power_source]]
    if report.baseline is not None:
        body.append(["baseline run", str(report.baseline.run.path)])
    return _table(["setting", "value"], body, left=2)


def _provenance(report: Report) -> str:
    counts: dict[str, list[str]] = {}
    for row in report.rows:
        counts.setdefault(row.energy_kind, []).append(row.label)
    lines = []
    meaning = {
        "measured": "measured by a meter (RAPL and/or NVML joules counters, the file's power samples or the TSDB)",
        "estimated": "estimated by the CPU power model (TDP x (0.1 + 0.9 x load³)): not a measurement",
        "simulated": "simulated (sample data): not a measurement",
        "none": "no energy figure",
    }
    for kind in ("measured", "estimated", "simulated", "none"):
        if kind in counts:
            names = counts[kind]
            lines.append(f'<li class="{kind}"><b>{len(names)} scenario(s) {meaning[kind]}</b>: '
                         f'{_e(", ".join(names))}</li>')
    tdp = {r.run.environment.get("tdp_watts") for r in report.runs if r.run.environment.get("tdp_watts")}
    extra = f"<p class=\"note\">Power model TDP: {_e(', '.join(f'{t} W' for t in tdp))}.</p>" if tdp else ""
    return ("<p>Measured: bitrate (from the output files), quality (VMAF, PSNR, SSIM against the source), "
            "frame rate, speed, drops and CPU time (from the kernel). Energy, per scenario:</p><ul>"
            + "".join(lines) + "</ul>" + extra)


def _scenario_table(report: Report) -> str:
    columns = [c for c in _columns(report.options.prices.currency) if c[3] is not None]
    header = ["scenario", "encoder", "preset"] + [_head(n, u) for n, u, _, _ in columns]
    body = []
    for row in report.rows:
        s = row.scenario
        cells = [_e(row.label), _e(s.encoder or DASH), _e(s.preset or DASH)]
        for name, _, _, text in columns:
            value = _e(text(row))
            if name in ("energy", "energy source") and row.energy_kind != "measured":
                value = f'<span class="{row.energy_kind}">{value}</span>'
            cells.append(value)
        body.append(cells)
    return _table(header, body, left=3, raw=True)


def _table_wrapped(header: Sequence[str], body: Iterable[Sequence[str]], left: int, wrap: Sequence[int],
                   cls: str = "", row_classes: Sequence[str] | None = None) -> str:
    """An HTML table of already-escaped cells whose `wrap` columns wrap (never clipped by the layout)."""
    def cell(tag: str, i: int, content: str) -> str:
        klass = "wrap" if i in wrap else ("l" if i < left else "")
        return f'<{tag} class="{klass}">{content}</{tag}>' if klass else f"<{tag}>{content}</{tag}>"

    head = "".join(cell("th", i, _e(h)) for i, h in enumerate(header))
    rows = []
    for k, cells in enumerate(body):
        klass = f' class="{row_classes[k]}"' if row_classes and row_classes[k] else ""
        rows.append(f"<tr{klass}>" + "".join(cell("td", i, c) for i, c in enumerate(cells)) + "</tr>")
    table_class = f' class="{cls}"' if cls else ""
    return (f'<div class="wide"><table{table_class}><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table></div>")


def _anchor_sentence(report: Report) -> str:
    a = report.anchor
    if a is None:
        return ""
    how = (f"{_e(a.chosen)}; choose another with <code>--anchor ENCODER[/PRESET]</code>"
           if a.chosen.startswith("the first") else f"<code>{_e(a.chosen)}</code>")
    clips = sorted({d.clip or "(unnamed)" for d in report.deltas if d.clip != AVERAGE})
    return (f'<p class="anchor">Anchor: <b>{_e(a.label)}</b> ({how}). Clips: {_e(", ".join(clips) or DASH)}. '
            f"Interpolation: {_e(report.options.method)}; curves compared when they overlap on at least "
            f"{report.options.min_overlap:.0%} of the shorter curve's range. Negative BD-rate, BD-energy, "
            "BD-CPU-time: the test needs less than the anchor at equal quality; positive BD-PSNR, BD-VMAF: the test "
            'is better at equal bitrate. Two decimals here; every figure at full precision in <a href="bd.csv">'
            "bd.csv</a>.</p>")


def _headline(report: Report) -> str:
    """One row per (test, clip) and the average over clips; one column per figure; a refusal
    shows a numbered reason under the table in place of the number."""
    if not report.deltas:
        return f"<p>{_e(_no_delta_reason(report))}</p>"
    rows: dict[tuple[str, str | None], dict[str, Delta]] = {}
    for d in report.deltas:
        rows.setdefault((d.test, d.clip), {})[d.kind] = d
    tests = list(dict.fromkeys(test for test, _ in rows))  # file order: 640x360 before 1280x720
    order = sorted(rows, key=lambda k: (tests.index(k[0]), k[1] == AVERAGE))  # a test's clips, then its average
    reasons: list[str] = []
    body, classes = [], []
    for test, clip in order:
        figures = rows[(test, clip)]
        first = next(iter(figures.values()))
        cells = [_e(test).replace("/", "/<wbr>"), _e(_clip(first))]
        for kind in KINDS:
            d = figures.get(kind)
            if d is None:
                cells.append(DASH)
            elif d.refused:
                if d.refused not in reasons:
                    reasons.append(d.refused)
                cells.append(f'<span class="refused">refused [{reasons.index(d.refused) + 1}]</span>')
            else:
                text = _two(d.value) + (f" ± {_two(d.ci95, sign=False)}" if d.ci95 is not None else "")
                cells.append(_e(text) + ("*" if d.caution else ""))
        body.append(cells)
        classes.append("average" if clip == AVERAGE else "")
    header = ["test", "clip", "BD-rate VMAF (%)", "BD-rate PSNR (%)", "BD-PSNR (dB)", "BD-VMAF (points)",
              "BD-energy (%)", "BD-CPU-time (%)"]
    cautions = sorted({d.caution for d in report.deltas if d.caution and not d.refused})
    foot = ""
    if reasons:
        foot += '<p class="note">Refused:</p><ol class="reasons">' + "".join(f"<li>{_e(r)}</li>" for r in reasons) \
            + "</ol>"
    if cautions:
        foot += '<p class="note">* ' + _e("; ".join(cautions)) + ".</p>"
    return (_anchor_sentence(report) + _table_wrapped(header, body, left=2, wrap=(), cls="headline",
                                                      row_classes=classes) + foot)


def _hull_table(report: Report) -> str:
    """Per clip and encoder: the rungs on the rate hull (keep for quality) and on the energy hull (keep for joules)."""
    def rung(r) -> str:
        energy = "" if r.joules_per_video_second is None else f", {_num(r.joules_per_video_second)} J/s"
        return f"{r.resolution or '?'} {_num(r.bitrate_bps / 1000)} kb/s: VMAF {r.vmaf:.2f}{energy}"

    body = []
    for lad in report.ladders:
        if len(lad.rungs) < 2:
            continue
        quality = [rung(r) for r in lad.rungs if r.on_rate_hull]
        joules = [rung(r) for r in sorted((r for r in lad.rungs if r.on_energy_hull),
                                          key=lambda r: r.joules_per_video_second or 0.0)]
        both = sum(1 for r in lad.rungs if r.on_rate_hull and r.on_energy_hull)
        body.append([_e(lad.clip or "(unnamed)"), _e(lad.label).replace("/", "/<wbr>"),
                     f"{len(lad.rungs)} at {len(lad.resolutions)} sizes", "<br>".join(_e(q) for q in quality),
                     "<br>".join(_e(j) for j in joules) or DASH, f"{both} of {len(quality)}"])
    if not body:
        return ""
    return _table_wrapped(["clip", "encoder", "encodes", "keep for quality (rate hull)",
                           "keep for joules (energy hull)", "on both hulls"], body, left=2, wrap=(1, 2, 3, 4))


def _deltas(report: Report) -> str:
    if not report.deltas:
        return f"<p>{_e(_no_delta_reason(report))}</p>"
    body = []
    for d in report.deltas:
        clip, kind, anchor, test, value, linear, overlap, note = (_e(c) for c in _delta_cells(d))
        if d.refused:
            value = f'<span class="refused">{value}</span>'
        elif linear != DASH:
            value += f"<br>{linear}"
        pair = test.replace("/", "/<wbr>") + " <i>vs</i> " + anchor.replace("/", "/<wbr>")
        body.append([clip, kind, pair, value, overlap, note])
    curves = _table_wrapped(["clip", "curve", "points", "bitrates (kb/s)", "VMAF"],
                            [[_e(c.clip or "(unnamed)"), _e(c.label), str(len(c.points)),
                              _e(", ".join(_num(p.bitrate_bps / 1000) for p in c.points)
                                 + ("" if all(p.bitrate_measured for p in c.points) else " (targets)")),
                              _e(", ".join(_num(p.vmaf) for p in c.points))] for c in report.curves],
                            left=2, wrap=(3, 4))
    return ("<p>Every figure, per clip and averaged over clips (PyPI <code>bjontegaard</code>). The energy "
            "counterpart is computed on (VMAF, joules per stream per second of video) curves the same way; with "
            "repetitions at every point it is recomputed per repetition and shown as mean ± 95 % CI.</p>"
            + _table_wrapped(["clip", "figure", "test vs anchor", "difference (per stream-second of video)",
                              "overlap (share of the shorter curve)", "note or reason"], body, left=3, wrap=(1, 2, 4, 5),
                             cls="figures")
            + "<h3>Curves</h3>" + curves)


def _pareto(report: Report) -> str:
    """The Pareto front of each clip (scenarios of different clips do not compete)."""
    clips: dict[str | None, list[tuple[float, float, str]]] = {}
    for r in report.rows:
        if r.joules_per_video_second is not None and r.scenario.vmaf is not None:
            clips.setdefault(r.scenario.source_name, []).append((r.joules_per_video_second, r.scenario.vmaf, r.label))
    if not clips:
        return ""
    items = []
    for clip, pts in clips.items():
        front = ", ".join(f"{label} ({q:.1f} VMAF, {e:.3g} J/s)" for e, q, label in pareto_front(pts))
        items.append(f"<li>{_e(clip or '(unnamed clip)') + ': ' if len(clips) > 1 else ''}{_e(front)}</li>")
    return ("<p>Pareto front (least energy for the quality; no other scenario of the clip has both less energy and "
            'higher VMAF):</p><ul class="note">' + "".join(items) + "</ul>")


def _sweeps(report: Report) -> str:
    parts = []
    for r in report.runs:
        for sweep in r.sweeps:
            steps = sorted((s for s in sweep.get("steps", []) if isinstance(s, dict)),
                           key=lambda s: s.get("streams") if isinstance(s.get("streams"), (int, float)) else 0)
            body = [[str(s.get("streams", DASH)), str(s.get("scenario", DASH)),
                     {True: "yes", False: "no"}.get(s.get("held_real_time"), DASH),
                     _num(_f(s.get("energy_joules"))), _num(_f(s.get("net_power_watts"))),
                     _num(_f(s.get("min_speed"))), _num(_f(s.get("vmaf")))] for s in steps]
            parts.append(f"<h3>{_e(sweep.get('name', ''))}</h3><p>Knee: <b>{_e(sweep.get('knee_streams', DASH))}"
                         f"</b> streams; marginal energy per extra stream: "
                         f"<b>{_e(_num(_f(sweep.get('marginal_joules_per_stream'))))} J</b>.</p>"
                         + _table(["streams", "scenario", "held real time", "energy (J)", "net power (W)",
                                   "slowest speed", "VMAF"], body, left=2))
    return "".join(parts)


def _f(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _comparison(report: Report) -> str:
    if report.baseline is None:
        return ""
    body = [[c.scenario, _num(c.energy.before), _num(c.energy.after), _pct(c.energy.percent),
             DASH if c.energy.ci95 is None else f"± {_num(c.energy.ci95)} J", _yes_no(c.energy.significant),
             _num(c.fps.before), _num(c.fps.after), _pct(c.fps.percent), _yes_no(c.fps.significant),
             _num(c.vmaf.delta), _pct(c.bitrate.percent), _pct(c.speed.percent),
             f"{c.repetitions[0]} / {c.repetitions[1]}"] for c in report.comparisons]
    return (f"<h2>Against the baseline run</h2><p>Baseline: <code>{_e(report.baseline.run.path)}</code>. "
            "Scenarios matched by name. Energy and fps deltas carry a 95 % confidence interval from Welch's "
            "t-test where both runs repeated the scenario (2 or more repetitions each); significant: the interval "
            "excludes 0.</p>"
            + _table(["scenario", "energy before (J)", "energy after (J)", "energy change", "CI95 of the change",
                      "significant", "fps before", "fps after", "fps change", "significant", "VMAF change",
                      "bitrate change", "speed change", "repetitions (before / after)"], body, left=1))


def _figure(chart) -> str:
    data = base64.b64encode(chart.png_bytes).decode("ascii")
    return (f'<figure id="chart-{_e(chart.name)}" class="chart"><img src="data:image/png;base64,{data}" '
            f'alt="{_e(chart.title)}" data-chart="{_e(chart.name)}">'
            f"<figcaption><b>{_e(chart.title)}.</b> {_e(chart.caption)} Files: "
            f'<a href="{_e(chart.png.name)}">{_e(chart.png.name)}</a>, '
            f'<a href="{_e(chart.svg.name)}">{_e(chart.svg.name)}</a>.</figcaption></figure>')


_METHOD = """
<h2>Method</h2>
<ul class="note">
<li><b>Energy</b> of a scenario is its own, attributed share of the machine's energy over its wall-clock span
(<code>end_time - start_time</code>), by the rule in the <i>energy attribution</i> column; the whole machine's
energy over the span is shown beside it (<i>machine energy</i>) and used in no figure. With repetitions (rounds)
it is their mean, ± the half-width of the 95 % confidence interval t(0.975, n-1) x s / sqrt(n).
<b>Net</b> energy and power subtract the run's idle baseline (mean power x span).</li>
<li><b>Energy per stream-second of video</b> = energy / (seconds of video encoded x streams): encodes of different
lengths compare on it. The quality-energy chart and BD-energy use it.</li>
<li><b>Cost</b> = energy / 3.6e6 x price per kWh + core-seconds / 3600 x price per core-hour; <b>emissions</b> =
energy / 3.6e6 x carbon intensity x PUE; per viewer-hour: divided by (seconds of video / 3600 x viewers).</li>
<li><b>BD-rate</b> (Bjøntegaard delta rate): log10(bitrate) interpolated as a function of quality for each curve,
both integrated over the quality range the two curves share, the mean log difference d reported as
(10^d - 1) x 100 %. <b>BD-energy</b>: the same on (VMAF, energy per stream-second) curves, in percent, and in
J per stream-second on the linear scale. With repetitions at every point it is computed for each repetition
(the k-th repetition's energies at every point of both curves) and shown as the mean ± 95 % CI over them.
<b>BD-PSNR</b> (dB) and <b>BD-VMAF</b> (points): the quality difference at equal bitrate, quality interpolated
against log10(bitrate). Every test curve is compared with the anchor's curve of the same clip and resolution; the
<b>average</b> is the arithmetic mean over clips, as the CTC sheets give it.
A figure is refused, with the reason, when a curve has fewer than four points, its quality does not rise strictly
with bitrate, the curves overlap on less than the minimum share of the shorter curve's range, target and measured
bitrates are mixed, or the energy comes from different sources (measured, modelled, simulated) or
attribution rules. BD-energy uses each scenario's own, attributed energy, never the machine's.</li>
<li><b>Convex hull</b>: per clip and encoder, the upper-left convex hull of (bitrate, VMAF) over every resolution
(the rungs to keep for quality) and of (energy per stream-second, VMAF) (the rungs to keep for joules).</li>
<li><b>Against a baseline run</b>: Welch's unequal-variance t-test on the per-repetition values; the change is
significant when its 95 % interval excludes 0.</li>
</ul>
"""


def render_html(report: Report) -> str:
    """The self-contained report page."""
    charts = {c.name: c for c in report.charts}

    def figs(*names: str) -> str:
        return "".join(_figure(charts[n]) for n in names if n in charts)

    capacity = [c for c in report.charts if c.name.startswith("capacity")]
    missing = ""
    if report.missing_charts:
        missing = ("<h2>Charts left out</h2><ul class=\"note\">"
                   + "".join(f"<li>{_e(t)}: {_e(why)}</li>" for t, why in report.missing_charts) + "</ul>")
    notes = ""
    if report.notes:
        notes = "<h2>Notes</h2><ul class=\"note\">" + "".join(f"<li>{_e(n)}</li>" for n in report.notes) + "</ul>"
    sections = [
        f"<h1>{_e(report.options.title)}</h1>",
        "<p class=\"note\">Made by <code>ffwatt report</code> from "
        + _e(", ".join(r.run.path.name for r in report.runs)) + ". Self-contained: opens from disk. Environment and "
        "settings are at the end.</p>",
        "<h2>Bjøntegaard deltas against the anchor, per clip and averaged</h2>", _headline(report),
        "<h2>Convex hull over resolutions, with energy</h2>", figs("hull"), _hull_table(report),
        "<h2>Rate-distortion</h2>", figs("rd_vmaf", "rd_psnr"),
        "<h2>Quality against energy</h2>", _pareto(report), figs("quality_energy", "energy_vmaf"),
        "<h2>All BD figures</h2>", _deltas(report),
        "<h2>What was measured and what was modelled</h2>", _provenance(report),
        "<h2>Scenarios</h2>", _scenario_table(report), figs("scenario_energy"),
    ]
    if capacity or any(r.sweeps for r in report.runs):
        sections += ["<h2>Capacity sweep</h2>", _sweeps(report), "".join(_figure(c) for c in capacity)]
    sections += ["<h2>Power over time</h2>", figs("power"), _comparison(report), figs("compare_energy"),
                 "<h2>Environment and settings</h2>", _environment(report), "<h3>Report settings</h3>",
                 _settings(report), missing, notes, _METHOD]
    body = "\n".join(s for s in sections if s)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
            f"<title>{_e(report.options.title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n")
