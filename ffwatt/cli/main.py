"""`ffwatt`: the one command line. Thin: each subcommand is a pair `_add_<cmd>(subparsers)` /
`_cmd_<cmd>(args) -> int`; the work is done in its package.

    ffwatt run SCENARIOS.yml [--results-dir DIR] [--resume] [--dry-run] ...   (runner/)
    ffwatt report RESULTS.json [...] --out DIR                               (report/, docs/report.md)
    ffwatt score DISTORTED REFERENCE [--resolution source|encode|WxH] [--json]  (ffwatt/runner/score.py)
    ffwatt exporter NAME [flags]      (exporters/; alias: python -m exporters NAME)
    ffwatt agent [--exporters cpu,gpu] [--cpu.FLAG VALUE ...]   (the per-host exporters in one process)
    ffwatt worker SCHEDULER [--name HOST]   (this lab host as a fleet worker; runner/fleet, docs/fleet.md)

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

from ffwatt.common.errors import FfwattError
from ffwatt.common.settings import add_settings, add_switches
from ffwatt.common.version import ffwatt_version

__all__ = ["main"]


def _add_run(subparsers, environ: Mapping[str, str]) -> None:
    try:
        from ffwatt.runner.settings import RUN_SETTINGS, RUN_SWITCHES
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
    from ffwatt.runner.run import RunOptions, run

    return run(RunOptions(
        scenario_file=args.scenario_file, results_dir=args.results_dir, ffmpeg=args.ffmpeg, resume=args.resume,
        dry_run=args.dry_run, events=args.events, progress_url=args.progress_url,
        progress_token_file=args.progress_token_file,
        cpu_metrics_url=args.cpu_metrics_url, gpu_metrics_url=args.gpu_metrics_url, tsdb_url=args.tsdb_url,
        exporter_ca_file=args.exporter_ca_file,
        sample_interval=args.sample_interval, tdp_watts=args.tdp_watts, work_dir=args.work_dir,
        keep_outputs=args.keep_outputs, quality=not args.no_quality, rtmp_url=args.rtmp_url,
        rtmp_stat_url=args.rtmp_stat_url, rtmp_record_dir=args.rtmp_record_dir, nginx=args.nginx,
        max_scenarios=args.max_scenarios, cluster=args.cluster, pin_host=args.pin_host,
        powercap_root=args.powercap_root or "", exclusive=args.exclusive, seed=args.seed, order=args.order,
        min_window=args.min_window, cool_down=args.cool_down,
    ))


def _add_worker(subparsers, environ: Mapping[str, str]) -> None:
    p = subparsers.add_parser("worker", help="serve this lab host as a fleet worker (one scenario at a time)",
                              description="Join a Dask scheduler as one worker for this host: one scenario at a "
                              "time, capabilities (encoders ffmpeg can open, GPUs, RAPL) advertised as worker "
                              "resources. `ffwatt run --cluster SCHEDULER` sends it scenarios. See docs/fleet.md.",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("scheduler", help="the Dask scheduler's address, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--name", default=None, help="this host's name in results files (default: the hostname)")
    p.add_argument("--listen-host", default="127.0.0.1",
                   help="address the worker listens on; a scheduler on another host needs this host's address")
    p.add_argument("--ffmpeg", default=None, help="ffmpeg binary (default: imageio-ffmpeg's static build, else PATH)")
    p.add_argument("--work-dir", type=Path, default=None, help="where encodes are written (default: a temp dir)")
    p.add_argument("--powercap-root", type=Path, default=Path("/sys/class/powercap"),
                   help="powercap tree to check RAPL on")
    p.add_argument("-v", "--verbose", action="store_true", help="log every command")
    p.set_defaults(func=_cmd_worker)


def _cmd_worker(args: argparse.Namespace) -> int:
    try:
        from ffwatt.runner.fleet.worker import WorkerOptions, serve
    except ImportError as exc:
        raise FfwattError(f"ffwatt worker is unavailable ({exc}); install it: pip install 'ffwatt[fleet]'") from None
    return serve(WorkerOptions(scheduler=args.scheduler, name=args.name, listen_host=args.listen_host,
                               ffmpeg=args.ffmpeg, work_dir=args.work_dir, powercap_root=args.powercap_root))


def _add_score(subparsers, environ: Mapping[str, str]) -> None:
    try:
        from ffwatt.runner.settings import RUN_SETTINGS
    except ImportError as exc:
        _unavailable(subparsers, "score", exc, "runner")
        return
    p = subparsers.add_parser("score", help="score a distorted video against its reference (VMAF, PSNR, SSIM)",
                              description="Score DISTORTED against REFERENCE in one ffmpeg pass, the runner's own "
                              "quality pass: VMAF (mean, harmonic mean, min, 1%% low), PSNR per plane, SSIM. "
                              "See docs/quality.md.",
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("distorted", type=Path, help="the encoded file")
    p.add_argument("reference", type=Path, help="the file it was encoded from")
    add_settings(p, [s for s in RUN_SETTINGS if s.flag == "--ffmpeg"], environ)
    p.add_argument("--resolution", default="source",
                   help="where to score: source (the reference's size; the distorted upscaled with bicubic), "
                   "encode (the distorted's size) or WxH")
    p.add_argument("--model", default=None,
                   help="VMAF model (default: vmaf_4k_v0.6.1 when scored at 2160p or above, else vmaf_v0.6.1)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--frames-csv", type=Path, default=None, metavar="FILE", help="write per-frame scores to FILE")
    p.add_argument("--force", action="store_true", help="resample a distorted at another frame rate to the reference's (and say so)")
    p.set_defaults(func=_cmd_score)


def _cmd_score(args: argparse.Namespace) -> int:
    import json

    from ffwatt.runner.ffmpeg import default_ffmpeg
    from ffwatt.runner.score import as_json, as_text, score, write_frames_csv

    result = score(args.ffmpeg or default_ffmpeg() or "ffmpeg", args.distorted, args.reference,
                   resolution=args.resolution, model=args.model, force=args.force)
    if args.frames_csv is not None:
        write_frames_csv(args.frames_csv, result.result)
    sys.stdout.write(json.dumps(as_json(result), indent=2) + "\n" if args.json else as_text(result))
    return 0


def _add_report(subparsers, environ: Mapping[str, str]) -> None:
    try:
        from ffwatt.report.cli import add_arguments
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
    from ffwatt.report.cli import run as report_run

    return report_run(args)


def _add_exporter(subparsers, environ: Mapping[str, str]) -> None:
    p = subparsers.add_parser("exporter", help="serve one exporter (same as python -m exporters NAME)",
                              add_help=False)
    p.add_argument("exporter_args", nargs=argparse.REMAINDER, help="NAME [flags]")
    p.set_defaults(func=_cmd_exporter)


def _cmd_exporter(args: argparse.Namespace) -> int:
    from ffwatt.exporters.command import main as exporter_main

    return exporter_main(args.exporter_args)


def _add_agent(subparsers, environ: Mapping[str, str]) -> None:
    p = subparsers.add_parser("agent", help="serve the per-host exporters in one process (python -m exporters agent)",
                              add_help=False)
    p.add_argument("agent_args", nargs=argparse.REMAINDER, help="--exporters cpu,gpu --cpu.FLAG VALUE ...")
    p.set_defaults(func=_cmd_agent)


def _cmd_agent(args: argparse.Namespace) -> int:
    from ffwatt.exporters import agent

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
    _add_score(subparsers, environ)
    _add_exporter(subparsers, environ)
    _add_agent(subparsers, environ)
    _add_worker(subparsers, environ)
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
