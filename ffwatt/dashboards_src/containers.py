"""Containers (uid containers): is the Docker Engine up and what do the containers take, then
per-container CPU, memory, network (bits/s) and block IO (bytes/s, as disks are read)."""

from __future__ import annotations

from ffwatt.catalog import metrics as m
from ffwatt.dashboards_src.dashboard import DashboardSpec, Row, Var
from ffwatt.dashboards_src.panels import UP_DOWN, T, stat, steps, table, timeseries, value_mappings
from ffwatt.dashboards_src.promql import bits, by, divide, rate, selector

UID = "containers"

# Lab hosts: the `host` label each host's vmagent adds (absent when VictoriaMetrics scrapes
# the exporter itself; "All" matches those too).
LAB_HOST = Var("host", m.DOCKER_CONTAINERS, "host", "Lab host")
INSTANCE = Var("instance", m.DOCKER_CONTAINERS, "instance", "Docker exporter", chain=(("host", LAB_HOST.ref),))
CONTAINER = Var("container", m.DOCKER_MEMORY_WORKING_SET, "container",
                chain=(("host", LAB_HOST.ref), ("instance", INSTANCE.ref)))
HOST = {"host": LAB_HOST.ref, "instance": INSTANCE.ref}
C = {"host": LAB_HOST.ref, "instance": INSTANCE.ref, "container": CONTAINER.ref}


def _headline() -> list:
    return [
        stat("Docker Engine",
             "Does the Docker Engine answer the exporter's collections?",
             T(selector(m.DOCKER_ENGINE_UP, **HOST), "{instance} {host}"), mappings=value_mappings(UP_DOWN),
             colorMode="background", thresholds=steps("red", (1, "green")), w=6),
        stat("Running containers",
             "How many containers are running?",
             T(selector(m.DOCKER_CONTAINERS, **HOST), "{instance} {host}"), w=6),
        stat("CPU cores in use",
             "How many CPU cores do the selected containers use together?",
             T(by("sum", rate(m.DOCKER_CPU, **C), "host"), "cores {host}"), w=6, decimals=2),
        stat("Memory in use",
             "How much memory do the selected containers hold together (working set)?",
             T(by("sum", selector(m.DOCKER_MEMORY_WORKING_SET, **C), "host"), "working set {host}"), w=6),
    ]


def _per_container() -> Row:
    return Row("Per container", [
        timeseries("CPU cores per container",
                   "How many CPU cores does each container use? 1 = one core fully busy.",
                   T(rate(m.DOCKER_CPU, **C), "{container} {host}"), legendCalcs=["mean", "max"]),
        timeseries("Memory working set and limit",
                   "How much memory does each container use, against its limit (the host's memory when unlimited)?",
                   T(selector(m.DOCKER_MEMORY_WORKING_SET, **C), "{container} working set {host}"),
                   T(selector(m.DOCKER_MEMORY_LIMIT, **C), "{container} limit {host}")),
        timeseries("Memory use of the limit",
                   "How close is each container to its memory limit? Red from 90 %.",
                   T(divide(selector(m.DOCKER_MEMORY_WORKING_SET, **C), selector(m.DOCKER_MEMORY_LIMIT, **C)),
                     "{container}"), min=0, max=1, thresholds=steps("green", (0.75, "yellow"), (0.9, "red"))),
        timeseries("Network receive and transmit",
                   "How many bits per second does each container receive and send over all its interfaces?",
                   T(bits(rate(m.DOCKER_NETWORK_RECEIVE, **C)), "{container} rx {host}"),
                   T(bits(rate(m.DOCKER_NETWORK_TRANSMIT, **C)), "{container} tx {host}")),
        timeseries("Block IO read and write",
                   "How many bytes per second does each container read from and write to block devices?",
                   T(rate(m.DOCKER_BLOCK_READ, **C), "{container} read {host}"),
                   T(rate(m.DOCKER_BLOCK_WRITE, **C), "{container} write {host}"), w=24),
        table("Containers",
              "Which containers are these: name, id and image of each.",
              T(selector(m.DOCKER_CONTAINER_INFO, **C), hide=True), h=6),
    ])


def dashboard() -> DashboardSpec:
    return DashboardSpec(
        uid=UID, title="ffwatt / Containers",
        description="Per-container CPU cores, memory working set and limit, network and block IO throughput from "
                    "the Docker Engine (docker exporter).",
        question="Is the Docker Engine up, and how much CPU and memory do the containers take?",
        headline=_headline(), rows=[_per_container()], variables=[LAB_HOST, INSTANCE, CONTAINER], tags=("host", "containers"),
    )
