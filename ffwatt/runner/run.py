"""`ffwatt run`: the orchestrator.

    expand the scenario file -> probe ffmpeg -> the schedule (rounds, below) -> for each
    repetition: dispatch it to the executor (here, or a fleet worker: ffwatt/runner/fleet/cluster.py),
    which measures it (`runner.measure.Measurer`: EnergyMeter.start(); encode, again back to
    back until `min_window` seconds passed (or sleep, for an idle baseline); EnergyMeter.stop();
    attribute the machine's energy to the scenario (runner.attribution); after a scenario's
    last repetition in the schedule: quality pass, after the meter stopped, so its CPU is never
    the scenario's) -> once every repetition of a scenario arrived: append it to the results
    file (atomic rewrite); event scenario-done

The schedule (issue 22): `repeat: N` is N rounds over the whole matrix. With `order`
"shuffled" (the default) each round is the matrix in a random order drawn from `seed`
(recorded in the results header's `meter`, so a run can be replayed), the idle baselines
first in each round (the scenarios after them use the idle power they measured); "sequential"
is the order of the file with each scenario's repetitions back to back, as before. Capacity
sweeps run after the rounds, their steps in order, each step's repetitions back to back (the
sweep's stop rule needs each step's result). Every figure of a repetition is per single
encode (`encodes_per_measurement` of them in its window). The unit of dispatch is one
repetition; on a fleet with `--pin-host` it is a scenario's repetitions together (one host
measures them all, back to back). A fleet may finish a scenario's repetitions out of order: the
scenario is recorded when all have arrived, in their schedule order.

Invariants:

* the results file is rewritten after every scenario and holds every completed one, also
  after a failure, SIGINT or SIGTERM (`RunInterruptedError`); scenarios that did not complete are
  listed in `not_run` with the reason;
* a scenario whose encoder ffmpeg lacks is skipped, one that fails is recorded, and the
  run goes on; the exit status is 0 only when every scenario completed, except that on a fleet
  (`--cluster`, ffwatt/runner/fleet/cluster.py) a scenario no worker can open is skipped without failing it;
* a scenario one of whose repetitions is skipped or fails is given up: its later rounds do not
  run (nor do those still queued on a fleet) and it is recorded once;
* `--resume` continues the newest results file written for the same scenario file and
  expanded matrix (`runner.matrix_sha256`), skipping the scenarios already in it (a scenario
  whose rounds were not all done runs all of them again); it refuses a file whose meter
  settings differ (`MeterRecord.RESUME_KEYS`), naming which, and reuses the file's seed;
* net-of-baseline figures are the exporters' job: an idle baseline runs like any other
  (a capacity sweep's summary is the exception: its steps carry their net power);
* live scenarios publish to the runner's own nginx-rtmp (`servers.rtmp`, started at
  the first live scenario in the work dir, recording every stream, restarted when it died,
  stopped at the end) or to `--rtmp-url`; when no server can be had, live scenarios are
  skipped with the reason and file scenarios still run. Their quality is scored on the
  server's recording of stream 1 (`quality_reference.distorted = "server_delivered"`);
* a sweep runs its steps (`"<name> @ <N> streams"`) in increasing order and stops after
  the first whose streams fell behind real time, or that did not complete; the summary
  (`sweeps[]`) is rewritten after each step.
"""

from __future__ import annotations

import logging
import random
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import msgspec

from ffwatt.common.urls import redact
from ffwatt.contract import formulas
from ffwatt.contract.results_writer import (
    ResultsWriter,
    entry_object,
    find_resumable,
    results_file_name,
    scenario_entry,
)
from ffwatt.contract.schema import MeterRecord, OutputEntry, QualityDetail, RepetitionEntry, ScenarioEntry, SourceEntry
from ffwatt.runner import ffmpeg as ff
from ffwatt.runner import quality as q
from ffwatt.runner.cpu_model import ModelFigure, this_machine
from ffwatt.runner.encode import EncodeError, EncodeResult
from ffwatt.runner.encoder_options import check_options
from ffwatt.runner.errors import RunInterruptedError, RunnerError, ScenarioUnrunnableError
from ffwatt.runner.events import EventLog, RunRecorder
from ffwatt.runner.live import LiveResult, publish_url, sweep_step, sweep_summary
from ffwatt.runner.measure import Job, LiveTarget, Measurer, Outcome, Rep
from ffwatt.runner.media import MediaError, SourceCatalog
from ffwatt.runner.progress import probe_exporter, read_token
from ffwatt.runner.rtmp_server import RtmpServer, RtmpServerError
from ffwatt.runner.scenarios import DEFAULT_MAX_SCENARIOS, QualitySpec, Scenario, load_scenarios, matrix_sha256

log = logging.getLogger("ffwatt.run")

__all__ = ["RunOptions", "run", "dry_run_lines", "handle_signals"]


@dataclass(frozen=True)
class RunOptions:
    scenario_file: Path
    results_dir: Path = Path("test_results")
    ffmpeg: str | None = None
    resume: bool = False
    dry_run: bool = False
    events: Path | None = None
    progress_url: str | None = "http://127.0.0.1:9506"
    progress_token_file: Path | None = None  # the ffmpeg exporter's --push-token-file token
    cpu_metrics_url: str | None = None  # none of the three: the in-process meter
    gpu_metrics_url: str | None = None
    tsdb_url: str | None = None
    exporter_ca_file: Path | None = None  # verifies https exporter and TSDB URLs
    sample_interval: float = 1.0
    tdp_watts: float | None = None  # None: the CPU model's TDP from ffwatt/runner/data/cpu_power.csv
    powercap_root: str = "/sys/class/powercap"
    exclusive: bool = False
    seed: int | None = None  # None: drawn at random and recorded
    order: str = "shuffled"  # or "sequential"
    min_window: float = 2.0
    cool_down: float = 0.0
    work_dir: Path | None = None
    keep_outputs: bool = False
    quality: bool = True
    rtmp_url: str | None = None  # an existing server's application URL; None: start our own nginx-rtmp
    rtmp_stat_url: str | None = None
    rtmp_record_dir: Path | None = None  # where that existing server records streams (for live quality)
    nginx: str = "nginx"
    max_scenarios: int = DEFAULT_MAX_SCENARIOS
    cluster: str | None = None  # a Dask scheduler address: run the scenarios on its workers (runner/fleet)
    pin_host: bool = False  # fleet: every repetition of a scenario on one host


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


def _planned(scenarios: tuple[Scenario, ...]) -> tuple[Scenario, ...]:
    """Scenarios as they run: a sweep stands for its steps (all of them: an upper bound, it may stop early)."""
    return tuple(step for s in scenarios for step in (s.sweep_steps() if s.sweep else (s,)))


def dry_run_lines(scenarios: tuple[Scenario, ...], ffmpeg: str, work_dir: Path,
                  rtmp_url: str | None = None) -> list[str]:
    """The expanded matrix and the exact commands, as `--dry-run` prints them."""
    planned = _planned(scenarios)
    lines = [f"{len(planned)} scenario(s):"]
    for s in planned:
        if s.idle:
            lines.append(f"- {s.name}: idle baseline, {s.duration:g} s, repeat {s.repeat}")
            lines.append(f"    (no command: sleep {s.duration:g} s while energy is measured)")
            continue
        rate = (f"{s.bitrate}" if s.bitrate else f"crf {s.crf:g}" if s.crf is not None else
                f"qp {s.qp}" if s.qp is not None else "ladder " + ", ".join(f"{r.resolution}@{r.bitrate}"
                                                                             for r in s.outputs))
        lines.append(f"- {s.name}: {s.encoder} {s.preset or ''} {rate}, {s.resolution}@{s.fps:g}, "
                     f"{s.duration:g} s x {s.streams} stream(s), repeat {s.repeat}, source {s.source.describe()}")
        if s.live:
            lines[-1] += ", live"
        for i in range(s.streams):
            if s.live:
                url = publish_url(rtmp_url or "rtmp://127.0.0.1:PORT/live", s, i + 1)
                lines.append("    " + shlex.join(ff.live_command(s, ffmpeg, url)))
            else:
                lines.append("    " + shlex.join(ff.encode_command(s, ffmpeg, ff.output_paths(s, work_dir, i + 1))))
    return lines


def run(opts: RunOptions, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    scenarios = load_scenarios(opts.scenario_file, max_scenarios=opts.max_scenarios)
    ffmpeg_path = opts.ffmpeg or ff.default_ffmpeg() or "ffmpeg"
    if opts.dry_run:
        for line in dry_run_lines(scenarios, ffmpeg_path, opts.work_dir or Path("ffwatt-work"), opts.rtmp_url):
            print(line, file=out)
        return 0
    info = ff.probe(ffmpeg_path)
    log.info("ffmpeg: %s (%s)", info.path, info.version)
    _check_encoder_options(scenarios, info, Path(opts.scenario_file).name)
    sources = SourceCatalog(info.path)
    _check_sources(scenarios, sources, Path(opts.scenario_file).name)
    if not info.has_libvmaf and opts.quality:
        log.warning("ffmpeg has no libvmaf filter: VMAF will be absent (PSNR and SSIM still measured)")
    events = EventLog(opts.events)
    try:
        with handle_signals():
            return _Run(opts, scenarios, info, events, out, sources).go()
    finally:
        events.close()


def _check_encoder_options(scenarios: tuple[Scenario, ...], info: ff.FfmpegInfo, file_name: str) -> None:
    """Every scenario's `options:` against its encoder's own option list, before any encode;
    one `RunnerError` with every problem (the dry run, which runs no ffmpeg, checks only the
    encoder-independent rules of the loader)."""
    items = [(s.name, s.encoder, s.options) for s in scenarios if not s.idle and s.options]  # a sweep's steps share its options
    problems = check_options(items, info.encoder_options, info.cli_options, file_name)
    if len(problems) == 1:
        raise RunnerError(problems[0])
    if problems:
        raise RunnerError(f"{len(problems)} problems in the scenario file:\n  " + "\n  ".join(problems))


def _check_sources(scenarios: tuple[Scenario, ...], sources: SourceCatalog, file_name: str) -> None:
    """Every file source probed and hashed (once each) before any encode; a scenario whose `duration` is
    longer than its source is refused: one `RunnerError` with every problem.

    Half a source frame (at least the 0.01 s the `ffmpeg -i` header rounds to) is tolerated; a source
    whose duration is unknown (a live capture) is not refused: the run records its real media time."""
    problems: list[str] = []
    for s in scenarios:
        src = s.source
        if s.idle or src is None or src.kind != "file":
            continue
        try:
            media = sources.identify(Path(src.path)).media
        except MediaError as exc:
            problems.append(f"{file_name}: scenario {s.name!r}: {exc}")
            continue
        if media.duration_seconds is None:
            continue
        slack = max(0.5 / media.fps, 0.005) if media.fps else 0.005
        if s.duration > media.duration_seconds + slack:
            problems.append(f"{file_name}: scenario {s.name!r}: duration {s.duration:g} s is longer than its source "
                            f"{src.written or src.path} ({media.duration_seconds:g} s); shorten the duration or use a "
                            "longer clip")
    if len(problems) == 1:
        raise RunnerError(problems[0])
    if problems:
        raise RunnerError(f"{len(problems)} problems in the scenario file:\n  " + "\n  ".join(problems))


class _Scenario:
    """A scenario in flight: the repetitions that arrived (by index in the schedule), where they ran
    (a fleet's hosts by index, the hosts lost on the way, each host's environment) and its quality."""

    def __init__(self) -> None:
        self.reps: dict[int, Rep] = {}
        self.hosts: dict[int, str] = {}
        self.lost_hosts: list[str] = []
        self.host_environments: dict[str, dict[str, Any]] = {}
        self.quality: dict[str, Any] | None = None

    def add(self, job: Job, outcome: Outcome) -> None:
        for i, rep in enumerate(outcome.reps):
            self.reps[job.repetition + i] = rep
            if i < len(outcome.hosts):
                self.hosts[job.repetition + i] = outcome.hosts[i]
        self.lost_hosts += [h for h in outcome.lost_hosts if h not in self.lost_hosts]
        self.host_environments.update(outcome.host_environments or {})
        if outcome.quality is not None:
            self.quality = outcome.quality

    def outcome(self) -> Outcome:
        """Every repetition in schedule order, as one `Outcome`."""
        order = sorted(self.reps)
        return Outcome([self.reps[i] for i in order], self.quality,
                       hosts=tuple(self.hosts[i] for i in order) if len(self.hosts) == len(order) else (),
                       lost_hosts=tuple(self.lost_hosts), host_environments=self.host_environments or None)


@dataclass(frozen=True)
class _Item:
    """One dispatch of the schedule: `count` repetitions of `scenario` from its `repetition`-th."""

    scenario: Scenario
    repetition: int
    count: int = 1

    @property
    def last(self) -> bool:
        return self.repetition + self.count >= self.scenario.repeat


class _Run:
    def __init__(self, opts: RunOptions, scenarios: tuple[Scenario, ...], info: ff.FfmpegInfo, events: EventLog,
                 out: TextIO, sources: SourceCatalog | None = None) -> None:
        from ffwatt.runner.energy import EnergyMeter  # imported here: the dry run needs none of it

        self.opts, self.scenarios, self.info, self.events, self.out = opts, scenarios, info, events, out
        if opts.order not in ("shuffled", "sequential"):
            raise RunnerError(f"--order must be 'shuffled' or 'sequential', got {opts.order!r}")
        self.model: ModelFigure = this_machine(opts.tdp_watts)
        log.info("CPU model: %s W per thread: %s", f"{self.model.watts_per_thread:.3g}", self.model.why)
        self.meter = EnergyMeter(cpu_metrics_url=opts.cpu_metrics_url or None,
                                 gpu_metrics_url=opts.gpu_metrics_url or None, tsdb_url=opts.tsdb_url or None,
                                 step_seconds=opts.sample_interval, watts_per_thread=self.model.watts_per_thread,
                                 powercap_root=opts.powercap_root,
                                 ca_file=str(opts.exporter_ca_file) if opts.exporter_ca_file else None)
        self.seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**32)
        self.progress_url = (opts.progress_url or "").rstrip("/") or None
        self.progress_token = read_token(opts.progress_token_file) if opts.progress_token_file else None
        self.scenario_file = str(Path(opts.scenario_file).resolve())
        self.sha = matrix_sha256(scenarios)
        self.rtmp: RtmpServer | None = None  # our own, started at the first live scenario
        self.rtmp_error: str | None = None  # why it could not start (then every live scenario is skipped)
        self.sources = sources or SourceCatalog(info.path)
        self.pending: list[Job] = []  # dispatched, not yet collected
        self.partial: dict[str, _Scenario] = {}  # started scenarios not yet recorded
        self.given_up: set[str] = set()  # skipped, failed or resumed: their later rounds do not run

    # ---- the run -----------------------------------------------------------

    def go(self) -> int:
        writer, self.done = self._writer()
        self.rec = RunRecorder(self.events, writer)
        self.rec.run_started(self.scenario_file, len(self.scenarios), resumed=bool(self.done))
        if self.progress_url:
            why = probe_exporter(self.progress_url, token=self.progress_token,
                                 ca_file=str(self.opts.exporter_ca_file) if self.opts.exporter_ca_file else None)
            if why:
                self.rec.error(why, f"{why}: live progress is not pushed (the encodes are measured all the same)",
                               level=logging.WARNING)
                self.progress_url = None
        own_work_dir = self.opts.work_dir is None
        work_dir = Path(tempfile.mkdtemp(prefix="ffwatt-")) if own_work_dir else Path(self.opts.work_dir)
        try:
            work_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunnerError(f"cannot create the work dir {str(work_dir)!r}: {exc.strerror or exc}") from None
        self.executor = self._executor()
        try:
            # One loop for both executors: the local one has measured a repetition by the time it
            # is dispatched, a fleet's collects each as its worker finishes it.
            for item in self._schedule():
                self._dispatch(item, work_dir)
                self._collect(timeout=0)
            while self.pending:
                self._collect(timeout=1.0)
            for scenario in self.scenarios:
                if scenario.sweep:
                    self._sweep(scenario, work_dir)
        except RunInterruptedError as exc:
            for name in dict.fromkeys([job.scenario.name for job in self.pending] + list(self.partial)):
                self.rec.scenario_interrupted(name, exc.signal_name, str(exc))
            self.executor.cancel(self.pending)
            raise
        finally:
            self.executor.close()
            if self.rtmp is not None:
                self.rtmp.stop()
            if own_work_dir and not self.opts.keep_outputs:
                shutil.rmtree(work_dir, ignore_errors=True)
            elif self.opts.keep_outputs:
                log.info("outputs kept in %s", work_dir)
        self.rec.run_done()
        print(f"{len(writer.scenarios)} of {len(_planned(self.scenarios))} scenario(s) in {writer.path}", file=self.out)
        for item in writer.not_run:
            print(f"  not run: {item['name']}: {item['status']}: {item['reason'].splitlines()[0]}", file=self.out)
        for sweep in writer.sweeps:
            print(f"  sweep {sweep['name']}: knee at {sweep['knee_streams']} stream(s), "
                  f"{_fmt(sweep['marginal_joules_per_stream'])} J per extra stream", file=self.out)
        # every scenario that did not complete is in not_run; a fleet's capability skips do not fail the run
        excused = getattr(self.executor, "capability_skips", set())
        return 0 if all(item["name"] in excused for item in writer.not_run) else 1

    def _executor(self) -> Any:
        measurer = Measurer(self.opts, self.info, self.meter, self.events.emit, self.rec.error, self.progress_url,
                            self.progress_token, watts_per_thread=self.model.watts_per_thread)
        if not self.opts.cluster:
            return _LocalExecutor(self.info, measurer, self._media_files, keep_outputs=self.opts.keep_outputs,
                                  cool_down=self.opts.cool_down)
        from ffwatt.runner.fleet.cluster import ClusterExecutor  # needs the fleet extra (distributed)

        self.rec.writer.header["runner"]["cluster"] = self.opts.cluster
        return ClusterExecutor(self.opts, self.rec, self.sources)

    def _together(self) -> bool:
        """Whether one dispatch runs all repetitions of a scenario (a fleet's `--pin-host`: one host)."""
        return bool(self.opts.cluster and self.opts.pin_host)

    def _schedule(self) -> list[_Item]:
        """Every repetition of every scenario but the sweeps, in the order they run (module docstring)."""
        plain = [s for s in self.scenarios if not s.sweep]
        if self._together():
            return [_Item(s, 0, s.repeat) for s in plain]
        if self.opts.order == "sequential":
            return [_Item(s, r) for s in plain for r in range(s.repeat)]
        rng = random.Random(self.seed)
        schedule: list[_Item] = []
        for r in range(max((s.repeat for s in plain), default=0)):
            members = [s for s in plain if s.repeat > r]
            encodes = [s for s in members if not s.idle]
            rng.shuffle(encodes)
            schedule.extend(_Item(s, r) for s in [s for s in members if s.idle] + encodes)
        return schedule

    def _dispatch(self, item: _Item, work_dir: Path, sweep: str | None = None) -> Job | None:
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
            target, reason = self._live_target(work_dir)
        if reason:
            self._give_up(scenario)
            self.rec.scenario_skipped(scenario.name, reason)
            return None
        if scenario.name not in self.partial:
            self.partial[scenario.name] = _Scenario()
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

    def _finish(self, job: Job) -> dict[str, Any] | None:
        """Collect a finished job; once its scenario has every repetition, record it: its entry, or None
        when it failed, could not run, or has repetitions still to come."""
        self.pending.remove(job)
        s = job.scenario
        try:
            outcome = self.executor.outcome(job)
        except ScenarioUnrunnableError as exc:
            self._give_up(s)
            self.rec.scenario_skipped(s.name, str(exc))
            return None
        except EncodeError as exc:
            message = str(exc)
            if s.live and self.rtmp is not None and not self.rtmp.running:
                message = f"{message}\n{self._server_gone()}"
            self._give_up(s)
            self.rec.scenario_failed(s.name, message)
            return None
        progress = self.partial[s.name]
        progress.add(job, outcome)
        if len(progress.reps) < s.repeat:
            return None
        del self.partial[s.name]
        whole = progress.outcome()
        entry = _entry(s, whole.reps, whole.quality, self._source_entry(s))
        extra: dict[str, Any] = {}
        if job.sweep is not None:
            extra["sweep"] = job.sweep
        if whole.hosts:
            extra.update(_host_fields(entry, whole))
            hosts = self.rec.writer.header.setdefault("hosts", {})
            hosts.update(whole.host_environments or {})
        if extra:
            entry = scenario_entry(**{**entry, **extra})
        if entry.get("incomplete"):
            message = (f"incomplete: got {entry.get('total_frames')} of {entry.get('expected_frames')} expected frames"
                       + "".join(f"; rung {o['resolution']}: {o.get('frames')} of {o.get('expected_frames')}"
                                 for o in entry.get("outputs") or ()) + " (the source ended early?)")
            self.rec.error(message, f"{s.name}: {message}", scenario=s.name, level=logging.WARNING)
        if entry.get("source_duration_unknown"):
            log.warning("%s: the source's duration is unknown: %s s of media were encoded", s.name,
                        entry.get("media_seconds"))
        self.rec.scenario_done(s.name, entry, _summary(entry))
        return entry

    def _one(self, scenario: Scenario, work_dir: Path, sweep: str | None = None) -> dict[str, Any] | None:
        """Run every repetition of one scenario (a sweep's step) and record it; its entry, or None when it was
        skipped or failed."""
        if scenario.name in self.done:
            self.rec.scenario_resumed(scenario.name)
            return next(e for e in self.rec.writer.scenarios if e.get("name") == scenario.name)
        items = [_Item(scenario, 0, scenario.repeat)] if self._together() else \
            [_Item(scenario, r) for r in range(scenario.repeat)]
        jobs = []
        for item in items:
            job = self._dispatch(item, work_dir, sweep)
            if job is None:
                break
            jobs.append(job)
            self._collect(timeout=0, only=[job])  # the local executor's has run: a failure stops the rest
        while any(job in self.pending for job in jobs):
            self._collect(timeout=1.0, only=[job for job in jobs if job in self.pending])
        if not jobs or scenario.name in self.given_up or scenario.name in self.partial:
            return None
        return next((e for e in reversed(self.rec.writer.scenarios) if e.get("name") == scenario.name), None)

    def _media_files(self, s: Scenario, work_dir: Path, target: LiveTarget | None) -> list[Path]:
        if not s.live:
            return [p for i in range(1, s.streams + 1) for p in ff.output_paths(s, work_dir, i)]
        if target is None or target.record_dir is None or self.opts.rtmp_url:
            return []  # another server's recordings are not ours to delete
        return [target.record_dir / f"{ff.live_stream_name(s, i)}.flv" for i in range(1, s.streams + 1)]

    def _sweep(self, scenario: Scenario, work_dir: Path) -> None:
        """The steps of a capacity sweep, in increasing stream counts, until one falls behind (module docstring)."""
        steps: list[dict[str, Any]] = []
        for step in scenario.sweep_steps():
            entry = self._one(step, work_dir, sweep=scenario.name)
            if entry is None:
                log.warning("%s: sweep stopped: %s did not complete", scenario.name, step.name)
                break
            steps.append(sweep_step(entry, _baseline_mean_watts(self.rec.writer.scenarios)))
            self.rec.sweep_step(sweep_summary(scenario.name, steps))
            if not steps[-1]["held_real_time"]:
                log.info("%s: %d stream(s) fell behind real time at %d streams: sweep done", scenario.name,
                         entry.get("fell_behind_streams", 0), step.streams)
                break
        if steps:
            self.rec.sweep_done(sweep_summary(scenario.name, steps))

    # ---- the RTMP server ------------------------------------------------------

    def _live_target(self, work_dir: Path) -> tuple[LiveTarget | None, str | None]:
        """Where live streams publish, or why they cannot (the scenario is then skipped)."""
        if self.opts.rtmp_url:
            return LiveTarget(self.opts.rtmp_url, self.opts.rtmp_stat_url, self.opts.rtmp_record_dir), None
        if self.rtmp_error is not None:
            return None, self.rtmp_error
        if self.rtmp is None:
            base = work_dir / "rtmp"
            self.rtmp = RtmpServer(base, record_dir=base / "recordings", nginx=self.opts.nginx)
        elif not self.rtmp.running:
            log.warning("%s; starting it again", self._server_gone())
        if self.rtmp.running:
            return LiveTarget(self.rtmp.rtmp_url, self.rtmp.stat_url, self.rtmp.record_dir), None
        try:
            self.rtmp.start()
        except RtmpServerError as exc:
            self.rtmp_error = f"live mode needs an RTMP server and the runner's own could not start: {exc}"
            self.rec.error(self.rtmp_error)  # logged with each live scenario it skips
            return None, self.rtmp_error
        self.rec.rtmp_server(self.rtmp.rtmp_url, self.rtmp.stat_url, self.rtmp.pid, self.rtmp.record_dir)
        return LiveTarget(self.rtmp.rtmp_url, self.rtmp.stat_url, self.rtmp.record_dir), None

    def _server_gone(self) -> str:
        proc = self.rtmp.proc if self.rtmp is not None else None
        code = f" (exit status {proc.returncode})" if proc is not None and proc.returncode is not None else ""
        return f"the runner's nginx-rtmp is not running any more{code}: killed or crashed"

    def _writer(self) -> tuple[ResultsWriter, set[str]]:
        from ffwatt.runner.environment import collect_environment

        header: dict[str, Any] = {
            "test_date": datetime.now(UTC).isoformat(timespec="seconds"),
            "planned_scenarios": len(_planned(self.scenarios)),
            "runner": {"scenario_file": self.scenario_file, "matrix_sha256": self.sha},
        }
        scenarios: list[dict] = []
        sweeps: list[dict] = []
        done: set[str] = set()
        file_name = results_file_name(datetime.now(UTC))
        if self.opts.resume:
            found = find_resumable(self.opts.results_dir, self.scenario_file, self.sha)
            if found is None:
                log.warning("--resume: no results file in %s for %s with this matrix; starting a new run",
                            self.opts.results_dir, self.scenario_file)
            else:
                path, doc = found
                self._check_meter(path, doc.get("meter"))
                file_name = path.name
                header.update({k: v for k, v in doc.items()
                               if k not in ("scenarios", "not_run", "format_version", "sweeps")})
                scenarios = [s for s in doc["scenarios"] if isinstance(s, dict) and "name" in s]
                sweeps = [w for w in doc.get("sweeps") or [] if isinstance(w, dict) and "name" in w]
                done = {s["name"] for s in scenarios}
                log.info("--resume: continuing %s (%d scenario(s) done)", path, len(done))
        if "environment" not in header:
            encoders = [s.encoder for s in self.scenarios if not s.idle]
            env = collect_environment(self.info.path, encoders)
            description = self.meter.describe()
            env["energy_meter"] = description.split(" ", 1)[0]
            if env["energy_meter"] == "model" and self.model.tdp_watts is not None:
                env["tdp_watts"] = self.model.tdp_watts
            log.info("energy: %s", description)
            header["environment"] = env
            header["meter"] = self._meter_record(description)
        return ResultsWriter(self.opts.results_dir, file_name, header, scenarios, sweeps=sweeps), done

    def _meter_settings(self) -> MeterRecord:
        """The settings `--resume` compares (MeterRecord.RESUME_KEYS), and the rest of the record."""
        opts, meter = self.opts, self.meter
        return MeterRecord(
            mode="in-process" if meter.in_process else "exporters",
            powercap_root=str(opts.powercap_root) if meter.in_process else None,
            # the results file keeps where energy came from, never a URL's password
            cpu_metrics_url=_shown(opts.cpu_metrics_url), gpu_metrics_url=_shown(opts.gpu_metrics_url),
            tsdb_url=_shown(opts.tsdb_url), sample_interval_seconds=float(opts.sample_interval),
            cpu_model=self.model.cpu_model, model_watts_per_thread=self.model.watts_per_thread,
            model_tdp_watts=self.model.tdp_watts, model_package_threads=self.model.package_threads,
            model_idle_fraction=formulas.CPU_MODEL_IDLE_FRACTION, model_why=self.model.why,
            attribution="exclusive" if opts.exclusive else "cpu-time-share",
            idle_power_from=("the run's idle baseline (its mean CPU power) when the run has one and energy is "
                             "counted, else the model's idle term W_thread x f_idle x threads"),
            order=opts.order, seed=self.seed if opts.order == "shuffled" else None,
            min_window_seconds=float(opts.min_window), cool_down_seconds=float(opts.cool_down))

    def _meter_record(self, description: str) -> dict[str, Any]:
        record = msgspec.structs.replace(self._meter_settings(), source=description.split(" ", 1)[0],
                                         description=description)
        return msgspec.to_builtins(record)

    def _check_meter(self, path: Path, recorded: Any) -> None:
        """Refuse to resume a file measured with other meter settings (`RunnerError` naming each)."""
        if not isinstance(recorded, dict):
            raise RunnerError(f"--resume: {path} records no meter (written before issue 22): its energy was "
                              "measured another way; start a new run")
        mine = msgspec.to_builtins(self._meter_settings())
        differ = [f"{key}: the file has {recorded.get(key)!r}, this run {mine.get(key)!r}"
                  for key in MeterRecord.RESUME_KEYS if recorded.get(key) != mine.get(key)]
        if differ:
            raise RunnerError(f"--resume: {path} was measured with other meter settings ({'; '.join(differ)}): "
                              "give the same settings, or start a new run")
        if self.opts.order == "shuffled" and recorded.get("seed") is not None:
            if self.opts.seed is not None and self.opts.seed != recorded["seed"]:
                raise RunnerError(f"--resume: {path} was shuffled with --seed {recorded['seed']}, this run "
                                  f"asks for --seed {self.opts.seed}")
            self.seed = int(recorded["seed"])

    def _source_entry(self, s: Scenario) -> SourceEntry | None:
        """The scenario's source as the results record it (issue 23); a file is probed and hashed once per run."""
        src = s.source
        if s.idle or src is None:
            return None
        if src.kind == "lavfi":
            expression = ff.source_input_args(s)[-1]  # what `-i` generated: name=size=WxH:rate=F
            return SourceEntry(name=src.clip, lavfi=expression, width=s.width, height=s.height, fps=s.fps,
                               duration_seconds=s.duration)
        ident = self.sources.identify(Path(src.path))
        m = ident.media
        return SourceEntry(name=src.clip, path=src.written or src.path, size_bytes=ident.size_bytes,
                           sha256=ident.sha256, width=m.width, height=m.height, fps=m.fps,
                           duration_seconds=m.duration_seconds)




class _LocalExecutor:
    """Runs each job here, when it is dispatched (`start`); `ready` then has it at once. `cool_down`
    seconds pass after each, so the machine settles before the next measurement."""

    def __init__(self, info: ff.FfmpegInfo, measurer: Measurer, media_files: Any, keep_outputs: bool,
                 cool_down: float = 0.0) -> None:
        self.info, self.measurer, self.media_files, self.keep_outputs = info, measurer, media_files, keep_outputs
        self.cool_down = cool_down

    def cannot_run(self, s: Scenario) -> str | None:
        return None if s.idle else self.info.missing_encoder_reason(s.encoder)

    def start(self, job: Job, work_dir: Path) -> None:
        s = job.scenario
        try:
            job.handle = Outcome(*self.measurer.measure(s, work_dir, job.target, repetitions=job.repetitions,
                                                        quality=job.quality))
        except EncodeError as exc:
            job.handle = exc
        finally:
            if not self.keep_outputs and not s.idle:
                for path in self.media_files(s, work_dir, job.target):  # the encoded media; logs stay
                    path.unlink(missing_ok=True)
            if self.cool_down > 0:
                time.sleep(self.cool_down)

    def ready(self, jobs: list[Job], timeout: float) -> list[Job]:
        return list(jobs)

    def outcome(self, job: Job) -> Outcome:
        if isinstance(job.handle, Exception):
            raise job.handle
        return job.handle

    def cancel(self, jobs: list[Job]) -> None:
        pass

    def close(self) -> None:
        pass


def _baseline_mean_watts(entries: list[dict[str, Any]]) -> float | None:
    """Mean power of the run's idle baseline (its first one): energy / (end_time - start_time); None without."""
    for e in entries:
        if e.get("encoder") == "none":
            start, end = e.get("start_time"), e.get("end_time")
            span = end - start if start is not None and end is not None else None
            return formulas.mean_power_over(e.get("energy_joules"), span)
    return None


def _shown(url: str | None) -> str | None:
    return redact(url) if url else None


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f}"


def _mean(values: list) -> float | None:
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def _entry(s: Scenario, reps: list[Rep], quality: dict[str, Any] | None,
           source: SourceEntry | None = None) -> dict[str, Any]:
    """The results-file object of a scenario (a `ScenarioEntry`, as written); with repetitions, the
    measurements are their means; every figure is per single encode."""
    first, reading0 = reps[0], reps[0].reading
    start, end = first.span
    results = [r.results[0] for r in reps if r.results]
    readings = [r.reading for r in reps]
    # Energies are averaged only when every repetition measured one, the same way:
    # a mean of RAPL and modelled joules would be neither measured nor modelled.
    own = [r.per_encode(r.own.joules) for r in reps]
    machine = [r.per_encode(r.reading.joules) for r in reps]
    sources = sorted({rd.source for rd in readings})
    methods = sorted({r.own.method for r in reps if r.own.method})
    consistent = len(sources) == 1 and len(methods) <= 1 and all(j is not None for j in own)
    errors = list(dict.fromkeys(rd.error for rd in readings if rd.error))
    errors += list(dict.fromkeys(r.own.note for r in reps if r.own.note))
    if not consistent and (len(sources) > 1 or len(methods) > 1):
        errors.append(f"repetitions measured energy differently ({', '.join(sources + methods)}): not averaged")
    cpu = [r.per_encode(r.cpu_seconds) for r in reps]
    repetitions = None
    if len(reps) > 1:
        repetitions = [RepetitionEntry(energy_joules=o if consistent else None,
                                       avg_fps=_mean([x.avg_fps for x in r.results]) if r.results else None,
                                       duration=(r.span[1] - r.span[0]) / r.encodes,
                                       start_time=r.span[0], end_time=r.span[1],
                                       machine_energy_joules=m if consistent else None,
                                       cpu_core_seconds=c if not s.idle else None)
                       for r, o, m, c in zip(reps, own, machine, cpu, strict=True)]
    common: dict[str, Any] = dict(
        name=s.name, duration=s.duration, start_time=start, end_time=end, viewers=s.viewers,
        energy_joules=_mean(own) if consistent else None,
        energy_source=sources[0] if consistent else "none",
        energy_error="; ".join(errors) or None,
        power_watts=list(reading0.power_watts), cpu_usage_cores=list(reading0.cpu_usage_cores),
        step_seconds=reading0.step_seconds, repetitions=repetitions,
        machine_energy_joules=_mean(machine) if consistent else None,
        energy_attribution=methods[0] if consistent and methods else None,
        encodes_per_measurement=first.encodes if first.encodes > 1 else None,
    )
    if s.idle:
        return entry_object(ScenarioEntry(encoder="none", **common))
    fields = dict(
        encoder=s.encoder, preset=s.preset, resolution=s.resolution, fps=s.fps, streams=s.streams, mode=s.mode,
        # means over the repetitions of each one's mean over its encodes (what `repetitions` shows)
        avg_fps=_mean([_mean([x.avg_fps for x in r.results]) for r in reps]), total_frames=results[0].total_frames,
        dropped_frames=0, output_bytes=results[0].output_bytes,
        measured_bitrate_bps=results[0].measured_bitrate_bps(s.fps),
        speed=_mean([_mean([x.speed for x in r.results]) for r in reps]), cpu_core_seconds=_mean(cpu),
    )
    live = [r for r in results if isinstance(r, LiveResult)]
    if live:
        lead = live[0]
        # Drops and details are the first repetition's (like the frame count); a stream that fell
        # behind in any repetition counts, and the lowest sustained speed of all is kept.
        lows = [r.min_speed for r in results if r.min_speed is not None]
        fields.update(
            dropped_frames=lead.dropped_frames, duplicated_frames=lead.duplicated_frames,
            fell_behind_streams=max(r.fell_behind_streams for r in results), min_speed=min(lows) if lows else None,
            streams_detail=[st.detail() for st in lead.streams],
        )
    if s.outputs:
        fields["bitrate"] = str(sum(r.bitrate_bps for r in s.outputs))  # one stream's ladder, in bits/s
        fields["outputs"] = _rungs(s, results[0])
        fields.update(_ladder_totals(s, fields["outputs"]))
        if isinstance(results[0], EncodeResult):
            # as avg_fps above: the mean over the repetitions of each one's mean over its encodes
            fields["avg_fps"] = _mean([_ladder_avg_fps(s, r.results) for r in reps])
    else:
        fields["bitrate"] = s.bitrate
    fields.update(_media_truth(s, fields, source))
    if quality is not None:
        vmaf, psnr, ssim = quality["vmaf"], quality["psnr"], quality["ssim"]
        reference = _quality_reference(s, quality["distorted"], quality["comparisons"])
        fields.update(
            vmaf_score=vmaf.mean if vmaf else None, psnr_score=psnr.mean if psnr else None,
            ssim_score=ssim.mean if ssim else None,
            vmaf=_detail(vmaf, model=reference["model"]) if vmaf else None,
            psnr=_detail(psnr) if psnr else None,
            ssim=_detail(ssim) if ssim else None,
            quality_reference=reference,
            quality_cpu_seconds=quality["cpu_seconds"],
        )
    return entry_object(ScenarioEntry(**common, **fields))


def _expected_frames(fps: float, s: Scenario) -> int:
    """Frames `duration` s at `fps` give, over all streams (lavfi `-t` and the fps filter round to the nearest)."""
    return int(round(fps * s.duration)) * s.streams


def _short(got: int | None, expected: int, streams: int) -> bool:
    """Fewer frames than expected, beyond one frame per stream of rounding; unknown is not short."""
    return got is not None and got < expected - streams


def _rungs(s: Scenario, first: Any) -> list[OutputEntry]:
    """Each rung with its own frames, bytes and bitrate, summed over streams (runner.encode counted them)."""
    out = []
    for i, rung in enumerate(s.outputs):
        fps = rung.fps or s.fps
        per_stream = [(st.output_frames[i] if i < len(st.output_frames) else None,
                       st.output_sizes[i] if i < len(st.output_sizes) else None) for st in first.streams] \
            if isinstance(first, EncodeResult) else [(None, None)]
        frames = None if any(f is None for f, _ in per_stream) else sum(f for f, _ in per_stream)
        size = None if any(b is None for _, b in per_stream) else sum(b for _, b in per_stream)
        # bits / (frames / fps): per stream, as the scenario's measured_bitrate_bps
        bitrate = size * 8 / (frames / fps) if frames and size is not None else None
        out.append(OutputEntry(resolution=rung.resolution, fps=fps, bitrate=rung.bitrate, frames=frames,
                               expected_frames=_expected_frames(fps, s), output_bytes=size,
                               measured_bitrate_bps=bitrate))
    return out


def _ladder_totals(s: Scenario, rungs: list[OutputEntry]) -> dict[str, Any]:
    """A ladder's scenario-level frames and bitrate from its rungs: `total_frames` is the frames of the first
    rung at the scenario's frame rate (the source frames every rung was made from; None when every rung
    sets its own), `measured_bitrate_bps` the rungs' bitrates together (one stream's ladder)."""
    at_scenario_fps = [r.frames for r in rungs if r.fps == s.fps]
    rates = [r.measured_bitrate_bps for r in rungs]
    return {"total_frames": at_scenario_fps[0] if at_scenario_fps else None,
            "measured_bitrate_bps": None if any(b is None for b in rates) else sum(rates)}


def _ladder_avg_fps(s: Scenario, results: list[EncodeResult]) -> float | None:
    """A ladder's encoding frame rate per stream: the frames of its first rung at the scenario's fps over
    wall seconds (ffmpeg's progress counts the first rung, whatever its fps); None when no rung is at it."""
    index = next((i for i, r in enumerate(s.outputs) if (r.fps or s.fps) == s.fps), None)
    if index is None:
        return None

    def rate(st: Any) -> float | None:
        frames = st.output_frames[index] if index < len(st.output_frames) else None
        return frames / st.wall_seconds if frames is not None and st.wall_seconds > 0 else None

    return _mean([_mean([rate(st) for st in r.streams]) for r in results])


def _media_truth(s: Scenario, fields: dict[str, Any], source: SourceEntry | None) -> dict[str, Any]:
    """issue 23: the source, the frames expected, the media time encoded, and whether the media was all
    there (file mode: a live stream's frames are judged by its drops)."""
    out: dict[str, Any] = {"source": source}
    if s.live:
        return out
    frames, expected = fields.get("total_frames"), _expected_frames(s.fps, s)
    out["expected_frames"] = expected
    rungs = fields.get("outputs") or ()
    if frames is not None:
        out["media_seconds"] = frames / s.streams / s.fps
    elif rungs and rungs[0].frames is not None:
        out["media_seconds"] = rungs[0].frames / s.streams / rungs[0].fps
    if _short(frames, expected, s.streams) or any(_short(r.frames, r.expected_frames, s.streams) for r in rungs):
        out["incomplete"] = True
    if source is not None and source.lavfi is None and source.duration_seconds is None:
        out["source_duration_unknown"] = True
    return out


def _quality_reference(s: Scenario, distorted: str, comparisons: list[q.Comparison]) -> dict[str, str]:
    """What was compared: the reference, the distorted side, where they were scored (`scored_at`: source,
    encode or WxH), the size(s) scored at, the scaler and the VMAF model(s); several rungs scored at
    different sizes list theirs in rung order, comma-separated."""

    def joined(values: list[str]) -> str:
        return values[0] if len(set(values)) == 1 else ",".join(values)

    spec = s.quality or QualitySpec()
    return {"reference": "source", "distorted": distorted, "resolution": joined([c.size for c in comparisons]),
            "scaler": joined([c.scaler for c in comparisons]),
            # issue 23: where the pair was scored, and with which model
            "scored_at": spec.resolution, "model": joined([c.model for c in comparisons])}


def _detail(stats: q.QualityStats, *, model: str | None = None) -> QualityDetail:
    """The written form of one metric's pooled scores."""
    return QualityDetail(mean=stats.mean, harmonic_mean=stats.harmonic_mean, min=stats.min, p1=stats.p1, model=model,
                         pooling=stats.pooling, frame_mean=stats.frame_mean, y=stats.y, u=stats.u, v=stats.v)


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("avg_fps", "total_frames", "speed", "energy_joules", "energy_source", "cpu_core_seconds", "vmaf_score",
            "psnr_score", "measured_bitrate_bps", "dropped_frames", "fell_behind_streams", "min_speed")
    return {k: (round(entry[k], 3) if isinstance(entry[k], float) else entry[k]) for k in keys if k in entry}


def _host_fields(entry: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    """A fleet scenario's `host` (its first repetition's), the hosts lost while running it and, when
    its repetitions ran on several hosts, each repetition's."""
    fields: dict[str, Any] = {"host": outcome.hosts[0]}
    if outcome.lost_hosts:
        fields["lost_attempt_hosts"] = list(outcome.lost_hosts)
    if len(set(outcome.hosts)) > 1 and entry.get("repetitions"):
        fields["repetitions"] = [{**rep, "host": host} for rep, host in zip(entry["repetitions"], outcome.hosts,
                                                                            strict=True)]
    return fields
