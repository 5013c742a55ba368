"""A simulated NVML at the pynvml function boundary: the exporter's real code runs against it,
and what it serves is labelled simulated.

In-process (pytest):

    fake = FakeNvml([FakeGpu(), FakeGpu(index=1)])
    fake.install(monkeypatch.setattr)        # patches pynvml.nvmlInit, nvmlDeviceGet*, ...
    fake.gpus[1].errors["nvmlDeviceGetPowerUsage"] = pynvml.NVML_ERROR_NOT_SUPPORTED
    fake.lose(1); fake.recover(1)             # GPU lost (stays lost, also for a new nvmlInit);
                                              # back after a GPU reset, only for a new nvmlInit
    fake.advance(10)                          # 10 s pass: energy counters rise by power x 10 s
    fake.reenumerate([1, 0])                  # other --gpus / a reboot: the GPUs swap indices
    fake.reload_driver()                      # energy counters restart from 0
    fake.add_process_sample(0, pid, enc=60)   # the driver's per-process sample, stamped now
    fake.process_sampler = fn                 # fn(fake) called at each nvmlDeviceGetProcessUtilization,
                                              # e.g. to sample processes while they run

Behaves like the real library where an audit against nvidia-ml-py 12.535/13.x found
differences: `nvmlInit()` with no usable GPU fails with NVML_ERROR_GPU_NOT_FOUND (28)
while `nvmlInitWithFlags(NVML_INIT_FLAG_NO_GPUS)` succeeds with 0 devices;
`PciInfo.busId` is bytes; memory info v1 counts reserved memory as used, v2
(`version=nvmlMemory_v2`) gives it apart; energy counters advance (`advance`, or by
the wall clock with `realtime=True`), restart on a driver reload and move with their
GPU when indices change. `nvmlDeviceGetProcessUtilization(handle, lastSeenTimeStamp)`
returns the samples (pid, timeStamp in microseconds since the epoch, smUtil, memUtil,
encUtil, decUtil) taken after the timestamp, and raises NVML_ERROR_NOT_FOUND when there
are none, as nvml.h documents; a GPU whose driver does not keep them gets
`errors["nvmlDeviceGetProcessUtilization"] = NVML_ERROR_NOT_SUPPORTED`. `missing` names pynvml functions to delete (an older or
newer nvidia-ml-py); a GPU's `errors` may name C symbols pynvml calls
("nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetTemperatureV") to say the driver lacks them.

Errors are the real ones: `pynvml.NVMLError(code)` builds the subclass pynvml has for
that code (NVMLError_NotSupported, NVMLError_GpuIsLost...).

In a subprocess (end-to-end tests, the bench): write the state as JSON and run the real
exporter with the fake installed (`scripts/simulated_gpu.py`). The file is re-read when it
changes, so a test can lose a GPU from outside:

    python -m scripts.simulated_gpu state.json --port 9505 [more gpu exporter flags]
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pynvml

MIB = 1024 * 1024

GPU_NOT_FOUND = 28  # NVML_ERROR_GPU_NOT_FOUND (not defined by every pynvml release)
INIT_FLAG_NO_GPUS = 1  # NVML_INIT_FLAG_NO_GPUS

FUNCTIONS = (
    "nvmlInit",
    "nvmlInitWithFlags",
    "nvmlShutdown",
    "nvmlSystemGetDriverVersion",
    "nvmlDeviceGetCount",
    "nvmlDeviceGetHandleByIndex",
    "nvmlDeviceGetName",
    "nvmlDeviceGetUUID",
    "nvmlDeviceGetPciInfo",
    "nvmlDeviceGetPowerUsage",
    "nvmlDeviceGetEnforcedPowerLimit",
    "nvmlDeviceGetTotalEnergyConsumption",
    "nvmlDeviceGetTemperature",
    "nvmlDeviceGetTemperatureV",
    "nvmlDeviceGetUtilizationRates",
    "nvmlDeviceGetEncoderUtilization",
    "nvmlDeviceGetDecoderUtilization",
    "nvmlDeviceGetEncoderStats",
    "nvmlDeviceGetProcessUtilization",
    "nvmlDeviceGetMemoryInfo",
    "nvmlDeviceGetClockInfo",
    "nvmlDeviceGetCurrentClocksEventReasons",
    "nvmlDeviceGetCurrentClocksThrottleReasons",
    "nvmlDeviceGetSupportedClocksEventReasons",
    "nvmlDeviceGetSupportedClocksThrottleReasons",
)


@dataclass
class FakeGpu:
    """One GPU's readings, in NVML's own units (mW, mJ, percent, MHz, bytes)."""

    index: int = 0
    name: str = "NVIDIA L4"
    uuid: str = ""
    pci_bus_id: str = ""
    power_mw: int = 31_250
    power_limit_mw: int = 72_000
    energy_mj: int = 987_654_321
    temperature_c: int = 46
    utilization_gpu: int = 37
    utilization_memory: int = 12
    encoder_utilization: int = 55
    decoder_utilization: int = 8
    sampling_period_us: int = 167_000
    encoder_sessions: int = 3
    encoder_fps: int = 180
    encoder_latency_us: int = 1_450
    memory_total: int = 23_034 * MIB
    memory_used: int = 1_517 * MIB  # allocated (v2's used); v1's used adds memory_reserved
    memory_reserved: int = 437 * MIB
    graphics_clock_mhz: int = 2_040
    sm_clock_mhz: int = 2_040
    memory_clock_mhz: int = 6_250
    # nvmlClocksEventReason* bit masks: active now, and supported by this GPU.
    clock_event_reasons: int = 0x4  # sw_power_cap
    supported_clock_event_reasons: int = 0x1FF
    # The driver's per-process utilisation samples: {pid, timeStamp (us since the epoch), smUtil,
    # memUtil, encUtil, decUtil}, percent of one sample period each.
    process_samples: list[dict] = field(default_factory=list)
    # pynvml function name -> NVML error code it raises (e.g. NVML_ERROR_NOT_SUPPORTED).
    errors: dict[str, int] = field(default_factory=dict)
    lost: bool = False
    # Handles from an nvmlInit older than this generation see the GPU as lost.
    valid_from_generation: int = 0

    def __post_init__(self) -> None:
        self.uuid = self.uuid or f"GPU-3f1c5a2e-8b4d-4c6e-9a7f-00000000000{self.index}"
        self.pci_bus_id = self.pci_bus_id or f"00000000:{0x17 + self.index:02X}:00.0"


@dataclass(frozen=True)
class FakeHandle:
    index: int
    generation: int


class FakeNvml:
    def __init__(self, gpus: list[FakeGpu] | None = None, driver_version: str = "550.54.15",
                 init_error: int | None = None, missing: tuple[str, ...] = (), realtime: bool = False):
        self.gpus = list(gpus or [])
        self.driver_version = driver_version
        # NVML error code nvmlInit raises, e.g. NVML_ERROR_LIBRARY_NOT_FOUND. GPU_NOT_FOUND (28),
        # like an empty `gpus`, means a driver with no usable GPU: nvmlInitWithFlags(NO_GPUS) works.
        self.init_error = init_error
        self.missing = tuple(missing)  # pynvml functions this nvidia-ml-py release lacks
        self.realtime = realtime  # energy counters advance with the wall clock
        # Called (with this fake) at each nvmlDeviceGetProcessUtilization before it answers: in-process only.
        self.process_sampler: Callable[[FakeNvml], None] | None = None
        self._last_tick = time.monotonic()
        self.initialised = False
        self.no_gpus_session = False
        self.generation = 0
        self.init_calls = 0
        self.shutdown_calls = 0
        self.calls: dict[str, int] = {}
        self.state_file: Path | None = None
        self._state_mtime: int | None = None

    # --- test controls -------------------------------------------------------------------
    def lose(self, index: int) -> None:
        self.gpus[index].lost = True

    def recover(self, index: int) -> None:
        """The GPU was reset: it answers again, but only through handles of a new nvmlInit.
        (A lost GPU never comes back by itself, not even for a new nvmlInit.)"""
        self.gpus[index].lost = False
        self.gpus[index].valid_from_generation = self.generation + 1

    def advance(self, seconds: float) -> None:
        """`seconds` pass: each GPU that is not lost adds power x time to its energy counter
        (mW x s = mJ)."""
        for gpu in self.gpus:
            if not gpu.lost:
                gpu.energy_mj += round(gpu.power_mw * seconds)

    def add_process_sample(self, index: int, pid: int, *, sm: int = 0, mem: int = 0, enc: int = 0, dec: int = 0,
                           timestamp_us: int | None = None) -> None:
        """The driver samples process `pid` on GPU `index` (percent of one sample period; stamped now
        unless `timestamp_us` is given, microseconds since the epoch, as NVML's CPU timestamps)."""
        stamp = int(time.time() * 1e6) if timestamp_us is None else int(timestamp_us)
        self.gpus[index].process_samples.append({"pid": pid, "timeStamp": stamp, "smUtil": sm, "memUtil": mem,
                                                 "encUtil": enc, "decUtil": dec})

    def reenumerate(self, order: list[int]) -> None:
        """The same GPUs at other indices (`order[i]` is the old index of the new GPU i): a
        container restarted with other --gpus, a reboot. Each GPU keeps its counters; the
        NVML session of before is gone (its calls say Uninitialized)."""
        if sorted(order) != list(range(len(self.gpus))):
            raise ValueError(f"order {order} is not a permutation of 0..{len(self.gpus) - 1}")
        self.gpus = [self.gpus[i] for i in order]
        self._invalidate()

    def reload_driver(self) -> None:
        """The driver reloads: every energy counter restarts from 0, lost GPUs are back, the
        NVML session of before is gone."""
        for gpu in self.gpus:
            gpu.energy_mj = 0
            gpu.lost = False
        self._invalidate()

    def _invalidate(self) -> None:
        self.initialised = False
        for gpu in self.gpus:
            gpu.valid_from_generation = self.generation + 1

    def install(self, setattr_=setattr, delattr_=None) -> None:
        """Patch pynvml's functions (pass pytest's monkeypatch.setattr and monkeypatch.delattr to
        undo after the test); the functions in `missing` are deleted."""
        for name in FUNCTIONS:
            if name in self.missing:
                if hasattr(pynvml, name):
                    (delattr_ or delattr)(pynvml, name)
            else:
                setattr_(pynvml, name, getattr(self, name))

    # --- JSON state, for subprocesses -------------------------------------------------------
    def to_dict(self) -> dict:
        return {"driver_version": self.driver_version, "init_error": self.init_error, "realtime": self.realtime,
                "gpus": [dataclasses.asdict(g) for g in self.gpus]}

    def write(self, path: Path) -> None:
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(tmp, path)

    @classmethod
    def from_file(cls, path: Path) -> FakeNvml:
        fake = cls()
        fake.state_file = Path(path)
        fake._reload()
        return fake

    def _reload(self) -> None:
        if self.state_file is None:
            return
        mtime = self.state_file.stat().st_mtime_ns
        if mtime == self._state_mtime:
            return
        self._state_mtime = mtime
        doc = json.loads(self.state_file.read_text())
        self.driver_version = doc.get("driver_version", self.driver_version)
        self.init_error = doc.get("init_error")
        self.realtime = doc.get("realtime", False)
        was_lost = {g.index for g in self.gpus if g.lost}
        self.gpus = [FakeGpu(**g) for g in doc.get("gpus", [])]
        for g in self.gpus:
            if g.index in was_lost and not g.lost:
                g.valid_from_generation = self.generation + 1

    # --- the pynvml functions ----------------------------------------------------------------
    def _enter(self, name: str) -> None:
        self._reload()
        if self.realtime:
            now = time.monotonic()
            self.advance(now - self._last_tick)
            self._last_tick = now
        self.calls[name] = self.calls.get(name, 0) + 1
        if not self.initialised:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)

    def _gpu(self, name: str, handle: FakeHandle, symbol: str | None = None) -> FakeGpu:
        """The GPU behind `handle`, or the error the real call raises. `symbol` is the C function
        pynvml calls when it is not `name` (nvmlDeviceGetMemoryInfo(version=) calls ..._v2)."""
        self._enter(name)
        if not isinstance(handle, FakeHandle) or handle.index >= len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        gpu = self.gpus[handle.index]
        if gpu.lost or handle.generation < gpu.valid_from_generation:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        if (symbol or name) in gpu.errors:
            raise pynvml.NVMLError(gpu.errors[symbol or name])
        return gpu

    @property
    def _no_usable_gpu(self) -> bool:
        return not self.gpus or self.init_error == GPU_NOT_FOUND

    def nvmlInit(self) -> None:  # noqa: N802 (pynvml's names)
        self.nvmlInitWithFlags(0)

    def nvmlInitWithFlags(self, flags: int) -> None:  # noqa: N802
        self._reload()
        self.init_calls += 1
        no_gpus_ok = bool(flags & INIT_FLAG_NO_GPUS)
        if self.init_error is not None and not (self.init_error == GPU_NOT_FOUND and no_gpus_ok):
            raise pynvml.NVMLError(self.init_error)
        if self._no_usable_gpu and not no_gpus_ok:
            raise pynvml.NVMLError(GPU_NOT_FOUND)
        self.initialised = True
        self.no_gpus_session = self._no_usable_gpu
        self.generation += 1

    def nvmlShutdown(self) -> None:  # noqa: N802
        self._enter("nvmlShutdown")
        self.shutdown_calls += 1
        self.initialised = False

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        self._enter("nvmlDeviceGetCount")
        return 0 if self.no_gpus_session else len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:  # noqa: N802
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.gpus) or self.no_gpus_session:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        handle = FakeHandle(index, self.generation)
        self._gpu("nvmlDeviceGetHandleByIndex", handle)  # a lost GPU has no handle
        return handle

    def nvmlDeviceGetName(self, handle) -> str:  # noqa: N802
        return self._gpu("nvmlDeviceGetName", handle).name

    def nvmlDeviceGetUUID(self, handle) -> str:  # noqa: N802
        return self._gpu("nvmlDeviceGetUUID", handle).uuid

    def nvmlDeviceGetPciInfo(self, handle):  # noqa: N802
        gpu = self._gpu("nvmlDeviceGetPciInfo", handle)
        # c_char arrays of the real nvmlPciInfo_t: bytes, not str (pynvml decodes only return values).
        return SimpleNamespace(busId=gpu.pci_bus_id.encode(), busIdLegacy=gpu.pci_bus_id[4:].encode(), domain=0,
                               bus=0x17 + gpu.index, device=0)

    def nvmlDeviceGetPowerUsage(self, handle) -> int:  # noqa: N802
        return self._gpu("nvmlDeviceGetPowerUsage", handle).power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle) -> int:  # noqa: N802
        return self._gpu("nvmlDeviceGetEnforcedPowerLimit", handle).power_limit_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, handle) -> int:  # noqa: N802
        return self._gpu("nvmlDeviceGetTotalEnergyConsumption", handle).energy_mj

    def nvmlDeviceGetTemperature(self, handle, sensor: int) -> int:  # noqa: N802
        gpu = self._gpu("nvmlDeviceGetTemperature", handle)
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return gpu.temperature_c

    def nvmlDeviceGetTemperatureV(self, handle, sensor: int, version: int = 0x100000C) -> int:  # noqa: N802
        gpu = self._gpu("nvmlDeviceGetTemperatureV", handle)
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return gpu.temperature_c

    def nvmlDeviceGetUtilizationRates(self, handle):  # noqa: N802
        gpu = self._gpu("nvmlDeviceGetUtilizationRates", handle)
        return SimpleNamespace(gpu=gpu.utilization_gpu, memory=gpu.utilization_memory)

    def nvmlDeviceGetEncoderUtilization(self, handle) -> list[int]:  # noqa: N802
        gpu = self._gpu("nvmlDeviceGetEncoderUtilization", handle)
        return [gpu.encoder_utilization, gpu.sampling_period_us]

    def nvmlDeviceGetDecoderUtilization(self, handle) -> list[int]:  # noqa: N802
        gpu = self._gpu("nvmlDeviceGetDecoderUtilization", handle)
        return [gpu.decoder_utilization, gpu.sampling_period_us]

    def nvmlDeviceGetEncoderStats(self, handle) -> tuple[int, int, int]:  # noqa: N802
        gpu = self._gpu("nvmlDeviceGetEncoderStats", handle)
        return (gpu.encoder_sessions, gpu.encoder_fps, gpu.encoder_latency_us)

    def nvmlDeviceGetProcessUtilization(self, handle, timeStamp: int):  # noqa: N802, N803 (pynvml's names)
        """Samples after `timeStamp` as c_nvmlProcessUtilizationSample_t-like objects; NOT_FOUND when none."""
        gpu = self._gpu("nvmlDeviceGetProcessUtilization", handle)
        if self.process_sampler is not None:
            self.process_sampler(self)
        samples = [SimpleNamespace(**s) for s in gpu.process_samples if s["timeStamp"] > timeStamp]
        if not samples:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return samples

    def nvmlDeviceGetMemoryInfo(self, handle, version=None):  # noqa: N802
        """v1 (c_nvmlMemory_t): used includes reserved. v2 (c_nvmlMemory_v2_t, pynvml calls the
        symbol nvmlDeviceGetMemoryInfo_v2): total, reserved, free, used apart."""
        if not version:
            gpu = self._gpu("nvmlDeviceGetMemoryInfo", handle)
            used = gpu.memory_used + gpu.memory_reserved
            free = gpu.memory_total - used
            return SimpleNamespace(total=gpu.memory_total, free=free, used=used)
        gpu = self._gpu("nvmlDeviceGetMemoryInfo", handle, symbol="nvmlDeviceGetMemoryInfo_v2")
        if version != getattr(pynvml, "nvmlMemory_v2", 0x02000028):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        free = gpu.memory_total - gpu.memory_reserved - gpu.memory_used
        return SimpleNamespace(version=version, total=gpu.memory_total, reserved=gpu.memory_reserved,
                               free=free, used=gpu.memory_used)

    def nvmlDeviceGetClockInfo(self, handle, clock_type: int) -> int:  # noqa: N802
        gpu = self._gpu("nvmlDeviceGetClockInfo", handle)
        clocks = {pynvml.NVML_CLOCK_GRAPHICS: gpu.graphics_clock_mhz, pynvml.NVML_CLOCK_SM: gpu.sm_clock_mhz,
                  pynvml.NVML_CLOCK_MEM: gpu.memory_clock_mhz}
        if clock_type not in clocks:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return clocks[clock_type]

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle) -> int:  # noqa: N802
        return self._gpu("nvmlDeviceGetCurrentClocksEventReasons", handle).clock_event_reasons

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle) -> int:  # noqa: N802 (deprecated name)
        return self._gpu("nvmlDeviceGetCurrentClocksThrottleReasons", handle).clock_event_reasons

    def nvmlDeviceGetSupportedClocksEventReasons(self, handle) -> int:  # noqa: N802
        return self._gpu("nvmlDeviceGetSupportedClocksEventReasons", handle).supported_clock_event_reasons

    def nvmlDeviceGetSupportedClocksThrottleReasons(self, handle) -> int:  # noqa: N802 (deprecated name)
        return self._gpu("nvmlDeviceGetSupportedClocksThrottleReasons", handle).supported_clock_event_reasons

