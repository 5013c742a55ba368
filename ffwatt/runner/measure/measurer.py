"""A scenario measured on one host: its repetitions under the energy meter, then, when asked, its
quality pass (`Measurer`), and what it gives (`Rep`). The local executor and a fleet worker's task
both use one, built by ffwatt/runner/execute/host.py.

A repetition (issue 22) is one measurement window: a file encode runs again, back to back,
until `min_window` seconds passed (`Rep.encodes` of them; every figure per single encode),
a live encode or an idle baseline once. The meter's reading is the machine's; the scenario's
own share is `energy.attribution`'s (by CPU time, with the host's idle power,
ffwatt/runner/meter/idle_power.py: an accepted idle baseline, else the host's idle probe, taken
before its first encode, else the model's term; `exclusive` and idle baselines take the machine's
whole).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ffwatt.common.urls import open_url
from ffwatt.contract import formulas
from ffwatt.energy.attribution import Attributed, attribute
from ffwatt.energy.idle import IdleCheck, IdleFigure
from ffwatt.energy.reading import EnergyReading
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure import quality as q
from ffwatt.runner.measure.commands import live_stream_name
from ffwatt.runner.measure.encode_results import EncodeResult, LiveResult
from ffwatt.runner.measure.ffmpeg_probe import FfmpegInfo
from ffwatt.runner.measure.file_encode import encode
from ffwatt.runner.measure.live_encode import encode_live
from ffwatt.runner.measure.media_probe import probe_video
from ffwatt.runner.measure.processes import EncodeError
from ffwatt.runner.measure.progress import ProgressDisplay, ProgressSettings
from ffwatt.runner.meter.energy_meter import EnergyMeter
from ffwatt.runner.meter.idle_power import IdlePower
from ffwatt.runner.plan.scenario import Scenario

__all__ = ["LiveTarget", "Measurer", "QualityPass", "Rep", "ReportError", "encode_timeout"]

log = logging.getLogger("ffwatt.run")


@dataclass(frozen=True)
class QualityPass:
    """A scenario's quality pass: each metric pooled (the mean over a ladder's rungs; None when not
    measured), the pass's CPU seconds, what was scored (`distorted`: "encoder_output", or a live
    stream's "server_delivered" recording) and how each output was compared."""

    vmaf: q.QualityStats | None
    psnr: q.QualityStats | None
    ssim: q.QualityStats | None
    cpu_seconds: float
    distorted: str
    comparisons: tuple[q.Comparison, ...]


class ReportError(Protocol):
    """Where a measurer reports a problem the run goes on without (`record.RunRecorder.error`)."""

    def __call__(self, message: str, line: str | None = None, *, scenario: str | None = None) -> None: ...


@dataclass(frozen=True)
class LiveTarget:
    """Where live streams go: the application URL, its /stat (or None), its recordings (or None)."""

    rtmp_url: str
    stat_url: str | None
    record_dir: Path | None


@dataclass(frozen=True)
class Rep:
    """One measured repetition: its encodes (none for an idle baseline), the machine's reading over
    the window, the window's wall span, how many encodes it held, the scenario's own energy, and
    the CPU seconds of all its encodes."""

    results: list[EncodeResult | LiveResult]
    reading: EnergyReading
    span: tuple[float, float]
    encodes: int
    own: Attributed
    cpu_seconds: float
    # issue 30: the idle power the attribution took out (None: exclusive), and the idle checks made for this
    # repetition (the host's idle probe before it, an idle baseline's own window)
    idle: IdleFigure | None = None
    idle_checks: tuple[IdleCheck, ...] = ()
    model_watts_per_thread: float | None = None  # the host's CPU model figure (its meter's)

    def per_encode(self, value: float | None) -> float | None:
        return formulas.per_encode(value, self.encodes)


class Measurer:
    """Runs a scenario's repetitions and its quality pass on this host (module docstring).

    `idle` is this host's idle power, learnt from the idle baselines it measures; `emit` takes the
    progress events, `report_error` the problems the run goes on without."""

    def __init__(self, info: FfmpegInfo, meter: EnergyMeter, idle: IdlePower, *, emit: Callable[..., None],
                 report_error: ReportError, progress_url: str | None, progress_token: str | None,
                 min_window: float, quality: bool, exclusive: bool, progress_ca_file: str | None = None) -> None:
        self.info, self.meter, self.idle, self.emit, self.report_error = info, meter, idle, emit, report_error
        self.progress_url, self.progress_token = progress_url, progress_token
        self.progress_ca_file = progress_ca_file  # an https progress URL is verified against it
        self.min_window, self.quality, self.exclusive = min_window, quality, exclusive
        self._source_sizes: dict[str, tuple[int, int]] = {}  # a file source's own size, probed once

    def measure(self, s: Scenario, work_dir: Path, target: LiveTarget | None = None, *,
                repetitions: int | None = None, quality: bool | None = None) -> tuple[list[Rep], QualityPass | None]:
        """`repetitions` (default `s.repeat`) repetitions back to back, then the quality pass of the
        last one's outputs when `quality` (default: this measurer's), after the meter stopped, so its
        CPU is never the scenario's."""
        reps = [self.repetition(s, work_dir, target) for _ in range(s.repeat if repetitions is None else repetitions)]
        scores = None
        if reps and (self.quality if quality is None else quality):
            scores = self.quality_pass(s, reps[-1], work_dir, target)
        return reps, scores

    def repetition(self, s: Scenario, work_dir: Path, target: LiveTarget | None = None) -> Rep:
        """One measured repetition: a file encode again and again until `min_window` seconds passed."""
        display = None
        if not s.idle:
            display = ProgressDisplay(s.name, int(round(s.fps * s.duration)) * s.streams, s.streams, self.emit)
        results: list[EncodeResult | LiveResult] = []
        exclusive = self.exclusive or s.idle
        if not exclusive:
            self.idle.probe(self.meter)  # once per host, before its first encode, when no baseline was accepted
        self.meter.start()
        try:
            span = self._window(s, work_dir, target, results, display)
        finally:
            # the scenario's processes, for each GPU's per-process share; an idle baseline has none
            cpu = sum(r.cpu_seconds for r in results) if results else 0.0
            reading = self.meter.stop(pids=[pid for r in results for pid in r.pids], own_cpu_seconds=cpu)
            if display is not None:
                display.close()
        if s.idle:
            self.idle.learn(reading, s.name)  # the idle power of what follows, when it was idle
        idle = None if exclusive else self.idle.for_reading(reading)
        own = attribute(reading, scenario_cpu_seconds=cpu, idle_watts=idle.watts if idle else None,
                        exclusive=exclusive)
        return Rep(results, reading, span, max(1, len(results)), own, cpu, idle, self.idle.take(),
                   self.meter.watts_per_thread)

    def _window(self, s: Scenario, work_dir: Path, target: LiveTarget | None,
                results: list[EncodeResult | LiveResult], display: ProgressDisplay | None) -> tuple[float, float]:
        """What runs while the meter measures (results appended as they come); the window's wall span."""
        if s.idle:
            start = time.time()
            time.sleep(s.duration)
            return start, time.time()
        assert display is not None
        progress = ProgressSettings(self.progress_url, self.progress_token, self.progress_ca_file, display.update)
        if s.live:
            assert target is not None
            results.append(encode_live(s, ffmpeg=self.info.path, rtmp_url=target.rtmp_url, work_dir=work_dir,
                                       progress=progress, timeout=encode_timeout(s)))
            return results[0].start_time, results[0].end_time
        began = time.monotonic()
        while not results or time.monotonic() - began < self.min_window:
            results.append(encode(s, ffmpeg=self.info.path, work_dir=work_dir, progress=progress,
                                  timeout=encode_timeout(s)))
        return results[0].start_time, results[-1].end_time

    def quality_pass(self, s: Scenario, rep: Rep, work_dir: Path, target: LiveTarget | None) -> QualityPass | None:
        """The scores of a repetition's outputs (its last encode's; a live one's server recording)."""
        if s.idle:
            return None
        if s.live:
            recording = self._recording(s, target)
            return self._quality(s, [recording], work_dir, distorted="server_delivered") if recording else None
        return self._quality(s, [Path(p) for p in rep.results[-1].streams[0].outputs], work_dir)

    def _recording(self, s: Scenario, target: LiveTarget | None) -> Path | None:
        """The server's recording of stream 1, once the server closed it; None (logged) when there is none."""
        name = live_stream_name(s, 1)
        if target is None or target.record_dir is None:
            log.warning("%s: the RTMP server's recordings are unknown (pass --rtmp-record-dir with --rtmp-url): "
                        "live quality not measured", s.name)
            return None
        path = target.record_dir / f"{name}.flv"
        _wait_unpublished(target.stat_url, name, path)
        if not path.is_file() or path.stat().st_size == 0:
            message = f"the server's recording {path} is missing or empty: live quality not measured"
            self.report_error(message, f"{s.name}: {message}", scenario=s.name)
            return None
        return path

    def _quality(self, s: Scenario, outputs: list[Path], work_dir: Path,
                 distorted: str = "encoder_output") -> QualityPass | None:
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
            self.report_error(f"quality pass failed: {exc}", f"{s.name}: quality pass failed, scores unknown: {exc}",
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
                self.report_error(f"quality pass failed: {exc}", f"{s.name}: quality pass failed, scores unknown: {exc}",
                                  scenario=s.name)
                return None
            scores.append(r)
            cpu += r.cpu_seconds
        return QualityPass(vmaf=q.mean_quality([r.vmaf for r in scores]) if vmaf else None,
                           psnr=q.mean_quality([r.psnr for r in scores]) if psnr else None,
                           ssim=q.mean_quality([r.ssim for r in scores]) if ssim else None,
                           cpu_seconds=cpu, distorted=distorted, comparisons=tuple(r.comparison for r in scores))

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
            with open_url(stat_url, timeout=2) as r:
                if needle not in r.read(8 << 20):
                    break
        except OSError:  # URLError and HTTPError (a 3xx included) are OSErrors
            break  # no /stat: the file check below still applies
        time.sleep(0.1)
    last = -1
    while time.monotonic() < deadline:
        size = recording.stat().st_size if recording.exists() else -1
        if size == last and size > 0:
            return
        last = size
        time.sleep(0.25)


def encode_timeout(s: Scenario) -> float:
    """A generous bound on one encode: slow presets on a small machine run far below real time."""
    return 120.0 + 60.0 * s.duration * max(1, len(s.outputs))
