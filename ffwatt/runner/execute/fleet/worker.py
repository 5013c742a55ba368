"""`ffwatt worker SCHEDULER`: this lab host as one Dask worker.

One thread, so one scenario at a time: a host's energy over a scenario's window is that
scenario's alone (the `slot` resource says the same to the scheduler). The host's capabilities
are detected once at start (ffwatt/runner/execute/fleet/capabilities.py) and advertised as worker
resources; a task (ffwatt/runner/execute/fleet/task.py) finds this host's settings in `host_state()`.

Reachability: the worker listens on loopback (`--listen-host`, `--listen-port`) unless the lab's
mutual TLS is on (`--tls-dir`, ffwatt/runner/execute/fleet/lab_tls.py); its HTTP server (Dask's
/health and /metrics) stays on loopback.

Its life (`_Lifetime`):

* joins the scheduler (within `connect_timeout`, else exit 2 with the reason);
* the scheduler lost (killed, restarted, the network): its running ffmpeg is stopped (no one can
  take the result any more), then it tries to join again for `--reconnect-timeout` seconds
  (60 by default) and goes on serving if it can; if it cannot, it exits with status 1, so a
  service manager's `Restart=on-failure` starts it again;
* SIGTERM or SIGINT: it gives its running scenario back (it leaves the scheduler first, which runs
  the scenario again on another host and the run records the lost attempt), stops its ffmpeg,
  removes its work dir and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.execute.fleet.capabilities import DEFAULT_POWERCAP_ROOT, Capabilities, detect
from ffwatt.runner.execute.fleet.lab_tls import check_listen_host, lab_address, lab_security, tls_files
from ffwatt.runner.measure.ffmpeg_probe import FfmpegInfo, default_ffmpeg, probe
from ffwatt.runner.meter.idle_power import IdlePower
from ffwatt.runner.settings import WorkerOptions

__all__ = ["HostState", "SchedulerLostError", "host_state", "serve", "WorkerOptions"]

log = logging.getLogger("ffwatt.worker")

STATUS_POLL_SECONDS = 0.25
REJOIN_PAUSE_SECONDS = 0.5
TASK_WIND_DOWN_SECONDS = 30.0  # a stopped task's thread returns within this (its ffmpeg was stopped)


class SchedulerLostError(RunnerError):
    """The scheduler went away and could not be joined again in time: exit 1 (a service manager restarts)."""

    exit_code = 1


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
    """Check the addresses, detect, then serve until a signal (0) or the scheduler is gone for good (1)."""
    global _HOST
    security = lab_security("worker", tls_files("worker", opts))
    scheduler = lab_address(opts.scheduler, secure=security is not None, flag="ffwatt worker")
    check_listen_host(opts.listen_host, secure=security is not None, flag="--listen-host")
    name = opts.name or socket.gethostname()
    caps = detect(name, opts.ffmpeg or default_ffmpeg() or "ffmpeg", opts.powercap_root)
    own_dir = opts.work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix=f"ffwatt-worker-{name}-")) if own_dir else Path(opts.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    _HOST = HostState(name, caps, probe(caps.ffmpeg_path), work_dir, threading.Lock(), Path(opts.powercap_root))
    resources = caps.resources()
    log.info("worker %s: %d encoder(s) open here, RAPL %s, %d GPU(s); work dir %s; resources: %s", name,
             len(caps.encoders), "readable" if caps.rapl_readable else f"not readable ({caps.rapl_problem})",
             caps.gpu_count, work_dir, ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items())))
    try:
        return asyncio.run(_Lifetime(opts, name, scheduler, resources, security).run())
    finally:
        if own_dir:
            shutil.rmtree(work_dir, ignore_errors=True)


def _stop_ffmpeg(ffmpeg_path: str) -> int:
    """Stop this process's ffmpeg children (SIGTERM, then SIGKILL after 5 s); how many there were."""
    import psutil  # a dependency of distributed

    target = Path(shutil.which(ffmpeg_path) or ffmpeg_path).resolve()  # "ffmpeg" from PATH, or a path
    ours = []
    for child in psutil.Process().children(recursive=True):
        try:
            if Path(child.exe()).resolve() == target:
                ours.append(child)
        except (psutil.Error, OSError):
            continue  # gone already, or not ours to read
    for child in ours:
        try:
            child.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(ours, timeout=5)
    for child in alive:
        try:
            child.kill()
        except psutil.Error:
            pass
    return len(ours)


class _Lifetime:
    """Join, serve, rejoin a lost scheduler for a while, and stop on a signal (module docstring)."""

    def __init__(self, opts: WorkerOptions, name: str, scheduler: str, resources: dict[str, float], security) -> None:
        self.opts, self.name, self.scheduler, self.resources, self.security = opts, name, scheduler, resources, security
        self.stop: asyncio.Event | None = None
        self.signal_name = ""

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        lost_at: float | None = None
        while True:
            if lost_at is None:
                timeout = self.opts.connect_timeout
            else:
                timeout = lost_at + self.opts.reconnect_timeout - loop.time()
                if timeout <= 0:
                    raise SchedulerLostError(f"worker {self.name}: lost the scheduler at {self.scheduler} and could not "
                                             f"rejoin it within {self.opts.reconnect_timeout:g} s (--reconnect-timeout)")
            worker = await self._join(timeout, again=lost_at is not None)
            if worker is None:
                if self.stop.is_set():
                    return 0
                await asyncio.sleep(REJOIN_PAUSE_SECONDS)  # not yet: try again until the deadline
                continue
            lost_at = None
            if await self._serve(worker):
                return 0
            lost_at = loop.time()
            log.warning("worker %s: lost the scheduler at %s; trying to rejoin it for %g s", self.name, self.scheduler,
                        self.opts.reconnect_timeout)

    def _on_signal(self, sig: int) -> None:
        self.signal_name = signal.Signals(sig).name
        assert self.stop is not None
        self.stop.set()

    async def _join(self, timeout: float, *, again: bool):
        """A worker joined to the scheduler; None when it could not join within `timeout` s while rejoining (or a
        signal came); `RunnerError` when the first join fails."""
        from distributed import Worker

        # nthreads=1: one scenario at a time. No nanny: a lost worker is a lost host, and the
        # scheduler reschedules its scenario elsewhere (docs/fleet.md).
        worker = Worker(self.scheduler, nthreads=1, name=self.name, resources=self.resources,
                        host=self.opts.listen_host, port=self.opts.listen_port, security=self.security,
                        death_timeout=max(timeout, 0.5), dashboard_address="127.0.0.1:0",
                        local_directory=str(host_state().work_dir / "dask"))  # removed with the work dir
        joining = asyncio.ensure_future(worker.start())
        stopping = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait([joining, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not joining.done():  # a signal while joining
            joining.cancel()
            await worker.close(reason="ffwatt worker: stopped before joining")
            return None
        try:
            joining.result()
        except (OSError, TimeoutError) as exc:
            await worker.close(reason="ffwatt worker: could not join")
            if not again:
                raise RunnerError(f"worker {self.name}: cannot join the scheduler at {self.scheduler}: {exc}") from None
            return None
        log.info("worker %s: %s %s as %s", self.name, "rejoined" if again else "joined", self.scheduler, worker.address)
        return worker

    async def _serve(self, worker) -> bool:
        """Serve until a signal (True: stopped) or the scheduler is lost (False)."""
        from distributed.core import Status

        while not self.stop.is_set() and worker.status not in (Status.closing, Status.closed, Status.failed):
            try:
                await asyncio.wait_for(self.stop.wait(), STATUS_POLL_SECONDS)
            except TimeoutError:
                pass
        if self.stop.is_set():
            log.info("worker %s: %s: leaving the scheduler, giving back any running scenario", self.name,
                     self.signal_name)
            await worker.close(executor_wait=False, reason=f"ffwatt worker: {self.signal_name}")
        await self._wind_down()
        if not self.stop.is_set():
            await worker.finished()
        return self.stop.is_set()

    async def _wind_down(self) -> None:
        """Stop this host's running ffmpeg (its result has no one to go to) and wait for the task to return."""
        state = host_state()
        stopped = await asyncio.to_thread(_stop_ffmpeg, state.info.path)
        if stopped:
            log.info("worker %s: stopped %d ffmpeg process(es) of the running scenario", self.name, stopped)
        if await asyncio.to_thread(state.lock.acquire, True, TASK_WIND_DOWN_SECONDS):
            state.lock.release()
