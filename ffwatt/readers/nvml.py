"""NVML access (pynvml, from the nvidia-ml-py package): the one layer the gpu exporter and an
in-process meter read NVIDIA GPUs through.

What it owns, and what it leaves to its user:

* **Lifecycle.** `Nvml.init()` runs nvmlInit; failure raises `NvmlUnavailableError`, whose `no_gpu`
  says whether this is a normal host without a GPU (no library, no driver, GPU_NOT_FOUND; with
  GPU_NOT_FOUND, `nvmlInitWithFlags(NVML_INIT_FLAG_NO_GPUS)` still gives the driver version).
  `shutdown()` is safe to call at any time. Errors after which NVML must be initialised again
  raise `LifecycleError` (`GpuLostError` when the GPU needs a reset or a reboot); what to do
  then (retry, back off) is the user's policy.
* **One reading.** `call(gpu, field, *variants)` looks the pynvml function (and constant, e.g.
  nvmlMemory_v2) up inside the call, newest API first: a release that lacks a function, or a
  driver that answers FUNCTION_NOT_FOUND, ARGUMENT_VERSION_MISMATCH or NOT_SUPPORTED, moves on to
  the next variant; when none is left the field is recorded in `unsupported` and the answer is
  None (no series, never 0 or -1). Any other error is counted in `field_errors`, logged once,
  and None too.
* **Energy.** `energy_joules(gpu, handle)`: NVML's counter (joules since the driver loaded), or
  None; `energy_by_uuid()` reads every GPU's, keyed by UUID (nvml.h does not keep the index
  order, so a counter is only ever compared with its own GPU's).
* **Per-process utilisation.** `process_utilisation(gpu, handle, since_us)`: the driver's
  per-process samples (`nvmlDeviceGetProcessUtilization`: pid, timestamp in microseconds, and
  the SM, memory, encoder and decoder utilisation in percent of one sample period) taken after
  `since_us`; `[]` when the driver has none since then (NOT_FOUND), None when it does not say
  (NOT_SUPPORTED: vGPU guests, MIG, older GPUs; or a binding without the call).
  `process_utilisation_by_uuid(since)` reads every GPU's.

The fake NVML of the tests and the demo replaces pynvml's functions, so every call here goes
through `pynvml.<function>` at call time, never a reference taken earlier.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ffwatt.common.errors import FfwattError

try:
    import pynvml
except ImportError:  # nvidia-ml-py is a dependency; without it NVML is simply unavailable
    pynvml = None


def _code(name: str, default: int) -> int:
    return getattr(pynvml, name, default) if pynvml is not None else default


# NVML return codes and constants (from pynvml when it has them; the values are nvml.h's).
NOT_SUPPORTED = _code("NVML_ERROR_NOT_SUPPORTED", 3)
FUNCTION_NOT_FOUND = _code("NVML_ERROR_FUNCTION_NOT_FOUND", 13)
LIBRARY_NOT_FOUND = _code("NVML_ERROR_LIBRARY_NOT_FOUND", 12)
DRIVER_NOT_LOADED = _code("NVML_ERROR_DRIVER_NOT_LOADED", 9)
GPU_IS_LOST = _code("NVML_ERROR_GPU_IS_LOST", 15)
RESET_REQUIRED = _code("NVML_ERROR_RESET_REQUIRED", 16)
ARGUMENT_VERSION_MISMATCH = _code("NVML_ERROR_ARGUMENT_VERSION_MISMATCH", 25)
NOT_FOUND = _code("NVML_ERROR_NOT_FOUND", 6)
GPU_NOT_FOUND = _code("NVML_ERROR_GPU_NOT_FOUND", 28)  # not defined by every pynvml release
INIT_FLAG_NO_GPUS = _code("NVML_INIT_FLAG_NO_GPUS", 1)  # likewise
TEMPERATURE_GPU = _code("NVML_TEMPERATURE_GPU", 0)
CLOCK_GRAPHICS = _code("NVML_CLOCK_GRAPHICS", 0)
CLOCK_SM = _code("NVML_CLOCK_SM", 1)
CLOCK_MEM = _code("NVML_CLOCK_MEM", 2)

UNSUPPORTED_CODES = frozenset({NOT_SUPPORTED, FUNCTION_NOT_FOUND})
# A newer variant of a call that this driver or binding lacks: try the next, older one.
NEXT_VARIANT_CODES = frozenset({FUNCTION_NOT_FOUND, ARGUMENT_VERSION_MISMATCH})
# The GPU itself is gone until a GPU reset or a reboot: back off, keep the others.
NEEDS_RESET_CODES = frozenset({GPU_IS_LOST, RESET_REQUIRED})
# NVML must be shut down and initialised again before it can answer.
LIFECYCLE_CODES = frozenset({
    _code("NVML_ERROR_UNINITIALIZED", 1),
    DRIVER_NOT_LOADED,
    _code("NVML_ERROR_LIB_RM_VERSION_MISMATCH", 18),
}) | NEEDS_RESET_CODES

NO_GPU_HINT = {
    LIBRARY_NOT_FOUND: "the NVML library (libnvidia-ml.so.1) is not installed: no NVIDIA driver on this host, "
                       "or a container started without the NVIDIA runtime (--gpus all / a compose device "
                       "reservation with capabilities [gpu, utility])",
    DRIVER_NOT_LOADED: "the NVIDIA kernel driver is not loaded",
    GPU_NOT_FOUND: "the NVIDIA driver is loaded but no GPU is usable (a hybrid laptop's dGPU powered off, GPUs "
                   "bound to vfio-pci, or a container given no GPU device)",
}


class NvmlUnavailableError(FfwattError):
    """nvmlInit failed (or pynvml is missing). `no_gpu`: a normal host without a GPU, not a fault.
    `code` is NVML's return code (None without pynvml); `driver_version` is known with GPU_NOT_FOUND."""

    def __init__(self, message: str, *, no_gpu: bool, code: int | None = None, driver_version: str | None = None):
        super().__init__(message)
        self.no_gpu = no_gpu
        self.code = code
        self.driver_version = driver_version


class NvmlCallError(FfwattError):
    """A call without a GPU or field to leave out (the device count) failed otherwise."""


class LifecycleError(FfwattError):
    """An NVML error after which NVML has to be initialised again."""

    def __init__(self, call: str, error: Exception):
        super().__init__(f"{error} ({call})")


class GpuLostError(LifecycleError):
    """GPU_IS_LOST / RESET_REQUIRED: this GPU is gone until a reset or reboot."""


class NoHandleError(FfwattError):
    """nvmlDeviceGetHandleByIndex failed for another reason (no permission...): the GPU is skipped."""


@dataclass(frozen=True)
class Variant:
    """One way to make an NVML call: a pynvml function name, its arguments; constants by name."""

    function: str
    args: tuple = ()
    kwargs: tuple = ()  # ((name, value or Const), ...)


@dataclass(frozen=True)
class Const:
    """A pynvml constant looked up at call time (a release that lacks it skips the variant)."""

    name: str


def v(function: str, *args: Any, **kwargs: Any) -> Variant:
    return Variant(function, args, tuple(kwargs.items()))


def text(value: Any) -> str:
    """An NVML string (bytes in older bindings) as text."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value).strip()


def nvml_code(exc: BaseException) -> int | None:
    if pynvml is not None and isinstance(exc, pynvml.NVMLError):
        return getattr(exc, "value", None)
    return None


def simulated() -> bool:
    """True when pynvml's functions were replaced (the tests' and the demo's fake NVML)."""
    return pynvml is not None and getattr(pynvml.nvmlInit, "__module__", "pynvml") != "pynvml"


@dataclass(frozen=True)
class ProcessSample:
    """One per-process utilisation sample: percentages of one sample period (nvml.h's
    nvmlProcessUtilizationSample_t); `timestamp_us` is the CPU time in microseconds since the epoch."""

    pid: int
    timestamp_us: int
    sm: int
    memory: int
    encoder: int
    decoder: int


class Nvml:
    """One NVML session: init/shutdown, device handles, readings, and what was unsupported or failed.

    `log` is the user's logger (messages are logged once each); not thread-safe: one user thread.
    """

    def __init__(self, log: logging.Logger):
        self.log = log
        self.initialised = False
        self.unsupported: dict[str, set[str]] = {}  # gpu index -> fields NVML cannot give
        self.field_errors: Counter[tuple[str, str, str]] = Counter()  # (gpu, field, error) -> count
        self._logged: set[str] = set()

    # --- lifecycle ---------------------------------------------------------------------------
    def init(self) -> None:
        """nvmlInit; `NvmlUnavailableError` when it fails. A fresh session forgets what was unsupported."""
        if pynvml is None:
            raise NvmlUnavailableError("pynvml (package nvidia-ml-py) is not installed", no_gpu=False)
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            code = getattr(exc, "value", None)
            if code not in NO_GPU_HINT:
                raise NvmlUnavailableError(f"nvmlInit failed: {exc}", no_gpu=False, code=code) from None
            driver = self._driver_without_gpus() if code == GPU_NOT_FOUND else None
            message = f"no GPU: {exc}: {NO_GPU_HINT[code]}"
            if driver:
                message += f"; driver {driver}"
            raise NvmlUnavailableError(message, no_gpu=True, code=code, driver_version=driver) from None
        self.initialised = True
        self.unsupported.clear()

    def _driver_without_gpus(self) -> str | None:
        """The driver version when nvmlInit said GPU_NOT_FOUND: NVML opened with NO_GPUS, then closed
        again (so a GPU that becomes usable is found by the next plain nvmlInit)."""
        try:
            init = pynvml.nvmlInitWithFlags
            init(INIT_FLAG_NO_GPUS)
        except (AttributeError, pynvml.NVMLError) as exc:
            self.log.debug("nvmlInitWithFlags(NO_GPUS): %s", exc)
            return None
        try:
            return text(pynvml.nvmlSystemGetDriverVersion())
        except (AttributeError, pynvml.NVMLError) as exc:
            self.log.debug("nvmlSystemGetDriverVersion without GPUs: %s", exc)
            return None
        finally:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError as exc:
                self.log.debug("nvmlShutdown: %s", exc)

    def shutdown(self) -> None:
        if self.initialised and pynvml is not None:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError as exc:
                self.log.debug("nvmlShutdown: %s", exc)
        self.initialised = False

    # --- devices -----------------------------------------------------------------------------
    def device_count(self) -> int:
        """How many GPUs NVML lists; `LifecycleError`, or `NvmlCallError` for any other failure."""
        return self._global("nvmlDeviceGetCount", lambda: pynvml.nvmlDeviceGetCount()) or 0

    def _global(self, call: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except pynvml.NVMLError as exc:
            if getattr(exc, "value", None) in LIFECYCLE_CODES:
                raise LifecycleError(call, exc) from None
            raise NvmlCallError(f"NVML {call}: {exc}") from None

    def handle(self, index: int) -> Any:
        """The device handle; `GpuLostError`, `LifecycleError`, or `NoHandleError` (no permission...)."""
        try:
            return pynvml.nvmlDeviceGetHandleByIndex(index)
        except pynvml.NVMLError as exc:
            code = getattr(exc, "value", None)
            if code in NEEDS_RESET_CODES:
                raise GpuLostError("nvmlDeviceGetHandleByIndex", exc) from None
            if code in LIFECYCLE_CODES:
                raise LifecycleError("nvmlDeviceGetHandleByIndex", exc) from None
            raise NoHandleError(str(exc)) from None

    def uuid(self, gpu: str, handle: Any) -> str | None:
        value = self.call(gpu, "uuid", v("nvmlDeviceGetUUID", handle))
        return text(value) if value is not None else None

    def energy_joules(self, gpu: str, handle: Any) -> float | None:
        """NVML's energy counter in joules (since the driver loaded); None when this GPU has none
        (then `supports(gpu, "energy")` is False: before Volta, vGPU, Jetson) or it failed."""
        mj = self.call(gpu, "energy", v("nvmlDeviceGetTotalEnergyConsumption", handle))
        return None if mj is None else mj / 1000.0

    def _gpus_with_uuid(self) -> Iterator[tuple[str, Any, str | None]]:
        """`(gpu, handle, uuid)` of every GPU NVML gives a handle for; uuid None when it has none."""
        for index in range(self.device_count()):
            gpu = str(index)
            try:
                handle = self.handle(index)
            except NoHandleError:
                continue
            yield gpu, handle, self.uuid(gpu, handle)

    def energy_by_uuid(self) -> dict[str, float]:
        """Every GPU's energy counter in joules, keyed by UUID; GPUs without a UUID or a counter are
        left out. `LifecycleError` when NVML must be initialised again."""
        out: dict[str, float] = {}
        for gpu, handle, uuid in self._gpus_with_uuid():
            joules = self.energy_joules(gpu, handle)
            if uuid and joules is not None:
                out[uuid] = joules
        return out

    def process_utilisation(self, gpu: str, handle: Any, since_us: int) -> list[ProcessSample] | None:
        """The per-process samples the driver took after `since_us` (microseconds since the epoch):
        `[]` when it has none (NOT_FOUND: no process used the GPU since then), None when it does not
        say (NOT_SUPPORTED, FUNCTION_NOT_FOUND, or a pynvml without the call: `supports(gpu,
        "process_utilisation")` is False then), or when the call failed otherwise (logged once).
        `LifecycleError` / `GpuLostError` as for any call."""
        fn = getattr(pynvml, "nvmlDeviceGetProcessUtilization", None)
        if fn is None:
            self.unsupported.setdefault(gpu, set()).add("process_utilisation")
            return None
        try:
            raw = fn(handle, int(since_us))
        except pynvml.NVMLError as exc:
            code = getattr(exc, "value", None)
            # pynvml raises NVMLError(SUCCESS) when the size query found 0 samples and said so
            if code in (NOT_FOUND, getattr(pynvml, "NVML_SUCCESS", 0)):
                return []
            if code in UNSUPPORTED_CODES:
                self.unsupported.setdefault(gpu, set()).add("process_utilisation")
                return None
            if code in NEEDS_RESET_CODES:
                raise GpuLostError("nvmlDeviceGetProcessUtilization", exc) from None
            if code in LIFECYCLE_CODES:
                raise LifecycleError("nvmlDeviceGetProcessUtilization", exc) from None
            self.field_error(gpu, "process_utilisation", str(exc))
            return None
        return [ProcessSample(int(s.pid), int(s.timeStamp), int(s.smUtil), int(s.memUtil), int(s.encUtil),
                              int(s.decUtil)) for s in raw]

    def process_utilisation_by_uuid(self, since_us: dict[str, int], default_since_us: int) -> dict[str, list[ProcessSample] | None]:
        """Every GPU's per-process samples after `since_us[uuid]` (else `default_since_us`), keyed by
        UUID; None for a GPU whose driver does not say. `LifecycleError` when NVML must be initialised again."""
        out: dict[str, list[ProcessSample] | None] = {}
        for gpu, handle, uuid in self._gpus_with_uuid():
            if uuid:
                out[uuid] = self.process_utilisation(gpu, handle, since_us.get(uuid, default_since_us))
        return out

    def supports(self, gpu: str, field: str) -> bool:
        return field not in self.unsupported.get(gpu, ())

    # --- one reading -------------------------------------------------------------------------
    def call(self, gpu: str, field: str, *variants: Variant) -> Any:
        """One NVML reading: its value, or None (not supported, or failed: logged once), or
        `LifecycleError`. `variants` are tried newest first: a function (or constant) the installed
        pynvml lacks, FUNCTION_NOT_FOUND, ARGUMENT_VERSION_MISMATCH or NOT_SUPPORTED moves on to the
        next; when none is left the field is unsupported."""
        tried = []
        unsupported = False
        for variant in variants:
            tried.append(variant.function)
            fn = getattr(pynvml, variant.function, None)
            kwargs = {}
            for key, value in variant.kwargs:
                if isinstance(value, Const):
                    value = getattr(pynvml, value.name, None)
                    if value is None:
                        fn = None
                kwargs[key] = value
            if fn is None:
                continue
            try:
                return fn(*variant.args, **kwargs)
            except TypeError as exc:  # a binding whose signature predates this variant
                self.log.debug("GPU %s %s: %s(%s): %s", gpu, field, variant.function, kwargs, exc)
                continue
            except Exception as exc:
                code = nvml_code(exc)
                if code in NEXT_VARIANT_CODES:
                    continue
                if code in UNSUPPORTED_CODES:  # an older variant may still answer (memory v1 on a vGPU...)
                    unsupported = True
                    continue
                if code in NEEDS_RESET_CODES:
                    raise GpuLostError(variant.function, exc) from None
                if code in LIFECYCLE_CODES:
                    raise LifecycleError(variant.function, exc) from None
                self.field_error(gpu, field, str(exc) if code is not None else f"{type(exc).__name__}: {exc}")
                return None
        self.unsupported.setdefault(gpu, set()).add(field)
        if not unsupported:
            self.log_once("debug", f"GPU {gpu} {field}: none of {tried} is available; leaving that series out")
        return None

    def field_error(self, gpu: str, field: str, error: str) -> None:
        self.field_errors[(gpu, field, error)] += 1
        self.log_once("warning", f"GPU {gpu} {field}: {error}; leaving that series out")

    def log_once(self, level: str, message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            getattr(self.log, level)("%s", message)
