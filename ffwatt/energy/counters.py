"""Joules counters: which series count, and their increase over a window.

A counter source (`energy.source.CounterSource`) gives its counters as `Counters`, one value per
label set; the energy over a window is `increase(start, end)`. The cpu exporter's counters count
only the top-level zones (`package`, `dram` and their multi-die `package_die_N`/`dram_die_N`:
`readers.powercap.is_energy_zone`; `core`, `uncore` and `psys` lie inside `package` and are never
added); the gpu exporter's are one per GPU, keyed by its UUID.
"""

from __future__ import annotations

from collections.abc import Mapping

from ffwatt.catalog import metrics as m
from ffwatt.readers.exposition import Labels
from ffwatt.readers.exposition import samples as counter_series
from ffwatt.readers.powercap import is_energy_zone

__all__ = ["Counters", "cpu_energy_series", "gpu_energy_series", "increase", "per_gpu_increase", "show_labels"]

Counters = dict[Labels, float]
"""Joules counters read at one moment: label set -> joules."""


def cpu_energy_series(text: str) -> Counters:
    """The cpu exporter's joules counters of the top-level zones only (package, dram, per die)."""
    return {labels: value for labels, value in counter_series(text, m.CPU_ENERGY.name).items()
            if is_energy_zone(dict(labels).get("zone", ""))}


def gpu_energy_series(text: str) -> Counters:
    """The gpu exporter's joules counters, one per GPU, keyed by the GPU's UUID (never its
    index: nvml.h does not keep the order across a re-enumeration, and a counter that
    moved to another index must still meet its start value). NVML's own counters
    (`kind` "nvml", joules since the driver loaded) and, for GPUs without one, the
    exporter's integration of the power gauge (`kind` "integrated", from 0 at its start)."""
    out: Counters = {}
    for kind, metric in (("nvml", m.GPU_ENERGY), ("integrated", m.GPU_POWER_INTEGRATED)):
        for labels, value in counter_series(text, metric.name).items():
            named = dict(labels)
            out[(("kind", kind), ("uuid", named.get("uuid") or f"gpu {named.get('gpu', '?')}"))] = value
    return out


def _counts_from_zero(labels: Labels) -> bool:
    """May a series that appeared within the window count its whole value? Not NVML's
    energy counter: it counts since the driver loaded (10^8 J and more)."""
    return dict(labels).get("kind") != "nvml"


def increase(start: Mapping[Labels, float], end: Mapping[Labels, float]) -> tuple[float, list[str]]:
    """Increase of a set of counters from `start` to `end`, and caveats.

    increase = sum over series in `end` of (end - start), or end when end < start
    (a reset: the counter restarted from 0, as PromQL's `increase` takes it) or when
    the series is new (it started within the window).
    A series in `start` but not in `end` adds nothing and is named in the caveats; a new
    NVML energy counter (joules since the driver loaded) adds nothing either.
    """
    total = 0.0
    caveats = []
    for labels, value in end.items():
        before = start.get(labels)
        if before is None and not _counts_from_zero(labels):
            caveats.append(f"counter {show_labels(labels)} appeared within the window: its energy since the driver "
                           "loaded is not the scenario's, so it is not counted")
            continue
        if before is None or value < before:
            total += value
            if before is not None:
                caveats.append(f"counter {show_labels(labels)} was reset (went from {before:g} to {value:g})")
        else:
            total += value - before
        if dict(labels).get("kind") == "integrated":
            caveats.append(f"GPU {dict(labels)['uuid']} has no NVML energy counter: its energy is the gpu "
                           "exporter's integration of the power gauge")
    for labels in start.keys() - end.keys():
        caveats.append(f"counter {show_labels(labels)} disappeared: its energy after the start is not counted")
    return total, caveats


def per_gpu_increase(start: Mapping[Labels, float], end: Mapping[Labels, float]) -> dict[str, float]:
    """`increase` one GPU (the series' `uuid` label) at a time: UUID -> joules (caveats left to `increase`)."""
    out: dict[str, float] = {}
    for labels, value in end.items():
        one = {labels: start[labels]} if labels in start else {}
        uuid = dict(labels).get("uuid", "?")
        out[uuid] = out.get(uuid, 0.0) + increase(one, {labels: value})[0]
    return out


def show_labels(labels: Labels) -> str:
    """A label set as PromQL writes it: {a="1",b="2"}."""
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"
