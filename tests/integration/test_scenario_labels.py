"""Every scenario series of the results, qoe and cost exporters carries the scenario's clip and
preset (issue 33: the dashboards filter and compare per clip and preset), taken from the results
file: the source's name, or "unknown" where the file does not say (an older file, an idle
baseline), never a made-up value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ffwatt.catalog import metrics as m
from tests.harness import running_exporter

SAMPLES = Path(__file__).resolve().parents[2] / "test_results"
ENRICHED = "test_results_20260115_120000.json"
RUNNER_SHAPE = "test_results_20260115_100000.json"
ARGS = {"results": (), "qoe": (), "cost": ("--tsdb-url", "")}


def _scenario_series(text: str) -> dict[str, list[dict]]:
    """metric name -> label sets of its series that carry a scenario label."""
    out: dict[str, list[dict]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "scenario" in sample.labels and "sweep" not in sample.labels:
                out.setdefault(sample.name, []).append(sample.labels)
    return out


@pytest.mark.parametrize("name", ["results", "qoe", "cost"])
@pytest.mark.parametrize("file", [ENRICHED, RUNNER_SHAPE])
def test_every_scenario_series_carries_the_files_clip_and_preset(name, file, tmp_path):
    shutil.copy(SAMPLES / file, tmp_path / file)
    doc = json.loads((SAMPLES / file).read_text())
    # expected, read from the file itself: the source's name and the preset, else "unknown"
    clips = {s["name"]: (s.get("source") or {}).get("name", "unknown") for s in doc["scenarios"]}
    presets = {s["name"]: s.get("preset") or "unknown" for s in doc["scenarios"]}
    with running_exporter(name, "--results-dir", str(tmp_path), *ARGS[name]) as exp:
        series = _scenario_series(exp.scrape())
    assert series, "the exporter serves scenario series"
    for metric, label_sets in series.items():
        for labels in label_sets:
            assert labels["clip"] == clips[labels["scenario"]], (metric, labels)
            assert labels["preset"] == presets[labels["scenario"]], (metric, labels)
    found = {labels["clip"] for ls in series.values() for labels in ls}
    # the enriched sample's encodes name their clip; the older runner-shape file names none
    assert "testsrc2" in found if file == ENRICHED else found == {"unknown"}
    if name == "results":
        assert m.RESULTS_SCENARIO_INFO.name in series and len(series[m.RESULTS_SCENARIO_INFO.name]) == len(clips)
