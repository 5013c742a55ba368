"""Host power (uid host-power): what the machine draws and where the watts go, from RAPL (cpu
exporter) and NVML (gpu exporter).

The headline's stacked view is `stacked_power(title, question, domains)` over `power_domains()`: a
list of targets whose series add up to the machine's total (CPU packages per socket, DRAM, each
GPU), drawn with that total as a dashed line. The live streams row stacks the same machine as the
streams exporter splits it (`stream_parts()`: its live streams, everything else, idle; issue 32).
"""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row, Var
from ffwatt.dashboards_src.host_power_gpu import gpu_row
from ffwatt.dashboards_src.panels import PanelSpec, T, bargauge, stat, steps, timeseries
from ffwatt.dashboards_src.promql import Q, by, divide, increase, rate, selector, union
from ffwatt.dashboards_src.provenance import cpu_source, gpu_source, source_stat, streams_source
from ffwatt.readers.powercap import ENERGY_ZONES

UID = "host-power"

# Zones whose energies add up to the host's CPU power without double counting: the rule is
# readers.powercap's ENERGY_ZONES (package and dram with their dies; never core, uncore, psys).
TOP_LEVEL_ZONES = "|".join(zone + ".*" for zone in ENERGY_ZONES)

# Lab hosts: the `host` label each host's vmagent adds (absent when VictoriaMetrics scrapes
# the exporters itself; "All" matches those too).
HOST = Var("host", m.CPU_ZONES, "host", "Lab host")
CPU_INSTANCE = Var("cpu_instance", m.CPU_ZONES, "instance", "CPU exporter", chain=(("host", HOST.ref),))
ZONE = Var("zone", m.CPU_POWER, "zone", "RAPL zone", chain=(("host", HOST.ref), ("instance", CPU_INSTANCE.ref)))
GPU_INSTANCE = Var("gpu_instance", m.GPU_COUNT, "instance", "GPU exporter", chain=(("host", HOST.ref),))
GPU = Var("gpu", m.GPU_POWER, "gpu", "GPU", chain=(("host", HOST.ref), ("instance", GPU_INSTANCE.ref)))
CPU_HOST = {"host": HOST.ref, "instance": CPU_INSTANCE.ref}
CPU = {**CPU_HOST, "zone": ZONE.ref}
# the packages and DRAM among the selected zones
CPU_TOP = {**CPU_HOST, "zone": [ZONE.ref, ("=~", TOP_LEVEL_ZONES)]}
GPU_HOST = {"host": HOST.ref, "instance": GPU_INSTANCE.ref}
G = {**GPU_HOST, "gpu": GPU.ref}
SOURCE_NOTE = " Where the readings come from follows each name (simulated in orange)."


def cpu_watts(**matchers) -> Q:
    """Each selected package and DRAM zone's power, from its joules counter, with its RAPL source."""
    return cpu_source(rate(m.CPU_ENERGY, **matchers), **CPU_HOST)


def gpu_watts() -> tuple[Q, Q]:
    """Each selected GPU's power from NVML's joules counter, and (GPUs without one) from the
    exporter's integrated power gauge, with where the readings come from."""
    return (gpu_source(rate(m.GPU_ENERGY, **G), **GPU_HOST), gpu_source(rate(m.GPU_POWER_INTEGRATED, **G), **GPU_HOST))


def power_domains() -> list[T]:
    """The parts of the machine's power that add up to it, one stacked series each."""
    counter, integrated = gpu_watts()
    return [T(cpu_watts(**CPU_TOP), "{host} socket {socket} {zone} · {source}"),
            T(counter, "{host} GPU {gpu} · {source}"),
            T(integrated, "{host} GPU {gpu} (integrated power, estimate) · {source}")]


def machine_total() -> Q:
    """The machine's power: the sum of every domain, per host."""
    return by("sum", union(cpu_watts(**CPU_TOP), *gpu_watts()), "host")


TOTAL = "machine total"


def stacked_power(title: str, question: str, domains: list[T], *, with_total: bool = True) -> PanelSpec:
    """The domains stacked, with the machine's total (RAPL + NVML) as a dashed line beside them (not stacked)
    unless `with_total` is False (a split whose parts come from another source than the total's)."""
    total = [T(machine_total(), f"{{host}} {TOTAL}")] if with_total else []
    return timeseries(
        title, question + " Select one host to read its stack." + SOURCE_NOTE,
        *domains, *total,
        w=18, h=9, fillOpacity=60, legendCalcs=["mean", "lastNotNull"], stacking={"mode": "normal", "group": "A"},
        overrides=[{"matcher": {"id": "byRegexp", "options": f".*{TOTAL}.*"}, "properties": [
            {"id": "custom.stacking", "value": {"mode": "none", "group": "A"}},
            {"id": "custom.fillOpacity", "value": 0},
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}]}])


def _headline() -> list[PanelSpec]:
    return [
        stat("Machine power now",
             "What does the machine draw right now? CPU packages + DRAM (RAPL) + every GPU (NVML), per host, and "
             "the CPU's and the GPUs' parts with where their readings come from: a simulated or estimated figure "
             "says so, and simulated is orange.",
             T(machine_total(), "{host} machine"),
             T(by("sum", cpu_watts(**CPU_TOP), "host", "source"), "{host} CPU · {source}"),
             T(by("sum", union(*gpu_watts()), "host", "source"), "{host} GPUs · {source}"),
             w=6, h=9, textMode="value_and_name", orientation="horizontal"),
        stacked_power("Where the watts go",
                      "Where does the machine's power go? The CPU packages per socket, DRAM and each GPU, stacked: "
                      "they add up to the machine's total (the dashed line). Core and uncore are inside a package "
                      "and psys contains it: they are not stacked twice.", power_domains()),
    ]


def stream_parts() -> list[T]:
    """The machine's power as the streams exporter splits it: its live streams, everything else and idle
    (they add up to the machine's energy by construction), with where that energy came from."""
    h = {"host": HOST.ref}
    return [T(by("sum", streams_source(rate(m.STREAM_ENERGY, **h), **h), "host", "source"), "{host} streams · {source}"),
            T(streams_source(rate(m.HOST_OTHER_ENERGY, **h), **h), "{host} other · {source}"),
            T(streams_source(rate(m.HOST_IDLE_ENERGY, **h), **h), "{host} idle · {source}")]


def _streams() -> Row:
    streams, *rest = [t.q for t in stream_parts()]
    machine = by("sum", union(*rest, streams), "host", "source")
    return Row("Live streams (streams exporter)", [
        stat("Live streams' share of the machine",
             "What part of the machine's power do its live encodes (ffmpeg processes ffwatt did not start) draw "
             "right now? Their attributed watts over the machine's, as the streams exporter splits it.",
             T(divide(streams, machine), "{host} · {source}"), w=6, h=9),
        stacked_power("Where the watts go: live streams, everything else, idle",
                      "How does the machine's power split between its live streams, every other process (its CPU "
                      "time share of the active part and the CPUs it held) and idle (the idle power of the CPUs no "
                      "one held)? The three add up to the machine's energy as the streams exporter reads it (RAPL "
                      "and NVML in process, or the CPU model), whose source each series names.", stream_parts(),
                      with_total=False),
    ])


def _cpu_total(q: Q) -> T:
    """The host's packages + DRAM together, per source of the RAPL readings."""
    return T(by("sum", cpu_source(q, **CPU_HOST), "host", "source"), "CPU {host} · {source}")


def _cpu() -> Row:
    return Row("CPU (RAPL)", [
        stat("CPU power (packages + DRAM)",
             "What does the host's CPU draw right now? The sum of the package and DRAM zones only: core and uncore "
             "are parts of a package and psys contains it, so adding every zone would count energy twice.",
             _cpu_total(rate(m.CPU_ENERGY, **CPU_TOP)), w=6),
        stat("CPU energy over the range (packages + DRAM)",
             "How many joules did the host's CPU packages and DRAM use over the selected time range?",
             _cpu_total(increase(m.CPU_ENERGY, **CPU_TOP)), w=6),
        stat("RAPL zones",
             "How many RAPL zones does the exporter read (after dropping sub-zone and MMIO duplicates)? 0 means "
             "no RAPL or no permission to read energy_uj.",
             T(selector(m.CPU_ZONES, **CPU_HOST), "{instance} {host}"), thresholds=steps("red", (1, "green")), w=6),
        source_stat("RAPL source",
                    "Where does the exporter read the RAPL counters? powercap (the kernel's sysfs tree), hwmon "
                    "(amd_energy), or simulated (orange): a tree ffwatt's demo advances on a machine without RAPL, "
                    "whose joules are not measured (the runner then labels the scenarios' energy simulated too).",
                    m.CPU_SOURCE, CPU_HOST),
        stat("CPU power (sampled gauge)",
             "What do the packages and DRAM draw according to the exporter's own fixed-cadence sampling?",
             _cpu_total(selector(m.CPU_POWER, **CPU_TOP)), w=6),
        timeseries("CPU power per zone (from the joules counter)",
                   "How much power does each RAPL zone draw? Derived from the energy counter, so it holds between "
                   "scrapes. Zones overlap (core within package): do not stack them." + SOURCE_NOTE,
                   T(cpu_watts(**CPU), "socket {socket} {zone} {host} · {source}"), legendCalcs=["mean", "max"]),
        timeseries("CPU power per zone (sampled gauge)",
                   "The watts gauge the exporter samples itself: a cross-check of the counter-derived power.",
                   T(cpu_source(selector(m.CPU_POWER, **CPU), **CPU_HOST), "socket {socket} {zone} {host} · {source}"),
                   legendCalcs=["mean", "max"]),
        bargauge("CPU energy per zone over the range",
                 "How many joules did each zone use over the selected time range?" + SOURCE_NOTE,
                 T(cpu_source(increase(m.CPU_ENERGY, **CPU), **CPU_HOST), "socket {socket} {zone} {host} · {source}"),
                 w=24, h=6),
    ])


def dashboard() -> DashboardSpec:
    return DashboardSpec(
        uid=UID, title="ffwatt / Host power",
        description="What the machine draws and where the watts go (CPU packages, DRAM, GPUs), then CPU power and "
                    "energy per RAPL zone (cpu exporter), NVIDIA GPU power, energy, temperature, utilization "
                    "incl. NVENC/NVDEC, memory and clocks (gpu exporter), and the machine's power split between "
                    "its live streams, everything else and idle (streams exporter).",
        question="What does the machine draw right now, and where do the watts go?",
        headline=_headline(),
        rows=[_cpu(), gpu_row(G, GPU_HOST), _streams()], variables=[HOST, CPU_INSTANCE, ZONE, GPU_INSTANCE, GPU],
        tags=("host", "power"),
    )

