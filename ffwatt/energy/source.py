"""The seam between a meter and the places a machine's joules come from.

    class EnergySource(Protocol): kind, what, where, simulated()
      CounterSource: read() -> Counters, why_no_counters(), required    (RAPL, NVML, an exporter)
      WindowSource:  joules(window) -> joules or None                    (a TSDB, the CPU model)

One small interface and one class per source, as node_exporter's collectors: a meter never asks
which class it holds. A *counter source* is read at moments (a window's start, every sampling
tick, its end) and the energy between two reads is `energy.counters.increase`; a *window source*
is asked once, after the window, for the energy over it. A meter prefers counters, then a TSDB,
then the model (ffwatt/runner/meter/choice.py says which when).

Errors: `SourceError` when a source cannot be read now (its message names where, never with a
URL's credentials). A counter source that has no counters here (no RAPL on a VM) is not an error:
`read()` gives `{}` and `why_no_counters()` says why. A counter that misbehaved between two reads
(RAPL's `energy_uj` going back by less than a wrap would take) is not an error of the read either:
the source appends it to `faults`, and the meter leaves that window's energy unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ffwatt.common.errors import FfwattError
from ffwatt.energy.counters import Counters

__all__ = ["CounterSource", "EnergySource", "SourceError", "Window", "WindowSource"]


class SourceError(FfwattError):
    """An energy source could not be read; the message names where (a URL without its password, a path)."""


@dataclass(frozen=True)
class Window:
    """A finished measurement window: its wall span (unix s), its length (monotonic s) and, from
    /proc/stat, all CPU time on the machine over it and the CPUs (None when unreadable)."""

    wall_start: float
    wall_end: float
    seconds: float
    machine_cpu_seconds: float | None
    cpus: int | None


class EnergySource(Protocol):
    """Any place a machine's joules come from."""

    kind: str  # the part it measures, as a reading's `source` names it: "rapl", "nvml", "tsdb", "model"
    what: str  # what messages call it: "RAPL", "NVML", "cpu exporter", "TSDB", "CPU model"
    where: str  # where it reads: a path, a URL without its password, "the NVIDIA driver"

    def simulated(self) -> bool:
        """True when its figures come from a simulator (the demo's powercap tree, a fake NVML)."""
        ...


class CounterSource(EnergySource, Protocol):
    """Joules counters read at moments; the energy over a window is their increase."""

    required: bool  # named by the user (a URL): when it cannot be read the energy is unknown, never estimated
    # issue 30: what went wrong with a counter between two reads that `read()` could not take back (a counter
    # that went back without wrapping), newest last; a meter compares the list's length at a window's start
    # and end, and a window that saw one has no known energy
    faults: list[str]

    def read(self) -> Counters:
        """The counters now; `{}` when this source has none here; `SourceError` when it cannot be read."""
        ...

    def why_no_counters(self) -> str:
        """Why `read()` gave no counters (for the reading's caveats and the run's log)."""
        ...


class WindowSource(EnergySource, Protocol):
    """Asked once, after a window, for the joules over it."""

    def joules(self, window: Window) -> float | None:
        """The machine's joules over `window`; None when this source cannot say (a figure it needs is
        unknown); `SourceError` when it cannot be asked."""
        ...
