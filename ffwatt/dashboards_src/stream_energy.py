"""A live stream's energy figures in PromQL, written once: the live dashboard's panels
(`live_energy`) and vmalert's recording rules (`ffwatt/deploy/recording_rules.py`, the dashboard's
`$__rate_interval` replaced by their 5 minute window) are both built here.

    watts = stream_watts(E, EH)                 W per stream: sum by (stream) of rate(its joules counter)
    cores = stream_cores(E)                     CPU cores per stream: sum by (stream) of rate(CPU seconds)
    audience = viewers(R)                       nginx-rtmp's clients minus the publisher, each a mean over the
                                                window, summed by stream over the ingest servers; only > 0
    joules_per_viewer_hour(watts, audience)     W x 3600 s / viewers
    cost_per_viewer_hour(watts, cores, audience)
        (W x 3600 s / 3.6e6 J/kWh x price per kWh + cores x price per core-hour) / viewers,
        in each currency the cost exporter prices in (formulas.energy_cost and compute_cost, per hour)
    joules_per_frame(watts, R)                  W / the frame rate the stream's publisher announced

Energy and viewers join on `stream` with no relabelling: the streams exporter (encoding hosts) and the
rtmp exporter (ingest servers) name a stream alike (`readers.streams.identity`). A stream without
viewers has no figure per viewer-hour (unknown, not infinite); without a price, no cost. `E` filters
the streams' series, `EH` the host's (the collector's energy source), `R` nginx-rtmp's; `EH` None:
without the source (the recording rules, which keep `stream` and `currency` only).
"""

from __future__ import annotations

from typing import Any

from ffwatt.catalog import metrics as m
from ffwatt.contract.formulas import JOULES_PER_KWH, SECONDS_PER_HOUR
from ffwatt.dashboards_src.promql import (
    Q,
    above,
    add,
    by,
    divide,
    over_time,
    priced,
    rate,
    scale,
    selector,
    subtract,
)
from ffwatt.dashboards_src.provenance import streams_source

__all__ = ["stream_watts", "stream_cores", "viewers", "joules_per_viewer_hour", "cost_per_viewer_hour",
           "joules_per_frame"]

Filters = dict[str, Any]
STREAM = ("stream",)


def stream_watts(e: Filters | None = None, eh: Filters | None = None) -> Q:
    """Each stream's attributed watts (with its energy `source` when `eh` is given)."""
    watts = rate(m.STREAM_ENERGY, **(e or {}))
    if eh is None:
        return by("sum", watts, "stream")
    return by("sum", streams_source(watts, **eh), "stream", "source")


def stream_cores(e: Filters | None = None) -> Q:
    return by("sum", rate(m.STREAM_CPU, **(e or {})), "stream")


def viewers(r: Filters | None = None) -> Q:
    clients = by("sum", over_time("avg", m.RTMP_STREAM_CLIENTS, **(r or {})), "stream")
    publisher = by("sum", over_time("avg", m.RTMP_STREAM_PUBLISHING, **(r or {})), "stream")
    return above(subtract(clients, publisher), 0)


def joules_per_viewer_hour(watts: Q, audience: Q) -> Q:
    return divide(scale(watts, SECONDS_PER_HOUR), audience, on=STREAM, group_left=True)


def cost_per_viewer_hour(watts: Q, cores: Q, audience: Q) -> Q:
    kilowatts = scale(watts, SECONDS_PER_HOUR / JOULES_PER_KWH)  # kWh per hour
    energy = priced(kilowatts, by("max", selector(m.COST_ENERGY_PRICE), "currency"))
    # CPU seconds per second are cores: x 3600 s / 3600 s per core-hour, x the price per core-hour
    compute = priced(cores, by("max", selector(m.COST_CORE_HOUR_PRICE), "currency"))
    total = add(energy, compute, on=("stream", "currency"), group_left=True)
    return divide(total, audience, on=STREAM, group_left=True)


def joules_per_frame(watts: Q, r: Filters | None = None) -> Q:
    """J/s over frames/s: a live stream encodes in real time, so its frames per second are its frame rate
    (one behind real time encodes fewer: its joules per frame read low)."""
    fps = by("avg", selector(m.RTMP_STREAM_FPS, **(r or {})), "stream")
    return divide(watts, fps, on=STREAM, group_left=True)
