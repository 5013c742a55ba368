"""Panels before layout: what each answers, its targets, and the look the conventions give it.

    timeseries / stat / bargauge / table / state_timeline (title, question, *targets, w=, h=, ...)

A target is a `T` over a `promql.Q`; the panel takes its unit from the targets' quantities
(`units`), so a quantity is shown in one unit everywhere. The conventions are applied here, once,
from what the targets carry, so no dashboard can forget them:

- a series named after its encoder (`{encoder}` in the legend) gets the encoder's colour from
  `palette`, and so does a table's `encoder` column;
- a figure carrying its energy `source` (`provenance`) is marked: a `source` column coloured per
  source (simulated in the warning colour), or series named "... simulated" in the warning colour
  (a dashed line on a graph);
- a speed against real time gets `units.SPEED_STEPS` (a table: on its column);
- a ratio shown through value mappings for 0 and 1 is a state (`none`), not a percentage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from grafanalib import core as g

from ffwatt.catalog import Metric
from ffwatt.dashboards_src import palette, units
from ffwatt.dashboards_src.grafana import DATASOURCE, ModernBarGauge, PromTarget
from ffwatt.dashboards_src.promql import LabelError, Q
from ffwatt.dashboards_src.tables import build_table

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class T:
    """One target of a panel: a query, its legend and (tables, XY charts) its column name.

    `legend` uses {label} placeholders, checked against the labels the query's result carries
    and written as Grafana's {{label}}. `hide`: a table drops the value column (the row's labels
    are the information, as for *_info)."""

    q: Q
    legend: str = ""
    name: str = ""
    hide: bool = False

    def __post_init__(self) -> None:
        missing = [label for label in _PLACEHOLDER.findall(self.legend) if label not in self.q.labels]
        if missing:
            raise LabelError(f"legend {self.legend!r} names {missing}, not labels of {self.q}")

    @property
    def legend_format(self) -> str:
        return _PLACEHOLDER.sub(r"{{\1}}", self.legend)

    @property
    def speed(self) -> bool:
        """A speed against real time (not, say, a count of streams below it)."""
        return self.q.quantity == "factor" and any(metric.name in units.SPEED_METRICS for metric in self.q.metrics)


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
        if self.kind != "table" and any(t.speed for t in self.targets):
            self.thresholds = units.SPEED_STEPS  # one speed threshold everywhere

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

    def target_unit(self, t: T) -> str:
        return units.display_unit(t.q.quantity, state=_is_state(self.mappings))

    def grafana_targets(self) -> list[PromTarget]:
        fmt = "table" if self.kind == "table" else "time_series"
        return [
            PromTarget(expr=str(t.q), legendFormat=t.legend_format, refId=self.ref_id(i), instant=self.instant,
                       format=fmt, datasource=DATASOURCE)
            for i, t in enumerate(self.targets)
        ]

    def look_overrides(self) -> list[dict]:
        """The palette's and provenance's overrides for series panels (see the module docstring)."""
        legends = " ".join(t.legend for t in self.targets)
        out = palette.encoder_series() if "{encoder}" in legends else []
        if "{source}" in legends:
            out.append(palette.warn_simulated(line=self.kind == "timeseries"))
        return out

    def build(self, panel_id: int, pos: g.GridPos) -> g.Panel:
        common = dict(
            id=panel_id, gridPos=pos, title=self.title, description=self.description, dataSource=DATASOURCE,
            targets=self.grafana_targets(), maxDataPoints=None,
        )
        thresholds = self.thresholds or steps("green")
        if self.kind == "table":
            return build_table(self, common, thresholds)
        build = getattr(self, "_build_" + self.kind.replace("-", "_"))
        return build(common, thresholds)

    def _overrides(self) -> list[dict]:
        """Per-series units where a target's unit differs from the panel's, then the look's."""
        overrides = []
        for i, t in enumerate(self.targets):
            if self.target_unit(t) != self.unit:
                overrides.append({"matcher": {"id": "byFrameRefID", "options": self.ref_id(i)},
                                  "properties": [{"id": "unit", "value": self.target_unit(t)}]})
        return overrides + self.look_overrides() + self.options.get("overrides", [])

    def _build_timeseries(self, common: dict, thresholds: list[dict]) -> g.Panel:
        o = self.options
        return g.TimeSeries(
            **common, unit=self.unit, thresholds=thresholds,
            thresholdsStyleMode="line" if self.thresholds else "off",
            mappings=self.mappings, overrides=self._overrides(),
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
            overrides=self._overrides(), reduceCalc="lastNotNull", graphMode="none",
            colorMode=o.get("colorMode", "value"), decimals=o.get("decimals"),
            textMode=o.get("textMode", "value_and_name" if len(self.targets) > 1 else "auto"),
            noValue=o.get("noValue", "No data"), orientation=o.get("orientation", "auto"),
        )

    def _build_bargauge(self, common: dict, thresholds: list[dict]) -> g.Panel:
        o = self.options
        return ModernBarGauge(
            **common, format=self.unit, thresholds=thresholds, valueMaps=self.mappings,
            min=o.get("min", 0), max=o.get("max"), decimals=o.get("decimals"),
            displayMode=o.get("displayMode", g.GAUGE_DISPLAY_MODE_GRADIENT), overrides=self._overrides(),
        )

    def _build_state_timeline(self, common: dict, thresholds: list[dict]) -> g.Panel:
        return g.StateTimeline(
            **common, thresholds=thresholds, mappings=self.mappings, mergeValues=True, showValue="auto",
            rowHeight=0.8, fillOpacity=80,
            extraJson={"fieldConfig": {"defaults": {"unit": self.unit}, "overrides": self._overrides()}},
        )


def _is_state(mappings: list) -> bool:
    """Value mappings that give both 0 and 1 a text: a state, not a quantity."""
    keys: set[str] = set()
    for mapping in mappings:
        data = mapping.to_json_data() if hasattr(mapping, "to_json_data") else mapping
        if data.get("type") == "value":
            keys |= set(data.get("options", {}))
    return {"0", "1"} <= keys


def _panel(kind: str, title: str, question: str, targets, w: int, h: int, thresholds, mappings, options,
           unit: str | None = None) -> PanelSpec:
    targets = tuple(targets)
    mappings = mappings or []
    if unit is None:
        shown = [t for t in targets if not t.hide] or list(targets)
        found = sorted({units.display_unit(t.q.quantity, state=_is_state(mappings)) for t in shown})
        if len(found) != 1 and kind != "table":
            raise ValueError(f"panel {title!r}: targets have units {found}; split it")
        unit = units.display_unit(shown[0].q.quantity, state=_is_state(mappings))
    return PanelSpec(kind, title, question, targets, unit, w, h, thresholds=thresholds, mappings=mappings,
                     options=options)


def timeseries(title: str, question: str, *targets: T, w: int = 12, h: int = 8,
               thresholds: list[dict] | None = None, mappings: list | None = None, **options) -> PanelSpec:
    """A time series (range queries)."""
    return _panel("timeseries", title, question, targets, w, h, thresholds, mappings, options)


def stat(title: str, question: str, *targets: T, w: int = 6, h: int = 4,
         thresholds: list[dict] | None = None, mappings: list | None = None, **options) -> PanelSpec:
    """Current value(s) (instant queries)."""
    return _panel("stat", title, question, targets, w, h, thresholds, mappings, options)


def bargauge(title: str, question: str, *targets: T, w: int = 12, h: int = 8,
             thresholds: list[dict] | None = None, mappings: list | None = None, **options) -> PanelSpec:
    """One bar per series, current values (instant queries): comparisons across scenarios."""
    return _panel("bargauge", title, question, targets, w, h, thresholds, mappings, options)


def table(title: str, question: str, *targets: T, w: int = 24, h: int = 8,
          thresholds: list[dict] | None = None, mappings: list | None = None, **options) -> PanelSpec:
    """Current values as a table, several targets merged on their labels (instant queries).
    Each target's value column is named by T.name and shown in its own unit. Options: `sort`,
    `desc`, `columns` (label columns to show first, in order), `hide` (label columns to drop),
    `overrides`."""
    return _panel("table", title, question, targets, w, h, thresholds, mappings, options)


def state_timeline(title: str, question: str, *targets: T, w: int = 24, h: int = 6,
                   thresholds: list[dict] | None = None, mappings: list | None = None, **options) -> PanelSpec:
    """States over time (range queries), coloured by value mappings."""
    return _panel("state-timeline", title, question, targets, w, h, thresholds, mappings, options)
