"""RAPL read in this process, with the cpu exporter's own reader (`readers.powercap.RaplSampler`).

Package + dram zones, wrap-compensated, joules from 0 at the first reading (so a zone that appears
counts from 0). A root holding `readers.powercap.SIMULATED_MARKER` is the demo's simulated tree. A
host whose `energy_uj` is root-only has no counters here, and `why_no_counters` says how to fix it
(`readers.powercap.PERMISSION_FIX`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from ffwatt.energy.counters import Counters
from ffwatt.readers.powercap import PERMISSION_FIX, SIMULATED_MARKER, RaplSampler

__all__ = ["RaplSource", "DEFAULT_POWERCAP_ROOT"]

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"


class RaplSource:
    """A `CounterSource` of the RAPL zones under `powercap_root`."""

    kind = "rapl"
    what = "RAPL"
    required = False  # no RAPL here is no counter, not an unknown energy: the model takes over

    def __init__(self, powercap_root: str) -> None:
        self.root = Path(powercap_root)
        self.where = str(self.root)
        # no tree (a VM) is the normal case the model exists for: the run says so once, at INFO, in the
        # meter's description ("energy: model (no RAPL/NVML: ...; 5 W per thread)"), never as an error
        self.sampler = RaplSampler(self.root, missing_level=logging.DEBUG)

    def read(self) -> Counters:
        return {(("socket", socket), ("zone", zone)): joules
                for (socket, zone), joules in self.sampler.energy_joules().items()}

    def why_no_counters(self) -> str:
        state = self.sampler.state
        if state.permission_denied:
            return f"RAPL under {self.root}: energy_uj is readable by root only (permission denied). {PERMISSION_FIX}"
        if state.missing:
            return f"no RAPL: {state.missing}"
        if state.unreadable:
            return "RAPL unreadable: " + "; ".join(state.unreadable.values())
        return f"no RAPL package or dram zone under {self.root}"

    def simulated(self) -> bool:
        return (self.root / SIMULATED_MARKER).exists()
