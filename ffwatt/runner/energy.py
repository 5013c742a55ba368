"""The machine's energy over exactly [start, end]: joules counters read in process, from
exporters, or the per-thread CPU model; and the machine's CPU time over the same window.

    meter = EnergyMeter(cpu_metrics_url=None, gpu_metrics_url=None, tsdb_url=None)  # in process
    meter.start()
    ...encode...
    reading = meter.stop(pids=scenario_pids)   # EnergyReading(joules, source, error, power_watts, step_seconds, cpu_usage_cores,
                             #               window_seconds, machine_cpu_seconds, cpus, cpu_joules, gpu_joules,
                             #               gpus)

`joules` is the *machine's* energy; the scenario's own share is `runner.attribution`'s job
(docs/energy.md).

Where the figures come from
---------------------------
* **In process** (the default: no exporter or TSDB URL given): the runner reads the
  counters itself, with the exporters' own reader code: RAPL through
  `readers.powercap.RaplSampler.energy_joules()` under `powercap_root` (package + dram,
  wrap-compensated; a root holding `readers.powercap.SIMULATED_MARKER` is the demo's
  simulated tree: source `SIMULATED_SOURCE`) and NVML through
  `readers.nvml.Nvml.energy_by_uuid()`. A host whose `energy_uj` is root-only is said so,
  with the fix (`readers.powercap.PERMISSION_FIX`), and falls back to the model.
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
* **Model** (`source` "model", an estimate): when no counter can be read (a VM without
  RAPL or NVML, energy_uj root-only), or the exporters answer but serve no counter, and
  the TSDB, if given, has none over the window. Per hardware thread, the machine's share:
  E_J = W_thread x (f_idle x threads x window_s + (1 - f_idle) x busy_cpu_s)
  (`formulas.cpu_thread_model_energy_joules`; `busy_cpu_s` from /proc/stat over the
  window; W_thread from `runner.cpu_model`). `error` says why no counter was used.
* **None** (`source` "none", joules `None`): an exporter given by URL did not answer
  at `start()` (the energy the user asked to measure is unknown, not replaced by an
  estimate; `error` says to start it or to give its URL as '' for the model), or
  counters were read at `start()` but an exporter could not be read at `stop()`;
  `error` names the URL. The power samples
  are dropped then (they would cover only part of the window); CPU use is kept.

A *simulated* powercap tree or NVML (the demo's) is never recorded as measured: when
an exporter's `/health` says `details.simulated: true`, the source becomes
`SIMULATED_SOURCE` (one constant decides what that is).

GPU use per process
-------------------
In process, with NVML, the meter also reads each GPU's per-process utilisation samples
(`readers.nvml.Nvml.process_utilisation_by_uuid`: the driver's samples after the last one
seen, from the window's start) at every sampling tick and at `stop()`, so samples of a
process that ended within the window are read while the driver still holds them. At
`stop(pids=...)` each GPU's window (`GpuWindow`: its joules, the scenario's utilisation and
every process's, summed over the samples in the window; `formulas.gpu_utilisation_share`)
goes into the reading; `runner.attribution` charges the scenario its share. `pids` None (not
given) or a driver that keeps no samples (NOT_SUPPORTED) leaves the utilisation unknown: the
GPU is charged whole. Through a gpu exporter (a URL) there are no per-process samples.

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
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from ffwatt.catalog import metrics as m
from ffwatt.common.urls import open_url, redact, scrub
from ffwatt.contract import formulas
from ffwatt.readers.exposition import Labels
from ffwatt.readers.exposition import samples as counter_series
from ffwatt.readers.powercap import PERMISSION_FIX, SIMULATED_MARKER, RaplSampler, is_energy_zone
from ffwatt.readers.tsdb import TsdbError, scenario_energy_joules

__all__ = [
    "DEFAULT_POWERCAP_ROOT",
    "EnergyReading",
    "GpuWindow",
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
    "next_tick",
]

log = logging.getLogger("ffwatt.runner.energy")


DEFAULT_POWERCAP_ROOT = "/sys/class/powercap"

SIMULATED_SOURCE = "simulated"
"""The `source` recorded when an exporter says its counters are simulated (the demo's
powercap tree or fake NVML). `"simulated"` keeps the joules and samples, marked as not
measured (`contract.schema.MEASURED_ENERGY_SOURCES` leaves it out); set it to
`"none"` to drop them instead."""


class ExporterError(Exception):
    """An exporter's /metrics could not be read or parsed; the message names the URL."""


@dataclass(frozen=True)
class GpuWindow:
    """One GPU over the window: its energy, and NVML's per-process utilisation summed over the
    window's samples (engine-percent, `formulas.gpu_process_utilisation`): the scenario's
    processes' (`scenario_utilisation`) and every process's (`all_utilisation`). Both None when
    the driver does not say or the scenario's pids were not given; `all_utilisation` 0 when no
    process used the GPU."""

    uuid: str
    joules: float
    scenario_utilisation: float | None = None
    all_utilisation: float | None = None


@dataclass(frozen=True)
class EnergyReading:
    """What `EnergyMeter.stop()` measured over [start, end]."""

    joules: float | None  # increase over [start, end]; None when unknown
    source: str  # "rapl" | "nvml" | "rapl+nvml" | "tsdb" | "model" | "none" | SIMULATED_SOURCE
    error: str | None  # why unknown, or caveats
    power_watts: tuple[float, ...]  # mean power over each step from start (may be empty)
    step_seconds: float | None
    cpu_usage_cores: tuple[float, ...]  # whole-machine CPU use in cores, same clock (may be empty)
    window_seconds: float | None = None  # monotonic stop - start
    machine_cpu_seconds: float | None = None  # all CPU time on the machine over the window (/proc/stat)
    cpus: int | None = None  # CPUs /proc/stat lists (the threads visible here)
    cpu_joules: float | None = None  # the RAPL (or model) part of `joules`
    gpu_joules: float | None = None  # the NVML part of `joules`
    gpus: tuple[GpuWindow, ...] = ()  # the NVML part per GPU, with its per-process utilisation when known


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


def _get(url: str, timeout: float, ca_file: str | None = None) -> bytes:
    # urllib, not requests: as ffwatt/readers/tsdb.py, no extra weight in the sampling thread. An exporter
    # behind a web config: https (verified against ca_file), basic auth from the URL's user info.
    try:
        with open_url(url, timeout, headers={"Accept": "text/plain"}, ca_file=ca_file) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if url.endswith("/health"):
            return exc.read()  # /health answers 503 with its JSON when failing
        raise ExporterError(f"{redact(url)}: HTTP {exc.code} {exc.reason}") from exc
    except (OSError, ValueError) as exc:
        raise ExporterError(scrub(f"{redact(url)}: {getattr(exc, 'reason', None) or exc}", url)) from exc


class _Exporter:
    """One exporter the meter reads: its URL, which series to keep, what it is called."""

    def __init__(self, kind: str, url: str, select: Callable[[str], dict[Labels, float]], what: str,
                 timeout: float, ca_file: str | None = None):
        self.kind = kind  # "rapl" or "nvml"
        self.url = _metrics_url(url)  # as given: its user info authenticates
        self.metrics_url = redact(self.url)  # what messages and the results say
        self.ca_file = ca_file
        self.select = select
        self.what = what
        self.timeout = timeout

    def read(self) -> dict[Labels, float]:
        body = _get(self.url, self.timeout, self.ca_file)
        return self.select(body.decode("utf-8", errors="replace"))

    def health(self) -> dict | None:
        try:
            body = json.loads(_get(_health_url(self.url), self.timeout, self.ca_file))
        except (ExporterError, ValueError):
            return None
        return body if isinstance(body, dict) else None

    local = False

    def why_no_counters(self) -> str:
        health = self.health() or {}
        reason = health.get("reason") or health.get("last_error")
        said = f" (its /health says: {reason})" if reason else ""
        return f"{self.what} at {self.metrics_url} serves no {self.kind} joules counters{said}"

    def simulated(self) -> bool:
        details = (self.health() or {}).get("details")
        return isinstance(details, dict) and details.get("simulated") is True


class _LocalRapl:
    """RAPL read in process with the cpu exporter's reader (`RaplSampler`): package + dram,
    wrap-compensated, joules from 0 at the first reading (so a zone that appears counts from 0)."""

    kind = "rapl"
    local = True

    def __init__(self, powercap_root: str):
        self.root = Path(powercap_root)
        self.what = "RAPL"
        self.metrics_url = str(self.root)  # where, for messages
        # no tree (a VM) is the normal case the model exists for: the run says so once, at INFO, in the
        # meter's description ("energy: model (no RAPL/NVML: ...; 5 W per thread)"), never as an error
        self.sampler = RaplSampler(self.root, missing_level=logging.DEBUG)

    def read(self) -> dict[Labels, float]:
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


class _LocalNvml:
    """NVML read in process with the gpu exporter's reader (`readers.nvml.Nvml.energy_by_uuid`),
    keyed like the gpu exporter's counters. NVML is opened at the first read; no driver is no counter."""

    kind = "nvml"
    local = True
    what = "NVML"
    metrics_url = "the NVIDIA driver"

    def __init__(self) -> None:
        self._nvml = None
        self._error: str | None = None

    def read(self) -> dict[Labels, float]:
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
            raise ExporterError(f"NVML: {exc}") from None
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
            raise ExporterError(f"NVML per-process utilisation: {exc}") from None

    def why_no_counters(self) -> str:
        return f"no NVML energy counter ({self._error or 'none read'})"

    def simulated(self) -> bool:
        from ffwatt.readers import nvml

        return nvml.simulated()


# --------------------------------------------------------------------------
# the meter


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
        formulas.cpu_thread_model_power_watts(watts_per_thread, 1, 0.0)  # ValueError now rather than at stop()
        self.step_seconds = float(step_seconds)
        self.watts_per_thread = float(watts_per_thread)
        self.timeout = float(timeout)
        self.ca_file = ca_file
        self._tsdb = tsdb_url or None  # as given: its user info authenticates
        self.tsdb_url = redact(tsdb_url) if tsdb_url else None  # what messages say
        self.proc_stat = proc_stat
        self.in_process = not (cpu_metrics_url or gpu_metrics_url or tsdb_url)
        self._exporters: list = []
        if cpu_metrics_url:
            self._exporters.append(_Exporter("rapl", cpu_metrics_url, cpu_energy_series, "cpu exporter", timeout,
                                             ca_file))
        if gpu_metrics_url:
            self._exporters.append(_Exporter("nvml", gpu_metrics_url, gpu_energy_series, "gpu exporter", timeout,
                                             ca_file))
        if self.in_process:
            if powercap_root:
                self._exporters.append(_LocalRapl(powercap_root))
            if nvml:
                self._exporters.append(_LocalNvml())
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
        self._start_cpu: CpuStat | None = None
        self._last_tick = 0
        # per GPU UUID: the newest sample's timestamp read, the window's samples {(pid, µs): utilisation},
        # and whether the driver said anything (a list, even empty) at least once
        self._gpu_start_us = 0
        self._gpu_seen_us: dict[str, int] = {}
        self._gpu_samples: dict[str, dict[tuple[int, int], float]] = {}
        self._gpu_says: dict[str, bool] = {}

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
                if not exporter.local:  # a local reader that fails is no counter, not an unknown energy
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
            if any(e.simulated() for e in active):
                source = SIMULATED_SOURCE  # as stop() records it
            where = ", ".join(f"{e.what} at {e.metrics_url}" for e in active)
            return f"{source} ({where})"
        if self.tsdb_url:
            return (f"tsdb (joules counters from {self.tsdb_url}; no exporter read directly: {'; '.join(why)}; "
                    f"else model, {self.watts_per_thread:g} W per thread)")
        return f"model (no RAPL/NVML: {'; '.join(why)}; {self.watts_per_thread:g} W per thread)"

    # ---- start / stop ---------------------------------------------------

    def start(self) -> None:
        """Read the counters (or decide on the model) and start the sampling thread."""
        if self._thread is not None:
            raise RuntimeError("EnergyMeter.start() called twice without stop()")
        self._reset()
        active, readings, why = self._probe()
        self._active, self._start_counters, self._why_model = active, readings, why
        for exporter in active:
            if exporter.simulated():
                self._simulated.append(f"{exporter.what} at {exporter.metrics_url} reads simulated counters")
        self._t0 = time.monotonic()
        self._wall0 = time.time()
        self._gpu_start_us = int(self._wall0 * 1e6)
        self._last_time = self._t0
        self._last_counters = dict(readings)
        try:
            self._last_cpu = self._start_cpu = read_cpu_stat(self.proc_stat)
        except (OSError, ValueError) as exc:
            self._last_cpu = None
            self._note("cpu", f"{self.proc_stat}: {exc}")
        self._thread = threading.Thread(target=self._run, name="ffwatt-energy-sampler", daemon=True)
        self._thread.start()

    def stop(self, pids: Collection[int] | None = None) -> EnergyReading:
        """Stop the thread, read the counters at the end, and say what was measured. `pids`: the
        scenario's processes (its ffmpeg trees), for each GPU's per-process share; None: unknown."""
        if self._thread is None:
            raise RuntimeError("EnergyMeter.stop() called before start()")
        thread, self._thread = self._thread, None
        self._stop_event.set()
        thread.join(self.step_seconds + 2 * self.timeout * max(1, len(self._exporters)) + 1.0)
        end = time.monotonic()
        wall_end = time.time()
        with self._lock:
            power, cores = list(self._power), list(self._cores)
            sample_errors = dict(self._sample_errors)
        caveats = [f"{count} sample(s) failed, filled with the mean over the gap: {what}"
                   for what, count in sample_errors.items()]
        if thread.is_alive():
            caveats.append("the sampling thread did not stop in time")
        step = self.step_seconds
        window = end - self._t0
        machine_cpu, cpus = None, None
        try:
            now_cpu = read_cpu_stat(self.proc_stat)
            cpus = now_cpu.cpus
            measured = busy_cores(self._start_cpu, now_cpu) if self._start_cpu is not None else None
            if measured is not None:
                # utilisation (busy / all ticks) x CPUs x window: counted in ticks, /proc/stat's own busy
                # seconds can run past CPUs x window over a short window; its ratio cannot
                machine_cpu = measured[1] * window
        except (OSError, ValueError) as exc:
            caveats.append(f"{self.proc_stat}: {exc}")
        window_facts = dict(window_seconds=window, machine_cpu_seconds=machine_cpu, cpus=cpus)

        if not self._active:
            if self.tsdb_url:
                try:
                    joules = scenario_energy_joules(self._tsdb, self._wall0, wall_end, timeout=self.timeout,
                                                    ca_file=self.ca_file)
                except TsdbError as exc:
                    self._why_model.append(str(exc))
                else:
                    note = (f"joules from the TSDB at {self.tsdb_url} (no exporter read directly: "
                            f"{'; '.join(self._why_model)}); within about one scrape interval, the window rounded up "
                            "to whole seconds")
                    return EnergyReading(joules, "tsdb", _join([note] + caveats), (), None, tuple(cores),
                                         cpu_joules=joules, **window_facts)
            if self._unreachable:
                # The user asked for measured energy and did not get it: unknown, not an estimate.
                flags = " / ".join(f"--{'cpu' if e.kind == 'rapl' else 'gpu'}-metrics-url ''" for e in self._unreachable)
                return EnergyReading(None, "none", _join([f"{'; '.join(self._why_model)}: start the exporter, or "
                                                          f"leave out {flags} to measure in process (or "
                                                          "estimate with the CPU model)"] + caveats),
                                     (), None, tuple(cores), **window_facts)
            return self._model_reading(cores, caveats, window, machine_cpu, cpus)

        # An exporter given but not used (a gpu exporter down on a host with RAPL): its energy is not counted.
        caveats = [f"{why} (not counted)" for why in self._why_model] + caveats
        parts: dict[str, float] = {}
        gpu_joules: dict[str, float] = {}
        for exporter in self._active:
            try:
                series = exporter.read()
            except ExporterError as exc:
                return EnergyReading(None, "none", _join([f"{exporter.what} could not be read at the end of the "
                                                          f"scenario: {exc}"] + caveats),
                                     (), None, tuple(cores), **window_facts)
            start_series = self._start_counters[exporter.kind]
            increase, notes = counters_increase(start_series, series)
            parts[exporter.kind] = parts.get(exporter.kind, 0.0) + increase
            caveats.extend(notes)
            if exporter.kind == "nvml":
                for labels, value in series.items():  # the same rule, one GPU at a time
                    one = {labels: start_series[labels]} if labels in start_series else {}
                    uuid = dict(labels).get("uuid", "?")
                    gpu_joules[uuid] = gpu_joules.get(uuid, 0.0) + counters_increase(one, {labels: value})[0]
        gpus = self._gpu_windows(gpu_joules, pids, caveats)
        joules = sum(parts.values())
        source = self._source()
        if self._simulated:
            caveats = self._simulated + caveats
            source = SIMULATED_SOURCE
            if source == "none":
                return EnergyReading(None, "none", _join(caveats), (), None, tuple(cores), **window_facts)
        return EnergyReading(joules, source, _join(caveats), tuple(power), step if power else None, tuple(cores),
                             cpu_joules=parts.get("rapl"), gpu_joules=parts.get("nvml"), gpus=gpus, **window_facts)

    def _gpu_windows(self, gpu_joules: dict[str, float], pids: Collection[int] | None,
                     caveats: list[str]) -> tuple[GpuWindow, ...]:
        """Each GPU's energy with the window's per-process utilisation (the module docstring)."""
        if not gpu_joules:
            return ()
        try:
            self._collect_gpu_samples()  # the samples since the last tick
        except ExporterError as exc:
            caveats.append(f"{exc}: GPU energy charged whole")
        out = []
        for uuid, joules in sorted(gpu_joules.items()):
            if pids is None:
                out.append(GpuWindow(uuid, joules))
                continue
            if not self._gpu_says.get(uuid):
                caveats.append(f"GPU {uuid}: the driver gives no per-process utilisation, so its energy is "
                               "charged whole")
                out.append(GpuWindow(uuid, joules))
                continue
            samples = self._gpu_samples.get(uuid, {})
            mine, everyone = formulas.gpu_utilisation_share(((pid, used) for (pid, _), used in samples.items()),
                                                            frozenset(pids))
            if not everyone:
                caveats.append(f"GPU {uuid}: no process used it over the window, so its energy is charged whole")
            out.append(GpuWindow(uuid, joules, mine, everyone))
        return tuple(out)

    def _collect_gpu_samples(self) -> None:
        """Read each GPU's per-process samples since the newest one seen; keep those in the window."""
        nvml = next((e for e in self._active if isinstance(e, _LocalNvml)), None)
        if nvml is None:
            return
        with self._lock:
            seen = dict(self._gpu_seen_us)
        found = nvml.process_samples(seen, self._gpu_start_us)
        with self._lock:
            for uuid, samples in found.items():
                if samples is None:
                    continue
                self._gpu_says[uuid] = True
                window = self._gpu_samples.setdefault(uuid, {})
                for sample in samples:
                    if sample.timestamp_us > self._gpu_start_us:
                        window[(sample.pid, sample.timestamp_us)] = formulas.gpu_process_utilisation(
                            sample.sm, sample.encoder, sample.decoder)
                    self._gpu_seen_us[uuid] = max(self._gpu_seen_us.get(uuid, 0), sample.timestamp_us)

    def _model_reading(self, cores: list[float], caveats: list[str], window: float, machine_cpu: float | None,
                       cpus: int | None) -> EnergyReading:
        why = "; ".join(self._why_model)
        joules = None if cpus is None else formulas.cpu_thread_model_energy_joules(
            self.watts_per_thread, cpus, window, machine_cpu)
        if joules is None:
            return EnergyReading(None, "none", _join([f"{why}; and no CPU time could be read"] + caveats),
                                 (), None, tuple(cores), window_seconds=window, machine_cpu_seconds=machine_cpu,
                                 cpus=cpus)
        watts = tuple(formulas.cpu_thread_model_power_watts(self.watts_per_thread, cpus, min(1.0, c / cpus))
                      for c in cores) if cpus else ()
        model = (f"CPU model {self.watts_per_thread:g} W per thread x {cpus} thread(s) x "
                 f"({formulas.CPU_MODEL_IDLE_FRACTION:g} + {1 - formulas.CPU_MODEL_IDLE_FRACTION:g} x load) "
                 "(an estimate, not a measurement)")
        return EnergyReading(joules, "model", _join([f"{why}: {model}"] + caveats), watts,
                             self.step_seconds if watts else None, tuple(cores), window_seconds=window,
                             machine_cpu_seconds=machine_cpu, cpus=cpus, cpu_joules=joules)

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
            self._collect_gpu_samples()  # before the driver's buffer drops them
        except ExporterError as exc:
            self._note("NVML", str(exc))
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
