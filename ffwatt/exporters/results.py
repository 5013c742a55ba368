"""results exporter (9502): scenario metadata, duration, fps, frames, pixels."""

from __future__ import annotations

import math

from ffwatt.catalog import metrics as m
from ffwatt.contract.model import ResultsRun
from ffwatt.exporters.results_source import ResultsFileExporter, add_sweeps, scenario_labels
from ffwatt.exporters.samples import Samples


class ResultsExporter(ResultsFileExporter):
    name = "results"

    def publish(self, run: ResultsRun, out: Samples) -> None:
        out.add(m.RESULTS_SCENARIOS, len(run.scenarios))
        out.add(m.RESULTS_SKIPPED, len(run.skipped))
        out.add(m.RESULTS_PLANNED, run.planned_scenarios)
        add_sweeps(out, run, m.RESULTS_SWEEP_KNEE, lambda sweep: sweep.knee_streams,
                   m.RESULTS_SWEEP_STEP_SPEED, lambda step: step.min_speed)
        out.add(m.RESULTS_FILE_TIMESTAMP, run.mtime)
        for s in run.scenarios:
            labels = scenario_labels(s)
            out.add(m.RESULTS_SCENARIO_INFO, 1, **labels)
            out.add(m.RESULTS_DURATION, s.duration_seconds, **labels)
            out.add(m.RESULTS_START, s.start_time, **labels)
            out.add(m.RESULTS_END, s.end_time, **labels)
            if not s.is_baseline:  # an idle baseline encodes nothing: no fps at all
                out.add(m.RESULTS_AVERAGE_FPS, s.avg_fps if s.avg_fps is not None else s.fps, **labels)
            if s.repetitions:
                out.add(m.RESULTS_REPETITIONS, len(s.repetitions), **labels)
                out.add(m.RESULTS_FPS_CI95, s.fps_ci95, **labels)
            bitrate = s.measured_bitrate_bps
            out.add(m.RESULTS_MEASURED_BITRATE, bitrate / 8 if bitrate is not None else None, **labels)
            out.add(m.RESULTS_SPEED, s.speed, **labels)
            out.add(m.RESULTS_OUTPUT_BYTES, s.output_bytes, **labels)
            out.add(m.RESULTS_DUPLICATED_FRAMES, s.duplicated_frames, **labels)
            out.add(m.RESULTS_STREAMS_BEHIND, s.fell_behind_streams, **labels)
            out.add(m.RESULTS_MIN_SPEED, s.min_speed, **labels)
            out.add(m.RESULTS_FRAMES, _frames(s), **labels)
            out.add(m.RESULTS_DROPPED_FRAMES, s.dropped_frames, **labels)
            out.add(m.RESULTS_STREAMS, s.streams, **labels)
            out.add(m.RESULTS_PIXELS, s.pixels_processed, **labels)


def _frames(s) -> float | None:
    """Measured frames, else fps x duration x streams (None when fps is unknown)."""
    if s.total_frames is not None:
        return s.total_frames
    if s.fps is None:
        return None
    frames = s.fps * s.duration_seconds * s.streams
    return round(frames) if math.isfinite(frames) else None
