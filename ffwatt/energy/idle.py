"""Is a window idle? The check a window must pass before its power becomes the machine's idle power
(issue 30), and the idle power a scenario's attribution took out, with where it came from.

    check = check_idle(reading, origin="probe", threshold=0.05)
    check.accepted, check.watts, check.busy_share, check.why

A window is idle when the machine kept less than `threshold` of its visible CPUs busy over it
(`formulas.busy_share` of /proc/stat's CPU time, default `formulas.DEFAULT_IDLE_BUSY_SHARE`, 5 %).
Its idle power is then the mean power of the reading's CPU part (RAPL, or a TSDB's figure):

    P_idle_W = E_cpu_J / window_s                                   (formulas.mean_power_over)

A window is never accepted when its energy was modelled (the model's baseline is the model), is
unknown, has no CPU part (NVML alone), or when its CPU use is unknown (it cannot be checked):
`why` says which. A rejected window teaches nothing; the runner keeps it in the results header so
the rejection and its busy share can be read and recomputed (`ffwatt audit`).

The runner's idle power per host (an accepted baseline, else its own probe, else the model's idle
term) is kept by ffwatt/runner/meter/idle_power.py; a live collector can apply the same check to
a quiet interval of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffwatt.contract import formulas
from ffwatt.energy.reading import EnergyReading

__all__ = ["DEFAULT_PROBE_SECONDS", "IDLE_ORIGINS", "IdleCheck", "IdleFigure", "check_idle"]

DEFAULT_PROBE_SECONDS = 3.0
"""How long the runner's idle probe measures nothing (`ffwatt run --idle-probe-seconds`)."""

IDLE_ORIGINS = ("baseline", "probe", "model")
"""Where a run's idle power comes from, in order of preference: an accepted idle baseline scenario,
the runner's own idle probe, the CPU model's idle term."""


@dataclass(frozen=True)
class IdleCheck:
    """One window checked for idleness: what was measured, its busy share, and the verdict."""

    origin: str  # "baseline" (an idle baseline scenario's window) or "probe" (the runner's own)
    source: str  # the reading's energy source ("rapl", "model", "none"...)
    threshold: float  # the busy share under which a window is idle
    window_seconds: float | None
    cpu_joules: float | None  # the reading's CPU part over the window
    machine_cpu_seconds: float | None
    cpus: int | None
    busy_share: float | None  # formulas.busy_share
    watts: float | None  # E_cpu / window_s; None when not measured
    accepted: bool
    why: str | None  # why not accepted
    scenario: str | None = None  # the idle baseline's name


@dataclass(frozen=True)
class IdleFigure:
    """The idle power a window's attribution took out: its watts (None when unknown) and where it came
    from (`IDLE_ORIGINS`), with the check that measured it (None for the model's term)."""

    watts: float | None
    source: str
    check: IdleCheck | None = None


def check_idle(reading: EnergyReading, *, origin: str, threshold: float = formulas.DEFAULT_IDLE_BUSY_SHARE,
               scenario: str | None = None) -> IdleCheck:
    """Whether `reading`'s window was idle (module docstring)."""
    share = formulas.busy_share(reading.machine_cpu_seconds, reading.cpus, reading.window_seconds)
    watts = None
    why = None
    if reading.source in ("model", "none") or reading.cpu_joules is None:
        why = {"model": "its energy was modelled, not measured", "none": "its energy is unknown"}.get(
            reading.source, "its energy has no CPU part (no RAPL)")
    else:
        watts = formulas.mean_power_over(reading.cpu_joules, reading.window_seconds)
        if share is None:
            why = "the machine's CPU use over it is unknown (/proc/stat), so it cannot be checked"
        elif share >= threshold:
            why = (f"the machine kept {share:.1%} of its {reading.cpus} CPU(s) busy, not under the idle threshold "
                   f"of {threshold:.1%}")
    return IdleCheck(origin, reading.source, threshold, reading.window_seconds, reading.cpu_joules,
                     reading.machine_cpu_seconds, reading.cpus, share, watts, why is None and watts is not None,
                     why, scenario)
