"""`ffwatt agent` (or `python -m ffwatt.exporters agent`): the per-host exporters in one process.

A lab host runs the catalog's `per_host` exporters (cpu, docker, gpu, ffmpeg). As
separate Python processes each pays the interpreter, prometheus_client and its
imports again; in one process they share them. Nothing else changes: every exporter
keeps its own source, refresh loop, snapshot, `/health` and self-metrics, and serves
on its own catalog port, so scrape configs, the health checker and the dashboards do
not notice.

Isolation: each exporter is a `Runtime` with its own refresh thread and its own HTTP
server thread. A source that hangs (NVML, a dead Docker socket) blocks only its own
refresh thread; the others refresh and serve on time. A source that raises is that
exporter's failure, reported in its own `/health`.

Settings: `--exporters cpu,gpu` picks which (default: every `per_host` exporter of the
catalog) and `--listen-address` and `--web-config-file` are shared. Every other flag of an exporter is given
with its name in front: `--cpu.powercap-root /sys/class/powercap`, `--gpu.port 9505`.
Environment variables work as for a lone exporter (`FFWATT_POWERCAP_ROOT`), except the
settings every exporter has (port, refresh interval, log level): one
`FFWATT_REFRESH_INTERVAL` would set them all, so they are read per exporter as
`FFWATT_<NAME>_PORT`, `FFWATT_<NAME>_REFRESH_INTERVAL`, `FFWATT_<NAME>_LOG_LEVEL`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Mapping, Sequence

from ffwatt.catalog import EXPORTERS
from ffwatt.common.errors import FfwattError
from ffwatt.exporters.config import Setting, add_settings, common_settings, server_settings
from ffwatt.exporters.registry import load
from ffwatt.exporters.runtime import Runtime, build

log = logging.getLogger("ffwatt")

PER_HOST = tuple(name for name, spec in EXPORTERS.items() if spec.per_host)
_EVERY_EXPORTER = common_settings(0, 1.0) + server_settings()
# port, refresh-interval, log-level: read per exporter (module docstring)
_SHARED = tuple(s for s in common_settings(0, 1.0) if s.name != "listen-address")
# The agent's own settings; the two it shares with every exporter are those exporters' declarations.
AGENT_SETTINGS = (
    Setting("exporters", ",".join(PER_HOST), "Comma-separated exporters to run (default: the per-host ones)."),
    *(s for s in _EVERY_EXPORTER if s.name in ("listen-address", "web-config-file")),
)


class AgentError(FfwattError, ValueError):
    """A bad agent command line: which exporter or flag, and why."""


def split_flags(names: Sequence[str], rest: Sequence[str]) -> dict[str, list[str]]:
    """`--cpu.powercap-root X --gpu.port=9 ...` -> {"cpu": ["--powercap-root", "X"], "gpu": ["--port=9"]}."""
    out: dict[str, list[str]] = {name: [] for name in names}
    current: list[str] | None = None
    for arg in rest:
        if arg.startswith("--") and "." in arg.split("=", 1)[0]:
            name, _, flag = arg[2:].partition(".")
            if name not in out:
                raise AgentError(f"{arg}: {name!r} is not one of the agent's exporters ({', '.join(names)})")
            current = out[name]
            current.append("--" + flag)
        elif current is not None and not arg.startswith("--"):
            current.append(arg)  # the value of the flag before
            current = None
        else:
            raise AgentError(f"{arg}: give an exporter's flag with its name in front, e.g. --cpu.powercap-root")
    return out


def environment_for(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment one exporter of the agent sees: the shared settings only from
    `FFWATT_<NAME>_...`, everything else as it is."""
    env = {k: v for k, v in environ.items() if k not in {s.env for s in _SHARED}}
    for setting in _SHARED:
        key = setting.env.replace("FFWATT_", f"FFWATT_{name.upper()}_", 1)
        if key in environ:
            env[setting.env] = environ[key]
    return env


def build_agent(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> list[Runtime]:
    """Parse the agent's command line and construct one runtime per exporter (not started)."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="ffwatt agent", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_settings(parser, AGENT_SETTINGS, environ)
    args, rest = parser.parse_known_args(argv)
    names = [n.strip() for n in args.exporters.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPORTERS or n == "health"]
    if unknown or not names:
        raise AgentError(f"--exporters: {', '.join(unknown) or 'none given'}: choose from "
                         f"{', '.join(n for n in EXPORTERS if n != 'health')}")
    if len(set(names)) != len(names):
        raise AgentError(f"--exporters: {args.exporters!r} names an exporter twice")
    flags = split_flags(names, rest)
    runtimes = []
    for name in names:
        own = ["--listen-address", args.listen_address, "--web-config-file", args.web_config_file, *flags[name]]
        runtimes.append(build(load(name), own, environment_for(name, environ)))
    return runtimes


def serve(runtimes: Sequence[Runtime], stop: threading.Event | None = None) -> None:
    """Start every runtime, run until SIGTERM/SIGINT (or `stop` is set), stop them all."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        def on_signal(signum, _frame):
            log.info("agent: %s received, shutting down", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    started = []
    try:
        for rt in runtimes:
            rt.start()
            started.append(rt)
            log.info("agent: %s serving %s://%s:%d/metrics", rt.exporter.name, rt.server.scheme,
                     rt.server.server_address[0], rt.port)
        while not stop.wait(1.0):
            pass
    finally:
        # Stop in parallel: one exporter whose refresh hangs must not hold the others' shutdown.
        threads = [threading.Thread(target=rt.stop, daemon=True) for rt in started]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until stopped; a bad command line raises `AgentError` (`ffwatt` prints it)."""
    serve(build_agent(argv))
    return 0
