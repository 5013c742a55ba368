"""Live mode: N streams published to an RTMP server at real time, measured; the sweep summary.

Each stream is its own ffmpeg process (`runner.ffmpeg.live_command`): it reads the
scenario's source paced at real time (`-re`), encodes with the same settings as file
mode, and publishes FLV to `<rtmp_url>/<scenario-slug>-<n>`. Processes, logs, CPU time
(`wait4`) and the progress forwarding are file mode's (`runner.encode.run_streams`).

Per stream, from ffmpeg's `-progress` blocks: frames, media seconds, dropped and
duplicated frames (`drop_frames`, `dup_frames`), bytes published (`total_size`), and the
`(wall, out_time)` point of every `continue` block, from which the real-time check works:

* `window_speeds(points)`: after a warm-up of `WARMUP_SECONDS` (the start-up and the
  initial read burst), the speed over each sliding window of `WINDOW_SECONDS`:
  `(media_end - media_start) / (wall_end - wall_start)`, from the latest point at least
  a window before each point (so each speed spans >= one window);
* `sustained_speed(points)`: the lowest speed the stream *stayed* at: the minimum over
  every `SUSTAIN_WINDOWS` consecutive windows of the highest speed among them, so one
  late progress block (a scheduling hiccup of the reader) that slows a single window is
  not a stream falling behind, while a stream that is slow for longer always is. With
  fewer windows, the lowest window; a stream too short for a full window after the
  warm-up uses its whole span after the warm-up (at least `MIN_SPAN_SECONDS`), else its
  overall speed;
* a stream *fell behind* real time when its sustained speed is below `REAL_TIME_SPEED`
  (0.99) beyond what the measurement resolves. `out_time` moves in whole frames and a
  block may report a frame more or less than the wall time implies (encoder latency
  jitter), so each window's media advance is known to one frame: 1/(fps x 2 s) = 1.7 % at
  30 fps, more than the 1 % the threshold allows. `fell_behind()` therefore gives every
  window one frame of credit, `(media advance + 1 frame) / wall span`; a stream must
  lose more than that to count. `min_speed` in the results is the raw sustained speed.
  A burst above 1 (the start, the encoder flushing at the end) never counts.

`sweep_summary()` turns the completed steps of a capacity sweep into the results file's
`sweeps[]` object, with the knee and the marginal joules per stream from
`contract.formulas`. Pure functions, so unit tests check them with hand-made points.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ffwatt.contract import formulas
from ffwatt.readers.ffmpeg_progress import Block
from ffwatt.runner.encode import EncodeError, StreamProcess, run_streams, stream_pids
from ffwatt.runner.ffmpeg import live_command, live_stream_name
from ffwatt.runner.scenarios import Scenario
from ffwatt.runner.streams import EncodeMeasure, StreamMeasure, measured_fields, total

log = logging.getLogger("ffwatt.run")

__all__ = ["WARMUP_SECONDS", "WINDOW_SECONDS", "REAL_TIME_SPEED", "MIN_SPAN_SECONDS", "SUSTAIN_WINDOWS",
           "window_speeds", "fell_behind",
           "sustained_speed", "LiveStream", "LiveResult", "encode_live", "publish_url", "sweep_summary",
           "sweep_step"]

WARMUP_SECONDS = 2.0
WINDOW_SECONDS = 2.0
REAL_TIME_SPEED = 0.99
MIN_SPAN_SECONDS = 1.0
SUSTAIN_WINDOWS = 2


# --------------------------------------------------------------------------
# the real-time check (pure)


def window_speeds(points: Sequence[tuple[float, float]], *, warmup: float = WARMUP_SECONDS,
                  window: float = WINDOW_SECONDS, credit: float = 0.0) -> list[float]:
    """Speeds over sliding windows of at least `window` s that start after `warmup` s.

    `points` are `(wall_s, media_s)` pairs, wall seconds since the stream started, in
    time order. For each point i, j is the latest point with wall_j <= wall_i - window
    and wall_j >= warmup; speed_i = (media_i - media_j + credit) / (wall_i - wall_j),
    `credit` in media seconds (0 for the raw speed).
    """
    after = sorted(p for p in points if p[0] >= warmup)
    walls = [w for w, _ in after]
    speeds = []
    for i, (wall, media) in enumerate(after):
        j = bisect.bisect_right(walls, wall - window, 0, i) - 1
        if j < 0:
            continue
        span = wall - after[j][0]
        if span > 0:
            speeds.append((media - after[j][1] + credit) / span)
    return speeds


def sustained_speed(points: Sequence[tuple[float, float]], *, warmup: float = WARMUP_SECONDS,
                    window: float = WINDOW_SECONDS, min_span: float = MIN_SPAN_SECONDS,
                    sustain: int = SUSTAIN_WINDOWS, credit: float = 0.0) -> float | None:
    """The lowest speed held for `sustain` consecutive windows after the warm-up (see `window_speeds`).

    sustained = min over i of max(speed_i, ..., speed_{i+sustain-1}); with fewer than `sustain`
    windows, the lowest window. Without a full window after the warm-up: the speed over the
    whole span after it when that span is at least `min_span` s, else the overall speed of the
    last point (media / wall). `credit` as in `window_speeds`. `None` without points.
    """
    speeds = window_speeds(points, warmup=warmup, window=window, credit=credit)
    if len(speeds) >= sustain:
        return min(max(speeds[i:i + sustain]) for i in range(len(speeds) - sustain + 1))
    if speeds:
        return min(speeds)
    after = sorted(p for p in points if p[0] >= warmup)
    if len(after) >= 2 and after[-1][0] - after[0][0] >= min_span:
        return (after[-1][1] - after[0][1] + credit) / (after[-1][0] - after[0][0])
    if points:
        wall, media = max(points)
        return (media + credit) / wall if wall > 0 else None
    return None


def fell_behind(points: Sequence[tuple[float, float]], fps: float, **kwargs: Any) -> bool | None:
    """True when the stream's sustained speed, with one frame (1/`fps` s) of credit per window,
    is below `REAL_TIME_SPEED`; `None` without points. `kwargs` go to `sustained_speed`."""
    speed = sustained_speed(points, credit=1.0 / fps, **kwargs)
    return None if speed is None else speed < REAL_TIME_SPEED


# --------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class LiveStream(StreamMeasure):
    """One published stream: `output_bytes` are the bytes published (FLV, as ffmpeg's muxer counted them)."""

    name: str
    dropped_frames: int | None
    duplicated_frames: int | None
    sustained_speed: float | None
    fell_behind: bool | None

    def detail(self) -> dict[str, Any]:
        """The stream's object in the results file's `streams_detail`."""
        return {"stream": self.name, "avg_fps": self.fps, "speed": self.speed, "min_speed": self.sustained_speed,
                "dropped_frames": self.dropped_frames, "duplicated_frames": self.duplicated_frames,
                "fell_behind": self.fell_behind}


@dataclass(frozen=True)
class LiveResult(EncodeMeasure):
    """All streams of one live run: file mode's figures, plus drops and the real-time check."""

    streams: tuple[LiveStream, ...]

    @property
    def dropped_frames(self) -> int | None:
        return total([s.dropped_frames for s in self.streams])

    @property
    def duplicated_frames(self) -> int | None:
        return total([s.duplicated_frames for s in self.streams])

    @property
    def fell_behind_streams(self) -> int:
        return sum(1 for s in self.streams if s.fell_behind)

    @property
    def min_speed(self) -> float | None:
        values = [s.sustained_speed for s in self.streams if s.sustained_speed is not None]
        return min(values) if values else None


# --------------------------------------------------------------------------
# the encode


def publish_url(rtmp_url: str, scenario: Scenario, stream: int) -> str:
    """`<rtmp_url>/<scenario-slug>-<n>` (`rtmp_url` is the application: rtmp://host:port/live)."""
    return f"{rtmp_url.rstrip('/')}/{live_stream_name(scenario, stream)}"


def encode_live(
    scenario: Scenario,
    *,
    ffmpeg: str,
    rtmp_url: str,
    work_dir: Path,
    progress_url: str | None = None,
    on_progress: Callable[[int, Block], None] | None = None,
    timeout: float,
    progress_token: str | None = None,
    progress_ca_file: str | None = None,
) -> LiveResult:
    """Publish the scenario's `streams` live streams in parallel and measure them (module docstring).

    `EncodeError` naming every failed stream (publish refused, server gone) with its log tail.
    """
    streams = []
    for i in range(scenario.streams):
        name = live_stream_name(scenario, i + 1)
        argv = live_command(scenario, ffmpeg, publish_url(rtmp_url, scenario, i + 1))
        streams.append(StreamProcess(i, argv, [], work_dir / f"{scenario.slug}-s{i + 1}.log", name))
    try:
        start, end = run_streams(scenario, streams, progress_url=progress_url, on_progress=on_progress,
                                 timeout=timeout, progress_token=progress_token, progress_ca_file=progress_ca_file)
    except EncodeError as exc:
        if "Error opening output" in str(exc):
            raise EncodeError(f"{exc}\nthe RTMP server at {rtmp_url} refused the publish or did not answer as "
                              "RTMP: is an RTMP server listening there, and is the application name right "
                              "(rtmp://host:port/<application>, `live` on the runner's own nginx-rtmp)?") from None
        raise
    results = [LiveStream(**measured_fields(s), output_bytes=s.final.total_size_bytes, name=s.name,
                          dropped_frames=s.final.drop_frames,
                          duplicated_frames=s.final.dup_frames, sustained_speed=sustained_speed(s.points),
                          fell_behind=fell_behind(s.points, scenario.fps or 1.0))
               for s in streams]
    slow = [r.name for r in results if r.fell_behind]
    if slow:
        log.warning("%s: %d of %d stream(s) fell behind real time: %s", scenario.name, len(slow), len(results),
                    ", ".join(slow))
    return LiveResult(start_time=start, end_time=end, streams=tuple(results), pids=stream_pids(streams))


# --------------------------------------------------------------------------
# the capacity sweep (pure)


def sweep_step(entry: Mapping[str, Any], baseline_mean_watts: float | None) -> dict[str, Any]:
    """One step of `sweeps[].steps` from the step's scenario entry in the results file.

    net_power_W = machine_energy_J / (end_time - start_time) - baseline mean power_W (`None` without
    a baseline or without energy): the machine's power against the machine's idle power (the
    baseline is the machine's; a step's own attributed `energy_joules` already leaves others out).
    Files before issue 22 have no `machine_energy_joules`: their `energy_joules` was the machine's.
    """
    start, end = entry.get("start_time"), entry.get("end_time")
    span = end - start if start is not None and end is not None else None
    machine = entry.get("machine_energy_joules")
    mean_watts = formulas.mean_power_over(machine if machine is not None else entry.get("energy_joules"), span)
    fell = entry.get("fell_behind_streams")
    return {
        "streams": entry.get("streams"),
        "scenario": entry.get("name"),
        "held_real_time": fell == 0,
        "energy_joules": entry.get("energy_joules"),
        "net_power_watts": formulas.net_power(mean_watts, baseline_mean_watts),
        "min_speed": entry.get("min_speed"),
        "vmaf": entry.get("vmaf_score"),
    }


def sweep_summary(name: str, steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The results file's `sweeps[]` object for sweep `name` from its steps (`sweep_step`), in order.

    `knee_streams`: `formulas.capacity_knee` (the largest count that held real time before
    the first that did not; `None` when the first fell behind or no step completed);
    `marginal_joules_per_stream`: `formulas.marginal_energy_per_stream` over every step.
    """
    counts = [s["streams"] for s in steps]
    return {
        "name": name,
        "steps": [dict(s) for s in steps],
        "knee_streams": formulas.capacity_knee(counts, [bool(s["held_real_time"]) for s in steps]),
        "marginal_joules_per_stream": formulas.marginal_energy_per_stream(counts,
                                                                          [s["energy_joules"] for s in steps]),
    }
