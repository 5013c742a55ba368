"""The CPU power model as an energy source: an estimate, never a measurement.

Per hardware thread, the machine's share (`formulas.cpu_thread_model_energy_joules`):

    E_J = W_thread x (f_idle x threads x window_s + (1 - f_idle) x busy_cpu_s)

with `busy_cpu_s` all CPU time on the machine over the window (/proc/stat) and W_thread from
`energy.cpu_power_model` (the CPU model's TDP per thread). Used when no counter can be read (a VM
without RAPL or NVML, `energy_uj` root-only) and no TSDB has the counters.
"""

from __future__ import annotations

from collections.abc import Sequence

from ffwatt.contract import formulas
from ffwatt.energy.source import Window

__all__ = ["ModelSource"]


class ModelSource:
    """A `WindowSource` of the per-thread model at `watts_per_thread` W (ValueError when not a valid figure)."""

    kind = "model"
    what = "CPU model"

    def __init__(self, watts_per_thread: float) -> None:
        formulas.cpu_thread_model_power_watts(watts_per_thread, 1, 0.0)  # ValueError now rather than at the end
        self.watts_per_thread = float(watts_per_thread)
        self.where = f"{self.watts_per_thread:g} W per thread"

    def joules(self, window: Window) -> float | None:
        if window.cpus is None:
            return None
        return formulas.cpu_thread_model_energy_joules(self.watts_per_thread, window.cpus, window.seconds,
                                                       window.machine_cpu_seconds)

    def power_watts(self, cores: Sequence[float], cpus: int) -> tuple[float, ...]:
        """The modelled power of each CPU-use sample (busy cores out of `cpus`)."""
        return tuple(formulas.cpu_thread_model_power_watts(self.watts_per_thread, cpus, min(1.0, c / cpus))
                     for c in cores)

    def explain(self, cpus: int) -> str:
        """How the figure was made, for the reading's caveats."""
        idle = formulas.CPU_MODEL_IDLE_FRACTION
        return (f"CPU model {self.watts_per_thread:g} W per thread x {cpus} thread(s) x ({idle:g} + {1 - idle:g} x load) "
                "(an estimate, not a measurement)")

    def simulated(self) -> bool:
        return False
