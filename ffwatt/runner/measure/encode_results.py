"""What an encode measured, per stream and in all: file mode's (`EncodeResult`, written by
ffwatt/runner/measure/file_encode.py) and live mode's (`LiveResult`, ffwatt/runner/measure/live_encode.py).

Both modes run one ffmpeg process per stream (ffwatt/runner/measure/processes.py) and read the same
things from it: wall seconds from the launch to the end of its stdout, CPU seconds from
`wait4`, frames and media seconds from its last `-progress` block, and bytes out (written to
files, or published as FLV). Totals over streams are unknown (`None`) when any stream's value is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ffwatt.readers.ffmpeg_progress import Block

__all__ = ["StreamMeasure", "EncodeMeasure", "measured_fields", "total", "mean", "bitrate_bps", "StreamResult",
           "EncodeResult", "LiveStream", "LiveResult"]


class _Finished(Protocol):
    """The parts of a finished `processes.StreamProcess` that `measured_fields` reads."""

    started: float
    ended: float | None
    cpu_seconds: float
    final: Block


@dataclass(frozen=True)
class StreamMeasure:
    """One stream. Units: seconds, frames, bytes; speed is media s per wall s."""

    wall_seconds: float
    cpu_seconds: float
    frames: int | None
    media_seconds: float | None
    output_bytes: int | None

    @property
    def fps(self) -> float | None:
        return self.frames / self.wall_seconds if self.frames is not None and self.wall_seconds > 0 else None

    @property
    def speed(self) -> float | None:
        if self.media_seconds is None or self.wall_seconds <= 0:
            return None
        return self.media_seconds / self.wall_seconds


def measured_fields(s: _Finished) -> dict[str, Any]:
    """`StreamMeasure`'s fields but `output_bytes`, from a stream's process once it ended."""
    ended = s.ended if s.ended is not None else time.monotonic()
    media = s.final.out_time_seconds
    return {"wall_seconds": ended - s.started, "cpu_seconds": s.cpu_seconds, "frames": s.final.frame,
            "media_seconds": media if media is not None and media >= 0 else None}


def total(values: Sequence[int | float | None]) -> Any:
    """The sum; `None` without values or when one is unknown."""
    return None if not values or any(v is None for v in values) else sum(values)  # type: ignore[arg-type]


def mean(values: Sequence[float | None]) -> float | None:
    """The mean; `None` without values or when one is unknown."""
    whole = total(values)
    return None if whole is None else whole / len(values)


def bitrate_bps(output_bytes: int | None, frames: int | None, fps: float) -> float | None:
    """bits out / encoded media seconds, i.e. bits / (frames / fps); None when a figure is unknown or 0."""
    if not frames or output_bytes is None or fps <= 0:
        return None
    return output_bytes * 8 / (frames / fps)


@dataclass(frozen=True)
class EncodeMeasure:
    """All streams of one encode; `start_time`/`end_time` in unix seconds."""

    start_time: float
    end_time: float
    streams: tuple[StreamMeasure, ...]
    # issue 22: the pids of its ffmpeg processes and their children, for the GPU's per-process share
    pids: tuple[int, ...] = ()

    @property
    def cpu_seconds(self) -> float:
        return sum(s.cpu_seconds for s in self.streams)

    @property
    def total_frames(self) -> int | None:
        return total([s.frames for s in self.streams])

    @property
    def output_bytes(self) -> int | None:
        return total([s.output_bytes for s in self.streams])

    @property
    def avg_fps(self) -> float | None:
        """Mean over streams of each stream's frames / wall seconds."""
        return mean([s.fps for s in self.streams])

    @property
    def speed(self) -> float | None:
        return mean([s.speed for s in self.streams])

    def measured_bitrate_bps(self, fps: float) -> float | None:
        """bits out / encoded media seconds / streams, i.e. bits / (total_frames / fps)."""
        return bitrate_bps(self.output_bytes, self.total_frames, fps)


# --------------------------------------------------------------------------
# file mode


@dataclass(frozen=True)
class StreamResult(StreamMeasure):
    """One stream's encode: `output_bytes` written to `outputs` (one file, or one per rung of a ladder).

    A ladder's rungs are counted one by one (`output_frames`, `output_sizes`, in rung order): ffmpeg's
    progress counts the first output only, and a rung with its own fps has its own frame count."""

    outputs: tuple[str, ...]
    output_frames: tuple[int | None, ...] = ()
    output_sizes: tuple[int | None, ...] = ()


@dataclass(frozen=True)
class EncodeResult(EncodeMeasure):
    """All streams of one file encode."""

    streams: tuple[StreamResult, ...]


# --------------------------------------------------------------------------
# live mode


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
