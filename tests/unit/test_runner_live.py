"""Live mode without a server: scenario validation of `mode`/`sweep`, the real-time check over
progress points, the sweep summary, and the argv of a live publish."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffwatt.contract.schema import ScenarioEntry, SweepStep
from ffwatt.runner.errors import RunnerError
from ffwatt.runner.measure import commands as cmd
from ffwatt.runner.measure import live_encode as live
from ffwatt.runner.measure.commands import dry_run_lines
from ffwatt.runner.plan import sweep
from ffwatt.runner.plan.scenario import matrix_sha256
from ffwatt.runner.plan.scenario_file import parse_scenarios
from ffwatt.runner.settings import RUN_SETTINGS, _rtmp_url

BASE = """
defaults: {encoder: libx264, preset: veryfast, resolution: 320x180, fps: 30, duration: 6}
scenarios:
"""


def parse(text: str):
    return parse_scenarios(BASE + text, file_name="t.yml")


def error_of(text: str) -> str:
    with pytest.raises(RunnerError) as info:
        parse(text)
    return str(info.value)


def after(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


# --------------------------------------------------------------------------
# scenario validation


def test_live_scenario_parses_with_its_stream_count():
    (s,) = parse("  - {name: live 2, bitrate: 500k, streams: 2, mode: live}\n")
    assert s.live and s.mode == "live" and s.streams == 2 and s.sweep == ()


def test_sweep_expands_into_named_steps_in_increasing_order():
    (s,) = parse("  - {name: cap, bitrate: 500k, mode: live, sweep: {streams: [1, 2, 4, 8]}}\n")
    assert s.sweep == (1, 2, 4, 8)
    steps = s.sweep_steps()
    assert [(t.name, t.streams, t.sweep, t.mode) for t in steps] == [
        ("cap @ 1 streams", 1, (), "live"), ("cap @ 2 streams", 2, (), "live"),
        ("cap @ 4 streams", 4, (), "live"), ("cap @ 8 streams", 8, (), "live")]


@pytest.mark.parametrize("sweep, message", [
    ("{streams: [2, 1]}", "expected strictly increasing stream counts"),
    ("{streams: [1, 1]}", "expected strictly increasing stream counts"),
    ("{streams: []}", "expected a non-empty list of stream counts from 1 to 256"),
    ("{streams: [0, 2]}", "expected a non-empty list of stream counts from 1 to 256"),
    ("{streams: [1, true]}", "expected a non-empty list of stream counts from 1 to 256"),
    ("{streams: 4}", "expected a non-empty list of stream counts from 1 to 256"),
    ("{count: [1, 2]}", "expected {streams: [1, 2, 4, 8]}"),
    ("[1, 2]", "expected {streams: [1, 2, 4, 8]}"),
])
def test_bad_sweeps_are_refused_with_the_path(sweep, message):
    text = error_of(f"  - {{name: cap, bitrate: 500k, mode: live, sweep: {sweep}}}\n")
    assert "t.yml: scenarios[0].sweep" in text and message in text


def test_sweep_needs_live_mode_and_owns_the_stream_count():
    assert "scenarios[0].sweep: a capacity sweep runs live streams; add mode: live" in error_of(
        "  - {name: cap, bitrate: 500k, sweep: {streams: [1, 2]}}\n")
    assert "scenarios[0].streams: a sweep sets the stream count of each step" in error_of(
        "  - {name: cap, bitrate: 500k, mode: live, streams: 3, sweep: {streams: [1, 2]}}\n")


def test_live_refuses_ladders_codecs_flv_cannot_carry_and_idle():
    assert "scenarios[0].outputs: live mode publishes one rendition per stream" in error_of(
        "  - {name: l, mode: live, outputs: [{resolution: 320x180, bitrate: 300k}]}\n")
    assert "scenarios[0].encoder: live mode publishes FLV over RTMP" in error_of(
        "  - {name: l, mode: live, encoder: libx265, bitrate: 1M}\n")
    assert "scenarios[0].mode: an idle baseline publishes nothing" in error_of(
        "  - {name: idle, idle: true, mode: live}\n")


def test_live_default_is_ignored_by_an_idle_baseline():
    text = """
defaults: {encoder: libx264, resolution: 320x180, fps: 30, duration: 6, mode: live, bitrate: 1M}
scenarios:
  - {name: baseline idle, idle: true, duration: 2}
  - {name: l}
"""
    idle, stream = parse_scenarios(text, file_name="t.yml")
    assert idle.idle and idle.mode == "file" and stream.live


def test_fingerprint_of_a_scenario_without_sweep_is_unchanged_by_the_sweep_field():
    (s,) = parse("  - {name: a, bitrate: 1M}\n")
    assert "sweep" not in s.as_dict()  # files written before sweeps existed still --resume
    (w,) = parse("  - {name: a, bitrate: 1M, mode: live, sweep: {streams: [1, 2]}}\n")
    assert w.as_dict()["sweep"] == (1, 2) and matrix_sha256((s,)) != matrix_sha256((w,))


# --------------------------------------------------------------------------
# the real-time check


def steady(speed: float, seconds: float = 8.0, period: float = 0.5, lead: float = 0.4):
    """Points every `period` s of a stream running at `speed` after an initial lead of `lead` media s."""
    n = int(seconds / period)
    return [(period * (i + 1), lead + speed * period * (i + 1)) for i in range(n)]


def test_window_speed_is_media_advance_over_wall_span_after_the_warm_up():
    points = [(1.0, 5.0), (2.0, 2.0), (3.0, 3.0), (4.0, 3.8), (5.0, 4.8)]
    # windows of >= 2 s starting at or after 2 s: (4,3.8)-(2,2.0) = 1.8/2 = 0.9; (5,4.8)-(3,3.0) = 1.8/2 = 0.9
    assert live.window_speeds(points) == pytest.approx([0.9, 0.9])
    # the point at 1.0 s (a start-up burst to media 5.0) is in the warm-up and never counts
    assert live.window_speeds(points, credit=0.1) == pytest.approx([0.95, 0.95])  # (1.8 + 0.1) / 2


def test_a_stream_at_real_time_holds_and_a_slow_one_falls_behind():
    assert live.sustained_speed(steady(1.0)) == pytest.approx(1.0)
    assert live.fell_behind(steady(1.0), fps=30) is False
    assert live.sustained_speed(steady(0.9)) == pytest.approx(0.9)
    assert live.fell_behind(steady(0.9), fps=30) is True


def test_an_initial_burst_above_real_time_is_normal():
    burst = [(0.5, 1.5), (1.0, 2.0), (1.5, 2.5)] + [(2.0 + 0.5 * i, 2.6 + 0.5 * i) for i in range(12)]
    assert live.fell_behind(burst, fps=30) is False


def test_one_frame_of_jitter_is_not_falling_behind():
    # out_time moves in frames (1/30 s): a block one frame short makes a 2 s window read
    # (2 - 1/30) / 2 = 0.983 < 0.99; with one frame of credit it reads 1.0: held.
    points = steady(1.0)
    points[8] = (points[8][0], points[8][1] - 1 / 30)
    assert min(live.window_speeds(points)) == pytest.approx(1 - 1 / 60)
    assert live.fell_behind(points, fps=30) is False


def test_one_late_progress_block_is_not_sustained():
    # a reader hiccup: one block read 0.1 s late slows one window to 2 / 2.1 = 0.952 (< 0.99 even
    # with a frame of credit); the next window is back at 1.0, so the sustained speed is 1.0.
    points = steady(1.0)
    points[10] = (points[10][0] + 0.1, points[10][1])
    assert min(live.window_speeds(points)) < 0.96
    assert live.sustained_speed(points) == pytest.approx(1.0, abs=0.03)
    assert live.fell_behind(points, fps=30) is False


def test_falling_behind_in_the_second_half_counts():
    points = steady(1.0, seconds=5.0) + [(5.0 + 0.5 * (i + 1), 5.4 + 0.45 * (i + 1)) for i in range(8)]
    assert live.sustained_speed(points) == pytest.approx(0.9)
    assert live.fell_behind(points, fps=30) is True


def test_short_streams_use_the_span_after_the_warm_up_then_the_overall_speed():
    # 2.0..3.5 s: 1.5 s >= MIN_SPAN_SECONDS, no full 2 s window: (3.5 - 2.0) x 0.8 / 1.5 = 0.8
    points = [(0.5, 0.5)] + [(2.0 + 0.5 * i, 2.0 + 0.4 * i) for i in range(4)]
    assert live.window_speeds(points) == []
    assert live.sustained_speed(points) == pytest.approx(0.8)
    # nothing after the warm-up: media / wall of the last point
    assert live.sustained_speed([(0.5, 0.4), (1.0, 0.9)]) == pytest.approx(0.9)
    assert live.sustained_speed([]) is None and live.fell_behind([], fps=30) is None


# --------------------------------------------------------------------------
# the sweep summary


def step_entry(streams: int, joules: float | None, fell: int, *, start=100.0, end=110.0, vmaf=90.0) -> ScenarioEntry:
    return ScenarioEntry(name=f"cap @ {streams} streams", streams=streams, start_time=start, end_time=end,
                         energy_joules=joules, fell_behind_streams=fell, min_speed=1.0 if not fell else 0.8,
                         vmaf_score=vmaf, sweep="cap")


def test_sweep_step_net_power_is_step_mean_minus_the_baseline():
    # mean power 300 J / 10 s = 30 W; net = 30 - 12 = 18 W
    step = sweep.sweep_step(step_entry(1, 300.0, 0), baseline_mean_watts=12.0)
    assert step == SweepStep(streams=1, scenario="cap @ 1 streams", held_real_time=True, energy_joules=300.0,
                             net_power_watts=pytest.approx(18.0), min_speed=1.0, vmaf=90.0)
    assert sweep.sweep_step(step_entry(1, 300.0, 0), None).net_power_watts is None
    assert sweep.sweep_step(step_entry(1, None, 0), 12.0).net_power_watts is None


def test_sweep_summary_names_the_knee_and_the_marginal_joules():
    steps = [sweep.sweep_step(step_entry(n, j, f), 10.0) for n, j, f in ((1, 200.0, 0), (2, 300.0, 0),
                                                                          (4, 500.0, 0), (8, 900.0, 3))]
    summary = sweep.sweep_summary("cap", steps)
    assert summary.name == "cap" and [s.streams for s in summary.steps] == [1, 2, 4, 8]
    assert summary.knee_streams == 4  # held at 1, 2, 4; fell behind at 8
    # energy = 100 + 100 x n exactly: least-squares slope 100 J per extra stream
    assert summary.marginal_joules_per_stream == pytest.approx(100.0)


def test_sweep_whose_first_step_fell_behind_has_no_knee():
    summary = sweep.sweep_summary("cap", [sweep.sweep_step(step_entry(1, 200.0, 1), None)])
    assert summary.knee_streams is None and summary.marginal_joules_per_stream is None


def test_baseline_is_the_first_idle_entry():
    entries = [ScenarioEntry(name="x", encoder="libx264", energy_joules=1.0, start_time=0.0, end_time=1.0),
               ScenarioEntry(name="baseline", encoder="none", energy_joules=50.0, start_time=10.0, end_time=15.0),
               ScenarioEntry(name="idle 2", encoder="none", energy_joules=99.0, start_time=20.0, end_time=21.0)]
    assert sweep.baseline_mean_watts(entries) == pytest.approx(10.0)  # 50 J / 5 s
    assert sweep.baseline_mean_watts(entries[:1]) is None


# --------------------------------------------------------------------------
# argv of a live publish


def test_live_command_paces_the_source_and_publishes_flv_with_the_file_mode_encoder_settings():
    (s,) = parse("  - {name: live two, bitrate: 500k, streams: 2, mode: live}\n")
    url = cmd.publish_url("rtmp://127.0.0.1:1935/live/", s, 2)
    assert url == f"rtmp://127.0.0.1:1935/live/{s.slug}-2" == f"rtmp://127.0.0.1:1935/live/{cmd.live_stream_name(s, 2)}"
    argv = cmd.live_command(s, "/bin/ffmpeg", url)
    assert argv[0] == "/bin/ffmpeg" and argv[-1] == url
    assert argv.index("-re") < argv.index("-i")  # an input option: read at the native frame rate
    assert after(argv, "-progress") == "pipe:1" and after(argv, "-f") == "lavfi"
    assert after(argv, "-i") == "testsrc2=size=320x180:rate=30" and after(argv, "-t") == "6"
    out = argv[argv.index("-map"):]
    assert after(out, "-f") == "flv" and after(out, "-flvflags") == "no_duration_filesize"
    assert after(out, "-c:v") == "libx264" and after(out, "-preset") == "veryfast" and after(out, "-b:v") == "500k"
    # the same encoder flags as file mode, so live and file quality compare
    file_argv = cmd.encode_command(s, "/bin/ffmpeg", cmd.output_paths(s, Path("/w"), 1))
    file_out = file_argv[file_argv.index("-map"):file_argv.index("-f", file_argv.index("-map"))]
    assert out[:len(file_out)] == file_out


def test_live_command_scales_a_file_source(tmp_path: Path):
    (tmp_path / "clip.mp4").write_bytes(b"x")
    (s,) = parse_scenarios(BASE + "  - {name: l, bitrate: 1M, mode: live, source: {file: clip.mp4}}\n",
                           base_dir=tmp_path)
    argv = cmd.live_command(s, "ffmpeg", "rtmp://h/live/x")
    assert after(argv, "-vf") == "scale=320:180:flags=bicubic,fps=30" and argv.index("-re") < argv.index("-i")


def test_dry_run_lists_every_sweep_step_with_its_publish_commands():
    scenarios = parse("  - {name: cap, bitrate: 500k, mode: live, sweep: {streams: [1, 2]}}\n")
    lines = dry_run_lines(scenarios, "ffmpeg", Path("/w"), "rtmp://10.0.0.1:1935/live")
    text = "\n".join(lines)
    assert "- cap @ 1 streams:" in text and "- cap @ 2 streams:" in text and text.count(" -re ") == 3
    one, two = scenarios[0].sweep_steps()
    assert f"rtmp://10.0.0.1:1935/live/{cmd.live_stream_name(one, 1)}" in text
    assert f"rtmp://10.0.0.1:1935/live/{cmd.live_stream_name(two, 2)}" in text


def test_rtmp_settings_exist_with_env_vars_and_the_url_is_checked():
    flags = {s.flag: s for s in RUN_SETTINGS}
    assert {"--rtmp-url", "--rtmp-stat-url", "--rtmp-record-dir", "--nginx"} <= set(flags)
    assert flags["--rtmp-url"].env == "FFWATT_RTMP_URL" and flags["--nginx"].default == "nginx"
    assert _rtmp_url("rtmp://127.0.0.1:1935/live/") == "rtmp://127.0.0.1:1935/live"
    assert _rtmp_url("") is None
    with pytest.raises(ValueError, match="expected an RTMP application URL"):
        _rtmp_url("http://127.0.0.1/live")
    with pytest.raises(ValueError, match="expected an RTMP application URL"):
        _rtmp_url("rtmp://127.0.0.1:1935")


def test_a_sweep_step_name_may_not_clash_with_another_scenario():
    text = error_of("  - {name: cap @ 2 streams, bitrate: 500k}\n"
                    "  - {name: cap, bitrate: 500k, mode: live, sweep: {streams: [1, 2]}}\n")
    assert 'scenarios[1].name: duplicate scenario name "cap @ 2 streams" (also scenarios[0])' in text


def test_writer_keeps_one_summary_per_sweep_with_nulls_and_the_file_loads(tmp_path: Path):
    import json

    from ffwatt.contract.loading import load_results_file
    from ffwatt.contract.results_writer import ResultsWriter

    writer = ResultsWriter(tmp_path, "test_results_20261126_100000.json", {"test_date": "2026-11-26T10:00:00+00:00"})
    step = ScenarioEntry(name="cap @ 1 streams", encoder="libx264", resolution="320x180", fps=30.0, duration=6.0,
                         streams=1, mode="live", dropped_frames=0, duplicated_frames=0, fell_behind_streams=1,
                         min_speed=0.8, sweep="cap",
                         streams_detail=[{"stream": "cap-1", "fell_behind": True, "speed": 0.8}])
    writer.add_scenario(step)
    first = sweep.sweep_summary("cap", [sweep.sweep_step(step, None)])
    writer.set_sweep(sweep.sweep_summary("other", []))
    writer.set_sweep(first)
    writer.set_sweep(first)  # replaced in place, not appended
    doc = json.loads(writer.path.read_text())
    assert [w["name"] for w in doc["sweeps"]] == ["other", "cap"]
    cap = doc["sweeps"][1]
    assert cap["knee_streams"] is None and cap["steps"][0]["net_power_watts"] is None  # nulls kept in sweeps
    assert cap["steps"][0]["held_real_time"] is False
    (entry,) = load_results_file(writer.path).scenarios
    assert entry.mode == "live" and entry.dropped_frames == 0
