"""Host power (uid host-power): CPU power from RAPL and NVIDIA GPU telemetry from NVML."""

from __future__ import annotations

from catalog import metrics as m
from dashboards_src.dashboard import DashboardSpec, Row, Var
from dashboards_src.panels import (
    T,
    bargauge,
    by,
    increase,
    rate,
    selector,
    stat,
    steps,
    table,
    timeseries,
)

UID = "host-power"

CPU_INSTANCE = Var("cpu_instance", m.CPU_ZONES, "instance", "CPU exporter")
ZONE = Var("zone", m.CPU_POWER, "zone", "RAPL zone")
GPU_INSTANCE = Var("gpu_instance", m.GPU_COUNT, "instance", "GPU exporter")
GPU = Var("gpu", m.GPU_POWER, "gpu", "GPU")
CPU = {"instance": CPU_INSTANCE.ref, "zone": ZONE.ref}
G = {"instance": GPU_INSTANCE.ref, "gpu": GPU.ref}

# Zones whose energies add up to the host's CPU power without double counting: the
# packages (core and uncore are inside them) and DRAM (outside them). psys (platform)
# already contains the packages and is left out. Names as exporters/rapl.py writes them.
TOP_LEVEL_ZONES = "package.*|dram.*"


def dashboard() -> DashboardSpec:
    cpu_power = rate(m.CPU_ENERGY, **CPU)
    cpu = Row("CPU (RAPL)", [
        stat("CPU power (packages + DRAM)",
             "What does the host's CPU draw right now? The sum of the package and DRAM zones only: core and uncore "
             "are parts of a package and psys contains it, so adding every zone would count energy twice.",
             T(by("sum", rate(m.CPU_ENERGY, instance=CPU_INSTANCE.ref, zone=TOP_LEVEL_ZONES)), "CPU"), w=6),
        stat("CPU energy over the range (packages + DRAM)",
             "How many joules did the host's CPU packages and DRAM use over the selected time range?",
             T(by("sum", increase(m.CPU_ENERGY, instance=CPU_INSTANCE.ref, zone=TOP_LEVEL_ZONES)), "CPU"), w=6),
        stat("RAPL zones",
             "How many RAPL zones does the exporter read (after dropping sub-zone and MMIO duplicates)? 0 means "
             "no RAPL or no permission to read energy_uj.",
             T(selector(m.CPU_ZONES, instance=CPU_INSTANCE.ref), "{instance}"),
             thresholds=steps("red", (1, "green")), w=6),
        stat("CPU power (sampled gauge)",
             "What do the packages and DRAM draw according to the exporter's own fixed-cadence sampling?",
             T(by("sum", selector(m.CPU_POWER, instance=CPU_INSTANCE.ref, zone=TOP_LEVEL_ZONES)), "CPU"), w=6),
        timeseries("CPU power per zone (from the joules counter)",
                   "How much power does each RAPL zone draw? Derived from the energy counter, so it holds between "
                   "scrapes. Zones overlap (core within package): do not stack them.",
                   T(cpu_power, "socket {socket} {zone}"), legendCalcs=["mean", "max"]),
        timeseries("CPU power per zone (sampled gauge)",
                   "The watts gauge the exporter samples itself: a cross-check of the counter-derived power.",
                   T(selector(m.CPU_POWER, **CPU), "socket {socket} {zone}"), legendCalcs=["mean", "max"]),
        bargauge("CPU energy per zone over the range",
                 "How many joules did each zone use over the selected time range?",
                 T(increase(m.CPU_ENERGY, **CPU), "socket {socket} {zone}"), w=24, h=6),
    ])
    gpu = Row("GPU (NVML)", [
        stat("GPUs",
             "How many NVIDIA GPUs does NVML report? 0 is a valid state (no GPU or no driver): the GPU panels "
             "below are then empty.",
             T(selector(m.GPU_COUNT, instance=GPU_INSTANCE.ref), "{instance}"), w=6),
        stat("GPU power now",
             "What do the selected GPUs draw together right now?",
             T(by("sum", selector(m.GPU_POWER, **G)), "GPUs"), w=6),
        stat("GPU energy over the range",
             "How many joules did the selected GPUs use over the selected time range?",
             T(by("sum", increase(m.GPU_ENERGY, **G)), "GPUs"), w=6),
        stat("GPU memory in use",
             "How much GPU memory is in use on the selected GPUs together?",
             T(by("sum", selector(m.GPU_MEMORY_USED, **G)), "used"), w=6),
        timeseries("GPU power and limit",
                   "How close does each GPU run to its enforced power limit?",
                   T(selector(m.GPU_POWER, **G), "GPU {gpu} power"),
                   T(selector(m.GPU_POWER_LIMIT, **G), "GPU {gpu} limit"), legendCalcs=["mean", "max"]),
        timeseries("GPU power from the energy counter",
                   "How much power does each GPU draw averaged over each step? Derived from the joules counter.",
                   T(rate(m.GPU_ENERGY, **G), "GPU {gpu}"), legendCalcs=["mean", "max"]),
        timeseries("GPU temperature",
                   "How hot does each GPU run? Yellow from 75 °C, red from 85 °C.",
                   T(selector(m.GPU_TEMPERATURE, **G), "GPU {gpu}"), thresholds=steps("green", (75, "yellow"),
                                                                                         (85, "red"))),
        timeseries("GPU and memory utilization",
                   "How busy is each GPU, and how busy is its memory?",
                   T(selector(m.GPU_UTILIZATION, **G), "GPU {gpu} core"),
                   T(selector(m.GPU_MEMORY_UTILIZATION, **G), "GPU {gpu} memory"), min=0, max=1),
        timeseries("NVENC / NVDEC load",
                   "How loaded are the hardware video encoder (NVENC) and decoder (NVDEC)?",
                   T(selector(m.GPU_ENCODER_UTILIZATION, **G), "GPU {gpu} NVENC"),
                   T(selector(m.GPU_DECODER_UTILIZATION, **G), "GPU {gpu} NVDEC"), min=0, max=1),
        timeseries("NVENC sessions",
                   "How many hardware encoding sessions are active on each GPU?",
                   T(selector(m.GPU_ENCODER_SESSIONS, **G), "GPU {gpu}"), min=0),
        timeseries("NVENC frames per second",
                   "How fast do the active NVENC sessions encode, on average?",
                   T(selector(m.GPU_ENCODER_FPS, **G), "GPU {gpu}")),
        timeseries("GPU memory",
                   "How much of each GPU's memory is in use?",
                   T(selector(m.GPU_MEMORY_USED, **G), "GPU {gpu} used"),
                   T(selector(m.GPU_MEMORY_TOTAL, **G), "GPU {gpu} total"), min=0),
        timeseries("GPU clocks",
                   "At what clocks do the graphics, SM and memory domains run? Drops under load mean power or "
                   "thermal throttling.",
                   T(selector(m.GPU_GRAPHICS_CLOCK, **G), "GPU {gpu} graphics"),
                   T(selector(m.GPU_SM_CLOCK, **G), "GPU {gpu} SM"),
                   T(selector(m.GPU_MEMORY_CLOCK, **G), "GPU {gpu} memory"), w=24),
        table("GPU inventory",
              "Which GPUs are these: name, UUID, PCI bus id and driver version of each.",
              T(selector(m.GPU_INFO, **G), hide=True), h=6),
    ])
    return DashboardSpec(
        uid=UID, title="ffwatt / Host power",
        description="CPU power and energy per RAPL zone (cpu exporter) and NVIDIA GPU power, energy, temperature, "
                    "utilization incl. NVENC/NVDEC, memory and clocks (gpu exporter).",
        rows=[cpu, gpu], variables=[CPU_INSTANCE, ZONE, GPU_INSTANCE, GPU], tags=("host", "power"),
    )
