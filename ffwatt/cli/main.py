"""`ffwatt`: the one command line. Thin: each subcommand is a pair `_add_<cmd>(subparsers)` /
`_cmd_<cmd>(args) -> int`; the work is done in its package.

    ffwatt run SCENARIOS.yml|NAME [--results-dir DIR] [--resume] [--dry-run] ...   (runner/)
    ffwatt report RESULTS.json [...] --out DIR                               (report/, docs/report.md)
    ffwatt score DISTORTED REFERENCE [--resolution source|encode|WxH] [--json]  (ffwatt/runner/measure/score.py)
    ffwatt audit RESULTS.json [--explain NAME]   (every energy figure recomputed: ffwatt/contract/audit.py)
    ffwatt dashboards --out DIR       (the provisioning tree: dashboards, datasources, scrape configs, alerts)
    ffwatt exporter NAME [flags]      (exporters/; alias: python -m ffwatt.exporters NAME)
    ffwatt agent [--exporters cpu,gpu] [--cpu.FLAG VALUE ...]   (the per-host exporters in one process)
    ffwatt worker SCHEDULER [--name HOST]   (this lab host as a fleet worker; runner/execute/fleet, docs/fleet.md)
    ffwatt scheduler [--host H] [--port P]  (the lab's Dask scheduler, loopback unless --tls-dir)
    ffwatt fleet certs DIR                  (the lab's CA and a certificate per role, for mutual TLS)

`python -m ffwatt` is the same command. The options of run, worker, scheduler, fleet certs, score and dashboards are
declared once, as their options structs (`runner.settings`, `deploy.tree`); the parsers are built
from them and so are the structs (`common.settings`), and every setting is also an environment
variable `FFWATT_<FLAG>`. A subcommand imports its package when it is built or run, so `ffwatt
--help` stays fast and the exporter image, which ships neither runner/ nor report/, serves `ffwatt
exporter`. `main()` prints `error: <message>` for every `FfwattError` and returns its exit code
(2; 130 after SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from ffwatt.common.errors import FfwattError
from ffwatt.common.settings import add_options, options_from
from ffwatt.common.version import ffwatt_version

__all__ = ["main"]

_FORMAT = argparse.ArgumentDefaultsHelpFormatter


def _add(subparsers, environ: Mapping[str, str], name: str, options: Callable[[], type], extra: str,
         func: Callable[[argparse.Namespace], int], help: str, description: str, *, verbose: bool = False) -> None:
    """A subcommand whose options are the struct `options()` returns (imported when the parser is
    built; a missing package lists the subcommand as unavailable, with the extra to install)."""
    try:
        cls = options()
    except ImportError as exc:
        _unavailable(subparsers, name, exc, extra)
        return
    p = subparsers.add_parser(name, help=help, description=description, formatter_class=_FORMAT)
    add_options(p, cls, environ)
    if verbose:
        p.add_argument("-v", "--verbose", action="store_true", help="log every command")
    p.set_defaults(func=lambda args: func(options_from(cls, args)))


def _run_options() -> type:
    from ffwatt.runner.settings import RunOptions

    return RunOptions


def _cmd_run(opts) -> int:
    from ffwatt.runner.run import run

    return run(opts)


def _cmd_worker(opts) -> int:
    try:
        from ffwatt.runner.execute.fleet.worker import serve
    except ImportError as exc:
        raise FfwattError(f"ffwatt worker is unavailable ({exc}); install it: pip install 'ffwatt[fleet]'") from None
    return serve(opts)


def _fleet(name: str) -> Callable[[], type]:
    """The options struct of a fleet command (`runner.settings`)."""

    def options() -> type:
        from ffwatt.runner import settings

        return getattr(settings, name)

    return options


def _cmd_scheduler(opts) -> int:
    try:
        from ffwatt.runner.execute.fleet.scheduler import serve
    except ImportError as exc:
        raise FfwattError(f"ffwatt scheduler is unavailable ({exc}); install it: pip install 'ffwatt[fleet]'") from None
    return serve(opts)


def _cmd_certs(opts) -> int:
    from ffwatt.runner.execute.fleet.certs import make_lab_certs

    for path in make_lab_certs(opts.folder, opts.days):
        print(f"wrote {path}")
    print(f"{opts.folder}: copy ca.pem and ROLE.pem + ROLE-key.pem to each host (scheduler, every worker, the client); "
          "keep ca-key.pem elsewhere (docs/fleet.md)")
    return 0


def _add_fleet(subparsers, environ: Mapping[str, str]) -> None:
    """`ffwatt fleet certs DIR` (and room for more lab chores)."""
    p = subparsers.add_parser("fleet", help="lab chores: certs (the lab's CA and certificates)",
                              description="Lab chores for a fleet of hosts (docs/fleet.md).", formatter_class=_FORMAT)
    chores = p.add_subparsers(dest="chore", metavar="CHORE", required=True)
    _add(chores, environ, "certs", _fleet("CertsOptions"), "fleet", _cmd_certs,
         "write the lab's CA and a certificate per role (scheduler, worker, client)",
         "Write DIR/ca.pem, ca-key.pem and, for each role scheduler, worker and client, ROLE.pem and ROLE-key.pem "
         "(keys 0600): the mutual TLS of `ffwatt scheduler|worker|run --cluster --tls-dir DIR`. Existing files are "
         "never overwritten.")


def _score_options() -> type:
    from ffwatt.runner.settings import ScoreOptions

    return ScoreOptions


def _cmd_score(opts) -> int:
    import json

    from ffwatt.runner.measure.ffmpeg_probe import default_ffmpeg
    from ffwatt.runner.measure.score import as_json, as_text, score, write_frames_csv

    result = score(opts.ffmpeg or default_ffmpeg() or "ffmpeg", opts.distorted, opts.reference,
                   resolution=opts.resolution, model=opts.model, force=opts.force)
    if opts.frames_csv is not None:
        write_frames_csv(opts.frames_csv, result.result)
    sys.stdout.write(json.dumps(as_json(result), indent=2) + "\n" if opts.json else as_text(result))
    return 0


def _audit_options() -> type:
    from ffwatt.contract.audit_report import AuditOptions

    return AuditOptions


def _cmd_audit(opts) -> int:
    from ffwatt.contract.audit_report import run as audit_run

    return audit_run(opts)


def _dashboards_options() -> type:
    from ffwatt.deploy.tree import DashboardsOptions  # the exporter image ships no deploy/

    return DashboardsOptions


def _cmd_dashboards(opts) -> int:
    from ffwatt.deploy.tree import render_tree, write_tree

    differ = write_tree(render_tree(opts.out), opts.out, check=opts.check)
    for path in differ:
        print(f"{'differs' if opts.check else 'wrote'} {opts.out / path}")
    if not opts.check:
        print(f"{opts.out}: {len(differ)} file(s) written; Grafana: provisioning/, VictoriaMetrics and vmalert: "
              "victoriametrics/ (docs/deployment.md)")
    return 1 if opts.check and differ else 0


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
                              formatter_class=_FORMAT)
    add_arguments(p)
    p.set_defaults(func=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from ffwatt.report.cli import run as report_run

    return report_run(args)


def _add_passthrough(subparsers, name: str, help: str, usage: str) -> None:
    """`exporter` and `agent` parse their own arguments (`main` hands them on before argparse)."""
    p = subparsers.add_parser(name, help=help, add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, help=usage)


def _cmd_exporter(argv: list[str]) -> int:
    from ffwatt.exporters.command import main as exporter_main

    return exporter_main(argv)


def _cmd_agent(argv: list[str]) -> int:
    from ffwatt.exporters import agent

    return agent.main(argv)


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
    _add(subparsers, environ, "run", _run_options, "runner", _cmd_run,
         "run a scenario file and write a results file",
         "Run the scenarios of a YAML file (see docs/scenarios.md), measure each, and write "
         "<results-dir>/test_results_YYYYMMDD_HHMMSS.json after each.", verbose=True)
    _add_report(subparsers, environ)
    _add(subparsers, environ, "score", _score_options, "runner", _cmd_score,
         "score a distorted video against its reference (VMAF, PSNR, SSIM)",
         "Score DISTORTED against REFERENCE in one ffmpeg pass, the runner's own quality pass: VMAF (mean, "
         "harmonic mean, min, 1%% low), PSNR per plane, SSIM. See docs/quality.md.")
    _add(subparsers, environ, "audit", _audit_options, "runner", _cmd_audit,
         "recompute every energy figure of a results file from its recorded inputs",
         "Recompute each scenario's and repetition's energy (the machine's, its own share, per encode), the idle "
         "checks and the sweeps' energies of RESULTS.json from the inputs the file records, with the formulas of "
         "ffwatt.contract.formulas, and print each with its inputs, cost and carbon. Exit 0 when every figure "
         "agrees within 1e-6 relative, 1 naming each scenario that does not, 2 when the file cannot be read. See "
         "docs/energy.md, 'How to check a figure'.")
    _add(subparsers, environ, "dashboards", _dashboards_options, "runner", _cmd_dashboards,
         "write the Grafana + VictoriaMetrics provisioning tree (dashboards, scrape configs, alerts)",
         "Write what a Grafana + VictoriaMetrics deployment of ffwatt needs, generated from the metric catalog: "
         "provisioning/ (dashboards JSON, datasources) and victoriametrics/ (scrape configs, target lists, alert "
         "rules, vmagent configs). DIR/victoriametrics/hosts.yml lists the lab's hosts: edit it and run again.")
    _add_passthrough(subparsers, "exporter", "serve one exporter (same as python -m ffwatt.exporters NAME)",
                     "NAME [flags]")
    _add_passthrough(subparsers, "agent", "serve the per-host exporters in one process",
                     "--exporters cpu,gpu --cpu.FLAG VALUE ...")
    _add(subparsers, environ, "worker", _fleet("WorkerOptions"), "fleet", _cmd_worker,
         "serve this lab host as a fleet worker (one scenario at a time)",
         "Join a Dask scheduler as one worker for this host: one scenario at a time, capabilities (encoders "
         "ffmpeg can open, GPUs, RAPL) advertised as worker resources. `ffwatt run --cluster SCHEDULER` sends it "
         "scenarios. See docs/fleet.md.", verbose=True)
    _add(subparsers, environ, "scheduler", _fleet("SchedulerOptions"), "fleet", _cmd_scheduler,
         "serve the lab's Dask scheduler (loopback, or mutual TLS with --tls-dir)",
         "Serve Dask's scheduler for `ffwatt worker` and `ffwatt run --cluster`: on 127.0.0.1:8786 by default; "
         "another address only with the lab's mutual TLS (--tls-dir, `ffwatt fleet certs`); no dashboard unless "
         "--dashboard. See docs/fleet.md.", verbose=True)
    _add_fleet(subparsers, environ)
    return parser


# `exporter` and `agent` hand every argument on as it is (their own --help included), which
# argparse's REMAINDER does not do for options.
_PASSTHROUGH = {"exporter": _cmd_exporter, "agent": _cmd_agent}


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in _PASSTHROUGH:
            return _PASSTHROUGH[argv[0]](argv[1:])
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
