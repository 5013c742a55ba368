"""A scenario's energy: the joules counters over exactly [start, end], or the CPU power model.

    meter = EnergyMeter(cpu_metrics_url="http://127.0.0.1:9500/metrics", gpu_metrics_url=None, tsdb_url=None)
    meter.start()
    ...encode...
    reading = meter.stop()   # EnergyReading(joules, source, error, power_watts, step_seconds, cpu_usage_cores)

Where the figures come from
---------------------------
* **Counters** (`source` "rapl", "nvml" or "rapl+nvml"): the cpu exporter's
  `m.CPU_ENERGY` over the top-level zones only (`package`, `dram` and their multi-die
  `package_die_N`/`dram_die_N`: `readers.powercap.is_energy_zone`; `core`,
  `uncore` and `psys` lie inside `package` and are never added) and the gpu
  exporter's `m.GPU_ENERGY`, read from their `/metrics` at `start()` and at `stop()`.
  joules = sum over series of increase(series), where a series that went down was
  reset (its exporter restarted) and counts from 0, like PromQL's `increase`.
* **TSDB** (`source` "tsdb"): with `tsdb_url`, when no exporter served a counter at
  `start()` (the runner cannot reach them, but VictoriaMetrics scrapes them), the
  joules are asked of the TSDB at `stop()`: `readers.tsdb.scenario_energy_joules`,
  the increase of the same counters over the window. The TSDB only holds what it
  scraped, so the figure is off by up to about one scrape interval's energy (and
  `energy_query` rounds the window up to whole seconds); the direct reads are exact
  over the window and come first whenever the exporters answer. No power samples
  then. When the TSDB cannot say either, the model below.
* **Model** (`source` "model", an estimate): when no exporter URL is given, or the
  exporters answer but serve no counter (a VM without RAPL or NVML), and the TSDB,
  if given, has none over the window.
  P_W = TDP x (0.1 + 0.9 x load^3) (`formulas.cpu_model_power_watts`) over the whole
  machine's CPU utilisation from /proc/stat, integrated with the trapezoid rule
  (`formulas.trapezoid_energy_joules`, see `model_energy_joules`). `error` says why
  no counter was used.
* **None** (`source` "none", joules `None`): an exporter given by URL did not answer
  at `start()` (the energy the user asked to measure is unknown, not replaced by an
  estimate; `error` says to start it or to give its URL as '' for the model), or
  counters were read at `start()` but an exporter could not be read at `stop()`;
  `error` names the URL. The power samples
  are dropped then (they would cover only part of the window); CPU use is kept.

A *simulated* powercap tree or NVML (the demo's) is never recorded as measured: when
an exporter's `/health` says `details.simulated: true`, the source becomes
`SIMULATED_SOURCE` (one constant decides what that is).

Samples
-------
A background thread reads the counters (or only /proc/stat, for the model) every
`step_seconds` on a fixed cadence scheduled against the monotonic clock, so it never
drifts: tick k is due at t0 + k x step, and a tick that is overrun is skipped rather
than run late and shifting the rest. `power_watts[k]` and `cpu_usage_cores[k]` are
the means over step k, (t0 + k x step, t0 + (k+1) x step]; a reading that fails is
filled, once the next one succeeds, with the mean over the whole gap, so the series
stay one sample per step. The partial step before `stop()` is not a sample (its
energy is in `joules`, which is the figure to record: the trapezoid over n interval
means spans only n - 1 steps). For close power samples, run the cpu exporter with a
`--sample-interval` well under `step_seconds` (its counters move in its own steps).

Every HTTP read is bounded by `timeout`. `stop()` stops the thread, also when the
final reads fail.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from catalog import metrics as m
from contract import formulas
from readers.exposition import Labels
from readers.exposition import samples as counter_series
from readers.powercap import is_energy_zone
from readers.tsdb import TsdbError, scenario_energy_joules

__all__ = [
    "EnergyReading",
    "EnergyMeter",
    "ExporterError",
    "SIMULATED_SOURCE",
    "counter_series",
    "cpu_energy_series",
    "gpu_energy_series",
    "counters_increase",
    "CpuStat",
    "read_cpu_stat",
    "parse_cpu_stat",
    "busy_cores",
    "model_energy_joules",
    "next_tick",
]

log = logging.getLogger("ffwatt.runner.energy")

SIMULATED_SOURCE = "simulated"
"""The `source` recorded when an exporter says its counters are simulated (the demo's
powercap tree or fake NVML). `"simulated"` keeps the joules and samples, marked as not
measured (`contract.schema.MEASURED_ENERGY_SOURCES` leaves it out); set it to
`"none"` to drop them instead."""


class ExporterError(Exception):
    """An exporter's /metrics could not be read or parsed; the message names the URL."""


@dataclass(frozen=True)
class EnergyReading:
    """What `EnergyMeter.stop()` measured over [start, end]."""

    joules: float | None  # increase over [start, end]; None when unknown
    source: str  # "rapl" | "nvml" | "rapl+nvml" | "tsdb" | "model" | "none" | SIMULATED_SOURCE
    error: str | None  # why unknown, or caveats
    power_watts: tuple[float, ...]  # mean power over each step from start (may be empty)
    step_seconds: float | None
    cpu_usage_cores: tuple[float, ...]  # whole-machine CPU use in cores, same clock (may be empty)


# --------------------------------------------------------------------------
# counters from a /metrics body (`counter_series`: readers.exposition.samples)


def cpu_energy_series(text: str) -> dict[Labels, float]:
    """The cpu exporter's joules counters of the top-level zones only (package, dram, per die)."""
    return {labels: value for labels, value in counter_series(text, m.CPU_ENERGY.name).items()
            if is_energy_zone(dict(labels).get("zone", ""))}


def gpu_energy_series(text: str) -> dict[Labels, float]:
    """The gpu exporter's joules counters, one per GPU, keyed by the GPU's UUID (never its
    index: nvml.h does not keep the order across a re-enumeration, and a counter that
    moved to another index must still meet its start value). NVML's own counters
    (`kind` "nvml", joules since the driver loaded) and, for GPUs without one, the
    exporter's integration of the power gauge (`kind` "integrated", from 0 at its start)."""
    out: dict[Labels, float] = {}
    for kind, metric in (("nvml", m.GPU_ENERGY), ("integrated", m.GPU_POWER_INTEGRATED)):
        for labels, value in counter_series(text, metric.name).items():
            named = dict(labels)
            out[(("kind", kind), ("uuid", named.get("uuid") or f"gpu {named.get('gpu', '?')}"))] = value
    return out


def _counts_from_zero(labels: Labels) -> bool:
    """May a series that appeared within the window count its whole value? Not NVML's
    energy counter: it counts since the driver loaded (10^8 J and more)."""
    return dict(labels).get("kind") != "nvml"


def counters_increase(start: Mapping[Labels, float], end: Mapping[Labels, float]) -> tuple[float, list[str]]:
    """Increase of a set of counters from `start` to `end`, and caveats.

    increase = sum over series in `end` of (end - start), or end when end < start
    (a reset: the counter restarted from 0, as PromQL's `increase` takes it) or when
    the series is new (it started within the window).
    A series in `start` but not in `end` adds nothing and is named in the caveats; a new
    NVML energy counter (joules since the driver loaded) adds nothing either.
    """
    total = 0.0
    caveats = []
    for labels, value in end.items():
        before = start.get(labels)
        if before is None and not _counts_from_zero(labels):
            caveats.append(f"counter {_show(labels)} appeared within the window: its energy since the driver "
                           "loaded is not the scenario's, so it is not counted")
            continue
        if before is None or value < before:
            total += value
            if before is not None:
                caveats.append(f"counter {_show(labels)} was reset (went from {before:g} to {value:g})")
        else:
            total += value - before
        if dict(labels).get("kind") == "integrated":
            caveats.append(f"GPU {dict(labels)['uuid']} has no NVML energy counter: its energy is the gpu "
                           "exporter's integration of the power gauge")
    for labels in start.keys() - end.keys():
        caveats.append(f"counter {_show(labels)} disappeared: its energy after the start is not counted")
    return total, caveats


def _show(labels: Labels) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"


# --------------------------------------------------------------------------
# whole-machine CPU use from /proc/stat


@dataclass(frozen=True)
class CpuStat:
    """The aggregate `cpu` line of /proc/stat, in clock ticks, and the online CPU count."""

    busy: int
    total: int
    cpus: int


def parse_cpu_stat(text: str) -> CpuStat:
    """busy = user + nice + system + irq + softirq + steal; total = busy + idle + iowait.

    (guest and guest_nice are already inside user and nice.) ValueError when the text
    has no aggregate `cpu` line.
    """
    busy = total = None
    cpus = 0
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = [int(x) for x in line.split()[1:9]] + [0] * 8
            user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
            busy = user + nice + system + irq + softirq + steal
            total = busy + idle + iowait
        elif line.startswith("cpu") and line[3:4].isdigit():
            cpus += 1
    if busy is None or total is None:
        raise ValueError("no aggregate 'cpu' line in /proc/stat")
    return CpuStat(busy, total, max(cpus, 1))


def read_cpu_stat(path: str = "/proc/stat") -> CpuStat:
    with open(path, encoding="ascii", errors="replace") as f:
        return parse_cpu_stat(f.read())


def busy_cores(before: CpuStat, after: CpuStat) -> tuple[float, float] | None:
    """(utilisation 0..1, busy cores) between two readings; None when no tick passed.

    utilisation = delta busy / delta total; cores = utilisation x online CPUs
    """
    total = after.total - before.total
    busy = after.busy - before.busy
    if total <= 0 or busy < 0:
        return None
    utilisation = min(busy, total) / total
    return utilisation, utilisation * after.cpus


# --------------------------------------------------------------------------
# the model


def model_energy_joules(tdp_watts: float, utilisation: list[float], step_seconds: float,
                        tail: tuple[float, float] | None = None) -> float | None:
    """Energy the CPU power model gives for per-step utilisations, over [t0, end].

    P_k = cpu_model_power_watts(TDP, u_k) for the utilisation u_k over step k (k = 1..n)
    joules = trapezoid([P_1, P_1, P_2, ..., P_n], step)       covers [t0, t0 + n x step]
           + trapezoid([P_n, P_tail], tail_seconds)            the partial step before stop()

    P_1 stands for t0 too, where no earlier reading exists. `tail` is (utilisation,
    seconds) of the partial step, or None. With no full step, the tail alone counts
    (P_tail x tail_seconds). None when there is nothing to integrate.
    """
    watts = [formulas.cpu_model_power_watts(tdp_watts, u) for u in utilisation]
    if not watts and (tail is None or tail[1] <= 0):
        return None
    joules = 0.0
    if watts:
        joules += formulas.trapezoid_energy_joules([watts[0], *watts], step_seconds) or 0.0
    if tail is not None and tail[1] > 0:
        tail_watts = formulas.cpu_model_power_watts(tdp_watts, tail[0])
        joules += formulas.trapezoid_energy_joules([watts[-1] if watts else tail_watts, tail_watts], tail[1]) or 0.0
    return joules


# --------------------------------------------------------------------------
# the cadence


def next_tick(t0: float, step: float, now: float, last_tick: int) -> int:
    """The next tick to wait for: the first k > last_tick that is not yet past at `now`.

    Tick k is due at t0 + k x step. Ticks already overrun are skipped, so a slow pass
    never shifts the schedule.
    """
    due = math.floor((now - t0) / step) + 1
    return max(last_tick + 1, due)


# --------------------------------------------------------------------------
# HTTP


def _metrics_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/metrics") else url + "/metrics"


def _health_url(url: str) -> str:
    base = _metrics_url(url)[: -len("/metrics")]
    return base + "/health"


def _get(url: str, timeout: float) -> bytes:
    # urllib, not requests: as readers/tsdb.py, no extra weight in the sampling thread.
    request = urllib.request.Request(url, headers={"Accept": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if url.endswith("/health"):
            return exc.read()  # /health answers 503 with its JSON when failing
        raise ExporterError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise ExporterError(f"{url}: {getattr(exc, 'reason', None) or exc}") from exc


class _Exporter:
    """One exporter the meter reads: its URL, which series to keep, what it is called."""

    def __init__(self, kind: str, url: str, select: Callable[[str], dict[Labels, float]], what: str,
                 timeout: float):
        self.kind = kind  # "rapl" or "nvml"
        self.metrics_url = _metrics_url(url)
        self.select = select
        self.what = what
        self.timeout = timeout

    def read(self) -> dict[Labels, float]:
        body = _get(self.metrics_url, self.timeout)
        return self.select(body.decode("utf-8", errors="replace"))

    def health(self) -> dict | None:
        try:
            body = json.loads(_get(_health_url(self.metrics_url), self.timeout))
        except (ExporterError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    def why_no_counters(self) -> str:
        health = self.health() or {}
        reason = health.get("reason") or health.get("last_error")
        said = f" (its /health says: {reason})" if reason else ""
        return f"{self.what} at {self.metrics_url} serves no {self.kind} joules counters{said}"


# --------------------------------------------------------------------------
# the meter


class EnergyMeter:
    """Energy over [start(), stop()]: see the module docstring."""

    def __init__(self, *, cpu_metrics_url: str | None, gpu_metrics_url: str | None, tsdb_url: str | None,
                 step_seconds: float = 1.0, tdp_watts: float = formulas.DEFAULT_TDP_WATTS, timeout: float = 2.0,
                 proc_stat: str = "/proc/stat"):
        if not (isinstance(step_seconds, (int, float)) and math.isfinite(step_seconds) and step_seconds > 0):
            raise ValueError(f"step_seconds must be a positive number, got {step_seconds!r}")
        formulas.cpu_model_power_watts(tdp_watts, 0.0)  # ValueError for a bad TDP, now rather than at stop()
        self.step_seconds = float(step_seconds)
        self.tdp_watts = float(tdp_watts)
        self.timeout = float(timeout)
        self.tsdb_url = tsdb_url or None
        self.proc_stat = proc_stat
        self._exporters = []
        if cpu_metrics_url:
            self._exporters.append(_Exporter("rapl", cpu_metrics_url, cpu_energy_series, "cpu exporter", timeout))
        if gpu_metrics_url:
            self._exporters.append(_Exporter("nvml", gpu_metrics_url, gpu_energy_series, "gpu exporter", timeout))
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._active: list[_Exporter] = []  # exporters whose counters are used
        self._why_model: list[str] = []
        self._unreachable: list[_Exporter] = []  # given but not answering: energy unknown, not modelled
        self._simulated: list[str] = []
        self._start_counters: dict[str, dict[Labels, float]] = {}
        self._t0 = 0.0
        self._wall0 = 0.0
        self._power: list[float] = []
        self._cores: list[float] = []
        self._utilisation: list[float] = []
        self._sample_errors: dict[str, int] = {}
        self._last_counters: dict[str, dict[Labels, float]] = {}
        self._last_time = 0.0
        self._last_cpu: CpuStat | None = None
        self._last_tick = 0

    # ---- probing --------------------------------------------------------

    def _probe(self) -> tuple[list[_Exporter], dict[str, dict[Labels, float]], list[str]]:
        """Which exporters serve counters now, their readings, and why the others do not."""
        active, readings, why = [], {}, []
        if not self._exporters:
            why.append("no cpu or gpu exporter URL given")
        for exporter in self._exporters:
            try:
                series = exporter.read()
            except ExporterError as exc:
                why.append(f"{exporter.what} unreachable: {exc}")
                self._unreachable.append(exporter)
                continue
            if not series:
                why.append(exporter.why_no_counters())
                continue
            active.append(exporter)
            readings[exporter.kind] = series
        return active, readings, why

    def _source(self) -> str:
        kinds = {e.kind for e in self._active}
        return "+".join(k for k in ("rapl", "nvml") if k in kinds) or "model"

    def describe(self) -> str:
        """What this meter measures with, e.g. "rapl (cpu exporter at http://...)" (probes when not started)."""
        if self._thread is not None:
            active, why = self._active, self._why_model
        else:
            active, _, why = self._probe()
        if active:
            kinds = {e.kind for e in active}
            source = "+".join(k for k in ("rapl", "nvml") if k in kinds)
            where = ", ".join(f"{e.what} at {e.metrics_url}" for e in active)
            return f"{source} ({where})"
        if self.tsdb_url:
            return (f"tsdb (joules counters from {self.tsdb_url}; no exporter read directly: {'; '.join(why)}; "
                    f"else model, TDP {self.tdp_watts:g} W)")
        return f"model (no RAPL/NVML: {'; '.join(why)}; TDP {self.tdp_watts:g} W)"

    # ---- start / stop ---------------------------------------------------

    def start(self) -> None:
        """Read the counters (or decide on the model) and start the sampling thread."""
        if self._thread is not None:
            raise RuntimeError("EnergyMeter.start() called twice without stop()")
        self._reset()
        active, readings, why = self._probe()
        self._active, self._start_counters, self._why_model = active, readings, why
        for exporter in active:
            details = (exporter.health() or {}).get("details")
            if isinstance(details, dict) and details.get("simulated") is True:
                self._simulated.append(f"{exporter.what} at {exporter.metrics_url} reads simulated counters")
        self._t0 = time.monotonic()
        self._wall0 = time.time()
        self._last_time = self._t0
        self._last_counters = dict(readings)
        try:
            self._last_cpu = read_cpu_stat(self.proc_stat)
        except (OSError, ValueError) as exc:
            self._last_cpu = None
            self._note("cpu", f"{self.proc_stat}: {exc}")
        self._thread = threading.Thread(target=self._run, name="ffwatt-energy-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> EnergyReading:
        """Stop the thread, read the counters at the end, and say what was measured."""
        if self._thread is None:
            raise RuntimeError("EnergyMeter.stop() called before start()")
        thread, self._thread = self._thread, None
        self._stop_event.set()
        thread.join(self.step_seconds + 2 * self.timeout * max(1, len(self._exporters)) + 1.0)
        end = time.monotonic()
        wall_end = time.time()
        with self._lock:
            power, cores, utilisation = list(self._power), list(self._cores), list(self._utilisation)
            last_cpu, last_time = self._last_cpu, self._last_time
            sample_errors = dict(self._sample_errors)
        caveats = [f"{count} sample(s) failed, filled with the mean over the gap: {what}"
                   for what, count in sample_errors.items()]
        if thread.is_alive():
            caveats.append("the sampling thread did not stop in time")
        step = self.step_seconds

        tail = None  # (utilisation, seconds) of the partial step before stop()
        try:
            now_cpu = read_cpu_stat(self.proc_stat)
            if last_cpu is not None:
                measured = busy_cores(last_cpu, now_cpu)
                if measured is not None:
                    tail = (measured[0], end - last_time)
        except (OSError, ValueError) as exc:
            caveats.append(f"{self.proc_stat}: {exc}")

        if not self._active:
            if self.tsdb_url:
                try:
                    joules = scenario_energy_joules(self.tsdb_url, self._wall0, wall_end, timeout=self.timeout)
                except TsdbError as exc:
                    self._why_model.append(str(exc))
                else:
                    note = (f"joules from the TSDB at {self.tsdb_url} (no exporter read directly: "
                            f"{'; '.join(self._why_model)}); within about one scrape interval, the window rounded up "
                            "to whole seconds")
                    return EnergyReading(joules, "tsdb", _join([note] + caveats), (), None, tuple(cores))
            if self._unreachable:
                # The user asked for measured energy and did not get it: unknown, not an estimate.
                flags = " / ".join(f"--{'cpu' if e.kind == 'rapl' else 'gpu'}-metrics-url ''" for e in self._unreachable)
                return EnergyReading(None, "none", _join([f"{'; '.join(self._why_model)}: start the exporter, or "
                                                          f"give {flags} to estimate energy with the CPU power "
                                                          "model"] + caveats), (), None, tuple(cores))
            return self._model_reading(utilisation, cores, tail, caveats)

        # An exporter given but not used (a gpu exporter down on a host with RAPL): its energy is not counted.
        caveats = [f"{why} (not counted)" for why in self._why_model] + caveats
        joules = 0.0
        for exporter in self._active:
            try:
                series = exporter.read()
            except ExporterError as exc:
                return EnergyReading(None, "none", _join([f"{exporter.what} could not be read at the end of the "
                                                          f"scenario: {exc}"] + caveats),
                                     (), None, tuple(cores))
            increase, notes = counters_increase(self._start_counters[exporter.kind], series)
            joules += increase
            caveats.extend(notes)
        source = self._source()
        if self._simulated:
            caveats = self._simulated + caveats
            source = SIMULATED_SOURCE
            if source == "none":
                return EnergyReading(None, "none", _join(caveats), (), None, tuple(cores))
        return EnergyReading(joules, source, _join(caveats), tuple(power), step if power else None, tuple(cores))

    def _model_reading(self, utilisation: list[float], cores: list[float], tail: tuple[float, float] | None,
                       caveats: list[str]) -> EnergyReading:
        why = "; ".join(self._why_model)
        joules = model_energy_joules(self.tdp_watts, utilisation, self.step_seconds, tail)
        if joules is None:
            return EnergyReading(None, "none", _join([f"{why}; and no CPU utilisation could be read"] + caveats),
                                 (), None, tuple(cores))
        watts = tuple(formulas.cpu_model_power_watts(self.tdp_watts, u) for u in utilisation)
        model = f"CPU power model TDP {self.tdp_watts:g} W x (0.1 + 0.9 x load^3) (an estimate, not a measurement)"
        return EnergyReading(joules, "model", _join([f"{why}: {model}"] + caveats), watts,
                             self.step_seconds if watts else None, tuple(cores))

    # ---- the sampling thread --------------------------------------------

    def _note(self, what: str, message: str) -> None:
        key = f"{what}: {message}"
        with self._lock:
            first = key not in self._sample_errors
            self._sample_errors[key] = self._sample_errors.get(key, 0) + 1
        if first:
            log.warning("energy sample failed: %s", key)

    def _run(self) -> None:
        step = self.step_seconds
        while True:
            tick = next_tick(self._t0, step, time.monotonic(), self._last_tick)
            if self._stop_event.wait(max(0.0, self._t0 + tick * step - time.monotonic())):
                return
            try:
                self._sample(tick)
            except Exception as exc:  # never let the thread die silently
                self._note("sampler", repr(exc))

    def _sample(self, tick: int) -> None:
        """One pass: the counters and /proc/stat now; the means since the last good pass, one per step."""
        readings = {}
        for exporter in self._active:
            try:
                readings[exporter.kind] = exporter.read()
            except ExporterError as exc:
                self._note(exporter.what, str(exc))
                return  # the gap is filled at the next good pass
        try:
            cpu = read_cpu_stat(self.proc_stat)
        except (OSError, ValueError) as exc:
            self._note("cpu", f"{self.proc_stat}: {exc}")
            return
        now = time.monotonic()
        steps = tick - self._last_tick
        elapsed = now - self._last_time
        if elapsed <= 0 or steps <= 0:
            return
        measured = busy_cores(self._last_cpu, cpu) if self._last_cpu is not None else None
        watts = None
        if self._active:
            joules = sum(counters_increase(self._last_counters[kind], series)[0] for kind, series in readings.items())
            watts = joules / elapsed
        with self._lock:
            for _ in range(steps):
                if watts is not None:
                    self._power.append(watts)
                if measured is not None:
                    self._utilisation.append(measured[0])
                    self._cores.append(measured[1])
            self._last_counters, self._last_cpu, self._last_time, self._last_tick = readings, cpu, now, tick


def _join(parts: list[str]) -> str | None:
    text = "; ".join(p for p in parts if p)
    return text or None
