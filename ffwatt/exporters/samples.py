"""Samples: what one refresh read, keyed by catalog metric, turned into metric families.

Exporters never write a metric name: they add samples to catalog Metric objects.
Families are built fresh for every snapshot (no global mutable gauges), so a series
that disappears from the source disappears from /metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.metrics_core import Metric as Family

from ffwatt.catalog import MAX_LABEL_VALUE_LENGTH, Metric, metrics_of


class Samples:
    """Collects one refresh's readings for one exporter."""

    def __init__(self, exporter: str, metrics: Iterable[Metric] | None = None, *,
                 max_label_length: int = MAX_LABEL_VALUE_LENGTH):
        self.exporter = exporter
        self.max_label_length = max_label_length
        self._long_labels = 0
        allowed = tuple(metrics) if metrics is not None else metrics_of(exporter)
        self._values: dict[Metric, dict[tuple[str, ...], float]] = {m: {} for m in allowed}
        # by name (a str hashes once; a catalog Metric hashes all its fields each time): the label names, the values
        self._slots = {m.name: (frozenset(m.labels), v) for m, v in self._values.items()}
        self.warnings: list[str] = []
        self.is_unchanged = False
        self.failure: str | None = None

    def add(self, metric: Metric, value: float | int | bool | None, **labels: object) -> None:
        """Add one sample. None (or NaN/Inf) means no reading: the series is left out, never 0."""
        slot = self._slots.get(metric.name)  # 200 adds a refresh for 50 live streams: kept cheap
        if slot is None:
            raise ValueError(f"exporter {self.exporter!r} does not emit {metric.name} (catalog)")
        names, values = slot
        if labels.keys() != names:
            raise ValueError(
                f"{metric.name} takes labels {list(metric.labels)}, got {sorted(labels)}"
            )
        if value is None:
            return
        value = float(value)
        if not math.isfinite(value):  # NaN or +-Inf is no reading: leave the series out
            return
        if metric.kind == "counter" and value < 0:
            raise ValueError(f"{metric.name}: a counter cannot be negative ({value})")
        key = tuple([str(labels[name]) for name in metric.labels])
        if key and max(map(len, key)) > self.max_label_length:  # never served, whatever the source let in
            self._long_labels += 1
            if self._long_labels == 1:
                self.warn(f"samples left out: a label value over {self.max_label_length} characters "
                          f"({metric.name}, --max-label-length)")
            return
        values[key] = value

    def warn(self, message: str) -> None:
        """A problem that leaves the data usable: /health says degraded with the message."""
        self.warnings.append(message)

    def fail(self, message: str) -> None:
        """The refresh failed, yet these samples are the truth to serve (e.g. engine down:
        no containers). Unlike raising, the new samples replace the last good data."""
        self.failure = message

    def unchanged(self) -> None:
        """The source did not change since the last refresh: keep serving its data as is.

        Saves rebuilding (and re-encoding) large snapshots, e.g. 10,000 scenarios."""
        self.is_unchanged = True

    def value(self, metric: Metric, **labels: object) -> float | None:
        return self._values[metric].get(tuple(str(labels[n]) for n in metric.labels))

    def families(self, *, shared: bool = True) -> list[Family]:
        """Families for every metric (empty ones too, so each catalog metric is declared).

        shared=False leaves out the runtime self-metrics every exporter emits."""
        return [build_family(m, v) for m, v in self._values.items() if shared or m.exporter is not None]


def build_family(metric: Metric, values: dict[tuple[str, ...], float]) -> Family:
    labels = list(metric.labels)
    if metric.kind == "counter":
        family: Family = CounterMetricFamily(metric.family_name, metric.help, labels=labels)
    elif metric.kind == "info":
        family = InfoMetricFamily(metric.family_name, metric.help, labels=labels)
    else:
        family = GaugeMetricFamily(metric.family_name, metric.help, labels=labels)
    for key, value in values.items():
        if metric.kind == "info":
            family.add_metric(list(key), {})
        else:
            family.add_metric(list(key), value)
    return family
