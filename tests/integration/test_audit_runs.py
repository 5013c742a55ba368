"""Issue 30: `ffwatt audit` on real runs exits 0, and 1 naming the scenario once a figure is edited.

Real `ffwatt run`s of real ffmpeg encodes: the CPU model on this machine (file encodes repeated, a
ladder, an idle baseline), live streams with a capacity sweep on a real nginx-rtmp, and a fleet (a
real Dask scheduler and one `ffwatt worker`). (The simulated RAPL host's run is audited in
test_idle_power.py.) What the audit must say is independent of the runner's code: every figure it
recomputes from the file's own inputs agrees, and a figure changed by hand does not.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from ffwatt.cli.main import main
from ffwatt.common.process import free_port, log_tail, spawn_logged, terminate
from tests.servers import NginxRtmp

ROOT = Path(__file__).resolve().parents[2]
BASE = ["--progress-url", "", "--no-quality", "--cpu-metrics-url", "", "--gpu-metrics-url", ""]

MODEL = """
defaults: {encoder: libx264, preset: ultrafast, fps: 30, source: testsrc2, duration: 1}
scenarios:
  - {name: baseline idle, idle: true, duration: 1}
  - {name: small, resolution: 320x180, bitrate: 200k, repeat: 2}
  - name: ladder
    resolution: 640x360
    outputs: [{resolution: 640x360, bitrate: 600k}, {resolution: 320x180, bitrate: 200k}]
"""
LIVE = """
defaults: {encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, bitrate: 150k, source: testsrc2}
scenarios:
  - {name: live one, mode: live, duration: 2}
  - {name: tiny, mode: live, duration: 2, sweep: {streams: [1, 2]}}
"""
FLEET = """
defaults: {encoder: libx264, preset: ultrafast, resolution: 160x90, fps: 30, duration: 1, source: testsrc2, repeat: 2}
scenarios:
  - {name: "fleet @ 100k", bitrate: 100k}
"""


def _results(directory: Path) -> Path:
    (path,) = sorted(directory.glob("test_results_*.json"))
    return path


def _audit(path: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["audit", str(path)])
    return rc, capsys.readouterr().out


@pytest.fixture(scope="module")
def model_run(ffmpeg, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("model")
    (tmp / "s.yml").write_text(MODEL)
    assert main(["run", str(tmp / "s.yml"), "--results-dir", str(tmp / "results"), "--ffmpeg", ffmpeg, *BASE]) == 0
    return _results(tmp / "results")


def test_a_model_run_with_repetitions_a_ladder_and_a_baseline_passes_its_audit(model_run, capsys):
    doc = json.loads(model_run.read_text())
    assert doc["meter"]["source"] == "model" and doc["idle"]["source"] == "model"
    small = next(s for s in doc["scenarios"] if s["name"] == "small")
    assert len(small["energy_inputs"]) == len(small["repetitions"]) == 2
    rc, out = _audit(model_run, capsys)
    assert rc == 0, out
    assert "ok        small:" in out and "ok        ladder:" in out and "ok        baseline idle:" in out


@pytest.mark.parametrize("field", ["energy_joules", "machine_energy_joules", "cpu_core_seconds"])
def test_one_figure_edited_by_hand_fails_the_audit_naming_its_scenario(model_run, tmp_path, capsys, field):
    doc = json.loads(model_run.read_text())
    ladder = next(s for s in doc["scenarios"] if s["name"] == "ladder")
    ladder[field] *= 1.001  # a tenth of a percent: far above 1e-6
    edited = tmp_path / model_run.name
    edited.write_text(json.dumps(doc))
    rc, out = _audit(edited, capsys)
    assert rc == 1, out
    assert "DIFFERS   ladder:" in out and f"{field}: the file has" in out
    assert out.rstrip().splitlines()[-1] == "1 scenario(s) disagree: ladder"


def test_a_repetition_edited_by_hand_fails_the_audit(model_run, tmp_path, capsys):
    doc = json.loads(model_run.read_text())
    small = next(s for s in doc["scenarios"] if s["name"] == "small")
    small["repetitions"][1]["energy_joules"] *= 0.99
    edited = tmp_path / model_run.name
    edited.write_text(json.dumps(doc))
    rc, out = _audit(edited, capsys)
    assert rc == 1 and "repetitions[1].energy_joules" in out and "DIFFERS   small:" in out


def test_a_live_run_with_a_sweep_passes_its_audit(ffmpeg, tmp_path, capsys):
    (tmp_path / "s.yml").write_text(LIVE)
    with NginxRtmp() as server:
        rc = main(["run", str(tmp_path / "s.yml"), "--results-dir", str(tmp_path / "results"), "--ffmpeg", ffmpeg,
                   "--rtmp-url", server.rtmp_url, "--rtmp-stat-url", server.stat_url, *BASE])
    assert rc == 0
    path = _results(tmp_path / "results")
    doc = json.loads(path.read_text())
    assert doc["sweeps"][0]["steps"] and all(s["mode"] == "live" for s in doc["scenarios"])
    rc, out = _audit(path, capsys)
    assert rc == 0, out
    assert "sweeps[0].steps[0].energy_joules" not in out  # checked, agreed, so not listed


def test_a_fleet_run_passes_its_audit(ffmpeg, tmp_path, capsys):
    pytest.importorskip("distributed", reason="the fleet extra (distributed) is not installed")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [spawn_logged([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                           str(port), "--no-dashboard"], tmp_path / "scheduler.log", env=env),
             spawn_logged([sys.executable, "-m", "ffwatt", "worker", address, "--name", "w1"], tmp_path / "w1.log",
                          env=env, cwd=ROOT)]
    try:
        deadline = time.monotonic() + 60
        while "joined" not in (tmp_path / "w1.log").read_text():
            assert time.monotonic() < deadline, log_tail(tmp_path / "w1.log")
            time.sleep(0.1)
        (tmp_path / "s.yml").write_text(FLEET)
        run = spawn_logged([sys.executable, "-m", "ffwatt", "run", str(tmp_path / "s.yml"), "--cluster", address,
                            "--results-dir", str(tmp_path / "results"), "--min-window", "0", *BASE],
                           tmp_path / "run.log", env=env, cwd=ROOT)
        assert run.wait(timeout=120) == 0, log_tail(tmp_path / "run.log")
    finally:
        for proc in procs:
            terminate(proc, 10, group=True)
    path = _results(tmp_path / "results")
    (s,) = json.loads(path.read_text())["scenarios"]
    assert s["host"] == "w1" and len(s["energy_inputs"]) == 2
    rc, out = _audit(path, capsys)
    assert rc == 0, out
