"""gpu exporter (9505): NVIDIA GPU power, energy, temperature, utilization incl. NVENC/NVDEC,
memory and clocks through NVML (pynvml, from the nvidia-ml-py package).

States, and what /health says:

* No NVIDIA library or driver (NVML_ERROR_LIBRARY_NOT_FOUND, NVML_ERROR_DRIVER_NOT_LOADED):
  a normal host without a GPU. ffwatt_gpu_devices is 0, status stays ok, and
  /health details.nvml says why. nvmlInit is retried every refresh, so a driver that
  loads later is picked up.
* nvmlInit failing otherwise (no permission, NVML/driver version mismatch...): 0 GPUs
  and status degraded with the error, retried every refresh.
* A field that raises NVML_ERROR_NOT_SUPPORTED (or FUNCTION_NOT_FOUND on an older
  driver) is left out: no series, never 0 or -1. Listed in details.unsupported.
* Lifecycle errors (GPU lost, driver unloaded, NVML uninitialised, NVML/RM version
  mismatch, reset required) mark NVML for re-initialisation: nvmlShutdown + nvmlInit
  at the start of the next refresh. A lost GPU's series are left out of that refresh
  (status degraded); they return once the re-initialised NVML reads it again. A
  lifecycle error on the device count fails the refresh (last good data kept).
* Any other error on one field leaves that series out, is logged once per GPU, field
  and error, and counted in details.field_errors. A GPU whose handle cannot be had
  (no permission...) is skipped with a warning (status degraded).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

from catalog import metrics as m
from exporters.config import Setting
from exporters.runtime import Exporter, SourceError
from exporters.samples import Samples

try:
    import pynvml
except ImportError:  # nvidia-ml-py is a dependency; without it the exporter still serves 0 GPUs
    pynvml = None


def _code(name: str, default: int) -> int:
    return getattr(pynvml, name, default) if pynvml is not None else default


# NVML return codes (from pynvml when it has them).
NOT_SUPPORTED = _code("NVML_ERROR_NOT_SUPPORTED", 3)
FUNCTION_NOT_FOUND = _code("NVML_ERROR_FUNCTION_NOT_FOUND", 13)
LIBRARY_NOT_FOUND = _code("NVML_ERROR_LIBRARY_NOT_FOUND", 12)
DRIVER_NOT_LOADED = _code("NVML_ERROR_DRIVER_NOT_LOADED", 9)
UNSUPPORTED_CODES = frozenset({NOT_SUPPORTED, FUNCTION_NOT_FOUND})
# No GPU on this host: 0 devices is the right answer, not a fault.
NO_GPU_CODES = frozenset({LIBRARY_NOT_FOUND, DRIVER_NOT_LOADED})
# NVML must be shut down and initialised again before it can answer.
LIFECYCLE_CODES = frozenset({
    _code("NVML_ERROR_UNINITIALIZED", 1),
    DRIVER_NOT_LOADED,
    _code("NVML_ERROR_GPU_IS_LOST", 15),
    _code("NVML_ERROR_RESET_REQUIRED", 16),
    _code("NVML_ERROR_LIB_RM_VERSION_MISMATCH", 18),
})

NO_GPU_HINT = {
    LIBRARY_NOT_FOUND: "the NVML library (libnvidia-ml.so.1) is not installed: no NVIDIA driver on this host, "
                       "or a container started without the NVIDIA runtime (--gpus all / a compose device "
                       "reservation with capabilities [gpu, utility])",
    DRIVER_NOT_LOADED: "the NVIDIA kernel driver is not loaded",
}


class _LifecycleError(Exception):
    """An NVML error after which NVML has to be initialised again."""

    def __init__(self, call: str, error: Exception):
        super().__init__(f"{error} ({call})")


class _NoHandleError(Exception):
    """nvmlDeviceGetHandleByIndex failed for another reason (no permission...): the GPU is skipped."""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip()


class GpuExporter(Exporter):
    name = "gpu"
    settings: ClassVar[tuple[Setting, ...]] = ()

    def __init__(self, config):
        super().__init__(config)
        self._initialised = False
        self._reinit_pending = False
        self._reinitialisations = 0
        self._nvml_state = "not initialised yet"
        self._driver_version: str | None = None
        self._devices = 0
        self._unsupported: dict[str, set[str]] = {}
        self._field_errors: Counter[tuple[str, str, str]] = Counter()
        self._logged: set[str] = set()
        self._details = self._build_details()

    # --- NVML lifecycle ------------------------------------------------------------------
    def _init(self, out: Samples) -> bool:
        if pynvml is None:
            self._nvml_state = "pynvml (package nvidia-ml-py) is not installed"
            out.warn(self._nvml_state)
            return False
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            code = getattr(exc, "value", None)
            if code in NO_GPU_HINT:
                self._nvml_state = f"no GPU: {exc}: {NO_GPU_HINT[code]}"
                self._log_once("info", self._nvml_state)
            else:
                self._nvml_state = f"nvmlInit failed: {exc}"
                out.warn(f"{self._nvml_state}; retrying every refresh")
            return False
        if self._nvml_state != "not initialised yet":
            self.log.info("NVML initialised (was: %s)", self._nvml_state)
        self._initialised = True
        self._unsupported.clear()
        self._nvml_state = "ok"
        return True

    def _shutdown(self) -> None:
        if self._initialised and pynvml is not None:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError as exc:
                self.log.debug("nvmlShutdown: %s", exc)
        self._initialised = False

    def close(self) -> None:
        self._shutdown()

    # --- refresh -------------------------------------------------------------------------
    def refresh(self, out: Samples) -> None:
        try:
            self._refresh(out)
        finally:
            # /health reads this from the HTTP threads: a finished copy, never the live dicts.
            self._details = self._build_details()

    def _refresh(self, out: Samples) -> None:
        if self._reinit_pending:
            self.log.info("re-initialising NVML")
            self._shutdown()
            self._reinit_pending = False
            self._reinitialisations += 1
        if not self._initialised and not self._init(out):
            self._devices = 0
            out.add(m.GPU_COUNT, 0)
            return

        try:
            count = self._global("nvmlDeviceGetCount", pynvml.nvmlDeviceGetCount)
            driver = self._call("system", "driver_version", pynvml.nvmlSystemGetDriverVersion)
        except _LifecycleError as exc:
            self._reinit_pending = True
            self._nvml_state = f"re-initialising after: {exc}"
            raise SourceError(f"NVML: {exc}; re-initialising next refresh") from None
        self._driver_version = _text(driver) if driver is not None else None
        self._devices = count or 0
        out.add(m.GPU_COUNT, self._devices)

        lost: list[str] = []
        for index in range(self._devices):
            gpu = str(index)
            try:
                readings = self._read_gpu(index, gpu)
            except _LifecycleError as exc:
                self._reinit_pending = True
                lost.append(f"GPU {gpu}: {exc}")
                continue
            except _NoHandleError as exc:
                out.warn(f"GPU {gpu}: no NVML handle: {exc}")
                continue
            for metric, value, extra in readings:
                out.add(metric, value, gpu=gpu, **extra)
        if lost:
            self._nvml_state = "re-initialising after: " + "; ".join(lost)
            out.warn("; ".join(lost) + "; re-initialising NVML next refresh")

    def _global(self, call: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except pynvml.NVMLError as exc:
            if getattr(exc, "value", None) in LIFECYCLE_CODES:
                raise _LifecycleError(call, exc) from None
            raise SourceError(f"NVML {call}: {exc}") from None

    def _read_gpu(self, index: int, gpu: str) -> list[tuple[Any, float, dict]]:
        """Every reading of one GPU, or _LifecycleError. Collected first so a GPU lost half-way
        publishes nothing rather than half its series."""
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except pynvml.NVMLError as exc:
            if getattr(exc, "value", None) in LIFECYCLE_CODES:
                raise _LifecycleError("nvmlDeviceGetHandleByIndex", exc) from None
            raise _NoHandleError(str(exc)) from None
        got: list[tuple[Any, float, dict]] = []

        def put(metric, value):
            if value is not None:
                got.append((metric, value, {}))

        def call(field, fn, *args):
            return self._call(gpu, field, fn, handle, *args)

        mw = call("power", pynvml.nvmlDeviceGetPowerUsage)
        put(m.GPU_POWER, None if mw is None else mw / 1000.0)
        mw = call("power_limit", pynvml.nvmlDeviceGetEnforcedPowerLimit)
        put(m.GPU_POWER_LIMIT, None if mw is None else mw / 1000.0)
        mj = call("energy", pynvml.nvmlDeviceGetTotalEnergyConsumption)
        put(m.GPU_ENERGY, None if mj is None else mj / 1000.0)
        put(m.GPU_TEMPERATURE, call("temperature", pynvml.nvmlDeviceGetTemperature, pynvml.NVML_TEMPERATURE_GPU))

        rates = call("utilization", pynvml.nvmlDeviceGetUtilizationRates)
        if rates is not None:
            put(m.GPU_UTILIZATION, rates.gpu / 100.0)
            put(m.GPU_MEMORY_UTILIZATION, rates.memory / 100.0)
        enc = call("encoder_utilization", pynvml.nvmlDeviceGetEncoderUtilization)
        put(m.GPU_ENCODER_UTILIZATION, None if enc is None else enc[0] / 100.0)
        dec = call("decoder_utilization", pynvml.nvmlDeviceGetDecoderUtilization)
        put(m.GPU_DECODER_UTILIZATION, None if dec is None else dec[0] / 100.0)
        stats = call("encoder_stats", pynvml.nvmlDeviceGetEncoderStats)
        if stats is not None:
            sessions, fps, _latency_us = stats
            put(m.GPU_ENCODER_SESSIONS, sessions)
            put(m.GPU_ENCODER_FPS, fps)

        memory = call("memory", pynvml.nvmlDeviceGetMemoryInfo)
        if memory is not None:
            put(m.GPU_MEMORY_USED, memory.used)
            put(m.GPU_MEMORY_TOTAL, memory.total)
        for metric, field, clock in ((m.GPU_GRAPHICS_CLOCK, "graphics_clock", pynvml.NVML_CLOCK_GRAPHICS),
                                     (m.GPU_SM_CLOCK, "sm_clock", pynvml.NVML_CLOCK_SM),
                                     (m.GPU_MEMORY_CLOCK, "memory_clock", pynvml.NVML_CLOCK_MEM)):
            mhz = call(field, pynvml.nvmlDeviceGetClockInfo, clock)
            put(metric, None if mhz is None else mhz * 1e6)

        name = call("name", pynvml.nvmlDeviceGetName)
        uuid = call("uuid", pynvml.nvmlDeviceGetUUID)
        pci = call("pci_info", pynvml.nvmlDeviceGetPciInfo)
        got.append((m.GPU_INFO, 1, {
            "name": _text(name) if name is not None else "unknown",
            "uuid": _text(uuid) if uuid is not None else "unknown",
            "pci_bus_id": _text(pci.busId) if pci is not None else "unknown",
            "driver_version": self._driver_version or "unknown",
        }))
        return got

    def _call(self, gpu: str, field: str, fn: Callable[..., Any], *args: Any) -> Any:
        """One NVML call: its value, or None (not supported, or failed: logged once), or _LifecycleError."""
        try:
            return fn(*args)
        except Exception as exc:
            code = getattr(exc, "value", None) if pynvml is not None and isinstance(exc, pynvml.NVMLError) else None
            if code in UNSUPPORTED_CODES:
                self._unsupported.setdefault(gpu, set()).add(field)
                return None
            if code in LIFECYCLE_CODES:
                raise _LifecycleError(getattr(fn, "__name__", field), exc) from None
            error = str(exc) if code is not None else f"{type(exc).__name__}: {exc}"
            self._field_errors[(gpu, field, error)] += 1
            self._log_once("warning", f"GPU {gpu} {field}: {error}; leaving that series out")
            return None

    def _log_once(self, level: str, message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            getattr(self.log, level)("%s", message)

    def health_details(self) -> dict:
        return self._details

    def _build_details(self) -> dict:
        return {
            # tests/fake_nvml replaces pynvml's functions: the demo's GPUs are not real ones
            "simulated": pynvml is not None and getattr(pynvml.nvmlInit, "__module__", "pynvml") != "pynvml",
            "nvml": self._nvml_state,
            "initialised": self._initialised,
            "reinit_pending": self._reinit_pending,
            "reinitialisations": self._reinitialisations,
            "driver_version": self._driver_version,
            "gpus": self._devices,
            "unsupported": {gpu: sorted(fields) for gpu, fields in sorted(self._unsupported.items())},
            "field_errors": {f"{gpu}/{field}": {"error": error, "count": n}
                             for (gpu, field, error), n in sorted(self._field_errors.items())},
        }
