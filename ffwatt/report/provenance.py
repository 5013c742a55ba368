"""Where the joules came from, in words: the energy kind of every figure, and the power model as the
results' `meter` record describes it (never a formula written here).

Every cell, axis and sentence that shows modelled or simulated joules says so (`kind_note`). Under
the runner's per-thread model with CPU-time-share attribution a scenario's joules are its
CPU-seconds times one constant, so BD-energy is BD-CPU-time in other units: `model_sentences`
says so, with the constant measured on the report's own rows (energy / CPU-seconds), not assumed.
Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence

from ffwatt.report.data import Row, RunInput

__all__ = ["KIND_MEANING", "kind_note", "kinds_note", "model_sentences", "watts_per_cpu_second"]

KIND_MEANING = {
    "measured": "measured by a meter (RAPL and/or NVML joules counters, the file's power samples or the TSDB)",
    "estimated": "estimated by the CPU power model: not a measurement",
    "simulated": "simulated (a simulated powercap tree or sample data): not a measurement",
    "none": "no energy figure",
}
_NOT_MEASURED = ("estimated", "simulated")
CONSTANT_TOLERANCE = 1e-3
"""Relative spread of energy / CPU-seconds under which the model's joules are one constant x CPU time."""


def kind_note(kind: str | None) -> str:
    """" (estimated)" or " (simulated)" after a figure made of such joules; "" for measured ones."""
    return f" ({kind})" if kind in _NOT_MEASURED else ""


def kinds_note(kinds: Sequence[str | None]) -> str:
    """The note for figures made of joules of these kinds: " (estimated)", " (estimated and simulated)"."""
    shown = sorted({k for k in kinds if k in _NOT_MEASURED})
    return f" ({' and '.join(shown)})" if shown else ""


def watts_per_cpu_second(rows: Sequence[Row]) -> tuple[float, float] | None:
    """(lowest, highest) energy / CPU-seconds over the estimated encodes that have both, or None."""
    ratios = [r.energy_joules / r.core_seconds for r in rows if r.energy_kind == "estimated" and r.energy_joules
              and r.core_seconds and not r.scenario.is_baseline]
    return (min(ratios), max(ratios)) if ratios else None


def _meter_text(run: RunInput) -> str:
    meter = run.run.meter
    if meter is None or meter.model_watts_per_thread is None:
        tdp = run.run.environment.get("tdp_watts")
        return (f"{run.label}: the CPU power model; the file does not record which (written before the meter record)"
                + (f"; its environment gives a TDP of {tdp:g} W" if isinstance(tdp, (int, float)) else ""))
    parts = [f"{meter.model_watts_per_thread:g} W per hardware thread at full load"]
    if meter.model_why:
        parts.append(f"because {meter.model_why}")
    if meter.model_idle_fraction is not None:
        parts.append(f"drawing {meter.model_idle_fraction:.0%} of that when idle")
    if meter.attribution:
        parts.append(f"a scenario charged by the rule {meter.attribution}")
    return f"{run.label}: the runner's CPU power model, as the results' meter record gives it: " + "; ".join(parts)


def model_sentences(runs: Sequence[RunInput], rows: Sequence[Row]) -> list[str]:
    """What the model is (per results file whose energy it estimated) and, when every estimated
    encode's joules are one constant x its CPU-seconds, that BD-energy is BD-CPU-time x that constant."""
    out = [_meter_text(run) + "." for run in runs if any(s.energy_source == "model" for s in run.run.scenarios)]
    ratio = watts_per_cpu_second(rows)
    if ratio is not None:
        low, high = ratio
        if high - low <= CONSTANT_TOLERANCE * high:
            out.append(f"Under the model every estimated encode's energy is {high:.4g} J per CPU-second of its "
                       f"ffmpeg processes (energy / CPU-seconds, {low:.4g}-{high:.4g} on this report's encodes), so "
                       f"BD-energy is BD-CPU-time x that constant: the same percentage, and {high:.4g} W x the "
                       "CPU-seconds per second of video in J/s. It ranks the encoders' compute, not a meter's reading.")
        else:
            out.append(f"Under the model the estimated encodes' energy is {low:.4g}-{high:.4g} J per CPU-second "
                       "(not one constant: the attribution charges more than CPU time).")
    return out
