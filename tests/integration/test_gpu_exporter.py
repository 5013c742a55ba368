"""The real gpu exporter over HTTP on a fake NVML: promtool, catalog, /health; in-process and as a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pynvml
import pytest
import requests

from tests.fake_nvml import FakeGpu, FakeNvml
from tests.harness import assert_exposition_valid, parse_samples, running_exporter
from tests.servers import free_port, wait_http

REPO = Path(__file__).resolve().parents[2]


def test_two_gpus_exposition_is_valid(monkeypatch):
    fake = FakeNvml([FakeGpu(index=0), FakeGpu(index=1)])
    fake.gpus[1].errors["nvmlDeviceGetEncoderStats"] = pynvml.NVML_ERROR_NOT_SUPPORTED
    fake.install(monkeypatch.setattr)
    with running_exporter("gpu") as exp:
        text = exp.scrape()
        assert_exposition_valid("gpu", text)
        assert exp.value("ffwatt_gpu_devices") == 2
        assert exp.value("ffwatt_gpu_power_watts", gpu="0") == pytest.approx(31.25)
        assert exp.value("ffwatt_gpu_energy_joules_total", gpu="1") == pytest.approx(987_654.321)
        assert exp.value("ffwatt_gpu_encoder_sessions", gpu="0") == 3
        assert exp.value("ffwatt_gpu_encoder_sessions", gpu="1") is None
        assert exp.value("ffwatt_gpu_info", gpu="1", pci_bus_id="00000000:18:00.0") == 1.0
        assert exp.health()["status"] == "ok"
        om = exp.scrape(accept="application/openmetrics-text; version=1.0.0")
        assert om.rstrip().endswith("# EOF")


def test_no_gpu_exposition_is_valid_and_healthy(monkeypatch):
    FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND).install(monkeypatch.setattr)
    with running_exporter("gpu") as exp:
        assert_exposition_valid("gpu", exp.scrape())
        assert exp.value("ffwatt_gpu_devices") == 0
        assert exp.value("ffwatt_exporter_up", exporter="gpu") == 1.0
        health = exp.health()
        assert health["status"] == "ok" and "Library Not Found" in health["details"]["nvml"]


def test_lost_gpu_degrades_health_then_recovers(monkeypatch):
    fake = FakeNvml([FakeGpu(index=0), FakeGpu(index=1)])
    fake.install(monkeypatch.setattr)
    with running_exporter("gpu", "--refresh-interval", "0.05") as exp:
        fake.lose(0)
        exp.wait_for(lambda e: e.health()["status"] == "degraded", what="degraded health")
        assert exp.value("ffwatt_gpu_power_watts", gpu="0") is None
        assert "GPU is lost" in exp.health()["reason"]
        fake.recover(0)
        exp.wait_for(lambda e: e.value("ffwatt_gpu_power_watts", gpu="0") is not None, what="GPU 0 back")
        exp.wait_for(lambda e: e.health()["status"] == "ok", what="ok health")
        assert exp.health()["details"]["reinitialisations"] >= 1


def test_fake_nvml_in_a_subprocess(tmp_path):
    state = tmp_path / "nvml.json"
    fake = FakeNvml([FakeGpu(index=0, power_mw=55_500)])
    fake.write(state)
    port = free_port()
    log = open(tmp_path / "exporter.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "tests.fake_nvml", str(state), "--listen-address", "127.0.0.1",
                             "--port", str(port), "--refresh-interval", "0.1"], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_http(url, timeout=20, proc=proc)
        text = requests.get(url, timeout=5).text
        assert_exposition_valid("gpu", text)
        assert parse_samples(text)["ffwatt_gpu_power_watts"] == [({"gpu": "0"}, 55.5)]
        fake.gpus[0].power_mw = 60_000  # the state file is re-read when it changes
        fake.write(state)

        def power() -> float | None:
            samples = parse_samples(requests.get(url, timeout=5).text).get("ffwatt_gpu_power_watts", [])
            return samples[0][1] if samples else None

        wait_http(url, timeout=10, check=lambda r: power() == 60.0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "exporter.log").read_text()
