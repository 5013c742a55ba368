"""Where the quality pass scores (issue 23): the size, the VMAF model, per-plane PSNR and how each
figure pools, the `quality:` key of a scenario, and the video probe's parsing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure import commands as cmd
from ffwatt.runner.measure import quality as q
from ffwatt.runner.measure.media_probe import parse_stream_copy
from ffwatt.runner.measure.score import frames_csv, parse_resolution_choice
from ffwatt.runner.plan.scenario import QualitySpec, matrix_sha256
from ffwatt.runner.plan.scenario_file import parse_scenarios

BASE = """
defaults: {encoder: libx264, preset: veryfast, resolution: 320x180, fps: 30, duration: 2}
scenarios:
"""


def one(text: str, base_dir: Path | None = None):
    (s,) = parse_scenarios(BASE + text, file_name="t.yml", base_dir=base_dir)
    return s


def graph_of(argv: list[str]) -> list[str]:
    return argv[argv.index("-filter_complex") + 1].split(";")


# --------------------------------------------------------------------------
# the scored size and the model


def test_a_smaller_encode_is_scored_at_the_source_size_by_default():
    s = one("  - {name: a, bitrate: 1M}\n")
    c = q.scenario_comparison(s, source_size=(1280, 720), encode_size=(320, 180))
    assert (c.size, c.scaler, c.model, c.fps) == ("1280x720", "bicubic", "vmaf_v0.6.1", 30)


def test_encode_and_fixed_sizes():
    enc = one("  - {name: a, bitrate: 1M, quality: {resolution: encode}}\n")
    fixed = one("  - {name: a, bitrate: 1M, quality: {resolution: 1920x1080}}\n")
    assert q.scenario_comparison(enc, source_size=(1280, 720), encode_size=(320, 180)).size == "320x180"
    assert q.scenario_comparison(fixed, source_size=(1280, 720), encode_size=(320, 180)).size == "1920x1080"


@pytest.mark.parametrize(("size", "model"), [
    ((3840, 2160), "vmaf_4k_v0.6.1"), ((4096, 2160), "vmaf_4k_v0.6.1"), ((7680, 4320), "vmaf_4k_v0.6.1"),
    ((3840, 1600), "vmaf_4k_v0.6.1"),  # a scope 4k frame: 3840 wide
    ((2560, 1440), "vmaf_v0.6.1"), ((1920, 1080), "vmaf_v0.6.1"), ((320, 180), "vmaf_v0.6.1"),
])
def test_the_vmaf_model_follows_the_scored_size(size, model):
    assert q.vmaf_model_for(*size) == model


def test_the_argv_switches_to_the_4k_model_at_2160p(tmp_path: Path):
    s = one("  - {name: a, bitrate: 20M, resolution: 3840x2160}\n")
    c = q.scenario_comparison(s, source_size=(3840, 2160), encode_size=(3840, 2160))
    graph = graph_of(q.compare_command("ffmpeg", ["-i", "d.mkv"], cmd.source_input_args(s), c, tmp_path))
    assert "libvmaf=model=version=vmaf_4k_v0.6.1:" in graph[2]
    # a 1080p rung of the same 2160p source scored at its own size takes the 1080p model
    s = one("  - {name: a, bitrate: 20M, resolution: 3840x2160, quality: {resolution: encode}}\n")
    c = q.scenario_comparison(s, source_size=(3840, 2160), encode_size=(1920, 1080))
    graph = graph_of(q.compare_command("ffmpeg", ["-i", "d.mkv"], cmd.source_input_args(s), c, tmp_path))
    assert "libvmaf=model=version=vmaf_v0.6.1:" in graph[2] and "scale=1920:1080:flags=bicubic" in graph[1]


def test_a_named_model_wins_over_the_size():
    s = one("  - {name: a, bitrate: 20M, resolution: 3840x2160, quality: {model: vmaf_v0.6.1neg}}\n")
    c = q.scenario_comparison(s, source_size=(3840, 2160), encode_size=(3840, 2160))
    assert c.model == "vmaf_v0.6.1neg"


def test_both_sides_are_scaled_to_the_scored_size(tmp_path: Path):
    c = q.Comparison(width=1280, height=720, model=q.VMAF_MODEL, fps=25)
    d, r = graph_of(q.compare_command("ffmpeg", ["-i", "d.mkv"], ["-i", "r.mkv"], c, tmp_path))[:2]
    assert d == "[0:v]setpts=PTS-STARTPTS,fps=25,scale=1280:720:flags=bicubic,format=yuv420p,split=3[d0][d1][d2]"
    assert r == "[1:v]setpts=PTS-STARTPTS,fps=25,scale=1280:720:flags=bicubic,format=yuv420p,split=3[r0][r1][r2]"


def test_without_a_frame_rate_frames_pair_by_index(tmp_path: Path):
    c = q.Comparison(width=640, height=360, model=q.VMAF_MODEL)
    d, r = graph_of(q.compare_command("ffmpeg", ["-i", "d.mkv"], ["-i", "r.mkv"], c, tmp_path))[:2]
    assert d.startswith("[0:v]setpts=N/(25*TB),scale=640:360") and r.startswith("[1:v]setpts=N/(25*TB),scale=")
    assert "fps=" not in d + r


def test_a_lavfi_reference_is_generated_at_the_scenario_size_and_a_file_read_at_its_own(tmp_path: Path):
    clip = tmp_path / "clip.mkv"
    clip.write_bytes(b"x")
    s = one("  - {name: a, crf: 20, source: {file: clip.mkv}}\n", base_dir=tmp_path)
    assert cmd.source_input_args(s) == ["-t", "2", "-i", str(clip)]  # no scale: the source's own size
    assert cmd.source_input_args(one("  - {name: a, crf: 20}\n"))[-1] == "testsrc2=size=320x180:rate=30"


def test_scored_size_refuses_anything_else():
    with pytest.raises(ValueError, match="source, encode or WxH"):
        q.scored_size("display", (1, 1), (1, 1))


# --------------------------------------------------------------------------
# the `quality:` key


def test_quality_key_in_defaults_and_entries():
    (a, b) = parse_scenarios("defaults: {encoder: libx264, resolution: 320x180, fps: 30, duration: 2, "
                             "quality: {resolution: encode}}\nscenarios:\n  - {name: a, crf: 20}\n"
                             "  - {name: b, crf: 20, quality: {resolution: 640x360, model: vmaf_v0.6.1}}\n")
    assert a.quality == QualitySpec(resolution="encode")
    assert b.quality == QualitySpec(resolution="640x360", model="vmaf_v0.6.1")
    assert b.quality.scored_at() == (640, 360)


def test_quality_key_problems_are_named():
    text = ("  - {name: a, crf: 20, quality: {resolution: big, model: 'a b', scaler: lanczos}}\n"
            "  - {name: b, crf: 20, quality: encode}\n")
    with pytest.raises(RunnerError) as err:
        parse_scenarios(BASE + text, file_name="t.yml")
    message = str(err.value)
    assert "t.yml: scenarios[0].quality.scaler: unknown key; expected resolution, model" in message
    assert 'scenarios[0].quality.resolution: expected a resolution like "1280x720", got "big" (or source, ' \
           'encode)' in message
    assert "scenarios[0].quality.model: expected a VMAF model name" in message
    assert "scenarios[1].quality: expected a mapping like {resolution: source" in message


def test_without_a_quality_key_the_fingerprint_is_unchanged():
    # --resume matches on this: a file written before `quality:` existed must still resume
    s = one("  - {name: a, crf: 20}\n")
    assert "quality" not in s.as_dict()
    with_key = one("  - {name: a, crf: 20, quality: {resolution: source}}\n")
    assert matrix_sha256((s,)) != matrix_sha256((with_key,))


def test_resolution_choice_of_score():
    assert parse_resolution_choice("source") == "source" and parse_resolution_choice("1920x1080") == (1920, 1080)
    with pytest.raises(RunnerError, match="--resolution: expected source, encode or WxH"):
        parse_resolution_choice("4k")


# --------------------------------------------------------------------------
# pooling and planes


PSNR_LOG = """n:1 mse_avg:1.00 mse_y:0.90 mse_u:1.20 mse_v:1.30 psnr_avg:48.13 psnr_y:48.59 psnr_u:47.34 psnr_v:46.99
n:2 mse_avg:3.00 mse_y:2.50 mse_u:4.00 mse_v:4.50 psnr_avg:43.36 psnr_y:44.15 psnr_u:42.11 psnr_v:41.60
"""


def test_psnr_names_how_each_figure_pools():
    s = q.parse_psnr_log(PSNR_LOG)
    assert s.pooling == "mse"
    # MSE-pooled: 10 x log10(255^2 / ((1 + 3) / 2)) = 10 x log10(32512.5) = 45.1205 dB
    assert s.mean == pytest.approx(45.1205, abs=1e-4)
    assert s.frame_mean == pytest.approx((48.13 + 43.36) / 2)  # 45.745: above the MSE-pooled figure
    assert (s.y, s.u, s.v) == pytest.approx(((48.59 + 44.15) / 2, (47.34 + 42.11) / 2, (46.99 + 41.60) / 2))


def test_an_identical_frame_makes_the_per_frame_means_unknown_not_infinite():
    s = q.parse_psnr_log(PSNR_LOG + "n:3 mse_avg:0.00 mse_y:0.00 mse_u:0.00 mse_v:0.00 psnr_avg:inf psnr_y:inf "
                         "psnr_u:inf psnr_v:inf\n")
    assert s.mean == pytest.approx(10 * math.log10(255**2 / (4 / 3)))  # mean MSE 4/3: still finite
    assert (s.frame_mean, s.y, s.u, s.v) == (None, None, None, None)


def test_ssim_planes_and_vmaf_pooling():
    s = q.parse_ssim_log("n:1 Y:0.99 U:0.98 V:0.97 All:0.985 (18.2)\nn:2 Y:0.95 U:0.96 V:0.97 All:0.955 (13.5)\n")
    assert (s.y, s.u, s.v, s.pooling) == (pytest.approx(0.97), pytest.approx(0.97), pytest.approx(0.97), "frame_mean")
    v = q.parse_vmaf_log('{"frames": [{"metrics": {"vmaf": 90}}, {"metrics": {"vmaf": 80}}]}')
    assert v.mean == 85 and v.pooling == "frame_mean"


def test_mean_over_rungs_keeps_planes_and_pooling():
    a = q.parse_psnr_log(PSNR_LOG)
    m = q.mean_quality([a, a])
    assert (m.y, m.pooling, m.frames) == (a.y, "mse", 4)


def test_frames_csv_has_one_row_per_frame_pair():
    r = q.QualityResult(vmaf=None, psnr=None, ssim=None, cpu_seconds=0.0,
                        frames=q.FrameScores(vmaf=[90.5, 80.25], psnr=q.psnr_frames(PSNR_LOG)))
    lines = frames_csv(r).splitlines()
    assert lines[0] == "frame,vmaf,psnr_y,psnr_u,psnr_v,psnr_avg,mse_avg,ssim_y,ssim_u,ssim_v,ssim_all"
    assert lines[1:] == ["0,90.5,48.59,47.34,46.99,48.13,1.0,,,,", "1,80.25,44.15,42.11,41.6,43.36,3.0,,,,"]


# --------------------------------------------------------------------------
# the video probe (ffmpeg's own text)


PROBE_STDERR = """Input #0, matroska,webm, from 'a.mkv':
  Duration: 00:00:02.00, start: 0.000000, bitrate: 226 kb/s
  Stream #0:0: Audio: aac (LC), 44100 Hz, mono, fltp (default)
  Stream #0:1(eng): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 29.97 fps, 29.97 tbr, 1k tbn (default)
Stream mapping:
  Stream #0:1 -> #0:0 (copy)
Output #0, null, to 'pipe:':
  Stream #0:0(eng): Video: h264 (High), yuv420p, 1920x1080, q=2-31, 29.97 fps
"""


def test_probe_reads_the_first_input_video_stream_and_the_last_frame_count():
    info = parse_stream_copy("a.mkv", PROBE_STDERR, b"frame=10\nprogress=continue\nframe=60\nprogress=end\n")
    assert (info.width, info.height, info.fps, info.frames) == (1920, 1080, 29.97, 60)


def test_probe_of_a_file_without_video_is_none():
    assert parse_stream_copy("a.wav", "  Stream #0:0: Audio: pcm_s16le, 44100 Hz, mono\n", b"") is None


def test_a_codec_tag_is_not_taken_for_the_size():
    # `0x0000)` looks like WxH to a bare word-boundary pattern; the size stands between commas and spaces
    stderr = "  Stream #0:0: Video: mpeg2video (Main) ([2][0][0][0] / 0x0000), yuv420p, 720x576 [SAR 16:15], 25 fps\n"
    info = parse_stream_copy("a.ts", stderr, b"")
    assert (info.width, info.height, info.fps, info.frames) == (720, 576, 25.0, None)


# --------------------------------------------------------------------------
# what the results record


def test_the_results_record_size_scaler_model_and_what_was_asked():
    from ffwatt.runner.record.entry import quality_reference as _quality_reference

    s = one("  - {name: a, outputs: [{resolution: 3840x2160, bitrate: 20M}, {resolution: 1280x720, bitrate: 3M}], "
            "resolution: 3840x2160, quality: {resolution: encode}}\n")
    comparisons = [q.scenario_comparison(s, source_size=(3840, 2160), encode_size=(r.width, r.height))
                   for r in s.outputs]
    assert _quality_reference(s, "encoder_output", comparisons) == {
        "reference": "source", "distorted": "encoder_output", "resolution": "3840x2160,1280x720",
        "scaler": "bicubic", "scored_at": "encode", "model": "vmaf_4k_v0.6.1,vmaf_v0.6.1"}
    s = one("  - {name: a, outputs: [{resolution: 3840x2160, bitrate: 20M}, {resolution: 1280x720, bitrate: 3M}], "
            "resolution: 3840x2160}\n")
    comparisons = [q.scenario_comparison(s, source_size=(3840, 2160), encode_size=(r.width, r.height))
                   for r in s.outputs]
    ref = _quality_reference(s, "encoder_output", comparisons)
    assert (ref["resolution"], ref["model"], ref["scored_at"]) == ("3840x2160", "vmaf_4k_v0.6.1", "source")
