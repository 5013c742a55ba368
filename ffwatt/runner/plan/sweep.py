"""The capacity sweep's figures: each step's summary from its results entry, and the sweep's
knee and marginal joules per stream (`contract.formulas`). Pure functions over the results'
structs (`contract.schema.ScenarioEntry` in, `SweepStep` and `Sweep` out), so unit tests check
them with hand-made entries.

A sweep runs its steps (`"<name> @ <N> streams"`) in increasing order and stops after the first
whose streams fell behind real time (`SweepStep.held_real_time` false), or that did not complete.
"""

from __future__ import annotations

from collections.abc import Sequence

from ffwatt.contract import formulas
from ffwatt.contract.schema import ScenarioEntry, Sweep, SweepStep

__all__ = ["baseline_mean_watts", "sweep_step", "sweep_summary"]


def baseline_mean_watts(entries: Sequence[ScenarioEntry]) -> float | None:
    """Mean power of the run's idle baseline (its first one not flagged `idle_rejected`, issue 30):
    energy / (end_time - start_time); None without."""
    for e in entries:
        if e.encoder == "none" and not e.idle_rejected:
            span = e.end_time - e.start_time if e.start_time is not None and e.end_time is not None else None
            return formulas.mean_power_over(e.energy_joules, span)
    return None


def sweep_step(entry: ScenarioEntry, baseline_mean_watts: float | None) -> SweepStep:
    """One step of `sweeps[].steps` from the step's scenario entry.

    net_power_W = machine_energy_J / (end_time - start_time) - baseline mean power_W (`None` without
    a baseline or without energy): the machine's power against the machine's idle power (the
    baseline is the machine's; a step's own attributed `energy_joules` already leaves others out).
    Files before issue 22 have no `machine_energy_joules`: their `energy_joules` was the machine's.
    """
    start, end = entry.start_time, entry.end_time
    span = end - start if start is not None and end is not None else None
    machine = entry.machine_energy_joules
    mean_watts = formulas.mean_power_over(machine if machine is not None else entry.energy_joules, span)
    return SweepStep(streams=entry.streams, scenario=entry.name, held_real_time=entry.fell_behind_streams == 0,
                     energy_joules=entry.energy_joules,
                     net_power_watts=formulas.net_power(mean_watts, baseline_mean_watts),
                     min_speed=entry.min_speed, vmaf=entry.vmaf_score)


def sweep_summary(name: str, steps: Sequence[SweepStep]) -> Sweep:
    """The results file's `sweeps[]` object for sweep `name` from its steps, in order.

    `knee_streams`: `formulas.capacity_knee` (the largest count that held real time before
    the first that did not; `None` when the first fell behind or no step completed);
    `marginal_joules_per_stream`: `formulas.marginal_energy_per_stream` over every step.
    """
    counts = [s.streams for s in steps]
    return Sweep(name=name, steps=tuple(steps),
                 knee_streams=formulas.capacity_knee(counts, [s.held_real_time for s in steps]),
                 marginal_joules_per_stream=formulas.marginal_energy_per_stream(counts,
                                                                                [s.energy_joules for s in steps]))
