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

from contract import formulas
from contract.results_writer import ResultsWriter, entry_object, find_resumable, results_file_name, scenario_entry
from contract.schema import OutputEntry, QualityDetail, RepetitionEntry, ScenarioEntry
from runner import ffmpeg as ff
from runner import quality as q
from runner.encode import EncodeError, EncodeResult, encode
from runner.encoder_options import check_options
from runner.errors import RunInterruptedError, RunnerError
from runner.events import EventLog, RunRecorder
from runner.live import LiveResult, encode_live, publish_url, sweep_step, sweep_summary
from runner.progress import ProgressDisplay, probe_exporter, read_token
from runner.scenarios import DEFAULT_MAX_SCENARIOS, QualitySpec, Scenario, load_scenarios, matrix_sha256
from runner.video_info import probe_video
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
    cpu_metrics_url: str | None = "http://127.0.0.1:9500/metrics"
    gpu_metrics_url: str | None = "http://127.0.0.1:9505/metrics"
    tsdb_url: str | None = None
    sample_interval: float = 1.0
    tdp_watts: float = formulas.DEFAULT_TDP_WATTS
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
        from runner.energy import EnergyMeter  # imported here: the dry run needs none of it

        self.opts, self.scenarios, self.info, self.events, self.out = opts, scenarios, info, events, out
        self.meter = EnergyMeter(cpu_metrics_url=opts.cpu_metrics_url or None,
                                 gpu_metrics_url=opts.gpu_metrics_url or None, tsdb_url=opts.tsdb_url or None,
                                 step_seconds=opts.sample_interval, tdp_watts=opts.tdp_watts)
        self.progress_url = (opts.progress_url or "").rstrip("/") or None
        self.progress_token = read_token(opts.progress_token_file) if opts.progress_token_file else None
        self.scenario_file = str(Path(opts.scenario_file).resolve())
        self.sha = matrix_sha256(scenarios)
        self.rtmp: RtmpServer | None = None  # our own, started at the first live scenario
        self._source_sizes: dict[str, tuple[int, int]] = {}  # a file source's own size, probed once
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
            for scenario in self.scenarios:
                if scenario.sweep:
                    self._sweep(scenario, work_dir)
                else:
                    self._one(scenario, work_dir)
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

    def _one(self, scenario: Scenario, work_dir: Path, sweep: str | None = None) -> dict[str, Any] | None:
        """Run one scenario and record it; its entry, or None when it was skipped or failed."""
        if scenario.name in self.done:
            self.rec.scenario_resumed(scenario.name)
            return next(e for e in self.rec.writer.scenarios if e.get("name") == scenario.name)
        target = None
        reason = None if scenario.idle else self.info.missing_encoder_reason(scenario.encoder)
        if reason is None and scenario.live:
            target, reason = self._live_target(work_dir)
        if reason:
            self.rec.scenario_skipped(scenario.name, reason)
            return None
        self.rec.scenario_started(scenario.name, streams=scenario.streams, repeat=scenario.repeat, mode=scenario.mode)
        try:
            entry = self._scenario(scenario, work_dir, target)
        except RunInterruptedError as exc:
            self.rec.scenario_interrupted(scenario.name, exc.signal_name, str(exc))
            raise
        except EncodeError as exc:
            message = str(exc)
            if scenario.live and self.rtmp is not None and not self.rtmp.running:
                message = f"{message}\n{self._server_gone()}"
            self.rec.scenario_failed(scenario.name, message)
            return None
        finally:
            if not self.opts.keep_outputs and not scenario.idle:
                for path in self._media_files(scenario, work_dir, target):  # the encoded media; logs stay
                    path.unlink(missing_ok=True)
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
            if env["energy_meter"] == "model":
                env["tdp_watts"] = self.opts.tdp_watts
            log.info("energy: %s", description)
            header["environment"] = env
        return ResultsWriter(self.opts.results_dir, file_name, header, scenarios, sweeps=sweeps), done

    # ---- one scenario -----------------------------------------------------------

    def _scenario(self, s: Scenario, work_dir: Path, target: _LiveTarget | None = None) -> dict[str, Any]:
        reps = []
        for _ in range(s.repeat):
            display = None
            if not s.idle:
                display = ProgressDisplay(s.name, int(round(s.fps * s.duration)) * s.streams, s.streams,
                                          self.events.emit)
            self.meter.start()
            try:
                if s.idle:
                    start = time.time()
                    time.sleep(s.duration)
                    result: EncodeResult | LiveResult | None = None
                    span = (start, time.time())
                elif s.live:
                    assert target is not None
                    result = encode_live(s, ffmpeg=self.info.path, rtmp_url=target.rtmp_url, work_dir=work_dir,
                                         progress_url=self.progress_url, on_progress=display.update,
                                         timeout=_encode_timeout(s), progress_token=self.progress_token)
                    span = (result.start_time, result.end_time)
                else:
                    result = encode(s, ffmpeg=self.info.path, work_dir=work_dir, progress_url=self.progress_url,
                                    on_progress=display.update, timeout=_encode_timeout(s),
                                    progress_token=self.progress_token)
                    span = (result.start_time, result.end_time)
            finally:
                reading = self.meter.stop()
                if display is not None:
                    display.close()
            reps.append((result, reading, span))
        quality = None
        if not s.idle and self.opts.quality:
            if s.live:
                recording = self._recording(s, target)
                if recording is not None:
                    quality = self._quality(s, [recording], work_dir, distorted="server_delivered")
            else:
                quality = self._quality(s, [Path(p) for p in reps[-1][0].streams[0].outputs], work_dir)
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
        try:
            source_size = self._source_size(s)
        except RunnerError as exc:
            self.rec.error(f"quality pass failed: {exc}", f"{s.name}: quality pass failed, scores unknown: {exc}",
                           scenario=s.name)
            return None
        encode_sizes = [(r.width, r.height) for r in s.outputs] or [(s.width, s.height)]  # live: no ladder
        scores, cpu = [], 0.0
        timeout = 120 + 30 * s.duration
        for i, (path, encode_size) in enumerate(zip(outputs, encode_sizes, strict=True)):
            try:
                r = q.measure(self.info.path, s, path, work_dir / f"{s.slug}-quality-{i}", source_size=source_size,
                              encode_size=encode_size, vmaf=vmaf, psnr=psnr, ssim=ssim, timeout=timeout)
            except EncodeError as exc:
                self.rec.error(f"quality pass failed: {exc}", f"{s.name}: quality pass failed, scores unknown: {exc}",
                               scenario=s.name)
                return None
            scores.append(r)
            cpu += r.cpu_seconds
        return {"vmaf": q.mean_quality([r.vmaf for r in scores]) if vmaf else None,
                "psnr": q.mean_quality([r.psnr for r in scores]) if psnr else None,
                "ssim": q.mean_quality([r.ssim for r in scores]) if ssim else None,
                "cpu_seconds": cpu, "distorted": distorted,
                "comparisons": [r.comparison for r in scores]}

    def _source_size(self, s: Scenario) -> tuple[int, int]:
        """The source's own size: a file's (probed once per file), a lavfi source's generated size."""
        assert s.source is not None and s.width and s.height
        if s.source.kind != "file":
            return s.width, s.height
        path = str(s.source.path)
        if path not in self._source_sizes:
            self._source_sizes[path] = probe_video(self.info.path, Path(path), what=f"{s.name}: source").size
        return self._source_sizes[path]


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


def _entry(s: Scenario, reps: list, quality: dict[str, Any] | None) -> dict[str, Any]:
    """The results-file object of a scenario (a `ScenarioEntry`, as written); with repetitions, the
    measurements are their means."""
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
        repetitions = [RepetitionEntry(energy_joules=rd.joules if consistent else None,
                                       avg_fps=r.avg_fps if r else None, duration=e - b) for r, rd, (b, e) in reps]
    common: dict[str, Any] = dict(
        name=s.name, duration=s.duration, start_time=start, end_time=end, viewers=s.viewers,
        energy_joules=_mean(joules) if consistent else None,
        energy_source=sources[0] if consistent else "none",
        energy_error="; ".join(errors) or None,
        power_watts=list(reading0.power_watts), cpu_usage_cores=list(reading0.cpu_usage_cores),
        step_seconds=reading0.step_seconds, repetitions=repetitions,
    )
    if s.idle:
        return entry_object(ScenarioEntry(encoder="none", **common))
    fields = dict(
        encoder=s.encoder, preset=s.preset, resolution=s.resolution, fps=s.fps, streams=s.streams, mode=s.mode,
        avg_fps=_mean([r.avg_fps for r in results]), total_frames=first.total_frames, dropped_frames=0,
        output_bytes=first.output_bytes, measured_bitrate_bps=first.measured_bitrate_bps(s.fps),
        speed=_mean([r.speed for r in results]), cpu_core_seconds=_mean([r.cpu_seconds for r in results]),
    )
    if isinstance(first, LiveResult):
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
