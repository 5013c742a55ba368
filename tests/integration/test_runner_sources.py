"""Issue 23 (source identity, media truth): `ffwatt run` over clips made here with the real static ffmpeg.

Expected values are computed without the runner: SHA-256 with hashlib, sizes with `stat`,
native size, frame rate and duration with Debian's `ffprobe` (an independent binary from
the static ffmpeg the runner drives), frames per rung with `ffprobe -count_packets`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from ffwatt.cli.main import main
from ffwatt.contract.loading import load_results_file
from tests.integration.test_runner import NO_EXPORTERS, results_files
from tests.servers import integration_required


@pytest.fixture(scope="module")
def ffprobe() -> str:
    path = shutil.which("ffprobe")
    if path is None:
        if integration_required():
            pytest.fail("ffprobe (Debian's ffmpeg package) is required here")
        pytest.skip("no ffprobe on PATH for the independent reads")
    return path


def make_clip(ffmpeg: str, path: Path, source: str, seconds: float) -> Path:
    subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", source,
                    "-t", f"{seconds:g}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-y", str(path)], check=True, timeout=120)
    return path


def probe(ffprobe: str, path: Path, *extra: str) -> dict:
    done = subprocess.run([ffprobe, "-v", "error", "-of", "json", "-show_format", "-show_streams",
                           "-select_streams", "v:0", *extra, str(path)], check=True, capture_output=True, timeout=60)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def clips(ffmpeg, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clips")
    make_clip(ffmpeg, root / "pattern.mkv", "testsrc2=size=320x180:rate=25", 2)
    make_clip(ffmpeg, root / "fractal.mkv", "mandelbrot=size=256x144:rate=30", 2)
    make_clip(ffmpeg, root / "ten.mkv", "testsrc2=size=160x90:rate=25", 10)
    return root


def run(tmp: Path, text: str, ffmpeg: str, *extra: str) -> tuple[int, dict]:
    scenario_file = tmp / "clips.yml"
    scenario_file.write_text(text)
    rc = main(["run", str(scenario_file), "--results-dir", str(tmp / "results"), "--work-dir", str(tmp / "work"),
               "--ffmpeg", ffmpeg, "--no-quality", *NO_EXPORTERS, *extra])
    (path,) = results_files(tmp / "results")
    return rc, json.loads(path.read_text())


CORPUS = """
defaults: {encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 25, duration: 1}
scenarios:
  - name: "{source} @ {bitrate}"
    matrix:
      source: [{file: CLIPS/pattern.mkv}, {file: CLIPS/fractal.mkv, name: mandel}]
      bitrate: [100k, 300k]
"""


@pytest.fixture(scope="module")
def corpus(clips, ffmpeg, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    # the file's order (not shuffled rounds): the claim is the matrix's expansion order
    rc, doc = run(tmp, CORPUS.replace("CLIPS", str(clips)), ffmpeg, "--order", "sequential")
    return {"rc": rc, "doc": doc, "path": results_files(tmp / "results")[0]}


def test_the_source_axis_expands_per_clip_and_names_use_the_clip(corpus):
    assert corpus["rc"] == 0
    names = [s["name"] for s in corpus["doc"]["scenarios"]]
    assert names == ["pattern @ 100k", "pattern @ 300k", "mandel @ 100k", "mandel @ 300k"]


def test_each_clip_records_its_identity_equal_to_hashlib_and_ffprobe(corpus, clips, ffprobe):
    by_clip = {}
    for s in corpus["doc"]["scenarios"]:
        by_clip.setdefault(s["source"]["name"], []).append(s["source"])
    assert sorted(by_clip) == ["mandel", "pattern"]
    for name, file in (("pattern", clips / "pattern.mkv"), ("mandel", clips / "fractal.mkv")):
        first, second = by_clip[name]
        assert first == second  # the same clip, recorded the same in each of its scenarios
        probed = probe(ffprobe, file)
        stream = probed["streams"][0]
        assert first["path"] == str(file)  # as written in the scenario file
        assert first["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
        assert first["size_bytes"] == file.stat().st_size
        assert (first["width"], first["height"]) == (stream["width"], stream["height"])
        assert first["fps"] == float(Fraction(stream["avg_frame_rate"]))
        assert first["duration_seconds"] == float(probed["format"]["duration"])
    assert by_clip["pattern"][0]["sha256"] != by_clip["mandel"][0]["sha256"]
    assert (by_clip["pattern"][0]["fps"], by_clip["mandel"][0]["fps"]) == (25.0, 30.0)


def test_the_loaded_view_keys_scenarios_by_source_name(corpus):
    run_ = load_results_file(corpus["path"])
    assert [s.source_name for s in run_.scenarios] == ["pattern", "pattern", "mandel", "mandel"]
    assert run_.scenarios[0].source.width == 320 and not run_.scenarios[0].incomplete
    assert run_.scenarios[0].expected_frames == 25  # 25 fps x 1 s x 1 stream


def test_a_lavfi_source_records_its_expression(clips, ffmpeg, tmp_path):
    rc, doc = run(tmp_path, "scenarios: [{name: gen, encoder: libx264, preset: ultrafast, resolution: 160x90, "
                            "fps: 30, duration: 1, bitrate: 100k}]", ffmpeg)
    (s,) = doc["scenarios"]
    assert rc == 0 and s["source"] == {"name": "testsrc2", "lavfi": "testsrc2=size=160x90:rate=30", "width": 160,
                                       "height": 90, "fps": 30.0, "duration_seconds": 1.0}
    assert s["expected_frames"] == 30 and s["total_frames"] == 30 and "incomplete" not in s


def test_a_duration_longer_than_the_source_is_refused_before_any_encode(clips, ffmpeg, tmp_path, capsys):
    text = (f"scenarios: [{{name: too long, encoder: libx264, resolution: 160x90, fps: 25, duration: 20, "
            f"bitrate: 100k, source: {{file: {clips / 'ten.mkv'}}}}}]")
    (tmp_path / "clips.yml").write_text(text)
    rc = main(["run", str(tmp_path / "clips.yml"), "--results-dir", str(tmp_path / "results"), "--work-dir",
               str(tmp_path / "work"), "--ffmpeg", ffmpeg, "--no-quality", *NO_EXPORTERS])
    message = capsys.readouterr().err
    assert rc == 2 and "'too long'" in message and "duration 20 s" in message and "(10 s)" in message
    assert not (tmp_path / "work").exists() and not (tmp_path / "results").exists()  # nothing encoded or written


def test_a_truncated_source_is_flagged_incomplete_with_expected_and_got(clips, ffmpeg, ffprobe, tmp_path):
    cut = tmp_path / "cut.mkv"
    data = (clips / "ten.mkv").read_bytes()
    cut.write_bytes(data[: len(data) * 45 // 100])  # the header still says 10 s; the frames stop near 4.5 s
    assert float(probe(ffprobe, cut)["format"]["duration"]) == pytest.approx(10.0)
    events = tmp_path / "events.ndjson"
    rc, doc = run(tmp_path, f"scenarios: [{{name: cut, encoder: libx264, preset: ultrafast, resolution: 160x90, "
                            f"fps: 25, duration: 10, bitrate: 100k, source: {{file: {cut}}}}}]", ffmpeg,
                  "--events", str(events))
    (s,) = doc["scenarios"]
    assert s["incomplete"] is True and s["expected_frames"] == 250  # 25 fps x 10 s
    assert 50 < s["total_frames"] < 200
    assert s["media_seconds"] == pytest.approx(s["total_frames"] / 25)
    warned = [json.loads(line) for line in events.read_text().splitlines()]
    assert any(e["event"] == "error" and f"got {s['total_frames']} of 250" in e["message"] for e in warned)


LADDER = """
scenarios:
  - name: ladder
    encoder: libx264
    preset: ultrafast
    resolution: 320x180
    fps: 30
    duration: 2
    outputs: [{resolution: 160x90, bitrate: 100k, fps: 18}, {resolution: 320x180, bitrate: 400k}]
"""


def test_each_ladder_rung_records_its_own_frames_and_bitrate(ffmpeg, ffprobe, tmp_path):
    rc, doc = run(tmp_path, LADDER, ffmpeg, "--keep-outputs")
    (s,) = doc["scenarios"]
    low_path, high_path = sorted((tmp_path / "work").glob("ladder-s1-r*.mkv"))
    rungs = s["outputs"]
    for rung, path, fps in ((rungs[0], low_path, 18), (rungs[1], high_path, 30)):
        packets = int(probe(ffprobe, path, "-count_packets")["streams"][0]["nb_read_packets"])
        assert rung["frames"] == packets and rung["fps"] == fps and rung["expected_frames"] == 2 * fps
        assert rung["output_bytes"] == path.stat().st_size
        # bits / media seconds, media seconds = frames / the rung's own fps
        assert rung["measured_bitrate_bps"] == pytest.approx(path.stat().st_size * 8 / (packets / fps))
    assert (rungs[0]["frames"], rungs[1]["frames"]) == (36, 60)  # 18 x 2 s and 30 x 2 s
    assert s["total_frames"] == 60  # the rung at the scenario's 30 fps
    assert s["measured_bitrate_bps"] == pytest.approx(rungs[0]["measured_bitrate_bps"]
                                                      + rungs[1]["measured_bitrate_bps"])
    assert rc == 0 and "incomplete" not in s


def test_without_ffprobe_the_ffmpeg_header_gives_the_same_identity_to_0_01(clips, ffmpeg, ffprobe, monkeypatch):
    from ffwatt.runner.measure import media_probe as media

    probed = probe(ffprobe, clips / "fractal.mkv")
    monkeypatch.setattr(media, "find_ffprobe", lambda _ffmpeg: None)  # the runner image has ffmpeg alone
    info = media.probe_media(ffmpeg, clips / "fractal.mkv")
    assert (info.width, info.height) == (256, 144)
    assert info.fps == pytest.approx(float(Fraction(probed["streams"][0]["avg_frame_rate"])), abs=0.01)
    assert info.duration_seconds == pytest.approx(float(probed["format"]["duration"]), abs=0.01)


def test_a_source_without_a_video_stream_is_refused_before_any_encode(ffmpeg, tmp_path, capsys):
    noise = tmp_path / "noise.wav"
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "anoisesrc=d=1", "-y", str(noise)],
                   check=True, timeout=60)
    (tmp_path / "clips.yml").write_text(f"scenarios: [{{name: audio, encoder: libx264, resolution: 160x90, fps: 25, "
                                        f"duration: 1, bitrate: 100k, source: {{file: {noise}}}}}]")
    rc = main(["run", str(tmp_path / "clips.yml"), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
               "--no-quality", *NO_EXPORTERS])
    err = capsys.readouterr().err
    assert rc == 2 and "scenario 'audio'" in err and "no video stream" in err


def test_a_source_without_a_duration_records_the_real_media_time_and_is_flagged(ffmpeg, ffprobe, tmp_path):
    raw = tmp_path / "capture.h264"  # a raw H.264 stream says no duration, like a live capture
    subprocess.run([ffmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25",
                    "-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-f", "h264", "-y", str(raw)],
                   check=True, timeout=60)
    assert "duration" not in probe(ffprobe, raw)["format"]
    rc, doc = run(tmp_path, f"scenarios: [{{name: capture, encoder: libx264, preset: ultrafast, resolution: 160x90, "
                            f"fps: 25, duration: 4, bitrate: 100k, source: {{file: {raw}}}}}]", ffmpeg)
    (s,) = doc["scenarios"]
    assert "duration_seconds" not in s["source"] and s["source_duration_unknown"] is True  # not refused: flagged
    assert s["media_seconds"] == pytest.approx(2.0, abs=0.05)  # 2 s of media, not the 4 asked
    assert s["incomplete"] is True and s["expected_frames"] == 100 and abs(s["total_frames"] - 50) <= 1


def test_a_ladder_s_encoding_rate_counts_the_rung_at_the_scenario_fps(ffmpeg, tmp_path):
    rc, doc = run(tmp_path, LADDER, ffmpeg)
    (s,) = doc["scenarios"]
    wall = s["end_time"] - s["start_time"]
    # 60 frames at 30 fps over the encode's wall time (the 18 fps first rung would give 36 / wall)
    assert s["avg_fps"] >= 0.9 * 60 / wall
