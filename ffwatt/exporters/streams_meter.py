"""The machine's energy over each interval of the streams collector, read in process (issue 32).

    meter = IntervalMeter([RaplSource(root), NvmlSource()], ModelSource(watts_per_thread))
    interval = meter.read()    # Interval over [the last read, now]; None at the first read (and within a tick)
    interval.reading           # energy.reading.EnergyReading of the whole machine
    interval.gpu_samples       # per GPU UUID: [(pid, engine-percent), ...]; None: the driver does not say

The sources are the runner's in-process meter's (docs/energy.md), read with the same classes
(`energy.rapl_source`, `energy.nvml_source`): RAPL's package + dram zones under `--powercap-root`
and every GPU's NVML counter, their joules added ("rapl", "nvml", "rapl+nvml"; "simulated" when a
source says its counters are, e.g. the demo's powercap tree). With no counter, the per-thread CPU
model (`energy.model_source`, "model", an estimate) over the machine's CPU time. The machine's CPU
time over the interval comes from /proc/stat (`readers.proc`), as the meter takes it: busy share
of all ticks x CPUs x the interval. With NVML, each GPU's per-process utilisation samples taken
since the last read (`NvmlSource.process_samples`) come with the interval, for the GPU split.

Unknown, never guessed (`reading.joules` None, source "none", `reading.error` says why), as the
runner's meter (issue 30): a counter source that served counters at one end of the interval only
(RAPL appeared or failed, NVML re-initialised); a counter that went back where it cannot have
wrapped (the source's `faults`); a source whose counters did not advance while the machine used CPU
(a stuck tree measures nothing: never 0 J); for the model, /proc/stat unreadable. A source without counters here
(a VM without RAPL, a host without an NVIDIA driver) is asked again every `retry_seconds`, not
every interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ffwatt.contract import formulas
from ffwatt.energy.counters import Counters, increase, per_gpu_increase
from ffwatt.energy.model_source import ModelSource
from ffwatt.energy.reading import SIMULATED_SOURCE, EnergyReading, GpuWindow
from ffwatt.energy.source import CounterSource, SourceError, Window
from ffwatt.readers.proc import CpuStat, busy_cores, read_cpu_stat

__all__ = ["Interval", "IntervalMeter", "GpuSamples"]

GpuSamples = dict[str, list[tuple[int, float]] | None]
"""Per GPU UUID, the interval's per-process samples as (pid, smUtil + encUtil + decUtil)."""


@dataclass(frozen=True)
class Interval:
    reading: EnergyReading
    gpu_samples: GpuSamples


@dataclass(frozen=True)
class _Point:
    """One read: when, /proc/stat, and the counters of each source kind that served some."""

    t: float  # monotonic
    wall: float  # unix s
    cpu: CpuStat | None
    counters: dict[str, Counters]
    simulated: tuple[str, ...]  # the kinds whose source says it is simulated
    faults: dict[str, int]  # per kind, how many faults its source had reported by then


class IntervalMeter:
    """The machine's energy between successive `read()`s (module docstring)."""

    def __init__(self, sources: Sequence[CounterSource], model: ModelSource, *, proc_stat: str = "/proc/stat",
                 retry_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.sources, self.model, self.proc_stat = list(sources), model, proc_stat
        self.retry_seconds, self._clock = retry_seconds, clock
        self._next_try: dict[int, float] = {}  # id(source) -> when a source without counters is asked again
        self._why_not: dict[str, str] = {}  # source kind -> why it served no counters at the last try
        self._seen_us: dict[str, int] = {}  # GPU UUID -> newest per-process sample read
        self._last: _Point | None = None

    @property
    def why_no_counters(self) -> dict[str, str]:
        """Per source kind without counters now, why (for /health)."""
        return dict(self._why_not)

    @property
    def open(self) -> bool:
        """An interval has started: the next `read()` can close it."""
        return self._last is not None

    def read(self) -> Interval | None:
        """The interval since the last read, which starts the next one; None at the first read, and when
        /proc/stat counted no clock tick since (the interval is kept open until one passes)."""
        t, wall = self._clock(), time.time()
        errors: list[str] = []
        try:
            cpu = read_cpu_stat(self.proc_stat)
        except (OSError, ValueError) as exc:
            cpu = None
            errors.append(f"{self.proc_stat}: {exc}")
        last = self._last
        if last is not None and last.cpu is not None and cpu is not None and cpu.total <= last.cpu.total:
            return None  # read again within one clock tick: no CPU time to share yet
        counters, simulated = self._counters(t, errors)
        samples = self._gpu_samples(wall, errors) if "nvml" in counters else {}
        faults = {s.kind: len(s.faults) for s in self.sources}
        self._last = _Point(t, wall, cpu, counters, simulated, faults)
        if last is None:
            return None
        return Interval(self._reading(last, self._last, errors), samples)

    def _counters(self, now: float, errors: list[str]) -> tuple[dict[str, Counters], tuple[str, ...]]:
        counters: dict[str, Counters] = {}
        simulated = []
        for source in self.sources:
            if self._next_try.get(id(source), now) > now:
                continue
            try:
                read = source.read()
            except SourceError as exc:
                read = {}
                self._why_not[source.kind] = str(exc)
                errors.append(str(exc))
            if not read:
                self._why_not.setdefault(source.kind, source.why_no_counters())
                self._next_try[id(source)] = now + self.retry_seconds
                continue
            self._why_not.pop(source.kind, None)
            self._next_try.pop(id(source), None)
            counters[source.kind] = read
            if source.simulated():
                simulated.append(source.kind)
        return counters, tuple(simulated)

    def _gpu_samples(self, wall: float, errors: list[str]) -> GpuSamples:
        """Each GPU's per-process samples since the newest one read (from the last read's time on)."""
        nvml = next(s for s in self.sources if s.kind == "nvml")
        since = int((self._last.wall if self._last else wall) * 1e6)
        try:
            found = nvml.process_samples(dict(self._seen_us), since)  # type: ignore[attr-defined]
        except SourceError as exc:
            errors.append(f"{exc}: the GPUs go to other")
            return {}
        out: GpuSamples = {}
        for uuid, samples in found.items():
            if samples is None:
                out[uuid] = None
                continue
            out[uuid] = [(s.pid, formulas.gpu_process_utilisation(s.sm, s.encoder, s.decoder)) for s in samples]
            self._seen_us[uuid] = max([self._seen_us.get(uuid, since), *(s.timestamp_us for s in samples)])
        return out

    def _reading(self, last: _Point, now: _Point, errors: list[str]) -> EnergyReading:
        seconds = now.t - last.t
        cpus = now.cpu.cpus if now.cpu is not None else None
        load = busy_cores(last.cpu, now.cpu) if last.cpu is not None and now.cpu is not None else None
        # utilisation x CPUs x interval, as the runner's meter: /proc/stat's own busy seconds, counted in
        # ticks, can run past CPUs x interval over a short interval; its ratio cannot
        facts = dict(window_seconds=seconds, machine_cpu_seconds=None if load is None else load[1] * seconds,
                     cpus=cpus, power_watts=(), step_seconds=None, cpu_usage_cores=())
        if set(last.counters) != set(now.counters):
            changed = sorted(set(last.counters) ^ set(now.counters))
            why = f"the {' and '.join(changed)} counters were read at one end of the interval only"
            return EnergyReading(None, "none", _join([why, *errors]), **facts)
        if not now.counters:
            window = Window(last.wall, now.wall, seconds, facts["machine_cpu_seconds"], cpus)
            joules = self.model.joules(window)
            if joules is None:
                return EnergyReading(None, "none", _join(["no CPU time for the model", *errors]), **facts)
            return EnergyReading(joules, "model", _join(errors), cpu_joules=joules, **facts)
        parts: dict[str, float] = {}
        gpus = []
        for source in (s for s in self.sources if s.kind in now.counters):
            kind, end = source.kind, now.counters[source.kind]
            parts[kind], notes = increase(last.counters[kind], end)
            broken = source.faults[last.faults.get(kind, 0):now.faults.get(kind, 0)]
            if parts[kind] == 0 and facts["machine_cpu_seconds"] != 0:
                broken = [*broken, f"{source.what} at {source.where}: counter did not advance over the "
                                   f"{seconds:.3g} s interval while the machine used CPU: the energy is unknown"]
            if broken:
                return EnergyReading(None, "none", _join([*broken, *errors]), **facts)
            errors += notes
            if kind == "nvml":
                gpus = [GpuWindow(uuid, joules) for uuid, joules in per_gpu_increase(last.counters[kind], end).items()]
        source = "+".join(k for k in ("rapl", "nvml") if k in parts)
        if now.simulated or last.simulated:
            source = SIMULATED_SOURCE
        return EnergyReading(sum(parts.values()), source, _join(errors), cpu_joules=parts.get("rapl"),
                             gpu_joules=parts.get("nvml"), gpus=tuple(gpus), **facts)


def _join(parts: Sequence[str]) -> str | None:
    return "; ".join(p for p in parts if p) or None
