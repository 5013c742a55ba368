"""The media half of a results entry (issue 23): a ladder's rungs with their own frames, bytes and
bitrate, the frames expected, the media time encoded, and whether the media was all there.
Unknown is `None`, never 0; a live stream's frames are judged by its drops, not here.
"""

from __future__ import annotations

from typing import Any

from ffwatt.contract.schema import OutputEntry, SourceEntry
from ffwatt.runner.measure.encode_results import EncodeResult, LiveResult, StreamResult, bitrate_bps, mean
from ffwatt.runner.plan.scenario import Scenario

__all__ = ["expected_frames", "ladder_avg_fps", "ladder_totals", "media_truth", "rungs"]


def expected_frames(fps: float, s: Scenario) -> int:
    """Frames `duration` s at `fps` give, over all streams (lavfi `-t` and the fps filter round to the nearest)."""
    return int(round(fps * s.duration)) * s.streams


def _short(got: int | None, expected: int, streams: int) -> bool:
    """Fewer frames than expected, beyond one frame per stream of rounding; unknown is not short."""
    return got is not None and got < expected - streams


def rungs(s: Scenario, first: EncodeResult | LiveResult) -> list[OutputEntry]:
    """Each rung with its own frames, bytes and bitrate, summed over streams (file_encode counted them)."""
    out = []
    for i, rung in enumerate(s.outputs):
        fps = rung.fps or s.fps
        per_stream = [(st.output_frames[i] if i < len(st.output_frames) else None,
                       st.output_sizes[i] if i < len(st.output_sizes) else None) for st in first.streams] \
            if isinstance(first, EncodeResult) else [(None, None)]
        frames = None if any(f is None for f, _ in per_stream) else sum(f for f, _ in per_stream)
        size = None if any(b is None for _, b in per_stream) else sum(b for _, b in per_stream)
        bitrate = bitrate_bps(size, frames, fps)  # per stream, as the scenario's measured_bitrate_bps
        out.append(OutputEntry(resolution=rung.resolution, fps=fps, bitrate=rung.bitrate, frames=frames,
                               expected_frames=expected_frames(fps, s), output_bytes=size,
                               measured_bitrate_bps=bitrate))
    return out


def ladder_totals(s: Scenario, outputs: list[OutputEntry]) -> dict[str, Any]:
    """A ladder's scenario-level frames and bitrate from its rungs: `total_frames` is the frames of the first
    rung at the scenario's frame rate (the source frames every rung was made from; None when every rung
    sets its own), `measured_bitrate_bps` the rungs' bitrates together (one stream's ladder)."""
    at_scenario_fps = [r.frames for r in outputs if r.fps == s.fps]
    rates = [r.measured_bitrate_bps for r in outputs]
    return {"total_frames": at_scenario_fps[0] if at_scenario_fps else None,
            "measured_bitrate_bps": None if any(b is None for b in rates) else sum(rates)}


def ladder_avg_fps(s: Scenario, results: list[EncodeResult | LiveResult]) -> float | None:
    """A ladder's encoding frame rate per stream: the frames of its first rung at the scenario's fps over
    wall seconds (ffmpeg's progress counts the first rung, whatever its fps); None when no rung is at it."""
    index = next((i for i, r in enumerate(s.outputs) if (r.fps or s.fps) == s.fps), None)
    if index is None:
        return None

    def rate(st: StreamResult) -> float | None:
        frames = st.output_frames[index] if index < len(st.output_frames) else None
        return frames / st.wall_seconds if frames is not None and st.wall_seconds > 0 else None

    return mean([mean([rate(st) for st in r.streams]) for r in results])


def media_truth(s: Scenario, fields: dict[str, Any], source: SourceEntry | None) -> dict[str, Any]:
    """The source, the frames expected, the media time encoded, and whether the media was all there
    (file mode: a live stream's frames are judged by its drops)."""
    out: dict[str, Any] = {"source": source}
    if s.live:
        return out
    frames, expected = fields.get("total_frames"), expected_frames(s.fps, s)
    out["expected_frames"] = expected
    outputs = fields.get("outputs") or ()
    if frames is not None:
        out["media_seconds"] = frames / s.streams / s.fps
    elif outputs and outputs[0].frames is not None:
        out["media_seconds"] = outputs[0].frames / s.streams / outputs[0].fps
    if _short(frames, expected, s.streams) or any(_short(r.frames, r.expected_frames, s.streams) for r in outputs):
        out["incomplete"] = True
    if source is not None and source.lavfi is None and source.duration_seconds is None:
        out["source_duration_unknown"] = True
    return out
