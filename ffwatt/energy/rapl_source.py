"""RAPL read in this process, with the cpu exporter's own reader (`readers.powercap.RaplSampler`).

Package + dram zones, wrap-compensated, joules from 0 at the first reading (so a zone that appears
counts from 0). A root holding `readers.powercap.SIMULATED_MARKER` is the demo's simulated tree. A
host whose `energy_uj` is root-only has no counters here, and `why_no_counters` says how to fix it
(`readers.powercap.PERMISSION_FIX`).

Faults (issue 30). The reader takes every step down of a zone with a `max_energy_range_uj` for a
wrap and adds `max - old + new`. That is right only when the counter really wrapped, i.e. when the
energy it implies is small against the range: between two reads of a meter (every
`--sample-interval`, a second by default) a package draws a few hundred joules of its 262,143 J
range. A step down that implies more than half the range (`WRAP_SHARE_MAX`) is a counter that went
back (a reset, a misread, a hypervisor's replay), not a wrap; a zone the reader could not continue
(a step down without a range, a zone that was gone) has no known energy over the gap. Either is
appended to `faults` and the meter leaves the window's energy unknown. (A wrap needs reads closer
than the time the zone takes to draw half its range: 11 minutes at 200 W for a package, far more
than a meter's steps.)
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ffwatt.energy.counters import Counters
from ffwatt.readers.powercap import PERMISSION_FIX, SIMULATED_MARKER, RaplSampler, ZoneReading, is_energy_zone

__all__ = ["RaplSource", "DEFAULT_POWERCAP_ROOT", "WRAP_SHARE_MAX"]

DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"

WRAP_SHARE_MAX = 0.5
"""A step down of `energy_uj` is a wrap only when the energy it implies (`max - old + new`) is at most
this share of the zone's range (module docstring)."""


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
        self.faults: list[str] = []
        self._last: dict[tuple[str, str], ZoneReading] = {}  # each energy zone at the previous read
        self._lock = threading.Lock()  # the meter's sampling thread and its start/stop read alike

    def read(self) -> Counters:
        with self._lock:
            totals = self.sampler.energy_joules()
            for zone in self.sampler.state.zones:
                if is_energy_zone(zone.zone):
                    self._check(zone)
        return {(("socket", socket), ("zone", zone)): joules for (socket, zone), joules in totals.items()}

    def _check(self, zone: ZoneReading) -> None:
        """A fault when `zone` moved since the last read in a way the reader cannot have counted (module docstring)."""
        last = self._last.get((zone.socket, zone.zone))
        self._last[(zone.socket, zone.zone)] = zone
        if last is None:
            return
        name = f"RAPL zone {zone.source} (socket {zone.socket}, {zone.zone})"
        if zone.wraps > last.wraps and zone.max_energy_range_uj:
            implied_uj = (zone.joules - last.joules) * 1e6
            if implied_uj > WRAP_SHARE_MAX * zone.max_energy_range_uj:
                back = zone.max_energy_range_uj - implied_uj
                self.faults.append(f"{name}: energy_uj went back by {back:.0f} uJ, far less than a wrap of its "
                                   f"{zone.max_energy_range_uj} uJ range would: the counter was reset or misread")
        elif zone.watts is None and zone.joules == last.joules:
            self.faults.append(f"{name}: the counter could not be continued (it went back with no "
                               "max_energy_range_uj, or the zone was gone): the energy over the gap is unknown")

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
