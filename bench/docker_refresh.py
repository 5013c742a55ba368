"""Docker exporter refresh time with 1, 10 and 30 containers on a real Docker Engine.

The exporter is built in-process against a private engine (servers.docker.DockerEngine)
and `Runtime.refresh_once()` is timed: list the running containers, one-shot stats
for each on the exporter's worker pool (default --stats-workers), build the samples.
The containers run `sleep` (busybox), not a CPU burner: this machine has 2 cores.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

COUNTS = (1, 10, 30)
REFRESHES = 5


def docker_section(engine, counts=COUNTS, refreshes: int = REFRESHES, log: Callable[[str], None] = print) -> dict:
    from ffwatt.exporters.registry import load
    from ffwatt.exporters.runtime import build

    # only the bench's own containers: none from the fleet
    for c in engine.client.containers.list(all=True):
        c.remove(force=True)
    runtime = build(load("docker"), ["--listen-address", "127.0.0.1", "--port", "0", "--docker-host",
                                     engine.base_url, "--refresh-interval", "3600", "--log-level", "WARNING"],
                    environ={})
    rows = []
    try:
        running = 0
        for count in counts:
            began = time.monotonic()
            while running < count:
                engine.run_busy(name=f"ffw-bench-{running}", command="sleep 3600")
                running += 1
            log(f"  docker: {count} containers (started in {time.monotonic() - began:.1f} s)")
            runtime.refresh_once()  # first refresh of this set (connections warm)
            took = []
            for _ in range(refreshes):
                began = time.perf_counter()
                runtime.refresh_once()
                took.append(time.perf_counter() - began)
            state = runtime.state
            rows.append({
                "containers": count,
                "median_seconds": round(statistics.median(took), 4),
                "max_seconds": round(max(took), 4),
                # what the exporter itself reports (ffwatt_exporter_refresh_duration_seconds)
                "reported_last_seconds": round(state.last_duration or 0.0, 4),
                "failing": state.failing_now,
                "seen": runtime.exporter.health_details().get("containers"),
            })
        workers = runtime.exporter.workers
        one_shot = runtime.exporter.health_details().get("one_shot_stats")
    finally:
        runtime.stop()
        for c in engine.client.containers.list(all=True):
            try:
                c.remove(force=True)
            except Exception:  # the engine is closed right after; a leftover does not matter
                pass
    return {"stats_workers": workers, "one_shot_stats": one_shot, "refreshes_per_size": refreshes, "rows": rows}
