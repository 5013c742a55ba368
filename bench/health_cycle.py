"""Health checker cycle time: 9 healthy targets, then the same 9 plus 3 that never
answer (servers that accept the connection and hang), at a given --timeout.

The healthy targets are real: the ffwatt exporter processes of the bench fleet plus
node-exporter, padded with more ffwatt exporter processes when fewer than 9 run. The
checker runs in-process and `Runtime.refresh_once()` (one whole probe cycle) is timed.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from bench.procs import Process

TIMEOUT = 2.0
CYCLES = 3
HEALTHY = 9
HANGING = 3


def _target(name: str, proc: Process) -> dict:
    if name == "node-exporter":
        return {"name": name, "url": proc.url + "/metrics", "kind": "prometheus", "expect": ["node_cpu_seconds_total"]}
    exporter = getattr(proc, "exporter", name)
    return {"name": name, "url": proc.url, "kind": "ffwatt", "exporter": exporter}


def _cycle_times(targets_file: Path, timeout: float, cycles: int) -> tuple[list[float], dict]:
    from ffwatt.exporters.registry import load
    from ffwatt.exporters.runtime import build

    runtime = build(load("health"), ["--listen-address", "127.0.0.1", "--port", "0", "--targets-file",
                                     str(targets_file), "--timeout", str(timeout), "--refresh-interval", "3600",
                                     "--log-level", "ERROR"], environ={})
    try:
        runtime.refresh_once()  # warm: connection set-up, first parse
        took = []
        for _ in range(cycles):
            began = time.perf_counter()
            runtime.refresh_once()
            took.append(time.perf_counter() - began)
        details = runtime.exporter.health_details()
    finally:
        runtime.stop()
    return took, details


def health_section(fleet_targets: dict[str, Process], workdir: Path, timeout: float = TIMEOUT,
                   cycles: int = CYCLES, log: Callable[[str], None] = print) -> dict:
    from bench.fleet import GPU_WITHOUT_NVML
    from ffwatt.testing.servers.targets import SilentServer

    fleet_targets = {n: p for n, p in fleet_targets.items() if n != GPU_WITHOUT_NVML}
    healthy = [_target(n, p) for n, p in fleet_targets.items()]
    # pad to 9 by probing some exporters a second time under another name
    i = 0
    names = list(fleet_targets)
    while len(healthy) < HEALTHY and names:
        n = names[i % len(names)]
        t = _target(n, fleet_targets[n])
        t["name"] = f"{n}-again"
        healthy.append(t)
        i += 1
    healthy = healthy[:HEALTHY]
    out: dict = {"timeout_seconds": timeout, "cycles": cycles, "targets": [t["name"] for t in healthy]}
    path = Path(workdir) / "health-bench-targets.yml"

    path.write_text(yaml.safe_dump({"targets": healthy}))
    log(f"  health: {len(healthy)} healthy targets, timeout {timeout:g} s")
    took, details = _cycle_times(path, timeout, cycles)
    out["healthy"] = {"targets": len(healthy), "median_seconds": round(statistics.median(took), 4),
                      "max_seconds": round(max(took), 4), "healthy_seen": details["healthy"],
                      "unhealthy": details["unhealthy"]}

    with contextlib.ExitStack() as stack:
        silent = [stack.enter_context(SilentServer()) for _ in range(HANGING)]
        hanging = healthy + [{"name": f"hang-{k}", "url": s.url, "kind": "prometheus"} for k, s in enumerate(silent)]
        path.write_text(yaml.safe_dump({"targets": hanging}))
        log(f"  health: {len(healthy)} healthy + {HANGING} hanging targets, timeout {timeout:g} s")
        took, details = _cycle_times(path, timeout, cycles)
    out["with_hanging"] = {"targets": len(hanging), "hanging": HANGING,
                           "median_seconds": round(statistics.median(took), 4), "max_seconds": round(max(took), 4),
                           "healthy_seen": details["healthy"], "unhealthy": details["unhealthy"],
                           "hang_reasons": sorted({details["per_target"][f"hang-{k}"]["reason"]
                                                   for k in range(HANGING)})}
    return out
