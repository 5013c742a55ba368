"""The real gpu exporter over HTTP on a fake NVML: promtool, catalog, /health; in-process and as a process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pynvml
import pytest
import requests

from ffwatt.testing.simulated.nvml import FakeGpu, FakeNvml
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


def test_real_nvml_shapes_over_http(monkeypatch):
    # What the audit against the real library asked for, end to end: the energy counter by UUID,
    # a GPU without one (integrated power, said so), memory used vs reserved, clock-event reasons,
    # NVENC latency, and a GPU this process may not open (not counted, health ok).
    old = FakeGpu(index=1, name="Tesla P4", power_mw=40_000)
    old.errors["nvmlDeviceGetTotalEnergyConsumption"] = pynvml.NVML_ERROR_NOT_SUPPORTED
    locked = FakeGpu(index=2)
    locked.errors["nvmlDeviceGetHandleByIndex"] = pynvml.NVML_ERROR_NO_PERMISSION
    fake = FakeNvml([FakeGpu(index=0), old, locked])
    fake.install(monkeypatch.setattr)
    with running_exporter("gpu", "--refresh-interval", "0.05") as exp:
        assert_exposition_valid("gpu", exp.scrape())
        uuid0, uuid1 = fake.gpus[0].uuid, fake.gpus[1].uuid
        assert exp.value("ffwatt_gpu_devices") == 2
        assert exp.value("ffwatt_gpu_energy_joules_total", gpu="0", uuid=uuid0) == pytest.approx(987_654.321)
        assert exp.value("ffwatt_gpu_energy_joules_total", gpu="1") is None
        assert exp.value("ffwatt_gpu_nvml_energy_supported", gpu="1", uuid=uuid1) == 0
        assert exp.value("ffwatt_gpu_nvml_energy_supported", gpu="0", uuid=uuid0) == 1
        # 40 W integrated between refreshes: it rises with the wall clock
        first = exp.wait_for(lambda e: e.value("ffwatt_gpu_power_integrated_joules_total", uuid=uuid1),
                             what="integrated energy above 0")
        exp.wait_for(lambda e: e.value("ffwatt_gpu_power_integrated_joules_total", uuid=uuid1) > first + 4,
                     what="integrated energy rising")
        assert exp.value("ffwatt_gpu_memory_used_bytes", gpu="0") == 1_517 * 1024 * 1024
        assert exp.value("ffwatt_gpu_memory_reserved_bytes", gpu="0") == 437 * 1024 * 1024
        assert exp.value("ffwatt_gpu_clock_event_active", gpu="0", reason="sw_power_cap") == 1
        assert exp.value("ffwatt_gpu_clock_event_active", gpu="0", reason="hw_thermal_slowdown") == 0
        assert exp.value("ffwatt_gpu_encoder_average_latency_seconds", gpu="0") == pytest.approx(0.00145)
        health = exp.health()
        assert health["status"] == "ok", health
        details = health["details"]
        assert details["unreadable"] == {"2": "Insufficient Permissions"}
        assert details["energy_source"] == {"0": "counter", "1": "integrated power gauge"}
        assert details["memory_api"] == {"0": "v2", "1": "v2"}


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
        assert exp.value("ffwatt_gpu_power_watts", gpu="1") is not None  # the other GPU is still served
        assert exp.value("ffwatt_gpu_devices") == 1
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
    proc = subprocess.Popen([sys.executable, "-m", "scripts.simulated_gpu", str(state), "--listen-address", "127.0.0.1",
                             "--port", str(port), "--refresh-interval", "0.1"], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_http(url, timeout=20, proc=proc)
        text = requests.get(url, timeout=5).text
        assert_exposition_valid("gpu", text)
        uuid = fake.gpus[0].uuid
        assert parse_samples(text)["ffwatt_gpu_power_watts"] == [({"gpu": "0", "uuid": uuid}, 55.5)]
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


def test_tsdb_energy_of_gpus_that_swapped_indices_and_one_without_a_counter(victoriametrics):
    # Faults 2 and 3 through a real VictoriaMetrics and the cost exporter's own query: two GPUs
    # whose counters count since the driver loaded (10^9 and 10^8 J) swap NVML indices half-way
    # (an exporter restarted with other --gpus), and a Pascal GPU without an energy counter is
    # counted through the integrated power gauge. Every 10 s for 300 s.
    from ffwatt.catalog import metrics as m
    from ffwatt.readers.tsdb import scenario_energy_joules

    start = time.time() - 3600
    a, b, c = "GPU-aaaaaaaa", "GPU-bbbbbbbb", "GPU-cccccccc"
    lines = []
    for k in range(31):
        t = start + 10 * k
        ts = int(t * 1000)
        gpu_a, gpu_b = ("0", "1") if k < 15 else ("1", "0")  # the swap
        lines += [
            f'{m.GPU_ENERGY.name}{{gpu="{gpu_a}",uuid="{a}",instance="swap"}} {1e9 + 100 * 10 * k} {ts}',
            f'{m.GPU_ENERGY.name}{{gpu="{gpu_b}",uuid="{b}",instance="swap"}} {1e8 + 50 * 10 * k} {ts}',
            f'{m.GPU_POWER_INTEGRATED.name}{{gpu="2",uuid="{c}",instance="swap"}} {30 * 10 * k} {ts}',
            f'{m.GPU_NVML_ENERGY_SUPPORTED.name}{{gpu="2",uuid="{c}",instance="swap"}} 0 {ts}',
        ]
    victoriametrics.import_prometheus("\n".join(lines) + "\n")
    joules = scenario_energy_joules(victoriametrics.url, start + 50, start + 250, selector='instance="swap"')
    # 200 s at 100 + 50 + 30 W = 36,000 J. At the swap each GPU's series ends and a new one starts:
    # the 10 s between the last sample of the old series and the first of the new are not seen
    # (150 W x 10 s = 1,500 J), never a whole lifetime added or a false reset.
    assert 36_000 - 1_500 - 1 <= joules <= 36_000 + 1
    # Labelled by index only, the same data shows what the UUID prevents: a "reset" of gpu="0"
    # from 10^9 to 10^8 J adds about a whole GPU lifetime.
    by_index = victoriametrics.query(
        f'sum(increase(sum by (gpu) ({m.GPU_ENERGY.name}{{instance="swap"}})[200s:10s]))', time=start + 250)
    assert float(by_index[0]["value"][1]) > 1e8
