"""Fleet (section `fleet`; bench/fleet.py is the exporter processes, another thing):

* overhead: the same scenario file (short libx264 encodes of testsrc2, no quality pass, no
  exporters) run by `ffwatt run` here and by `ffwatt run --cluster` on one loopback
  `ffwatt worker` (one worker, so both run the scenarios one after another): wall seconds per
  scenario from run-start to run-done, and their ratio (fleet / local);
* dispatch: scenarios-per-second a scheduler hands out, with 8 loopback workers (one thread
  each, as `ffwatt worker`) and trivial tasks, submitted one `Client.submit` each as the
  runner does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.procs import REPO
from ffwatt.common.process import free_port, spawn_logged, terminate

SCENARIOS = """
defaults: {{encoder: libx264, preset: ultrafast, resolution: 320x180, fps: 30, duration: 2, source: testsrc2}}
scenarios:
  - name: "x264 @ {{bitrate}}"
    matrix:
      bitrate: [{rates}]
"""
NO_EXPORTERS = ["--no-quality", "--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _per_scenario_seconds(events: Path, count: int) -> float:
    evs = [json.loads(line) for line in events.read_text().splitlines()]
    start = next(e["time"] for e in evs if e["event"] == "run-start")
    end = next(e["time"] for e in evs if e["event"] == "run-done")
    done = sum(1 for e in evs if e["event"] == "scenario-done")
    if done != count:
        raise RuntimeError(f"{done} of {count} scenarios done ({events})")
    return (end - start) / count


def _run(work: Path, tag: str, scenario_file: Path, extra: list[str]) -> Path:
    events = work / f"{tag}.ndjson"
    subprocess.run([sys.executable, "-m", "ffwatt", "run", str(scenario_file), "--results-dir", str(work / tag),
                    "--events", str(events), *NO_EXPORTERS, *extra], cwd=REPO, env=_env(), check=True,
                   capture_output=True, timeout=600)
    return events


def overhead(work: Path, count: int, log) -> dict:
    scenario_file = work / "fleet-bench.yml"
    scenario_file.write_text(SCENARIOS.format(rates=", ".join(f"{200 + 10 * i}k" for i in range(count))))
    local = _per_scenario_seconds(_run(work, "local", scenario_file, []), count)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched = spawn_logged([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                          str(port), "--no-dashboard"], work / "scheduler.log", env=_env())
    worker = spawn_logged([sys.executable, "-m", "ffwatt", "worker", address, "--name", "bench"], work / "worker.log",
                          env=_env(), cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while "joined" not in (work / "worker.log").read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("the bench worker did not join in 60 s")
            time.sleep(0.1)
        fleet = _per_scenario_seconds(_run(work, "fleet", scenario_file, ["--cluster", address]), count)
    finally:
        terminate(worker, 10, group=True)
        terminate(sched, 10, group=True)
    log(f"fleet overhead: {count} scenarios, local {local:.3f} s, fleet {fleet:.3f} s per scenario")
    return {"scenarios": count, "local_seconds_per_scenario": local, "fleet_seconds_per_scenario": fleet,
            "ratio": fleet / local, "overhead_seconds_per_scenario": fleet - local}


def _trivial(i: int) -> int:
    return i


def dispatch(work: Path, tasks: int, workers: int, log) -> dict:
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched = spawn_logged([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                          str(port), "--no-dashboard"], work / "dispatch-scheduler.log", env=_env())
    pool = spawn_logged([sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                         "--nworkers", str(workers), "--nthreads", "1", "--resources", "slot=1", "--no-dashboard"],
                        work / "dispatch-workers.log", env=_env(), cwd=REPO)
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
            client.gather([client.submit(_trivial, -1, pure=False, resources={"slot": 1})])  # warm
            t0 = time.perf_counter()
            futures = [client.submit(_trivial, i, pure=False, resources={"slot": 1}) for i in range(tasks)]
            client.gather(futures)
            seconds = time.perf_counter() - t0
    finally:
        terminate(pool, 20, group=True)
        terminate(sched, 10, group=True)
    log(f"fleet dispatch: {tasks} trivial tasks on {workers} workers in {seconds:.2f} s")
    return {"tasks": tasks, "workers": workers, "seconds": seconds, "scenarios_per_second": tasks / seconds}


def fleet_section(work: Path, quick: bool, log) -> dict:
    return {"overhead": overhead(work, 4 if quick else 8, log),
            "dispatch": dispatch(work, 500 if quick else 2000, 8, log)}
