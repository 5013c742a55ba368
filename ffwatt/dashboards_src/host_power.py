"""Host power (uid host-power): CPU power from RAPL and NVIDIA GPU telemetry from NVML."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row, Var
from ffwatt.dashboards_src.panels import (
    T,
    bargauge,
    by,
    increase,
    rate,
    selector,
    stat,
    state_timeline,
    steps,
    table,
    timeseries,
    value_mappings,
)
from ffwatt.readers.powercap import ENERGY_ZONES

UID = "host-power"

# Zones whose energies add up to the host's CPU power without double counting: the rule is
# readers.powercap's ENERGY_ZONES (package and dram with their dies; never core, uncore, psys).
TOP_LEVEL_ZONES = "|".join(zone + ".*" for zone in ENERGY_ZONES)

# Lab hosts: the `host` label each host's vmagent adds (absent when VictoriaMetrics scrapes
# the exporters itself; "All" matches those too).
HOST = Var("host", m.CPU_ZONES, "host", "Lab host")
CPU_INSTANCE = Var("cpu_instance", m.CPU_ZONES, "instance", "CPU exporter")
ZONE = Var("zone", m.CPU_POWER, "zone", "RAPL zone")
GPU_INSTANCE = Var("gpu_instance", m.GPU_COUNT, "instance", "GPU exporter")
GPU = Var("gpu", m.GPU_POWER, "gpu", "GPU")
CPU = {"host": HOST.ref, "instance": CPU_INSTANCE.ref, "zone": ZONE.ref}
G = {"host": HOST.ref, "instance": GPU_INSTANCE.ref, "gpu": GPU.ref}
CPU_TOP = {"host": HOST.ref, "instance": CPU_INSTANCE.ref, "zone": TOP_LEVEL_ZONES}

# Energy per GPU is summed by UUID: NVML's index order is not guaranteed, so a GPU that moved
# index is still one GPU (and its counter never jumps). GPUs without an NVML energy counter
# count through the exporter's integrated power gauge, shown apart.
ENERGY_SOURCE = {"1": ("NVML counter", "green"), "0": ("integrated power (estimate)", "orange")}
ACTIVE = {"1": ("active", "red"), "0": ("no", "green")}


def dashboard() -> DashboardSpec:
    cpu_power = rate(m.CPU_ENERGY, **CPU)
    cpu = Row("CPU (RAPL)", [
        stat("CPU power (packages + DRAM)",
             "What does the host's CPU draw right now? The sum of the package and DRAM zones only: core and uncore "
             "are parts of a package and psys contains it, so adding every zone would count energy twice.",
             T(by("sum", rate(m.CPU_ENERGY, **CPU_TOP), "host"), "CPU {host}"), w=6),
        stat("CPU energy over the range (packages + DRAM)",
             "How many joules did the host's CPU packages and DRAM use over the selected time range?",
             T(by("sum", increase(m.CPU_ENERGY, **CPU_TOP), "host"), "CPU {host}"), w=6),
        stat("RAPL zones",
             "How many RAPL zones does the exporter read (after dropping sub-zone and MMIO duplicates)? 0 means "
             "no RAPL or no permission to read energy_uj.",
             T(selector(m.CPU_ZONES, host=HOST.ref, instance=CPU_INSTANCE.ref), "{instance} {host}"),
             thresholds=steps("red", (1, "green")), w=6),
        stat("RAPL source",
             "Where does the exporter read the RAPL counters? powercap (the kernel's sysfs tree), hwmon "
             "(amd_energy), or simulated: a tree ffwatt's demo advances on a machine without RAPL, whose joules "
             "are not measured (the runner then labels the scenarios' energy simulated too).",
             T(selector(m.CPU_SOURCE, host=HOST.ref, instance=CPU_INSTANCE.ref), "{source} {host}"), textMode="name",
             w=6),
        stat("CPU power (sampled gauge)",
             "What do the packages and DRAM draw according to the exporter's own fixed-cadence sampling?",
             T(by("sum", selector(m.CPU_POWER, **CPU_TOP), "host"), "CPU {host}"), w=6),
        timeseries("CPU power per zone (from the joules counter)",
                   "How much power does each RAPL zone draw? Derived from the energy counter, so it holds between "
                   "scrapes. Zones overlap (core within package): do not stack them.",
                   T(cpu_power, "socket {socket} {zone} {host}"), legendCalcs=["mean", "max"]),
        timeseries("CPU power per zone (sampled gauge)",
                   "The watts gauge the exporter samples itself: a cross-check of the counter-derived power.",
                   T(selector(m.CPU_POWER, **CPU), "socket {socket} {zone} {host}"), legendCalcs=["mean", "max"]),
        bargauge("CPU energy per zone over the range",
                 "How many joules did each zone use over the selected time range?",
                 T(increase(m.CPU_ENERGY, **CPU), "socket {socket} {zone} {host}"), w=24, h=6),
    ])
    gpu = Row("GPU (NVML)", [
        stat("GPUs",
             "How many NVIDIA GPUs does the exporter read? 0 is a valid state (no GPU, no driver, or a driver "
             "with no usable GPU): the GPU panels below are then empty. GPUs this process may not open, and lost "
             "GPUs, are not counted: the exporter's /health names them.",
             T(selector(m.GPU_COUNT, host=HOST.ref, instance=GPU_INSTANCE.ref), "{instance} {host}"), w=6),
        stat("GPU power now",
             "What do the selected GPUs draw together right now?",
             T(by("sum", selector(m.GPU_POWER, **G), "host"), "GPUs {host}"), w=6),
        stat("GPU energy over the range",
             "How many joules did the selected GPUs use over the selected time range? From NVML's energy counter, "
             "and for GPUs without one (before Volta, vGPU, Jetson) from the exporter's integrated power gauge, an "
             "estimate shown apart. Under MIG, the whole GPU's.",
             T(by("sum", increase(m.GPU_ENERGY, **G), "host"), "NVML counter {host}"),
             T(by("sum", increase(m.GPU_POWER_INTEGRATED, **G), "host"), "integrated power {host}"), w=6),
        stat("GPU memory used and reserved",
             "How much GPU memory do processes use on the selected GPUs together, and how much do the driver and "
             "firmware reserve? Where the driver lacks NVML memory v2 there is no reserved figure and used "
             "includes it (the exporter's /health details.memory_api says which).",
             T(by("sum", selector(m.GPU_MEMORY_USED, **G), "host"), "used {host}"),
             T(by("sum", selector(m.GPU_MEMORY_RESERVED, **G), "host"), "reserved {host}"), w=6),
        timeseries("GPU power and limit",
                   "How close does each GPU run to its enforced power limit?",
                   T(selector(m.GPU_POWER, **G), "GPU {gpu} power {host}"),
                   T(selector(m.GPU_POWER_LIMIT, **G), "GPU {gpu} limit {host}"), legendCalcs=["mean", "max"]),
        timeseries("GPU power from the energy counter",
                   "How much power does each GPU draw averaged over each step? Derived from the joules counter "
                   "(or, for a GPU without one, from the exporter's integrated power gauge).",
                   T(rate(m.GPU_ENERGY, **G), "GPU {gpu} {uuid} {host}"),
                   T(rate(m.GPU_POWER_INTEGRATED, **G), "GPU {gpu} {uuid} (integrated) {host}"),
                   legendCalcs=["mean", "max"]),
        bargauge("GPU energy per GPU over the range",
                 "How many joules did each physical GPU use over the selected time range? Summed by UUID, so a GPU "
                 "that NVML enumerated under another index (other --gpus, a reboot) stays one bar.",
                 T(by("sum", increase(m.GPU_ENERGY, **G), "uuid"), "{uuid}"),
                 T(by("sum", increase(m.GPU_POWER_INTEGRATED, **G), "uuid"), "{uuid} (integrated power)"),
                 w=12, h=6),
        stat("GPU energy source",
             "Where does each GPU's energy come from? NVML's energy counter, or, on GPUs without one (before Volta, "
             "vGPU, Jetson), the exporter's integration of the power gauge: an estimate, never a silent 0.",
             T(selector(m.GPU_NVML_ENERGY_SUPPORTED, **G), "GPU {gpu} {uuid} {host}"),
             unit="none", mappings=value_mappings(ENERGY_SOURCE), colorMode="background", w=12, h=6),
        timeseries("GPU temperature",
                   "How hot does each GPU run? Yellow from 75 °C, red from 85 °C.",
                   T(selector(m.GPU_TEMPERATURE, **G), "GPU {gpu} {host}"), thresholds=steps("green", (75, "yellow"),
                                                                                         (85, "red"))),
        timeseries("GPU and memory utilization",
                   "How busy is each GPU, and how busy is its memory?",
                   T(selector(m.GPU_UTILIZATION, **G), "GPU {gpu} core {host}"),
                   T(selector(m.GPU_MEMORY_UTILIZATION, **G), "GPU {gpu} memory {host}"), min=0, max=1),
        timeseries("NVENC / NVDEC load",
                   "How loaded are the hardware video encoder (NVENC) and decoder (NVDEC)?",
                   T(selector(m.GPU_ENCODER_UTILIZATION, **G), "GPU {gpu} NVENC {host}"),
                   T(selector(m.GPU_DECODER_UTILIZATION, **G), "GPU {gpu} NVDEC {host}"), min=0, max=1),
        timeseries("NVENC sessions",
                   "How many hardware encoding sessions are active on each GPU?",
                   T(selector(m.GPU_ENCODER_SESSIONS, **G), "GPU {gpu} {host}"), min=0),
        timeseries("NVENC frames per second",
                   "How fast do the active NVENC sessions encode, on average?",
                   T(selector(m.GPU_ENCODER_FPS, **G), "GPU {gpu} {host}")),
        timeseries("NVENC average latency",
                   "How long does NVENC take per frame, averaged over the active sessions? No line while no "
                   "session is active.",
                   T(selector(m.GPU_ENCODER_LATENCY, **G), "GPU {gpu} {host}"), min=0),
        timeseries("GPU memory",
                   "How much of each GPU's memory do processes use, how much do the driver and firmware reserve, "
                   "and how much is installed? (No reserved line where the driver lacks NVML memory v2: used "
                   "includes it there.)",
                   T(selector(m.GPU_MEMORY_USED, **G), "GPU {gpu} used {host}"),
                   T(selector(m.GPU_MEMORY_RESERVED, **G), "GPU {gpu} reserved {host}"),
                   T(selector(m.GPU_MEMORY_TOTAL, **G), "GPU {gpu} total {host}"), min=0),
        timeseries("GPU clocks",
                   "At what clocks do the graphics, SM and memory domains run? Drops under load mean power or "
                   "thermal throttling.",
                   T(selector(m.GPU_GRAPHICS_CLOCK, **G), "GPU {gpu} graphics {host}"),
                   T(selector(m.GPU_SM_CLOCK, **G), "GPU {gpu} SM {host}"),
                   T(selector(m.GPU_MEMORY_CLOCK, **G), "GPU {gpu} memory {host}"), w=24),
        state_timeline("GPU clock events (throttling)",
                       "Which clock-event (throttle) reasons held each GPU's clocks down, and when? A run throttled "
                       "by sw_power_cap or a thermal slowdown has its fps per watt set by the cap, not the encoder. "
                       "gpu_idle is normal on an idle GPU.",
                       T(selector(m.GPU_CLOCK_EVENT, **G), "GPU {gpu} {reason} {host}"),
                       unit="none", mappings=value_mappings(ACTIVE), h=8),
        table("GPU inventory",
              "Which GPUs are these: name, UUID, PCI bus id and driver version of each. NVML's index (gpu) can "
              "change between boots or containers; the UUID and PCI bus id stay with the GPU.",
              T(selector(m.GPU_INFO, **G), hide=True), h=6),
    ])
    return DashboardSpec(
        uid=UID, title="ffwatt / Host power",
        description="CPU power and energy per RAPL zone (cpu exporter) and NVIDIA GPU power, energy, temperature, "
                    "utilization incl. NVENC/NVDEC, memory and clocks (gpu exporter).",
        rows=[cpu, gpu], variables=[HOST, CPU_INSTANCE, ZONE, GPU_INSTANCE, GPU], tags=("host", "power"),
    )
