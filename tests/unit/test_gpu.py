"""The gpu exporter against a fake NVML at the pynvml function boundary (tests/fake_nvml.py)."""

from __future__ import annotations

import logging

import pynvml
import pytest

from catalog import metrics as m
from exporters.config import common_settings, parse
from exporters.gpu import GpuExporter
from exporters.runtime import SourceError
from exporters.samples import Samples
from tests.fake_nvml import MIB, FakeGpu, FakeNvml

PER_GPU = (m.GPU_POWER, m.GPU_POWER_LIMIT, m.GPU_ENERGY, m.GPU_TEMPERATURE, m.GPU_UTILIZATION,
           m.GPU_MEMORY_UTILIZATION, m.GPU_ENCODER_UTILIZATION, m.GPU_DECODER_UTILIZATION,
           m.GPU_ENCODER_SESSIONS, m.GPU_ENCODER_FPS, m.GPU_MEMORY_USED, m.GPU_MEMORY_TOTAL,
           m.GPU_GRAPHICS_CLOCK, m.GPU_SM_CLOCK, m.GPU_MEMORY_CLOCK)


def make_exporter() -> GpuExporter:
    config = parse("gpu", "test", common_settings(9505, 5.0) + GpuExporter.settings, [], {})
    return GpuExporter(config)


def refresh(exporter: GpuExporter) -> Samples:
    out = Samples("gpu")
    exporter.refresh(out)
    return out


def series_of(out: Samples, gpu: str) -> set[str]:
    return {metric.name for metric in PER_GPU if out.value(metric, gpu=gpu) is not None}


def info_of(out: Samples) -> dict[str, dict[str, str]]:
    """gpu -> info labels, from the samples the exporter added."""
    found = {}
    for key in out._values[m.GPU_INFO]:
        labels = dict(zip(m.GPU_INFO.labels, key, strict=True))
        found[labels["gpu"]] = labels
    return found


@pytest.fixture
def nvml(monkeypatch):
    fake = FakeNvml([FakeGpu(index=0), FakeGpu(index=1, name="NVIDIA H100 80GB HBM3", power_mw=412_700,
                                                  power_limit_mw=700_000, energy_mj=5_000_123,
                                                  temperature_c=61, utilization_gpu=100, utilization_memory=73,
                                                  encoder_utilization=0, decoder_utilization=0,
                                                  encoder_sessions=0, encoder_fps=0,
                                                  memory_total=81_559 * MIB, memory_used=40_000 * MIB,
                                                  graphics_clock_mhz=1_980, sm_clock_mhz=1_980,
                                                  memory_clock_mhz=2_619)])
    fake.install(monkeypatch.setattr)
    return fake


# --- no GPU ------------------------------------------------------------------------------


def test_no_nvml_library_is_zero_gpus_and_ok(monkeypatch, caplog):
    fake = FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    fake.install(monkeypatch.setattr)
    exporter = make_exporter()
    with caplog.at_level(logging.INFO, logger="ffwatt.gpu"):
        out = refresh(exporter)
        again = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 0 and again.value(m.GPU_COUNT) == 0
    assert out.warnings == [] and again.warnings == []  # no GPU is a valid state: status stays ok
    details = exporter.health_details()
    assert "NVML Shared Library Not Found" in details["nvml"] and "--gpus all" in details["nvml"]
    assert details["gpus"] == 0 and details["initialised"] is False
    assert fake.init_calls == 2  # retried each refresh: a driver installed later is picked up
    assert sum("Library Not Found" in r.getMessage() for r in caplog.records) == 1  # logged once


def test_driver_not_loaded_is_zero_gpus(monkeypatch):
    FakeNvml(init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED).install(monkeypatch.setattr)
    exporter = make_exporter()
    out = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 0 and out.warnings == []
    assert "Driver Not Loaded" in exporter.health_details()["nvml"]


def test_driver_with_no_devices(monkeypatch):
    fake = FakeNvml([])
    fake.install(monkeypatch.setattr)
    exporter = make_exporter()
    out = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 0 and out.warnings == []
    assert out._values[m.GPU_INFO] == {}
    details = exporter.health_details()
    assert details["nvml"] == "ok" and details["driver_version"] == "550.54.15"
    assert fake.calls["nvmlDeviceGetCount"] == 1


def test_other_init_failure_is_degraded_and_retried(monkeypatch):
    fake = FakeNvml([FakeGpu()], init_error=pynvml.NVML_ERROR_NO_PERMISSION)
    fake.install(monkeypatch.setattr)
    exporter = make_exporter()
    out = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 0
    assert len(out.warnings) == 1 and "Insufficient Permissions" in out.warnings[0]
    fake.init_error = None  # fixed: the next refresh initialises and reads the GPU
    out = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 1 and out.value(m.GPU_POWER, gpu="0") == pytest.approx(31.25)
    assert out.warnings == []


# --- readings ------------------------------------------------------------------------------


def test_two_gpus_exact_converted_values(nvml):
    exporter = make_exporter()
    out = refresh(exporter)
    assert out.warnings == []
    assert out.value(m.GPU_COUNT) == 2
    v = {metric.name: out.value(metric, gpu="0") for metric in PER_GPU}
    assert v == {
        m.GPU_POWER.name: 31.25,
        m.GPU_POWER_LIMIT.name: 72.0,
        m.GPU_ENERGY.name: pytest.approx(987_654.321),
        m.GPU_TEMPERATURE.name: 46.0,
        m.GPU_UTILIZATION.name: 0.37,
        m.GPU_MEMORY_UTILIZATION.name: 0.12,
        m.GPU_ENCODER_UTILIZATION.name: 0.55,
        m.GPU_DECODER_UTILIZATION.name: 0.08,
        m.GPU_ENCODER_SESSIONS.name: 3.0,
        m.GPU_ENCODER_FPS.name: 180.0,
        m.GPU_MEMORY_USED.name: 1_517 * 1024 * 1024,
        m.GPU_MEMORY_TOTAL.name: 23_034 * 1024 * 1024,
        m.GPU_GRAPHICS_CLOCK.name: 2.04e9,
        m.GPU_SM_CLOCK.name: 2.04e9,
        m.GPU_MEMORY_CLOCK.name: 6.25e9,
    }
    assert out.value(m.GPU_POWER, gpu="1") == pytest.approx(412.7)
    assert out.value(m.GPU_ENERGY, gpu="1") == pytest.approx(5_000.123)
    assert out.value(m.GPU_UTILIZATION, gpu="1") == 1.0
    assert out.value(m.GPU_ENCODER_SESSIONS, gpu="1") == 0.0  # a real zero is kept
    assert out.value(m.GPU_MEMORY_CLOCK, gpu="1") == 2.619e9
    assert info_of(out) == {
        "0": {"gpu": "0", "name": "NVIDIA L4", "uuid": "GPU-3f1c5a2e-8b4d-4c6e-9a7f-000000000000",
              "pci_bus_id": "00000000:17:00.0", "driver_version": "550.54.15"},
        "1": {"gpu": "1", "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-3f1c5a2e-8b4d-4c6e-9a7f-000000000001",
              "pci_bus_id": "00000000:18:00.0", "driver_version": "550.54.15"},
    }
    assert nvml.init_calls == 1
    refresh(exporter)
    assert nvml.init_calls == 1 and nvml.shutdown_calls == 0  # nvmlInit once, not per refresh
    exporter.close()
    assert nvml.shutdown_calls == 1


def test_not_supported_fields_are_left_out(nvml, caplog):
    nvml.gpus[1].errors.update({
        "nvmlDeviceGetTotalEnergyConsumption": pynvml.NVML_ERROR_NOT_SUPPORTED,
        "nvmlDeviceGetEncoderStats": pynvml.NVML_ERROR_NOT_SUPPORTED,
        "nvmlDeviceGetDecoderUtilization": pynvml.NVML_ERROR_FUNCTION_NOT_FOUND,
    })
    exporter = make_exporter()
    with caplog.at_level(logging.WARNING, logger="ffwatt.gpu"):
        out = refresh(exporter)
    missing = {m.GPU_ENERGY.name, m.GPU_ENCODER_SESSIONS.name, m.GPU_ENCODER_FPS.name,
               m.GPU_DECODER_UTILIZATION.name}
    assert series_of(out, "1") == {metric.name for metric in PER_GPU} - missing  # omitted, not 0 or -1
    assert series_of(out, "0") == {metric.name for metric in PER_GPU}
    assert out.warnings == [] and caplog.records == []  # not a fault
    assert exporter.health_details()["unsupported"] == {
        "1": ["decoder_utilization", "encoder_stats", "energy"]}


def test_other_field_errors_are_left_out_and_logged_once(nvml, caplog):
    nvml.gpus[0].errors["nvmlDeviceGetPowerUsage"] = pynvml.NVML_ERROR_UNKNOWN
    nvml.gpus[0].errors["nvmlDeviceGetUUID"] = pynvml.NVML_ERROR_NO_PERMISSION
    exporter = make_exporter()
    with caplog.at_level(logging.WARNING, logger="ffwatt.gpu"):
        refresh(exporter)
        out = refresh(exporter)
    assert out.value(m.GPU_POWER, gpu="0") is None
    assert out.value(m.GPU_POWER, gpu="1") is not None and out.value(m.GPU_TEMPERATURE, gpu="0") == 46
    assert info_of(out)["0"]["uuid"] == "unknown" and info_of(out)["0"]["name"] == "NVIDIA L4"
    assert sum("GPU 0 power: Unknown Error" in r.getMessage() for r in caplog.records) == 1
    errors = exporter.health_details()["field_errors"]
    assert errors["0/power"] == {"error": "Unknown Error", "count": 2}
    assert errors["0/uuid"]["error"] == "Insufficient Permissions"
    assert nvml.init_calls == 1  # not a lifecycle error: no re-initialisation


def test_gpu_without_a_handle_is_skipped_and_reported(nvml):
    nvml.gpus[0].errors["nvmlDeviceGetHandleByIndex"] = pynvml.NVML_ERROR_NO_PERMISSION
    exporter = make_exporter()
    out = refresh(exporter)
    assert series_of(out, "0") == set() and "0" not in info_of(out)
    assert series_of(out, "1") == {metric.name for metric in PER_GPU}
    assert out.warnings == ["GPU 0: no NVML handle: Insufficient Permissions"]
    assert nvml.init_calls == 1


def test_gpu_lost_then_back_reinitialises_nvml(nvml):
    exporter = make_exporter()
    assert series_of(refresh(exporter), "1") == {metric.name for metric in PER_GPU}

    nvml.lose(1)
    out = refresh(exporter)
    assert series_of(out, "1") == set() and "1" not in info_of(out)  # nothing half-read
    assert series_of(out, "0") == {metric.name for metric in PER_GPU}
    assert out.value(m.GPU_COUNT) == 2
    assert len(out.warnings) == 1 and "GPU 1: GPU is lost" in out.warnings[0]
    assert exporter.health_details()["reinit_pending"] is True

    out = refresh(exporter)  # still lost: re-initialised, still left out
    assert (nvml.shutdown_calls, nvml.init_calls) == (1, 2)
    assert series_of(out, "1") == set()

    nvml.recover(1)  # answers again, but only to a fresh nvmlInit
    out = refresh(exporter)
    assert (nvml.shutdown_calls, nvml.init_calls) == (2, 3)
    assert series_of(out, "1") == {metric.name for metric in PER_GPU}
    assert out.value(m.GPU_POWER, gpu="1") == pytest.approx(412.7)
    assert out.warnings == []
    details = exporter.health_details()
    assert details["reinitialisations"] == 2 and details["nvml"] == "ok"

    refresh(exporter)
    assert nvml.init_calls == 3  # healthy again: no more re-initialisation


def test_lifecycle_error_on_the_count_fails_the_refresh_then_reinitialises(nvml):
    exporter = make_exporter()
    refresh(exporter)
    nvml.initialised = False  # NVML shut down under us: every call says Uninitialized
    with pytest.raises(SourceError, match="Uninitialized"):
        refresh(exporter)
    out = refresh(exporter)
    assert nvml.init_calls == 2
    assert out.value(m.GPU_COUNT) == 2 and out.value(m.GPU_POWER, gpu="0") == pytest.approx(31.25)


def test_driver_unloaded_at_runtime_becomes_zero_gpus(nvml):
    exporter = make_exporter()
    refresh(exporter)
    nvml.gpus[0].errors["nvmlDeviceGetPowerUsage"] = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    out = refresh(exporter)
    assert "Driver Not Loaded" in out.warnings[0] and series_of(out, "0") == set()
    nvml.init_error = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    out = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 0 and out.warnings == []
    assert exporter.health_details()["initialised"] is False


def test_real_pynvml_errors_are_the_subclasses():
    # The fake raises what pynvml raises: NVMLError(code) is the code's own subclass.
    assert isinstance(pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED), pynvml.NVMLError_NotSupported)
    assert isinstance(pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST), pynvml.NVMLError_GpuIsLost)


def test_health_says_when_nvml_is_the_fake(nvml):
    exporter = make_exporter()
    refresh(exporter)
    assert exporter.health_details()["simulated"] is True


def test_health_says_real_nvml_is_not_simulated():
    import pynvml

    exporter = make_exporter()
    assert pynvml.nvmlInit.__module__ == "pynvml"  # nothing installed the fake here
    assert exporter.health_details()["simulated"] is False
