"""cpu exporter (9500): RAPL energy per zone from the powercap tree.

A sampler thread (readers.powercap.RaplSampler) reads every zone's energy_uj every
`sample-interval` seconds, compensates wrap-around and accumulates a joules counter;
watts are the energy of the last interval over its length. `refresh()` only publishes
the sampler's latest state, so scrapes and refreshes never shorten the watts window.

Failures: no powercap tree, no zone, or no zone readable (energy_uj is root-only on
kernels patched for CVE-2020-8694) fail the refresh (ffwatt_exporter_up 0, /health
says why and how to fix it); some zones unreadable is a warning (/health degraded)
while the others are served. The exporter never exits over its source.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ffwatt.catalog import metrics as m
from ffwatt.exporters.config import Setting, positive_float
from ffwatt.exporters.runtime import Exporter, SourceError
from ffwatt.exporters.samples import Samples
from ffwatt.readers.powercap import PERMISSION_FIX, SIMULATED_MARKER, RaplSampler


class CpuExporter(Exporter):
    name = "cpu"
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("powercap-root", "/sys/class/powercap", "Root of the powercap sysfs tree holding the RAPL zones."),
        Setting("hwmon-root", "/sys/class/hwmon",
                "Root of the hwmon tree, searched for amd_energy socket counters when the powercap tree has "
                "no zone (kernels 5.8-5.12 on AMD). Empty disables."),
        Setting("sample-interval", 1.0, "Seconds between readings of energy_uj; watts are averaged over it.",
                positive_float),
    )
    # Publishing the sampler's state is cheap: keep the served data at most a second old.
    default_refresh_seconds: ClassVar[float | None] = 1.0

    def __init__(self, config):
        super().__init__(config)
        hwmon = str(config.hwmon_root).strip()
        self.sampler = RaplSampler(Path(config.powercap_root), interval=config.sample_interval,
                                   hwmon_root=Path(hwmon) if hwmon else None)
        self._last_failure: str | None = None

    def refresh(self, out: Samples) -> None:
        self.sampler.start()  # first call: one pass now, then the thread; later calls: no-op
        state = self.sampler.state
        if state.sampled_at is None:
            self._fail("the RAPL sampler has not completed a pass yet")
        if not state.zones:
            self._fail(self._why_no_zone(state))
        self._last_failure = None

        if state.permission_denied:
            out.warn(f"{len(state.permission_denied)} RAPL zone(s) unreadable "
                     f"({_names(state.permission_denied)}): permission denied on energy_uj. {PERMISSION_FIX}")
        other = {k: v for k, v in state.unreadable.items() if k not in state.permission_denied}
        if other:
            out.warn("RAPL zone(s) unreadable: " + "; ".join(other.values()))

        out.add(m.CPU_ZONES, len(state.zones))
        out.add(m.CPU_SOURCE, 1, source=self._source(state))
        for z in state.zones:
            labels = {"socket": z.socket, "zone": z.zone}
            out.add(m.CPU_ENERGY, z.joules, **labels)
            out.add(m.CPU_POWER, z.watts, **labels)
            out.add(m.CPU_WRAPS, z.wraps, **labels)

    def _source(self, state) -> str:
        """simulated (the demo's tree says so), hwmon (amd_energy counters) or powercap."""
        if (Path(self.sampler.powercap_root) / SIMULATED_MARKER).exists():
            return "simulated"
        return "hwmon" if any(z.source.startswith("hwmon") for z in state.zones) else "powercap"

    def _why_no_zone(self, state) -> str:
        if state.missing:
            return state.missing
        if state.permission_denied and len(state.permission_denied) == len(state.unreadable):
            return (f"no readable RAPL zone: permission denied on energy_uj of {len(state.permission_denied)} "
                    f"zone(s) ({_names(state.permission_denied)}). {PERMISSION_FIX}")
        if state.unreadable:
            return "no readable RAPL zone: " + "; ".join(state.unreadable.values())
        return (f"no RAPL zones under {self.sampler.powercap_root} (no intel-rapl:N or amd-rapl:N entry with an "
                "energy_uj file; is the intel_rapl_msr module loaded?)")

    def _fail(self, message: str) -> None:
        # The same failure as last cycle was already counted and logged.
        counted = message != self._last_failure
        self._last_failure = message
        raise SourceError(message, counted=counted)

    def health_details(self) -> dict:
        state = self.sampler.state
        return {
            "powercap_root": str(self.sampler.powercap_root),
            "simulated": (Path(self.sampler.powercap_root) / SIMULATED_MARKER).exists(),
            "hwmon_root": None if self.sampler.hwmon_root is None else str(self.sampler.hwmon_root),
            "sample_interval_seconds": self.sampler.interval,
            "samples": state.sequence,
            "zones": [
                {"socket": z.socket, "zone": z.zone, "source": z.source, "joules": round(z.joules, 6),
                 "watts": None if z.watts is None else round(z.watts, 3), "wraps": z.wraps,
                 "max_energy_range_uj": z.max_energy_range_uj}
                for z in state.zones
            ],
            "unreadable": {f"{s}/{z}": why for (s, z), why in state.unreadable.items()},
            "dropped": list(state.dropped),
            "missing": state.missing,
        }

    def close(self) -> None:
        self.sampler.stop()


def _names(keys) -> str:
    return ", ".join(f"socket={s} zone={z}" for s, z in keys)
