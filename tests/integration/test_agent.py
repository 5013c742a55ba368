"""ffwatt agent: the per-host exporters in one process, each as it is alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from ffwatt.exporters import agent
from ffwatt.exporters.runtime import Runtime
from ffwatt.testing.simulated.powercap import FakePowercap
from tests.harness import assert_exposition_valid

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def powercap(tmp_path):
    tree = FakePowercap(tmp_path / "powercap")
    tree.package(0, energy_uj=1_000_000)
    return tree


def _agent(powercap, *extra: str, exporters: str = "cpu,gpu,ffmpeg") -> list[Runtime]:
    names = exporters.split(",")
    ports = [a for n in names for a in (f"--{n}.port", "0")]
    return agent.build_agent(["--exporters", exporters, "--listen-address", "127.0.0.1", *ports,
                              "--cpu.powercap-root", str(powercap.root), "--cpu.hwmon-root", "",
                              "--docker.docker-host" if "docker" in names else "--cpu.log-level",
                              "unix:///nonexistent.sock" if "docker" in names else "INFO", *extra], environ={})


def _scrape(rt: Runtime, path: str = "/metrics") -> requests.Response:
    return requests.get(f"http://127.0.0.1:{rt.port}{path}", timeout=5)


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture
def running(powercap):
    runtimes = _agent(powercap, exporters="cpu,docker,gpu,ffmpeg")
    stop = threading.Event()
    thread = threading.Thread(target=agent.serve, args=(runtimes, stop), daemon=True)
    thread.start()
    _wait(lambda: all(rt.state.refreshes > 0 for rt in runtimes))
    yield {rt.exporter.name: rt for rt in runtimes}
    stop.set()
    thread.join(timeout=15)
    assert not thread.is_alive()


def test_every_exporter_in_the_agent_passes_the_checks_it_passes_alone(running):
    assert sorted(running) == ["cpu", "docker", "ffmpeg", "gpu"]
    ports = {rt.port for rt in running.values()}
    assert len(ports) == 4  # each on its own port
    for name, rt in running.items():
        assert_exposition_valid(name, _scrape(rt).text)
        assert _scrape(rt, "/health").json()["exporter"] == name


def test_a_hanging_source_leaves_the_others_on_time(powercap):
    runtimes = {rt.exporter.name: rt for rt in _agent(powercap, "--cpu.refresh-interval", "0.2",
                                                       "--ffmpeg.refresh-interval", "0.2")}
    hang = threading.Event()

    def hanging_refresh(out):
        hang.wait(30)  # a source that does not answer (NVML, a dead socket)

    runtimes["gpu"].exporter.refresh = hanging_refresh
    stop = threading.Event()
    thread = threading.Thread(target=agent.serve, args=(list(runtimes.values()), stop), daemon=True)
    thread.start()
    try:
        cpu = runtimes["cpu"]
        _wait(lambda: cpu.state.refreshes > 0)
        before = cpu.state.refreshes
        time.sleep(2.0)
        # 0.2 s refreshes for 2 s: about 10, whatever gpu does
        assert cpu.state.refreshes - before >= 5
        assert runtimes["ffmpeg"].state.refreshes >= 5
        started = time.monotonic()
        for name in ("cpu", "ffmpeg"):
            assert _scrape(runtimes[name]).status_code == 200
        assert time.monotonic() - started < 2.0  # served while gpu's refresh hangs
        # the hanging exporter still answers its scrapes from its (empty) snapshot
        assert _scrape(runtimes["gpu"]).status_code == 200
    finally:
        hang.set()
        stop.set()
        thread.join(timeout=15)


def test_a_failing_source_is_its_own_exporters_failure(powercap, tmp_path):
    runtimes = {rt.exporter.name: rt for rt in agent.build_agent(
        ["--exporters", "cpu,ffmpeg", "--listen-address", "127.0.0.1", "--cpu.port", "0", "--ffmpeg.port", "0",
         "--cpu.powercap-root", str(tmp_path / "absent"), "--cpu.hwmon-root", ""], environ={})}
    stop = threading.Event()
    thread = threading.Thread(target=agent.serve, args=(list(runtimes.values()), stop), daemon=True)
    thread.start()
    try:
        _wait(lambda: all(rt.state.refreshes > 0 for rt in runtimes.values()))
        assert _scrape(runtimes["cpu"], "/health").json()["status"] == "failing"
        assert _scrape(runtimes["ffmpeg"], "/health").json()["status"] == "ok"
    finally:
        stop.set()
        thread.join(timeout=15)


def test_per_exporter_environment_and_flags():
    environ = {"FFWATT_PORT": "1", "FFWATT_CPU_PORT": "9999", "FFWATT_POWERCAP_ROOT": "/x", "FFWATT_GPU_PORT": "2"}
    cpu, ffmpeg = agent.environment_for("cpu", environ), agent.environment_for("ffmpeg", environ)
    assert (cpu["FFWATT_PORT"], cpu["FFWATT_POWERCAP_ROOT"]) == ("9999", "/x")
    assert "FFWATT_PORT" not in ffmpeg  # one FFWATT_PORT cannot set every exporter's port
    assert agent.split_flags(["cpu", "gpu"], ["--cpu.port", "1", "--gpu.refresh-interval=2"]) == {
        "cpu": ["--port", "1"], "gpu": ["--refresh-interval=2"]}
    with pytest.raises(agent.AgentError, match="'docker' is not one of the agent's exporters"):
        agent.split_flags(["cpu"], ["--docker.port", "1"])
    with pytest.raises(agent.AgentError, match="with its name in front"):
        agent.split_flags(["cpu"], ["--port", "1"])
    with pytest.raises(agent.AgentError, match="health"):
        agent.build_agent(["--exporters", "cpu,health"], environ={})


def test_sigterm_stops_every_exporter_cleanly(powercap):
    ports = []
    for _ in range(2):
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "ffwatt.exporters", "agent", "--exporters", "cpu,ffmpeg",
                             "--listen-address", "127.0.0.1", "--cpu.port", str(ports[0]),
                             "--ffmpeg.port", str(ports[1]), "--cpu.powercap-root", str(powercap.root),
                             "--cpu.hwmon-root", ""], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        def up():
            try:
                return all(requests.get(f"http://127.0.0.1:{p}/health", timeout=1).json()["refreshes"] > 0
                           for p in ports)
            except (requests.RequestException, json.JSONDecodeError, KeyError):
                return False
        _wait(up, timeout=20)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out.decode()[-2000:]
    assert b"SIGTERM received, shutting down" in out
    for port in ports:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
