"""A scenario measured on this host (`Measurer`: one or more repetitions under the energy meter,
then, when asked, its quality pass) and what a run's executors pass around (`Job`, `Outcome`,
`Rep`). `runner.run` uses it for a local run; a fleet worker for each task it is given
(ffwatt/runner/fleet/task.py).

A repetition (issue 22) is one measurement window: a file encode runs again, back to back,
until `opts.min_window` seconds passed (`Rep.encodes` of them; every figure per single encode),
a live encode or an idle baseline once. The meter's reading is the machine's; the scenario's
own share is `runner.attribution`'s (by CPU time, with the idle power of the idle baseline this
Measurer measured last with counters, else the model's idle term; `opts.exclusive` and idle
baselines take the machine's whole).
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffwatt.contract import formulas
from ffwatt.runner import ffmpeg as ff
from ffwatt.runner import quality as q
from ffwatt.runner.attribution import Attributed, attribute, model_idle_watts
from ffwatt.runner.encode import EncodeError, EncodeResult, encode
from ffwatt.runner.energy import EnergyReading
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.live import LiveResult, encode_live
from ffwatt.runner.media import probe_video
from ffwatt.runner.progress import ProgressDisplay
from ffwatt.runner.scenarios import Scenario

__all__ = ["Job", "LiveTarget", "Measurer", "Outcome", "Rep", "encode_timeout"]

log = logging.getLogger("ffwatt.run")


@dataclass(frozen=True)
class LiveTarget:
    """Where live streams go: the application URL, its /stat (or None), its recordings (or None)."""

    rtmp_url: str
    stat_url: str | None
    record_dir: Path | None


@dataclass
class Job:
    """One dispatch: `repetitions` repetitions of a scenario from its `repetition`-th (0-based; one
    repetition, except a fleet's `--pin-host` job, which runs them all), then its quality pass when
    `quality`. `handle` is the executor's own (the fleet's future)."""

    scenario: Scenario
    target: LiveTarget | None
    sweep: str | None
    handle: Any = None
    repetition: int = 0
    repetitions: int = 1
    quality: bool = False


@dataclass(frozen=True)
class Rep:
    """One measured repetition: its encodes (none for an idle baseline), the machine's reading over
    the window, the window's wall span, how many encodes it held, the scenario's own energy, and
    the CPU seconds of all its encodes."""

    results: list
    reading: EnergyReading
    span: tuple[float, float]
    encodes: int
    own: Attributed
    cpu_seconds: float

    def per_encode(self, value: float | None) -> float | None:
        return formulas.per_encode(value, self.encodes)


@dataclass(frozen=True)
class Outcome:
    """What running a job gave: its `Rep`s, the quality pass (or None) and, on a fleet, where:
    `hosts[i]` ran repetition i, `lost_hosts` were lost while running it (the attempt then ran
    again elsewhere), `host_environments` {host: environment}."""

    reps: list[Rep]
    quality: dict[str, Any] | None
    hosts: tuple[str, ...] = ()
    lost_hosts: tuple[str, ...] = ()
    host_environments: dict[str, dict[str, Any]] | None = None


class Measurer:
    """Runs a scenario's repetitions and its quality pass on this host: the local run's
    executor, and a fleet worker's for each task it is given (ffwatt/runner/fleet/task.py).

    `watts_per_thread` is the CPU model's figure here (runner.cpu_model), for the model's idle
    term; `idle_watts` the idle power an idle baseline measured here with counters (None until
    one did), kept for the repetitions that follow it."""

    def __init__(self, opts: Any, info: ff.FfmpegInfo, meter: Any, emit: Any, report_error: Any,
                 progress_url: str | None, progress_token: str | None, *, watts_per_thread: float,
                 idle_watts: float | None = None) -> None:
        self.opts, self.info, self.meter, self.emit, self.report_error = opts, info, meter, emit, report_error
        self.progress_url, self.progress_token = progress_url, progress_token
        ca_file = getattr(opts, "exporter_ca_file", None)  # an https progress URL is verified against it
        self._progress_ca_file = str(ca_file) if ca_file else None
        self.watts_per_thread, self.idle_watts = watts_per_thread, idle_watts
        self._source_sizes: dict[str, tuple[int, int]] = {}  # a file source's own size, probed once

    def measure(self, s: Scenario, work_dir: Path, target: LiveTarget | None = None, *,
                repetitions: int | None = None, quality: bool | None = None) -> tuple[list[Rep], dict[str, Any] | None]:
        """`repetitions` (default `s.repeat`) repetitions back to back, then the quality pass of the
        last one's outputs when `quality` (default `opts.quality`), after the meter stopped, so its
        CPU is never the scenario's."""
        reps = [self.repetition(s, work_dir, target) for _ in range(s.repeat if repetitions is None else repetitions)]
        scores = None
        if reps and (self.opts.quality if quality is None else quality):
            scores = self.quality_pass(s, reps[-1], work_dir, target)
        return reps, scores

    def repetition(self, s: Scenario, work_dir: Path, target: LiveTarget | None = None) -> Rep:
        """One measured repetition: a file encode again and again until `opts.min_window` seconds passed."""
        display = None
        if not s.idle:
            display = ProgressDisplay(s.name, int(round(s.fps * s.duration)) * s.streams, s.streams, self.emit)
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
                                           timeout=encode_timeout(s), progress_token=self.progress_token,
                                           progress_ca_file=self._progress_ca_file))
                span = (results[0].start_time, results[0].end_time)
            else:
                began = time.monotonic()
                while not results or time.monotonic() - began < self.opts.min_window:
                    results.append(encode(s, ffmpeg=self.info.path, work_dir=work_dir,
                                          progress_url=self.progress_url, on_progress=display.update,
                                          timeout=encode_timeout(s), progress_token=self.progress_token,
                                          progress_ca_file=self._progress_ca_file))
                span = (results[0].start_time, results[-1].end_time)
        finally:
            # the scenario's processes, for each GPU's per-process share; an idle baseline has none
            reading = self.meter.stop(pids=[pid for r in results for pid in r.pids])
            if display is not None:
                display.close()
        cpu = sum(r.cpu_seconds for r in results) if results else 0.0
        if s.idle and reading.cpu_joules is not None and reading.source != "model" and reading.window_seconds:
            self.idle_watts = reading.cpu_joules / reading.window_seconds  # the idle power of what follows
        own = attribute(reading, scenario_cpu_seconds=cpu, idle_watts=self._idle_watts(reading),
                        exclusive=self.opts.exclusive or s.idle)
        return Rep(results, reading, span, max(1, len(results)), own, cpu)

    def _idle_watts(self, reading: EnergyReading) -> float | None:
        """The idle power the attribution takes out first (runner.attribution's docstring)."""
        if reading.source != "model" and self.idle_watts is not None:
            return self.idle_watts
        return model_idle_watts(self.watts_per_thread, reading.cpus) if reading.cpus else None

    def quality_pass(self, s: Scenario, rep: Rep, work_dir: Path, target: LiveTarget | None) -> dict[str, Any] | None:
        """The scores of a repetition's outputs (its last encode's; a live one's server recording)."""
        if s.idle:
            return None
        if s.live:
            recording = self._recording(s, target)
            return self._quality(s, [recording], work_dir, distorted="server_delivered") if recording else None
        return self._quality(s, [Path(p) for p in rep.results[-1].streams[0].outputs], work_dir)

    def _recording(self, s: Scenario, target: LiveTarget | None) -> Path | None:
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
            self.report_error(message, f"{s.name}: {message}", scenario=s.name)
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


def encode_timeout(s: Scenario) -> float:
    """A generous bound on one encode: slow presets on a small machine run far below real time."""
    return 120.0 + 60.0 * s.duration * max(1, len(s.outputs))
