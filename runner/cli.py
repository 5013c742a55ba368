"""`ffwatt`: the command line. Thin: each subcommand is a pair `_add_<cmd>(subparsers)` /
`_cmd_<cmd>(args) -> int`; the work is done in `runner.run` and `exporters`.

    ffwatt run SCENARIOS.yml [--results-dir DIR] [--resume] [--dry-run] ...
    ffwatt exporter NAME [flags]       (the same as `python -m exporters NAME`)
    ffwatt agent [--exporters cpu,gpu] [--cpu.FLAG VALUE ...]   (the per-host exporters in one process)
    ffwatt report RESULTS.json [...] --out DIR   (see docs/report.md)

Every `run` setting is also an environment variable `FFWATT_<FLAG>` (flag wins, then the
variable, then the default), as for the exporters (`exporters.config.Setting`).
`main()` prints `error: <message>` and returns 2 for a `RunnerError`, 130 after SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from contract import formulas
from exporters.config import Setting, positive_float, positive_int
from runner.errors import RunInterruptedError, RunnerError

__all__ = ["main", "RUN_SETTINGS"]


def _url(text: str) -> str | None:
    return text.strip() or None  # '' disables


def _rtmp_url(text: str) -> str | None:
    value = text.strip().rstrip("/")
    if not value:
        return None  # '' means: start our own server
    if not value.startswith(("rtmp://", "rtmps://")) or value.count("/") < 3:
        raise ValueError(f"expected an RTMP application URL like rtmp://host:1935/live, got {text!r}")
    return value


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


RUN_SETTINGS = (
    Setting("results-dir", "test_results", "Directory the results file is written to.", Path),
    Setting("ffmpeg", None, "ffmpeg binary (default: the static ffmpeg of imageio-ffmpeg, which has libvmaf)."),
    Setting("events", None, "Append NDJSON events (scenario-start, progress, scenario-done, ...) to this file.", Path),
    Setting("progress-url", "http://127.0.0.1:9506",
            "Base URL of the ffmpeg exporter that receives live progress ('' disables).", _url),
    Setting("cpu-metrics-url", "http://127.0.0.1:9500/metrics",
            "The cpu (RAPL) exporter's /metrics, for the joules counters ('' disables).", _url),
    Setting("gpu-metrics-url", "http://127.0.0.1:9505/metrics",
            "The gpu (NVML) exporter's /metrics, for the joules counters ('' disables).", _url),
    Setting("tsdb-url", None, "VictoriaMetrics base URL: read the joules increase from it instead.", _url),
    Setting("sample-interval", 1.0, "Seconds between power and CPU samples.", positive_float),
    Setting("tdp-watts", formulas.DEFAULT_TDP_WATTS,
            "CPU TDP in watts for the power model used without RAPL/NVML.", positive_float),
    Setting("work-dir", None, "Where encoded outputs go (default: a temp dir, removed at the end).", Path),
    Setting("rtmp-url", None, "Live mode: publish to this existing RTMP application (rtmp://host:1935/live) "
            "instead of starting the runner's own nginx-rtmp ('' starts our own).", _rtmp_url),
    Setting("rtmp-stat-url", None, "The /stat URL of the --rtmp-url server (to wait for a stream to close).", _url),
    Setting("rtmp-record-dir", None, "Where the --rtmp-url server records streams (<dir>/<stream>.flv): live "
            "quality is scored on those recordings (without it, live quality is not measured).", Path),
    Setting("nginx", "nginx", "nginx binary for the runner's own RTMP server (needs the Debian packages nginx "
            "libnginx-mod-rtmp)."),
    Setting("max-scenarios", 10_000, "Refuse a scenario file that expands to more scenarios (matrix bombs).", positive_int),
)
_RUN_SWITCHES = (
    Setting("resume", False, "Continue the newest results file of this scenario file, skipping completed "
            "scenarios.", _flag),
    Setting("dry-run", False, "Print the expanded scenarios and the exact ffmpeg commands; run nothing.", _flag),
    Setting("keep-outputs", False, "Keep the encoded files in the work dir.", _flag),
    Setting("no-quality", False, "Skip the VMAF/PSNR/SSIM pass.", _flag),
)


def _env_default(setting: Setting, environ: Mapping[str, str], parser: argparse.ArgumentParser):
    if setting.env not in environ:
        return setting.default
    try:
        return setting.type(environ[setting.env])
    except (TypeError, ValueError) as exc:
        parser.error(f"environment variable {setting.env}={environ[setting.env]!r} is invalid for {setting.flag}: "
                     f"{exc}")


def _add_run(subparsers, environ: Mapping[str, str]) -> None:
    p = subparsers.add_parser("run", help="run a scenario file and write a results file",
                              description="Run the scenarios of a YAML file (see docs/scenarios.md), measure "
                              "each, and write <results-dir>/test_results_YYYYMMDD_HHMMSS.json after each.",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("scenario_file", type=Path, help="scenario file, e.g. scenarios/quick.yml")
    for s in RUN_SETTINGS:
        p.add_argument(s.flag, dest=s.attr, default=_env_default(s, environ, p), type=s.type,
                       help=f"{s.help} [env {s.env}]")
    for s in _RUN_SWITCHES:
        p.add_argument(s.flag, dest=s.attr, default=_env_default(s, environ, p), action="store_true",
                       help=f"{s.help} [env {s.env}]")
    p.add_argument("-v", "--verbose", action="store_true", help="log every command")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from runner.run import RunOptions, run

    return run(RunOptions(
        scenario_file=args.scenario_file, results_dir=args.results_dir, ffmpeg=args.ffmpeg, resume=args.resume,
        dry_run=args.dry_run, events=args.events, progress_url=args.progress_url,
        cpu_metrics_url=args.cpu_metrics_url, gpu_metrics_url=args.gpu_metrics_url, tsdb_url=args.tsdb_url,
        sample_interval=args.sample_interval, tdp_watts=args.tdp_watts, work_dir=args.work_dir,
        keep_outputs=args.keep_outputs, quality=not args.no_quality, rtmp_url=args.rtmp_url,
        rtmp_stat_url=args.rtmp_stat_url, rtmp_record_dir=args.rtmp_record_dir, nginx=args.nginx,
        max_scenarios=args.max_scenarios,
    ))


def _add_exporter(subparsers, environ: Mapping[str, str]) -> None:
    p = subparsers.add_parser("exporter", help="serve one exporter (same as python -m exporters NAME)",
                              add_help=False)
    p.add_argument("exporter_args", nargs=argparse.REMAINDER, help="NAME [flags]")
    p.set_defaults(func=_cmd_exporter)


def _cmd_exporter(args: argparse.Namespace) -> int:
    from exporters.__main__ import main as exporters_main

    return exporters_main(list(args.exporter_args))


def _add_agent(subparsers, environ: Mapping[str, str]) -> None:
    p = subparsers.add_parser("agent", help="serve the per-host exporters in one process (python -m exporters agent)",
                              add_help=False)
    p.add_argument("agent_args", nargs=argparse.REMAINDER, help="--exporters cpu,gpu --cpu.FLAG VALUE ...")
    p.set_defaults(func=_cmd_agent)


def _cmd_agent(args: argparse.Namespace) -> int:
    from exporters import agent

    return agent.main(args.agent_args)


def _add_report(subparsers, environ: Mapping[str, str]) -> None:
    try:
        from report.cli import add_arguments
    except ImportError as exc:  # a stale install without the report package: `ffwatt run` still works
        reason = str(exc)
        p = subparsers.add_parser("report", help=f"(unavailable: {reason})", add_help=False)
        p.add_argument("args", nargs=argparse.REMAINDER)
        p.set_defaults(func=lambda args: _unavailable_report(reason))
        return
    p = subparsers.add_parser("report", help="write an HTML/PNG/SVG/CSV/Markdown report of results files",
                              description="Write a self-contained benchmark report (rate-distortion curves, "
                              "BD-rate and its energy counterpart, quality against energy, costs) of results "
                              "files. Needs the optional extra ffwatt[report]; see docs/report.md.",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=_cmd_report)


def _unavailable_report(reason: str) -> int:
    print(f"error: ffwatt report is unavailable ({reason}); reinstall ffwatt: pip install -e '.[report]'",
          file=sys.stderr)
    return 2


def _cmd_report(args: argparse.Namespace) -> int:
    from report.cli import run as report_run

    return report_run(args)


def _parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffwatt", description="Energy, cost and quality benchmarks of video "
                                     "encoders, shown on generated Grafana dashboards.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run(subparsers, environ)
    _add_exporter(subparsers, environ)
    _add_agent(subparsers, environ)
    _add_report(subparsers, environ)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ffwatt")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    argv = list(sys.argv[1:] if argv is None else argv)
    # `exporter` and `agent` hand every argument on as it is (their own --help included),
    # which argparse's REMAINDER does not do for options.
    passthrough = {"exporter": _cmd_exporter, "agent": _cmd_agent}
    if argv and argv[0] in passthrough:
        key = "exporter_args" if argv[0] == "exporter" else "agent_args"
        return passthrough[argv[0]](argparse.Namespace(**{key: argv[1:]}))
    args = _parser(environ).parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
                            format="ffwatt: %(levelname)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except RunInterruptedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 130
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
