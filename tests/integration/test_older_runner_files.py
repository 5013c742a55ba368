"""The results, qoe and cost exporters on files in the older stack's runner shapes, on a
partially bad file, and on a measured (format version 2) file: every valid scenario
served, no quality for the baseline, carbon by hand, promtool clean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness import assert_exposition_valid, running_exporter

NAME = "test_results_20260301_120000.json"

# As the older runner (scripts/run_tests.py of the stack ffwatt replaces) wrote them.
OLDER_RUN = {
    "test_date": "2026-03-01T12:00:00",
    "scenarios": [
        {"name": "Baseline (Idle)", "resolution": "0x0", "encoder_type": "none", "bitrate": "0k", "duration": 60,
         "vmaf_score": 0, "psnr_score": 0, "ssim_score": 0, "avg_fps": 0, "total_frames": 0,
         "pixels_processed": 0, "start_time": 1000, "end_time": 1060, "step_seconds": 5.0,
         "power_watts": [40.0] * 13},
        {"name": "3 Streams (Mixed)", "bitrate": "1000k,2500k,5000k", "resolution": "1280x720", "fps": 30,
         "duration": 60, "encoder_type": "libx264", "vmaf_score": 91.0, "psnr_score": 39.5, "ssim_score": 0.97,
         "avg_fps": 29.9, "start_time": 1100, "end_time": 1160, "step_seconds": 5.0,
         "power_watts": [100.0] * 13, "cpu_usage_cores": [3.0] * 13},
        {"name": "1 Streams @ 1000k", "bitrate": "1000k", "resolution": "1280x720", "fps": 30, "duration": 60,
         "outputs": None, "start_time": 1200, "end_time": 1260},
        {"name": "8 Streams @ 2500k", "bitrate": "2500k", "resolution": "1280x720", "fps": 30, "duration": 60,
         "outputs": None, "start_time": 1300, "end_time": 1360},
        {"name": "Multi-resolution ladder test 1080p+720p+480p @ 2500k", "bitrate": "2500k",
         "resolution": "1920x1080", "fps": 30, "duration": 60, "outputs": None},
        {"name": "1 Mbps Stream", "bitrate": "1000k", "resolution": "1280x720", "fps": 30, "duration": 60},
    ],
}
SETTINGS = ("--tsdb-url", "", "--carbon-intensity", "200", "--pue", "1.25", "--energy-price", "0.30")


@pytest.fixture
def older_dir(tmp_path: Path) -> Path:
    (tmp_path / NAME).write_text(json.dumps(OLDER_RUN), encoding="utf-8")
    return tmp_path


def _tsdb_off(exporter: str) -> tuple[str, ...]:
    return ("--tsdb-url", "") if exporter == "cost" else ()


def _scenarios(exp, metric: str) -> set[str]:
    return {labels["scenario"] for labels, _ in exp.samples().get(metric, [])}


def test_every_scenario_of_the_older_runner_is_served_and_promtool_clean(older_dir):
    names = {s["name"] for s in OLDER_RUN["scenarios"]}
    for exporter in ("results", "qoe", "cost"):
        with running_exporter(exporter, "--results-dir", str(older_dir), *_tsdb_off(exporter)) as exp:
            assert_exposition_valid(exporter, exp.scrape())
            health = exp.health()
            if exporter == "cost":  # degraded only because 4 scenarios carry no energy (and no TSDB here)
                assert health["status"] == "degraded" and "without energy" in health["reason"], health
            else:
                assert health["status"] == "ok", health
            assert not health["details"]["skipped_scenarios"]
            if exporter == "results":
                assert exp.value("ffwatt_results_scenarios") == len(names)
                assert exp.value("ffwatt_results_skipped_scenarios") == 0
                assert _scenarios(exp, "ffwatt_results_scenario_duration_seconds") == names
                mixed = {"scenario": "3 Streams (Mixed)"}
                assert exp.value("ffwatt_results_scenario_streams", **mixed) == 3
                assert exp.value("ffwatt_results_scenario_info", bitrate="1000k,2500k,5000k") == 1
                # the baseline encodes nothing: no fps series at all
                assert "Baseline (Idle)" not in _scenarios(exp, "ffwatt_results_scenario_average_fps")
            if exporter == "qoe":
                # quality for every encode that has it, none for the baseline (no red 0)
                for metric in ("ffwatt_qoe_vmaf_score", "ffwatt_qoe_psnr_decibels", "ffwatt_qoe_ssim_score",
                               "ffwatt_qoe_vmaf_per_watt"):
                    assert "Baseline (Idle)" not in _scenarios(exp, metric), metric
                assert exp.value("ffwatt_qoe_vmaf_score", scenario="3 Streams (Mixed)") == 91.0
            if exporter == "cost":
                # the baseline's power and energy stay: 13 x 40 W every 5 s = 60 s x 40 W
                assert exp.value("ffwatt_cost_scenario_energy_joules", scenario="Baseline (Idle)") == 2400.0
                assert exp.value("ffwatt_cost_scenario_mean_power_watts", scenario="Baseline (Idle)") == 40.0


def test_emissions_by_hand(older_dir):
    with running_exporter("cost", "--results-dir", str(older_dir), *SETTINGS) as cost:
        sel = {"scenario": "3 Streams (Mixed)"}
        # 13 samples of 100 W every 5 s: 6000 J = 6000 / 3.6e6 kWh; x 200 g/kWh x PUE 1.25 = 0.41667 g
        grams = 6000 / 3.6e6 * 200 * 1.25
        assert cost.value("ffwatt_cost_scenario_emissions_grams", **sel) == pytest.approx(grams)
        # 60 s = 1/60 h; viewers default to the 3 streams: 0.41667 / (1/60 x 3) = 8.3333 g per viewer-hour
        assert cost.value("ffwatt_cost_scenario_emissions_grams_per_viewer_hour", **sel) == pytest.approx(
            grams / (60 / 3600 * 3))
        assert cost.value("ffwatt_cost_scenario_emissions_grams_per_stream_hour", **sel) == pytest.approx(
            grams / (60 / 3600 * 3))
        assert cost.value("ffwatt_cost_carbon_intensity_grams_per_kilowatt_hour") == 200.0
        assert cost.value("ffwatt_cost_power_usage_effectiveness") == 1.25
        # no energy, no emissions: the scenarios without samples (and no TSDB) have none, never 0
        assert cost.value("ffwatt_cost_scenario_emissions_grams", scenario="1 Mbps Stream") is None
        assert cost.value("ffwatt_cost_scenario_energy_source", scenario="1 Mbps Stream",
                          source="unavailable") == 1.0


def test_a_partially_bad_file_serves_its_valid_scenarios_and_says_which_were_skipped(older_dir):
    doc = json.loads((older_dir / NAME).read_text())
    doc["scenarios"][3]["duration"] = -5
    doc["scenarios"][4]["resolution"] = "huge"
    (older_dir / NAME).write_text(json.dumps(doc))
    for exporter in ("results", "qoe", "cost"):
        with running_exporter(exporter, "--results-dir", str(older_dir), *_tsdb_off(exporter)) as exp:
            health = exp.health()
            assert health["status"] == "degraded", health
            assert f"{NAME}: $.scenarios[3].duration: must be a non-negative number, got -5" in health["reason"]
            assert "$.scenarios[4].resolution: invalid resolution 'huge'" in health["reason"]
            assert health["details"]["partially_bad_files"] == 1
            assert exp.runtime.state.errors == 0  # served, not failed
            assert_exposition_valid(exporter, exp.scrape())
            if exporter == "results":
                assert exp.value("ffwatt_results_skipped_scenarios") == 2
                assert exp.value("ffwatt_results_scenarios") == 4
                assert "8 Streams @ 2500k" not in _scenarios(exp, "ffwatt_results_scenario_duration_seconds")


def test_the_cost_exporter_says_modelled_and_measured_apart(tmp_path):
    scenarios = [
        {"name": "measured", "duration": 10, "energy_joules": 500.0, "energy_source": "rapl+nvml"},
        {"name": "modelled", "duration": 10, "energy_joules": 300.0, "energy_source": "model"},
        {"name": "none", "duration": 10, "energy_source": "none", "energy_error": "cpu exporter unreachable"},
    ]
    (tmp_path / NAME).write_text(json.dumps({"format_version": 2, "scenarios": scenarios}))
    with running_exporter("cost", "--results-dir", str(tmp_path), "--tsdb-url", "") as cost:
        assert cost.value("ffwatt_cost_scenario_energy_source", scenario="measured", source="rapl+nvml") == 1
        assert cost.value("ffwatt_cost_scenario_energy_source", scenario="modelled", source="model") == 1
        assert cost.value("ffwatt_cost_scenario_energy_source", scenario="modelled", source="rapl") == 0
        assert cost.value("ffwatt_cost_scenario_energy_source", scenario="none", source="unavailable") == 1
        assert cost.value("ffwatt_cost_scenario_energy_joules", scenario="modelled") == 300.0
        assert cost.value("ffwatt_cost_scenario_energy_joules", scenario="none") is None
        assert_exposition_valid("cost", cost.scrape())


def test_live_scenarios_and_a_capacity_sweep_are_served(tmp_path):
    step = {"encoder": "libx264", "bitrate": "400k", "resolution": "320x180", "fps": 30, "duration": 6,
            "mode": "live", "sweep": "live", "energy_joules": 0.0, "energy_source": "model"}
    doc = {"format_version": 2, "planned_scenarios": 3, "scenarios": [
        dict(step, name="live @ 1 streams", streams=1, energy_joules=100.0, fell_behind_streams=0, min_speed=1.0,
             duplicated_frames=0),
        dict(step, name="live @ 2 streams", streams=2, energy_joules=130.0, fell_behind_streams=1, min_speed=0.95,
             duplicated_frames=7)],
        "sweeps": [{"name": "live", "knee_streams": 1, "marginal_joules_per_stream": 30.0, "steps": [
            {"streams": 1, "scenario": "live @ 1 streams", "held_real_time": True, "energy_joules": 100.0,
             "min_speed": 1.0},
            {"streams": 2, "scenario": "live @ 2 streams", "held_real_time": False, "energy_joules": 130.0,
             "min_speed": 0.95}]}]}
    (tmp_path / NAME).write_text(json.dumps(doc))
    with running_exporter("results", "--results-dir", str(tmp_path)) as results:
        assert_exposition_valid("results", results.scrape())
        assert results.value("ffwatt_results_planned_scenarios") == 3
        assert results.value("ffwatt_results_sweep_knee_streams", sweep="live") == 1
        assert results.value("ffwatt_results_sweep_step_min_sustained_speed_ratio", scenario="live @ 2 streams") == 0.95
        two = {"scenario": "live @ 2 streams"}
        assert results.value("ffwatt_results_scenario_streams_behind_real_time", **two) == 1
        assert results.value("ffwatt_results_scenario_duplicated_frames", **two) == 7
    with running_exporter("cost", "--results-dir", str(tmp_path), "--tsdb-url", "") as cost:
        assert_exposition_valid("cost", cost.scrape())
        assert cost.value("ffwatt_cost_sweep_marginal_energy_joules_per_stream", sweep="live") == 30.0
        assert cost.value("ffwatt_cost_sweep_step_energy_joules", scenario="live @ 1 streams") == 100.0
