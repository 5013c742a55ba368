"""The streams exporter's energy: every interval's machine energy split between the live streams,
everything else and idle, kept as monotonic joules counters (issue 32; docs/exporters/streams.md).

    energy = StreamsEnergy.from_config(config)
    energy.update(values)          # after each scan: read the machine's energy, split it, add it up
    energy.add_samples(out, values)

Per interval (`--refresh-interval`, 1 s): `streams_meter.IntervalMeter` reads the machine's energy
in process (RAPL under `--powercap-root`, NVML unless `--nvml false`, else the per-thread CPU model
of `--tdp-watts`/`--package-threads`/`--watts-per-thread` or the CPU's TDP, labelled as the runner
labels it), and `streams_split` charges
each stream its share by the runner's rule; the rest goes to other and idle, so the counters
always add up: sum of `ffwatt_stream_energy_joules_total` + other + idle = the machine's energy
since the collector started (a stream's counter leaves with its series after `--ended-retention`).

Idle power, the one input that decides what a stream pays for CPUs it did not hold, is
`idle_watts()`: `--idle-watts` when given, else the model's idle term W_thread x 0.1 x threads
(`energy.attribution.model_idle_watts`, the figure the runner uses without an idle baseline).

An interval whose energy is unknown (module `streams_meter`) charges no one: no counter moves, the
streams' watts are left out, and /health says why (degraded).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ffwatt.catalog import metrics as m
from ffwatt.common.settings import boolean
from ffwatt.contract import formulas
from ffwatt.energy.attribution import model_idle_watts
from ffwatt.energy.cpu_power_model import ModelFigure, load_table, this_machine
from ffwatt.energy.model_source import ModelSource
from ffwatt.energy.nvml_source import NvmlSource
from ffwatt.energy.rapl_source import DEFAULT_POWERCAP_ROOT, RaplSource
from ffwatt.energy.reading import EnergyReading
from ffwatt.energy.source import CounterSource
from ffwatt.exporters.config import Setting, non_negative_float, positive_float, positive_int
from ffwatt.exporters.samples import Samples
from ffwatt.exporters.streams_meter import Interval, IntervalMeter
from ffwatt.exporters.streams_split import Consumer, Split, split_interval
from ffwatt.readers.streams.counters import StreamValue

__all__ = ["ENERGY_SETTINGS", "StreamsEnergy"]

ENERGY_SETTINGS = (
    Setting("powercap-root", DEFAULT_POWERCAP_ROOT,
            "Root of the powercap sysfs tree whose RAPL package and dram zones give the machine's CPU energy (as "
            "the runner's --powercap-root; a tree holding the file ffwatt-simulated is labelled simulated). Empty: "
            "no RAPL."),
    Setting("nvml", True, "Read every GPU's NVML energy counter and per-process utilisation (false: not).",
            boolean),
    Setting("tdp-watts", None, "The CPU package's TDP in watts for the CPU model used without RAPL/NVML, as the "
            "runner's (default: the CPU's TDP from CodeCarbon's table, else 5 W per thread); under a hypervisor "
            "with --package-threads.", positive_float),
    Setting("package-threads", None, "Hardware threads of the CPU package the TDP is the package's (the host "
            "CPU's), as the runner's.", positive_int),
    Setting("watts-per-thread", None, "The CPU model's watts per hardware thread at full load, given directly "
            "(alone: not with --tdp-watts), as the runner's.", positive_float),
    Setting("idle-watts", None, "The machine's idle power in watts, taken out of each interval's energy before "
            "the active part is shared by CPU time (default: the CPU model's idle term, 10 % of its full power).",
            non_negative_float),
)


@dataclass
class _Totals:
    """What the counters show: joules since the collector started."""

    streams: dict[str, float] = field(default_factory=dict)
    other: float = 0.0
    idle: float = 0.0
    watts: dict[str, float | None] = field(default_factory=dict)  # the last interval's mean, live streams only
    source: str | None = None  # the last known interval's
    method: str | None = None
    known: bool = False  # a split was made at least once


class StreamsEnergy:
    def __init__(self, meter: IntervalMeter, figure: ModelFigure, idle_watts: float | None) -> None:
        self.meter, self.figure, self.given_idle_watts = meter, figure, idle_watts
        self.totals = _Totals()
        self.unknown_intervals = 0
        self.last_problem: str | None = None  # why the last interval charged no one
        self._last_reading: EnergyReading | None = None
        self._pending: dict[str, Consumer] = {}  # the streams' CPU time since the open interval began

    @classmethod
    def from_config(cls, config, proc_root: str = "/proc") -> StreamsEnergy:
        figure = this_machine(config.tdp_watts, package_threads=config.package_threads,
                              watts_per_thread=config.watts_per_thread)  # ModelFigureError: says what to give
        load_table.cache_clear()  # the TDP table (1.5 MiB) was needed for this one figure: not kept for months
        sources: list[CounterSource] = []
        if str(config.powercap_root).strip():
            sources.append(RaplSource(str(config.powercap_root)))
        if config.nvml:
            sources.append(NvmlSource())
        meter = IntervalMeter(sources, ModelSource(figure.watts_per_thread), proc_stat=f"{proc_root}/stat")
        return cls(meter, figure, config.idle_watts)

    def idle_watts(self, reading: EnergyReading) -> float | None:
        """The idle power taken out of `reading` (module docstring); the one place it is decided."""
        if self.given_idle_watts is not None:
            return self.given_idle_watts
        return model_idle_watts(self.figure.watts_per_thread, reading.cpus) if reading.cpus else None

    def update(self, values: list[StreamValue]) -> None:
        """After a scan: read the machine's energy since the last interval closed and charge it, with the
        streams' CPU time since then (several scans' when an interval stayed open)."""
        was_open = self.meter.open
        interval = self.meter.read()
        served = {v.identity.stream for v in values}
        self.totals.streams = {k: j for k, j in self.totals.streams.items() if k in served}
        pending = self._pending if was_open else {}  # before the first reading: no interval to charge
        for v in values:
            if v.live or v.identity.stream in pending:
                before = pending.get(v.identity.stream, Consumer(0.0))
                pending[v.identity.stream] = Consumer(before.cpu_seconds + v.interval_seconds, v.pids or before.pids)
        self._pending = pending
        if interval is None:
            return
        consumers, self._pending = self._pending, {}
        self.totals.watts = {}
        self._last_reading = interval.reading
        split = self._split(interval, consumers)
        if split is None:
            return
        seconds = interval.reading.window_seconds
        for label, joules in split.streams.items():
            self.totals.streams[label] = self.totals.streams.get(label, 0.0) + joules
            self.totals.watts[label] = formulas.mean_power_over(joules, seconds)
        self.totals.other += split.other
        self.totals.idle += split.idle
        self.totals.source, self.totals.known = interval.reading.source, True
        self.totals.method = split.method or self.totals.method  # None: no CPU or GPU part this interval
        self.last_problem = None

    def _split(self, interval: Interval, consumers: dict[str, Consumer]) -> Split | None:
        reading = interval.reading
        split = split_interval(interval, consumers, self.idle_watts(reading)) if reading.joules is not None else None
        if split is None:
            self.unknown_intervals += 1
            self.last_problem = reading.error or "the machine's CPU time (/proc/stat) or idle power is unknown"
        return split

    def add_samples(self, out: Samples, values: list[StreamValue]) -> None:
        if self.last_problem:
            out.warn(f"the machine's energy over the last interval is unknown, charged to no one: {self.last_problem}")
        t = self.totals
        if not t.known:
            return
        for v in values:
            label = v.identity.stream
            out.add(m.STREAM_ENERGY, t.streams.get(label, 0.0), stream=label)
            out.add(m.STREAM_POWER, t.watts.get(label), stream=label)
        out.add(m.HOST_OTHER_ENERGY, t.other)
        out.add(m.HOST_IDLE_ENERGY, t.idle)
        out.add(m.STREAMS_ENERGY_SOURCE, 1, source=t.source, attribution=t.method or "cpu-time-share")  # the rule, used or not yet

    def health_details(self) -> dict:
        reading = self._last_reading
        return {
            "source": self.totals.source,
            "attribution": self.totals.method,
            "idle_watts": None if reading is None else self.idle_watts(reading),
            "idle_watts_from": "--idle-watts" if self.given_idle_watts is not None else
            "the CPU model's idle term (W_thread x 0.1 x threads)",
            "model_watts_per_thread": self.figure.watts_per_thread,
            "model_why": self.figure.why,
            "no_counters": self.meter.why_no_counters,
            "caveats": None if reading is None else reading.error,
            "unknown_intervals": self.unknown_intervals,
        }
