"""Results files v2: the older runner's shapes, partial files, the measured-run fields,
and the msgspec fast path agreeing with the json.loads + convert one."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffwatt.contract import loading, schema
from ffwatt.contract.loading import ResultsError, load_results_file
from ffwatt.contract.model import ResultsRun
from ffwatt.contract.schema import FORMAT_VERSION

NAME = "test_results_20260101_000000.json"


def write(directory: Path, document, name: str = NAME) -> Path:
    path = directory / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def load(tmp_path: Path, document) -> ResultsRun:
    return load_results_file(write(tmp_path, document))


# An idle baseline and a mixed-bitrate scenario as the older stack's runner wrote them.
OLD_BASELINE = {
    "name": "Baseline (Idle)", "resolution": "0x0", "encoder_type": "none", "bitrate": "0k", "duration": 60,
    "vmaf_score": 0, "psnr_score": 0, "ssim_score": 0, "avg_fps": 0, "total_frames": 0, "pixels_processed": 0,
    "dropped_frames": 0, "start_time": 1000, "end_time": 1060, "step_seconds": 5.0,
    "power_watts": [40.0] * 13,
}
OLD_MIXED = {
    "name": "3 Streams (Mixed)", "bitrate": "1000k,2500k,5000k", "resolution": "1280x720", "fps": 30,
    "duration": 120, "encoder_type": "libx264", "vmaf_score": 91.0, "start_time": 1100, "end_time": 1220,
}
OLD_NAMES = [
    {"name": "1 Streams @ 1000k", "bitrate": "1000k", "resolution": "1280x720", "fps": 30, "duration": 60,
     "outputs": None, "start_time": 2000, "end_time": 2060},
    {"name": "8 Streams @ 2500k", "bitrate": "2500k", "resolution": "1280x720", "fps": 30, "duration": 60,
     "outputs": None},
    {"name": "Multi-resolution ladder test 1080p+720p+480p @ 2500k", "bitrate": "2500k",
     "resolution": "1920x1080", "fps": 30, "duration": 60,
     "outputs": [{"resolution": "1920x1080"}, {"resolution": "1280x720"}, {"resolution": "854x480"}]},
    {"name": "1 Mbps Stream", "bitrate": "1000k", "resolution": "1280x720", "fps": 30, "duration": 60},
    {"name": "benchmark_laptop", "duration": 30},
]


# ---------------------------------------------------------------- older runner shapes


def test_idle_baseline_written_with_zeros_has_no_quality_but_keeps_its_power(tmp_path):
    run = load(tmp_path, {"scenarios": [OLD_BASELINE]})
    s = run.scenarios[0]
    assert s.is_baseline
    assert (s.vmaf, s.psnr, s.ssim, s.avg_fps) == (None, None, None, None)
    assert (s.width, s.height, s.resolution) == (None, None, "0x0")  # "0x0": no video, the label as written
    assert s.bitrate_bps == 0
    # 13 samples of 40 W every 5 s: 60 s x 40 W = 2400 J
    assert s.energy_joules == pytest.approx(2400.0)
    assert s.mean_power_watts == pytest.approx(40.0)
    assert s.pixels_processed == 0 and s.total_frames == 0


def test_zero_fps_is_accepted_only_for_a_baseline(tmp_path):
    assert load(tmp_path, {"scenarios": [dict(OLD_BASELINE, fps=0)]}).scenarios[0].fps is None
    with pytest.raises(ResultsError, match=r"\$\.scenarios\[0\]\.fps: must be a positive number, got 0"):
        load(tmp_path, {"scenarios": [dict(OLD_MIXED, fps=0)]})


def test_zero_resolution_is_no_video_not_an_error(tmp_path):
    s = load(tmp_path, {"scenarios": [{"name": "encode", "duration": 5, "resolution": "0x0"}]}).scenarios[0]
    assert (s.width, s.height, s.pixels_processed) == (None, None, None)


def test_mixed_bitrates_are_one_per_stream_and_summed(tmp_path):
    s = load(tmp_path, {"scenarios": [OLD_MIXED]}).scenarios[0]
    assert s.streams == 3
    assert s.bitrate == "1000k,2500k,5000k"  # the label as written
    assert s.bitrates_bps == (1_000_000, 2_500_000, 5_000_000)
    assert s.bitrate_bps is None  # no single per-stream bitrate
    assert s.total_bitrate_bps == 8_500_000  # 1000k + 2500k + 5000k


def test_uniform_bitrate_total_is_per_stream_times_streams(tmp_path):
    s = load(tmp_path, {"scenarios": [{"name": "4 streams @ 5000k", "bitrate": "5000k", "duration": 1}]}).scenarios[0]
    assert s.total_bitrate_bps == 20_000_000  # 4 x 5000k


def test_mixed_bitrates_without_a_count_in_the_name_give_the_stream_count(tmp_path):
    s = load(tmp_path, {"scenarios": [{"name": "Mixed", "bitrate": "1000k, 2500k", "duration": 1}]}).scenarios[0]
    assert s.streams == 2


def test_mixed_bitrates_must_match_the_stream_count(tmp_path):
    with pytest.raises(ResultsError) as info:
        load(tmp_path, {"scenarios": [dict(OLD_MIXED, name="2 streams (Mixed)")]})
    assert info.value.json_path == "$.scenarios[0].bitrate"
    assert "gives 3 bitrates (one per stream) for 2 streams" in info.value.reason


def test_mixed_bitrates_name_the_bad_part(tmp_path):
    with pytest.raises(ResultsError, match="invalid bitrate 'fast'"):
        load(tmp_path, {"scenarios": [dict(OLD_MIXED, bitrate="1000k,fast,5000k")]})


def test_every_name_of_the_older_runner_loads(tmp_path):
    run = load(tmp_path, {"scenarios": [OLD_BASELINE, OLD_MIXED, *OLD_NAMES]})
    assert run.skipped == ()
    by_name = {s.name: s for s in run.scenarios}
    assert by_name["1 Streams @ 1000k"].streams == 1
    assert by_name["8 Streams @ 2500k"].streams == 8
    assert by_name["Multi-resolution ladder test 1080p+720p+480p @ 2500k"].streams == 1
    assert len(by_name["Multi-resolution ladder test 1080p+720p+480p @ 2500k"].renditions) == 3
    assert by_name["1 Mbps Stream"].streams == 1
    assert by_name["benchmark_laptop"].encoder is None
    assert [s.is_baseline for s in run.scenarios].count(True) == 1


# ---------------------------------------------------------------- partial files


def test_one_bad_scenario_does_not_blank_the_run(tmp_path):
    run = load(tmp_path, {"scenarios": [
        {"name": "good", "duration": 10},
        {"name": "bad", "duration": -5},
        "not an object",
        {"name": "also good", "duration": 20},
    ]})
    assert [s.name for s in run.scenarios] == ["good", "also good"]
    assert [(e.json_path, e.reason) for e in run.skipped] == [
        ("$.scenarios[1].duration", "must be a non-negative number, got -5"),
        ("$.scenarios[2]", 'must be an object, got "not an object"'),
    ]
    assert all(e.file == NAME for e in run.skipped)


def test_a_file_with_no_valid_scenario_is_refused_naming_the_first(tmp_path):
    with pytest.raises(ResultsError) as info:
        load(tmp_path, {"scenarios": [{"name": "a", "duration": -1}, {"name": "b", "duration": "x"}]})
    assert info.value.json_path == "$.scenarios[0].duration"
    assert info.value.reason.endswith("(and 1 more bad scenario(s))")


@pytest.mark.parametrize("field", ["name", "encoder", "encoder_type", "bitrate", "resolution", "preset", "host"])
def test_a_label_value_over_the_limit_skips_its_scenario_naming_the_field(tmp_path, field):
    long = "x" * 257  # one over the default 256
    bad = {"name": "long", "duration": 10, field: long}
    run = load(tmp_path, {"scenarios": [{"name": "ok", "duration": 10}, bad]})
    assert [s.name for s in run.scenarios] == ["ok"]
    (error,) = run.skipped
    assert error.json_path == f"$.scenarios[1].{field}"
    assert error.reason.startswith("257 characters, over the limit of 256 for a label value (--max-label-length)")
    assert len(str(error)) < 300  # the message never repeats the value


def test_a_source_name_over_the_limit_skips_its_scenario_it_is_the_clip_label(tmp_path):
    bad = {"name": "long", "duration": 10, "source": {"name": "c" * 257, "lavfi": "testsrc2"}}
    run = load(tmp_path, {"scenarios": [{"name": "ok", "duration": 10, "source": {"name": "c" * 256}}, bad]})
    assert [(s.name, len(s.source_name)) for s in run.scenarios] == [("ok", 256)]
    (error,) = run.skipped
    assert error.json_path == "$.scenarios[1].source.name"
    assert error.reason.startswith("257 characters, over the limit of 256 for a label value (--max-label-length)")


def test_the_label_limit_is_a_parameter_and_exactly_the_limit_loads(tmp_path):
    path = write(tmp_path, {"scenarios": [{"name": "a" * 10, "duration": 1}, {"name": "b" * 11, "duration": 1}]})
    run = load_results_file(path, max_label_length=10)
    assert [s.name for s in run.scenarios] == ["a" * 10] and run.skipped[0].json_path == "$.scenarios[1].name"


def test_a_long_sweep_or_not_run_name_refuses_the_file(tmp_path):
    sweep = {"name": "s" * 300, "steps": [{"streams": 1, "scenario": "ok", "held_real_time": True}]}
    with pytest.raises(ResultsError) as info:
        load(tmp_path, {"scenarios": [{"name": "ok", "duration": 1}], "sweeps": [sweep]})
    assert info.value.json_path == "$.sweeps[0].name"
    with pytest.raises(ResultsError) as info:
        load(tmp_path, {"scenarios": [{"name": "ok", "duration": 1}],
                        "not_run": [{"name": "n" * 300, "status": "failed", "reason": "x"}]})
    assert info.value.json_path == "$.not_run[0].name"


def test_a_bad_document_is_still_refused_whole(tmp_path):
    with pytest.raises(ResultsError, match=r"\$\.scenarios: must be an array"):
        load(tmp_path, {"scenarios": {"name": "a"}})


# ---------------------------------------------------------------- measured-run fields


MEASURED = {
    "name": "libx264 @ 2500k", "encoder": "libx264", "bitrate": "2500k", "resolution": "640x360", "fps": 30,
    "duration": 8.0, "start_time": 5000.0, "end_time": 5008.0, "streams": 2, "mode": "file",
    "energy_joules": 412.5, "energy_source": "rapl", "cpu_core_seconds": 13.25, "quality_cpu_seconds": 7.5,
    "vmaf": {"mean": 92.5, "harmonic_mean": 92.1, "min": 80.25, "p1": 84.5, "model": "vmaf_v0.6.1"},
    "psnr": {"mean": 41.5, "min": 36.0}, "ssim": {"mean": 0.981, "min": 0.95},
    "quality_reference": {"reference": "source", "distorted": "encoder_output", "resolution": "640x360",
                          "scaler": "bicubic"},
    "output_bytes": 5_000_000, "measured_bitrate_bps": 2_450_000.0, "speed": 3.25,
    # samples of another meter: the measured energy_joules wins over their trapezoid
    "power_watts": [10.0, 10.0, 10.0], "step_seconds": 4.0, "cpu_usage_cores": [1.0, 1.0, 1.0],
}


def test_measured_energy_wins_over_the_samples_and_keeps_its_source(tmp_path):
    s = load(tmp_path, {"format_version": 2, "scenarios": [MEASURED]}).scenarios[0]
    assert (s.energy_joules, s.energy_source, s.energy_measured) == (412.5, "rapl", True)
    assert s.cpu_core_seconds == 13.25  # measured, not the trapezoid (8 core-s)
    assert s.quality_cpu_seconds == 7.5
    assert s.mean_power_watts == pytest.approx(10.0)  # from the samples


def test_measured_energy_without_samples_gives_mean_power_over_the_duration(tmp_path):
    fields = {k: v for k, v in MEASURED.items() if k not in ("power_watts", "cpu_usage_cores", "step_seconds")}
    s = load(tmp_path, {"scenarios": [fields]}).scenarios[0]
    assert s.mean_power_watts == pytest.approx(412.5 / 8.0)  # 51.5625 W


def test_modelled_energy_is_not_measured(tmp_path):
    s = load(tmp_path, {"scenarios": [dict(MEASURED, energy_source="model")]}).scenarios[0]
    assert s.energy_joules == 412.5 and not s.energy_measured


def test_samples_without_a_source_say_samples(tmp_path):
    s = load(tmp_path, {"scenarios": [{"name": "a", "duration": 2, "power_watts": [1, 1, 1]}]}).scenarios[0]
    assert (s.energy_joules, s.energy_source) == (2.0, "samples")


def test_no_energy_means_no_source(tmp_path):
    s = load(tmp_path, {"scenarios": [{"name": "a", "duration": 2}]}).scenarios[0]
    assert (s.energy_joules, s.energy_source) == (None, None)


@pytest.mark.parametrize(("fields", "json_path", "fragment"), [
    ({"energy_source": "guess"}, "energy_source", "must be one of rapl, nvml, rapl+nvml, model"),
    ({"energy_source": None}, "energy_source", "required with energy_joules"),
    ({"energy_source": "none"}, "energy_source", 'is "none" but energy_joules is 412.5'),
    ({"energy_joules": -1}, "energy_joules", "non-negative number (J), got -1"),
    ({"vmaf": {"mean": 101}}, "vmaf.mean", "from 0 to 100, got 101"),
    ({"vmaf": 90}, "vmaf", "must be an object"),
    ({"ssim": {"min": 2}}, "ssim.min", "from 0 to 1, got 2"),
    ({"vmaf": {"model": 1}}, "vmaf.model", "must be a string"),
    ({"quality_reference": {"reference": 5}}, "quality_reference.reference", "must be a string"),
    ({"repetitions": [{"avg_fps": "fast"}]}, "repetitions[0].avg_fps", 'got "fast"'),
    ({"repetitions": {}}, "repetitions", "must be an array"),
    ({"mode": "stream"}, "mode", 'must be "file" or "live"'),
    ({"output_bytes": 1.5}, "output_bytes", "got 1.5"),
    ({"speed": -1}, "speed", "got -1"),
])
def test_bad_measured_fields_are_named(tmp_path, fields, json_path, fragment):
    with pytest.raises(ResultsError) as info:
        load(tmp_path, {"scenarios": [dict(MEASURED, **fields)]})
    assert info.value.json_path == f"$.scenarios[0].{json_path}", str(info.value)
    assert fragment in info.value.reason


def test_quality_objects_fill_the_plain_scores(tmp_path):
    s = load(tmp_path, {"scenarios": [MEASURED]}).scenarios[0]
    assert (s.vmaf, s.psnr, s.ssim) == (92.5, 41.5, 0.981)
    assert (s.vmaf_stats.harmonic_mean, s.vmaf_stats.min, s.vmaf_stats.p1, s.vmaf_stats.model) == (
        92.1, 80.25, 84.5, "vmaf_v0.6.1")
    assert dict(s.quality_reference) == MEASURED["quality_reference"]
    # the plain score wins when both are given
    s = load(tmp_path, {"scenarios": [dict(MEASURED, vmaf_score=90.0)]}).scenarios[0]
    assert s.vmaf == 90.0


def test_repetitions_give_means_and_a_student_t_half_width(tmp_path):
    reps = [{"energy_joules": 100.0, "avg_fps": 30.0, "duration": 8},
            {"energy_joules": 110.0, "avg_fps": 31.0, "duration": 8},
            {"energy_joules": 120.0, "avg_fps": 29.0, "duration": 8}]
    s = load(tmp_path, {"scenarios": [dict(MEASURED, repetitions=reps)]}).scenarios[0]
    # energy: mean 110, s = 10, half-width = t(0.975, 2) x 10 / sqrt(3) = 4.302653 x 5.773503 = 24.841
    assert s.energy_mean == pytest.approx(110.0) and s.energy_joules == pytest.approx(110.0)
    assert s.energy_ci95 == pytest.approx(24.8414, abs=1e-3)
    # fps: mean 30, s = 1, half-width = 4.302653 / sqrt(3) = 2.48414
    assert s.avg_fps == pytest.approx(30.0)
    assert s.fps_ci95 == pytest.approx(2.48414, abs=1e-4)
    assert len(s.repetitions) == 3


def test_one_repetition_has_no_half_width(tmp_path):
    s = load(tmp_path, {"scenarios": [dict(MEASURED, repetitions=[{"energy_joules": 5.0}])]}).scenarios[0]
    assert (s.energy_joules, s.energy_ci95) == (5.0, None)


def test_run_level_fields(tmp_path):
    run = load(tmp_path, {
        "format_version": 2, "planned_scenarios": 4,
        "environment": {"hostname": "lab1", "cpu_model": "EPYC", "cpu_cores": 2, "kernel": "6.1",
                        "encoder_versions": {"libx264": "164"}, "gpu_model": None, "nested": {"ignored": 1}},
        "not_run": [{"name": "av1", "status": "skipped", "reason": "ffmpeg has no encoder libsvtav1"}],
        "scenarios": [MEASURED],
    })
    assert run.format_version == 2 and run.planned_scenarios == 4
    assert run.environment == {"hostname": "lab1", "cpu_model": "EPYC", "cpu_cores": 2, "kernel": "6.1",
                               "encoder_versions": {"libx264": "164"}}
    assert [(n.name, n.status, n.reason) for n in run.not_run] == [
        ("av1", "skipped", "ffmpeg has no encoder libsvtav1")]


@pytest.mark.parametrize(("document", "json_path", "fragment"), [
    ({"format_version": FORMAT_VERSION + 1, "scenarios": []}, "$.format_version", "upgrade ffwatt"),
    ({"format_version": "2", "scenarios": []}, "$.format_version", "positive integer"),
    ({"environment": [], "scenarios": []}, "$.environment", "must be an object"),
    ({"environment": {"cpu_cores": 0}, "scenarios": []}, "$.environment.cpu_cores", "positive integer"),
    ({"not_run": [{"name": "a", "status": "lost"}], "scenarios": []}, "$.not_run[0].status", '"skipped" or'),
    ({"planned_scenarios": -1, "scenarios": []}, "$.planned_scenarios", "non-negative integer"),
])
def test_bad_run_level_fields_refuse_the_file(tmp_path, document, json_path, fragment):
    with pytest.raises(ResultsError) as info:
        load(tmp_path, document)
    assert info.value.json_path == json_path and fragment in info.value.reason, str(info.value)


# ---------------------------------------------------------------- fast and slow paths agree


def _fast_document(data: bytes):
    return loading._decode_outline(data, loading.DEFAULT_MAX_SCENARIOS, NAME, Path(NAME), fast=True)


def _slow_document(data: bytes):
    return loading._decode_outline(data, loading.DEFAULT_MAX_SCENARIOS, NAME, Path(NAME), fast=False)


def _both_paths(data: bytes):
    return _fast_document(data), _slow_document(data)


def test_every_field_the_parser_reads_is_kept_by_the_fast_decoder(tmp_path):
    document = {"format_version": 2, "test_date": "2026-01-01", "planned_scenarios": 2,
                "environment": {"hostname": "h"}, "not_run": [{"name": "x", "status": "failed", "reason": "r"}],
                "scenarios": [dict(MEASURED, viewers=9, total_frames=480, dropped_frames=1, pixels_processed=5,
                                   preset="fast", outputs=None, avg_fps=31.0, energy_error="e",
                                   repetitions=[{"energy_joules": 1.0}]), OLD_BASELINE, OLD_MIXED]}
    fast, slow = _both_paths(json.dumps(document).encode())
    assert fast is not None, "the fast path gave up on a valid document"
    assert fast == slow


def test_fields_the_parser_reads_are_declared_for_the_fast_decoder():
    # Every entry field the view builder reads (e.<field>) must be declared in the schema,
    # or both paths would silently drop it.
    import re

    source = Path(loading.__file__).read_text(encoding="utf-8")
    body = source[source.index("def _scenario_view("):source.index("def _int(")]
    read = set(re.findall(r"\be\.([a-z_]+)", body))
    assert read and read <= set(schema.SCENARIO_FIELDS), read - set(schema.SCENARIO_FIELDS)


_numbers = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32),
                     st.none(), st.text(max_size=3), st.booleans())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.fixed_dictionaries({"name": st.sampled_from(["a", "b", "c", "2 streams"])}, optional={
    "duration": _numbers, "fps": _numbers, "vmaf_score": _numbers, "energy_joules": _numbers,
    "energy_source": st.sampled_from(["rapl", "model", "none", "x"]), "bitrate": st.sampled_from(
        ["2500k", "0k", "1k,2k", "bad", 5]), "resolution": st.sampled_from(["0x0", "640x360", "x"]),
    "power_watts": st.lists(_numbers, max_size=4), "vmaf": st.fixed_dictionaries({}, optional={"mean": _numbers}),
    "repetitions": st.lists(st.fixed_dictionaries({}, optional={"avg_fps": _numbers}), max_size=3),
}), max_size=4))
def test_fast_and_slow_paths_load_the_same_run(scenarios):
    data = json.dumps({"scenarios": scenarios}).encode()
    try:
        slow = _slow_document(data)
    except loading._PathError as exc:
        slow = str(exc)
    try:
        fast = _fast_document(data)
    except loading._PathError as exc:
        fast = str(exc)
    if fast is None:  # msgspec gave up: the slow path is the answer, nothing to compare
        return
    if isinstance(slow, dict):
        assert isinstance(fast, dict), fast
        assert fast["scenarios"] == slow["scenarios"]
        assert [str(e) for e in fast["skipped"]] == [str(e) for e in slow["skipped"]]
    else:
        assert fast == slow


def test_a_sample_that_overflows_to_infinity_takes_the_slow_path_and_is_named(tmp_path):
    path = tmp_path / NAME
    path.write_text('{"scenarios": [{"name": "a", "duration": 1, "power_watts": [1, 1e400]}]}')
    with pytest.raises(ResultsError) as info:
        load_results_file(path)
    assert info.value.json_path == "$.scenarios[0].power_watts[1]" and "Infinity" in info.value.reason
    assert math.isinf(float("1e400"))


def test_measured_energy_is_spread_over_the_wall_clock_span_not_the_content_duration(tmp_path):
    # a file-mode encode of 12 s of video that took 3 s of wall time and 150 J
    s = load(tmp_path, {"scenarios": [{"name": "x", "duration": 12, "start_time": 100.0, "end_time": 103.0,
                                       "energy_joules": 150.0, "energy_source": "model"}]}).scenarios[0]
    assert s.measured_seconds == 3.0
    assert s.mean_power_watts == pytest.approx(50.0)  # 150 J / 3 s, not / 12 s


# ---------------------------------------------------------------- live scenarios and capacity sweeps


LIVE_STEP = {"name": "live @ 2 streams", "encoder": "libx264", "bitrate": "400k", "resolution": "320x180",
             "fps": 30, "duration": 6, "streams": 2, "mode": "live", "sweep": "live", "dropped_frames": 3,
             "total_frames": 360, "duplicated_frames": 4, "fell_behind_streams": 1, "min_speed": 0.962}
SWEEP = {"name": "live", "knee_streams": 1, "marginal_joules_per_stream": -2.5, "steps": [
    {"streams": 1, "scenario": "live @ 1 streams", "held_real_time": True, "energy_joules": 100.0,
     "net_power_watts": -1.5, "min_speed": 1.0, "vmaf": 95.0},
    {"streams": 2, "scenario": "live @ 2 streams", "held_real_time": False, "energy_joules": None,
     "net_power_watts": None, "min_speed": 0.962, "vmaf": None},
]}


def test_live_fields_and_sweeps_load(tmp_path):
    run = load(tmp_path, {"format_version": 2, "scenarios": [LIVE_STEP], "sweeps": [SWEEP]})
    s = run.scenarios[0]
    assert (s.mode, s.duplicated_frames, s.fell_behind_streams, s.min_speed, s.sweep) == ("live", 4, 1, 0.962, "live")
    (sweep,) = run.sweeps
    assert (sweep.name, sweep.knee_streams, sweep.marginal_joules_per_stream) == ("live", 1, -2.5)
    assert [(st.streams, st.held_real_time, st.energy_joules, st.net_power_watts) for st in sweep.steps] == [
        (1, True, 100.0, -1.5), (2, False, None, None)]  # unknown stays unknown; a negative net power is kept


@pytest.mark.parametrize(("document", "json_path", "fragment"), [
    ({"sweeps": {}}, "$.sweeps", "must be an array"),
    ({"sweeps": [{"name": "x", "steps": [{"streams": 0, "scenario": "a", "held_real_time": True}]}]},
     "$.sweeps[0].steps[0].streams", "positive integer"),
    ({"sweeps": [{"name": "x", "steps": [{"streams": 1, "scenario": "a", "held_real_time": "yes"}]}]},
     "$.sweeps[0].steps[0].held_real_time", "true or false"),
    ({"sweeps": [{"name": "x", "steps": [], "knee_streams": 0}]}, "$.sweeps[0].knee_streams", "positive integer"),
])
def test_bad_sweeps_refuse_the_file(tmp_path, document, json_path, fragment):
    with pytest.raises(ResultsError) as info:
        load(tmp_path, {"scenarios": [LIVE_STEP], **document})
    assert info.value.json_path == json_path and fragment in info.value.reason, str(info.value)


def test_more_streams_behind_than_streams_is_refused(tmp_path):
    with pytest.raises(ResultsError, match=r"fell_behind_streams: must not exceed the stream count \(2\), got 3"):
        load(tmp_path, {"scenarios": [dict(LIVE_STEP, fell_behind_streams=3)]})


# ---------------------------------------------------------------- duplicate keys, scenario cap (issue 24)


def _text_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / NAME
    path.write_text(text, encoding="utf-8")
    return path


def test_a_duplicate_key_in_a_scenario_skips_it_naming_the_key(tmp_path):
    samples = ", ".join(["1.5"] * 100)  # long enough for the sample arrays to be cut out of the check
    text = ('{"scenarios": [{"name": "a", "duration": 5, "power_watts": [' + samples + ']},'
            ' {"name": "b", "duration": 5, "power_watts": [' + samples + '], "duration": 7}]}')
    run = load_results_file(_text_file(tmp_path, text))
    assert [s.name for s in run.scenarios] == ["a"]
    (err,) = run.skipped
    assert (err.json_path, err.reason) == ("$.scenarios[1]", 'duplicate key "duration"')


def test_a_duplicate_key_in_a_nested_object_is_named_where_it_is(tmp_path):
    text = ('{"scenarios": [{"name": "a", "duration": 5},'
            ' {"name": "b", "duration": 5, "vmaf": {"mean": 90, "mean": 10}}]}')
    (err,) = load_results_file(_text_file(tmp_path, text)).skipped
    assert (err.json_path, err.reason) == ("$.scenarios[1].vmaf", 'duplicate key "mean"')


def test_a_duplicate_sample_array_is_a_duplicate_key(tmp_path):
    samples = ", ".join(["2"] * 100)
    text = ('{"scenarios": [{"name": "a", "duration": 5}, {"name": "b", "duration": 5, "power_watts": ['
            + samples + '], "power_watts": [' + samples + ']}]}')
    (err,) = load_results_file(_text_file(tmp_path, text)).skipped
    assert (err.json_path, err.reason) == ("$.scenarios[1]", 'duplicate key "power_watts"')


@pytest.mark.parametrize(("text", "json_path", "key"), [
    ('{"test_date": "x", "scenarios": [{"name": "a", "duration": 5}], "test_date": "y"}', "$", "test_date"),
    ('{"scenarios": [], "scenarios": [{"name": "a", "duration": 5}]}', "$", "scenarios"),
    ('{"scenarios": [{"name": "a", "duration": 5}], "scenarios": [{"name": "a", "duration": 5}]}', "$", "scenarios"),
    ('{"environment": {"hostname": "a", "hostname": "b"}, "scenarios": [{"name": "a", "duration": 5}]}',
     "$.environment", "hostname"),
    ('{"not_run": [{"name": "x", "status": "failed", "status": "skipped"}], "scenarios": []}', "$.not_run[0]",
     "status"),
    # NaN elsewhere sends the whole file down the slow path: the duplicate is still found
    ('{"x": NaN, "format_version": 1, "format_version": 2, "scenarios": []}', "$", "format_version"),
])
def test_a_duplicate_key_outside_the_scenarios_refuses_the_file(tmp_path, text, json_path, key):
    with pytest.raises(ResultsError) as info:
        load_results_file(_text_file(tmp_path, text))
    assert (info.value.json_path, info.value.reason) == (json_path, f'duplicate key "{key}"'), str(info.value)


def test_equal_keys_in_different_objects_are_not_duplicates(tmp_path):
    text = ('{"scenarios": [{"name": "a", "duration": 5, "vmaf": {"mean": 90}, "psnr": {"mean": 40}},'
            ' {"name": "b", "duration": 5}], "environment": {"name": "a"}}')
    run = load_results_file(_text_file(tmp_path, text))
    assert [s.name for s in run.scenarios] == ["a", "b"] and run.skipped == ()


def test_more_scenarios_than_the_cap_refuse_the_file_with_the_reason(tmp_path):
    document = {"scenarios": [{"name": f"s{i}", "duration": 1} for i in range(11)]}
    path = write(tmp_path, document)
    with pytest.raises(ResultsError) as info:
        load_results_file(path, max_scenarios=10)
    assert info.value.json_path == "$.scenarios"
    assert info.value.reason.startswith("11 scenarios, over the limit of 10")
    assert len(load_results_file(path, max_scenarios=11).scenarios) == 11
    assert loading.DEFAULT_MAX_SCENARIOS == 100_000


def test_the_cap_holds_on_the_slow_path_too(tmp_path):
    text = '{"x": NaN, "scenarios": [' + ", ".join(f'{{"name": "s{i}", "duration": 1}}' for i in range(3)) + "]}"
    with pytest.raises(ResultsError, match=r"\$\.scenarios: 3 scenarios, over the limit of 2"):
        load_results_file(_text_file(tmp_path, text), max_scenarios=2)


def test_a_200000_scenario_file_is_refused_in_little_memory(tmp_path):
    # In a fresh process, so that its peak resident memory (VmHWM) is this load's own.
    import subprocess
    import sys

    path = tmp_path / NAME
    with path.open("w", encoding="utf-8") as f:
        f.write('{"scenarios": [')
        f.write(", ".join(f'{{"name": "s{i}", "duration": 1, "encoder": "libx264", "resolution": "1280x720"}}'
                          for i in range(200_000)))
        f.write("]}")
    code = (
        "import sys\n"
        "from ffwatt.contract.loading import ResultsError, load_results_file\n"
        "try:\n"
        "    load_results_file(sys.argv[1])\n"
        "except ResultsError as exc:\n"
        "    print(exc.json_path, exc.reason)\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])\n"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=repo,
                         env={"PYTHONPATH": str(repo)}, timeout=120, check=True).stdout.splitlines()
    assert out[0].startswith("$.scenarios 200000 scenarios, over the limit of 100000"), out
    assert int(out[1]) * 1024 < 400 * 1024 * 1024, f"peak RSS {int(out[1]) // 1024} MiB"
