"""Exporter health (uid exporter-health): which exporters serve real data, and how they run."""

from __future__ import annotations

from ffwatt.catalog import HEALTH_REASONS
from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row, Var
from ffwatt.dashboards_src.panels import (
    UP_DOWN,
    T,
    bargauge,
    stat,
    state_timeline,
    steps,
    table,
    timeseries,
    value_mappings,
)
from ffwatt.dashboards_src.promql import age, by, increase, is_one, rate, selector

UID = "exporter-health"

TARGET = Var("target", m.HEALTH_TARGET_HEALTHY, "target")
EXPORTER = Var("exporter", m.EXPORTER_UP, "exporter")
TG = {"target": TARGET.ref}
EX = {"exporter": EXPORTER.ref}

REACHABLE = {"1": ("REACHABLE", "green"), "0": ("UNREACHABLE", "red")}
HEALTHY = selector(m.HEALTH_TARGET_HEALTHY, **TG)


def _headline() -> list:
    return [
        stat("Status per target",
             "Which exporters serve a valid exposition with the metrics they should emit right now? UP in green, "
             "DOWN in red.",
             T(HEALTHY, "{target}"), mappings=value_mappings(UP_DOWN), colorMode="background",
             thresholds=steps("red", (1, "green")), textMode="value_and_name", w=12, h=5),
        stat("Healthy targets",
             "How many probed targets passed their last probe?",
             T(selector(m.HEALTH_TARGETS_HEALTHY), "healthy"), w=6, h=5),
        stat("Targets probed",
             "How many targets does the health checker probe?",
             T(selector(m.HEALTH_TARGETS), "targets"), w=6, h=5),
    ]


def _probes() -> Row:
    return Row("Probes (health checker)", [
        state_timeline("Health over time",
                       "When was each target up or down over the selected range?",
                       T(HEALTHY, "{target}"), mappings=value_mappings(UP_DOWN),
                       thresholds=steps("red", (1, "green"))),
        state_timeline("Reachability over time",
                       "Did each target answer HTTP at all? A reachable but unhealthy target serves an invalid "
                       "or incomplete exposition.",
                       T(selector(m.HEALTH_TARGET_REACHABLE, **TG), "{target}"), mappings=value_mappings(REACHABLE),
                       thresholds=steps("red", (1, "green"))),
        state_timeline("Degraded over time",
                       "Was a healthy target degraded by its own account (its /health says degraded: e.g. a bad "
                       "newest results file, a zone unreadable)? Its exporter's /health tells why.",
                       T(selector(m.HEALTH_TARGET_DEGRADED, **TG), "{target}"),
                       mappings=value_mappings({"1": ("DEGRADED", "orange"), "0": ("fine", "green")}),
                       thresholds=steps("green", (1, "orange"))),
        timeseries("Probe response time",
                   "How long does each target take to answer its probe? A slow /metrics delays every scrape.",
                   T(selector(m.HEALTH_TARGET_RESPONSE, **TG), "{target}"), legendCalcs=["mean", "max"]),
        timeseries("Consecutive failed probes",
                   "How many probes in a row has each target failed? 0 for a healthy target.",
                   T(selector(m.HEALTH_TARGET_FAILURES, **TG), "{target}"), min=0,
                   thresholds=steps("green", (1, "red"))),
        table("Last failure reason",
              "Why did each target's last probe fail (ok when healthy)? Reasons are a bounded set: "
              + ", ".join(HEALTH_REASONS) + ".",
              T(is_one(selector(m.HEALTH_TARGET_REASON, **TG)), hide=True), w=12,
              overrides=[{"matcher": {"id": "byName", "options": "reason"}, "properties": [
                  {"id": "mappings", "value": [{"type": "value", "options": {
                      "ok": {"text": "ok", "color": "green", "index": 0}}}]},
                  {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                  {"id": "custom.cellOptions", "value": {"type": "color-text"}},
              ]}], sort="target"),
        bargauge("Time since last probe",
                 "How long ago was each target last probed? Much more than the probe interval means the health "
                 "checker is stuck.",
                 T(age(m.HEALTH_TARGET_LAST_CHECK, **TG), "{target}"), w=12,
                 thresholds=steps("green", (60, "yellow"), (300, "red"))),
    ])


def _runtime() -> Row:
    return Row("Exporter runtime", [
        stat("Exporter up",
             "Did each exporter's last refresh of its source (files, sysfs, NVML, Docker, probes) succeed?",
             T(selector(m.EXPORTER_UP, **EX), "{exporter}"), mappings=value_mappings(UP_DOWN),
             colorMode="background", thresholds=steps("red", (1, "green")), textMode="value_and_name", w=24,
             h=5),
        bargauge("Time since last successful refresh",
                 "How stale is the snapshot each exporter serves? It should stay near its refresh interval.",
                 T(age(m.EXPORTER_LAST_SUCCESS, **EX), "{exporter} ({instance})"),
                 thresholds=steps("green", (60, "yellow"), (300, "red"))),
        timeseries("Refresh duration",
                   "How long does each exporter's refresh of its source take? Scrapes never wait for it: they "
                   "serve the last snapshot.",
                   T(selector(m.EXPORTER_REFRESH_DURATION, **EX), "{exporter} ({instance})"),
                   legendCalcs=["mean", "max"]),
        timeseries("Refresh errors per second",
                   "How often do exporters fail to refresh their source?",
                   T(by("sum", rate(m.EXPORTER_REFRESH_ERRORS, **EX), "exporter"), "{exporter}"),
                   thresholds=steps("green", (0.001, "red"))),
        bargauge("Refresh errors over the range",
                 "How many refreshes failed per exporter over the selected time range?",
                 T(by("sum", increase(m.EXPORTER_REFRESH_ERRORS, **EX), "exporter"), "{exporter}"),
                 thresholds=steps("green", (1, "red"))),
    ])


def dashboard() -> DashboardSpec:
    return DashboardSpec(
        uid=UID, title="ffwatt / Exporter health",
        description="Which ffwatt exporters answer with real data (health checker probes), and each exporter's own "
                    "refresh state (up, staleness, duration, errors).",
        question="Which exporters serve real data right now?",
        headline=_headline(), rows=[_probes(), _runtime()], variables=[TARGET, EXPORTER], tags=("health",), time_from="now-6h",
    )
