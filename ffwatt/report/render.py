"""The report's text outputs: `scenarios.csv`, `bd.csv`, `operating_points.csv` and `summary.md`.

Pure functions of a `report.model.Report`; standard library only (`report.page` writes the HTML).
Numbers are written at full precision (`repr`), unknown ones as empty cells. A text cell that a
spreadsheet would read as a formula (it begins with `=`, `+`, `-`, `@`, a tab or a carriage
return: a scenario named `=HYPERLINK(...)`) is written with a leading `'`, so it shows as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from ffwatt.report.cells import (
    DASH,
    DELTA_HEADER,
    POINT_HEADER,
    columns,
    delta_cells,
    head,
    no_delta_reason,
    num,
    pct,
    point_cells,
    point_sentences,
    yes_no,
)
from ffwatt.report.curve import QUALITY_NAME, base_kind
from ffwatt.report.data import video_seconds
from ffwatt.report.model import Report

__all__ = ["render_csv", "render_bd_csv", "render_points_csv", "render_markdown", "safe_text", "incomplete_lines", "SCENARIO_COLUMNS",
           "BD_COLUMNS", "POINT_COLUMNS"]

SCENARIO_COLUMNS = [c[0] for c in columns("EUR")]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """`text` as a spreadsheet shows it, never runs it: a leading `'` before a formula's first character."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return safe_text(value) if isinstance(value, str) else value


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # RFC 4180; and a lone "\r" in a cell is quoted
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buf.getvalue()


def render_csv(report: Report) -> str:
    """One row per scenario, full precision, empty cells for unknown values."""
    cols = columns(report.options.prices.currency)
    header = ["run", "scenario", "clip", "class", "encoder", "preset", "resolution", "streams", "duration (s)",
              "video seconds encoded (s)", "expected frames", "frames", "incomplete", "energy kind"]
    body = []
    for row in report.rows:
        s = row.scenario
        body.append([row.run or report.runs[0].label, s.name, s.source_name, row.clip_class, s.encoder, s.preset,
                     s.resolution, s.streams, s.duration_seconds, video_seconds(s), s.expected_frames,
                     s.total_frames, "yes" if row.incomplete else "no", row.energy_kind]
                    + [get(row) for _, _, get, _ in cols])
    return _csv(header + [head(n, u).replace(" ", "_") for n, u, _, _ in cols], body)


BD_COLUMNS = ["clip", "class", "rung", "resolution", "anchor", "test", "figure", "metric", "unit", "value", "ci95",
              "linear", "linear_unit", "ci95_linear", "repetitions", "overlap", "range_low", "range_high", "clips",
              "energy_kind", "refused", "caution"]


def render_bd_csv(report: Report) -> str:
    """Every BD figure: the value in its unit at full precision, the CI, the overlap (share of the
    shorter curve's range) and any refusal. `clip` is `average` for a mean over clips, `class` then
    names the class averaged over (empty: all clips); `rung` is a lower rung's size (empty: the
    clips at their own sizes, or the convex hull the figure names)."""
    body = []
    for d in report.deltas:
        kind = base_kind(d.kind)
        linear_unit = {"BD-energy (VMAF)": "J/s", "BD-CPU-time (VMAF)": "core-s/s"}.get(kind, d.unit)
        low, high = d.quality_range or (None, None)
        body.append([d.clip, d.clip_class, d.rung, d.resolution, d.anchor, d.test, d.kind,
                     "PSNR" if "PSNR" in d.kind else "VMAF", d.unit, d.value, d.ci95, d.linear, linear_unit,
                     d.ci95_linear, d.repetitions, d.overlap, low, high, d.clips, d.energy_kind, d.refused, d.caution])
    return _csv(BD_COLUMNS, body)


POINT_COLUMNS = ["clip", "class", "encoder", "metric", "target", "curve", "bitrate_bps", "bitrate_vs_anchor_percent",
                 "energy_j_per_s", "energy_vs_anchor_percent", "energy_source", "clips", "refused"]


def render_points_csv(report: Report) -> str:
    """Every operating point: what each encoder needs on each clip (and on average) to reach each target."""
    return _csv(POINT_COLUMNS, ([p.clip, p.clip_class, p.encoder, QUALITY_NAME[p.target.metric], p.target.value,
                                 p.curve, p.bitrate_bps, p.bitrate_vs_anchor, p.energy_j_per_s, p.energy_vs_anchor,
                                 p.energy_source, p.clips, p.refused] for p in report.points))


def _md_table(header: Sequence[str], body: Iterable[Sequence[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def incomplete_lines(report: Report) -> list[str]:
    """One line per incomplete scenario: expected and got frames, the media time really encoded."""
    return [f"{r.label}: got {DASH if r.scenario.total_frames is None else r.scenario.total_frames} of "
            f"{DASH if r.scenario.expected_frames is None else r.scenario.expected_frames} expected frames"
            + (f" ({r.scenario.media_seconds:.3g} s of video encoded of {r.scenario.duration_seconds:g} s asked)"
               if r.scenario.media_seconds else "") for r in report.incomplete]


def render_markdown(report: Report) -> str:
    """The incomplete scenarios, the BD table, the operating points and the scenario table, as GitHub Markdown."""
    prices = report.options.prices
    out = [f"# {report.options.title}", "", "Files: " + ", ".join(f"`{r.run.path.name}`" for r in report.runs), ""]
    if report.incomplete:
        out += ["## Incomplete scenarios (left out of every curve and figure)", ""]
        out += [f"* {line}" for line in incomplete_lines(report)] + [""]
    out += ["## Bjøntegaard deltas", ""]
    if report.deltas:
        out += [f"Anchor: {report.anchor.label} ({report.anchor.chosen}). Interpolation: {report.options.method}. "
                "Negative: the test curve needs less bitrate (BD-rate) or less energy (BD-energy) than the anchor at "
                "equal quality; positive BD-PSNR/BD-VMAF: the test is better at equal bitrate. Full precision: "
                "bd.csv.", "", _md_table(DELTA_HEADER, [delta_cells(d) for d in report.deltas]), ""]
    else:
        out += [no_delta_reason(report), ""]
    out += [f"* {line}" for line in report.model_notes] + ([""] if report.model_notes else [])
    if report.points:
        out += ["## Operating points: what a target quality costs", ""]
        out += [f"* {line}" for line in point_sentences(report)] + [""]
        out += [_md_table(POINT_HEADER, [point_cells(p) for p in report.points]), ""]
    cols = {name: (unit, text) for name, unit, _, text in columns(prices.currency) if text is not None}
    shown = ["bitrate", "VMAF", "PSNR", "energy", "machine energy", "energy attribution", "energy source",
             "energy per stream-second of video", "fps", "total cost", "emissions"]
    header = ["scenario"] + [head(name, cols[name][0]) for name in shown]
    body = [[row.label] + [cols[name][1](row) for name in shown] for row in report.rows]
    out += ["## Scenarios", "", _md_table(header, body), ""]
    if report.comparisons:
        out += ["## Against the baseline run", "",
                _md_table(["scenario", "energy before (J)", "energy after (J)", "change", "significant"],
                          [[c.scenario, num(c.energy.before), num(c.energy.after), pct(c.energy.percent),
                            yes_no(c.energy.significant)] for c in report.comparisons]), ""]
    return "\n".join(out)
