"""File-mode encodes: N parallel ffmpeg processes, each encoding the scenario's source as fast as it
can to a file in the work dir (one file per rung for a ladder), measured.

The processes, logs, CPU time and progress are ffwatt/runner/measure/processes.py's; the argv is
`commands.encode_command`'s. Frames of a ladder's rungs are counted in their files
(`media_probe.count_frames`), since ffmpeg's progress counts the first output only.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ffwatt.runner.measure.commands import encode_command, output_paths
from ffwatt.runner.measure.encode_results import EncodeResult, StreamResult, measured_fields
from ffwatt.runner.measure.media_probe import MediaError, count_frames
from ffwatt.runner.measure.processes import StreamProcess, run_streams, stream_pids
from ffwatt.runner.measure.progress import ProgressSettings
from ffwatt.runner.plan.scenario import Scenario

log = logging.getLogger("ffwatt.run")

__all__ = ["encode"]


def encode(
    scenario: Scenario,
    *,
    ffmpeg: str,
    work_dir: Path,
    progress: ProgressSettings,
    timeout: float,
) -> EncodeResult:
    """Run the scenario's `streams` encodes in parallel and measure them (see the module docstring)."""
    streams = []
    for i in range(scenario.streams):
        outputs = output_paths(scenario, work_dir, i + 1)
        argv = encode_command(scenario, ffmpeg, outputs)
        streams.append(StreamProcess(i, argv, outputs, work_dir / f"{scenario.slug}-s{i + 1}.log",
                                     f"{scenario.slug}-{i + 1}"))
    start_wall, end_wall = run_streams(scenario, streams, progress=progress, timeout=timeout)
    return EncodeResult(start_time=start_wall, end_time=end_wall, pids=stream_pids(streams), streams=tuple(
        StreamResult(**measured_fields(s), output_bytes=sum(p.stat().st_size for p in s.outputs if p.exists()),
                     outputs=tuple(str(p) for p in s.outputs),
                     output_frames=tuple(_frames(ffmpeg, p) for p in s.outputs) if scenario.outputs else (),
                     output_sizes=tuple(p.stat().st_size if p.exists() else None for p in s.outputs)
                     if scenario.outputs else ())
        for s in streams))


def _frames(ffmpeg: str, path: Path) -> int | None:
    """A rung's frames, counted in its file; None (logged) when they cannot be."""
    try:
        return count_frames(ffmpeg, path)
    except MediaError as exc:
        log.warning("%s", exc)
        return None
