"""Types of the metric catalog: a metric, an exporter, and the allowed units.

Standard library only: the catalog is the ground floor and imports nothing of the
project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KINDS = ("gauge", "counter", "info")

# Base units a metric may declare. "score" is for dimensionless quality scores (VMAF
# 0-100, SSIM 0-1) that are neither ratios nor counts; "currency" means the value is
# money in the currency named by the metric's `currency` label; "grams" are grams of
# CO2-equivalent; "factor" a dimensionless multiplier that is not a 0..1 ratio (PUE, speed
# against real time).
UNITS = (
    "seconds",
    "bytes",
    "joules",
    "watts",
    "celsius",
    "hertz",
    "ratio",
    "decibels",
    "bits_per_second",
    "bytes_per_second",
    "frames",
    "frames_per_second",
    "pixels",
    "pixels_per_joule",
    "score",
    "score_per_watt",
    "currency",
    "grams",
    "grams_per_kilowatt_hour",
    "factor",
    "count",
    "info",
    "timestamp",
)

# Labels are small, bounded sets. A reading never goes into a label value.
ALLOWED_LABELS = frozenset(
    {
        "scenario",
        "encoder",
        "bitrate",
        "resolution",
        "preset",
        "currency",
        "source",
        "socket",
        "zone",
        "gpu",
        "name",
        "uuid",
        "pci_bus_id",
        "driver_version",
        "container",
        "id",
        "image",
        "stream",
        "exporter",
        "version",
        "target",
        "reason",
        "app",
        "codec",
        "sweep",
        "attribution",
        "clip",  # the source clip of a scenario (issue 23)
        "host",  # a lab host (issue 25): one per machine of the fleet
    }
)

_NAME = re.compile(r"^ffwatt_[a-z][a-z0-9_]*[a-z0-9]$")
# Unit abbreviations Prometheus naming forbids (use base units instead).
_ABBREVIATIONS = re.compile(r"_(ms|us|ns|kb|mb|gb|kib|mib|mhz|ghz|khz|pct|percent|kwh|fps_total)(_|$)")


@dataclass(frozen=True)
class Metric:
    """One metric: the single declaration exporters, dashboards and docs derive from."""

    name: str
    kind: str
    help: str
    unit: str
    labels: tuple[str, ...] = ()
    # Exporter that emits it; None means every exporter does (runtime self-metrics).
    exporter: str | None = None
    # Name of the metric in the older stack this one replaces, for the migration table.
    replaces: str | None = None
    # False when no dashboard panel shows it on purpose (say why in `why_not_dashboarded`).
    dashboarded: bool = True
    why_not_dashboarded: str = ""

    def __post_init__(self) -> None:
        problems = list(self.problems())
        if problems:
            raise ValueError(f"catalog metric {self.name!r}: " + "; ".join(problems))

    def problems(self):
        if not _NAME.match(self.name):
            yield "name must match ffwatt_[a-z0-9_]+"
        if self.kind not in KINDS:
            yield f"kind must be one of {KINDS}"
        if self.unit not in UNITS:
            yield f"unit {self.unit!r} is not a catalog unit"
        if self.kind == "counter" and not self.name.endswith("_total"):
            yield "a counter name ends in _total"
        if self.kind != "counter" and self.name.endswith("_total"):
            yield "only counters end in _total"
        if self.kind == "info" and not self.name.endswith("_info"):
            yield "an info metric ends in _info"
        if _ABBREVIATIONS.search(self.name):
            yield "no unit abbreviations in names; use base units"
        if self.unit == "timestamp" and not self.name.endswith("_timestamp_seconds"):
            yield "a timestamp ends in _timestamp_seconds"
        if self.unit == "currency" and "currency" not in self.labels:
            yield "a money metric carries a currency label"
        for label in self.labels:
            if label not in ALLOWED_LABELS:
                yield f"label {label!r} is not in the bounded label set"
        if len(set(self.labels)) != len(self.labels):
            yield "duplicate label"
        if not self.help.endswith("."):
            yield "help text is a sentence ending in a full stop"
        if not self.dashboarded and not self.why_not_dashboarded:
            yield "say why a metric is not dashboarded"

    @property
    def family_name(self) -> str:
        """The name prometheus_client families take: without _total/_info suffix."""
        if self.kind == "counter":
            return self.name[: -len("_total")]
        if self.kind == "info":
            return self.name[: -len("_info")]
        return self.name


@dataclass(frozen=True)
class Exporter:
    """One exporter process: its name, default port, scrape interval and metrics."""

    name: str
    port: int
    scrape_interval_seconds: int
    description: str
    # True for exporters that read the machine they run on (one per lab host); the
    # others run once, centrally. The metrics it emits come from catalog.metrics_of.
    per_host: bool = False
    job: str = field(default="")

    def __post_init__(self) -> None:
        if not self.job:
            object.__setattr__(self, "job", f"ffwatt-{self.name}")
