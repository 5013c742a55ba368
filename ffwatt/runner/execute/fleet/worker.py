"""`ffwatt worker SCHEDULER`: this lab host as one Dask worker.

One thread, so one scenario at a time: a host's energy over a scenario's window is that
scenario's alone (the `slot` resource says the same to the scheduler). The host's capabilities
are detected once at start (ffwatt/runner/execute/fleet/capabilities.py) and advertised as worker resources;
a task (ffwatt/runner/execute/fleet/task.py) finds this host's settings in `host_state()`. The worker
listens on loopback unless `--listen-host` says otherwise (a lab host's address for a
scheduler elsewhere).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.execute.fleet.capabilities import DEFAULT_POWERCAP_ROOT, Capabilities, detect
from ffwatt.runner.measure.ffmpeg_probe import FfmpegInfo, default_ffmpeg, probe
from ffwatt.runner.meter.idle_power import IdlePower
from ffwatt.runner.settings import WorkerOptions

__all__ = ["HostState", "host_state", "serve", "WorkerOptions"]

log = logging.getLogger("ffwatt.worker")


@dataclass
class HostState:
    """This host as the tasks see it: its name, capabilities, ffmpeg and work dir; `lock` holds one
    task at a time even if Dask gave the worker more threads."""

    name: str
    capabilities: Capabilities
    info: FfmpegInfo  # probed once
    work_dir: Path
    lock: threading.Lock
    powercap_root: Path = DEFAULT_POWERCAP_ROOT  # where the in-process meter reads RAPL (issue 22)
    idle: IdlePower | None = None  # this host's idle power (a baseline's or its probe's), kept across tasks


_HOST: HostState | None = None


def host_state() -> HostState:
    if _HOST is None:
        raise RunnerError("this Dask worker was not started by `ffwatt worker` (it has no host state): "
                          "start lab workers with `ffwatt worker SCHEDULER`")
    return _HOST


def serve(opts: WorkerOptions) -> int:
    """Detect, join the scheduler, run tasks until the scheduler goes or SIGINT/SIGTERM."""
    global _HOST
    name = opts.name or socket.gethostname()
    caps = detect(name, opts.ffmpeg or default_ffmpeg() or "ffmpeg", opts.powercap_root)
    own_dir = opts.work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix=f"ffwatt-worker-{name}-")) if own_dir else Path(opts.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    _HOST = HostState(name, caps, probe(caps.ffmpeg_path), work_dir, threading.Lock(), Path(opts.powercap_root))
    resources = caps.resources()
    log.info("worker %s: %d encoder(s) open here, RAPL %s, %d GPU(s); resources: %s", name, len(caps.encoders),
             "readable" if caps.rapl_readable else f"not readable ({caps.rapl_problem})", caps.gpu_count,
             ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items())))
    try:
        asyncio.run(_worker(opts, name, resources))
    finally:
        if own_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


async def _worker(opts: WorkerOptions, name: str, resources: dict[str, float]) -> None:
    from distributed import Worker

    # nthreads=1: one scenario at a time. No nanny: a lost worker is a lost host, and the
    # scheduler reschedules its scenario elsewhere (docs/fleet.md).
    worker = Worker(opts.scheduler, nthreads=1, name=name, resources=resources, host=opts.listen_host,
                    death_timeout=opts.connect_timeout)
    try:
        await worker
    except (OSError, TimeoutError) as exc:
        raise RunnerError(f"worker {name}: cannot join the scheduler at {opts.scheduler}: {exc}") from None
    log.info("worker %s: joined %s as %s", name, opts.scheduler, worker.address)
    await worker.finished()
