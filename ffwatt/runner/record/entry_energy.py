"""The energy half of a results entry: the scenario's own energy and the machine's, where they came
from, each repetition's figures, and (issue 30) every input they were computed from.

Figures are per single encode (a window of `encodes` back-to-back encodes divided by them); the
scenario's are the means over its repetitions, and only when every repetition measured energy the
same way (a mean of RAPL and modelled joules would be neither). `energy_inputs` holds, per
repetition in order, the *window's* inputs (`contract.schema.EnergyInputs`): window, encodes, the
scenario's and the machine's CPU seconds, CPUs, the machine's energy split into its CPU and GPU
parts, the rule applied and the idle power taken out, so `ffwatt audit` can recompute each joule with
`contract.formulas` alone. Unknown is `None` (left out of the file), never 0.
"""

from __future__ import annotations

from typing import Any

from ffwatt.contract import formulas
from ffwatt.contract.schema import EnergyInputs, GpuInputs, RepetitionEntry
from ffwatt.runner.measure.encode_results import mean
from ffwatt.runner.measure.measurer import Rep
from ffwatt.runner.plan.scenario import Scenario

__all__ = ["energy_fields", "energy_inputs"]


def energy_fields(s: Scenario, reps: list[Rep]) -> dict[str, Any]:
    """The energy the scenario owns, the machine's, where it came from, and each repetition's."""
    reading0 = reps[0].reading
    readings = [r.reading for r in reps]
    own = [r.per_encode(r.own.joules) for r in reps]
    machine = [r.per_encode(r.reading.joules) for r in reps]
    sources = sorted({rd.source for rd in readings})
    methods = sorted({r.own.method for r in reps if r.own.method})
    consistent = len(sources) == 1 and len(methods) <= 1 and all(j is not None for j in own)
    errors = list(dict.fromkeys(rd.error for rd in readings if rd.error))
    errors += list(dict.fromkeys(r.own.note for r in reps if r.own.note))
    if not consistent and (len(sources) > 1 or len(methods) > 1):
        errors.append(f"repetitions measured energy differently ({', '.join(sources + methods)}): not averaged")
    cpu = [r.per_encode(r.cpu_seconds) for r in reps]  # the encodes' CPU time (an idle baseline's is none)
    repetitions = None
    if len(reps) > 1:
        repetitions = [RepetitionEntry(energy_joules=o if consistent else None,
                                       avg_fps=mean([x.avg_fps for x in r.results]) if r.results else None,
                                       duration=r.per_encode(r.span[1] - r.span[0]),
                                       start_time=r.span[0], end_time=r.span[1],
                                       machine_energy_joules=m if consistent else None,
                                       cpu_core_seconds=c if not s.idle else None)
                       for r, o, m, c in zip(reps, own, machine, cpu, strict=True)]
    return dict(
        energy_joules=mean(own) if consistent else None,
        energy_source=sources[0] if consistent else "none",
        energy_error="; ".join(errors) or None,
        power_watts=list(reading0.power_watts), cpu_usage_cores=list(reading0.cpu_usage_cores),
        step_seconds=reading0.step_seconds, repetitions=repetitions,
        machine_energy_joules=mean(machine) if consistent else None,
        energy_attribution=methods[0] if consistent and methods else None,
        energy_attribution_version=formulas.ATTRIBUTION_VERSION,
        energy_inputs=[energy_inputs(r, baseline=s.idle) for r in reps],
        **_idle_verdict(reps) if s.idle else {},
    )


def energy_inputs(rep: Rep, *, baseline: bool = False) -> EnergyInputs:
    """The window of one repetition with every input of its energy (module docstring)."""
    rd = rep.reading
    gpus = [GpuInputs(uuid=g.uuid, energy_joules=g.joules, scenario_utilisation=g.scenario_utilisation,
                      all_utilisation=g.all_utilisation) for g in rd.gpus]
    modelled = rd.source == "model" or (rep.idle is not None and rep.idle.source == "model")
    verdict = next((c.accepted for c in rep.idle_checks if c.origin == "baseline"), None) if baseline else None
    return EnergyInputs(
        window_s=rd.window_seconds, encodes=rep.encodes, cpu_seconds=None if baseline else rep.cpu_seconds,
        machine_cpu_seconds=rd.machine_cpu_seconds, cpus_visible=rd.cpus,
        busy_share=formulas.busy_share(rd.machine_cpu_seconds, rd.cpus, rd.window_seconds),
        energy_source=rd.source, machine_energy_joules=rd.joules, cpu_energy_joules=rd.cpu_joules,
        gpu_energy_joules=rd.gpu_joules, gpus=gpus or None, attribution=rep.own.method,
        idle_watts=rep.idle.watts if rep.idle is not None else None,
        idle_source=rep.idle.source if rep.idle is not None else None, idle_accepted=verdict,
        model_watts_per_thread=rep.model_watts_per_thread if modelled else None)


def _idle_verdict(reps: list[Rep]) -> dict[str, Any]:
    """An idle baseline's check: `idle_rejected` when any of its windows was not idle, and the highest busy share."""
    checks = [c for r in reps for c in r.idle_checks if c.origin == "baseline"]
    shares = [c.busy_share for c in checks if c.busy_share is not None]
    rejected = any(not c.accepted and c.busy_share is not None and c.busy_share >= c.threshold for c in checks)
    return {"idle_rejected": True if rejected else None, "idle_busy_share": max(shares) if shares else None}
