"""vmalert recording rules over the streams collector's series: each live stream's joules and cost
per viewer-hour over 5 minutes, so an alert can fire on a channel that costs too much.

    J per viewer-hour    = (J/s of the stream) x 3600 / viewers
    cost per viewer-hour = ((J/s) x 3600 / 3.6e6 x price per kWh            (energy cost per hour,
                            + (CPU s/s) x price per core-hour) / viewers      formulas.energy_cost and
                                                                              formulas.compute_cost per hour)

over `rate(...[5m])` of the streams' joules and CPU-seconds counters (`m.STREAM_ENERGY`,
`m.STREAM_CPU`, summed by `stream` over the encoding hosts), with viewers = nginx-rtmp's clients
minus its publisher (`m.RTMP_STREAM_CLIENTS - m.RTMP_STREAM_PUBLISHING`, 5 min averages, summed by
`stream` over the ingest servers) and the prices the cost exporter serves (`m.COST_ENERGY_PRICE`,
`m.COST_CORE_HOUR_PRICE`, by `currency`). Metric names come from the catalog constants only. The two sides join on `stream` with no relabelling because the streams and rtmp
exporters name a stream alike (`readers.streams.identity`). A stream without viewers has no value
(a cost per viewer-hour with no viewer is unknown, not infinite); without a price, no cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffwatt.catalog import metrics as m
from ffwatt.contract.formulas import JOULES_PER_KWH

__all__ = ["RecordingRule", "recording_rules", "ENERGY_PER_VIEWER_HOUR", "COST_PER_VIEWER_HOUR", "WINDOW"]

GROUP = "ffwatt-streams"
WINDOW = "5m"
SECONDS_PER_HOUR = 3600
# level:metric:operations (Prometheus' naming of recorded series)
ENERGY_PER_VIEWER_HOUR = f"stream:ffwatt_stream_energy_joules_per_viewer_hour:rate{WINDOW}"
COST_PER_VIEWER_HOUR = f"stream:ffwatt_stream_cost_per_viewer_hour:rate{WINDOW}"


@dataclass(frozen=True)
class RecordingRule:
    group: str
    record: str
    expr: str
    comment: str


def _per_hour(counter) -> str:
    return f"sum by (stream) (rate({counter.name}[{WINDOW}])) * {SECONDS_PER_HOUR}"


def _viewers() -> str:
    clients = f"avg_over_time({m.RTMP_STREAM_CLIENTS.name}[{WINDOW}])"
    publisher = f"avg_over_time({m.RTMP_STREAM_PUBLISHING.name}[{WINDOW}])"
    return f"(sum by (stream) ({clients} - {publisher}) > 0)"


def _price(metric) -> str:
    return f"on () group_left (currency) max by (currency) ({metric.name})"


def recording_rules() -> list[RecordingRule]:
    """The rules, built from catalog constants (no metric name is typed here)."""
    energy_cost = f"{_per_hour(m.STREAM_ENERGY)} / {int(JOULES_PER_KWH)} * {_price(m.COST_ENERGY_PRICE)}"
    # CPU seconds per second are cores: x 3600 s / 3600 s per core-hour, x the price per core-hour
    compute_cost = f"sum by (stream) (rate({m.STREAM_CPU.name}[{WINDOW}])) * {_price(m.COST_CORE_HOUR_PRICE)}"
    return [
        RecordingRule(
            GROUP, ENERGY_PER_VIEWER_HOUR,
            f"{_per_hour(m.STREAM_ENERGY)} / on (stream) {_viewers()}",
            "joules a stream draws per viewer-hour: its attributed watts x 3600 / its viewers (5 min)"),
        RecordingRule(
            GROUP, COST_PER_VIEWER_HOUR,
            f"({energy_cost} + on (stream, currency) {compute_cost}) / on (stream) group_left () {_viewers()}",
            "energy + compute cost of a stream per viewer-hour, in the cost exporter's currency (5 min)"),
    ]
