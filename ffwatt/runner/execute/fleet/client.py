"""`ffwatt run --cluster SCHEDULER`: the fleet as an `execute.executor.Executor` of the run loop
(the same loop, results file, resume, events and Ctrl-C as a local run; only where a scenario
runs differs).

* A scenario asks for the resources `slot` and `encoder:<its encoder>`; one no worker offers is
  skipped at dispatch ("no worker can open h264_nvenc"), and one whose last capable worker left
  is skipped after `UNRUNNABLE_GRACE_SECONDS` instead of waiting forever.
* A job is one task: the run loop dispatches one repetition per job (issue 22's schedule), or,
  with `--pin-host`, all repetitions of a scenario in one job (back to back on one host); the
  job says whether its task also scores quality (the scenario's last repetition in the schedule).
* A worker lost mid-scenario: the scheduler runs the task again on another worker, up to its
  `distributed.scheduler.allowed-failures` (3 by default) and then fails it (`KilledWorker`,
  recorded as failed). Each attempt's start reaches the client as an event
  (`fleet.task.ATTEMPT_TOPIC`), so the hosts lost while running a scenario are recorded
  (`lost_attempt_hosts`, the `attempt-lost` event).
* Task exceptions are not retried: an encode that fails on one host is recorded as failed.
* A file source goes with its SHA-256 from the run's `SourceCatalog` (hashed before dispatch, the
  digest the results record) and its absolute path (the scenario file's folder, never a worker's
  working directory); the worker refuses bytes that differ (ffwatt/runner/execute/fleet/task.py).
* The Dask client is made in one place, `connect`: on the lab's mutual TLS with `--tls-dir`
  (`distributed.security.Security(require_encryption=True)`, ffwatt/runner/execute/fleet/lab_tls.py),
  else on loopback only.
* The scheduler lost mid-run (Dask cancels every future with "scheduler-connection-lost"):
  `FleetLostError`, so the run records its scenarios in flight in `not_run`, keeps the results file
  for `--resume`, says what happened (no traceback) and exits 1. Dask's own client logging, which
  would print tracebacks of its reconnection attempts, is silenced from then on.
* A worker's progress events (`task.PROGRESS_TOPIC`) go to the run's `--events` with the host.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ffwatt.runner.errors import FleetLostError, RunnerError, ScenarioUnrunnableError
from ffwatt.runner.execute.executor import Job, Outcome
from ffwatt.runner.execute.fleet.capabilities import SLOT, encoder_resource
from ffwatt.runner.execute.fleet.lab_tls import lab_address, lab_security, tls_files
from ffwatt.runner.execute.fleet.task import ATTEMPT_TOPIC, PROGRESS_TOPIC, TaskResult, run_scenario, source_to_ship
from ffwatt.runner.measure.media_probe import MediaError, SourceCatalog
from ffwatt.runner.measure.processes import EncodeError
from ffwatt.runner.plan.scenario import Scenario
from ffwatt.runner.settings import RunOptions

if TYPE_CHECKING:
    from distributed import Client, Future
    from distributed.security import Security

__all__ = ["FleetEvents", "FleetExecutor", "connect", "lab_connection", "needs", "CONNECT_TIMEOUT_SECONDS", "UNRUNNABLE_GRACE_SECONDS"]

log = logging.getLogger("ffwatt.run")

CONNECT_TIMEOUT_SECONDS = 30.0  # to reach the scheduler, and for a first worker to join it
UNRUNNABLE_GRACE_SECONDS = 10.0  # a worker that restarts rejoins within this
CLOSE_TIMEOUT_SECONDS = 5.0
WORKERS_REFRESH_SECONDS = 1.0
POLL_SECONDS = 0.02


def needs(s: Scenario) -> dict[str, float]:
    """The worker resources one task of `s` takes."""
    out = {SLOT: 1.0}
    if not s.idle:
        out[encoder_resource(s.encoder)] = 1.0
    return out


def _why_not(s: Scenario) -> str:
    return "no worker has a free slot" if s.idle else f"no worker can open {s.encoder}"


class FleetEvents(Protocol):
    """What a fleet tells the run as it goes (`record.recorder.RunRecorder` does it all)."""

    def scenario_host(self, name: str, host: str, attempt: int) -> None: ...

    def attempt_lost(self, name: str, host: str) -> None: ...

    def error(self, message: str, line: str | None = None, *, scenario: str | None = None) -> None: ...


def connect(scheduler: str, security: Security | None = None) -> Client:
    """A Dask client of the scheduler at `scheduler` (on mutual TLS with `security`), once a first worker
    joined it; `RunnerError` saying what to do when there is none."""
    try:
        from distributed import Client
    except ImportError:
        raise RunnerError("--cluster needs Dask distributed: pip install 'ffwatt[fleet]'") from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False, security=security)
    except (OSError, TimeoutError) as exc:
        raise RunnerError(f"--cluster {scheduler}: cannot reach the Dask scheduler: {exc}") from None
    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_SECONDS)
    except TimeoutError:
        client.close()
        raise RunnerError(f"--cluster {scheduler}: no worker joined within {CONNECT_TIMEOUT_SECONDS:g} s "
                          "(start one per host: ffwatt worker SCHEDULER)") from None
    return client


def lab_connection(opts: RunOptions) -> tuple[str, Security | None]:
    """The scheduler's address and the client's TLS from `--cluster` and the `--tls-*` flags; `RunnerError`
    with the fix for a lab address without TLS, `tls://` without certificates, or unusable TLS files."""
    assert opts.cluster is not None
    security = lab_security("client", tls_files("client", opts))
    return lab_address(opts.cluster, secure=security is not None, flag="--cluster"), security


def _absolute_source(s: Scenario) -> Scenario:
    """`s` with its file source as an absolute path of this machine (a worker reading a shared path must not
    take it relative to its own working directory)."""
    src = s.source
    if src is None or src.kind != "file" or not src.path or Path(src.path).is_absolute():
        return s
    return replace(s, source=replace(src, path=str(Path(src.path).absolute())))


class FleetExecutor:
    """An `Executor` whose jobs are Dask tasks on the fleet's workers (module docstring)."""

    def __init__(self, opts: RunOptions, events: FleetEvents, sources: SourceCatalog,
                 emit: Callable[..., None] = lambda *a, **k: None) -> None:
        assert opts.cluster is not None
        self.opts, self.events, self.sources = opts, events, sources
        self.address, security = lab_connection(opts)
        self.client = connect(self.address, security)
        self.attempts: queue.Queue = queue.Queue()  # filled from the client's event-loop thread
        self.started: dict[str, list[tuple[str, float]]] = {}  # task key -> (host, started) of each attempt
        self.client.subscribe_topic(ATTEMPT_TOPIC, lambda event: self.attempts.put(event[1]))
        self.client.subscribe_topic(PROGRESS_TOPIC, lambda event: _forward(emit, event[1]))  # emit is thread-safe
        self._resources: list[dict[str, float]] = []
        self._refreshed = 0.0
        self._futures: dict[Job, list[Future]] = {}
        self._unrunnable_since: dict[Job, float] = {}
        self._refused: dict[Job, EncodeError] = {}  # jobs never submitted: their source cannot be read here
        # skipped because no worker of this fleet offers what they need: a lab without a GPU
        # host is a valid lab, so these do not fail the run (its exit status)
        self.excused: set[str] = set()
        self._lost = False
        self._refresh(force=True)
        log.info("fleet: %d worker(s) at %s%s", len(self._resources), self.address,
                 " (mutual TLS)" if security is not None else "")

    # ---- what the workers offer

    def _connected(self, cancelled: BaseException | None = None) -> None:
        """`FleetLostError` once the client lost the scheduler: Dask then cancels every future with the reason
        "scheduler-connection-lost" (a scheduler restarted meanwhile does not bring them back)."""
        self._lost = (self._lost or self.client.status not in ("running", "newly-created")
                      or getattr(cancelled, "reason", None) == "scheduler-connection-lost")
        if self._lost:
            _quiet_dask()  # we say it ourselves, once, without a traceback
            raise FleetLostError(f"lost the Dask scheduler at {self.address} ({self.client.status}); the scenarios in "
                                 "flight are listed in not_run: start the scheduler and its workers again and continue "
                                 "with --resume")

    def _refresh(self, force: bool = False) -> None:
        self._connected()
        now = time.monotonic()
        if force or now - self._refreshed >= WORKERS_REFRESH_SECONDS:
            workers = self.client.scheduler_info(n_workers=-1)["workers"].values()
            self._resources = [dict(w.get("resources") or {}) for w in workers]
            self._refreshed = now

    def _runnable(self, s: Scenario) -> bool:
        want = needs(s)
        return any(all(r.get(k, 0) >= v for k, v in want.items()) for r in self._resources)

    def cannot_run(self, s: Scenario) -> str | None:
        if s.live:
            return "live scenarios run on the machine that starts the run, not on a fleet (run them without --cluster)"
        self._refresh()
        if self._runnable(s):
            return None
        self.excused.add(s.name)
        return _why_not(s)

    # ---- dispatch and collect

    def start(self, job: Job, work_dir: Path) -> None:
        self._connected()
        s = _absolute_source(job.scenario)
        key = f"ffwatt-{s.slug}-{job.repetition}-{time.time_ns()}"
        src = s.source
        sha256 = None
        if src is not None and src.kind == "file":
            try:
                # cached since the sources were checked, unless the file changed since (then hashed again)
                sha256 = self.sources.identify(Path(src.path)).sha256
            except MediaError as exc:  # gone, or swapped for a fifo, since: this scenario fails, the run goes on
                self._futures[job] = []
                self._refused[job] = EncodeError(f"{s.name}: {exc}")
                return
        # pure=False: repetitions are the same call and must still run each; retries=0: an
        # encode that fails would fail again (lost workers are the scheduler's to retry)
        self._futures[job] = [self.client.submit(run_scenario, key, s, self.opts, job.quality, source_to_ship(s),
                                                 job.repetitions, sha256, key=key, resources=needs(s), pure=False,
                                                 retries=0)]

    def ready(self, jobs: list[Job], timeout: float) -> list[Job]:
        self._connected()
        futures = [f for job in jobs for f in self._futures.get(job, ())]
        deadline = time.monotonic() + timeout
        # polled, in short sleeps: the main thread stays free for SIGINT/SIGTERM (Ctrl-C), and
        # a worker's "started" event is recorded within a poll
        self._attempt_events()
        while futures and not any(f.done() for f in futures) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            self._attempt_events()
        self._refresh()
        done = []
        now = time.monotonic()
        for job in jobs:
            if all(f.done() for f in self._futures.get(job, ())):
                done.append(job)
            elif self._runnable(job.scenario):
                self._unrunnable_since.pop(job, None)
            elif now - self._unrunnable_since.setdefault(job, now) >= UNRUNNABLE_GRACE_SECONDS:
                done.append(job)  # outcome() says why
        return done

    def _attempt_events(self) -> None:
        while True:
            try:
                msg = self.attempts.get_nowait()
            except queue.Empty:
                return
            earlier = self.started.setdefault(msg.get("task"), [])
            earlier.append((msg.get("host"), msg.get("started")))
            self.events.scenario_host(msg.get("scenario"), msg.get("host"), attempt=len(earlier))

    def outcome(self, job: Job) -> Outcome:
        s = job.scenario
        self._unrunnable_since.pop(job, None)
        if job in self._refused:
            self._futures.pop(job, None)
            raise self._refused.pop(job)
        futures = self._futures.get(job, [])
        if not all(f.done() for f in futures):
            self.cancel([job])
            raise ScenarioUnrunnableError(f"{_why_not(s)} any more (the workers that could left the fleet)")
        del self._futures[job]
        results = self._results(futures)
        for r in results:
            for message, line in r.errors:
                self.events.error(message, line, scenario=s.name)
        kept = {(r.host, r.started) for r in results}
        lost = tuple(h for f in futures for h, started in self.started.pop(f.key, []) if (h, started) not in kept)
        for host in lost:
            self.events.attempt_lost(s.name, host)
        reps = [rep for r in results for rep in r.reps]
        hosts = tuple(r.host for r in results for _ in r.reps)
        scores = next((r.quality for r in results if r.quality is not None), None)
        return Outcome(reps, scores, hosts=hosts, lost_hosts=lost,
                       host_environments={r.host: r.environment for r in results})

    def _results(self, futures: list[Future]) -> list[TaskResult]:
        """The tasks' `TaskResult`s; `EncodeError` when the scheduler gave up on a lost worker."""
        from distributed import KilledWorker

        results = []
        try:
            for f in futures:
                results.append(f.result())
        except CancelledError as exc:  # FutureCancelledError: the scheduler went away with it, most likely
            self._connected(exc)
            raise EncodeError(f"its task was cancelled on the fleet: {exc}") from None
        except KilledWorker:
            hosts = [h for f in futures for h, _ in self.started.get(f.key, [])]
            raise EncodeError(f"lost the worker running it {len(hosts)} time(s) (hosts: {', '.join(hosts) or 'unknown'}): "
                              "the scheduler gave up (distributed.scheduler.allowed-failures)") from None
        finally:
            self._attempt_events()
        return results

    def cancel(self, jobs: list[Job]) -> None:
        futures = [f for job in jobs for f in self._futures.pop(job, ())]
        if futures and self.client.status == "running":  # a lost scheduler took them with it
            self.client.cancel(futures)

    def close(self) -> None:
        self.client.close(timeout=CLOSE_TIMEOUT_SECONDS)


def _quiet_dask() -> None:
    """Silence Dask's loggers (each sets its own level, so the parent's is not enough): after a lost scheduler
    they would print the tracebacks of the client's reconnection attempts."""
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _forward(emit: Callable[..., None], message: Any) -> None:
    """A worker's progress event to the run's events (a malformed one is dropped: events are a side channel)."""
    if isinstance(message, dict) and isinstance(message.get("event"), str):
        emit(**message)
