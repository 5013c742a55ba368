"""Where each energy figure came from, carried on the figure itself as a `source` label.

    scenario_source(q, **filters)   a scenario figure (joules, watts, cost, carbon, per-watt ...) with
                                    its scenario's energy source: rapl, nvml, samples, tsdb (measured),
                                    "estimated (model)", simulated, unavailable
    cpu_source(q, **filters)        a RAPL figure with where the counters are read: powercap, hwmon,
                                    simulated
    gpu_source(q, **filters)        an NVML figure with nvml or simulated
    streams_source(q, **filters)    a live stream's (or the host's other, idle) energy figure with where the
                                    streams collector's machine energy came from: rapl, nvml, rapl+nvml,
                                    "estimated (model)", simulated
    PROVENANCE                      energy metric -> the info metric that says where it came from

A legend or a table column then shows the source, and `palette` marks "simulated" in the
warning colour, so a modelled or simulated joule is never read as a measured one. The join is
`q * on (the series' identity) group_left (source) info`: the info series are 1, so the value is
q's. Join before aggregating: `sum by (host, source) (cpu_source(rate(...)))`.
"""

from __future__ import annotations

from typing import Any

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src import palette
from ffwatt.dashboards_src.palette import ESTIMATED
from ffwatt.dashboards_src.panels import PanelSpec, T, stat
from ffwatt.dashboards_src.promql import Q, by, is_one, join_label, relabel, selector, spread

# The labels that identify a scenario's series across the results, qoe and cost exporters.
SCENARIO_IDENTITY = m.SCENARIO
# A per-host exporter's series: its scrape target (and the lab host its vmagent adds).
TARGET_IDENTITY = ("job", "instance", "host")


def scenario_source(q: Q, **filters: Any) -> Q:
    """q with its scenario's energy source; the model's figure reads "estimated (model)"."""
    source = is_one(selector(m.COST_ENERGY_SOURCE, **filters))
    joined = join_label(q, source, "source", on=SCENARIO_IDENTITY)
    return relabel(joined, "source", ESTIMATED, "model")


def sweep_sources(step: Q, **filters: Any) -> Q:
    """A capacity sweep step's figure (labels sweep, scenario) with its scenario's energy source
    (`filters`: the scenario filters, so a step of a filtered-out scenario is left out too)."""
    source = is_one(selector(m.COST_ENERGY_SOURCE, **filters))
    return relabel(join_label(step, source, "source", on=("scenario",)), "source", ESTIMATED, "model")


def sweep_figure_sources(figure: Q, step: Q, **filters: Any) -> Q:
    """A whole sweep's figure (label sweep) once per energy source of its steps."""
    return spread(figure, by("group", sweep_sources(step, **filters), "sweep", "source"), on=("sweep",))


def cpu_source(q: Q, **filters: Any) -> Q:
    """q (a cpu exporter series) with where its RAPL counters are read."""
    return join_label(q, selector(m.CPU_SOURCE, **filters), "source", on=TARGET_IDENTITY)


def gpu_source(q: Q, **filters: Any) -> Q:
    """q (a gpu exporter series) with where its NVML readings come from."""
    return join_label(q, selector(m.GPU_SOURCE, **filters), "source", on=TARGET_IDENTITY)


def streams_source(q: Q, **filters: Any) -> Q:
    """q (a streams exporter series) with its collector's energy source; the model's reads "estimated (model)"."""
    joined = join_label(q, selector(m.STREAMS_ENERGY_SOURCE, **filters), "source", on=TARGET_IDENTITY)
    return relabel(joined, "source", ESTIMATED, "model")


def source_stat(title: str, question: str, info, filters: dict[str, str], w: int = 6) -> PanelSpec:
    """Where a host's readings come from, per host: simulated in the warning colour."""
    return stat(title, question, T(selector(info, **filters), "{source} {host}"), textMode="name",
                colorMode="background", w=w, overrides=[palette.warn_simulated()])


# Every metric whose value is energy or comes from it (joules, watts, cost, carbon, per watt, per
# joule) -> the info metric saying where it came from. The lint requires every panel showing one
# of them to show that source; a test requires every such catalog metric to be listed here or in
# NOT_ESTIMATES.
PROVENANCE: dict[str, str] = {
    **{x.name: m.COST_ENERGY_SOURCE.name for x in (
        m.COST_TOTAL, m.COST_ENERGY, m.COST_PER_PIXEL, m.COST_PER_VIEWER_HOUR, m.COST_ENERGY_JOULES,
        m.COST_MACHINE_ENERGY_JOULES, m.COST_NET_ENERGY_JOULES, m.COST_MEAN_POWER, m.COST_NET_POWER,
        m.COST_ENERGY_CI95, m.COST_EMISSIONS, m.COST_EMISSIONS_PER_VIEWER_HOUR, m.COST_EMISSIONS_PER_STREAM_HOUR,
        m.COST_SWEEP_STEP_ENERGY, m.COST_SWEEP_MARGINAL_ENERGY, m.QOE_QUALITY_PER_WATT, m.QOE_EFFICIENCY)},
    m.CPU_ENERGY.name: m.CPU_SOURCE.name,
    m.CPU_POWER.name: m.CPU_SOURCE.name,
    **{x.name: m.GPU_SOURCE.name for x in (m.GPU_POWER, m.GPU_POWER_LIMIT, m.GPU_ENERGY, m.GPU_POWER_INTEGRATED)},
    **{x.name: m.STREAMS_ENERGY_SOURCE.name for x in (m.STREAM_ENERGY, m.STREAM_POWER, m.HOST_OTHER_ENERGY,
                                                       m.HOST_IDLE_ENERGY)},
}

# Energy-unit metrics that are no estimate of anything: settings.
NOT_ESTIMATES = frozenset(x.name for x in (m.COST_ENERGY_PRICE, m.COST_CORE_HOUR_PRICE, m.COST_COMPUTE))
