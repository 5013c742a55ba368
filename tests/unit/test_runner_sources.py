"""Issue 23 in the scenario loader and the results contract: the `source` axis, clip names, old files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ffwatt.contract.loading import ResultsError, load_results_file
from ffwatt.contract.schema import SourceEntry
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure.media_probe import parse_ffmpeg_header, parse_ffprobe
from ffwatt.runner.plan.scenario_file import parse_scenarios


@pytest.fixture()
def clip_dir(tmp_path: Path) -> Path:
    for name in ("bbb.mkv", "bikes.mp4"):
        (tmp_path / name).write_bytes(b"not probed by the loader")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "bbb.mkv").write_bytes(b"another file, same stem")
    return tmp_path


BASE = "defaults: {encoder: libx264, resolution: 320x180, fps: 30, duration: 2}\nscenarios:\n"


def test_source_is_a_matrix_axis_and_source_in_a_name_is_the_clip_name(clip_dir):
    text = BASE + ('  - name: "{source} @ {bitrate}"\n'
                   "    matrix: {source: [{file: bbb.mkv}, {file: bikes.mp4, name: city}, testsrc2], "
                   "bitrate: [100k, 200k]}\n")
    scenarios = parse_scenarios(text, base_dir=clip_dir)
    assert [s.name for s in scenarios] == ["bbb @ 100k", "bbb @ 200k", "city @ 100k", "city @ 200k",
                                           "testsrc2 @ 100k", "testsrc2 @ 200k"]
    assert [s.source.clip for s in scenarios[::2]] == ["bbb", "city", "testsrc2"]
    assert scenarios[0].source.written == "bbb.mkv" and scenarios[0].source.path == str(clip_dir / "bbb.mkv")


def test_two_files_under_one_clip_name_are_refused(clip_dir):
    text = BASE + ("  - {name: a, bitrate: 1M, source: {file: bbb.mkv}}\n"
                   "  - {name: b, bitrate: 1M, source: {file: other/bbb.mkv}}\n")
    with pytest.raises(RunnerError, match=r"scenarios\[1\]\.source: clip name \"bbb\" is also file .*name: clip"):
        parse_scenarios(text, base_dir=clip_dir)


def test_a_bad_clip_name_is_refused(clip_dir):
    with pytest.raises(RunnerError, match=r"scenarios\[0\]\.source\.name: expected a clip name"):
        parse_scenarios(BASE + "  - {name: a, bitrate: 1M, source: {file: bbb.mkv, name: 'a b'}}\n", base_dir=clip_dir)


def test_the_fingerprint_of_a_file_source_without_a_name_is_unchanged(clip_dir):
    (s,) = parse_scenarios(BASE + "  - {name: a, bitrate: 1M, source: {file: bbb.mkv}}\n", base_dir=clip_dir)
    assert s.as_dict()["source"] == {"kind": "file", "name": None, "path": str(clip_dir / "bbb.mkv")}  # as before


def test_parse_ffprobe_prefers_the_average_rate_and_the_container_duration():
    text = json.dumps({"streams": [{"width": 1920, "height": 1080, "avg_frame_rate": "30000/1001",
                                    "r_frame_rate": "60/1", "duration": "9.9"}], "format": {"duration": "10.010000"}})
    info = parse_ffprobe(text)
    assert (info.width, info.height, info.duration_seconds) == (1920, 1080, 10.01)
    assert info.fps == pytest.approx(29.97002997)  # 30000 / 1001


def test_parse_ffprobe_unknown_duration_and_rate_are_none_not_zero():
    info = parse_ffprobe(json.dumps({"streams": [{"width": 64, "height": 64, "avg_frame_rate": "0/0",
                                                  "r_frame_rate": "0/0"}], "format": {"duration": "N/A"}}))
    assert (info.fps, info.duration_seconds) == (None, None)


def test_parse_ffmpeg_header():
    text = ("Input #0, matroska,webm, from 'a.mkv':\n  Duration: 00:01:02.50, start: 0.000000, bitrate: 88 kb/s\n"
            "  Stream #0:0: Video: h264 (High), yuv420p(tv, progressive), 1280x720 [SAR 1:1 DAR 16:9], "
            "29.97 fps, 29.97 tbr, 1k tbn\n")
    info = parse_ffmpeg_header(text)
    assert (info.width, info.height, info.fps, info.duration_seconds) == (1280, 720, 29.97, 62.5)  # 60 + 2.5 s


def _write(tmp_path: Path, scenario: dict) -> Path:
    path = tmp_path / "test_results_20260101_000000.json"
    path.write_text(json.dumps({"format_version": 2, "scenarios": [scenario]}))
    return path


SCENARIO = {"name": "x264 @ 1M", "encoder": "libx264", "bitrate": "1M", "resolution": "320x180", "fps": 30,
            "duration": 2}


def test_an_old_file_without_a_source_loads_as_one_unnamed_source(tmp_path):
    (s,) = load_results_file(_write(tmp_path, SCENARIO)).scenarios
    assert s.source_name is None and s.source is None and not s.incomplete and s.expected_frames is None


def test_source_and_media_truth_load_into_the_view(tmp_path):
    sha = "ab" * 32
    entry = {**SCENARIO, "source": {"name": "bbb", "path": "clips/bbb.mkv", "size_bytes": 1000, "sha256": sha,
                                    "width": 1280, "height": 720, "fps": 25, "duration_seconds": 10.0},
             "incomplete": True, "expected_frames": 60, "total_frames": 29,
             "outputs": [{"resolution": "320x180", "fps": 30, "frames": 29, "measured_bitrate_bps": 1e6}]}
    (s,) = load_results_file(_write(tmp_path, entry)).scenarios
    assert s.source_name == "bbb" and s.source == SourceEntry(name="bbb", path="clips/bbb.mkv", size_bytes=1000,
                                                                sha256=sha, width=1280, height=720, fps=25.0,
                                                                duration_seconds=10.0)
    assert s.incomplete and (s.expected_frames, s.total_frames) == (60, 29)
    assert s.output_details[0].frames == 29


def test_a_bad_sha256_is_refused_with_its_path(tmp_path):
    with pytest.raises(ResultsError, match=r"\$\.scenarios\[0\]\.source\.sha256: must be 64 lowercase hex digits"):
        load_results_file(_write(tmp_path, {**SCENARIO, "source": {"name": "bbb", "sha256": "xyz"}}))
