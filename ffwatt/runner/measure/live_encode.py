"""Live mode: N streams published to an RTMP server at real time, measured.

Each stream is its own ffmpeg process (`commands.live_command`): it reads the
scenario's source paced at real time (`-re`), encodes with the same settings as file
mode, and publishes FLV to `<rtmp_url>/<scenario-slug>-<n>`. Processes, logs, CPU time
(`wait4`) and the progress forwarding are file mode's (ffwatt/runner/measure/processes.py).

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

The real-time check is pure functions, so unit tests check them with hand-made points.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ffwatt.contract import formulas
from ffwatt.runner.measure.commands import live_command, live_stream_name, publish_url
from ffwatt.runner.measure.encode_results import LiveResult, LiveStream, measured_fields
from ffwatt.runner.measure.processes import EncodeError, StreamProcess, run_streams, stream_pids
from ffwatt.runner.measure.progress import ProgressSettings
from ffwatt.runner.plan.scenario import Scenario

log = logging.getLogger("ffwatt.run")

__all__ = ["WARMUP_SECONDS", "WINDOW_SECONDS", "REAL_TIME_SPEED", "MIN_SPAN_SECONDS", "SUSTAIN_WINDOWS",
           "window_speeds", "fell_behind", "sustained_speed", "encode_live"]

WARMUP_SECONDS = 2.0
WINDOW_SECONDS = 2.0
REAL_TIME_SPEED = formulas.REAL_TIME_SPEED
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
# the encode


def encode_live(
    scenario: Scenario,
    *,
    ffmpeg: str,
    rtmp_url: str,
    work_dir: Path,
    progress: ProgressSettings,
    timeout: float,
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
        start, end = run_streams(scenario, streams, progress=progress, timeout=timeout)
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
