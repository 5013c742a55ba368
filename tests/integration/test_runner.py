"""`ffwatt run` end to end with the real static ffmpeg (imageio-ffmpeg, with libvmaf).

Expected values are computed here without the runner: frames from fps x duration x
streams, VMAF from a direct libvmaf run written independently below.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ffwatt.catalog import metrics as m
from ffwatt.cli.main import main
from ffwatt.common.process import processes_mentioning
from ffwatt.contract.loading import load_results_file
from ffwatt.runner.errors import RunInterruptedError
from ffwatt.runner.run import handle_signals
from tests.harness import running_exporter
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
NO_EXPORTERS = ["--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""]


def results_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("test_results_*.json"))


def ffmpeg_children_of(marker: str) -> list[str]:
    return processes_mentioning(marker, ("ffmpeg",))


MAIN_RUN = """
defaults: {encoder: libx264, preset: veryfast, resolution: 320x180, fps: 30, duration: 2}
scenarios:
  - {name: baseline idle, idle: true, duration: 1}
  - name: "x264 @ {bitrate}"
    matrix: {bitrate: [80k, 2000k]}
  - {name: 2 streams x264 @ 500k, bitrate: 500k, streams: 2}
  - name: ladder
    outputs: [{resolution: 320x180, bitrate: 400k}, {resolution: 160x90, bitrate: 100k, fps: 15}]
  - {name: no such encoder, encoder: libnope, bitrate: 1M}
"""


@pytest.fixture(scope="module")
def main_run(ffmpeg, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    scenario_file = tmp / "three.yml"
    scenario_file.write_text(MAIN_RUN)
    with running_exporter("ffmpeg", "--refresh-interval", "0.2", "--ended-grace", "120") as exporter:
        rc = main(["run", str(scenario_file), "--results-dir", str(tmp / "results"), "--events",
                   str(tmp / "events.ndjson"), "--work-dir", str(tmp / "work"), "--keep-outputs", "--ffmpeg", ffmpeg,
                   "--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", exporter.url])
        samples = exporter.samples()
    (path,) = results_files(tmp / "results")
    return {"rc": rc, "path": path, "doc": json.loads(path.read_text()), "tmp": tmp, "exporter_samples": samples,
            "events": [json.loads(line) for line in (tmp / "events.ndjson").read_text().splitlines()]}


def by_name(doc: dict) -> dict[str, dict]:
    return {s["name"]: s for s in doc["scenarios"]}


def test_run_writes_a_results_file_the_loader_reads(main_run):
    assert main_run["rc"] == 1  # one scenario was skipped (its encoder does not exist)
    doc = main_run["doc"]
    assert doc["format_version"] == 2 and doc["planned_scenarios"] == 6
    assert doc["environment"]["energy_meter"] == "model" and doc["environment"]["cpu_cores"] == os.cpu_count()
    run = load_results_file(main_run["path"])
    # in the order they completed (shuffled rounds, issue 22)
    assert sorted(s.name for s in run.scenarios) == sorted(["baseline idle", "x264 @ 80k", "x264 @ 2000k",
                                                            "2 streams x264 @ 500k", "ladder"])
    assert run.scenario("2 streams x264 @ 500k").streams == 2 and run.scenario("x264 @ 80k").vmaf is not None


def test_unknown_encoder_is_skipped_and_recorded(main_run):
    (item,) = main_run["doc"]["not_run"]
    assert item["name"] == "no such encoder" and item["status"] == "skipped"
    assert "has no video encoder 'libnope'" in item["reason"]
    skipped = [e for e in main_run["events"] if e["event"] == "scenario-skipped"]
    assert [e["scenario"] for e in skipped] == ["no such encoder"]


def test_frames_are_within_2_percent_of_fps_times_duration_times_streams(main_run):
    for s in main_run["doc"]["scenarios"][1:]:
        expected = 30 * 2 * s["streams"]  # fps x duration x streams: 60 or 120 frames
        assert abs(s["total_frames"] - expected) <= 0.02 * expected, s["name"]
        assert s["avg_fps"] > 0 and s["speed"] > 0 and s["output_bytes"] > 0 and s["dropped_frames"] == 0
        assert s["cpu_core_seconds"] > 0 and s["quality_cpu_seconds"] > 0 and s["mode"] == "file"
        assert s["end_time"] >= s["start_time"]


def test_measured_bitrate_is_bits_over_media_seconds(main_run):
    s = by_name(main_run["doc"])["2 streams x264 @ 500k"]
    # bits / (total_frames / fps) = bits / media seconds / streams
    assert s["measured_bitrate_bps"] == pytest.approx(s["output_bytes"] * 8 / (s["total_frames"] / 30))
    assert 250_000 < s["measured_bitrate_bps"] < 1_000_000  # ABR near 500k over 2 s


def test_higher_bitrate_gives_higher_vmaf_and_psnr(main_run):
    low, high = by_name(main_run["doc"])["x264 @ 80k"], by_name(main_run["doc"])["x264 @ 2000k"]
    assert high["vmaf_score"] > low["vmaf_score"] + 5
    assert high["psnr_score"] > low["psnr_score"] + 3
    assert high["ssim_score"] > low["ssim_score"]
    assert set(high["vmaf"]) == {"mean", "harmonic_mean", "min", "p1", "model", "pooling"}
    assert high["vmaf"]["min"] <= high["vmaf"]["p1"] <= high["vmaf"]["mean"]
    assert high["quality_reference"] == {"reference": "source", "distorted": "encoder_output",
                                         "resolution": "320x180", "scaler": "bicubic", "scored_at": "source",
                                         "model": "vmaf_v0.6.1"}


def test_vmaf_equals_a_direct_libvmaf_run_within_0_1(main_run, ffmpeg, tmp_path):
    s = by_name(main_run["doc"])["x264 @ 80k"]
    (output,) = (main_run["tmp"] / "work").glob("x264-80k-*-s1.mkv")
    log = tmp_path / "direct.json"
    # The plainest comparison: the encoded file against testsrc2 regenerated at the same size and rate.
    # `-r 30` on the input re-stamps the file's frames n/30: Matroska stores times in ms (0, 33, 67...),
    # and without it libvmaf pairs frame 1 (33 ms) with reference frame 0 (< 33.3 ms), off by one.
    subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-r", "30", "-i", str(output),
                    "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=2",
                    "-lavfi", f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}", "-f", "null", "-"],
                   check=True, timeout=60)
    direct = json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]
    assert s["vmaf_score"] == pytest.approx(direct, abs=0.1)


def test_ladder_is_scored_per_rung_and_counts_input_frames(main_run):
    ladder = by_name(main_run["doc"])["ladder"]
    assert [{k: o[k] for k in ("resolution", "fps", "bitrate", "frames", "expected_frames")}
            for o in ladder["outputs"]] == [
        {"resolution": "320x180", "fps": 30.0, "bitrate": "400k", "frames": 60, "expected_frames": 60},
        {"resolution": "160x90", "fps": 15, "bitrate": "100k", "frames": 30, "expected_frames": 30}]  # fps x 2 s
    assert ladder["bitrate"] == "500000"  # one stream's rungs together, bits/s
    assert abs(ladder["total_frames"] - 60) <= 1  # input frames: 30 fps x 2 s
    # The scenario's VMAF is the mean over rungs: below the full-size rung's own score (the 160x90@15 rung
    # is upscaled and repeats frames), above 0.
    assert 0 < ladder["vmaf_score"] < 100 and ladder["quality_reference"]["resolution"] == "320x180"
    assert sorted(p.name for p in (main_run["tmp"] / "work").glob("ladder-s1-r*.mkv")) == [
        "ladder-s1-r0-320x180.mkv", "ladder-s1-r1-160x90.mkv"]


def test_idle_baseline_has_energy_and_no_quality(main_run):
    idle = by_name(main_run["doc"])["baseline idle"]
    assert idle["encoder"] == "none" and idle["duration"] == 1.0
    assert idle["energy_source"] == "model" and idle["energy_joules"] > 0
    assert not {"vmaf_score", "psnr_score", "vmaf", "avg_fps", "total_frames"} & set(idle)


def test_events_tell_the_run_as_it_goes(main_run):
    kinds = [e["event"] for e in main_run["events"]]
    assert kinds[0] == "run-start" and kinds[-1] == "run-done"
    assert kinds.count("scenario-start") == 5 and kinds.count("scenario-done") == 5
    assert "progress" in kinds
    assert all(isinstance(e["time"], float) for e in main_run["events"])


def test_progress_reached_the_ffmpeg_exporter(main_run):
    frames = {labels.get("stream"): value for name, series in main_run["exporter_samples"].items()
              if name.startswith(m.FFMPEG_FRAMES.name) for labels, value in series}
    streams = {k for k in frames if k and k.startswith("2-streams-x264")}
    assert len(streams) == 2 and all(frames[k] == 60 for k in streams)


def test_no_ffmpeg_is_left_behind(main_run):
    assert ffmpeg_children_of(str(main_run["tmp"])) == []


# --------------------------------------------------------------------------
# faults


def run_cli(tmp_path: Path, text: str, *extra: str, capsys=None) -> tuple[int, str]:
    scenario_file = tmp_path / "s.yml"
    scenario_file.write_text(text)
    rc = main(["run", str(scenario_file), "--results-dir", str(tmp_path / "results"), *NO_EXPORTERS, *extra])
    return rc, capsys.readouterr().err if capsys else ""


def test_bad_yaml_exits_2_with_the_file_and_line(tmp_path, capsys):
    rc, err = run_cli(tmp_path, "scenarios: [\n", capsys=capsys)
    assert rc == 2 and err.startswith("error: s.yml: not valid YAML: line ")


def test_unknown_key_exits_2_naming_its_path(tmp_path, capsys):
    rc, err = run_cli(tmp_path, "scenarios:\n  - {name: a, encoder: libx264, crf: 20, resolution: 64x64, fps: 30, "
                      "duration: 1, colour: red}\n", capsys=capsys)
    assert rc == 2 and "error: s.yml: scenarios[0].colour: unknown key" in err


SMALL = "defaults: {encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, duration: 1}\nscenarios:\n"


def test_missing_ffmpeg_exits_2(tmp_path, capsys):
    rc, err = run_cli(tmp_path, SMALL + "  - {name: a, crf: 30}\n", "--ffmpeg", str(tmp_path / "no-ffmpeg"),
                      capsys=capsys)
    assert rc == 2 and "ffmpeg not found at" in err


def test_non_executable_ffmpeg_exits_2(tmp_path, capsys):
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o644)
    rc, err = run_cli(tmp_path, SMALL + "  - {name: a, crf: 30}\n", "--ffmpeg", str(fake), capsys=capsys)
    assert rc == 2 and "is not executable" in err


def test_missing_source_file_exits_2_naming_the_scenario(tmp_path, capsys):
    rc, err = run_cli(tmp_path, SMALL + "  - {name: a, crf: 30, source: {file: gone.mp4}}\n", capsys=capsys)
    assert rc == 2 and "s.yml: scenarios[0].source.file: source file" in err and "gone.mp4" in err


def test_ffmpeg_failing_mid_scenario_is_recorded_and_the_run_goes_on(ffmpeg, tmp_path, capsys):
    rc, _ = run_cli(tmp_path, SMALL + "  - {name: bad, crf: 30, options: {tune: nonsense}}\n"
                    "  - {name: good, crf: 30}\n", "--ffmpeg", ffmpeg, "--no-quality", capsys=capsys)
    assert rc == 1
    (path,) = results_files(tmp_path / "results")
    doc = json.loads(path.read_text())
    assert [s["name"] for s in doc["scenarios"]] == ["good"]
    (item,) = doc["not_run"]
    assert item["name"] == "bad" and item["status"] == "failed"
    assert "exited with" in item["reason"] and "invalid tune 'nonsense'" in item["reason"]  # the log tail
    assert ffmpeg_children_of(str(tmp_path)) == []


def test_unwritable_results_dir_exits_2_naming_it(ffmpeg, tmp_path, capsys):
    blocker = tmp_path / "plain-file"
    blocker.write_text("")
    scenario_file = tmp_path / "s.yml"
    scenario_file.write_text(SMALL + "  - {name: a, crf: 30}\n")
    rc = main(["run", str(scenario_file), "--results-dir", str(blocker / "results"), "--ffmpeg", ffmpeg,
               *NO_EXPORTERS])
    err = capsys.readouterr().err
    assert rc == 2 and "error: cannot write results to directory" in err and "plain-file/results" in err


def test_dry_run_prints_the_commands_and_runs_nothing(ffmpeg, tmp_path, capsys):
    rc, _ = run_cli(tmp_path, SMALL + "  - {name: a, crf: 30, streams: 2}\n", "--dry-run", "--ffmpeg", ffmpeg)
    out = capsys.readouterr().out
    assert rc == 0 and out.count(" -c:v libx264 ") == 2 and "-progress pipe:1" in out
    assert not (tmp_path / "results").exists()


def test_file_source_and_repetitions(ffmpeg, tmp_path, capsys):
    clip = tmp_path / "clip.mkv"
    subprocess.run([ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x180:rate=30:duration=2", "-c:v", "libx264", "-crf", "10", str(clip)],
                   check=True, timeout=60)
    rc, _ = run_cli(tmp_path, "scenarios:\n  - {name: from file, encoder: libx264, preset: ultrafast, crf: 23, "
                    "resolution: 160x90, fps: 15, duration: 1.5, repeat: 2, source: {file: clip.mkv}}\n",
                    "--ffmpeg", ffmpeg, capsys=capsys)
    assert rc == 0
    (path,) = results_files(tmp_path / "results")
    (s,) = json.loads(path.read_text())["scenarios"]
    assert abs(s["total_frames"] - 22) <= 1  # 15 fps x 1.5 s = 22.5 frames
    assert len(s["repetitions"]) == 2 and all(r["avg_fps"] > 0 and r["duration"] > 0 for r in s["repetitions"])
    assert s["avg_fps"] == pytest.approx(sum(r["avg_fps"] for r in s["repetitions"]) / 2)
    # scored at the file's own size (the display resolution), the 160x90 encode upscaled to it
    assert s["vmaf_score"] > 20 and s["quality_reference"]["resolution"] == "320x180"
    load_results_file(path)


def test_unreachable_exporters_cost_the_energy_reading_not_the_encode(ffmpeg, tmp_path, caplog):
    port = free_port()  # nothing listens there
    scenario_file = tmp_path / "s.yml"
    scenario_file.write_text(SMALL + "  - {name: a, crf: 30}\n")
    rc = main(["run", str(scenario_file), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
               "--no-quality", "--cpu-metrics-url", f"http://127.0.0.1:{port}/metrics", "--gpu-metrics-url", "",
               "--progress-url", f"http://127.0.0.1:{port}"])
    assert rc == 0
    assert f"ffmpeg exporter unreachable at http://127.0.0.1:{port}" in caplog.text
    (path,) = results_files(tmp_path / "results")
    (s,) = json.loads(path.read_text())["scenarios"]
    assert s["total_frames"] == 30 and s["cpu_core_seconds"] > 0  # 30 fps x 1 s, measured all the same
    assert s["energy_source"] == "none" and "energy_joules" not in s and f"127.0.0.1:{port}" in s["energy_error"]


def test_sigterm_raises_interrupted_once():
    with pytest.raises(RunInterruptedError, match="SIGTERM"), handle_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)


INTERRUPTED = """
defaults: {encoder: libx264, resolution: 640x360, fps: 30, preset: medium}
scenarios:
  - {name: first, bitrate: 300k, duration: 1, preset: ultrafast}
  - {name: long, bitrate: 800k, duration: 20}
  - {name: last, bitrate: 300k, duration: 1, preset: ultrafast}
"""


def test_sigint_keeps_completed_scenarios_and_resume_finishes(ffmpeg, tmp_path):
    scenario_file = tmp_path / "s.yml"
    scenario_file.write_text(INTERRUPTED)
    events = tmp_path / "events.ndjson"
    args = ["run", str(scenario_file), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
            "--work-dir", str(tmp_path / "work"), "--no-quality", "--order", "sequential", *NO_EXPORTERS]
    proc = subprocess.Popen([sys.executable, "-m", "ffwatt", *args, "--events", str(events)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the second scenario's encode reports progress
            text = events.read_text() if events.exists() else ""
            if any(json.loads(line).get("event") == "progress" and json.loads(line).get("scenario") == "long"
                   for line in text.splitlines()):
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("scenario 'long' never started")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 130, err.decode()
    assert b"error: interrupted by SIGINT" in err
    assert ffmpeg_children_of(str(tmp_path)) == []
    (path,) = results_files(tmp_path / "results")
    doc = json.loads(path.read_text())
    assert [s["name"] for s in doc["scenarios"]] == ["first"]
    assert doc["not_run"] == [{"name": "long", "status": "failed", "reason": "interrupted by SIGINT"}]
    first_start = doc["scenarios"][0]["start_time"]

    # --resume: the same file, scenario 1 not redone, the rest completed.
    long_file = tmp_path / "s.yml"
    assert long_file.exists()
    rc = main([*args, "--resume", "--events", str(tmp_path / "resume.ndjson")])
    assert rc == 0
    assert results_files(tmp_path / "results") == [path]
    doc = json.loads(path.read_text())
    assert [s["name"] for s in doc["scenarios"]] == ["first", "long", "last"]
    assert doc["scenarios"][0]["start_time"] == first_start and doc["not_run"] == []
    skipped = [json.loads(line) for line in (tmp_path / "resume.ndjson").read_text().splitlines()
               if json.loads(line)["event"] == "scenario-skipped"]
    assert [e["scenario"] for e in skipped] == ["first"]
    assert abs(doc["scenarios"][1]["total_frames"] - 600) <= 12  # 30 fps x 20 s
    load_results_file(path)


def test_an_nvenc_scenario_without_a_usable_device_is_skipped_with_the_reason(ffmpeg, tmp_path):
    # The static ffmpeg lists h264_nvenc everywhere; here (no NVIDIA GPU, or one without NVENC)
    # a one-frame test encode fails, and the scenario is skipped, never a failed encode.
    from ffwatt.runner.measure.ffmpeg_probe import hardware_encoder_reason

    if hardware_encoder_reason(ffmpeg, "h264_nvenc") is None:
        pytest.skip("this machine has a working NVENC: nothing to skip")
    scenario_file = tmp_path / "s.yml"
    scenario_file.write_text(SMALL + "  - {name: nv, encoder: h264_nvenc, bitrate: 500k}\n  - {name: a, crf: 30}\n")
    rc = main(["run", str(scenario_file), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
               "--no-quality", "--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""])
    assert rc == 1  # some scenario did not run
    (path,) = results_files(tmp_path / "results")
    doc = json.loads(path.read_text())
    assert [s["name"] for s in doc["scenarios"]] == ["a"]
    (nv,) = doc["not_run"]
    assert nv["name"] == "nv" and nv["status"] == "skipped"
    assert "ffmpeg lists h264_nvenc but cannot open its device" in nv["reason"]
