"""Fleet faults with real processes on loopback (`ffwatt scheduler`, `ffwatt worker`, `ffwatt run
--cluster`), each checked from the outside: exit statuses, logs, the results file and the events.

* The scheduler SIGKILLed mid-run: the run exits 1 with one `error:` line and no traceback, the
  scenario it was running is in `not_run` as interrupted by the loss of the scheduler, completed ones
  are kept; the worker rejoins a scheduler started again on the same port, and `--resume` finishes
  the rest, each scenario once.
* A worker whose scheduler is gone for good exits 1 once `--reconnect-timeout` passed.
* A worker sent SIGTERM mid-scenario gives it back (it runs again on the other host, which the
  results say), removes its work dir and exits 0.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from ffwatt.common.process import free_port, kill, log_tail, terminate
from tests.integration import fleet_procs as fp

pytest.importorskip("distributed", reason="the fleet extra (distributed) is not installed")

# each encode lasts a second or more here, so one is in flight when the fault strikes
SCENARIOS = """defaults: {encoder: libx264, preset: slow, resolution: 320x180, fps: 30, duration: 6, crf: 28,
           source: testsrc2}
scenarios:
  - name: "fault @ {crf}"
    matrix: {crf: [24, 26, 28, 30]}
"""
NAMES = [f"fault @ {crf}" for crf in (24, 26, 28, 30)]


def _run(tmp_path: Path, address: str, tag: str, *extra: str):
    scenario_file = tmp_path / "faults.yml"
    scenario_file.write_text(SCENARIOS)
    return fp.ffwatt(["run", str(scenario_file), "--cluster", address, "--no-quality", "--min-window", "0",
                      "--order", "sequential", "--results-dir", str(tmp_path / "results"), "--events",
                      str(tmp_path / f"events-{tag}.ndjson"), *fp.NO_EXPORTERS, *extra], tmp_path / f"run-{tag}.log")


def _in_flight_after_one_done(events: Path) -> str | None:
    """The scenario running once at least one is done (None before)."""
    seen = fp.events(events)
    done = {e["scenario"] for e in seen if e["event"] == "scenario-done"}
    running = [e["scenario"] for e in seen if e["event"] == "scenario-host" and e["scenario"] not in done]
    return running[-1] if done and running else None


def test_a_scheduler_killed_mid_run_gives_exit_1_no_traceback_and_a_resumable_file(tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = fp.ffwatt(["scheduler", "--port", str(port)], tmp_path / "scheduler-1.log")
    worker = fp.ffwatt(["worker", address, "--name", "w1", "--reconnect-timeout", "60"], tmp_path / "w1.log")
    procs = [scheduler, worker]
    try:
        fp.wait_joined(tmp_path / "w1.log", "w1")
        run = _run(tmp_path, address, "1")
        procs.append(run)
        in_flight = fp.wait_for(lambda: _in_flight_after_one_done(tmp_path / "events-1.ndjson"), 90,
                                "a scenario in flight after one done", tmp_path / "run-1.log")
        kill(scheduler)
        assert run.wait(timeout=60) == 1, log_tail(tmp_path / "run-1.log")
        out = (tmp_path / "run-1.log").read_text()
        assert "Traceback" not in out, out[-3000:]
        assert [line for line in out.splitlines() if line.startswith("error: ")] == [
            f"error: lost the Dask scheduler at {address} (connecting); the scenarios in flight are listed in not_run: "
            "start the scheduler and its workers again and continue with --resume"]
        doc = fp.results(tmp_path / "results")
        done = [s["name"] for s in doc["scenarios"]]
        interrupted = [n["name"] for n in doc["not_run"]
                       if (n["status"], n["reason"]) == ("failed", "interrupted by the loss of the Dask scheduler")]
        assert done and interrupted and sorted(done + interrupted) == sorted(NAMES)  # each scenario once, somewhere
        assert in_flight in interrupted or in_flight in done  # (it may have finished as the kill landed)
        # the scheduler again on the same port: the worker rejoins it, and --resume finishes the rest once each
        procs.append(fp.ffwatt(["scheduler", "--port", str(port)], tmp_path / "scheduler-2.log"))
        fp.wait_joined(tmp_path / "w1.log", "w1", word="rejoined")
        again = _run(tmp_path, address, "2", "--resume")
        procs.append(again)
        assert again.wait(timeout=120) == 0, log_tail(tmp_path / "run-2.log")
        doc = fp.results(tmp_path / "results")
        assert sorted(s["name"] for s in doc["scenarios"]) == sorted(NAMES) and doc["not_run"] == []
        assert worker.poll() is None  # it served through the loss
    finally:
        for proc in procs:
            terminate(proc, 10, group=True)


def test_a_worker_whose_scheduler_is_gone_for_good_exits_1_after_its_reconnect_timeout(tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = fp.ffwatt(["scheduler", "--port", str(port)], tmp_path / "scheduler.log")
    worker = fp.ffwatt(["worker", address, "--name", "w1", "--reconnect-timeout", "2"], tmp_path / "w1.log")
    try:
        fp.wait_joined(tmp_path / "w1.log", "w1")
        kill(scheduler)
        lost = time.monotonic()
        assert worker.wait(timeout=30) == 1  # before: 0, so Restart=on-failure never restarted it
        assert time.monotonic() - lost >= 2.0  # it tried for its --reconnect-timeout first
        log = (tmp_path / "w1.log").read_text()
        assert "worker w1: lost the scheduler at" in log and "trying to rejoin it for 2 s" in log
        assert log.rstrip().endswith(f"error: worker w1: lost the scheduler at {address} and could not rejoin it within "
                                     "2 s (--reconnect-timeout)")
    finally:
        for proc in (scheduler, worker):
            terminate(proc, 10, group=True)


def test_a_worker_sent_sigterm_mid_scenario_gives_it_back_removes_its_work_dir_and_exits_0(tmp_path):
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = {"scheduler": fp.ffwatt(["scheduler", "--port", str(port)], tmp_path / "scheduler.log")}
    for name in ("w1", "w2"):
        procs[name] = fp.ffwatt(["worker", address, "--name", name], tmp_path / f"{name}.log")
    try:
        for name in ("w1", "w2"):
            fp.wait_joined(tmp_path / f"{name}.log", name)
        work_dirs = {name: Path(re.search(r"work dir (\S+);", (tmp_path / f"{name}.log").read_text()).group(1))
                     for name in ("w1", "w2")}
        run = _run(tmp_path, address, "1")
        procs["run"] = run
        first = fp.wait_for(lambda: next((e for e in fp.events(tmp_path / "events-1.ndjson")
                                          if e["event"] == "scenario-host"), None), 60, "a scenario started",
                            tmp_path / "run-1.log")
        victim, scenario = first["host"], first["scenario"]
        assert work_dirs[victim].is_dir()
        procs[victim].send_signal(signal.SIGTERM)
        assert procs[victim].wait(timeout=30) == 0, log_tail(tmp_path / f"{victim}.log")  # before: 143, silently
        assert not work_dirs[victim].exists()
        assert "SIGTERM: leaving the scheduler, giving back any running scenario" in \
            (tmp_path / f"{victim}.log").read_text()
        assert run.wait(timeout=120) == 0, log_tail(tmp_path / "run-1.log")
        doc = fp.results(tmp_path / "results")
        entries = {s["name"]: s for s in doc["scenarios"]}
        assert sorted(entries) == sorted(NAMES)
        other = ({"w1", "w2"} - {victim}).pop()
        assert entries[scenario]["host"] == other and entries[scenario]["lost_attempt_hosts"] == [victim]
    finally:
        for proc in procs.values():
            terminate(proc, 10, group=True)
