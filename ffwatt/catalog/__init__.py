"""The ffwatt metric catalog: every metric and every exporter, declared once.

    from ffwatt.catalog import METRICS, EXPORTERS, metrics_of
    from ffwatt.catalog import metrics as m      # m.CPU_ENERGY, m.QOE_VMAF, ...
"""

from __future__ import annotations

from ffwatt.catalog import metrics
from ffwatt.catalog.exporters import EXPORTERS
from ffwatt.catalog.model import ALLOWED_LABELS, KINDS, UNITS, Exporter, Metric

# Every Metric declared in catalog.metrics, in declaration order.
METRICS: dict[str, Metric] = {
    value.name: value for value in vars(metrics).values() if isinstance(value, Metric)
}

# The longest label value an exporter serves (`--max-label-length`; the results loader's cap too):
# a label value is repeated in every series of every scrape.
MAX_LABEL_VALUE_LENGTH = 256

# Series no exporter serves: vmalert records them from the streams and rtmp exporters' series
# (ffwatt/deploy/recording_rules.py, named `stream:<name>:rate5m`): a live stream's joules and cost
# per viewer-hour.
RECORDED_STREAM_ENERGY_PER_VIEWER_HOUR = "ffwatt_stream_energy_joules_per_viewer_hour"
RECORDED_STREAM_COST_PER_VIEWER_HOUR = "ffwatt_stream_cost_per_viewer_hour"

# Bounded reasons the health checker reports for a target (label `reason`).
HEALTH_REASONS = (
    "ok",
    "refused",
    "timeout",
    "connection_error",
    "http_status",
    "empty_body",
    "invalid_exposition",
    "missing_metrics",
    "health_failing",
)

# Where a scenario's energy came from (label `source` of COST_ENERGY_SOURCE): measured
# joules counters (rapl, nvml, rapl+nvml, read by the runner), power samples in the
# results file, the TSDB's counters, the CPU power model (an estimate), a simulator
# (ffwatt's sample files), or nowhere.
ENERGY_SOURCES = ("rapl", "nvml", "rapl+nvml", "samples", "tsdb", "model", "simulated", "unavailable")
MEASURED_ENERGY_SOURCES = ("rapl", "nvml", "rapl+nvml", "samples", "tsdb")

# Rules that split a machine's energy into a scenario's share (label `attribution` of
# COST_ENERGY_ATTRIBUTION; several are joined by "+", e.g. "cpu-time-share+gpu-whole"): the
# scenario's CPU time against the machine's (Kepler, Scaphandre), the machine's whole energy on
# a machine nothing else ran on, NVML's per-process GPU utilisation or the whole GPU, the whole
# machine's energy charged without a split (the TSDB's joules counters), or a rule ffwatt does
# not know (`other`, so the label stays bounded).
ENERGY_ATTRIBUTIONS = ("cpu-time-share", "exclusive", "gpu-process-utilisation", "gpu-whole", "whole-machine",
                       "other")

# Reasons an ffmpeg progress push or line is rejected / a stream ends.
FFMPEG_REJECT_REASONS = (
    "bad_path", "bad_stream_name", "too_large", "bad_line", "bad_value", "timeout", "too_many_streams",
    "not_allowed", "unauthorized", "stream_taken", "rate_limited",
)
FFMPEG_END_REASONS = ("end", "silent")


def metrics_of(exporter: str) -> tuple[Metric, ...]:
    """Metrics an exporter emits: its own plus the runtime self-metrics all emit."""
    if exporter not in EXPORTERS:
        raise KeyError(f"unknown exporter {exporter!r}; known: {', '.join(EXPORTERS)}")
    return tuple(m for m in METRICS.values() if m.exporter in (exporter, None))


def metric(name: str) -> Metric:
    """Look a metric up by its exposed name (raises KeyError naming it)."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in the ffwatt catalog") from None


def _check() -> None:
    seen_ports: dict[int, str] = {}
    for e in EXPORTERS.values():
        if e.port in seen_ports:
            raise ValueError(f"exporters {seen_ports[e.port]} and {e.name} share port {e.port}")
        seen_ports[e.port] = e.name
    declared = [v for v in vars(metrics).values() if isinstance(v, Metric)]
    if len(declared) != len(METRICS):
        raise ValueError("two catalog metrics share a name")
    for m in METRICS.values():
        if m.exporter is not None and m.exporter not in EXPORTERS:
            raise ValueError(f"metric {m.name} names unknown exporter {m.exporter!r}")


_check()

__all__ = [
    "ALLOWED_LABELS",
    "ENERGY_ATTRIBUTIONS",
    "ENERGY_SOURCES",
    "MEASURED_ENERGY_SOURCES",
    "EXPORTERS",
    "FFMPEG_END_REASONS",
    "FFMPEG_REJECT_REASONS",
    "HEALTH_REASONS",
    "KINDS",
    "METRICS",
    "RECORDED_STREAM_COST_PER_VIEWER_HOUR",
    "RECORDED_STREAM_ENERGY_PER_VIEWER_HOUR",
    "UNITS",
    "Exporter",
    "Metric",
    "metric",
    "metrics",
    "metrics_of",
]
