"""`make_report`: results files in, a report directory out (`build_report` computes, `write_report` writes).

    OUT/report.html            self-contained: charts embedded as base64 PNG, inline CSS, no
                               script, no network (opens from disk)
    OUT/<chart>.png/.svg       every chart, also as files
    OUT/scenarios.csv          one row per scenario, full precision, units in the column names
    OUT/bd.csv                 every BD figure (clip, class, rung, anchor, test, figure, value at
                               full precision, CI, overlap, refusal), per clip, hull and average
    OUT/operating_points.csv   what each encoder needs to reach each target quality
    OUT/summary.md             the tables in Markdown

Every file is written through `report.files` (a fresh temporary file, created exclusively, renamed
into place). Charts without data are left out and the HTML says why. Everything but the power
traces from a TSDB is a function of the set of scenarios in the files: their order never matters.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ffwatt.report.bd import METHODS
from ffwatt.report.compare import compare_rows
from ffwatt.report.corpus import all_deltas, build_curves, choose_anchor
from ffwatt.report.data import ReportError, RunInput, all_rows, load_run, scenario_rows
from ffwatt.report.files import write_file
from ffwatt.report.hull import ladders
from ffwatt.report.model import Report, ReportOptions
from ffwatt.report.operating import operating_points
from ffwatt.report.page import render_html
from ffwatt.report.provenance import model_sentences
from ffwatt.report.render import render_bd_csv, render_csv, render_markdown, render_points_csv

__all__ = ["ReportOptions", "Report", "build_report", "make_report", "write_report"]

log = logging.getLogger("ffwatt.report")


def _traces(report: Report) -> dict[str, tuple[list[float], list[float]]]:
    """Power over time per scenario: from the TSDB with --tsdb-url, else the file's samples."""
    traces: dict[str, tuple[list[float], list[float]]] = {}
    url = report.options.tsdb_url
    for row in report.rows:
        s = row.scenario
        if url and s.start_time is not None and s.end_time is not None and s.end_time > s.start_time:
            from ffwatt.readers.tsdb import TsdbError, power_trace

            try:
                traces[row.label] = power_trace(url, s.start_time, s.end_time)
                continue
            except TsdbError as exc:
                report.notes.append(f"{row.label}: no TSDB power trace ({exc}); using the file's samples")
        if len(s.power_watts) >= 2:
            step = s.step_seconds or (s.measured_seconds / (len(s.power_watts) - 1))
            traces[row.label] = ([i * step for i in range(len(s.power_watts))], list(s.power_watts))
    return traces


def _tsdb_energy(runs: Sequence[RunInput], url: str, notes: list[str]) -> dict[tuple[str, str], float]:
    """Energy of scenarios that have none, integrated from the TSDB's power trace (source `tsdb`)."""
    from ffwatt.contract import formulas
    from ffwatt.readers.tsdb import TsdbError, power_trace

    out = {}
    for r in runs:
        for s in r.run.scenarios:
            if s.energy_joules is not None or s.start_time is None or s.end_time is None:
                continue
            if s.end_time <= s.start_time:
                continue
            try:
                times, watts = power_trace(url, s.start_time, s.end_time)
            except TsdbError as exc:
                notes.append(f"{s.name}: no energy from the TSDB ({exc})")
                continue
            if len(times) >= 2:
                out[(r.label, s.name)] = formulas.trapezoid_energy_joules(watts, times[1] - times[0])
    return out


def _check(options: ReportOptions) -> None:
    if options.method not in METHODS:
        raise ReportError(f"--bd-method must be one of {', '.join(METHODS)}, got {options.method!r}")
    if not 0 <= options.min_overlap <= 1:
        raise ReportError(f"--min-overlap must be between 0 and 1, got {options.min_overlap!r}")
    if not options.results:
        raise ReportError("no results file given")


def build_report(options: ReportOptions) -> Report:
    """Load the files and compute every figure; writes nothing."""
    _check(options)
    runs = [load_run(p) for p in options.results]
    labels = [r.label for r in runs]
    if len(set(labels)) != len(labels):  # same stem in two folders: prefix the folder
        runs = [load_run(p, f"{p.parent.name}/{p.stem}") for p in options.results]
    notes: list[str] = []
    tsdb_energy = _tsdb_energy(runs, options.tsdb_url, notes) if options.tsdb_url else None
    rows = all_rows(runs, options.prices, tsdb_energy)
    curves = build_curves(rows)
    lads = ladders(rows)
    anchor, anchor_notes = choose_anchor(curves, options.anchor, runs)
    deltas, delta_notes = all_deltas(curves, anchor, options.method, options.min_overlap, lads)
    report = Report(options=options, runs=runs, rows=rows, curves=curves, deltas=deltas,
                    notes=notes + anchor_notes + delta_notes, anchor=anchor, ladders=lads,
                    points=operating_points(curves, lads, anchor, options.targets, options.method),
                    model_notes=model_sentences(runs, rows))
    report.notes += [lad.scoring_problem for lad in lads if lad.scoring_problem]
    if options.tsdb_url:
        report.power_source = f"the TSDB at {options.tsdb_url} (CPU package + dram + GPU power)"
    if options.baseline_run is not None:
        report.baseline = load_run(options.baseline_run)
        old_rows = scenario_rows(report.baseline, options.prices)
        new_rows = [r for r in rows if not runs or r.run in ("", runs[0].label)]
        report.comparisons = compare_rows(old_rows, new_rows)
        if not report.comparisons:
            report.notes.append(f"--baseline-run {options.baseline_run}: no scenario name in common with "
                                f"{runs[0].run.path.name}")
    return report


def write_report(report: Report) -> None:
    """Draw the charts and write every file of the report under its `--out`."""
    out = report.options.out
    out.mkdir(parents=True, exist_ok=True)
    _draw(report)
    for name, render in (("scenarios.csv", render_csv), ("bd.csv", render_bd_csv),
                         ("operating_points.csv", render_points_csv), ("summary.md", render_markdown),
                         ("report.html", render_html)):
        write_file(out, name, render(report))


def make_report(options: ReportOptions) -> Report:
    """Load the files, compute every figure, draw the charts and write the report files."""
    report = build_report(options)
    write_report(report)
    return report


def _draw(report: Report) -> None:
    from ffwatt.report import charts as c
    from ffwatt.report import energy_charts as ec

    out = report.options.out

    def add(name: str, title: str, fig, why_missing: str, caption: str = "") -> None:
        if fig is None:
            report.missing_charts.append((title, why_missing))
        else:
            report.charts.append(c.save(fig, out, name, title, caption))

    method = report.options.method
    add("hull", "Convex hull over resolutions, with energy", c.hull_chart(report.ladders),
        "no clip was encoded at two or more sizes with a bitrate and a VMAF score",
        "Per clip and encoder: left, VMAF (as scored: at the display size when the run scored it so) against "
        "bitrate, the line the rate-quality convex hull over resolutions (filled markers: the rungs to keep for "
        "quality); right, the same encodes against energy per stream-second of video, the line the energy hull "
        "(filled: the rungs to keep for joules). Marker shape: resolution.")
    add("rd_vmaf", "Rate-distortion (VMAF)", c.rd_chart(report.curves, "vmaf"),
        "no encode with both a bitrate and a VMAF score",
        "VMAF (pooled mean over frames) against the bitrate of one stream, one facet per clip, one curve per "
        "encoder/preset.")
    add("rd_psnr", "Rate-distortion (PSNR)", c.rd_chart(report.curves, "psnr"),
        "no encode with both a bitrate and a PSNR score",
        "PSNR (luma-weighted Y/U/V) against the measured bitrate of one stream.")
    add("quality_energy", "Quality against energy", ec.quality_energy_chart(report.rows),
        "no encode with both a VMAF score and an energy figure",
        "VMAF against joules per stream per second of video; the dashed line joins the Pareto front "
        "(the scenarios no other beats on both energy and quality); error bars: 95 % CI over repetitions.")
    add("energy_vmaf", "Energy against VMAF (BD-energy curves)", ec.energy_vmaf_chart(report.curves, report.deltas,
                                                                                      method),
        "no curve with two points that have VMAF and energy",
        f"The curves the energy counterpart of BD-rate integrates: log10(energy) interpolated against VMAF "
        f"with {method}; the shaded band is the VMAF range both curves of the first pair reach.")
    add("scenario_energy", "Energy per scenario", ec.scenario_energy_chart(report.rows),
        "no scenario has an energy figure",
        "Energy of each scenario over its wall-clock span, coloured by what produced it "
        "(measured by a meter, estimated by the CPU power model, simulated).")
    add("power", "Power over time", ec.power_chart(_traces(report), report.power_source,
                                                  {r.label: r.scenario.encoder or "none" for r in report.rows}),
        "no scenario has two or more power samples (encodes shorter than the sample interval have none)",
        f"Power per scenario from {report.power_source}.")
    for i, run in enumerate(report.runs):
        for j, sweep in enumerate(run.sweeps):
            name = f"capacity_{i}_{j}" if len(report.runs) > 1 or len(run.sweeps) > 1 else "capacity"
            add(name, f"Capacity sweep: {sweep.get('name', j)}", ec.capacity_chart(sweep),
                "the sweep has no step with a stream count",
                "Energy (left) and the slowest stream's speed (right) against the number of parallel streams; "
                "the dotted line is the knee (the most streams that still held real time).")
    if report.baseline is not None:
        add("compare_energy", "Energy change against the baseline run", ec.compare_chart(report.comparisons),
            "no scenario in common with an energy figure in both runs",
            "Energy change per scenario in percent of the baseline run; green/red: significant decrease/increase "
            "(Welch's t-test, 5 %), grey: not significant or without repetitions.")
