"""A scenario's own energy from the machine's (issue 22; docs/energy.md has the rule); the same
rule gives a live stream its share.

    own = attribute(reading, scenario_cpu_seconds=12.3, idle_watts=4.0, exclusive=False)
    own.joules, own.method, own.note

* `exclusive` (`--exclusive`, and idle baselines, which measure the machine): the machine's
  energy is the scenario's;
* the CPU part (RAPL, the model, or a TSDB's figure) by the Kepler/Scaphandre rule,
  `formulas.attributed_cpu_energy_joules`: "cpu-time-share";
* the GPU part (NVML) per GPU, by NVML's per-process utilisation over the window
  (`formulas.attributed_gpu_energy_joules` with the reading's `GpuWindow`s):
  "gpu-process-utilisation" when every GPU was split so; when the driver gives no per-process
  samples for a GPU, no process used it over the window, or the scenario's pids are unknown,
  that GPU is charged whole and the method says "gpu-whole" (the reading's caveats say which).

Idle power (`idle_watts`): the run's idle baseline's mean CPU power when the run measured one
with counters, else the model's idle term W_thread x f_idle x threads (`model_idle_watts`).
A modelled reading always uses the model's idle term: the model's baseline is the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffwatt.contract import formulas
from ffwatt.energy.reading import EnergyReading

__all__ = ["Attributed", "attribute", "model_idle_watts"]


@dataclass(frozen=True)
class Attributed:
    joules: float | None  # the scenario's own; None when unknown
    method: str | None  # "+"-joined catalog.ENERGY_ATTRIBUTIONS parts (docs/energy.md)
    note: str | None  # why unknown, when it is


def model_idle_watts(watts_per_thread: float, threads: int) -> float:
    """P_idle_W = W_thread x f_idle x threads: the model's draw at no load."""
    return formulas.cpu_thread_model_power_watts(watts_per_thread, threads, 0.0)


def attribute(reading: EnergyReading, *, scenario_cpu_seconds: float | None, idle_watts: float | None,
              exclusive: bool) -> Attributed:
    if reading.joules is None:
        return Attributed(None, None, None)
    if exclusive:
        return Attributed(reading.joules, "exclusive", None)
    own = 0.0
    methods = []
    cpu_part = reading.cpu_joules
    if cpu_part is not None:
        share = formulas.attributed_cpu_energy_joules(
            cpu_part, idle_watts, reading.window_seconds, scenario_cpu_seconds, reading.machine_cpu_seconds,
            reading.cpus or 0)
        if share is None:
            missing = [name for name, value in (("the idle power", idle_watts),
                                                ("the scenario's CPU time", scenario_cpu_seconds),
                                                ("the machine's CPU time (/proc/stat)", reading.machine_cpu_seconds))
                       if value is None]
            why = ", ".join(missing) or "no CPU time passed on the machine over the window"
            return Attributed(None, "cpu-time-share", f"the scenario's share is unknown: {why}")
        own += share
        methods.append("cpu-time-share")
    if reading.gpu_joules is not None:
        gpu_own, method = _gpu_share(reading)
        own += gpu_own
        methods.append(method)
    return Attributed(own, "+".join(methods) or None, None)


def _gpu_share(reading: EnergyReading) -> tuple[float, str]:
    """The GPU part charged to the scenario, and the rule: split by utilisation only when every GPU was."""
    if not reading.gpus:  # no per-GPU figures (a TSDB's or an older reading): the whole NVML part
        return formulas.attributed_gpu_energy_joules(reading.gpu_joules, None, None) or 0.0, "gpu-whole"
    own = 0.0
    split = True
    for gpu in reading.gpus:
        own += formulas.attributed_gpu_energy_joules(gpu.joules, gpu.scenario_utilisation,
                                                     gpu.all_utilisation) or 0.0
        split = split and gpu.scenario_utilisation is not None and bool(gpu.all_utilisation)
    return own, "gpu-process-utilisation" if split else "gpu-whole"
