"""One interval's machine energy split between the live streams, everything else and idle (issue 32).

    split = split_interval(interval, {"live/key-1a2b3c4d": Consumer(cpu_seconds=0.4, pids=(812, 813))},
                           idle_watts=1.0)
    split.streams["live/key-1a2b3c4d"], split.other, split.idle, split.method

One rule for benchmarks and production: each stream, and everything that is not a stream taken
together as one more consumer ("other"), is charged `energy.attribution.attribute` of the
interval's reading, the very function the runner's measurer charges a scenario with
(docs/energy.md): the active part by its CPU time against all CPU time on the machine, the idle
part by the CPUs it held, each GPU by its NVML per-process utilisation. What no one held is idle:

    stream_J = E_active x cpu_s / M + E_idle x (cpu_s / window) / cpus  (+ its GPUs' share)
    other_J  = the same with cpu_other = M - sum of the streams' cpu_s  (+ every GPU's rest)
    idle_J   = E - sum of stream_J - other_J  =  E_idle x (1 - M / (cpus x window))

Conservation, streams + other + idle = E, holds by construction (idle is the remainder), and
every part is >= 0 because the inputs are made consistent first, from measured figures only:

* the streams' CPU seconds add up to at most what the CPUs can give (cpus x window); when the
  per-process ticks read a moment apart from /proc/stat say more, they are scaled down together;
* M, the machine's CPU seconds, is at least the streams' sum (the machine did at least what its
  streams did): then the shares add up to 1 and the CPUs held to at most `cpus`;
* an interval in which /proc/stat counted no busy tick charges no one for CPU: its CPU energy is idle;
* a GPU whose driver gives no per-process samples, or that no process used, is charged whole to
  other, never to a stream (the runner's `gpu-whole` charges its one scenario; here no stream can be
  told apart from another).

None (nothing charged, the caller says why) when the reading's energy, the machine's CPU time or
the idle power is unknown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ffwatt.contract import formulas
from ffwatt.energy.attribution import Attributed, attribute
from ffwatt.energy.reading import EnergyReading, GpuWindow
from ffwatt.exporters.streams_meter import GpuSamples, Interval

__all__ = ["Consumer", "Split", "split_interval"]


class Consumer(NamedTuple):  # one per stream and interval: a tuple is cheap to make
    cpu_seconds: float  # the stream's process tree's CPU time over the interval
    pids: tuple[int, ...] = ()  # its processes, for NVML's per-process samples


@dataclass(frozen=True)
class Split:
    streams: dict[str, float]  # label -> joules over the interval
    other: float
    idle: float
    method: str | None  # the rules used, "+"-joined (catalog.ENERGY_ATTRIBUTIONS)


def split_interval(interval: Interval, streams: Mapping[str, Consumer], idle_watts: float | None) -> Split | None:
    reading = interval.reading
    window, cpus, machine = reading.window_seconds, reading.cpus, reading.machine_cpu_seconds
    if reading.joules is None or machine is None or not window or not cpus or idle_watts is None:
        return None
    asked = sum(c.cpu_seconds for c in streams.values())
    scale = min(1.0, cpus * window / asked) if asked > 0 else 1.0
    cpu = {label: c.cpu_seconds * scale for label, c in streams.items()}
    machine = max(machine, sum(cpu.values()))
    gpus = _gpu_shares(reading.gpus, interval.gpu_samples, streams)
    cpu_only = _for_consumer(reading, machine, ())  # what a stream without a GPU share sees: made once
    charged: dict[str, float] = {}
    for label in streams:
        seen = _for_consumer(reading, machine, gpus[label]) if label in gpus else cpu_only
        own = _charge(seen, cpu[label], idle_watts)
        if own.joules is None:
            return None
        charged[label] = own.joules
    other = _charge(_for_consumer(reading, machine, gpus.get(None, ())), max(0.0, machine - sum(cpu.values())),
                    idle_watts)
    if other.joules is None:
        return None
    idle = reading.joules - sum(charged.values()) - other.joules
    # float rounding only: each part is >= 0 by the bounds above (module docstring)
    return Split(charged, other.joules, max(0.0, idle), other.method)


def _charge(seen: EnergyReading, cpu_seconds: float, idle_watts: float) -> Attributed:
    """`attribute()` for one consumer; 0 J when its view of the interval has no CPU and no GPU part (no busy
    tick on the machine, no GPU share of its own): nothing to charge it."""
    if seen.cpu_joules is None and seen.gpu_joules is None:
        return Attributed(0.0, None, None)
    return attribute(seen, scenario_cpu_seconds=cpu_seconds, idle_watts=idle_watts, exclusive=False)


def _for_consumer(reading: EnergyReading, machine_cpu_seconds: float, gpus: tuple[GpuWindow, ...]) -> EnergyReading:
    """The interval's reading as one consumer sees it: the consistent machine CPU time, and only the
    GPUs it is charged a share of. No busy tick on the machine: no CPU part (all idle)."""
    return dataclasses.replace(
        reading, machine_cpu_seconds=machine_cpu_seconds,
        cpu_joules=reading.cpu_joules if machine_cpu_seconds > 0 else None,
        gpu_joules=sum(g.joules for g in gpus) if gpus else None, gpus=gpus)


def _gpu_shares(gpus: tuple[GpuWindow, ...], samples: GpuSamples, streams: Mapping[str, Consumer]
                ) -> dict[str | None, tuple[GpuWindow, ...]]:
    """Each stream's GPU windows (its utilisation out of every process's) and other's (None): the
    rest of each split GPU, and every GPU that cannot be split, whole (utilisation unknown)."""
    out: dict[str | None, list[GpuWindow]] = {None: []}
    for gpu in gpus:
        found = samples.get(gpu.uuid)
        everyone = sum(u for _, u in found) if found else 0.0
        if not everyone:
            out[None].append(GpuWindow(gpu.uuid, gpu.joules))  # charged whole, to other
            continue
        taken = 0.0
        for label, consumer in streams.items():
            mine, _ = formulas.gpu_utilisation_share(found, frozenset(consumer.pids))
            if mine:
                out.setdefault(label, []).append(GpuWindow(gpu.uuid, gpu.joules, mine, everyone))
                taken += mine
        out[None].append(GpuWindow(gpu.uuid, gpu.joules, max(0.0, everyone - taken), everyone))
    return {key: tuple(windows) for key, windows in out.items()}
