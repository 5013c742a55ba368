"""The idle power a scenario's attribution takes out first (`energy.attribution`), kept per host.

An idle baseline measured with counters teaches it the machine's idle CPU power (its CPU joules
over its window); the scenarios measured after it on the same host use that figure. Without one,
or for a modelled reading (the model's baseline is the model), the model's idle term
W_thread x f_idle x threads (`energy.attribution.model_idle_watts`).

Issue 30 builds here: the runner's own idle probe (when the run has no baseline), the check that
rejects a baseline taken with the machine busy, and the record of where the figure came from.
"""

from __future__ import annotations

from ffwatt.energy.attribution import model_idle_watts
from ffwatt.energy.reading import EnergyReading

__all__ = ["IdlePower"]


class IdlePower:
    """This host's idle power: `measured_watts` from an idle baseline (None until one was measured with
    counters), else the model's idle term at `watts_per_thread`."""

    def __init__(self, watts_per_thread: float, measured_watts: float | None = None) -> None:
        self.watts_per_thread = watts_per_thread
        self.measured_watts = measured_watts

    def learn(self, baseline: EnergyReading) -> None:
        """Keep an idle baseline's mean CPU power, when it was counted (not modelled)."""
        if baseline.cpu_joules is not None and baseline.source != "model" and baseline.window_seconds:
            self.measured_watts = baseline.cpu_joules / baseline.window_seconds

    def for_reading(self, reading: EnergyReading) -> float | None:
        """The idle power to take out of `reading` (module docstring); None when even the model's is unknown."""
        if reading.source != "model" and self.measured_watts is not None:
            return self.measured_watts
        return model_idle_watts(self.watts_per_thread, reading.cpus) if reading.cpus else None
