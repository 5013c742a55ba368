"""ffmpeg argv builders, probe parsing, and the quality logs (libvmaf JSON, psnr/ssim stats)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure import commands as cmd
from ffwatt.runner.measure import ffmpeg_probe as ff
from ffwatt.runner.measure import quality as q
from ffwatt.runner.plan.scenario_file import parse_scenarios

BASE = """
defaults: {encoder: libx264, preset: veryfast, resolution: 640x360, fps: 30, duration: 4}
scenarios:
"""


def one(text: str, base_dir: Path | None = None):
    (s,) = parse_scenarios(BASE + text, file_name="t.yml", base_dir=base_dir)
    return s


def after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# --------------------------------------------------------------------------
# probe output


ENCODERS = """Encoders:
 V..... = Video
 A..... = Audio
 ------
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V....D h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)
 A....D aac                  AAC (Advanced Audio Coding)
"""

FILTERS = """Filters:
  T.. = Timeline support
  | = Source or sink filter
 .. libvmaf           VV->V      Calculate the VMAF between two video streams.
 TS psnr              VV->V      Calculate the PSNR between two video streams.
 ... testsrc2          |->V       Generate another test pattern.
"""


def test_parse_encoders_keeps_video_encoders_only():
    assert ff.parse_encoders(ENCODERS) == {"libx264", "h264_nvenc"}


def test_parse_filters():
    assert ff.parse_filters(FILTERS) == {"libvmaf", "psnr", "testsrc2"}


def test_missing_encoder_reason_names_the_encoder_and_binary():
    info = ff.FfmpegInfo(path="/x/ffmpeg", version="ffmpeg 9", encoders=frozenset({"libx264"}),
                         filters=frozenset())
    assert info.missing_encoder_reason("libx264") is None
    assert "/x/ffmpeg has no video encoder 'nope'" in info.missing_encoder_reason("nope")
    assert not info.has_libvmaf


def test_probe_of_a_missing_binary_is_a_runner_error(tmp_path: Path):
    with pytest.raises(RunnerError, match="ffmpeg not found at .*pass --ffmpeg"):
        ff.probe(str(tmp_path / "ffmpeg"))


def test_probe_of_a_non_executable_file_is_a_runner_error(tmp_path: Path):
    path = tmp_path / "ffmpeg"
    path.write_text("#!/bin/sh\necho hi\n")
    path.chmod(0o644)
    with pytest.raises(RunnerError, match="is not executable"):
        ff.probe(str(path))


def test_probe_of_something_that_is_not_ffmpeg_is_a_runner_error(tmp_path: Path):
    path = tmp_path / "ffmpeg"
    path.write_text("#!/bin/sh\necho hello\n")
    os.chmod(path, 0o755)
    with pytest.raises(RunnerError, match="does not look like ffmpeg"):
        ff.probe(str(path))


# --------------------------------------------------------------------------
# encode argv


def test_single_output_encode_command(tmp_path: Path):
    s = one("  - {name: a, bitrate: 1500k}\n")
    argv = cmd.encode_command(s, "ffmpeg", [tmp_path / "a.mkv"])
    assert argv[0] == "ffmpeg" and "-nostdin" in argv and argv[-1] == str(tmp_path / "a.mkv")
    assert after(argv, "-progress") == "pipe:1" and after(argv, "-stats_period") == "0.5"
    assert after(argv, "-f") == "lavfi" and after(argv, "-t") == "4"
    assert after(argv, "-i") == "testsrc2=size=640x360:rate=30"
    assert after(argv, "-c:v") == "libx264" and after(argv, "-preset") == "veryfast" and after(argv, "-b:v") == "1500k"
    assert after(argv, "-pix_fmt") == "yuv420p" and "-an" in argv and "-crf" not in argv
    assert argv.index("-t") < argv.index("-i") < argv.index("-c:v")  # -t is an input option: exact frame count


def test_crf_qp_and_options():
    crf = cmd.encode_command(one("  - {name: a, crf: 23, options: {tune: zerolatency, x264-params: 'keyint=60'}}\n"),
                            "ffmpeg", [Path("o.mkv")])
    assert after(crf, "-crf") == "23" and "-b:v" not in crf
    assert after(crf, "-tune") == "zerolatency" and after(crf, "-x264-params") == "keyint=60"
    qp = cmd.encode_command(one("  - {name: a, qp: 30, preset: null}\n"), "ffmpeg", [Path("o.mkv")])
    assert after(qp, "-qp") == "30" and "-preset" not in qp


def test_ladder_is_one_process_with_a_split_and_one_output_per_rung(tmp_path: Path):
    s = one("  - name: ladder\n    outputs:\n      - {resolution: 640x360, bitrate: 800k}\n"
            "      - {resolution: 320x180, bitrate: 300k, fps: 15}\n")
    paths = cmd.output_paths(s, tmp_path, 1)
    assert [p.name for p in paths] == ["ladder-s1-r0-640x360.mkv", "ladder-s1-r1-320x180.mkv"]
    argv = cmd.encode_command(s, "ffmpeg", paths)
    assert after(argv, "-filter_complex") == (
        "[0:v]split=2[in0][in1];[in0]scale=640:360:flags=bicubic[out0];"
        "[in1]scale=320:180:flags=bicubic,fps=15[out1]")
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-map"] == ["[out0]", "[out1]"]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "-b:v"] == ["800k", "300k"]
    assert argv[-1] == str(paths[1])


def test_file_source_is_scaled_and_retimed(tmp_path: Path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    s = one("  - {name: a, crf: 20, source: {file: clip.mp4}}\n", base_dir=tmp_path)
    argv = cmd.encode_command(s, "ffmpeg", [tmp_path / "o.mkv"])
    assert "lavfi" not in argv and after(argv, "-i") == str(clip) and after(argv, "-t") == "4"
    assert after(argv, "-vf") == "scale=640:360:flags=bicubic,fps=30"


# --------------------------------------------------------------------------
# quality argv


def test_quality_pass_compares_distorted_first_at_the_source_size_with_reset_timestamps_and_bicubic(tmp_path: Path):
    s = one("  - {name: a, bitrate: 1M, resolution: 320x180}\n")
    c = q.scenario_comparison(s, source_size=(320, 180), encode_size=(320, 180))
    argv = q.compare_command("ffmpeg", ["-i", str(tmp_path / "out.mkv")], cmd.source_input_args(s), c, tmp_path,
                             threads=2)
    inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "-i"]
    assert inputs == [str(tmp_path / "out.mkv"), "testsrc2=size=320x180:rate=30"]
    graph = after(argv, "-filter_complex").split(";")
    assert graph[0] == "[0:v]setpts=PTS-STARTPTS,fps=30,scale=320:180:flags=bicubic,format=yuv420p,split=3[d0][d1][d2]"
    assert graph[1] == "[1:v]setpts=PTS-STARTPTS,fps=30,scale=320:180:flags=bicubic,format=yuv420p,split=3[r0][r1][r2]"
    assert graph[2].startswith("[d0][r0]libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:log_path=")
    assert "n_threads=2" in graph[2]
    assert graph[3].startswith("[d1][r1]psnr=stats_file=") and graph[4].startswith("[d2][r2]ssim=stats_file=")
    assert all(part.endswith(":shortest=1:repeatlast=0") for part in graph[2:])
    assert argv[-3:] == ["-f", "null", "-"]


def test_quality_pass_without_libvmaf_has_no_vmaf(tmp_path: Path):
    c = q.Comparison(width=640, height=360, model=q.VMAF_MODEL, fps=30)
    graph = after(q.compare_command("ffmpeg", ["-i", "o.mkv"], ["-i", "r.mkv"], c, tmp_path, vmaf=False),
                  "-filter_complex")
    assert "libvmaf" not in graph and "split=2" in graph


def test_filter_paths_are_escaped():
    assert q._escape("/a:b/c,d'e") == "/a\\:b/c\\,d\\'e"


# --------------------------------------------------------------------------
# logs


VMAF_JSON = {
    "version": "86da14d",
    "fps": 97.46,
    "frames": [{"frameNum": i, "metrics": {"integer_adm2": 0.99, "vmaf": v}}
               for i, v in enumerate([90.0, 80.0, 100.0, 95.0, 85.0])],
    "pooled_metrics": {"vmaf": {"min": 80.0, "max": 100.0, "mean": 90.0, "harmonic_mean": 89.72}},
    "aggregate_metrics": {},
}


def test_parse_vmaf_log_takes_the_pooled_figures_and_the_1st_percentile():
    stats = q.parse_vmaf_log(json.dumps(VMAF_JSON))
    assert (stats.mean, stats.harmonic_mean, stats.min, stats.frames) == (90.0, 89.72, 80.0, 5)
    # sorted 80, 85, 90, 95, 100; rank = 0.01 x 4 = 0.04 -> 80 + (85 - 80) x 0.04 = 80.2
    assert stats.p1 == pytest.approx(80.2)


def test_parse_vmaf_log_without_pooled_metrics_uses_the_frames():
    doc = {"frames": VMAF_JSON["frames"]}
    stats = q.parse_vmaf_log(json.dumps(doc))
    assert stats.mean == pytest.approx(90.0) and stats.min == 80.0 and stats.harmonic_mean is None


def test_percentile_interpolates_between_closest_ranks():
    assert q.percentile([], 1) is None
    assert q.percentile([7.0], 1) == 7.0
    assert q.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5  # rank 1.5 -> 2 + 0.5 x (3 - 2)
    assert q.percentile(list(range(101)), 1) == 1.0  # rank 1.0 exactly
    assert q.percentile([3.0, 1.0, 2.0], 0) == 1.0 and q.percentile([3.0, 1.0, 2.0], 100) == 3.0
    with pytest.raises(ValueError):
        q.percentile([1.0], 101)


PSNR_LOG = """n:1 mse_avg:1.00 mse_y:0.90 mse_u:1.20 mse_v:1.30 psnr_avg:48.13 psnr_y:48.59 psnr_u:47.34 psnr_v:46.99
n:2 mse_avg:3.00 mse_y:2.50 mse_u:4.00 mse_v:4.50 psnr_avg:43.36 psnr_y:44.15 psnr_u:42.11 psnr_v:41.60
n:3 mse_avg:0.00 mse_y:0.00 mse_u:0.00 mse_v:0.00 psnr_avg:inf psnr_y:inf psnr_u:inf psnr_v:inf
"""


def test_parse_psnr_log_is_the_psnr_of_the_mean_mse_and_stays_finite_with_identical_frames():
    stats = q.parse_psnr_log(PSNR_LOG)
    # mean mse = (1 + 3 + 0) / 3 = 1.3333; 10 x log10(255^2 / 1.3333) = 46.88 dB
    assert stats.mean == pytest.approx(46.8806, abs=1e-3)
    assert stats.min == 43.36 and stats.frames == 3


def test_parse_ssim_log():
    text = "n:1 Y:0.99 U:0.98 V:0.97 All:0.985 (18.2)\nn:2 Y:0.95 U:0.96 V:0.97 All:0.955 (13.5)\n"
    stats = q.parse_ssim_log(text)
    assert stats.mean == pytest.approx(0.97) and stats.min == 0.955  # (0.985 + 0.955) / 2


def test_empty_logs_are_unknown_not_zero():
    assert q.parse_psnr_log("").mean is None and q.parse_ssim_log("").mean is None


def test_mean_quality_over_rungs():
    a = q.QualityStats(mean=90.0, harmonic_mean=89.0, min=80.0, p1=81.0, frames=10)
    b = q.QualityStats(mean=70.0, harmonic_mean=69.0, min=60.0, p1=61.0, frames=10)
    m = q.mean_quality([a, b])
    assert (m.mean, m.harmonic_mean, m.min, m.p1, m.frames) == (80.0, 79.0, 60.0, 71.0, 20)
    assert q.mean_quality([a, None]) is None
