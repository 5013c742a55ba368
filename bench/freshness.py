"""Freshness: from a new results file being written to its values being queryable in
VictoriaMetrics through the real scrape path.

The results exporter (its own process, default 1 s refresh) is scraped every second
by a real VictoriaMetrics (`-search.latencyOffset=0s`, servers.tsdb) with the scrape
config rendered by ffwatt.deploy.scrape. Each trial writes a newer results file
(temp file + rename) whose scenario count is new, then polls both the exporter and
VictoriaMetrics' query API every POLL seconds until each shows it; no forced flush.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import requests

from bench.procs import ExporterProcess
from bench.sources import write_results
from ffwatt.catalog import metrics as m

TRIALS = 5
POLL = 0.05
TRIAL_TIMEOUT = 30.0


def _exporter_value(url: str, name: str) -> float | None:
    for line in requests.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _vm_value(vm, query: str) -> float | None:
    r = requests.get(vm.url + "/api/v1/query", params={"query": query}, timeout=5)
    result = r.json().get("data", {}).get("result", [])
    return float(result[0]["value"][1]) if result else None


def freshness_section(workdir: Path, trials: int = TRIALS, log: Callable[[str], None] = print) -> dict:
    from ffwatt.deploy.scrape import render_scrape_config
    from ffwatt.testing.servers.tsdb import VictoriaMetrics

    results_dir = Path(workdir) / "fresh-results"
    write_results(results_dir, 3, 10, seq=0)
    metric = m.RESULTS_SCENARIOS.name
    with ExporterProcess("results", "--results-dir", str(results_dir), workdir=Path(workdir) / "logs",
                         label="results-freshness") as exporter:
        config = render_scrape_config({"results": [f"127.0.0.1:{exporter.port}"]}, scrape_interval_override="1s")
        with VictoriaMetrics(scrape_config_text=config) as vm:
            deadline = time.monotonic() + 60
            while _vm_value(vm, metric) != 3.0:  # the first scrapes landed and are searchable
                if time.monotonic() > deadline:
                    raise TimeoutError(f"VictoriaMetrics never showed {metric}\n{vm.log_tail()}")
                time.sleep(0.2)
            rows = []
            for trial in range(1, trials + 1):
                expected = 3 + trial
                # a different phase against the 1 s refresh and scrape ticks each trial
                time.sleep(0.37 * trial)
                began = time.monotonic()
                write_results(results_dir, expected, 10, seq=trial)
                seen_exporter = seen_vm = None
                while seen_vm is None and time.monotonic() - began < TRIAL_TIMEOUT:
                    now = time.monotonic() - began
                    if seen_exporter is None and _exporter_value(exporter.url, metric) == expected:
                        seen_exporter = now
                    if _vm_value(vm, metric) == expected:
                        seen_vm = time.monotonic() - began
                        seen_exporter = seen_exporter if seen_exporter is not None else seen_vm
                    else:
                        time.sleep(POLL)
                rows.append({"trial": trial, "exporter_seconds": _round(seen_exporter),
                             "victoriametrics_seconds": _round(seen_vm)})
                log(f"  freshness trial {trial}: exporter {_round(seen_exporter)} s, VictoriaMetrics {_round(seen_vm)} s")
    vm_times = [r["victoriametrics_seconds"] for r in rows if r["victoriametrics_seconds"] is not None]
    exp_times = [r["exporter_seconds"] for r in rows if r["exporter_seconds"] is not None]
    return {
        "method": "new file (temp + rename) -> results exporter (1 s refresh) -> VictoriaMetrics scrape every 1 s "
                  "(-search.latencyOffset=0s, no forced flush) -> /api/v1/query; poll every 50 ms",
        "trials": rows,
        "median_seconds": _round(statistics.median(vm_times)) if vm_times else None,
        "max_seconds": _round(max(vm_times)) if vm_times else None,
        "median_exporter_seconds": _round(statistics.median(exp_times)) if exp_times else None,
        "timeouts": len(rows) - len(vm_times),
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)
