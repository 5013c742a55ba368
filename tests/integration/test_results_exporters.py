"""results, qoe and cost exporters on real files: values, reloads, bad input, the TSDB path."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.harness import assert_exposition_valid, running_exporter

SAMPLES = Path(__file__).resolve().parents[2] / "test_results"
ENRICHED = "test_results_20260115_120000.json"
PRICES = ("--energy-price", "0.25", "--core-hour-price", "0.05", "--currency", "USD", "--tsdb-url", "")


def trapezoid(values, step):
    """Hand-written trapezoid, independent of contract.formulas."""
    return sum((a + b) / 2 * step for a, b in zip(values, values[1:], strict=False))


@pytest.fixture
def results_dir(tmp_path):
    d = tmp_path / "results"
    d.mkdir()
    shutil.copy(SAMPLES / ENRICHED, d / ENRICHED)
    return d


def write_newer(d: Path, doc, stamp: str = "20260116_090000") -> Path:
    """Write a results file atomically (temp + rename), as a benchmark runner should:
    a plain write can be read half-done, which is a different bad file."""
    p = d / f"test_results_{stamp}.json"
    tmp = d / f".{p.name}.tmp"
    tmp.write_bytes(doc if isinstance(doc, bytes) else json.dumps(doc).encode())
    os.replace(tmp, p)
    return p


@pytest.mark.parametrize("name", ["results", "qoe", "cost"])
def test_live_output_is_promtool_clean_and_matches_catalog(name, results_dir):
    args = ("--results-dir", str(results_dir)) + (PRICES if name == "cost" else ())
    with running_exporter(name, *args) as exp:
        assert exp.health()["status"] == "ok"
        assert_exposition_valid(name, exp.scrape())
        om = exp.scrape(accept="application/openmetrics-text; version=1.0.0")
        assert om.rstrip().endswith("# EOF") and om.count("# EOF") == 1


def test_values_match_hand_computation(results_dir):
    doc = json.loads((results_dir / ENRICHED).read_text())
    raw = {s["name"]: s for s in doc["scenarios"]}
    busy, idle = raw["4 streams @ 5000k"], raw["baseline idle"]
    step = busy["step_seconds"]
    energy = trapezoid(busy["power_watts"], step)
    core_s = trapezoid(busy["cpu_usage_cores"], step)
    energy_cost = energy / 3.6e6 * 0.25
    compute_cost = core_s / 3600 * 0.05
    total = energy_cost + compute_cost
    span = step * (len(busy["power_watts"]) - 1)
    idle_watts = trapezoid(idle["power_watts"], idle["step_seconds"]) / (
        idle["step_seconds"] * (len(idle["power_watts"]) - 1))
    sel = {"scenario": "4 streams @ 5000k"}

    with running_exporter("cost", "--results-dir", str(results_dir), *PRICES) as cost:
        assert cost.value("ffwatt_cost_scenario_energy_joules", **sel) == pytest.approx(energy)
        assert cost.value("ffwatt_cost_scenario_energy_cost", currency="USD", **sel) == pytest.approx(energy_cost)
        assert cost.value("ffwatt_cost_scenario_compute_cost", **sel) == pytest.approx(compute_cost)
        assert cost.value("ffwatt_cost_scenario_overall_cost", **sel) == pytest.approx(total)
        viewers = busy.get("viewers", 4)
        assert cost.value("ffwatt_cost_scenario_cost_per_viewer_hour", **sel) == pytest.approx(
            total / (busy["duration"] / 3600 * viewers))
        assert cost.value("ffwatt_cost_scenario_net_power_watts", **sel) == pytest.approx(energy / span - idle_watts)
        # the sample files say their energy is simulated; a file that says nothing gets "samples"
        source = busy.get("energy_source", "samples")
        assert cost.value("ffwatt_cost_scenario_energy_source", source=source, **sel) == 1.0
        assert cost.value("ffwatt_cost_energy_price_per_kilowatt_hour", currency="USD") == 0.25
        # The baseline has no net power against itself.
        assert cost.value("ffwatt_cost_scenario_net_power_watts", scenario="baseline idle") is None

    with running_exporter("qoe", "--results-dir", str(results_dir)) as qoe:
        assert qoe.value("ffwatt_qoe_vmaf_score", **sel) == busy["vmaf_score"]
        assert qoe.value("ffwatt_qoe_drop_ratio", **sel) == pytest.approx(
            busy["dropped_frames"] / busy["total_frames"])
        assert qoe.value("ffwatt_qoe_vmaf_per_watt", **sel) == pytest.approx(busy["vmaf_score"] / (energy / span))
        pixels = busy.get("pixels_processed") or 1920 * 1080 * busy["total_frames"]
        assert qoe.value("ffwatt_qoe_efficiency_pixels_per_joule", **sel) == pytest.approx(
            pixels * busy["vmaf_score"] / 100 / energy)

    with running_exporter("results", "--results-dir", str(results_dir)) as res:
        assert res.value("ffwatt_results_scenarios") == len(raw)
        assert res.value("ffwatt_results_scenario_frames", **sel) == busy["total_frames"]
        assert res.value("ffwatt_results_scenario_streams", **sel) == 4
        assert res.value("ffwatt_results_scenario_duration_seconds", **sel) == busy["duration"]


def test_a_newer_file_is_picked_up_and_a_changed_file_reloaded(results_dir):
    with running_exporter("results", "--results-dir", str(results_dir), "--refresh-interval", "0.1") as exp:
        assert exp.value("ffwatt_results_scenarios") == 4
        doc = json.loads((results_dir / ENRICHED).read_text())
        doc["scenarios"] = doc["scenarios"][:2]
        newer = write_newer(results_dir, doc)
        exp.wait_for(lambda e: e.value("ffwatt_results_scenarios") == 2, what="the newer file")
        doc["scenarios"] = doc["scenarios"][:1]
        newer.write_text(json.dumps(doc))
        os.utime(newer, (time.time() + 5, time.time() + 5))  # a new mtime even on coarse clocks
        exp.wait_for(lambda e: e.value("ffwatt_results_scenarios") == 1, what="the rewritten file")
        assert exp.value("ffwatt_exporter_refresh_errors_total") == 0


def _big_scenarios(n):
    return {"test_date": "2026-01-16T09:00:00", "scenarios": [
        {"name": f"s{i}", "bitrate": "1000k", "resolution": "640x360", "fps": 30, "duration": 10,
         "encoder": "h264", "start_time": 1000 + i, "end_time": 1010 + i} for i in range(n)]}


BAD_FILES = {
    "truncated": (b'{"scenarios": [{"name": "x", "dur', "line 1"),
    "wrong type": (json.dumps({"scenarios": [{"name": "x", "duration": "long"}]}).encode(), "$.scenarios[0].duration"),
    "nan": (b'{"scenarios": [{"name": "x", "duration": NaN}]}', "$.scenarios[0].duration"),
    "infinity": (b'{"scenarios": [{"name": "x", "duration": Infinity}]}', "$.scenarios[0].duration"),
    "negative duration": (json.dumps({"scenarios": [{"name": "x", "duration": -5}]}).encode(),
                          "$.scenarios[0].duration"),
    "not utf-8": (b'{"scenarios": [{"name": "\xff\xfe", "duration": 1}]}', "UTF-8"),
    "not an object": (b"[1, 2, 3]", "$"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_newest_file_keeps_last_good_data_and_is_counted_once(case, results_dir, caplog):
    body, where = BAD_FILES[case]
    with running_exporter("qoe", "--results-dir", str(results_dir), "--refresh-interval", "0.05") as exp:
        good = exp.value("ffwatt_qoe_vmaf_score", scenario="4 streams @ 5000k")
        assert good is not None
        bad = write_newer(results_dir, body)
        exp.wait_for(lambda e: e.value("ffwatt_exporter_up") == 0, what="up to drop")
        refreshes = exp.runtime.state.refreshes
        exp.wait_for(lambda e: e.runtime.state.refreshes >= refreshes + 5, what="five more refreshes")
        assert exp.value("ffwatt_qoe_vmaf_score", scenario="4 streams @ 5000k") == good
        assert exp.value("ffwatt_exporter_refresh_errors_total") == 1, "one bad file is one error"
        health = exp.health()
        assert health["status"] == "degraded"
        assert bad.name in health["last_error"] and where in health["last_error"]
        assert any(bad.name in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
        # Fixing the file recovers without a restart.
        bad.write_text(json.dumps(_big_scenarios(3)))
        os.utime(bad, (time.time() + 5, time.time() + 5))
        exp.wait_for(lambda e: e.value("ffwatt_exporter_up") == 1, what="recovery")
        assert exp.health()["status"] == "ok"


def test_hostile_files_never_take_the_exporter_down(results_dir, tmp_path):
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps(_big_scenarios(1)))
    with running_exporter("results", "--results-dir", str(results_dir), "--refresh-interval", "0.05",
                          "--max-file-bytes", str(32 * 1024 * 1024)) as exp:
        def settle():
            n = exp.runtime.state.refreshes
            exp.wait_for(lambda e: e.runtime.state.refreshes >= n + 2, what="two refreshes")

        stamp = iter(f"20260117_0900{i:02d}" for i in range(60))
        (results_dir / f"test_results_{next(stamp)}.json").symlink_to(outside)
        settle()
        assert exp.value("ffwatt_results_scenarios") == 4, "a symlink out of the results dir is refused"
        assert "outside" in exp.health()["last_error"] or "symlink" in exp.health()["last_error"]

        big = results_dir / f"test_results_{next(stamp)}.json"
        with open(big, "wb") as f:
            f.write(b'{"scenarios": [], "pad": "')
            f.write(b"x" * (50 * 1024 * 1024))
            f.write(b'"}')
        settle()
        assert exp.value("ffwatt_results_scenarios") == 4, "a 50 MB file is refused, last good data kept"
        assert big.name in exp.health()["last_error"]

        odd = _big_scenarios(2)
        odd["scenarios"][0]["name"] = 'quote " and\nnewline \\ back'
        write_newer(results_dir, odd, next(stamp))
        exp.wait_for(lambda e: e.value("ffwatt_results_scenarios") == 2, what="odd names")
        names = {lbl["scenario"] for lbl, _ in exp.samples()["ffwatt_results_scenario_duration_seconds"]}
        assert 'quote " and\nnewline \\ back' in names

        write_newer(results_dir, _big_scenarios(10_000), next(stamp))
        exp.wait_for(lambda e: e.value("ffwatt_results_scenarios") == 10_000, timeout=60, what="10,000 scenarios")
        assert len(exp.samples()["ffwatt_results_scenario_duration_seconds"]) == 10_000
        assert exp.health()["status"] == "ok"


def test_cost_asks_the_tsdb_for_scenarios_without_power_samples(victoriametrics, results_dir):
    # A known joules counter: package rises 100 W, dram 10 W, a GPU 50 W, sampled every 10 s
    # for 300 s, plus a core sub-zone that must NOT be added (package already holds it).
    start = time.time() - 3600
    lines = []
    for k in range(0, 31):
        t = start + 10 * k
        ts = int(t * 1000)
        lines += [
            f'ffwatt_cpu_energy_joules_total{{socket="0",zone="package",instance="tsdbtest"}} {1000 + 100 * 10 * k} {ts}',
            f'ffwatt_cpu_energy_joules_total{{socket="0",zone="dram",instance="tsdbtest"}} {10 * 10 * k} {ts}',
            f'ffwatt_cpu_energy_joules_total{{socket="0",zone="core",instance="tsdbtest"}} {80 * 10 * k} {ts}',
            f'ffwatt_gpu_energy_joules_total{{gpu="0",instance="tsdbtest"}} {5000 + 50 * 10 * k} {ts}',
        ]
    victoriametrics.import_prometheus("\n".join(lines) + "\n")
    doc = {"test_date": "2026-01-16T09:00:00", "scenarios": [
        {"name": "nvenc 1 stream @ 3000k", "bitrate": "3000k", "resolution": "1280x720", "fps": 30,
         "duration": 200, "encoder": "h264_nvenc", "start_time": start + 50, "end_time": start + 250},
    ]}
    write_newer(results_dir, doc)
    # 200 s at 100 + 10 + 50 W = 32,000 J; the core zone and the outside samples are excluded.
    expected_joules = 200 * (100 + 10 + 50)
    with running_exporter("cost", "--results-dir", str(results_dir), "--tsdb-url", victoriametrics.url,
                          "--tsdb-selector", 'instance="tsdbtest"', "--energy-price", "0.25") as exp:
        sel = {"scenario": "nvenc 1 stream @ 3000k"}
        assert exp.value("ffwatt_cost_scenario_energy_joules", **sel) == pytest.approx(expected_joules, rel=0.01)
        assert exp.value("ffwatt_cost_scenario_energy_cost", **sel) == pytest.approx(
            expected_joules / 3.6e6 * 0.25, rel=0.01)
        assert exp.value("ffwatt_cost_scenario_energy_source", source="tsdb", **sel) == 1
        assert exp.value("ffwatt_cost_tsdb_query_errors_total") == 0
        # the TSDB's counters are the whole machine's: charged whole, and said so (issue 22)
        assert exp.value("ffwatt_cost_scenario_machine_energy_joules", **sel) == pytest.approx(
            expected_joules, rel=0.01)
        assert exp.value("ffwatt_cost_scenario_energy_attribution_info", attribution="whole-machine", **sel) == 1


def test_cost_says_when_the_tsdb_cannot_answer(results_dir):
    from tests.servers import free_port

    doc = {"scenarios": [{"name": "no samples", "duration": 60, "encoder": "h264", "bitrate": "1000k",
                          "resolution": "640x360", "fps": 30, "start_time": 1000.0, "end_time": 1060.0}]}
    write_newer(results_dir, doc)
    dead = f"http://127.0.0.1:{free_port()}"
    with running_exporter("cost", "--results-dir", str(results_dir), "--tsdb-url", dead) as exp:
        sel = {"scenario": "no samples"}
        assert exp.value("ffwatt_cost_scenario_energy_source", source="unavailable", **sel) == 1
        assert exp.value("ffwatt_cost_scenario_energy_joules", **sel) is None
        assert exp.value("ffwatt_cost_scenario_machine_energy_joules", **sel) is None
        assert exp.value("ffwatt_cost_tsdb_query_errors_total") >= 1
        health = exp.health()
        assert health["status"] == "degraded" and "no samples" in health["reason"]
        assert health["details"]["tsdb_errors"] >= 1


@pytest.mark.parametrize("name", ["results", "qoe", "cost"])
def test_a_30_mb_scenario_name_is_left_out_of_every_scrape_and_named_in_health(name, results_dir):
    # one scenario named with 30 MB would be repeated in each of its series on every scrape (240 MB)
    doc = json.loads((results_dir / ENRICHED).read_text())
    renamed = doc["scenarios"][1]["name"]
    doc["scenarios"][1]["name"] = "n" * 30_000_000
    with running_exporter(name, "--results-dir", str(results_dir), *(PRICES if name == "cost" else ())) as exp:
        before = _scenario_labels(exp.scrape())
        write_newer(results_dir, doc)
        exp.wait_for(lambda e: e.health()["details"]["file"] != ENRICHED, what="the file with the long name")
        text = exp.scrape()
        health = requests.get(exp.url + "/health", timeout=10)
    assert len(text) < 1_000_000 and "n" * 300 not in text
    assert renamed in before and _scenario_labels(text) == before - {renamed}  # the rest served as before
    (skipped,) = health.json()["details"]["skipped_scenarios"]
    assert "$.scenarios[1].name: 30000000 characters, over the limit of 256" in skipped
    assert len(health.content) < 100_000 and health.json()["status"] == "degraded"


def _scenario_labels(text: str) -> set[str]:
    """The scenarios of the per-scenario series (those with the scenario label set, not a sweep's steps)."""
    return {s.labels["scenario"] for f in text_string_to_metric_families(text) for s in f.samples
            if "scenario" in s.labels and "encoder" in s.labels}
