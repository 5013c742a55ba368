"""NVML read in this process, with the gpu exporter's own reader (`readers.nvml.Nvml`).

Counters keyed like the gpu exporter's (`kind` "nvml", the GPU's `uuid`); NVML is opened at the
first read, and a host without a driver has no counters (never loading pynvml's library there).
The per-process utilisation samples the driver keeps (`process_samples`) are read here too: a
meter collects them while the window runs, before the driver's buffer drops them.
"""

from __future__ import annotations

import logging

from ffwatt.energy.counters import Counters
from ffwatt.energy.source import SourceError

__all__ = ["NvmlSource"]

log = logging.getLogger("ffwatt.energy.nvml")


class NvmlSource:
    """A `CounterSource` of every GPU's NVML energy counter."""

    kind = "nvml"
    what = "NVML"
    where = "the NVIDIA driver"
    required = False

    def __init__(self) -> None:
        self._nvml = None
        self._error: str | None = None
        self.faults: list[str] = []  # NVML's counter (64-bit mJ since the driver loaded) does not wrap

    def read(self) -> Counters:
        from ffwatt.readers import nvml  # imported here: a host without a GPU never loads pynvml's library

        if self._nvml is None:
            session = nvml.Nvml(log)
            try:
                session.init()
            except nvml.NvmlUnavailableError as exc:
                self._error = str(exc)
                return {}
            self._nvml = session
        try:
            by_uuid = self._nvml.energy_by_uuid()
        except (nvml.LifecycleError, nvml.NvmlCallError) as exc:
            raise SourceError(f"NVML: {exc}") from None
        if not by_uuid:
            self._error = "no GPU with an energy counter"
        return {(("kind", "nvml"), ("uuid", uuid)): joules for uuid, joules in by_uuid.items()}

    def process_samples(self, since_us: dict[str, int], default_since_us: int) -> dict[str, list | None]:
        """Every GPU's per-process samples after `since_us[uuid]` (`readers.nvml.ProcessSample`s;
        None where the driver does not say); {} before NVML was opened."""
        from ffwatt.readers import nvml

        if self._nvml is None:
            return {}
        try:
            return self._nvml.process_utilisation_by_uuid(since_us, default_since_us)
        except (nvml.LifecycleError, nvml.NvmlCallError) as exc:
            raise SourceError(f"NVML per-process utilisation: {exc}") from None

    def why_no_counters(self) -> str:
        return f"no NVML energy counter ({self._error or 'none read'})"

    def simulated(self) -> bool:
        from ffwatt.readers import nvml

        return nvml.simulated()
