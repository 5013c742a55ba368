"""What an encode measured, per stream and in all: the base of file (`runner.encode`) and live
(`runner.live`) results.

Both modes run one ffmpeg process per stream (`runner.encode.run_streams`) and read the same
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

__all__ = ["StreamMeasure", "EncodeMeasure", "measured_fields", "total", "mean"]


class _Finished(Protocol):
    """The parts of a finished `runner.encode.StreamProcess` that `measured_fields` reads."""

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
        frames, size = self.total_frames, self.output_bytes
        if not frames or size is None or fps <= 0:
            return None
        return size * 8 / (frames / fps)
