"""gpu exporter (9505): NVIDIA GPU power, energy, temperature, utilization incl. NVENC/NVDEC,
memory, clocks and clock-event (throttle) reasons through NVML (pynvml, from the
nvidia-ml-py package). NVML access (init, lifecycle errors, the API variants, per-field
NOT_SUPPORTED) is `readers.nvml`; this module is the policy and the series on top of it.

Every per-GPU series is labelled `gpu` (NVML's index) and `uuid`: nvml.h does not
promise the index order, so a GPU keeps its own series (and its energy counter never
jumps or resets) when another one ends up behind the same index.

States, and what /health says:

* No NVIDIA library or driver (NVML_ERROR_LIBRARY_NOT_FOUND, NVML_ERROR_DRIVER_NOT_LOADED),
  or a driver with no usable GPU (NVML_ERROR_GPU_NOT_FOUND: the dGPU of a hybrid laptop
  powered off, GPUs bound to vfio, a container with no GPU device): a normal host
  without a GPU. ffwatt_gpu_devices is 0, status stays ok, /health details.nvml says
  why (with GPU_NOT_FOUND, `nvmlInitWithFlags(NVML_INIT_FLAG_NO_GPUS)` still gives the
  driver version). nvmlInit is retried every refresh, so a GPU or driver that appears
  later is picked up.
* nvmlInit failing otherwise (no permission, NVML/driver version mismatch...): 0 GPUs
  and status degraded with the error, retried every refresh.
* A GPU NVML lists but this process may not open (nvmlDeviceGetHandleByIndex
  NO_PERMISSION..., e.g. cgroup device rules of a batch scheduler): not counted in
  ffwatt_gpu_devices, logged once, listed in details.unreadable; health stays ok.
* A field that raises NVML_ERROR_NOT_SUPPORTED, FUNCTION_NOT_FOUND, or whose pynvml
  function does not exist in the installed nvidia-ml-py, is left out: no series, never
  0 or -1. Listed in details.unsupported. Every reading's pynvml function (and
  constant, e.g. nvmlMemory_v2) is looked up inside the call wrapper, newest API first (nvmlDeviceGetTemperatureV, then the deprecated
  nvmlDeviceGetTemperature...), so a release that removes one loses one series, never
  the refresh.
* No energy counter (NOT_SUPPORTED: before Volta, vGPU, Jetson): never a silent 0.
  ffwatt_gpu_nvml_energy_supported is 0 and the power gauge is integrated into
  ffwatt_gpu_power_integrated_joules_total (trapezoid between refreshes, from 0 at
  start; a gap longer than `max(60 s, 4 refresh intervals)` is not integrated).
* Memory: NVML memory v2 (`nvmlDeviceGetMemoryInfo(version=nvmlMemory_v2)`) gives used
  and reserved apart; where v2 is missing, v1's used (which includes reserved) is
  served and details.memory_api says so.
* A GPU that fell off the bus (GPU_IS_LOST, RESET_REQUIRED) needs a reset or a reboot:
  it is left out, health degraded naming it, and NVML is re-initialised to look for
  it again with exponential backoff (2 refresh intervals, doubling, at most 300 s),
  never every refresh. The other GPUs are served every refresh meanwhile.
* Other lifecycle errors (driver unloaded, NVML uninitialised, NVML/RM version
  mismatch) mark NVML for re-initialisation at the start of the next refresh. A
  lifecycle error on the device count fails the refresh (last good data kept).
* Any other error on one field leaves that series out, is logged once per GPU, field
  and error, and counted in details.field_errors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from ffwatt.catalog import metrics as m
from ffwatt.exporters.config import Setting
from ffwatt.exporters.runtime import Exporter, SourceError
from ffwatt.exporters.samples import Samples
from ffwatt.readers import nvml
from ffwatt.readers.nvml import (
    CLOCK_GRAPHICS,
    CLOCK_MEM,
    CLOCK_SM,
    GPU_NOT_FOUND,
    TEMPERATURE_GPU,
    Const,
    GpuLostError,
    LifecycleError,
    NoHandleError,
    Nvml,
    NvmlCallError,
    NvmlUnavailableError,
    Variant,
    v,
)

# nvmlClocksEventReason* bits (nvml.h; the same values as the deprecated ClocksThrottleReason*).
CLOCK_EVENT_REASONS = (
    ("gpu_idle", 0x1),
    ("applications_clocks_setting", 0x2),
    ("sw_power_cap", 0x4),
    ("hw_slowdown", 0x8),
    ("sync_boost", 0x10),
    ("sw_thermal_slowdown", 0x20),
    ("hw_thermal_slowdown", 0x40),
    ("hw_power_brake_slowdown", 0x80),
    ("display_clock_setting", 0x100),
)
ALL_CLOCK_EVENT_REASONS = sum(bit for _, bit in CLOCK_EVENT_REASONS)

MEMORY_V1 = "v1 (used includes reserved)"


@dataclass
class _Lost:
    error: str
    uuid: str | None
    since: float  # Unix time


@dataclass
class _Integral:
    at: float  # monotonic seconds of the last power reading
    watts: float
    joules: float = 0.0


def _by_index(d: dict[str, Any]) -> list[tuple[str, Any]]:
    return sorted(d.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else -1)


class GpuExporter(Exporter):
    name = "gpu"
    settings: ClassVar[tuple[Setting, ...]] = ()
    # Re-initialisation backoff for a lost GPU: from 2 refresh intervals, doubling, capped.
    BACKOFF_MAX_SECONDS: ClassVar[float] = 300.0

    def __init__(self, config, clock: Callable[[], float] = time.monotonic):
        super().__init__(config)
        self._clock = clock
        self._refresh_seconds = float(getattr(config, "refresh_interval", 5.0) or 5.0)
        self._nvml = Nvml(self.log)
        self._reinit_pending = False
        self._reinitialisations = 0
        self._nvml_state = "not initialised yet"
        self._driver_version: str | None = None
        self._devices = 0
        self._lost: dict[str, _Lost] = {}
        self._backoff = 0.0
        self._next_reinit_at: float | None = None
        self._unreadable: dict[str, str] = {}
        self._uuids: dict[str, str] = {}  # gpu index -> last UUID read, to name a lost GPU
        self._memory_api: dict[str, str] = {}
        self._energy_source: dict[str, str] = {}
        self._integrals: dict[str, _Integral] = {}  # by UUID
        self._details = self._build_details()

    @property
    def _max_integration_gap(self) -> float:
        return max(60.0, 4 * self._refresh_seconds)

    # --- NVML lifecycle ------------------------------------------------------------------
    def _init(self, out: Samples) -> bool:
        try:
            self._nvml.init()
        except NvmlUnavailableError as exc:
            if exc.code == GPU_NOT_FOUND:
                self._driver_version = exc.driver_version
            self._nvml_state = str(exc)
            if exc.no_gpu:
                self._nvml.log_once("info", self._nvml_state)
            elif nvml.pynvml is None:
                out.warn(self._nvml_state)
            else:
                out.warn(f"{self._nvml_state}; retrying every refresh")
            return False
        if self._nvml_state != "not initialised yet":
            self.log.info("NVML initialised (was: %s)", self._nvml_state)
        self._memory_api.clear()
        self._energy_source.clear()
        self._nvml_state = "ok"
        return True

    def close(self) -> None:
        self._nvml.shutdown()

    def _reinitialise(self, why: str) -> None:
        self.log.info("re-initialising NVML (%s)", why)
        self._nvml.shutdown()
        self._reinit_pending = False
        self._reinitialisations += 1

    # --- refresh -------------------------------------------------------------------------
    def refresh(self, out: Samples) -> None:
        try:
            self._refresh(out)
        finally:
            # /health reads this from the HTTP threads: a finished copy, never the live dicts.
            self._details = self._build_details()

    def _refresh(self, out: Samples) -> None:
        now = self._clock()
        looking_for_lost = False
        if self._reinit_pending:
            self._reinitialise("after a lifecycle error")
            looking_for_lost = bool(self._lost)
        elif self._lost and self._next_reinit_at is not None and now >= self._next_reinit_at:
            self._reinitialise("looking for lost GPU(s) " + ", ".join(sorted(self._lost)))
            looking_for_lost = True
        if not self._nvml.initialised and not self._init(out):
            self._devices = 0
            out.add(m.GPU_COUNT, 0)
            return

        try:
            count = self._nvml.device_count()
            driver = self._nvml.call("system", "driver_version", v("nvmlSystemGetDriverVersion"))
        except NvmlCallError as exc:
            raise SourceError(str(exc)) from None
        except LifecycleError as exc:
            self._reinit_pending = True
            self._nvml_state = f"re-initialising after: {exc}"
            raise SourceError(f"NVML: {exc}; re-initialising next refresh") from None
        self._driver_version = nvml.text(driver) if driver is not None else None
        for gone in [gpu for gpu in self._lost if int(gpu) >= count]:
            del self._lost[gone]  # no longer listed at all (another --gpus, a reboot)

        served = 0
        other_lifecycle: list[str] = []
        still_lost: list[str] = []
        for index in range(count):
            gpu = str(index)
            if gpu in self._lost and not looking_for_lost:
                continue  # lost until a reset: not asked again before the next backoff re-init
            try:
                readings = self._read_gpu(index, gpu)
            except GpuLostError as exc:
                still_lost.append(gpu)
                if gpu not in self._lost:
                    self._lost[gpu] = _Lost(str(exc), self._uuids.get(gpu), time.time())
                    self.log.warning("GPU %s (%s) is lost: %s; it needs a GPU reset or a reboot", gpu,
                                     self._uuids.get(gpu, "uuid unknown"), exc)
                continue
            except LifecycleError as exc:
                self._reinit_pending = True
                other_lifecycle.append(f"GPU {gpu}: {exc}")
                continue
            except NoHandleError as exc:
                if self._unreadable.get(gpu) != str(exc):
                    self.log.warning("GPU %s: NVML lists it but this process may not open it (%s): left out "
                                     "(container or cgroup device rules?)", gpu, exc)
                self._unreadable[gpu] = str(exc)
                continue
            self._unreadable.pop(gpu, None)
            if self._lost.pop(gpu, None) is not None:
                self.log.info("GPU %s is back", gpu)
            served += 1
            for metric, value, labels in readings:
                out.add(metric, value, **labels)
        self._schedule_lost(now, looking_for_lost, still_lost)
        self._devices = served
        out.add(m.GPU_COUNT, served)
        out.add(m.GPU_SOURCE, 1 if served else None, source="simulated" if nvml.simulated() else "nvml")

        problems = []
        for gpu, lost in sorted(self._lost.items(), key=lambda kv: int(kv[0])):
            problems.append(f"GPU {gpu} ({lost.uuid or 'uuid unknown'}) is lost: {lost.error}; left out, it needs "
                            f"a GPU reset or a reboot (NVML re-initialised with backoff to look for it)")
        if other_lifecycle:
            problems.append("; ".join(other_lifecycle) + "; re-initialising NVML next refresh")
        self._nvml_state = "; ".join(problems) if problems else "ok"
        for problem in problems:
            out.warn(problem)

    def _schedule_lost(self, now: float, looked: bool, still_lost: list[str]) -> None:
        """Backoff for re-initialising while a GPU is lost: 2 refresh intervals, doubling, capped."""
        if not self._lost:
            self._backoff, self._next_reinit_at = 0.0, None
            return
        if self._next_reinit_at is None:
            self._backoff = 2 * self._refresh_seconds
        elif looked and still_lost:
            self._backoff = min(self._backoff * 2, self.BACKOFF_MAX_SECONDS)
        else:
            return
        self._next_reinit_at = now + self._backoff

    def _read_gpu(self, index: int, gpu: str) -> list[tuple[Any, float, dict]]:
        """Every reading of one GPU, or LifecycleError. Collected first so a GPU lost half-way
        publishes nothing rather than half its series."""
        handle = self._nvml.handle(index)

        def call(field: str, *variants: Variant) -> Any:
            return self._nvml.call(gpu, field, *variants)

        uuid = self._nvml.uuid(gpu, handle)
        if uuid:
            self._uuids[gpu] = uuid
        labels = {"gpu": gpu, "uuid": uuid or "unknown"}
        got: list[tuple[Any, float, dict]] = []

        def put(metric, value, **extra):
            if value is not None:
                got.append((metric, value, {**labels, **extra}))

        mw = call("power", v("nvmlDeviceGetPowerUsage", handle))
        watts = None if mw is None else mw / 1000.0
        read_at = self._clock()
        put(m.GPU_POWER, watts)
        mw = call("power_limit", v("nvmlDeviceGetEnforcedPowerLimit", handle))
        put(m.GPU_POWER_LIMIT, None if mw is None else mw / 1000.0)
        got += self._energy(gpu, uuid, handle, labels, watts, read_at)
        put(m.GPU_TEMPERATURE, call("temperature", v("nvmlDeviceGetTemperatureV", handle, TEMPERATURE_GPU),
                                    v("nvmlDeviceGetTemperature", handle, TEMPERATURE_GPU)))

        rates = call("utilization", v("nvmlDeviceGetUtilizationRates", handle))
        if rates is not None:
            put(m.GPU_UTILIZATION, rates.gpu / 100.0)
            put(m.GPU_MEMORY_UTILIZATION, rates.memory / 100.0)
        enc = call("encoder_utilization", v("nvmlDeviceGetEncoderUtilization", handle))
        put(m.GPU_ENCODER_UTILIZATION, None if enc is None else enc[0] / 100.0)
        dec = call("decoder_utilization", v("nvmlDeviceGetDecoderUtilization", handle))
        put(m.GPU_DECODER_UTILIZATION, None if dec is None else dec[0] / 100.0)
        stats = call("encoder_stats", v("nvmlDeviceGetEncoderStats", handle))
        if stats is not None:
            sessions, fps, latency_us = stats
            put(m.GPU_ENCODER_SESSIONS, sessions)
            put(m.GPU_ENCODER_FPS, fps)
            # With no session the average latency is undefined (NVML says 0): left out.
            put(m.GPU_ENCODER_LATENCY, latency_us / 1e6 if sessions else None)

        memory = call("memory", v("nvmlDeviceGetMemoryInfo", handle, version=Const("nvmlMemory_v2")),
                      v("nvmlDeviceGetMemoryInfo", handle))
        if memory is not None:
            reserved = getattr(memory, "reserved", None)
            self._memory_api[gpu] = "v2" if reserved is not None else MEMORY_V1
            put(m.GPU_MEMORY_USED, memory.used)
            put(m.GPU_MEMORY_RESERVED, reserved)
            put(m.GPU_MEMORY_TOTAL, memory.total)
        for metric, field, clock in ((m.GPU_GRAPHICS_CLOCK, "graphics_clock", CLOCK_GRAPHICS),
                                     (m.GPU_SM_CLOCK, "sm_clock", CLOCK_SM),
                                     (m.GPU_MEMORY_CLOCK, "memory_clock", CLOCK_MEM)):
            mhz = call(field, v("nvmlDeviceGetClockInfo", handle, clock))
            put(metric, None if mhz is None else mhz * 1e6)

        current = call("clock_event_reasons", v("nvmlDeviceGetCurrentClocksEventReasons", handle),
                       v("nvmlDeviceGetCurrentClocksThrottleReasons", handle))
        if current is not None:
            supported = call("clock_event_reasons_supported",
                             v("nvmlDeviceGetSupportedClocksEventReasons", handle),
                             v("nvmlDeviceGetSupportedClocksThrottleReasons", handle))
            mask = ALL_CLOCK_EVENT_REASONS if supported is None else int(supported)
            for reason, bit in CLOCK_EVENT_REASONS:
                if mask & bit:
                    put(m.GPU_CLOCK_EVENT, 1 if int(current) & bit else 0, reason=reason)

        name = call("name", v("nvmlDeviceGetName", handle))
        pci = call("pci_info", v("nvmlDeviceGetPciInfo", handle))
        got.append((m.GPU_INFO, 1, {
            "gpu": gpu,
            "name": nvml.text(name) if name is not None else "unknown",
            "uuid": uuid or "unknown",
            "pci_bus_id": nvml.text(pci.busId) if pci is not None else "unknown",
            "driver_version": self._driver_version or "unknown",
        }))
        return got

    def _energy(self, gpu: str, uuid: str | None, handle: Any, labels: dict, watts: float | None,
                read_at: float) -> list[tuple[Any, float, dict]]:
        """The energy counter, or (no counter on this GPU) the integrated power gauge; never a silent 0."""
        joules = self._nvml.energy_joules(gpu, handle)
        supported = self._nvml.supports(gpu, "energy")
        got: list[tuple[Any, float, dict]] = [(m.GPU_NVML_ENERGY_SUPPORTED, 1 if supported else 0, labels)]
        if not uuid:
            # Without its UUID a counter could move to another GPU's series: left out.
            self._nvml.field_error(gpu, "energy", "no UUID to label the energy counter with")
            self._energy_source[gpu] = "none (no UUID)"
            return got
        if supported:
            self._energy_source[gpu] = "counter"
            if joules is not None:
                got.append((m.GPU_ENERGY, joules, labels))
            return got
        self._energy_source[gpu] = "integrated power gauge" if watts is not None else "none (no power reading)"
        if watts is None:
            return got
        integral = self._integrals.get(uuid)
        if integral is None:
            integral = self._integrals[uuid] = _Integral(read_at, watts)
        else:
            dt = read_at - integral.at
            if 0 < dt <= self._max_integration_gap:
                integral.joules += (integral.watts + watts) / 2 * dt
            elif dt > self._max_integration_gap:
                self._nvml.log_once("warning", f"GPU {gpu} ({uuid}): {dt:.0f} s without a power reading; that gap is "
                                          "not integrated into the energy estimate")
            integral.at, integral.watts = read_at, watts
        got.append((m.GPU_POWER_INTEGRATED, integral.joules, labels))
        return got

    def health_details(self) -> dict:
        return self._details

    def _build_details(self) -> dict:
        now = self._clock()
        return {
            # the fake NVML replaces pynvml's functions: the demo's GPUs are not real ones
            "simulated": nvml.simulated(),
            "nvml": self._nvml_state,
            "initialised": self._nvml.initialised,
            "reinit_pending": self._reinit_pending,
            "reinitialisations": self._reinitialisations,
            "driver_version": self._driver_version,
            "gpus": self._devices,
            "lost": {gpu: {"uuid": lost.uuid, "error": lost.error,
                           "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(lost.since))}
                     for gpu, lost in _by_index(self._lost)},
            "next_reinit_in_seconds": (None if self._next_reinit_at is None
                                       else round(max(0.0, self._next_reinit_at - now), 1)),
            "unreadable": dict(_by_index(self._unreadable)),
            "energy_source": dict(_by_index(self._energy_source)),
            "memory_api": dict(_by_index(self._memory_api)),
            "unsupported": {gpu: sorted(fields) for gpu, fields in sorted(self._nvml.unsupported.items())},
            "field_errors": {f"{gpu}/{field}": {"error": error, "count": n}
                             for (gpu, field, error), n in sorted(self._nvml.field_errors.items())},
        }
