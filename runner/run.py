"""`ffwatt run`: the orchestrator.

    expand the scenario file -> probe ffmpeg -> the schedule (rounds, below) -> for each
    repetition: EnergyMeter.start(); encode, again back to back until `min_window` seconds
    passed (or sleep, for an idle baseline); EnergyMeter.stop(); attribute the machine's
    energy to the scenario (runner.attribution); after a scenario's last repetition: quality
    pass (after the meter stopped, so its CPU is never the scenario's); append to the results
    file (atomic rewrite); event scenario-done

The schedule (issue 22): `repeat: N` is N rounds over the whole matrix. With `order`
"shuffled" (the default) each round is the matrix in a random order drawn from `seed`
(recorded in the results header's `meter`, so a run can be replayed), the idle baselines
first in each round (the scenarios after them use the idle power they measured); "sequential"
is the order of the file with each scenario's repetitions back to back, as before. Capacity
sweeps run after the rounds, their steps in order, each step's repetitions back to back (the
sweep's stop rule needs each step's result). Every figure of a repetition is per single
encode (`encodes_per_measurement` of them in its window).

Invariants:

* the results file is rewritten after every scenario and holds every completed one, also
  after a failure, SIGINT or SIGTERM (`RunInterruptedError`); scenarios that did not complete are
  listed in `not_run` with the reason;
* a scenario whose encoder ffmpeg lacks is skipped, one that fails is recorded, and the
  run goes on; the exit status is 0 only when every scenario completed;
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
import os
import random
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import msgspec

from contract import formulas
from contract.results_writer import ResultsWriter, entry_object, find_resumable, results_file_name, scenario_entry
from contract.schema import MeterRecord, OutputEntry, QualityDetail, RepetitionEntry, ScenarioEntry
from runner import ffmpeg as ff
from runner import quality as q
from runner.attribution import attribute, model_idle_watts
from runner.cpu_model import ModelFigure, model_figure
from runner.encode import EncodeError, EncodeResult, encode
from runner.encoder_options import check_options
from runner.energy import EnergyReading
from runner.errors import RunInterruptedError, RunnerError
from runner.events import EventLog, RunRecorder
from runner.live import LiveResult, encode_live, publish_url, sweep_step, sweep_summary
from runner.progress import ProgressDisplay, probe_exporter, read_token
from runner.scenarios import DEFAULT_MAX_SCENARIOS, Scenario, load_scenarios, matrix_sha256
from servers.rtmp import RtmpServer, RtmpServerError

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
    sample_interval: float = 1.0
    tdp_watts: float | None = None  # None: the CPU model's TDP from runner/data/cpu_power.csv
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


@dataclass(frozen=True)
class _LiveTarget:
    """Where live streams go: the application URL, its /stat (or None), its recordings (or None)."""

    rtmp_url: str
    stat_url: str | None
    record_dir: Path | None


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
    if not info.has_libvmaf and opts.quality:
        log.warning("ffmpeg has no libvmaf filter: VMAF will be absent (PSNR and SSIM still measured)")
    events = EventLog(opts.events)
    try:
        with handle_signals():
            return _Run(opts, scenarios, info, events, out).go()
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


class _Run:
    def __init__(self, opts: RunOptions, scenarios: tuple[Scenario, ...], info: ff.FfmpegInfo, events: EventLog,
                 out: TextIO) -> None:
        from runner.energy import EnergyMeter

        self.opts, self.scenarios, self.info, self.events, self.out = opts, scenarios, info, events, out
        if opts.order not in ("shuffled", "sequential"):
            raise RunnerError(f"--order must be 'shuffled' or 'sequential', got {opts.order!r}")
        self.model: ModelFigure = model_figure(_read_text("/proc/cpuinfo"), os.cpu_count() or 1, opts.tdp_watts)
        log.info("CPU model: %s W per thread: %s", f"{self.model.watts_per_thread:.3g}", self.model.why)
        self.meter = EnergyMeter(cpu_metrics_url=opts.cpu_metrics_url or None,
                                 gpu_metrics_url=opts.gpu_metrics_url or None, tsdb_url=opts.tsdb_url or None,
                                 step_seconds=opts.sample_interval, watts_per_thread=self.model.watts_per_thread,
                                 powercap_root=opts.powercap_root)
        self.seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**32)
        self.idle_watts: float | None = None  # the run's idle baseline's CPU power, once measured with counters
        self.pending: dict[str, list[_Rep]] = {}  # repetitions of scenarios not yet complete
        self.given_up: set[str] = set()  # skipped or failed: their later rounds do not run
        self.progress_url = (opts.progress_url or "").rstrip("/") or None
        self.progress_token = read_token(opts.progress_token_file) if opts.progress_token_file else None
        self.scenario_file = str(Path(opts.scenario_file).resolve())
        self.sha = matrix_sha256(scenarios)
        self.rtmp: RtmpServer | None = None  # our own, started at the first live scenario
        self.rtmp_error: str | None = None  # why it could not start (then every live scenario is skipped)

    # ---- the run -----------------------------------------------------------

    def go(self) -> int:
        writer, self.done = self._writer()
        self.rec = RunRecorder(self.events, writer)
        self.rec.run_started(self.scenario_file, len(self.scenarios), resumed=bool(self.done))
        if self.progress_url:
            why = probe_exporter(self.progress_url)
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
        try:
            for scenario in self._schedule():
                self._one(scenario, work_dir)
            for scenario in self.scenarios:
                if scenario.sweep:
                    self._sweep(scenario, work_dir)
        finally:
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
        return 0 if not writer.not_run else 1  # every scenario that did not complete is in it

    def _schedule(self) -> list[Scenario]:
        """Every repetition of every scenario but the sweeps, in the order they run (module docstring)."""
        plain = [s for s in self.scenarios if not s.sweep]
        if self.opts.order == "sequential":
            return [s for s in plain for _ in range(s.repeat)]
        rng = random.Random(self.seed)
        schedule: list[Scenario] = []
        for r in range(max((s.repeat for s in plain), default=0)):
            members = [s for s in plain if s.repeat > r]
            encodes = [s for s in members if not s.idle]
            rng.shuffle(encodes)
            schedule.extend([s for s in members if s.idle] + encodes)
        return schedule

    def _one(self, scenario: Scenario, work_dir: Path, sweep: str | None = None) -> dict[str, Any] | None:
        """Run one repetition of a scenario; after its last, record it. Its entry once complete, else None
        (skipped, failed, or repetitions still to come)."""
        if scenario.name in self.done:
            if scenario.name not in self.given_up:
                self.given_up.add(scenario.name)  # said once
                self.rec.scenario_resumed(scenario.name)
            return next(e for e in self.rec.writer.scenarios if e.get("name") == scenario.name)
        if scenario.name in self.given_up:
            return None
        target = None
        reason = None if scenario.idle else self.info.missing_encoder_reason(scenario.encoder)
        if reason is None and scenario.live:
            target, reason = self._live_target(work_dir)
        if reason:
            self.given_up.add(scenario.name)
            self.rec.scenario_skipped(scenario.name, reason)
            return None
        reps = self.pending.setdefault(scenario.name, [])
        if not reps:
            self.rec.scenario_started(scenario.name, streams=scenario.streams, repeat=scenario.repeat,
                                      mode=scenario.mode)
        last = len(reps) + 1 >= scenario.repeat
        entry = None
        try:
            reps.append(self._repetition(scenario, work_dir, target))
            if last:
                entry = self._finish(scenario, reps, work_dir, target)
        except RunInterruptedError as exc:
            self.rec.scenario_interrupted(scenario.name, exc.signal_name, str(exc))
            raise
        except EncodeError as exc:
            message = str(exc)
            if scenario.live and self.rtmp is not None and not self.rtmp.running:
                message = f"{message}\n{self._server_gone()}"
            self.given_up.add(scenario.name)
            self.rec.scenario_failed(scenario.name, message)
            return None
        finally:
            if (last or scenario.name in self.given_up) and not self.opts.keep_outputs and not scenario.idle:
                for path in self._media_files(scenario, work_dir, target):  # the encoded media; logs stay
                    path.unlink(missing_ok=True)
            if self.opts.cool_down > 0:
                time.sleep(self.opts.cool_down)  # let the machine settle before the next measurement
        if entry is None:
            return None
        del self.pending[scenario.name]
        if sweep is not None:
            entry = scenario_entry(**entry, sweep=sweep)
        self.rec.scenario_done(scenario.name, entry, _summary(entry))
        return entry

    def _media_files(self, s: Scenario, work_dir: Path, target: _LiveTarget | None) -> list[Path]:
        if not s.live:
            return [p for i in range(1, s.streams + 1) for p in ff.output_paths(s, work_dir, i)]
        if target is None or target.record_dir is None or self.opts.rtmp_url:
            return []  # another server's recordings are not ours to delete
        return [target.record_dir / f"{ff.live_stream_name(s, i)}.flv" for i in range(1, s.streams + 1)]

    def _sweep(self, scenario: Scenario, work_dir: Path) -> None:
        """The steps of a capacity sweep, in increasing stream counts, until one falls behind (module docstring)."""
        steps: list[dict[str, Any]] = []
        for step in scenario.sweep_steps():
            entry = None
            for _ in range(step.repeat):
                entry = self._one(step, work_dir, sweep=scenario.name)
                if step.name in self.given_up:
                    break
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

    def _live_target(self, work_dir: Path) -> tuple[_LiveTarget | None, str | None]:
        """Where live streams publish, or why they cannot (the scenario is then skipped)."""
        if self.opts.rtmp_url:
            return _LiveTarget(self.opts.rtmp_url, self.opts.rtmp_stat_url, self.opts.rtmp_record_dir), None
        if self.rtmp_error is not None:
            return None, self.rtmp_error
        if self.rtmp is None:
            base = work_dir / "rtmp"
            self.rtmp = RtmpServer(base, record_dir=base / "recordings", nginx=self.opts.nginx)
        elif not self.rtmp.running:
            log.warning("%s; starting it again", self._server_gone())
        if self.rtmp.running:
            return _LiveTarget(self.rtmp.rtmp_url, self.rtmp.stat_url, self.rtmp.record_dir), None
        try:
            self.rtmp.start()
        except RtmpServerError as exc:
            self.rtmp_error = f"live mode needs an RTMP server and the runner's own could not start: {exc}"
            self.rec.error(self.rtmp_error)  # logged with each live scenario it skips
            return None, self.rtmp_error
        self.rec.rtmp_server(self.rtmp.rtmp_url, self.rtmp.stat_url, self.rtmp.pid, self.rtmp.record_dir)
        return _LiveTarget(self.rtmp.rtmp_url, self.rtmp.stat_url, self.rtmp.record_dir), None

    def _server_gone(self) -> str:
        proc = self.rtmp.proc if self.rtmp is not None else None
        code = f" (exit status {proc.returncode})" if proc is not None and proc.returncode is not None else ""
        return f"the runner's nginx-rtmp is not running any more{code}: killed or crashed"

    def _writer(self) -> tuple[ResultsWriter, set[str]]:
        from runner.environment import collect_environment

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
            cpu_metrics_url=opts.cpu_metrics_url or None, gpu_metrics_url=opts.gpu_metrics_url or None,
            tsdb_url=opts.tsdb_url or None, sample_interval_seconds=float(opts.sample_interval),
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

    # ---- one scenario -----------------------------------------------------------

    def _repetition(self, s: Scenario, work_dir: Path, target: _LiveTarget | None = None) -> _Rep:
        """One measured repetition: a file encode again and again until `min_window` seconds passed."""
        display = None
        if not s.idle:
            display = ProgressDisplay(s.name, int(round(s.fps * s.duration)) * s.streams, s.streams,
                                      self.events.emit)
        results: list[EncodeResult | LiveResult] = []
        self.meter.start()
        try:
            if s.idle:
                start = time.time()
                time.sleep(s.duration)
                span = (start, time.time())
            elif s.live:
                assert target is not None
                results.append(encode_live(s, ffmpeg=self.info.path, rtmp_url=target.rtmp_url, work_dir=work_dir,
                                           progress_url=self.progress_url, on_progress=display.update,
                                           timeout=_encode_timeout(s), progress_token=self.progress_token))
                span = (results[0].start_time, results[0].end_time)
            else:
                began = time.monotonic()
                while not results or time.monotonic() - began < self.opts.min_window:
                    results.append(encode(s, ffmpeg=self.info.path, work_dir=work_dir,
                                          progress_url=self.progress_url, on_progress=display.update,
                                          timeout=_encode_timeout(s), progress_token=self.progress_token))
                span = (results[0].start_time, results[-1].end_time)
        finally:
            reading = self.meter.stop()
            if display is not None:
                display.close()
        cpu = sum(r.cpu_seconds for r in results) if results else 0.0
        if s.idle and reading.cpu_joules is not None and reading.source != "model" and reading.window_seconds:
            self.idle_watts = reading.cpu_joules / reading.window_seconds  # the idle power of what follows
        own = attribute(reading, scenario_cpu_seconds=cpu, idle_watts=self._idle_watts(reading),
                        exclusive=self.opts.exclusive or s.idle)
        return _Rep(results, reading, span, max(1, len(results)), own, cpu)

    def _idle_watts(self, reading: EnergyReading) -> float | None:
        """The idle power the attribution takes out first (runner.attribution's docstring)."""
        if reading.source != "model" and self.idle_watts is not None:
            return self.idle_watts
        return model_idle_watts(self.model.watts_per_thread, reading.cpus) if reading.cpus else None

    def _finish(self, s: Scenario, reps: list[_Rep], work_dir: Path, target: _LiveTarget | None) -> dict[str, Any]:
        quality = None
        if not s.idle and self.opts.quality:
            if s.live:
                recording = self._recording(s, target)
                if recording is not None:
                    quality = self._quality(s, [recording], work_dir, distorted="server_delivered")
            else:
                quality = self._quality(s, [Path(p) for p in reps[-1].results[-1].streams[0].outputs], work_dir)
        return _entry(s, reps, quality)

    def _recording(self, s: Scenario, target: _LiveTarget | None) -> Path | None:
        """The server's recording of stream 1, once the server closed it; None (logged) when there is none."""
        name = ff.live_stream_name(s, 1)
        if target is None or target.record_dir is None:
            log.warning("%s: the RTMP server's recordings are unknown (pass --rtmp-record-dir with --rtmp-url): "
                        "live quality not measured", s.name)
            return None
        path = target.record_dir / f"{name}.flv"
        _wait_unpublished(target.stat_url, name, path)
        if not path.is_file() or path.stat().st_size == 0:
            message = f"the server's recording {path} is missing or empty: live quality not measured"
            self.rec.error(message, f"{s.name}: {message}", scenario=s.name)
            return None
        return path

    def _quality(self, s: Scenario, outputs: list[Path], work_dir: Path,
                 distorted: str = "encoder_output") -> dict[str, Any] | None:
        vmaf = self.info.has_libvmaf
        psnr, ssim = "psnr" in self.info.filters, "ssim" in self.info.filters
        if not (vmaf or psnr or ssim):
            log.warning("%s: ffmpeg has none of libvmaf, psnr, ssim: quality unknown", s.name)
            return None
        # N streams of one scenario are the same encode of the same source: stream 1 stands for all.
        # A ladder's rungs differ: each is scored. A live stream is scored as the server recorded it.
        scores, cpu = [], 0.0
        timeout = 120 + 30 * s.duration
        for i, path in enumerate(outputs):
            try:
                r = q.measure(self.info.path, s, path, work_dir / f"{s.slug}-quality-{i}", vmaf=vmaf, psnr=psnr,
                              ssim=ssim, timeout=timeout)
            except EncodeError as exc:
                self.rec.error(f"quality pass failed: {exc}", f"{s.name}: quality pass failed, scores unknown: {exc}",
                               scenario=s.name)
                return None
            scores.append(r)
            cpu += r.cpu_seconds
        return {"vmaf": q.mean_quality([r.vmaf for r in scores]) if vmaf else None,
                "psnr": q.mean_quality([r.psnr for r in scores]) if psnr else None,
                "ssim": q.mean_quality([r.ssim for r in scores]) if ssim else None,
                "cpu_seconds": cpu, "distorted": distorted}


RECORDING_WAIT_SECONDS = 5.0


def _wait_unpublished(stat_url: str | None, stream: str, recording: Path,
                      timeout: float = RECORDING_WAIT_SECONDS) -> None:
    """Wait (bounded) until the server has closed `stream`: gone from its /stat when there is one, and its
    recording no longer growing (the server writes the last packets after the publisher left)."""
    deadline = time.monotonic() + timeout
    needle = f"<name>{stream}</name>".encode()
    while stat_url and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(stat_url, timeout=2) as r:
                if needle not in r.read(8 << 20):
                    break
        except (urllib.error.URLError, OSError):
            break  # no /stat: the file check below still applies
        time.sleep(0.1)
    last = -1
    while time.monotonic() < deadline:
        size = recording.stat().st_size if recording.exists() else -1
        if size == last and size > 0:
            return
        last = size
        time.sleep(0.25)


def _baseline_mean_watts(entries: list[dict[str, Any]]) -> float | None:
    """Mean power of the run's idle baseline (its first one): energy / (end_time - start_time); None without."""
    for e in entries:
        if e.get("encoder") == "none":
            start, end = e.get("start_time"), e.get("end_time")
            span = end - start if start is not None and end is not None else None
            return formulas.mean_power_over(e.get("energy_joules"), span)
    return None


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f}"


def _encode_timeout(s: Scenario) -> float:
    """A generous bound on one encode: slow presets on a small machine run far below real time."""
    return 120.0 + 60.0 * s.duration * max(1, len(s.outputs))


def _mean(values: list) -> float | None:
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


@dataclass(frozen=True)
class _Rep:
    """One measured repetition: its encodes (none for an idle baseline), the machine's reading over
    the window, the window's wall span, how many encodes it held, the scenario's own energy, and
    the CPU seconds of all its encodes."""

    results: list
    reading: EnergyReading
    span: tuple[float, float]
    encodes: int
    own: Any  # runner.attribution.Attributed
    cpu_seconds: float

    def per_encode(self, value: float | None) -> float | None:
        return formulas.per_encode(value, self.encodes)


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _entry(s: Scenario, reps: list[_Rep], quality: dict[str, Any] | None) -> dict[str, Any]:
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
        first = live[0]
        # Drops and details are the first repetition's (like the frame count); a stream that fell
        # behind in any repetition counts, and the lowest sustained speed of all is kept.
        lows = [r.min_speed for r in results if r.min_speed is not None]
        fields.update(
            dropped_frames=first.dropped_frames, duplicated_frames=first.duplicated_frames,
            fell_behind_streams=max(r.fell_behind_streams for r in results), min_speed=min(lows) if lows else None,
            streams_detail=[st.detail() for st in first.streams],
        )
    if s.outputs:
        fields["bitrate"] = str(sum(r.bitrate_bps for r in s.outputs))  # one stream's ladder, in bits/s
        fields["outputs"] = [OutputEntry(resolution=r.resolution, fps=r.fps or s.fps, bitrate=r.bitrate)
                             for r in s.outputs]
    else:
        fields["bitrate"] = s.bitrate
    if quality is not None:
        vmaf, psnr, ssim = quality["vmaf"], quality["psnr"], quality["ssim"]
        fields.update(
            vmaf_score=vmaf.mean if vmaf else None, psnr_score=psnr.mean if psnr else None,
            ssim_score=ssim.mean if ssim else None,
            vmaf=QualityDetail(**vmaf.as_dict(model=q.VMAF_MODEL, keys=("mean", "harmonic_mean", "min", "p1")))
            if vmaf else None,
            psnr=QualityDetail(**psnr.as_dict()) if psnr else None,
            ssim=QualityDetail(**ssim.as_dict()) if ssim else None,
            quality_reference={"reference": "source", "distorted": quality["distorted"], "resolution": s.resolution,
                               "scaler": "bicubic"},
            quality_cpu_seconds=quality["cpu_seconds"],
        )
    return entry_object(ScenarioEntry(**common, **fields))




def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("avg_fps", "total_frames", "speed", "energy_joules", "energy_source", "cpu_core_seconds", "vmaf_score",
            "psnr_score", "measured_bitrate_bps", "dropped_frames", "fell_behind_streams", "min_speed")
    return {k: (round(entry[k], 3) if isinstance(entry[k], float) else entry[k]) for k in keys if k in entry}
