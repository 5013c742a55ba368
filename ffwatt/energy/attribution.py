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

The joules come from one formula, `formulas.attributed_energy_joules`, which `ffwatt audit` applies to
the inputs a results file records; its inputs are explicit (the reading's window, machine CPU
seconds and CPUs, the scenario's CPU seconds, `idle_watts`), so the runner and a live collector pass
the same things.

Idle power (`idle_watts`): the caller's. The runner's (ffwatt/runner/meter/idle_power.py): an
accepted idle baseline's mean CPU power, else its own idle probe's, else the model's idle term
W_thread x f_idle x threads (`model_idle_watts`); a modelled reading always uses the model's idle
term: the model's baseline is the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffwatt.contract import formulas
from ffwatt.energy.reading import EnergyReading, GpuWindow

__all__ = ["Attributed", "attribute", "gpu_figures", "gpu_rule", "model_idle_watts"]


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
    """The scenario's own share of `reading` (module docstring): `formulas.attributed_energy_joules` with
    the reading's window, machine CPU time and CPUs, the scenario's CPU seconds and `idle_watts`."""
    if reading.joules is None:
        return Attributed(None, None, None)
    if exclusive:
        return Attributed(reading.joules, "exclusive", None)
    own = formulas.attributed_energy_joules(
        reading.cpu_joules, gpu_figures(reading), gpu_joules=reading.gpu_joules, idle_watts=idle_watts,
        window_seconds=reading.window_seconds, scenario_cpu_seconds=scenario_cpu_seconds,
        machine_cpu_seconds=reading.machine_cpu_seconds, cpus_visible=reading.cpus or 0)
    methods = []
    if reading.cpu_joules is not None:
        methods.append("cpu-time-share")
    if reading.gpu_joules is not None:
        methods.append(gpu_rule(reading.gpus))
    if own is None and reading.cpu_joules is None:
        return Attributed(None, None, "the reading has neither a CPU nor a GPU part to attribute")
    if own is None:
        missing = [name for name, value in (("the idle power", idle_watts),
                                            ("the scenario's CPU time", scenario_cpu_seconds),
                                            ("the machine's CPU time (/proc/stat)", reading.machine_cpu_seconds))
                   if value is None]
        why = ", ".join(missing) or "no CPU time passed on the machine over the window"
        return Attributed(None, "cpu-time-share", f"the scenario's share is unknown: {why}")
    return Attributed(own, "+".join(methods) or None, None)


def gpu_figures(reading: EnergyReading) -> list[tuple[float, float | None, float | None]]:
    """Each GPU's (joules, scenario's utilisation, every process's) over the window, as the formula takes them."""
    return [(gpu.joules, gpu.scenario_utilisation, gpu.all_utilisation) for gpu in reading.gpus]


def gpu_rule(gpus: tuple[GpuWindow, ...]) -> str:
    """"gpu-process-utilisation" when every GPU was split by its samples, else "gpu-whole" (the rule that
    does not leave others out); no per-GPU figures (a TSDB's or an exporter's) is whole too."""
    split = bool(gpus) and all(g.scenario_utilisation is not None and bool(g.all_utilisation) for g in gpus)
    return "gpu-process-utilisation" if split else "gpu-whole"
