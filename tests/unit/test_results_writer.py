"""The results writer: format version 2 documents, written atomically, loadable by the results model."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ffwatt.contract.loading import load_results_file
from ffwatt.contract.results_writer import (
    SCENARIO_FIELDS,
    ResultsWriteError,
    ResultsWriter,
    find_resumable,
    results_file_name,
    scenario_entry,
)

HEADER = {"test_date": "2026-11-26T10:00:00+00:00", "planned_scenarios": 2,
          "environment": {"hostname": "h", "cpu_cores": 2, "energy_meter": "model", "tdp_watts": 85.0},
          "runner": {"scenario_file": "/s/quick.yml", "matrix_sha256": "abc"}}


def encode_entry(name: str = "libx264 @ 1000k") -> dict:
    return scenario_entry(
        name=name, encoder="libx264", preset="veryfast", bitrate="1000k", resolution="320x180", fps=30.0,
        duration=2.0, streams=1, start_time=1_800_000_000.0, end_time=1_800_000_001.5, vmaf_score=91.2,
        psnr_score=40.1, ssim_score=0.98, vmaf={"mean": 91.2, "harmonic_mean": 91.0, "min": 85.0, "p1": 85.5,
                                                "model": "vmaf_v0.6.1"},
        psnr={"mean": 40.1, "min": 38.0}, ssim={"mean": 0.98, "min": 0.97},
        quality_reference={"reference": "source", "distorted": "encoder_output", "resolution": "320x180",
                           "scaler": "bicubic"},
        avg_fps=40.0, total_frames=60, dropped_frames=0, output_bytes=250_000, measured_bitrate_bps=1_000_000.0,
        speed=1.33, energy_joules=120.0, energy_source="model", energy_error=None, cpu_core_seconds=2.9,
        quality_cpu_seconds=1.1, power_watts=[80.0, 80.0], cpu_usage_cores=[1.9, 1.9], step_seconds=1.0,
        repetitions=None, mode="file",
    )


def test_file_name_is_the_utc_start_time():
    assert results_file_name(datetime(2026, 1, 15, 12, 0, 5, tzinfo=UTC)) == "test_results_20260115_120005.json"


def test_scenario_entry_drops_unknowns_and_refuses_unknown_fields():
    entry = encode_entry()
    assert "energy_error" not in entry and "repetitions" not in entry
    assert list(entry) == [k for k in SCENARIO_FIELDS if k in entry]  # documented order
    with pytest.raises(TypeError, match="unknown results field"):
        scenario_entry(name="x", vmaf_scor=1.0)


def test_written_file_is_version_2_and_loads(tmp_path: Path):
    writer = ResultsWriter(tmp_path, "test_results_20261126_100000.json", HEADER)
    writer.add_scenario(scenario_entry(name="baseline idle", encoder="none", duration=5.0,
                                       start_time=1_799_999_990.0, end_time=1_799_999_995.0, energy_joules=50.0,
                                       energy_source="model", power_watts=[10.0] * 6, step_seconds=1.0))
    writer.add_scenario(encode_entry())
    writer.add_not_run("libx999 @ 1M", "skipped", "ffmpeg has no video encoder 'libx999'")
    doc = json.loads(writer.path.read_text())
    assert doc["format_version"] == 2 and doc["planned_scenarios"] == 2
    assert [s["name"] for s in doc["scenarios"]] == ["baseline idle", "libx264 @ 1000k"]
    assert doc["not_run"] == [{"name": "libx999 @ 1M", "status": "skipped",
                               "reason": "ffmpeg has no video encoder 'libx999'"}]
    run = load_results_file(writer.path)
    assert [s.name for s in run.scenarios] == ["baseline idle", "libx264 @ 1000k"]
    encode = run.scenarios[1]
    assert encode.vmaf == 91.2 and encode.total_frames == 60 and encode.streams == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_results_20261126_100000.json"]  # no temp left


def test_a_completed_scenario_leaves_not_run():
    writer = ResultsWriter("/nonexistent-never-written", "f.json", HEADER)
    writer.not_run = [{"name": "a", "status": "failed", "reason": "interrupted"}]
    writer.write = lambda: writer.path  # no disk
    writer.add_scenario({"name": "a", "duration": 1})
    assert writer.not_run == [] and writer.scenarios == [{"name": "a", "duration": 1}]


def test_unwritable_directory_names_the_directory_and_keeps_the_last_file(tmp_path: Path):
    writer = ResultsWriter(tmp_path, "test_results_20261126_100000.json", HEADER)
    writer.add_scenario(encode_entry("first"))
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    bad = ResultsWriter(blocker / "results", "test_results_20261126_100000.json", HEADER)
    with pytest.raises(ResultsWriteError, match=r"cannot write results to directory '.*/file/results'"):
        bad.write()
    assert [s["name"] for s in json.loads(writer.path.read_text())["scenarios"]] == ["first"]


def test_nan_is_refused_before_anything_is_written(tmp_path: Path):
    writer = ResultsWriter(tmp_path, "test_results_20261126_100000.json", HEADER)
    with pytest.raises(ResultsWriteError, match="not finite"):
        writer.add_scenario({"name": "x", "duration": 1.0, "avg_fps": math.nan})
    assert not writer.path.exists() and list(tmp_path.iterdir()) == []


def test_find_resumable_picks_the_newest_file_of_the_same_scenarios(tmp_path: Path):
    for name, sha in (("test_results_20261126_090000.json", "abc"), ("test_results_20261126_100000.json", "abc"),
                      ("test_results_20261126_110000.json", "other")):
        header = {**HEADER, "runner": {"scenario_file": "/s/quick.yml", "matrix_sha256": sha}}
        ResultsWriter(tmp_path, name, header, [encode_entry(name)]).write()
    (tmp_path / "test_results_20261126_120000.json").write_text("{broken")
    path, doc = find_resumable(tmp_path, "/s/quick.yml", "abc")
    assert path.name == "test_results_20261126_100000.json" and doc["scenarios"][0]["name"] == path.name
    assert find_resumable(tmp_path, "/s/other.yml", "abc") is None
    assert find_resumable(tmp_path / "missing", "/s/quick.yml", "abc") is None


def test_a_file_that_names_a_url_is_readable_by_its_owner_only(tmp_path: Path):
    plain = ResultsWriter(tmp_path / "plain", "test_results_20261126_100000.json", HEADER)
    plain.add_scenario(encode_entry())
    assert plain.path.stat().st_mode & 0o777 == 0o644
    meter = {"mode": "exporters", "cpu_metrics_url": "https://meter:xxxxx@host1:9500/metrics"}
    named = ResultsWriter(tmp_path / "named", "test_results_20261126_100000.json", {**HEADER, "meter": meter})
    named.add_scenario(encode_entry())
    assert named.path.stat().st_mode & 0o777 == 0o600
    # a URL that only an error message names counts too
    failed = ResultsWriter(tmp_path / "failed", "test_results_20261126_100000.json", HEADER)
    failed.add_not_run("x", "failed", "http://127.0.0.1:9506/progress/x refused")
    assert failed.path.stat().st_mode & 0o777 == 0o600
