"""The gpu exporter against a fake NVML at the pynvml function boundary (ffwatt/testing/simulated/nvml.py)."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import promql_parser
import pynvml
import pytest

from ffwatt.catalog import metrics as m
from ffwatt.exporters.config import common_settings, parse
from ffwatt.exporters.gpu import GpuExporter
from ffwatt.exporters.runtime import SourceError
from ffwatt.exporters.samples import Samples
from ffwatt.readers.tsdb import energy_query
from ffwatt.testing.simulated.nvml import GPU_NOT_FOUND, MIB, FakeGpu, FakeNvml

ROOT = Path(__file__).resolve().parents[2]
PER_GPU = (m.GPU_POWER, m.GPU_POWER_LIMIT, m.GPU_ENERGY, m.GPU_TEMPERATURE, m.GPU_UTILIZATION,
           m.GPU_MEMORY_UTILIZATION, m.GPU_ENCODER_UTILIZATION, m.GPU_DECODER_UTILIZATION,
           m.GPU_ENCODER_SESSIONS, m.GPU_ENCODER_FPS, m.GPU_MEMORY_USED, m.GPU_MEMORY_TOTAL,
           m.GPU_GRAPHICS_CLOCK, m.GPU_SM_CLOCK, m.GPU_MEMORY_CLOCK)
UUID0 = "GPU-3f1c5a2e-8b4d-4c6e-9a7f-000000000000"
UUID1 = "GPU-3f1c5a2e-8b4d-4c6e-9a7f-000000000001"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_exporter(clock=None, refresh_interval: float = 5.0) -> GpuExporter:
    config = parse("gpu", "test", common_settings(9505, refresh_interval) + GpuExporter.settings, [], {})
    return GpuExporter(config) if clock is None else GpuExporter(config, clock=clock)


def refresh(exporter: GpuExporter) -> Samples:
    out = Samples("gpu")
    exporter.refresh(out)
    return out


def samples(out: Samples, metric) -> dict[tuple[str, ...], float]:
    return out._values[metric]


def val(out: Samples, metric, gpu: str, **extra: str) -> float | None:
    """The value of `metric` for NVML index `gpu`, whatever its uuid label says."""
    found = [value for key, value in samples(out, metric).items()
             if dict(zip(metric.labels, key, strict=True))["gpu"] == gpu
             and all(dict(zip(metric.labels, key, strict=True))[k] == v for k, v in extra.items())]
    assert len(found) <= 1
    return found[0] if found else None


def by_uuid(out: Samples, metric) -> dict[str, float]:
    return {dict(zip(metric.labels, key, strict=True))["uuid"]: value for key, value in samples(out, metric).items()}


def series_of(out: Samples, gpu: str) -> set[str]:
    return {metric.name for metric in PER_GPU if val(out, metric, gpu) is not None}


def info_of(out: Samples) -> dict[str, dict[str, str]]:
    """gpu -> info labels, from the samples the exporter added."""
    found = {}
    for key in out._values[m.GPU_INFO]:
        labels = dict(zip(m.GPU_INFO.labels, key, strict=True))
        found[labels["gpu"]] = labels
    return found


def h100(**kw) -> FakeGpu:
    return FakeGpu(**{**dict(index=1, name="NVIDIA H100 80GB HBM3", power_mw=412_700, power_limit_mw=700_000,
                             energy_mj=5_000_123, temperature_c=61, utilization_gpu=100, utilization_memory=73,
                             encoder_utilization=0, decoder_utilization=0, encoder_sessions=0, encoder_fps=0,
                             encoder_latency_us=0, memory_total=81_559 * MIB, memory_used=40_000 * MIB,
                             memory_reserved=553 * MIB, graphics_clock_mhz=1_980, sm_clock_mhz=1_980,
                             memory_clock_mhz=2_619, clock_event_reasons=0x0,
                             supported_clock_event_reasons=0x1EF), **kw})


@pytest.fixture
def nvml(monkeypatch):
    fake = FakeNvml([FakeGpu(index=0), h100()])
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


@pytest.mark.parametrize("fake", [FakeNvml([]), FakeNvml([FakeGpu()], init_error=GPU_NOT_FOUND)],
                         ids=["driver-without-devices", "gpu-bound-to-vfio"])
def test_driver_with_no_usable_gpu_is_zero_gpus_and_ok(monkeypatch, caplog, fake):
    # Fault 1: nvmlInit (flags 0) fails with NVML_ERROR_GPU_NOT_FOUND (28) when the driver is
    # loaded but no GPU is usable. That is "no GPU", as for a missing driver: ok, 0 GPUs.
    fake.install(monkeypatch.setattr)
    exporter = make_exporter()
    with caplog.at_level(logging.INFO, logger="ffwatt.gpu"):
        out = refresh(exporter)
        again = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 0 and out.warnings == [] and again.warnings == []
    assert out._values[m.GPU_INFO] == {}
    details = exporter.health_details()
    assert details["nvml"].startswith("no GPU: ") and "no GPU is usable" in details["nvml"]
    # nvmlInitWithFlags(NVML_INIT_FLAG_NO_GPUS) still opens NVML: the driver version is known
    assert details["driver_version"] == "550.54.15" and details["initialised"] is False
    assert sum("no GPU is usable" in r.getMessage() for r in caplog.records) == 1  # logged once
    # NVML is closed again and a plain nvmlInit retried each refresh: a GPU that becomes usable is found
    fake.gpus = [FakeGpu()]
    fake.init_error = None
    out = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 1 and out.warnings == [] and exporter.health_details()["nvml"] == "ok"


def test_other_init_failure_is_degraded_and_retried(monkeypatch):
    fake = FakeNvml([FakeGpu()], init_error=pynvml.NVML_ERROR_NO_PERMISSION)
    fake.install(monkeypatch.setattr)
    exporter = make_exporter()
    out = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 0
    assert len(out.warnings) == 1 and "Insufficient Permissions" in out.warnings[0]
    fake.init_error = None  # fixed: the next refresh initialises and reads the GPU
    out = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 1 and val(out, m.GPU_POWER, "0") == pytest.approx(31.25)
    assert out.warnings == []


# --- readings ------------------------------------------------------------------------------


def test_two_gpus_exact_converted_values(nvml):
    exporter = make_exporter()
    out = refresh(exporter)
    assert out.warnings == []
    assert out.value(m.GPU_COUNT) == 2
    v = {metric.name: out.value(metric, gpu="0", uuid=UUID0) for metric in PER_GPU}
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
        m.GPU_MEMORY_USED.name: 1_517 * 1024 * 1024,  # allocated, reserved apart (memory v2)
        m.GPU_MEMORY_TOTAL.name: 23_034 * 1024 * 1024,
        m.GPU_GRAPHICS_CLOCK.name: 2.04e9,
        m.GPU_SM_CLOCK.name: 2.04e9,
        m.GPU_MEMORY_CLOCK.name: 6.25e9,
    }
    assert out.value(m.GPU_MEMORY_RESERVED, gpu="0", uuid=UUID0) == 437 * 1024 * 1024
    assert out.value(m.GPU_ENCODER_LATENCY, gpu="0", uuid=UUID0) == pytest.approx(0.00145)  # 1,450 µs
    assert out.value(m.GPU_NVML_ENERGY_SUPPORTED, gpu="0", uuid=UUID0) == 1
    assert samples(out, m.GPU_POWER_INTEGRATED) == {}  # both GPUs have a counter: nothing estimated
    assert out.value(m.GPU_POWER, gpu="1", uuid=UUID1) == pytest.approx(412.7)
    assert out.value(m.GPU_ENERGY, gpu="1", uuid=UUID1) == pytest.approx(5_000.123)
    assert out.value(m.GPU_UTILIZATION, gpu="1", uuid=UUID1) == 1.0
    assert out.value(m.GPU_ENCODER_SESSIONS, gpu="1", uuid=UUID1) == 0.0  # a real zero is kept
    assert out.value(m.GPU_ENCODER_LATENCY, gpu="1", uuid=UUID1) is None  # no session: no average latency
    assert out.value(m.GPU_MEMORY_CLOCK, gpu="1", uuid=UUID1) == 2.619e9
    assert info_of(out) == {
        "0": {"gpu": "0", "name": "NVIDIA L4", "uuid": UUID0,
              "pci_bus_id": "00000000:17:00.0", "driver_version": "550.54.15"},  # busId bytes, decoded
        "1": {"gpu": "1", "name": "NVIDIA H100 80GB HBM3", "uuid": UUID1,
              "pci_bus_id": "00000000:18:00.0", "driver_version": "550.54.15"},
    }
    assert nvml.init_calls == 1
    refresh(exporter)
    assert nvml.init_calls == 1 and nvml.shutdown_calls == 0  # nvmlInit once, not per refresh
    exporter.close()
    assert nvml.shutdown_calls == 1


def test_fake_pci_bus_id_is_bytes_as_pynvml_returns_it(nvml):
    # nvmlPciInfo_t.busId is a c_char array: pynvml hands it over as bytes (12.x and 13.x).
    nvml.initialised = True
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    assert nvml.nvmlDeviceGetPciInfo(handle).busId == b"00000000:17:00.0"


def test_not_supported_fields_are_left_out(nvml, caplog):
    nvml.gpus[1].errors.update({
        "nvmlDeviceGetEncoderStats": pynvml.NVML_ERROR_NOT_SUPPORTED,
        "nvmlDeviceGetDecoderUtilization": pynvml.NVML_ERROR_FUNCTION_NOT_FOUND,
    })
    exporter = make_exporter()
    with caplog.at_level(logging.WARNING, logger="ffwatt.gpu"):
        out = refresh(exporter)
    missing = {m.GPU_ENCODER_SESSIONS.name, m.GPU_ENCODER_FPS.name, m.GPU_DECODER_UTILIZATION.name}
    assert series_of(out, "1") == {metric.name for metric in PER_GPU} - missing  # omitted, not 0 or -1
    assert series_of(out, "0") == {metric.name for metric in PER_GPU}
    assert out.warnings == [] and caplog.records == []  # not a fault
    assert exporter.health_details()["unsupported"] == {"1": ["decoder_utilization", "encoder_stats"]}


def test_other_field_errors_are_left_out_and_logged_once(nvml, caplog):
    nvml.gpus[0].errors["nvmlDeviceGetPowerUsage"] = pynvml.NVML_ERROR_UNKNOWN
    nvml.gpus[0].errors["nvmlDeviceGetUUID"] = pynvml.NVML_ERROR_NO_PERMISSION
    exporter = make_exporter()
    with caplog.at_level(logging.WARNING, logger="ffwatt.gpu"):
        refresh(exporter)
        out = refresh(exporter)
    assert val(out, m.GPU_POWER, "0") is None
    assert val(out, m.GPU_POWER, "1") is not None and val(out, m.GPU_TEMPERATURE, "0") == 46
    assert info_of(out)["0"]["uuid"] == "unknown" and info_of(out)["0"]["name"] == "NVIDIA L4"
    # Without its UUID the energy counter could move to another GPU's series: left out, said so.
    assert val(out, m.GPU_ENERGY, "0") is None and val(out, m.GPU_ENERGY, "1") is not None
    assert sum("GPU 0 power: Unknown Error" in r.getMessage() for r in caplog.records) == 1
    errors = exporter.health_details()["field_errors"]
    assert errors["0/power"] == {"error": "Unknown Error", "count": 2}
    assert errors["0/uuid"]["error"] == "Insufficient Permissions"
    assert errors["0/energy"]["error"] == "no UUID to label the energy counter with"
    assert nvml.init_calls == 1  # not a lifecycle error: no re-initialisation


# --- fault 2: the energy counter and re-enumeration --------------------------------------------


def test_every_gpu_series_carries_the_uuid():
    for metric in PER_GPU + (m.GPU_MEMORY_RESERVED, m.GPU_ENCODER_LATENCY, m.GPU_NVML_ENERGY_SUPPORTED,
                             m.GPU_POWER_INTEGRATED, m.GPU_CLOCK_EVENT):
        assert metric.labels[:2] == ("gpu", "uuid"), metric.name


def test_fake_energy_counter_advances_and_restarts_on_a_driver_reload(nvml):
    exporter = make_exporter()
    first = refresh(exporter)
    nvml.advance(10)  # 10 s at 31.25 W and 412.7 W
    out = refresh(exporter)
    assert val(out, m.GPU_ENERGY, "0") - val(first, m.GPU_ENERGY, "0") == pytest.approx(312.5)
    assert val(out, m.GPU_ENERGY, "1") - val(first, m.GPU_ENERGY, "1") == pytest.approx(4_127.0)
    nvml.reload_driver()
    with pytest.raises(SourceError, match="Uninitialized"):  # the old NVML session is gone
        refresh(exporter)
    out = refresh(exporter)
    assert val(out, m.GPU_ENERGY, "0") == 0.0  # an ordinary counter reset for increase()


def test_energy_series_follow_the_uuid_when_gpus_swap_indices(nvml):
    # Fault 2: GPU 0 and GPU 1 swap NVML indices (a container restarted with other --gpus, a
    # reboot) while the driver keeps counting. Per UUID each series stays monotonic; the
    # index alone would see a jump from 987,654 J to 5,000 J (a false reset) and back.
    exporter = make_exporter()
    history: dict[tuple[str, str], list[float]] = {}

    def record(out: Samples) -> None:
        for key, value in samples(out, m.GPU_ENERGY).items():
            history.setdefault(key, []).append(value)

    record(refresh(exporter))
    nvml.advance(5)
    record(refresh(exporter))
    nvml.reenumerate([1, 0])
    with pytest.raises(SourceError):
        refresh(exporter)
    nvml.advance(5)
    out = refresh(exporter)
    record(out)
    for key, values in history.items():
        assert values == sorted(values), f"{key} went down: {values}"
    assert info_of(out)["0"]["uuid"] == UUID1 and info_of(out)["1"]["uuid"] == UUID0
    assert set(history) == {("0", UUID0), ("1", UUID1), ("0", UUID1), ("1", UUID0)}
    per_uuid = by_uuid(out, m.GPU_ENERGY)
    assert per_uuid[UUID0] == pytest.approx(987_654.321 + 10 * 31.25)  # 10 s at 31.25 W, wherever it sits
    assert per_uuid[UUID1] == pytest.approx(5_000.123 + 10 * 412.7)


def test_tsdb_energy_query_counts_counters_and_integrated_gpus():
    query = energy_query(300, 'instance="h"')
    promql_parser.parse(query)
    assert f'increase({m.GPU_ENERGY.name}{{instance="h"}}[300s]) or increase({m.GPU_POWER_INTEGRATED.name}' \
           in query


# --- fault 3: no energy counter ----------------------------------------------------------------


def test_gpu_without_an_energy_counter_is_never_a_silent_zero(nvml):
    # Fault 3: pre-Volta, vGPU and Jetson answer NOT_SUPPORTED for the energy counter. Say so,
    # and integrate the power gauge into a counter labelled as integrated.
    nvml.gpus[1].errors["nvmlDeviceGetTotalEnergyConsumption"] = pynvml.NVML_ERROR_NOT_SUPPORTED
    clock = Clock()
    exporter = make_exporter(clock)
    out = refresh(exporter)
    assert out.value(m.GPU_NVML_ENERGY_SUPPORTED, gpu="1", uuid=UUID1) == 0
    assert out.value(m.GPU_NVML_ENERGY_SUPPORTED, gpu="0", uuid=UUID0) == 1
    assert val(out, m.GPU_ENERGY, "1") is None
    assert by_uuid(out, m.GPU_POWER_INTEGRATED) == {UUID1: 0.0}  # from 0 at the first reading
    clock.t += 5
    out = refresh(exporter)
    assert by_uuid(out, m.GPU_POWER_INTEGRATED) == {UUID1: pytest.approx(5 * 412.7)}
    nvml.gpus[1].power_mw = 212_700
    clock.t += 10
    out = refresh(exporter)
    # trapezoid: 5 s x 412.7 W + 10 s x (412.7 + 212.7) / 2 W = 2,063.5 + 3,127 J
    assert by_uuid(out, m.GPU_POWER_INTEGRATED) == {UUID1: pytest.approx(2_063.5 + 3_127.0)}
    assert out.warnings == []
    details = exporter.health_details()
    assert details["energy_source"] == {"0": "counter", "1": "integrated power gauge"}
    clock.t += 3600  # an hour without a reading is not guessed at
    out = refresh(exporter)
    assert by_uuid(out, m.GPU_POWER_INTEGRATED) == {UUID1: pytest.approx(2_063.5 + 3_127.0)}


def test_gpu_without_energy_counter_or_power_says_so(nvml):
    for fn in ("nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetPowerUsage"):
        nvml.gpus[1].errors[fn] = pynvml.NVML_ERROR_NOT_SUPPORTED
    exporter = make_exporter()
    out = refresh(exporter)
    assert out.value(m.GPU_NVML_ENERGY_SUPPORTED, gpu="1", uuid=UUID1) == 0
    assert samples(out, m.GPU_POWER_INTEGRATED) == {}
    assert exporter.health_details()["energy_source"]["1"] == "none (no power reading)"


# --- fault 4: memory used vs reserved ------------------------------------------------------------


def test_memory_v2_keeps_reserved_apart_and_v1_fallback_says_so(nvml, monkeypatch):
    # Fault 4: v1's used is reserved + allocated; v2 gives them apart.
    nvml.gpus[1].errors["nvmlDeviceGetMemoryInfo_v2"] = pynvml.NVML_ERROR_FUNCTION_NOT_FOUND  # old driver
    exporter = make_exporter()
    out = refresh(exporter)
    assert out.value(m.GPU_MEMORY_USED, gpu="0", uuid=UUID0) == 1_517 * MIB
    assert out.value(m.GPU_MEMORY_RESERVED, gpu="0", uuid=UUID0) == 437 * MIB
    assert out.value(m.GPU_MEMORY_USED, gpu="1", uuid=UUID1) == (40_000 + 553) * MIB  # v1: reserved included
    assert val(out, m.GPU_MEMORY_RESERVED, "1") is None
    assert out.warnings == []
    assert exporter.health_details()["memory_api"] == {"0": "v2", "1": "v1 (used includes reserved)"}
    # an nvidia-ml-py without nvmlMemory_v2: v1 for every GPU, no failed refresh
    monkeypatch.delattr(pynvml, "nvmlMemory_v2")
    out = refresh(exporter)
    assert out.value(m.GPU_MEMORY_USED, gpu="0", uuid=UUID0) == (1_517 + 437) * MIB
    assert exporter.health_details()["memory_api"]["0"] == "v1 (used includes reserved)"


# --- fault 5: GPUs the process may not open --------------------------------------------------------


def test_gpu_the_process_may_not_open_is_not_counted_and_reported_once(nvml, caplog):
    # Fault 5: cgroup device rules (a batch scheduler) let NVML list a GPU this process may not open.
    nvml.gpus[0].errors["nvmlDeviceGetHandleByIndex"] = pynvml.NVML_ERROR_NO_PERMISSION
    exporter = make_exporter()
    with caplog.at_level(logging.WARNING, logger="ffwatt.gpu"):
        out = refresh(exporter)
        again = refresh(exporter)
    assert series_of(out, "0") == set() and "0" not in info_of(out)
    assert series_of(out, "1") == {metric.name for metric in PER_GPU}
    assert out.value(m.GPU_COUNT) == 1  # what can be read
    assert out.warnings == [] and again.warnings == []  # health not degraded (forever)
    assert exporter.health_details()["unreadable"] == {"0": "Insufficient Permissions"}
    assert sum("may not open" in r.getMessage() for r in caplog.records) == 1  # reported once
    assert nvml.init_calls == 1
    del nvml.gpus[0].errors["nvmlDeviceGetHandleByIndex"]  # allowed now: served again
    out = refresh(exporter)
    assert out.value(m.GPU_COUNT) == 2 and exporter.health_details()["unreadable"] == {}


# --- fault 6: a GPU that fell off the bus ------------------------------------------------------------


def test_lost_gpu_backs_off_and_keeps_the_other_served(nvml):
    clock = Clock()
    exporter = make_exporter(clock, refresh_interval=5.0)
    assert series_of(refresh(exporter), "1") == {metric.name for metric in PER_GPU}

    nvml.lose(1)
    out = refresh(exporter)
    assert series_of(out, "1") == set() and "1" not in info_of(out)  # nothing half-read
    assert series_of(out, "0") == {metric.name for metric in PER_GPU}
    first = out

    inits = []
    for _ in range(200):  # 1,000 s of 5 s refreshes, the GPU still lost
        clock.t += 5
        nvml.gpus[0].power_mw += 1
        out = refresh(exporter)
        assert series_of(out, "0") == {metric.name for metric in PER_GPU}  # served every refresh
        assert val(out, m.GPU_POWER, "0") == nvml.gpus[0].power_mw / 1000
        assert len(out.warnings) == 1 and "GPU 1" in out.warnings[0]  # still reported lost
        inits.append(nvml.init_calls)
    # re-initialised with backoff, not every refresh: after 10, 20, 40, 80, 160, 300, 300... s
    attempts = [t for t, (a, b) in enumerate(zip([1] + inits, inits, strict=False)) if b > a]
    gaps = [5 * (b - a) for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[:5] == [20, 40, 80, 160, 300] and set(gaps[5:]) <= {300, 305}
    assert nvml.init_calls <= 8
    assert first.value(m.GPU_COUNT) == 1  # the GPUs served
    assert len(first.warnings) == 1 and "GPU 1 (" + UUID1 + ") is lost" in first.warnings[0]
    assert exporter.health_details()["lost"]["1"]["uuid"] == UUID1

    nvml.recover(1)  # reset: answers again, but only to a fresh nvmlInit
    clock.t += 300
    out = refresh(exporter)
    assert series_of(out, "1") == {metric.name for metric in PER_GPU}
    assert out.warnings == [] and exporter.health_details()["lost"] == {}
    assert exporter.health_details()["nvml"] == "ok"
    calls = nvml.init_calls
    clock.t += 5
    refresh(exporter)
    assert nvml.init_calls == calls  # healthy again: no more re-initialisation


def test_fake_lost_gpu_does_not_come_back_by_itself(nvml):
    nvml.lose(0)
    nvml.nvmlInit()
    nvml.nvmlShutdown()
    nvml.nvmlInit()  # a new session does not bring it back
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        nvml.nvmlDeviceGetHandleByIndex(0)


def test_lifecycle_error_on_the_count_fails_the_refresh_then_reinitialises(nvml):
    exporter = make_exporter()
    refresh(exporter)
    nvml.initialised = False  # NVML shut down under us: every call says Uninitialized
    with pytest.raises(SourceError, match="Uninitialized"):
        refresh(exporter)
    out = refresh(exporter)
    assert nvml.init_calls == 2
    assert out.value(m.GPU_COUNT) == 2 and val(out, m.GPU_POWER, "0") == pytest.approx(31.25)


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


# --- fault 7: deprecated and missing functions ---------------------------------------------------------


def test_temperature_uses_the_current_api(nvml):
    exporter = make_exporter()
    out = refresh(exporter)
    assert val(out, m.GPU_TEMPERATURE, "0") == 46
    assert nvml.calls.get("nvmlDeviceGetTemperatureV") == 2 and "nvmlDeviceGetTemperature" not in nvml.calls


@pytest.mark.parametrize("how", ["nvidia-ml-py without it", "driver without it"])
def test_temperature_falls_back_to_the_deprecated_call(monkeypatch, how):
    gpu = FakeGpu()
    if how == "driver without it":
        gpu.errors["nvmlDeviceGetTemperatureV"] = pynvml.NVML_ERROR_FUNCTION_NOT_FOUND
    fake = FakeNvml([gpu], missing=("nvmlDeviceGetTemperatureV",) if how == "nvidia-ml-py without it" else ())
    fake.install(monkeypatch.setattr, monkeypatch.delattr)
    out = refresh(make_exporter())
    assert val(out, m.GPU_TEMPERATURE, "0") == 46 and out.warnings == []
    assert fake.calls["nvmlDeviceGetTemperature"] == 1


def test_a_function_missing_from_pynvml_leaves_one_series_out_not_the_refresh(monkeypatch):
    # Fault 7: a future nvidia-ml-py without nvmlDeviceGetTemperature (deprecated for removal)
    # and without the V variant: the series is left out, the refresh succeeds.
    fake = FakeNvml([FakeGpu()], missing=("nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperature",
                                          "nvmlDeviceGetCurrentClocksEventReasons"))
    fake.install(monkeypatch.setattr, monkeypatch.delattr)
    exporter = make_exporter()
    out = refresh(exporter)
    assert series_of(out, "0") == {metric.name for metric in PER_GPU} - {m.GPU_TEMPERATURE.name}
    assert out.warnings == []
    assert "temperature" in exporter.health_details()["unsupported"]["0"]
    # the clock-event reasons fell back to the deprecated ClocksThrottleReasons name
    assert val(out, m.GPU_CLOCK_EVENT, "0", reason="sw_power_cap") == 1


def test_nvidia_ml_py_is_bounded_above():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(d for d in deps if d.startswith("nvidia-ml-py"))
    assert ">=12.535" in spec and "<14" in spec


# --- fault 8: help texts -------------------------------------------------------------------------


def test_help_texts_say_what_nvml_averages_and_what_mig_shares():
    for metric in (m.GPU_ENCODER_UTILIZATION, m.GPU_DECODER_UTILIZATION):
        assert "average over all of them" in metric.help and "several" in metric.help
    for metric in (m.GPU_POWER, m.GPU_ENERGY):
        assert "under MIG, the whole GPU's" in metric.help


# --- clock-event reasons, encoder latency --------------------------------------------------------------


def test_clock_event_reasons_are_a_bounded_label_set(nvml):
    nvml.gpus[1].clock_event_reasons = 0x4 | 0x40  # sw_power_cap, hw_thermal_slowdown
    out = refresh(make_exporter())
    reasons0 = {dict(zip(m.GPU_CLOCK_EVENT.labels, k, strict=True))["reason"]: v
                for k, v in samples(out, m.GPU_CLOCK_EVENT).items() if k[0] == "0"}
    assert reasons0 == {"gpu_idle": 0, "applications_clocks_setting": 0, "sw_power_cap": 1, "hw_slowdown": 0,
                        "sync_boost": 0, "sw_thermal_slowdown": 0, "hw_thermal_slowdown": 0,
                        "hw_power_brake_slowdown": 0, "display_clock_setting": 0}
    # GPU 1 does not support sync_boost (0x10): that reason is left out, not 0
    assert val(out, m.GPU_CLOCK_EVENT, "1", reason="sync_boost") is None
    assert val(out, m.GPU_CLOCK_EVENT, "1", reason="hw_thermal_slowdown") == 1
    assert val(out, m.GPU_CLOCK_EVENT, "1", reason="sw_power_cap") == 1
    assert val(out, m.GPU_CLOCK_EVENT, "1", reason="gpu_idle") == 0
    assert nvml.calls["nvmlDeviceGetCurrentClocksEventReasons"] == 2
    assert "nvmlDeviceGetCurrentClocksThrottleReasons" not in nvml.calls


# --- the fake itself -------------------------------------------------------------------------------------


def test_real_pynvml_errors_are_the_subclasses():
    # The fake raises what pynvml raises: NVMLError(code) is the code's own subclass.
    assert isinstance(pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED), pynvml.NVMLError_NotSupported)
    assert isinstance(pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST), pynvml.NVMLError_GpuIsLost)


def test_fake_memory_info_matches_pynvml_structures(nvml):
    nvml.initialised = True
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    v1 = nvml.nvmlDeviceGetMemoryInfo(handle)
    v2 = nvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
    assert {f for f, _ in pynvml.c_nvmlMemory_t._fields_} == set(vars(v1))
    assert {f for f, _ in pynvml.c_nvmlMemory_v2_t._fields_} == set(vars(v2))
    assert v1.used == v2.used + v2.reserved and v1.free == v2.free and v1.total == v2.total


def test_health_says_when_nvml_is_the_fake(nvml):
    exporter = make_exporter()
    refresh(exporter)
    assert exporter.health_details()["simulated"] is True


def test_health_says_real_nvml_is_not_simulated():
    import pynvml

    exporter = make_exporter()
    assert pynvml.nvmlInit.__module__ == "pynvml"  # nothing installed the fake here
    assert exporter.health_details()["simulated"] is False


# --- the NVML reader on its own (what an in-process meter reads) ---------------------------


def test_reader_energy_by_uuid_is_joules_per_gpu_and_leaves_out_a_gpu_without_a_counter(nvml):
    from ffwatt.readers.nvml import Nvml

    reader = Nvml(logging.getLogger("test"))
    reader.init()
    gpus = {g.uuid: g.energy_mj for g in nvml.gpus}
    assert reader.energy_by_uuid() == {uuid: mj / 1000 for uuid, mj in gpus.items()}  # mJ -> J
    nvml.advance(10)  # 10 s at each GPU's power: the counter moves by power x 10 s
    after = reader.energy_by_uuid()
    assert after == {g.uuid: g.energy_mj / 1000 for g in nvml.gpus}
    assert all(after[uuid] > gpus[uuid] / 1000 for uuid in gpus)
    nvml.gpus[1].errors["nvmlDeviceGetTotalEnergyConsumption"] = pynvml.NVML_ERROR_NOT_SUPPORTED
    assert set(reader.energy_by_uuid()) == {nvml.gpus[0].uuid}
    assert not reader.supports("1", "energy") and reader.supports("0", "energy")
    reader.shutdown()
    assert not reader.initialised


def test_reader_init_without_a_library_says_it_is_a_host_without_a_gpu(monkeypatch):
    from ffwatt.readers.nvml import Nvml, NvmlUnavailableError

    FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND).install(monkeypatch.setattr)
    with pytest.raises(NvmlUnavailableError, match=r"\(libnvidia-ml\.so\.1\) is not installed") as caught:
        Nvml(logging.getLogger("test")).init()
    assert caught.value.no_gpu and caught.value.code == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND


def test_reader_process_utilisation_gives_the_samples_after_a_timestamp(nvml):
    from ffwatt.readers.nvml import Nvml, ProcessSample

    reader = Nvml(logging.getLogger("test"))
    reader.init()
    nvml.add_process_sample(0, 4242, sm=5, mem=3, enc=60, dec=10, timestamp_us=1_000)
    nvml.add_process_sample(0, 5151, enc=20, timestamp_us=2_000)
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    assert reader.process_utilisation("0", handle, 0) == [ProcessSample(4242, 1_000, 5, 3, 60, 10),
                                                          ProcessSample(5151, 2_000, 0, 0, 20, 0)]
    assert reader.process_utilisation("0", handle, 1_000) == [ProcessSample(5151, 2_000, 0, 0, 20, 0)]
    # none since then: NOT_FOUND, which says "no process used it", not "the driver cannot say"
    assert reader.process_utilisation("0", handle, 2_000) == []
    assert reader.supports("0", "process_utilisation")
    by_uuid = reader.process_utilisation_by_uuid({nvml.gpus[0].uuid: 1_500}, 0)
    assert by_uuid == {nvml.gpus[0].uuid: [ProcessSample(5151, 2_000, 0, 0, 20, 0)], nvml.gpus[1].uuid: []}


def test_reader_process_utilisation_not_supported_is_none_not_empty(nvml, monkeypatch):
    from ffwatt.readers.nvml import Nvml

    reader = Nvml(logging.getLogger("test"))
    reader.init()
    nvml.gpus[1].errors["nvmlDeviceGetProcessUtilization"] = pynvml.NVML_ERROR_NOT_SUPPORTED
    assert reader.process_utilisation("1", pynvml.nvmlDeviceGetHandleByIndex(1), 0) is None
    assert not reader.supports("1", "process_utilisation")
    monkeypatch.delattr(pynvml, "nvmlDeviceGetProcessUtilization")  # a binding without the call
    assert reader.process_utilisation("0", pynvml.nvmlDeviceGetHandleByIndex(0), 0) is None
