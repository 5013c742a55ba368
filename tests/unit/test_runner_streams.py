"""File and live results share one base (runner/measure/encode_results.py): totals, means and the measured bitrate."""

from __future__ import annotations

import pytest

from ffwatt.runner.measure.encode_results import EncodeResult, LiveResult, LiveStream, StreamResult


def _file(frames, size):
    return StreamResult(wall_seconds=2.0, cpu_seconds=1.5, frames=frames, media_seconds=4.0, output_bytes=size,
                        outputs=("x.mkv",))


def _live(frames, size, fell_behind=False):
    return LiveStream(wall_seconds=4.0, cpu_seconds=1.0, frames=frames, media_seconds=4.0, output_bytes=size,
                      name="s", dropped_frames=1, duplicated_frames=0, sustained_speed=0.98, fell_behind=fell_behind)


def test_file_and_live_totals_are_the_same_arithmetic():
    file = EncodeResult(0.0, 2.0, (_file(120, 100_000), _file(120, 50_000)))
    live = LiveResult(0.0, 4.0, (_live(120, 100_000), _live(120, 50_000, fell_behind=True)))
    # 150,000 bytes x 8 / (240 frames / 30 fps) = 150,000 bits/s
    for result in (file, live):
        assert result.total_frames == 240 and result.output_bytes == 150_000
        assert result.measured_bitrate_bps(30) == pytest.approx(150_000)
    assert (file.avg_fps, file.speed, file.cpu_seconds) == (60.0, 2.0, 3.0)
    assert (live.avg_fps, live.speed, live.dropped_frames, live.fell_behind_streams) == (30.0, 1.0, 2, 1)


def test_one_unknown_stream_makes_the_total_unknown_not_smaller():
    live = LiveResult(0.0, 4.0, (_live(120, 100_000), _live(None, None)))
    assert live.total_frames is None and live.output_bytes is None and live.avg_fps is None
    assert live.measured_bitrate_bps(30) is None
