"""issue 22 downstream: the cost exporter serves a scenario's own (attributed) energy beside the
whole machine's, with the rule that split it; cost and emissions stay on the attributed energy;
a file that did not record the machine's energy serves none (absent, never 0)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.harness import assert_exposition_valid, running_exporter

SAMPLES = Path(__file__).resolve().parents[2] / "test_results"
ENRICHED = "test_results_20260115_120000.json"
RUNNER_SHAPE = "test_results_20260115_100000.json"
ARGS = ("--energy-price", "0.25", "--core-hour-price", "0.05", "--currency", "USD", "--carbon-intensity", "400",
        "--tsdb-url", "")
MACHINE = "ffwatt_cost_scenario_machine_energy_joules"
ATTRIBUTION = "ffwatt_cost_scenario_energy_attribution_info"


def _scenario(name: str, **fields) -> dict:
    return {"name": name, "encoder": "libx264", "bitrate": "1000k", "resolution": "640x360", "fps": 30,
            "duration": 10, "start_time": 1000.0, "end_time": 1004.0, "cpu_core_seconds": 6.0, **fields}


def _write(d: Path, scenarios: list[dict]) -> None:
    d.mkdir(exist_ok=True)
    (d / "test_results_20260201_120000.json").write_text(json.dumps(
        {"format_version": 2, "test_date": "2026-02-01T12:00:00+00:00", "scenarios": scenarios}))


def test_cost_serves_machine_energy_beside_the_attributed_and_costs_the_attributed(tmp_path):
    _write(tmp_path / "r", [
        _scenario("shared", energy_joules=120.0, energy_source="rapl", machine_energy_joules=300.0,
                  energy_attribution="cpu-time-share"),
        _scenario("alone", energy_joules=250.0, energy_source="rapl", machine_energy_joules=250.0,
                  energy_attribution="exclusive"),
        _scenario("gpu", energy_joules=90.0, energy_source="rapl+nvml", machine_energy_joules=140.0,
                  energy_attribution="cpu-time-share+gpu-process-utilisation"),
        _scenario("odd rule", energy_joules=50.0, energy_source="model", machine_energy_joules=80.0,
                  energy_attribution="made-up"),
        _scenario("older", energy_joules=70.0, energy_source="model"),
    ])
    with running_exporter("cost", "--results-dir", str(tmp_path / "r"), *ARGS) as cost:
        assert_exposition_valid("cost", cost.scrape())
        shared = {"scenario": "shared"}
        assert cost.value("ffwatt_cost_scenario_energy_joules", **shared) == 120.0
        assert cost.value(MACHINE, **shared) == 300.0
        assert cost.value(ATTRIBUTION, attribution="cpu-time-share", **shared) == 1
        # cost and emissions: 120 J (own share), not 300 J (machine) -> 120 / 3.6e6 kWh
        kwh = 120.0 / 3.6e6
        assert cost.value("ffwatt_cost_scenario_energy_cost", **shared) == pytest.approx(kwh * 0.25)
        assert cost.value("ffwatt_cost_scenario_emissions_grams", **shared) == pytest.approx(kwh * 400)
        assert cost.value("ffwatt_cost_scenario_overall_cost", **shared) == pytest.approx(
            kwh * 0.25 + 6.0 / 3600 * 0.05)
        # mean power over the 4 s window: 120 J / 4 s = 30 W (the scenario's, not the machine's 75 W)
        assert cost.value("ffwatt_cost_scenario_mean_power_watts", **shared) == pytest.approx(30.0)

        assert cost.value(MACHINE, scenario="alone") == 250.0
        assert cost.value(ATTRIBUTION, attribution="exclusive", scenario="alone") == 1
        assert cost.value(ATTRIBUTION, attribution="cpu-time-share+gpu-process-utilisation", scenario="gpu") == 1
        # a rule ffwatt does not know keeps the label bounded
        assert cost.value(ATTRIBUTION, attribution="other", scenario="odd rule") == 1
        # a scenario that did not record them: its energy served, no machine energy and no rule
        assert cost.value("ffwatt_cost_scenario_energy_joules", scenario="older") == 70.0
        assert cost.value(MACHINE, scenario="older") is None
        assert cost.value(ATTRIBUTION, scenario="older") is None
        # one rule per scenario: nothing else in the attribution family
        attributions = cost.samples()[ATTRIBUTION]
        assert sorted((lbl["scenario"], lbl["attribution"]) for lbl, _ in attributions) == [
            ("alone", "exclusive"), ("gpu", "cpu-time-share+gpu-process-utilisation"), ("odd rule", "other"),
            ("shared", "cpu-time-share")]


def test_a_file_without_the_new_fields_serves_no_machine_energy(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    doc = json.loads((SAMPLES / ENRICHED).read_text())
    for s in doc["scenarios"]:
        s.pop("machine_energy_joules", None)
        s.pop("energy_attribution", None)
    (d / ENRICHED).write_text(json.dumps(doc))
    with running_exporter("cost", "--results-dir", str(d), *ARGS) as cost:
        samples = cost.samples()
        assert len(samples["ffwatt_cost_scenario_energy_joules"]) == 4  # energy from the power samples
        assert MACHINE not in samples and ATTRIBUTION not in samples  # absent, not 0
        assert "# TYPE " + MACHINE in cost.scrape()  # the family is declared, with no series
    (tmp_path / "r2").mkdir()  # the runner shape: no energy at all
    shutil.copy(SAMPLES / RUNNER_SHAPE, tmp_path / "r2" / RUNNER_SHAPE)
    with running_exporter("cost", "--results-dir", str(tmp_path / "r2"), *ARGS) as cost:
        samples = cost.samples()
        assert MACHINE not in samples and ATTRIBUTION not in samples


def test_the_sample_file_serves_machine_energy_labelled_simulated(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    shutil.copy(SAMPLES / ENRICHED, d / ENRICHED)
    raw = {s["name"]: s for s in json.loads((SAMPLES / ENRICHED).read_text())["scenarios"]}
    with running_exporter("cost", "--results-dir", str(d), *ARGS) as cost:
        for name, s in raw.items():
            sel = {"scenario": name}
            assert cost.value(MACHINE, **sel) == s["machine_energy_joules"]
            assert cost.value(ATTRIBUTION, attribution=s["energy_attribution"], **sel) == 1
            assert cost.value("ffwatt_cost_scenario_energy_source", source="simulated", **sel) == 1
            step = s["step_seconds"]
            watts = s["power_watts"]
            own = sum((a + b) / 2 * step for a, b in zip(watts, watts[1:], strict=False))
            if "repetitions" in s:  # the mean over the rounds
                own = sum(r["energy_joules"] for r in s["repetitions"]) / len(s["repetitions"])
            assert cost.value("ffwatt_cost_scenario_energy_joules", **sel) == pytest.approx(own)
            assert cost.value(MACHINE, **sel) >= own * 0.99  # the machine drew at least the scenario's
