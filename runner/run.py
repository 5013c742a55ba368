"""`ffwatt run`: the orchestrator.

    expand the scenario file -> probe ffmpeg -> for each scenario:
        event scenario-start; EnergyMeter.start(); encode (or sleep, for an idle baseline);
        EnergyMeter.stop(); quality pass (after the meter stopped, so its CPU is never the
        scenario's); append to the results file (atomic rewrite); event scenario-done

Invariants:

* the results file is rewritten after every scenario and holds every completed one, also
  after a failure, SIGINT or SIGTERM (`RunInterruptedError`); scenarios that did not complete are
  listed in `not_run` with the reason;
* a scenario whose encoder ffmpeg lacks is skipped, one that fails is recorded, and the
  run goes on; the exit status is 0 only when every scenario completed;
* `--resume` continues the newest results file written for the same scenario file and
  expanded matrix (`runner.matrix_sha256`), skipping the scenarios already in it;
* net-of-baseline figures are the exporters' job: an idle baseline runs like any other.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from contract import formulas
from contract.results_writer import ResultsWriteError, ResultsWriter, find_resumable, results_file_name, scenario_entry
from runner import ffmpeg as ff
from runner import quality as q
from runner.encode import EncodeError, EncodeResult, encode
from runner.errors import RunInterruptedError, RunnerError
from runner.events import EventLog
from runner.progress import ProgressDisplay, probe_exporter
from runner.scenarios import Scenario, load_scenarios, matrix_sha256

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
    cpu_metrics_url: str | None = "http://127.0.0.1:9500/metrics"
    gpu_metrics_url: str | None = "http://127.0.0.1:9505/metrics"
    tsdb_url: str | None = None
    sample_interval: float = 1.0
    tdp_watts: float = formulas.DEFAULT_TDP_WATTS
    work_dir: Path | None = None
    keep_outputs: bool = False
    quality: bool = True
    progress_bar: bool | None = None  # None: when stdout is a terminal


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


def dry_run_lines(scenarios: tuple[Scenario, ...], ffmpeg: str, work_dir: Path) -> list[str]:
    """The expanded matrix and the exact commands, as `--dry-run` prints them."""
    lines = [f"{len(scenarios)} scenario(s):"]
    for s in scenarios:
        if s.idle:
            lines.append(f"- {s.name}: idle baseline, {s.duration:g} s, repeat {s.repeat}")
            lines.append(f"    (no command: sleep {s.duration:g} s while energy is measured)")
            continue
        rate = (f"{s.bitrate}" if s.bitrate else f"crf {s.crf:g}" if s.crf is not None else
                f"qp {s.qp}" if s.qp is not None else "ladder " + ", ".join(f"{r.resolution}@{r.bitrate}"
                                                                             for r in s.outputs))
        lines.append(f"- {s.name}: {s.encoder} {s.preset or ''} {rate}, {s.resolution}@{s.fps:g}, "
                     f"{s.duration:g} s x {s.streams} stream(s), repeat {s.repeat}, source {s.source.describe()}")
        for i in range(s.streams):
            lines.append("    " + shlex.join(ff.encode_command(s, ffmpeg, ff.output_paths(s, work_dir, i + 1))))
    return lines


def run(opts: RunOptions, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    scenarios = load_scenarios(opts.scenario_file)
    ffmpeg_path = opts.ffmpeg or ff.default_ffmpeg() or "ffmpeg"
    if opts.dry_run:
        for line in dry_run_lines(scenarios, ffmpeg_path, opts.work_dir or Path("ffwatt-work")):
            print(line, file=out)
        return 0
    info = ff.probe(ffmpeg_path)
    log.info("ffmpeg: %s (%s)", info.path, info.version)
    if not info.has_libvmaf and opts.quality:
        log.warning("ffmpeg has no libvmaf filter: VMAF will be absent (PSNR and SSIM still measured)")
    events = EventLog(opts.events)
    try:
        with handle_signals():
            return _Run(opts, scenarios, info, events, out).go()
    finally:
        events.close()


class _Run:
    def __init__(self, opts: RunOptions, scenarios: tuple[Scenario, ...], info: ff.FfmpegInfo, events: EventLog,
                 out: TextIO) -> None:
        from runner.energy import EnergyMeter  # imported here: the dry run needs none of it

        self.opts, self.scenarios, self.info, self.events, self.out = opts, scenarios, info, events, out
        self.meter = EnergyMeter(cpu_metrics_url=opts.cpu_metrics_url or None,
                                 gpu_metrics_url=opts.gpu_metrics_url or None, tsdb_url=opts.tsdb_url or None,
                                 step_seconds=opts.sample_interval, tdp_watts=opts.tdp_watts)
        self.progress_url = (opts.progress_url or "").rstrip("/") or None
        self.scenario_file = str(Path(opts.scenario_file).resolve())
        self.sha = matrix_sha256(scenarios)

    # ---- the run -----------------------------------------------------------

    def go(self) -> int:
        writer, done = self._writer()
        self.events.emit("run-start", scenario_file=self.scenario_file, results_file=str(writer.path),
                         planned_scenarios=len(self.scenarios), resumed=bool(done))
        log.info("results: %s", writer.path)
        if self.progress_url:
            why = probe_exporter(self.progress_url)
            if why:
                log.warning("%s: live progress is not pushed (the encodes are measured all the same)", why)
                self.events.emit("error", message=why, fatal=False)
                self.progress_url = None
        own_work_dir = self.opts.work_dir is None
        work_dir = Path(tempfile.mkdtemp(prefix="ffwatt-")) if own_work_dir else Path(self.opts.work_dir)
        try:
            work_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunnerError(f"cannot create the work dir {str(work_dir)!r}: {exc.strerror or exc}") from None
        not_run = 0
        try:
            for scenario in self.scenarios:
                if scenario.name in done:
                    self.events.emit("scenario-skipped", scenario=scenario.name,
                                     reason=f"completed in {writer.path.name} (--resume)")
                    log.info("%s: already completed in %s, skipped", scenario.name, writer.path.name)
                    continue
                if not scenario.idle:
                    reason = self.info.missing_encoder_reason(scenario.encoder)
                    if reason:
                        not_run += 1
                        log.warning("%s: skipped: %s", scenario.name, reason)
                        self.events.emit("scenario-skipped", scenario=scenario.name, reason=reason)
                        self._write(writer.add_not_run, scenario.name, "skipped", reason)
                        continue
                self.events.emit("scenario-start", scenario=scenario.name, streams=scenario.streams,
                                 repeat=scenario.repeat)
                log.info("%s: started", scenario.name)
                try:
                    entry = self._scenario(scenario, work_dir)
                except RunInterruptedError as exc:
                    self.events.emit("error", scenario=scenario.name, message=str(exc), fatal=True)
                    self._write(writer.add_not_run, scenario.name, "failed", f"interrupted by {exc.signal_name}")
                    raise
                except EncodeError as exc:
                    not_run += 1
                    log.error("%s: failed: %s", scenario.name, exc)
                    self.events.emit("error", scenario=scenario.name, message=str(exc), fatal=False)
                    self._write(writer.add_not_run, scenario.name, "failed", str(exc))
                    continue
                finally:
                    if not self.opts.keep_outputs and not scenario.idle:
                        for stream in range(1, scenario.streams + 1):  # the encoded media; logs stay
                            for path in ff.output_paths(scenario, work_dir, stream):
                                path.unlink(missing_ok=True)
                self._write(writer.add_scenario, entry)
                self.events.emit("scenario-done", scenario=scenario.name, **_summary(entry))
                log.info("%s: done: %s", scenario.name, _summary(entry))
        finally:
            if own_work_dir and not self.opts.keep_outputs:
                shutil.rmtree(work_dir, ignore_errors=True)
            elif self.opts.keep_outputs:
                log.info("outputs kept in %s", work_dir)
        completed = len(writer.scenarios)
        self.events.emit("run-done", results_file=str(writer.path), completed=completed, not_run=len(writer.not_run))
        print(f"{completed} of {len(self.scenarios)} scenario(s) in {writer.path}", file=self.out)
        for item in writer.not_run:
            print(f"  not run: {item['name']}: {item['status']}: {item['reason'].splitlines()[0]}", file=self.out)
        return 0 if not_run == 0 and not writer.not_run else 1

    def _write(self, method: Callable, *args) -> None:
        try:
            method(*args)
        except ResultsWriteError as exc:
            raise RunnerError(f"{exc}; completed scenarios so far are in the last file written there") from None

    def _writer(self) -> tuple[ResultsWriter, set[str]]:
        from runner.environment import collect_environment

        header: dict[str, Any] = {
            "test_date": datetime.now(UTC).isoformat(timespec="seconds"),
            "planned_scenarios": len(self.scenarios),
            "runner": {"scenario_file": self.scenario_file, "matrix_sha256": self.sha},
        }
        scenarios: list[dict] = []
        done: set[str] = set()
        file_name = results_file_name(datetime.now(UTC))
        if self.opts.resume:
            found = find_resumable(self.opts.results_dir, self.scenario_file, self.sha)
            if found is None:
                log.warning("--resume: no results file in %s for %s with this matrix; starting a new run",
                            self.opts.results_dir, self.scenario_file)
            else:
                path, doc = found
                file_name = path.name
                header.update({k: v for k, v in doc.items() if k not in ("scenarios", "not_run", "format_version")})
                scenarios = [s for s in doc["scenarios"] if isinstance(s, dict) and "name" in s]
                done = {s["name"] for s in scenarios}
                log.info("--resume: continuing %s (%d scenario(s) done)", path, len(done))
        if "environment" not in header:
            encoders = [s.encoder for s in self.scenarios if not s.idle]
            env = collect_environment(self.info.path, encoders)
            description = self.meter.describe()
            env["energy_meter"] = description.split(" ", 1)[0]
            if env["energy_meter"] == "model":
                env["tdp_watts"] = self.opts.tdp_watts
            log.info("energy: %s", description)
            header["environment"] = env
        writer = ResultsWriter(self.opts.results_dir, file_name, header, scenarios)
        self._write(writer.write)
        return writer, done

    # ---- one scenario -----------------------------------------------------------

    def _scenario(self, s: Scenario, work_dir: Path) -> dict[str, Any]:
        reps = []
        for _ in range(s.repeat):
            display = None
            if not s.idle:
                display = ProgressDisplay(s.name, int(round(s.fps * s.duration)) * s.streams, s.streams,
                                          self.events.emit, enabled=self.opts.progress_bar)
            self.meter.start()
            try:
                if s.idle:
                    start = time.time()
                    time.sleep(s.duration)
                    result: EncodeResult | None = None
                    span = (start, time.time())
                else:
                    result = encode(s, ffmpeg=self.info.path, work_dir=work_dir, progress_url=self.progress_url,
                                    on_progress=display.update, timeout=_encode_timeout(s))
                    span = (result.start_time, result.end_time)
            finally:
                reading = self.meter.stop()
                if display is not None:
                    display.close()
            reps.append((result, reading, span))
        quality = None
        if not s.idle and self.opts.quality:
            quality = self._quality(s, reps[-1][0], work_dir)
        return _entry(s, reps, quality)

    def _quality(self, s: Scenario, result: EncodeResult, work_dir: Path) -> dict[str, Any] | None:
        vmaf = self.info.has_libvmaf
        psnr, ssim = "psnr" in self.info.filters, "ssim" in self.info.filters
        if not (vmaf or psnr or ssim):
            log.warning("%s: ffmpeg has none of libvmaf, psnr, ssim: quality unknown", s.name)
            return None
        # N streams of one scenario are the same encode of the same source: stream 1 stands for all.
        # A ladder's rungs differ: each is scored.
        outputs = [Path(p) for p in result.streams[0].outputs]
        scores, cpu = [], 0.0
        timeout = 120 + 30 * s.duration
        for i, path in enumerate(outputs):
            try:
                r = q.measure(self.info.path, s, path, work_dir / f"{s.slug}-quality-{i}", vmaf=vmaf, psnr=psnr,
                              ssim=ssim, timeout=timeout)
            except EncodeError as exc:
                log.error("%s: quality pass failed, scores unknown: %s", s.name, exc)
                self.events.emit("error", scenario=s.name, message=f"quality pass failed: {exc}", fatal=False)
                return None
            scores.append(r)
            cpu += r.cpu_seconds
        return {"vmaf": q.mean_quality([r.vmaf for r in scores]) if vmaf else None,
                "psnr": q.mean_quality([r.psnr for r in scores]) if psnr else None,
                "ssim": q.mean_quality([r.ssim for r in scores]) if ssim else None,
                "cpu_seconds": cpu}


def _encode_timeout(s: Scenario) -> float:
    """A generous bound on one encode: slow presets on a small machine run far below real time."""
    return 120.0 + 60.0 * s.duration * max(1, len(s.outputs))


def _mean(values: list) -> float | None:
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def _entry(s: Scenario, reps: list, quality: dict[str, Any] | None) -> dict[str, Any]:
    """The results-file object of a scenario; with repetitions, the measurements are their means."""
    first, reading0, (start, end) = reps[0]
    results = [r for r, _, _ in reps]
    readings = [rd for _, rd, _ in reps]
    # Energies are averaged only when every repetition measured one, the same way:
    # a mean of RAPL and modelled joules would be neither measured nor modelled.
    joules = [rd.joules for rd in readings]
    sources = sorted({rd.source for rd in readings})
    consistent = len(sources) == 1 and all(j is not None for j in joules)
    errors = list(dict.fromkeys(rd.error for rd in readings if rd.error))
    if not consistent and len(sources) > 1:
        errors.append(f"repetitions measured energy differently ({', '.join(sources)}): not averaged")
    repetitions = None
    if len(reps) > 1:
        repetitions = [{"energy_joules": rd.joules if consistent else None, "avg_fps": r.avg_fps if r else None,
                        "duration": e - b} for r, rd, (b, e) in reps]
    common: dict[str, Any] = dict(
        name=s.name, duration=s.duration, start_time=start, end_time=end, viewers=s.viewers,
        energy_joules=_mean(joules) if consistent else None,
        energy_source=sources[0] if consistent else "none",
        energy_error="; ".join(errors) or None,
        power_watts=list(reading0.power_watts), cpu_usage_cores=list(reading0.cpu_usage_cores),
        step_seconds=reading0.step_seconds, repetitions=repetitions,
    )
    if s.idle:
        return scenario_entry(encoder="none", **common)
    fields = dict(
        encoder=s.encoder, preset=s.preset, resolution=s.resolution, fps=s.fps, streams=s.streams, mode="file",
        avg_fps=_mean([r.avg_fps for r in results]), total_frames=first.total_frames, dropped_frames=0,
        output_bytes=first.output_bytes, measured_bitrate_bps=first.measured_bitrate_bps(s.fps),
        speed=_mean([r.speed for r in results]), cpu_core_seconds=_mean([r.cpu_seconds for r in results]),
    )
    if s.outputs:
        fields["bitrate"] = str(sum(r.bitrate_bps for r in s.outputs))  # one stream's ladder, in bits/s
        fields["outputs"] = [{"resolution": r.resolution, "fps": r.fps or s.fps, "bitrate": r.bitrate}
                             for r in s.outputs]
    else:
        fields["bitrate"] = s.bitrate
    if quality is not None:
        vmaf, psnr, ssim = quality["vmaf"], quality["psnr"], quality["ssim"]
        fields.update(
            vmaf_score=vmaf.mean if vmaf else None, psnr_score=psnr.mean if psnr else None,
            ssim_score=ssim.mean if ssim else None,
            vmaf=vmaf.as_dict(model=q.VMAF_MODEL, keys=("mean", "harmonic_mean", "min", "p1")) if vmaf else None,
            psnr=psnr.as_dict() if psnr else None, ssim=ssim.as_dict() if ssim else None,
            quality_reference={"reference": "source", "distorted": "encoder_output", "resolution": s.resolution,
                               "scaler": "bicubic"},
            quality_cpu_seconds=quality["cpu_seconds"],
        )
    return scenario_entry(**common, **fields)


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("avg_fps", "total_frames", "speed", "energy_joules", "energy_source", "cpu_core_seconds", "vmaf_score",
            "psnr_score", "measured_bitrate_bps")
    return {k: (round(entry[k], 3) if isinstance(entry[k], float) else entry[k]) for k in keys if k in entry}
