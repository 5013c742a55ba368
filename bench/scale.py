"""Scale: load and compute time and peak memory for big results files.

Each case runs in a fresh subprocess (`python -m bench.scale FILE`) so its peak
resident memory (VmHWM) is its own. The worker times, on the real code paths:

* load: `load_results_file` (read, msgspec decode, validation, and the per-scenario
  formulas the model derives on load: trapezoid energy, mean power, core-seconds,
  pixels); and the same file again through `json.loads` and `msgspec.convert` alone
  (the loader's path for bad files), side by side;
* publish: each of the results, qoe and cost exporters turning the run into samples
  (the cost and QoE formulas);
* encode: building the metric families and the text exposition, once per exporter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.procs import REPO, proc_stat
from bench.sources import write_results

CASES = (10, 1_000, 10_000)
SAMPLES = 3_600


def _config(exporter_cls, results_dir: Path, max_bytes: int):
    from ffwatt.catalog import EXPORTERS
    from ffwatt.exporters.config import common_settings, parse

    spec = EXPORTERS[exporter_cls.name]
    settings = common_settings(spec.port, 1.0) + tuple(exporter_cls.settings)
    argv = ["--results-dir", str(results_dir), "--max-file-bytes", str(max_bytes)]
    if exporter_cls.name == "cost":
        argv += ["--tsdb-url", ""]
    return parse("bench", "", settings, argv, environ={})


def measure(path: Path) -> dict:
    """Runs in the worker process."""
    from prometheus_client.exposition import generate_latest

    from ffwatt.contract.loading import load_results_file
    from ffwatt.exporters.cost import CostExporter
    from ffwatt.exporters.qoe import QoeExporter
    from ffwatt.exporters.results import ResultsExporter
    from ffwatt.exporters.runtime import _Encoded
    from ffwatt.exporters.samples import Samples

    size = path.stat().st_size
    max_bytes = size + 1
    rss_before = proc_stat(os.getpid()).rss_bytes
    began = time.perf_counter()
    run = load_results_file(path, max_bytes=max_bytes)
    load_s = time.perf_counter() - began
    out: dict = {"file_bytes": size, "scenarios": len(run.scenarios),
                 "power_samples": sum(len(s.power_watts) for s in run.scenarios),
                 "cpu_samples": sum(len(s.cpu_usage_cores) for s in run.scenarios),
                 "load_seconds": load_s, "publish_seconds": {}, "encode_seconds": {}, "series": {}}
    for cls in (ResultsExporter, QoeExporter, CostExporter):
        exporter = cls(_config(cls, path.parent, max_bytes))
        samples = Samples(cls.name)
        began = time.perf_counter()
        exporter.publish(run, samples)
        out["publish_seconds"][cls.name] = time.perf_counter() - began
        began = time.perf_counter()
        encoded = _Encoded(tuple(samples.families(shared=False)))
        body = encoded.encode(generate_latest, "text/plain")
        out["encode_seconds"][cls.name] = time.perf_counter() - began
        out["series"][cls.name] = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        del samples, encoded, body
    out["compute_seconds"] = sum(out["publish_seconds"].values())
    out["load_and_compute_seconds"] = load_s + out["compute_seconds"]
    out["rss_before_bytes"] = rss_before
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forking parent
    out["peak_rss_bytes"] = proc_stat(os.getpid()).hwm_bytes
    out["load_seconds_json_path"] = _json_path_seconds(path, max_bytes, run)  # after the peak is taken
    return out


def _json_path_seconds(path: Path, max_bytes: int, run) -> float:
    """The same file through json.loads and msgspec.convert alone (the loader's path for bad
    files), side by side in the same process."""
    from ffwatt.contract import loading

    fast = loading._decode_document
    loading._decode_document = lambda data, limit, file, where: loading._decode_outline(data, limit, file, where,
                                                                                         fast=False)
    try:
        began = time.perf_counter()
        slow_run = loading.load_results_file(path, max_bytes=max_bytes)
        seconds = time.perf_counter() - began
    finally:
        loading._decode_document = fast
    assert slow_run.scenarios == run.scenarios, "the two decode paths disagree"
    return seconds


def run_case(workdir: Path, scenarios: int, samples: int = SAMPLES, *, cpu_samples: bool = True,
             timeout: float = 300.0) -> dict:
    """Write the file, measure it in a fresh process, remove the file."""
    directory = Path(workdir) / f"scale-{scenarios}-{'pc' if cpu_samples else 'p'}"
    began = time.perf_counter()
    path = write_results(directory, scenarios, samples, cpu_samples=cpu_samples)
    written = time.perf_counter() - began
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.scale", str(path)], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            return {"scenarios": scenarios, "error": proc.stderr[-2000:]}
        result = json.loads(proc.stdout)
    finally:
        path.unlink(missing_ok=True)
    result["write_seconds"] = written
    result["cpu_samples_included"] = cpu_samples
    return result


def scale_section(workdir: Path, cases=CASES, samples: int = SAMPLES, log=print) -> dict:
    rows = []
    for n in cases:
        log(f"  scale: {n} scenarios x {samples} power + {samples} cpu samples")
        rows.append(run_case(workdir, n, samples))
    # the target counts power samples: the 1,000-scenario case once more without CPU samples
    target_case = 1_000 if 1_000 in cases else cases[len(cases) // 2]
    log(f"  scale: {target_case} scenarios x {samples} power samples only")
    power_only = run_case(workdir, target_case, samples, cpu_samples=False)
    return {"samples_per_scenario": samples, "cases": rows, "power_only": power_only}


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]))))
