"""Each GPU's share of a window: NVML's per-process utilisation samples over it.

In process, with NVML, the meter reads each GPU's per-process utilisation samples
(`energy.nvml_source.NvmlSource.process_samples`: the driver's samples after the last one seen,
from the window's start) at every sampling tick and at the end, so samples of a process that
ended within the window are read while the driver still holds them. At the end each GPU's window
(`energy.reading.GpuWindow`: its joules, the scenario's utilisation and every process's, summed
over the samples in the window; `formulas.gpu_utilisation_share`) goes into the reading, and
`energy.attribution` charges the scenario its share. `pids` None (not given) or a driver that
keeps no samples (NOT_SUPPORTED) leaves the utilisation unknown: the GPU is charged whole.
Through a gpu exporter (a URL) there are no per-process samples.
"""

from __future__ import annotations

import threading
from collections.abc import Collection

from ffwatt.contract import formulas
from ffwatt.energy.nvml_source import NvmlSource
from ffwatt.energy.reading import GpuWindow
from ffwatt.energy.source import SourceError

__all__ = ["GpuShare"]


class GpuShare:
    """One window's per-process GPU samples, from `start_us` (unix µs) on; thread-safe."""

    def __init__(self, nvml: NvmlSource | None, start_us: int) -> None:
        self.nvml, self.start_us = nvml, start_us
        self._lock = threading.Lock()
        # per GPU UUID: the newest sample's timestamp read, the window's samples {(pid, µs): utilisation},
        # and whether the driver said anything (a list, even empty) at least once
        self._seen_us: dict[str, int] = {}
        self._samples: dict[str, dict[tuple[int, int], float]] = {}
        self._says: dict[str, bool] = {}

    def collect(self) -> None:
        """Read each GPU's per-process samples since the newest one seen; keep those in the window.
        `SourceError` when NVML cannot say."""
        if self.nvml is None:
            return
        with self._lock:
            seen = dict(self._seen_us)
        found = self.nvml.process_samples(seen, self.start_us)
        with self._lock:
            for uuid, samples in found.items():
                if samples is None:
                    continue
                self._says[uuid] = True
                window = self._samples.setdefault(uuid, {})
                for sample in samples:
                    if sample.timestamp_us > self.start_us:
                        window[(sample.pid, sample.timestamp_us)] = formulas.gpu_process_utilisation(
                            sample.sm, sample.encoder, sample.decoder)
                    self._seen_us[uuid] = max(self._seen_us.get(uuid, 0), sample.timestamp_us)

    def windows(self, gpu_joules: dict[str, float], pids: Collection[int] | None,
                caveats: list[str]) -> tuple[GpuWindow, ...]:
        """Each GPU's energy with the window's per-process utilisation (module docstring); caveats appended."""
        if not gpu_joules:
            return ()
        try:
            self.collect()  # the samples since the last tick
        except SourceError as exc:
            caveats.append(f"{exc}: GPU energy charged whole")
        out = []
        for uuid, joules in sorted(gpu_joules.items()):
            if pids is None:
                out.append(GpuWindow(uuid, joules))
                continue
            if not self._says.get(uuid):
                caveats.append(f"GPU {uuid}: the driver gives no per-process utilisation, so its energy is "
                               "charged whole")
                out.append(GpuWindow(uuid, joules))
                continue
            samples = self._samples.get(uuid, {})
            mine, everyone = formulas.gpu_utilisation_share(((pid, used) for (pid, _), used in samples.items()),
                                                            frozenset(pids))
            if not everyone:
                caveats.append(f"GPU {uuid}: no process used it over the window, so its energy is charged whole")
            out.append(GpuWindow(uuid, joules, mine, everyone))
        return tuple(out)
