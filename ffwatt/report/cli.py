"""The `ffwatt report` subcommand's flags and entry point; `ffwatt/cli/main.py` registers it.

Standard library only at import time: building `ffwatt --help` must not load matplotlib.
The price and carbon flags mirror the cost exporter's settings and defaults, so the
report's cost and emissions match the dashboards.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ffwatt.contract import formulas

__all__ = ["add_arguments", "run"]


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text!r}")
    return value


def _targets(text: str):
    from ffwatt.report.operating import parse_targets  # standard library only: cheap at parser build time

    try:
        return parse_targets(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", type=Path, metavar="RESULTS.json",
                   help="results file(s) written by `ffwatt run`; several are combined (curves across files)")
    p.add_argument("--out", type=Path, required=True, help="directory the report is written to")
    p.add_argument("--baseline-run", type=Path, default=None, metavar="OLD.json",
                   help="an earlier results file: per-scenario deltas against it, with significance")
    p.add_argument("--tsdb-url", default=None,
                   help="VictoriaMetrics/Prometheus base URL: power traces (and missing energy) from it")
    p.add_argument("--anchor", default=None, metavar="ENCODER[/PRESET]",
                   help="the curves every BD figure is against (default: the first encoder of the scenario file, "
                        "recorded in the results header)")
    p.add_argument("--targets", type=_targets, default=None, metavar="METRIC=VALUE,...",
                   help="target qualities of the operating points: what each encoder needs to reach them "
                        "(default: vmaf=80,vmaf=90,vmaf=95; e.g. vmaf=93,psnr=40)")
    p.add_argument("--min-overlap", type=_share, default=0.5, metavar="SHARE",
                   help="refuse a BD figure when the curves overlap on less than this share (0..1) of the shorter "
                        "curve's range (default: 0.5)")
    p.add_argument("--bd-method", choices=("pchip", "akima"), default="pchip",
                   help="interpolation of the Bjøntegaard deltas")
    p.add_argument("--energy-price", type=_non_negative, default=0.30, help="energy price per kWh, in --currency")
    p.add_argument("--core-hour-price", type=_non_negative, default=0.04,
                   help="compute price per CPU core-hour, in --currency")
    p.add_argument("--currency", default="EUR", help="currency label of the costs")
    p.add_argument("--carbon-intensity", type=_non_negative, default=formulas.DEFAULT_CARBON_INTENSITY,
                   help="grid carbon intensity, g CO2e per kWh")
    p.add_argument("--pue", type=_positive, default=1.0, help="power usage effectiveness (1.0: the machine alone)")
    p.add_argument("--title", default="ffwatt benchmark report", help="the report's title")


def run(args: argparse.Namespace) -> int:
    """Make the report; `error: ...` and 2 when an input is refused or the extra is missing."""
    try:
        import bjontegaard  # noqa: F401  (fail early, with the fix, when the extra is missing)
        import matplotlib  # noqa: F401

        from ffwatt.report.build import ReportOptions, make_report
        from ffwatt.report.cells import clip_text, curve_text, point_sentences
        from ffwatt.report.data import Prices, ReportError
    except ImportError as exc:
        print(f"error: ffwatt report needs the optional extra: pip install 'ffwatt[report]' ({exc})",
              file=sys.stderr)
        return 2
    prices = Prices(energy_price=args.energy_price, core_hour_price=args.core_hour_price,
                    carbon_intensity=args.carbon_intensity, pue=args.pue, currency=args.currency)
    options = ReportOptions(results=tuple(args.results), out=args.out, prices=prices,
                            baseline_run=args.baseline_run, tsdb_url=(args.tsdb_url or "").strip() or None,
                            method=args.bd_method, title=args.title, anchor=args.anchor,
                            min_overlap=args.min_overlap, **({"targets": args.targets} if args.targets else {}))
    try:
        report = make_report(options)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    refused = sum(1 for d in report.deltas if d.refused)
    print(f"report: {options.out / 'report.html'} ({len(report.rows)} scenario(s), {len(report.charts)} chart(s), "
          f"{len(report.deltas) - refused} BD figure(s), {refused} refused)")
    if report.anchor is not None:
        print(f"anchor: {report.anchor.label} ({report.anchor.chosen}); every figure in {options.out / 'bd.csv'}")
    for row in report.incomplete:
        print(f"incomplete (in no curve): {row.label}: got {row.scenario.total_frames} of "
              f"{row.scenario.expected_frames} expected frames")
    for d in report.deltas:
        clip = f"[{clip_text(d)}{', ' + curve_text(d) if d.hull or d.rung else ''}] "
        if d.refused:
            print(f"  {clip}{d.kind} {d.test} vs {d.anchor}: refused: {d.refused}")
        else:
            ci = f" ± {d.ci95:.2f}" if d.ci95 is not None else ""
            print(f"  {clip}{d.kind} {d.test} vs {d.anchor}: {d.value:+.2f} {d.unit}{ci}"
                  + (f" ({d.energy_kind})" if d.energy_kind else ""))
    for line in point_sentences(report):
        print(f"  {line}")
    return 0
