"""The fleet end to end on loopback: a real `dask scheduler`, three `ffwatt worker` processes and
`ffwatt run --cluster`, one worker SIGKILLed while it runs a scenario.

Expected values come from the scenario file and the events, not from the runner's code: every
encode scenario is in the results with the host that ran it, no host's encode windows overlap,
the lost host's scenario ran again elsewhere and says so, the NVENC one is skipped with the
reason (none of these workers has a GPU), and the run exits 0.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ffwatt.common.process import free_port, kill, log_tail, spawn_logged, terminate
from ffwatt.runner.execute.fleet.task import SHIP_MAX_BYTES
from tests.integration import fleet_procs as fp
from tests.integration.fleet_procs import ROOT, ffwatt, wait_joined
from tests.servers import integration_required

pytest.importorskip("distributed", reason="the fleet extra (distributed) is not installed")

WORKERS = ("w1", "w2", "w3")
ENCODES = 8
SCENARIOS = f"""
defaults:
  encoder: libx264
  preset: medium
  resolution: 640x360
  fps: 30
  duration: 3
  source: testsrc2
scenarios:
  - name: "x264 @ {{bitrate}}"
    matrix:
      bitrate: [{", ".join(f"{200 + 100 * i}k" for i in range(ENCODES))}]
  - name: nvenc
    encoder: h264_nvenc
    preset: p4
    bitrate: 1000k
"""


@pytest.fixture()
def fleet(tmp_path):
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        if integration_required():
            pytest.fail(f"the static ffmpeg of imageio-ffmpeg is required: {exc}")
        pytest.skip(f"no static ffmpeg: {exc}")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = {"scheduler": ffwatt(["scheduler", "--port", str(port)], tmp_path / "scheduler.log")}
    for name in WORKERS:
        procs[name] = ffwatt(["worker", address, "--name", name], tmp_path / f"{name}.log")
    try:
        for name in WORKERS:
            wait_joined(tmp_path / f"{name}.log", name)
        yield address, procs
    finally:
        for proc in procs.values():
            terminate(proc, 10, group=True)


def test_fleet_runs_every_scenario_once_per_host_at_a_time_and_survives_a_lost_worker(fleet, tmp_path):
    address, procs = fleet
    scenario_file = tmp_path / "fleet.yml"
    scenario_file.write_text(SCENARIOS)
    events = tmp_path / "events.ndjson"
    run_log = tmp_path / "run.log"
    run = spawn_logged([sys.executable, "-m", "ffwatt", "run", str(scenario_file), "--cluster", address, "--no-quality",
                        "--results-dir", str(tmp_path / "results"), "--events", str(events),
                        "--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""],
                       run_log, env=fp.env(), cwd=ROOT)
    try:
        # the first host to start a scenario is lost mid-scenario
        first = fp.wait_for(lambda: next((e for e in fp.events(events) if e["event"] == "scenario-host"), None), 60,
                          "no worker started a scenario", run_log)
        victim, lost_scenario = first["host"], first["scenario"]
        kill(procs[victim])
        assert run.wait(timeout=90) == 0, log_tail(run_log)
    finally:
        if run.poll() is None:
            kill(run)
    doc = json.loads(next((tmp_path / "results").glob("test_results_*.json")).read_text())
    done = {s["name"]: s for s in doc["scenarios"]}
    # every encode ran, each on a worker of this fleet
    assert sorted(done) == sorted(f"x264 @ {200 + 100 * i}k" for i in range(ENCODES))
    assert {s["host"] for s in done.values()} <= set(WORKERS)
    assert set(doc["hosts"]) == {s["host"] for s in done.values()}
    for env in doc["hosts"].values():
        assert env["cpu_cores"] >= 1 and "libx264" in env["encoders"]
    # the lost one ran again on another host, which the entry and an event say
    again = done[lost_scenario]
    assert again["host"] != victim and again["lost_attempt_hosts"] == [victim]
    assert {"scenario": lost_scenario, "host": victim} in [
        {k: e[k] for k in ("scenario", "host")} for e in fp.events(events) if e["event"] == "attempt-lost"]
    assert not any(s["host"] == victim and s["start_time"] > first["time"] for s in done.values())
    # one encode at a time per host: sorted by start, each ends before the next starts
    for host in {s["host"] for s in done.values()}:
        windows = sorted((s["start_time"], s["end_time"]) for s in done.values() if s["host"] == host)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(windows, windows[1:], strict=False)), (host, windows)
    # nobody can open NVENC here: skipped at once with the reason, and the run still exits 0
    assert doc["not_run"] == [{"name": "nvenc", "status": "skipped", "reason": "no worker can open h264_nvenc"}]
    assert procs[victim].poll() == -signal.SIGKILL


REPEATED = """
defaults: {encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, duration: 1, source: testsrc2, repeat: 3}
scenarios:
  - name: "rep @ {bitrate}"
    matrix:
      bitrate: [100k, 300k]
"""


@pytest.mark.parametrize("pin", [False, True], ids=["per-repetition", "pin-host"])
def test_fleet_repetitions_are_gathered_into_one_entry_with_quality(fleet, tmp_path, pin):
    address, _ = fleet
    scenario_file = tmp_path / "rep.yml"
    scenario_file.write_text(REPEATED)
    run_log = tmp_path / "run.log"
    run = spawn_logged([sys.executable, "-m", "ffwatt", "run", str(scenario_file), "--cluster", address,
                        "--results-dir", str(tmp_path / "results"), "--min-window", "0", "--seed", "3",
                        "--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", "",
                        *(["--pin-host"] if pin else [])], run_log, env=fp.env(), cwd=ROOT)
    try:
        assert run.wait(timeout=120) == 0, log_tail(run_log)
    finally:
        if run.poll() is None:
            kill(run)
    doc = json.loads(next((tmp_path / "results").glob("test_results_*.json")).read_text())
    assert sorted(s["name"] for s in doc["scenarios"]) == ["rep @ 100k", "rep @ 300k"]  # each recorded once
    for s in doc["scenarios"]:
        reps = s["repetitions"]
        assert len(reps) == 3  # the scenario's repeat, whichever hosts ran them
        assert {r.get("host", s["host"]) for r in reps} <= set(WORKERS)
        assert s["vmaf_score"] > 0 or s.get("psnr_score", 0) > 0  # the last repetition's quality pass
        assert s["host"] in WORKERS and s["energy_joules"] > 0
        if pin:
            assert all("host" not in r for r in reps)  # one host ran them all, back to back
            starts = [r["start_time"] for r in reps]
            assert starts == sorted(starts)
    if pin:  # nothing was shuffled: no shuffled order and no seed are recorded
        assert doc["meter"]["order"] == "sequential" and "seed" not in doc["meter"]
    else:
        assert doc["meter"]["order"] == "shuffled" and doc["meter"]["seed"] == 3


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_shared_source_changed_after_dispatch_is_refused_by_the_worker_naming_both_digests(fleet, tmp_path):
    """A source too big to ship is read from the path every host shares; changed on disk after the
    controller hashed it and before a worker reads it, the worker refuses it: the scenario fails with
    the file, the controller's digest and the one found, and nothing is encoded from other bytes."""
    import imageio_ffmpeg

    address, _ = fleet
    clip = tmp_path / "shared" / "clip.nut"
    clip.parent.mkdir()
    # raw 160x90 yuv420p: 21,600 B a frame x 1,600 frames = 34.6 MB, over the 32 MiB a task ships
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x90:rate=25", "-frames:v", "1600", "-c:v", "rawvideo", "-f", "nut", "-y",
                    str(clip)], check=True, timeout=60)
    assert clip.stat().st_size > SHIP_MAX_BYTES
    expected = _sha256(clip)
    scenario_file = tmp_path / "shared.yml"
    idles = [f"idle {n}" for n in range(1, len(WORKERS) + 1)]
    scenario_file.write_text("scenarios:\n" + "".join(f"  - {{name: {name}, idle: true, duration: 4}}\n" for name in idles)
                             + f"  - {{name: from shared, encoder: libx264, preset: ultrafast, resolution: 160x90, "
                               f"fps: 25, duration: 1, bitrate: 100k, source: {{file: {clip}}}}}\n")
    events = tmp_path / "events.ndjson"
    run_log = tmp_path / "run.log"
    run = spawn_logged([sys.executable, "-m", "ffwatt", "run", str(scenario_file), "--cluster", address, "--no-quality",
                        "--results-dir", str(tmp_path / "results"), "--events", str(events),
                        "--cpu-metrics-url", "", "--gpu-metrics-url", "", "--progress-url", ""],
                       run_log, env=fp.env(), cwd=ROOT)
    try:
        # every worker holds an idle baseline, so the encode (dispatched with the digest) waits in the scheduler
        started = fp.wait_for(lambda: (lambda names: names if len(names) == len(WORKERS) else None)(
            {e["scenario"] for e in fp.events(events) if e["event"] == "scenario-host"}), 60, "idles started", run_log)
        assert started == set(idles)
        with clip.open("ab") as f:
            f.write(b"changed on the shared disk")
        found = _sha256(clip)
        assert run.wait(timeout=120) == 1, log_tail(run_log)  # a failed scenario fails the run
    finally:
        if run.poll() is None:
            kill(run)
    doc = json.loads(next((tmp_path / "results").glob("test_results_*.json")).read_text())
    assert sorted(s["name"] for s in doc["scenarios"]) == idles
    (refused,) = doc["not_run"]
    assert (refused["name"], refused["status"]) == ("from shared", "failed")
    assert str(clip) in refused["reason"] and f"has SHA-256 {found}, expected {expected}" in refused["reason"]
