"""What a meter measured over a window: the machine's energy and the facts attribution needs.

`EnergyReading.joules` is the *machine's* energy over [start, end]; the share of one scenario or
stream is `energy.attribution`'s job. Every figure that is unknown is `None`, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EnergyReading", "GpuWindow", "SIMULATED_SOURCE"]

SIMULATED_SOURCE = "simulated"
"""The `source` recorded when a source says its counters are simulated (the demo's powercap tree
or fake NVML). `"simulated"` keeps the joules and samples, marked as not measured
(`contract.schema.MEASURED_ENERGY_SOURCES` leaves it out); set it to `"none"` to drop them instead."""


@dataclass(frozen=True)
class GpuWindow:
    """One GPU over the window: its energy, and NVML's per-process utilisation summed over the
    window's samples (engine-percent, `formulas.gpu_process_utilisation`): the scenario's
    processes' (`scenario_utilisation`) and every process's (`all_utilisation`). Both None when
    the driver does not say or the scenario's pids were not given; `all_utilisation` 0 when no
    process used the GPU."""

    uuid: str
    joules: float
    scenario_utilisation: float | None = None
    all_utilisation: float | None = None


@dataclass(frozen=True)
class EnergyReading:
    """What a meter measured over [start, end]."""

    joules: float | None  # increase over [start, end]; None when unknown
    source: str  # "rapl" | "nvml" | "rapl+nvml" | "tsdb" | "model" | "none" | SIMULATED_SOURCE
    error: str | None  # why unknown, or caveats
    power_watts: tuple[float, ...]  # mean power over each step from start (may be empty)
    step_seconds: float | None
    cpu_usage_cores: tuple[float, ...]  # whole-machine CPU use in cores, same clock (may be empty)
    window_seconds: float | None = None  # monotonic stop - start
    machine_cpu_seconds: float | None = None  # all CPU time on the machine over the window (/proc/stat)
    cpus: int | None = None  # CPUs /proc/stat lists (the threads visible here)
    cpu_joules: float | None = None  # the RAPL (or model) part of `joules`
    gpu_joules: float | None = None  # the NVML part of `joules`
    gpus: tuple[GpuWindow, ...] = ()  # the NVML part per GPU, with its per-process utilisation when known
