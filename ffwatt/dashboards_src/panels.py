"""Query and panel helpers that take catalog Metric entries.

Nothing here writes a metric name, a label name or a unit by hand: names, label sets,
kinds, units and help texts come from `catalog`. The helpers refuse what would make a
panel say "No data" or lie:

    selector(m.QOE_VMAF, scenario="$scenario", encoder="$encoder")
        -> 'ffwatt_qoe_vmaf_score{scenario=~"$scenario",encoder=~"$encoder"}'
    selector(m.QOE_VMAF, zone="$zone")        -> LabelError: the metric has no `zone`
    selector(m.CPU_ENERGY)                    -> KindError: a counter goes in rate()/increase()
    rate(m.CPU_ENERGY, zone="$zone")          -> 'rate(ffwatt_cpu_energy_joules_total{zone=~"$zone"}[$__rate_interval])'
    increase(m.CPU_ENERGY)                    -> 'increase(ffwatt_cpu_energy_joules_total[$__range])'
    by("sum", rate(m.CPU_ENERGY), "zone")     -> 'sum by (zone) (rate(...))'; refuses labels the
                                                 expression no longer has

Every helper returns a `Q`: a str (the PromQL text) that also carries the catalog
metrics it selects, the labels still present on its result and the Grafana unit of its
value (derived from the catalog unit and from what was done to it: rate of joules is
watts, rate of bytes is bytes/s...). Panel builders take `T` targets over `Q`s and
take the panel unit, description and legend labels from them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import attr
from grafanalib import core as g

from ffwatt.catalog import Metric
from ffwatt.common.errors import FfwattError

# Labels the scraper adds to every series (not in the catalog's label sets). `host`: the lab
# host's vmagent adds it to everything it remote-writes (-remoteWrite.label, issue 25); series
# the central VictoriaMetrics scrapes itself lack it, and a filter's "All" (=~".*") still
# matches them.
TARGET_LABELS = ("job", "instance", "host")

# The datasource every panel and target uses: the dashboard's `datasource` variable.
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# Catalog unit -> Grafana unit of the metric's value.
UNITS: dict[str, str] = {
    "seconds": "s",
    "bytes": "bytes",
    "joules": "joule",
    "watts": "watt",
    "celsius": "celsius",
    "hertz": "hertz",
    "ratio": "percentunit",
    "decibels": "dB",
    "bits_per_second": "bps",
    "bytes_per_second": "Bps",
    "frames": "short",
    # Grafana has no frames-per-second unit; a custom suffix keeps the number readable.
    "frames_per_second": "suffix: fps",
    "pixels": "short",
    "pixels_per_joule": "short",
    "score": "none",
    "score_per_watt": "none",
    # The currency is a label (`currency`), not known when the dashboard is generated:
    # plain numbers with SI abbreviations; legends and columns name the currency.
    "currency": "short",
    # Grafana has "massg" (grams); CO2e is said in the legend and description.
    "grams": "massg",
    "grams_per_kilowatt_hour": "suffix: g/kWh",
    "factor": "none",
    "count": "short",
    "info": "none",
    # Timestamps are only shown through age() (seconds) or as_datetime() (ms since epoch).
    "timestamp": "dateTimeAsIso",
}

# Catalog unit of a counter -> Grafana unit of its rate().
RATE_UNITS: dict[str, str] = {
    "joules": "watt",
    "bytes": "Bps",
    "seconds": "short",  # seconds per second: CPU cores
    "frames": "suffix: fps",
    "count": "cps",
}

# Catalog unit of a counter -> Grafana unit of its increase().
INCREASE_UNITS: dict[str, str] = {
    "joules": "joule",
    "bytes": "bytes",
    "seconds": "s",
    "frames": "short",
    "count": "short",
}

RATE_INTERVAL = "$__rate_interval"
RANGE = "$__range"
_WINDOWS = (RATE_INTERVAL, RANGE)
_MATCH_OPS = ("=", "!=", "=~", "!~")
_AGGREGATIONS = ("sum", "max", "min", "avg", "count")


class LabelError(FfwattError, ValueError):
    """A label the metric (or the expression) does not have."""


class KindError(FfwattError, ValueError):
    """A metric used in a way its kind forbids (a counter outside rate(), a gauge in rate())."""


def grafana_unit(metric: Metric) -> str:
    """The Grafana unit of a metric's value, from its catalog unit."""
    return UNITS[metric.unit]


class Q(str):
    """A PromQL expression (the str) with the catalog metrics it selects, the labels
    its result still carries, and the Grafana unit of its value."""

    metrics: tuple[Metric, ...]
    labels: frozenset[str]
    unit: str

    def __new__(cls, text: str, metrics: tuple[Metric, ...], labels, unit: str) -> Q:
        q = super().__new__(cls, text)
        q.metrics = tuple(metrics)
        q.labels = frozenset(labels)
        q.unit = unit
        return q

    def with_unit(self, unit: str) -> Q:
        return Q(str(self), self.metrics, self.labels, unit)


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _selector_text(metric: Metric, matchers: dict[str, Any]) -> str:
    parts = []
    for label, value in matchers.items():
        if label not in metric.labels and label not in TARGET_LABELS:
            have = ", ".join(metric.labels + TARGET_LABELS)
            raise LabelError(f"{metric.name} has no label {label!r} (it has: {have})")
        op = "=~"
        if isinstance(value, tuple):
            op, value = value
        if op not in _MATCH_OPS:
            raise ValueError(f"matcher operator {op!r} is not one of {_MATCH_OPS}")
        parts.append(f"{label}{op}{_quote(str(value))}")
    return metric.name + ("{" + ",".join(parts) + "}" if parts else "")


def _labels(metric: Metric) -> frozenset[str]:
    return frozenset(metric.labels + TARGET_LABELS)


def selector(metric: Metric, **matchers: Any) -> Q:
    """`name{label=~"value",...}` for a gauge or info metric.

    A matcher value is a regex (`=~`, what Grafana's multi-value and All variables
    need) unless given as `(op, value)` with op one of = != =~ !~. Only the metric's
    catalog labels and the scrape labels job/instance may be matched."""
    if metric.kind == "counter":
        raise KindError(f"{metric.name} is a counter: use rate() or increase(), never its raw value")
    if metric.unit == "timestamp":
        raise KindError(f"{metric.name} is a timestamp: use age() or as_datetime()")
    return Q(_selector_text(metric, matchers), (metric,), _labels(metric), grafana_unit(metric))


def _counter(metric: Metric, fn: str, window: str, matchers: dict[str, Any], unit: str) -> Q:
    if metric.kind != "counter":
        raise KindError(f"{fn}() of {metric.name}: only counters go in {fn}(); it is a {metric.kind}")
    if window not in _WINDOWS:
        raise ValueError(f"{fn}() window must be one of {_WINDOWS}, not {window!r}")
    if not unit:
        raise ValueError(f"{fn}() of {metric.name}: no Grafana unit for the {fn} of {metric.unit!r}; add one")
    text = f"{fn}({_selector_text(metric, matchers)}[{window}])"
    return Q(text, (metric,), _labels(metric), unit)


def rate(metric: Metric, **matchers: Any) -> Q:
    """`rate(counter{...}[$__rate_interval])`: per-second rate of a counter."""
    return _counter(metric, "rate", RATE_INTERVAL, matchers, RATE_UNITS.get(metric.unit, ""))


def increase(metric: Metric, window: str = RANGE, **matchers: Any) -> Q:
    """`increase(counter{...}[$__range])` (total over the dashboard's range), or over
    `$__rate_interval` for a per-step series."""
    return _counter(metric, "increase", window, matchers, INCREASE_UNITS.get(metric.unit, ""))


def age(metric: Metric, **matchers: Any) -> Q:
    """`time() - timestamp{...}`: seconds since a `_timestamp_seconds` gauge's time."""
    if metric.unit != "timestamp":
        raise KindError(f"age() of {metric.name}: it is not a timestamp")
    return Q(f"time() - {_selector_text(metric, matchers)}", (metric,), _labels(metric), "s")


def as_datetime(metric: Metric, **matchers: Any) -> Q:
    """`timestamp{...} * 1000`: a Unix time in the milliseconds Grafana's date units take."""
    if metric.unit != "timestamp":
        raise KindError(f"as_datetime() of {metric.name}: it is not a timestamp")
    return Q(f"{_selector_text(metric, matchers)} * 1000", (metric,), _labels(metric), "dateTimeAsIso")


def by(op: str, q: Q, *labels: str) -> Q:
    """`op by (labels) (q)`; every label must still be on q's result."""
    if op not in _AGGREGATIONS:
        raise ValueError(f"aggregation {op!r} is not one of {_AGGREGATIONS}")
    missing = [label for label in labels if label not in q.labels]
    if missing:
        raise LabelError(f"cannot group {q} by {missing}: its result has {sorted(q.labels)}")
    grouping = f" by ({', '.join(labels)}) " if labels else ""
    unit = "short" if op == "count" else q.unit
    return Q(f"{op}{grouping}({q})", q.metrics, labels, unit)


def is_one(q: Q) -> Q:
    """`q == 1`: keep the series of a 1-valued state/reason metric that are set."""
    return Q(f"{q} == 1", q.metrics, q.labels, q.unit)


def ratio(numerator: Q, denominator: Q) -> Q:
    """`a / b` matched on identical label sets, shown as a percentage."""
    if numerator.labels != denominator.labels:
        raise LabelError(f"{numerator} / {denominator}: label sets differ, the division would match nothing")
    return Q(f"{numerator} / {denominator}", numerator.metrics + denominator.metrics, numerator.labels,
             "percentunit")


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class T:
    """One target of a panel: a query, its legend and (tables) its column name.

    `legend` uses {label} placeholders, checked against the labels the query's result
    carries and written as Grafana's {{label}}."""

    q: Q
    legend: str = ""
    name: str = ""
    unit: str = ""
    # Tables: drop the value column (the row's labels are the information, as for *_info).
    hide: bool = False

    def __post_init__(self) -> None:
        missing = [label for label in _PLACEHOLDER.findall(self.legend) if label not in self.q.labels]
        if missing:
            raise LabelError(f"legend {self.legend!r} names {missing}, not labels of {self.q}")

    @property
    def legend_format(self) -> str:
        return _PLACEHOLDER.sub(r"{{\1}}", self.legend)

    @property
    def value_unit(self) -> str:
        return self.unit or self.q.unit


# --- colours, thresholds, value mappings ---------------------------------------------------------


def steps(base: str, *above: tuple[float, str]) -> list[dict]:
    """Absolute threshold steps: `base` colour, then (value, colour) from that value up."""
    values = [value for value, _ in above]
    if values != sorted(values):
        raise ValueError("threshold values must increase")
    return [{"color": base, "value": None}] + [{"color": color, "value": value} for value, color in above]


def value_mappings(mapping: dict[str, tuple[str, str]]) -> list:
    """Value -> (text, colour) mappings, e.g. {"1": ("UP", "green"), "0": ("DOWN", "red")}."""
    items = [g.StatValueMappingItem(text, value, color, index=i)
             for i, (value, (text, color)) in enumerate(mapping.items())]
    return [g.StatValueMappings(*items)]


UP_DOWN = {"1": ("UP", "green"), "0": ("DOWN", "red")}


# --- panels -----------------------------------------------------------------------------------------

KINDS = ("timeseries", "stat", "bargauge", "table", "state-timeline")
# Panels that show the current value read instant queries; the others read ranges.
_INSTANT = {"timeseries": False, "state-timeline": False, "stat": True, "bargauge": True, "table": True}


@dataclass
class PanelSpec:
    """A panel before layout: what it answers, its targets, its unit and look."""

    kind: str
    title: str
    question: str
    targets: tuple[T, ...]
    unit: str
    w: int
    h: int
    thresholds: list[dict] | None = None
    mappings: list = field(default_factory=list)
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"panel kind {self.kind!r} is not one of {KINDS}")
        if not self.question.strip():
            raise ValueError(f"panel {self.title!r}: say what it answers")
        if not self.targets:
            raise ValueError(f"panel {self.title!r} has no target")
        if not 1 <= self.w <= 24:
            raise ValueError(f"panel {self.title!r}: width {self.w} is not 1..24")

    @property
    def instant(self) -> bool:
        return _INSTANT[self.kind]

    @property
    def metrics(self) -> tuple[Metric, ...]:
        seen: dict[str, Metric] = {}
        for t in self.targets:
            for metric in t.q.metrics:
                seen.setdefault(metric.name, metric)
        return tuple(seen.values())

    @property
    def description(self) -> str:
        lines = [self.question.strip()]
        lines += [f"`{m.name}` ({m.kind}): {m.help}" for m in self.metrics]
        return "\n\n".join(lines)

    def ref_id(self, index: int) -> str:
        return chr(ord("A") + index)

    def grafana_targets(self) -> list[PromTarget]:
        fmt = "table" if self.kind == "table" else "time_series"
        return [
            PromTarget(expr=str(t.q), legendFormat=t.legend_format, refId=self.ref_id(i), instant=self.instant,
                       format=fmt, datasource=DATASOURCE)
            for i, t in enumerate(self.targets)
        ]

    def build(self, panel_id: int, pos: g.GridPos) -> g.Panel:
        common = dict(
            id=panel_id, gridPos=pos, title=self.title, description=self.description, dataSource=DATASOURCE,
            targets=self.grafana_targets(), maxDataPoints=None,
        )
        thresholds = self.thresholds or steps("green")
        build = getattr(self, "_build_" + self.kind.replace("-", "_"))
        return build(common, thresholds)

    def _unit_overrides(self) -> list[dict]:
        """Per-series units where a target's unit differs from the panel's."""
        overrides = []
        for i, t in enumerate(self.targets):
            if t.value_unit != self.unit:
                overrides.append({"matcher": {"id": "byFrameRefID", "options": self.ref_id(i)},
                                  "properties": [{"id": "unit", "value": t.value_unit}]})
        return overrides

    def _build_timeseries(self, common: dict, thresholds: list[dict]) -> g.Panel:
        o = self.options
        return g.TimeSeries(
            **common, unit=self.unit, thresholds=thresholds,
            thresholdsStyleMode="line" if self.thresholds else "off",
            mappings=self.mappings, overrides=self._unit_overrides() + o.get("overrides", []),
            fillOpacity=o.get("fillOpacity", 10), drawStyle=o.get("drawStyle", "line"),
            lineInterpolation=o.get("lineInterpolation", "linear"), showPoints="never", spanNulls=False,
            stacking=o.get("stacking", {"mode": "none", "group": "A"}),
            legendDisplayMode="table" if o.get("legendCalcs") else "list", legendPlacement="bottom",
            legendCalcs=o.get("legendCalcs", []), tooltipMode="multi", tooltipSort="desc",
            valueMin=o.get("min"), valueMax=o.get("max"),
        )

    def _build_stat(self, common: dict, thresholds: list[dict]) -> g.Panel:
        o = self.options
        return g.Stat(
            **common, format=self.unit, thresholds=thresholds, mappings=self.mappings,
            overrides=self._unit_overrides(), reduceCalc="lastNotNull", graphMode="none",
            colorMode=o.get("colorMode", "value"), decimals=o.get("decimals"),
            textMode=o.get("textMode", "value_and_name" if len(self.targets) > 1 else "auto"),
            noValue=o.get("noValue", "No data"), orientation=o.get("orientation", "auto"),
        )

    def _build_bargauge(self, common: dict, thresholds: list[dict]) -> g.Panel:
        o = self.options
        return ModernBarGauge(
            **common, format=self.unit, thresholds=thresholds, valueMaps=self.mappings,
            min=o.get("min", 0), max=o.get("max"), decimals=o.get("decimals"),
            displayMode=o.get("displayMode", g.GAUGE_DISPLAY_MODE_GRADIENT), overrides=self._unit_overrides(),
        )

    def _build_state_timeline(self, common: dict, thresholds: list[dict]) -> g.Panel:
        return g.StateTimeline(
            **common, thresholds=thresholds, mappings=self.mappings, mergeValues=True, showValue="auto",
            rowHeight=0.8, fillOpacity=80,
            extraJson={"fieldConfig": {"defaults": {"unit": self.unit}}},
        )

    def _build_table(self, common: dict, thresholds: list[dict]) -> g.Panel:
        o = self.options
        rename: dict[str, str] = {}
        hidden = {name: True for name in ("Time", "__name__", "job", "instance") + tuple(o.get("hide", ()))}
        overrides: list[dict] = []
        for i, t in enumerate(self.targets):
            value = "Value" if len(self.targets) == 1 else f"Value #{self.ref_id(i)}"
            if t.hide:
                hidden[value] = True
                continue
            column = t.name or value
            if column != value:
                rename[value] = column
            if t.value_unit != self.unit:
                overrides.append({"matcher": {"id": "byName", "options": column},
                                  "properties": [{"id": "unit", "value": t.value_unit}]})
        overrides += o.get("overrides", [])
        # Organize each frame first (drop __name__ and the scrape labels, which differ between
        # metrics), then merge the frames into one row per label set.
        transformations = [{"id": "organize", "options": {
            "excludeByName": hidden, "renameByName": rename, "indexByName": {},
        }}]
        if len(self.targets) > 1:
            transformations.append({"id": "merge", "options": {}})
        sort = [g.TableSortByField(displayName=o["sort"], desc=o.get("desc", False))] if o.get("sort") else []
        return g.Table(
            **common, unit=self.unit, thresholds=thresholds, overrides=overrides, transformations=transformations,
            filterable=True, sortBy=sort,
            extraJson={"fieldConfig": {"defaults": {"mappings": self.mappings}}},
        )


def _panel(kind: str, title: str, question: str, targets, unit: str | None, w: int, h: int, **kw) -> PanelSpec:
    targets = tuple(targets)
    if unit is None:
        units = sorted({t.value_unit for t in targets})
        if len(units) != 1 and kind != "table":
            raise ValueError(f"panel {title!r}: targets have units {units}; pass unit=")
        unit = targets[0].value_unit
    return PanelSpec(kind, title, question, targets, unit, w, h, **kw)


def timeseries(title: str, question: str, *targets: T, unit: str | None = None, w: int = 12, h: int = 8,
               thresholds: list[dict] | None = None, mappings: list | None = None, **options) -> PanelSpec:
    """A time series (range queries)."""
    return _panel("timeseries", title, question, targets, unit, w, h, thresholds=thresholds,
                  mappings=mappings or [], options=options)


def stat(title: str, question: str, *targets: T, unit: str | None = None, w: int = 6, h: int = 4,
         thresholds: list[dict] | None = None, mappings: list | None = None, **options) -> PanelSpec:
    """Current value(s) (instant queries)."""
    return _panel("stat", title, question, targets, unit, w, h, thresholds=thresholds,
                  mappings=mappings or [], options=options)


def bargauge(title: str, question: str, *targets: T, unit: str | None = None, w: int = 12, h: int = 8,
             thresholds: list[dict] | None = None, mappings: list | None = None, **options) -> PanelSpec:
    """One bar per series, current values (instant queries): comparisons across scenarios."""
    return _panel("bargauge", title, question, targets, unit, w, h, thresholds=thresholds,
                  mappings=mappings or [], options=options)


def table(title: str, question: str, *targets: T, unit: str | None = None, w: int = 24, h: int = 8,
          thresholds: list[dict] | None = None, mappings: list | None = None, **options) -> PanelSpec:
    """Current values as a table, several targets merged on their labels (instant queries).
    Each target's value column is named by T.name and shown in its own unit."""
    return _panel("table", title, question, targets, unit, w, h, thresholds=thresholds,
                  mappings=mappings or [], options=options)


def state_timeline(title: str, question: str, *targets: T, unit: str | None = None, w: int = 24, h: int = 6,
                   thresholds: list[dict] | None = None, mappings: list | None = None, **options) -> PanelSpec:
    """States over time (range queries), coloured by value mappings."""
    return _panel("state-timeline", title, question, targets, unit, w, h, thresholds=thresholds,
                  mappings=mappings or [], options=options)


# --- grafanalib adapters --------------------------------------------------------------------------


@attr.s
class PromTarget(g.Target):
    """grafanalib's Target without the legacy Graphite/step fields, with the `range`
    flag current Grafana reads beside `instant`."""

    def to_json_data(self) -> dict:
        return {
            "datasource": self.datasource,
            "editorMode": "code",
            "expr": self.expr,
            "format": self.format,
            "hide": self.hide,
            "instant": self.instant,
            "interval": self.interval,
            "legendFormat": self.legendFormat,
            "range": not self.instant,
            "refId": self.refId,
        }


@attr.s
class ModernBarGauge(g.BarGauge):
    """grafanalib 0.7.1's BarGauge writes the Grafana 6 `options.fieldOptions` shape;
    this writes the fieldConfig/reduceOptions shape of Grafana 7 and later."""

    overrides = attr.ib(factory=list)

    def to_json_data(self) -> dict:
        return self.panel_json({
            "fieldConfig": {
                "defaults": {
                    "color": {"mode": "thresholds"},
                    "decimals": self.decimals,
                    "mappings": self.valueMaps,
                    "max": self.max,
                    "min": self.min,
                    "unit": self.format,
                },
                "overrides": self.overrides,
            },
            "options": {
                "displayMode": self.displayMode,
                "minVizHeight": 16,
                "minVizWidth": 8,
                "namePlacement": "auto",
                "orientation": self.orientation,
                "reduceOptions": {"calcs": [self.calc], "fields": "", "values": False},
                "showUnfilled": True,
                "sizing": "auto",
                "valueMode": "color",
            },
            "type": g.BARGAUGE_TYPE,
        })

    def __attrs_post_init__(self) -> None:
        self.calc = "lastNotNull"
