"""`ffwatt run`: the loop. A scenario's trip goes one way down the runner's folders:

    plan/      the scenario file expanded, the schedule (rounds over the matrix, shuffled from a seed)
    meter/     the machine's energy and CPU time over a window, from the sources of ffwatt/energy
    measure/   ffmpeg probed and checked; each repetition encoded (or slept, for an idle baseline)
               under the meter, again back to back until `min_window` seconds passed; its own share
               attributed (energy.attribution); after its last repetition, the quality pass
    execute/   where that runs: here (execute/local.py) or a fleet worker (execute/fleet/), each
               host's meter and measurer built by one factory (execute/host.py)
    record/    once every repetition arrived, its `ScenarioEntry` appended to the results file
               (atomic rewrite), the event and the log line, through `RunRecorder`
    run.py     this loop: dispatch, collect, record, sweeps, signals

The unit of dispatch is one repetition; on a fleet with `--pin-host` it is a scenario's
repetitions together (one host measures them all, back to back). A fleet may finish a scenario's
repetitions out of order: the scenario is recorded when all have arrived, in their schedule order.

Invariants:

* the results file is rewritten after every scenario and holds every completed one, also
  after a failure, SIGINT or SIGTERM (`RunInterruptedError`) or a fleet's lost scheduler
  (`FleetLostError`, exit 1); scenarios that did not complete are
  listed in `not_run` with the reason;
* a scenario whose encoder ffmpeg lacks is skipped, one that fails is recorded, and the
  run goes on; the exit status is 0 only when every scenario completed, except that on a fleet
  (`--cluster`) a scenario no worker can open is skipped without failing it (`Executor.excused`);
* a scenario one of whose repetitions is skipped or fails is given up: its later rounds do not
  run (nor do those still queued on a fleet) and it is recorded once;
* `--resume` continues the newest results file written for the same scenario file and
  expanded matrix (record/results_file.py), skipping the scenarios already in it (a scenario
  whose rounds were not all done runs all of them again);
* net-of-baseline figures are the exporters' job: an idle baseline runs like any other
  (a capacity sweep's summary is the exception: its steps carry their net power);
* live scenarios publish to the runner's own nginx-rtmp or to `--rtmp-url`
  (execute/live_target.py); when no server can be had, live scenarios are skipped with the reason
  and file scenarios still run. Their quality is scored on the server's recording of stream 1
  (`quality_reference.distorted = "server_delivered"`);
* a sweep runs its steps (`"<name> @ <N> streams"`) in increasing order and stops after
  the first whose streams fell behind real time, or that did not complete; the summary
  (`sweeps[]`) is rewritten after each step.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import msgspec

from ffwatt.contract.schema import ScenarioEntry, SweepStep
from ffwatt.runner.errors import RunInterruptedError, RunnerError, RunStoppedError, ScenarioUnrunnableError
from ffwatt.runner.execute.executor import Executor, InFlight, Job
from ffwatt.runner.execute.host import HostMeasurement, host_measurement
from ffwatt.runner.execute.live_target import LiveTargets
from ffwatt.runner.execute.local import LocalExecutor
from ffwatt.runner.measure.commands import dry_run_lines
from ffwatt.runner.measure.ffmpeg_probe import FfmpegInfo, default_ffmpeg, probe
from ffwatt.runner.measure.media_probe import SourceCatalog
from ffwatt.runner.measure.preflight import check_encoder_options, check_sources
from ffwatt.runner.measure.processes import EncodeError
from ffwatt.runner.measure.progress import probe_exporter, read_token
from ffwatt.runner.plan.scenario import Scenario, first_encode, matrix_sha256
from ffwatt.runner.plan.scenario_file import load_scenarios
from ffwatt.runner.plan.schedule import ORDERS, Item, planned, repetitions, schedule
from ffwatt.runner.plan.sweep import baseline_mean_watts, sweep_step, sweep_summary
from ffwatt.runner.record.entry import scenario_entry, source_entry, with_hosts
from ffwatt.runner.record.events import EventLog
from ffwatt.runner.record.recorder import RunRecorder
from ffwatt.runner.record.results_file import RunFacts, open_results
from ffwatt.runner.settings import RunOptions

log = logging.getLogger("ffwatt.run")

__all__ = ["RunOptions", "run", "handle_signals"]


@contextmanager
def handle_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise `RunInterruptedError` in the main thread, once; later ones are ignored while cleaning up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if fired:
            return
        fired.append(signum)
        raise RunInterruptedError(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(opts: RunOptions, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    scenarios = load_scenarios(opts.scenario_file, max_scenarios=opts.max_scenarios, max_name_length=opts.max_name_length)
    ffmpeg_path = opts.ffmpeg or default_ffmpeg() or "ffmpeg"
    if opts.cluster and not opts.dry_run:
        from ffwatt.runner.execute.fleet.client import lab_connection

        lab_connection(opts)  # a lab address without TLS, or unusable TLS files: refused before anything runs
    if opts.dry_run:
        for line in dry_run_lines(scenarios, ffmpeg_path, opts.work_dir or Path("ffwatt-work"), opts.rtmp_url):
            print(line, file=out)
        return 0
    info = probe(ffmpeg_path)
    log.info("ffmpeg: %s (%s)", info.path, info.version)
    check_encoder_options(scenarios, info, Path(opts.scenario_file).name)
    sources = SourceCatalog(info.path)
    check_sources(scenarios, sources, Path(opts.scenario_file).name)
    if not info.has_libvmaf and opts.quality:
        log.warning("ffmpeg has no libvmaf filter: VMAF will be absent (PSNR and SSIM still measured)")
    events = EventLog(opts.events)
    try:
        with handle_signals():
            return _Run(opts, scenarios, info, events, out, sources).go()
    finally:
        events.close()


class _Run:
    def __init__(self, opts: RunOptions, scenarios: tuple[Scenario, ...], info: FfmpegInfo, events: EventLog,
                 out: TextIO, sources: SourceCatalog | None = None) -> None:
        if opts.order not in ORDERS:
            raise RunnerError(f"--order must be 'shuffled' or 'sequential', got {opts.order!r}")
        if opts.cluster and opts.pin_host and opts.order != "sequential":
            # a scenario's repetitions run together, in the file's order: nothing is shuffled, so none is recorded
            if opts.seed is not None:
                log.warning("--seed %d is not used: with --pin-host nothing is shuffled", opts.seed)
            opts = dataclasses.replace(opts, order="sequential", seed=None)
        self.opts, self.scenarios, self.info, self.events, self.out = opts, scenarios, info, events, out
        self.seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**32)
        self.sources = sources or SourceCatalog(info.path)
        self.pending: list[Job] = []  # dispatched, not yet collected
        self.partial: dict[str, InFlight] = {}  # started scenarios not yet recorded
        self.given_up: set[str] = set()  # skipped, failed or resumed: their later rounds do not run

    # ---- the run -----------------------------------------------------------

    def go(self) -> int:
        host = self._host()
        scenario_file = str(Path(self.opts.scenario_file).resolve())
        results = open_results(RunFacts(
            self.opts, scenario_file, matrix_sha256(self.scenarios), len(planned(self.scenarios)),
            [s.encoder for s in self.scenarios if not s.idle], self.info.path, host.meter, host.model,
            first_encode(self.scenarios)), self.seed)
        self.seed, self.done = results.seed, results.done
        self.rec = RunRecorder(self.events, results.writer, results.entries)
        self.rec.run_started(scenario_file, len(self.scenarios), resumed=bool(self.done))
        if host.measurer.progress_url:
            why = probe_exporter(host.measurer.progress_url, token=host.measurer.progress_token,
                                 ca_file=host.measurer.progress_ca_file)
            if why:
                self.rec.error(why, f"{why}: live progress is not pushed (the encodes are measured all the same)",
                               level=logging.WARNING)
                host.measurer.progress_url = None  # the exporter is a spectator: the encodes go on without it
        work_dir = self._work_dir()
        self.live = LiveTargets(self.rec, work_dir, rtmp_url=self.opts.rtmp_url, stat_url=self.opts.rtmp_stat_url,
                                record_dir=self.opts.rtmp_record_dir, nginx=self.opts.nginx)
        self.executor = self._executor(host)
        try:
            self._loop(work_dir)
        finally:
            self.executor.close()
            self.live.close()
            if self.opts.work_dir is None and not self.opts.keep_outputs:
                shutil.rmtree(work_dir, ignore_errors=True)
            elif self.opts.keep_outputs:
                log.info("outputs kept in %s", work_dir)
        self.rec.run_done()
        self.rec.print_summary(len(planned(self.scenarios)), self.out)
        # every scenario that did not complete is in not_run; a fleet's capability skips do not fail the run
        return 0 if self.rec.all_completed(self.executor.excused) else 1

    def _loop(self, work_dir: Path) -> None:
        """The schedule, then the sweeps; a signal records every scenario in flight as interrupted."""
        try:
            # One loop for both executors: the local one has measured a repetition by the time it
            # is dispatched, a fleet's collects each as its worker finishes it.
            for item in schedule(self.scenarios, order=self.opts.order, seed=self.seed, together=self._together()):
                self._dispatch(item, work_dir)
                self._collect(timeout=0)
            while self.pending:
                self._collect(timeout=1.0)
            for scenario in self.scenarios:
                if scenario.sweep:
                    self._sweep(scenario, work_dir)
        except RunStoppedError as exc:  # a signal, or a fleet's scheduler lost
            for name in dict.fromkeys([job.scenario.name for job in self.pending] + list(self.partial)):
                self.rec.scenario_interrupted(name, exc.cause, str(exc))
            self.executor.cancel(self.pending)
            raise

    def _host(self) -> HostMeasurement:
        """This machine's meter and measurer (the local executor's; on a fleet, the header's meter)."""
        token = read_token(self.opts.progress_token_file) if self.opts.progress_token_file else None
        host = host_measurement(self.opts, self.info, powercap_root=self.opts.powercap_root,
                                progress_url=(self.opts.progress_url or "").rstrip("/") or None,
                                progress_token=token, emit=self.events.emit, proc_stat=self.opts.proc_stat,
                                report_error=lambda *a, **k: self.rec.error(*a, **k))
        log.info("CPU model: %s W per thread: %s", f"{host.model.watts_per_thread:.3g}", host.model.why)
        return host

    def _work_dir(self) -> Path:
        work_dir = Path(tempfile.mkdtemp(prefix="ffwatt-")) if self.opts.work_dir is None else Path(self.opts.work_dir)
        try:
            work_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunnerError(f"cannot create the work dir {str(work_dir)!r}: {exc.strerror or exc}") from None
        return work_dir

    def _executor(self, host: HostMeasurement) -> Executor:
        if not self.opts.cluster:
            return LocalExecutor(self.info, host.measurer, keep_outputs=self.opts.keep_outputs,
                                 own_recordings=self.live.own, cool_down=self.opts.cool_down)
        from ffwatt.runner.execute.fleet.client import FleetExecutor  # needs the fleet extra (distributed)

        self.rec.on_cluster(self.opts.cluster)
        return FleetExecutor(self.opts, self.rec, self.sources, emit=self.events.emit)

    def _together(self) -> bool:
        """Whether one dispatch runs all repetitions of a scenario (a fleet's `--pin-host`: one host)."""
        return bool(self.opts.cluster and self.opts.pin_host)

    # ---- dispatch and collect -------------------------------------------------

    def _dispatch(self, item: Item, work_dir: Path, sweep: str | None = None) -> Job | None:
        """Hand one item of the schedule to the executor; None when its scenario was resumed or given up
        (recorded once)."""
        scenario = item.scenario
        if scenario.name in self.given_up:
            return None
        if scenario.name in self.done:
            self.given_up.add(scenario.name)  # said once
            self.rec.scenario_resumed(scenario.name)
            return None
        target = None
        reason = self.executor.cannot_run(scenario)
        if reason is None and scenario.live:
            target, reason = self.live.target()
        if reason:
            self._give_up(scenario)
            self.rec.scenario_skipped(scenario.name, reason)
            return None
        if scenario.name not in self.partial:
            self.partial[scenario.name] = InFlight()
            self.rec.scenario_started(scenario.name, streams=scenario.streams, repeat=scenario.repeat,
                                      mode=scenario.mode)
        job = Job(scenario, target, sweep, repetition=item.repetition, repetitions=item.count,
                  quality=self.opts.quality and item.last)
        self.pending.append(job)
        self.executor.start(job, work_dir)
        return job

    def _give_up(self, scenario: Scenario) -> None:
        """No more repetitions of `scenario`: its later rounds are not dispatched, those dispatched are cancelled."""
        self.given_up.add(scenario.name)
        self.partial.pop(scenario.name, None)
        queued = [job for job in self.pending if job.scenario.name == scenario.name]
        for job in queued:
            self.pending.remove(job)
        if queued:
            self.executor.cancel(queued)

    def _collect(self, timeout: float, only: list[Job] | None = None) -> None:
        waiting = only if only is not None else self.pending
        for job in self.executor.ready(list(waiting), timeout):
            if job in self.pending:  # not cancelled meanwhile (its scenario given up)
                self._finish(job)

    def _finish(self, job: Job) -> None:
        """Collect a finished job; once its scenario has every repetition, record it (or its failure)."""
        self.pending.remove(job)
        s = job.scenario
        try:
            outcome = self.executor.outcome(job)
        except ScenarioUnrunnableError as exc:
            self._give_up(s)
            self.rec.scenario_skipped(s.name, str(exc))
            return
        except EncodeError as exc:
            gone = self.live.gone() if s.live else None
            self._give_up(s)
            self.rec.scenario_failed(s.name, f"{exc}\n{gone}" if gone else str(exc))
            return
        progress = self.partial[s.name]
        progress.add(job, outcome)
        if len(progress.reps) < s.repeat:
            return
        del self.partial[s.name]
        self._record(s, progress, job.sweep)

    def _record(self, s: Scenario, progress: InFlight, sweep: str | None) -> None:
        """A scenario whose every repetition arrived: its entry, with a warning when its media fell short."""
        whole = progress.outcome()
        entry = scenario_entry(s, whole.reps, whole.quality, source_entry(s, self.sources))
        if sweep is not None:
            entry = msgspec.structs.replace(entry, sweep=sweep)
        if whole.hosts:
            entry = with_hosts(entry, whole)
        if entry.incomplete:
            message = (f"incomplete: got {entry.total_frames} of {entry.expected_frames} expected frames"
                       + "".join(f"; rung {o.resolution}: {o.frames} of {o.expected_frames}"
                                 for o in entry.outputs or ()) + " (the source ended early?)")
            self.rec.error(message, f"{s.name}: {message}", scenario=s.name, level=logging.WARNING)
        if entry.source_duration_unknown:
            log.warning("%s: the source's duration is unknown: %s s of media were encoded", s.name,
                        entry.media_seconds)
        self.rec.idle_seen(whole.reps, whole.hosts)  # issue 30: its idle checks and idle power, in the header
        self.rec.scenario_done(entry, whole.host_environments if whole.hosts else None)

    # ---- capacity sweeps ---------------------------------------------------------

    def _one(self, scenario: Scenario, work_dir: Path, sweep: str | None = None) -> ScenarioEntry | None:
        """Run every repetition of one scenario (a sweep's step) and record it; its entry, or None when it was
        skipped or failed."""
        if scenario.name in self.done:
            self.rec.scenario_resumed(scenario.name)
            return self.rec.entry(scenario.name)
        jobs = []
        for item in repetitions(scenario, together=self._together()):
            job = self._dispatch(item, work_dir, sweep)
            if job is None:
                break
            jobs.append(job)
            self._collect(timeout=0, only=[job])  # the local executor's has run: a failure stops the rest
        while any(job in self.pending for job in jobs):
            self._collect(timeout=1.0, only=[job for job in jobs if job in self.pending])
        if not jobs or scenario.name in self.given_up or scenario.name in self.partial:
            return None
        return self.rec.entry(scenario.name)

    def _sweep(self, scenario: Scenario, work_dir: Path) -> None:
        """The steps of a capacity sweep, in increasing stream counts, until one falls behind (module docstring)."""
        steps: list[SweepStep] = []
        for step in scenario.sweep_steps():
            entry = self._one(step, work_dir, sweep=scenario.name)
            if entry is None:
                log.warning("%s: sweep stopped: %s did not complete", scenario.name, step.name)
                break
            steps.append(sweep_step(entry, baseline_mean_watts(self.rec.entries)))
            self.rec.sweep_step(sweep_summary(scenario.name, steps))
            if not steps[-1].held_real_time:
                log.info("%s: %d stream(s) fell behind real time at %d streams: sweep done", scenario.name,
                         entry.fell_behind_streams or 0, step.streams)
                break
        if steps:
            self.rec.sweep_done(sweep_summary(scenario.name, steps))
