"""The host power dashboard's GPU row (NVML, gpu exporter): power and energy with where the readings
come from, then temperature, utilisation, NVENC/NVDEC, memory, clocks, throttling, inventory."""

from __future__ import annotations

from ffwatt.catalog import Metric
from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import Row
from ffwatt.dashboards_src.panels import T, bargauge, stat, state_timeline, steps, table, timeseries, value_mappings
from ffwatt.dashboards_src.promql import by, increase, rate, selector
from ffwatt.dashboards_src.provenance import gpu_source, source_stat

# Energy per GPU is summed by UUID: NVML's index order is not guaranteed, so a GPU that moved
# index is still one GPU (and its counter never jumps). GPUs without an NVML energy counter
# count through the exporter's integrated power gauge, shown apart.
ENERGY_SOURCE = {"1": ("NVML counter", "green"), "0": ("integrated power (estimate)", "orange")}
ACTIVE = {"1": ("active", "red"), "0": ("no", "green")}
SOURCE_NOTE = " Where the readings come from follows each name (simulated in orange)."


def _per_gpu(metric: Metric, g: dict[str, str], what: str = "") -> T:
    """One series per GPU over the filters `g`, named `GPU <gpu> [<what>] <host>`."""
    return T(selector(metric, **g), f"GPU {{gpu}} {what} {{host}}" if what else "GPU {gpu} {host}")


def _power(g: dict[str, str], host: dict[str, str]) -> list:
    def src(q):
        return gpu_source(q, **host)

    return [
        stat("GPUs",
             "How many NVIDIA GPUs does the exporter read? 0 is a valid state (no GPU, no driver, or a driver "
             "with no usable GPU): the GPU panels below are then empty. GPUs this process may not open, and lost "
             "GPUs, are not counted: the exporter's /health names them.",
             T(selector(m.GPU_COUNT, **host), "{instance} {host}"), w=4),
        source_stat("GPU source",
                    "Where do the GPU readings come from? nvml (the NVIDIA driver) or simulated (orange): a fake "
                    "NVML such as ffwatt's demo uses, whose watts and joules are not measured.",
                    m.GPU_SOURCE, host, w=4),
        stat("GPU power now",
             "What do the selected GPUs draw together right now?",
             T(by("sum", src(selector(m.GPU_POWER, **g)), "host", "source"), "GPUs {host} · {source}"), w=5),
        stat("GPU energy over the range",
             "How many joules did the selected GPUs use over the selected time range? From NVML's energy counter, "
             "and for GPUs without one (before Volta, vGPU, Jetson) from the exporter's integrated power gauge, an "
             "estimate shown apart. Under MIG, the whole GPU's.",
             T(by("sum", src(increase(m.GPU_ENERGY, **g)), "host", "source"), "NVML counter {host} · {source}"),
             T(by("sum", src(increase(m.GPU_POWER_INTEGRATED, **g)), "host", "source"),
               "integrated power (estimate) {host} · {source}"), w=5),
        stat("GPU memory used and reserved",
             "How much GPU memory do processes use on the selected GPUs together, and how much do the driver and "
             "firmware reserve? Where the driver lacks NVML memory v2 there is no reserved figure and used "
             "includes it (the exporter's /health details.memory_api says which).",
             T(by("sum", selector(m.GPU_MEMORY_USED, **g), "host"), "used {host}"),
             T(by("sum", selector(m.GPU_MEMORY_RESERVED, **g), "host"), "reserved {host}"), w=6),
        timeseries("GPU power and limit",
                   "How close does each GPU run to its enforced power limit?" + SOURCE_NOTE,
                   T(src(selector(m.GPU_POWER, **g)), "GPU {gpu} power {host} · {source}"),
                   T(src(selector(m.GPU_POWER_LIMIT, **g)), "GPU {gpu} limit {host} · {source}"),
                   legendCalcs=["mean", "max"]),
        timeseries("GPU power from the energy counter",
                   "How much power does each GPU draw averaged over each step? Derived from the joules counter "
                   "(or, for a GPU without one, from the exporter's integrated power gauge, an estimate)."
                   + SOURCE_NOTE,
                   T(src(rate(m.GPU_ENERGY, **g)), "GPU {gpu} {uuid} {host} · {source}"),
                   T(src(rate(m.GPU_POWER_INTEGRATED, **g)), "GPU {gpu} {uuid} (integrated, estimate) {host} · {source}"),
                   legendCalcs=["mean", "max"]),
        bargauge("GPU energy per GPU over the range",
                 "How many joules did each physical GPU use over the selected time range? Summed by UUID, so a GPU "
                 "that NVML enumerated under another index (other --gpus, a reboot) stays one bar." + SOURCE_NOTE,
                 T(by("sum", src(increase(m.GPU_ENERGY, **g)), "uuid", "source"), "{uuid} · {source}"),
                 T(by("sum", src(increase(m.GPU_POWER_INTEGRATED, **g)), "uuid", "source"),
                   "{uuid} (integrated power, estimate) · {source}"), w=12, h=6),
        stat("GPU energy counter",
             "Where does each GPU's energy come from? NVML's energy counter, or, on GPUs without one (before Volta, "
             "vGPU, Jetson), the exporter's integration of the power gauge: an estimate, never a silent 0.",
             _per_gpu(m.GPU_NVML_ENERGY_SUPPORTED, g, "{uuid}"),
             mappings=value_mappings(ENERGY_SOURCE), colorMode="background", w=12, h=6),
    ]


def _activity(g: dict[str, str]) -> list:
    return [
        timeseries("GPU temperature",
                   "How hot does each GPU run? Yellow from 75 °C, red from 85 °C.",
                   _per_gpu(m.GPU_TEMPERATURE, g),
                   thresholds=steps("green", (75, "yellow"), (85, "red"))),
        timeseries("GPU and memory utilization",
                   "How busy is each GPU, and how busy is its memory?",
                   _per_gpu(m.GPU_UTILIZATION, g, "core"),
                   _per_gpu(m.GPU_MEMORY_UTILIZATION, g, "memory"), min=0, max=1),
        timeseries("NVENC / NVDEC load",
                   "How loaded are the hardware video encoder (NVENC) and decoder (NVDEC)?",
                   _per_gpu(m.GPU_ENCODER_UTILIZATION, g, "NVENC"),
                   _per_gpu(m.GPU_DECODER_UTILIZATION, g, "NVDEC"), min=0, max=1),
        timeseries("NVENC sessions",
                   "How many hardware encoding sessions are active on each GPU?",
                   _per_gpu(m.GPU_ENCODER_SESSIONS, g), min=0),
        timeseries("NVENC frames per second",
                   "How fast do the active NVENC sessions encode, on average?",
                   _per_gpu(m.GPU_ENCODER_FPS, g)),
        timeseries("NVENC average latency",
                   "How long does NVENC take per frame, averaged over the active sessions? No line while no "
                   "session is active.",
                   _per_gpu(m.GPU_ENCODER_LATENCY, g), min=0),
    ]


def _hardware(g: dict[str, str]) -> list:
    return [
        timeseries("GPU memory",
                   "How much of each GPU's memory do processes use, how much do the driver and firmware reserve, "
                   "and how much is installed? (No reserved line where the driver lacks NVML memory v2: used "
                   "includes it there.)",
                   _per_gpu(m.GPU_MEMORY_USED, g, "used"),
                   _per_gpu(m.GPU_MEMORY_RESERVED, g, "reserved"),
                   _per_gpu(m.GPU_MEMORY_TOTAL, g, "total"), min=0),
        timeseries("GPU clocks",
                   "At what clocks do the graphics, SM and memory domains run? Drops under load mean power or "
                   "thermal throttling.",
                   _per_gpu(m.GPU_GRAPHICS_CLOCK, g, "graphics"),
                   _per_gpu(m.GPU_SM_CLOCK, g, "SM"),
                   _per_gpu(m.GPU_MEMORY_CLOCK, g, "memory"), w=24),
        state_timeline("GPU clock events (throttling)",
                       "Which clock-event (throttle) reasons held each GPU's clocks down, and when? A run throttled "
                       "by sw_power_cap or a thermal slowdown has its fps per watt set by the cap, not the encoder. "
                       "gpu_idle is normal on an idle GPU.",
                       _per_gpu(m.GPU_CLOCK_EVENT, g, "{reason}"),
                       mappings=value_mappings(ACTIVE), h=8),
        table("GPU inventory",
              "Which GPUs are these: name, UUID, PCI bus id and driver version of each. NVML's index (gpu) can "
              "change between boots or containers; the UUID and PCI bus id stay with the GPU.",
              T(selector(m.GPU_INFO, **g), hide=True), h=6),
    ]


def gpu_row(g: dict[str, str], host: dict[str, str]) -> Row:
    """The GPU row over the GPU filters `g` (host, exporter, gpu) and `host` (host, exporter)."""
    return Row("GPU (NVML)", _power(g, host) + _activity(g) + _hardware(g))
