"""`ffwatt`: the one command line. Thin: each subcommand is a pair `_add_<cmd>(subparsers)` /
`_cmd_<cmd>(args) -> int`; the work is done in its package.

    ffwatt run SCENARIOS.yml [--results-dir DIR] [--resume] [--dry-run] ...   (runner/)
    ffwatt report RESULTS.json [...] --out DIR                               (report/, docs/report.md)
    ffwatt exporter NAME [flags]      (exporters/; alias: python -m exporters NAME)
    ffwatt agent [--exporters cpu,gpu] [--cpu.FLAG VALUE ...]   (the per-host exporters in one process)

`python -m cli` and `python -m runner` are the same command. Every setting of `run` is also an
environment variable `FFWATT_<FLAG>` (`runner.settings`). A subcommand imports its package when
it is built or run, so `ffwatt --help` stays fast and the exporter image, which ships neither
runner/ nor report/, serves `ffwatt exporter`. `main()` prints `error: <message>` for an
`FfwattError` and returns its exit code (2; 130 after SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from common.errors import FfwattError
from common.settings import add_settings, add_switches
from common.version import ffwatt_version

__all__ = ["main"]


def _add_run(subparsers, environ: Mapping[str, str]) -> None:
    try:
        from runner.settings import RUN_SETTINGS, RUN_SWITCHES
    except ImportError as exc:
        _unavailable(subparsers, "run", exc, "runner")
        return
    p = subparsers.add_parser("run", help="run a scenario file and write a results file",
                              description="Run the scenarios of a YAML file (see docs/scenarios.md), measure "
                              "each, and write <results-dir>/test_results_YYYYMMDD_HHMMSS.json after each.",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("scenario_file", type=Path, help="scenario file, e.g. scenarios/quick.yml")
    add_settings(p, RUN_SETTINGS, environ)
    add_switches(p, RUN_SWITCHES, environ)
    p.add_argument("-v", "--verbose", action="store_true", help="log every command")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from runner.run import RunOptions, run

    return run(RunOptions(
        scenario_file=args.scenario_file, results_dir=args.results_dir, ffmpeg=args.ffmpeg, resume=args.resume,
        dry_run=args.dry_run, events=args.events, progress_url=args.progress_url,
        progress_token_file=args.progress_token_file,
        cpu_metrics_url=args.cpu_metrics_url, gpu_metrics_url=args.gpu_metrics_url, tsdb_url=args.tsdb_url,
        sample_interval=args.sample_interval, tdp_watts=args.tdp_watts, work_dir=args.work_dir,
        keep_outputs=args.keep_outputs, quality=not args.no_quality, rtmp_url=args.rtmp_url,
        rtmp_stat_url=args.rtmp_stat_url, rtmp_record_dir=args.rtmp_record_dir, nginx=args.nginx,
        max_scenarios=args.max_scenarios,
        powercap_root=args.powercap_root or "", exclusive=args.exclusive, seed=args.seed, order=args.order,
        min_window=args.min_window, cool_down=args.cool_down,
    ))


def _add_report(subparsers, environ: Mapping[str, str]) -> None:
    try:
        from report.cli import add_arguments
    except ImportError as exc:
        _unavailable(subparsers, "report", exc, "report")
        return
    p = subparsers.add_parser("report", help="write an HTML/PNG/SVG/CSV/Markdown report of results files",
                              description="Write a self-contained benchmark report (rate-distortion curves, "
                              "BD-rate and its energy counterpart, quality against energy, costs) of results "
                              "files. Needs the optional extra ffwatt[report]; see docs/report.md.",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from report.cli import run as report_run

    return report_run(args)


def _add_exporter(subparsers, environ: Mapping[str, str]) -> None:
    p = subparsers.add_parser("exporter", help="serve one exporter (same as python -m exporters NAME)",
                              add_help=False)
    p.add_argument("exporter_args", nargs=argparse.REMAINDER, help="NAME [flags]")
    p.set_defaults(func=_cmd_exporter)


def _cmd_exporter(args: argparse.Namespace) -> int:
    from exporters.command import main as exporter_main

    return exporter_main(args.exporter_args)


def _add_agent(subparsers, environ: Mapping[str, str]) -> None:
    p = subparsers.add_parser("agent", help="serve the per-host exporters in one process (python -m exporters agent)",
                              add_help=False)
    p.add_argument("agent_args", nargs=argparse.REMAINDER, help="--exporters cpu,gpu --cpu.FLAG VALUE ...")
    p.set_defaults(func=_cmd_agent)


def _cmd_agent(args: argparse.Namespace) -> int:
    from exporters import agent

    return agent.main(args.agent_args)


def _unavailable(subparsers, name: str, exc: ImportError, extra: str) -> None:
    """A subcommand whose package is not installed here (the exporter image has no runner/ and
    no report/): listed, and running it says how to get it."""
    reason = str(exc)
    p = subparsers.add_parser(name, help=f"(unavailable: {reason})", add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)

    def refuse(args: argparse.Namespace) -> int:
        raise FfwattError(f"ffwatt {name} is unavailable ({reason}); install it: pip install 'ffwatt[{extra}]'")

    p.set_defaults(func=refuse)


def _parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffwatt", description="Energy, cost and quality benchmarks of video "
                                     "encoders, shown on generated Grafana dashboards.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {ffwatt_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run(subparsers, environ)
    _add_report(subparsers, environ)
    _add_exporter(subparsers, environ)
    _add_agent(subparsers, environ)
    return parser


# `exporter` and `agent` hand every argument on as it is (their own --help included), which
# argparse's REMAINDER does not do for options.
_PASSTHROUGH = {"exporter": (_cmd_exporter, "exporter_args"), "agent": (_cmd_agent, "agent_args")}


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in _PASSTHROUGH:
            command, key = _PASSTHROUGH[argv[0]]
            return command(argparse.Namespace(**{key: argv[1:]}))
        args = _parser(environ).parse_args(argv)
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                                format="ffwatt: %(levelname)s: %(message)s", stream=sys.stderr)
        return args.func(args)
    except FfwattError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
