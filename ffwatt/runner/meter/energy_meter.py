"""The machine's energy over exactly [start, end], and its CPU time over the same window.

    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None)  # in process
    meter.start()
    ...encode...
    reading = meter.stop(pids=scenario_pids)   # energy.reading.EnergyReading

`joules` is the *machine's* energy; the scenario's own share is `energy.attribution`'s job
(docs/energy.md). The sources and which one a window uses: ffwatt/runner/meter/choice.py.

Where the figures come from
---------------------------
* **Counters** (`source` "rapl", "nvml" or "rapl+nvml"): read in process (the default: no
  exporter or TSDB URL given; `energy.rapl_source`, `energy.nvml_source`) or from the cpu and gpu
  exporters' `/metrics` (`energy.exporter_source`), at `start()` and at `stop()`. joules = sum
  over series of increase(series), where a series that went down was reset (its exporter
  restarted) and counts from 0, like PromQL's `increase` (`energy.counters.increase`).
* **TSDB** (`source` "tsdb"): with `tsdb_url`, when no counter source served a counter at
  `start()`, the joules are asked of the TSDB at `stop()` (`energy.tsdb_source`). No power
  samples then. When the TSDB cannot say either, the model below.
* **Model** (`source` "model", an estimate; `energy.model_source`): when no counter can be read
  (a VM without RAPL or NVML, energy_uj root-only), or the exporters answer but serve no counter,
  and the TSDB, if given, has none over the window. `error` says why no counter was used.
* **None** (`source` "none", joules `None`): an exporter given by URL did not answer at
  `start()` (the energy the user asked to measure is unknown, not replaced by an estimate; `error`
  says to start it or to give its URL as '' for the model), or counters were read at `start()`
  but a source could not be read at `stop()`; `error` names the URL. The power samples are
  dropped then (they would cover only part of the window); CPU use is kept.
* **Never a false figure** (issue 30; `source` "none", joules `None`, the reason in `error`): a source
  whose counters did not advance over a window in which the machine used CPU ("counter did not
  advance": a stuck or fake tree, never 0 J); a counter that went back where it cannot have wrapped
  (the source's `faults`, e.g. `energy.rapl_source`); a window that would be measured with another
  source than this meter's first window (RAPL unreadable at its start, so modelled): one run never
  mixes sources.

A *simulated* powercap tree or NVML (the demo's) is never recorded as measured: when a source
says so (an exporter's `/health` has `details.simulated: true`), the source becomes
`energy.reading.SIMULATED_SOURCE` (one constant decides what that is).

Samples: ffwatt/runner/meter/sampler.py; the GPUs' per-process share:
ffwatt/runner/meter/gpu_share.py. For close power samples, run the cpu exporter with a
`--sample-interval` well under `step_seconds` (its counters move in its own steps). Every HTTP
read is bounded by `timeout`. `stop()` stops the sampling thread, also when the final reads fail.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from ffwatt.contract import formulas
from ffwatt.energy.counters import Counters, increase, per_gpu_increase, show_labels
from ffwatt.energy.model_source import ModelSource
from ffwatt.energy.nvml_source import NvmlSource
from ffwatt.energy.rapl_source import DEFAULT_POWERCAP_ROOT
from ffwatt.energy.reading import SIMULATED_SOURCE, EnergyReading
from ffwatt.energy.source import CounterSource, SourceError, Window
from ffwatt.energy.tsdb_source import TsdbSource
from ffwatt.readers.proc import CpuStat, busy_cores, read_cpu_stat
from ffwatt.runner.meter.choice import Choice, choose, counter_sources, source_name
from ffwatt.runner.meter.gpu_share import GpuShare
from ffwatt.runner.meter.sampler import Sampler

__all__ = ["EnergyMeter", "DEFAULT_POWERCAP_ROOT"]


@dataclass(frozen=True)
class _Open:
    """A window being measured: what it uses, since when, and its samples."""

    choice: Choice
    simulated: list[str]  # the sources in use that say they are simulated
    sampler: Sampler
    gpu: GpuShare
    t0: float  # monotonic
    wall0: float  # unix s
    cpu: CpuStat | None  # /proc/stat at the start
    faults: dict[int, int]  # how many faults each used source (by index in `choice.used`) had at the start


class EnergyMeter:
    """Energy over [start(), stop()]: see the module docstring."""

    def __init__(self, *, cpu_metrics_url: str | None, gpu_metrics_url: str | None, tsdb_url: str | None,
                 step_seconds: float = 1.0, watts_per_thread: float = formulas.DEFAULT_WATTS_PER_THREAD,
                 timeout: float = 2.0, proc_stat: str = "/proc/stat", powercap_root: str | None = DEFAULT_POWERCAP_ROOT,
                 nvml: bool = True, ca_file: str | None = None):
        """No URL at all: the in-process meter (RAPL under `powercap_root`, NVML when `nvml`).
        Any URL: the exporters and TSDB given, as before issue 22 (https verified against
        `ca_file`, else the system's CAs; a URL's user info is sent as basic auth, never shown)."""
        if not (isinstance(step_seconds, (int, float)) and math.isfinite(step_seconds) and step_seconds > 0):
            raise ValueError(f"step_seconds must be a positive number, got {step_seconds!r}")
        self.model = ModelSource(watts_per_thread)  # ValueError for a bad figure
        self.step_seconds = float(step_seconds)
        self.watts_per_thread = self.model.watts_per_thread
        self.timeout = float(timeout)
        self.proc_stat = proc_stat
        self.in_process = not (cpu_metrics_url or gpu_metrics_url or tsdb_url)
        self.tsdb = TsdbSource(tsdb_url, self.timeout, ca_file) if tsdb_url else None
        self.sources = counter_sources(cpu_metrics_url=cpu_metrics_url, gpu_metrics_url=gpu_metrics_url,
                                       in_process=self.in_process, powercap_root=powercap_root, nvml=nvml,
                                       timeout=self.timeout, ca_file=ca_file)
        self._open: _Open | None = None
        self.source: str | None = None  # what the first window was measured with (`_one_source`)

    def describe(self) -> str:
        """What this meter measures with, e.g. "rapl (cpu exporter at http://...)" (reads the sources when
        not started)."""
        choice = self._open.choice if self._open is not None else choose(self.sources)
        if choice.used:
            source = source_name(choice.used)
            if any(s.simulated() for s in choice.used):
                source = SIMULATED_SOURCE  # as stop() records it
            return f"{source} ({', '.join(f'{s.what} at {s.where}' for s in choice.used)})"
        why = "; ".join(choice.why_not)
        if self.tsdb is not None:
            return (f"tsdb (joules counters from {self.tsdb.where}; no exporter read directly: {why}; "
                    f"else model, {self.watts_per_thread:g} W per thread)")
        return f"model (no RAPL/NVML: {why}; {self.watts_per_thread:g} W per thread)"

    # ---- start / stop ---------------------------------------------------

    def start(self) -> None:
        """Read the counters (or decide on the model) and start the sampling thread."""
        if self._open is not None:
            raise RuntimeError("EnergyMeter.start() called twice without stop()")
        choice = choose(self.sources)
        simulated = [f"{s.what} at {s.where} reads simulated counters" for s in choice.used if s.simulated()]
        t0, wall0 = time.monotonic(), time.time()
        gpu = GpuShare(next((s for s in choice.used if isinstance(s, NvmlSource)), None), int(wall0 * 1e6))
        sampler = Sampler(self.step_seconds, self.proc_stat, choice.used, choice.start, gpu.collect)
        try:
            cpu = read_cpu_stat(self.proc_stat)
        except (OSError, ValueError) as exc:
            cpu = None
            sampler.note("cpu", f"{self.proc_stat}: {exc}")
        sampler.start(t0, cpu)
        self._open = _Open(choice, simulated, sampler, gpu, t0, wall0, cpu,
                           {i: len(s.faults) for i, s in enumerate(choice.used)})

    def stop(self, pids: Collection[int] | None = None, own_cpu_seconds: float | None = None) -> EnergyReading:
        """Stop the thread, read the counters at the end, and say what was measured. `pids`: the
        scenario's processes (its ffmpeg trees), for each GPU's per-process share; None: unknown.
        `own_cpu_seconds`: their CPU time over the window (wait4), a floor for the machine's."""
        if self._open is None:
            raise RuntimeError("EnergyMeter.stop() called before start()")
        w, self._open = self._open, None
        stopped = w.sampler.stop(self.step_seconds + 2 * self.timeout * max(1, len(self.sources)) + 1.0)
        end, wall_end = time.monotonic(), time.time()
        power, cores, errors = w.sampler.series()
        caveats = [f"{count} sample(s) failed, filled with the mean over the gap: {what}"
                   for what, count in errors.items()]
        if not stopped:
            caveats.append("the sampling thread did not stop in time")
        window = self._window(w, end, wall_end, caveats, own_cpu_seconds)
        if not w.choice.used:
            return self._one_source(self._without_counters(w.choice, window, cores, caveats))
        return self._one_source(self._from_counters(w, window, power, cores, caveats, pids))

    def counts(self) -> bool:
        """Whether a window started now would be counted (counters, or a TSDB asked afterwards) rather than
        modelled: the runner's idle probe measures only then."""
        return self.tsdb is not None or bool(choose(self.sources).used)

    def _one_source(self, reading: EnergyReading) -> EnergyReading:
        """The first window's source is this meter's: a later window measured otherwise (RAPL unreadable at its
        start, so modelled) is unknown, never a figure of another kind beside the others (issue 30)."""
        if reading.source == "none":
            return reading
        if self.source is None:
            self.source = reading.source
        if reading.source == self.source:
            return reading
        return _unknown(reading, f"this meter measures with {self.source}, and this window would have been "
                                 f"{reading.source} ({reading.error or 'no caveat'}): unknown, so that one run never "
                                 "mixes energy sources")

    def _window(self, w: _Open, end: float, wall_end: float, caveats: list[str],
                own_cpu_seconds: float | None = None) -> Window:
        """The window's span and the machine's CPU time over it (/proc/stat), never less than the
        scenario's own: /proc/stat counts clock ticks and can read a few below the exact figure over a
        short window, and a machine figure below the part of it we know would split energy the scenario
        used to nobody (the model's joules would fall below W_thread x its CPU seconds)."""
        seconds = end - w.t0
        machine_cpu, cpus = None, None
        try:
            now_cpu = read_cpu_stat(self.proc_stat)
            cpus = now_cpu.cpus
            measured = busy_cores(w.cpu, now_cpu) if w.cpu is not None else None
            if measured is not None:
                # utilisation (busy / all ticks) x CPUs x window: counted in ticks, /proc/stat's own busy
                # seconds can run past CPUs x window over a short window; its ratio cannot
                machine_cpu = measured[1] * seconds
                if own_cpu_seconds is not None and machine_cpu < own_cpu_seconds:
                    caveats.append(f"/proc/stat read {machine_cpu:.3f} CPU-s on the machine, below the scenario's "
                                   f"own {own_cpu_seconds:.3f} (clock-tick rounding): the machine's taken as the "
                                   "scenario's")
                    machine_cpu = own_cpu_seconds
        except (OSError, ValueError) as exc:
            caveats.append(f"{self.proc_stat}: {exc}")
        return Window(w.wall0, wall_end, seconds, machine_cpu, cpus)

    def _without_counters(self, choice: Choice, window: Window, cores: list[float],
                          caveats: list[str]) -> EnergyReading:
        """No counter source served counters at the start: the TSDB, else unknown, else the model."""
        facts = _facts(window)
        if self.tsdb is not None:
            try:
                joules = self.tsdb.joules(window)
            except SourceError as exc:
                choice.why_not.append(str(exc))
            else:
                return EnergyReading(joules, "tsdb", _join([self.tsdb.note("; ".join(choice.why_not))] + caveats),
                                     (), None, tuple(cores), cpu_joules=joules, **facts)
        if choice.unreachable:
            # The user asked for measured energy and did not get it: unknown, not an estimate.
            flags = " / ".join(f"--{'cpu' if s.kind == 'rapl' else 'gpu'}-metrics-url ''" for s in choice.unreachable)
            return EnergyReading(None, "none", _join([f"{'; '.join(choice.why_not)}: start the exporter, or leave "
                                                      f"out {flags} to measure in process (or estimate with the CPU "
                                                      "model)"] + caveats), (), None, tuple(cores), **facts)
        return self._modelled(choice.why_not, window, cores, caveats)

    def _modelled(self, why_not: list[str], window: Window, cores: list[float], caveats: list[str]) -> EnergyReading:
        why = "; ".join(why_not)
        facts = _facts(window)
        joules = self.model.joules(window)
        if joules is None or window.cpus is None:
            return EnergyReading(None, "none", _join([f"{why}; and no CPU time could be read"] + caveats),
                                 (), None, tuple(cores), **facts)
        watts = self.model.power_watts(cores, window.cpus)
        return EnergyReading(joules, "model", _join([f"{why}: {self.model.explain(window.cpus)}"] + caveats), watts,
                             self.step_seconds if watts else None, tuple(cores), cpu_joules=joules, **facts)

    def _from_counters(self, w: _Open, window: Window, power: list[float], cores: list[float], caveats: list[str],
                       pids: Collection[int] | None) -> EnergyReading:
        """The increase of the counters in use; unknown when one cannot be read at the end."""
        facts = _facts(window)
        # A source given but not used (a gpu exporter down on a host with RAPL): its energy is not counted.
        caveats = [f"{why} (not counted)" for why in w.choice.why_not] + caveats
        parts: dict[str, float] = {}
        gpu_joules: dict[str, float] = {}
        for i, source in enumerate(w.choice.used):
            try:
                series = source.read()
            except SourceError as exc:
                return EnergyReading(None, "none", _join([f"{source.what} could not be read at the end of the "
                                                          f"scenario: {exc}"] + caveats),
                                     (), None, tuple(cores), **facts)
            start = w.choice.start[source.kind]
            joules, notes = increase(start, series)
            broken = source.faults[w.faults[i]:] + _still(source, start, series, joules, window, caveats)
            if broken:
                return EnergyReading(None, "none", _join(broken + caveats), (), None, tuple(cores), **facts)
            parts[source.kind] = parts.get(source.kind, 0.0) + joules
            caveats.extend(notes)
            if source.kind == "nvml":
                for uuid, joules_of_gpu in per_gpu_increase(start, series).items():
                    gpu_joules[uuid] = gpu_joules.get(uuid, 0.0) + joules_of_gpu
        gpus = w.gpu.windows(gpu_joules, pids, caveats)
        source = source_name(w.choice.used)
        if w.simulated:
            caveats = w.simulated + caveats
            source = SIMULATED_SOURCE
            if source == "none":
                return EnergyReading(None, "none", _join(caveats), (), None, tuple(cores), **facts)
        return EnergyReading(sum(parts.values()), source, _join(caveats), tuple(power),
                             self.step_seconds if power else None, tuple(cores), cpu_joules=parts.get("rapl"),
                             gpu_joules=parts.get("nvml"), gpus=gpus, **facts)


def _still(source: CounterSource, start: Counters, end: Counters, joules: float, window: Window,
           caveats: list[str]) -> list[str]:
    """Issue 30: a source whose counters did not advance over a window in which the machine used CPU (or
    whose CPU use is unknown) measured nothing: its energy is unknown, never 0 (the reason, in a list).
    One counter of several that stood still (a dram zone a platform does not meter) is a caveat."""
    used = window.machine_cpu_seconds
    if joules == 0 and (used is None or used > 0):
        cpu = f"{used:.3g} CPU-seconds" if used is not None else "CPU time /proc/stat could not give"
        return [f"{source.what} at {source.where}: counter did not advance over the {window.seconds:.3g} s window "
                f"while the machine used {cpu}: the energy is unknown"]
    for labels in sorted(end.keys() & start.keys()):
        if end[labels] == start[labels]:
            caveats.append(f"{source.what} counter {show_labels(labels)} did not advance over the window: its "
                           "energy is not in the figure")
    return []


def _unknown(reading: EnergyReading, why: str) -> EnergyReading:
    """`reading` with its energy unknown and `why` first among its caveats (CPU facts kept, samples dropped)."""
    return EnergyReading(None, "none", _join([why, reading.error or ""]), (), None, reading.cpu_usage_cores,
                         window_seconds=reading.window_seconds, machine_cpu_seconds=reading.machine_cpu_seconds,
                         cpus=reading.cpus)


def _facts(window: Window) -> dict[str, Any]:
    return dict(window_seconds=window.seconds, machine_cpu_seconds=window.machine_cpu_seconds, cpus=window.cpus)


def _join(parts: Sequence[str]) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None
