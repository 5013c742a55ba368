"""contract.loading, contract.results_dir: both shapes, the sample files, the directory, and bad input."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ffwatt.contract import formulas, results_dir
from ffwatt.contract.formulas import Rendition
from ffwatt.contract.loading import DEFAULT_MAX_BYTES, ResultsError, load_results_file
from ffwatt.contract.model import Scenario
from ffwatt.contract.results_dir import ResultsDirectory, results_file_timestamp

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "test_results"
RUNNER_SAMPLE = SAMPLES / "test_results_20260115_100000.json"
ENRICHED_SAMPLE = SAMPLES / "test_results_20260115_120000.json"
SAMPLE_NAMES = ["2 streams @ 2500k", "4 streams @ 5000k", "single stream @ 1500k", "baseline idle"]

NAME = "test_results_20260101_000000.json"


def write(directory: Path, content, name: str = NAME) -> Path:
    """Write a document (dict/list, dumped as JSON), text or bytes to directory/name."""
    path = directory / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


def doc(*scenarios: dict, **top) -> dict:
    return {**top, "scenarios": list(scenarios)}


def scenario(**fields) -> dict:
    base = {"name": "s", "duration": 10}
    base.update(fields)
    return base


def expect_error(path: Path, json_path: str, *fragments: str, **kwargs) -> ResultsError:
    with pytest.raises(ResultsError) as info:
        load_results_file(path, **kwargs)
    err = info.value
    assert err.file == path.name
    assert err.json_path == json_path, str(err)
    for fragment in fragments:
        assert fragment in err.reason, str(err)
    assert str(err) == f"{path.name}: {json_path}: {err.reason}"
    return err


def expect_skipped(path: Path, json_path: str, *fragments: str) -> ResultsError:
    """The file loads; exactly one scenario was skipped, named by ``json_path``."""
    run = load_results_file(path)
    assert len(run.skipped) == 1, run.skipped
    err = run.skipped[0]
    assert (err.file, err.json_path) == (path.name, json_path), str(err)
    for fragment in fragments:
        assert fragment in err.reason, str(err)
    assert str(err) == f"{path.name}: {json_path}: {err.reason}"
    return err


# ---------------------------------------------------------------- shapes


def test_shape1_runner_file(tmp_path):
    path = write(
        tmp_path,
        doc(
            {
                "name": "2 streams @ 2500k",
                "bitrate": "2500k",
                "resolution": "1280x720",
                "fps": 30,
                "duration": 300,
                "encoder": "h264",
                "preset": "fast",
                "start_time": 1000,
                "end_time": 1300,
                "outputs": None,
                "vmaf_score": 93.5,
                "psnr_score": 40.25,
            },
            test_date="2026-01-01T00:00:00",
        ),
    )
    run = load_results_file(path)
    assert run.shape == "runner"
    assert run.test_date == "2026-01-01T00:00:00"
    assert run.path == path
    assert run.size == path.stat().st_size
    assert run.mtime_ns == path.stat().st_mtime_ns
    (s,) = run.scenarios
    assert (s.name, s.encoder, s.bitrate, s.bitrate_bps, s.preset) == (
        "2 streams @ 2500k",
        "h264",
        "2500k",
        2_500_000,
        "fast",
    )
    assert (s.resolution, s.width, s.height, s.fps, s.duration_seconds) == ("1280x720", 1280, 720, 30.0, 300.0)
    assert (s.start_time, s.end_time, s.outputs, s.streams) == (1000.0, 1300.0, (), 2)
    assert (s.vmaf, s.psnr, s.ssim, s.avg_fps, s.total_frames, s.viewers) == (93.5, 40.25, None, None, None, None)
    assert s.power_watts == () and s.energy_joules is None and s.mean_power_watts is None
    assert s.viewer_count == 2
    # 1280 x 720 x 30 x 300 x 2 streams
    assert s.pixels_processed == 16_588_800_000
    assert not s.is_baseline
    assert run.baseline is None


def test_shape2_enriched_file(tmp_path):
    path = write(
        tmp_path,
        doc(
            {
                "name": "single stream @ 1500k",
                "duration": 10,
                "bitrate": "1500k",
                "encoder_type": "libx264",
                "resolution": "854x480",
                "vmaf_score": 88,
                "psnr_score": 38.5,
                "ssim_score": 0.96,
                "avg_fps": 29.9,
                "dropped_frames": 1,
                "total_frames": 299,
                "pixels_processed": 122_566_080,
                "start_time": 50,
                "end_time": 60,
                "power_watts": [60, 70, 80],
                "cpu_usage_cores": [1, 1.5, 2],
                "step_seconds": 5.0,
                "viewers": 12,
            },
            test_metadata={"test_date": "2026-01-02T03:04:05", "host": "x"},
        ),
    )
    run = load_results_file(path)
    assert run.shape == "enriched"
    assert run.test_date == "2026-01-02T03:04:05"
    (s,) = run.scenarios
    assert s.encoder == "libx264"
    assert s.fps is None
    assert (s.vmaf, s.psnr, s.ssim, s.avg_fps) == (88.0, 38.5, 0.96, 29.9)
    assert (s.dropped_frames, s.total_frames, s.pixels_processed, s.viewers) == (1, 299, 122_566_080, 12)
    assert s.power_watts == (60.0, 70.0, 80.0)
    # 5 x (60/2 + 70 + 80/2) = 700 J; mean = 700 / 10 = 70 W; cores: 5 x (0.5 + 1.5 + 1) = 15
    assert s.energy_joules == pytest.approx(700.0)
    assert s.mean_power_watts == pytest.approx(70.0)
    assert s.cpu_core_seconds == pytest.approx(15.0)
    assert s.viewer_count == 12


def test_pixels_computed_from_measured_frames_when_absent(tmp_path):
    path = write(tmp_path, doc(scenario(resolution="854x480", total_frames=299)))
    # 854 x 480 x 299 = 122_566_080 (no fps in the file)
    assert load_results_file(path).scenarios[0].pixels_processed == 122_566_080


def test_output_ladder(tmp_path):
    path = write(
        tmp_path,
        doc(
            scenario(
                name="2 streams @ 5000k",
                resolution="1920x1080",
                fps=30,
                duration=10,
                outputs=[{"resolution": "1920x1080"}, {"resolution": "640x360", "fps": 15}],
            )
        ),
    )
    s = load_results_file(path).scenarios[0]
    assert s.outputs == (Rendition(1920, 1080, 30.0), Rendition(640, 360, 15.0))
    assert s.renditions == s.outputs
    # (2_073_600 x 30 x 10 + 230_400 x 15 x 10) x 2 = (622_080_000 + 34_560_000) x 2 = 1_313_280_000
    assert s.pixels_processed == 1_313_280_000


def test_encoder_and_encoder_type_are_one_field(tmp_path):
    same = write(tmp_path, doc(scenario(encoder="libx265", encoder_type="libx265")))
    assert load_results_file(same).scenarios[0].encoder == "libx265"
    other = write(tmp_path, doc(scenario(encoder="libx265", encoder_type="h264")), "test_results_20260101_000001.json")
    expect_error(other, "$.scenarios[0].encoder_type", "conflicts with encoder")


def test_unknown_fields_are_ignored(tmp_path):
    path = write(
        tmp_path,
        {
            "scenarios": [scenario(future_field={"x": [1, 2]}, gpu_watts=[1, 2])],
            "extra": True,
            "test_metadata": {"a": 1},
        },
    )
    run = load_results_file(path)
    assert len(run.scenarios) == 1 and run.test_date is None


def test_duration_derived_from_times(tmp_path):
    path = write(tmp_path, doc({"name": "a", "start_time": 100, "end_time": 160.5}))
    assert load_results_file(path).scenarios[0].duration_seconds == 60.5


def test_streams_field_beats_the_name(tmp_path):
    path = write(tmp_path, doc(scenario(name="4 streams @ 5000k", streams=3), scenario(name="4 streams @ 1k")))
    a, b = load_results_file(path).scenarios
    assert (a.streams, b.streams) == (3, 4)


def test_step_derived_from_duration(tmp_path):
    path = write(tmp_path, doc(scenario(duration=20, power_watts=[10, 10, 10, 10, 10])))
    s = load_results_file(path).scenarios[0]
    # 5 samples over 20 s: step 5 s; 10 W x 20 s = 200 J
    assert s.step_seconds == 5.0
    assert s.energy_joules == pytest.approx(200.0)


def test_baseline_detection(tmp_path):
    path = write(
        tmp_path,
        doc(
            scenario(name="enc"),
            scenario(name="Idle host"),
            scenario(name="baseline idle"),
            scenario(name="quiet", encoder="None"),
        ),
    )
    run = load_results_file(path)
    assert [s.is_baseline for s in run.scenarios] == [False, True, True, True]
    assert run.baseline.name == "Idle host"  # the first one
    assert run.scenario("quiet").encoder == "None"
    assert run.scenario("missing") is None


def test_empty_arrays_are_valid(tmp_path):
    path = write(tmp_path, doc(scenario(power_watts=[], cpu_usage_cores=[], outputs=[], resolution="640x360", fps=25)))
    s = load_results_file(path).scenarios[0]
    assert s.power_watts == () and s.energy_joules is None and s.mean_power_watts is None
    assert s.cpu_core_seconds is None
    # outputs [] means a single output: 640 x 360 x 25 x 10 = 57_600_000
    assert s.pixels_processed == 57_600_000
    empty = write(tmp_path, doc(), "test_results_20260101_000001.json")
    assert load_results_file(empty).scenarios == ()


def test_one_power_sample_means_unknown_energy(tmp_path):
    path = write(tmp_path, doc(scenario(power_watts=[50], step_seconds=5)))
    s = load_results_file(path).scenarios[0]
    assert s.energy_joules is None
    assert s.mean_power_watts == 50.0


def test_integral_floats_count_as_integers(tmp_path):
    path = write(tmp_path, doc(scenario(total_frames=18000.0, dropped_frames=3.0, viewers=2.0)))
    s = load_results_file(path).scenarios[0]
    assert (s.total_frames, s.dropped_frames, s.viewers) == (18000, 3, 2)
    assert type(s.total_frames) is int


def test_quotes_and_newlines_in_names_are_kept(tmp_path):
    names = ['say "hi"', "two\nlines", "back\\slash", "tab\there", "caf\u00e9 \u2603"]
    path = write(tmp_path, doc(*(scenario(name=n) for n in names)))
    assert [s.name for s in load_results_file(path).scenarios] == names


def test_utf8_byte_order_mark_is_tolerated(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf" + json.dumps(doc(scenario())).encode())
    assert len(load_results_file(path).scenarios) == 1


def test_scenario_built_directly_computes_derived_values():
    s = Scenario(
        name="x", duration_seconds=10.0, power_watts=(10.0, 30.0), step_seconds=10.0, width=2, height=2, fps=1.0
    )
    # 10 x (10/2 + 30/2) = 200 J; pixels 2 x 2 x 1 x 10 = 40
    assert s.energy_joules == pytest.approx(200.0)
    assert s.mean_power_watts == pytest.approx(20.0)
    assert s.pixels_processed == 40


def test_results_error_is_picklable():
    err = ResultsError("f.json", "$.a", "bad")
    again = pickle.loads(pickle.dumps(err))
    assert (again.file, again.json_path, again.reason, str(again)) == ("f.json", "$.a", "bad", "f.json: $.a: bad")


# ---------------------------------------------------------------- sample files


def test_sample_files_load_and_newest_is_the_enriched_one():
    runner = load_results_file(RUNNER_SAMPLE, results_dir=SAMPLES)
    enriched = load_results_file(ENRICHED_SAMPLE, results_dir=SAMPLES)
    assert (runner.shape, enriched.shape) == ("runner", "enriched")
    assert [s.name for s in runner.scenarios] == SAMPLE_NAMES
    assert [s.name for s in enriched.scenarios] == SAMPLE_NAMES
    assert ResultsDirectory(SAMPLES).newest() == ENRICHED_SAMPLE
    for run in (runner, enriched):
        assert run.baseline is run.scenarios[3]
        assert [s.is_baseline for s in run.scenarios] == [False, False, False, True]
        assert [s.streams for s in run.scenarios] == [2, 4, 1, 1]
        assert [s.duration_seconds for s in run.scenarios] == [300, 300, 300, 120]
        previous_end = 0.0
        for s in run.scenarios:
            assert s.end_time - s.start_time == s.duration_seconds
            assert s.start_time >= previous_end  # scenarios run one after another
            previous_end = s.end_time


def test_runner_sample_is_consistent():
    run = load_results_file(RUNNER_SAMPLE)
    two, four, single, idle = run.scenarios
    assert two.pixels_processed == 1280 * 720 * 30 * 300 * 2
    # the 5000k scenario has a three-rung ladder
    assert four.outputs == (Rendition(1920, 1080, 30.0), Rendition(1280, 720, 30.0), Rendition(854, 480, 30.0))
    assert four.pixels_processed == (1920 * 1080 + 1280 * 720 + 854 * 480) * 30 * 300 * 4
    assert single.vmaf is None and two.vmaf is not None
    assert idle.encoder == "none" and idle.bitrate_bps == 0 and idle.pixels_processed is None
    assert all(s.power_watts == () for s in run.scenarios)  # shape 1: energy from the TSDB


@pytest.mark.parametrize(
    ("index", "low", "high"),
    [(0, 100.0, 120.0), (1, 165.0, 195.0), (2, 62.0, 78.0), (3, 40.0, 50.0)],
)
def test_enriched_sample_power_is_plausible(index, low, high):
    s = load_results_file(ENRICHED_SAMPLE).scenarios[index]
    assert low <= s.mean_power_watts <= high
    assert all(low - 15 <= w <= high + 15 for w in s.power_watts)
    assert len(set(s.power_watts)) > 5  # noisy, not a constant


def test_enriched_sample_is_consistent():
    run = load_results_file(ENRICHED_SAMPLE)
    fps = 30.0
    for s in run.scenarios:
        # samples every 5 s spanning the duration, first at start, last at end
        assert s.step_seconds == 5.0
        assert len(s.power_watts) == s.duration_seconds / s.step_seconds + 1
        assert len(s.cpu_usage_cores) == len(s.power_watts)
        assert (len(s.power_watts) - 1) * s.step_seconds == s.end_time - s.start_time
        assert s.energy_joules == pytest.approx(s.mean_power_watts * s.duration_seconds)
        assert s.dropped_frames <= s.total_frames
        if s.is_baseline:
            assert s.total_frames == 0 and s.pixels_processed == 0 and s.vmaf is None
            continue
        # total_frames are summed over all streams: about fps x duration x streams
        assert s.total_frames == pytest.approx(fps * s.duration_seconds * s.streams, rel=0.01)
        assert s.avg_fps == pytest.approx(fps, rel=0.01)
        assert s.total_frames == pytest.approx(s.avg_fps * s.duration_seconds * s.streams, abs=s.streams)
        assert s.dropped_frames / s.total_frames < 0.01
        assert s.pixels_processed == s.width * s.height * s.total_frames
        assert s.pixels_processed == formulas.pixels_processed(
            s.renditions, s.duration_seconds, s.streams, s.total_frames
        )
        assert 80 <= s.vmaf <= 100 and 30 <= s.psnr <= 50 and 0.9 <= s.ssim <= 1
    viewers = {s.name: s.viewers for s in run.scenarios}
    assert viewers == {
        "2 streams @ 2500k": 40,
        "4 streams @ 5000k": 250,
        "single stream @ 1500k": None,
        "baseline idle": None,
    }
    # the heavier the scenario, the more power and CPU
    two, four, single, idle = run.scenarios
    assert idle.mean_power_watts < single.mean_power_watts < two.mean_power_watts < four.mean_power_watts
    assert idle.cpu_core_seconds < single.cpu_core_seconds < two.cpu_core_seconds < four.cpu_core_seconds
    # net power over the idle baseline: about 110 - 45 = 65 W
    assert formulas.net_power(two.mean_power_watts, run.baseline.mean_power_watts) == pytest.approx(65.0, abs=3)


def test_sample_files_are_regenerated_identically(tmp_path):
    script = REPO / "scripts" / "make_sample_results.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True, capture_output=True)
    for sample in (RUNNER_SAMPLE, ENRICHED_SAMPLE):
        assert (tmp_path / sample.name).read_bytes() == sample.read_bytes(), f"{sample.name} is stale: rerun the script"


# ---------------------------------------------------------------- directory


def set_mtime(path: Path, seconds: int) -> None:
    os.utime(path, ns=(seconds * 10**9, seconds * 10**9))


def test_results_file_timestamp():
    assert results_file_timestamp("test_results_20260115_120000.json").isoformat() == "2026-01-15T12:00:00"
    assert results_file_timestamp("test_results_20261399_000000.json") is None  # month 13
    assert results_file_timestamp("test_results_latest.json") is None


def test_newest_is_by_name_timestamp_not_mtime(tmp_path):
    older = write(tmp_path, doc(), "test_results_20260101_000000.json")
    newer = write(tmp_path, doc(), "test_results_20260102_000000.json")
    set_mtime(older, 2_000_000_000)  # touched later, but the name says older
    set_mtime(newer, 1_000_000_000)
    assert ResultsDirectory(tmp_path).newest() == newer


def test_newest_ties_by_mtime_and_skips_non_files(tmp_path):
    a = write(tmp_path, doc(), "test_results_20260101_000000.json")
    b = write(tmp_path, doc(), "run_b_test_results_20260101_000000.json")
    (tmp_path / "test_results_20260109_000000.json").mkdir()  # a directory: skipped
    write(tmp_path, doc(), "test_results_latest.json")  # no timestamp: ranks last
    directory = ResultsDirectory(tmp_path, pattern="*test_results_*.json")
    set_mtime(a, 1_000_000_100)
    set_mtime(b, 1_000_000_000)
    assert directory.newest() == a
    set_mtime(b, 1_000_000_200)
    assert directory.newest() == b


def test_files_without_timestamp_rank_by_mtime(tmp_path):
    x = write(tmp_path, doc(), "test_results_x.json")
    y = write(tmp_path, doc(), "test_results_y.json")
    set_mtime(x, 1_000_000_500)
    set_mtime(y, 1_000_000_000)
    assert ResultsDirectory(tmp_path).newest() == x
    stamped = write(tmp_path, doc(), "test_results_20000101_000000.json")
    set_mtime(stamped, 900_000_000)
    assert ResultsDirectory(tmp_path).newest() == stamped


def test_no_files_or_no_directory(tmp_path):
    assert ResultsDirectory(tmp_path).newest() is None
    assert ResultsDirectory(tmp_path).load_if_changed() is None
    assert ResultsDirectory(tmp_path / "missing").newest() is None
    write(tmp_path, doc(), "other.json")
    assert ResultsDirectory(tmp_path).newest() is None


@pytest.fixture
def load_calls(monkeypatch):
    calls: list[Path] = []
    real = results_dir.load_results_file

    def counting(path, **kwargs):
        calls.append(Path(path))
        return real(path, **kwargs)

    monkeypatch.setattr(results_dir, "load_results_file", counting)
    return calls


def test_reload_only_on_change(tmp_path, load_calls):
    first = write(tmp_path, doc(scenario(name="a")), "test_results_20260101_000000.json")
    set_mtime(first, 1_000_000_000)
    directory = ResultsDirectory(tmp_path)
    run = directory.load_if_changed()
    assert run is not None and directory.current is run
    assert [s.name for s in run.scenarios] == ["a"]
    assert directory.load_if_changed() is None
    assert directory.load_if_changed() is None
    assert load_calls == [first]

    # same size, new mtime: reloaded
    write(tmp_path, doc(scenario(name="b")), first.name)
    set_mtime(first, 1_000_000_010)
    run = directory.load_if_changed()
    assert [s.name for s in run.scenarios] == ["b"]
    assert len(load_calls) == 2

    # same mtime, new size: reloaded
    write(tmp_path, doc(scenario(name="bb")), first.name)
    set_mtime(first, 1_000_000_010)
    assert [s.name for s in directory.load_if_changed().scenarios] == ["bb"]
    assert len(load_calls) == 3

    # a newer file appears: it becomes current
    second = write(tmp_path, doc(scenario(name="c")), "test_results_20260102_000000.json")
    assert [s.name for s in directory.load_if_changed().scenarios] == ["c"]
    assert directory.current.path == second
    assert directory.load_if_changed() is None
    assert len(load_calls) == 4

    # the newer file is removed: back to the first one, reloaded once
    second.unlink()
    assert directory.load_if_changed().path == first
    assert directory.load_if_changed() is None
    assert len(load_calls) == 5


def test_bad_newest_file_keeps_last_good_run(tmp_path, load_calls):
    good = write(tmp_path, doc(scenario(name="good")), "test_results_20260101_000000.json")
    directory = ResultsDirectory(tmp_path)
    good_run = directory.load_if_changed()
    bad = write(tmp_path, doc(scenario(name="bad", duration=-5)), "test_results_20260102_000000.json")
    set_mtime(bad, 1_000_000_000)

    with pytest.raises(ResultsError) as info:
        directory.load_if_changed()
    assert (info.value.file, info.value.json_path) == (bad.name, "$.scenarios[0].duration")
    assert directory.current is good_run
    assert directory.last_error is info.value

    # the same broken version is not parsed again and not reported again
    assert directory.load_if_changed() is None
    assert directory.load_if_changed() is None
    assert directory.current is good_run
    assert directory.last_error is info.value
    assert load_calls == [good, bad]

    # another broken version of it is reported once
    write(tmp_path, doc(scenario(name="bad", duration=-6)), bad.name)
    set_mtime(bad, 1_000_000_001)
    with pytest.raises(ResultsError, match="got -6"):
        directory.load_if_changed()
    assert directory.load_if_changed() is None
    assert len(load_calls) == 3

    # fixed: loads, error cleared
    write(tmp_path, doc(scenario(name="fixed")), bad.name)
    set_mtime(bad, 1_000_000_002)
    run = directory.load_if_changed()
    assert [s.name for s in run.scenarios] == ["fixed"]
    assert directory.current is run and directory.last_error is None


def test_bad_file_removed_clears_the_error(tmp_path):
    write(tmp_path, doc(scenario(name="good")), "test_results_20260101_000000.json")
    directory = ResultsDirectory(tmp_path)
    good_run = directory.load_if_changed()
    bad = write(tmp_path, "{", "test_results_20260102_000000.json")
    with pytest.raises(ResultsError):
        directory.load_if_changed()
    bad.unlink()
    assert directory.load_if_changed() is None  # the good file did not change
    assert directory.current is good_run
    assert directory.last_error is None


def test_first_file_bad_means_no_current_run(tmp_path):
    write(tmp_path, b"\xff\xfe", "test_results_20260101_000000.json")
    directory = ResultsDirectory(tmp_path)
    with pytest.raises(ResultsError, match="UTF-8"):
        directory.load_if_changed()
    assert directory.current is None


# ---------------------------------------------------------------- bad input corpus


BAD_DOCUMENTS = [
    # (id, document, json path, reason fragment)
    ("top-level array", [], "$", "must be an object with a scenarios array, got an array"),
    ("top-level number", 5, "$", "got 5"),
    ("no scenarios", {"test_date": "x"}, "$.scenarios", "required field is missing"),
    ("scenarios object", {"scenarios": {}}, "$.scenarios", "must be an array, got an object"),
    ("scenarios null", {"scenarios": None}, "$.scenarios", "must be an array, got null"),
    ("scenario not object", doc(scenario(), 3), "$.scenarios[1]", "must be an object, got 3"),
    ("test_metadata array", {"test_metadata": [], "scenarios": []}, "$.test_metadata", "must be an object"),
    ("test_date number", doc(test_date=5), "$.test_date", "must be a string, got 5"),
    (
        "metadata test_date",
        {"test_metadata": {"test_date": []}, "scenarios": []},
        "$.test_metadata.test_date",
        "string",
    ),
    ("name missing", doc({"duration": 1}), "$.scenarios[0].name", "required field is missing"),
    ("name number", doc(scenario(name=5)), "$.scenarios[0].name", "must be a non-empty string, got 5"),
    ("name null", doc(scenario(name=None)), "$.scenarios[0].name", "got null"),
    ("name empty", doc(scenario(name="")), "$.scenarios[0].name", 'must be a non-empty string, got ""'),
    ("name blank", doc(scenario(name=" \n")), "$.scenarios[0].name", "non-empty"),
    (
        "duplicate name",
        doc(scenario(name="a"), scenario(name="b"), scenario(name="a")),
        "$.scenarios[2].name",
        'duplicate scenario name "a" (first at $.scenarios[0])',
    ),
    (
        "duration string",
        doc(scenario(duration="300")),
        "$.scenarios[0].duration",
        'must be a non-negative number, got "300"',
    ),
    ("duration bool", doc(scenario(duration=True)), "$.scenarios[0].duration", "got true"),
    ("duration negative", doc(scenario(duration=-0.5)), "$.scenarios[0].duration", "got -0.5"),
    ("duration missing", doc({"name": "a", "start_time": 5}), "$.scenarios[0].duration", "required field is missing"),
    ("fps zero", doc(scenario(fps=0)), "$.scenarios[0].fps", "must be a positive number, got 0"),
    ("fps string", doc(scenario(fps="30")), "$.scenarios[0].fps", 'got "30"'),
    ("start negative", doc(scenario(start_time=-1)), "$.scenarios[0].start_time", "non-negative"),
    (
        "end before start",
        doc(scenario(start_time=100, end_time=99)),
        "$.scenarios[0].end_time",
        "must not be before start_time (100), got 99",
    ),
    ("bitrate float", doc(scenario(bitrate=2.5)), "$.scenarios[0].bitrate", "got 2.5"),
    ("bitrate garbage", doc(scenario(bitrate="fast")), "$.scenarios[0].bitrate", "invalid bitrate 'fast'"),
    ("bitrate negative int", doc(scenario(bitrate=-1)), "$.scenarios[0].bitrate", "got -1"),
    ("resolution garbage", doc(scenario(resolution="big")), "$.scenarios[0].resolution", "invalid resolution 'big'"),
    ("resolution number", doc(scenario(resolution=720)), "$.scenarios[0].resolution", "must be a string, got 720"),
    ("encoder number", doc(scenario(encoder=264)), "$.scenarios[0].encoder", "must be a string"),
    ("encoder_type list", doc(scenario(encoder_type=["x"])), "$.scenarios[0].encoder_type", "got an array"),
    ("preset number", doc(scenario(preset=1)), "$.scenarios[0].preset", "must be a string"),
    ("outputs object", doc(scenario(outputs={})), "$.scenarios[0].outputs", "must be null or an array"),
    ("output not object", doc(scenario(outputs=["1280x720"])), "$.scenarios[0].outputs[0]", "must be an object"),
    (
        "output no resolution",
        doc(scenario(outputs=[{"resolution": "1x1"}, {"fps": 30}])),
        "$.scenarios[0].outputs[1].resolution",
        "required field is missing",
    ),
    (
        "output bad fps",
        doc(scenario(outputs=[{"resolution": "1x1", "fps": 0}])),
        "$.scenarios[0].outputs[0].fps",
        "positive",
    ),
    (
        "output bad resolution",
        doc(scenario(outputs=[{"resolution": "1x"}])),
        "$.scenarios[0].outputs[0].resolution",
        "invalid resolution",
    ),
    ("streams zero", doc(scenario(streams=0)), "$.scenarios[0].streams", "must be a positive integer, got 0"),
    ("streams huge", doc(scenario(streams=10**7)), "$.scenarios[0].streams", "from 1 to 1000000"),
    ("streams in name zero", doc(scenario(name="0 streams @ 1k")), "$.scenarios[0].name", "gives 0 streams"),
    ("viewers negative", doc(scenario(viewers=-1)), "$.scenarios[0].viewers", "non-negative integer, got -1"),
    ("viewers fraction", doc(scenario(viewers=1.5)), "$.scenarios[0].viewers", "got 1.5"),
    ("vmaf over 100", doc(scenario(vmaf_score=101)), "$.scenarios[0].vmaf_score", "from 0 to 100, got 101"),
    ("vmaf negative", doc(scenario(vmaf_score=-1)), "$.scenarios[0].vmaf_score", "from 0 to 100"),
    ("psnr negative", doc(scenario(psnr_score=-3)), "$.scenarios[0].psnr_score", "non-negative"),
    ("ssim over 1", doc(scenario(ssim_score=1.5)), "$.scenarios[0].ssim_score", "from 0 to 1, got 1.5"),
    ("ssim bool", doc(scenario(ssim_score=True)), "$.scenarios[0].ssim_score", "got true"),
    ("avg_fps negative", doc(scenario(avg_fps=-30)), "$.scenarios[0].avg_fps", "non-negative"),
    ("frames negative", doc(scenario(total_frames=-1)), "$.scenarios[0].total_frames", "non-negative integer"),
    ("frames fraction", doc(scenario(total_frames=10.5)), "$.scenarios[0].total_frames", "got 10.5"),
    (
        "frames out of range",
        doc(scenario(total_frames=2**64)),
        "$.scenarios[0].total_frames",
        "of at most 9223372036854775807, got 18446744073709551616",
    ),
    (
        "dropped over total",
        doc(scenario(total_frames=10, dropped_frames=11)),
        "$.scenarios[0].dropped_frames",
        "must not exceed total_frames (10), got 11",
    ),
    ("pixels string", doc(scenario(pixels_processed="1")), "$.scenarios[0].pixels_processed", "integer"),
    ("power not array", doc(scenario(power_watts="abc")), "$.scenarios[0].power_watts", "must be an array"),
    (
        "power item string",
        doc(scenario(power_watts=[1, "2", 3])),
        "$.scenarios[0].power_watts[1]",
        'must be a non-negative number, got "2"',
    ),
    ("power item negative", doc(scenario(power_watts=[1, 2, -3])), "$.scenarios[0].power_watts[2]", "got -3"),
    ("power item null", doc(scenario(power_watts=[None])), "$.scenarios[0].power_watts[0]", "got null"),
    ("power item bool", doc(scenario(power_watts=[1, False])), "$.scenarios[0].power_watts[1]", "got false"),
    ("cpu item array", doc(scenario(cpu_usage_cores=[[1]])), "$.scenarios[0].cpu_usage_cores[0]", "got an array"),
    ("step zero", doc(scenario(step_seconds=0, power_watts=[1, 2])), "$.scenarios[0].step_seconds", "positive"),
    (
        "step underivable",
        doc(scenario(duration=0, power_watts=[1, 2])),
        "$.scenarios[0].step_seconds",
        "cannot be derived",
    ),
    (
        "power overflow",
        doc(scenario(step_seconds=1, power_watts=[1e308, 1e308, 1e308])),
        "$.scenarios[0]",
        "out of range",
    ),
    (
        "pixels overflow",
        doc(scenario(resolution="999999x999999", fps=1e300, duration=1e300)),
        "$.scenarios[0]",
        "out of range",
    ),
]


@pytest.mark.parametrize(
    ("document", "json_path", "fragment"), [c[1:] for c in BAD_DOCUMENTS], ids=[c[0] for c in BAD_DOCUMENTS]
)
def test_bad_documents(tmp_path, document, json_path, fragment):
    path = write(tmp_path, document)
    scenarios = document.get("scenarios") if isinstance(document, dict) else None
    if isinstance(scenarios, list) and len(scenarios) > 1:
        # one bad scenario among good ones: the good ones load, the bad one is named
        expect_skipped(path, json_path, fragment)
    else:
        expect_error(path, json_path, fragment)


def test_the_error_message_reads_as_documented(tmp_path):
    path = write(
        tmp_path,
        doc(scenario(name="a"), scenario(name="b"), scenario(name="c"), scenario(name="d", duration=-5)),
        "test_results_x.json",
    )
    err = expect_skipped(path, "$.scenarios[3].duration")
    assert str(err) == "test_results_x.json: $.scenarios[3].duration: must be a non-negative number, got -5"
    assert err.path == path


@pytest.mark.parametrize(
    ("text", "json_path", "fragment"),
    [
        ('{"scenarios": [{"name": "a", "duration": NaN}]}', "$.scenarios[0].duration", "got NaN"),
        (
            '{"scenarios": [{"name": "a", "duration": 1, "power_watts": [1, 2, Infinity]}]}',
            "$.scenarios[0].power_watts[2]",
            "got Infinity",
        ),
        (
            '{"scenarios": [{"name": "a", "duration": 1, "start_time": -Infinity}]}',
            "$.scenarios[0].start_time",
            "got -Infinity",
        ),
        ('{"scenarios": [{"name": "a", "duration": 1, "vmaf_score": NaN}]}', "$.scenarios[0].vmaf_score", "got NaN"),
        # a literal too large for a double parses as infinity: rejected too
        ('{"scenarios": [{"name": "a", "duration": 1e400}]}', "$.scenarios[0].duration", "got Infinity"),
        (
            '{"scenarios": [{"name": "a", "duration": 1, "cpu_usage_cores": [1e999]}]}',
            "$.scenarios[0].cpu_usage_cores[0]",
            "got Infinity",
        ),
        (
            '{"scenarios": [{"name": "a", "duration": 1, "fps": ' + "9" * 400 + "}]}",
            "$.scenarios[0].fps",
            "must be a positive number",
        ),
    ],
    ids=["nan", "infinity", "minus-infinity", "nan-vmaf", "overflow-float", "overflow-sample", "huge-int"],
)
def test_non_finite_numbers(tmp_path, text, json_path, fragment):
    expect_error(write(tmp_path, text), json_path, fragment)


def test_non_finite_in_unknown_field_is_ignored(tmp_path):
    path = write(tmp_path, '{"scenarios": [{"name": "a", "duration": 1, "extra": NaN}], "other": Infinity}')
    assert len(load_results_file(path).scenarios) == 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"scenarios": [{"name": "a", "duration": 1', "invalid JSON at line 1 column 43: Expecting ',' delimiter"),
        ('{"scenarios": [\n  {"name": "a",\n   "duration": ', "invalid JSON at line 3 column 16: Expecting value"),
        ("", "invalid JSON at line 1 column 1: Expecting value"),
        ('{"scenarios": []} trailing', "invalid JSON at line 1 column 19: Extra data"),
        ("[" * 100_000, "nested too deeply"),
        ('{"scenarios": [{"name": "a", "duration": ' + "1" * 5000 + "}]}", "invalid JSON"),
    ],
    ids=["truncated", "truncated-multiline", "empty-file", "trailing-garbage", "deep-nesting", "int-too-long"],
)
def test_not_json(tmp_path, text, fragment):
    expect_error(write(tmp_path, text), "$", fragment)


def test_non_utf8_bytes(tmp_path):
    data = b'{"scenarios": [{"name": "caf\xe9", "duration": 1}]}'
    expect_error(write(tmp_path, data), "$", "not valid UTF-8: byte 0xe9 at offset 28")


def test_lone_surrogate_escape_in_a_name(tmp_path):
    path = write(tmp_path, '{"scenarios": [{"name": "a\\ud800b", "duration": 1}]}')
    expect_error(path, "$.scenarios[0].name", "unpaired surrogate")


def test_a_50_mb_file_is_rejected_by_size(tmp_path):
    path = tmp_path / NAME
    with path.open("wb") as handle:
        handle.write(b'{"scenarios": []}')
        handle.write(b" " * (50 * 1024 * 1024))  # valid JSON: only the size is wrong
    expect_error(path, "$", f"file is {path.stat().st_size} bytes, over the limit of {DEFAULT_MAX_BYTES} bytes")
    # the limit is a parameter
    assert load_results_file(path, max_bytes=64 * 1024 * 1024).scenarios == ()


def test_max_bytes_parameter(tmp_path):
    path = write(tmp_path, doc(scenario()))
    expect_error(path, "$", "over the limit of 10 bytes", max_bytes=10)


def test_symlink_leaving_the_results_directory(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    outside = write(tmp_path, doc(scenario(name="secret")), "elsewhere.json")
    link = results / NAME
    link.symlink_to(outside)
    expect_error(link, "$", "outside the results directory", results_dir=results)
    # the same file loads when no results directory is imposed
    assert load_results_file(link).scenarios[0].name == "secret"
    # and the directory refuses it
    directory = ResultsDirectory(results)
    with pytest.raises(ResultsError, match="outside the results directory"):
        directory.load_if_changed()
    assert directory.current is None


def test_symlink_inside_the_results_directory_is_fine(tmp_path):
    real = write(tmp_path, doc(scenario(name="real")), "archive_run.json")
    link = tmp_path / NAME
    link.symlink_to(real.name)
    run = ResultsDirectory(tmp_path).load_if_changed()
    assert run.path == link and run.scenarios[0].name == "real"


def test_dangling_symlink_and_missing_file(tmp_path):
    link = tmp_path / NAME
    link.symlink_to(tmp_path / "nowhere.json")
    expect_error(link, "$", "cannot open")
    expect_error(tmp_path / "test_results_20990101_000000.json", "$", "cannot open")
    assert ResultsDirectory(tmp_path).newest() is None  # the dangling link is not a candidate


def test_fifo_is_rejected_without_blocking(tmp_path):
    fifo = tmp_path / NAME
    os.mkfifo(fifo)
    expect_error(fifo, "$", "not a regular file")


def test_directory_path_is_rejected(tmp_path):
    expect_error(tmp_path, "$", "not a regular file")


def test_ten_thousand_scenarios_load_fast(tmp_path):
    scenarios = [
        {
            "name": f"{i % 8 + 1} streams @ {1000 + i}k",
            "duration": 300,
            "bitrate": f"{1000 + i}k",
            "encoder_type": "libx264",
            "resolution": "1280x720",
            "fps": 30,
            "total_frames": 9000,
            "dropped_frames": i % 5,
            "vmaf_score": 90.5,
            "ssim_score": 0.97,
            "start_time": i * 400,
            "end_time": i * 400 + 300,
            "power_watts": [100.0 + i % 7, 101.5, 99.0, 100.0, 102.0],
            "cpu_usage_cores": [3.0, 3.1, 2.9, 3.0, 3.2],
            "step_seconds": 75.0,
        }
        for i in range(10_000)
    ]
    path = write(tmp_path, {"test_metadata": {}, "scenarios": scenarios})
    started = time.perf_counter()
    run = load_results_file(path)
    elapsed = time.perf_counter() - started
    assert len(run.scenarios) == 10_000
    assert run.scenarios[9_999].name == "8 streams @ 10999k"
    assert run.scenarios[9_999].streams == 8
    # 9999 % 7 = 3: first sample 103 W
    assert run.scenarios[9_999].energy_joules == pytest.approx(75 * (103 / 2 + 101.5 + 99 + 100 + 102 / 2))
    assert elapsed < 3.0, f"10,000 scenarios took {elapsed:.2f} s"


# ---------------------------------------------------------------- fuzz


KNOWN_KEYS = [
    "name",
    "duration",
    "bitrate",
    "resolution",
    "fps",
    "encoder",
    "encoder_type",
    "preset",
    "start_time",
    "end_time",
    "outputs",
    "streams",
    "viewers",
    "vmaf_score",
    "psnr_score",
    "ssim_score",
    "avg_fps",
    "dropped_frames",
    "total_frames",
    "pixels_processed",
    "power_watts",
    "cpu_usage_cores",
    "step_seconds",
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["2500k", "1.5M", "1280x720", "0x0", "4 streams @ 1k", "single stream", "none", "baseline"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)
# Mostly well-typed values, so that examples get past the first fields and
# reach the deeper checks; sometimes any JSON value at all.
GOOD_VALUES = {
    "duration": st.floats(min_value=0, max_value=1e5),
    "bitrate": st.sampled_from(["2500k", "1.5M", "0", 800_000, "5G"]),
    "resolution": st.sampled_from(["1280x720", "854x480", "1x1"]),
    "fps": st.floats(min_value=0.1, max_value=240),
    "encoder": st.sampled_from(["libx264", "none"]),
    "encoder_type": st.sampled_from(["libx264", "none"]),
    "preset": st.text(max_size=6),
    "start_time": st.floats(min_value=0, max_value=2e9),
    "end_time": st.floats(min_value=0, max_value=2e9),
    "outputs": st.none()
    | st.lists(
        st.fixed_dictionaries(
            {"resolution": st.sampled_from(["640x360", "1920x1080"])},
            optional={"fps": st.floats(min_value=1, max_value=60)},
        ),
        max_size=3,
    ),
    "streams": st.integers(min_value=1, max_value=16),
    "viewers": st.integers(min_value=0, max_value=10**6),
    "vmaf_score": st.floats(min_value=0, max_value=100),
    "psnr_score": st.floats(min_value=0, max_value=80),
    "ssim_score": st.floats(min_value=0, max_value=1),
    "avg_fps": st.floats(min_value=0, max_value=240),
    "dropped_frames": st.integers(min_value=0, max_value=50),
    "total_frames": st.integers(min_value=0, max_value=10**6),
    "pixels_processed": st.integers(min_value=0, max_value=10**13),
    "power_watts": st.lists(st.floats(min_value=0, max_value=1e4), max_size=12),
    "cpu_usage_cores": st.lists(st.floats(min_value=0, max_value=256), max_size=12),
    "step_seconds": st.floats(min_value=0.01, max_value=60),
}
scenario_dicts = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=16) | st.sampled_from(["4 streams @ 5000k", "baseline idle", "0 streams"]),
        "duration": st.one_of(*[GOOD_VALUES["duration"]] * 6, json_values),
    },
    optional={key: st.one_of(good, good, good, json_values) for key, good in GOOD_VALUES.items() if key != "duration"},
)
documents = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"scenarios": st.lists(scenario_dicts, max_size=4)},
        optional={
            "test_metadata": st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values,
            "test_date": st.text(max_size=20) | json_values,
        },
    ),
)

FUZZ_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check_loaded(path: Path) -> None:
    try:
        run = load_results_file(path, results_dir=path.parent)
    except ResultsError as err:
        assert err.file == path.name
        assert err.json_path.startswith("$")
        assert str(err).startswith(f"{path.name}: $")
        return
    names = [s.name for s in run.scenarios]
    assert len(names) == len(set(names)) and all(n.strip() for n in names)
    for s in run.scenarios:
        assert s.duration_seconds >= 0 and math.isfinite(s.duration_seconds)
        assert s.streams >= 1
        for value in (s.energy_joules, s.mean_power_watts, s.cpu_core_seconds, s.vmaf, s.ssim, s.fps):
            assert value is None or (math.isfinite(value) and value >= 0)
        assert s.pixels_processed is None or s.pixels_processed >= 0


@FUZZ_SETTINGS
@given(data=st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(tmp_path, data):
    check_loaded(write(tmp_path, data))


@FUZZ_SETTINGS
@given(document=documents)
def test_fuzz_arbitrary_json(tmp_path, document):
    check_loaded(write(tmp_path, json.dumps(document)))  # json.dumps writes NaN/Infinity for non-finite floats


@FUZZ_SETTINGS
@given(document=documents, cut=st.integers(min_value=0, max_value=400))
def test_fuzz_truncated_json(tmp_path, document, cut):
    text = json.dumps(document)
    check_loaded(write(tmp_path, text[: min(cut, len(text))]))


def test_a_name_dated_in_the_future_does_not_win_by_name_alone(tmp_path):
    now = int(time.time())
    real_name = time.strftime("test_results_%Y%m%d_%H%M%S.json", time.gmtime(now - 3600))
    real = write(tmp_path, doc(scenario(name="real")), real_name)
    future = write(tmp_path, doc(scenario(name="planted")), "test_results_20990101_000000.json")
    set_mtime(real, now - 60)
    set_mtime(future, now - 7200)  # written before the real run: its mtime ranks it, not its name
    assert ResultsDirectory(tmp_path).newest() == real
    set_mtime(future, now)  # written after it: the newest by mtime
    assert ResultsDirectory(tmp_path).newest() == future


def test_a_name_a_few_hours_ahead_still_ranks_by_name(tmp_path):
    # a writer in another time zone names its files up to 14 h ahead of UTC
    now = int(time.time())
    ahead = write(tmp_path, doc(), time.strftime("test_results_%Y%m%d_%H%M%S.json", time.gmtime(now + 14 * 3600)))
    older = write(tmp_path, doc(), time.strftime("test_results_%Y%m%d_%H%M%S.json", time.gmtime(now - 3600)))
    set_mtime(ahead, now - 7200)
    set_mtime(older, now)
    assert ResultsDirectory(tmp_path).newest() == ahead


def test_a_scenarios_host_loads_and_labels_its_series_unknown_without_one(tmp_path):
    # issue 25: the lab host a scenario ran on; files from before the fleet have none
    from ffwatt.exporters.results_source import scenario_labels

    doc = {"test_date": "2026-01-15T12:00:00", "scenarios": [
        {"name": "a", "duration": 10, "encoder": "libx264", "host": "enc1"},
        {"name": "b", "duration": 10, "encoder": "libx264"}]}
    run = load_results_file(write(tmp_path, doc))
    assert [s.host for s in run.scenarios] == ["enc1", None]
    assert [scenario_labels(s)["host"] for s in run.scenarios] == ["enc1", "unknown"]
    doc["scenarios"][0]["host"] = 3  # a bad host skips its scenario, naming the field
    run = load_results_file(write(tmp_path, doc))
    assert [s.name for s in run.scenarios] == ["b"]
    assert "$.scenarios[0].host: must be a string" in str(run.skipped[0])
