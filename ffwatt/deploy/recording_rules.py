"""vmalert recording rules over the streams collector's series: each live stream's joules and cost
per viewer-hour over 5 minutes, so an alert can fire on a channel that costs too much.

    J per viewer-hour    = (J/s of the stream) x 3600 / viewers
    cost per viewer-hour = ((J/s) x 3600 / 3.6e6 x price per kWh            (energy cost per hour,
                            + (CPU s/s) x price per core-hour) / viewers      formulas.energy_cost and
                                                                              formulas.compute_cost per hour)

The expressions are the live dashboard's (`dashboards_src.stream_energy`, one place for the formula)
with its `$__rate_interval` replaced by 5 minutes: `rate(...[5m])` of the streams' joules and
CPU-seconds counters summed by `stream` over the encoding hosts, viewers = nginx-rtmp's clients minus
its publisher (5 min means, summed by `stream` over the ingest servers) and the prices the cost
exporter serves (by `currency`). The two sides join on `stream` with no relabelling because the
streams and rtmp exporters name a stream alike (`readers.streams.identity`). A stream without viewers
has no value (a cost per viewer-hour with no viewer is unknown, not infinite); without a price, no cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffwatt.catalog import RECORDED_STREAM_COST_PER_VIEWER_HOUR, RECORDED_STREAM_ENERGY_PER_VIEWER_HOUR
from ffwatt.dashboards_src.promql import RATE_INTERVAL
from ffwatt.dashboards_src.stream_energy import (
    cost_per_viewer_hour,
    joules_per_viewer_hour,
    stream_cores,
    stream_watts,
    viewers,
)

__all__ = ["RecordingRule", "recording_rules", "ENERGY_PER_VIEWER_HOUR", "COST_PER_VIEWER_HOUR", "WINDOW"]

GROUP = "ffwatt-streams"
WINDOW = "5m"
# level:metric:operations (Prometheus' naming of recorded series)
ENERGY_PER_VIEWER_HOUR = f"stream:{RECORDED_STREAM_ENERGY_PER_VIEWER_HOUR}:rate{WINDOW}"
COST_PER_VIEWER_HOUR = f"stream:{RECORDED_STREAM_COST_PER_VIEWER_HOUR}:rate{WINDOW}"


@dataclass(frozen=True)
class RecordingRule:
    group: str
    record: str
    expr: str
    comment: str


def _over_window(q: str) -> str:
    return str(q).replace(RATE_INTERVAL, WINDOW)


def recording_rules() -> list[RecordingRule]:
    """The rules, built by the dashboard's functions (no metric name or formula is typed here)."""
    watts = stream_watts()
    return [
        RecordingRule(
            GROUP, ENERGY_PER_VIEWER_HOUR, _over_window(joules_per_viewer_hour(watts, viewers())),
            "joules a stream draws per viewer-hour: its attributed watts x 3600 / its viewers (5 min)"),
        RecordingRule(
            GROUP, COST_PER_VIEWER_HOUR, _over_window(cost_per_viewer_hour(watts, stream_cores(), viewers())),
            "energy + compute cost of a stream per viewer-hour, in the cost exporter's currency (5 min)"),
    ]
